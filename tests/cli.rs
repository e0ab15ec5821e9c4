//! The command line: global options before or after every command name, the short form for
//! subjects that are not command names, and the settings each command line turns into
//! (parse-level), plus a few runs of the binary against a real server.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::nats_trace;
use nats_trace::render::Format;
use nats_trace::settings::{
    CheckSettings, ColorChoice, Command, ContextChoice, DemoSettings, Settings, Shell,
    TraceSettings,
};
use nats_trace::topology::Topology;
use nats_trace::trace::decode::Compression;

fn parse(args: &[&str]) -> Settings {
    let mut argv = vec!["nats-trace"];
    argv.extend_from_slice(args);
    nats_trace::cli::parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn parse_error(args: &[&str]) -> String {
    let mut argv = vec!["nats-trace"];
    argv.extend_from_slice(args);
    match nats_trace::cli::parse_from(argv) {
        Ok(settings) => panic!("{args:?} parsed: {settings:?}"),
        Err(e) => e.to_string(),
    }
}

fn trace_of(settings: &Settings) -> &TraceSettings {
    match &settings.command {
        Command::Trace(trace) => trace,
        other => panic!("expected trace, got {other:?}"),
    }
}

/// The same command line with `-s URL --timeout 1500ms` before and after the command's
/// words; both must give the same connection settings.
fn before_and_after(command: &[&str]) -> [Settings; 2] {
    let global = ["-s", "nats://h:4222", "--timeout", "1500ms"];
    let before: Vec<&str> = global.iter().chain(command).copied().collect();
    let after: Vec<&str> = command.iter().chain(&global).copied().collect();
    let settings = [parse(&before), parse(&after)];
    for s in &settings {
        assert_eq!(
            s.connection.server.as_deref(),
            Some("nats://h:4222"),
            "{command:?}"
        );
        assert_eq!(
            s.connection.timeout,
            Duration::from_millis(1500),
            "{command:?}"
        );
    }
    settings
}

#[test]
fn check_is_a_command_before_or_after_global_options() {
    for settings in before_and_after(&["check", "suite.toml"]) {
        match settings.command {
            Command::Check(check) => assert_eq!(
                check,
                CheckSettings {
                    suite: PathBuf::from("suite.toml"),
                    parallel: 4,
                    junit: None,
                    html: None,
                    snapshot: None,
                }
            ),
            other => panic!("expected check, got {other:?}"),
        }
    }
    let settings = parse(&[
        "--json",
        "check",
        "s.toml",
        "--parallel",
        "2",
        "--junit",
        "r.xml",
    ]);
    assert_eq!(settings.output.format, Format::Json);
    match settings.command {
        Command::Check(check) => {
            assert_eq!(check.parallel, 2);
            assert_eq!(check.junit, Some(PathBuf::from("r.xml")));
        }
        other => panic!("expected check, got {other:?}"),
    }
}

#[test]
fn trace_is_a_command_before_or_after_global_options() {
    for settings in before_and_after(&["trace", "orders.new", "hi", "-H", "A: b", "--deliver"]) {
        let trace = trace_of(&settings);
        assert_eq!(trace.probe.subject, "orders.new");
        assert_eq!(trace.probe.payload, "hi");
        assert_eq!(trace.probe.headers, vec![("A".into(), "b".into())]);
        assert!(trace.probe.deliver);
        // The collection is bounded by the same --timeout as connecting.
        assert_eq!(trace.probe.timeout, Duration::from_millis(1500));
    }
    // `trace` traces a subject named like a command.
    for name in ["check", "render", "demo", "man", "completions", "trace"] {
        assert_eq!(
            trace_of(&parse(&["-s", "nats://h:4222", "trace", name]))
                .probe
                .subject,
            name
        );
    }
}

#[test]
fn render_demo_completions_and_man_are_commands_after_global_options() {
    for settings in before_and_after(&["render", "a.jsonl", "b.jsonl", "--expect", "no-errors"]) {
        match settings.command {
            Command::Render(render) => {
                assert_eq!(
                    render.files,
                    [PathBuf::from("a.jsonl"), PathBuf::from("b.jsonl")]
                );
                assert_eq!(render.expect.len(), 1);
            }
            other => panic!("expected render, got {other:?}"),
        }
    }
    for settings in before_and_after(&["demo", "--keep"]) {
        match settings.command {
            Command::Demo(demo) => assert_eq!(
                demo,
                DemoSettings {
                    keep: true,
                    traffic: None
                }
            ),
            other => panic!("expected demo, got {other:?}"),
        }
    }
    for settings in before_and_after(&["completions", "bash"]) {
        assert!(
            matches!(settings.command, Command::Completions(Shell::Bash)),
            "{settings:?}"
        );
    }
    for settings in before_and_after(&["man"]) {
        assert!(matches!(settings.command, Command::Man), "{settings:?}");
    }
}

#[test]
fn the_short_form_traces_subjects_that_are_not_command_names() {
    let settings = parse(&[
        "-s",
        "nats://h:4222",
        "-H",
        "X:1",
        "--deliver",
        "orders.new",
        "hi",
        "-T",
        "--raw",
        "--save",
        "f.jsonl",
        "--compression",
        "gzip",
        "--expect",
        "servers>=1",
    ]);
    let trace = trace_of(&settings);
    assert_eq!(trace.probe.subject, "orders.new");
    assert_eq!(trace.probe.payload, "hi");
    assert_eq!(trace.probe.headers, vec![("X".into(), "1".into())]);
    assert!(trace.probe.deliver && trace.raw);
    assert_eq!(trace.probe.compression, Compression::Gzip);
    assert_eq!(trace.save, Some(PathBuf::from("f.jsonl")));
    assert_eq!(trace.expect.len(), 1);
    assert!(settings.output.timestamps);
    assert_eq!(settings.connection.server.as_deref(), Some("nats://h:4222"));

    // Defaults.
    let settings = parse(&["orders.new"]);
    let trace = trace_of(&settings);
    assert_eq!(trace.probe.payload, "");
    assert!(!trace.probe.deliver && !trace.raw);
    assert_eq!(trace.probe.compression, Compression::Snappy);
    assert_eq!(trace.probe.timeout, Duration::from_secs(5));
    assert_eq!(settings.output.format, Format::Tree);
    assert_eq!(settings.output.color, ColorChoice::Auto);
    assert_eq!(settings.connection.context, ContextChoice::Selected);
    assert_eq!(
        settings.connection.connection_name.as_deref(),
        Some("nats-trace")
    );
    assert!(!settings.verbose);
    // A payload may be a command name: only the first word picks the command.
    assert_eq!(
        trace_of(&parse(&["orders.new", "check"])).probe.payload,
        "check"
    );
}

#[test]
fn connection_and_output_options_become_plain_settings() {
    let settings = parse(&[
        "--context",
        "prod",
        "--user",
        "bob",
        "--password",
        "s3cret",
        "--tlscert",
        "c.pem",
        "--tlskey",
        "k.pem",
        "--tlsca",
        "ca.pem",
        "--tls-first",
        "--connection-name",
        "probe",
        "-v",
        "render",
        "--format",
        "mermaid",
        "--color",
        "never",
    ]);
    let c = &settings.connection;
    assert_eq!(c.context, ContextChoice::Named("prod".into()));
    assert_eq!(c.user.as_deref(), Some("bob"));
    assert_eq!(c.password.as_ref().map(|p| p.expose()), Some("s3cret"));
    assert_eq!(c.tls_cert, Some(PathBuf::from("c.pem")));
    assert_eq!(c.tls_key, Some(PathBuf::from("k.pem")));
    assert_eq!(c.tls_ca, Some(PathBuf::from("ca.pem")));
    assert!(c.tls_first);
    assert_eq!(c.connection_name.as_deref(), Some("probe"));
    assert!(settings.verbose);
    assert_eq!(settings.output.format, Format::Mermaid);
    assert_eq!(settings.output.color, ColorChoice::Never);
    assert!(
        !format!("{settings:?}").contains("s3cret"),
        "a secret in Debug"
    );

    assert_eq!(
        parse(&["--no-context", "x"]).connection.context,
        ContextChoice::None
    );
    // Empty values (as an empty environment variable gives) count as not given.
    let settings = parse(&["--creds", "", "--server", "", "--user", "", "x"]);
    assert_eq!(settings.connection.creds, None);
    assert_eq!(settings.connection.server, None);
    assert_eq!(settings.connection.user, None);
}

#[test]
fn misplaced_and_malformed_options_are_usage_errors() {
    // A trace option before another command's name.
    let err = parse_error(&["--deliver", "check", "s.toml"]);
    assert!(err.contains("`check`"), "{err}");
    // Trace options do not belong to other commands.
    parse_error(&["check", "s.toml", "--deliver"]);
    parse_error(&["render", "-H", "a:b"]);
    parse_error(&["x", "-H", "nocolon"]);
    parse_error(&["x", "--timeout", "soon"]);
    parse_error(&["render", "--json", "--format", "dot"]);
    parse_error(&["render", "--format", "svg"]);
    parse_error(&["check", "s.toml", "--parallel", "0"]);
    parse_error(&["--context", "a", "--no-context", "x"]);
    parse_error(&[]);
    parse_error(&["-s", "nats://h:4222"]);
}

#[test]
fn commands_run_with_global_options_before_them() {
    let topology = Topology::single().expect("server starts");
    let url = topology.url("n1");
    let dir = tempfile::tempdir().expect("temp dir");

    // trace: the subject after `trace`, not `trace` itself.
    let save = dir.path().join("t.jsonl");
    let save = save.to_str().expect("utf-8 path");
    let run = nats_trace(&[
        "-s",
        &url,
        "--timeout",
        "2s",
        "trace",
        "orders.new",
        "--save",
        save,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("orders.new"), "{run:?}");
    assert!(!run.stdout.contains("Subject: trace"), "{run:?}");

    // render: the file just saved.
    let run = nats_trace(&["-s", &url, "--timeout", "1s", "render", save, "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["subject"], "orders.new", "{json}");

    // check: the suite, not a trace of the subject `check`.
    let suite = dir.path().join("s.toml");
    std::fs::write(
        &suite,
        "[[case]]\nname = \"reaches n1\"\nsubject = \"orders.new\"\nexpect = [\"server=n1\"]\n",
    )
    .expect("suite written");
    let run = nats_trace(&["-s", &url, "check", suite.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("PASS        reaches n1"), "{run:?}");

    // completions and man need no server, but take the options all the same.
    let run = nats_trace(&["-s", &url, "completions", "bash"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("nats-trace"), "{run:?}");
    let run = nats_trace(&["-s", &url, "--timeout", "1s", "man"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(".SH \"EXIT STATUS\""), "{run:?}");

    // A misplaced trace option is a usage error (exit 2), before connecting.
    let run = nats_trace(&["-s", &url, "--deliver", "check", "s.toml"]);
    assert_eq!(run.code, 2, "{run:?}");
}
