//! The topology. Every command builds its pipeline here ([`runner`]: store, engine, sinks,
//! router, mode, enricher), and `herald run` wires the worker ([`run`]): source → pump →
//! pipeline → sinks, the HTTP server beside them, and one [`Shutdown`] they all listen to.
//!
//! ```text
//! source ──batches──▶ pipeline::worker (decode, affinity, processors, settle ticker)
//!                        └─▶ pipeline::Runner (correlate → enrich → route → deliver)
//!                               └─▶ sinks (count → digest → paced → provider)
//! server: /metrics /healthz /readyz POST /events and the status page, beside them
//! ```

pub mod parts;
pub mod sinks;

use crate::config::{Config, Mode, SourceKind};
use crate::correlate::engine::{Engine, EngineConfig};
use crate::deliver::counted::Counted;
use crate::deliver::{jsonl::JsonlSink, text::TextSink, Sink};
use crate::enrich::Enricher;
use crate::pipeline::{worker, Runner};
use crate::route::Router;
use crate::server::{serve_worker, WorkerState};
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::telemetry::metrics;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a pipeline or a worker could not be built or started: each names what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{path}: {source}")]
    Output {
        path: String,
        source: std::io::Error,
    },
    #[error("enrichment: {0}")]
    Enrich(#[from] crate::enrich::EnrichError),
    #[error("DynamoDB table {table}: {source}")]
    Store {
        table: String,
        source: crate::store::StoreError,
    },
    #[error("source: {0}")]
    Source(#[from] crate::source::SourceError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Run(#[from] crate::pipeline::RunError),
}

/// What a pipeline is built for, beyond its config.
pub struct Build {
    pub store: Arc<dyn Store>,
    /// Deliver to this JSON Lines file only (`--jsonl`), or to the terminal when the config
    /// names no destination.
    pub jsonl: Option<PathBuf>,
    /// The worker's name in delivery leases (`run`); replays leave the engine's default.
    pub owner: Option<String>,
    /// Count every sink's notifications on `/metrics` (`run`).
    pub counted: bool,
}

/// The engine's settings from `[correlate]` and `[store]`.
pub fn engine_config(cfg: &Config, owner: Option<&str>) -> EngineConfig {
    let mut e = EngineConfig {
        cache_size: cfg.correlate.cache_size,
        cache_ttl: Duration::from_secs(cfg.correlate.cache_ttl_secs),
        ttl_secs: cfg.correlate.ttl_days * 86_400,
        timing: crate::correlate::Timing {
            pipeline_stall_secs: cfg.correlate.pipeline_stall_secs,
            approval_remind_secs: cfg.correlate.approval_remind_secs,
            ecs_stall_secs: cfg.ecs.deployment_stall_secs,
            crash_loop_count: cfg.ecs.crash_loop_count,
            crash_loop_window_secs: cfg.ecs.crash_loop_window_secs,
            recovered_after_secs: cfg.ecs.recovered_after_secs,
            settle_secs: Some(cfg.correlate.settle_secs),
            watch_secs: cfg.verdicts.watch_secs,
            watched_pipelines: cfg.verdicts.pipelines(),
        },
        watch: cfg.verdicts.rules(),
        ..EngineConfig::default()
    };
    if let Some(o) = owner {
        e.lease_secs = cfg.store.delivery_lease_secs;
        e.owner = o.to_owned();
    }
    e
}

/// The pipeline of a config: its sinks (or one default sink), router, mode and settle window,
/// on `b.store`. The enricher is added by the caller: replays never call AWS (of `[enrich]`
/// only the account aliases apply, see [`Enricher::aliases_only`]), `run` builds the real one.
pub fn runner(cfg: &Config, b: &Build) -> Result<Runner, AppError> {
    let mut sinks = sinks::build_sinks(cfg)?;
    let mut router = cfg.router()?;
    if sinks.is_empty() || b.jsonl.is_some() {
        let (name, sink): (&str, Arc<dyn Sink>) = match &b.jsonl {
            Some(p) => (
                "jsonl",
                Arc::new(JsonlSink::append(p).map_err(|source| AppError::Output {
                    path: p.display().to_string(),
                    source,
                })?),
            ),
            None => ("terminal", Arc::new(TextSink::stdout())),
        };
        sinks.insert(name.into(), sink);
        if router.rules.is_empty() || b.jsonl.is_some() {
            router = Router::single(name);
        }
    }
    if b.counted {
        for s in sinks.values_mut() {
            *s = Arc::new(Counted::new(s.clone()));
        }
    }
    let engine = Engine::new(b.store.clone(), engine_config(cfg, b.owner.as_deref()));
    Ok(Runner::new(
        Arc::new(engine),
        router,
        sinks,
        cfg.correlate.mode,
        cfg.correlate.settle_secs,
    ))
}

/// The pipeline `replay`, `demo` and `route-test` run: [`runner`] with the account aliases.
pub fn replay_runner(cfg: &Config, b: &Build) -> Result<Runner, AppError> {
    let r = runner(cfg, b)?;
    Ok(match Enricher::aliases_only(&cfg.enrich)? {
        Some(e) => r.with_enricher(Arc::new(e)),
        None => r,
    })
}

/// Runs the worker until SIGTERM or Ctrl-C; returns the process exit code. Shutdown is one
/// path: not ready → stop polling → finish in-flight work → flush settle windows and acks →
/// exit, inside `server.shutdown_timeout_secs`.
pub async fn run(mut cfg: Config) -> u8 {
    match start(&mut cfg).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %e, "herald run cannot start");
            1
        }
    }
}

async fn start(cfg: &mut Config) -> Result<u8, AppError> {
    let owner = parts::worker_name();
    // Chat tokens and webhook URLs from SSM, Secrets Manager or the environment, once, at
    // start: a reference that does not resolve stops the worker here, naming it.
    cfg.resolve_secrets(None).await?;
    let store = parts::store(cfg).await?;
    let enricher = parts::enricher(cfg).await?;
    let build = Build {
        store: store.clone(),
        jsonl: None,
        owner: Some(owner.clone()),
        counted: true,
    };
    let runner = runner(cfg, &build)?
        .with_lease_fence()
        .with_act_links(cfg.actions.enabled());
    let runner = Arc::new(match enricher {
        Some(e) => runner.with_enricher(e),
        None => runner,
    });
    let (source, local) = parts::source(cfg, &owner).await?;

    // Readiness: the source polls, the store answers, and no shutdown has begun.
    let shutdown = Shutdown::new();
    let store_ok = Arc::new(AtomicBool::new(false));
    let ready = {
        let (s, sd, ok) = (source.clone(), shutdown.clone(), store_ok.clone());
        Arc::new(move || {
            let r = !sd.is_triggered() && ok.load(Ordering::Relaxed) && s.ready();
            metrics().ready.set(r as i64);
            r
        })
    };
    let probe = tokio::spawn(parts::probe_store(store, store_ok));
    let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
        .await
        .map_err(|source| AppError::Listen {
            addr: cfg.server.listen.clone(),
            source,
        })?;
    let status_listener = match &cfg.server.status_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| AppError::Listen {
                    addr: addr.clone(),
                    source,
                })?,
        ),
        None => None,
    };
    let header = axum::http::HeaderName::from_bytes(cfg.server.events_secret_header.as_bytes())
        .unwrap_or(axum::http::HeaderName::from_static("x-herald-secret"));
    let state = WorkerState {
        engine: runner.engine.clone(),
        ready,
        local,
        events_secret: cfg.server.events_secret.clone(),
        events_secret_header: header,
        actions: parts::actor(cfg, runner.clone()).await?,
    };
    // Socket Mode: clicks come over a connection the worker opens; it ends with the shutdown.
    let socket = match (parts::socket_mode(cfg)?, state.actions.clone()) {
        (Some(sm), Some(actor)) => {
            let sd = shutdown.clone();
            Some(tokio::spawn(async move {
                sm.run(actor, async move { sd.wait().await }).await;
            }))
        }
        _ => None,
    };
    // The server outlives the drain (`/readyz` says 503 meanwhile) and ends once it is over.
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_worker(listener, status_listener, state, async move {
        let _ = drained_rx.await;
    }));
    tracing::info!(source = cfg.source.kind.as_str(), store = ?cfg.store.kind,
        listen = %cfg.server.listen, status_listen = ?cfg.server.status_listen, worker = %owner,
        "herald run: started");
    metrics().ready.set(1);

    let mut pump = tokio::spawn(worker::pump(
        source.clone(),
        runner,
        cfg.source.processors,
        std::time::Duration::from_millis(cfg.source.batch_window_ms),
        // A final message waiting for its settle window holds its source messages only where
        // its timer would die with the process (the in-process store); on DynamoDB the timer
        // tells it, whichever worker is alive then.
        cfg.source.kind != SourceKind::Local && cfg.store.kind == crate::config::StoreKind::Memory,
        shutdown.clone(),
        crate::clock::Clock::Wall,
    ));
    // A signal, or the pump ending on its own (the source failed).
    let pump_ended = tokio::select! {
        _ = parts::shutdown_signal() => false,
        _ = &mut pump => true,
    };
    let deadline = Duration::from_secs(cfg.server.shutdown_timeout_secs);
    let started = Instant::now();
    shutdown.trigger();
    metrics().ready.set(0);
    tracing::info!(
        deadline_secs = deadline.as_secs(),
        "shutting down: not ready, polling stops"
    );
    source.stop();
    let drained = tokio::time::timeout(deadline, async {
        if !pump_ended {
            let _ = (&mut pump).await;
        }
        source.drain().await;
    })
    .await;
    match drained {
        Ok(()) => tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "shutdown complete: in-flight work finished, acks flushed"
        ),
        Err(_) => {
            // What did not finish is not acked and comes back to another worker.
            tracing::warn!(
                deadline_secs = deadline.as_secs(),
                "shutdown deadline reached; unfinished messages will be redelivered"
            );
            pump.abort();
        }
    }
    let _ = drained_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    if let Some(s) = socket {
        let _ = tokio::time::timeout(Duration::from_secs(2), s).await;
    }
    probe.abort();
    Ok(0)
}

/// The mode a config asks for, for messages.
pub fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Progress => "progress",
        Mode::FinalOnly => "final_only",
    }
}
