//! A Discord webhook test server: execute (`POST /api/webhooks/{id}/{token}`, `?wait=true`
//! returns the message object) and edit (`PATCH …/messages/{message_id}`).
//!
//! Like Discord it checks the token (401, code 50027), refuses embeds past their limits (400),
//! and allows 5 requests per 2-second window per webhook, answering 429 with
//! `{"message": "You are being rate limited.", "retry_after": <float>, "global": false}`,
//! `Retry-After` and the `X-RateLimit-*` headers beyond it.

use super::{serve, Recorded};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub const LIMIT: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(2);
/// A client spacing requests 400 ms apart lands its sixth exactly at the window's end; our
/// clock and theirs differ by the jitter of a busy machine, so the window closes this much early.
const JITTER: Duration = Duration::from_millis(150);

struct St {
    webhooks: HashMap<String, String>,
    windows: HashMap<String, (Instant, u32)>,
    messages: HashMap<String, (Value, u32)>,
    next_id: u64,
    fail_503: u32,
    requests: Vec<Recorded>,
}

#[derive(Clone)]
pub struct DiscordServer {
    pub url: String,
    st: Arc<Mutex<St>>,
}

impl DiscordServer {
    pub async fn start() -> Self {
        let st = Arc::new(Mutex::new(St {
            webhooks: HashMap::new(),
            windows: HashMap::new(),
            messages: HashMap::new(),
            next_id: 1_210_000_000_000_000_000,
            fail_503: 0,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/api/webhooks/{id}/{token}", post(execute))
            .route("/api/webhooks/{id}/{token}/messages/{message}", patch(edit))
            .with_state(st.clone());
        Self {
            url: serve(app).await,
            st,
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap()
    }

    /// Registers a webhook and returns its URL.
    pub fn webhook(&self, id: &str, token: &str) -> String {
        self.st().webhooks.insert(id.to_string(), token.to_string());
        format!("{}/api/webhooks/{id}/{token}", self.url)
    }

    pub fn fail_503(&self, n: u32) {
        self.st().fail_503 = n;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.st().requests.clone()
    }

    pub fn rate_limited(&self) -> usize {
        self.requests().iter().filter(|r| r.status == 429).count()
    }

    /// The message's latest body and how often it was edited.
    pub fn message(&self, id: &str) -> Option<(Value, u32)> {
        self.st().messages.get(id).cloned()
    }

    pub fn message_count(&self) -> usize {
        self.st().messages.len()
    }
}

type Shared = Arc<Mutex<St>>;

async fn execute(
    State(st): State<Shared>,
    Path((id, token)): Path<(String, String)>,
    m: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&st, &m, &uri, &headers, &body, |st, rec| {
        if let Some(r) = gate(st, &id, &token, rec) {
            return r;
        }
        if !rec.query.split('&').any(|kv| kv == "wait=true") {
            return StatusCode::NO_CONTENT.into_response();
        }
        st.next_id += 1;
        let mid = st.next_id.to_string();
        st.messages.insert(mid.clone(), (rec.body.clone(), 0));
        Json(message(&mid, &id, &rec.body)).into_response()
    })
}

async fn edit(
    State(st): State<Shared>,
    Path((id, token, mid)): Path<(String, String, String)>,
    m: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&st, &m, &uri, &headers, &body, |st, rec| {
        if let Some(r) = gate(st, &id, &token, rec) {
            return r;
        }
        match st.messages.get_mut(&mid) {
            Some((b, edits)) => {
                *b = rec.body.clone();
                *edits += 1;
                Json(message(&mid, &id, &rec.body)).into_response()
            }
            None => (
                StatusCode::NOT_FOUND,
                Json(json!({"message": "Unknown Message", "code": 10008})),
            )
                .into_response(),
        }
    })
}

fn record(
    st: &Shared,
    m: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    f: impl FnOnce(&mut St, &Recorded) -> Response,
) -> Response {
    let mut rec = Recorded::new(m, uri, headers, body);
    let mut st = st.lock().unwrap();
    rec.at = Instant::now();
    let resp = f(&mut st, &rec);
    rec.status = resp.status().as_u16();
    st.requests.push(rec);
    resp
}

/// Faults, the token, the rate limit and the embed limits, in Discord's order.
fn gate(st: &mut St, id: &str, token: &str, rec: &Recorded) -> Option<Response> {
    if st.fail_503 > 0 {
        st.fail_503 -= 1;
        return Some((StatusCode::SERVICE_UNAVAILABLE, "upstream connect error").into_response());
    }
    match st.webhooks.get(id) {
        None => {
            return Some(
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"message": "Unknown Webhook", "code": 10015})),
                )
                    .into_response(),
            )
        }
        Some(t) if t != token => {
            return Some(
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"message": "Invalid Webhook Token", "code": 50027})),
                )
                    .into_response(),
            )
        }
        Some(_) => {}
    }
    let now = rec.at;
    let w = st.windows.entry(id.to_string()).or_insert((now, 0));
    if now.saturating_duration_since(w.0) + JITTER >= WINDOW {
        *w = (now, 0);
    }
    let reset_after = WINDOW.saturating_sub(now.saturating_duration_since(w.0));
    if w.1 >= LIMIT {
        let secs = reset_after.as_secs_f64();
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    ("retry-after", format!("{}", secs.ceil() as u64)),
                    ("x-ratelimit-limit", LIMIT.to_string()),
                    ("x-ratelimit-remaining", "0".to_string()),
                    ("x-ratelimit-reset-after", format!("{secs:.3}")),
                    ("x-ratelimit-bucket", format!("webhook-{id}")),
                    ("x-ratelimit-scope", "user".to_string()),
                ],
                Json(json!({
                    "message": "You are being rate limited.",
                    "retry_after": (secs * 1000.0).round() / 1000.0,
                    "global": false,
                })),
            )
                .into_response(),
        );
    }
    w.1 += 1;
    if let Err(e) = check_embeds(&rec.body) {
        return Some(
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"message": "Invalid Form Body", "code": 50035, "errors": e})),
            )
                .into_response(),
        );
    }
    None
}

fn message(id: &str, webhook: &str, body: &Value) -> Value {
    json!({
        "id": id,
        "type": 0,
        "channel_id": "1100000000000000000",
        "webhook_id": webhook,
        "content": body["content"].as_str().unwrap_or_default(),
        "embeds": body["embeds"],
        "timestamp": "2024-03-03T10:15:00.000000+00:00",
    })
}

/// Discord's embed limits.
fn check_embeds(b: &Value) -> Result<(), &'static str> {
    let len = |v: &Value| v.as_str().map(|s| s.chars().count()).unwrap_or(0);
    for e in b["embeds"].as_array().into_iter().flatten() {
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        let total = len(&e["title"])
            + len(&e["description"])
            + len(&e["footer"]["text"])
            + len(&e["author"]["name"])
            + fields
                .iter()
                .map(|f| len(&f["name"]) + len(&f["value"]))
                .sum::<usize>();
        if len(&e["title"]) > 256
            || len(&e["description"]) > 4096
            || len(&e["footer"]["text"]) > 2048
            || fields.len() > 25
            || fields
                .iter()
                .any(|f| len(&f["name"]) > 256 || len(&f["value"]) > 1024)
            || total > 6000
        {
            return Err("BASE_TYPE_MAX_LENGTH");
        }
    }
    Ok(())
}
