//! The digest stage, in front of a chat destination: when more new posts wait for the
//! destination than `threshold`, the next ones are not posted one by one (at Slack's one a
//! second, 500 failures would take eight minutes and bury the channel) but folded into one
//! digest message that lists every thread with its status and link. Each folded thread's
//! message reference points at the digest, so its later updates edit its line in the digest
//! instead of posting.
//!
//! How it works, per destination:
//!
//! - New posts queue at a gate (one post to the provider at a time; the limiter behind spaces
//!   them). The destination is crowded when a post finds `threshold` others already waiting,
//!   or when `threshold` posts in a row have found it busy (others waiting, or its budget spent
//!   for the moment: [`super::limiter::Limiter::busy`]). A worker with few tasks in flight
//!   (`herald run` has `source.processors`) never has many posts waiting at once, its backlog
//!   is in the queue, so a run of posts the destination cannot keep up with is how a storm
//!   shows there; a post that finds it idle ends the run. A crowded destination opens a digest; from then on every
//!   new post, and every post still queued when its turn comes, folds into it.
//! - The digest stays open while posts keep coming: it closes once none has been folded in for
//!   `quiet_secs`, and when it is full (as many threads as the provider shows in one message,
//!   [`crate::render::digest::budget`]) the next post opens a new one.
//! - Sends are group commits: a folded post returns once a send that includes it succeeded; the
//!   first waiter sends, whoever arrives meanwhile rides on the next send, and sends of one
//!   digest are at least `interval_ms` apart. A failed send fails every post it carried (they
//!   stay in the queue for redelivery; nothing is acknowledged that was not shown).
//! - Slack, Discord and webhooks edit the digest in place; Teams and Amazon Q cannot edit, so
//!   each send there is a new message with the threads that changed since the previous one.
//!
//! What a digest holds lives in this worker's memory. An update for a thread folded into a
//! digest this worker does not hold (another worker folded it, or this one restarted) is posted
//! as the thread's own message once, and edited there after that.

use super::{Delivery, DigestDelivery, MessageRef, Op, Sink, SinkError};
use crate::render::digest::{budget, edits_in_place, Budget, DigestEntry, DigestView};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestConfig {
    /// Fold new posts into a digest once this many wait for the destination, or once this many
    /// in a row have had to wait (5: five seconds of backlog at Slack's pace). `0` turns
    /// digests off.
    pub threshold: usize,
    /// An open digest keeps taking new posts until none has come for this long.
    pub quiet_secs: u64,
    /// The least time between two sends of one digest, on top of the destination's own pacing
    /// (default 0: as fast as the destination's budget allows). A longer interval puts more
    /// threads in each send, but every folded post waits for the send that shows it.
    pub interval_ms: u64,
}

impl Default for DigestConfig {
    fn default() -> Self {
        Self {
            threshold: 5,
            quiet_secs: 60,
            interval_ms: 0,
        }
    }
}

/// Digests remembered per destination, for the updates of their threads.
const DIGESTS_KEPT: usize = 64;
/// Threads posted on their own after their digest was forgotten, remembered for their updates.
const ADOPTED_KEPT: usize = 4096;

pub struct Digest {
    inner: Arc<dyn Sink>,
    /// Whether the destination's budget is spent for the moment.
    busy: Box<dyn Fn() -> bool + Send + Sync>,
    destination: String,
    threshold: usize,
    quiet: Duration,
    interval: Duration,
    edits: bool,
    budget: Budget,
    /// One new post at a time goes to the provider; the others wait here, where a digest can
    /// still take them.
    gate: Semaphore,
    st: Mutex<St>,
    /// Makes digest ids unique across workers and restarts.
    prefix: String,
}

#[derive(Default)]
struct St {
    /// New posts at the gate or being sent on their own.
    waiting: usize,
    /// Posts in a row that found the destination busy.
    streak: usize,
    /// The digest taking new posts.
    current: Option<String>,
    digests: HashMap<String, Dg>,
    order: VecDeque<String>,
    adopted: HashMap<(String, String), MessageRef>,
    made: u64,
}

struct Dg {
    entries: Vec<DigestEntry>,
    /// Per entry, the version that made it what it is.
    shown: Vec<u64>,
    index: HashMap<String, usize>,
    titles: HashSet<String>,
    used: usize,
    /// Bumped by every change; `sent` is the version the provider shows.
    version: u64,
    sent: u64,
    /// Entry index → the version that last changed it, until a send shows that version.
    changed: BTreeMap<usize, u64>,
    sending: bool,
    failed: Option<(u64, SinkError)>,
    /// The digest's (first) message, once posted.
    message: Option<MessageRef>,
    sends: u32,
    last_fold: Instant,
    last_send: Option<Instant>,
    /// Ticks after every send, successful or not, to wake the posts riding on it.
    tick: watch::Sender<u64>,
}

impl Digest {
    /// `None` when the sink's kind shows no digest or `cfg.threshold` is 0: use the sink as is.
    /// `busy` says whether the destination's budget is spent for the moment (see
    /// [`Limiter::busy`](super::limiter::Limiter::busy)).
    pub fn wrap(
        inner: Arc<dyn Sink>,
        destination: impl Into<String>,
        cfg: &DigestConfig,
        busy: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Option<Self> {
        let kind = inner.kind();
        let budget = budget(kind)?;
        if cfg.threshold == 0 {
            return None;
        }
        let edits = edits_in_place(kind);
        let interval = Duration::from_millis(cfg.interval_ms);
        static WORKER: AtomicU64 = AtomicU64::new(0);
        let prefix = format!(
            "dg-{:08x}{:x}",
            rand::random::<u32>(),
            WORKER.fetch_add(1, Ordering::Relaxed)
        );
        Some(Self {
            inner,
            busy: Box::new(busy),
            destination: destination.into(),
            threshold: cfg.threshold,
            quiet: Duration::from_secs(cfg.quiet_secs),
            interval,
            edits,
            budget,
            gate: Semaphore::new(1),
            st: Mutex::new(St::default()),
            prefix,
        })
    }

    fn st(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn deliver_one(&self, d: &Delivery) -> Result<MessageRef, SinkError> {
        let digest = d
            .message
            .as_ref()
            .and_then(|m| m.get("digest"))
            .and_then(Value::as_str);
        match (d.op, digest) {
            (Op::Post, _) => self.post(d).await,
            (Op::Update, Some(id)) => self.update(d, id).await,
            // The digest shows the thread's status; details stay with threads of their own.
            (Op::Reply, Some(_)) => Ok(d.message.clone().unwrap_or_else(|| json!({}))),
            _ => self.inner.deliver(d).await,
        }
    }

    async fn post(&self, d: &Delivery) -> Result<MessageRef, SinkError> {
        let entry = DigestEntry::new(&d.thread, &d.notification);
        let folded = {
            let mut st = self.st();
            st.streak = if st.waiting == 0 && !(self.busy)() {
                0
            } else {
                st.streak + 1
            };
            let crowded = st.waiting >= self.threshold || st.streak >= self.threshold;
            let folded = self.fold(&mut st, &entry, crowded);
            if folded.is_none() {
                st.waiting += 1;
                crate::telemetry::metrics()
                    .outbox_depth
                    .with_label_values(&[self.inner.kind()])
                    .inc();
            }
            folded
        };
        if let Some((id, version)) = folded {
            return self.commit(&id, version).await;
        }
        let _waiting = Waiting(self);
        let permit = self
            .gate
            .acquire()
            .await
            .map_err(|_| SinkError::Transient("digest gate closed".into()))?;
        // A digest opened while this post waited its turn takes it too.
        let folded = {
            let mut st = self.st();
            self.fold(&mut st, &entry, false)
        };
        if let Some((id, version)) = folded {
            drop(permit);
            return self.commit(&id, version).await;
        }
        self.inner.deliver(d).await
    }

    /// Folds `entry` into the open digest, or into a new one when `open` (the destination is
    /// crowded) or the open one is full. Returns the digest and the version to wait for.
    fn fold(&self, st: &mut St, entry: &DigestEntry, open: bool) -> Option<(String, u64)> {
        let now = Instant::now();
        let current = st.current.clone().filter(|id| {
            st.digests
                .get(id)
                .is_some_and(|dg| now.saturating_duration_since(dg.last_fold) < self.quiet)
        });
        let budget = self.budget;
        let id = match current {
            Some(id)
                if st.digests.get(&id).is_some_and(|dg| {
                    dg.index.contains_key(&entry.thread)
                        || dg.used + dg.cost(entry, &budget) <= budget.max
                        || dg.entries.is_empty()
                }) =>
            {
                id
            }
            // Full, and still busy: the next digest.
            Some(_) => self.open(st, now),
            None if open => {
                tracing::info!(
                    destination = %self.destination,
                    waiting = st.waiting,
                    in_a_row = st.streak,
                    "new posts are piling up; folding them into a digest"
                );
                self.open(st, now)
            }
            None => {
                st.current = None;
                return None;
            }
        };
        let dg = st.digests.get_mut(&id)?;
        dg.last_fold = now;
        let version = dg.put(entry.clone(), &budget);
        Some((id, version))
    }

    fn open(&self, st: &mut St, now: Instant) -> String {
        st.made += 1;
        let id = format!("{}-{}", self.prefix, st.made);
        if st.order.len() >= DIGESTS_KEPT {
            // The oldest digest nobody is sending; its threads' updates will be adopted.
            if let Some(pos) = st
                .order
                .iter()
                .position(|old| st.digests.get(old).is_none_or(|dg| !dg.sending))
            {
                if let Some(old) = st.order.remove(pos) {
                    st.digests.remove(&old);
                }
            }
        }
        let (tick, _) = watch::channel(0);
        st.digests.insert(
            id.clone(),
            Dg {
                entries: Vec::new(),
                shown: Vec::new(),
                index: HashMap::new(),
                titles: HashSet::new(),
                used: 0,
                version: 0,
                sent: 0,
                changed: BTreeMap::new(),
                sending: false,
                failed: None,
                message: None,
                sends: 0,
                last_fold: now,
                last_send: None,
                tick,
            },
        );
        st.order.push_back(id.clone());
        st.current = Some(id.clone());
        id
    }

    /// An update of a folded thread: its line in the digest changes.
    async fn update(&self, d: &Delivery, id: &str) -> Result<MessageRef, SinkError> {
        let entry = DigestEntry::new(&d.thread, &d.notification);
        let version = {
            let mut st = self.st();
            st.digests.get_mut(id).map(|dg| dg.put(entry, &self.budget))
        };
        match version {
            Some(v) => {
                self.commit(id, v).await?;
                Ok(d.message.clone().unwrap_or_else(|| json!({})))
            }
            None => self.adopt(d, id).await,
        }
    }

    /// An update for a digest this worker does not hold: the thread gets a message of its own.
    async fn adopt(&self, d: &Delivery, id: &str) -> Result<MessageRef, SinkError> {
        let key = (id.to_owned(), d.thread.clone());
        let known = self.st().adopted.get(&key).cloned();
        let mut own = d.clone();
        match known {
            Some(m) => {
                own.message = Some(m);
                self.inner.deliver(&own).await?;
            }
            None => {
                tracing::info!(destination = %self.destination, "update for a digest this worker does not hold; posting the thread on its own");
                own.op = Op::Post;
                own.message = None;
                let m = self.inner.deliver(&own).await?;
                let mut st = self.st();
                if st.adopted.len() >= ADOPTED_KEPT {
                    st.adopted.clear();
                }
                st.adopted.insert(key, m);
            }
        }
        Ok(d.message.clone().unwrap_or_else(|| json!({})))
    }

    /// Returns once a send that shows `version` of digest `id` succeeded (or failed).
    async fn commit(&self, id: &str, version: u64) -> Result<MessageRef, SinkError> {
        loop {
            let wait = {
                let mut st = self.st();
                let Some(dg) = st.digests.get_mut(id) else {
                    return Err(SinkError::Transient(
                        "the digest was dropped before it was sent".into(),
                    ));
                };
                if dg.sent >= version {
                    return Ok(json!({
                        "digest": id,
                        "message": dg.message.clone().unwrap_or(Value::Null),
                    }));
                }
                if let Some((v, e)) = &dg.failed {
                    if *v >= version {
                        return Err(e.clone());
                    }
                }
                if dg.sending {
                    Some(dg.tick.subscribe())
                } else {
                    dg.sending = true;
                    None
                }
            };
            match wait {
                // A closed channel means the digest is gone; the next look says so.
                Some(mut rx) => {
                    let _ = rx.changed().await;
                }
                None => self.send(id).await,
            }
        }
    }

    /// One send of digest `id` by the caller that set its `sending` flag.
    async fn send(&self, id: &str) {
        let _sending = Sending { digest: self, id };
        let last = self.st().digests.get(id).and_then(|dg| dg.last_send);
        if let Some(last) = last {
            // Whoever arrives meanwhile rides on this send.
            tokio::time::sleep_until(last + self.interval).await;
        }
        let snapshot = {
            let st = self.st();
            st.digests.get(id).map(|dg| {
                let view = DigestView {
                    id: id.to_owned(),
                    entries: dg.entries.clone(),
                    changed: dg.changed.keys().copied().collect(),
                    sends: dg.sends,
                };
                let delivery = DigestDelivery {
                    destination: self.destination.clone(),
                    digest: view,
                    message: if self.edits { dg.message.clone() } else { None },
                };
                (delivery, dg.version)
            })
        };
        let Some((delivery, version)) = snapshot else {
            return;
        };
        // A digest speaks for many threads: the lease of the one whose task sends it does not
        // fence it (its own attempts are the digest's, not that thread's).
        let result = super::fence::unfenced(self.inner.deliver_digest(&delivery)).await;
        let mut st = self.st();
        let Some(dg) = st.digests.get_mut(id) else {
            return;
        };
        dg.last_send = Some(Instant::now());
        match result {
            Ok(m) => {
                if dg.message.is_none() {
                    dg.message = Some(m);
                }
                dg.sent = dg.sent.max(version);
                dg.failed = None;
                dg.sends += 1;
                dg.changed.retain(|_, v| *v > version);
            }
            Err(e) => {
                tracing::warn!(destination = %self.destination, reason = e.reason(), error = %e, entries = delivery.digest.entries.len(), "digest not sent");
                if matches!(e, SinkError::Rejected(_)) && delivery.message.is_some() {
                    // The message is gone or cannot be edited: the next send posts a new one.
                    dg.message = None;
                    dg.changed = (0..dg.entries.len()).map(|i| (i, dg.version)).collect();
                }
                dg.failed = Some((version, e));
            }
        }
    }
}

impl Dg {
    /// What adding `entry` would cost: its id, and its group's line if its title is new here.
    fn cost(&self, entry: &DigestEntry, budget: &Budget) -> usize {
        let group = if self.titles.contains(&entry.title) {
            0
        } else {
            (budget.group)(entry)
        };
        group + (budget.entry)(entry)
    }

    /// Adds or replaces a thread's line; returns the version that shows it. A line that does
    /// not change (a state the digest does not tell apart) costs no send.
    fn put(&mut self, entry: DigestEntry, budget: &Budget) -> u64 {
        if let Some(&i) = self.index.get(&entry.thread) {
            if self.entries[i] == entry {
                return self.shown[i];
            }
        }
        self.version += 1;
        if !self.titles.contains(&entry.title) {
            self.used += (budget.group)(&entry);
            self.titles.insert(entry.title.clone());
        }
        let i = match self.index.get(&entry.thread) {
            Some(&i) => {
                self.entries[i] = entry;
                self.shown[i] = self.version;
                i
            }
            None => {
                self.used += (budget.entry)(&entry);
                self.index.insert(entry.thread.clone(), self.entries.len());
                self.entries.push(entry);
                self.shown.push(self.version);
                self.entries.len() - 1
            }
        };
        self.changed.insert(i, self.version);
        self.version
    }
}

/// A post leaving the queue of new posts, however it leaves.
struct Waiting<'a>(&'a Digest);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut st = self.0.st();
        st.waiting = st.waiting.saturating_sub(1);
        crate::telemetry::metrics()
            .outbox_depth
            .with_label_values(&[self.0.inner.kind()])
            .dec();
    }
}

/// Clears the `sending` flag and wakes the riders, even if the sender was cancelled.
struct Sending<'a> {
    digest: &'a Digest,
    id: &'a str,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        let mut st = self.digest.st();
        if let Some(dg) = st.digests.get_mut(self.id) {
            dg.sending = false;
            dg.tick.send_modify(|t| *t += 1);
        }
    }
}

impl Sink for Digest {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(self.deliver_one(d))
    }

    fn deliver_digest<'a>(
        &'a self,
        d: &'a DigestDelivery,
    ) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        self.inner.deliver_digest(d)
    }
}
