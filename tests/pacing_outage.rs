//! An outage: Slack answers 503 to everything for 60 seconds, then recovers. The whole pipeline
//! runs (decode → correlate on the memory store → route → digest → limiter → retry → Slack test
//! server) with sinks built from a config, on tokio's paused clock (the server's outage window
//! and the limiter read the same clock, so a minute passes in a moment).
//!
//! The input is 20 pipeline executions (every seventh fails), in batches of ten as SQS delivers
//! them. A batch whose processing fails (the retries gave up during the outage) is redelivered
//! 30 seconds later, as SQS does once the visibility timeout expires; redelivered batches are
//! processed again until they succeed. Afterwards every execution is in exactly one message (no
//! duplicate post), its own or a line of the digest its backlog was folded into (the
//! destination keeps the default digest settings), that message shows the execution's final
//! state (nothing lost), and nothing reached Slack during the outage.

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

/// With the default digest settings the backlog that builds up during the outage is folded into
/// a digest; without digests, each execution gets its own message.
#[tokio::test(start_paused = true)]
async fn a_minute_of_503s_loses_nothing_and_duplicates_nothing() {
    let folded = outage("").await;
    assert!(folded > 0, "the backlog was folded into a digest");
    let folded = outage("digest = { threshold = 0 }").await;
    assert_eq!(folded, 0);
}

/// Runs the outage with `digest` in the destination's config; returns how many executions
/// ended up in a digest.
async fn outage(digest: &str) -> usize {
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
        {digest}
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
        if let Err(e) = Box::pin(runner.process(&batch, now())).await {
            failures += 1;
            assert!(e.to_string().contains("503"), "{e}");
            queue.push_back((Instant::now() + VISIBILITY, batch));
        }
    }
    Box::pin(runner.flush(now()))
        .await
        .expect("flush after the outage");
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

    // Each execution in exactly one message, whatever was retried and redelivered: its own, or
    // a line of the digest its backlog was folded into once Slack came back.
    let messages = server.messages();
    let posts = server
        .calls("chat.postMessage")
        .into_iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(posts, messages.len(), "every post made one message");
    let mut digests = 0;
    for e in &execs {
        let mine: Vec<_> = messages
            .iter()
            .filter(|m| m.body.to_string().contains(&e.execution_id))
            .collect();
        assert_eq!(mine.len(), 1, "{}: in one message", e.execution_id);
        let want = if e.failed { "FAILED" } else { "SUCCEEDED" };
        let body = &mine[0].body;
        if body["blocks"][0]["text"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Digest"))
        {
            digests += 1;
            // Its status, in the digest's `❌ 1 FAILED: <url|id>` segment that links it.
            let text = body.to_string();
            let at = text.find(&e.execution_id).unwrap_or_default();
            let segment_start = text[..at].rfind(" · ").map_or(0, |i| i + 3);
            let segment = &text[segment_start.max(text[..at].rfind("— ").map_or(0, |i| i + 4))..at];
            assert!(
                segment.contains(want),
                "{}: final state in the digest: {segment}",
                e.execution_id
            );
        } else {
            assert!(
                body.to_string().contains(&format!("*{want}*")),
                "{}: final state shown",
                e.execution_id
            );
        }
    }
    eprintln!(
        "{} batches failed during the outage, {refused} requests refused, all {} executions delivered ({} in digests, {} messages) by {:?}",
        failures,
        execs.len(),
        digests,
        messages.len(),
        Instant::now() - t0
    );
    digests
}
