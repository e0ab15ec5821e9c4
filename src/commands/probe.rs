//! `nats-trace probe SUITE`: the runner; the prober itself (scheduler, metrics, HTTP server,
//! log lines) is [`crate::probe`].

use std::io::Write;

use crate::error::{Error, Outcome};
use crate::settings::{ConnectionOptions, ProbeSettings};
use crate::verbose::Verbose;

/// Probes the suite until SIGTERM or Ctrl-C.
pub(crate) async fn run(
    connection: &ConnectionOptions,
    probe: &ProbeSettings,
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    crate::probe::run_probe(connection, probe, log, out).await
}
