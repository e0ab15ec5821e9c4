//! `probe` against real servers and a real Prometheus: Prometheus (the Debian package,
//! started here on a free loopback port with a generated scrape config) scrapes the probe of
//! the example suite on the demo topology and reports `nats_trace_probe_success == 1` for
//! every case; stopping a leaf server turns its cases to 0 and counts a route change;
//! `promtool check metrics` accepts `/metrics`; `/probe` answers for a known case and 400 for
//! an unknown one; the page escapes; SIGTERM during a probe lets it finish and exits 0;
//! `/probe` requests for a case in flight share its probe; `probe --snapshot FILE` counts a
//! real route change against the file written by `check --update-snapshots`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{nats_trace, spawn_streaming};

/// The longest any wait in these tests may take.
const WAIT: Duration = Duration::from_secs(30);

/// Polls `check` every 100 ms until it returns `Some`, for at most [`WAIT`].
fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A Prometheus server on a free loopback port, scraping `target` every second; killed on
/// drop.
struct Prometheus {
    child: Child,
    url: String,
}

impl Prometheus {
    fn start(dir: &Path, target: &str) -> Prometheus {
        let port = free_port();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: nats-trace\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .expect("config written");
        let child = Command::new(prometheus_bin("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts (apt-get install prometheus)");
        let prometheus = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        poll("Prometheus to be ready", || {
            get(&format!("{}/-/ready", prometheus.url)).filter(|(code, _)| *code == 200)
        });
        prometheus
    }

    /// The instant vector of `query`: (labels, value) pairs.
    fn query(&self, query: &str) -> Vec<(serde_json::Value, f64)> {
        let encoded: String = percent_encode(query);
        let Some((200, body)) = get(&format!("{}/api/v1/query?query={encoded}", self.url)) else {
            return Vec::new();
        };
        let doc: serde_json::Value = serde_json::from_str(&body).expect("query answer is JSON");
        doc["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let value = r["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN);
                (r["metric"].clone(), value)
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_bin(name: &str) -> PathBuf {
    PathBuf::from(format!("/usr/bin/{name}"))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// GET `url`: its status and body, `None` when it cannot be reached.
fn get(url: &str) -> Option<(u16, String)> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut response = agent.get(url).call().ok()?;
    let code = response.status().as_u16();
    let body = response.body_mut().read_to_string().ok()?;
    Some((code, body))
}

/// The example suite with the topology's URLs in place of `${NATS_DEMO_…}`.
fn demo_suite(dir: &Path, topology: &nats_trace::topology::Topology) -> PathBuf {
    let example = format!("{}/examples/demo-routes.toml", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(example).expect("example suite");
    for server in ["e1", "e2", "w1", "w2", "leaf1", "leaf2"] {
        let var = format!("${{NATS_DEMO_{}}}", server.to_ascii_uppercase());
        text = text.replace(&var, &topology.url(server));
    }
    let path = dir.join("demo-routes.toml");
    std::fs::write(&path, text).expect("suite written");
    path
}

/// The probe's address from its first stdout line.
fn probe_address(probe: &common::Streaming) -> String {
    let line = probe
        .lines
        .recv_timeout(WAIT)
        .expect("the probe says where it serves");
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("an address in {line:?}"))
        .to_string()
}

const EAST: &str = "EAST orders reach WEST over the gateway and the leaf chain";
const EDGE: &str = "the edge leaf reaches both clusters";

#[test]
fn prometheus_scrapes_the_probe_and_sees_a_stopped_leaf() {
    let (mut topology, _subs) = common::demo_app_supercluster();
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = demo_suite(dir.path(), &topology);
    let probe = spawn_streaming(&[
        "probe",
        suite.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "300ms",
        "--log-format",
        "json",
    ]);
    let address = probe_address(&probe);
    let prometheus = Prometheus::start(dir.path(), &address);

    let cases = poll("every case to succeed in Prometheus", || {
        let rows = prometheus.query("nats_trace_probe_success");
        (rows.len() == 4 && rows.iter().all(|(_, v)| *v == 1.0)).then_some(rows)
    });
    assert!(
        cases.iter().any(|(labels, _)| labels["case"] == EAST),
        "{cases:?}"
    );
    assert!(
        cases
            .iter()
            .all(|(labels, _)| labels["job"] == "nats-trace")
    );

    check_endpoints(&address, dir.path());

    topology.kill("leaf2");
    poll(
        "the stopped leaf's cases to fail and the route change to count",
        || {
            let edge = prometheus.query(&format!("nats_trace_probe_success{{case=\"{EDGE}\"}}"));
            let east = prometheus.query(&format!("nats_trace_probe_success{{case=\"{EAST}\"}}"));
            let changes = prometheus.query(&format!(
                "nats_trace_route_changes_total{{case=\"{EAST}\"}}"
            ));
            let failed =
                |rows: &[(serde_json::Value, f64)]| rows.first().is_some_and(|r| r.1 == 0.0);
            (failed(&edge) && failed(&east) && changes.first().is_some_and(|r| r.1 >= 1.0))
                .then_some(())
        },
    );
    let errors = prometheus.query(&format!(
        "nats_trace_probe_errors_total{{case=\"{EDGE}\",reason=\"connect\"}}"
    ));
    assert!(errors.first().is_some_and(|r| r.1 >= 1.0), "{errors:?}");

    probe.signal("-TERM");
    let (code, _, stderr) = probe.finish(Vec::new());
    assert_eq!(code, 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains(EAST))
        .expect("a log line per probe");
    let entry: serde_json::Value = serde_json::from_str(line).expect("JSON log lines");
    assert_eq!(entry["result"], "pass", "{line}");
    assert_eq!(entry["route"].as_str().map(str::len), Some(16), "{line}");
}

/// `/metrics` passes `promtool check metrics`; `/probe` runs a known case and refuses an
/// unknown one; `/healthz`; the page lists the cases.
fn check_endpoints(address: &str, dir: &Path) {
    let (code, metrics) = get(&format!("http://{address}/metrics")).expect("/metrics");
    assert_eq!(code, 200);
    for family in [
        "# TYPE nats_trace_probe_success gauge",
        "# TYPE nats_trace_probe_duration_seconds histogram",
        "# TYPE nats_trace_route_changes_total counter",
        "nats_trace_route_egress{case=\"the edge leaf reaches both clusters\",kind=\"client\"} 4",
        "nats_trace_server_latency_seconds_bucket{case=",
        "nats_trace_link_latency_seconds_count{case=",
        "nats_trace_build_info{version=",
    ] {
        assert!(metrics.contains(family), "{family} in {metrics}");
    }
    let file = dir.join("metrics.txt");
    std::fs::write(&file, &metrics).expect("metrics written");
    let promtool = Command::new(prometheus_bin("promtool"))
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("metrics file"))
        .output()
        .expect("promtool runs");
    assert!(
        promtool.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr)
    );

    let known = percent_encode(EDGE);
    let (code, body) = get(&format!("http://{address}/probe?case={known}")).expect("/probe");
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(&format!("nats_trace_probe_success{{case=\"{EDGE}\"}} 1")),
        "{body}"
    );
    assert!(!body.contains(EAST), "only the probed case: {body}");
    let (code, body) = get(&format!("http://{address}/probe?case=nope")).expect("/probe");
    assert_eq!(code, 400, "{body}");
    let (code, _) = get(&format!("http://{address}/probe")).expect("/probe");
    assert_eq!(code, 400);
    assert_eq!(
        get(&format!("http://{address}/healthz")),
        Some((200, "ok\n".to_string()))
    );
    let (code, page) = get(&format!("http://{address}/")).expect("/");
    assert_eq!(code, 200);
    assert!(page.contains(EDGE) && page.contains("<pre>"), "{page}");
}

#[test]
fn sigterm_lets_the_probe_in_flight_finish_and_exits_zero() {
    let (topology, _subs) = common::hub_with_silent_leaf();
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = silent_suite(dir.path(), &topology.url("hub"), "1500ms");
    let probe = spawn_streaming(&[
        "probe",
        suite.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    let address = probe_address(&probe);
    // The first probe starts at once and waits for the silent leaf until its timeout.
    poll("the probe to be serving", || {
        get(&format!("http://{address}/healthz"))
    });
    probe.signal("-TERM");
    let (code, _, stderr) = probe.finish(Vec::new());
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "the probe in flight finished and logged: {stderr}"
    );
    assert!(
        lines[0].contains("case=\"through the silent leaf\" result=incomplete"),
        "{stderr}"
    );
}

/// A suite of one case through the silent leaf: its probe waits `timeout` for the leaf.
fn silent_suite(dir: &Path, hub: &str, timeout: &str) -> PathBuf {
    let suite = dir.join("silent.toml");
    std::fs::write(
        &suite,
        format!(
            "[[case]]\nname = \"through the silent leaf\"\nserver = \"{hub}\"\nsubject = \"orders.new\"\ntimeout = \"{timeout}\"\n"
        ),
    )
    .expect("suite written");
    suite
}

/// The value of `name{case="CASE"}` in `/metrics`, once it is served.
fn metric(address: &str, name: &str, case: &str) -> Option<f64> {
    let (code, body) = get(&format!("http://{address}/metrics"))?;
    if code != 200 {
        return None;
    }
    let prefix = format!("{name}{{case=\"{case}\"}} ");
    body.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.parse().ok())
}

#[test]
fn probe_requests_for_a_case_in_flight_share_its_probe() {
    let (topology, _subs) = common::hub_with_silent_leaf();
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = silent_suite(dir.path(), &topology.url("hub"), "4s");
    let probe = spawn_streaming(&[
        "probe",
        suite.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    let address = probe_address(&probe);
    poll("the probe to be serving", || {
        get(&format!("http://{address}/healthz"))
    });
    // The scheduled first probe is in flight (it waits 4 s for the silent leaf): both
    // requests wait for it instead of starting probes of their own.
    let url = format!("http://{address}/probe?case=through+the+silent+leaf");
    let requests: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url))
        })
        .collect();
    let answers: Vec<(u16, String)> = requests
        .into_iter()
        .map(|r| r.join().expect("request thread").expect("/probe answers"))
        .collect();
    assert_eq!(answers[0].0, 200, "{answers:?}");
    assert_eq!(answers[0], answers[1], "one probe's metrics for both");
    assert!(
        answers[0]
            .1
            .contains("nats_trace_probe_complete{case=\"through the silent leaf\"} 0"),
        "{answers:?}"
    );
    let runs = metric(
        &address,
        "nats_trace_probe_runs_total",
        "through the silent leaf",
    );
    assert_eq!(runs, Some(1.0), "one probe, counted once");
    probe.signal("-TERM");
    let (code, _, stderr) = probe.finish(Vec::new());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one probe logged: {stderr}");
}

const ORDERS: &str = "orders from EAST";
const CANCELS: &str = "nobody cancels";

/// Two cases on the demo supercluster: one delivered, one without interest.
fn snapshot_suite(dir: &Path, topology: &nats_trace::topology::Topology) -> PathBuf {
    let path = dir.join("routes.toml");
    let text = format!(
        "[defaults]\ntimeout = \"2s\"\n\n[[case]]\nname = \"{ORDERS}\"\nserver = \"{}\"\nsubject = \"orders.new\"\n\n[[case]]\nname = \"{CANCELS}\"\nserver = \"{}\"\nsubject = \"orders.cancelled\"\n",
        topology.url("e1"),
        topology.url("e2")
    );
    std::fs::write(&path, text).expect("suite written");
    path
}

/// `probe SUITE --snapshot FILE` every 200 ms, its address, and the probe.
fn probe_with_snapshot(suite: &Path, file: &Path) -> (common::Streaming, String) {
    let probe = spawn_streaming(&[
        "probe",
        suite.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "200ms",
        "--snapshot",
        file.to_str().expect("utf-8"),
    ]);
    let address = probe_address(&probe);
    (probe, address)
}

/// Polls until `case` has been probed at least `runs` times; its route metrics then:
/// (`nats_trace_route_changes_total`, `nats_trace_route_changed`).
fn route_metrics_after(address: &str, case: &str, runs: f64) -> (f64, f64) {
    poll(&format!("{runs} probe(s) of {case}"), || {
        let done = metric(address, "nats_trace_probe_runs_total", case)?;
        let changes = metric(address, "nats_trace_route_changes_total", case)?;
        let changed = metric(address, "nats_trace_route_changed", case)?;
        (done >= runs).then_some((changes, changed))
    })
}

#[test]
fn probe_counts_a_route_change_against_the_snapshot_file() {
    let (topology, mut subs) = common::demo_supercluster();
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = snapshot_suite(dir.path(), &topology);
    let file = dir.path().join("routes.json");
    let update = nats_trace(&[
        "check",
        suite.to_str().expect("utf-8"),
        "--snapshot",
        file.to_str().expect("utf-8"),
        "--update-snapshots",
    ]);
    assert_eq!(update.code, 0, "{update:?}");

    let (probe, address) = probe_with_snapshot(&suite, &file);
    assert_eq!(route_metrics_after(&address, ORDERS, 1.0), (0.0, 0.0));
    assert_eq!(route_metrics_after(&address, CANCELS, 1.0), (0.0, 0.0));

    // Someone starts listening to cancellations: that route changes for real.
    subs.subscribe(&topology.url("e2"), "canceller", "orders.cancelled", None);
    topology
        .wait_for_interest("e2", "$G", "orders.cancelled", 1)
        .expect("interest");
    poll("the changed route to count", || {
        let changes = metric(&address, "nats_trace_route_changes_total", CANCELS)?;
        (changes >= 1.0).then_some(())
    });
    let runs = metric(&address, "nats_trace_probe_runs_total", CANCELS).expect("runs");
    assert_eq!(
        route_metrics_after(&address, CANCELS, runs + 2.0),
        (1.0, 1.0),
        "counted once, changed while it differs"
    );
    assert_eq!(
        route_metrics_after(&address, ORDERS, runs + 2.0),
        (0.0, 0.0)
    );
    probe.signal("-TERM");
    let (code, _, stderr) = probe.finish(Vec::new());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("case=\"nobody cancels\"") && l.contains("changed=true")),
        "{stderr}"
    );

    // A new probe's baseline is the file, not the first route it sees.
    let (probe, address) = probe_with_snapshot(&suite, &file);
    assert_eq!(route_metrics_after(&address, CANCELS, 1.0), (1.0, 1.0));
    assert_eq!(route_metrics_after(&address, ORDERS, 1.0), (0.0, 0.0));
    probe.signal("-TERM");
    let (code, _, stderr) = probe.finish(Vec::new());
    assert_eq!(code, 0, "{stderr}");
}
