//! Fuzz target: [`nats_trace_testkit::fuzzing::fuzz_stitch`] (see `src/fuzzing.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nats_trace_testkit::fuzzing::fuzz_stitch(data));
