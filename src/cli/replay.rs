//! `herald replay` and `herald demo`: files (or the bundled stream) through decode, correlate,
//! route and deliver on the embedded store, settle windows flushed at the end.

use super::input::{decode_text, read_path};
use crate::app::Runner;
use crate::config::{Config, Mode};
use crate::correlate::engine::{Engine, EngineConfig};
use crate::deliver::{jsonl::JsonlSink, text::TextSink, Sink};
use crate::enrich::Enricher;
use crate::event::Event;
use crate::route::Router;
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

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Builds the runner: sinks from the config, or one default sink (`--jsonl PATH`, else text).
pub fn runner(opts: &ReplayOptions) -> Result<Runner, String> {
    let cfg = opts.config.clone().unwrap_or_default();
    let mut sinks = crate::app::sinks::build_sinks(&cfg).map_err(|e| e.to_string())?;
    let mut router = cfg.router().map_err(|e| e.to_string())?;
    if sinks.is_empty() || opts.jsonl.is_some() {
        let sink: Arc<dyn Sink> = match &opts.jsonl {
            Some(p) => Arc::new(JsonlSink::append(p).map_err(|e| format!("{}: {e}", p.display()))?),
            None => Arc::new(TextSink::stdout()),
        };
        let name = if opts.jsonl.is_some() {
            "jsonl"
        } else {
            "terminal"
        };
        sinks.insert(name.into(), sink);
        if router.rules.is_empty() || opts.jsonl.is_some() {
            router = Router::single(name);
        }
    }
    let engine = Engine::new(
        opts.store.clone(),
        EngineConfig {
            cache_size: cfg.correlate.cache_size,
            cache_ttl: std::time::Duration::from_secs(cfg.correlate.cache_ttl_secs),
            ttl_secs: cfg.correlate.ttl_days * 86_400,
            ..EngineConfig::default()
        },
    );
    let runner = Runner::new(
        Arc::new(engine),
        router,
        sinks,
        cfg.correlate.mode,
        cfg.correlate.settle_secs,
    );
    // Replays never call AWS: of `[enrich]`, only the account aliases apply.
    Ok(
        match Enricher::aliases_only(&cfg.enrich).map_err(|e| e.to_string())? {
            Some(e) => runner.with_enricher(Arc::new(e)),
            None => runner,
        },
    )
}

/// Replays decoded events through a runner in arrival order; returns (events, errors).
pub async fn replay_events(runner: &Runner, events: &[Event]) -> Result<(), String> {
    for chunk in events.chunks(BATCH) {
        runner
            .process(chunk, unix_now())
            .await
            .map_err(|e| e.to_string())?;
    }
    runner.flush(unix_now()).await.map_err(|e| e.to_string())?;
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

/// The mode a config asks for, for messages.
pub fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Progress => "progress",
        Mode::FinalOnly => "final_only",
    }
}
