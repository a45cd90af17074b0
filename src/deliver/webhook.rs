//! A generic webhook: the notification model as JSON, `POST`ed and signed.
//!
//! Body: `{"op", "thread", "destination", "notification", "timestamp"}` (the same shape as a
//! JSON Lines record, plus the send time in Unix seconds). Headers:
//! `X-Herald-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed by the shared
//! secret>` and `X-Herald-Timestamp: <the body's timestamp>`. The timestamp is inside the signed
//! body, so a receiver that rejects old timestamps also rejects replays.

use super::http;
use super::{Delivery, DigestDelivery, MessageRef, Sink, SinkError};
use crate::secret::Secret;
use futures::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::CONTENT_TYPE;
use serde_json::json;
use sha2::Sha256;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "X-Herald-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Herald-Timestamp";

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Where to post; a secret, as such URLs often carry a token.
    pub url: Secret,
    /// The HMAC key shared with the receiver; without one, requests are unsigned.
    pub signing_secret: Option<Secret>,
    /// Per request.
    pub timeout: Duration,
}

impl WebhookConfig {
    pub fn new(url: Secret, signing_secret: Option<Secret>) -> Self {
        Self {
            url,
            signing_secret,
            timeout: Duration::from_secs(10),
        }
    }
}

pub struct WebhookSink {
    cfg: WebhookConfig,
    http: reqwest::Client,
}

/// The exact bytes sent for `d`. Pure: the caller passes the time (or none).
pub fn body(d: &Delivery, timestamp: Option<i64>) -> Vec<u8> {
    let mut v = json!({
        "op": d.op.as_str(),
        "thread": d.thread,
        "destination": d.destination,
        "notification": d.notification,
    });
    if let Some(t) = timestamp {
        v["timestamp"] = json!(t);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty tag would not verify.
    let tag = Hmac::<Sha256>::new_from_slice(secret)
        .map(|mut mac| {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default();
    format!("sha256={tag}")
}

/// Checks a `X-Herald-Signature` value in constant time: what a receiver does.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    verify_prefixed(secret, body, header, "sha256=")
}

/// Checks `{prefix}<hex HMAC-SHA256 of body>` in constant time (Slack signs with `v0=`).
pub fn verify_prefixed(secret: &[u8], body: &[u8], header: &str, prefix: &str) -> bool {
    let Some(hex_tag) = header.strip_prefix(prefix) else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_tag) else {
        return false;
    };
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            mac.verify_slice(&tag).is_ok()
        }
        Err(_) => false,
    }
}

impl WebhookSink {
    pub fn new(cfg: WebhookConfig) -> Result<Self, SinkError> {
        Ok(Self {
            http: http::client(cfg.timeout)?,
            cfg,
        })
    }

    async fn deliver_one(&self, d: &Delivery) -> Result<MessageRef, SinkError> {
        let now = chrono::Utc::now().timestamp();
        self.send(body(d, Some(now)), now).await?;
        Ok(json!({ "thread": d.thread }))
    }

    async fn send(&self, bytes: Vec<u8>, now: i64) -> Result<(), SinkError> {
        let what = "webhook";
        let mut secrets = vec![&self.cfg.url];
        secrets.extend(self.cfg.signing_secret.as_ref());
        let mut request = self
            .http
            .post(self.cfg.url.expose())
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, now.to_string());
        if let Some(s) = &self.cfg.signing_secret {
            request = request.header(SIGNATURE_HEADER, signature(s.expose().as_bytes(), &bytes));
        }
        http::send(what, request.body(bytes), &secrets)
            .await
            .map(|_| ())
    }
}

impl Sink for WebhookSink {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(self.deliver_one(d))
    }

    /// `{"op": "digest", "destination", "digest": {"id", "entries", "changed", "sends"},
    /// "timestamp"}`, signed like every other body; each send repeats the whole digest, so a
    /// receiver keeps the latest per `digest.id`.
    fn deliver_digest<'a>(
        &'a self,
        d: &'a DigestDelivery,
    ) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(async move {
            let now = chrono::Utc::now().timestamp();
            let v = json!({
                "op": "digest",
                "destination": d.destination,
                "digest": d.digest,
                "timestamp": now,
            });
            self.send(serde_json::to_vec(&v).unwrap_or_default(), now)
                .await?;
            Ok(json!({ "digest": d.digest.id }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        let s = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &s));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &s));
        assert!(!verify(b"jefe", b"what do ya want for nothing?", &s));
        assert!(!verify(b"Jefe", b"x", "md5=00"));
    }
}
