//! Where the command is on a command line. Global options may come before a command's name
//! (`nats-trace -s URL check suite.toml`), and the short form `nats-trace [OPTIONS] SUBJECT
//! [PAYLOAD]` has no command name at all. The first word that is neither an option nor an
//! option's value decides: a command name (or `help`) is the command; anything else is the
//! subject of the short form, which is parsed as `nats-trace trace …`, so that a payload
//! named like a command stays a payload. Which options take a value is read from the clap
//! definition itself.

use std::ffi::OsString;

use clap::Command;

/// `args` (the program name first), with `trace` inserted after the program name when the
/// command line is the short form; an error when an option of `trace` comes before another
/// command's name.
pub(crate) fn with_command(
    cli: &Command,
    mut args: Vec<OsString>,
) -> Result<Vec<OsString>, clap::Error> {
    let Some((index, after_dashes)) = first_word(cli, &args) else {
        return Ok(args);
    };
    if after_dashes || !is_command_name(cli, &args[index]) {
        args.insert(1, OsString::from("trace"));
        return Ok(args);
    }
    match misplaced_option(cli, &args[1..index]) {
        Some(option) => Err(misplaced(&option, &args[index])),
        None => Ok(args),
    }
}

/// The index of the first word that is not an option or an option's value, and whether it
/// comes after `--` (then it is always a subject).
fn first_word(cli: &Command, args: &[OsString]) -> Option<(usize, bool)> {
    let mut index = 1;
    while let Some(arg) = args.get(index) {
        let text = arg.to_string_lossy();
        if text == "--" {
            return (index + 1 < args.len()).then_some((index + 1, true));
        }
        if let Some(long) = text.strip_prefix("--") {
            let next = args.get(index + 1).map(|a| a.to_string_lossy());
            let takes_value = !long.contains('=') && long_takes_value(cli, long, next.as_deref());
            index += if takes_value { 2 } else { 1 };
        } else if let Some(shorts) = text.strip_prefix('-').filter(|s| !s.is_empty()) {
            index += if short_cluster_wants_next(cli, shorts) {
                2
            } else {
                1
            };
        } else {
            return Some((index, false));
        }
    }
    None
}

/// Whether the option `--NAME` takes the `next` word as its value. An option whose value
/// is optional (`--traceparent [VALUE]`) takes it, as clap does, unless it looks like an
/// option.
fn long_takes_value(cli: &Command, name: &str, next: Option<&str>) -> bool {
    let Some(arg) = cli.get_arguments().find(|arg| {
        arg.get_long() == Some(name)
            || arg
                .get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&name))
    }) else {
        return false;
    };
    if !arg.get_action().takes_values() {
        return false;
    }
    let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
    !optional || next.is_some_and(|word| !word.starts_with('-'))
}

/// Whether a cluster of short options (`vT`, `sURL`, `H`) takes the next word as a value:
/// its first option that takes a value is its last character.
fn short_cluster_wants_next(cli: &Command, shorts: &str) -> bool {
    for (position, c) in shorts.char_indices() {
        let takes_value = cli
            .get_arguments()
            .find(|arg| arg.get_short() == Some(c))
            .is_some_and(|arg| arg.get_action().takes_values());
        if takes_value {
            return position + c.len_utf8() == shorts.len();
        }
    }
    false
}

fn is_command_name(cli: &Command, word: &OsString) -> bool {
    let word = word.to_string_lossy();
    word == "help"
        || cli
            .get_subcommands()
            .any(|sub| sub.get_name() == word || sub.get_all_aliases().any(|a| a == word))
}

/// The first option among `before` that is not global (an option of `trace` only).
fn misplaced_option(cli: &Command, before: &[OsString]) -> Option<String> {
    before.iter().find_map(|arg| {
        let text = arg.to_string_lossy();
        let local = if let Some(long) = text.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            cli.get_arguments()
                .any(|a| a.get_long() == Some(name) && !a.is_global_set())
        } else if let Some(c) = text.strip_prefix('-').and_then(|s| s.chars().next()) {
            cli.get_arguments()
                .any(|a| a.get_short() == Some(c) && !a.is_global_set())
        } else {
            false
        };
        local.then(|| text.into_owned())
    })
}

fn misplaced(option: &str, command: &OsString) -> clap::Error {
    clap::Error::raw(
        clap::error::ErrorKind::ArgumentConflict,
        format!(
            "{option} is an option of `trace` and cannot come before `{}`; to trace a subject named like a command, use `nats-trace trace SUBJECT`\n",
            command.to_string_lossy()
        ),
    )
}
