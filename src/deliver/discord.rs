//! Discord through a channel webhook: execute with `?wait=true` to learn the message id, then
//! `PATCH {webhook}/messages/{id}` for every later state.
//!
//! The webhook URL is the credential (its last path segment is the token), so it is a
//! [`Secret`] and is redacted from every error.

use super::http;
use super::{Delivery, DigestDelivery, MessageRef, Op, Sink, SinkError};
use crate::secret::Secret;
use futures::future::BoxFuture;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// `https://discord.com/api/webhooks/{id}/{token}` (a `?thread_id=` query is kept).
    pub webhook_url: Secret,
    /// Per request.
    pub timeout: Duration,
}

impl DiscordConfig {
    pub fn new(webhook_url: Secret) -> Self {
        Self {
            webhook_url,
            timeout: Duration::from_secs(10),
        }
    }
}

pub struct DiscordSink {
    cfg: DiscordConfig,
    http: reqwest::Client,
}

/// Discord's 429 body: `{"message": "...", "retry_after": 0.5, "global": false}`.
#[derive(Debug, Deserialize)]
struct RateLimitBody {
    retry_after: f64,
}

#[derive(Debug, Deserialize)]
struct MessageBody {
    id: String,
}

impl DiscordSink {
    pub fn new(cfg: DiscordConfig) -> Result<Self, SinkError> {
        Ok(Self {
            http: http::client(cfg.timeout)?,
            cfg,
        })
    }

    async fn deliver_one(&self, d: &Delivery) -> Result<MessageRef, SinkError> {
        let body = crate::render::discord::render(&d.notification);
        match d.op {
            Op::Post => self.send(None, &body).await,
            Op::Update => {
                self.send(Some(message_id(d.message.as_ref())?), &body)
                    .await
            }
            // A webhook cannot reply in a thread. News (a stall, an approval reminder) is a
            // new message, since an edit notifies nobody; a failure is already in the
            // message, which the update before this reply carried.
            Op::Reply => {
                if crate::deliver::retry::news_of(&d.notification).is_some() {
                    self.send(None, &body).await?;
                }
                existing_or(d)
            }
        }
    }

    /// Executes the webhook (`edit` is `None`) or edits the message it posted.
    async fn send(&self, edit: Option<String>, body: &Value) -> Result<MessageRef, SinkError> {
        let secrets = [&self.cfg.webhook_url];
        let base = Url::parse(self.cfg.webhook_url.expose()).map_err(|_| {
            // The parse error could quote the URL; say only that it is wrong.
            SinkError::Rejected("discord: the webhook URL does not parse".into())
        })?;
        let (what, request) = match edit {
            None => {
                let mut url = base;
                url.query_pairs_mut().append_pair("wait", "true");
                ("discord execute webhook", self.http.post(url))
            }
            Some(id) => {
                let mut url = base;
                url.path_segments_mut()
                    .map_err(|_| {
                        SinkError::Rejected("discord: the webhook URL has no path".into())
                    })?
                    .pop_if_empty()
                    .push("messages")
                    .push(&id);
                ("discord edit webhook message", self.http.patch(url))
            }
        };
        let resp = request
            .json(body)
            .send()
            .await
            .map_err(|e| http::transport_error(what, e, &secrets))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp
            .text()
            .await
            .map_err(|e| http::transport_error(what, e, &secrets))?;
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            // The body's fractional seconds are more precise than the header's whole ones.
            let wait = serde_json::from_str::<RateLimitBody>(&text)
                .ok()
                .and_then(|b| http::seconds(b.retry_after))
                .or_else(|| http::retry_after(&headers))
                .unwrap_or(http::RETRY_AFTER_DEFAULT);
            return Err(SinkError::RateLimited(wait));
        }
        if !status.is_success() {
            return Err(http::status_error(what, status, &headers, &text, &secrets));
        }
        let m: MessageBody = serde_json::from_str(&text)
            .map_err(|e| SinkError::Transient(format!("{what}: unreadable answer ({e})")))?;
        Ok(json!({ "message_id": m.id }))
    }
}

impl Sink for DiscordSink {
    fn kind(&self) -> &'static str {
        "discord"
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(self.deliver_one(d))
    }

    fn deliver_digest<'a>(
        &'a self,
        d: &'a DigestDelivery,
    ) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(async move {
            let body = crate::render::digest::discord(&d.digest);
            match &d.message {
                None => self.send(None, &body).await,
                Some(m) => self.send(Some(message_id(Some(m))?), &body).await,
            }
        })
    }
}

fn message_id(m: Option<&MessageRef>) -> Result<String, SinkError> {
    let id = m.and_then(|m| m.get("message_id"));
    match id {
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(s.clone())
        }
        // Snowflakes outgrow JavaScript numbers, but a reference written by hand may hold one.
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(SinkError::Rejected(
            "discord update: no message reference (message_id) to edit".into(),
        )),
    }
}

fn existing_or(d: &Delivery) -> Result<MessageRef, SinkError> {
    Ok(d.message.clone().unwrap_or_else(|| json!({})))
}
