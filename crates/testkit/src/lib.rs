//! Test-only code of nats-trace, kept out of the shipped crate: the fuzz targets' entry
//! points ([`fuzzing`], shared by `fuzz/` and the replay test `tests/fuzz_regressions.rs`)
//! and synthetic trace messages shaped like real ones for scale tests and benchmarks
//! ([`synthetic`]); what every benchmark measures with ([`measure`]).

pub mod fuzzing;
pub mod measure;
pub mod synthetic;
