//! Sources: where message bodies come from and where their acknowledgements go.
//!
//! A [`Source`] yields batches of [`Envelope`]s; each carries an [`ack::AckToken`] that the
//! worker finishes once every outcome of the message is durable. Backends: [`sqs`] (long
//! polling, visibility extension, batch delete), [`kinesis`] (one task per shard, leases and
//! checkpoints in DynamoDB, see [`lease`]) and [`local`] (an in-process queue fed by
//! `POST /events`). Only this module deletes or checkpoints.

pub mod ack;
pub mod kinesis;
pub mod lease;
pub mod local;
pub mod sqs;

pub use ack::{AckToken, Outcome};
use futures::future::BoxFuture;

/// One message as the source delivered it.
#[derive(Debug)]
pub struct Envelope {
    /// The source's id for it (SQS message id, Kinesis `shard/sequence`), for logs.
    pub id: String,
    pub body: bytes::Bytes,
    pub ack: AckToken,
    /// Unix seconds when this worker received it.
    pub received_at: i64,
    /// How many times the source has handed it out (SQS `ApproximateReceiveCount`; 1 when
    /// the source does not say). Kinesis says 2 for the first records read past a checkpoint
    /// another reader had read from (after a takeover, a restart or a failed record).
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A call to the source's API failed; polling backs off and tries again.
    #[error("{op}: {message}")]
    Api { op: &'static str, message: String },
    /// The configuration cannot work (no queue, no stream): the worker does not start.
    #[error("{0}")]
    Config(String),
}

/// A stream of message batches with acknowledgement.
pub trait Source: Send + Sync {
    /// `sqs`, `kinesis` or `local`: the `source` label of the metrics.
    fn name(&self) -> &'static str;

    /// The next batch; waits while there is none. `None` once the source has stopped and
    /// everything it received has been handed out.
    fn next_batch(&self) -> BoxFuture<'_, Option<Vec<Envelope>>>;

    /// Stops taking new messages (shutdown). What was received still comes out of
    /// [`Source::next_batch`] and is acknowledged as usual.
    fn stop(&self);

    /// Whether polling works (the last calls succeeded) and the source is not stopping.
    fn ready(&self) -> bool;

    /// After the last batch was handled: waits until every acknowledgement has been sent
    /// (deletes flushed, checkpoints written, leases released).
    fn drain(&self) -> BoxFuture<'_, ()>;
}

pub(crate) use crate::clock::unix_now;

/// Exponential backoff with jitter for API errors: 100 ms doubling to 5 s.
pub(crate) fn backoff(failures: u32) -> std::time::Duration {
    let base = 100u64.saturating_mul(1 << failures.min(6)).min(5_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    std::time::Duration::from_millis(base / 2 + nanos % (base / 2 + 1))
}
