//! Criterion benchmarks of the offline pipeline on synthetic traces shaped like real ones:
//! decode (snappy, gzip) + parse per message, and stitch + render for fan-outs of 100 to
//! 100,000 servers and chains of 100 to 10,000 servers.

use std::hint::black_box;
use std::io::{self, Write};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nats_trace::render::{RenderOptions, Renderer, TraceReport, TreeRenderer};
use nats_trace::trace::collect::decode_and_parse;
use nats_trace::trace::event::TraceMessage;
use nats_trace::trace::stitch::Stitcher;
use nats_trace_testkit::synthetic;

/// mimalloc: the many small allocations of thousands of trace messages are much cheaper
/// than with the system allocator (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn snappy(data: &[u8]) -> Vec<u8> {
    let mut w = snap::write::FrameEncoder::new(Vec::new());
    w.write_all(data).expect("compress");
    w.into_inner().expect("finish")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(data).expect("compress");
    w.finish().expect("finish")
}

fn decode_parse(c: &mut Criterion) {
    let lines = synthetic::fan_out(1_000);
    let mut group = c.benchmark_group("decode_parse");
    group.throughput(Throughput::Elements(lines.len() as u64));
    for (encoding, compress) in [("snappy", snappy as fn(&[u8]) -> Vec<u8>), ("gzip", gzip)] {
        let payloads: Vec<Vec<u8>> = lines.iter().map(|l| compress(l.as_bytes())).collect();
        group.bench_function(encoding, |b| {
            b.iter(|| {
                for payload in &payloads {
                    black_box(decode_and_parse(Some(encoding), payload).expect("decodes"));
                }
            })
        });
    }
    group.finish();
}

fn parsed(lines: &[String]) -> Vec<TraceMessage> {
    lines
        .iter()
        .map(|l| TraceMessage::from_json(l.as_bytes()).expect("parses"))
        .collect()
}

/// Stitches and renders; the report is returned so that criterion drops it outside the
/// measurement (the command line exits right after rendering).
fn stitch_and_render(messages: Vec<TraceMessage>) -> TraceReport {
    let mut stitcher = Stitcher::new();
    for message in messages {
        stitcher.add(message);
    }
    let report = TraceReport::from_graph(stitcher.finish());
    TreeRenderer::new(RenderOptions::default())
        .render(&report, &mut io::sink())
        .expect("render");
    report
}

/// A shape of synthetic topology: its name, its generator, the sizes to run.
type Shape = (&'static str, fn(usize) -> Vec<String>, &'static [usize]);

fn stitch_render(c: &mut Criterion) {
    let mut group = c.benchmark_group("stitch_render");
    group.sample_size(10);
    let shapes: [Shape; 2] = [
        (
            "fan_out",
            synthetic::fan_out,
            &[100, 1_000, 10_000, 100_000],
        ),
        ("chain", synthetic::chain, &[100, 1_000, 10_000]),
    ];
    for (shape, generate, sizes) in shapes {
        for &n in sizes {
            let messages = parsed(&generate(n));
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(shape, n), &messages, |b, messages| {
                b.iter_batched(
                    || messages.clone(),
                    stitch_and_render,
                    BatchSize::LargeInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decode_parse, stitch_render);
criterion_main!(benches);
