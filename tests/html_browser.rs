//! `--format html` in a real browser: every capture in `testdata/` rendered to a page by the
//! binary, opened offline in headless Chromium (see `common/browser.rs` for how console
//! errors and requests are caught). The DOM after the page's script ran must hold every
//! server name, every delivery and the egress counts; the console must stay silent and no
//! request may leave the file. Screenshots go to `target/html-screenshots/`.
//! `check --html` and `listen --html-dir` pages are checked the same way, against a real
//! server. The negative tests prove the detection: a script error and a request to a local listener
//! are caught, and the page's Content-Security-Policy blocks a request injected into it.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use browser::{Visit, screenshot_dir, visit};
use common::nats_trace;
use nats_trace::topology::{ServerSpec, Topology, TopologyBuilder};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// Every capture: `*.jsonl` files of testdata/.
fn captures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the captures are there");
    files
}

/// What the DOM must show of a capture: server names, deliveries (name and cid), counts.
struct Expected {
    servers: Vec<String>,
    deliveries: Vec<(String, u64)>,
    counts: Vec<(String, String)>,
}

fn expected(capture: &Path) -> Expected {
    let text = std::fs::read_to_string(capture).unwrap();
    let mut servers = Vec::new();
    let mut deliveries = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        servers.push(v["server"]["name"].as_str().unwrap().to_string());
        for e in v["events"].as_array().unwrap() {
            let client = e["type"] == "eg" && e["kind"] == 0;
            if client && e["error"].as_str().unwrap_or("").is_empty() {
                let name = e["name"].as_str().unwrap_or("").to_string();
                deliveries.push((name, e["cid"].as_u64().unwrap()));
            }
        }
    }
    let tree = nats_trace(&["render", capture.to_str().unwrap()]).stdout;
    let counts = tree
        .split("Egress Count:")
        .nth(1)
        .unwrap_or("")
        .trim_start()
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.trim().split_once(": "))
        .filter(|(k, n)| !k.contains(' ') && n.parse::<u64>().is_ok())
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect();
    Expected {
        servers,
        deliveries,
        counts,
    }
}

/// The page of a capture, written by the binary into `dir`.
fn render_page(capture: &Path, dir: &Path) -> PathBuf {
    let run = nats_trace(&["render", "--format", "html", capture.to_str().unwrap()]);
    assert!(
        run.code == 0 || run.code == 3,
        "render {capture:?}: {}",
        run.stderr
    );
    let name = capture.file_stem().unwrap().to_str().unwrap();
    let page = dir.join(format!("{name}.html"));
    std::fs::write(&page, &run.stdout).unwrap();
    page
}

/// The checks every page must pass: silent console, no requests, the script ran.
fn assert_clean(name: &str, v: &Visit) {
    assert!(v.console.is_empty(), "{name}: console: {:?}", v.console);
    assert!(v.requests.is_empty(), "{name}: requests: {:?}", v.requests);
    assert_eq!(
        v.page_problems(),
        None,
        "{name}: the page recorded problems"
    );
    assert!(
        v.ready_ms().is_some(),
        "{name}: the page's script did not finish"
    );
    assert!(
        v.dom.contains("class=\"detail-body\""),
        "{name}: no details"
    );
}

#[test]
fn every_capture_renders_a_clean_page_with_its_servers_deliveries_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let shots = screenshot_dir();
    for capture in captures() {
        let name = capture.file_stem().unwrap().to_str().unwrap().to_string();
        let page = render_page(&capture, dir.path());
        let png = shots.join(format!("{name}.png"));
        let v = visit(&page, Some(&png));
        assert_clean(&name, &v);
        let want = expected(&capture);
        for server in &want.servers {
            assert!(v.dom.contains(server.as_str()), "{name}: server {server}");
        }
        for (client, cid) in &want.deliveries {
            assert!(v.dom.contains(&format!("cid:{cid}")), "{name}: cid {cid}");
            assert!(v.dom.contains(client.as_str()), "{name}: client {client}");
        }
        for (kind, n) in &want.counts {
            let cell = format!("<td data-kind=\"{kind}\">{n}</td>");
            assert!(v.dom.contains(&cell), "{name}: count {kind} {n}");
        }
        // The script filled in the details of the first server.
        assert!(v.dom.contains("<dt>Server</dt>") || v.dom.contains("missing server"));
        assert!(png.is_file(), "{name}: no screenshot");
        println!("screenshot: {}", png.display());
    }
}

/// A local listener that counts the connections it gets within `wait`.
fn connections_within(listener: TcpListener, wait: Duration) -> usize {
    listener.set_nonblocking(true).unwrap();
    let started = Instant::now();
    let mut seen = 0;
    while started.elapsed() < wait {
        if listener.accept().is_ok() {
            seen += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    seen
}

#[test]
fn a_script_error_and_a_request_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html><html><body><p>bad</p><img src=\"http://127.0.0.1:{port}/x.png\"><script>notAFunction();</script></body></html>"
        ),
    )
    .unwrap();
    let seen = std::thread::spawn(move || connections_within(listener, Duration::from_secs(20)));
    let v = visit(&page, None);
    assert!(
        v.console.iter().any(|l| l.contains("notAFunction")),
        "the error is caught: {:?}",
        v.console
    );
    assert!(
        v.requests
            .iter()
            .any(|u| u.contains(&format!("127.0.0.1:{port}/x.png"))),
        "the request is caught: {:?}",
        v.requests
    );
    assert!(seen.join().unwrap() > 0, "the request really left the page");
}

#[test]
fn the_pages_policy_blocks_an_injected_request_and_the_page_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let capture = testdata().join("supercluster-leaf-chain.jsonl");
    let page = render_page(&capture, dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let html = std::fs::read_to_string(&page).unwrap().replace(
        "</main>",
        &format!("<img src=\"http://127.0.0.1:{port}/leak.png\"></main>"),
    );
    std::fs::write(&page, html).unwrap();
    let seen = std::thread::spawn(move || connections_within(listener, Duration::from_secs(20)));
    let v = visit(&page, None);
    assert!(
        v.page_problems().is_some_and(|p| p.contains("blocked")),
        "the page records the blocked request: {:?}",
        v.page_problems()
    );
    assert!(
        v.console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "Chromium logs the violation: {:?}",
        v.console
    );
    assert_eq!(seen.join().unwrap(), 0, "nothing reached the listener");
}

#[test]
fn hostile_names_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let capture = testdata().join("mapping.jsonl");
    let text = std::fs::read_to_string(&capture)
        .unwrap()
        .replace("\"n1\"", "\"<img src=x onerror=alert(1)></script>\\u2028\"");
    let hostile = dir.path().join("hostile.jsonl");
    std::fs::write(&hostile, text).unwrap();
    let page = render_page(&hostile, dir.path());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<img src=x"), "escaped in the page");
    let v = visit(&page, None);
    assert_clean("hostile", &v);
    assert!(
        !v.dom.contains("<img src=\"x\""),
        "no element was made of it"
    );
    assert!(v.dom.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

/// One server whose account APP traces sampled `traceparent`s to `trace.app`.
fn traced_server() -> Topology {
    TopologyBuilder::new()
        .common(
            r#"accounts {
  APP {
    users: [{user: app, password: app}]
    msg_trace: { dest: "trace.app", sampling: "100%" }
  }
}
no_auth_user: app"#,
        )
        .server(ServerSpec::new("n1"))
        .start()
        .expect("server starts")
}

#[test]
fn check_html_reports_each_case_with_its_route() {
    let topology = traced_server();
    let url = topology.url("n1");
    let mut subscribers = common::Subscribers::new();
    subscribers.subscribe(&url, "billing", "orders.>", None);
    topology
        .wait_for_interest("n1", "APP", "orders.new", 1)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        format!(
            "[[case]]\nname = \"orders are delivered\"\nserver = \"{url}\"\nsubject = \"orders.new\"\nexpect = [\"egress.client=1\"]\n\n[[case]]\nname = \"orders <b>reach</b> two\"\nserver = \"{url}\"\nsubject = \"orders.new\"\nexpect = [\"egress.client=2\"]\n"
        ),
    )
    .unwrap();
    let report = dir.path().join("report.html");
    let run = nats_trace(&[
        "check",
        suite.to_str().unwrap(),
        "--html",
        report.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "one case fails: {}{}", run.stdout, run.stderr);
    let png = screenshot_dir().join("check-report.png");
    let v = visit(&report, Some(&png));
    assert_clean("check report", &v);
    assert!(v.dom.contains("orders are delivered"));
    assert!(v.dom.contains("orders &lt;b&gt;reach&lt;/b&gt; two"));
    assert!(v.dom.contains(">PASS<") && v.dom.contains(">FAIL<"));
    assert!(
        v.dom
            .contains("expected egress.client=2, saw 1 Client egress(es)")
    );
    assert_eq!(
        v.dom.matches("<svg class=\"graph").count(),
        2,
        "a route per case"
    );
    assert!(v.dom.contains("billing") && v.dom.contains("n1"));
    assert!(v.dom.contains("<td data-kind=\"Client\">1</td>"));
    println!("screenshot: {}", png.display());
}

#[test]
fn listen_writes_a_page_per_message_with_masked_headers() {
    let topology = traced_server();
    let url = topology.url("n1");
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    let run = common::spawn_streaming(&[
        "-s",
        &url,
        "listen",
        "trace.app",
        "--count",
        "1",
        "--format",
        "html",
        "--html-dir",
        pages.to_str().unwrap(),
    ]);
    topology
        .wait_for_interest("n1", "APP", "trace.app", 1)
        .unwrap();
    let mut subscribers = common::Subscribers::new();
    subscribers.subscribe(&url, "shipping", "orders.>", None);
    topology
        .wait_for_interest("n1", "APP", "orders.new", 1)
        .unwrap();
    subscribers.runtime.block_on(async {
        let client = async_nats::connect(url.as_str()).await.unwrap();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
        headers.insert("Authorization", "Bearer very-secret");
        client
            .publish_with_headers("orders.new", headers, "x".into())
            .await
            .unwrap();
        client.flush().await.unwrap();
    });
    let (code, lines, stderr) = run.finish(Vec::new());
    assert_eq!(code, 0, "{stderr}");
    let written: Vec<PathBuf> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].ends_with("000001-orders.new.html"));
    let text = lines.join("\n");
    assert!(
        text.contains("page ") && text.contains("000001-orders.new.html"),
        "{text}"
    );
    let png = screenshot_dir().join("listen-page.png");
    let v = visit(&written[0], Some(&png));
    assert_clean("listen page", &v);
    assert!(
        !std::fs::read_to_string(&written[0])
            .unwrap()
            .contains("very-secret")
    );
    assert!(v.dom.contains("[redacted]"), "the header is shown masked");
    assert!(v.dom.contains("shipping") && v.dom.contains("n1"));
    println!("screenshot: {}", png.display());
}
