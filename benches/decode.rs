//! Decode throughput: the corpus one document at a time, and a large JSON Lines stream, next to
//! the baseline of merely parsing each line into a `serde_json::Value`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::path::Path;

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// Every scenario line, repeated to about 20,000 lines: the shape of a busy queue.
fn stream() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
    let mut lines = Vec::new();
    if let Ok(d) = std::fs::read_dir(dir) {
        for e in d.flatten() {
            if let Ok(t) = std::fs::read_to_string(e.path()) {
                lines.extend(t.lines().filter(|l| !l.is_empty()).map(str::to_owned));
            }
        }
    }
    let base = lines.clone();
    while !base.is_empty() && lines.len() < 20_000 {
        lines.extend(base.iter().cloned());
    }
    lines
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("corpus");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for doc in &corpus {
                let _ = black_box(herald::event::decode(black_box(doc)));
            }
        })
    });
    g.finish();

    let lines = stream();
    let mut g = c.benchmark_group("jsonl_stream");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.sample_size(20);
    g.bench_with_input(
        BenchmarkId::new("decode", lines.len()),
        &lines,
        |b, lines| {
            b.iter(|| {
                for l in lines {
                    let _ = black_box(herald::event::decode(l.as_bytes()));
                }
            })
        },
    );
    g.bench_with_input(
        BenchmarkId::new("serde_json_value", lines.len()),
        &lines,
        |b, lines| {
            b.iter(|| {
                for l in lines {
                    let _ = black_box(serde_json::from_str::<serde_json::Value>(l));
                }
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
