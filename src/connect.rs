//! Turning connection options into a connected client: server URLs, connection name and
//! timeout; refusing servers older than 2.11; and passing on the server's asynchronous
//! errors (permission violations) so that the collector can report them as what they are.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::cli::ConnectionArgs;
use crate::error::Error;

/// The server URL used when neither `--server` nor `NATS_URL` names one.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// A connected client and the errors the server reports on it.
pub struct Connection {
    pub client: async_nats::Client,
    /// Server errors reported after connecting, such as permission violations.
    pub server_errors: mpsc::UnboundedReceiver<String>,
    /// The URL list connected to, with any password removed.
    pub display_url: String,
}

/// Removes the password (or token) from every URL in a comma-separated list.
pub fn redact_urls(urls: &str) -> String {
    urls.split(',')
        .map(|u| {
            let u = u.trim();
            let Some((scheme, rest)) = u.split_once("://") else {
                return redact_userinfo(u);
            };
            format!("{scheme}://{}", redact_userinfo(rest))
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn redact_userinfo(rest: &str) -> String {
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:[redacted]@{host}"),
            None => format!("[redacted]@{host}"),
        },
        None => rest.to_string(),
    }
}

/// Parses `major.minor` from a server version such as `2.11.0-dev`.
pub fn version_at_least(version: &str, major: u64, minor: u64) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit());
    let found_major = parts.next().and_then(|p| p.parse::<u64>().ok());
    let found_minor = parts.next().and_then(|p| p.parse::<u64>().ok());
    match (found_major, found_minor) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// Connects as the options say, within `args.timeout`, and checks the server supports tracing.
pub async fn connect(args: &ConnectionArgs) -> Result<Connection, Error> {
    let urls = args
        .server
        .clone()
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    let display_url = redact_urls(&urls);
    let addrs: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .map_err(|e| Error::Usage(format!("invalid server URL {}: {e}", redact_urls(u))))
        })
        .collect::<Result<_, _>>()?;
    if addrs.is_empty() {
        return Err(Error::Usage("no server URL given".to_string()));
    }

    let (error_tx, server_errors) = mpsc::unbounded_channel();
    let mut options = async_nats::ConnectOptions::new()
        .connection_timeout(args.timeout)
        .max_reconnects(Some(0))
        .event_callback(move |event| {
            let error_tx = error_tx.clone();
            async move {
                if let async_nats::Event::ServerError(err) = event {
                    let _ = error_tx.send(err.to_string());
                }
            }
        });
    if let Some(name) = &args.connection_name {
        options = options.name(name);
    }
    let connecting = options.connect(addrs.as_slice());
    let client =
        match tokio::time::timeout(args.timeout + Duration::from_millis(50), connecting).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(connect_error(&display_url, &e.to_string())),
            Err(_) => {
                return Err(Error::Connect(format!(
                    "cannot connect to {display_url}: no server answered within {}",
                    crate::duration::go_string_of(args.timeout)
                )));
            }
        };
    let info = client.server_info();
    if !version_at_least(&info.version, 2, 11) {
        return Err(Error::OldServer {
            server: if info.server_name.is_empty() {
                display_url
            } else {
                info.server_name.clone()
            },
            version: info.version.clone(),
        });
    }
    Ok(Connection {
        client,
        server_errors,
        display_url,
    })
}

fn connect_error(display_url: &str, detail: &str) -> Error {
    let lower = detail.to_ascii_lowercase();
    let what = if lower.contains("authorization") || lower.contains("authentication") {
        "authorization failed"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "no server answered in time"
    } else {
        "connection failed"
    };
    Error::Connect(format!(
        "cannot connect to {display_url}: {what} ({detail})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_urls("nats://bob:s3cret@h1:4222, tls://tok@h2"),
            "nats://bob:[redacted]@h1:4222,tls://[redacted]@h2"
        );
        assert_eq!(redact_urls("h:4222"), "h:4222");
    }

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert!(version_at_least("2.11.0", 2, 11));
        assert!(version_at_least("2.11.0-dev", 2, 11));
        assert!(version_at_least("v2.15.1", 2, 11));
        assert!(version_at_least("3.0.0", 2, 11));
        assert!(!version_at_least("2.10.22", 2, 11));
        assert!(!version_at_least("", 2, 11));
    }
}
