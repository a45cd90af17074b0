//! The status page: every pipeline's newest execution across accounts. `/` is server-rendered
//! HTML (filtered by `?account=` and `?status=`) whose small inline script re-fetches
//! `/api/pipelines` every few seconds and filters without reloading; `/api/pipelines` is the
//! same rows as JSON.
//!
//! Building rows ([`PipelineRow::new`]) and rendering ([`render_page`]) are pure: the handlers
//! read the store and the clock and pass `now` in. The page loads no external asset, and its
//! Content-Security-Policy allows only its own inline style and script (by hash) and fetches to
//! itself.

mod page;
mod rows;

pub use page::{esc, human_secs, render_page, status_class};
use page::{percent_encode, safe_url, CSS, JS};
pub use rows::{chat_ref, sort_rows, ChatRef, Filters, PipelineRow, PipelinesDoc};

use crate::correlate::{engine::Engine, Body, DeliveryRec};
use crate::notification::{status, Kind, Notification, StageInfo};
use crate::store::StoreError;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The statuses a pipeline row can have, in the order the status filter offers them.
pub const PIPELINE_STATUSES: &[&str] = &[
    status::FAILED,
    status::IN_PROGRESS,
    status::STARTED,
    status::WAITING_FOR_APPROVAL,
    status::SUCCEEDED,
    status::STOPPED,
    status::SUPERSEDED,
    status::CANCELED,
];

/// How often the page re-fetches `/api/pipelines`.
pub const REFRESH_SECS: u64 = 5;

/// Rows are reused this long, so that many open pages (each refreshing every
/// [`REFRESH_SECS`]) cost one store scan per period, not one each: on DynamoDB finding the
/// pipeline items is a Scan of the whole table.
const CACHE_TTL: Duration = Duration::from_secs(REFRESH_SECS);

/// Above this the page answers 503 rather than hang a browser's refresh.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Thread loads in flight at once while collecting rows.
const LOADS_IN_FLIGHT: usize = 8;

/// Executions tried per pipeline when the newest one's thread is missing (expired, or not
/// written yet).
const CANDIDATES: usize = 3;

/// Every pipeline's newest execution that has a thread, as rows built at `now`. Executions are
/// the ones the pipeline pointer observed; if the newest one's thread is gone, the next newest
/// stands in.
pub async fn collect(engine: &Engine, now: DateTime<Utc>) -> Result<Vec<PipelineRow>, StoreError> {
    let pointers = engine.scan("pl#").await?;
    let loads = pointers.into_iter().filter_map(|(key, thread)| {
        let Body::PipelinePointer(p) = thread.body else {
            return None;
        };
        let rest = key.strip_prefix("pl#")?.to_owned();
        let mut execs = p.executions;
        execs.sort_by(|a, b| (b.started, &b.execution_id).cmp(&(a.started, &a.execution_id)));
        let candidates: Vec<String> = execs
            .into_iter()
            .take(CANDIDATES)
            .map(|x| format!("ex#{rest}#{}", x.execution_id))
            .collect();
        Some(async move {
            for key in candidates {
                if let Some((_, t)) = engine.load(&key).await? {
                    if let Some(row) = t
                        .notification()
                        .and_then(|n| PipelineRow::new(&n, &t.deliveries, now))
                    {
                        return Ok(Some(row));
                    }
                }
            }
            Ok::<_, StoreError>(None)
        })
    });
    let found: Vec<Result<Option<PipelineRow>, StoreError>> = futures::stream::iter(loads)
        .buffer_unordered(LOADS_IN_FLIGHT)
        .collect()
        .await;
    let mut rows = Vec::with_capacity(found.len());
    for r in found {
        if let Some(row) = r? {
            rows.push(row);
        }
    }
    sort_rows(&mut rows);
    Ok(rows)
}

/// Rows shared by every request for [`CACHE_TTL`]. The lock is held while collecting, so
/// concurrent requests wait for one scan instead of each starting their own.
struct RowCache {
    rows: tokio::sync::Mutex<Option<(Instant, Vec<PipelineRow>)>>,
}

impl RowCache {
    async fn rows(&self, engine: &Engine, now: DateTime<Utc>) -> Result<Vec<PipelineRow>, String> {
        let mut slot = self.rows.lock().await;
        if let Some((at, rows)) = slot.as_ref() {
            if at.elapsed() < CACHE_TTL {
                return Ok(rows.iter().cloned().map(|r| r.aged(now)).collect());
            }
        }
        let rows = match tokio::time::timeout(COLLECT_TIMEOUT, collect(engine, now)).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => return Err(format!("the store did not answer: {e}")),
            Err(_) => return Err("the store did not answer in time".into()),
        };
        *slot = Some((Instant::now(), rows.clone()));
        Ok(rows)
    }
}

/// `/` and `/api/pipelines`, for the server to merge.
pub fn routes() -> Router<Arc<Engine>> {
    let cache = Arc::new(RowCache {
        rows: tokio::sync::Mutex::new(None),
    });
    let page_cache = cache.clone();
    Router::new()
        .route(
            "/",
            get(
                move |State(engine): State<Arc<Engine>>, Query(f): Query<Filters>| async move {
                    let now = Utc::now();
                    match page_cache.rows(&engine, now).await {
                        Ok(rows) => page_response(render_page(&rows, &f.normalised(), now)),
                        Err(e) => {
                            tracing::warn!(error = %e, "status page");
                            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
                        }
                    }
                },
            ),
        )
        .route(
            "/api/pipelines",
            get(
                move |State(engine): State<Arc<Engine>>, Query(f): Query<Filters>| async move {
                    let now = Utc::now();
                    match cache.rows(&engine, now).await {
                        Ok(rows) => {
                            let f = f.normalised();
                            let doc = PipelinesDoc {
                                generated_at: now,
                                pipelines: rows.into_iter().filter(|r| f.matches(r)).collect(),
                            };
                            (
                                [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
                                Json(doc),
                            )
                                .into_response()
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "/api/pipelines");
                            (
                                StatusCode::SERVICE_UNAVAILABLE,
                                Json(serde_json::json!({ "error": e })),
                            )
                                .into_response()
                        }
                    }
                },
            ),
        )
}

fn page_response(html: String) -> Response {
    let csp = content_security_policy();
    let mut resp = Html(html).into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The page's only style and script are the two constants below, allowed by hash; anything
/// injected despite the escaping would not run.
pub fn content_security_policy() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        format!(
            "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; \
             connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
            base64(&sha256(CSS)),
            base64(&sha256(JS))
        )
    })
}

fn sha256(s: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).to_vec()
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_secs(-3), "0s");
        assert_eq!(human_secs(42), "42s");
        assert_eq!(human_secs(303), "5m 03s");
        assert_eq!(human_secs(7500), "2h 05m");
        assert_eq!(human_secs(3 * 86_400 + 4 * 3600), "3d 04h");
        assert_eq!(human_secs(2 * 365 * 86_400 + 10 * 86_400), "2y 010d");
    }

    #[test]
    fn percent_encoding_keeps_unreserved_only() {
        assert_eq!(percent_encode("C0123abc"), "C0123abc");
        assert_eq!(percent_encode("a&b=c d"), "a%26b%3Dc%20d");
    }
}
