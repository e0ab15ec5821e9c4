//! Judging traces for CI: the `--expect` grammar and its evaluation ([`expect`]), check
//! suites ([`suite`]), JUnit XML ([`junit`]), the HTML report ([`html`]), route snapshots
//! ([`snapshot`]) and the `check`
//! command ([`check`]).

pub(crate) mod check;
pub(crate) mod expect;
pub(crate) mod html;
pub(crate) mod junit;
pub(crate) mod snapshot;
pub(crate) mod suite;
