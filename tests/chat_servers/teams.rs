//! A Teams Workflows webhook test server: `POST /workflows/{id}/triggers/manual/paths/invoke`
//! with a `sig` query credential, accepting a message whose attachment is an Adaptive Card
//! (202 Accepted, empty body). Like the service it allows 4 requests per second and answers 429
//! with `Retry-After` beyond it, and refuses a message over 28 KB (413).

use super::{serve, Recorded};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub const LIMIT: usize = 4;
/// One second, less the jitter between a client's clock and ours on a busy machine.
const WINDOW: Duration = Duration::from_millis(850);

struct St {
    workflow: String,
    sig: String,
    accepted: VecDeque<Instant>,
    fail_503: u32,
    requests: Vec<Recorded>,
}

#[derive(Clone)]
pub struct TeamsServer {
    pub url: String,
    st: Arc<Mutex<St>>,
}

impl TeamsServer {
    pub async fn start(workflow: &str, sig: &str) -> Self {
        let st = Arc::new(Mutex::new(St {
            workflow: workflow.to_string(),
            sig: sig.to_string(),
            accepted: VecDeque::new(),
            fail_503: 0,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/workflows/{id}/triggers/manual/paths/invoke", post(invoke))
            .with_state(st.clone());
        Self {
            url: serve(app).await,
            st,
        }
    }

    /// The trigger URL, credential included.
    pub fn webhook(&self) -> String {
        let st = self.st.lock().unwrap();
        format!(
            "{}/workflows/{}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={}",
            self.url, st.workflow, st.sig
        )
    }

    pub fn fail_503(&self, n: u32) {
        self.st.lock().unwrap().fail_503 = n;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.st.lock().unwrap().requests.clone()
    }

    pub fn accepted(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 202)
            .collect()
    }

    pub fn rate_limited(&self) -> usize {
        self.requests().iter().filter(|r| r.status == 429).count()
    }
}

type Shared = Arc<Mutex<St>>;

async fn invoke(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    m: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut rec = Recorded::new(&m, &uri, &headers, &body);
    let mut st = st.lock().unwrap();
    rec.at = Instant::now();
    let resp = handle(&mut st, &id, &q, &rec);
    rec.status = resp.status().as_u16();
    st.requests.push(rec);
    resp
}

fn handle(st: &mut St, id: &str, q: &HashMap<String, String>, rec: &Recorded) -> Response {
    if st.fail_503 > 0 {
        st.fail_503 -= 1;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if id != st.workflow || q.get("sig") != Some(&st.sig) {
        return (StatusCode::UNAUTHORIZED, "DirectApiAuthorizationRequired").into_response();
    }
    while st
        .accepted
        .front()
        .is_some_and(|t| rec.at.saturating_duration_since(*t) >= WINDOW)
    {
        st.accepted.pop_front();
    }
    if st.accepted.len() >= LIMIT {
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response();
    }
    if rec.raw.len() > 28 * 1024 {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let b = &rec.body;
    let card = &b["attachments"][0];
    if b["type"] != "message"
        || card["contentType"] != "application/vnd.microsoft.card.adaptive"
        || card["content"]["type"] != "AdaptiveCard"
    {
        return (StatusCode::BAD_REQUEST, "not an adaptive card message").into_response();
    }
    st.accepted.push_back(rec.at);
    StatusCode::ACCEPTED.into_response()
}
