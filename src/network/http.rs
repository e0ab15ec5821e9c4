//! Asking the monitoring endpoints over HTTP: one GET per `--monitor` URL (the server's
//! monitoring port, e.g. `http://host:8222`), all at once on blocking threads, each bounded by
//! a timeout and a body size. A URL that is not a monitoring port, or that fails, gives an
//! error reply naming it. After VARZ the replies carry the servers' names.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::monitor::{MAX_REPLY_BYTES, Reply, Request};

/// The most `--monitor` URLs.
pub(crate) const MAX_URLS: usize = 256;

/// Monitoring URLs and, once VARZ answered, their servers' names.
pub struct HttpMonitor {
    urls: Vec<String>,
    names: Mutex<Vec<Option<String>>>,
    agent: ureq::Agent,
}

impl HttpMonitor {
    /// For `urls` (trailing `/` removed), each request bounded by `timeout`.
    pub fn new(urls: &[String], timeout: Duration) -> HttpMonitor {
        let urls: Vec<String> = urls
            .iter()
            .take(MAX_URLS)
            .map(|u| u.trim_end_matches('/').to_string())
            .collect();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        HttpMonitor {
            names: Mutex::new(vec![None; urls.len()]),
            urls,
            agent,
        }
    }

    /// Remembers each URL's server name from its VARZ reply.
    pub(crate) fn learn(&self, varz: &[Reply]) {
        if let Ok(mut names) = self.names.lock() {
            for (slot, reply) in names.iter_mut().zip(varz) {
                *slot = reply
                    .data
                    .as_ref()
                    .ok()
                    .and_then(|d| super::text(d, "server_name"));
            }
        }
    }

    /// GETs the request from every URL at once, off the async runtime.
    pub(crate) async fn ask(&self, request: &Request) -> Vec<Reply> {
        let path = request.path_and_query();
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        let agent = self.agent.clone();
        let urls = self.urls.clone();
        let fetched = tokio::task::spawn_blocking(move || fetch_all(&agent, &urls, &path)).await;
        let Ok(results) = fetched else {
            return Vec::new();
        };
        results
            .into_iter()
            .zip(self.urls.iter().zip(names))
            .map(|(data, (url, name))| Reply {
                server: name.unwrap_or_else(|| url.clone()),
                data,
            })
            .collect()
    }
}

/// Every URL's answer to `path`, fetched on one thread each.
fn fetch_all(agent: &ureq::Agent, urls: &[String], path: &str) -> Vec<Result<Value, String>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = urls
            .iter()
            .map(|url| scope.spawn(move || fetch(agent, url, path)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the request's thread failed".to_string()))
            })
            .collect()
    })
}

/// One GET: a JSON object, or an error naming the URL.
fn fetch(agent: &ureq::Agent, base: &str, path: &str) -> Result<Value, String> {
    let url = format!("{base}{path}");
    let shown = crate::connect::redact_urls(&url);
    let mut response = agent
        .get(&url)
        .call()
        .map_err(|e| format!("{shown}: {e}"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_REPLY_BYTES as u64)
        .read_to_string()
        .map_err(|e| format!("{shown}: {e}"))?;
    if !status.is_success() {
        let first_line = body.lines().next().unwrap_or("").chars().take(120);
        return Err(format!(
            "{shown}: HTTP {status}: {}",
            first_line.collect::<String>()
        ));
    }
    match serde_json::from_str::<Value>(&body) {
        Ok(value) if value.is_object() => Ok(value),
        _ => Err(format!(
            "{shown} is not a NATS monitoring endpoint (the answer is not a JSON object)"
        )),
    }
}
