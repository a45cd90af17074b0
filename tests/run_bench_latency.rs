//! Event-to-chat latency benchmark (ignored by default; about a minute and a half):
//!
//! ```sh
//! bash scripts/test.sh   # or start the emulators and export HERALD_TEST_MOTO/HERALD_TEST_DYNAMODB
//! cargo test --release --test run_bench_latency -- --ignored --nocapture
//! ```
//!
//! Sends the synthetic stream one message at a time at 50 events/s to a real queue on the
//! emulator, read by `herald run` (4 pollers, DynamoDB Local store, jsonl sink, `progress`
//! mode, settle window 1 s), and watches the jsonl file every 5 ms. Per execution it takes the
//! time from sending its first event to the line that posts its message (event to chat), and
//! from sending its last event to the line that shows it final (that includes the settle
//! window), and prints p50 and p99 of each.

mod support;
mod worker;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::synthetic;
use worker::*;

const RATE: f64 = 50.0;
const EXECUTIONS: usize = 300;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: about a minute and a half"]
async fn event_to_chat_latency_at_50_events_a_second() {
    let sqs = sqs().await;
    let (url, _) = queue_with_dlq(&sqs, "bench-latency", 30, 10).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let cfg = sqs_config(&url, &jsonl, &support::unique("bench-latency"), 4, 30);
    // The default batching window (the harness turns it off for the other tests).
    let window = herald::config::DEFAULT_BATCH_WINDOW_MS.to_string();
    let mut herald = Herald::start_env(
        dir.path(),
        0,
        &cfg,
        &[("HERALD_BATCH_WINDOW_MS", window.as_str())],
    );
    herald.wait_ready().await;
    let execs = synthetic::executions(EXECUTIONS);
    let bodies = synthetic::interleaved(&execs);
    // Which execution each body belongs to, and whether it is its first or last.
    let key = |e: &synthetic::Execution| {
        format!(
            "ex#{}#eu-west-1#{}#{}",
            e.account, e.pipeline, e.execution_id
        )
    };
    let mut first_of: BTreeMap<&str, String> = BTreeMap::new();
    let mut last_of: BTreeMap<&str, String> = BTreeMap::new();
    for e in &execs {
        if let (Some(f), Some(l)) = (e.events.first(), e.events.last()) {
            first_of.insert(f.as_str(), key(e));
            last_of.insert(l.as_str(), key(e));
        }
    }

    // Watch the sink's file: when each thread's first line and first final line appeared.
    let watch = {
        let jsonl = jsonl.clone();
        let n = execs.len();
        tokio::spawn(async move {
            let mut posted: BTreeMap<String, Instant> = BTreeMap::new();
            let mut finals: BTreeMap<String, Instant> = BTreeMap::new();
            let mut seen = 0usize;
            let started = Instant::now();
            while finals.len() < n && started.elapsed() < Duration::from_secs(300) {
                let text = std::fs::read_to_string(&jsonl).unwrap_or_default();
                let now = Instant::now();
                for line in text.lines().skip(seen) {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                        break;
                    };
                    seen += 1;
                    let thread = v["thread"].as_str().unwrap_or_default().to_owned();
                    posted.entry(thread.clone()).or_insert(now);
                    if v["notification"]["final"] == true {
                        finals.entry(thread).or_insert(now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (posted, finals)
        })
    };

    let mut sent_first: BTreeMap<String, Instant> = BTreeMap::new();
    let mut sent_last: BTreeMap<String, Instant> = BTreeMap::new();
    let started = Instant::now();
    for (i, body) in bodies.iter().enumerate() {
        let due = started + Duration::from_secs_f64(i as f64 / RATE);
        tokio::time::sleep_until(due.into()).await;
        let at = Instant::now();
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .expect("send");
        if let Some(k) = first_of.get(body.as_str()) {
            sent_first.insert(k.clone(), at);
        }
        if let Some(k) = last_of.get(body.as_str()) {
            sent_last.insert(k.clone(), at);
        }
    }
    let sending = started.elapsed().as_secs_f64();
    let (posted, finals) = watch.await.expect("watcher");
    herald.sigterm();
    let _ = herald.wait_exit(Duration::from_secs(30)).await;

    let gaps = |sent: &BTreeMap<String, Instant>, seen: &BTreeMap<String, Instant>| {
        let mut v: Vec<f64> = sent
            .iter()
            .filter_map(|(k, at)| {
                seen.get(k)
                    .map(|t| t.saturating_duration_since(*at).as_secs_f64())
            })
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    };
    let first = gaps(&sent_first, &posted);
    let last = gaps(&sent_last, &finals);
    eprintln!(
        "{} events at {:.1} events/s; {} executions posted, {} told final\n\
         event to chat (first event sent -> message posted): p50 {:.3} s, p99 {:.3} s\n\
         last event sent -> final message (settle window 1 s included): p50 {:.3} s, p99 {:.3} s",
        bodies.len(),
        bodies.len() as f64 / sending,
        first.len(),
        last.len(),
        percentile(&first, 0.5),
        percentile(&first, 0.99),
        percentile(&last, 0.5),
        percentile(&last, 0.99),
    );
    assert_eq!(first.len(), execs.len(), "every execution posted");
    assert_eq!(last.len(), execs.len(), "every execution told final");
}
