//! The `nats-trace` binary: parses the command line, runs it, and maps the result to an exit
//! code. A closed stdout (`nats-trace … | head`) ends the run quietly.

use std::io::{self, Write};
use std::process::ExitCode;

use nats_trace::error::{ERROR_EXIT_CODE, Error};

/// mimalloc: the many small allocations of thousands of trace messages are much cheaper
/// than with the system allocator (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let settings = match nats_trace::cli::parse() {
        Ok(settings) => settings,
        Err(err) => {
            let _ = err.print();
            return match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(ERROR_EXIT_CODE),
            };
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = nats_trace::commands::run(settings, &mut out);
    let flushed = out.flush();
    match (result, flushed) {
        (Err(Error::Io(e)), _) | (Ok(_), Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        (Ok(outcome), _) => outcome.into(),
        (Err(err), _) => {
            // Error texts can quote the network (server errors, names): neutralised. A closed
            // stderr is no reason to panic.
            let _ = writeln!(
                io::stderr().lock(),
                "nats-trace: error: {}",
                nats_trace::text::sanitize(&err.to_string())
            );
            ExitCode::from(ERROR_EXIT_CODE)
        }
    }
}
