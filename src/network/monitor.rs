//! Asking every server's monitoring endpoints, one way or the other: a [`Request`] (an
//! endpoint and its options) goes to every server through a [`Monitor`] — over NATS to
//! `$SYS.REQ.SERVER.PING.<EP>` ([`super::sys`]) or over HTTP to each `--monitor` URL
//! ([`super::http`]) — and comes back as one [`Reply`] per server. [`Access`] is what the
//! command line says about how to reach them. Replies are bounded in count, size and time.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::{http::HttpMonitor, sys::SysMonitor};

/// The largest reply one server may send for one endpoint.
pub(crate) const MAX_REPLY_BYTES: usize = 8 * 1024 * 1024;

/// How to reach the monitoring endpoints, as the command line says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// `--monitor URL…`: monitoring ports over HTTP.
    pub monitor: Vec<String>,
    /// `--system-context NAME`: a nats CLI context of a system-account user.
    pub system_context: Option<String>,
    /// `--system-creds FILE`: a system-account user's credentials.
    pub system_creds: Option<PathBuf>,
}

impl Access {
    /// True when the command line gave a way to ask every endpoint.
    pub fn is_privileged(&self) -> bool {
        !self.monitor.is_empty() || self.system_context.is_some() || self.system_creds.is_some()
    }
}

/// The monitoring endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Varz,
    Connz,
    Routez,
    Gatewayz,
    Leafz,
    Subsz,
    Accountz,
    Jsz,
}

impl Endpoint {
    /// The name in `$SYS.REQ.SERVER.PING.<NAME>` and in explanations.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Varz => "VARZ",
            Endpoint::Connz => "CONNZ",
            Endpoint::Routez => "ROUTEZ",
            Endpoint::Gatewayz => "GATEWAYZ",
            Endpoint::Leafz => "LEAFZ",
            Endpoint::Subsz => "SUBSZ",
            Endpoint::Accountz => "ACCOUNTZ",
            Endpoint::Jsz => "JSZ",
        }
    }

    /// The HTTP path.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Endpoint::Varz => "/varz",
            Endpoint::Connz => "/connz",
            Endpoint::Routez => "/routez",
            Endpoint::Gatewayz => "/gatewayz",
            Endpoint::Leafz => "/leafz",
            Endpoint::Subsz => "/subsz",
            Endpoint::Accountz => "/accountz",
            Endpoint::Jsz => "/jsz",
        }
    }
}

/// An endpoint option: its JSON key in a `$SYS` request and its HTTP query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    /// List subscriptions (SUBSZ, CONNZ).
    Subscriptions,
    /// SUBSZ: only subscriptions matching this subject.
    Test,
    /// Scope to one account.
    Account,
    /// Per-account details (GATEWAYZ, JSZ).
    Accounts,
    /// JSZ: streams, consumers, configs.
    Streams,
    Consumers,
    Config,
    /// CONNZ: the user each connection authenticated as.
    Auth,
}

impl Opt {
    fn sys_key(self) -> &'static str {
        match self {
            Opt::Subscriptions => "subscriptions",
            Opt::Test => "test",
            Opt::Account => "account",
            Opt::Accounts => "accounts",
            Opt::Streams => "streams",
            Opt::Consumers => "consumer",
            Opt::Config => "config",
            Opt::Auth => "auth",
        }
    }

    fn http_key(self, endpoint: Endpoint) -> &'static str {
        match (self, endpoint) {
            (Opt::Subscriptions, _) => "subs",
            (Opt::Test, _) => "test",
            (Opt::Account, Endpoint::Gatewayz) => "acc_name",
            (Opt::Account, _) => "acc",
            (Opt::Accounts, Endpoint::Gatewayz) => "accs",
            (Opt::Accounts, _) => "accounts",
            (Opt::Streams, _) => "streams",
            (Opt::Consumers, _) => "consumers",
            (Opt::Config, _) => "config",
            (Opt::Auth, _) => "auth",
        }
    }
}

/// An endpoint and its options; flags are options without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub endpoint: Endpoint,
    options: Vec<(Opt, Option<String>)>,
}

impl Request {
    pub fn new(endpoint: Endpoint) -> Request {
        Request {
            endpoint,
            options: Vec::new(),
        }
    }

    /// Adds a flag (`true`).
    pub fn flag(mut self, opt: Opt) -> Request {
        self.options.push((opt, None));
        self
    }

    /// Adds an option with a value.
    pub fn with(mut self, opt: Opt, value: &str) -> Request {
        self.options.push((opt, Some(value.to_string())));
        self
    }

    /// The body of a `$SYS` request.
    pub(crate) fn json(&self) -> Value {
        let mut body = serde_json::Map::new();
        for (opt, value) in &self.options {
            let value = value
                .as_ref()
                .map_or(Value::Bool(true), |v| Value::String(v.clone()));
            body.insert(opt.sys_key().to_string(), value);
        }
        Value::Object(body)
    }

    /// The path and query of an HTTP request.
    pub(crate) fn path_and_query(&self) -> String {
        let query: Vec<String> = self
            .options
            .iter()
            .map(|(opt, value)| {
                let value = value.as_deref().unwrap_or("1");
                let value = percent_encoding::utf8_percent_encode(
                    value,
                    percent_encoding::NON_ALPHANUMERIC,
                );
                format!("{}={value}", opt.http_key(self.endpoint))
            })
            .collect();
        if query.is_empty() {
            self.endpoint.path().to_string()
        } else {
            format!("{}?{}", self.endpoint.path(), query.join("&"))
        }
    }
}

/// One server's answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The server's name (or, over HTTP before VARZ names it, its URL).
    pub server: String,
    /// The endpoint's JSON, or a one-line error.
    pub data: Result<Value, String>,
}

impl Reply {
    /// The endpoint's JSON, or the error naming the server.
    pub fn data(&self) -> Result<&Value, String> {
        self.data
            .as_ref()
            .map_err(|e| crate::text::sanitize(&format!("{}: {e}", self.server)))
    }
}

/// Where requests go: the system account over NATS, or monitoring URLs over HTTP.
pub enum Monitor {
    Sys(SysMonitor),
    Http(HttpMonitor),
}

impl Monitor {
    /// Asks every server; the replies that came within the bounds.
    pub async fn ask(&self, request: &Request) -> Vec<Reply> {
        match self {
            Monitor::Sys(sys) => sys.ask(request).await,
            Monitor::Http(http) => http.ask(request).await,
        }
    }

    /// Asks every server several requests at once; the replies in the requests' order.
    pub async fn ask_all(&self, requests: &[Request]) -> Vec<Vec<Reply>> {
        futures_util::future::join_all(requests.iter().map(|r| self.ask(r))).await
    }

    /// How the network is reached, for the `source` of a [`super::Network`].
    pub fn source(&self) -> &'static str {
        match self {
            Monitor::Sys(sys) if sys.privileged => "system account",
            Monitor::Sys(_) => "own account (no system credentials)",
            Monitor::Http(_) => "monitoring URLs",
        }
    }

    /// False when only the user's own connection asks (no system credentials): only CONNZ
    /// of the own account answers.
    pub fn is_privileged(&self) -> bool {
        match self {
            Monitor::Sys(sys) => sys.privileged,
            Monitor::Http(_) => true,
        }
    }
}

/// The time a reply may take at most, and the quiet period after the last one.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub deadline: Duration,
    pub quiet: Duration,
}
