//! `herald run`: the fleet worker. Builds the source, store and pipeline from config, serves
//! `/metrics`, `/healthz`, `/readyz` and `POST /events`, and pumps batches from the source
//! through the pipeline, finishing each message's ack token only once every outcome it caused
//! is durable.
//!
//! Inside one worker, messages are spread over `processors` tasks by *affinity* (the pipeline,
//! ECS service, alarm or build an event belongs to), so no two tasks of one worker ever work on
//! the same thread at once; the settle-window ticker takes a write lock that excludes them all.
//! Shutdown (SIGTERM, Ctrl-C) is one path: not ready → stop polling → finish in-flight work →
//! flush settle windows → flush acks → exit, inside `server.shutdown_timeout_secs`.

use super::replay::{self, ReplayOptions};
use crate::app::Runner;
use crate::config::{Config, SourceKind, StoreKind};
use crate::correlate::engine::{Engine, EngineConfig};
use crate::correlate::{pointer_key, service_key, target, Target};
use crate::deliver::{Delivery, MessageRef, Sink, SinkError};
use crate::enrich::Enricher;
use crate::event::{decode, Event};
use crate::server::{serve_worker, WorkerState};
use crate::source::kinesis::{KinesisOptions, KinesisSource};
use crate::source::local::LocalSource;
use crate::source::sqs::{SqsOptions, SqsSource};
use crate::source::{AckToken, Outcome, Source};
use crate::store::{memory::MemoryStore, Store};
use crate::telemetry::metrics;
use futures::future::BoxFuture;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, RwLock};

/// Messages one processor takes into a single `Runner::process` call at most. Events of one
/// thread in one call cost one store write.
const PROCESS_BATCH: usize = 50;

/// How often settle windows are checked and held acks released.
const TICK: Duration = Duration::from_millis(500);

/// The environment variable naming the SSM parameter that holds the TOML config; read when
/// no `--config` (or `HERALD_CONFIG`) is given. The deploy template sets it.
pub const CONFIG_SSM_PARAMETER_ENV: &str = "HERALD_CONFIG_SSM_PARAMETER";

/// The config `herald run` uses, from the first of: the file given (`--config` or
/// `HERALD_CONFIG`); the SSM parameter named by `HERALD_CONFIG_SSM_PARAMETER`; the defaults
/// (laptop mode: local source, memory store, terminal sink). Then the `HERALD_...`
/// environment overrides, validated. Errors name the file or the parameter.
pub async fn load_config(path: Option<&std::path::Path>) -> Result<Config, String> {
    let parameter = std::env::var(CONFIG_SSM_PARAMETER_ENV).ok();
    let (mut cfg, origin) = match (path, parameter) {
        (Some(p), _) => (
            Config::load(p).map_err(|e| e.to_string())?,
            Some(p.display().to_string()),
        ),
        (None, Some(name)) => {
            let origin = format!("SSM parameter {name}");
            let text = config_text_from_ssm(&name).await?;
            (
                Config::from_toml(&text, &origin).map_err(|e| e.to_string())?,
                Some(origin),
            )
        }
        (None, None) => (Config::default(), None),
    };
    cfg.apply_env(|k| std::env::var(k).ok())
        .map_err(|e| match &origin {
            Some(o) => format!("{o}: {e}"),
            None => e.to_string(),
        })?;
    Ok(cfg)
}

/// The text of the config parameter (`GetParameter` with decryption, so a `SecureString`
/// works too), with the SDK's default credential chain and region; `AWS_ENDPOINT_URL` (or
/// `AWS_ENDPOINT_URL_SSM`) points it at an emulator.
async fn config_text_from_ssm(name: &str) -> Result<String, String> {
    let var = CONFIG_SSM_PARAMETER_ENV;
    if name.trim().is_empty() {
        return Err(format!(
            "{var} is set but empty: name the SSM parameter holding the TOML config, or unset it"
        ));
    }
    let sdk = aws_config(None).await;
    let out = aws_sdk_ssm::Client::new(&sdk)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found())
            {
                format!(
                    "SSM parameter {name} (named by {var}) does not exist in this account and \
                     region: put Herald's TOML config there, or fix {var}"
                )
            } else {
                format!(
                    "cannot read SSM parameter {name} (named by {var}): {}",
                    aws_sdk_ssm::error::DisplayErrorContext(&e)
                )
            }
        })?;
    out.parameter
        .and_then(|p| p.value)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("SSM parameter {name} (named by {var}) has no value"))
}

/// A name for this worker in leases and claims, unique across a fleet (every container may
/// have the same pid).
fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(24)
        .collect();
    format!("w-{host}-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

async fn aws_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    loader.load().await
}

/// Runs the worker until a shutdown signal; returns the process exit code.
pub async fn run(mut cfg: Config) -> u8 {
    let m = metrics();
    let owner = worker_name();
    // Chat tokens and webhook URLs from SSM, Secrets Manager or the environment, once, at
    // start: a reference that does not resolve stops the worker here, naming it.
    if let Err(e) = cfg.resolve_secrets(None).await {
        tracing::error!(error = %e, "cannot resolve the destinations' secrets");
        return 1;
    }
    let store: Arc<dyn Store> = match cfg.store.kind {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Dynamodb => {
            match crate::store::dynamo_from_env(cfg.store.endpoint.as_deref(), &cfg.store.table)
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, table = %cfg.store.table, "cannot open the DynamoDB store");
                    return 1;
                }
            }
        }
    };
    let enricher = match enricher(&cfg).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "cannot set up enrichment");
            return 1;
        }
    };
    let runner = match build_runner(&cfg, store.clone(), &owner) {
        Ok(r) => Arc::new(match enricher {
            Some(e) => r.with_enricher(e),
            None => r,
        }),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the pipeline");
            return 1;
        }
    };

    let mut local = None;
    let source: Arc<dyn Source> = match cfg.source.kind {
        SourceKind::Local => {
            let l = Arc::new(LocalSource::new(cfg.source.max_in_flight));
            local = Some(l.clone());
            l
        }
        SourceKind::Sqs => {
            let sdk = aws_config(cfg.source.sqs_endpoint.as_deref()).await;
            SqsSource::start(
                aws_sdk_sqs::Client::new(&sdk),
                SqsOptions {
                    queue_url: cfg.source.queue_url.clone().unwrap_or_default(),
                    pollers: cfg.source.pollers,
                    max_in_flight: cfg.source.max_in_flight,
                    visibility_timeout_secs: cfg.source.visibility_timeout_secs,
                    wait_time_secs: cfg.source.wait_time_secs,
                },
            )
        }
        SourceKind::Kinesis => {
            let kin = aws_config(cfg.source.kinesis_endpoint.as_deref()).await;
            let ddb = aws_config(cfg.store.endpoint.as_deref()).await;
            match KinesisSource::start(
                aws_sdk_kinesis::Client::new(&kin),
                aws_sdk_dynamodb::Client::new(&ddb),
                KinesisOptions {
                    stream_arn: cfg.source.stream_arn.clone().unwrap_or_default(),
                    lease_table: cfg.source.lease_table.clone(),
                    owner: owner.clone(),
                    failover: Duration::from_secs(cfg.source.lease_failover_secs),
                    max_in_flight: cfg.source.max_in_flight,
                    initial_position: cfg.source.initial_position.clone(),
                },
            )
            .await
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the Kinesis source");
                    return 1;
                }
            }
        }
    };

    // Readiness: the source polls, the store answers, and we are not shutting down.
    let shutting_down = Arc::new(AtomicBool::new(false));
    let store_ok = Arc::new(AtomicBool::new(false));
    let ready = {
        let (s, sd, ok) = (source.clone(), shutting_down.clone(), store_ok.clone());
        Arc::new(move || {
            let r = !sd.load(Ordering::Relaxed) && ok.load(Ordering::Relaxed) && s.ready();
            metrics().ready.set(r as i64);
            r
        })
    };
    let probe = tokio::spawn(probe_store(store.clone(), store_ok.clone()));

    let listener = match tokio::net::TcpListener::bind(&cfg.server.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, listen = %cfg.server.listen, "cannot listen");
            return 1;
        }
    };
    let header = axum::http::HeaderName::from_bytes(cfg.server.events_secret_header.as_bytes())
        .unwrap_or(axum::http::HeaderName::from_static("x-herald-secret"));
    let state = WorkerState {
        engine: runner.engine.clone(),
        ready: ready.clone(),
        local,
        events_secret: cfg.server.events_secret.clone(),
        events_secret_header: header,
    };
    let (server_stop_tx, mut server_stop_rx) = watch::channel(false);
    let server = tokio::spawn(serve_worker(listener, state, async move {
        let _ = server_stop_rx.changed().await;
    }));
    tracing::info!(
        source = cfg.source.kind.as_str(),
        store = ?cfg.store.kind,
        listen = %cfg.server.listen,
        worker = %owner,
        "herald run: started"
    );
    m.ready.set(1);

    let (stopping_tx, stopping_rx) = watch::channel(false);
    let pump = tokio::spawn(pump(
        source.clone(),
        runner.clone(),
        cfg.source.processors,
        cfg.source.kind != SourceKind::Local,
        stopping_rx,
    ));

    // Wait for a signal (or for the pump to end on its own: the source failed).
    let mut pump = pump;
    let pump_result = tokio::select! {
        _ = shutdown_signal() => None,
        r = &mut pump => Some(r),
    };
    let deadline = Duration::from_secs(cfg.server.shutdown_timeout_secs);
    let started = Instant::now();
    shutting_down.store(true, Ordering::Relaxed);
    let _ = stopping_tx.send(true);
    m.ready.set(0);
    tracing::info!(
        deadline_secs = deadline.as_secs(),
        "shutting down: not ready, polling stops"
    );
    source.stop();
    let drained = tokio::time::timeout(deadline, async {
        if pump_result.is_none() {
            let _ = (&mut pump).await;
        }
        source.drain().await;
    })
    .await;
    let code = match drained {
        Ok(()) => {
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "shutdown complete: in-flight work finished, acks flushed"
            );
            0
        }
        Err(_) => {
            // What did not finish is not acked and comes back to another worker.
            tracing::warn!(
                deadline_secs = deadline.as_secs(),
                "shutdown deadline reached; unfinished messages will be redelivered"
            );
            pump.abort();
            0
        }
    };
    let _ = server_stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    probe.abort();
    code
}

/// The pipeline for `run`: destinations, routing and mode as `replay` builds them, on the
/// given store, with this worker's name and lease in the engine and every sink counted.
/// The enricher `[enrich]` asks for: `None` when it is off and names no account aliases.
/// Herald's own credentials and region come from the SDK's default chain; the reader roles are
/// assumed with them.
async fn enricher(cfg: &Config) -> Result<Option<Arc<Enricher>>, String> {
    let e = &cfg.enrich;
    if !e.enabled && e.aliases.is_empty() {
        return Ok(None);
    }
    let base = aws_config(None).await;
    let enricher = Enricher::new(e.clone(), &base).map_err(|e| e.to_string())?;
    tracing::info!(
        enabled = e.enabled,
        role_arn_template = %e.role_arn_template,
        allowed_accounts = e.allowed_accounts.len(),
        aliases = e.aliases.len(),
        "enrichment"
    );
    Ok(Some(Arc::new(enricher)))
}

fn build_runner(cfg: &Config, store: Arc<dyn Store>, owner: &str) -> Result<Runner, String> {
    let built = replay::runner(&ReplayOptions {
        jsonl: None,
        config: Some(cfg.clone()),
        store: store.clone(),
    })?;
    let engine = Engine::new(
        store,
        EngineConfig {
            cache_size: cfg.correlate.cache_size,
            cache_ttl: Duration::from_secs(cfg.correlate.cache_ttl_secs),
            ttl_secs: cfg.correlate.ttl_days * 86_400,
            lease_secs: cfg.store.delivery_lease_secs,
            owner: owner.to_owned(),
        },
    );
    let sinks: BTreeMap<String, Arc<dyn Sink>> = built
        .sinks
        .iter()
        .map(|(name, sink)| {
            let s: Arc<dyn Sink> = Arc::new(Counted::new(sink.clone()));
            (name.clone(), s)
        })
        .collect();
    Ok(Runner::new(
        Arc::new(engine),
        built.router,
        sinks,
        built.mode,
        built.settle_secs,
    ))
}

/// A sink that counts `herald_notifications_total`, times its requests, and counts each
/// pipeline execution's first delivered final status (`herald_pipeline_executions_total`,
/// `herald_pipeline_duration_seconds`; per worker, so a thread finished by two workers may be
/// counted twice).
struct Counted {
    inner: Arc<dyn Sink>,
    finals: Mutex<std::collections::HashSet<String>>,
}

/// Thread ids remembered for the pipeline counters before the set is cleared.
const FINALS_REMEMBERED: usize = 50_000;

impl Counted {
    fn new(inner: Arc<dyn Sink>) -> Self {
        Self {
            inner,
            finals: Mutex::new(std::collections::HashSet::new()),
        }
    }

    fn count_final(&self, d: &Delivery) {
        let n = &d.notification;
        if !n.is_final || n.kind != crate::notification::Kind::Pipeline {
            return;
        }
        let Some(pipeline) = n.pipeline.as_deref() else {
            return;
        };
        {
            let mut seen = self.finals.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() >= FINALS_REMEMBERED {
                seen.clear();
            }
            if !seen.insert(d.thread.clone()) {
                return;
            }
        }
        let m = metrics();
        m.pipeline_executions
            .with_label_values(&[n.account.as_str(), pipeline, n.status.as_str()])
            .inc();
        if let Some(secs) = n.duration_secs {
            m.pipeline_duration
                .with_label_values(&[n.account.as_str(), pipeline])
                .observe(secs.max(0) as f64);
        }
    }
}

impl Sink for Counted {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = self.inner.deliver(d).await;
            if r.is_ok() {
                self.count_final(d);
            }
            let m = metrics();
            let kind = self.inner.kind();
            m.sink_request_duration
                .with_label_values(&[kind])
                .observe(started.elapsed().as_secs_f64());
            let outcome = if r.is_ok() { "ok" } else { "error" };
            m.notifications
                .with_label_values(&[kind, d.op.as_str(), outcome])
                .inc();
            r
        })
    }

    fn deliver_digest<'a>(
        &'a self,
        d: &'a crate::deliver::DigestDelivery,
    ) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = self.inner.deliver_digest(d).await;
            let m = metrics();
            let kind = self.inner.kind();
            m.sink_request_duration
                .with_label_values(&[kind])
                .observe(started.elapsed().as_secs_f64());
            let outcome = if r.is_ok() { "ok" } else { "error" };
            m.notifications
                .with_label_values(&[kind, "digest", outcome])
                .inc();
            r
        })
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Keeps the readiness flag for the store: a read every 5 s.
async fn probe_store(store: Arc<dyn Store>, ok: Arc<AtomicBool>) {
    loop {
        let r = store.get("herald#readyz").await;
        if let Err(e) = &r {
            tracing::warn!(error = %e, "store not reachable");
        }
        ok.store(r.is_ok(), Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// What a processor gets: one message's events and its ack token.
struct Work {
    id: String,
    events: Vec<Event>,
    token: AckToken,
    /// Received before (an earlier worker may have died while delivering it).
    again: bool,
}

/// Acks waiting for settle windows: each is released once every thread that was waiting when
/// its message was processed has been delivered.
#[derive(Default)]
struct Held {
    entries: Vec<(BTreeSet<String>, AckToken)>,
}

/// The key that keeps every event of one thread on one processor: the pipeline for
/// CodePipeline events and the builds and approvals joined to them, the service for ECS,
/// otherwise the thread itself.
pub fn affinity(ev: &Event) -> String {
    let m = ev.meta();
    let (a, r) = (m.account.as_str(), m.region.as_str());
    match ev {
        Event::PipelineExecution(e) => pointer_key(a, r, &e.pipeline),
        Event::StageExecution(e) => pointer_key(a, r, &e.pipeline),
        Event::ActionExecution(e) => pointer_key(a, r, &e.pipeline),
        Event::EcsDeployment(d) => service_key(a, r, &d.cluster, &d.service),
        Event::EcsTask(t) => match t.group.as_deref().and_then(|g| g.strip_prefix("service:")) {
            Some(s) => service_key(a, r, &t.cluster, s),
            None => String::new(),
        },
        _ => match target(ev) {
            Target::Thread(k) | Target::Pipeline(k) | Target::Service(k) => k,
            Target::None => String::new(),
        },
    }
}

fn shard_of(key: &str, n: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % n.max(1) as u64) as usize
}

/// Takes batches from the source until it ends, decodes, hands messages to processors by
/// affinity, and at the end flushes settle windows and held acks.
pub async fn pump(
    source: Arc<dyn Source>,
    runner: Arc<Runner>,
    processors: usize,
    hold_for_settle: bool,
    stopping: watch::Receiver<bool>,
) {
    let m = metrics();
    let name = source.name();
    let gate = Arc::new(RwLock::new(()));
    let held: Arc<Mutex<Held>> = Arc::default();
    let processors = processors.max(1);
    let mut senders = Vec::with_capacity(processors);
    let mut tasks = Vec::with_capacity(processors);
    for _ in 0..processors {
        let (tx, rx) = mpsc::channel::<Work>(PROCESS_BATCH * 2);
        senders.push(tx);
        tasks.push(tokio::spawn(process_loop(
            rx,
            runner.clone(),
            gate.clone(),
            held.clone(),
            hold_for_settle,
        )));
    }
    let (tick_stop_tx, tick_stop_rx) = watch::channel(false);
    let ticker = tokio::spawn(tick_loop(
        runner.clone(),
        gate.clone(),
        held.clone(),
        tick_stop_rx,
        stopping,
    ));

    while let Some(batch) = source.next_batch().await {
        for env in batch {
            if env.receive_count > 1 {
                m.source_redelivered.with_label_values(&[name]).inc();
            }
            let started = Instant::now();
            let decoded = decode(&env.body);
            m.processing_duration
                .with_label_values(&["decode"])
                .observe(started.elapsed().as_secs_f64());
            match decoded {
                Err(e) => {
                    m.events_discarded.with_label_values(&[e.reason()]).inc();
                    tracing::warn!(message_id = %env.id, receive_count = env.receive_count, reason = e.reason(), error = %e, "message does not decode; left for the dead-letter queue");
                    env.ack.finish(Outcome::Reject);
                }
                Ok(events) => {
                    let now = chrono::Utc::now();
                    for ev in &events {
                        m.events_decoded.with_label_values(&[ev.kind()]).inc();
                        if let Event::Unknown(_) = ev {
                            m.events_discarded
                                .with_label_values(&["unknown_kind"])
                                .inc();
                        }
                        if let Some(t) = ev.meta().time {
                            let lag = (now - t).num_milliseconds() as f64 / 1000.0;
                            m.event_lag
                                .with_label_values(&[] as &[&str])
                                .observe(lag.max(0.0));
                        }
                    }
                    let key = events.first().map(affinity).unwrap_or_default();
                    let shard = shard_of(&key, processors);
                    let work = Work {
                        id: env.id,
                        events,
                        token: env.ack,
                        again: env.receive_count > 1,
                    };
                    if senders[shard].send(work).await.is_err() {
                        tracing::error!("a processor ended early");
                    }
                }
            }
        }
    }
    // The source has stopped and everything it received is with the processors.
    drop(senders);
    for t in tasks {
        let _ = t.await;
    }
    let _ = tick_stop_tx.send(true);
    let _ = ticker.await;
    tracing::info!(source = name, "pump finished");
}

async fn process_loop(
    mut rx: mpsc::Receiver<Work>,
    runner: Arc<Runner>,
    gate: Arc<RwLock<()>>,
    held: Arc<Mutex<Held>>,
    hold_for_settle: bool,
) {
    let m = metrics();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < PROCESS_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let events: Vec<Event> = batch
            .iter()
            .flat_map(|w| w.events.iter().cloned())
            .collect();
        // Threads of messages received again: a worker that died mid-edit may have left their
        // messages showing an older notification, so they are edited again.
        let recheck: BTreeSet<String> = batch
            .iter()
            .filter(|w| w.again)
            .flat_map(|w| crate::correlate::engine::Engine::direct_groups(&w.events).into_keys())
            .collect();
        let started = Instant::now();
        let result = {
            let _shared = gate.read().await;
            runner
                .process_with(&events, crate::source::unix_now(), &recheck)
                .await
        };
        m.processing_duration
            .with_label_values(&["process"])
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(_) => {
                let waiting = if hold_for_settle {
                    runner.waiting()
                } else {
                    BTreeSet::new()
                };
                if waiting.is_empty() {
                    for w in batch {
                        w.token.finish(Outcome::Done);
                    }
                } else {
                    let mut h = held.lock().unwrap_or_else(|p| p.into_inner());
                    for w in batch {
                        h.entries.push((waiting.clone(), w.token));
                    }
                }
            }
            Err(e) => {
                let reason = match &e {
                    crate::app::RunError::Store(s) => s.reason(),
                    crate::app::RunError::Sink { .. } => "sink",
                    crate::app::RunError::NoSink(_) => "no_sink",
                    #[allow(unreachable_patterns)]
                    _ => "other",
                };
                m.processing_errors.with_label_values(&[reason]).inc();
                let ids: Vec<&str> = batch.iter().map(|w| w.id.as_str()).collect();
                tracing::warn!(error = %e, messages = ?ids, "batch failed; its messages will be redelivered");
                for w in batch {
                    w.token.finish(Outcome::Release);
                }
            }
        }
    }
}

/// Every tick: deliver what is due, release acks whose threads were delivered, export store
/// and cache counters. At the end: flush every waiting final message and release the rest.
async fn tick_loop(
    runner: Arc<Runner>,
    gate: Arc<RwLock<()>>,
    held: Arc<Mutex<Held>>,
    mut stop: watch::Receiver<bool>,
    shutting_down: watch::Receiver<bool>,
) {
    let mut last = StatsSnapshot::default();
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(TICK) => *stop.borrow(),
            _ = stop.changed() => true,
        };
        // Once shutdown has begun, settle windows are cut short so held acks (and a Kinesis
        // shard waiting for its records) can finish inside the deadline.
        let flushing = stopping || *shutting_down.borrow();
        let now = crate::source::unix_now();
        let (result, waiting) = {
            let _exclusive = gate.write().await;
            let r = if flushing {
                runner.flush(now).await
            } else {
                runner.deliver_due(now).await
            };
            (r, runner.waiting())
        };
        let release: Vec<(AckToken, Outcome)> = {
            let mut h = held.lock().unwrap_or_else(|p| p.into_inner());
            let entries = std::mem::take(&mut h.entries);
            let mut out = Vec::new();
            for (mut keys, token) in entries {
                match &result {
                    Err(_) => out.push((token, Outcome::Release)),
                    Ok(_) => {
                        keys.retain(|k| waiting.contains(k));
                        if keys.is_empty() || stopping {
                            let o = if keys.is_empty() {
                                Outcome::Done
                            } else {
                                Outcome::Release
                            };
                            out.push((token, o));
                        } else {
                            h.entries.push((keys, token));
                        }
                    }
                }
            }
            out
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, "delivering settled messages failed; their messages will be redelivered");
            metrics()
                .processing_errors
                .with_label_values(&["deliver"])
                .inc();
        }
        for (token, o) in release {
            token.finish(o);
        }
        last = export_stats(&runner.engine, last);
        if stopping {
            return;
        }
    }
}

#[derive(Default, Clone, Copy)]
struct StatsSnapshot {
    reads: u64,
    writes: u64,
    conflicts: u64,
    hits: u64,
    misses: u64,
}

fn export_stats(engine: &Engine, last: StatsSnapshot) -> StatsSnapshot {
    let s = &engine.stats;
    let now = StatsSnapshot {
        reads: s.get(&s.store_reads),
        writes: s.get(&s.store_writes),
        conflicts: s.get(&s.conflicts),
        hits: s.get(&s.cache_hits),
        misses: s.get(&s.cache_misses),
    };
    let m = metrics();
    let d = |a: u64, b: u64| a.saturating_sub(b);
    m.store_requests
        .with_label_values(&["get", "ok"])
        .inc_by(d(now.reads, last.reads));
    let conflicts = d(now.conflicts, last.conflicts);
    m.store_requests
        .with_label_values(&["put", "ok"])
        .inc_by(d(now.writes, last.writes).saturating_sub(conflicts));
    m.store_requests
        .with_label_values(&["put", "conflict"])
        .inc_by(conflicts);
    m.cache_lookups
        .with_label_values(&["hit"])
        .inc_by(d(now.hits, last.hits));
    m.cache_lookups
        .with_label_values(&["miss"])
        .inc_by(d(now.misses, last.misses));
    m.threads_active.set(engine.cached_threads() as f64);
    now
}
