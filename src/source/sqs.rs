//! SQS: `pollers` tasks long-poll (`WaitTimeSeconds` 20, up to 10 messages a call) while a
//! semaphore bounds the messages in flight (polling waits when it is full); a visibility task
//! extends every unfinished message before its timeout runs out; an ack task deletes finished
//! messages with `DeleteMessageBatch`, entry by entry. A message that is not finished (an error,
//! a crash, shutdown) is not deleted and comes back after its visibility timeout; one that
//! cannot be decoded is never deleted, so the queue's redrive policy moves it to the
//! dead-letter queue after `maxReceiveCount` receives.

use super::{backoff, unix_now, AckToken, Envelope, Outcome, Source};
use crate::telemetry::metrics;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName,
};
use aws_sdk_sqs::Client;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// The most messages one `ReceiveMessage` or batch call takes (an SQS limit).
const BATCH: usize = 10;

#[derive(Debug, Clone)]
pub struct SqsOptions {
    pub queue_url: String,
    pub pollers: usize,
    /// Messages received and not yet acknowledged, at most.
    pub max_in_flight: usize,
    /// The visibility timeout asked for at receive and at every extension.
    pub visibility_timeout_secs: i32,
    /// Long-poll wait (20 s, the maximum, unless a test wants shorter).
    pub wait_time_secs: i32,
}

impl Default for SqsOptions {
    fn default() -> Self {
        Self {
            queue_url: String::new(),
            pollers: 4,
            max_in_flight: 1_000,
            visibility_timeout_secs: 60,
            wait_time_secs: 20,
        }
    }
}

/// A received message whose work is not finished, keyed by receipt handle.
struct Tracked {
    visible_until: Instant,
}

struct AckMsg {
    receipt: String,
    message_id: String,
    outcome: Outcome,
    /// Held until the ack is handled, so in-flight counts what is not yet deleted.
    _permit: OwnedSemaphorePermit,
}

pub struct SqsSource {
    batches: tokio::sync::Mutex<mpsc::Receiver<Vec<Envelope>>>,
    stop: watch::Sender<bool>,
    healthy: Arc<AtomicBool>,
    ack_tx: Mutex<Option<mpsc::Sender<AckMsg>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    ack_task: Mutex<Option<JoinHandle<()>>>,
    visibility_task: Mutex<Option<JoinHandle<()>>>,
}

impl SqsSource {
    /// Starts the pollers, the visibility task and the ack task.
    pub fn start(client: Client, opts: SqsOptions) -> Arc<Self> {
        let pollers = opts.pollers.max(1);
        let max_in_flight = opts.max_in_flight.max(BATCH);
        let (batch_tx, batch_rx) = mpsc::channel(pollers * 2);
        // Every in-flight message sends exactly one ack and holds a permit until it is
        // handled, so this capacity is never exceeded and `try_send` never finds it full.
        let (ack_tx, ack_rx) = mpsc::channel(max_in_flight + BATCH);
        let (stop_tx, stop_rx) = watch::channel(false);
        let tracked: Arc<Mutex<HashMap<String, Tracked>>> = Arc::default();
        let semaphore = Arc::new(Semaphore::new(max_in_flight));
        let healthy = Arc::new(AtomicBool::new(true));
        let failures = Arc::new(AtomicU32::new(0));

        let mut tasks = Vec::new();
        for _ in 0..pollers {
            let p = Poller {
                client: client.clone(),
                opts: opts.clone(),
                tx: batch_tx.clone(),
                ack_tx: ack_tx.clone(),
                stop: stop_rx.clone(),
                tracked: tracked.clone(),
                semaphore: semaphore.clone(),
                healthy: healthy.clone(),
                failures: failures.clone(),
            };
            tasks.push(tokio::spawn(p.run()));
        }
        let ack_task = tokio::spawn(ack_loop(
            client.clone(),
            opts.queue_url.clone(),
            ack_rx,
            tracked.clone(),
        ));
        let visibility_task = tokio::spawn(visibility_loop(
            client,
            opts.queue_url.clone(),
            opts.visibility_timeout_secs,
            tracked,
            stop_rx,
        ));
        Arc::new(Self {
            batches: tokio::sync::Mutex::new(batch_rx),
            stop: stop_tx,
            healthy,
            ack_tx: Mutex::new(Some(ack_tx)),
            tasks: Mutex::new(tasks),
            ack_task: Mutex::new(Some(ack_task)),
            visibility_task: Mutex::new(Some(visibility_task)),
        })
    }
}

impl Source for SqsSource {
    fn name(&self) -> &'static str {
        "sqs"
    }

    fn next_batch(&self) -> BoxFuture<'_, Option<Vec<Envelope>>> {
        Box::pin(async move { self.batches.lock().await.recv().await })
    }

    fn stop(&self) {
        let _ = self.stop.send(true);
    }

    fn ready(&self) -> bool {
        !*self.stop.borrow() && self.healthy.load(Ordering::Relaxed)
    }

    fn drain(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop();
            let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
            for t in tasks {
                let _ = t.await;
            }
            // Unhandled batches left in the channel are dropped here: their tokens release.
            {
                let mut rx = self.batches.lock().await;
                rx.close();
                while rx.try_recv().is_ok() {}
            }
            // The ack task ends when the last sender (ours and every token's) is gone.
            lock(&self.ack_tx).take();
            let ack = lock(&self.ack_task).take();
            if let Some(t) = ack {
                let _ = t.await;
            }
            let vis = lock(&self.visibility_task).take();
            if let Some(t) = vis {
                t.abort();
            }
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Poller {
    client: Client,
    opts: SqsOptions,
    tx: mpsc::Sender<Vec<Envelope>>,
    ack_tx: mpsc::Sender<AckMsg>,
    stop: watch::Receiver<bool>,
    tracked: Arc<Mutex<HashMap<String, Tracked>>>,
    semaphore: Arc<Semaphore>,
    healthy: Arc<AtomicBool>,
    failures: Arc<AtomicU32>,
}

impl Poller {
    async fn run(mut self) {
        let m = metrics();
        loop {
            if *self.stop.borrow() {
                return;
            }
            // Wait for room for a full batch before asking for one: a slow pipeline slows
            // polling instead of filling memory.
            let permits = tokio::select! {
                p = self.semaphore.clone().acquire_many_owned(BATCH as u32) => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
                _ = self.stop.changed() => return,
            };
            let receive = self
                .client
                .receive_message()
                .queue_url(&self.opts.queue_url)
                .max_number_of_messages(BATCH as i32)
                .wait_time_seconds(self.opts.wait_time_secs)
                .visibility_timeout(self.opts.visibility_timeout_secs)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send();
            // Shutdown cancels a long poll in progress; whatever SQS hands out meanwhile
            // becomes visible again after its timeout.
            let out = tokio::select! {
                r = receive => r,
                _ = self.stop.changed() => return,
            };
            let out = match out {
                Ok(o) => {
                    self.failures.store(0, Ordering::Relaxed);
                    self.healthy.store(true, Ordering::Relaxed);
                    o
                }
                Err(e) => {
                    m.source_errors.with_label_values(&["sqs", "receive"]).inc();
                    let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                    if n >= 3 {
                        self.healthy.store(false, Ordering::Relaxed);
                    }
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), failures = n, "sqs receive failed");
                    drop(permits);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff(n)) => {},
                        _ = self.stop.changed() => return,
                    }
                    continue;
                }
            };
            let messages = out.messages();
            if messages.is_empty() {
                continue;
            }
            let now = unix_now();
            let visible_until = Instant::now()
                + Duration::from_secs(self.opts.visibility_timeout_secs.max(0) as u64);
            let mut permits = Some(permits);
            let mut batch = Vec::with_capacity(messages.len());
            for (i, msg) in messages.iter().enumerate() {
                let (Some(receipt), Some(id)) = (msg.receipt_handle(), msg.message_id()) else {
                    continue;
                };
                // One permit per message; the last message takes what is left of the batch's
                // permits only if it was a full batch.
                let permit = if i + 1 == messages.len() && messages.len() == BATCH {
                    permits.take()
                } else {
                    permits.as_mut().and_then(|p| p.split(1))
                };
                let Some(permit) = permit else { continue };
                let receive_count = msg
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                lock(&self.tracked).insert(receipt.to_owned(), Tracked { visible_until });
                let ack_tx = self.ack_tx.clone();
                let (r, mid) = (receipt.to_owned(), id.to_owned());
                let token = AckToken::new(move |outcome| {
                    let _ = ack_tx.try_send(AckMsg {
                        receipt: r,
                        message_id: mid,
                        outcome,
                        _permit: permit,
                    });
                });
                batch.push(Envelope {
                    id: id.to_owned(),
                    body: bytes::Bytes::copy_from_slice(msg.body().unwrap_or("").as_bytes()),
                    ack: token,
                    received_at: now,
                    receive_count,
                });
            }
            // Permits of messages SQS did not return go back now.
            drop(permits);
            m.source_received
                .with_label_values(&["sqs"])
                .inc_by(batch.len() as u64);
            m.source_in_flight
                .with_label_values(&["sqs"])
                .add(batch.len() as i64);
            if self.tx.send(batch).await.is_err() {
                return;
            }
        }
    }
}

/// How soon an undecodable message is received again (on its way to the dead-letter queue).
const REJECTED_VISIBILITY_SECS: i32 = 2;

/// Deletes finished messages in batches of up to 10, flushing at least every 50 ms; stops
/// extending the visibility of every message whose work has ended, whatever the outcome.
async fn ack_loop(
    client: Client,
    queue_url: String,
    mut rx: mpsc::Receiver<AckMsg>,
    tracked: Arc<Mutex<HashMap<String, Tracked>>>,
) {
    let m = metrics();
    let mut pending: Vec<AckMsg> = Vec::new();
    let mut deletes = tokio::task::JoinSet::new();
    let limit = Arc::new(Semaphore::new(8));
    loop {
        let closed = tokio::select! {
            msg = rx.recv() => match msg {
                Some(a) => {
                    lock(&tracked).remove(&a.receipt);
                    m.source_in_flight.with_label_values(&["sqs"]).dec();
                    match a.outcome {
                        Outcome::Done => pending.push(a),
                        other => {
                            m.source_acked.with_label_values(&["sqs", other.label()]).inc();
                            if other == Outcome::Reject {
                                tracing::warn!(message_id = %a.message_id, "undecodable message left for the dead-letter queue");
                                // Visible again soon: the redrive policy moves it after
                                // `maxReceiveCount` receives, not that many visibility timeouts;
                                // a queue without one sees it every few seconds, not in a loop.
                                // Best effort, beside the deletes: otherwise its timeout runs out.
                                let (client, url, receipt) =
                                    (client.clone(), queue_url.clone(), a.receipt.clone());
                                tokio::spawn(async move {
                                    let _ = client
                                        .change_message_visibility()
                                        .queue_url(url)
                                        .receipt_handle(receipt)
                                        .visibility_timeout(REJECTED_VISIBILITY_SECS)
                                        .send()
                                        .await;
                                });
                            }
                        }
                    }
                    false
                }
                None => true,
            },
            _ = tokio::time::sleep(Duration::from_millis(50)), if !pending.is_empty() => {
                false
            }
        };
        while pending.len() >= BATCH || (!pending.is_empty() && (closed || rx.is_empty())) {
            let n = pending.len().min(BATCH);
            let chunk: Vec<AckMsg> = pending.drain(..n).collect();
            let Ok(permit) = limit.clone().acquire_owned().await else {
                return;
            };
            deletes.spawn(delete_batch(
                client.clone(),
                queue_url.clone(),
                chunk,
                permit,
            ));
        }
        while let Some(r) = deletes.try_join_next() {
            let _ = r;
        }
        if closed {
            while deletes.join_next().await.is_some() {}
            return;
        }
    }
}

async fn delete_batch(
    client: Client,
    queue_url: String,
    chunk: Vec<AckMsg>,
    _permit: OwnedSemaphorePermit,
) {
    let m = metrics();
    let mut entries = Vec::with_capacity(chunk.len());
    for (i, a) in chunk.iter().enumerate() {
        if let Ok(e) = DeleteMessageBatchRequestEntry::builder()
            .id(i.to_string())
            .receipt_handle(&a.receipt)
            .build()
        {
            entries.push(e);
        }
    }
    for attempt in 0..3u32 {
        match client
            .delete_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries.clone()))
            .send()
            .await
        {
            Ok(out) => {
                m.source_acked
                    .with_label_values(&["sqs", "deleted"])
                    .inc_by(out.successful().len() as u64);
                for f in out.failed() {
                    // Per entry: a failed delete means the message comes back and is
                    // processed again, which correlation absorbs.
                    let id = f
                        .id()
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| chunk.get(i))
                        .map(|a| a.message_id.as_str())
                        .unwrap_or("?");
                    m.source_acked
                        .with_label_values(&["sqs", "delete_failed"])
                        .inc();
                    tracing::warn!(message_id = %id, code = %f.code(), "sqs delete entry failed; the message will be redelivered");
                }
                return;
            }
            Err(e) => {
                m.source_errors.with_label_values(&["sqs", "delete"]).inc();
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), attempt, "sqs delete batch failed");
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
    m.source_acked
        .with_label_values(&["sqs", "delete_failed"])
        .inc_by(chunk.len() as u64);
}

/// Extends the visibility of unfinished messages when less than half their timeout is left.
async fn visibility_loop(
    client: Client,
    queue_url: String,
    timeout_secs: i32,
    tracked: Arc<Mutex<HashMap<String, Tracked>>>,
    mut stop: watch::Receiver<bool>,
) {
    let m = metrics();
    let timeout = Duration::from_secs(timeout_secs.max(1) as u64);
    let tick = (timeout / 4).max(Duration::from_millis(250));
    let mut stopping = false;
    loop {
        if stopping {
            tokio::time::sleep(tick).await;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {},
                _ = stop.changed() => { stopping = true; },
            }
        }
        let now = Instant::now();
        let due: Vec<String> = lock(&tracked)
            .iter()
            .filter(|(_, t)| t.visible_until <= now + timeout / 2)
            .map(|(r, _)| r.clone())
            .collect();
        for chunk in due.chunks(BATCH) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(timeout_secs)
                        .build()
                        .ok()
                })
                .collect();
            let sent = Instant::now();
            match client
                .change_message_visibility_batch()
                .queue_url(&queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    let mut t = lock(&tracked);
                    for ok in out.successful() {
                        if let Some(r) = ok.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                            if let Some(e) = t.get_mut(r) {
                                e.visible_until = sent + timeout;
                            }
                        }
                    }
                    m.visibility_extensions
                        .with_label_values(&["ok"])
                        .inc_by(out.successful().len() as u64);
                    m.visibility_extensions
                        .with_label_values(&["failed"])
                        .inc_by(out.failed().len() as u64);
                    for f in out.failed() {
                        tracing::warn!(code = %f.code(), "sqs visibility extension failed for one message");
                    }
                }
                Err(e) => {
                    m.source_errors
                        .with_label_values(&["sqs", "change_visibility"])
                        .inc();
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "sqs visibility extension failed");
                }
            }
        }
    }
}
