//! An outage: Slack answers 503 to everything for 60 seconds, then recovers. The whole pipeline
//! runs (decode → correlate on the memory store → route → digest → limiter → retry → Slack test
//! server) with sinks built from a config, on tokio's paused clock (the server's outage window
//! and the limiter read the same clock, so a minute passes in a moment).
//!
//! The input is 20 pipeline executions (every seventh fails), in batches of ten as SQS delivers
//! them. A batch whose processing fails (the retries gave up during the outage) is redelivered
//! 30 seconds later, as SQS does once the visibility timeout expires; redelivered batches are
//! processed again until they succeed. Afterwards every execution has exactly one message (no
//! duplicate post), it shows the execution's final state (nothing lost), and nothing reached
//! Slack during the outage.

mod chat_servers;
mod support;

use chat_servers::slack::SlackServer;
use herald::cli::replay::{runner, ReplayOptions};
use herald::config::Config;
use herald::event::{decode, Event};
use herald::store::memory::MemoryStore;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use support::synthetic;
use tokio::time::Instant;

const TOKEN: &str = "xoxb-1111-2222-OUTAGETOKEN";
const OUTAGE: Duration = Duration::from_secs(60);
const VISIBILITY: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn a_minute_of_503s_loses_nothing_and_duplicates_nothing() {
    let server = SlackServer::start(TOKEN).await;
    server.set_min_gap(Duration::from_secs(1));
    let cfg: Config = toml::from_str(&format!(
        r#"
        default_destination = "deploys"
        [correlate]
        settle_secs = 0
        [[destinations]]
        name = "deploys"
        kind = "slack"
        channel = "C0OUTAGE"
        token = "{TOKEN}"
        api_base = "{api}"
        mention_authors = false
        retry = {{ max_attempts = 4, base_delay_ms = 500, max_delay_ms = 8000, attempt_timeout_ms = 5000 }}
        "#,
        api = server.url
    ))
    .expect("config");
    cfg.validate().expect("valid");
    let runner = runner(&ReplayOptions {
        jsonl: None,
        config: Some(cfg),
        store: Arc::new(MemoryStore::new()),
    })
    .expect("runner");

    let execs = synthetic::executions(20);
    let events: Vec<Event> = synthetic::by_time(&execs)
        .iter()
        .flat_map(|l| decode(l.as_bytes()).expect("decodes"))
        .collect();
    let t0 = Instant::now();
    let now = || 1_700_000_000 + (Instant::now() - t0).as_secs() as i64;
    server.outage(OUTAGE);

    // (visible again at, batch): SQS's view of the queue.
    let mut queue: VecDeque<(Instant, Vec<Event>)> =
        events.chunks(10).map(|c| (t0, c.to_vec())).collect();
    let mut failures = 0;
    while let Some((visible, batch)) = queue.pop_front() {
        tokio::time::sleep_until(visible).await;
        if let Err(e) = runner.process(&batch, now()).await {
            failures += 1;
            assert!(e.to_string().contains("503"), "{e}");
            queue.push_back((Instant::now() + VISIBILITY, batch));
        }
    }
    runner.flush(now()).await.expect("flush after the outage");
    assert!(failures > 0, "the outage made some batches fail");

    let requests = server.requests();
    let refused = requests.iter().filter(|r| r.status == 503).count();
    assert!(refused > 0);
    for r in &requests {
        if r.at < t0 + OUTAGE {
            assert_eq!(r.status, 503, "nothing got through during the outage");
        }
    }
    assert_eq!(server.rate_limited(), 0);

    // One message per execution, whatever was retried and redelivered.
    let posts: Vec<_> = server
        .calls("chat.postMessage")
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert_eq!(posts.len(), execs.len(), "one post per execution");
    let messages = server.messages();
    assert_eq!(messages.len(), execs.len());
    for e in &execs {
        let mine: Vec<_> = messages
            .iter()
            .filter(|m| m.body.to_string().contains(&e.execution_id))
            .collect();
        assert_eq!(mine.len(), 1, "{}: one message", e.execution_id);
        let header = mine[0].body["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let shown = mine[0].body.to_string();
        let want = if e.failed { "FAILED" } else { "SUCCEEDED" };
        assert!(
            shown.contains(&format!("*{want}*")),
            "{}: final state shown: {header}",
            e.execution_id
        );
    }
    eprintln!(
        "{} batches failed during the outage, {refused} requests refused, all {} executions delivered by {:?}",
        failures,
        execs.len(),
        Instant::now() - t0
    );
}
