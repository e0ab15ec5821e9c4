//! Exit codes, the outcomes of a run that map to them, and the errors that end a run early.
//! [`ExitStatus`] is the one table of exit codes and their meanings: [`Outcome`], [`Error`]
//! and the man page's EXIT STATUS section all read it.

use std::process::ExitCode;

/// Every exit code nats-trace uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Complete,
    ExpectationFailed,
    Error,
    Incomplete,
    Interrupted,
}

impl ExitStatus {
    /// Every exit status, in the order of their codes.
    pub const ALL: [ExitStatus; 5] = [
        ExitStatus::Complete,
        ExitStatus::ExpectationFailed,
        ExitStatus::Error,
        ExitStatus::Incomplete,
        ExitStatus::Interrupted,
    ];

    /// The table: each exit status's code and what it means.
    const fn entry(self) -> (u8, &'static str) {
        match self {
            ExitStatus::Complete => (
                0,
                "The trace is complete and every expectation held (check: every case passed).",
            ),
            ExitStatus::ExpectationFailed => (
                1,
                "The trace is complete but an expectation failed (--expect, or a case of check).",
            ),
            ExitStatus::Error => (
                2,
                "An error: bad arguments, cannot connect or authenticate, no permission, server older than 2.11, nothing arrived, unreadable input (check: a case could not run).",
            ),
            ExitStatus::Incomplete => (
                3,
                "Incomplete: some servers' traces did not arrive before the timeout.",
            ),
            ExitStatus::Interrupted => (
                130,
                "Interrupted by Ctrl-C, after printing what had arrived.",
            ),
        }
    }

    pub const fn code(self) -> u8 {
        self.entry().0
    }

    pub const fn meaning(self) -> &'static str {
        self.entry().1
    }
}

/// How a run ended; each maps to a documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Trace complete, every expectation held.
    Complete,
    /// Trace complete, an expectation failed.
    ExpectationFailed,
    /// Some servers' traces did not arrive before the timeout.
    Incomplete,
    /// Interrupted by Ctrl-C after printing what had arrived.
    Interrupted,
}

impl Outcome {
    pub fn exit_status(self) -> ExitStatus {
        match self {
            Outcome::Complete => ExitStatus::Complete,
            Outcome::ExpectationFailed => ExitStatus::ExpectationFailed,
            Outcome::Incomplete => ExitStatus::Incomplete,
            Outcome::Interrupted => ExitStatus::Interrupted,
        }
    }

    pub fn code(self) -> u8 {
        self.exit_status().code()
    }

    /// The worse of two outcomes: interrupted beats incomplete beats a failed expectation
    /// beats success.
    pub fn worst(self, other: Outcome) -> Outcome {
        fn rank(o: Outcome) -> u8 {
            match o {
                Outcome::Complete => 0,
                Outcome::ExpectationFailed => 1,
                Outcome::Incomplete => 2,
                Outcome::Interrupted => 3,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(o.code())
    }
}

/// The exit code of every [`Error`].
pub const ERROR_EXIT_CODE: u8 = ExitStatus::Error.code();

/// An error that ends the run with [`ERROR_EXIT_CODE`]; its text is one line for stderr.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Connect(String),
    #[error(
        "server {server} runs nats-server {version}: message tracing needs nats-server 2.11 or newer"
    )]
    OldServer { server: String, version: String },
    #[error("{0}")]
    Permission(String),
    #[error("no trace message arrived within {0}")]
    NothingArrived(String),
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Topology(String),
    /// Some cases of a check suite could not run (each was reported already).
    #[error("{0}")]
    CheckFailed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
