//! Asking the monitoring endpoints over NATS: `$SYS.REQ.SERVER.PING.<EP>` with the
//! endpoint's options as the JSON body, which every server answers with
//! `{server, data, error}` when the client is in the system account. Without system
//! credentials only `$SYS.REQ.ACCOUNT.PING.CONNZ` (the own account's connections) answers.
//! The replies are gathered on one inbox until a quiet period after the last (or as many as
//! there are servers), bounded by a deadline, a count and a size per reply.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

use super::MAX_SERVERS;
use super::monitor::{Access, Bounds, Endpoint, MAX_REPLY_BYTES, Reply, Request};
use crate::connect::options::{ConnectionOptions, ContextChoice};
use crate::error::Error;
use crate::verbose::Verbose;

/// The shortest quiet period; a slow network waits twice the first reply's latency.
const MIN_QUIET: Duration = Duration::from_millis(30);

/// The longest quiet period.
const MAX_QUIET: Duration = Duration::from_millis(500);

/// A client asking `$SYS` subjects.
pub struct SysMonitor {
    client: async_nats::Client,
    /// In the system account: every endpoint answers.
    pub(crate) privileged: bool,
    bounds: Bounds,
    /// How many servers answered VARZ (0 until known): gathering stops at this many replies.
    servers: AtomicUsize,
}

impl SysMonitor {
    /// Connects for `$SYS` requests: as `--system-context` or `--system-creds` say, else as
    /// the user's own connection; then finds out whether the client is in the system account
    /// (VARZ answers).
    pub async fn connect(
        connection: &ConnectionOptions,
        access: &Access,
        log: &Verbose,
    ) -> Result<SysMonitor, Error> {
        let options = system_options(connection, access);
        let conn = crate::connect::connect(&options, log).await?;
        let deadline = connection.timeout.min(Duration::from_secs(2));
        let monitor = SysMonitor {
            client: conn.client,
            privileged: true,
            bounds: Bounds {
                deadline,
                quiet: MIN_QUIET,
            },
            servers: AtomicUsize::new(0),
        };
        Ok(monitor)
    }

    /// Records how many servers answered VARZ; the client is privileged when any did.
    pub(crate) fn learn(&mut self, varz: &[Reply]) {
        let answered = varz.iter().filter(|r| r.data.is_ok()).count();
        self.privileged = answered > 0;
        self.servers.store(answered, Ordering::Relaxed);
    }

    /// Asks every server; see the module documentation.
    pub(crate) async fn ask(&self, request: &Request) -> Vec<Reply> {
        let subject = match (self.privileged, request.endpoint) {
            (true, endpoint) => format!("$SYS.REQ.SERVER.PING.{}", endpoint.name()),
            (false, Endpoint::Connz) => "$SYS.REQ.ACCOUNT.PING.CONNZ".to_string(),
            (false, endpoint) => {
                return vec![Reply {
                    server: String::new(),
                    data: Err(format!("{} needs system credentials", endpoint.name())),
                }];
            }
        };
        match self.gather(&subject, request).await {
            Ok(replies) => replies,
            Err(e) => vec![Reply {
                server: String::new(),
                data: Err(format!("{subject}: {e}")),
            }],
        }
    }

    /// Publishes the request and collects the replies within the bounds.
    async fn gather(&self, subject: &str, request: &Request) -> Result<Vec<Reply>, String> {
        let inbox = self.client.new_inbox();
        let mut replies_sub = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| e.to_string())?;
        let body = serde_json::to_vec(&request.json()).map_err(|e| e.to_string())?;
        let started = Instant::now();
        self.client
            .publish_with_reply(subject.to_string(), inbox, body.into())
            .await
            .map_err(|e| e.to_string())?;
        self.client.flush().await.map_err(|e| e.to_string())?;
        let expected = self.servers.load(Ordering::Relaxed);
        let deadline = started + self.bounds.deadline;
        let mut replies = Vec::new();
        let mut until = deadline;
        let mut quiet = self.bounds.quiet;
        while replies.len() < MAX_SERVERS && (expected == 0 || replies.len() < expected) {
            let Ok(Some(message)) = tokio::time::timeout_at(until, replies_sub.next()).await else {
                break;
            };
            if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                return Err("no server answered (not the system account?)".to_string());
            }
            if replies.is_empty() {
                quiet = (started.elapsed() * 2).clamp(MIN_QUIET, MAX_QUIET);
            }
            replies.push(parse_reply(&message.payload));
            until = deadline.min(Instant::now() + quiet);
        }
        let _ = replies_sub.unsubscribe().await;
        if replies.is_empty() {
            return Err(format!(
                "no reply within {}",
                crate::duration::go_string_of(self.bounds.deadline)
            ));
        }
        Ok(replies)
    }
}

/// The connection options for `$SYS` requests: a system context or creds file replaces the
/// user's credentials; without either, the user's own options.
fn system_options(connection: &ConnectionOptions, access: &Access) -> ConnectionOptions {
    let mut options = connection.clone();
    let clear_auth = |o: &mut ConnectionOptions| {
        o.user = None;
        o.password = None;
        o.token = None;
        o.creds = None;
        o.nkey = None;
    };
    if let Some(context) = &access.system_context {
        clear_auth(&mut options);
        options.context = ContextChoice::Named(context.clone());
    } else if let Some(creds) = &access.system_creds {
        clear_auth(&mut options);
        options.creds = Some(creds.clone());
    }
    options
}

/// One `{server, data, error}` reply, bounded.
fn parse_reply(payload: &[u8]) -> Reply {
    if payload.len() > MAX_REPLY_BYTES {
        return Reply {
            server: String::new(),
            data: Err(format!("a reply of {} bytes was ignored", payload.len())),
        };
    }
    let value: Value = match serde_json::from_slice(payload) {
        Ok(value) => value,
        Err(e) => {
            return Reply {
                server: String::new(),
                data: Err(format!("a reply is not JSON: {e}")),
            };
        }
    };
    let server = value
        .get("server")
        .and_then(|s| super::text(s, "name"))
        .unwrap_or_default();
    let data = match value.get("error") {
        Some(error) if !error.is_null() => Err(super::text(error, "description")
            .unwrap_or_else(|| "the server answered with an error".to_string())),
        _ => value
            .get("data")
            .cloned()
            .ok_or_else(|| "a reply has no data".to_string()),
    };
    Reply { server, data }
}
