//! SIGTERM during load: `herald run` stops polling, finishes what it holds, flushes its acks
//! and exits 0 inside `shutdown_timeout_secs`; a restarted worker finishes the rest, and every
//! execution's final status is delivered exactly once.

mod support;
mod worker;

use std::time::{Duration, Instant};
use support::synthetic;
use worker::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_exits_zero_in_time_and_a_restart_finishes_without_loss() {
    let sqs = sqs().await;
    let (url, _dlq) = queue_with_dlq(&sqs, "run-term", 10, 5).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let execs = synthetic::executions(200);
    let bodies = synthetic::interleaved(&execs);
    let table = support::unique("run-term");
    let cfg = sqs_config(&url, &jsonl, &table, 4, 10);

    let mut first = Herald::start(dir.path(), 0, &cfg);
    first.wait_ready().await;
    let sender = {
        let (sqs, url, bodies) = (sqs.clone(), url.clone(), bodies.clone());
        tokio::spawn(async move { send_paced(&sqs, &url, &bodies, 300).await })
    };
    // Under load: a third of the stream acked.
    let loaded = wait_until(Duration::from_secs(300), || {
        let first = &first;
        async move {
            first
                .metric("herald_source_messages_acked_total", "deleted")
                .await
                >= 600.0
        }
    })
    .await;
    assert!(loaded, "{}", first.log_text());
    let t = Instant::now();
    first.sigterm();
    // Not ready as soon as shutdown begins, and said so while the drain lasts (the server
    // outlives it): a 200 only until the signal is handled, never a refused connection first.
    let mut seen = Vec::new();
    while t.elapsed() < Duration::from_secs(10) {
        match first.get("/readyz").await {
            Some((503, _)) => {
                seen.push(503);
                break;
            }
            Some((status, _)) => seen.push(status),
            None => {
                seen.push(0);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        seen.last(),
        Some(&503),
        "readyz answers 503 during the drain (0: refused): {seen:?}"
    );
    assert!(seen.iter().all(|s| *s == 200 || *s == 503), "{seen:?}");
    let (code, _) = first.wait_exit(Duration::from_secs(40)).await;
    let took = t.elapsed();
    assert_eq!(code, Some(0), "exit code; log:\n{}", first.log_text());
    assert!(took <= Duration::from_secs(26), "shutdown took {took:?}");
    let log = first.log_text();
    assert!(log.contains("shutdown complete"), "{log}");

    let mut second = Herald::start(dir.path(), 1, &cfg);
    second.wait_ready().await;
    sender.await.expect("sender");
    let done = wait_until(Duration::from_secs(400), || {
        let (sqs, url, jsonl, execs) = (&sqs, &url, &jsonl, &execs);
        async move {
            check_exactly_once(&read_jsonl(std::slice::from_ref(jsonl)), execs).is_empty()
                && depth(sqs, url).await == (0, 0)
        }
    })
    .await;
    let problems = check_exactly_once(&read_jsonl(std::slice::from_ref(&jsonl)), &execs);
    assert!(
        done && problems.is_empty(),
        "queue {:?}, problems {:?}",
        depth(&sqs, &url).await,
        problems.iter().take(10).collect::<Vec<_>>()
    );
    second.sigterm();
    assert_eq!(second.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}
