//! Crashes: the 10,000-event stream through a real queue while the test kills `herald run` with
//! SIGKILL at random moments and starts a new one, several times. No final notification lost,
//! the queue empty at the end, and the messages in flight at each kill come back (redelivered
//! after their visibility timeout) to the next worker. An execution is posted once, except the
//! one case the README owns: a kill between a post and its record (a few milliseconds) lets the
//! next worker post again once the claim expires; every second post must be explained by a kill
//! that fell right after the first.

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
    let mut in_flight_at_kills = 0.0;
    let kills = 4;
    // The messages each killed worker held: the next worker must receive some of them again.
    let mut held_by_previous = 0.0;
    // How many lines the jsonl file held at each kill.
    let mut killed_at = Vec::new();
    for n in 0..kills {
        let mut h = Herald::start(dir.path(), n, &cfg);
        h.wait_ready().await;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let after = Duration::from_millis(5_000 + x % 20_000);
        tokio::time::sleep(after).await;
        let again = h
            .metric("herald_source_messages_redelivered_total", "sqs")
            .await;
        // (A few messages may be acked between reading the gauge and the kill; several cannot.)
        if held_by_previous >= 5.0 {
            assert!(
                again > 0.0,
                "kill {}: {held_by_previous} messages were in flight; worker {n} received none again",
                n - 1
            );
        }
        redelivered += again;
        let in_flight = h.metric("herald_source_in_flight", "sqs").await;
        eprintln!("kill {n} after {after:?} with {in_flight} messages in flight ({again} received again from the previous kill)");
        in_flight_at_kills += in_flight;
        held_by_previous = in_flight;
        h.sigkill();
        killed_at.push(line_count(&jsonl));
    }
    let mut last = Herald::start(dir.path(), kills, &cfg);
    last.wait_ready().await;
    sender.await.expect("sender");
    let done = wait_until(Duration::from_secs(900), || {
        let (sqs, url, jsonl, execs) = (&sqs, &url, &jsonl, &execs);
        async move {
            check_delivered(&read_jsonl(std::slice::from_ref(jsonl)), execs, 2).is_empty()
                && depth(sqs, url).await == (0, 0)
        }
    })
    .await;
    let again = last
        .metric("herald_source_messages_redelivered_total", "sqs")
        .await;
    if held_by_previous >= 5.0 {
        assert!(
            again > 0.0,
            "the last kill left {held_by_previous} messages in flight; none came back"
        );
    }
    redelivered += again;
    // A final notification delivered twice (the same one again) comes from a message received
    // again (after a kill, or its visibility timeout), which edits its thread's messages again
    // in case the worker that had it died between an edit and its record: at most one per
    // message received again, counted by the workers (plus what the kills left in flight, for
    // the redeliveries a killed worker received after its count was read).
    let repeated: usize = read_jsonl(std::slice::from_ref(&jsonl))
        .repeated_finals
        .values()
        .sum();
    eprintln!("{repeated} final notifications delivered again after a kill");
    assert!(
        repeated as f64 <= redelivered + in_flight_at_kills,
        "{repeated} repeated final notifications, more than the {redelivered} messages received again and {in_flight_at_kills} in flight at the kills"
    );
    let problems = check_delivered(&read_jsonl(std::slice::from_ref(&jsonl)), &execs, 2);
    // A second post is the next worker's, after a kill that came within a few lines of the
    // first post (the killed worker wrote the post and died before recording it).
    let mut posted_twice = Vec::new();
    for (thread, lines) in post_lines(&jsonl) {
        if let [first, second] = lines[..] {
            let explained = killed_at
                .iter()
                .any(|&k| first < k && k <= second && k - first <= 64);
            assert!(
                explained,
                "{thread} posted twice (lines {first} and {second}) with no kill right after the first post (kills at lines {killed_at:?})"
            );
            posted_twice.push(thread);
        }
    }
    eprintln!("{} executions posted twice, each by a kill between its post and its record: {posted_twice:?}", posted_twice.len());

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
