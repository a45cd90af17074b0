//! Deterministic cost ratios for the README: run under
//! `valgrind --tool=callgrind --toggle-collect=ratio::phase_*` (see README, "Performance").
//! Each phase is its own function so instruction counts can be read per phase.

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

#[inline(never)]
fn phase_value(lines: &[String]) {
    for l in lines {
        let _ = black_box(serde_json::from_str::<serde_json::Value>(l));
    }
}

#[inline(never)]
fn phase_decode(lines: &[String]) {
    for l in lines {
        let _ = black_box(decode(l.as_bytes()));
    }
}

#[inline(never)]
fn phase_replay_final_only(lines: &[String]) {
    replay(lines, Mode::FinalOnly);
    // Not a tail call: callgrind sees the phase return.
    black_box(())
}

#[inline(never)]
fn phase_replay_progress(lines: &[String]) {
    replay(lines, Mode::Progress);
    black_box(())
}

fn replay(lines: &[String], mode: Mode) {
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
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    rt.block_on(async {
        // Decoded as they come and fed in batches of 10, as a worker takes an SQS receive.
        let mut batch = Vec::with_capacity(10);
        for l in lines {
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
    });
}

/// A phase's name and body.
type Phase = (&'static str, fn(&[String]));

/// `ratio N [PHASE [REPEAT]]`: the synthetic stream of N executions (10 lines each) through
/// every phase (PHASE absent or `all`), or only PHASE (`value`, `decode`, `final_only`,
/// `progress`), REPEAT times each (for `perf record`, so building the stream is a small part of
/// the profile; and so one run times every phase within the same few seconds). Under callgrind, run one phase
/// per process: a phase that ends in a tail call never "returns", so `--toggle-collect` would
/// keep counting into the next one.
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let only = args.next();
    let repeat: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let lines = synthetic::by_time(&synthetic::executions(n));
    let phases: [Phase; 4] = [
        ("value", phase_value),
        ("decode", phase_decode),
        ("final_only", phase_replay_final_only),
        ("progress", phase_replay_progress),
    ];
    let mut out = Vec::new();
    for (name, phase) in phases {
        if only.as_deref().is_some_and(|o| o != name && o != "all") {
            continue;
        }
        let t = std::time::Instant::now();
        for _ in 0..repeat {
            phase(black_box(&lines));
        }
        out.push(format!("{name} {:?}", t.elapsed() / repeat.max(1)));
    }
    println!("{} lines: {}", lines.len(), out.join(", "));
}
