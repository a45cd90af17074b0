//! Kinesis under faults: three `herald run` workers share a 4-shard stream (kinesalite) through a
//! fault proxy that throttles (`ProvisionedThroughputExceededException`, `LimitExceededException`),
//! expires iterators (`ExpiredIteratorException` on `GetRecords`), fails and delays requests,
//! while one worker is SIGKILLed and replaced and another is SIGSTOPped past its leases' failover
//! time and then SIGCONTed. Asserted:
//!
//! - every execution is told exactly once with its final status;
//! - no checkpoint ever moves backwards (the lease table is watched every 100 ms), and every
//!   shard's checkpoint reaches its last record;
//! - the paused worker, once woken, hands out no record of a shard until it has taken that
//!   shard's lease again: its leases were taken over while it slept, and it reads nothing on
//!   them (fencing by the lease's failover time, then by the lease's owner);
//! - the faults happened (counted by the proxy and by the workers' metrics).

mod fault_proxy;
mod support;
mod worker;

use chrono::{DateTime, Utc};
use fault_proxy::{FaultProxy, Faults, Service};
use herald::source::lease::{seq_cmp, LeaseTable, SHARD_END};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::synthetic;
use worker::*;

const SHARDS: i32 = 4;
/// `lease_failover_secs` in [`kinesis_config`].
const FAILOVER_SECS: u64 = 3;

fn start(dir: &Path, n: usize, cfg: &str) -> Herald {
    Herald::start_env(
        dir,
        n,
        cfg,
        &[("RUST_LOG", "info,herald::source::kinesis=debug")],
    )
}

/// A checkpoint as a position: `SHARD_END` after every sequence number, "" before all.
fn position_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a == SHARD_END, b == SHARD_END) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => seq_cmp(a, b),
    }
}

/// One line of a worker's JSON log: its time, message and shard.
struct LogLine {
    at: DateTime<Utc>,
    message: String,
    shard: String,
}

fn log_lines(h: &Herald) -> Vec<LogLine> {
    h.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some(LogLine {
                at: v["timestamp"].as_str()?.parse().ok()?,
                message: v["message"].as_str()?.to_owned(),
                shard: v["shard"].as_str().unwrap_or("").to_owned(),
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_workers_survive_kills_pauses_throttling_and_expired_iterators() {
    let kin = aws_sdk_kinesis::Client::new(&support::sdk_config(&kinesis_endpoint()).await);
    let ddb =
        aws_sdk_dynamodb::Client::new(&support::sdk_config(&support::dynamodb_endpoint()).await);
    let stream = support::unique("kin-faults");
    create_stream(&kin, &stream, SHARDS).await;
    let proxy = FaultProxy::start(
        &kinesis_endpoint(),
        Service::Kinesis,
        Faults {
            latency: 0.1,
            latency_max_ms: 100,
            server_error: 0.01,
            throttle: 0.06,
            expired_iterator: 0.06,
            ..Faults::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let leases = support::unique("kin-faults-leases");
    let table = support::unique("kin-faults");
    // One file for every worker, appended to a line per write: its order is the order the
    // lines were told in, across workers.
    let jsonl = vec![dir.path().join("deliveries.jsonl")];
    let mut workers = Vec::new();
    for n in 0..3 {
        let cfg = kinesis_config(&jsonl[0], &stream, &proxy.url, &leases, &table);
        let mut h = start(dir.path(), n, &cfg);
        h.wait_ready().await;
        workers.push(h);
    }

    // Watch the checkpoints: none may ever move backwards.
    let lease_table = LeaseTable::new(ddb.clone(), &leases, &stream);
    let backwards: Arc<Mutex<Vec<String>>> = Arc::default();
    let last_seen: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let watcher = {
        let (t, backwards, last_seen) = (lease_table.clone(), backwards.clone(), last_seen.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(list) = t.list().await {
                    let mut seen = last_seen.lock().unwrap_or_else(|p| p.into_inner());
                    for l in list {
                        let before = seen.entry(l.shard.clone()).or_default();
                        if position_cmp(&l.checkpoint, before) == std::cmp::Ordering::Less {
                            backwards
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(format!("{}: {} after {}", l.shard, l.checkpoint, before));
                        }
                        *before = l.checkpoint;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // The stream, put straight to kinesalite in chunks while the faults play out.
    let execs = synthetic::executions(60);
    let bodies = synthetic::interleaved(&execs);
    let last_put: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let putter = {
        let (kin, stream, last_put) = (kin.clone(), stream.clone(), last_put.clone());
        tokio::spawn(async move {
            for (n, chunk) in bodies.chunks(20).enumerate() {
                let out = put_chunk(&kin, &stream, n, chunk).await;
                {
                    let mut last = last_put.lock().unwrap_or_else(|p| p.into_inner());
                    for r in out.records() {
                        if let (Some(shard), Some(seq)) = (r.shard_id(), r.sequence_number()) {
                            let e = last.entry(shard.to_owned()).or_default();
                            if seq_cmp(seq, e) == std::cmp::Ordering::Greater {
                                *e = seq.to_owned();
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };

    // A throttling storm long enough to outlast the SDK's own retries (Herald backs off and
    // counts it); then worker 0 dies and another takes its place; then worker 1 sleeps past
    // its leases' failover.
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.storm(Duration::from_secs(2), 0.9);
    tokio::time::sleep(Duration::from_secs(3)).await;
    // What worker 0 counted of the storm dies with it: read it first.
    let throttled_by_killed = workers[0]
        .metric("herald_source_errors_total", "op=\"throttled\"")
        .await;
    eprintln!("SIGKILL worker 0");
    workers[0].sigkill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cfg = kinesis_config(&jsonl[0], &stream, &proxy.url, &leases, &table);
    let mut replacement = start(dir.path(), 3, &cfg);
    replacement.wait_ready().await;
    workers.push(replacement);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held_before = workers[1].metric("herald_kinesis_leases_held", "").await;
    eprintln!("SIGSTOP worker 1 (holding {held_before} leases)");
    workers[1].signal("-STOP");
    tokio::time::sleep(Duration::from_secs(FAILOVER_SECS * 3)).await;
    let woken = Utc::now();
    workers[1].signal("-CONT");
    eprintln!("SIGCONT worker 1");
    putter.await.expect("putter");

    let everything_told = wait_until(Duration::from_secs(180), || {
        let (jsonl, execs) = (&jsonl, &execs);
        async move { check_exactly_once(&read_jsonl(jsonl), execs).is_empty() }
    })
    .await;
    let logs = || {
        workers
            .iter()
            .enumerate()
            .map(|(n, h)| format!("--- worker {n}\n{}", h.log_text()))
            .collect::<String>()
    };
    let problems = check_exactly_once(&read_jsonl(&jsonl), &execs);
    assert!(everything_told && problems.is_empty(), "{problems:?}");

    // Every shard's checkpoint reaches its last record (acks come after the settle window).
    let last_put = last_put.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(last_put.len(), SHARDS as usize, "records on every shard");
    let caught_up = wait_until(Duration::from_secs(60), || {
        let (t, last_put) = (&lease_table, &last_put);
        async move {
            let Ok(list) = t.list().await else {
                return false;
            };
            last_put.iter().all(|(shard, seq)| {
                list.iter()
                    .any(|l| &l.shard == shard && position_cmp(&l.checkpoint, seq).is_ge())
            })
        }
    })
    .await;
    watcher.abort();
    assert!(
        caught_up,
        "checkpoints {:?}, last records {last_put:?}",
        lease_table.list().await.expect("list")
    );
    let backwards = backwards.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        backwards.is_empty(),
        "checkpoints moved backwards: {backwards:?}"
    );

    // Fencing: worker 1 held leases when it was paused; they were taken over meanwhile, and
    // after waking it handed out no record of a shard before taking that shard again.
    assert!(
        held_before >= 1.0,
        "worker 1 held no lease to be fenced from"
    );
    // It notices at its next lease round after waking: wait for it (the checks above may all
    // have passed within a second of waking).
    let lost_noticed = |lines: &[LogLine]| {
        lines
            .iter()
            .filter(|l| l.at > woken)
            .filter(|l| {
                matches!(
                    l.message.as_str(),
                    "kinesis lease lost to another worker"
                        | "kinesis checkpoint refused: lease lost"
                        | "kinesis records not handed out: the lease may have run out"
                )
            })
            .count()
    };
    wait_until(Duration::from_secs(30), || {
        let n = lost_noticed(&log_lines(&workers[1]));
        async move { n >= 1 }
    })
    .await;
    let lines = log_lines(&workers[1]);
    let mut retaken: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut after_waking = 0;
    for l in lines.iter().filter(|l| l.at > woken) {
        match l.message.as_str() {
            "kinesis lease taken" => {
                retaken.entry(l.shard.clone()).or_insert(l.at);
            }
            "kinesis records handed out" => {
                after_waking += 1;
                assert!(
                    retaken.get(&l.shard).is_some_and(|t| *t <= l.at),
                    "worker 1 handed out records of {} at {} after waking at {woken} without taking its lease again\n{}",
                    l.shard,
                    l.at,
                    logs()
                );
            }
            _ => {}
        }
    }
    let lost_after_waking = lost_noticed(&lines);
    assert!(
        lost_after_waking >= 1,
        "worker 1 never noticed it lost its leases\n{}",
        logs()
    );
    eprintln!(
        "worker 1 after waking: {lost_after_waking} lease losses noticed, {after_waking} batches handed out (each after retaking its shard)"
    );

    // The faults happened, and the workers saw them for what they are.
    let injected = proxy.injected();
    eprintln!("injected {injected:?}, forwarded {}", proxy.forwarded());
    for kind in ["throttle", "throttle_storm", "expired_iterator"] {
        assert!(
            injected.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} injected"
        );
    }
    let mut expired = 0.0;
    let mut throttled = throttled_by_killed;
    for h in &workers[1..] {
        expired += h
            .metric("herald_source_errors_total", "op=\"expired_iterator\"")
            .await;
        throttled += h
            .metric("herald_source_errors_total", "op=\"throttled\"")
            .await;
    }
    assert!(expired > 0.0, "no expired iterator counted");
    assert!(throttled > 0.0, "no throttling counted");

    for h in &workers[1..] {
        h.sigterm();
    }
    for h in workers[1..].iter_mut() {
        let (code, _) = h.wait_exit(Duration::from_secs(30)).await;
        assert_eq!(code, Some(0), "{}", h.log_text());
    }
    let _ = kin.delete_stream().stream_name(&stream).send().await;
}
