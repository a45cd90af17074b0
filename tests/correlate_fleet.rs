//! Four correlators with separate caches share one DynamoDB table (DynamoDB Local, through the
//! AWS SDK over HTTP). Every event is delivered to two random workers, concurrently: exactly one
//! post per execution, no final status lost, conflicts happen and are counted. And on a single
//! worker, DynamoDB stays cheap: at most one read per thread after warm-up, at most one write
//! per event.

mod support;

use herald::config::Mode;
use herald::correlate::engine::{Engine, EngineConfig};
use herald::deliver::{Op, Sink};
use herald::event::{decode, Event};
use herald::notification::Notification;
use herald::pipeline::Runner;
use herald::route::Router;
use herald::store::dynamo::DynamoStore;
use herald::store::Store;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use support::Recorder;

async fn dynamo_store() -> Arc<DynamoStore> {
    support::dynamo_store("herald-fleet").await
}

fn runner(store: Arc<dyn Store>, sink: Arc<dyn Sink>, owner: &str) -> Runner {
    support::fleet_runner(
        store,
        sink,
        EngineConfig {
            owner: owner.into(),
            ..EngineConfig::default()
        },
    )
}

fn decode_all(lines: &[String]) -> Vec<Event> {
    lines
        .iter()
        .flat_map(|l| decode(l.as_bytes()).expect("decodes"))
        .collect()
}

/// Posts per message thread, and the last notification each thread was sent.
type Seen = Vec<(Op, String, Notification)>;
fn posts_and_last(seen: &Seen) -> (BTreeMap<&str, u64>, BTreeMap<&str, &Notification>) {
    let mut posts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut last: BTreeMap<&str, &Notification> = BTreeMap::new();
    for (op, thread, note) in seen {
        if *op == Op::Post {
            *posts.entry(thread.as_str()).or_insert(0) += 1;
        }
        last.insert(thread.as_str(), note);
    }
    (posts, last)
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
    let (posts, last) = posts_and_last(&seen);
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
    // Lost races are retried, not multiplied: the README's run counted about 1.7 per event
    // (17,600 for 10,161); a livelock would go far past this bound.
    assert!(
        conflicts <= 5 * events.len() as u64 / 2,
        "{conflicts} lost races for {} events",
        events.len()
    );
    assert_eq!(
        conflicts, counted,
        "every conflict the store saw is counted by the engines"
    );
}

/// One worker's store cost for `n` synthetic executions in batches of 10, and what its sink
/// saw: (events, threads, reads, writes, counts, posts, updates).
struct Cost {
    events: u64,
    threads: u64,
    reads: u64,
    writes: u64,
    counts: herald::store::dynamo::StoreCounts,
    posts: u64,
    updates: u64,
}

async fn cost(mode: Mode, n: usize) -> Cost {
    let store = dynamo_store().await;
    let sink = Arc::new(Recorder::default());
    let mut w = runner(store.clone(), sink.clone(), "solo");
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
    // Every execution's message ends on its final status, posted once.
    let seen = sink.seen.lock().expect("lock");
    let (posts, last) = posts_and_last(&seen);
    for e in &execs {
        let key = format!(
            "ex#{}#eu-west-1#{}#{}",
            e.account, e.pipeline, e.execution_id
        );
        assert_eq!(
            posts.get(key.as_str()),
            Some(&1),
            "{mode:?} {key}: one post"
        );
        let want = if e.failed { "FAILED" } else { "SUCCEEDED" };
        let note = last.get(key.as_str()).expect("delivered");
        assert!(
            note.is_final && note.status == want,
            "{mode:?} {key}: ends {}",
            note.status
        );
    }
    let c = store.requests();
    Cost {
        events: events.len() as u64,
        threads: execs.len() as u64 + pointers,
        reads: c.gets,
        writes: c.puts,
        counts: c,
        posts: posts.values().sum(),
        updates: seen.iter().filter(|(op, _, _)| *op == Op::Update).count() as u64,
    }
}

/// On one worker, events arriving in event-time order in SQS-sized batches of 10: each
/// thread is read from DynamoDB once (when first seen; the cache serves it after), and there is
/// at most one write per event in either mode. In progress mode every edit of the living
/// message is recorded too: an edit that needs no post is made before the change is written,
/// and that one write records both (`Runner::edit_in_place`).
#[tokio::test]
async fn one_worker_reads_each_thread_at_most_once_and_writes_at_most_once_per_event() {
    for mode in [Mode::FinalOnly, Mode::Progress] {
        let c = cost(mode, 200).await;
        let (events, threads, reads, writes) = (c.events, c.threads, c.reads, c.writes);
        println!(
            "store cost ({mode:?}): {events} events, {threads} threads, {reads} reads, {writes} writes ({:.2} writes/event), {} posts, {} updates",
            writes as f64 / events as f64,
            c.posts,
            c.updates
        );
        assert!(
            reads <= threads,
            "{mode:?}: reads {reads} > threads {threads}"
        );
        assert!(
            writes <= events,
            "{mode:?}: writes {writes} > {events} events"
        );
        // The figure the README quotes: 0.78 writes per event in both modes.
        assert!(
            writes as f64 / events as f64 <= 0.785,
            "{mode:?}: {writes} writes for {events} events, the README says 0.78 per event"
        );
        if mode == Mode::Progress {
            // The living message is edited as the execution advances, not only at the end.
            assert!(
                c.updates >= 2 * c.posts,
                "{} updates for {} posts",
                c.updates,
                c.posts
            );
        }
        assert_eq!(c.counts.conflicts, 0, "a single worker never races itself");
    }
}

/// Deliveries by worker, in the order they completed.
type Log = Arc<std::sync::Mutex<Vec<(String, Op, Notification)>>>;

/// A sink that holds its first edit until told to let it go, and logs every delivery in the
/// order the deliveries complete (the order the provider would apply them).
struct GateSink {
    log: Log,
    name: &'static str,
    entered: Arc<tokio::sync::Notify>,
    open: Arc<tokio::sync::Notify>,
    held: std::sync::atomic::AtomicBool,
    /// After the held edit lands, never answer (the worker dies before it hears back).
    hang_after: bool,
}

impl Sink for GateSink {
    fn kind(&self) -> &'static str {
        "gate"
    }
    fn deliver<'a>(
        &'a self,
        d: &'a herald::deliver::Delivery,
    ) -> futures::future::BoxFuture<
        'a,
        Result<herald::deliver::MessageRef, herald::deliver::SinkError>,
    > {
        Box::pin(async move {
            let gated = d.op == Op::Update && !self.held.swap(true, Ordering::SeqCst);
            if gated {
                self.entered.notify_one();
                self.open.notified().await;
            }
            self.log
                .lock()
                .expect("lock")
                .push((self.name.into(), d.op, d.notification.clone()));
            if gated && self.hang_after {
                std::future::pending::<()>().await;
            }
            Ok(serde_json::json!({"thread": d.thread}))
        })
    }
}

/// A worker whose sink is a [`GateSink`]: `gate` holds its first edit, `hang_after` then
/// never answers it.
fn gated_runner(
    store: Arc<dyn Store>,
    log: &Log,
    name: &'static str,
    gate: bool,
    hang_after: bool,
) -> (Runner, Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>) {
    let entered = Arc::new(tokio::sync::Notify::new());
    let open = Arc::new(tokio::sync::Notify::new());
    let sink = Arc::new(GateSink {
        log: log.clone(),
        name,
        entered: entered.clone(),
        open: open.clone(),
        held: std::sync::atomic::AtomicBool::new(!gate),
        hang_after,
    });
    let runner = runner(store, sink, name);
    (runner, entered, open)
}

/// Two workers edit one message at once, each with a change the other lacks, and the slower
/// edit reaches the provider last. The write that would have recorded it loses its race, so
/// its worker edits again from the merged state: the message ends showing both changes.
#[tokio::test]
async fn an_edit_that_lands_late_is_made_again() {
    let store = dynamo_store().await;
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (a, a_entered, a_open) = gated_runner(store.clone(), &log, "a", true, false);
    let (b, _, _) = gated_runner(store.clone(), &log, "b", false, false);
    let exec = &support::synthetic::executions(1)[0];
    let ev = |i: usize| decode(exec.events[i].as_bytes()).expect("decodes");
    // Started, Source stage started: a posts.
    let mut first = ev(0);
    first.extend(ev(1));
    a.process(&first, 1_000).await.expect("a posts");
    // a: the Source action succeeds (the commit); its edit is held at the provider.
    let a = Arc::new(a);
    let a2 = a.clone();
    let source_done = ev(3);
    let held = tokio::spawn(async move { a2.process(&source_done, 1_000).await });
    a_entered.notified().await;
    // b: the Build stage starts; b edits and records first.
    b.process(&ev(5), 1_000).await.expect("b edits");
    // a's stale edit (commit, no Build stage) lands now, after b's.
    a_open.notify_one();
    held.await.expect("joins").expect("a edits");

    let log = log.lock().expect("lock").clone();
    let ops: Vec<(&str, Op)> = log.iter().map(|(w, op, _)| (w.as_str(), *op)).collect();
    assert_eq!(
        ops,
        [
            ("a", Op::Post),
            ("b", Op::Update),
            ("a", Op::Update),
            ("a", Op::Update)
        ],
        "a edits again after its record lost the race"
    );
    let (_, _, shown) = log.last().expect("delivered");
    assert!(shown.commit.is_some(), "the message shows a's commit");
    assert!(
        shown.stages.iter().any(|s| s.name == "Build"),
        "the message shows b's Build stage: {:?}",
        shown.stages
    );
    let key = format!(
        "ex#{}#eu-west-1#{}#{}",
        exec.account, exec.pipeline, exec.execution_id
    );
    let (_, stored) = a.engine.load(&key).await.expect("load").expect("stored");
    assert_eq!(
        stored.deliveries["r"].seq, stored.seq,
        "the last edit is recorded"
    );
    assert_eq!(Some(shown), stored.notification().as_ref());
}

/// A worker that edited a message and then finds the thread under another worker's lease
/// leaves the destination marked unsure; the next delivery edits it again, and a record made
/// from before the mark does not clear it.
#[tokio::test]
async fn an_unsure_destination_is_edited_again() {
    use herald::correlate::engine::UNSURE;
    let store = dynamo_store().await;
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (a, _, _) = gated_runner(store.clone(), &log, "a", false, false);
    let exec = &support::synthetic::executions(1)[0];
    let ev = |i: usize| decode(exec.events[i].as_bytes()).expect("decodes");
    a.process(&ev(0), 1_000).await.expect("a posts");
    let key = format!(
        "ex#{}#eu-west-1#{}#{}",
        exec.account, exec.pipeline, exec.execution_id
    );
    let (basis, before) = a.engine.load(&key).await.expect("load").expect("stored");
    let seq = before.seq;

    // Another worker marks "r" unsure (with a change of its own).
    let (other, _, _) = gated_runner(store.clone(), &log, "other", false, false);
    let unsure: std::collections::BTreeSet<String> = ["r".to_string()].into();
    let source_started = ev(1);
    let refs: Vec<&Event> = source_started.iter().collect();
    let no_work = |_: &herald::correlate::Thread, _: &Notification| false;
    other
        .engine
        .apply_direct(&key, &refs, 1_000, &no_work, &unsure, false)
        .await
        .expect("marks");
    // A record made from before the mark (a's view at `basis`, recording the notification the
    // other worker's change made) keeps it: a's edit may have landed before the other's.
    let (_, t) = a
        .engine
        .record(
            &key,
            "r",
            seq + 1,
            serde_json::json!({"thread": key}),
            false,
            basis,
            1_000,
        )
        .await
        .expect("record")
        .expect("stored");
    assert_eq!(
        t.seq,
        seq + 1,
        "the record re-read the other worker's change"
    );
    assert_eq!(
        t.deliveries["r"].seq, UNSURE,
        "the mark survives a stale record"
    );
    assert!(t.unsure());

    // The next delivery edits the message again and records it.
    let before_edits = log.lock().expect("lock").len();
    let d = a.deliver_key(&key, 1_000, false).await.expect("delivers");
    assert_eq!(d.updates, 1, "one edit");
    let (_, t) = a.engine.load(&key).await.expect("load").expect("stored");
    assert_eq!(t.deliveries["r"].seq, t.seq);
    assert!(!t.unsure());
    let log = log.lock().expect("lock");
    assert_eq!(log.len(), before_edits + 1);
    assert_eq!(Some(&log[before_edits].2), t.notification().as_ref());
}

/// A worker dies after its edit reached the provider and before its write: its edit, made from
/// older state, landed after another worker's newer one, and the thread in the store does not
/// know. The dead worker's message comes back (received again) with an event the store already
/// has: the thread is edited again anyway, and the message ends on the stored notification.
#[tokio::test]
async fn a_message_received_again_edits_its_thread_again() {
    let store = dynamo_store().await;
    let log: Log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (a, a_entered, a_open) = gated_runner(store.clone(), &log, "a", true, true);
    let (b, _, _) = gated_runner(store.clone(), &log, "b", false, false);
    let exec = &support::synthetic::executions(1)[0];
    let ev = |i: usize| decode(exec.events[i].as_bytes()).expect("decodes");
    let key = format!(
        "ex#{}#eu-west-1#{}#{}",
        exec.account, exec.pipeline, exec.execution_id
    );
    let mut first = ev(0);
    first.extend(ev(1));
    a.process(&first, 1_000).await.expect("a posts");
    // The Source action's end reaches a, and (a duplicate) b, with the next stage's start.
    let source_done = ev(3);
    let a = Arc::new(a);
    let (a2, x) = (a.clone(), source_done.clone());
    let dying = tokio::spawn(async move { a2.process(&x, 1_000).await });
    a_entered.notified().await;
    let mut newer = source_done.clone();
    newer.extend(ev(5));
    b.process(&newer, 1_000).await.expect("b edits");
    // a's older edit lands last; a dies before its write.
    a_open.notify_one();
    while log.lock().expect("lock").len() < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    dying.abort();
    // What the message shows: the last edit to land.
    let shown = |log: &Log| log.lock().expect("lock").last().map(|(_, _, n)| n.clone());
    let (_, thread) = b.engine.load(&key).await.expect("load").expect("stored");
    assert_ne!(
        shown(&log),
        thread.notification(),
        "the message shows a's older edit"
    );

    // Processed as new, the event changes nothing and edits nothing.
    b.process(&source_done, 1_000).await.expect("b again");
    assert_ne!(shown(&log), thread.notification(), "still stale");
    // Received again (as the source says after a's visibility timeout): edited again.
    let recheck = [key.clone()].into();
    let d = b
        .process_with(&source_done, 1_000, &recheck)
        .await
        .expect("redelivered");
    assert_eq!(d.updates, 1);
    let (_, thread) = b.engine.load(&key).await.expect("load").expect("stored");
    assert_eq!(
        shown(&log),
        thread.notification(),
        "the message shows the stored thread"
    );
    assert_eq!(thread.deliveries["r"].seq, thread.seq);
}

/// A final message that one worker holds for its settle window and another worker delivers:
/// when the first one's window ends and it finds nothing left to send, the thread stops
/// waiting there (a thread left waiting held its messages' acks for good: found by the chaos
/// test, `tests/chaos_fleet.rs`, as messages that stayed in flight).
#[tokio::test]
async fn a_settle_window_another_worker_closed_stops_waiting() {
    let store = dynamo_store().await;
    let sink = Arc::new(Recorder::default());
    let worker = |owner: &str| {
        let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
        sinks.insert("r".into(), sink.clone());
        let engine = Engine::new(
            store.clone(),
            EngineConfig {
                owner: owner.into(),
                // Every load reads the store, as a worker that did not make the change does.
                cache_ttl: std::time::Duration::ZERO,
                ..EngineConfig::default()
            },
        );
        Runner::new(
            Arc::new(engine),
            Router::single("r"),
            sinks,
            Mode::FinalOnly,
            5,
        )
    };
    let (a, b) = (worker("a"), worker("b"));
    let e = &support::synthetic::executions(1)[0];
    let key = format!(
        "ex#{}#eu-west-1#{}#{}",
        e.account, e.pipeline, e.execution_id
    );
    a.process(&decode_all(&e.events), 1_000).await.expect("a");
    assert!(a.waiting().contains(&key), "a holds the final message");
    // a's lease (30 s) has run out; b delivers the thread.
    b.deliver_key(&key, 1_040, false).await.expect("b");
    let seen = sink.seen.lock().expect("lock").len();
    assert_eq!(seen, 1, "b posted the final message");
    a.deliver_due(1_041).await.expect("a");
    assert!(
        a.waiting().is_empty(),
        "nothing left to send: a stops waiting"
    );
    assert_eq!(
        sink.seen.lock().expect("lock").len(),
        1,
        "and sends nothing more"
    );
}
