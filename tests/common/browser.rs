//! Headless Chromium for the HTML tests and benchmark: one offline run per page that dumps the
//! DOM after the page's scripts ran, takes a screenshot, and reports what the page did wrong.
//!
//! How problems are detected (both proven by the negative tests in `tests/html_browser.rs`):
//! - console messages and uncaught errors: Chromium's own log (`--enable-logging=stderr
//!   --v=0`), which prints every console message as an `INFO:CONSOLE` line; plus the page's
//!   own record of errors and blocked requests on `<html data-problems>`;
//! - requests: Chromium's NetLog (`--log-net-log`): every URL request the page started
//!   (its network isolation key is the file's) other than `file:` and `data:` ones. The
//!   browser's own background requests (updates) are not the page's and are left out;
//!   host names other than 127.0.0.1 do not resolve at all (`--host-resolver-rules`), so
//!   nothing leaves the machine.
//!
//! Every run is bounded (killed after a timeout, and on drop). Chromium missing is a failure,
//! never a skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one visit of a page showed.
#[derive(Debug)]
pub(crate) struct Visit {
    /// The DOM after scripts ran (`--dump-dom`).
    pub(crate) dom: String,
    /// Console messages and uncaught errors.
    pub(crate) console: Vec<String>,
    /// URLs the page requested, other than `file:` and `data:`.
    pub(crate) requests: Vec<String>,
}

impl Visit {
    /// The page's own record of problems (`<html data-problems="…">`), if any.
    pub(crate) fn page_problems(&self) -> Option<&str> {
        let start = self.dom.find("data-problems=\"")? + "data-problems=\"".len();
        let end = self.dom[start..].find('"')?;
        Some(&self.dom[start..start + end])
    }

    /// The page's `data-ready-ms`: milliseconds from navigation start to the end of its script.
    pub(crate) fn ready_ms(&self) -> Option<f64> {
        let start = self.dom.find("data-ready-ms=\"")? + "data-ready-ms=\"".len();
        let end = self.dom[start..].find('"')?;
        self.dom[start..start + end].parse().ok()
    }
}

/// The Chromium binary: `CHROMIUM`, else `chromium` on the path. Panics when there is none
/// (scripts/test installs the Debian package).
pub(crate) fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "chromium is not installed: the HTML tests need it (Debian: apt-get install chromium; scripts/test installs it), or set CHROMIUM"
    );
}

/// Kills the process when dropped (a test that panics leaves no browser behind).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Opens `page` in headless Chromium, offline; with `screenshot`, writes a 1400×1000 PNG.
pub(crate) fn visit(page: &Path, screenshot: Option<&Path>) -> Visit {
    let work = tempfile::tempdir().unwrap();
    let netlog = work.path().join("netlog.json");
    let stderr_path = work.path().join("stderr.txt");
    let mut command = Command::new(chromium());
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1400,1000",
        "--dump-dom",
    ]);
    command.arg(format!(
        "--user-data-dir={}",
        work.path().join("profile").display()
    ));
    command.arg(format!("--log-net-log={}", netlog.display()));
    if let Some(png) = screenshot {
        command.arg(format!("--screenshot={}", png.display()));
    }
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    command
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    let child = command.spawn().expect("chromium starts");
    let dom = wait_for_output(Guard(child), Duration::from_secs(90));
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Visit {
        dom,
        console,
        requests: page_requests(&netlog),
    }
}

/// Reads stdout to the end on a thread; the process is killed when it takes longer than
/// `limit`.
fn wait_for_output(mut guard: Guard, limit: Duration) -> String {
    let mut stdout = guard.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
    });
    let started = Instant::now();
    loop {
        if guard.0.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            started.elapsed() < limit,
            "chromium did not finish within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = reader.join().unwrap().unwrap();
    drop(guard);
    text
}

/// The URLs the page itself requested (its isolation key is a file's), other than `file:`
/// and `data:` ones, from the NetLog.
fn page_requests(netlog: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(netlog) else {
        return vec!["(no NetLog was written)".to_string()];
    };
    let text = text.trim_end();
    let value: serde_json::Value = serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end_matches(','))))
        .expect("the NetLog is JSON");
    let start_job = value["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_i64();
    let events = value["events"].as_array().cloned().unwrap_or_default();
    events
        .iter()
        .filter(|e| e["type"].as_i64() == start_job)
        .filter_map(|e| {
            let params = &e["params"];
            let url = params["url"].as_str()?;
            let key = params["network_isolation_key"].as_str().unwrap_or("");
            let from_page = key.contains("file://");
            let local = url.starts_with("file:") || url.starts_with("data:");
            (from_page && !local).then(|| url.to_string())
        })
        .collect()
}

/// Where screenshots go: `target/html-screenshots/` (a test artifact, not committed).
pub(crate) fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/html-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
