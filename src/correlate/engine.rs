//! The correlator's I/O: loads threads (cache first, then the store), applies events with the
//! pure state machines, and writes them back with a condition on their version. A lost race
//! reloads (from the conflict's returned item when the store gives one) and re-applies.
//! Events of one batch that share a key are applied together in one write.

use super::cache::Cache;
use super::pointer::ServiceId;
use super::{
    new_thread, target, Body, Fired, Lease, PipelinePointer, ServicePointer, ServiceTarget, Target,
    Thread, Timing,
};
use crate::event::Event;
use crate::notification::MessageRef;
use crate::notification::Notification;
use crate::store::{Item, Put, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub cache_size: usize,
    pub cache_ttl: Duration,
    /// How long finished threads stay in the store (DynamoDB TTL).
    pub ttl_secs: i64,
    /// How long a delivery lease holds off other workers. Keep it below the source's
    /// visibility timeout so a redelivered message finds a dead holder's lease expired.
    pub lease_secs: i64,
    /// This worker's name in claims.
    pub owner: String,
    /// The timeouts that wake threads (stall alerts).
    pub timing: Timing,
    /// `[[verdicts.watch]]`: alarms that watch services by name.
    pub watch: Vec<super::verdict::WatchRule>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            cache_size: 10_000,
            cache_ttl: Duration::from_secs(600),
            ttl_secs: 14 * 24 * 3600,
            lease_secs: 30,
            owner: format!("worker-{}", std::process::id()),
            timing: Timing::default(),
            watch: Vec::new(),
        }
    }
}

/// Counters for metrics and cost tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub store_reads: AtomicU64,
    pub store_writes: AtomicU64,
    pub conflicts: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
}

impl Stats {
    pub fn get(&self, c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

const MAX_ATTEMPTS: usize = 16;

/// The `seq` recorded for a destination whose message may show anything: a worker edited it in
/// place and lost the race to record the edit, so its edit may have landed after a newer one.
/// Every real notification has a seq of 1 or more, so the destination is behind and is edited
/// again by the next delivery.
pub const UNSURE: u64 = 0;

pub struct Engine {
    store: Arc<dyn Store>,
    cache: Cache,
    /// For an in-process store: the threads themselves, typed, under the same version
    /// conditions (serialising every write to bytes that never leave the process cost most of
    /// the replay's time). Items expire by `expires_at` like DynamoDB's TTL.
    local: Option<std::sync::Mutex<Local>>,
    cfg: EngineConfig,
    pub stats: Stats,
    /// Notifications built by changes and not yet delivered, by thread key, with the content
    /// hash they were built for. See [`Engine::take_fresh`].
    fresh: std::sync::Mutex<std::collections::HashMap<String, (u64, Notification)>>,
}

/// Fresh notifications kept at most; past this they are dropped (and built again if needed).
const FRESH_MAX: usize = 4096;

#[derive(Default)]
struct Local {
    items: std::collections::HashMap<String, (u64, i64, Arc<Thread>)>,
    writes: u64,
    /// The threads' timers, by due time: what [`Engine::due`] reads. An entry may outlive its
    /// timer (moved, or its thread swept); it is checked against the thread when due.
    wakes: BTreeSet<(i64, String)>,
}

impl Local {
    /// Whether an index entry is still its thread's timer (not moved, not swept).
    fn is_set(&self, wake: i64, key: &str) -> bool {
        self.items
            .get(key)
            .is_some_and(|(_, _, t)| t.wake == Some(wake))
    }

    fn note_wake(&mut self, key: &str, old: Option<i64>, new: Option<i64>) {
        if old == new {
            return;
        }
        if let Some(w) = old {
            self.wakes.remove(&(w, key.to_owned()));
        }
        if let Some(w) = new {
            self.wakes.insert((w, key.to_owned()));
        }
    }
}

impl Drop for Local {
    /// Frees the threads in address order, near enough the order they were allocated in. In
    /// the map's (hash) order nearly every one of a thread's many small blocks was a cache miss
    /// inside the allocator: tearing down a 2,000-execution replay took about 10 ms that way,
    /// about 6 ms this way (see the README, "Performance").
    fn drop(&mut self) {
        let mut all: Vec<(String, Arc<Thread>)> =
            self.items.drain().map(|(k, (_, _, t))| (k, t)).collect();
        all.sort_unstable_by_key(|(_, t)| Arc::as_ptr(t) as usize);
        drop(all);
    }
}

/// How often (in writes) the in-process store drops expired threads.
const SWEEP_EVERY: u64 = 4096;

/// Whether a thread has delivery work for this worker: the pipeline's routing and mode say
/// (it implements this), the engine asks when it writes a change, so that it takes the delivery
/// lease in the same write and a change costs one write. The engine knows nothing of routes.
pub trait Work: Sync {
    fn has_work(&self, thread: &Thread, note: &Notification) -> bool;
}

/// A closure answers as well (benches and tests: `|_, _| false`).
impl<F: Fn(&Thread, &Notification) -> bool + Sync> Work for F {
    fn has_work(&self, thread: &Thread, note: &Notification) -> bool {
        self(thread, note)
    }
}

/// What the engine's writes are given to ask [`Work::has_work`].
pub type Wants<'a> = &'a dyn Work;

impl Engine {
    /// The timeouts threads are applied and woken with.
    pub fn timing(&self) -> &Timing {
        &self.cfg.timing
    }

    pub fn new(store: Arc<dyn Store>, mut cfg: EngineConfig) -> Self {
        let local = store
            .in_process()
            .then(|| std::sync::Mutex::new(Local::default()));
        if local.is_some() {
            // One process: its runner tells final messages when their window ends, and its
            // source messages wait for that; a timer would die with it anyway.
            cfg.timing.settle_secs = None;
        }
        Self {
            store,
            cache: Cache::new(cfg.cache_size, cfg.cache_ttl),
            local,
            cfg,
            stats: Stats::default(),
            fresh: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn local(&self) -> Option<std::sync::MutexGuard<'_, Local>> {
        // A panic elsewhere cannot leave an entry half-written: entries are replaced whole.
        self.local
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Threads held in memory: the cache, or the in-process store's items.
    pub fn cached_threads(&self) -> usize {
        match self.local() {
            Some(local) => local.items.len(),
            None => self.cache.len(),
        }
    }

    /// Loads a thread: cache first, then the store.
    pub async fn load(&self, key: &str) -> Result<Option<(u64, Arc<Thread>)>, StoreError> {
        if let Some(local) = self.local() {
            return Ok(local.items.get(key).map(|(v, _, t)| (*v, t.clone())));
        }
        if let Some(hit) = self.cache.get(key) {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(hit));
        }
        self.stats.cache_misses.fetch_add(1, Ordering::Relaxed);
        self.read(key).await
    }

    async fn read(&self, key: &str) -> Result<Option<(u64, Arc<Thread>)>, StoreError> {
        self.stats.store_reads.fetch_add(1, Ordering::Relaxed);
        match self.store.get(key).await? {
            Some(item) => {
                let thread = Arc::new(decode_item(key, &item)?);
                self.cache.put(key, item.version, thread.clone());
                Ok(Some((item.version, thread)))
            }
            None => Ok(None),
        }
    }

    /// Read-modify-write with a version condition. `f` returns whether it changed the thread;
    /// it is re-run on fresh state after a lost race. Returns the thread as written (or as
    /// found, when `f` changed nothing), or `None` if it does not exist and `init` made none.
    pub async fn update(
        &self,
        key: &str,
        now: i64,
        init: impl Fn() -> Option<Thread>,
        mut f: impl FnMut(&mut Thread) -> bool,
    ) -> Result<Option<(Arc<Thread>, bool)>, StoreError> {
        let r = self.update_at(key, now, init, |t, _| f(t)).await?;
        Ok(r.map(|(_, t, changed)| (t, changed)))
    }

    /// [`Engine::update`], telling `f` the version of the thread it changes (`None` for a new
    /// one) and returning the version written (or found).
    pub async fn update_at(
        &self,
        key: &str,
        now: i64,
        init: impl Fn() -> Option<Thread>,
        f: impl FnMut(&mut Thread, Option<u64>) -> bool,
    ) -> Result<Option<(u64, Arc<Thread>, bool)>, StoreError> {
        if let Some(mut local) = self.local() {
            return Ok(self.update_local(&mut local, key, now, init, f));
        }
        let current = self.load(key).await?;
        self.update_from(key, now, current, init, f).await
    }

    /// [`Engine::update_at`] on a shared store, from a thread already loaded.
    async fn update_from(
        &self,
        key: &str,
        now: i64,
        mut current: Option<(u64, Arc<Thread>)>,
        init: impl Fn() -> Option<Thread>,
        mut f: impl FnMut(&mut Thread, Option<u64>) -> bool,
    ) -> Result<Option<(u64, Arc<Thread>, bool)>, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            // Optimistic concurrency: mutate a copy, publish it only if the version still holds.
            let (version, original, mut thread) = match current.take() {
                Some((v, t)) => (Some(v), Some(t.clone()), Thread::clone(&t)),
                None => match init() {
                    Some(t) => (None, None, t),
                    None => return Ok(None),
                },
            };
            if !f(&mut thread, version) {
                let found = original.unwrap_or_else(|| Arc::new(thread));
                return Ok(Some((version.unwrap_or(0), found, false)));
            }
            match self.put_thread(key, version, thread, now).await? {
                Some((v, t)) => return Ok(Some((v, t, true))),
                // The cache now holds the winner's state (or nothing, to be read again).
                None => current = self.load(key).await?,
            }
        }
        Err(StoreError::Unavailable(format!(
            "{key}: still conflicting after {MAX_ATTEMPTS} attempts"
        )))
    }

    /// One conditional write of `thread` over `version` (`None`: create). Returns the version
    /// written, or `None` after a lost race, with the cache refreshed from the conflict's
    /// returned item (or emptied, so the next load reads the store).
    async fn put_thread(
        &self,
        key: &str,
        version: Option<u64>,
        thread: Thread,
        now: i64,
    ) -> Result<Option<(u64, Arc<Thread>)>, StoreError> {
        let mut thread = thread;
        self.plan_wake(&mut thread, now);
        self.stats.store_writes.fetch_add(1, Ordering::Relaxed);
        if let Some(mut local) = self.local() {
            let current = local.items.get(key).map(|(v, _, t)| (*v, t.wake));
            if current.map(|(v, _)| v) != version {
                self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
            let v = version.map_or(1, |v| v + 1);
            let old_wake = current.and_then(|(_, w)| w);
            local.note_wake(key, old_wake, thread.wake);
            let thread = Arc::new(thread);
            local.writes += 1;
            local
                .items
                .insert(key.to_owned(), (v, now + self.cfg.ttl_secs, thread.clone()));
            return Ok(Some((v, thread)));
        }
        let state = encode_state(&thread)
            .map_err(|e| StoreError::Rejected(format!("serialising {key}: {e}")))?;
        // Retention is real time, whatever clock `now` is on: a replay of old events on their
        // own clock (or a test's fixed clock) would otherwise write items already past their
        // TTL, which DynamoDB deletes (DynamoDB Local within seconds).
        let item = Item {
            version: version.map_or(1, |v| v + 1),
            state,
            expires_at: now.max(crate::clock::unix_now()) + self.cfg.ttl_secs,
            wake: thread.wake,
        };
        match self.store.put(key, &item, version).await? {
            Put::Written => {
                let thread = Arc::new(thread);
                self.cache.put(key, item.version, thread.clone());
                Ok(Some((item.version, thread)))
            }
            Put::Conflict(Some(found)) => {
                self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                let t = Arc::new(decode_item(key, &found)?);
                self.cache.put(key, found.version, t);
                Ok(None)
            }
            Put::Conflict(None) => {
                self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                self.cache.invalidate(key);
                Ok(None)
            }
        }
    }

    /// A copy of the stored thread and its version, to change and then [`Engine::commit`]
    /// (used to edit a message before the one write that records both the change and the
    /// edit).
    pub async fn draft(&self, key: &str) -> Result<Option<(u64, Thread)>, StoreError> {
        Ok(self.load(key).await?.map(|(v, t)| (v, Thread::clone(&t))))
    }

    /// Writes a [`Engine::draft`] if the thread is still at `version`; `None` when another
    /// write came first (the next draft then starts from it).
    pub async fn commit(
        &self,
        key: &str,
        version: u64,
        thread: Thread,
        now: i64,
    ) -> Result<Option<(u64, Arc<Thread>)>, StoreError> {
        self.put_thread(key, Some(version), thread, now).await
    }

    /// [`Engine::update`] on the in-process store: under its lock, so no other writer can
    /// interleave and there is no version to race for. The thread is changed in place (copied
    /// first only while someone still holds the previous `Arc`), so a write costs no copy.
    fn update_local(
        &self,
        local: &mut Local,
        key: &str,
        now: i64,
        init: impl Fn() -> Option<Thread>,
        mut f: impl FnMut(&mut Thread, Option<u64>) -> bool,
    ) -> Option<(u64, Arc<Thread>, bool)> {
        let expires = now + self.cfg.ttl_secs;
        let (version, written, old_wake) = match local.items.get_mut(key) {
            Some((version, until, thread)) => {
                let old_wake = thread.wake;
                if !f(Arc::make_mut(thread), Some(*version)) {
                    return Some((*version, thread.clone(), false));
                }
                self.plan_wake(Arc::make_mut(thread), now);
                *version += 1;
                *until = expires;
                (*version, thread.clone(), old_wake)
            }
            None => {
                let mut thread = init()?;
                if !f(&mut thread, None) {
                    return Some((0, Arc::new(thread), false));
                }
                self.plan_wake(&mut thread, now);
                let thread = Arc::new(thread);
                local
                    .items
                    .insert(key.to_owned(), (1, expires, thread.clone()));
                (1, thread, None)
            }
        };
        local.note_wake(key, old_wake, written.wake);
        self.stats.store_writes.fetch_add(1, Ordering::Relaxed);
        local.writes += 1;
        if local.writes.is_multiple_of(SWEEP_EVERY) {
            let Local { items, wakes, .. } = local;
            items.retain(|_, (_, until, _)| *until > now);
            wakes.retain(|(_, k)| items.contains_key(k));
        }
        Some((version, written, true))
    }

    /// Applies a batch of events; returns the keys of every thread the batch touched (changed
    /// or not: a redelivered message finds its thread unchanged but maybe not yet delivered).
    /// A change that leaves delivery work takes the thread's delivery lease in the same write
    /// when it is free, so the worker that made the change delivers it.
    ///
    /// `done` names threads whose own events the caller has already applied and written (see
    /// `Runner::process`); their events still teach the pointers.
    pub async fn apply_batch(
        &self,
        events: &[Event],
        now: i64,
        wants: Wants<'_>,
        done: &BTreeSet<String>,
    ) -> Result<Vec<String>, StoreError> {
        let joined = self.join_pipelines(events, now).await?;
        self.apply_joined(events, joined, now, wants, done).await
    }

    /// The batch's pipeline pointers, each in one write: what the executions' own events teach
    /// them (executions, build actions), and the events that reach an execution through them
    /// (CodeBuild builds, approvals), joined or held. Returns the events each execution is to
    /// be given (joined), by thread key, in the order they came: [`Engine::apply_joined`]
    /// applies them in the same write as the thread's own events.
    ///
    /// A pointer that holds events, or that alarms watch, is worked out on a copy here and
    /// written by [`Engine::apply_joined`] after the threads, which then have what it releases
    /// (held events, alarm news): those came with messages already acknowledged, and a batch
    /// that failed after the pointer let go of them would lose them (redelivered, its events
    /// find them released). The release written is applied again (an event applied twice
    /// changes nothing), in case the pointer moved meanwhile.
    pub async fn join_pipelines(&self, events: &[Event], now: i64) -> Result<Joined, StoreError> {
        let approvals = approval_actions(events);
        let (observe, via) = pointer_inputs(events, &approvals);
        let keys: BTreeSet<&String> = observe.keys().chain(via.keys()).collect();
        let mut out = Joined::default();
        for pkey in keys {
            let seen = observe.get(pkey).map(Vec::as_slice).unwrap_or_default();
            let joining = via.get(pkey).map(Vec::as_slice).unwrap_or_default();
            let mut joined = Vec::new();
            let mut later = false;
            self.update(pkey, now, pipeline_pointer, |t| {
                joined.clear();
                let Body::PipelinePointer(p) = &mut t.body else {
                    return false;
                };
                later = !p.held.is_empty() || !p.alarms.is_empty();
                if later {
                    // Worked out on a copy: what it joins and releases goes with the threads'
                    // writes, and the pointer is written after them (`apply_joined`).
                    let mut copy = p.clone();
                    self.teach_pipeline(pkey, &mut copy, seen, joining, &mut joined);
                    return false;
                }
                self.teach_pipeline(pkey, p, seen, joining, &mut joined)
            })
            .await?;
            if later {
                out.later.insert(pkey.clone());
            }
            out.events.append(&mut joined);
        }
        Ok(out)
    }

    /// One pipeline pointer taught by the batch: its executions' own events (`seen`), then the
    /// events that reach an execution through it (`joining`), joined or held. What joins, and
    /// what that releases, is pushed to `out`. True if the pointer changed.
    fn teach_pipeline(
        &self,
        pkey: &str,
        p: &mut PipelinePointer,
        seen: &[&Event],
        joining: &[&Event],
        out: &mut Vec<(String, Event)>,
    ) -> bool {
        let mut c = self.observe_pipeline(pkey, p, seen, out);
        for ev in joining {
            let before = p.build_actions.clone();
            let flagged = p.note_kind(ev);
            c |= match p.join(ev) {
                Some(exec) => {
                    out.push((member_key(pkey, &exec), (*ev).clone()));
                    // A time-based build join is recorded so later events of the build need
                    // no guessing.
                    flagged || p.build_actions != before
                }
                None => p.hold(ev) | flagged,
            };
        }
        c
    }

    /// A pipeline pointer taught by its executions' own events; what that releases (held
    /// events that join now, and alarms told of new executions) is pushed to `released`.
    /// True if the pointer changed.
    fn observe_pipeline(
        &self,
        pkey: &str,
        p: &mut PipelinePointer,
        evs: &[&Event],
        released: &mut Vec<(String, Event)>,
    ) -> bool {
        if evs.is_empty() {
            return false;
        }
        // The executions known before, only where alarms watch the pipeline (this runs for
        // every pipeline event).
        let known: Vec<String> = if p.alarms.is_empty() {
            Vec::new()
        } else {
            p.executions
                .iter()
                .map(|x| x.execution_id.clone())
                .collect()
        };
        let mut c = false;
        let name = pkey.splitn(4, '#').nth(3).unwrap_or_default();
        if !p.watched && self.cfg.timing.watched_pipelines.iter().any(|w| w == name) {
            p.watched = true;
            c = true;
        }
        for ev in evs {
            c |= p.observe(ev);
        }
        if c && !p.held.is_empty() {
            released.extend(
                p.release()
                    .into_iter()
                    .map(|(x, ev)| (member_key(pkey, &x), ev)),
            );
        }
        // Watched by alarms: new executions are given their state changes, and the alarms are
        // told of the executions again.
        if c && !p.alarms.is_empty() {
            let new: Vec<String> = p
                .executions
                .iter()
                .filter(|x| !known.contains(&x.execution_id))
                .map(|x| x.execution_id.clone())
                .collect();
            let mut parts = pkey.splitn(4, '#').skip(1);
            let (a, r, name) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let d = p.deploys(name);
            let watch = self.cfg.timing.watch_secs;
            released.extend(
                super::verdict::alarm_news(&p.alarms, &d, &new, a, r, watch)
                    .into_iter()
                    .map(|(l, e)| (link_member(pkey, l), e)),
            );
        }
        c
    }

    /// The batch's threads with what each is to be given: its own events, then those
    /// [`Engine::join_pipelines`] joined to it (so a thread costs one write per batch). Keys
    /// that only joined events reach come after those with events of their own.
    pub fn thread_groups<'e>(
        events: &'e [Event],
        joined: &'e Joined,
    ) -> BTreeMap<String, Vec<&'e Event>> {
        let mut groups = Self::direct_groups(events);
        for (key, ev) in &joined.events {
            groups.entry(key.clone()).or_default().push(ev);
        }
        groups
    }

    /// [`Engine::apply_batch`] after [`Engine::join_pipelines`]: each thread's own events and
    /// those joined to it in one write, then the other pointers (deployment groups, services,
    /// Health boards) and alarm links.
    pub async fn apply_joined(
        &self,
        events: &[Event],
        joined: Joined,
        now: i64,
        wants: Wants<'_>,
        done: &BTreeSet<String>,
    ) -> Result<Vec<String>, StoreError> {
        let mut direct: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
        let mut via: Vec<(Target, &Event)> = Vec::new();
        let mut links: Vec<(String, &Event)> = Vec::new();
        for ev in events {
            match target(ev) {
                Target::Thread(k) => direct.entry(k).or_default().push(ev),
                t @ Target::Service(_) => via.push((t, ev)),
                Target::Pipeline(_) | Target::None => {}
            }
            // An alarm also goes to what it watches (deploy verdicts).
            if let Event::AlarmState(a) = ev {
                for t in super::verdict::targets_watched(a, &self.cfg.watch) {
                    links.push((t.pointer(&a.meta.account, &a.meta.region), ev));
                }
            }
        }
        let mut changed = Vec::new();
        // Joined events of a thread with events of its own go in the same write; the rest on
        // their own (threads the caller wrote already had theirs).
        let mut rest: Vec<(String, Event)> = Vec::new();
        let mut with: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        let Joined {
            events: joined,
            later,
        } = joined;
        for (key, ev) in joined {
            if done.contains(&key) {
                continue;
            }
            if direct.contains_key(&key) {
                with.entry(key).or_default().push(ev);
            } else {
                rest.push((key, ev));
            }
        }
        for (key, evs) in &direct {
            if done.contains(key) {
                continue;
            }
            let mut all = evs.clone();
            if let Some(more) = with.get(key) {
                all.extend(more.iter());
            }
            if self
                .apply_direct(key, &all, now, wants, &BTreeSet::new(), false)
                .await?
            {
                changed.push(key.clone());
            }
        }
        self.apply_released(rest, now, wants, &mut changed).await?;
        // The pipeline pointers left until the threads were written (see `join_pipelines`):
        // what they release now is, as a rule, what the threads were just given.
        if !later.is_empty() {
            let approvals = approval_actions(events);
            let (observe, via) = pointer_inputs(events, &approvals);
            for pkey in &later {
                let seen = observe.get(pkey).map(Vec::as_slice).unwrap_or_default();
                let joining = via.get(pkey).map(Vec::as_slice).unwrap_or_default();
                let mut out = Vec::new();
                self.update(pkey, now, pipeline_pointer, |t| {
                    out.clear();
                    let Body::PipelinePointer(p) = &mut t.body else {
                        return false;
                    };
                    self.teach_pipeline(pkey, p, seen, joining, &mut out)
                })
                .await?;
                self.apply_released(out, now, wants, &mut changed).await?;
            }
        }
        let mut services: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
        for (key, evs) in &direct {
            let Some(pointer) = super::pointer_of(key) else {
                continue;
            };
            if !pointer.starts_with("pl#") {
                let deployments: Vec<&Event> = evs
                    .iter()
                    .copied()
                    .filter(|ev| matches!(ev, Event::EcsDeployment(_) | Event::ApiCall(_)))
                    .collect();
                if !deployments.is_empty() {
                    services.entry(pointer).or_default().extend(deployments);
                }
            }
        }
        // CodeDeploy deployment groups watched by alarms follow their deployments.
        let mut groups: BTreeMap<String, Vec<&crate::event::DeploymentState>> = BTreeMap::new();
        for evs in direct.values() {
            for ev in evs {
                if let Event::DeploymentState(d) = ev {
                    if !d.application.is_empty() && !d.deployment_group.is_empty() {
                        let m = &d.meta;
                        let g = super::group_key(
                            &m.account,
                            &m.region,
                            &d.application,
                            &d.deployment_group,
                        );
                        groups.entry(g).or_default().push(d);
                    }
                }
            }
        }
        for (gkey, evs) in groups {
            let mut released = Vec::new();
            self.update(
                &gkey,
                now,
                || Some(Thread::new(Body::GroupPointer(Default::default()))),
                |t| {
                    released.clear();
                    let Body::GroupPointer(g) = &mut t.body else {
                        return false;
                    };
                    let known: Vec<String> = if g.alarms.is_empty() {
                        Vec::new()
                    } else {
                        g.deploys.iter().map(|d| d.deployment_id.clone()).collect()
                    };
                    let mut c = false;
                    for d in &evs {
                        c |= g.observe(d);
                    }
                    if c && !g.alarms.is_empty() {
                        let new: Vec<String> = g
                            .deploys
                            .iter()
                            .filter(|d| !known.contains(&d.deployment_id))
                            .map(|d| d.deployment_id.clone())
                            .collect();
                        let (a, r) = evs
                            .first()
                            .map(|d| (d.meta.account.as_str(), d.meta.region.as_str()))
                            .unwrap_or_default();
                        let watch = self.cfg.timing.watch_secs;
                        released =
                            super::verdict::alarm_news(&g.alarms, &g.deploys, &new, a, r, watch)
                                .into_iter()
                                .map(|(l, e)| (link_member(&gkey, l), e))
                                .collect();
                    }
                    c
                },
            )
            .await?;
            self.apply_released(released, now, wants, &mut changed)
                .await?;
        }
        for (skey, evs) in services {
            let watch_secs = self.cfg.timing.watch_secs;
            let learn = |p: &mut ServicePointer| {
                let known: Vec<String> = if p.alarms.is_empty() {
                    Vec::new()
                } else {
                    p.deployments.iter().map(|(d, _)| d.clone()).collect()
                };
                let mut c = false;
                for ev in &evs {
                    match ev {
                        Event::EcsDeployment(d) => {
                            c |= p.observe(&d.deployment_id, d.meta.time);
                            c |= p.observe_state(d);
                        }
                        Event::ApiCall(call) => {
                            if let Some(d) = &call.deployment_id {
                                c |= p.observe_caller(d, &call.principal);
                            }
                        }
                        _ => {}
                    }
                }
                if !c {
                    return None;
                }
                let mut out = p.release(now);
                if let Some(id) = ServiceId::of(&skey) {
                    let new: Vec<String> = p
                        .deployments
                        .iter()
                        .filter(|(d, _)| !known.contains(d))
                        .map(|(d, _)| d.clone())
                        .collect();
                    out.extend(p.alarm_news(&new, id, watch_secs));
                }
                Some(service_members(&skey, out))
            };
            self.release_service(&skey, now, wants, &mut changed, learn)
                .await?;
        }
        // Health issues and ECS deployments meet on their account and region's board.
        let mut boards: BTreeMap<String, Vec<(&str, &Event)>> = BTreeMap::new();
        for (key, evs) in &direct {
            for ev in evs {
                match ev {
                    Event::Health(h) if super::health::concerns_ecs(h) => {
                        let account = h.affected_account.as_deref().unwrap_or(&h.meta.account);
                        let board = super::board_key(account, &h.meta.region);
                        boards.entry(board).or_default().push((key, ev));
                    }
                    Event::EcsDeployment(d) if d.updated_at.or(d.meta.time).is_some() => {
                        let board = super::board_key(&d.meta.account, &d.meta.region);
                        boards.entry(board).or_default().push((key, ev));
                    }
                    _ => {}
                }
            }
        }
        for (bkey, items) in boards {
            let mut released = Vec::new();
            self.update(
                &bkey,
                now,
                || Some(Thread::new(Body::HealthBoard(Default::default()))),
                |t| {
                    released.clear();
                    let Body::HealthBoard(b) = &mut t.body else {
                        return false;
                    };
                    let mut c = false;
                    for (key, ev) in &items {
                        let (out, changed) = match ev {
                            Event::EcsDeployment(d) => {
                                let start =
                                    d.updated_at.or(d.meta.time).map_or(0, |t| t.timestamp());
                                b.note_deploy(key, start)
                            }
                            _ => b.note_issue(ev),
                        };
                        released.extend(out);
                        c |= changed;
                    }
                    c
                },
            )
            .await?;
            self.apply_released(released, now, wants, &mut changed)
                .await?;
        }
        // Events that reach their thread through a service: each service is written once per
        // batch for all of its events, and each thread they join once (see `apply_released`).
        let mut via_services: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
        for (t, ev) in via {
            if let Target::Service(skey) = t {
                via_services.entry(skey).or_default().push(ev);
            }
        }
        for (skey, evs) in via_services {
            let mut joined: Vec<(String, Event)> = Vec::new();
            self.update(
                &skey,
                now,
                || Some(Thread::new(Body::ServicePointer(Box::default()))),
                |t| {
                    joined.clear();
                    let Body::ServicePointer(p) = &mut t.body else {
                        return false;
                    };
                    let mut c = false;
                    for ev in &evs {
                        let (to, changed) = p.route(ev, now);
                        joined.extend(service_members(&skey, to));
                        c |= changed;
                    }
                    c
                },
            )
            .await?;
            self.apply_released(joined, now, wants, &mut changed)
                .await?;
        }
        // The deployment groups enrichment learned an alarm watches (kept on its thread,
        // just written above, so read from the cache).
        for ev in events {
            let Event::AlarmState(a) = ev else {
                continue;
            };
            let (acct, region) = (a.meta.account.as_str(), a.meta.region.as_str());
            let key = super::alarm_key(acct, region, &a.alarm_name);
            let Some((_, t)) = self.load(&key).await? else {
                continue;
            };
            if let Body::Alarm(al) = &t.body {
                for (app, group) in &al.groups {
                    let p = super::group_key(acct, region, app, group);
                    if !links.iter().any(|(k, e)| *k == p && std::ptr::eq(*e, ev)) {
                        links.push((p, ev));
                    }
                }
            }
        }
        for (pkey, ev) in links {
            self.link_alarm(&pkey, ev, now, wants, &mut changed).await?;
        }
        changed.sort();
        changed.dedup();
        Ok(changed)
    }

    /// An alarm watching a target: its pointer (`svc#`, `pl#` or `dg#`) keeps its state change
    /// and sends it to the deployments its time concerns, and them to the alarm's thread (see
    /// [`super::verdict::route_alarm`]).
    async fn link_alarm(
        &self,
        pkey: &str,
        ev: &Event,
        now: i64,
        wants: Wants<'_>,
        changed: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        let Event::AlarmState(a) = ev else {
            return Ok(());
        };
        let key = super::alarm_key(&a.meta.account, &a.meta.region, &a.alarm_name);
        let watch = self.cfg.timing.watch_secs;
        let mut out: Vec<(String, Event)> = Vec::new();
        let init = || {
            let body = match pkey.split('#').next() {
                Some("svc") => Body::ServicePointer(Box::default()),
                Some("pl") => Body::PipelinePointer(PipelinePointer::default()),
                Some("dg") => Body::GroupPointer(Default::default()),
                _ => return None,
            };
            Some(Thread::new(body))
        };
        self.update(pkey, now, init, |t| {
            let (links, c) = match &mut t.body {
                Body::ServicePointer(p) => match ServiceId::of(pkey) {
                    Some(id) => {
                        let d = p.deploys(id);
                        super::verdict::route_alarm(&mut p.alarms, &d, a, ev, &key, watch)
                    }
                    None => (Vec::new(), false),
                },
                Body::PipelinePointer(p) => {
                    let name = pkey.splitn(4, '#').nth(3).unwrap_or_default();
                    let d = p.deploys(name);
                    super::verdict::route_alarm(&mut p.alarms, &d, a, ev, &key, watch)
                }
                Body::GroupPointer(g) => {
                    let d = g.deploys.clone();
                    super::verdict::route_alarm(&mut g.alarms, &d, a, ev, &key, watch)
                }
                _ => (Vec::new(), false),
            };
            out = links
                .into_iter()
                .map(|(l, e)| (link_member(pkey, l), e))
                .collect();
            c
        })
        .await?;
        self.apply_released(out, now, wants, changed).await
    }

    /// Changes a service item by `f` (which returns the events it releases, or `None` when it
    /// changed nothing) and applies what it releases, without ever losing one: the release is
    /// first worked out on a copy and applied, then written, then applied again from the
    /// version written (applying an event twice changes nothing). A store error between the
    /// two leaves the events held, for the next look.
    async fn release_service(
        &self,
        skey: &str,
        now: i64,
        wants: Wants<'_>,
        changed: &mut Vec<String>,
        f: impl Fn(&mut ServicePointer) -> Option<Vec<(String, Event)>>,
    ) -> Result<(), StoreError> {
        self.release_first(skey, now, wants, changed, &f).await?;
        let mut released = Vec::new();
        self.update(
            skey,
            now,
            || Some(Thread::new(Body::ServicePointer(Box::default()))),
            |t| {
                released.clear();
                let Body::ServicePointer(p) = &mut t.body else {
                    return false;
                };
                match f(p) {
                    Some(r) => {
                        released = r;
                        true
                    }
                    None => false,
                }
            },
        )
        .await?;
        self.apply_released(released, now, wants, changed).await
    }

    /// The first half of [`Engine::release_service`]: `f` on a copy of the stored item, and
    /// what it releases applied.
    async fn release_first(
        &self,
        skey: &str,
        now: i64,
        wants: Wants<'_>,
        changed: &mut Vec<String>,
        f: impl Fn(&mut ServicePointer) -> Option<Vec<(String, Event)>>,
    ) -> Result<(), StoreError> {
        // From the store, not the cache (another worker's copy may be old): what it releases is
        // applied and cannot be taken back.
        let stored = if self.in_process() {
            self.load(skey).await?
        } else {
            self.read(skey).await?
        };
        let Some((_, stored)) = stored else {
            return Ok(());
        };
        let Body::ServicePointer(p) = &stored.body else {
            return Ok(());
        };
        let mut copy = p.clone();
        if let Some(released) = f(&mut copy) {
            self.apply_released(released, now, wants, changed).await?;
        }
        Ok(())
    }

    /// Applies events released by (or joined through) a pointer to their threads (by key).
    async fn apply_released(
        &self,
        released: Vec<(String, Event)>,
        now: i64,
        wants: Wants<'_>,
        changed: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        // One write per thread for all of its events (in the order they came), not one per
        // event: a CodeBuild build's phase events often come several to a batch.
        let mut groups: Vec<(String, Vec<Event>)> = Vec::new();
        for (key, ev) in released {
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, evs)) => evs.push(ev),
                None => groups.push((key, vec![ev])),
            }
        }
        for (key, evs) in groups {
            // Made by the first event that can make it; the others are applied to it as they
            // would be to a thread that existed already.
            let init = || evs.iter().find_map(|ev| thread_for(&key, ev));
            let r = self
                .update(&key, now, init, |t| {
                    let mut c = false;
                    for ev in &evs {
                        c |= t.apply_at(ev, now, &self.cfg.timing);
                    }
                    if c {
                        self.after_change(&key, t, now, wants);
                    }
                    c
                })
                .await?;
            if r.is_some() {
                changed.push(key);
            }
        }
        Ok(())
    }

    /// What enrichment learned of a CodeDeploy deployment group (`GetDeploymentGroup`): these
    /// alarms watch it. Kept on each alarm's thread (made, with no episode, when the alarm was
    /// never heard of), which links its next state changes to the group's deployments.
    pub async fn learn_group_alarms(
        &self,
        account: &str,
        region: &str,
        application: &str,
        group: &str,
        alarms: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        for name in alarms.iter().filter(|n| !n.is_empty() && !n.contains('#')) {
            let key = super::alarm_key(account, region, name);
            self.update(
                &key,
                now,
                || {
                    Some(Thread::new(Body::Alarm(super::alarm::AlarmEpisodes::new(
                        account, region, name,
                    ))))
                },
                |t| {
                    let Body::Alarm(a) = &mut t.body else {
                        return false;
                    };
                    // Bounded: an alarm watching more groups than this is odd input.
                    a.groups.len() < 64
                        && a.groups.insert((application.to_owned(), group.to_owned()))
                },
            )
            .await?;
        }
        Ok(())
    }

    /// A change of an existing thread that is not an event (a person's action): `f` changes
    /// it and says whether it did; the change then bumps the notification as an event's does
    /// and takes the delivery lease when that leaves work. Re-run on fresh state after a lost
    /// race, like [`Engine::update`].
    pub async fn change(
        &self,
        key: &str,
        now: i64,
        mut f: impl FnMut(&mut Thread) -> bool,
        wants: Wants<'_>,
    ) -> Result<Option<(Arc<Thread>, bool)>, StoreError> {
        self.update(
            key,
            now,
            || None,
            |t| {
                let c = f(t);
                if c {
                    self.after_change(key, t, now, wants);
                }
                c
            },
        )
        .await
    }

    /// After a state change: bump the notification seq if its content changed, and take the
    /// delivery lease when that leaves work and the lease is free.
    fn after_change(&self, key: &str, t: &mut Thread, now: i64, wants: Wants<'_>) {
        let Some(note) = t.refresh(now) else {
            return;
        };
        if !wants.has_work(t, &note) {
            return;
        }
        if t.lease_free_for(&self.cfg.owner, now) {
            self.take_lease(t, now);
        }
        // Kept for the delivery that follows, so it need not build the notification again.
        let mut fresh = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
        if fresh.len() >= FRESH_MAX {
            fresh.clear();
        }
        fresh.insert(key.to_owned(), (t.note_hash, note));
    }

    /// The notification the last change of `key` built, if it is the one a thread whose
    /// notification hashes to `hash` shows (a lost race or another worker's write makes it
    /// stale, and then it is not returned).
    pub fn take_fresh(&self, key: &str, hash: u64) -> Option<Notification> {
        let mut fresh = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
        match fresh.remove(key) {
            Some((h, note)) if h == hash => Some(note),
            _ => None,
        }
    }

    /// Applies a thread's own events in one write. `unsure` names destinations whose message
    /// this worker edited without recording it (an edit in place that lost its race): they are
    /// marked [`UNSURE`], so whoever delivers next edits them again. `absent`: the caller just
    /// found no such thread in the store, so it is created without reading again.
    pub async fn apply_direct(
        &self,
        key: &str,
        evs: &[&Event],
        now: i64,
        wants: Wants<'_>,
        unsure: &BTreeSet<String>,
        absent: bool,
    ) -> Result<bool, StoreError> {
        let Some(first) = evs.first() else {
            return Ok(false);
        };
        // Made by its first own event, or (events joined through a pointer only) by the first
        // that can make it, as `apply_released` does.
        let init = || match target(first) {
            Target::Thread(k) if k == key => new_thread(first),
            _ => evs.iter().find_map(|ev| thread_for(key, ev)),
        };
        let f = |t: &mut Thread, _: Option<u64>| {
            let mut c = false;
            for ev in evs {
                c |= t.apply_at(ev, now, &self.cfg.timing);
            }
            for d in unsure {
                if let Some(r) = t.deliveries.get_mut(d) {
                    if r.message.is_some() && r.seq != UNSURE {
                        r.seq = UNSURE;
                        c = true;
                    }
                }
            }
            if c {
                self.after_change(key, t, now, wants);
            }
            c
        };
        let r = if absent && !self.in_process() {
            self.update_from(key, now, None, init, f).await?
        } else {
            self.update_at(key, now, init, f).await?
        };
        Ok(r.is_some())
    }

    /// Whether the store is this process's memory (no other worker shares it).
    pub fn in_process(&self) -> bool {
        self.local.is_some()
    }

    /// The batch's threads whose change may be delivered before it is written ("edit in
    /// place", [`Engine::draft`] then [`Engine::commit`]), with their events: on a shared store,
    /// the threads the events name themselves and the executions `joined` names (see
    /// [`Engine::thread_groups`]). On the in-process store none: nobody else writes, so writing
    /// first and delivering under the lease costs no round trip.
    pub fn in_place_groups<'e>(
        &self,
        events: &'e [Event],
        joined: &'e Joined,
    ) -> BTreeMap<String, Vec<&'e Event>> {
        if self.in_process() {
            return BTreeMap::new();
        }
        Self::thread_groups(events, joined)
    }

    /// Whether this worker's cache holds the thread (no store read is needed to load it).
    pub fn is_cached(&self, key: &str) -> bool {
        self.local.is_some() || self.cache.contains(key)
    }

    /// The batch's events by the thread they name themselves (events reached through a
    /// pointer, builds and approvals, are left out).
    pub fn direct_groups(events: &[Event]) -> BTreeMap<String, Vec<&Event>> {
        let mut direct: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
        for ev in events {
            if let Target::Thread(k) = target(ev) {
                direct.entry(k).or_default().push(ev);
            }
        }
        direct
    }

    fn take_lease(&self, t: &mut Thread, now: i64) {
        t.lease = Some(Lease {
            owner: self.cfg.owner.clone(),
            until: now + self.cfg.lease_secs,
        });
    }

    pub fn owner(&self) -> &str {
        &self.cfg.owner
    }

    /// Plans the thread's timer before a write ([`Thread::plan_wake`]); a timer in the past
    /// (a backlog of old events) is due now, so that it lands where [`Engine::due`] looks.
    fn plan_wake(&self, thread: &mut Thread, now: i64) {
        thread.plan_wake(&self.cfg.timing);
        if let Some(w) = &mut thread.wake {
            *w = (*w).max(now);
        }
    }

    /// Keys of threads whose timer is due at `now`, at most `limit`, soonest first where the
    /// store can tell (the in-process store; DynamoDB's `wake` index by hour).
    pub async fn due(&self, now: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        if let Some(local) = self.local() {
            return Ok(local
                .wakes
                .iter()
                .take_while(|(w, _)| *w <= now)
                .filter(|(w, k)| local.is_set(*w, k))
                .take(limit)
                .map(|(_, k)| k.clone())
                .collect());
        }
        // Soonest first, each key once.
        let mut found = self.store.due(now, limit).await?;
        found.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        let mut seen = std::collections::HashSet::new();
        Ok(found
            .into_iter()
            .filter_map(|(k, _)| seen.insert(k.clone()).then_some(k))
            .collect())
    }

    /// The soonest timer of the in-process store, if any (a replay advances its clock to it).
    /// On a shared store, which cannot say without a query, the soonest after `after` that
    /// this process wrote and still caches (a replay on DynamoDB writes every thread here).
    pub fn next_wake_after(&self, after: i64) -> Option<i64> {
        let Some(local) = self.local() else {
            return self.cache.min_wake_after(after);
        };
        local
            .wakes
            .iter()
            .find(|(w, k)| local.is_set(*w, k))
            .map(|(w, _)| *w)
    }

    /// Tries a timer's delivery again at `at` (it failed: a timer has no source message to be
    /// received again), through the thread's own timer.
    pub async fn retry_at(&self, key: &str, at: i64, now: i64) -> Result<(), StoreError> {
        self.update(
            key,
            now,
            || None,
            |t| {
                let changed = t.retry_at != Some(at);
                t.retry_at = Some(at);
                changed
            },
        )
        .await?;
        Ok(())
    }

    /// Timers set in the in-process store (an expired thread's go with it).
    pub fn timers_pending(&self) -> Option<usize> {
        self.local().map(|l| l.wakes.len())
    }

    /// Fires a thread's timer at `now`: the pure [`Thread::tick`] in one conditional write
    /// (two workers that both found it due: one write wins, the other finds it spent), taking
    /// the delivery lease when that leaves work, like an event. Returns what it did, how late
    /// it fired (seconds past due; `None` when another worker fired it first or an event moved
    /// it), and the threads a service item's timer changed (held events that stopped waiting,
    /// applied where they belong; also when another worker fired it, as this one may have
    /// applied them first and holds their delivery).
    pub async fn tick(
        &self,
        key: &str,
        now: i64,
        wants: Wants<'_>,
    ) -> Result<(Option<(Fired, i64)>, Vec<String>), StoreError> {
        let timing = &self.cfg.timing;
        let mut fired = None;
        let mut released = Vec::new();
        let mut changed = Vec::new();
        if key.starts_with("svc#") {
            // Held tasks that stopped waiting go where they belong before the item lets go of
            // them (see `release_service`); the firing below finds them applied.
            let expire = |p: &mut ServicePointer| Some(service_members(key, p.release(now)));
            self.release_first(key, now, wants, &mut changed, expire)
                .await?;
        }
        self.update_at(
            key,
            now,
            || None,
            |t, _| {
                let due = t.wake;
                fired = t.tick(now, timing).map(|f| (f, now - due.unwrap_or(now)));
                released.clear();
                if let (Body::ServicePointer(p), Some(_)) = (&mut t.body, fired) {
                    // Crashes that waited for their deployment in vain.
                    released = service_members(key, p.release(now));
                    if !released.is_empty() {
                        fired = fired.map(|(_, late)| (Fired::Released, late));
                    }
                } else if fired.is_some() {
                    self.after_change(key, t, now, wants);
                }
                fired.is_some()
            },
        )
        .await?;
        self.apply_released(released, now, wants, &mut changed)
            .await?;
        changed.sort();
        changed.dedup();
        Ok((fired, changed))
    }

    /// Whether this worker holds a live lease on the thread.
    pub fn holds(&self, t: &Thread, now: i64) -> bool {
        t.lease
            .as_ref()
            .is_some_and(|l| l.owner == self.cfg.owner && l.until > now)
    }

    /// Takes the thread's delivery lease if it has work and nobody else holds a live lease.
    /// Returns the thread as of the lease, or `None` when another worker holds it (that worker
    /// delivers, and catches up with whatever changed) or there is nothing to do.
    pub async fn acquire(
        &self,
        key: &str,
        now: i64,
        wants: Wants<'_>,
    ) -> Result<Option<(u64, Arc<Thread>)>, StoreError> {
        let owner = self.cfg.owner.clone();
        let r = self
            .update_at(
                key,
                now,
                || None,
                |t, _| {
                    if !t.lease_free_for(&owner, now) || self.holds(t, now) {
                        return false;
                    }
                    let Some(note) = t.notification() else {
                        return false;
                    };
                    if !wants.has_work(t, &note) {
                        return false;
                    }
                    self.take_lease(t, now);
                    true
                },
            )
            .await?;
        Ok(r.map(|(v, t, _)| (v, t))
            .filter(|(_, t)| self.holds(t, now)))
    }

    /// Records that `destination` now shows notification `seq` (and where the message is),
    /// releasing the lease when `release` is set. `basis` is the version this worker wrote
    /// (or read) before it delivered. Returns the thread as written, and its version: a write
    /// that lost a race re-reads, so changes other workers made meanwhile are in it.
    ///
    /// A destination another worker marked [`UNSURE`] after `basis` stays so: that worker's
    /// edit may have reached the provider after this one.
    #[allow(clippy::too_many_arguments)]
    pub async fn record(
        &self,
        key: &str,
        destination: &str,
        seq: u64,
        message: MessageRef,
        release: bool,
        basis: u64,
        now: i64,
    ) -> Result<Option<(u64, Arc<Thread>)>, StoreError> {
        let owner = &self.cfg.owner;
        let r = self
            .update_at(
                key,
                now,
                || None,
                |t, version| {
                    let releasing = release && t.lease.as_ref().is_some_and(|l| &l.owner == owner);
                    let shown = t.deliveries.get(destination).is_some_and(|r| {
                        r.seq >= seq && r.message.is_some() && !gains_reply(&r.message, &message)
                    });
                    if shown && !releasing {
                        // Nothing to record: leave the thread untouched (the in-process store
                        // changes it in place).
                        return false;
                    }
                    let rec = t.deliveries.entry(destination.to_owned()).or_default();
                    let marked_since =
                        version != Some(basis) && rec.message.is_some() && rec.seq == UNSURE;
                    let mut changed = false;
                    if rec.message.is_none() {
                        rec.message = Some(message.clone());
                        changed = true;
                    } else if gains_reply(&rec.message, &message) {
                        // The same message, now with its failure reply sent.
                        rec.message = Some(message.clone());
                        changed = true;
                    }
                    if seq > rec.seq && !marked_since {
                        rec.seq = seq;
                        changed = true;
                    }
                    if releasing {
                        t.lease = None;
                        changed = true;
                    }
                    // A final message told after its settle window: its timer has nothing left
                    // to do, and goes with this write (no write of its own when it would fire).
                    if changed && !t.settled {
                        let past = t.final_since.zip(self.cfg.timing.settle_secs);
                        if past.is_some_and(|(f, s)| now >= f.saturating_add(s)) {
                            t.settled = true;
                        }
                    }
                    changed
                },
            )
            .await?;
        Ok(r.map(|(v, t, _)| (v, t)))
    }

    /// Gives the lease up (after a failed delivery) so the next attempt, here or on another
    /// worker, can deliver.
    pub async fn release(&self, key: &str, now: i64) -> Result<(), StoreError> {
        let owner = &self.cfg.owner;
        self.update(
            key,
            now,
            || None,
            |t| {
                let mine = t.lease.as_ref().is_some_and(|l| &l.owner == owner);
                if mine {
                    t.lease = None;
                }
                mine
            },
        )
        .await?;
        Ok(())
    }

    /// Every stored item whose key starts with `prefix`, decoded (status page; not hot).
    pub async fn scan(&self, prefix: &str) -> Result<Vec<(String, Thread)>, StoreError> {
        if let Some(local) = self.local() {
            let mut out: Vec<(String, Thread)> = local
                .items
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, (_, _, t))| (k.clone(), Thread::clone(t)))
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(out);
        }
        let items = self.store.scan_prefix(prefix).await?;
        items
            .into_iter()
            .map(|(k, item)| decode_item(&k, &item).map(|t| (k, t)))
            .collect()
    }
}

/// Whether `new` records a failure reply that the stored reference does not.
fn gains_reply(stored: &Option<MessageRef>, new: &MessageRef) -> bool {
    use crate::deliver::retry::{news_replied_in, replied_in, NEWS_KEYS};
    let news = NEWS_KEYS.into_iter().any(|k| {
        let told = news_replied_in(Some(new), k);
        told.is_some() && told != news_replied_in(stored.as_ref(), k)
    });
    news || (replied_in(Some(new)) && !replied_in(stored.as_ref()))
}

/// The thread a pointer's link names: an alarm's by its key, a deployment's as the pointer's
/// member (`dg#a#r#app#group` + `d-1` is CodeDeploy's `cd#a#r#d-1`).
fn link_member(pointer_key: &str, link: super::verdict::Link) -> String {
    match link {
        super::verdict::Link::Alarm(k) => k,
        super::verdict::Link::Deploy(id) => match pointer_key.strip_prefix("dg#") {
            Some(rest) => {
                let mut p = rest.splitn(3, '#');
                let (a, r) = (p.next().unwrap_or_default(), p.next().unwrap_or_default());
                super::join_key("cd", &[a, r, &id])
            }
            None => member_key(pointer_key, &id),
        },
    }
}

/// The thread a pointer's member id names: `pl#a#r#p` + `x` is `ex#a#r#p#x`, `svc#a#r#c#s` + `d`
/// is `ecs#a#r#c#s#d`.
fn member_key(pointer_key: &str, id: &str) -> String {
    // An approval pointer (`pa#region#pipeline#stage#action`) names `account#execution`.
    if let Some(rest) = pointer_key.strip_prefix("pa#") {
        let mut parts = rest.splitn(3, '#');
        let (Some(region), Some(pipeline)) = (parts.next(), parts.next()) else {
            return String::new();
        };
        return match id.split_once('#') {
            Some((account, execution)) => super::pipeline_key(account, region, pipeline, execution),
            None => String::new(),
        };
    }
    match (
        pointer_key.strip_prefix("pl#"),
        pointer_key.strip_prefix("svc#"),
    ) {
        (Some(rest), _) => format!("ex#{rest}#{id}"),
        (_, Some(rest)) => format!("ecs#{rest}#{id}"),
        _ => String::new(),
    }
}

/// The thread a service pointer sends an event to: a deployment's, or the service's crash
/// episode (`svc#a#r#c#s` → `es#a#r#c#s`).
fn service_member(pointer_key: &str, to: ServiceTarget) -> String {
    match to {
        ServiceTarget::Deployment(d) => member_key(pointer_key, &d),
        ServiceTarget::Episode => format!(
            "es#{}",
            pointer_key.strip_prefix("svc#").unwrap_or(pointer_key)
        ),
        ServiceTarget::Scaling(id) => format!(
            "sc#{}#{id}",
            pointer_key.strip_prefix("svc#").unwrap_or(pointer_key)
        ),
        ServiceTarget::Alarm(key) => key,
    }
}

fn service_members(
    pointer_key: &str,
    released: Vec<(ServiceTarget, Event)>,
) -> Vec<(String, Event)> {
    released
        .into_iter()
        .map(|(to, ev)| (service_member(pointer_key, to), ev))
        .collect()
}

/// What [`Engine::join_pipelines`] found for the threads of a batch.
#[derive(Debug, Default)]
pub struct Joined {
    /// Events that reach an execution through its pipeline's pointer, by thread key.
    pub events: Vec<(String, Event)>,
    /// Pointers left to be written after the threads (they hold events or alarms watch them).
    later: BTreeSet<String>,
}

/// Manual approval actions also teach their account-less approval pointer, which an approval
/// message delivered raw (no account) joins through; there an execution is named
/// `account#execution` (see `member_key`).
fn approval_actions(events: &[Event]) -> Vec<(String, Event)> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Event::ActionExecution(a)
                if a.category == "Approval"
                    && a.provider == "Manual"
                    && !a.meta.account.is_empty() =>
            {
                let mut named = a.clone();
                named.execution_id = format!("{}#{}", a.meta.account, a.execution_id);
                let key =
                    super::approval_pointer_key(&a.meta.region, &a.pipeline, &a.stage, &a.action);
                Some((key, Event::ActionExecution(named)))
            }
            _ => None,
        })
        .collect()
}

/// A batch's events by the pipeline pointer they teach (its executions' own events, and
/// `approvals` from [`approval_actions`]) and by the one they reach their execution through.
#[allow(clippy::type_complexity)]
fn pointer_inputs<'e>(
    events: &'e [Event],
    approvals: &'e [(String, Event)],
) -> (
    BTreeMap<String, Vec<&'e Event>>,
    BTreeMap<String, Vec<&'e Event>>,
) {
    let mut observe: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    let mut via: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for ev in events {
        match target(ev) {
            Target::Thread(k) => {
                if let Some(p) = super::pointer_of(&k).filter(|p| p.starts_with("pl#")) {
                    observe.entry(p).or_default().push(ev);
                }
            }
            Target::Pipeline(p) => via.entry(p).or_default().push(ev),
            _ => {}
        }
    }
    for (key, ev) in approvals {
        observe.entry(key.clone()).or_default().push(ev);
    }
    (observe, via)
}

/// An empty thread for a key reached through a pointer, if `ev` may start one: a crash
/// episode starts with a crash (a steady state only ends one).
fn thread_for(key: &str, ev: &Event) -> Option<Thread> {
    // What a thread is told of another (an alarm, a Health issue, deployments) never starts
    // one: the thread may have expired, and would come back as an empty message.
    if matches!(
        ev,
        Event::AlarmState(_) | Event::Health(_) | Event::DeployLink(_)
    ) {
        return None;
    }
    let parts: Vec<&str> = key.split('#').collect();
    match parts.as_slice() {
        ["cd", account, region, id] => Some(Thread::new(Body::Deployment(
            super::standalone::Deployment::new(account, region, id),
        ))),
        ["sc", account, region, cluster, service, _] if matches!(ev, Event::ApiCall(_)) => {
            Some(Thread::new(Body::EcsScaling(
                super::scaling::EcsScaling::new(account, region, cluster, service),
            )))
        }
        ["es", account, region, cluster, service] if matches!(ev, Event::EcsTask(_)) => {
            Some(Thread::new(Body::EcsService(
                super::service::EcsService::new(account, region, cluster, service),
            )))
        }
        ["ex", account, region, pipeline, exec] => Some(Thread::new(Body::Pipeline(Box::new(
            super::pipeline::PipelineExec::new(account, region, pipeline, exec),
        )))),
        ["ecs", account, region, cluster, service, id] => Some(Thread::new(Body::Ecs(Box::new(
            super::ecs::EcsDeploy::new(account, region, cluster, service, id),
        )))),
        _ => None,
    }
}

/// A new, empty pipeline pointer (`pl#...`).
fn pipeline_pointer() -> Option<Thread> {
    Some(Thread::new(Body::PipelinePointer(
        PipelinePointer::default(),
    )))
}

/// A thread as item state: its JSON, compressed ([`super::codec`]): fewer write units per
/// write (see the README, "Footprint").
pub fn encode_state(thread: &Thread) -> Result<Vec<u8>, serde_json::Error> {
    Ok(super::codec::encode(&serde_json::to_vec(thread)?))
}

fn decode_item(key: &str, item: &Item) -> Result<Thread, StoreError> {
    let json = super::codec::decode(&item.state)
        .map_err(|e| StoreError::Rejected(format!("item {key} does not decode: {e}")))?;
    serde_json::from_slice(&json)
        .map_err(|e| StoreError::Rejected(format!("item {key} does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_state_is_stored_compressed_and_reads_back_as_were_plain_ones() {
        let mut t = Thread::new(Body::Pipeline(Box::new(
            crate::correlate::pipeline::PipelineExec::new(
                "111122223333",
                "eu-west-1",
                "web",
                "e-1",
            ),
        )));
        t.seq = 7;
        let state = encode_state(&t).expect("encode");
        let json = serde_json::to_vec(&t).expect("json");
        assert_eq!(state[0], 2, "compressed against the dictionary");
        assert!(
            state.len() < json.len(),
            "{} >= {}",
            state.len(),
            json.len()
        );
        let item = |state: Vec<u8>| Item {
            version: 1,
            state,
            expires_at: 0,
            wake: None,
        };
        assert_eq!(decode_item("k", &item(state.clone())).expect("packed"), t);
        // Written before states were compressed.
        assert_eq!(decode_item("k", &item(json)).expect("plain"), t);
        let mut broken = state;
        broken.truncate(broken.len() / 2);
        let err = decode_item("k", &item(broken)).expect_err("truncated");
        assert!(err.to_string().contains("does not inflate"), "{err}");
    }

    #[test]
    fn a_reference_that_tells_news_replaces_the_stored_one() {
        let stored = Some(json!({"channel": "C1", "ts": "1.2"}));
        // A failure reply, a stall reply, a reminder: each news is kept once.
        assert!(gains_reply(
            &stored,
            &json!({"channel": "C1", "ts": "1.2", "replied": true})
        ));
        let stalled = json!({"channel": "C1", "ts": "1.2", "stall_replied": 100});
        assert!(gains_reply(&stored, &stalled));
        assert!(
            !gains_reply(&Some(stalled.clone()), &stalled),
            "already kept"
        );
        let next = json!({"channel": "C1", "ts": "1.2", "stall_replied": 200});
        assert!(gains_reply(&Some(stalled), &next), "a later stall");
        assert!(gains_reply(&stored, &json!({"reminded": 5})));
        assert!(!gains_reply(
            &stored,
            &json!({"channel": "C1", "ts": "1.2"})
        ));
    }
}
