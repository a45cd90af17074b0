//! The whole replay path on the embedded parts (decode → correlate → route → render →
//! deliver to a JSON Lines sink writing to nowhere) over a large synthetic stream, next to the
//! baseline of merely parsing each line into a `serde_json::Value`. Issue 3 asks for the replay
//! to stay within 2x of that baseline.
//!
//! The baseline is measured again right before each replay (`…_baseline_before_progress`): on a
//! shared machine whose speed drifts by tens of percent over minutes, each replay is compared
//! with the baseline measured next to it.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use herald::config::Mode;
use herald::correlate::engine::{Engine, EngineConfig};
use herald::deliver::{jsonl::JsonlSink, Sink};
use herald::event::decode;
use herald::pipeline::Runner;
use herald::route::Router;
use herald::store::memory::MemoryStore;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

fn bench(c: &mut Criterion) {
    // Only the lines are kept (as in the `ratio` example): the executions they were built from
    // would otherwise stay on the heap through every measurement.
    let lines = synthetic::by_time(&synthetic::executions(2_000));
    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(_) => return,
    };
    let mut g = c.benchmark_group("replay_20k_lines");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.sample_size(10);
    for (baseline, name, mode) in [
        (
            "serde_json_value_baseline",
            "replay_final_only",
            Mode::FinalOnly,
        ),
        (
            "serde_json_value_baseline_before_progress",
            "replay_progress",
            Mode::Progress,
        ),
    ] {
        g.bench_function(baseline, |b| {
            b.iter(|| {
                for l in &lines {
                    let _ = black_box(serde_json::from_str::<serde_json::Value>(l));
                }
            })
        });
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
                sinks.insert(
                    "out".into(),
                    Arc::new(JsonlSink::new(Box::new(std::io::sink()))),
                );
                let engine = Arc::new(Engine::new(
                    Arc::new(MemoryStore::new()),
                    EngineConfig::default(),
                ));
                let runner = Runner::new(engine, Router::single("out"), sinks, mode, 0);
                rt.block_on(async {
                    let mut batch = Vec::with_capacity(10);
                    for l in &lines {
                        if let Ok(mut evs) = decode(l.as_bytes()) {
                            batch.append(&mut evs);
                        }
                        if batch.len() >= 10 {
                            let _ = runner.process(&batch, 0).await;
                            batch.clear();
                        }
                    }
                    let _ = runner.process(&batch, 0).await;
                    let _ = runner.flush(0).await;
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
