//! Deterministic cost ratios for the README: run under
//! `valgrind --tool=callgrind --toggle-collect=ratio::phase_*` (see README, "Performance").
//! Each phase is its own function so instruction counts can be read per phase.

use herald::app::Runner;
use herald::config::Mode;
use herald::correlate::engine::{Engine, EngineConfig};
use herald::deliver::{jsonl::JsonlSink, Sink};
use herald::event::decode;
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
    replay(lines, Mode::FinalOnly)
}

#[inline(never)]
fn phase_replay_progress(lines: &[String]) {
    replay(lines, Mode::Progress)
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

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let lines = synthetic::by_time(&synthetic::executions(n));
    let t = std::time::Instant::now();
    phase_value(&lines);
    let value = t.elapsed();
    let t = std::time::Instant::now();
    phase_decode(&lines);
    let dec = t.elapsed();
    let t = std::time::Instant::now();
    phase_replay_final_only(&lines);
    let fin = t.elapsed();
    let t = std::time::Instant::now();
    phase_replay_progress(&lines);
    let prog = t.elapsed();
    println!(
        "{} lines: value {value:?}, decode {dec:?}, replay final_only {fin:?}, replay progress {prog:?}",
        lines.len()
    );
}
