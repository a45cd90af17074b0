//! Slack through the Web API with a bot token: `chat.postMessage` for a new thread message,
//! `chat.update` on the same `ts` for every later state, the failure as a reply in its thread,
//! and the commit author mentioned when `users.lookupByEmail` knows them.
//!
//! Slack answers most errors with HTTP 200 and `{"ok": false, "error": "..."}`; those are
//! failures like any other, classified by their error string.

use super::http::{self, RETRY_AFTER_DEFAULT};
use super::{Delivery, DigestDelivery, MessageRef, Op, Sink, SinkError};
use crate::render::slack::{self as render, Extras};
use crate::secret::Secret;
use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// Bot token (`xoxb-…`) with `chat:write` (and `users:read.email` for mentions).
    pub token: Secret,
    /// Channel id (`C…`). Names work for posting, but `chat.update` needs the id Slack
    /// returns, which is what the message reference keeps.
    pub channel: String,
    /// `https://slack.com`; tests point it at a local server.
    pub api_base: String,
    /// Also show the failure reply in the channel, not only in the thread.
    pub reply_broadcast: bool,
    /// Look up the commit author's email and mention them.
    pub mention_authors: bool,
    /// Ask `chat.getPermalink` for each posted message and keep the link in its reference
    /// (the status page links to it). Best effort: a failure leaves the reference without it.
    pub permalinks: bool,
    /// People may act from messages (`[actions]`): the notification's `actions` are buttons.
    pub buttons: bool,
    /// Per request.
    pub timeout: Duration,
}

impl SlackConfig {
    pub fn new(token: Secret, channel: impl Into<String>) -> Self {
        Self {
            token,
            channel: channel.into(),
            api_base: "https://slack.com".into(),
            reply_broadcast: false,
            mention_authors: true,
            permalinks: true,
            buttons: false,
            timeout: Duration::from_secs(10),
        }
    }
}

pub struct SlackSink {
    cfg: SlackConfig,
    http: reqwest::Client,
    users: UserCache,
}

/// What Slack answers, for the methods used here.
#[derive(Debug, Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    permalink: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
}

impl SlackSink {
    pub fn new(cfg: SlackConfig) -> Result<Self, SinkError> {
        Ok(Self {
            http: http::client(cfg.timeout)?,
            cfg,
            users: UserCache::new(USERS_CACHED, USER_TTL),
        })
    }

    /// The limiter key: Slack's budget is per channel.
    pub fn channel(&self) -> &str {
        &self.cfg.channel
    }

    async fn deliver_one(&self, d: &Delivery) -> Result<MessageRef, SinkError> {
        let mention = self.author_mention(d).await;
        let extras = Extras {
            author_mention: mention.as_deref(),
            actions_for: self.cfg.buttons.then_some(d.thread.as_str()),
        };
        match d.op {
            Op::Post => {
                let mut body = render::render_with(&d.notification, extras);
                body["channel"] = json!(self.cfg.channel);
                body["unfurl_links"] = json!(false);
                body["unfurl_media"] = json!(false);
                let a = self.call("chat.postMessage", &body).await?;
                let mut r = message_ref(&a, &self.cfg.channel)?;
                if self.cfg.permalinks {
                    self.add_permalink(&mut r).await;
                }
                Ok(r)
            }
            Op::Update => {
                let (channel, ts) = existing(d)?;
                let mut body = render::render_with(&d.notification, extras);
                body["channel"] = json!(channel);
                body["ts"] = json!(ts);
                let a = self.call("chat.update", &body).await?;
                let edited = message_ref(&a, &channel)?;
                // The message is where it was: its reference (and permalink) stays.
                Ok(d.message.clone().unwrap_or(edited))
            }
            Op::Reply => {
                let (channel, ts) = existing(d)?;
                let mut body = render::render_reply(&d.notification, extras);
                body["channel"] = json!(channel);
                body["thread_ts"] = json!(ts);
                // News (a stall, a reminder) is for the whole channel: always broadcast.
                body["reply_broadcast"] = json!(
                    self.cfg.reply_broadcast
                        || crate::deliver::retry::news_of(&d.notification).is_some()
                );
                body["unfurl_links"] = json!(false);
                body["unfurl_media"] = json!(false);
                let a = self.call("chat.postMessage", &body).await?;
                let mut r = message_ref(&a, &channel)?;
                r["thread_ts"] = json!(ts);
                Ok(r)
            }
        }
    }

    /// A digest: posted once, then edited in place like any message.
    async fn digest(&self, d: &DigestDelivery) -> Result<MessageRef, SinkError> {
        let mut body = crate::render::digest::slack(&d.digest);
        match &d.message {
            None => {
                body["channel"] = json!(self.cfg.channel);
                body["unfurl_links"] = json!(false);
                body["unfurl_media"] = json!(false);
                let a = self.call("chat.postMessage", &body).await?;
                message_ref(&a, &self.cfg.channel)
            }
            Some(m) => {
                let (channel, ts) = parts(Some(m)).ok_or_else(|| {
                    SinkError::Rejected("slack digest: no message reference to edit".into())
                })?;
                body["channel"] = json!(channel);
                body["ts"] = json!(ts);
                let a = self.call("chat.update", &body).await?;
                message_ref(&a, &channel)
            }
        }
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Answer, SinkError> {
        let what = format!("slack {method}");
        let secrets = [&self.cfg.token];
        let url = format!("{}/api/{method}", self.cfg.api_base.trim_end_matches('/'));
        let resp = self
            .http
            .post(url)
            .header(AUTHORIZATION, format!("Bearer {}", self.cfg.token.expose()))
            // Without a charset Slack guesses, and warns.
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| http::transport_error(&what, e, &secrets))?;
        self.answer(&what, resp).await
    }

    async fn answer(&self, what: &str, resp: reqwest::Response) -> Result<Answer, SinkError> {
        let secrets = [&self.cfg.token];
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp
            .text()
            .await
            .map_err(|e| http::transport_error(what, e, &secrets))?;
        if !status.is_success() {
            return Err(http::status_error(what, status, &headers, &text, &secrets));
        }
        let a: Answer = serde_json::from_str(&text).map_err(|e| {
            SinkError::Transient(format!(
                "{what}: unreadable answer ({e}): {}",
                http::snippet(&text)
            ))
        })?;
        if a.ok {
            return Ok(a);
        }
        let error = a.error.as_deref().unwrap_or("unknown_error");
        Err(classify(what, error, &headers))
    }

    /// The author's `<@U…>`, best effort: any failure means no mention, never a lost message.
    async fn author_mention(&self, d: &Delivery) -> Option<String> {
        if !self.cfg.mention_authors {
            return None;
        }
        let email = d.notification.commit.as_ref()?.author_email.as_deref()?;
        let email = email.trim().to_ascii_lowercase();
        if email.is_empty() {
            return None;
        }
        if let Some(cached) = self.users.get(&email) {
            return cached;
        }
        match self.lookup(&email).await {
            Ok(id) => {
                self.users.put(email, id.clone());
                id
            }
            // A refusal (say, the token lacks `users:read.email`) will not change by asking
            // again: remember it like an unknown user, so every message does not pay for it.
            Err(e @ SinkError::Rejected(_)) => {
                tracing::debug!(error = %e, "slack users.lookupByEmail refused; no mention");
                self.users.put(email, None);
                None
            }
            Err(e) => {
                tracing::debug!(error = %e, "slack users.lookupByEmail failed; no mention");
                None
            }
        }
    }

    /// Adds `permalink` to a fresh message reference, from `chat.getPermalink` (a read method:
    /// its arguments go in the query). Best effort: the message is posted either way.
    async fn add_permalink(&self, r: &mut MessageRef) {
        let Some((channel, ts)) = parts(Some(r)) else {
            return;
        };
        let what = "slack chat.getPermalink";
        let secrets = [&self.cfg.token];
        let Ok(mut url) = reqwest::Url::parse(&format!(
            "{}/api/chat.getPermalink",
            self.cfg.api_base.trim_end_matches('/')
        )) else {
            return;
        };
        url.query_pairs_mut()
            .append_pair("channel", &channel)
            .append_pair("message_ts", &ts);
        let sent = self
            .http
            .get(url)
            .header(AUTHORIZATION, format!("Bearer {}", self.cfg.token.expose()))
            .send()
            .await
            .map_err(|e| http::transport_error(what, e, &secrets));
        let answer = match sent {
            Ok(resp) => self.answer(what, resp).await,
            Err(e) => Err(e),
        };
        match answer.map(|a| a.permalink) {
            Ok(Some(link)) if link.starts_with("https://") => {
                r["permalink"] = json!(link);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "no permalink for the message"),
        }
    }

    /// `Ok(None)` when Slack has no such user, `Err` when we could not find out (the caller
    /// caches refusals, not transient failures: next time may work).
    async fn lookup(&self, email: &str) -> Result<Option<String>, SinkError> {
        let what = "slack users.lookupByEmail";
        let secrets = [&self.cfg.token];
        let mut url = reqwest::Url::parse(&format!(
            "{}/api/users.lookupByEmail",
            self.cfg.api_base.trim_end_matches('/')
        ))
        .map_err(|e| SinkError::Rejected(format!("{what}: bad api_base: {e}")))?;
        url.query_pairs_mut().append_pair("email", email);
        let resp = self
            .http
            .get(url)
            .header(AUTHORIZATION, format!("Bearer {}", self.cfg.token.expose()))
            .send()
            .await
            .map_err(|e| http::transport_error(what, e, &secrets))?;
        match self.answer(what, resp).await {
            Ok(a) => Ok(a.user.map(|u| u.id)),
            Err(SinkError::Rejected(m)) if m.contains("users_not_found") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Sink for SlackSink {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(self.deliver_one(d))
    }

    fn deliver_digest<'a>(
        &'a self,
        d: &'a DigestDelivery,
    ) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(self.digest(d))
    }
}

/// `channel` and `ts` of a message reference.
fn parts(m: Option<&MessageRef>) -> Option<(String, String)> {
    let get = |k: &str| m.and_then(|m| m.get(k)).and_then(Value::as_str);
    Some((get("channel")?.to_string(), get("ts")?.to_string()))
}

/// Where the message to edit or reply to lives, from the reference a post returned.
fn existing(d: &Delivery) -> Result<(String, String), SinkError> {
    parts(d.message.as_ref()).ok_or_else(|| {
        SinkError::Rejected(format!(
            "slack {}: no message reference (channel and ts) to {}",
            d.op.as_str(),
            d.op.as_str()
        ))
    })
}

fn message_ref(a: &Answer, channel: &str) -> Result<MessageRef, SinkError> {
    match &a.ts {
        Some(ts) => Ok(json!({
            "channel": a.channel.as_deref().unwrap_or(channel),
            "ts": ts,
        })),
        // ok:true without a ts would leave us unable to edit; say so rather than pretend.
        None => Err(SinkError::Transient("slack: answer had no ts".into())),
    }
}

/// An `ok:false` error string as a failure kind. Unknown errors are assumed transient: a new
/// error name is likelier a hiccup than a permanent refusal, and attempts are bounded anyway.
pub fn classify(what: &str, error: &str, headers: &HeaderMap) -> SinkError {
    let msg = format!("{what}: {error}");
    match error {
        "ratelimited" | "rate_limited" => {
            SinkError::RateLimited(http::retry_after(headers).unwrap_or(RETRY_AFTER_DEFAULT))
        }
        "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "team_added_to_org" => SinkError::Transient(msg),
        "invalid_auth"
        | "not_authed"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "no_permission"
        | "missing_scope"
        | "not_allowed_token_type"
        | "ekm_access_denied"
        | "access_denied"
        | "org_login_required"
        | "enterprise_is_restricted"
        | "two_factor_setup_required"
        | "team_access_not_granted"
        | "channel_not_found"
        | "not_in_channel"
        | "is_archived"
        | "restricted_action"
        | "restricted_action_read_only_channel"
        | "restricted_action_thread_only_channel"
        | "restricted_action_non_threadable_channel"
        | "msg_too_long"
        | "msg_blocks_too_long"
        | "no_text"
        | "invalid_blocks"
        | "invalid_blocks_format"
        | "invalid_attachments"
        | "too_many_attachments"
        | "message_not_found"
        | "cant_update_message"
        | "edit_window_closed"
        | "invalid_arguments"
        | "invalid_arg_name"
        | "invalid_json"
        | "json_not_object"
        | "invalid_charset"
        | "invalid_form_data"
        | "invalid_post_type"
        | "missing_post_type"
        | "deprecated_endpoint"
        | "method_deprecated"
        | "users_not_found"
        | "invalid_email"
        | "as_user_not_supported"
        | "duplicate_channel_not_found"
        | "duplicate_message_not_found"
        | "is_inactive"
        | "slack_connect_file_link_sharing_blocked"
        | "messages_tab_disabled" => SinkError::Rejected(msg),
        _ => SinkError::Transient(msg),
    }
}

const USERS_CACHED: usize = 1024;
/// People change their email rarely; a user who joins Slack later is mentioned within the hour.
const USER_TTL: Duration = Duration::from_secs(3600);

/// email → user id (or "no such user"), bounded in size and age. Authors are few, so a map
/// that is cleared when full is enough; no LRU bookkeeping.
struct UserCache {
    max: usize,
    ttl: Duration,
    map: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl UserCache {
    fn new(max: usize, ttl: Duration) -> Self {
        Self {
            max,
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, email: &str) -> Option<Option<String>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(email)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(id, _)| id.clone())
    }

    fn put(&self, email: String, id: Option<String>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(email, (id, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_false_errors_classify() {
        let h = HeaderMap::new();
        for e in [
            "invalid_auth",
            "channel_not_found",
            "msg_too_long",
            "invalid_blocks",
            "token_revoked",
        ] {
            assert!(
                matches!(classify("x", e, &h), SinkError::Rejected(_)),
                "{e}"
            );
        }
        for e in [
            "internal_error",
            "fatal_error",
            "service_unavailable",
            "request_timeout",
            "something_new",
        ] {
            assert!(
                matches!(classify("x", e, &h), SinkError::Transient(_)),
                "{e}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert!(
            matches!(classify("x", "ratelimited", &h), SinkError::RateLimited(d) if d == Duration::from_secs(3))
        );
    }

    #[test]
    fn the_user_cache_is_bounded() {
        let c = UserCache::new(2, Duration::from_secs(60));
        c.put("a".into(), Some("U1".into()));
        c.put("b".into(), None);
        assert_eq!(c.get("a"), Some(Some("U1".into())));
        assert_eq!(c.get("b"), Some(None));
        c.put("c".into(), Some("U3".into()));
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("c"), Some(Some("U3".into())));
        let c = UserCache::new(2, Duration::ZERO);
        c.put("a".into(), Some("U1".into()));
        assert_eq!(c.get("a"), None);
    }
}
