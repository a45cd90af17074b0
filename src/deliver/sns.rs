//! Amazon Q Developer in chat applications: its custom notification JSON published to the SNS
//! topic a chat channel configuration subscribes to.
//!
//! Amazon Q cannot edit a message either, but it threads by `metadata.threadId`: a post starts
//! the thread and every update is a new message in it. A reply sends nothing (the failure is in
//! the update that precedes it).
//!
//! The SDK client retries on its own; give it `RetryConfig::disabled()` when this sink sits
//! behind [`super::retry::Paced`], or the two multiply.

use super::{Delivery, MessageRef, Op, Sink, SinkError};
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use futures::future::BoxFuture;
use serde_json::json;
use std::time::Duration;

pub struct SnsSink {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

/// SNS throttling says nothing about how long; a second is its documented per-topic granularity.
const THROTTLE_PAUSE: Duration = Duration::from_secs(1);

impl SnsSink {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    async fn deliver_one(&self, d: &Delivery) -> Result<MessageRef, SinkError> {
        if d.op == Op::Reply {
            return Ok(d
                .message
                .clone()
                .unwrap_or_else(|| json!({"thread_id": d.thread})));
        }
        let message = crate::render::amazonq::render(&d.notification, &d.thread).to_string();
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            .send()
            .await
            .map_err(classify)?;
        Ok(json!({
            "message_id": out.message_id(),
            "thread_id": d.thread,
        }))
    }
}

impl Sink for SnsSink {
    fn kind(&self) -> &'static str {
        "amazonq"
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(self.deliver_one(d))
    }
}

fn classify<E, R>(e: SdkError<E, R>) -> SinkError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let msg = format!("sns publish: {}", DisplayErrorContext(&e));
    match &e {
        SdkError::ServiceError(se) => match se.err().code().unwrap_or_default() {
            "Throttled" | "Throttling" | "ThrottlingException" | "KMSThrottling" => {
                SinkError::RateLimited(THROTTLE_PAUSE)
            }
            "InternalError" | "InternalFailure" | "ServiceUnavailable" | "KMSInternal" => {
                SinkError::Transient(msg)
            }
            // Missing topic, no permission, a message SNS will never take.
            _ => SinkError::Rejected(msg),
        },
        SdkError::ConstructionFailure(_) => SinkError::Rejected(msg),
        // Timeouts, connection failures, unreadable answers.
        _ => SinkError::Transient(msg),
    }
}
