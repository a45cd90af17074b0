//! The HTTP server: `/healthz` (the process is alive), `/readyz` (polling works, the store
//! answers, not shutting down), `/metrics` (Prometheus text), `POST /events` (the local
//! source's door, an EventBridge API-destination target), `POST /slack/interactions` (people's
//! actions, see [`crate::chatops`]), and the status page: `/` and
//! `/api/pipelines` (every pipeline's latest execution, see [`dashboard`]). The status page and
//! `/metrics` have no login: `[server] status_listen` serves them on an address of their own.

pub mod dashboard;

use crate::correlate::engine::Engine;
use crate::secret::Secret;
use crate::source::{local::LocalSource, local::MAX_BODY_BYTES, Outcome};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{extract::State, routing::get, Router};
use std::sync::Arc;

pub async fn serve(addr: &str, engine: Arc<Engine>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(dashboard::routes())
        .with_state(engine);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// What the worker's endpoints need.
#[derive(Clone)]
pub struct WorkerState {
    pub engine: Arc<Engine>,
    /// Whether `/readyz` answers 200.
    pub ready: Arc<dyn Fn() -> bool + Send + Sync>,
    /// The local source `POST /events` feeds; `None` answers 404 there.
    pub local: Option<Arc<LocalSource>>,
    pub events_secret: Option<Secret>,
    pub events_secret_header: HeaderName,
    /// People's actions (`[actions]`): `POST /slack/interactions` answers 404 without.
    pub actions: Option<Arc<crate::chatops::Actor>>,
}

/// The worker's router: every endpoint of `herald run` on one listener.
pub fn worker_router(state: WorkerState) -> Router {
    let engine = state.engine.clone();
    ingress_router(state).merge(status_router(engine))
}

/// What other systems call: `/healthz`, `/readyz`, `POST /events`.
pub fn ingress_router(state: WorkerState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/events",
            post(events).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route(
            "/slack/interactions",
            post(slack_interactions).layer(DefaultBodyLimit::max(SLACK_BODY_MAX)),
        )
        .with_state(state)
}

/// What people and Prometheus read, with no login: `/metrics` and the status page.
pub fn status_router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .merge(dashboard::routes().with_state(engine))
}

/// Serves the worker's endpoints on `listener` until `shutdown` resolves; with `status`, the
/// status page and `/metrics` are served there instead (`[server] status_listen`), and that
/// listener also answers `/healthz`.
pub async fn serve_worker(
    listener: tokio::net::TcpListener,
    status: Option<tokio::net::TcpListener>,
    state: WorkerState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Some(status) = status else {
        return axum::serve(listener, worker_router(state))
            .with_graceful_shutdown(shutdown)
            .await;
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let status_app = status_router(state.engine.clone()).route("/healthz", get(|| async { "ok" }));
    let a = axum::serve(listener, ingress_router(state))
        .with_graceful_shutdown(stopped(stop_rx.clone()));
    let b = axum::serve(status, status_app).with_graceful_shutdown(stopped(stop_rx));
    let a = tokio::spawn(async move { a.await });
    let b = tokio::spawn(async move { b.await });
    shutdown.await;
    let _ = stop_tx.send(true);
    for h in [a, b] {
        match h.await {
            Ok(r) => r?,
            Err(e) => return Err(std::io::Error::other(e)),
        }
    }
    Ok(())
}

async fn readyz(State(s): State<WorkerState>) -> Response {
    if (s.ready)() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics().render(),
    )
        .into_response()
}

/// Slack's interaction payloads are a few KB; this bounds what a forged request can send.
const SLACK_BODY_MAX: usize = 256 * 1024;

/// Slack's interactivity request URL. Unsigned, forged or stale requests get 401; a signed one
/// is answered 200 at once whatever it asks, and the action runs after the answer (Slack wants
/// one within 3 s): what went wrong is told to the person, never as an HTTP error.
async fn slack_interactions(
    State(s): State<WorkerState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let Some(actor) = s.actions.clone() else {
        return (StatusCode::NOT_FOUND, "actions are not configured\n").into_response();
    };
    let Some(secret) = actor.signing_secret() else {
        return (
            StatusCode::NOT_FOUND,
            "no signing secret: clicks come by Socket Mode\n",
        )
            .into_response();
    };
    let now = crate::clock::unix_now();
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = crate::chatops::slack::verify(
        secret.expose().as_bytes(),
        h("x-slack-request-timestamp"),
        h("x-slack-signature"),
        &body,
        now,
    ) {
        tracing::warn!(error = %e, "refused a Slack request");
        crate::telemetry::metrics()
            .actions
            .with_label_values(&["unknown", "forged"])
            .inc();
        return (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response();
    }
    match crate::chatops::slack::parse(&body) {
        Ok(Some(click)) => {
            tokio::spawn(async move {
                actor.handle(click, now).await;
            });
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "a signed Slack interaction Herald cannot read"),
    }
    StatusCode::OK.into_response()
}

/// A comparison that takes the same time wherever the first difference is (`subtle`).
fn same_secret(given: &[u8], want: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    given.ct_eq(want).into()
}

/// One EventBridge event or a JSON array of them. Answers once the worker has handled the body:
/// 200 when done, 400 when it cannot be decoded, 503 when it could not be finished (EventBridge
/// retries), 413 above the SQS message size limit, 401 without the shared secret.
async fn events(State(s): State<WorkerState>, headers: HeaderMap, body: bytes::Bytes) -> Response {
    if let Some(secret) = &s.events_secret {
        let ok = headers
            .get(&s.events_secret_header)
            .is_some_and(|v| same_secret(v.as_bytes(), secret.expose().as_bytes()));
        if !ok {
            return (StatusCode::UNAUTHORIZED, "missing or wrong secret\n").into_response();
        }
    }
    let Some(local) = &s.local else {
        return (
            StatusCode::NOT_FOUND,
            "POST /events needs source.kind = \"local\"\n",
        )
            .into_response();
    };
    let done = match local.push(body).await {
        Ok(rx) => rx,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    };
    match tokio::time::timeout(std::time::Duration::from_secs(30), done).await {
        Ok(Ok(Outcome::Done)) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Ok(Outcome::Reject)) => (
            StatusCode::BAD_REQUEST,
            "the body is not an event or an array of events\n",
        )
            .into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "not processed; retry\n").into_response(),
    }
}
