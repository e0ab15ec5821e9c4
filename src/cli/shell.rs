//! Being a good citizen of the shell: completion scripts (`nats-trace completions SHELL`,
//! clap_complete) and the manual page (`nats-trace man`, clap_mangen), both generated from
//! the same clap definitions as `--help`, so they never drift from it.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::ExitStatus;
use crate::settings::Shell;

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(clap_shell(shell), &mut command, "nats-trace", out);
    Ok(())
}

fn clap_shell(shell: Shell) -> clap_complete::Shell {
    match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Elvish => clap_complete::Shell::Elvish,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::PowerShell => clap_complete::Shell::PowerShell,
        Shell::Zsh => clap_complete::Shell::Zsh,
    }
}

/// Writes the manual page, in roff, to `out`.
pub fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    let command = Cli::command();
    let man = clap_mangen::Man::new(command);
    let mut buffer = Vec::new();
    man.render_title(&mut buffer)?;
    man.render_name_section(&mut buffer)?;
    man.render_synopsis_section(&mut buffer)?;
    man.render_description_section(&mut buffer)?;
    man.render_options_section(&mut buffer)?;
    man.render_subcommands_section(&mut buffer)?;
    write_extra_sections(&mut buffer)?;
    man.render_version_section(&mut buffer)?;
    out.write_all(&buffer)
}

/// Sections `--help` has no room for: environment, files and exit status.
fn write_extra_sections(out: &mut Vec<u8>) -> std::io::Result<()> {
    out.write_all(ENVIRONMENT_AND_FILES.as_bytes())?;
    write_exit_status(out)
}

const ENVIRONMENT_AND_FILES: &str = r#".SH ENVIRONMENT
.TP
\fBNATS_URL\fR, \fBNATS_USER\fR, \fBNATS_PASSWORD\fR, \fBNATS_TOKEN\fR, \fBNATS_CREDS\fR, \fBNATS_NKEY\fR, \fBNATS_CERT\fR, \fBNATS_KEY\fR, \fBNATS_CA\fR
Defaults for \-\-server, \-\-user, \-\-password, \-\-token, \-\-creds, \-\-nkey, \-\-tlscert, \-\-tlskey and \-\-tlsca. A flag wins over its variable, which wins over the context. An empty variable counts as not set.
.TP
\fBNATS_CONTEXT\fR
The nats CLI context to use, as \-\-context.
.TP
\fBXDG_CONFIG_HOME\fR
Where nats CLI contexts are kept (default \fI~/.config\fR).
.TP
\fBNO_COLOR\fR
When set and not empty, \-\-color auto prints no colors.
.SH FILES
.TP
\fI$XDG_CONFIG_HOME/nats/context.txt\fR
The name of the selected nats CLI context.
.TP
\fI$XDG_CONFIG_HOME/nats/context/NAME.json\fR
The nats CLI context NAME: url, user, password, token, creds, nkey, cert, key, ca, tls_first, inbox_prefix, user_jwt, user_seed. $VAR and ${VAR} in its paths take environment variables; an unset or empty one is an error.
"#;

/// EXIT STATUS, from the one table of exit codes in [`ExitStatus`].
fn write_exit_status(out: &mut Vec<u8>) -> std::io::Result<()> {
    out.write_all(b".SH \"EXIT STATUS\"\n")?;
    for status in ExitStatus::ALL {
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}",
            status.code(),
            roff_escape(status.meaning())
        )?;
    }
    Ok(())
}

/// Text safe in a roff paragraph: backslashes and dashes escaped, no line starting with a dot.
fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_options() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::PowerShell,
            Shell::Elvish,
        ] {
            let mut out = Vec::new();
            completions(shell, &mut out).expect("generates");
            let text = String::from_utf8(out).expect("utf-8");
            assert!(text.contains("nats-trace"), "{shell:?}");
            assert!(text.contains("tlsca"), "{shell:?}: {text}");
            assert!(text.contains("context"), "{shell:?}");
        }
    }

    #[test]
    fn the_man_page_is_roff_with_options_and_environment() {
        let mut out = Vec::new();
        man_page(&mut out).expect("renders");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.starts_with(".ie") || text.starts_with(".TH"),
            "{}",
            &text[..80]
        );
        assert!(text.contains(".TH nats-trace 1"), "no title");
        for needle in [
            "\\-\\-creds",
            "\\-\\-tlsfirst",
            "NATS_CONTEXT",
            "EXIT STATUS",
            "completions",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
    }

    #[test]
    fn the_man_page_lists_every_exit_code_of_the_table() {
        let mut out = Vec::new();
        man_page(&mut out).expect("renders");
        let text = String::from_utf8(out).expect("utf-8");
        let section = &text[text.find("EXIT STATUS").expect("section")..];
        for status in ExitStatus::ALL {
            let entry = format!(".TP\n\\fB{}\\fR\n", status.code());
            assert!(section.contains(&entry), "missing {entry:?} in {section}");
        }
        assert!(section.contains("130"), "{section}");
        assert!(section.contains("expectation failed"), "{section}");
    }
}
