//! The pipeline wired from its stages: decode → correlate → route → render/deliver, with the
//! settle window for final messages. `replay`, `demo` and (later) `run` all drive this.

pub mod sinks;

use crate::config::Mode;
use crate::correlate::engine::Engine;
use crate::correlate::Thread;
use crate::deliver::{Delivery, MessageRef, Op, Sink, SinkError};
use crate::event::Event;
use crate::notification::Notification;
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
    /// Adds what AWS APIs know (failure reason, log tail, author) before delivery.
    enricher: Option<Arc<crate::enrich::Enricher>>,
}

/// What [`Runner::edit_in_place`] did with a thread's events.
enum InPlace {
    /// Nothing: the usual path applies them.
    NotEligible,
    /// Applied, edited and written.
    Done(Delivered),
    /// Applied and written with unsure destinations; the usual path delivers.
    Handed(Delivered),
}

/// Lost races an edit in place tries before it hands the thread to the lease.
const MAX_IN_PLACE: usize = 4;

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
        }
    }

    /// Enriches notifications between correlate and route, for threads about to be delivered.
    pub fn with_enricher(mut self, enricher: Arc<crate::enrich::Enricher>) -> Self {
        self.enricher = Some(enricher);
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
        let wants = |t: &Thread, note: &Notification| self.has_work(t, note);
        let mut total = Delivered::default();
        let mut done = BTreeSet::new();
        let mut handed = Vec::new();
        // On a shared store, a change that only edits messages is delivered first and written
        // once with what it delivered (see `edit_in_place`).
        if !self.engine.in_process() {
            for (key, evs) in Engine::direct_groups(events) {
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
        }
        let changed = self.engine.apply_batch(events, now, &wants, &done).await?;
        for key in changed.into_iter().chain(handed) {
            let d = self.deliver_key(&key, now, false).await?;
            total.posts += d.posts;
            total.updates += d.updates;
        }
        Ok(total)
    }

    /// Applies a thread's events and, when all they leave to do is edit messages already
    /// posted, edits them before writing: the one conditional write then records the change and
    /// the edits together (a delivery under the lease costs two writes: take it, then record
    /// and release). Only when nobody holds the lease (it guards posts), the settle window is
    /// not running, and every destination has its message.
    ///
    /// A lost race means another worker wrote meanwhile and this worker's edits may have
    /// reached the provider after its own: it drafts again from the winner's state and edits
    /// again, until a write holds. A crash before the write leaves the messages unacknowledged,
    /// and their redelivery edits again (`again`: every posted message of the thread is edited,
    /// whatever the events change); a post is never made here, so nothing is posted twice.
    async fn edit_in_place(
        &self,
        key: &str,
        evs: &[&Event],
        now: i64,
        again: bool,
    ) -> Result<InPlace, RunError> {
        // Destinations whose message may not show the stored notification: edited by this call
        // and not yet recorded by a write that held, or (`again`) edited by a worker that died.
        let mut edited: BTreeSet<String> = BTreeSet::new();
        let mut total = Delivered::default();
        for attempt in 0..MAX_IN_PLACE {
            let draft = self.engine.draft(key).await?;
            if let (0, true, Some((_, thread))) = (attempt, again, &draft) {
                edited.extend(
                    thread
                        .deliveries
                        .iter()
                        .filter(|(_, r)| r.message.is_some())
                        .map(|(d, _)| d.clone()),
                );
            }
            let Some((version, mut thread)) = draft else {
                // A new thread: its first message is a post, under the lease. Created here, as
                // the store was just read and had none.
                let wants = |t: &Thread, note: &Notification| self.has_work(t, note);
                self.engine
                    .apply_direct(key, evs, now, &wants, &edited, true)
                    .await?;
                return Ok(InPlace::Handed(total));
            };
            let mut changed = false;
            for ev in evs {
                changed |= thread.apply(ev);
            }
            let note = match (changed, edited.is_empty()) {
                (false, true) => return Ok(InPlace::NotEligible),
                (true, true) => thread.refresh(now),
                // Edited before a lost race: the messages need the current notification even
                // if these events change nothing any more.
                (_, false) => thread.refresh(now).or_else(|| thread.notification()),
            };
            let Some(mut note) = note else {
                return self.hand_over(key, evs, &edited, now, total).await;
            };
            let wanted = self.wanted(&thread, &note);
            let mut targets: Vec<String> = wanted
                .iter()
                .filter(|d| thread.is_behind(d))
                .map(|d| d.to_string())
                .collect();
            for d in &edited {
                if wanted.contains(&d.as_str()) && !targets.contains(d) {
                    targets.push(d.clone());
                }
            }
            let settling =
                note.is_final && now < thread.final_since.unwrap_or(now) + self.settle_secs;
            let eligible = !targets.is_empty()
                && !settling
                && thread.lease.as_ref().is_none_or(|l| l.until <= now)
                && targets.iter().all(|d| {
                    self.sinks.contains_key(d)
                        && thread
                            .deliveries
                            .get(d)
                            .is_some_and(|r| r.message.is_some())
                });
            if !eligible {
                return self.hand_over(key, evs, &edited, now, total).await;
            }
            thread.lease = None;
            if let Some(enricher) = &self.enricher {
                if let Some(found) = enricher
                    .enrich(key, &thread, &mut note, thread.enrichment.as_ref())
                    .await
                {
                    thread.enrichment = Some(found);
                }
            }
            let message_id = thread.message_id(key);
            for dest in &targets {
                let (Some(sink), Some(rec)) =
                    (self.sinks.get(dest), thread.deliveries.get_mut(dest))
                else {
                    continue;
                };
                let delivery = Delivery {
                    op: Op::Update,
                    thread: message_id.clone(),
                    destination: dest.clone(),
                    notification: note.clone(),
                    message: rec.message.clone(),
                };
                match sink.deliver(&delivery).await {
                    Ok(reference) => {
                        edited.insert(dest.clone());
                        total.updates += 1;
                        rec.seq = thread.seq;
                        rec.message = Some(crate::deliver::retry::kept_reference(
                            rec.message.take(),
                            reference,
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(
                            thread = key,
                            destination = %dest,
                            op = ?Op::Update,
                            error = %e,
                            "not delivered; left for redelivery"
                        );
                        // Keep the change (the edits already made are marked unsure).
                        self.hand_over(key, evs, &edited, now, Delivered::default())
                            .await?;
                        return Err(RunError::Sink {
                            destination: dest.clone(),
                            source: e,
                        });
                    }
                }
            }
            if self
                .engine
                .commit(key, version, thread, now)
                .await?
                .is_some()
            {
                self.pending().remove(key);
                return Ok(InPlace::Done(total));
            }
        }
        self.hand_over(key, evs, &edited, now, total).await
    }

    /// Leaves a thread to the usual path (write, then deliver under the lease). When this
    /// worker already edited some of its messages, writes the events now with those
    /// destinations marked unsure, so they are edited again.
    async fn hand_over(
        &self,
        key: &str,
        evs: &[&Event],
        edited: &BTreeSet<String>,
        now: i64,
        total: Delivered,
    ) -> Result<InPlace, RunError> {
        if edited.is_empty() {
            return Ok(InPlace::NotEligible);
        }
        let wants = |t: &Thread, note: &Notification| self.has_work(t, note);
        self.engine
            .apply_direct(key, evs, now, &wants, edited, false)
            .await?;
        Ok(InPlace::Handed(total))
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

    /// The destinations a notification should be at now, given routing and the mode.
    fn wanted(&self, thread: &Thread, note: &Notification) -> Vec<&str> {
        let routed = self.router.destinations(note);
        match self.mode {
            Mode::Progress => routed,
            // final_only posts nothing before the end, but keeps editing what it posted.
            Mode::FinalOnly => routed
                .into_iter()
                .filter(|d| {
                    note.is_final
                        || thread
                            .deliveries
                            .get(*d)
                            .is_some_and(|r| r.message.is_some())
                })
                .collect(),
        }
    }

    /// The destinations whose message is missing or behind the thread's notification.
    fn behind(&self, thread: &Thread, note: &Notification) -> Vec<&str> {
        let mut wanted = self.wanted(thread, note);
        wanted.retain(|d| thread.is_behind(d));
        wanted
    }

    /// Whether some destination's message is missing or behind the thread's notification.
    pub fn has_work(&self, thread: &Thread, note: &Notification) -> bool {
        self.wanted(thread, note)
            .iter()
            .any(|d| thread.is_behind(d))
    }

    /// Brings every destination of a thread up to date with its notification, under the
    /// thread's delivery lease so that edits reach the provider in order and a message is
    /// posted once. Loops: after recording, it re-reads and sends what other workers changed
    /// meanwhile (they left it to the lease holder).
    pub async fn deliver_key(
        &self,
        key: &str,
        now: i64,
        flush: bool,
    ) -> Result<Delivered, RunError> {
        let mut total = Delivered::default();
        let wants = |t: &Thread, note: &Notification| self.has_work(t, note);
        for _ in 0..8 {
            let Some((mut basis, mut thread)) = self.engine.load(key).await? else {
                break;
            };
            // final_only before the end, with nothing posted: no work, and no need to build the
            // notification to find that out (most events of a replay land here).
            if self.mode == Mode::FinalOnly
                && thread.final_since.is_none()
                && thread.deliveries.is_empty()
            {
                break;
            }
            let fresh = self.engine.take_fresh(key, thread.note_hash);
            let Some(mut note) = fresh.or_else(|| thread.notification()) else {
                break;
            };
            let mut behind = self.behind(&thread, &note);
            if behind.is_empty() {
                if self.engine.holds(&thread, now) {
                    self.engine.release(key, now).await?;
                }
                break;
            }
            if note.is_final && !flush {
                let due = thread.final_since.unwrap_or(now) + self.settle_secs;
                if now < due {
                    // The lease (if ours) is kept through the window; it outlives it.
                    self.pending().insert(key.to_owned(), due);
                    break;
                }
            }
            self.pending().remove(key);
            if !self.engine.holds(&thread, now) {
                match self.engine.acquire(key, now, &wants).await? {
                    Some((v, t)) => (basis, thread) = (v, t),
                    // Someone else holds the lease and will deliver, or nothing is left to do.
                    None => break,
                }
                // The thread as of the lease may be newer than the one loaded.
                note = match thread.notification() {
                    Some(n) => n,
                    None => break,
                };
                behind = self.behind(&thread, &note);
            }
            // Enrichment runs only here, for a thread about to be delivered, bounded by its own
            // deadline; what it learns is stored with the thread so it is fetched once.
            if let Some(enricher) = &self.enricher {
                if let Some(found) = enricher
                    .enrich(key, &thread, &mut note, thread.enrichment.as_ref())
                    .await
                {
                    if let Some((v, t, _)) = self
                        .engine
                        .update_at(
                            key,
                            now,
                            || None,
                            |t, _| {
                                let new = t.enrichment.as_ref() != Some(&found);
                                if new {
                                    t.enrichment = Some(found.clone());
                                }
                                new
                            },
                        )
                        .await?
                    {
                        (basis, thread) = (v, t);
                    }
                }
                // What enrichment added may route the notification elsewhere.
                behind = self.behind(&thread, &note);
            }
            // What each destination shows now, taken out so the thread itself can be let go:
            // the in-process store then records in place instead of copying a shared thread.
            let work: Vec<(&str, Option<MessageRef>)> = behind
                .into_iter()
                .map(|d| {
                    let shown = thread.deliveries.get(d).and_then(|r| r.message.clone());
                    (d, shown)
                })
                .collect();
            let (seq, mut message_id) = (thread.seq, thread.message_id(key));
            drop(thread);
            let mut note = Some(note);
            let mut recorded = None;
            let count = work.len();
            for (i, (dest, existing)) in work.into_iter().enumerate() {
                let last = i + 1 == count;
                let sink = match self.sinks.get(dest) {
                    Some(s) => s,
                    None => {
                        self.engine.release(key, now).await?;
                        return Err(RunError::NoSink(dest.to_owned()));
                    }
                };
                let op = if existing.is_some() {
                    Op::Update
                } else {
                    Op::Post
                };
                // The last destination takes the notification itself, the others a copy.
                let notification = match (last, &mut note) {
                    (true, n) => n.take(),
                    (false, n) => n.clone(),
                };
                let Some(notification) = notification else {
                    break;
                };
                let delivery = Delivery {
                    op,
                    thread: if last {
                        std::mem::take(&mut message_id)
                    } else {
                        message_id.clone()
                    },
                    destination: dest.to_owned(),
                    notification,
                    message: existing,
                };
                match sink.deliver(&delivery).await {
                    Ok(reference) => {
                        let reference =
                            crate::deliver::retry::kept_reference(delivery.message, reference);
                        recorded = self
                            .engine
                            .record(key, dest, seq, reference, last, basis, now)
                            .await?;
                        if let Some((v, _)) = &recorded {
                            basis = *v;
                        }
                        match op {
                            Op::Post => total.posts += 1,
                            _ => total.updates += 1,
                        }
                    }
                    Err(e) => {
                        tracing::warn!(
                            thread = key,
                            destination = %dest,
                            op = ?op,
                            error = %e,
                            "not delivered; left for redelivery"
                        );
                        self.engine.release(key, now).await?;
                        return Err(RunError::Sink {
                            destination: dest.to_owned(),
                            source: e,
                        });
                    }
                }
            }
            // Done, unless the thread moved on while this worker delivered (the record's
            // write re-reads on a lost race, so it shows what other workers changed) or a
            // destination was marked unsure meanwhile: then go round again.
            if recorded
                .is_some_and(|(_, t)| t.seq == seq && !self.engine.holds(&t, now) && !t.unsure())
            {
                break;
            }
        }
        Ok(total)
    }
}
