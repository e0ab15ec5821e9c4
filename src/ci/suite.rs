//! Check suites for `nats-trace check`: a TOML or JSON file with connection defaults and a
//! list of cases (subject, payload, headers, where to publish from, expectations), parsed and
//! validated up front so that a malformed suite fails before anything is published.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::ci::expect::Expectation;
use crate::{duration, env};

/// Connection settings a suite or a case may give.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuiteConnection {
    /// Server URLs, comma separated.
    pub server: Option<String>,
    /// A nats CLI context name.
    pub context: Option<String>,
    /// Collection (and connection) timeout, e.g. `2s`.
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    #[serde(default)]
    defaults: SuiteConnection,
    #[serde(default, alias = "cases")]
    case: Vec<RawCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    subject: String,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    deliver: bool,
    server: Option<String>,
    context: Option<String>,
    timeout: Option<String>,
    /// `probe`: how often this case runs (default: `probe --interval`).
    interval: Option<String>,
    #[serde(default)]
    expect: Vec<String>,
    /// Explain the findings (`trace --explain`).
    #[serde(default)]
    explain: bool,
}

/// One case of a suite, validated.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub name: String,
    pub subject: String,
    pub payload: String,
    pub headers: Vec<(String, String)>,
    pub deliver: bool,
    /// Server URLs to publish from (case, else suite default, else the command line).
    pub server: Option<String>,
    /// Context to publish from (case, else suite default, else the command line).
    pub context: Option<String>,
    pub timeout: Option<Duration>,
    /// `probe`: how often this case runs, when it overrides `--interval`.
    pub interval: Option<Duration>,
    pub expectations: Vec<Expectation>,
    /// Explain the findings through the case's own connection (docs/explain.md).
    pub explain: bool,
}

/// A parsed suite.
#[derive(Debug, Clone)]
pub(crate) struct Suite {
    pub cases: Vec<Case>,
}

impl Suite {
    /// Reads a suite file; its extension (`.toml` or `.json`) picks the format.
    pub(crate) fn load(path: &Path) -> Result<Suite, String> {
        let shown = path.display();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read suite {shown}: {e}"))?;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => SuiteFormat::Json,
            Some("toml") | None => SuiteFormat::Toml,
            Some(other) => {
                return Err(format!(
                    "suite {shown}: unknown format .{other} (use .toml or .json)"
                ));
            }
        };
        Suite::parse(&text, format).map_err(|e| format!("suite {shown}: {e}"))
    }

    /// Parses suite text.
    pub(crate) fn parse(text: &str, format: SuiteFormat) -> Result<Suite, String> {
        let raw: RawSuite = match format {
            SuiteFormat::Toml => toml::from_str(text).map_err(|e| one_line(&e.to_string()))?,
            SuiteFormat::Json => serde_json::from_str(text).map_err(|e| e.to_string())?,
        };
        if raw.case.is_empty() {
            return Err("no cases (add [[case]] entries)".to_string());
        }
        let mut names = std::collections::HashSet::new();
        let cases = raw
            .case
            .into_iter()
            .map(|c| {
                let at = format!("case {:?}", c.name);
                if c.name.trim().is_empty() {
                    return Err("a case has an empty name".to_string());
                }
                if !names.insert(c.name.clone()) {
                    return Err(format!("{at} appears twice"));
                }
                crate::subject::validate_publish_subject(&c.subject)
                    .map_err(|e| format!("{at}: {e}"))?;
                let timeout = c
                    .timeout
                    .as_deref()
                    .or(raw.defaults.timeout.as_deref())
                    .map(duration::parse)
                    .transpose()
                    .map_err(|e| format!("{at}: {e}"))?;
                let interval = c
                    .interval
                    .as_deref()
                    .map(duration::parse)
                    .transpose()
                    .map_err(|e| format!("{at}: interval: {e}"))?;
                let expectations = c
                    .expect
                    .iter()
                    .map(|e| Expectation::parse(e))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{at}: {e}"))?;
                let server = c.server.or_else(|| raw.defaults.server.clone());
                let context = c.context.or_else(|| raw.defaults.context.clone());
                Ok(Case {
                    server: server
                        .map(|s| env::expand(&s))
                        .transpose()
                        .map_err(|e| format!("{at}: {e}"))?,
                    context: context
                        .map(|s| env::expand(&s))
                        .transpose()
                        .map_err(|e| format!("{at}: {e}"))?,
                    name: c.name,
                    subject: c.subject,
                    payload: c.payload,
                    headers: c.headers.into_iter().collect(),
                    deliver: c.deliver,
                    timeout,
                    interval,
                    expectations,
                    explain: c.explain,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Suite { cases })
    }
}

/// The syntax of a suite file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SuiteFormat {
    Toml,
    Json,
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUITE: &str = r#"
[defaults]
server = "nats://127.0.0.1:4222"
timeout = "2s"

[[case]]
name = "orders reach WEST"
subject = "orders.new"
payload = "{}"
headers = { "X-Tenant" = "acme" }
expect = ["egress.gateway>=1", "no-errors", "latency<5ms"]

[[case]]
name = "from w1"
subject = "orders.new"
server = "nats://127.0.0.1:5222"
timeout = "500ms"
deliver = true
"#;

    #[test]
    fn parses_defaults_and_cases() {
        let suite = Suite::parse(SUITE, SuiteFormat::Toml).expect("parses");
        assert_eq!(suite.cases.len(), 2);
        let first = &suite.cases[0];
        assert_eq!(first.server.as_deref(), Some("nats://127.0.0.1:4222"));
        assert_eq!(first.timeout, Some(Duration::from_secs(2)));
        assert_eq!(
            first.headers,
            vec![("X-Tenant".to_string(), "acme".to_string())]
        );
        assert_eq!(first.expectations.len(), 3);
        let second = &suite.cases[1];
        assert_eq!(second.server.as_deref(), Some("nats://127.0.0.1:5222"));
        assert_eq!(second.timeout, Some(Duration::from_millis(500)));
        assert!(second.deliver);
    }

    #[test]
    fn server_urls_take_environment_variables() {
        let path = std::env::var("PATH").expect("PATH is set");
        let text = "[[case]]\nname = \"a\"\nsubject = \"x\"\nserver = \"a${PATH}b\"\n";
        let suite = Suite::parse(text, SuiteFormat::Toml).expect("parses");
        assert_eq!(suite.cases[0].server, Some(format!("a{path}b")));
        let text =
            "[[case]]\nname = \"a\"\nsubject = \"x\"\ncontext = \"${NATS_TRACE_SURELY_UNSET}\"\n";
        let err = Suite::parse(text, SuiteFormat::Toml).expect_err("unset");
        assert!(
            err.contains("case \"a\": environment variable NATS_TRACE_SURELY_UNSET"),
            "{err}"
        );
    }

    #[test]
    fn json_suites_work_too() {
        let suite = Suite::parse(
            r#"{"case":[{"name":"a","subject":"x.y","expect":["complete"]}]}"#,
            SuiteFormat::Json,
        )
        .expect("parses");
        assert_eq!(suite.cases[0].subject, "x.y");
    }

    #[test]
    fn malformed_suites_say_what_is_wrong() {
        let cases = [
            ("[[case]]\nname = \"a\"\n", "subject"),
            (
                "[[case]]\nname = \"a\"\nsubject = \"x.*\"\n",
                "case \"a\": invalid subject",
            ),
            (
                "[[case]]\nname = \"a\"\nsubject = \"x\"\nexpect = [\"servers>>1\"]\n",
                "case \"a\": invalid expectation",
            ),
            (
                "[[case]]\nname = \"a\"\nsubject = \"x\"\ntimeout = \"soon\"\n",
                "case \"a\": invalid duration",
            ),
            (
                "[[case]]\nname = \"a\"\nsubject = \"x\"\ncolour = 1\n",
                "colour",
            ),
            (
                "[[case]]\nname = \"a\"\nsubject = \"x\"\n[[case]]\nname = \"a\"\nsubject = \"y\"\n",
                "appears twice",
            ),
            ("", "no cases"),
            ("[[case]\n", "TOML parse error at line 1"),
        ];
        for (text, wanted) in cases {
            let err = Suite::parse(text, SuiteFormat::Toml).expect_err(text);
            assert!(err.contains(wanted), "{text:?}: {err}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }
}
