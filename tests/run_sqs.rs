//! `herald run` against a real SQS queue on the emulator (the AWS SDK over HTTP), with the
//! DynamoDB Local store and the jsonl sink: the whole stream delivered exactly once and the
//! queue empty; undecodable bodies end in the dead-letter queue and are counted; `/metrics`
//! passes `promtool check metrics`; no message waits for a settle window.

mod support;
mod worker;

use std::time::Duration;
use support::synthetic;
use worker::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_are_delivered_exactly_once_and_the_queue_ends_empty() {
    let sqs = sqs().await;
    // moto's ReceiveMessage takes no lock: four pollers receiving at once can count receives
    // nobody got (see the poison test below), so the redrive allows ten; a message that Herald
    // really could not process still ends there, and none may.
    let (url, dlq) = queue_with_dlq(&sqs, "run-sqs", 30, 10).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let execs = synthetic::executions(1_000);
    let bodies = synthetic::interleaved(&execs);
    assert_eq!(bodies.len(), 10_000);

    let cfg = sqs_config(&url, &jsonl, &support::unique("run-sqs"), 4, 30);
    let mut herald = Herald::start(dir.path(), 0, &cfg);
    herald.wait_ready().await;
    let started = std::time::Instant::now();
    send_paced(&sqs, &url, &bodies, 500).await;

    let done = wait_until(Duration::from_secs(600), || {
        let (sqs, url, jsonl, execs) = (&sqs, &url, &jsonl, &execs);
        async move {
            check_exactly_once(&read_jsonl(std::slice::from_ref(jsonl)), execs).is_empty()
                && depth(sqs, url).await == (0, 0)
        }
    })
    .await;
    let rec = read_jsonl(std::slice::from_ref(&jsonl));
    let problems = check_exactly_once(&rec, &execs);
    assert!(
        done && problems.is_empty(),
        "queue {:?}, dead-letter queue {:?}; {} problems, first: {:?}\n{}",
        depth(&sqs, &url).await,
        depth(&sqs, &dlq).await,
        problems.len(),
        problems.iter().take(10).collect::<Vec<_>>(),
        herald
            .log_text()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "10,000 events through SQS in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(depth(&sqs, &dlq).await, (0, 0), "nothing went to the DLQ");

    let received = herald
        .metric("herald_source_messages_received_total", "sqs")
        .await;
    let deleted = herald
        .metric("herald_source_messages_acked_total", "outcome=\"deleted\"")
        .await;
    assert!(received >= 10_000.0, "received {received}");
    assert!(deleted >= 10_000.0, "deleted {deleted}");
    // Each execution's first final message is counted once, with its duration.
    let finished = herald.metric("herald_pipeline_executions_total", "").await;
    assert_eq!(finished, execs.len() as f64, "pipeline executions counted");
    let timed = herald
        .metric("herald_pipeline_duration_seconds_count", "")
        .await;
    assert!(
        timed >= 1.0 && timed <= finished,
        "durations observed: {timed}"
    );

    herald.sigterm();
    let (code, took) = herald.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "exit after SIGTERM, took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_go_to_the_dead_letter_queue_and_are_counted() {
    let sqs = sqs().await;
    // Two receives, then the redrive policy moves a message to the DLQ. The visibility
    // timeout is short so the poison gets there quickly, but not so short that a good message
    // comes back before its delete on a loaded machine (2 s let two good ones through).
    // One poller: moto's ReceiveMessage takes no lock, and two receives at once can count
    // receives of a message nobody got, which with a `maxReceiveCount` of 2 moved good
    // messages to the DLQ unprocessed (seen on a loaded machine: events never applied, found
    // in the DLQ with a receive count of 2). SQS itself counts only receives it answered.
    let (url, dlq) = queue_with_dlq(&sqs, "run-poison", 5, 2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let execs = synthetic::executions(30);
    let mut bodies = synthetic::interleaved(&execs);
    let poison: Vec<String> = (0..20)
        .map(|i| match i % 4 {
            0 => format!("not json {i}"),
            1 => "[1, 2, 3]".to_string(),
            2 => format!("{{\"truncated\": {i}"),
            _ => "\"a string\"".to_string(),
        })
        .collect();
    for (i, p) in poison.iter().enumerate() {
        bodies.insert((i * 13) % bodies.len(), p.clone());
    }

    let cfg = sqs_config(&url, &jsonl, &support::unique("run-poison"), 1, 5);
    let mut herald = Herald::start(dir.path(), 0, &cfg);
    herald.wait_ready().await;
    send_all(&sqs, &url, &bodies).await;

    let done = wait_until(Duration::from_secs(180), || {
        let (sqs, url, dlq, jsonl, execs) = (&sqs, &url, &dlq, &jsonl, &execs);
        async move {
            check_exactly_once(&read_jsonl(std::slice::from_ref(jsonl)), execs).is_empty()
                && depth(sqs, url).await == (0, 0)
                && depth(sqs, dlq).await.0 == 20
        }
    })
    .await;
    let (queue_depth, dlq_depth) = (depth(&sqs, &url).await, depth(&sqs, &dlq).await);
    // What reached the DLQ is exactly the poison.
    let mut in_dlq = Vec::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive dlq");
        for m in out.messages() {
            in_dlq.push(m.body().unwrap_or("").to_owned());
        }
        if in_dlq.len() >= 20 {
            break;
        }
    }
    in_dlq.sort();
    let mut want = poison.clone();
    want.sort();
    let good_in_dlq: Vec<&String> = in_dlq.iter().filter(|b| !want.contains(b)).collect();
    let problems = check_exactly_once(&read_jsonl(std::slice::from_ref(&jsonl)), &execs);
    assert!(
        problems.is_empty(),
        "{problems:?}\ngood messages in the DLQ: {good_in_dlq:?}"
    );
    assert!(
        done,
        "queue {queue_depth:?}, dlq {dlq_depth:?}, good messages in the DLQ: {good_in_dlq:?}"
    );
    assert_eq!(in_dlq, want);

    // Each poison body was received twice (maxReceiveCount) and rejected each time.
    let text = herald.get("/metrics").await.expect("metrics").1;
    let discarded = metric_sum(&text, "herald_events_discarded_total", "reason=");
    let rejected = metric_sum(
        &text,
        "herald_source_messages_acked_total",
        "outcome=\"rejected\"",
    );
    let unknown = metric_sum(&text, "herald_events_discarded_total", "unknown_kind");
    // At least once per poison body: the emulator sometimes moves a body to the DLQ after
    // fewer receives than maxReceiveCount, so the exact total varies (38 to 40 seen).
    assert!(
        discarded - unknown >= want.len() as f64,
        "discarded {discarded}:\n{text}"
    );
    assert!(rejected >= want.len() as f64, "rejected {rejected}");
    // Both kinds of poison were seen and named by their reason.
    assert!(metric_sum(&text, "herald_events_discarded_total", "invalid_json") > 0.0);
    assert!(metric_sum(&text, "herald_events_discarded_total", "not_an_object") > 0.0);
    herald.sigterm();
    assert_eq!(herald.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_every_name_is_in_the_readme() {
    let sqs = sqs().await;
    let (url, _dlq) = queue_with_dlq(&sqs, "run-metrics", 10, 3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let execs = synthetic::executions(5);
    let cfg = sqs_config(&url, &jsonl, &support::unique("run-metrics"), 1, 10);
    let mut herald = Herald::start(dir.path(), 0, &cfg);
    herald.wait_ready().await;
    let mut bodies = synthetic::interleaved(&execs);
    bodies.push("garbage".into());
    send_all(&sqs, &url, &bodies).await;
    let delivered = wait_until(Duration::from_secs(60), || {
        let (jsonl, execs) = (&jsonl, &execs);
        async move { check_exactly_once(&read_jsonl(std::slice::from_ref(jsonl)), execs).is_empty() }
    })
    .await;
    assert!(
        delivered,
        "{:?}",
        check_exactly_once(&read_jsonl(std::slice::from_ref(&jsonl)), &execs)
    );
    let (status, text) = herald.get("/metrics").await.expect("metrics");
    assert_eq!(status, 200);
    let promtool = which("promtool").expect(
        "promtool is needed (Debian package `prometheus`; deploy/check.sh installs it, and \
         scripts/test.sh runs that first)",
    );
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for (name, _) in herald::telemetry::CATALOGUE {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} not exported"
        );
        assert!(readme.contains(name), "{name} not documented in README.md");
    }
    // The probes.
    assert_eq!(herald.get("/healthz").await.map(|r| r.0), Some(200));
    assert_eq!(herald.get("/readyz").await.map(|r| r.0), Some(200));
    let hc = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["healthcheck", "--url", &herald.url("/healthz")])
        .status()
        .expect("healthcheck");
    assert!(hc.success());
    herald.sigterm();
    assert_eq!(herald.wait_exit(Duration::from_secs(30)).await.0, Some(0));
    let hc = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["healthcheck", "--url", &herald.url("/healthz")])
        .status()
        .expect("healthcheck");
    assert!(!hc.success(), "healthcheck fails once the worker is gone");
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}

/// On DynamoDB no source message waits for a settle window: the queue is empty (every message
/// deleted) while the final messages still wait for theirs, and they are told when it ends (by
/// this worker; had it died, by the thread's durable timer on another: `tests/timers_fleet.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_messages_are_deleted_before_the_settle_window_ends() {
    const SETTLE_SECS: u64 = 30;
    let sqs = sqs().await;
    let (url, _dlq) = queue_with_dlq(&sqs, "run-settle", 30, 5).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let execs = synthetic::executions(5);
    let cfg = sqs_config(&url, &jsonl, &support::unique("run-settle"), 1, 30)
        .replace("settle_secs = 1", &format!("settle_secs = {SETTLE_SECS}"));
    let mut herald = Herald::start(dir.path(), 0, &cfg);
    herald.wait_ready().await;
    let sent = std::time::Instant::now();
    send_all(&sqs, &url, &synthetic::interleaved(&execs)).await;

    // Well inside the window (which may end up to a second early: `final_since` is in whole
    // seconds), on a loaded machine too.
    let emptied = wait_until(Duration::from_secs(12), || {
        let (sqs, url) = (&sqs, &url);
        async move { depth(sqs, url).await == (0, 0) }
    })
    .await;
    let rec = read_jsonl(std::slice::from_ref(&jsonl));
    let finals = rec
        .threads
        .values()
        .filter(|(_, _, last)| last["final"] == true)
        .count();
    assert!(
        emptied,
        "messages still in the queue (visible, in flight) {:?} {:.1} s after sending, inside the settle window",
        depth(&sqs, &url).await,
        sent.elapsed().as_secs_f64()
    );
    assert_eq!(
        finals,
        0,
        "final messages told before their settle window ended ({:.1} s after sending)",
        sent.elapsed().as_secs_f64()
    );
    let told = wait_until(Duration::from_secs(SETTLE_SECS + 60), || {
        let (jsonl, execs) = (&jsonl, &execs);
        async move { check_exactly_once(&read_jsonl(std::slice::from_ref(jsonl)), execs).is_empty() }
    })
    .await;
    assert!(
        told,
        "{:?}",
        check_exactly_once(&read_jsonl(std::slice::from_ref(&jsonl)), &execs)
    );
    herald.sigterm();
    assert_eq!(herald.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}
