//! Local servers that speak the chat providers' HTTP APIs, rate limits and 429s included, for the
//! sink tests. Each binds 127.0.0.1:0, records every request it receives (method, path, query,
//! headers, body, arrival time, the status it answered) and can be told to fail for a while.
#![allow(dead_code)]

pub mod discord;
pub mod samples;
pub mod slack;
pub mod teams;
pub mod webhook;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
// tokio's clock: real time normally, the test's own under a paused clock, so a test can run hours of
// provider rate limits in a moment.
use tokio::time::Instant;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
    /// The exact bytes, for signature checks.
    pub raw: Vec<u8>,
    /// When the server handled it (taken under the server's lock, so arrival order is real).
    pub at: Instant,
    /// The status the server answered.
    pub status: u16,
}

impl Recorded {
    pub fn new(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Self {
        Self {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            raw: body.to_vec(),
            at: Instant::now(),
            status: 0,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Serves `app` on a fresh loopback port; returns `http://127.0.0.1:PORT`. The server lives as
/// long as the test's runtime.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A loopback URL where nothing listens: connecting fails at once.
pub async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    format!("http://{addr}")
}

/// The smallest gap between consecutive times, for "none faster than the limit".
pub fn min_gap(times: &[Instant]) -> Option<Duration> {
    times
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]))
        .min()
}
