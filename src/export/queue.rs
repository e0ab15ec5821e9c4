//! `listen`'s export: spans are batched (up to [`BatchLimits::max_spans`] spans or
//! [`BatchLimits::max_delay`], whichever comes first) and sent by one worker thread, so
//! collection never waits for the network. The queue in front of the worker holds at most
//! [`BatchLimits::max_queued`] spans; past it a message's spans are dropped and counted
//! (one warning, and the count in the summary). At the end the rest is flushed within a
//! bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::Span;
use serde::Serialize;

use crate::export::ExportSettings;
use crate::export::encode;
use crate::export::otlp_http::Client;

/// How spans are batched and queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// A batch is sent when it has this many spans…
    pub max_spans: usize,
    /// …or when its first span waited this long.
    pub max_delay: Duration,
    /// Spans waiting for the worker at most; past it spans are dropped.
    pub max_queued: usize,
}

impl Default for BatchLimits {
    fn default() -> BatchLimits {
        BatchLimits {
            max_spans: 512,
            max_delay: Duration::from_secs(1),
            max_queued: 8192,
        }
    }
}

/// What became of the spans handed to the exporter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportCounts {
    /// Spans the endpoint accepted.
    pub sent: u64,
    /// Spans dropped because the queue was full.
    pub dropped: u64,
    /// Spans whose request failed (unreachable, an error status, retries exhausted).
    pub failed: u64,
}

/// Counters shared with the worker.
#[derive(Debug, Default)]
struct Shared {
    queued: AtomicUsize,
    sent: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// The batching exporter of `listen`. Queued spans are counted from [`BatchExporter::push`]
/// until their batch was sent or failed, so the bound covers the batch in flight too.
#[derive(Debug)]
pub struct BatchExporter {
    sender: Option<Sender<Vec<Span>>>,
    shared: Arc<Shared>,
    limits: BatchLimits,
    worker: Option<JoinHandle<()>>,
    done: Receiver<()>,
    settings: ExportSettings,
    warn: fn(&str),
    warned_drop: bool,
}

impl BatchExporter {
    /// Starts the worker. `warn` prints one warning line; it is called at most once for
    /// failed requests (by the worker) and once for dropped spans.
    pub fn start(settings: &ExportSettings, limits: BatchLimits, warn: fn(&str)) -> BatchExporter {
        let (sender, receiver) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            receiver,
            shared: Arc::clone(&shared),
            limits,
            settings: settings.clone(),
            warn,
            warned: false,
        };
        let handle = std::thread::spawn(move || {
            worker.run();
            let _ = done_tx.send(());
        });
        BatchExporter {
            sender: Some(sender),
            shared,
            limits,
            worker: Some(handle),
            done,
            settings: settings.clone(),
            warn,
            warned_drop: false,
        }
    }

    /// Queues the spans of one message, or drops and counts them when the queue is full.
    /// Never waits.
    pub fn push(&mut self, spans: Vec<Span>) {
        let n = spans.len();
        let queued = self.shared.queued.fetch_add(n, Ordering::AcqRel);
        let sent = queued + n <= self.limits.max_queued
            && self.sender.as_ref().is_some_and(|s| s.send(spans).is_ok());
        if !sent {
            release(&self.shared.queued, n);
            self.shared.dropped.fetch_add(n as u64, Ordering::Relaxed);
            if !self.warned_drop {
                self.warned_drop = true;
                (self.warn)(&self.settings.failure(&format!(
                    "the export queue is full ({} spans): spans are dropped and counted in the summary",
                    self.limits.max_queued
                )));
            }
        }
    }

    /// Spans queued or in flight now.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// The counts so far.
    pub fn counts(&self) -> ExportCounts {
        ExportCounts {
            sent: self.shared.sent.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
        }
    }

    /// Sends what is queued and stops the worker, waiting at most `within` (spans still
    /// queued or in flight then count as failed); the final counts.
    pub fn finish(&mut self, within: Duration) -> ExportCounts {
        self.sender = None;
        if self.done.recv_timeout(within).is_ok() {
            if let Some(worker) = self.worker.take() {
                let _ = worker.join();
            }
        } else {
            let left = self.shared.queued.swap(0, Ordering::AcqRel);
            self.shared.failed.fetch_add(left as u64, Ordering::Relaxed);
        }
        self.counts()
    }
}

/// The worker thread's state.
struct Worker {
    receiver: Receiver<Vec<Span>>,
    shared: Arc<Shared>,
    limits: BatchLimits,
    settings: ExportSettings,
    warn: fn(&str),
    warned: bool,
}

impl Worker {
    /// Batches and sends until the sender is gone and the queue is empty.
    fn run(mut self) {
        let client = Client::new(&self.settings);
        let mut batch: Vec<Span> = Vec::new();
        let mut first_at = Instant::now();
        loop {
            let wait = if batch.is_empty() {
                Duration::from_secs(3600)
            } else {
                self.limits.max_delay.saturating_sub(first_at.elapsed())
            };
            match self.receiver.recv_timeout(wait) {
                Ok(spans) => {
                    if batch.is_empty() {
                        first_at = Instant::now();
                    }
                    batch.extend(spans);
                    if batch.len() >= self.limits.max_spans {
                        self.send(&client, &mut batch);
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.send(&client, &mut batch),
                Err(RecvTimeoutError::Disconnected) => {
                    self.send(&client, &mut batch);
                    return;
                }
            }
        }
    }

    /// Sends one batch (emptying it) and counts the outcome; the first failure is warned.
    fn send(&mut self, client: &Result<Client, String>, batch: &mut Vec<Span>) {
        if batch.is_empty() {
            return;
        }
        let spans = std::mem::take(batch);
        let count = spans.len();
        let n = count as u64;
        let result = client.as_ref().map_err(Clone::clone).and_then(|client| {
            let body = encode::body(
                &self.settings.service_name,
                spans,
                self.settings.compression,
            )?;
            client.send(&body)
        });
        match result {
            Ok(()) => self.shared.sent.fetch_add(n, Ordering::Relaxed),
            Err(why) => {
                if !self.warned {
                    self.warned = true;
                    (self.warn)(&format!(
                        "{} (later failures are counted in the summary)",
                        self.settings.failure(&why)
                    ));
                }
                self.shared.failed.fetch_add(n, Ordering::Relaxed)
            }
        };
        release(&self.shared.queued, count);
    }
}

/// Takes `n` spans off the queued count (never below zero: [`BatchExporter::finish`] may
/// have given up on them already).
fn release(queued: &AtomicUsize, n: usize) {
    let _ = queued.fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
        Some(q.saturating_sub(n))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static WARNINGS: AtomicUsize = AtomicUsize::new(0);

    fn count_warning(_: &str) {
        WARNINGS.fetch_add(1, Ordering::Relaxed);
    }

    fn one_span() -> Vec<Span> {
        vec![Span::default()]
    }

    #[test]
    fn a_full_queue_drops_counts_and_warns_once_without_waiting() {
        // An endpoint that accepts the connection and never answers: the worker's first
        // request hangs until the timeout, so the queue fills.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let settings = ExportSettings {
            endpoint: format!("http://{}/v1/traces", silent.local_addr().unwrap()),
            headers: Vec::new(),
            service_name: "nats".into(),
            timeout: Duration::from_secs(30),
            certificate: None,
            compression: Default::default(),
        };
        let limits = BatchLimits {
            max_spans: 1,
            max_delay: Duration::from_millis(10),
            max_queued: 3,
        };
        let mut exporter = BatchExporter::start(&settings, limits, count_warning);
        // push never waits: 20 pushes return while the worker is stuck.
        for _ in 0..20 {
            exporter.push(one_span());
        }
        let counts = exporter.finish(Duration::from_millis(50));
        assert_eq!(counts.sent, 0);
        assert_eq!(
            counts.dropped, 17,
            "three queued (one in flight), the rest dropped"
        );
        assert_eq!(counts.failed, 3, "given up at the end");
        assert_eq!(
            WARNINGS.load(Ordering::Relaxed),
            1,
            "one warning for the drops"
        );
    }
}
