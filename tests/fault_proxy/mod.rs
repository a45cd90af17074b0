//! An HTTP-aware fault proxy for the chaos tests: it stands between `herald run` and one service
//! (DynamoDB Local, moto's SQS, the Slack test server), forwards each request and, at the rates
//! it is given, injects what the real services and networks do:
//!
//! - latency: a wait before forwarding;
//! - a connection reset before the request reaches the service (the connection closes with no
//!   answer: nothing happened);
//! - a reset after it did (the service acted, the answer is lost: the caller cannot tell);
//! - a 5xx answer without forwarding, in the service's own error format (DynamoDB's and SQS's
//!   JSON protocol `__type`, a plain 503 for Slack);
//! - DynamoDB throttling (`ProvisionedThroughputExceededException`, `ThrottlingException`,
//!   HTTP 400, as DynamoDB sends them);
//! - for a while, HTTP 429 with `Retry-After: 1` to a share of the requests (a Slack rate-limit
//!   storm);
//! - Kinesis: throttling (`ProvisionedThroughputExceededException` on reads,
//!   `LimitExceededException` on the control plane) and, on `GetRecords`, an
//!   `ExpiredIteratorException`, as Kinesis sends them (HTTP 400, JSON 1.1 `__type`).
//!
//! Every injection is counted by kind, and a Slack `chat.postMessage` whose answer was lost after
//! Slack posted it is remembered by the message's `ts`: that message exists, and the poster does
//! not know it (the window no fencing can close).

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The service behind the proxy: how its errors look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    Sqs,
    Slack,
    Kinesis,
}

/// Rates in [0, 1] of each fault, per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub latency: f64,
    pub latency_max_ms: u64,
    pub reset_before: f64,
    pub reset_after: f64,
    pub server_error: f64,
    /// DynamoDB and Kinesis.
    pub throttle: f64,
    /// Kinesis `GetRecords` only.
    pub expired_iterator: f64,
}

struct State {
    faults: Faults,
    /// Until when, and to which share of requests, 429 is answered.
    storm: Option<(Instant, f64)>,
    injected: BTreeMap<&'static str, u64>,
    forwarded: u64,
    /// `ts` of Slack messages posted whose answer the proxy dropped.
    lost_posts: BTreeSet<String>,
    /// Every Slack message posted through this proxy, with when.
    posts: Vec<(String, Instant)>,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub url: String,
    service: Service,
    upstream: String,
    st: Arc<Mutex<State>>,
    http: reqwest::Client,
}

/// The error that makes hyper close the connection without an answer.
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the fault proxy")
    }
}

impl std::error::Error for Reset {}

impl FaultProxy {
    pub async fn start(upstream: &str, service: Service, faults: Faults) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let proxy = FaultProxy {
            url,
            service,
            upstream: upstream.trim_end_matches('/').to_string(),
            st: Arc::new(Mutex::new(State {
                faults,
                storm: None,
                injected: BTreeMap::new(),
                forwarded: 0,
                lost_posts: BTreeSet::new(),
                posts: Vec::new(),
            })),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(32)
                .build()
                .expect("client"),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let p = p.clone();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let svc = hyper::service::service_fn(move |req| {
                        let p = p.clone();
                        async move { p.handle(req).await }
                    });
                    // A reset ends the connection with an error: that is the point.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                });
            }
        });
        proxy
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// For `d`, a `share` of the requests are answered 429 with `Retry-After: 1` (Kinesis:
    /// throttled, as it answers).
    pub fn storm(&self, d: Duration, share: f64) {
        self.st().storm = Some((Instant::now() + d, share));
    }

    /// How many faults of each kind were injected.
    pub fn injected(&self) -> BTreeMap<&'static str, u64> {
        self.st().injected.clone()
    }

    pub fn forwarded(&self) -> u64 {
        self.st().forwarded
    }

    /// Slack messages posted whose answer was lost on the way back.
    pub fn lost_posts(&self) -> BTreeSet<String> {
        self.st().lost_posts.clone()
    }

    /// Every Slack message posted through this proxy (its `ts`), with when its request came in.
    pub fn posts(&self) -> Vec<(String, Instant)> {
        self.st().posts.clone()
    }

    fn count(&self, kind: &'static str) {
        *self.st().injected.entry(kind).or_default() += 1;
    }

    /// What to do with the next request, drawn from the rates: at most one fault, and latency.
    fn draw(&self) -> (Option<&'static str>, Duration) {
        let st = self.st();
        let f = st.faults;
        let latency = if rand::random::<f64>() < f.latency {
            Duration::from_millis(rand::random_range(0..=f.latency_max_ms.max(1)))
        } else {
            Duration::ZERO
        };
        if let Some((until, share)) = st.storm {
            if Instant::now() < until && rand::random::<f64>() < share {
                return (Some("429"), latency);
            }
        }
        let r = rand::random::<f64>();
        let mut edge = 0.0;
        for (kind, rate) in [
            ("reset_before", f.reset_before),
            ("reset_after", f.reset_after),
            ("5xx", f.server_error),
            ("throttle", f.throttle),
            ("expired_iterator", f.expired_iterator),
        ] {
            edge += rate;
            if r < edge {
                let applies = match kind {
                    "throttle" => matches!(self.service, Service::DynamoDb | Service::Kinesis),
                    "expired_iterator" => self.service == Service::Kinesis,
                    _ => true,
                };
                if !applies {
                    return (None, latency);
                }
                return (Some(kind), latency);
            }
        }
        (None, latency)
    }

    async fn handle(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Reset> {
        let received = Instant::now();
        let (fault, latency) = self.draw();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(|_| Reset)?.to_bytes();
        // Kinesis names its operation in `X-Amz-Target` (`Kinesis_20131202.GetRecords`).
        let operation = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("")
            .to_owned();
        match fault {
            Some("expired_iterator") if operation == "GetRecords" => {
                self.count("expired_iterator");
                return Ok(amz_json_1_1(
                    StatusCode::BAD_REQUEST,
                    "ExpiredIteratorException",
                ));
            }
            // A storm on Kinesis is a throttling storm: what it answers when over its limits.
            Some(kind @ ("throttle" | "429")) if self.service == Service::Kinesis => {
                self.count(if kind == "429" {
                    "throttle_storm"
                } else {
                    "throttle"
                });
                let ty = if matches!(operation.as_str(), "GetRecords" | "GetShardIterator") {
                    "ProvisionedThroughputExceededException"
                } else {
                    "LimitExceededException"
                };
                return Ok(amz_json_1_1(StatusCode::BAD_REQUEST, ty));
            }
            Some("reset_before") => {
                self.count("reset_before");
                return Err(Reset);
            }
            Some("5xx") => {
                self.count("5xx");
                return Ok(self.server_error());
            }
            Some("throttle") if self.service == Service::DynamoDb => {
                self.count("throttle");
                return Ok(throttled());
            }
            Some("429") => {
                self.count("429");
                return Ok(too_many());
            }
            _ => {}
        }
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut out = self
            .http
            .request(parts.method.clone(), format!("{}{path}", self.upstream))
            .body(body);
        for (name, value) in &parts.headers {
            if name != hyper::header::HOST && name != hyper::header::CONTENT_LENGTH {
                out = out.header(name, value);
            }
        }
        let answer = out.send().await.map_err(|_| Reset)?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let bytes = answer.bytes().await.map_err(|_| Reset)?;
        self.st().forwarded += 1;
        let posted = (self.service == Service::Slack && path.starts_with("/api/chat.postMessage"))
            .then(|| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .flatten()
            .filter(|v| v["ok"] == true)
            .and_then(|v| v["ts"].as_str().map(str::to_owned));
        if let Some(ts) = &posted {
            self.st().posts.push((ts.clone(), received));
        }
        if fault == Some("reset_after") {
            self.count("reset_after");
            if let Some(ts) = posted {
                self.st().lost_posts.insert(ts);
            }
            return Err(Reset);
        }
        let mut resp = Response::new(Full::new(bytes));
        *resp.status_mut() = status;
        for (name, value) in &headers {
            if name != hyper::header::TRANSFER_ENCODING && name != hyper::header::CONTENT_LENGTH {
                resp.headers_mut().append(name, value.clone());
            }
        }
        Ok(resp)
    }

    fn server_error(&self) -> Response<Full<Bytes>> {
        match self.service {
            Service::DynamoDb => amz_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                "com.amazon.coral.service#InternalFailure",
            ),
            Service::Sqs => amz_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                "com.amazonaws.sqs#InternalError",
            ),
            Service::Kinesis => amz_json_1_1(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure"),
            Service::Slack => {
                let mut r = Response::new(Full::new(Bytes::from_static(b"upstream connect error")));
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                r
            }
        }
    }
}

fn amz_json(status: StatusCode, ty: &str) -> Response<Full<Bytes>> {
    amz_json_error(status, ty, "application/x-amz-json-1.0")
}

/// An error of the JSON 1.1 protocol (Kinesis).
fn amz_json_1_1(status: StatusCode, ty: &str) -> Response<Full<Bytes>> {
    amz_json_error(status, ty, "application/x-amz-json-1.1")
}

/// An error of AWS's JSON protocols: its type in `__type`.
fn amz_json_error(
    status: StatusCode,
    ty: &str,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"__type": ty, "message": "injected by the fault proxy"});
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

/// DynamoDB's two throttling answers, alternately.
fn throttled() -> Response<Full<Bytes>> {
    let ty = if rand::random::<bool>() {
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
    } else {
        "com.amazonaws.dynamodb.v20120810#ThrottlingException"
    };
    amz_json(StatusCode::BAD_REQUEST, ty)
}

fn too_many() -> Response<Full<Bytes>> {
    let body = serde_json::json!({"ok": false, "error": "ratelimited"});
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    r.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from_static("1"),
    );
    r
}
