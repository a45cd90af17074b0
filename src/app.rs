//! The pipeline wired from its stages: decode → correlate → route → render/deliver, with the
//! settle window for final messages. `replay`, `demo` and (later) `run` all drive this.

use crate::config::Mode;
use crate::correlate::engine::{Engine, Plan};
use crate::deliver::{Delivery, Op, Sink, SinkError};
use crate::event::Event;
use crate::route::Router;
use crate::store::StoreError;
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
}

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
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, i64>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a batch and delivers what is due now; final messages inside their settle window
    /// are remembered and sent by [`Runner::deliver_due`] or [`Runner::flush`].
    pub async fn process(&self, events: &[Event], now: i64) -> Result<Delivered, RunError> {
        let changed = self.engine.apply_batch(events, now).await?;
        let mut total = Delivered::default();
        for key in changed {
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

    /// Sends every waiting final message now (end of a replay, shutdown).
    pub async fn flush(&self, now: i64) -> Result<Delivered, RunError> {
        let keys: Vec<String> = self.pending().keys().cloned().collect();
        self.deliver_keys(keys, now, true).await
    }

    pub fn waiting(&self) -> BTreeSet<String> {
        self.pending().keys().cloned().collect()
    }

    async fn deliver_keys(
        &self,
        keys: Vec<String>,
        now: i64,
        flush: bool,
    ) -> Result<Delivered, RunError> {
        let mut total = Delivered::default();
        for key in keys {
            let d = self.deliver_key(&key, now, flush).await?;
            total.posts += d.posts;
            total.updates += d.updates;
        }
        Ok(total)
    }

    /// Brings every destination of a thread up to date with its notification. Loops until no
    /// destination has anything to do, so changes that landed while we posted are sent too.
    pub async fn deliver_key(
        &self,
        key: &str,
        now: i64,
        flush: bool,
    ) -> Result<Delivered, RunError> {
        let mut total = Delivered::default();
        for _ in 0..8 {
            let Some((_, thread)) = self.engine.load(key).await? else {
                break;
            };
            let Some(note) = thread.notification() else {
                break;
            };
            let posted_anywhere = !thread.deliveries.is_empty();
            if self.mode == Mode::FinalOnly && !note.is_final && !posted_anywhere {
                break;
            }
            if note.is_final && !flush {
                let due = thread.final_since.unwrap_or(now) + self.settle_secs;
                if now < due {
                    self.pending().insert(key.to_owned(), due);
                    break;
                }
            }
            self.pending().remove(key);
            let routed = self.router.route(&note);
            let mut acted = false;
            for dest in &routed.destinations {
                let sink = self
                    .sinks
                    .get(dest)
                    .ok_or_else(|| RunError::NoSink(dest.clone()))?;
                let (op, seq, message, note) = match self.engine.plan(key, dest, now).await? {
                    Plan::Nothing => continue,
                    Plan::Post { seq, note } => (Op::Post, seq, None, note),
                    Plan::Update { seq, message, note } => (Op::Update, seq, Some(message), note),
                };
                let delivery = Delivery {
                    op,
                    thread: thread.message_id(key),
                    destination: dest.clone(),
                    notification: *note,
                    message: message.clone(),
                };
                match sink.deliver(&delivery).await {
                    Ok(reference) => {
                        // An edit keeps the message's original reference.
                        let reference = message.unwrap_or(reference);
                        self.engine.record(key, dest, seq, reference, now).await?;
                        match op {
                            Op::Post => total.posts += 1,
                            _ => total.updates += 1,
                        }
                        acted = true;
                    }
                    Err(e) => {
                        if op == Op::Post {
                            self.engine.release_claim(key, dest, now).await?;
                        }
                        return Err(RunError::Sink {
                            destination: dest.clone(),
                            source: e,
                        });
                    }
                }
            }
            if !acted {
                break;
            }
        }
        Ok(total)
    }
}
