//! Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received"),
//! posting an Adaptive Card.
//!
//! A Workflows webhook cannot edit what it posted, and it returns no message id. So a thread
//! shows in Teams as its first message and, once the story is over, one more message with the
//! final state: [`Op::Update`] posts again only when the notification is final, and is a no-op
//! before that (the channel would otherwise fill with every intermediate state) and after a
//! final message was posted (a late detail is not worth a second copy of the whole card).

use super::http;
use super::{Delivery, DigestDelivery, MessageRef, Op, Sink, SinkError};
use crate::secret::Secret;
use futures::future::BoxFuture;
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct TeamsConfig {
    /// The workflow's HTTP trigger URL; its `sig` query parameter is the credential.
    pub webhook_url: Secret,
    /// Per request.
    pub timeout: Duration,
}

impl TeamsConfig {
    pub fn new(webhook_url: Secret) -> Self {
        Self {
            webhook_url,
            timeout: Duration::from_secs(10),
        }
    }
}

pub struct TeamsSink {
    cfg: TeamsConfig,
    http: reqwest::Client,
}

impl TeamsSink {
    pub fn new(cfg: TeamsConfig) -> Result<Self, SinkError> {
        Ok(Self {
            http: http::client(cfg.timeout)?,
            cfg,
        })
    }

    async fn deliver_one(&self, d: &Delivery) -> Result<MessageRef, SinkError> {
        let final_posted = d
            .message
            .as_ref()
            .and_then(|m| m.get("final"))
            .and_then(|f| f.as_bool())
            .unwrap_or(false);
        match d.op {
            Op::Post => {}
            Op::Update if d.notification.is_final && !final_posted => {}
            // News (a stall, an approval reminder): a new card, the thread's message kept.
            Op::Reply if crate::deliver::retry::news_of(&d.notification).is_some() => {
                self.post(&crate::render::teams::render(&d.notification))
                    .await?;
                return Ok(d
                    .message
                    .clone()
                    .unwrap_or_else(|| json!({"posted": true, "final": final_posted})));
            }
            // Not final yet, final already shown, or a reply (the failure is in the final
            // message): Teams keeps what it has.
            Op::Update | Op::Reply => {
                return Ok(d
                    .message
                    .clone()
                    .unwrap_or_else(|| json!({"posted": true, "final": final_posted})))
            }
        }
        self.post(&crate::render::teams::render(&d.notification))
            .await?;
        Ok(json!({"posted": true, "final": d.notification.is_final}))
    }

    async fn post(&self, body: &serde_json::Value) -> Result<(), SinkError> {
        let what = "teams workflow webhook";
        let secrets = [&self.cfg.webhook_url];
        let request = self.http.post(self.cfg.webhook_url.expose()).json(body);
        // 202 Accepted, usually with an empty body: there is no id to keep.
        http::send(what, request, &secrets).await.map(|_| ())
    }
}

impl Sink for TeamsSink {
    fn kind(&self) -> &'static str {
        "teams"
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(self.deliver_one(d))
    }

    /// Every send of a digest is a new card with what changed: the webhook cannot edit.
    fn deliver_digest<'a>(
        &'a self,
        d: &'a DigestDelivery,
    ) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(async move {
            self.post(&crate::render::digest::teams(&d.digest)).await?;
            Ok(json!({"posted": true, "digest": d.digest.id}))
        })
    }
}
