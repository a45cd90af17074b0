//! The embedded source: a bounded in-process queue. `POST /events` (an EventBridge API
//! destination target) and anything else in the process push bodies into it; the worker takes
//! them in batches like an SQS receive, and the pusher can wait for the outcome.

use super::{unix_now, AckToken, Envelope, Outcome, Source};
use crate::telemetry::metrics;
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// The largest body accepted: SQS's message size limit (256 KiB), so whatever the local
/// source takes would also fit the queue in production.
pub const MAX_BODY_BYTES: usize = 262_144;

const BATCH: usize = 10;

pub struct LocalSource {
    tx: std::sync::Mutex<Option<mpsc::Sender<Envelope>>>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Envelope>>,
    stopped: AtomicBool,
    next_id: AtomicU64,
}

/// Why a body was not queued.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the worker is shutting down")]
    Stopped,
}

impl LocalSource {
    /// A queue holding at most `capacity` messages not yet taken by the worker; pushers wait
    /// when it is full.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Self {
            tx: std::sync::Mutex::new(Some(tx)),
            rx: tokio::sync::Mutex::new(rx),
            stopped: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
        }
    }

    /// Queues one body; the receiver answers with its outcome once the worker is done with it
    /// (or `Release` if the worker stops first).
    pub async fn push(&self, body: bytes::Bytes) -> Result<oneshot::Receiver<Outcome>, PushError> {
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(PushError::Stopped)?;
        let (done_tx, done_rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let env = Envelope {
            id: format!("local-{id}"),
            body,
            ack: AckToken::new(move |o| {
                metrics()
                    .source_acked
                    .with_label_values(&["local", o.label()])
                    .inc();
                let _ = done_tx.send(o);
            }),
            received_at: unix_now(),
            receive_count: 1,
        };
        tx.send(env).await.map_err(|_| PushError::Stopped)?;
        metrics()
            .source_received
            .with_label_values(&["local"])
            .inc();
        Ok(done_rx)
    }
}

impl Source for LocalSource {
    fn name(&self) -> &'static str {
        "local"
    }

    fn next_batch(&self) -> BoxFuture<'_, Option<Vec<Envelope>>> {
        Box::pin(async move {
            let mut rx = self.rx.lock().await;
            let first = rx.recv().await?;
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            Some(batch)
        })
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        // Dropping the sender ends `next_batch` once the queue is empty; pushers already
        // waiting on a full queue hold their own clone and still get in.
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn ready(&self) -> bool {
        !self.stopped.load(Ordering::Relaxed)
    }

    fn drain(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
