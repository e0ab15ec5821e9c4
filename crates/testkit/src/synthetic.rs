//! Synthetic trace messages shaped like real ones (see `testdata/`), for scale tests,
//! benchmarks and fuzzing: a fan-out (one origin forwarding to N−1 servers), a fan-out tree
//! (each level forwarding to the next, `1 + b + b² + …` servers) and a deep chain (each
//! server forwarding to the next, like a long leafnode chain); and a writer of `--save`
//! files of them, for the whole-process `render` benchmark.

use std::fmt::Write as _;
use std::io;
use std::time::{Duration, SystemTime};

use nats_trace::trace::capture;
use nats_trace::trace::collect::ReceivedTrace;

/// One server's trace message as JSON.
fn trace_json(
    name: &str,
    hop: &str,
    ingress_kind: u8,
    ingress_name: &str,
    egresses: &str,
    hops: usize,
) -> String {
    let mut header = String::from(
        r#""Accept-Encoding":["snappy"],"Nats-Trace-Dest":["_INBOX.synthetic.1"],"Nats-Trace-Only":["true"]"#,
    );
    if !hop.is_empty() {
        let _ = write!(header, r#","Nats-Trace-Hop":["{hop}"]"#);
    }
    let ingress_name = if ingress_name.is_empty() {
        String::new()
    } else {
        format!(r#""name":"{ingress_name}","#)
    };
    format!(
        concat!(
            r#"{{"server":{{"name":"{name}","host":"127.0.0.1","id":"N{name}","cluster":"C","ver":"2.15.1","jetstream":false,"flags":0,"seq":1,"time":"2026-01-01T00:00:00.001Z"}},"#,
            r#""request":{{"header":{{{header}}},"msgsize":128}},"hops":{hops},"events":["#,
            r#"{{"type":"in","ts":"2026-01-01T00:00:00.000100Z","kind":{ingress_kind},"cid":5,{ingress_name}"acc":"$G","subj":"orders.new"}},"#,
            r#"{{"type":"eg","ts":"2026-01-01T00:00:00.000200Z","kind":0,"cid":7,"name":"worker","sub":"orders.new"}}{egresses}]}}"#
        ),
        name = name,
        header = header,
        hops = hops,
        ingress_kind = ingress_kind,
        ingress_name = ingress_name,
        egresses = egresses,
    )
}

fn route_egress(kind: u8, to: &str, hop: &str) -> String {
    format!(
        r#",{{"type":"eg","ts":"2026-01-01T00:00:00.000300Z","kind":{kind},"cid":9,"name":"{to}","hop":"{hop}"}}"#
    )
}

/// `servers` trace messages: an origin that forwards over routes to `servers − 1` servers.
pub fn fan_out(servers: usize) -> Vec<String> {
    let mut egresses = String::new();
    for i in 1..servers {
        egresses.push_str(&route_egress(1, &format!("s{i}"), &i.to_string()));
    }
    let mut out = Vec::with_capacity(servers);
    out.push(trace_json(
        "origin",
        "",
        0,
        "",
        &egresses,
        servers.saturating_sub(1),
    ));
    for i in 1..servers {
        out.push(trace_json(
            &format!("s{i}"),
            &i.to_string(),
            1,
            "origin",
            "",
            0,
        ));
    }
    out
}

/// A fan-out tree: the origin forwards over routes to `branching[0]` servers, each of them
/// over leafnodes to `branching[1]` servers, and so on; `[100, 100]` is 10,101 servers,
/// `[317, 317]` 100,807. Messages in breadth-first order (the origin first).
pub fn fan_out_tree(branching: &[usize]) -> Vec<String> {
    // (name, hop, ingress name) of the servers of the current level.
    let mut level = vec![("origin".to_string(), String::new(), String::new())];
    let mut out = Vec::new();
    for depth in 0..=branching.len() {
        let children = branching.get(depth).copied().unwrap_or(0);
        let ingress_kind = match depth {
            0 => 0,
            1 => 1,
            _ => 4,
        };
        let egress_kind = if depth == 0 { 1 } else { 4 };
        let mut next = Vec::with_capacity(level.len() * children);
        for (name, hop, ingress_name) in &level {
            let mut egresses = String::new();
            for k in 1..=children {
                let child = format!(
                    "{}{k}",
                    if depth == 0 {
                        "s".to_string()
                    } else {
                        format!("{name}.")
                    }
                );
                let child_hop = if hop.is_empty() {
                    k.to_string()
                } else {
                    format!("{hop}.{k}")
                };
                egresses.push_str(&route_egress(egress_kind, &child, &child_hop));
                next.push((child, child_hop, name.clone()));
            }
            out.push(trace_json(
                name,
                hop,
                ingress_kind,
                ingress_name,
                &egresses,
                children,
            ));
        }
        level = next;
    }
    out
}

/// Writes `traces` (trace messages as JSON) as a `--save` file would hold them: one saved
/// line each, with an inbox subject, a `Content-Encoding` header and an arrival time.
pub fn write_saved_lines(out: &mut dyn io::Write, traces: &[String]) -> io::Result<()> {
    let received: Vec<ReceivedTrace> = traces
        .iter()
        .enumerate()
        .map(|(i, json)| ReceivedTrace {
            subject: "_INBOX.synthetic.1".to_string(),
            headers: vec![("Content-Encoding".to_string(), "snappy".to_string())],
            json: json.clone(),
            received_at: SystemTime::UNIX_EPOCH
                + Duration::from_secs(1_798_761_600)
                + Duration::from_micros(i as u64),
        })
        .collect();
    capture::write_saved(out, &received)
}

/// `servers` trace messages: a chain in which each server forwards over a leafnode to the
/// next, so hops grow `1`, `1.1`, `1.1.1`, …
pub fn chain(servers: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(servers);
    let mut hop = String::new();
    for i in 0..servers {
        let name = if i == 0 {
            "origin".to_string()
        } else {
            format!("s{i}")
        };
        let parent = if i <= 1 {
            "origin".to_string()
        } else {
            format!("s{}", i - 1)
        };
        let next_hop = if hop.is_empty() {
            "1".to_string()
        } else {
            format!("{hop}.1")
        };
        let last = i + 1 == servers;
        let egress = if last {
            String::new()
        } else {
            route_egress(4, &format!("s{}", i + 1), &next_hop)
        };
        let (kind, ingress_name) = if i == 0 {
            (0, "")
        } else {
            (4, parent.as_str())
        };
        out.push(trace_json(
            &name,
            &hop,
            kind,
            ingress_name,
            &egress,
            usize::from(!last),
        ));
        hop = next_hop;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nats_trace::trace::event::TraceMessage;

    #[test]
    fn synthetic_traces_parse_like_real_ones() {
        for line in fan_out(3).iter().chain(chain(3).iter()) {
            let msg = TraceMessage::from_json(line.as_bytes()).expect("parses");
            assert!(msg.ingress().is_some());
        }
        let chain = chain(3);
        let last = TraceMessage::from_json(chain[2].as_bytes()).expect("parses");
        assert_eq!(last.hop(), "1.1");
        assert_eq!(last.ingress().map(|i| i.name.as_str()), Some("s1"));
    }

    #[test]
    fn a_fan_out_tree_has_every_level_and_saves_as_lines() {
        let tree = fan_out_tree(&[3, 2]);
        assert_eq!(tree.len(), 1 + 3 + 6);
        let last = TraceMessage::from_json(tree[9].as_bytes()).expect("parses");
        assert_eq!(last.hop(), "3.2");
        assert_eq!(last.server.name, "s3.2");
        assert_eq!(last.ingress().map(|i| i.name.as_str()), Some("s3"));
        let mut saved = Vec::new();
        write_saved_lines(&mut saved, &tree).expect("writes");
        let inputs = capture::parse("saved", &saved).expect("reads back");
        assert_eq!(inputs.messages.len(), 10);
        assert!(inputs.warnings.is_empty());
    }
}
