//! Being a good citizen of the shell: completion scripts (`nats-trace completions SHELL`,
//! clap_complete) and the manual page (`nats-trace man`, clap_mangen), both generated from
//! the same clap definitions as `--help`, so they never drift from it.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "nats-trace", out);
    Ok(())
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
    let roff_text = r#".SH ENVIRONMENT
.TP
\fBNATS_URL\fR, \fBNATS_USER\fR, \fBNATS_PASSWORD\fR, \fBNATS_TOKEN\fR, \fBNATS_CREDS\fR, \fBNATS_NKEY\fR, \fBNATS_CERT\fR, \fBNATS_KEY\fR, \fBNATS_CA\fR
Defaults for \-\-server, \-\-user, \-\-password, \-\-token, \-\-creds, \-\-nkey, \-\-tlscert, \-\-tlskey and \-\-tlsca. A flag wins over its variable, which wins over the context.
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
The nats CLI context NAME: url, user, password, token, creds, nkey, cert, key, ca, tls_first, inbox_prefix, user_jwt, user_seed.
.SH "EXIT STATUS"
.TP
\fB0\fR
The trace is complete.
.TP
\fB2\fR
An error: bad arguments, cannot connect or authenticate, no permission, server older than 2.11, nothing arrived.
.TP
\fB3\fR
Incomplete: some servers' traces did not arrive before the timeout.
"#;
    out.write_all(roff_text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_options() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
            clap_complete::Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            completions(shell, &mut out).expect("generates");
            let text = String::from_utf8(out).expect("utf-8");
            assert!(text.contains("nats-trace"), "{shell}");
            assert!(text.contains("tlsca"), "{shell}: {text}");
            assert!(text.contains("context"), "{shell}");
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
}
