//! Kinesis: one task per shard this worker holds a lease on (see [`super::lease`]). A
//! coordinator lists the shards, creates their leases, renews ours, takes free or expired ones
//! and balances shards across the live workers; a child shard is eligible only once all its
//! parents are checkpointed `SHARD_END`, so parents are always finished before children start.
//! Each shard task reads with `GetRecords`, checkpoints only up to the highest sequence number
//! below which every record is done, re-gets an expired iterator from the last record read,
//! backs off when throttled, and at the shard's end (a null next iterator) waits for its
//! records and checkpoints `SHARD_END`.
//!
//! An undecodable record cannot go to a dead-letter queue: it is counted, logged and passed.
//! A record whose work failed (`Release`) makes the shard re-read from its checkpoint.

use super::lease::{seq_cmp, Checkpointed, Lease, LeaseTable, SHARD_END};
use super::{backoff, unix_now, AckToken, Envelope, Outcome, Source, SourceError};
use crate::telemetry::metrics;
use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use futures::future::BoxFuture;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct KinesisOptions {
    pub stream_arn: String,
    pub lease_table: String,
    /// This worker's name in leases.
    pub owner: String,
    /// A lease whose counter has not moved for this long is expired.
    pub failover: Duration,
    pub max_in_flight: usize,
    /// `TRIM_HORIZON` or `LATEST`, for shards without a checkpoint.
    pub initial_position: String,
}

/// The stream name of a stream ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`), or the
/// argument itself when it is already a name. Calls name the stream, which every Kinesis
/// implementation accepts.
pub fn stream_name(arn_or_name: &str) -> &str {
    arn_or_name
        .rsplit_once(":stream/")
        .map(|(_, n)| n)
        .unwrap_or(arn_or_name)
}

type Lock<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Done,
    Failed,
}

/// The records of one shard handed out and not yet checkpointed, in sequence order.
#[derive(Default)]
struct Tracker {
    records: VecDeque<(String, State)>,
    /// The highest sequence number below which everything is done, not yet written.
    checkpointable: Option<String>,
    /// A record's work failed: re-read from the checkpoint.
    failed: bool,
}

impl Tracker {
    fn finish(&mut self, seq: &str, outcome: Outcome) {
        // A failed record is never passed: the checkpoint stops below it and the shard is
        // re-read from there. An undecodable one (`Reject`) is passed: there is no DLQ.
        let state = if outcome == Outcome::Release {
            self.failed = true;
            State::Failed
        } else {
            State::Done
        };
        if let Some(r) = self.records.iter_mut().find(|(s, _)| s == seq) {
            r.1 = state;
        }
        while let Some((s, State::Done)) = self.records.front() {
            self.checkpointable = Some(s.clone());
            self.records.pop_front();
        }
    }

    fn idle(&self) -> bool {
        self.records.iter().all(|(_, st)| *st != State::Pending)
    }
}

struct ShardHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Until when the lease is surely ours: the failover time after the last renewal (or the
    /// take) was sent. No other worker can take it earlier, as it waits that long after it
    /// *saw* the counter, which was after the renewal was sent.
    valid_until: Lock<Instant>,
}

struct Shared {
    kinesis: Client,
    leases: LeaseTable,
    stream: String,
    opts: KinesisOptions,
    tx: mpsc::Sender<Vec<Envelope>>,
    semaphore: Arc<Semaphore>,
    healthy: AtomicBool,
}

pub struct KinesisSource {
    shared: Arc<Shared>,
    batches: tokio::sync::Mutex<mpsc::Receiver<Vec<Envelope>>>,
    stop: watch::Sender<bool>,
    coordinator: Mutex<Option<JoinHandle<()>>>,
}

impl KinesisSource {
    /// Creates the lease table if missing and starts the coordinator.
    pub async fn start(
        kinesis: Client,
        dynamodb: aws_sdk_dynamodb::Client,
        opts: KinesisOptions,
    ) -> Result<Arc<Self>, SourceError> {
        let stream = stream_name(&opts.stream_arn).to_owned();
        if stream.is_empty() {
            return Err(SourceError::Config("kinesis: no stream".into()));
        }
        let leases = LeaseTable::new(dynamodb, &opts.lease_table, &stream);
        leases
            .create_table_if_missing()
            .await
            .map_err(|e| SourceError::Config(e.to_string()))?;
        let (tx, rx) = mpsc::channel(64);
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            kinesis,
            leases,
            stream,
            semaphore: Arc::new(Semaphore::new(opts.max_in_flight.max(10))),
            opts,
            tx,
            healthy: AtomicBool::new(true),
        });
        let coordinator = tokio::spawn(coordinate(shared.clone(), stop_rx));
        Ok(Arc::new(Self {
            shared,
            batches: tokio::sync::Mutex::new(rx),
            stop: stop_tx,
            coordinator: Mutex::new(Some(coordinator)),
        }))
    }
}

impl Source for KinesisSource {
    fn name(&self) -> &'static str {
        "kinesis"
    }

    fn next_batch(&self) -> BoxFuture<'_, Option<Vec<Envelope>>> {
        Box::pin(async move {
            let mut rx = self.batches.lock().await;
            loop {
                tokio::select! {
                    b = rx.recv() => return b,
                    // The shard tasks hold senders too; once stopping and the coordinator has
                    // ended (all shard tasks joined), nothing more will come.
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        let done = *self.stop.borrow()
                            && lock(&self.coordinator).as_ref().is_none_or(|c| c.is_finished());
                        if done {
                            return rx.try_recv().ok();
                        }
                    }
                }
            }
        })
    }

    fn stop(&self) {
        let _ = self.stop.send(true);
    }

    fn ready(&self) -> bool {
        !*self.stop.borrow() && self.shared.healthy.load(Ordering::Relaxed)
    }

    fn drain(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop();
            let c = lock(&self.coordinator).take();
            if let Some(c) = c {
                let _ = c.await;
            }
        })
    }
}

/// Observed counters, for the expiry rule: (counter, when we first saw it).
type Observed = HashMap<String, (u64, Instant)>;

async fn coordinate(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let m = metrics();
    let owner = shared.opts.owner.clone();
    let mut observed: Observed = HashMap::new();
    let mut running: BTreeMap<String, ShardHandle> = BTreeMap::new();
    let tick = (shared.opts.failover / 4).max(Duration::from_millis(200));
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            break;
        }
        // Shard tasks that ended by themselves (shard end, lost lease, error) are dropped.
        running.retain(|_, h| !h.task.is_finished());
        match round(&shared, &owner, &mut observed, &mut running).await {
            Ok(()) => {
                failures = 0;
                shared.healthy.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                failures += 1;
                if failures >= 3 {
                    shared.healthy.store(false, Ordering::Relaxed);
                }
                m.source_errors
                    .with_label_values(&["kinesis", "coordinate"])
                    .inc();
                tracing::warn!(error = %e, "kinesis lease round failed");
            }
        }
        m.kinesis_leases_held.set(running.len() as i64);
        tokio::select! {
            _ = tokio::time::sleep(tick) => {},
            _ = stop.changed() => {},
        }
    }
    // Shutdown: shard tasks stop reading, wait for their records, checkpoint, release.
    for h in running.values() {
        let _ = h.stop.send(true);
    }
    for (_, h) in running {
        let _ = h.task.await;
    }
    m.kinesis_leases_held.set(0);
}

/// One coordination round: shards → leases, renew ours, take what is free, expired or needed
/// for balance.
async fn round(
    shared: &Arc<Shared>,
    owner: &str,
    observed: &mut Observed,
    running: &mut BTreeMap<String, ShardHandle>,
) -> Result<(), String> {
    let shards = list_shards(shared).await?;
    let mut leases: BTreeMap<String, Lease> = shared
        .leases
        .list()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|l| (l.shard.clone(), l))
        .collect();
    for (id, parents) in &shards {
        if !leases.contains_key(id) {
            shared
                .leases
                .create(id, parents)
                .await
                .map_err(|e| e.to_string())?;
            leases.insert(
                id.clone(),
                Lease {
                    shard: id.clone(),
                    owner: String::new(),
                    counter: 0,
                    checkpoint: String::new(),
                    parents: parents.clone(),
                },
            );
        }
    }
    let now = Instant::now();
    for l in leases.values() {
        let e = observed.entry(l.shard.clone()).or_insert((l.counter, now));
        if e.0 != l.counter {
            *e = (l.counter, now);
        }
    }
    let failover = shared.opts.failover;
    let expired = |l: &Lease, observed: &Observed| {
        l.owner.is_empty()
            || observed
                .get(&l.shard)
                .is_some_and(|(_, since)| now.duration_since(*since) >= failover)
    };

    // Renew ours; a renewal refused means another worker took it: stop that shard at once.
    let mine: Vec<String> = running.keys().cloned().collect();
    for shard in mine {
        let sent = Instant::now();
        match shared.leases.renew(&shard, owner).await {
            Ok(Some(c)) => {
                observed.insert(shard.clone(), (c, Instant::now()));
                if let Some(h) = running.get(&shard) {
                    *lock(&h.valid_until) = sent + failover;
                }
                if let Some(l) = leases.get_mut(&shard) {
                    l.owner = owner.to_owned();
                    l.counter = c;
                }
            }
            Ok(None) => {
                tracing::info!(shard = %shard, "kinesis lease lost to another worker");
                if let Some(h) = running.remove(&shard) {
                    let _ = h.stop.send(true);
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }

    // Eligible: not finished, and every parent we know of finished.
    let finished = |id: &str| leases.get(id).is_none_or(|l| l.finished());
    let eligible: Vec<&Lease> = leases
        .values()
        .filter(|l| !l.finished() && l.parents.iter().all(|p| finished(p)))
        .collect();
    // Live workers: every owner whose lease counter moved lately, finished shards included (a
    // worker whose parent shard just ended is still there and must get a child).
    let mut workers: BTreeMap<&str, usize> = BTreeMap::new();
    workers.insert(owner, 0);
    for l in leases.values() {
        if !l.owner.is_empty() && !expired(l, observed) {
            workers.entry(l.owner.as_str()).or_insert(0);
        }
    }
    for l in &eligible {
        if !expired(l, observed) {
            *workers.entry(l.owner.as_str()).or_insert(0) += 1;
        }
    }
    let target = eligible.len().div_ceil(workers.len().max(1));
    let held = running.len();
    if held >= target {
        return Ok(());
    }
    let mut want = target - held;
    // Free or expired first, then one from the busiest worker if it holds more than its
    // share (one a round, so the fleet converges without thrashing).
    let free: Vec<Lease> = eligible
        .iter()
        .filter(|l| expired(l, observed) && !running.contains_key(&l.shard))
        .map(|l| (*l).clone())
        .collect();
    let busiest = workers
        .iter()
        .filter(|(w, _)| **w != owner)
        .max_by_key(|(_, n)| **n)
        .map(|(w, n)| (w.to_string(), *n));
    let steal: Option<Lease> = match busiest {
        Some((w, n)) if n > target => eligible
            .iter()
            .find(|l| l.owner == w && !expired(l, observed))
            .map(|l| (*l).clone()),
        _ => None,
    };
    let mut candidates = free;
    let mut stolen_from = None;
    if candidates.len() < want {
        if let Some(l) = steal {
            stolen_from = Some(l.owner.clone());
            candidates.push(l);
        }
    }
    for l in candidates {
        if want == 0 {
            break;
        }
        let sent = Instant::now();
        let taken = shared
            .leases
            .take(&l.shard, l.counter, owner)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(c) = taken {
            observed.insert(l.shard.clone(), (c, Instant::now()));
            let balance = stolen_from.as_deref() == Some(l.owner.as_str());
            tracing::info!(shard = %l.shard, previous_owner = %l.owner, balance, "kinesis lease taken");
            running.insert(
                l.shard.clone(),
                spawn_shard(shared.clone(), l, sent + failover),
            );
            want -= 1;
        }
    }
    Ok(())
}

/// Every shard with its parents.
async fn list_shards(shared: &Shared) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let req = match &token {
            Some(t) => shared.kinesis.list_shards().next_token(t),
            None => shared.kinesis.list_shards().stream_name(&shared.stream),
        };
        let r = req
            .send()
            .await
            .map_err(|e| aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string())?;
        for s in r.shards() {
            let mut parents = Vec::new();
            if let Some(p) = s.parent_shard_id() {
                parents.push(p.to_owned());
            }
            if let Some(p) = s.adjacent_parent_shard_id() {
                parents.push(p.to_owned());
            }
            out.push((s.shard_id().to_owned(), parents));
        }
        match r.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

fn spawn_shard(shared: Arc<Shared>, lease: Lease, valid_until: Instant) -> ShardHandle {
    let (stop_tx, stop_rx) = watch::channel(false);
    let valid_until: Lock<Instant> = Arc::new(Mutex::new(valid_until));
    let task = tokio::spawn(read_shard(shared, lease, valid_until.clone(), stop_rx));
    ShardHandle {
        stop: stop_tx,
        task,
        valid_until,
    }
}

async fn iterator(
    shared: &Shared,
    shard: &str,
    after: Option<&str>,
) -> Result<Option<String>, String> {
    let mut req = shared
        .kinesis
        .get_shard_iterator()
        .stream_name(&shared.stream)
        .shard_id(shard);
    req = match after {
        Some(seq) => req
            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
            .starting_sequence_number(seq),
        None if shared.opts.initial_position == "LATEST" => {
            req.shard_iterator_type(ShardIteratorType::Latest)
        }
        None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
    };
    req.send()
        .await
        .map(|r| r.shard_iterator().map(str::to_owned))
        .map_err(|e| aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string())
}

/// Reads one shard while we hold its lease.
async fn read_shard(
    shared: Arc<Shared>,
    lease: Lease,
    valid_until: Lock<Instant>,
    mut stop: watch::Receiver<bool>,
) {
    let m = metrics();
    let shard = lease.shard.clone();
    let owner = shared.opts.owner.clone();
    let tracker: Lock<Tracker> = Arc::default();
    let mut checkpoint: Option<String> = Some(lease.checkpoint.clone()).filter(|c| !c.is_empty());
    let mut last_read = checkpoint.clone();
    // Reading past a checkpoint someone already read from (a previous owner, or this reader
    // before a failed record): the first batch may hold records whose work was cut short, so
    // they are marked as received again.
    let mut again = checkpoint.is_some();
    let mut iter: Option<String> = None;
    let mut failures = 0u32;
    let mut ended = false;
    let mut last_checkpoint_write = Instant::now();
    tracing::info!(shard = %shard, checkpoint = ?checkpoint, "kinesis shard reader started");
    loop {
        if *stop.borrow() {
            break;
        }
        // A failed record: let what is in flight finish, then re-read from the checkpoint.
        if lock(&tracker).failed {
            wait_idle(&tracker, &mut stop).await;
            write_checkpoint(&shared, &shard, &owner, &tracker, &mut checkpoint).await;
            {
                let mut t = lock(&tracker);
                t.failed = false;
                t.records.clear();
            }
            last_read = checkpoint.clone();
            again = true;
            iter = None;
            tokio::time::sleep(backoff(failures.max(3))).await;
        }
        if iter.is_none() {
            match iterator(&shared, &shard, last_read.as_deref()).await {
                Ok(Some(i)) => iter = Some(i),
                Ok(None) => {
                    ended = true;
                    break;
                }
                Err(e) => {
                    failures += 1;
                    m.source_errors
                        .with_label_values(&["kinesis", "get_shard_iterator"])
                        .inc();
                    tracing::warn!(shard = %shard, error = %e, "kinesis get iterator failed");
                    sleep_or_stop(backoff(failures), &mut stop).await;
                    continue;
                }
            }
        }
        let Some(it) = iter.clone() else { continue };
        // Fencing: nothing is read while the lease may have run out (this process was paused,
        // or its renewals failed); another worker may own the shard now. Reading resumes with
        // the same iterator once a renewal says the lease is still ours, or the coordinator
        // stops this reader (and the shard's reads stay free for the new owner meanwhile).
        if lease_unsure(&valid_until) {
            sleep_or_stop(Duration::from_millis(500), &mut stop).await;
            continue;
        }
        let r = shared
            .kinesis
            .get_records()
            .shard_iterator(it)
            // Never more than the semaphore holds, or the batch could wait for permits forever.
            .limit(shared.opts.max_in_flight.clamp(1, 1_000) as i32)
            .send()
            .await;
        let out = match r {
            Ok(o) => o,
            Err(e) => {
                let code = e
                    .as_service_error()
                    .and_then(aws_sdk_kinesis::error::ProvideErrorMetadata::code)
                    .unwrap_or("")
                    .to_owned();
                failures += 1;
                match code.as_str() {
                    "ExpiredIteratorException" => {
                        // Re-get from the last record read; nothing is skipped or repeated.
                        iter = None;
                        m.source_errors
                            .with_label_values(&["kinesis", "expired_iterator"])
                            .inc();
                    }
                    "ProvisionedThroughputExceededException" | "LimitExceededException" => {
                        m.source_errors
                            .with_label_values(&["kinesis", "throttled"])
                            .inc();
                        tracing::debug!(shard = %shard, "kinesis throttled; backing off");
                        sleep_or_stop(backoff(failures + 2), &mut stop).await;
                    }
                    _ => {
                        m.source_errors
                            .with_label_values(&["kinesis", "get_records"])
                            .inc();
                        tracing::warn!(shard = %shard, error = %aws_sdk_kinesis::error::DisplayErrorContext(&e), "kinesis get records failed");
                        sleep_or_stop(backoff(failures), &mut stop).await;
                    }
                }
                continue;
            }
        };
        failures = 0;
        let records = out.records();
        if !records.is_empty() {
            // Room for the whole batch first: a slow pipeline slows reading.
            let n = records.len() as u32;
            let permits = tokio::select! {
                p = shared.semaphore.clone().acquire_many_owned(n) => match p { Ok(p) => p, Err(_) => break },
                _ = stop.changed() => break,
            };
            // Fencing again, after the wait for room (and a pause may fall inside it): records
            // read while the lease may have run out are not handed out. The same iterator
            // reads them again once the lease is surely ours (it has not moved past them).
            if lease_unsure(&valid_until) {
                drop(permits);
                m.source_errors
                    .with_label_values(&["kinesis", "lease_unsure"])
                    .inc();
                tracing::info!(shard = %shard, records = records.len(), "kinesis records not handed out: the lease may have run out");
                continue;
            }
            let mut permits = Some(permits);
            let now = unix_now();
            let mut batch = Vec::with_capacity(records.len());
            for (i, rec) in records.iter().enumerate() {
                let seq = rec.sequence_number().to_owned();
                let permit = if i + 1 == records.len() {
                    permits.take()
                } else {
                    permits.as_mut().and_then(|p| p.split(1))
                };
                lock(&tracker)
                    .records
                    .push_back((seq.clone(), State::Pending));
                let t = tracker.clone();
                let s = seq.clone();
                let token = AckToken::new(move |outcome| {
                    drop(permit);
                    metrics()
                        .source_acked
                        .with_label_values(&["kinesis", outcome.label()])
                        .inc();
                    lock(&t).finish(&s, outcome);
                });
                batch.push(Envelope {
                    id: format!("{shard}/{seq}"),
                    body: bytes::Bytes::copy_from_slice(rec.data().as_ref()),
                    ack: token,
                    received_at: now,
                    receive_count: if again { 2 } else { 1 },
                });
                last_read = Some(seq);
            }
            if let (Some(first), Some(last)) = (batch.first(), batch.last()) {
                tracing::debug!(shard = %shard, first = %first.id, last = %last.id, records = batch.len(), "kinesis records handed out");
                again = false;
            }
            m.source_received
                .with_label_values(&["kinesis"])
                .inc_by(batch.len() as u64);
            if shared.tx.send(batch).await.is_err() {
                break;
            }
        }
        iter = out.next_shard_iterator().map(str::to_owned);
        if iter.is_none() {
            ended = true;
            break;
        }
        if last_checkpoint_write.elapsed() >= Duration::from_secs(1) {
            if !write_checkpoint(&shared, &shard, &owner, &tracker, &mut checkpoint).await {
                // The lease is gone: stop reading; what is in flight finishes elsewhere too.
                break;
            }
            last_checkpoint_write = Instant::now();
        }
        if records.is_empty() {
            // Kinesis allows 5 GetRecords per second per shard.
            sleep_or_stop(Duration::from_millis(500), &mut stop).await;
        } else {
            sleep_or_stop(Duration::from_millis(200), &mut stop).await;
        }
    }
    // Stopping, lost or at the end: wait for what we handed out, then checkpoint.
    wait_idle(&tracker, &mut watch::channel(false).1).await;
    write_checkpoint(&shared, &shard, &owner, &tracker, &mut checkpoint).await;
    if ended && !lock(&tracker).failed {
        match shared.leases.checkpoint(&shard, &owner, SHARD_END).await {
            Ok(Checkpointed::Written) => tracing::info!(shard = %shard, "kinesis shard finished"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(shard = %shard, error = %e, "kinesis SHARD_END checkpoint failed")
            }
        }
    }
    if *stop.borrow() {
        // Shutdown: give the lease up so another worker continues at once.
        let _ = shared.leases.release(&shard, &owner).await;
    }
}

/// Whether the lease may have run out: the failover time since the last renewal sent is over.
fn lease_unsure(valid_until: &Lock<Instant>) -> bool {
    Instant::now() >= *lock(valid_until)
}

async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {},
        _ = stop.changed() => {},
    }
}

/// Waits until every record handed out is finished (or the shard failed).
async fn wait_idle(tracker: &Lock<Tracker>, _stop: &mut watch::Receiver<bool>) {
    loop {
        {
            if lock(tracker).idle() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes the checkpoint if it advanced; `false` when the lease is no longer ours.
async fn write_checkpoint(
    shared: &Shared,
    shard: &str,
    owner: &str,
    tracker: &Lock<Tracker>,
    checkpoint: &mut Option<String>,
) -> bool {
    let Some(cp) = lock(tracker).checkpointable.take() else {
        return true;
    };
    if checkpoint
        .as_deref()
        .is_some_and(|c| seq_cmp(c, &cp) != std::cmp::Ordering::Less)
    {
        return true;
    }
    match shared.leases.checkpoint(shard, owner, &cp).await {
        Ok(Checkpointed::Written) => {
            *checkpoint = Some(cp);
            true
        }
        // Already there (an earlier write whose answer was lost) or further on (a newer reader
        // of this worker, after the lease was lost and taken again, while this one finishes):
        // the table keeps the furthest.
        Ok(Checkpointed::AlreadyPast) => {
            *checkpoint = Some(cp);
            true
        }
        Ok(Checkpointed::Lost) => {
            tracing::info!(shard = %shard, "kinesis checkpoint refused: lease lost");
            false
        }
        Err(e) => {
            tracing::warn!(shard = %shard, error = %e, "kinesis checkpoint failed; will retry");
            // Put it back so the next write tries again.
            let mut t = lock(tracker);
            if t.checkpointable.is_none() {
                t.checkpointable = Some(cp);
            }
            true
        }
    }
}
