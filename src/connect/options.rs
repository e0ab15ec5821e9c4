//! What `connect` needs from the command line (or from a suite, or the demo), before it is
//! merged over a nats CLI context: plain values, with `None` for "not given".

use std::path::PathBuf;
use std::time::Duration;

use crate::connect::secret::Secret;

/// Which nats CLI context to connect with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ContextChoice {
    /// The one selected with `nats context select`, if any.
    #[default]
    Selected,
    /// A context by name, or the path of a context `.json` file.
    Named(String),
    /// No context at all.
    None,
}

/// How to reach and authenticate with the servers, before merging over a context.
/// `None` means not given; empty values from the environment are `None` already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// Comma-separated server URLs.
    pub server: Option<String>,
    pub context: ContextChoice,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub token: Option<Secret>,
    /// A credentials file (user JWT and nkey seed).
    pub creds: Option<PathBuf>,
    /// A file holding a user nkey seed.
    pub nkey: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_ca: Option<PathBuf>,
    /// The TLS handshake before the server's greeting.
    pub tls_first: bool,
    pub connection_name: Option<String>,
    /// Time allowed to connect.
    pub timeout: Duration,
}

/// The time allowed to connect and to collect when nothing says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for ConnectionOptions {
    fn default() -> ConnectionOptions {
        ConnectionOptions {
            server: None,
            context: ContextChoice::Selected,
            user: None,
            password: None,
            token: None,
            creds: None,
            nkey: None,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            tls_first: false,
            connection_name: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl ConnectionOptions {
    /// Options for a server that needs no credentials: this URL, no context.
    pub fn plain(url: String, connection_name: &str, timeout: Duration) -> ConnectionOptions {
        ConnectionOptions {
            server: Some(url),
            context: ContextChoice::None,
            connection_name: Some(connection_name.to_string()),
            timeout,
            ..ConnectionOptions::default()
        }
    }
}
