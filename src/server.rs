//! The HTTP server: `/healthz` and `/api/pipelines` (every pipeline's latest execution).

use crate::correlate::{engine::Engine, Body};
use axum::{extract::State, routing::get, Json, Router};
use std::sync::Arc;

pub async fn serve(addr: &str, engine: Arc<Engine>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/pipelines", get(pipelines))
        .with_state(engine);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// Each pipeline's newest execution, as its notification says it.
async fn pipelines(State(engine): State<Arc<Engine>>) -> Json<serde_json::Value> {
    let pointers = engine.scan("pl#").await.unwrap_or_default();
    let mut out = Vec::new();
    for (key, thread) in pointers {
        let Body::PipelinePointer(p) = thread.body else {
            continue;
        };
        let Some(newest) = p.executions.iter().max_by_key(|x| x.started) else {
            continue;
        };
        let Some(rest) = key.strip_prefix("pl#") else {
            continue;
        };
        let exec_key = format!("ex#{rest}#{}", newest.execution_id);
        if let Ok(Some((_, t))) = engine.load(&exec_key).await {
            if let Some(n) = t.notification() {
                out.push(n.to_value());
            }
        }
    }
    Json(serde_json::Value::Array(out))
}
