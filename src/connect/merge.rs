//! Merging the connection options (flags, then environment) over a nats CLI context into
//! what [`crate::connect`] connects with ([`Resolved`]): per setting, a flag or environment
//! variable wins over the context, then the default; credentials go as one group.

use std::path::PathBuf;
use std::time::Duration;

use crate::connect::context::{Context, ContextSettings};
use crate::connect::options::{ConnectionOptions, ContextChoice};
use crate::connect::secret::Secret;
use crate::error::Error;
use crate::text::sanitize;

/// The server URL used when neither `--server` nor `NATS_URL` nor the context names one.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

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
pub struct Resolved {
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

impl Resolved {
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

/// Merges the connection options over the nats CLI context they select, reading the
/// context file.
pub fn resolve(options: &ConnectionOptions) -> Result<Resolved, Error> {
    let root = crate::connect::context::default_config_root();
    let context = match &options.context {
        ContextChoice::None => None,
        ContextChoice::Selected => crate::connect::context::load(root.as_deref(), None)?,
        ContextChoice::Named(name) => {
            crate::connect::context::load(root.as_deref(), Some(name.as_str()))?
        }
    };
    merge(options, context.as_ref())
}

/// Merges the options over `context`: per setting, a flag or environment variable wins over
/// the context. Credentials go as a group: any credential flag replaces the context's.
pub fn merge(options: &ConnectionOptions, context: Option<&Context>) -> Result<Resolved, Error> {
    let ctx = context.map(|c| &c.settings);
    let mut notes = Vec::new();
    if let Some(c) = ctx {
        check_context(c, &mut notes)?;
    }
    let urls = server_urls(options, ctx);
    let (auth, auth_source) = credentials(options, &urls, ctx, &mut notes)?;
    let (tls_cert, tls_key) = client_certificate(options, ctx)?;
    Ok(Resolved {
        urls,
        auth,
        auth_source,
        tls_cert,
        tls_key,
        tls_ca: flag_or_context_path(&options.tls_ca, ctx.map(|c| ("ca", c.ca.as_str())))?,
        tls_first: options.tls_first || ctx.is_some_and(|c| c.tls_first),
        inbox_prefix: ctx
            .map(|c| c.inbox_prefix.trim())
            .filter(|p| !p.is_empty())
            .map(str::to_string),
        connection_name: options.connection_name.clone(),
        timeout: options.timeout,
        context: context.map(|c| (c.name.clone(), c.path.clone())),
        notes,
    })
}

/// Refuses what nats-trace cannot use from a context, and notes what it ignores.
fn check_context(c: &ContextSettings, notes: &mut Vec<String>) -> Result<(), Error> {
    if !c.socks_proxy.is_empty() {
        notes.push("the context's socks_proxy is not supported and is ignored".to_string());
    }
    if c.creds.contains("://") {
        return Err(Error::Usage(format!(
            "the context's creds {:?} is not a file; nats-trace reads credentials from files only",
            sanitize(&c.creds)
        )));
    }
    Ok(())
}

/// The server URLs: the flag's, else the context's, else [`DEFAULT_URL`].
fn server_urls(options: &ConnectionOptions, ctx: Option<&ContextSettings>) -> String {
    options
        .server
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| ctx.map(|c| c.url.clone()).filter(|u| !u.is_empty()))
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// The credentials and where they came from: flags or environment, else the server URL,
/// else the context.
fn credentials(
    options: &ConnectionOptions,
    urls: &str,
    ctx: Option<&ContextSettings>,
    notes: &mut Vec<String>,
) -> Result<(Auth, &'static str), Error> {
    if let Some(auth) = auth_from_options(options, notes) {
        return Ok((auth, "flags or environment"));
    }
    if let Some(auth) = auth_from_urls(urls) {
        return Ok((auth, "the server URL"));
    }
    if let Some(c) = ctx {
        if let Some(auth) = auth_from_context(c)? {
            return Ok((auth, "the context"));
        }
    }
    Ok((Auth::None, "nowhere"))
}

/// The client certificate and its key, both or neither.
fn client_certificate(
    options: &ConnectionOptions,
    ctx: Option<&ContextSettings>,
) -> Result<(Option<PathBuf>, Option<PathBuf>), Error> {
    let cert = flag_or_context_path(&options.tls_cert, ctx.map(|c| ("cert", c.cert.as_str())))?;
    let key = flag_or_context_path(&options.tls_key, ctx.map(|c| ("key", c.key.as_str())))?;
    match (&cert, &key) {
        (Some(_), None) => Err(Error::Usage(
            "--tlscert needs --tlskey (the client certificate's private key)".into(),
        )),
        (None, Some(_)) => Err(Error::Usage(
            "--tlskey needs --tlscert (the client certificate)".into(),
        )),
        _ => Ok((cert, key)),
    }
}

/// The flag's path, else the context's field (`(name, value)`), expanded.
fn flag_or_context_path(
    flag: &Option<PathBuf>,
    context_field: Option<(&str, &str)>,
) -> Result<Option<PathBuf>, Error> {
    match (flag, context_field) {
        (Some(path), _) => Ok(Some(path.clone())),
        (None, Some((name, value))) => context_path(name, value),
        (None, None) => Ok(None),
    }
}

/// A path from a context field, expanded as the nats CLI does; `None` when empty.
fn context_path(field: &str, value: &str) -> Result<Option<PathBuf>, Error> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    crate::connect::context::expand_path(value)
        .map(Some)
        .map_err(|why| Error::Usage(format!("the context's {field}: {why}")))
}

/// Credentials from flags or environment: a creds file, else an nkey, else user and password
/// (a user without a password is a token, as in the nats CLI), else a token.
fn auth_from_options(options: &ConnectionOptions, notes: &mut Vec<String>) -> Option<Auth> {
    let mut given = Vec::new();
    if let Some(path) = options.creds.clone() {
        given.push(("--creds", Auth::Creds(path)));
    }
    if let Some(path) = options.nkey.clone() {
        given.push(("--nkey", Auth::NKey(path)));
    }
    match (options.user.clone(), options.password.clone()) {
        (Some(user), Some(password)) => {
            given.push(("--user", Auth::UserPassword { user, password }))
        }
        (Some(user), None) => given.push(("--user", Auth::Token(Secret::new(user)))),
        (None, Some(_)) => notes.push("--password without --user is ignored".to_string()),
        (None, None) => {}
    }
    if let Some(token) = options.token.clone() {
        given.push(("--token", Auth::Token(token)));
    }
    let mut given = given.into_iter();
    let (chosen, auth) = given.next()?;
    for (ignored, _) in given {
        notes.push(format!("{ignored} is ignored: {chosen} takes precedence"));
    }
    Some(auth)
}

/// Credentials written into a server URL: `user:password@` or a lone `token@`,
/// percent-decoded.
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

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// A context's credentials, in the nats CLI's order: user, creds, nkey, JWT, token.
fn auth_from_context(c: &ContextSettings) -> Result<Option<Auth>, Error> {
    if !c.user.is_empty() {
        return Ok(Some(Auth::UserPassword {
            user: c.user.clone(),
            password: c.password.clone(),
        }));
    }
    if let Some(path) = context_path("creds", &c.creds)? {
        return Ok(Some(Auth::Creds(path)));
    }
    if let Some(path) = context_path("nkey", &c.nkey)? {
        return Ok(Some(Auth::NKey(path)));
    }
    Ok(if !c.user_jwt.is_empty() && !c.user_seed.is_empty() {
        Some(Auth::Jwt {
            jwt: c.user_jwt.clone(),
            seed: c.user_seed.clone(),
        })
    } else if !c.token.is_empty() {
        Some(Auth::Token(c.token.clone()))
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(settings: ContextSettings) -> Context {
        Context {
            name: "ctx".into(),
            path: PathBuf::from("/x/nats/context/ctx.json"),
            settings,
        }
    }

    fn args() -> ConnectionOptions {
        ConnectionOptions {
            timeout: Duration::from_secs(5),
            ..ConnectionOptions::default()
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

        let flags = ConnectionOptions {
            server: Some("nats://flag:4222".into()),
            token: Some(Secret::new("flag-token")),
            tls_ca: Some(PathBuf::from("/flag/ca.pem")),
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
        let tls = ConnectionOptions {
            server: Some("tls://h:4222".into()),
            ..args()
        };
        assert!(merge(&tls, None).expect("merges").wants_tls());
    }

    #[test]
    fn one_credential_wins_and_the_others_are_noted() {
        let both = ConnectionOptions {
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

        let lone_user = ConnectionOptions {
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
        let url = ConnectionOptions {
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
        let half = ConnectionOptions {
            tls_cert: Some(PathBuf::from("/c.pem")),
            ..args()
        };
        assert!(merge(&half, None).is_err());
    }

    #[test]
    fn context_paths_with_an_unset_variable_are_errors_naming_it() {
        let ctx = context(ContextSettings {
            creds: "$NATS_TRACE_SURELY_UNSET/u.creds".into(),
            ..ContextSettings::default()
        });
        let err = merge(&args(), Some(&ctx)).expect_err("unset variable");
        let text = err.to_string();
        assert!(text.contains("the context's creds"), "{text}");
        assert!(text.contains("NATS_TRACE_SURELY_UNSET"), "{text}");
        // A flag's credentials win, so the context's path is never expanded.
        let flag = ConnectionOptions {
            token: Some(Secret::new("t")),
            ..args()
        };
        assert!(merge(&flag, Some(&ctx)).is_ok());
    }
}
