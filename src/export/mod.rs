//! OTLP/HTTP export of the span model (see docs/otel.md): where to send
//! ([`ExportSettings`], resolved once by the CLI from `--otlp-endpoint` and the standard
//! `OTEL_EXPORTER_OTLP_*` variables), the protobuf encoding ([`encode`]), the HTTP client
//! with retries ([`otlp_http`]), one export for `trace` and `render`, sent after
//! their output ([`PendingExport`]) and the bounded batching queue of `listen` ([`queue`]). Export never
//! changes a command's output or exit code: its failure is one warning line.

pub mod encode;
pub mod otlp_http;
pub mod queue;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::connect::secret::Secret;
use crate::trace::report::TraceReport;

pub use queue::{BatchExporter, ExportCounts};

/// The service name when `OTEL_SERVICE_NAME` is unset or empty.
pub const DEFAULT_SERVICE_NAME: &str = "nats";
/// The bound on one export, retries included, when `OTEL_EXPORTER_OTLP_TIMEOUT` is unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The OpenTelemetry options of a run: where to export (if anywhere) and which extra
/// message headers may become span attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtlpSettings {
    /// `--otlp-endpoint` or the `OTEL_EXPORTER_OTLP_*` endpoint; `None`: no export.
    pub export: Option<ExportSettings>,
    /// `--otlp-header NAME`: headers allowed as span attributes besides `traceparent`,
    /// `tracestate` and `Nats-*`.
    pub span_headers: Vec<String>,
}

/// Where and how to send OTLP/HTTP protobuf requests.
#[derive(Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// The URL requests are POSTed to (already ending in `/v1/traces` where the standard
    /// says so).
    pub endpoint: String,
    /// `OTEL_EXPORTER_OTLP_HEADERS`: extra request headers; their values are secrets.
    pub headers: Vec<(String, Secret)>,
    /// The resource's `service.name`.
    pub service_name: String,
    /// The bound on one export, retries included.
    pub timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_CERTIFICATE`: a PEM file of CAs to trust instead of the system's.
    pub certificate: Option<PathBuf>,
    /// `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION` / `OTEL_EXPORTER_OTLP_COMPRESSION`.
    pub compression: Compression,
}

/// When request bodies are gzipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Unset: bodies of [`encode::GZIP_FROM`] bytes or more (setting up the compressor costs
    /// about half a millisecond, more than gzip saves on one small trace).
    #[default]
    Auto,
    /// `gzip`: every body.
    Gzip,
    /// `none`: no body.
    None,
}

impl Compression {
    /// The standard variable's value: `gzip` or `none`.
    fn parse(name: &str, value: &str) -> Result<Compression, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "gzip" => Ok(Compression::Gzip),
            "none" => Ok(Compression::None),
            _ => Err(format!("{name}: expected gzip or none")),
        }
    }

    /// Whether a protobuf body of `len` bytes is gzipped.
    pub fn gzips(self, len: usize) -> bool {
        match self {
            Compression::Auto => len >= encode::GZIP_FROM,
            Compression::Gzip => true,
            Compression::None => false,
        }
    }
}

impl fmt::Debug for ExportSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ExportSettings")
            .field("endpoint", &self.display_endpoint())
            .field("headers", &names)
            .field("service_name", &self.service_name)
            .field("timeout", &self.timeout)
            .field("certificate", &self.certificate)
            .field("compression", &self.compression)
            .finish()
    }
}

impl ExportSettings {
    /// The export settings from `--otlp-endpoint` (`flag`) and the environment (`env`):
    /// the flag, else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; `None` when none is set. Errors name
    /// the variable, never a header value.
    pub fn resolve(
        flag: Option<String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ExportSettings>, String> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let endpoint = match flag.filter(|f| !f.is_empty()) {
            Some(url) => url,
            None => match var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                Some(url) => url,
                None => match var("OTEL_EXPORTER_OTLP_ENDPOINT") {
                    Some(base) => format!("{}/v1/traces", base.trim_end_matches('/')),
                    None => return Ok(None),
                },
            },
        };
        check_endpoint(&endpoint)?;
        let headers = match var("OTEL_EXPORTER_OTLP_HEADERS") {
            Some(text) => parse_headers(&text)?,
            None => Vec::new(),
        };
        let timeout = match var("OTEL_EXPORTER_OTLP_TIMEOUT") {
            Some(ms) => parse_timeout(&ms)?,
            None => DEFAULT_TIMEOUT,
        };
        let compression = resolve_compression(&var)?;
        Ok(Some(ExportSettings {
            endpoint: endpoint.trim().to_string(),
            headers,
            service_name: var("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string()),
            timeout,
            certificate: var("OTEL_EXPORTER_OTLP_CERTIFICATE").map(PathBuf::from),
            compression,
        }))
    }

    /// The endpoint for messages: without any `user:password@`.
    pub fn display_endpoint(&self) -> String {
        without_userinfo(&self.endpoint)
    }

    /// The one warning line's text for a failed export.
    pub fn failure(&self, why: &str) -> String {
        format!("otlp export to {}: {why}", self.display_endpoint())
    }
}

/// The traces variable, else the general one, else [`Compression::Auto`].
fn resolve_compression(var: &impl Fn(&str) -> Option<String>) -> Result<Compression, String> {
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    ] {
        if let Some(value) = var(name) {
            return Compression::parse(name, &value);
        }
    }
    Ok(Compression::Auto)
}

/// An `http://` or `https://` URL with a host.
fn check_endpoint(url: &str) -> Result<(), String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => Err(format!(
            "invalid OTLP endpoint {}: expected an http:// or https:// URL",
            crate::text::go_quote(&without_userinfo(url))
        )),
    }
}

/// `k=v,k2=v2` (W3C Baggage-like, values percent-decoded), as `OTEL_EXPORTER_OTLP_HEADERS`.
fn parse_headers(text: &str) -> Result<Vec<(String, Secret)>, String> {
    let mut out = Vec::new();
    for (i, item) in text.split(',').enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        let bad = || {
            format!(
                "OTEL_EXPORTER_OTLP_HEADERS: entry {} is not key=value",
                i + 1
            )
        };
        let (key, value) = item.split_once('=').ok_or_else(bad)?;
        let key = key.trim();
        let valid_key = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_key {
            return Err(bad());
        }
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| bad())?;
        if value.chars().any(|c| c.is_control()) {
            return Err(bad());
        }
        out.push((key.to_string(), Secret::new(value.into_owned())));
    }
    Ok(out)
}

/// `OTEL_EXPORTER_OTLP_TIMEOUT`: milliseconds, at least 1.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "OTEL_EXPORTER_OTLP_TIMEOUT: {} is not a positive number of milliseconds",
            crate::text::go_quote(text)
        )),
    }
}

/// `scheme://user:pass@host/…` without `user:pass@`.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// One export of `trace` or `render`: the request is made before the output is written and
/// sent after it, on the calling thread (a thread of its own measured slower: its start and
/// its fresh heap cost more than writing the output takes).
#[derive(Debug)]
pub struct PendingExport {
    body: Result<encode::Body, String>,
    settings: ExportSettings,
}

impl PendingExport {
    /// Builds the request of `report` now; [`PendingExport::send`] sends it. A failure to make
    /// the spans is the export's failure, reported by [`PendingExport::send`].
    pub fn start(
        settings: &ExportSettings,
        report: &TraceReport,
        span_headers: &[String],
    ) -> PendingExport {
        let body = encode::spans_of(report, span_headers)
            .and_then(|spans| encode::body(&settings.service_name, spans, settings.compression));
        PendingExport {
            body,
            settings: settings.clone(),
        }
    }

    /// Sends the request (bounded by the export's timeout); `Err` is the one warning line's
    /// text.
    pub fn send(self) -> Result<(), String> {
        self.body
            .and_then(|body| otlp_http::Client::new(&self.settings)?.send(&body))
            .map_err(|why| self.settings.failure(&why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn compression_is_by_size_unless_a_variable_chooses() {
        let url = Some("http://127.0.0.1:4318/v1/traces".to_string());
        let auto = ExportSettings::resolve(url.clone(), env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(auto.compression, Compression::Auto);
        assert!(!auto.compression.gzips(encode::GZIP_FROM - 1));
        assert!(auto.compression.gzips(encode::GZIP_FROM));
        let vars = [
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP"),
        ];
        let chosen = ExportSettings::resolve(url.clone(), env(&vars))
            .unwrap()
            .unwrap();
        assert_eq!(chosen.compression, Compression::Gzip);
        assert!(chosen.compression.gzips(1));
        let none = [("OTEL_EXPORTER_OTLP_COMPRESSION", "none")];
        let none = ExportSettings::resolve(url.clone(), env(&none))
            .unwrap()
            .unwrap();
        assert!(!none.compression.gzips(usize::MAX));
        let bad = [("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")];
        let why = ExportSettings::resolve(url, env(&bad)).unwrap_err();
        assert_eq!(why, "OTEL_EXPORTER_OTLP_COMPRESSION: expected gzip or none");
    }

    #[test]
    fn the_flag_wins_then_the_traces_endpoint_then_the_base() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318/custom"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:4318/"),
        ];
        let flag = ExportSettings::resolve(Some("http://f:1/x".into()), env(&vars)).unwrap();
        assert_eq!(flag.unwrap().endpoint, "http://f:1/x");
        let traces = ExportSettings::resolve(None, env(&vars)).unwrap().unwrap();
        assert_eq!(traces.endpoint, "http://t:4318/custom");
        let base = ExportSettings::resolve(None, env(&vars[1..]))
            .unwrap()
            .unwrap();
        assert_eq!(base.endpoint, "http://b:4318/v1/traces");
        assert_eq!(base.service_name, "nats");
        assert_eq!(base.timeout, DEFAULT_TIMEOUT);
        assert_eq!(ExportSettings::resolve(None, env(&[])).unwrap(), None);
    }

    #[test]
    fn headers_are_percent_decoded_and_never_debug_printed() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://u:pw@h"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret , x=1"),
            ("OTEL_SERVICE_NAME", "shop"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "250"),
        ];
        let s = ExportSettings::resolve(None, env(&vars)).unwrap().unwrap();
        assert_eq!(s.headers[0].0, "api-key");
        assert_eq!(s.headers[0].1.expose(), "s=cret");
        assert_eq!(s.service_name, "shop");
        assert_eq!(s.timeout, Duration::from_millis(250));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("s=cret") && !debug.contains("pw"),
            "{debug}"
        );
        assert_eq!(s.display_endpoint(), "https://h/v1/traces");
    }

    #[test]
    fn bad_values_are_errors_naming_the_variable_not_the_value() {
        let bad_header = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "secretvalue"),
        ];
        let err = ExportSettings::resolve(None, env(&bad_header)).unwrap_err();
        assert!(err.contains("OTEL_EXPORTER_OTLP_HEADERS") && !err.contains("secretvalue"));
        assert!(ExportSettings::resolve(Some("ftp://x".into()), env(&[])).is_err());
        assert!(ExportSettings::resolve(Some("http://".into()), env(&[])).is_err());
    }
}
