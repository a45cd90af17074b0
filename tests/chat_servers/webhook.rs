//! A generic webhook receiver: accepts `POST /hooks/{token}` (200), records the exact bytes for
//! signature checks, answers an unknown token with a 404 that echoes the path, and can be told
//! to answer 503 for the next N requests, or to hang (never answer) on them.

use super::{serve, Recorded};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

struct St {
    token: String,
    fail_503: u32,
    hang: u32,
    requests: Vec<Recorded>,
}

#[derive(Clone)]
pub struct WebhookServer {
    pub url: String,
    st: Arc<Mutex<St>>,
}

impl WebhookServer {
    pub async fn start(token: &str) -> Self {
        let st = Arc::new(Mutex::new(St {
            token: token.to_string(),
            fail_503: 0,
            hang: 0,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/hooks/{token}", post(receive))
            .with_state(st.clone());
        Self {
            url: serve(app).await,
            st,
        }
    }

    pub fn webhook(&self) -> String {
        format!("{}/hooks/{}", self.url, self.st.lock().unwrap().token)
    }

    pub fn fail_503(&self, n: u32) {
        self.st.lock().unwrap().fail_503 = n;
    }

    /// The next `n` requests are recorded and then never answered (a provider that hangs).
    pub fn hang(&self, n: u32) {
        self.st.lock().unwrap().hang = n;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.st.lock().unwrap().requests.clone()
    }
}

async fn receive(
    State(st): State<Arc<Mutex<St>>>,
    Path(token): Path<String>,
    m: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut rec = Recorded::new(&m, &uri, &headers, &body);
    let hang = {
        let mut st = st.lock().unwrap();
        rec.at = Instant::now();
        let hang = st.hang > 0;
        if hang {
            st.hang -= 1;
            rec.status = 0;
            st.requests.push(rec.clone());
        }
        hang
    };
    if hang {
        std::future::pending::<()>().await;
    }
    let mut st = st.lock().unwrap();
    let resp = if st.fail_503 > 0 {
        st.fail_503 -= 1;
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    } else if token != st.token {
        // Like many real receivers, the error echoes the path: which holds the token.
        (StatusCode::NOT_FOUND, format!("no hook at {}", uri.path())).into_response()
    } else {
        StatusCode::OK.into_response()
    };
    rec.status = resp.status().as_u16();
    st.requests.push(rec);
    resp
}
