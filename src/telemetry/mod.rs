//! Telemetry: the Prometheus registry with every metric name of DESIGN.md ("Metrics"), and the
//! JSON log setup. One global registry so any stage can count without plumbing; names, units
//! and label sets live here and nowhere else.

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use std::sync::OnceLock;

/// Every metric Herald exports. Label values are bounded: kinds, reasons, sink kinds, stage
/// names; never an execution id, a channel secret or a webhook URL.
pub struct Metrics {
    registry: Registry,
    /// `herald_source_messages_received_total{source}`
    pub source_received: IntCounterVec,
    /// `herald_source_messages_acked_total{source,outcome}`: outcome is `deleted`
    /// (SQS delete / Kinesis checkpoint), `delete_failed`, `released` (left for redelivery),
    /// `rejected` (undecodable, left for the dead-letter queue).
    pub source_acked: IntCounterVec,
    /// `herald_source_messages_redelivered_total{source}`: received again (an earlier receive
    /// did not finish: a crash, an error, a visibility timeout).
    pub source_redelivered: IntCounterVec,
    /// `herald_source_errors_total{source,op}`: failed calls to the source's API.
    pub source_errors: IntCounterVec,
    /// `herald_source_in_flight{source}`: messages received and not yet acked.
    pub source_in_flight: IntGaugeVec,
    /// `herald_source_visibility_extensions_total{outcome}`
    pub visibility_extensions: IntCounterVec,
    /// `herald_kinesis_leases_held`
    pub kinesis_leases_held: IntGauge,
    /// `herald_events_decoded_total{kind}`
    pub events_decoded: IntCounterVec,
    /// `herald_events_discarded_total{reason}`
    pub events_discarded: IntCounterVec,
    /// `herald_event_lag_seconds`: now minus the event's own time, at processing.
    pub event_lag: HistogramVec,
    /// `herald_processing_duration_seconds{stage}`
    pub processing_duration: HistogramVec,
    /// `herald_processing_errors_total{reason}`: batches whose processing failed (left for
    /// redelivery).
    pub processing_errors: IntCounterVec,
    /// `herald_store_requests_total{op,outcome}`: `ok` and `conflict` from the engine's counters
    /// (`herald run`'s ticker), `throttled` from the DynamoDB store as each throttled answer
    /// arrives (retries included), and `query` pages of the timer index from the store.
    pub store_requests: IntCounterVec,
    /// `herald_store_capacity_units_total{kind}`: DynamoDB read and write capacity units
    /// consumed, as DynamoDB reports them (`ReturnConsumedCapacity`).
    pub store_capacity_units: prometheus::CounterVec,
    /// `herald_cache_lookups_total{result}`
    pub cache_lookups: IntCounterVec,
    /// `herald_threads_active`
    pub threads_active: Gauge,
    /// `herald_notifications_total{sink,op,outcome}`
    pub notifications: IntCounterVec,
    /// `herald_sink_request_duration_seconds{sink}`
    pub sink_request_duration: HistogramVec,
    /// `herald_sink_rate_limited_total{sink}`
    pub sink_rate_limited: IntCounterVec,
    /// `herald_sink_retries_total{sink}`
    pub sink_retries: IntCounterVec,
    /// `herald_sink_fenced_total{sink}`: attempts not made because the thread's delivery lease
    /// ran out first (another worker may hold it now; see `deliver::fence`).
    pub sink_fenced: IntCounterVec,
    /// `herald_outbox_depth{sink}`
    pub outbox_depth: GaugeVec,
    /// `herald_enrich_requests_total{api,outcome}`
    pub enrich_requests: IntCounterVec,
    /// `herald_pipeline_executions_total{account,pipeline,outcome}`
    pub pipeline_executions: IntCounterVec,
    /// `herald_pipeline_duration_seconds{account,pipeline}`
    pub pipeline_duration: HistogramVec,
    /// `herald_ready`: 1 while the worker is ready (what `/readyz` answers).
    pub ready: IntGauge,
    /// `herald_timers_pending`: threads' timers set (the in-process store; a fleet's live in
    /// DynamoDB's `wake` index).
    pub timers_pending: IntGauge,
    /// `herald_timers_fired_total{kind}`: `stall`, `recheck`, `reminder`, `early`.
    pub timers_fired: IntCounterVec,
    /// `herald_timer_lag_seconds`: how long after its due time a timer fired.
    pub timer_lag: HistogramVec,
    /// `herald_actions_total{action,outcome}`: people's actions from messages: `done`,
    /// `failed` (AWS refused), `refused` (not allowed, not possible, already done), `forged`
    /// (a request whose signature or timestamp did not hold; action `unknown`).
    pub actions: IntCounterVec,
}

/// Every exported name with its help text, in the order of the README's catalogue. The tests
/// check that each appears in `/metrics` and in the README.
pub const CATALOGUE: &[(&str, &str)] = &[
    (
        "herald_source_messages_received_total",
        "Messages received from the source.",
    ),
    (
        "herald_source_messages_acked_total",
        "Messages acknowledged to the source, by outcome.",
    ),
    (
        "herald_source_messages_redelivered_total",
        "Messages received again after an unfinished receive.",
    ),
    (
        "herald_source_errors_total",
        "Failed calls to the source's API, by operation.",
    ),
    (
        "herald_source_in_flight",
        "Messages received and not yet acknowledged.",
    ),
    (
        "herald_source_visibility_extensions_total",
        "SQS visibility extensions, by outcome.",
    ),
    (
        "herald_kinesis_leases_held",
        "Kinesis shard leases this worker holds.",
    ),
    ("herald_events_decoded_total", "Events decoded, by kind."),
    (
        "herald_events_discarded_total",
        "Messages or events discarded, by reason.",
    ),
    (
        "herald_event_lag_seconds",
        "Processing time minus the event's own time.",
    ),
    (
        "herald_processing_duration_seconds",
        "Time spent per pipeline stage.",
    ),
    (
        "herald_processing_errors_total",
        "Batches whose processing failed, by reason.",
    ),
    (
        "herald_store_requests_total",
        "Store requests, by operation and outcome.",
    ),
    (
        "herald_store_capacity_units_total",
        "DynamoDB capacity units consumed, by kind (read, write), as DynamoDB reports them.",
    ),
    (
        "herald_cache_lookups_total",
        "Thread cache lookups, by result.",
    ),
    (
        "herald_threads_active",
        "Threads held in the correlation cache.",
    ),
    (
        "herald_notifications_total",
        "Notifications delivered, by sink kind, op and outcome.",
    ),
    (
        "herald_sink_request_duration_seconds",
        "Duration of sink requests.",
    ),
    (
        "herald_sink_rate_limited_total",
        "Sink requests refused by the provider's rate limit.",
    ),
    ("herald_sink_retries_total", "Sink request retries."),
    (
        "herald_sink_fenced_total",
        "Sink attempts not made because the thread's delivery lease ran out first.",
    ),
    ("herald_outbox_depth", "Deliveries queued per sink."),
    (
        "herald_enrich_requests_total",
        "Enrichment API requests, by API and outcome.",
    ),
    (
        "herald_pipeline_executions_total",
        "Finished pipeline executions, by outcome.",
    ),
    (
        "herald_pipeline_duration_seconds",
        "Duration of finished pipeline executions.",
    ),
    ("herald_ready", "1 while the worker is ready to take work."),
    (
        "herald_timers_pending",
        "Threads' timers set, in the in-process store.",
    ),
    (
        "herald_timers_fired_total",
        "Threads' timers fired, by what they did.",
    ),
    (
        "herald_timer_lag_seconds",
        "How long after its due time a timer fired.",
    ),
    (
        "herald_actions_total",
        "People's actions from messages, by action and outcome.",
    ),
];

fn help(name: &str) -> &'static str {
    CATALOGUE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, h)| *h)
        .unwrap_or("")
}

impl Metrics {
    fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help(name)), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let histogram = |name: &str,
                         labels: &[&str],
                         buckets: Vec<f64>|
         -> Result<HistogramVec, prometheus::Error> {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help(name)).buckets(buckets),
                labels,
            )?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let fast = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let lag = vec![
            0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
        ];
        let durations = vec![
            30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
        ];
        let m = Metrics {
            registry: registry.clone(),
            source_received: counter("herald_source_messages_received_total", &["source"])?,
            source_acked: counter("herald_source_messages_acked_total", &["source", "outcome"])?,
            source_redelivered: counter("herald_source_messages_redelivered_total", &["source"])?,
            source_errors: counter("herald_source_errors_total", &["source", "op"])?,
            source_in_flight: {
                let name = "herald_source_in_flight";
                let g = IntGaugeVec::new(Opts::new(name, help(name)), &["source"])?;
                registry.register(Box::new(g.clone()))?;
                g
            },
            visibility_extensions: counter(
                "herald_source_visibility_extensions_total",
                &["outcome"],
            )?,
            kinesis_leases_held: {
                let name = "herald_kinesis_leases_held";
                let g = IntGauge::with_opts(Opts::new(name, help(name)))?;
                registry.register(Box::new(g.clone()))?;
                g
            },
            events_decoded: counter("herald_events_decoded_total", &["kind"])?,
            events_discarded: counter("herald_events_discarded_total", &["reason"])?,
            event_lag: histogram("herald_event_lag_seconds", &[], lag)?,
            processing_duration: histogram(
                "herald_processing_duration_seconds",
                &["stage"],
                fast.clone(),
            )?,
            processing_errors: counter("herald_processing_errors_total", &["reason"])?,
            store_requests: counter("herald_store_requests_total", &["op", "outcome"])?,
            store_capacity_units: {
                let name = "herald_store_capacity_units_total";
                let c = prometheus::CounterVec::new(Opts::new(name, help(name)), &["kind"])?;
                registry.register(Box::new(c.clone()))?;
                c
            },
            cache_lookups: counter("herald_cache_lookups_total", &["result"])?,
            threads_active: {
                let name = "herald_threads_active";
                let g = Gauge::with_opts(Opts::new(name, help(name)))?;
                registry.register(Box::new(g.clone()))?;
                g
            },
            notifications: counter("herald_notifications_total", &["sink", "op", "outcome"])?,
            sink_request_duration: histogram(
                "herald_sink_request_duration_seconds",
                &["sink"],
                fast,
            )?,
            sink_rate_limited: counter("herald_sink_rate_limited_total", &["sink"])?,
            sink_retries: counter("herald_sink_retries_total", &["sink"])?,
            sink_fenced: counter("herald_sink_fenced_total", &["sink"])?,
            outbox_depth: {
                let name = "herald_outbox_depth";
                let g = GaugeVec::new(Opts::new(name, help(name)), &["sink"])?;
                registry.register(Box::new(g.clone()))?;
                g
            },
            enrich_requests: counter("herald_enrich_requests_total", &["api", "outcome"])?,
            pipeline_executions: counter(
                "herald_pipeline_executions_total",
                &["account", "pipeline", "outcome"],
            )?,
            pipeline_duration: histogram(
                "herald_pipeline_duration_seconds",
                &["account", "pipeline"],
                durations,
            )?,
            ready: {
                let name = "herald_ready";
                let g = IntGauge::with_opts(Opts::new(name, help(name)))?;
                registry.register(Box::new(g.clone()))?;
                g
            },
            timers_pending: {
                let name = "herald_timers_pending";
                let g = IntGauge::with_opts(Opts::new(name, help(name)))?;
                registry.register(Box::new(g.clone()))?;
                g
            },
            timers_fired: counter("herald_timers_fired_total", &["kind"])?,
            actions: counter("herald_actions_total", &["action", "outcome"])?,
            timer_lag: histogram(
                "herald_timer_lag_seconds",
                &[],
                vec![0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0],
            )?,
        };
        m.timer_lag.with_label_values(&[] as &[&str]);
        for k in ["stall", "recheck", "reminder", "early"] {
            m.timers_fired.with_label_values(&[k]);
        }
        for a in crate::notification::action::id::ALL {
            for o in ["done", "failed", "refused", "unknown", "again"] {
                m.actions.with_label_values(&[a, o]);
            }
        }
        m.actions.with_label_values(&["unknown", "forged"]);
        // Label-less series and the always-present label values show up from the first scrape,
        // so dashboards and `rate()` have a zero to start from.
        m.event_lag.with_label_values(&[] as &[&str]);
        for r in ["hit", "miss"] {
            m.cache_lookups.with_label_values(&[r]);
        }
        for s in ["sqs", "kinesis", "local"] {
            m.source_received.with_label_values(&[s]);
            m.source_redelivered.with_label_values(&[s]);
            m.source_in_flight.with_label_values(&[s]);
            for o in ["deleted", "released", "rejected"] {
                m.source_acked.with_label_values(&[s, o]);
            }
        }
        m.source_errors.with_label_values(&["sqs", "receive"]);
        for o in ["ok", "failed"] {
            m.visibility_extensions.with_label_values(&[o]);
        }
        m.events_decoded.with_label_values(&["unknown"]);
        for r in [
            "invalid_json",
            "not_an_object",
            "missing_field",
            "too_deep",
            "unknown_kind",
        ] {
            m.events_discarded.with_label_values(&[r]);
        }
        for st in ["decode", "process"] {
            m.processing_duration.with_label_values(&[st]);
        }
        m.processing_errors.with_label_values(&["unavailable"]);
        for (op, o) in [
            ("get", "ok"),
            ("put", "ok"),
            ("put", "conflict"),
            ("get", "throttled"),
            ("put", "throttled"),
            ("query", "ok"),
        ] {
            m.store_requests.with_label_values(&[op, o]);
        }
        for kind in ["read", "write"] {
            m.store_capacity_units.with_label_values(&[kind]);
        }
        // Sink and enrichment series appear with their first request; a zero series per sink
        // kind keeps every name in the exposition from the start.
        m.notifications.with_label_values(&["jsonl", "post", "ok"]);
        m.sink_request_duration.with_label_values(&["jsonl"]);
        m.sink_rate_limited.with_label_values(&["slack"]);
        m.sink_retries.with_label_values(&["slack"]);
        m.sink_fenced.with_label_values(&["slack"]);
        m.outbox_depth.with_label_values(&["slack"]);
        m.enrich_requests.with_label_values(&["codepipeline", "ok"]);
        Ok(m)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    // Registration fails only for an invalid or duplicate name; the names are fixed constants
    // checked by `every_catalogue_name_is_exported` below, so this cannot fail at run time.
    M.get_or_init(|| Metrics::new().expect("the fixed metric names register"))
}

/// JSON log lines on stdout (`RUST_LOG` filters, default `info`). Fields carry message ids and
/// thread keys; secrets are a redacting type and never reach a field.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_name_is_exported() {
        let m = Metrics::new().expect("registers");
        m.source_received.with_label_values(&["sqs"]).inc();
        m.source_acked.with_label_values(&["sqs", "deleted"]).inc();
        m.source_errors.with_label_values(&["sqs", "receive"]).inc();
        m.source_redelivered.with_label_values(&["sqs"]).inc();
        m.source_in_flight.with_label_values(&["sqs"]).set(0);
        m.visibility_extensions.with_label_values(&["ok"]).inc();
        m.events_decoded.with_label_values(&["unknown"]).inc();
        m.events_discarded
            .with_label_values(&["invalid_json"])
            .inc();
        m.processing_duration
            .with_label_values(&["decode"])
            .observe(0.1);
        m.processing_errors.with_label_values(&["store"]).inc();
        m.store_requests.with_label_values(&["get", "ok"]).inc();
        m.store_capacity_units
            .with_label_values(&["write"])
            .inc_by(1.0);
        m.notifications
            .with_label_values(&["jsonl", "post", "ok"])
            .inc();
        m.sink_request_duration
            .with_label_values(&["jsonl"])
            .observe(0.1);
        m.sink_rate_limited.with_label_values(&["slack"]).inc();
        m.sink_retries.with_label_values(&["slack"]).inc();
        m.outbox_depth.with_label_values(&["slack"]).set(0.0);
        m.enrich_requests
            .with_label_values(&["codebuild", "ok"])
            .inc();
        m.pipeline_executions
            .with_label_values(&["1", "p", "SUCCEEDED"])
            .inc();
        m.pipeline_duration
            .with_label_values(&["1", "p"])
            .observe(60.0);
        let text = m.render();
        for (name, _) in CATALOGUE {
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} missing:\n{text}"
            );
        }
    }
}
