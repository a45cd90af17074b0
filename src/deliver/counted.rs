//! The counting stage in front of every sink of `herald run`: `herald_notifications_total`,
//! request times, and each pipeline execution's first delivered final status.

use super::{Delivery, MessageRef, Sink, SinkError};
use crate::telemetry::metrics;
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A sink that counts `herald_notifications_total`, times its requests, and counts each
/// pipeline execution's first delivered final status (`herald_pipeline_executions_total`,
/// `herald_pipeline_duration_seconds`; per worker, so a thread finished by two workers may be
/// counted twice).
pub struct Counted {
    inner: Arc<dyn Sink>,
    finals: Mutex<std::collections::HashSet<String>>,
}

/// Thread ids remembered for the pipeline counters before the set is cleared.
const FINALS_REMEMBERED: usize = 50_000;

impl Counted {
    pub fn new(inner: Arc<dyn Sink>) -> Self {
        Self {
            inner,
            finals: Mutex::new(std::collections::HashSet::new()),
        }
    }

    fn count_final(&self, d: &Delivery) {
        let n = &d.notification;
        if !n.is_final || n.kind != crate::notification::Kind::Pipeline {
            return;
        }
        let Some(pipeline) = n.pipeline.as_deref() else {
            return;
        };
        {
            let mut seen = self.finals.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() >= FINALS_REMEMBERED {
                seen.clear();
            }
            if !seen.insert(d.thread.clone()) {
                return;
            }
        }
        let m = metrics();
        m.pipeline_executions
            .with_label_values(&[n.account.as_str(), pipeline, n.status.as_str()])
            .inc();
        if let Some(secs) = n.duration_secs {
            m.pipeline_duration
                .with_label_values(&[n.account.as_str(), pipeline])
                .observe(secs.max(0) as f64);
        }
    }
}

impl Sink for Counted {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = self.inner.deliver(d).await;
            if r.is_ok() {
                self.count_final(d);
            }
            let m = metrics();
            let kind = self.inner.kind();
            m.sink_request_duration
                .with_label_values(&[kind])
                .observe(started.elapsed().as_secs_f64());
            let outcome = if r.is_ok() { "ok" } else { "error" };
            m.notifications
                .with_label_values(&[kind, d.op.as_str(), outcome])
                .inc();
            r
        })
    }

    fn deliver_digest<'a>(
        &'a self,
        d: &'a crate::deliver::DigestDelivery,
    ) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = self.inner.deliver_digest(d).await;
            let m = metrics();
            let kind = self.inner.kind();
            m.sink_request_duration
                .with_label_values(&[kind])
                .observe(started.elapsed().as_secs_f64());
            let outcome = if r.is_ok() { "ok" } else { "error" };
            m.notifications
                .with_label_values(&[kind, "digest", outcome])
                .inc();
            r
        })
    }
}
