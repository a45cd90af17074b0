//! Amazon Q Developer in chat applications: its custom notification JSON published to the SNS
//! topic a chat channel configuration subscribes to.
//!
//! Amazon Q cannot edit a message either, but it threads by `metadata.threadId`: a post starts
//! the thread and every update is a new message in it. A reply sends nothing (the failure is in
//! the update that precedes it).
//!
//! The SDK client retries on its own; give it `RetryConfig::disabled()` when this sink sits
//! behind [`super::retry::Paced`], or the two multiply.

use super::{Delivery, DigestDelivery, MessageRef, Op, Sink, SinkError};
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use futures::future::BoxFuture;
use serde_json::json;
use std::time::Duration;

pub struct SnsSink {
    client: tokio::sync::OnceCell<aws_sdk_sns::Client>,
    /// Where to make the client from on first use, when it was not given.
    region: Option<String>,
    endpoint: Option<String>,
    topic_arn: String,
}

/// SNS throttling says nothing about how long; a second is its documented per-topic granularity.
const THROTTLE_PAUSE: Duration = Duration::from_secs(1);

impl SnsSink {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client: tokio::sync::OnceCell::new_with(Some(client)),
            region: None,
            endpoint: None,
            topic_arn: topic_arn.into(),
        }
    }

    /// A client from an SDK config, with the SDK's own retries off (the delivery path retries).
    pub fn from_sdk(
        sdk: &aws_config::SdkConfig,
        endpoint: Option<&str>,
        topic_arn: impl Into<String>,
    ) -> Self {
        let mut conf = aws_sdk_sns::config::Builder::from(sdk)
            .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled());
        if let Some(e) = endpoint {
            conf = conf.endpoint_url(e);
        }
        Self::new(aws_sdk_sns::Client::from_conf(conf.build()), topic_arn)
    }

    /// A client made on first use from the default credential chain, in the topic's region.
    pub fn lazy(region: String, endpoint: Option<String>, topic_arn: impl Into<String>) -> Self {
        Self {
            client: tokio::sync::OnceCell::new(),
            region: Some(region),
            endpoint,
            topic_arn: topic_arn.into(),
        }
    }

    async fn client(&self) -> &aws_sdk_sns::Client {
        self.client
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled());
                if let Some(r) = &self.region {
                    loader = loader.region(aws_config::Region::new(r.clone()));
                }
                if let Some(e) = &self.endpoint {
                    loader = loader.endpoint_url(e);
                }
                aws_sdk_sns::Client::new(&loader.load().await)
            })
            .await
    }

    async fn deliver_one(&self, d: &Delivery) -> Result<MessageRef, SinkError> {
        if d.op == Op::Reply {
            return Ok(d
                .message
                .clone()
                .unwrap_or_else(|| json!({"thread_id": d.thread})));
        }
        let message = crate::render::amazonq::render(&d.notification, &d.thread).to_string();
        let id = self.publish(message).await?;
        Ok(json!({
            "message_id": id,
            "thread_id": d.thread,
        }))
    }

    async fn publish(&self, message: String) -> Result<Option<String>, SinkError> {
        let out = self
            .client()
            .await
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.message_id)
    }
}

impl Sink for SnsSink {
    fn kind(&self) -> &'static str {
        "amazonq"
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(self.deliver_one(d))
    }

    /// Each send of a digest is a new message in the digest's own chat thread.
    fn deliver_digest<'a>(
        &'a self,
        d: &'a DigestDelivery,
    ) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(async move {
            let id = self
                .publish(crate::render::digest::amazonq(&d.digest).to_string())
                .await?;
            Ok(json!({"message_id": id, "thread_id": d.digest.id}))
        })
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
