//! The outcomes of a run and their exit codes, and the errors that end a run early.

use std::process::ExitCode;

/// How a run ended; each maps to a documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: trace complete, every expectation held.
    Complete,
    /// 1: trace complete, an expectation failed.
    ExpectationFailed,
    /// 3: some servers' traces did not arrive before the timeout.
    Incomplete,
    /// 130: interrupted by Ctrl-C after printing what had arrived.
    Interrupted,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Complete => 0,
            Outcome::ExpectationFailed => 1,
            Outcome::Incomplete => 3,
            Outcome::Interrupted => 130,
        }
    }

    /// The worse of two outcomes: incomplete beats a failed expectation beats success.
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
pub const ERROR_EXIT_CODE: u8 = 2;

/// An error that ends the run with exit code 2; its text is one line for stderr.
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

pub type Result<T, E = Error> = std::result::Result<T, E>;
