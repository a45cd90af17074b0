//! `herald replay` and `herald demo`: files (or the bundled stream) through decode, correlate,
//! route and deliver on the embedded store, settle windows flushed at the end.

use super::input::{decode_text, read_path};
use crate::config::Config;
use crate::event::Event;
use crate::pipeline::Runner;
use crate::store::{memory::MemoryStore, Store};
use std::path::PathBuf;
use std::sync::Arc;

/// The bundled demo stream: several accounts, successes, a build failure, a deploy failure, an
/// approval, an ECS rollback and an alarm episode.
pub const DEMO_STREAM: &str = include_str!("demo.jsonl");

/// Events are fed in batches of this size, like an SQS receive.
const BATCH: usize = 10;

pub struct ReplayOptions {
    pub jsonl: Option<PathBuf>,
    pub config: Option<Config>,
    pub store: Arc<dyn Store>,
}

pub use crate::clock::unix_now;

/// Builds the runner: sinks from the config, or one default sink (`--jsonl PATH`, else text);
/// of `[enrich]` only the account aliases (a replay never calls AWS).
pub fn runner(opts: &ReplayOptions) -> Result<Runner, crate::app::AppError> {
    let cfg = opts.config.clone().unwrap_or_default();
    crate::app::replay_runner(
        &cfg,
        &crate::app::Build {
            store: opts.store.clone(),
            jsonl: opts.jsonl.clone(),
            owner: None,
            counted: false,
        },
    )
}

/// Replays decoded events through a runner in arrival order; returns (events, errors).
pub async fn replay_events(
    runner: &Runner,
    events: &[Event],
) -> Result<(), crate::pipeline::RunError> {
    for chunk in events.chunks(BATCH) {
        runner.process(chunk, unix_now()).await?;
    }
    runner.flush(unix_now()).await?;
    Ok(())
}

/// Decodes files, reporting bad documents as `file:line: ...`; returns the events and whether
/// anything failed.
pub fn read_events(files: &[PathBuf]) -> (Vec<Event>, bool) {
    let mut events = Vec::new();
    let mut failed = false;
    for path in files {
        let name = path.display();
        match read_path(path) {
            Ok(text) => {
                for doc in decode_text(&text) {
                    match doc.result {
                        Ok(mut evs) => events.append(&mut evs),
                        Err(e) => {
                            eprintln!("{name}:{}: {e}", doc.line);
                            failed = true;
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                failed = true;
            }
        }
    }
    (events, failed)
}

pub fn demo_events() -> Vec<Event> {
    decode_text(DEMO_STREAM)
        .into_iter()
        .filter_map(|d| d.result.ok())
        .flatten()
        .collect()
}

pub fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

pub use crate::app::mode_name;
