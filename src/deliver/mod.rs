//! Delivery: one `Sink` trait for every destination kind, and the sinks themselves.
//!
//! A sink gets a [`Delivery`] (post a new message, update the thread's message, or reply in its
//! thread) and answers with the reference of the message it wrote, which the correlator stores
//! in the thread's state so later updates edit the same message, on any worker.
//!
//! The chat sinks sit behind the same short chain of stages, built from the config by
//! [`crate::app::sinks`]: [`counted::Counted`] (`herald run` counts every notification) →
//! [`digest::Digest`] (folds a burst of new posts into one digest message) →
//! [`retry::Paced`] (drops superseded updates, waits for the destination's budget at
//! [`limiter::Limiter`], local or shared by the fleet through [`fleet_limiter`], retries with
//! backoff under a per-attempt timeout) → the provider's API.

pub mod counted;
pub mod digest;
pub mod discord;
pub mod fence;
pub mod fleet_limiter;
pub mod http;
pub mod jsonl;
pub mod limiter;
pub mod retry;
pub mod slack;
pub mod sns;
pub mod teams;
pub mod text;
pub mod webhook;

use crate::notification::Notification;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Post,
    Update,
    Reply,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Post => "post",
            Op::Update => "update",
            Op::Reply => "reply",
        }
    }
}

pub use crate::notification::MessageRef;

#[derive(Debug, Clone)]
pub struct Delivery {
    pub op: Op,
    /// The stable id of the chat message this delivery is about (thread key + episode).
    pub thread: String,
    /// The destination's configured name.
    pub destination: String,
    pub notification: Notification,
    /// The message to edit or reply to, for `Update` and `Reply`.
    pub message: Option<MessageRef>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// The provider asked us to slow down; the whole destination pauses this long.
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    /// 5xx, timeouts, connection errors: retry with backoff, then leave for redelivery.
    #[error("transient: {0}")]
    Transient(String),
    /// The provider refused for good (bad token, unknown channel): retrying will not help.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Not attempted: the thread's delivery lease ran out first ([`fence`]). This attempt was
    /// not made (an earlier one of the same delivery may have reached the provider: a timeout,
    /// a lost answer); the caller takes the lease again, or leaves the thread to the worker that
    /// holds it.
    #[error("the delivery lease ran out before the attempt")]
    Fenced,
}

impl SinkError {
    pub fn retryable(&self) -> bool {
        !matches!(self, SinkError::Rejected(_) | SinkError::Fenced)
    }
    pub fn reason(&self) -> &'static str {
        match self {
            SinkError::RateLimited(_) => "rate_limited",
            SinkError::Transient(_) => "transient",
            SinkError::Rejected(_) => "rejected",
            SinkError::Fenced => "fenced",
        }
    }
}

/// A digest message to post (`message` is `None`) or to edit: see [`digest`].
#[derive(Debug, Clone)]
pub struct DigestDelivery {
    /// The destination's configured name.
    pub destination: String,
    pub digest: crate::render::digest::DigestView,
    /// The digest's message, once posted. Sinks that cannot edit post a new message each time
    /// and show only the entries that changed since the last one.
    pub message: Option<MessageRef>,
}

/// A chat destination.
pub trait Sink: Send + Sync {
    /// The sink kind (`slack`, `discord`, `jsonl`, ...), a metric label.
    fn kind(&self) -> &'static str;
    /// Delivers one message; returns where it lives (for `Post`) so updates can find it.
    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>>;
    /// Posts or edits a digest message; returns where it lives. The digest stage is only put in
    /// front of sinks that override this.
    fn deliver_digest<'a>(
        &'a self,
        d: &'a DigestDelivery,
    ) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        let kind = self.kind();
        let _ = d;
        Box::pin(async move {
            Err(SinkError::Rejected(format!(
                "{kind} sinks cannot show a digest"
            )))
        })
    }
}
