//! `herald route-test --config FILE EVENTS...`: replays event files through the pipeline on the
//! in-memory store, like `replay`, but sends nothing: for every notification the pipeline would
//! deliver it shows which rules matched, the destinations they chose, and the message each
//! destination would receive, rendered by that destination's own renderer.

use crate::config::{Config, SinkKind};
use crate::correlate::engine::Engine;
use crate::deliver::{Delivery, MessageRef, Op, Sink, SinkError};
use crate::event::Event;
use crate::pipeline::Runner;
use crate::render;
use crate::route::Router;
use crate::store::memory::MemoryStore;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// What one notification would do.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub thread: String,
    pub kind: &'static str,
    pub title: String,
    pub status: String,
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The rules that matched, in order (`default` when only the default destination applied);
    /// empty when the notification is unrouted.
    pub rules: Vec<String>,
    pub destinations: Vec<Rendered>,
    /// The notification as the rules see it.
    pub notification: Value,
}

/// A destination and the body it would receive.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub name: String,
    pub kind: String,
    /// `post` (the thread's first message at this destination) or `update` (an edit of it).
    pub op: &'static str,
    /// Slack's `chat.postMessage` body, Discord's embed, Teams' card, Amazon Q's SNS message,
    /// the webhook's JSON; a string for `text`.
    pub body: Value,
}

/// Records what the runner would deliver; the routing is redone per notification to name the
/// rules.
#[derive(Default)]
struct Recorder(Mutex<Vec<Delivery>>);

impl Sink for Recorder {
    fn kind(&self) -> &'static str {
        "route-test"
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(d.clone());
        Box::pin(async move { Ok(json!({ "thread": d.thread })) })
    }
}

const ALL: &str = "route-test";

/// Replays `events` as `herald replay` does (in batches of ten, like an SQS receive, on the
/// events' clock, run `drain_secs` past the last one) and reports every notification in
/// delivery order.
pub async fn reports(
    cfg: &Config,
    events: &[Event],
    drain_secs: i64,
) -> Result<Vec<Report>, String> {
    let router = cfg.router().map_err(|e| e.to_string())?;
    let recorder = Arc::new(Recorder::default());
    let mut sinks: std::collections::BTreeMap<String, Arc<dyn Sink>> = Default::default();
    sinks.insert(ALL.into(), recorder.clone());
    let engine = Engine::new(
        Arc::new(MemoryStore::new()),
        crate::app::engine_config(cfg, Some("route-test")),
    );
    // Every notification reaches the recorder, routed or not, so unrouted ones show too.
    let runner = Runner::new(
        Arc::new(engine),
        Router::single(ALL),
        sinks,
        cfg.correlate.mode,
        cfg.correlate.settle_secs,
    );
    // Boxed: the runner's futures are large, and a caller's stack need not hold them.
    Box::pin(crate::cli::replay::replay_events(
        &runner, events, drain_secs,
    ))
    .await
    .map_err(|e| e.to_string())?;
    let deliveries = std::mem::take(&mut *recorder.0.lock().unwrap_or_else(|p| p.into_inner()));
    // A destination's first message of a thread is a post, whatever others got before.
    let mut posted = std::collections::HashSet::new();
    Ok(deliveries
        .into_iter()
        .map(|d| report(cfg, &router, d, &mut posted))
        .collect())
}

fn report(
    cfg: &Config,
    router: &Router,
    d: Delivery,
    posted: &mut std::collections::HashSet<(String, String)>,
) -> Report {
    let n = &d.notification;
    let routed = router.route(n);
    let destinations = routed
        .destinations
        .iter()
        .map(|name| {
            let kind = cfg
                .destinations
                .iter()
                .find(|x| &x.name == name)
                .map(|x| x.sink_kind());
            let op = if posted.insert((d.thread.clone(), name.clone())) {
                Op::Post
            } else {
                Op::Update
            };
            let delivery = Delivery {
                op,
                destination: name.clone(),
                ..d.clone()
            };
            Rendered {
                name: name.clone(),
                kind: kind.map_or("?", SinkKind::as_str).to_owned(),
                op: op.as_str(),
                body: kind.map_or(Value::Null, |k| body(k, &delivery)),
            }
        })
        .collect();
    Report {
        kind: n.kind.as_str(),
        title: n.title.clone(),
        status: n.status.clone(),
        is_final: n.is_final,
        rules: routed.rules,
        destinations,
        notification: n.to_value(),
        thread: d.thread,
    }
}

/// What a destination of `kind` would be sent for `d`.
pub fn body(kind: SinkKind, d: &Delivery) -> Value {
    let n = &d.notification;
    match kind {
        SinkKind::Slack => render::slack::render(n),
        SinkKind::Discord => render::discord::render(n),
        SinkKind::Teams => render::teams::render(n),
        SinkKind::Amazonq => render::amazonq::render(n, &d.thread),
        SinkKind::Webhook => {
            serde_json::from_slice(&crate::deliver::webhook::body(d, None)).unwrap_or(Value::Null)
        }
        SinkKind::Jsonl => json!({
            "op": d.op.as_str(),
            "thread": d.thread,
            "destination": d.destination,
            "notification": n,
        }),
        SinkKind::Text => json!(render::text::render(n)),
    }
}

/// A report as a person reads it: the route, then each destination's message (the terminal
/// rendering; `--json` prints the provider bodies).
pub fn to_text(r: &Report) -> String {
    let mut out = format!(
        "── {} · {} {}{}\n",
        r.thread,
        r.title,
        r.status,
        if r.is_final { " (final)" } else { "" }
    );
    if r.destinations.is_empty() {
        out.push_str("   no rule matched and there is no default destination: unrouted\n");
        return out;
    }
    out.push_str(&format!("   matched: {}\n", r.rules.join(", ")));
    for d in &r.destinations {
        out.push_str(&format!("   → {} ({}): {}\n", d.name, d.kind, d.op));
    }
    if let Ok(n) =
        serde_json::from_value::<crate::notification::Notification>(r.notification.clone())
    {
        for line in render::text::render(&n).lines() {
            out.push_str(&format!("     │ {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::decode;

    #[tokio::test]
    async fn every_notification_names_its_rule_and_renders_per_destination() {
        let cfg: Config = toml::from_str(
            r#"
            [correlate]
            mode = "final_only"
            [[destinations]]
            name = "ops"
            kind = "slack"
            channel = "C0123ABCD"
            token = "xoxb-not-used"
            [[destinations]]
            name = "audit"
            kind = "webhook"
            url = "https://hooks.example.com/h"
            [[rules]]
            name = "failed pipelines"
            match = "kind:pipeline & status:FAILED"
            destinations = ["ops"]
            continue = true
            [[rules]]
            match = "kind:pipeline"
            destinations = ["audit"]
            "#,
        )
        .expect("config");
        cfg.validate().expect("valid");
        let text = include_str!(
            "../../tests/fixtures/scenarios/meerkat-CodePipelineFailedCodeBuildFlow.jsonl"
        );
        let events: Vec<Event> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| decode(l.as_bytes()).ok())
            .flatten()
            .collect();
        let reports = reports(&cfg, &events, crate::cli::replay::DEFAULT_DRAIN_SECS)
            .await
            .expect("reports");
        let last = reports.last().expect("a notification");
        assert_eq!(last.status, "FAILED");
        assert_eq!(last.rules, vec!["failed pipelines", "rules[1]"]);
        let names: Vec<&str> = last.destinations.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["ops", "audit"]);
        assert_eq!(last.destinations[0].kind, "slack");
        assert!(last.destinations[0].body["blocks"].is_array());
        assert_eq!(last.destinations[1].body["op"], last.destinations[1].op);
        // Final-only: the failure is the first message either destination gets.
        assert_eq!(last.destinations[0].op, "post");
        let shown = to_text(last);
        assert!(
            shown.contains("matched: failed pipelines, rules[1]"),
            "{shown}"
        );
        assert!(shown.contains("→ ops (slack): post"), "{shown}");
    }
}
