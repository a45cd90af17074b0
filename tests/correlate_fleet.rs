//! Four correlators with separate caches share one DynamoDB table (DynamoDB Local, through the
//! AWS SDK over HTTP). Every event is delivered to two random workers, concurrently: exactly one
//! post per execution, no final status lost, conflicts happen and are counted. And on a single
//! worker, DynamoDB stays cheap: at most one read per thread after warm-up, at most one write
//! per event.

mod support;

use herald::app::Runner;
use herald::config::Mode;
use herald::correlate::engine::{Engine, EngineConfig};
use herald::deliver::{Op, Sink};
use herald::event::{decode, Event};
use herald::notification::Notification;
use herald::route::Router;
use herald::store::dynamo::DynamoStore;
use herald::store::Store;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use support::Recorder;

async fn dynamo_store() -> Arc<DynamoStore> {
    let cfg = support::sdk_config(&support::dynamodb_endpoint()).await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&cfg),
        support::unique("herald-fleet"),
    );
    store.create_table_if_missing().await.expect("create table");
    Arc::new(store)
}

fn runner(store: Arc<dyn Store>, sink: Arc<Recorder>, owner: &str) -> Runner {
    let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
    sinks.insert("r".into(), sink);
    let engine = Engine::new(
        store,
        EngineConfig {
            owner: owner.into(),
            ..EngineConfig::default()
        },
    );
    Runner::new(
        Arc::new(engine),
        Router::single("r"),
        sinks,
        Mode::Progress,
        0,
    )
}

fn decode_all(lines: &[String]) -> Vec<Event> {
    lines
        .iter()
        .flat_map(|l| decode(l.as_bytes()).expect("decodes"))
        .collect()
}

fn scenario_lines() -> Vec<String> {
    let dir = format!("{}/tests/fixtures/scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .expect("read")
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_workers_share_one_table_and_post_once() {
    let store = dynamo_store().await;
    let sink = Arc::new(Recorder::default());
    let workers: Vec<Arc<Runner>> = (0..4)
        .map(|i| Arc::new(runner(store.clone(), sink.clone(), &format!("w{i}"))))
        .collect();
    let execs = support::synthetic::executions(1_000);
    let mut lines = support::synthetic::interleaved(&execs);
    lines.extend(scenario_lines());
    let events = decode_all(&lines);

    // Each event goes to two distinct random workers; each worker consumes its queue in
    // batches of up to 10, all four concurrently.
    let mut queues: Vec<Vec<Event>> = vec![Vec::new(); 4];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for ev in &events {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = (x % 4) as usize;
        let b = (a + 1 + ((x >> 8) % 3) as usize) % 4;
        queues[a].push(ev.clone());
        queues[b].push(ev.clone());
    }
    let mut tasks = Vec::new();
    for (w, q) in workers.iter().zip(queues) {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            for chunk in q.chunks(10) {
                w.process(chunk, 1_000).await.expect("process");
            }
            w.flush(1_000).await.expect("flush");
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    // A final pass by every worker, as redelivery would do, brings any thread whose last change
    // raced a claim up to date.
    for w in &workers {
        w.flush(1_000).await.expect("flush");
    }

    let seen = sink.seen.lock().expect("lock");
    let mut posts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut last: BTreeMap<&str, &Notification> = BTreeMap::new();
    for (op, thread, n) in seen.iter() {
        if *op == Op::Post {
            *posts.entry(thread.as_str()).or_insert(0) += 1;
        }
        last.insert(thread.as_str(), n);
    }
    let dup: Vec<_> = posts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dup.is_empty(), "threads posted more than once: {dup:?}");
    for e in &execs {
        let key = format!(
            "ex#{}#eu-west-1#{}#{}",
            e.account, e.pipeline, e.execution_id
        );
        let n = last
            .get(key.as_str())
            .unwrap_or_else(|| panic!("{key}: never delivered"));
        let want = if e.failed { "FAILED" } else { "SUCCEEDED" };
        assert_eq!(n.status, want, "{key}");
        assert!(n.is_final, "{key}");
    }
    let conflicts: u64 = workers
        .iter()
        .map(|w| w.engine.stats.conflicts.load(Ordering::Relaxed))
        .sum();
    let counted = store.requests().conflicts;
    println!(
        "fleet: {} events x2, {} posts, {conflicts} conflicts ({counted} at the store)",
        events.len(),
        posts.len()
    );
    assert!(conflicts > 0, "two workers per event must race sometimes");
    assert_eq!(
        conflicts, counted,
        "every conflict the store saw is counted by the engines"
    );
}

async fn cost(mode: Mode, n: usize) -> (u64, u64, u64, u64, herald::store::dynamo::StoreCounts) {
    let store = dynamo_store().await;
    let sink = Arc::new(Recorder::default());
    let mut w = runner(store.clone(), sink, "solo");
    w.mode = mode;
    let execs = support::synthetic::executions(n);
    let events = decode_all(&support::synthetic::by_time(&execs));
    for chunk in events.chunks(10) {
        w.process(chunk, 1_000).await.expect("process");
    }
    w.flush(1_000).await.expect("flush");
    // Threads: one per execution plus one pointer per (account, pipeline).
    let pointers = execs
        .iter()
        .map(|e| (e.account.clone(), e.pipeline.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    let c = store.requests();
    (
        events.len() as u64,
        execs.len() as u64 + pointers,
        c.gets,
        c.puts,
        c,
    )
}

/// On one worker, events arriving in event-time order in SQS-sized batches of 10: each
/// thread is read from DynamoDB once (when first seen; the cache serves it after), and in
/// final_only mode there is at most one write per event. Progress mode also records every edit
/// of the living message (one write per edit, the price of never re-sending or losing one): it
/// measures about 1.08 writes per event here, held under 1.25 so a regression shows.
#[tokio::test]
async fn one_worker_reads_each_thread_at_most_once_and_writes_at_most_once_per_event() {
    for mode in [Mode::FinalOnly, Mode::Progress] {
        let (events, threads, reads, writes, c) = cost(mode, 200).await;
        println!(
            "store cost ({mode:?}): {events} events, {threads} threads, {reads} reads, {writes} writes ({:.2} writes/event)",
            writes as f64 / events as f64
        );
        assert!(
            reads <= threads,
            "{mode:?}: reads {reads} > threads {threads}"
        );
        let bound = match mode {
            Mode::FinalOnly => events,
            Mode::Progress => events * 5 / 4,
        };
        assert!(
            writes <= bound,
            "{mode:?}: writes {writes} > {bound} for {events} events"
        );
        assert_eq!(c.conflicts, 0, "a single worker never races itself");
    }
}
