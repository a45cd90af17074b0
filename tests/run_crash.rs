//! Crashes: the 10,000-event stream through a real queue while the test kills `herald run` with
//! SIGKILL at random moments and starts a new one, several times. No final notification lost,
//! none duplicated, the queue empty at the end, and the messages in flight at each kill come
//! back (redelivered after their visibility timeout) to the next worker.

mod support;
mod worker;

use std::time::Duration;
use support::synthetic;
use worker::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let sqs = sqs().await;
    // Short visibility so a dead worker's messages come back quickly; the delivery lease (3 s)
    // is shorter still, so the redelivered message finds the dead worker's lease expired.
    let (url, dlq) = queue_with_dlq(&sqs, "run-crash", 5, 10).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let execs = synthetic::executions(1_000);
    let bodies = synthetic::interleaved(&execs);
    let cfg = sqs_config(&url, &jsonl, &support::unique("run-crash"), 4, 5);

    let sender = {
        let (sqs, url, bodies) = (sqs.clone(), url.clone(), bodies.clone());
        tokio::spawn(async move { send_paced(&sqs, &url, &bodies, 500).await })
    };
    // A small xorshift: random kill moments, reproducible from the printed seed.
    let mut x: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
        | 1;
    eprintln!("kill schedule seed {x}");
    let mut redelivered = 0.0;
    let kills = 4;
    for n in 0..kills {
        let mut h = Herald::start(dir.path(), n, &cfg);
        h.wait_ready().await;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let after = Duration::from_millis(5_000 + x % 20_000);
        tokio::time::sleep(after).await;
        redelivered += h
            .metric("herald_source_messages_redelivered_total", "sqs")
            .await;
        let in_flight = h.metric("herald_source_in_flight", "sqs").await;
        eprintln!("kill {n} after {after:?} with {in_flight} messages in flight");
        h.sigkill();
    }
    let mut last = Herald::start(dir.path(), kills, &cfg);
    last.wait_ready().await;
    sender.await.expect("sender");
    let done = wait_until(Duration::from_secs(900), || {
        let (sqs, url, jsonl, execs) = (&sqs, &url, &jsonl, &execs);
        async move {
            check_exactly_once(&read_jsonl(std::slice::from_ref(jsonl)), execs).is_empty()
                && depth(sqs, url).await == (0, 0)
        }
    })
    .await;
    redelivered += last
        .metric("herald_source_messages_redelivered_total", "sqs")
        .await;
    let problems = check_exactly_once(&read_jsonl(std::slice::from_ref(&jsonl)), &execs);
    assert!(
        problems.is_empty(),
        "{} problems: {:?}",
        problems.len(),
        problems.iter().take(20).collect::<Vec<_>>()
    );
    assert!(done, "queue {:?}", depth(&sqs, &url).await);
    assert_eq!(depth(&sqs, &dlq).await, (0, 0));
    // Each kill left messages in flight; the next workers received them again.
    assert!(redelivered > 0.0, "no redelivery seen");
    last.sigterm();
    assert_eq!(last.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}
