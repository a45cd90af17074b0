//! The DynamoDB footprint of `herald run` (issue 19): the synthetic organization stream
//! (`tests/support/org_stream.rs`) through a real SQS queue on the emulator into `herald run`
//! with the DynamoDB Local store, and what the store was asked, from `/metrics`: requests,
//! and the read and write capacity units DynamoDB Local reported consumed
//! (`ReturnConsumedCapacity`), per event and per 1,000 executions.
//!
//! Issue 19's goals, asserted on 1,000 executions or more: through `herald run` at most 0.5
//! requests, 1 write unit and 0.2 reads an event; through the replay at most 1 write unit an
//! event. On fewer (CI runs 100), the start and the end of the stream weigh more and fewer of
//! a thread's events meet in a batch: the bounds are then 0.8 requests and 1.1 write units. 100 executions by
//! default; the README's figures are for 1,000:
//!
//! ```sh
//! HERALD_FOOTPRINT_EXECUTIONS=1000 cargo test --release --test footprint_dynamo -- --nocapture --test-threads=1
//! ```

mod support;
mod worker;

use std::time::Duration;
use support::org_stream;
use worker::*;

/// Executions in the stream: `HERALD_FOOTPRINT_EXECUTIONS`, 100 by default.
fn executions() -> u64 {
    std::env::var("HERALD_FOOTPRINT_EXECUTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_run_on_dynamodb_costs_at_most_half_a_request_and_one_write_unit_an_event() {
    let n = executions();
    let bodies = org_stream::lines(n);
    let expected = org_stream::expected(n);
    let sqs = sqs().await;
    let (url, dlq) = queue_with_dlq(&sqs, "footprint", 30, 10).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let cfg = sqs_config(&url, &jsonl, &support::unique("footprint"), 4, 30);
    // `HERALD_FOOTPRINT_WINDOW_MS`: the batching window (the default when unset), to see what
    // it buys; the goals are asserted for the default only.
    let window: Option<u64> = std::env::var("HERALD_FOOTPRINT_WINDOW_MS")
        .ok()
        .and_then(|v| v.parse().ok());
    let window_ms = window
        .unwrap_or(herald::config::DEFAULT_BATCH_WINDOW_MS)
        .to_string();
    let mut herald = Herald::start_env(
        dir.path(),
        0,
        &cfg,
        &[("HERALD_BATCH_WINDOW_MS", window_ms.as_str())],
    );
    herald.wait_ready().await;
    let started = std::time::Instant::now();
    // 500 messages at a time, the next 500 once the queue holds fewer: a backlog the worker
    // drains at its own rate.
    send_paced(&sqs, &url, &bodies, 500).await;

    let missing = |rec: &Recorded| -> Vec<String> {
        expected
            .iter()
            .filter(|(key, status)| {
                rec.threads
                    .get(key)
                    .is_none_or(|(_, _, last)| last["status"] != *status || last["final"] != true)
            })
            .map(|(key, _)| key.clone())
            .collect()
    };
    let done = wait_until(Duration::from_secs(900), || {
        let (sqs, url, jsonl, missing) = (&sqs, &url, &jsonl, &missing);
        async move {
            missing(&read_jsonl(std::slice::from_ref(jsonl))).is_empty()
                && depth(sqs, url).await == (0, 0)
        }
    })
    .await;
    let rec = read_jsonl(std::slice::from_ref(&jsonl));
    let left = missing(&rec);
    assert!(
        done && left.is_empty(),
        "queue {:?}, dead-letter queue {:?}; {} executions not told final, first {:?}\n{}",
        depth(&sqs, &url).await,
        depth(&sqs, &dlq).await,
        left.len(),
        left.first(),
        herald
            .log_text()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let took = started.elapsed().as_secs_f64();
    let events = bodies.len() as f64;
    let get = |op: &'static str| {
        let h = &herald;
        async move {
            h.metric("herald_store_requests_total", &format!("op=\"{op}\""))
                .await
        }
    };
    let (gets, puts, queries) = (get("get").await, get("put").await, get("query").await);
    let conflicts = herald
        .metric("herald_store_requests_total", "outcome=\"conflict\"")
        .await;
    let read_units = herald
        .metric("herald_store_capacity_units_total", "kind=\"read\"")
        .await;
    let write_units = herald
        .metric("herald_store_capacity_units_total", "kind=\"write\"")
        .await;
    let per_k = 1000.0 / n as f64;
    eprintln!(
        "{n} executions, {events} events through SQS into herald run on DynamoDB Local in {took:.1} s\n\
         requests: {gets} GetItem, {puts} PutItem ({conflicts} of them lost a race), {queries} Query: {:.3} per event ({:.3} reads, {:.3} writes)\n\
         capacity: {read_units:.1} read units ({:.3} per event, {:.0} per 1,000 executions), \
         {write_units:.1} write units ({:.3} per event, {:.0} per 1,000 executions)",
        (gets + puts + queries) / events,
        (gets + queries) / events,
        puts / events,
        read_units / events,
        read_units * per_k,
        write_units / events,
        write_units * per_k,
    );
    assert!(
        write_units > 0.0 && read_units > 0.0,
        "DynamoDB Local reported no consumed capacity"
    );
    assert!(
        rec.threads.values().all(|(posts, _, _)| *posts <= 1),
        "a thread was posted twice"
    );
    if window.is_some() {
        return;
    }
    // Issue 19's goals (README, "Footprint"), on a stream of 1,000 executions or more. On a
    // short one (CI's 100, in a debug build beside the other tests) fewer of a thread's events
    // meet in a batch: 0.60 requests an event measured there, held under 0.8.
    let most = if n >= 1000 { 0.5 } else { 0.8 };
    assert!(
        read_units / events <= 0.2,
        "{:.3} read units per event",
        read_units / events
    );
    assert!(
        (gets + puts + queries) / events <= most,
        "{:.3} store requests per event (at most {most})",
        (gets + puts + queries) / events
    );
    assert!(
        (gets + queries) / events <= 0.2,
        "{:.3} reads per event",
        (gets + queries) / events
    );
    assert!(
        write_units / events <= 1.0,
        "{:.3} write units per event",
        write_units / events
    );
}

/// The same stream through `herald replay --store dynamodb`'s path (the library call the
/// command makes), counted by the store itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_replay_on_dynamodb_costs_at_most_one_write_unit_and_0_2_item_reads_an_event() {
    use herald::cli::replay::{replay_files, runner, ReplayOptions, DEFAULT_DRAIN_SECS};
    use herald::store::dynamo::DynamoStore;
    let n = executions();
    let lines = org_stream::lines(n);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("org.jsonl");
    std::fs::write(&input, lines.join("\n")).expect("write stream");
    let out = dir.path().join("out.jsonl");
    let client =
        aws_sdk_dynamodb::Client::new(&support::sdk_config(&support::dynamodb_endpoint()).await);
    let store = std::sync::Arc::new(DynamoStore::new(
        client,
        support::unique("footprint-replay"),
    ));
    store.create_table_if_missing().await.expect("create table");
    let r = runner(&ReplayOptions {
        jsonl: Some(out.clone()),
        config: None,
        store: store.clone(),
    })
    .expect("runner");
    let before = store.requests();
    let started = std::time::Instant::now();
    let bad = replay_files(&r, std::slice::from_ref(&input), DEFAULT_DRAIN_SECS)
        .await
        .expect("replay");
    assert!(!bad);
    let took = started.elapsed().as_secs_f64();
    let rec = read_jsonl(std::slice::from_ref(&out));
    for (key, status) in org_stream::expected(n) {
        let last = rec.threads.get(&key).map(|(_, _, l)| l);
        assert!(
            last.is_some_and(|l| l["status"] == status && l["final"] == true),
            "{key}: {last:?}"
        );
    }
    let c = store.requests();
    let events = lines.len() as f64;
    let (gets, puts, queries) = (
        (c.gets - before.gets) as f64,
        (c.puts - before.puts) as f64,
        (c.queries - before.queries) as f64,
    );
    let (ru, wu) = (
        (c.read_milli_units - before.read_milli_units) as f64 / 1000.0,
        (c.write_milli_units - before.write_milli_units) as f64 / 1000.0,
    );
    let per_k = 1000.0 / n as f64;
    eprintln!(
        "{n} executions, {events} events replayed on DynamoDB Local in {took:.1} s\n\
         requests: {gets} GetItem, {puts} PutItem, {queries} Query: {:.3} per event\n\
         capacity: {ru:.1} read units ({:.3} per event, {:.0} per 1,000 executions), \
         {wu:.1} write units ({:.3} per event, {:.0} per 1,000 executions)",
        (gets + puts + queries) / events,
        ru / events,
        ru * per_k,
        wu / events,
        wu * per_k,
    );
    assert!(wu > 0.0, "DynamoDB Local reported no consumed capacity");
    // On a short stream its start and end weigh more (100 executions: 1.04).
    let bound = if n >= 1000 { 1.0 } else { 1.1 };
    assert!(
        wu / events <= bound,
        "{:.3} write units per event (at most {bound})",
        wu / events
    );
    assert!(
        gets / events <= 0.2,
        "{:.3} item reads per event",
        gets / events
    );
}
