//! Turning [`ConnectionOptions`] into a connected client: flags and environment merged over
//! the selected nats CLI context ([`merge`]); server URLs, credentials (user and password, token,
//! nkey, creds, JWT), TLS (CA, client certificate, handshake first), connection name and
//! timeout; one-line errors that say what went wrong and never show a secret; refusing servers
//! older than 2.11; and passing on the server's asynchronous errors (permission violations) so
//! that the collector can report them as what they are.

pub mod context;
mod merge;
pub mod options;
pub mod secret;

use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::connect::options::ConnectionOptions;
use crate::error::Error;
use crate::text::sanitize;
use crate::verbose::Verbose;

pub use merge::{Auth, DEFAULT_URL, Resolved, merge, resolve};

/// A connected client and the errors the server reports on it.
pub struct Connection {
    pub client: async_nats::Client,
    /// Server errors reported after connecting, such as permission violations, and
    /// [`SLOW_CONSUMER`] when the client dropped messages a subscription could not take.
    pub server_errors: mpsc::UnboundedReceiver<String>,
    /// The URL list connected to, with any password removed.
    pub display_url: String,
}

/// Passed on as a server error when the client library dropped messages because a
/// subscription's queue was full (its subscriber did not keep up).
pub(crate) const SLOW_CONSUMER: &str =
    "slow consumer: the client dropped messages it could not queue";

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

/// Connects as the options say, within their timeout, and checks the server supports
/// tracing.
pub async fn connect(options: &ConnectionOptions, log: &Verbose) -> Result<Connection, Error> {
    let resolved = resolve(options)?;
    connect_with(&resolved, log).await
}

/// Connects with merged settings, within `settings.timeout`.
pub async fn connect_with(settings: &Resolved, log: &Verbose) -> Result<Connection, Error> {
    let display_url = redact_urls(&settings.urls);
    say_where_settings_came_from(settings, log);
    let addrs = server_addrs(&settings.urls)?;
    let (error_tx, server_errors) = mpsc::unbounded_channel();
    let options = client_options(settings, error_tx, log)?;
    let client = connect_within(options, &addrs, &display_url, settings).await?;
    refuse_old_server(&client, &display_url)?;
    Ok(Connection {
        client,
        server_errors,
        display_url,
    })
}

/// `-v`: the context used, and options given but not used.
fn say_where_settings_came_from(settings: &Resolved, log: &Verbose) {
    if let Some((name, path)) = &settings.context {
        log.say(format_args!("using context {name:?} ({})", path.display()));
    }
    for note in &settings.notes {
        log.say(format_args!("{note}"));
    }
}

/// The comma-separated server URLs, parsed; at least one.
fn server_addrs(urls: &str) -> Result<Vec<async_nats::ServerAddr>, Error> {
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
    Ok(addrs)
}

/// The client library's options: timeout, no reconnecting, server errors passed on to
/// `error_tx`, name, inbox prefix, credentials and TLS.
fn client_options(
    settings: &Resolved,
    error_tx: mpsc::UnboundedSender<String>,
    log: &Verbose,
) -> Result<async_nats::ConnectOptions, Error> {
    let mut options = async_nats::ConnectOptions::new()
        .connection_timeout(settings.timeout)
        .max_reconnects(Some(0))
        .event_callback(move |event| {
            let error_tx = error_tx.clone();
            async move {
                match event {
                    async_nats::Event::ServerError(err) => {
                        let _ = error_tx.send(err.to_string());
                    }
                    async_nats::Event::SlowConsumer(_) => {
                        let _ = error_tx.send(SLOW_CONSUMER.to_string());
                    }
                    _ => {}
                }
            }
        });
    if let Some(name) = &settings.connection_name {
        options = options.name(name);
    }
    if let Some(prefix) = &settings.inbox_prefix {
        options = options.custom_inbox_prefix(prefix);
    }
    options = with_auth(options, &settings.auth)?;
    if settings.auth != Auth::None {
        log.say(format_args!(
            "authenticating with {} (from {})",
            settings.auth.describe(),
            settings.auth_source
        ));
    }
    with_tls(options, settings, log)
}

/// Connects, bounded by the timeout (and a little more, in case the library overruns it).
async fn connect_within(
    options: async_nats::ConnectOptions,
    addrs: &[async_nats::ServerAddr],
    display_url: &str,
    settings: &Resolved,
) -> Result<async_nats::Client, Error> {
    let connecting = options.connect(addrs);
    match tokio::time::timeout(settings.timeout + Duration::from_millis(50), connecting).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(connect_error(display_url, settings, &e)),
        Err(_) => Err(Error::Connect(format!(
            "cannot connect to {display_url}: no server reachable within {}",
            crate::duration::go_string_of(settings.timeout)
        ))),
    }
}

/// Message tracing needs nats-server 2.11 or newer.
fn refuse_old_server(client: &async_nats::Client, display_url: &str) -> Result<(), Error> {
    let info = client.server_info();
    if version_at_least(&info.version, 2, 11) {
        return Ok(());
    }
    Err(Error::OldServer {
        server: if info.server_name.is_empty() {
            display_url.to_string()
        } else {
            info.server_name.clone()
        },
        version: info.version.clone(),
    })
}

/// Adds the credentials, reading creds and nkey files now so that an unreadable or malformed
/// file is reported as what it is. No error text includes a file's contents.
fn with_auth(
    options: async_nats::ConnectOptions,
    auth: &Auth,
) -> Result<async_nats::ConnectOptions, Error> {
    Ok(match auth {
        Auth::None => options,
        Auth::UserPassword { user, password } => {
            options.user_and_password(user.clone(), password.expose().to_string())
        }
        Auth::Token(token) => options.token(token.expose().to_string()),
        Auth::NKey(path) => {
            let text = read_secret_file(path, "nkey seed")?;
            let seed = text
                .split_whitespace()
                .find(|word| word.starts_with("SU"))
                .ok_or_else(|| {
                    Error::Connect(format!(
                        "nkey file {} holds no user nkey seed (a word starting with SU)",
                        path.display()
                    ))
                })?;
            if nkeys::KeyPair::from_seed(seed).is_err() {
                return Err(Error::Connect(format!(
                    "nkey file {} holds a malformed user nkey seed",
                    path.display()
                )));
            }
            options.nkey(seed.to_string())
        }
        Auth::Creds(path) => {
            let text = read_secret_file(path, "credentials")?;
            options.credentials(&text).map_err(|_| {
                Error::Connect(format!(
                    "credentials file {} is malformed: it needs a user JWT and a user nkey seed, each between ----- lines",
                    path.display()
                ))
            })?
        }
        Auth::Jwt { jwt, seed } => {
            let key_pair = nkeys::KeyPair::from_seed(seed.expose().trim()).map_err(|_| {
                Error::Usage("the context's user_seed is not a valid user nkey seed".into())
            })?;
            let key_pair = std::sync::Arc::new(key_pair);
            options.jwt(jwt.expose().trim().to_string(), move |nonce| {
                let key_pair = key_pair.clone();
                async move { key_pair.sign(&nonce).map_err(async_nats::AuthError::new) }
            })
        }
    })
}

fn read_secret_file(path: &Path, what: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::Connect(format!(
            "cannot read {what} file {}: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

/// An I/O error's reason without the OS error number.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::InvalidData => "not text".to_string(),
        _ => e.to_string(),
    }
}

/// Adds TLS settings. The files are only checked here (readable, PEM); the client library
/// loads them, and the system's roots, only if a connection actually uses TLS.
fn with_tls(
    mut options: async_nats::ConnectOptions,
    settings: &Resolved,
    log: &Verbose,
) -> Result<async_nats::ConnectOptions, Error> {
    if let Some(ca) = &settings.tls_ca {
        check_pem(ca, "TLS CA", "CERTIFICATE-----")?;
        log.say(format_args!("trusting the CAs in {}", ca.display()));
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key) {
        check_pem(cert, "TLS certificate", "CERTIFICATE-----")?;
        check_pem(key, "TLS key", "PRIVATE KEY-----")?;
        log.say(format_args!(
            "client certificate {} (key {})",
            cert.display(),
            key.display()
        ));
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if settings.tls_first {
        log.say(format_args!("TLS handshake first"));
        options = options.tls_first();
    }
    if settings.wants_tls() {
        options = options.require_tls(true);
    }
    Ok(options)
}

fn check_pem(path: &Path, what: &str, marker: &str) -> Result<(), Error> {
    let text = std::fs::read(path).map_err(|e| {
        Error::Connect(format!(
            "cannot read {what} file {}: {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    let text = String::from_utf8_lossy(&text);
    if !text.contains("-----BEGIN") || !text.contains(marker) {
        return Err(Error::Connect(format!(
            "{what} file {} is not PEM (no -----BEGIN …{marker} block)",
            path.display()
        )));
    }
    Ok(())
}

/// One line saying why connecting failed, with a hint at the fix where there is one.
fn connect_error(display_url: &str, settings: &Resolved, e: &async_nats::ConnectError) -> Error {
    use async_nats::ConnectErrorKind as Kind;
    let detail = sanitize(&e.to_string());
    let lower = detail.to_ascii_lowercase();
    let what = match e.kind() {
        // The library's text adds nothing here.
        Kind::AuthorizationViolation if settings.auth == Auth::None => {
            return Error::Connect(format!(
                "cannot connect to {display_url}: authorization violation: the server requires credentials (--user and --password, --token, --nkey, --creds, or a context)"
            ));
        }
        Kind::AuthorizationViolation => {
            return Error::Connect(format!(
                "cannot connect to {display_url}: authorization violation: the server refused {} (from {})",
                settings.auth.describe(),
                settings.auth_source
            ));
        }
        Kind::Authentication => format!(
            "authentication failed: cannot sign the server's challenge with {}",
            settings.auth.describe()
        ),
        Kind::TimedOut => format!(
            "no server reachable within {}",
            crate::duration::go_string_of(settings.timeout)
        ),
        Kind::Dns => "cannot resolve the server's host name".to_string(),
        _ if lower.contains("invalid peer certificate")
            || lower.contains("unknownissuer")
            || lower.contains("certificate not valid") =>
        {
            if settings.tls_ca.is_some() {
                "TLS: the server's certificate is not trusted by the CA given with --tlsca"
                    .to_string()
            } else {
                "TLS: the server's certificate is not trusted (give its CA with --tlsca)"
                    .to_string()
            }
        }
        _ if lower.contains("certificaterequired")
            || lower.contains("certificate required")
            || lower.contains("badcertificate")
            || lower.contains("bad certificate") =>
        {
            if settings.tls_cert.is_some() {
                "TLS handshake failed: the server refused the client certificate".to_string()
            } else {
                "TLS handshake failed: the server requires a client certificate (--tlscert and --tlskey)"
                    .to_string()
            }
        }
        _ if lower.contains("corrupt message") || lower.contains("invalidcontenttype") => {
            if settings.tls_first {
                "TLS handshake failed: the server did not answer the TLS handshake (is TLS enabled, with handshake_first? drop --tlsfirst otherwise)".to_string()
            } else {
                "TLS handshake failed: the server does not speak TLS here".to_string()
            }
        }
        _ if lower.contains("could not load") || lower.contains("platform certs") => {
            "TLS setup failed: cannot load the certificates".to_string()
        }
        _ if lower.contains("expected info, got nothing")
            || lower.contains("broken pipe")
            || lower.contains("connection reset") =>
        {
            if settings.tls_first {
                "the server closed the connection during the greeting".to_string()
            } else {
                "the server closed the connection during the greeting (if it requires the TLS handshake first, use --tlsfirst)".to_string()
            }
        }
        _ if lower.contains("connection refused") => {
            "no server reachable (connection refused)".to_string()
        }
        Kind::Tls => "TLS failed".to_string(),
        _ => "connection failed".to_string(),
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
