//! The pipeline: one batch of inputs through correlate → enrich → route → render/deliver,
//! and the settle window that holds final messages (`Runner`). Each concern has its file:
//! `delivery.rs` is the delivery protocol (claim, post, record, release), `in_place.rs` the
//! edit of messages already posted written with the change it shows. `replay`, `demo`,
//! `route-test` and `run` all drive a [`Runner`] that [`crate::app`] builds.

mod delivery;
mod in_place;
pub mod worker;

use crate::config::Mode;
use crate::correlate::engine::Engine;
use crate::correlate::Fired;
use crate::deliver::{Sink, SinkError};
use crate::event::Event;
use crate::route::Router;
use crate::store::StoreError;
use in_place::InPlace;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{destination}: {source}")]
    Sink {
        destination: String,
        source: SinkError,
    },
    #[error("no sink configured for destination {0:?}")]
    NoSink(String),
}

pub struct Runner {
    pub engine: Arc<Engine>,
    pub router: Router,
    pub sinks: BTreeMap<String, Arc<dyn Sink>>,
    pub mode: Mode,
    pub settle_secs: i64,
    /// Threads whose final message waits for its settle window, with when it is due.
    pending: std::sync::Mutex<BTreeMap<String, i64>>,
    /// Adds what AWS APIs know (failure reason, log tail, author) before delivery.
    enricher: Option<Arc<crate::enrich::Enricher>>,
    /// Whether deliveries under a lease are fenced by it (`now` is the wall clock).
    fence: bool,
    /// People can act from Slack messages (`[actions]`): Discord and Teams messages link to
    /// the Slack message while something can be done.
    pub(crate) act_links: bool,
    /// When a shared store's timers are next looked for (Unix seconds): at most every
    /// [`TIMER_POLL_SECS`], a `Query` of DynamoDB's `wake` index each time.
    next_timer_poll: std::sync::atomic::AtomicI64,
}

/// How often a worker on a shared store looks for due timers (the in-process store's are
/// looked up on every tick, in memory).
pub const TIMER_POLL_SECS: i64 = 10;

/// How long one look fires timers at most (`herald run` fires them under the ticker's
/// exclusive gate).
const TIMER_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// How long after a timer's work failed it is tried again.
const TIMER_RETRY_SECS: i64 = 60;

/// Timers fired at most per look: `herald run` fires them under the ticker's exclusive gate
/// (a processor may hold the same thread), so a burst of stalls (after an outage) is told a
/// few at a time rather than holding every processor for the length of a chat budget.
const TIMER_BATCH: usize = 16;

/// Counts of what a run delivered, by op.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub posts: u64,
    pub updates: u64,
}

impl Runner {
    pub fn new(
        engine: Arc<Engine>,
        router: Router,
        sinks: BTreeMap<String, Arc<dyn Sink>>,
        mode: Mode,
        settle_secs: i64,
    ) -> Self {
        Self {
            engine,
            router,
            sinks,
            mode,
            settle_secs,
            pending: std::sync::Mutex::new(BTreeMap::new()),
            enricher: None,
            fence: false,
            act_links: false,
            next_timer_poll: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    /// Enriches notifications between correlate and route, for threads about to be delivered.
    pub fn with_enricher(mut self, enricher: Arc<crate::enrich::Enricher>) -> Self {
        self.enricher = Some(enricher);
        self
    }

    /// Fences every provider attempt made under a thread's delivery lease by that lease's end on
    /// the wall clock (`deliver::fence`): for `herald run`, whose `now` is the wall clock. Replay
    /// runs on the events' clock and has no other worker to fence against.
    pub fn with_lease_fence(mut self) -> Self {
        self.fence = true;
        self
    }

    /// See [`Runner::act_links`].
    pub fn with_act_links(mut self, on: bool) -> Self {
        self.act_links = on;
        self
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, i64>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a batch and delivers what is due now; final messages inside their settle window
    /// are remembered and sent by [`Runner::deliver_due`] or [`Runner::flush`].
    pub async fn process(&self, events: &[Event], now: i64) -> Result<Delivered, RunError> {
        self.process_with(events, now, &BTreeSet::new()).await
    }

    /// [`Runner::process`], editing again every posted message of the threads in `recheck`
    /// (those of messages received again: the worker that had them may have died between an
    /// edit and its write, leaving a message that shows an older notification).
    pub async fn process_with(
        &self,
        events: &[Event],
        now: i64,
        recheck: &BTreeSet<String>,
    ) -> Result<Delivered, RunError> {
        let mut total = Delivered::default();
        let mut done = BTreeSet::new();
        let mut handed = Vec::new();
        // The pipeline pointers first: what reaches an execution through them (its builds) is
        // applied with the execution's own events, in one write.
        let joined = self.engine.join_pipelines(events, now).await?;
        // A change that only edits messages may be delivered first and written once with what
        // it delivered (see `edit_in_place`); the engine says which threads may.
        for (key, evs) in self.engine.in_place_groups(events, &joined) {
            let again = recheck.contains(&key);
            match self.edit_in_place(&key, &evs, now, again).await? {
                InPlace::NotEligible => {}
                InPlace::Done(d) => {
                    total.updates += d.updates;
                    done.insert(key);
                }
                InPlace::Handed(d) => {
                    total.updates += d.updates;
                    done.insert(key.clone());
                    handed.push(key);
                }
            }
        }
        let changed = self
            .engine
            .apply_joined(events, joined, now, self, &done)
            .await?;
        for key in changed.into_iter().chain(handed) {
            let d = self.deliver_key(&key, now, false).await?;
            total.posts += d.posts;
            total.updates += d.updates;
        }
        Ok(total)
    }

    /// Sends the final messages whose settle window has passed.
    pub async fn deliver_due(&self, now: i64) -> Result<Delivered, RunError> {
        let due: Vec<String> = self
            .pending()
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        self.deliver_keys(due, now, false).await
    }

    /// Fires the threads' timers due at `now` (stall alerts) and delivers what they changed:
    /// a timer is an input like an event, and the pure core ([`crate::correlate::Thread::tick`])
    /// decides what it changes. On a shared store, looks at most every [`TIMER_POLL_SECS`].
    pub async fn fire_due(&self, now: i64) -> Result<Delivered, RunError> {
        use std::sync::atomic::Ordering;
        let local = self.engine.timers_pending();
        if let Some(n) = local {
            crate::telemetry::metrics().timers_pending.set(n as i64);
        } else if self.next_timer_poll.load(Ordering::Relaxed) > now {
            return Ok(Delivered::default());
        }
        let due = self.engine.due(now, TIMER_BATCH).await?;
        if local.is_none() && due.len() < TIMER_BATCH {
            // A full batch looks again at the next tick: more may be due.
            self.next_timer_poll
                .store(now + TIMER_POLL_SECS, Ordering::Relaxed);
        }
        self.fire_keys(due, now).await
    }

    /// Fires the timers of `due` (keys found due at `now`) and delivers what they changed,
    /// for at most [`TIMER_BUDGET`].
    async fn fire_keys(&self, due: Vec<String>, now: i64) -> Result<Delivered, RunError> {
        let m = crate::telemetry::metrics();
        let mut total = Delivered::default();
        let mut failed = None;
        let started = tokio::time::Instant::now();
        for key in due {
            if started.elapsed() > TIMER_BUDGET {
                // The rest stay due for the next look: processors wait while timers fire.
                break;
            }
            // One thread's trouble (a store error, a chat provider down) holds no other timer:
            // its timer is set again for a little later, and the next one goes on.
            match self.fire_one(&key, now).await {
                Ok(d) => {
                    total.posts += d.posts;
                    total.updates += d.updates;
                }
                Err(e) => {
                    tracing::warn!(thread = %key, error = %e, "a timer's work failed; tried again in {TIMER_RETRY_SECS} s");
                    m.processing_errors.with_label_values(&["timer"]).inc();
                    if let Err(e) = self
                        .engine
                        .retry_at(&key, now + TIMER_RETRY_SECS, now)
                        .await
                    {
                        tracing::warn!(thread = %key, error = %e, "cannot set the timer again");
                    }
                    failed = Some(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// Fires every timer due at `now` on a shared store, whatever the poll interval, look
    /// after look until none is left (a replay on DynamoDB, whose store cannot say when its
    /// next timer is). A no-op on the in-process store, whose timers the caller steps through.
    pub async fn fire_all_due(&self, now: i64) -> Result<Delivered, RunError> {
        let mut total = Delivered::default();
        if self.engine.in_process() {
            return Ok(total);
        }
        let mut last: Vec<String> = Vec::new();
        for _ in 0..10_000 {
            let due = self.engine.due(now, TIMER_BATCH).await?;
            // Nothing due, or the same as last time (nothing fired: an index entry not yet
            // caught up with its item): done.
            if due.is_empty() || due == last {
                break;
            }
            let d = Box::pin(self.fire_keys(due.clone(), now)).await?;
            total.posts += d.posts;
            total.updates += d.updates;
            last = due;
        }
        Ok(total)
    }

    /// One due timer: fired by the thread's own write, healed when it stalled and AWS can
    /// say how it ended, then delivered.
    async fn fire_one(&self, key: &str, now: i64) -> Result<Delivered, RunError> {
        let m = crate::telemetry::metrics();
        let mut total = Delivered::default();
        let (fired, released) = self.engine.tick(key, now, self).await?;
        let Some((fired, late)) = fired else {
            // Another worker fired it first, or an event moved it; what this one released
            // (and so may hold the delivery of) is told.
            return self.deliver_keys(released, now, false).await;
        };
        m.timers_fired.with_label_values(&[fired.as_str()]).inc();
        m.timer_lag
            .with_label_values(&[] as &[&str])
            .observe(late as f64);
        // Self-healing: a stalled execution whose last events were lost is told what AWS
        // says of it now, as if those events had come (a final state clears the stall).
        if let (Fired::Stalled, Some(enricher)) = (fired, &self.enricher) {
            if let Some((_, thread)) = self.engine.load(key).await? {
                if let Some(events) = enricher.heal(&thread, now).await {
                    let d = self.process(&events, now).await?;
                    total.posts += d.posts;
                    total.updates += d.updates;
                }
            }
        }
        // A service pointer's timer releases held crashes to other threads: those are told.
        let keys = if released.is_empty() {
            vec![key.to_owned()]
        } else {
            released
        };
        let d = self.deliver_keys(keys, now, false).await?;
        total.posts += d.posts;
        total.updates += d.updates;
        Ok(total)
    }

    /// Sends every waiting final message now (end of a replay, shutdown).
    pub async fn flush(&self, now: i64) -> Result<Delivered, RunError> {
        let keys: Vec<String> = self.pending().keys().cloned().collect();
        self.deliver_keys(keys, now, true).await
    }

    /// When the soonest waiting final message is due.
    pub fn next_settle(&self) -> Option<i64> {
        self.pending().values().min().copied()
    }

    pub fn waiting(&self) -> BTreeSet<String> {
        self.pending().keys().cloned().collect()
    }
}
