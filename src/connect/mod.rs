//! Turning connection options into a connected client: flags and environment merged over the
//! selected nats CLI context ([`merge`]); server URLs, credentials (user and password, token,
//! nkey, creds, JWT), TLS (CA, client certificate, handshake first), connection name and
//! timeout; one-line errors that say what went wrong and never show a secret; refusing servers
//! older than 2.11; and passing on the server's asynchronous errors (permission violations) so
//! that the collector can report them as what they are.

pub mod context;
pub mod secret;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cli::ConnectionArgs;
use crate::connect::context::Context;
use crate::connect::secret::Secret;
use crate::error::Error;
use crate::text::sanitize;
use crate::verbose::Verbose;

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

/// How to authenticate. Secrets stay inside [`Secret`]s; files are read only when connecting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: Secret,
    },
    Token(Secret),
    /// A file holding a user nkey seed.
    NKey(PathBuf),
    /// A credentials file: user JWT and nkey seed.
    Creds(PathBuf),
    /// A user JWT and its seed given inline (context fields `user_jwt` and `user_seed`).
    Jwt {
        jwt: Secret,
        seed: Secret,
    },
}

impl Auth {
    /// What kind of credentials these are, with file names but never a secret.
    pub fn describe(&self) -> String {
        match self {
            Auth::None => "no credentials".to_string(),
            Auth::UserPassword { user, .. } => {
                format!("user {:?} and its password", sanitize(user))
            }
            Auth::Token(_) => "the token".to_string(),
            Auth::NKey(path) => format!("the nkey in {}", path.display()),
            Auth::Creds(path) => format!("the credentials in {}", path.display()),
            Auth::Jwt { .. } => "the user JWT and seed".to_string(),
        }
    }
}

/// Everything needed to connect, after merging flags, environment and context.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Comma-separated server URLs (they may hold user:password; show them redacted).
    pub urls: String,
    pub auth: Auth,
    /// Where the credentials came from: "flags or environment", "context \"prod\"", "the URL".
    pub auth_source: &'static str,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_ca: Option<PathBuf>,
    pub tls_first: bool,
    pub inbox_prefix: Option<String>,
    pub connection_name: Option<String>,
    pub timeout: Duration,
    /// The context used, if any: its name and file.
    pub context: Option<(String, PathBuf)>,
    /// Options that were given but not used, one line each (for `-v`).
    pub notes: Vec<String>,
}

impl Settings {
    /// Whether this connection will use TLS whatever the server says.
    pub fn wants_tls(&self) -> bool {
        self.tls_first
            || self.tls_ca.is_some()
            || self.tls_cert.is_some()
            || self
                .urls
                .split(',')
                .any(|u| u.trim().to_ascii_lowercase().starts_with("tls://"))
    }
}

/// Merges the command line (flags, then environment) over the nats CLI context that
/// `args` selects, reading the context file.
pub fn resolve(args: &ConnectionArgs) -> Result<Settings, Error> {
    let loaded = if args.no_context {
        None
    } else {
        let root = crate::connect::context::default_config_root();
        crate::connect::context::load(root.as_deref(), args.context.as_deref())?
    };
    merge(args, loaded.as_ref().map(|(c, _)| c))
}

/// Merges the command line over `context`: per setting, a flag or environment variable wins
/// over the context. Credentials go as a group: any credential flag replaces the context's.
pub fn merge(args: &ConnectionArgs, context: Option<&Context>) -> Result<Settings, Error> {
    let ctx = context.map(|c| &c.settings);
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let ctx_path =
        |s: &str| (!s.trim().is_empty()).then(|| crate::connect::context::expand_path(s.trim()));
    let mut notes = Vec::new();

    let urls = args
        .server
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| ctx.and_then(|c| non_empty(&c.url)))
        .unwrap_or_else(|| DEFAULT_URL.to_string());

    let (auth, auth_source) = if let Some(auth) = auth_from_args(args, &mut notes) {
        (auth, "flags or environment")
    } else if let Some(auth) = auth_from_urls(&urls) {
        (auth, "the server URL")
    } else if let Some(auth) = ctx.and_then(|c| auth_from_context(c, &ctx_path)) {
        (auth, "the context")
    } else {
        (Auth::None, "nowhere")
    };
    if let Some(c) = ctx {
        if !c.socks_proxy.is_empty() {
            notes.push("the context's socks_proxy is not supported and is ignored".to_string());
        }
        if c.creds.contains("://") {
            return Err(Error::Usage(format!(
                "the context's creds {:?} is not a file; nats-trace reads credentials from files only",
                sanitize(&c.creds)
            )));
        }
    }

    let tls_cert = args
        .tlscert
        .clone()
        .filter(|p| !p.as_os_str().is_empty())
        .or_else(|| ctx.and_then(|c| ctx_path(&c.cert)));
    let tls_key = args
        .tlskey
        .clone()
        .filter(|p| !p.as_os_str().is_empty())
        .or_else(|| ctx.and_then(|c| ctx_path(&c.key)));
    match (&tls_cert, &tls_key) {
        (Some(_), None) => {
            return Err(Error::Usage(
                "--tlscert needs --tlskey (the client certificate's private key)".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(Error::Usage(
                "--tlskey needs --tlscert (the client certificate)".into(),
            ));
        }
        _ => {}
    }
    Ok(Settings {
        urls,
        auth,
        auth_source,
        tls_cert,
        tls_key,
        tls_ca: args
            .tlsca
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .or_else(|| ctx.and_then(|c| ctx_path(&c.ca))),
        tls_first: args.tlsfirst || ctx.is_some_and(|c| c.tls_first),
        inbox_prefix: ctx.and_then(|c| non_empty(c.inbox_prefix.trim())),
        connection_name: args.connection_name.clone(),
        timeout: args.timeout,
        context: context.map(|c| (c.name.clone(), c.path.clone())),
        notes,
    })
}

/// Credentials from flags or environment: a creds file, else an nkey, else user and password
/// (a user without a password is a token, as in the nats CLI), else a token.
fn auth_from_args(args: &ConnectionArgs, notes: &mut Vec<String>) -> Option<Auth> {
    let mut given = Vec::new();
    if let Some(path) = args.creds.clone().filter(|p| !p.as_os_str().is_empty()) {
        given.push(("--creds", Auth::Creds(path)));
    }
    if let Some(path) = args.nkey.clone().filter(|p| !p.as_os_str().is_empty()) {
        given.push(("--nkey", Auth::NKey(path)));
    }
    let password = args.password.clone().filter(|p| !p.is_empty());
    match (args.user.clone().filter(|u| !u.is_empty()), password) {
        (Some(user), Some(password)) => {
            given.push(("--user", Auth::UserPassword { user, password }))
        }
        (Some(user), None) => given.push(("--user", Auth::Token(Secret::new(user)))),
        (None, Some(_)) => notes.push("--password without --user is ignored".to_string()),
        (None, None) => {}
    }
    if let Some(token) = args.token.clone().filter(|t| !t.is_empty()) {
        given.push(("--token", Auth::Token(token)));
    }
    let mut given = given.into_iter();
    let (chosen, auth) = given.next()?;
    for (ignored, _) in given {
        notes.push(format!("{ignored} is ignored: {chosen} takes precedence"));
    }
    Some(auth)
}

/// Credentials written into a server URL: `user:password@` or a lone `token@`.
fn auth_from_urls(urls: &str) -> Option<Auth> {
    urls.split(',').find_map(|u| {
        let addr = u.trim().parse::<async_nats::ServerAddr>().ok()?;
        let user = percent_decode(addr.username()?);
        Some(match addr.password() {
            Some(password) => Auth::UserPassword {
                user,
                password: Secret::new(percent_decode(password)),
            },
            None => Auth::Token(Secret::new(user)),
        })
    })
}

/// A context's credentials, in the nats CLI's order: user, creds, nkey, JWT, token.
fn auth_from_context(
    c: &crate::connect::context::ContextSettings,
    ctx_path: &dyn Fn(&str) -> Option<PathBuf>,
) -> Option<Auth> {
    if !c.user.is_empty() {
        Some(Auth::UserPassword {
            user: c.user.clone(),
            password: c.password.clone(),
        })
    } else if let Some(path) = ctx_path(&c.creds) {
        Some(Auth::Creds(path))
    } else if let Some(path) = ctx_path(&c.nkey) {
        Some(Auth::NKey(path))
    } else if !c.user_jwt.is_empty() && !c.user_seed.is_empty() {
        Some(Auth::Jwt {
            jwt: c.user_jwt.clone(),
            seed: c.user_seed.clone(),
        })
    } else if !c.token.is_empty() {
        Some(Auth::Token(c.token.clone()))
    } else {
        None
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Connects as the options say, within `args.timeout`, and checks the server supports tracing.
pub async fn connect(args: &ConnectionArgs) -> Result<Connection, Error> {
    let settings = resolve(args)?;
    connect_with(&settings, &Verbose::new(args.verbose)).await
}

/// Connects with merged settings, within `settings.timeout`.
#[allow(clippy::too_many_lines)] // TODO(issue 12): split into named steps
pub async fn connect_with(settings: &Settings, log: &Verbose) -> Result<Connection, Error> {
    let display_url = redact_urls(&settings.urls);
    if let Some((name, path)) = &settings.context {
        log.say(format_args!("using context {name:?} ({})", path.display()));
    }
    for note in &settings.notes {
        log.say(format_args!("{note}"));
    }
    let addrs: Vec<async_nats::ServerAddr> = settings
        .urls
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
        .connection_timeout(settings.timeout)
        .max_reconnects(Some(0))
        .event_callback(move |event| {
            let error_tx = error_tx.clone();
            async move {
                if let async_nats::Event::ServerError(err) = event {
                    let _ = error_tx.send(err.to_string());
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
    options = with_tls(options, settings, log)?;

    let connecting = options.connect(addrs.as_slice());
    let client = match tokio::time::timeout(
        settings.timeout + Duration::from_millis(50),
        connecting,
    )
    .await
    {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => return Err(connect_error(&display_url, settings, &e)),
        Err(_) => {
            return Err(Error::Connect(format!(
                "cannot connect to {display_url}: no server reachable within {}",
                crate::duration::go_string_of(settings.timeout)
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
    settings: &Settings,
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
fn connect_error(display_url: &str, settings: &Settings, e: &async_nats::ConnectError) -> Error {
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

    use crate::connect::context::ContextSettings;

    fn context(settings: ContextSettings) -> Context {
        Context {
            name: "ctx".into(),
            path: PathBuf::from("/x/nats/context/ctx.json"),
            settings,
        }
    }

    fn args() -> ConnectionArgs {
        ConnectionArgs {
            timeout: Duration::from_secs(5),
            ..ConnectionArgs::default()
        }
    }

    #[test]
    fn flags_win_over_the_context_setting_by_setting() {
        let ctx = context(ContextSettings {
            url: "nats://ctx:4222".into(),
            user: "ctx-user".into(),
            password: Secret::new("ctx-pw"),
            ca: "/ctx/ca.pem".into(),
            tls_first: true,
            inbox_prefix: "_CTX".into(),
            ..ContextSettings::default()
        });
        let from_context = merge(&args(), Some(&ctx)).expect("merges");
        assert_eq!(from_context.urls, "nats://ctx:4222");
        assert_eq!(
            from_context.auth,
            Auth::UserPassword {
                user: "ctx-user".into(),
                password: Secret::new("ctx-pw")
            }
        );
        assert_eq!(from_context.auth_source, "the context");
        assert_eq!(from_context.tls_ca, Some(PathBuf::from("/ctx/ca.pem")));
        assert!(from_context.tls_first && from_context.wants_tls());
        assert_eq!(from_context.inbox_prefix.as_deref(), Some("_CTX"));

        let flags = ConnectionArgs {
            server: Some("nats://flag:4222".into()),
            token: Some(Secret::new("flag-token")),
            tlsca: Some(PathBuf::from("/flag/ca.pem")),
            ..args()
        };
        let merged = merge(&flags, Some(&ctx)).expect("merges");
        assert_eq!(merged.urls, "nats://flag:4222");
        assert_eq!(merged.auth, Auth::Token(Secret::new("flag-token")));
        assert_eq!(merged.tls_ca, Some(PathBuf::from("/flag/ca.pem")));
        assert!(!format!("{merged:?}").contains("flag-token"));
        assert!(!format!("{from_context:?}").contains("ctx-pw"));
    }

    #[test]
    fn without_flags_or_context_the_default_url_and_no_credentials() {
        let merged = merge(&args(), None).expect("merges");
        assert_eq!(merged.urls, DEFAULT_URL);
        assert_eq!(merged.auth, Auth::None);
        assert!(!merged.wants_tls());
        let tls = ConnectionArgs {
            server: Some("tls://h:4222".into()),
            ..args()
        };
        assert!(merge(&tls, None).expect("merges").wants_tls());
    }

    #[test]
    fn one_credential_wins_and_the_others_are_noted() {
        let both = ConnectionArgs {
            creds: Some(PathBuf::from("/u.creds")),
            token: Some(Secret::new("t")),
            ..args()
        };
        let merged = merge(&both, None).expect("merges");
        assert_eq!(merged.auth, Auth::Creds(PathBuf::from("/u.creds")));
        assert_eq!(
            merged.notes,
            vec!["--token is ignored: --creds takes precedence"]
        );

        let lone_user = ConnectionArgs {
            user: Some("abc".into()),
            ..args()
        };
        assert_eq!(
            merge(&lone_user, None).expect("merges").auth,
            Auth::Token(Secret::new("abc"))
        );
    }

    #[test]
    fn credentials_in_the_url_are_used_and_decoded() {
        let url = ConnectionArgs {
            server: Some("nats://bob:p%40ss@h:4222".into()),
            ..args()
        };
        let merged = merge(&url, None).expect("merges");
        assert_eq!(
            merged.auth,
            Auth::UserPassword {
                user: "bob".into(),
                password: Secret::new("p@ss")
            }
        );
        assert_eq!(merged.auth_source, "the server URL");
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let half = ConnectionArgs {
            tlscert: Some(PathBuf::from("/c.pem")),
            ..args()
        };
        assert!(merge(&half, None).is_err());
        let empty = ConnectionArgs {
            tlscert: Some(PathBuf::new()),
            ..args()
        };
        assert!(merge(&empty, None).is_ok());
    }

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
