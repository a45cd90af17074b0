//! Correlation: the pure state machines over each corpus scenario, and the engine (cache,
//! conditional writes, pointer joins) on the in-memory store over a synthetic stream.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use herald::correlate::engine::{Engine, EngineConfig};
use herald::correlate::{new_thread, Thread};
use herald::event::{decode, Event};
use herald::store::memory::MemoryStore;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

fn scenario_events() -> Vec<Vec<Event>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
    let mut out = Vec::new();
    if let Ok(d) = std::fs::read_dir(dir) {
        let mut paths: Vec<_> = d.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            out.push(
                text.lines()
                    .filter_map(|l| decode(l.as_bytes()).ok())
                    .flatten()
                    .collect(),
            );
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    // Pipeline scenarios only: their events all apply to threads directly.
    let scenarios: Vec<Vec<Event>> = scenario_events()
        .into_iter()
        .map(|evs| {
            evs.into_iter()
                .filter(|e| e.kind().ends_with("_execution"))
                .collect::<Vec<_>>()
        })
        .filter(|evs| !evs.is_empty())
        .collect();
    let n: usize = scenarios.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("state_machine");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("apply_and_notify", |b| {
        b.iter(|| {
            for evs in &scenarios {
                let mut t: Thread = match new_thread(&evs[0]) {
                    Some(t) => t,
                    None => continue,
                };
                for e in evs {
                    if t.apply(black_box(e), &herald::correlate::Timing::default()) {
                        t.refresh(0);
                    }
                }
                black_box(t.notification());
            }
        })
    });
    g.finish();

    let execs = synthetic::executions(500);
    let events: Vec<Event> = synthetic::by_time(&execs)
        .iter()
        .filter_map(|l| decode(l.as_bytes()).ok())
        .flatten()
        .collect();
    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(_) => return,
    };
    let mut g = c.benchmark_group("engine_memory_store");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(10);
    g.bench_function("apply_batch_of_10", |b| {
        b.iter(|| {
            let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
            let wants = |_: &Thread, _: &herald::notification::Notification| false;
            let done = std::collections::BTreeSet::new();
            rt.block_on(async {
                for chunk in events.chunks(10) {
                    let _ = black_box(engine.apply_batch(chunk, 0, &wants, &done).await);
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
