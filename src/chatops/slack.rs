//! Slack's side of an action: the request signature (`v0`, HMAC-SHA256 over
//! `v0:{timestamp}:{body}`), the `block_actions` payload, and the Web API calls an action needs
//! (`chat.postEphemeral` to tell the person, `usergroups.users.list` for group members).

use crate::render::slack::{ButtonValue, ACTION_PREFIX};
use crate::secret::Secret;
use serde::Deserialize;
use std::time::Duration;

/// A request older or newer than this is refused (Slack's guidance: 5 minutes).
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request is not Slack's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forged {
    #[error("no X-Slack-Request-Timestamp or X-Slack-Signature header")]
    Missing,
    #[error("the timestamp is not a number")]
    BadTimestamp,
    #[error("the timestamp is {0} s away from now (at most 300)")]
    Stale(i64),
    #[error("the signature does not match")]
    BadSignature,
}

/// Checks a request's signature in constant time, and that its timestamp is within
/// [`MAX_SKEW_SECS`] of `now` (Unix seconds).
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), Forged> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(Forged::Missing);
    };
    let at: i64 = ts.trim().parse().map_err(|_| Forged::BadTimestamp)?;
    let skew = now.abs_diff(at);
    if skew > MAX_SKEW_SECS.unsigned_abs() {
        return Err(Forged::Stale(i64::try_from(skew).unwrap_or(i64::MAX)));
    }
    let mut base = Vec::with_capacity(body.len() + ts.len() + 4);
    base.extend_from_slice(b"v0:");
    base.extend_from_slice(ts.as_bytes());
    base.push(b':');
    base.extend_from_slice(body);
    if crate::deliver::webhook::verify_prefixed(secret, &base, sig, "v0=") {
        Ok(())
    } else {
        Err(Forged::BadSignature)
    }
}

/// What the `payload` form field of an interaction says, for the parts Herald reads.
#[derive(Debug, Deserialize)]
pub struct Payload {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: Option<User>,
    #[serde(default)]
    pub actions: Vec<ActionElement>,
    pub channel: Option<Channel>,
    pub container: Option<Container>,
    pub trigger_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ActionElement {
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub action_ts: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Channel {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub message_ts: Option<String>,
}

/// A click on one of Herald's buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clicked {
    pub action: String,
    pub button: ButtonValue,
    pub user: String,
    pub channel: Option<String>,
    /// The interaction's own id: the same for a redelivered request.
    pub click: String,
    /// The click's time (Unix seconds), from `action_ts`.
    pub at: Option<i64>,
}

/// Reads an `application/x-www-form-urlencoded` interaction body: `Ok(None)` for interactions
/// that are not a click on Herald's buttons (Slack sends others, they are acknowledged and
/// ignored), an error naming what is wrong otherwise.
pub fn parse(body: &[u8]) -> Result<Option<Clicked>, String> {
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or("no payload field")?;
    let p: Payload = serde_json::from_str(&payload)
        .map_err(|e| format!("payload is not an interaction: {e}"))?;
    clicked(p)
}

/// An interaction's payload as Socket Mode sends it (JSON inside the envelope): as [`parse`].
pub fn parse_payload(payload: &serde_json::Value) -> Result<Option<Clicked>, String> {
    let p =
        Payload::deserialize(payload).map_err(|e| format!("payload is not an interaction: {e}"))?;
    clicked(p)
}

fn clicked(p: Payload) -> Result<Option<Clicked>, String> {
    if p.kind != "block_actions" {
        return Ok(None);
    }
    let Some(a) = p
        .actions
        .iter()
        .find(|a| a.action_id.starts_with(ACTION_PREFIX))
    else {
        return Ok(None);
    };
    let action = a.action_id[ACTION_PREFIX.len()..].to_owned();
    let value = a.value.as_deref().ok_or("the button carries no value")?;
    let button: ButtonValue =
        serde_json::from_str(value).map_err(|e| format!("the button's value: {e}"))?;
    let user = p.user.map(|u| u.id).ok_or("no user")?;
    let channel = p
        .channel
        .map(|c| c.id)
        .or_else(|| p.container.as_ref().and_then(|c| c.channel_id.clone()));
    let at = a
        .action_ts
        .as_deref()
        .and_then(|t| t.split('.').next())
        .and_then(|s| s.parse().ok());
    if a.action_ts.is_none() && p.trigger_id.is_none() {
        return Err("the click has neither action_ts nor trigger_id".into());
    }
    let click = format!(
        "{user}:{}:{}",
        a.action_ts.as_deref().unwrap_or_default(),
        p.trigger_id.as_deref().unwrap_or_default()
    );
    Ok(Some(Clicked {
        action,
        button,
        user,
        channel,
        click,
        at,
    }))
}

/// The Web API calls an action needs, with the bot token of a Slack destination.
pub struct SlackApi {
    pub token: Secret,
    pub api_base: String,
    pub http: reqwest::Client,
}

impl SlackApi {
    pub fn new(token: Secret, api_base: String) -> Result<Self, String> {
        let http =
            crate::deliver::http::client(Duration::from_secs(5)).map_err(|e| e.to_string())?;
        Ok(Self {
            token,
            api_base,
            http,
        })
    }

    /// Tells one person something in a channel, seen only by them (`chat.postEphemeral`).
    pub async fn ephemeral(&self, channel: &str, user: &str, text: &str) -> Result<(), String> {
        let body = serde_json::json!({"channel": channel, "user": user, "text": text});
        self.call("chat.postEphemeral", &body).await.map(|_| ())
    }

    /// The members of a user group (`usergroups.users.list`).
    pub async fn group_members(&self, group: &str) -> Result<Vec<String>, String> {
        let body = serde_json::json!({"usergroup": group});
        let v = self.call("usergroups.users.list", &body).await?;
        Ok(v["users"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn call(
        &self,
        method: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let url = format!("{}/api/{method}", self.api_base.trim_end_matches('/'));
        let r = self
            .http
            .post(url)
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| format!("{method}: {}", e.without_url()))?;
        let status = r.status();
        let v: serde_json::Value = r
            .json()
            .await
            .map_err(|e| format!("{method}: HTTP {status}: {}", e.without_url()))?;
        if v["ok"] != true {
            return Err(format!(
                "{method}: {}",
                v["error"].as_str().unwrap_or("not ok")
            ));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], ts: &str, body: &[u8]) -> String {
        let mut base = format!("v0:{ts}:").into_bytes();
        base.extend_from_slice(body);
        crate::deliver::webhook::signature(secret, &base).replace("sha256=", "v0=")
    }

    #[test]
    fn a_signed_fresh_request_verifies_and_a_forged_or_stale_one_does_not() {
        let body = b"payload=%7B%7D";
        let sig = sign(b"s3cret", "1000", body);
        assert_eq!(
            verify(b"s3cret", Some("1000"), Some(&sig), body, 1100),
            Ok(())
        );
        assert_eq!(
            verify(b"other", Some("1000"), Some(&sig), body, 1100),
            Err(Forged::BadSignature)
        );
        assert_eq!(
            verify(b"s3cret", Some("1000"), Some(&sig), b"payload=x", 1100),
            Err(Forged::BadSignature)
        );
        assert_eq!(
            verify(b"s3cret", Some("1000"), Some(&sig), body, 1301),
            Err(Forged::Stale(301))
        );
        assert_eq!(
            verify(b"s3cret", None, Some(&sig), body, 1000),
            Err(Forged::Missing)
        );
        assert_eq!(
            verify(b"s3cret", Some("x"), Some(&sig), body, 1000),
            Err(Forged::BadTimestamp)
        );
    }

    #[test]
    fn a_click_on_a_herald_button_is_read_and_other_interactions_are_ignored() {
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": "U1", "username": "alice"},
            "trigger_id": "t1",
            "channel": {"id": "C1"},
            "actions": [{"action_id": "herald:approve", "value": "{\"t\":\"ex#1#r#p#x\",\"b\":\"approval\"}", "action_ts": "1700000000.123"}],
        });
        let body = format!(
            "payload={}",
            form_urlencoded::byte_serialize(payload.to_string().as_bytes()).collect::<String>()
        );
        let c = parse(body.as_bytes()).expect("parse").expect("a click");
        assert_eq!(c.action, "approve");
        assert_eq!(c.button.thread, "ex#1#r#p#x");
        assert_eq!(c.user, "U1");
        assert_eq!(c.at, Some(1_700_000_000));
        let other = "payload=%7B%22type%22%3A%22view_submission%22%7D";
        assert_eq!(parse(other.as_bytes()), Ok(None));
        assert!(parse(b"nothing=1").is_err());
    }
}
