//! The OTLP/HTTP client: one `ureq` agent (rustls; the system's roots through the platform
//! verifier, or the CAs of `OTEL_EXPORTER_OTLP_CERTIFICATE`), POSTing protobuf (gzipped as
//! the settings say)
//! with the `OTEL_EXPORTER_OTLP_HEADERS`. Retries on 429, 502, 503 and 504 with bounded
//! exponential backoff, honouring `Retry-After` in seconds (capped); the whole send,
//! retries included, stays within the settings' timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::export::ExportSettings;
use crate::export::encode::Body;

/// The most attempts of one request.
const MAX_ATTEMPTS: u32 = 6;
/// The first backoff; doubled per retry up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The most of a response body read (and thrown away).
const MAX_RESPONSE_BODY: u64 = 64 * 1024;

/// Sends requests to one endpoint.
pub struct Client {
    agent: ureq::Agent,
    settings: ExportSettings,
    /// The endpoint's host is an IP address: nothing to resolve.
    ip_host: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.settings)
            .finish()
    }
}

/// What one attempt came to.
enum Attempt {
    Done,
    /// Retryable status, with the server's `Retry-After` if any.
    Retry(u16, Option<Duration>),
}

impl Client {
    /// A client for `settings`; fails when the certificate file cannot be used.
    pub fn new(settings: &ExportSettings) -> Result<Client, String> {
        let roots = match &settings.certificate {
            Some(path) => read_roots(path)?,
            None => RootCerts::PlatformVerifier,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("nats-trace/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build();
        Ok(Client {
            agent: ureq::Agent::new_with_config(config),
            settings: settings.clone(),
            ip_host: has_ip_host(&settings.endpoint),
        })
    }

    /// POSTs `body` (protobuf, gzipped or not), retrying as the module says; `Err` says why it
    /// failed in a few words (no header value).
    pub fn send(&self, body: &Body) -> Result<(), String> {
        let deadline = Instant::now() + self.settings.timeout;
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(format!("timed out after {attempt} attempt(s)"));
            }
            let (status, retry_after) = match self.attempt(body, remaining)? {
                Attempt::Done => return Ok(()),
                Attempt::Retry(status, retry_after) => (status, retry_after),
            };
            let wait = retry_after.map_or(backoff, |w| w.min(MAX_RETRY_AFTER));
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if attempt == MAX_ATTEMPTS || Instant::now() + wait >= deadline {
                return Err(format!("HTTP {status} after {attempt} attempt(s)"));
            }
            std::thread::sleep(wait);
        }
        Err("gave up".to_string())
    }

    /// One POST within `remaining`.
    fn attempt(&self, body: &Body, remaining: Duration) -> Result<Attempt, String> {
        let config = self.agent.post(&self.settings.endpoint).config();
        let left = Some(remaining);
        let config = if self.ip_host {
            // With a global timeout ureq resolves on a thread of its own, even an IP address;
            // with none to resolve, each step of the request is bounded by the time left.
            config
                .timeout_connect(left)
                .timeout_send_request(left)
                .timeout_send_body(left)
                .timeout_recv_response(left)
                .timeout_recv_body(left)
        } else {
            config.timeout_global(left)
        };
        let mut request = config
            .build()
            .header("Content-Type", "application/x-protobuf");
        if body.gzipped {
            request = request.header("Content-Encoding", "gzip");
        }
        for (name, value) in &self.settings.headers {
            request = request.header(name.as_str(), value.expose());
        }
        let mut response = request.send(&body.bytes[..]).map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let _ = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BODY)
            .read_to_vec();
        match status {
            200..=299 => Ok(Attempt::Done),
            429 | 502 | 503 | 504 => Ok(Attempt::Retry(status, retry_after)),
            _ => Err(format!("HTTP {status}")),
        }
    }
}

/// Whether the URL's host is an IPv4 or a bracketed IPv6 address.
fn has_ip_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
    }
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// The CAs in a PEM file, as the only roots to trust.
fn read_roots(path: &std::path::Path) -> Result<RootCerts, String> {
    let cannot = |why: String| format!("OTEL_EXPORTER_OTLP_CERTIFICATE {}: {why}", path.display());
    let pem = std::fs::read(path).map_err(|e| cannot(e.to_string()))?;
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(cert) = item.map_err(|e| cannot(e.to_string()))? {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(cannot("no certificate in the file".to_string()));
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// A transport error in a few words.
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(e) => e.to_string(),
        ureq::Error::Timeout(_) => "timed out".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::has_ip_host;

    #[test]
    fn ip_hosts_are_recognised() {
        assert!(has_ip_host("http://127.0.0.1:4318/v1/traces"));
        assert!(has_ip_host("https://u:p@10.0.0.1/v1/traces"));
        assert!(has_ip_host("http://[::1]:4318/v1/traces"));
        assert!(!has_ip_host("http://localhost:4318/v1/traces"));
        assert!(!has_ip_host("https://collector.example:4318"));
    }
}
