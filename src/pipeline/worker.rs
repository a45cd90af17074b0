//! The worker's loop: batches from the source through the [`Runner`], each message's ack
//! token finished only once every outcome it caused is durable, final messages held for their
//! settle window.
//!
//! Inside one worker, messages are spread over `processors` tasks by *affinity* (the pipeline,
//! ECS service, alarm or build an event belongs to), so no two tasks of one worker ever work on
//! the same thread at once; the settle-window ticker takes a write lock that excludes them all.

use super::Runner;
use crate::clock::Clock;
use crate::correlate::engine::Engine;
use crate::correlate::{pointer_key, service_key, target, Target};
use crate::event::{decode, Event};
use crate::shutdown::Shutdown;
use crate::source::{AckToken, Outcome, Source};
use crate::telemetry::metrics;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;
use tokio::sync::{mpsc, watch, RwLock};

/// Messages one processor takes into a single `Runner::process` call at most. Events of one
/// thread in one call cost one store write (see `[source] batch_window_ms`).
const PROCESS_BATCH: usize = 50;

/// How often settle windows are checked and held acks released.
const TICK: Duration = Duration::from_millis(500);

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
/// affinity, and at the end flushes settle windows and held acks. `now` is read from `clock`.
/// A processor that receives a message waits up to `batch_window` for more before it
/// processes them together (at most 50).
#[allow(clippy::too_many_arguments)]
pub async fn pump(
    source: Arc<dyn Source>,
    runner: Arc<Runner>,
    processors: usize,
    batch_window: Duration,
    hold_for_settle: bool,
    shutdown: Shutdown,
    clock: Clock,
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
            batch_window,
            runner.clone(),
            gate.clone(),
            held.clone(),
            hold_for_settle,
            clock,
        )));
    }
    // Not a stop signal: the ticker's cue that the processors are done, for its last flush.
    let (processors_done, done_rx) = watch::channel(false);
    let ticker = tokio::spawn(tick_loop(
        runner.clone(),
        gate.clone(),
        held.clone(),
        done_rx,
        shutdown,
        clock,
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
    let _ = processors_done.send(true);
    let _ = ticker.await;
    tracing::info!(source = name, "pump finished");
}

async fn process_loop(
    mut rx: mpsc::Receiver<Work>,
    batch_window: Duration,
    runner: Arc<Runner>,
    gate: Arc<RwLock<()>>,
    held: Arc<Mutex<Held>>,
    hold_for_settle: bool,
    clock: Clock,
) {
    let m = metrics();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        // Up to the batching window for more (a thread's events of one call cost one write),
        // unless the batch fills first.
        let until = tokio::time::Instant::now() + batch_window;
        while batch.len() < PROCESS_BATCH {
            let next = match rx.try_recv() {
                Ok(w) => Some(w),
                Err(_) if batch_window.is_zero() => None,
                Err(_) => tokio::time::timeout_at(until, rx.recv())
                    .await
                    .ok()
                    .flatten(),
            };
            match next {
                Some(w) => batch.push(w),
                None => break,
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
            runner.process_with(&events, clock.now(), &recheck).await
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
                    crate::pipeline::RunError::Store(s) => s.reason(),
                    crate::pipeline::RunError::Sink { .. } => "sink",
                    crate::pipeline::RunError::NoSink(_) => "no_sink",
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

/// Every tick: fire due timers, deliver what is due, release acks whose threads were delivered, export store
/// and cache counters. At the end: flush every waiting final message and release the rest.
async fn tick_loop(
    runner: Arc<Runner>,
    gate: Arc<RwLock<()>>,
    held: Arc<Mutex<Held>>,
    mut stop: watch::Receiver<bool>,
    shutdown: Shutdown,
    clock: Clock,
) {
    let mut last = StatsSnapshot::default();
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(TICK) => *stop.borrow(),
            _ = stop.changed() => true,
        };
        // Once shutdown has begun, settle windows are cut short so held acks (and a Kinesis
        // shard waiting for its records) can finish inside the deadline.
        let flushing = stopping || shutdown.is_triggered();
        let now = clock.now();
        let (result, waiting) = {
            let _exclusive = gate.write().await;
            let r = if flushing {
                runner.flush(now).await
            } else {
                // Timers first: what they change is delivered by the same tick. A timer whose
                // work fails is set again for a minute later (`Runner::fire_due` logs and
                // counts it); it holds no source message.
                if let Err(e) = runner.fire_due(now).await {
                    tracing::debug!(error = %e, "some due timers failed");
                }
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
            tracing::warn!(error = %e, "delivering settled messages failed; they are tried again (their source messages come again, or, on DynamoDB, their threads' timers fire)");
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
