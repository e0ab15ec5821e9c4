//! When each case runs: every case is due at start, then its interval after its last probe
//! ended; at most `--parallel` probes run at once, each bounded by twice its timeout (connect,
//! then collect) plus a second; `/probe?case=NAME` requests run as soon as there is room, or
//! wait for the probe of their case in flight ([`Slots`]: never two probes of one case).
//! SIGTERM or Ctrl-C stops scheduling and waits for the probes in flight.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::ci::check::trace_case;
use crate::ci::snapshot::Snapshots;
use crate::ci::suite::{Case, Suite};
use crate::connect::options::ConnectionOptions;
use crate::error::{Error, Outcome};
use crate::probe::slots::Slots;
use crate::probe::{Observer, ProbeResult, ProbeSettings, log, server};
use crate::verbose::Verbose;

/// A `/probe?case=NAME` request: the case, and where to send the probe's metrics.
pub(crate) struct OnDemand {
    pub case: usize,
    pub reply: oneshot::Sender<String>,
}

/// The observer, shared by the scheduler and the HTTP server.
pub(crate) type Shared = Arc<Mutex<Observer>>;

/// The longest a probe of `case` may take.
pub(crate) fn probe_bound(connection: &ConnectionOptions, case: &Case) -> Duration {
    let timeout = case.timeout.unwrap_or(connection.timeout);
    timeout.saturating_mul(2) + Duration::from_secs(1)
}

type Running<'a> = Pin<Box<dyn Future<Output = (usize, ProbeResult)> + 'a>>;

/// The scheduler's state.
struct Scheduler<'a> {
    connection: &'a ConnectionOptions,
    cases: &'a [Case],
    settings: &'a ProbeSettings,
    log: &'a Verbose,
    shared: Shared,
    due: Vec<Instant>,
    slots: Slots,
    running: FuturesUnordered<Running<'a>>,
}

/// `probe SUITE`: binds the listener, then runs the scheduler and the HTTP server until
/// SIGTERM or Ctrl-C, and ends when the probes in flight have.
pub(crate) async fn run_probe(
    connection: &ConnectionOptions,
    settings: &ProbeSettings,
    log: &Verbose,
    out: &mut dyn std::io::Write,
) -> Result<Outcome, Error> {
    let suite = Suite::load(&settings.suite).map_err(Error::Usage)?;
    let observer = observer_for(&suite, settings)?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", settings.listen)))?;
    let address = listener.local_addr()?;
    writeln!(
        out,
        "probing {} case(s) from {}; metrics on http://{address}/metrics",
        suite.cases.len(),
        settings.suite.display()
    )?;
    out.flush()?;
    let shared: Shared = Arc::new(Mutex::new(observer));
    let (requests, inbox) = mpsc::channel(64);
    let (stopped, stopping) = tokio::sync::watch::channel(false);
    let names = suite.cases.iter().map(|c| c.name.clone()).collect();
    let site = server::Site::new(shared.clone(), names, requests);
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let serving = server::serve(listener, site, stopping);
            let mut scheduler = Scheduler::new(connection, &suite.cases, settings, log, shared);
            let scheduling = scheduler.run(inbox, stopped);
            tokio::join!(serving, scheduling).1
        })
        .await?;
    Ok(Outcome::Complete)
}

/// The observer of `suite`'s cases, with the snapshot file's baselines when one is given.
fn observer_for(suite: &Suite, settings: &ProbeSettings) -> Result<Observer, Error> {
    let names = suite.cases.iter().map(|c| c.name.clone()).collect();
    let observer = Observer::new(names, settings.snapshot_level);
    match &settings.snapshot {
        Some(path) => Ok(observer.with_snapshots(Snapshots::load(path).map_err(Error::Usage)?)),
        None => Ok(observer),
    }
}

impl<'a> Scheduler<'a> {
    fn new(
        connection: &'a ConnectionOptions,
        cases: &'a [Case],
        settings: &'a ProbeSettings,
        log: &'a Verbose,
        shared: Shared,
    ) -> Scheduler<'a> {
        let now = Instant::now();
        Scheduler {
            connection,
            cases,
            settings,
            log,
            shared,
            due: vec![now; cases.len()],
            slots: Slots::new(cases.len()),
            running: FuturesUnordered::new(),
        }
    }

    /// Runs until a stop signal, then until the probes in flight have ended; tells the
    /// server to stop through `stopped`.
    async fn run(
        &mut self,
        mut inbox: mpsc::Receiver<OnDemand>,
        stopped: tokio::sync::watch::Sender<bool>,
    ) -> Result<(), Error> {
        let stop = stop_signal();
        tokio::pin!(stop);
        let mut stopping = false;
        loop {
            self.start_queued();
            if stopping && self.running.is_empty() {
                return Ok(());
            }
            let next = self.next_due();
            tokio::select! {
                result = &mut stop, if !stopping => {
                    result?;
                    stopping = true;
                    inbox.close();
                    self.slots.drop_queued();
                    let _ = stopped.send(true);
                }
                Some((index, result)) = self.running.next(), if !self.running.is_empty() => {
                    self.finish(index, result);
                }
                Some(request) = inbox.recv(), if !stopping => {
                    self.slots.ask(request.case, request.reply);
                }
                () = sleep_until(next), if !stopping && next.is_some() => {
                    if let Some((index, _)) = next {
                        self.start(index);
                    }
                }
            }
        }
    }

    /// The case due first that is not running, when there is room for another probe.
    fn next_due(&self) -> Option<(usize, Instant)> {
        if self.running.len() >= self.settings.parallel.max(1) {
            return None;
        }
        self.due
            .iter()
            .enumerate()
            .filter(|(index, _)| !self.slots.is_busy(*index))
            .min_by_key(|(_, at)| **at)
            .map(|(index, at)| (index, *at))
    }

    /// Starts the cases queued by `/probe` requests there is room for.
    fn start_queued(&mut self) {
        while self.running.len() < self.settings.parallel.max(1) {
            let Some(index) = self.slots.next_queued() else {
                return;
            };
            self.start(index);
        }
    }

    /// Starts a probe of case `index`, bounded by [`probe_bound`], unless one is in flight.
    fn start(&mut self, index: usize) {
        let Some(case) = self.cases.get(index) else {
            return;
        };
        if !self.slots.start(index) {
            return;
        }
        let connection = self.connection;
        let log = self.log;
        let bound = probe_bound(connection, case);
        self.running.push(Box::pin(async move {
            let result = match tokio::time::timeout(bound, trace_case(connection, case, log)).await
            {
                Ok(traced) => ProbeResult::of_trace(&case.name, traced),
                Err(_) => ProbeResult::timed_out(&case.name, bound),
            };
            (index, result)
        }));
    }

    /// Records an ended probe, logs it, answers the `/probe` requests waiting for it, and
    /// schedules the case's next run.
    fn finish(&mut self, index: usize, result: ProbeResult) {
        let waiting = self.slots.finish(index);
        let interval = self.cases[index].interval.unwrap_or(self.settings.interval);
        self.due[index] = Instant::now() + interval;
        let Ok(mut observer) = self.shared.lock() else {
            return;
        };
        let recorded = observer.observe(index, result);
        log::write_line(recorded, self.settings.log_format);
        if !waiting.is_empty() {
            let body = crate::probe::Metrics::render_one(recorded);
            for reply in waiting {
                let _ = reply.send(body.clone());
            }
        }
    }
}

/// Sleeps until the instant of `next`; forever when there is none.
async fn sleep_until(next: Option<(usize, Instant)>) {
    match next {
        Some((_, at)) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
async fn stop_signal() -> Result<(), Error> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
