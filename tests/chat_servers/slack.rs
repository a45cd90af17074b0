//! A Slack Web API test server: `chat.postMessage`, `chat.update`, `chat.getPermalink`,
//! `users.lookupByEmail`, `chat.postEphemeral`, `usergroups.users.list`; and Slack's side of
//! interactivity: a click on a message's button as the signed `block_actions` request Slack
//! sends to an app's request URL ([`SlackServer::click_body`]), or as a Socket Mode envelope
//! over the WebSocket `apps.connections.open` hands out (checked against the app-level token;
//! `hello` on connect, acknowledgements recorded, `disconnect` on demand).
//!
//! Like Slack it checks the bot token (`{"ok":false,"error":"invalid_auth"}`), answers errors as
//! HTTP 200 with `ok:false`, refuses blocks past Block Kit's limits (`invalid_blocks`) and
//! messages whose blocks hold more than 13,000 characters in all (`msg_blocks_too_long`, the
//! limit Slack users have measured), and allows about one post per second per channel,
//! answering HTTP 429 with `Retry-After: 1` beyond it, and 50 `chat.update` calls a minute for
//! the token (Tier 3), answering 429 with the seconds until the oldest leaves the window. It can be told to answer 503 for the next
//! N requests or for a while (an outage, on tokio's clock), 429 to the next N, or `ok:false` with
//! a given error.

use super::{serve, Recorded};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    /// The latest body (after updates).
    pub body: Value,
    pub updates: u32,
}

struct St {
    token: String,
    users: HashMap<String, String>,
    /// The smallest gap allowed between two posts to one channel. Slack says "about one per
    /// second"; the default leaves 100 ms for the jitter between a client's send and our clock.
    min_gap: Duration,
    last_post: HashMap<String, Instant>,
    /// `chat.update` is a Tier 3 method: about 50 a minute for the workspace (the token), with
    /// bursts; this many in any such window, or none when `None`.
    update_limit: Option<(usize, Duration)>,
    updates_at: Vec<Instant>,
    messages: Vec<Message>,
    next_ts: u64,
    fail_503: u32,
    down_until: Option<Instant>,
    fail_error: Option<(String, u32)>,
    /// The next N requests answer 429 with this `Retry-After` (seconds).
    rate_limit: Option<(u32, u64)>,
    requests: Vec<Recorded>,
    /// User group id -> member user ids.
    groups: HashMap<String, Vec<String>>,
    /// `chat.postEphemeral` messages: (channel, user, text).
    ephemeral: Vec<(String, String, String)>,
    /// Socket Mode: the app-level token, the WebSocket listener's URL, the connections opened
    /// (a sender to each), and the envelope ids acknowledged.
    app_token: String,
    socket_url: String,
    sockets: Vec<tokio::sync::mpsc::UnboundedSender<String>>,
    acks: Vec<String>,
}

/// Slack's measured ceiling on the text of all blocks of one message.
pub const BLOCKS_TEXT_MAX: usize = 13_000;

#[derive(Clone)]
pub struct SlackServer {
    pub url: String,
    st: Arc<Mutex<St>>,
}

impl SlackServer {
    pub async fn start(token: &str) -> Self {
        let st = Arc::new(Mutex::new(St {
            token: token.to_string(),
            users: HashMap::new(),
            min_gap: Duration::from_millis(900),
            last_post: HashMap::new(),
            update_limit: Some((50, Duration::from_secs(60))),
            updates_at: Vec::new(),
            messages: Vec::new(),
            next_ts: 0,
            fail_503: 0,
            down_until: None,
            fail_error: None,
            rate_limit: None,
            requests: Vec::new(),
            groups: HashMap::new(),
            ephemeral: Vec::new(),
            app_token: "xapp-1-test-app-token".into(),
            socket_url: String::new(),
            sockets: Vec::new(),
            acks: Vec::new(),
        }));
        let url = socket_listener(st.clone()).await;
        st.lock().unwrap().socket_url = url;
        let app = Router::new()
            .route("/api/{method}", any(api))
            .with_state(st.clone());
        Self {
            url: serve(app).await,
            st,
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap()
    }

    pub fn set_min_gap(&self, d: Duration) {
        self.st().min_gap = d;
    }

    /// At most `n` `chat.update` calls in any `window` (default: 50 a minute, Slack's Tier 3);
    /// `None` lifts the limit.
    pub fn set_update_limit(&self, limit: Option<(usize, Duration)>) {
        self.st().update_limit = limit;
    }

    /// A user group and its members (`usergroups.users.list`).
    pub fn add_group(&self, id: &str, members: &[&str]) {
        self.st().groups.insert(
            id.to_string(),
            members.iter().map(|m| m.to_string()).collect(),
        );
    }

    /// What `chat.postEphemeral` was asked to show: (channel, user, text).
    pub fn ephemeral(&self) -> Vec<(String, String, String)> {
        self.st().ephemeral.clone()
    }

    /// A person's click on the button `action_id` of the message `ts`, as the body of the
    /// `block_actions` request Slack sends (form-encoded `payload`). `action_ts` tells clicks
    /// apart (a redelivered request carries the same). `None` if the message has no such button.
    pub fn click_body(
        &self,
        ts: &str,
        action_id: &str,
        user: &str,
        action_ts: &str,
    ) -> Option<String> {
        let payload = self.click_payload(ts, action_id, user, action_ts)?;
        Some(format!(
            "payload={}",
            form_urlencoded::byte_serialize(payload.to_string().as_bytes()).collect::<String>()
        ))
    }

    /// Socket Mode connections opened so far.
    pub fn socket_connections(&self) -> usize {
        self.st().sockets.len()
    }

    /// Sends a text frame on the newest connection; false when none is open.
    pub fn socket_send(&self, v: &Value) -> bool {
        self.st()
            .sockets
            .last()
            .is_some_and(|tx| tx.send(v.to_string()).is_ok())
    }

    /// The envelope ids the client acknowledged, in order.
    pub fn socket_acks(&self) -> Vec<String> {
        self.st().acks.clone()
    }

    /// A click as a Socket Mode `interactive` envelope.
    pub fn click_envelope(
        &self,
        envelope_id: &str,
        retry: u32,
        ts: &str,
        action_id: &str,
        user: &str,
        action_ts: &str,
    ) -> Option<Value> {
        let payload = self.click_payload(ts, action_id, user, action_ts)?;
        Some(json!({
            "envelope_id": envelope_id,
            "payload": payload,
            "type": "interactive",
            "accepts_response_payload": false,
            "retry_attempt": retry,
            "retry_reason": if retry > 0 { "timeout" } else { "" },
        }))
    }

    /// The `block_actions` payload of a click.
    pub fn click_payload(
        &self,
        ts: &str,
        action_id: &str,
        user: &str,
        action_ts: &str,
    ) -> Option<Value> {
        let m = self.message(ts)?;
        let button = buttons(&m.body)
            .into_iter()
            .find(|b| b["action_id"] == action_id)?;
        let payload = json!({
            "type": "block_actions",
            "user": {"id": user, "username": user.to_lowercase(), "team_id": "T1"},
            "api_app_id": "A1",
            "team": {"id": "T1", "domain": "herald-test"},
            "container": {"type": "message", "message_ts": ts, "channel_id": m.channel, "is_ephemeral": false},
            "trigger_id": format!("trigger-{action_ts}"),
            "channel": {"id": m.channel, "name": "deploys"},
            "message": {"ts": ts, "text": m.body["text"]},
            "response_url": "http://127.0.0.1:9/unused",
            "actions": [{
                "type": "button",
                "block_id": "herald_actions",
                "action_id": action_id,
                "text": button["text"],
                "value": button["value"],
                "action_ts": action_ts,
            }],
        });
        Some(payload)
    }

    pub fn add_user(&self, email: &str, id: &str) {
        self.st().users.insert(email.to_string(), id.to_string());
    }

    /// The next `n` requests answer HTTP 503.
    pub fn fail_503(&self, n: u32) {
        self.st().fail_503 = n;
    }

    /// Every request answers HTTP 503 for the next `d` (tokio's clock).
    pub fn outage(&self, d: Duration) {
        self.st().down_until = Some(Instant::now() + d);
    }

    /// The next `n` authenticated requests answer `{"ok": false, "error": error}`.
    pub fn fail_with(&self, error: &str, n: u32) {
        self.st().fail_error = Some((error.to_string(), n));
    }

    /// The next `n` authenticated requests answer HTTP 429 with `Retry-After: retry_after`.
    pub fn rate_limit_next(&self, n: u32, retry_after: u64) {
        self.st().rate_limit = Some((n, retry_after));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.st().requests.clone()
    }

    pub fn calls(&self, method: &str) -> Vec<Recorded> {
        let path = format!("/api/{method}");
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn rate_limited(&self) -> usize {
        self.requests().iter().filter(|r| r.status == 429).count()
    }

    pub fn messages(&self) -> Vec<Message> {
        self.st().messages.clone()
    }

    pub fn message(&self, ts: &str) -> Option<Message> {
        self.messages().into_iter().find(|m| m.ts == ts)
    }
}

type Shared = Arc<Mutex<St>>;

async fn api(
    State(st): State<Shared>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    m: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut rec = Recorded::new(&m, &uri, &headers, &body);
    let mut st = st.lock().unwrap();
    rec.at = Instant::now();
    let resp = handle(&mut st, &method, &query, &rec);
    rec.status = resp.status().as_u16();
    st.requests.push(rec);
    resp
}

fn ok_false(error: &str) -> Response {
    Json(json!({"ok": false, "error": error})).into_response()
}

fn handle(st: &mut St, method: &str, query: &HashMap<String, String>, rec: &Recorded) -> Response {
    if st.fail_503 > 0 || st.down_until.is_some_and(|t| rec.at < t) {
        st.fail_503 = st.fail_503.saturating_sub(1);
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream connect error").into_response();
    }
    if method == "apps.connections.open" {
        // The app-level token, not the bot token.
        return match rec.header("authorization") {
            Some(a) if a == format!("Bearer {}", st.app_token) => Json(json!({
                "ok": true,
                "url": format!("{}?ticket={}", st.socket_url, st.sockets.len() + 1),
            }))
            .into_response(),
            Some(_) => ok_false("invalid_auth"),
            None => ok_false("not_authed"),
        };
    }
    match rec.header("authorization") {
        None => return ok_false("not_authed"),
        Some(a) if a != format!("Bearer {}", st.token) => return ok_false("invalid_auth"),
        Some(_) => {}
    }
    if let Some((n, after)) = &mut st.rate_limit {
        if *n > 0 {
            *n -= 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", after.to_string())],
                Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
        }
    }
    if let Some((error, n)) = &mut st.fail_error {
        if *n > 0 {
            *n -= 1;
            let e = error.clone();
            return ok_false(&e);
        }
    }
    match method {
        "chat.postMessage" => post(st, rec),
        "chat.update" => update(st, rec),
        "chat.getPermalink" => {
            let channel = query.get("channel").cloned().unwrap_or_default();
            let ts = query.get("message_ts").cloned().unwrap_or_default();
            if st
                .messages
                .iter()
                .any(|m| m.channel == channel && m.ts == ts)
            {
                Json(json!({
                    "ok": true,
                    "channel": channel,
                    "permalink": format!(
                        "https://herald-test.slack.com/archives/{channel}/p{}",
                        ts.replace('.', "")
                    ),
                }))
                .into_response()
            } else {
                ok_false("message_not_found")
            }
        }
        "chat.postEphemeral" => {
            let b = &rec.body;
            match (
                b["channel"].as_str(),
                b["user"].as_str(),
                b["text"].as_str(),
            ) {
                (Some(c), Some(u), Some(t)) if !t.is_empty() => {
                    st.ephemeral.push((c.into(), u.into(), t.into()));
                    Json(json!({"ok": true, "message_ts": "1700000000.999999"})).into_response()
                }
                (None, _, _) => ok_false("channel_not_found"),
                (_, None, _) => ok_false("user_not_in_channel"),
                _ => ok_false("no_text"),
            }
        }
        "usergroups.users.list" => {
            let id = rec.body["usergroup"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| query.get("usergroup").cloned())
                .unwrap_or_default();
            match st.groups.get(&id) {
                Some(users) => Json(json!({"ok": true, "users": users})).into_response(),
                None => ok_false("no_such_subteam"),
            }
        }
        "users.lookupByEmail" => {
            let email = query.get("email").cloned().unwrap_or_default();
            match st.users.get(&email) {
                Some(id) => {
                    Json(json!({"ok": true, "user": {"id": id, "profile": {"email": email}}}))
                        .into_response()
                }
                None => ok_false("users_not_found"),
            }
        }
        _ => ok_false("unknown_method"),
    }
}

fn post(st: &mut St, rec: &Recorded) -> Response {
    let b = &rec.body;
    let Some(channel) = b["channel"].as_str().map(str::to_string) else {
        return ok_false("channel_not_found");
    };
    if !channel.starts_with('C') {
        return ok_false("channel_not_found");
    }
    if b["text"].as_str().unwrap_or_default().is_empty() && b["blocks"].is_null() {
        return ok_false("no_text");
    }
    if let Err(e) = check_blocks(b) {
        return ok_false(e);
    }
    if let Some(last) = st.last_post.get(&channel) {
        if rec.at.saturating_duration_since(*last) < st.min_gap {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
        }
    }
    let thread_ts = b["thread_ts"].as_str().map(str::to_string);
    if let Some(t) = &thread_ts {
        if !st
            .messages
            .iter()
            .any(|m| &m.ts == t && m.channel == channel)
        {
            return ok_false("thread_not_found");
        }
    }
    st.last_post.insert(channel.clone(), rec.at);
    st.next_ts += 1;
    let ts = format!("1700000000.{:06}", st.next_ts);
    st.messages.push(Message {
        channel: channel.clone(),
        ts: ts.clone(),
        thread_ts,
        body: b.clone(),
        updates: 0,
    });
    Json(
        json!({"ok": true, "channel": channel, "ts": ts, "message": {"text": b["text"], "ts": ts}}),
    )
    .into_response()
}

fn update(st: &mut St, rec: &Recorded) -> Response {
    let b = &rec.body;
    let (Some(channel), Some(ts)) = (b["channel"].as_str(), b["ts"].as_str()) else {
        return ok_false("message_not_found");
    };
    if let Err(e) = check_blocks(b) {
        return ok_false(e);
    }
    if let Some((n, window)) = st.update_limit {
        st.updates_at
            .retain(|t| rec.at.saturating_duration_since(*t) < window);
        if st.updates_at.len() >= n {
            let free_at = st.updates_at[0] + window;
            let wait = free_at.saturating_duration_since(rec.at).as_secs().max(1);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", wait.to_string())],
                Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
        }
    }
    if !st
        .messages
        .iter()
        .any(|m| m.ts == ts && m.channel == channel)
    {
        return ok_false("message_not_found");
    }
    st.updates_at.push(rec.at);
    let Some(m) = st
        .messages
        .iter_mut()
        .find(|m| m.ts == ts && m.channel == channel)
    else {
        return ok_false("message_not_found");
    };
    m.body = b.clone();
    m.updates += 1;
    Json(json!({"ok": true, "channel": channel, "ts": ts, "text": b["text"]})).into_response()
}

/// Block Kit's limits, as Slack enforces them.
fn check_blocks(b: &Value) -> Result<(), &'static str> {
    let mut blocks: Vec<&Value> = b["blocks"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for a in b["attachments"].as_array().into_iter().flatten() {
        blocks.extend(a["blocks"].as_array().into_iter().flatten());
    }
    if blocks.len() > 50 {
        return Err("invalid_blocks");
    }
    let mut total = 0;
    texts(
        &Value::Array(blocks.iter().map(|b| (*b).clone()).collect()),
        &mut total,
    );
    if total > BLOCKS_TEXT_MAX {
        return Err("msg_blocks_too_long");
    }
    for block in blocks {
        let len = |v: &Value| v.as_str().map(|s| s.chars().count()).unwrap_or(0);
        match block["type"].as_str() {
            Some("header") if len(&block["text"]["text"]) > 150 => return Err("invalid_blocks"),
            Some("section") if len(&block["text"]["text"]) > 3000 => return Err("invalid_blocks"),
            Some("context")
                if block["elements"]
                    .as_array()
                    .is_none_or(|e| e.len() > 10 || e.iter().any(|x| len(&x["text"]) > 3000)) =>
            {
                return Err("invalid_blocks")
            }
            Some("actions") => {
                let elements = block["elements"].as_array();
                if elements.is_none_or(|e| e.is_empty() || e.len() > 25) {
                    return Err("invalid_blocks");
                }
                for e in elements.into_iter().flatten() {
                    let ok = e["type"] == "button"
                        && len(&e["text"]["text"]) <= 75
                        && len(&e["action_id"]) <= 255
                        && len(&e["value"]) <= 2000
                        && (e["url"].is_null() || len(&e["url"]) <= 3000)
                        && (e["style"].is_null()
                            || e["style"] == "primary"
                            || e["style"] == "danger")
                        && (e["confirm"].is_null()
                            || (len(&e["confirm"]["title"]["text"]) <= 100
                                && len(&e["confirm"]["text"]["text"]) <= 300
                                && len(&e["confirm"]["confirm"]["text"]) <= 30
                                && len(&e["confirm"]["deny"]["text"]) <= 30));
                    if !ok {
                        return Err("invalid_blocks");
                    }
                }
            }
            Some(_) => {}
            None => return Err("invalid_blocks"),
        }
    }
    Ok(())
}

/// Every button of a message body (its blocks and its attachments' blocks).
pub fn buttons(body: &Value) -> Vec<Value> {
    let mut blocks: Vec<&Value> = body["blocks"].as_array().into_iter().flatten().collect();
    for a in body["attachments"].as_array().into_iter().flatten() {
        blocks.extend(a["blocks"].as_array().into_iter().flatten());
    }
    blocks
        .into_iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The characters of every `text` string in `v`.
fn texts(v: &Value, total: &mut usize) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(t)) = m.get("text") {
                *total += t.chars().count();
            }
            m.values().for_each(|x| texts(x, total));
        }
        Value::Array(a) => a.iter().for_each(|x| texts(x, total)),
        _ => {}
    }
}

/// Socket Mode's WebSocket side: accepts connections, says `hello`, forwards what the test sends
/// and records the envelope ids the client acknowledges. Returns its `ws://` URL.
async fn socket_listener(st: Shared) -> String {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Ws;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let st = st.clone();
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (mut tx, mut rx) = ws.split();
                let (out, mut queue) = tokio::sync::mpsc::unbounded_channel::<String>();
                let n = {
                    let mut s = st.lock().unwrap();
                    s.sockets.push(out);
                    s.sockets.len()
                };
                let hello = json!({"type": "hello", "num_connections": n, "connection_info": {"app_id": "A1"}});
                if tx.send(Ws::text(hello.to_string())).await.is_err() {
                    return;
                }
                loop {
                    tokio::select! {
                        m = queue.recv() => match m {
                            Some(text) => {
                                let close = text.contains("\"disconnect\"");
                                if tx.send(Ws::text(text)).await.is_err() || close {
                                    return;
                                }
                            }
                            None => return,
                        },
                        m = rx.next() => match m {
                            Some(Ok(Ws::Text(t))) => {
                                if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                                    if let Some(id) = v["envelope_id"].as_str() {
                                        st.lock().unwrap().acks.push(id.to_string());
                                    }
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => return,
                        },
                    }
                }
            });
        }
    });
    format!("ws://{addr}/link/")
}
