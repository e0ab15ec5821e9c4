//! `-v/--verbose`: what nats-trace is doing, on stderr, never on stdout.

use std::fmt;
use std::io::Write;

/// Prints progress lines on stderr when enabled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verbose {
    enabled: bool,
}

impl Verbose {
    pub fn new(enabled: bool) -> Verbose {
        Verbose { enabled }
    }

    pub fn say(&self, args: fmt::Arguments<'_>) {
        if self.enabled {
            let _ = writeln!(
                std::io::stderr().lock(),
                "nats-trace: {}",
                crate::text::sanitize(&args.to_string())
            );
        }
    }
}
