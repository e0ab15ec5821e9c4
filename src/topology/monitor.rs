//! Polling the servers' HTTP monitoring endpoints: `/healthz`, `/routez`, `/gatewayz` and
//! `/leafz` until every server reports what the topology expects of it (readiness), and
//! `/subsz`, `/routez` and `/leafz` for the interest a server knows on a subject. Every poll
//! is bounded (short socket timeouts, [`READY_TIMEOUT`] overall) and blocks its thread.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::{READY_TIMEOUT, Topology};
use crate::error::Error;
use crate::subject::subject_matches;

/// Pause between two polls of a monitoring endpoint.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What a query parameter of the monitoring endpoints keeps as it is: letters, digits and
/// `-_.~` (unreserved), and the subject wildcards `*` and `>`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'*')
    .remove(b'>');

/// What a server must report before the topology is ready.
#[derive(Debug, Clone)]
pub(super) struct Readiness {
    /// The servers it has routes to (`remote_name` in `/routez`).
    pub(super) routes: BTreeSet<String>,
    /// The clusters it has outbound gateways to (`/gatewayz`).
    pub(super) gateways: BTreeSet<String>,
    /// How many leafnode connections it has, made and accepted (`/leafz`).
    pub(super) leafnodes: usize,
}

impl Topology {
    /// Fetches a monitoring endpoint of the server called `name` as JSON.
    pub fn monitor(&self, name: &str, path: &str) -> Result<Value, String> {
        let server = self
            .server(name)
            .ok_or_else(|| format!("no server {name:?} in this topology"))?;
        get_json(server.monitor_port, path)
    }

    /// Subscriptions matching `subject` in `account` that the server called `name` knows:
    /// its own clients' (`/subsz`), and those its routes (`/routez`) and leafnodes (`/leafz`)
    /// announced.
    pub fn interest(&self, name: &str, account: &str, subject: &str) -> Result<u64, String> {
        let local = self.local_interest(name, account, subject)?;
        let routed = self.routed_interest(name, account, subject)?;
        let leafed = self.leaf_interest(name, account, subject)?;
        Ok(local + routed + leafed)
    }

    /// Its own clients' subscriptions (`/subsz`).
    fn local_interest(&self, name: &str, account: &str, subject: &str) -> Result<u64, String> {
        let path = format!(
            "/subsz?subs=1&acc={}&test={}",
            utf8_percent_encode(account, QUERY_VALUE),
            utf8_percent_encode(subject, QUERY_VALUE)
        );
        Ok(self
            .monitor(name, &path)?
            .get("total")
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    /// Subscriptions its routes announced (`/routez`).
    fn routed_interest(&self, name: &str, account: &str, subject: &str) -> Result<u64, String> {
        let routez = self.monitor(name, "/routez?subs=detail")?;
        Ok(routez["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| {
                r["subscriptions_list_detail"]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .filter(|d| route_sub_account(d).is_none_or(|a| a == account))
            .filter(|d| {
                d["subject"]
                    .as_str()
                    .is_some_and(|p| subject_matches(p, subject))
            })
            .count() as u64)
    }

    /// Subscriptions its leafnodes announced (`/leafz`).
    fn leaf_interest(&self, name: &str, account: &str, subject: &str) -> Result<u64, String> {
        let leafz = self.monitor(name, "/leafz?subs=1")?;
        Ok(leafz["leafs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["account"].as_str() == Some(account))
            .flat_map(|l| l["subscriptions_list"].as_array().into_iter().flatten())
            .filter(|p| p.as_str().is_some_and(|p| subject_matches(p, subject)))
            .count() as u64)
    }

    /// Waits until the server called `name` knows at least `count` subscriptions matching
    /// `subject` in `account` (see [`Topology::interest`]): the way to know that subscribers'
    /// interest has propagated before tracing. Blocks for at most [`READY_TIMEOUT`].
    pub fn wait_for_interest(
        &self,
        name: &str,
        account: &str,
        subject: &str,
        count: u64,
    ) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            let seen = self.interest(name, account, subject);
            if matches!(seen, Ok(n) if n >= count) {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::Topology(format!(
                    "server {name} knows {seen:?} of {count} subscriptions on {subject} after {READY_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// An error naming the first server that has exited, with the end of its log.
    fn check_running(&mut self) -> Result<(), String> {
        for server in &mut self.servers {
            if let Some(status) = server.exit_status() {
                return Err(format!(
                    "nats-server {} exited ({status}): {}",
                    server.name,
                    server.log_tail()
                ));
            }
        }
        Ok(())
    }

    /// Waits until every server reports what it is expected to, or says which one did not
    /// within `timeout` and why (with the ends of the logs).
    pub(super) fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        for index in 0..self.servers.len() {
            loop {
                // Any server, not only the one waited for: a server's readiness can hang on
                // another (a hub waits for its leaf), and a server that died (a port taken
                // in the meantime) says why in its own log.
                self.check_running()?;
                let server = &self.servers[index];
                match readiness_gap(server.monitor_port, &self.expectations[index]) {
                    Ok(()) => break,
                    Err(gap) if started.elapsed() > timeout => {
                        return Err(self.not_ready(index, timeout, &gap));
                    }
                    Err(_) => std::thread::sleep(POLL_INTERVAL),
                }
            }
        }
        Ok(())
    }

    /// The error of a server that is not ready after `timeout`: what is missing, its log and
    /// the other servers' logs.
    fn not_ready(&self, index: usize, timeout: Duration, gap: &str) -> String {
        let server = &self.servers[index];
        let others: Vec<String> = self
            .servers
            .iter()
            .filter(|other| other.name != server.name)
            .map(|other| format!("{}: {}", other.name, other.log_tail()))
            .collect();
        format!(
            "nats-server {} not ready after {timeout:?}: {gap}; log: {}; other servers' logs: {}",
            server.name,
            server.log_tail(),
            others.join(" || ")
        )
    }
}

/// What is still missing before a server is ready, or `Ok` when nothing is.
fn readiness_gap(port: u16, expected: &Readiness) -> Result<(), String> {
    get_json(port, "/healthz")?;
    if !expected.routes.is_empty() {
        routes_gap(port, &expected.routes)?;
    }
    if !expected.gateways.is_empty() {
        gateways_gap(port, &expected.gateways)?;
    }
    if expected.leafnodes > 0 {
        leafnodes_gap(port, expected.leafnodes)?;
    }
    Ok(())
}

fn routes_gap(port: u16, expected: &BTreeSet<String>) -> Result<(), String> {
    let routez = get_json(port, "/routez")?;
    let seen: BTreeSet<String> = routez["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["remote_name"].as_str().map(str::to_string))
        .collect();
    if !expected.is_subset(&seen) {
        return Err(format!("routes to {expected:?}, seen {seen:?}"));
    }
    Ok(())
}

fn gateways_gap(port: u16, expected: &BTreeSet<String>) -> Result<(), String> {
    let gatewayz = get_json(port, "/gatewayz")?;
    // Every server has its own outbound connection to each other cluster; inbound ones land
    // on whichever server of this cluster the remote picked.
    let seen: BTreeSet<String> = gatewayz["outbound_gateways"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if !expected.is_subset(&seen) {
        return Err(format!("outbound gateways to {expected:?}, seen {seen:?}"));
    }
    Ok(())
}

fn leafnodes_gap(port: u16, expected: usize) -> Result<(), String> {
    let leafz = get_json(port, "/leafz")?;
    let seen = leafz["leafnodes"].as_u64().unwrap_or(0) as usize;
    if seen < expected {
        return Err(format!("{seen} of {expected} leafnodes"));
    }
    Ok(())
}

/// The account of a route subscription: its `account` field, else the second token of its
/// sid (`R <account> <subject> [queue]`); `None` when neither tells.
fn route_sub_account(detail: &Value) -> Option<&str> {
    if let Some(account) = detail["account"].as_str().filter(|a| !a.is_empty()) {
        return Some(account);
    }
    let mut tokens = detail["sid"].as_str()?.split_whitespace();
    match (tokens.next(), tokens.next(), tokens.next()) {
        (Some("R"), Some(account), Some(_)) => Some(account),
        _ => None,
    }
}

/// A monitoring endpoint's answer as JSON; an error names the path.
fn get_json(port: u16, path: &str) -> Result<Value, String> {
    let (status, body) = http_get(port, path).map_err(|e| format!("{path}: {e}"))?;
    if status != 200 {
        return Err(format!("{path} answered {status}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{path}: {e}"))
}

/// A minimal HTTP/1.0 GET against a local monitoring port, bounded by short timeouts.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(250))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_keep_subject_characters_and_encode_the_rest() {
        let encoded = |s: &str| utf8_percent_encode(s, QUERY_VALUE).to_string();
        assert_eq!(encoded("orders.*.new>"), "orders.*.new>");
        assert_eq!(encoded("$G"), "%24G");
        assert_eq!(encoded("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(encoded("é"), "%C3%A9");
    }
}
