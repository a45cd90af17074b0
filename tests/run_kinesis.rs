//! `herald run` end to end on Kinesis (kinesalite) with leases and thread state in DynamoDB
//! Local: the synthetic stream put on a 2-shard stream is delivered exactly once, and a SIGTERM
//! checkpoints and exits 0.

mod support;
mod worker;

use std::time::Duration;
use support::synthetic;
use worker::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_run_on_kinesis_delivers_every_execution_once() {
    let kin = aws_sdk_kinesis::Client::new(&support::sdk_config(&kinesis_endpoint()).await);
    let stream = support::unique("run-kin");
    create_stream(&kin, &stream, 2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let cfg = kinesis_config(
        &jsonl,
        &stream,
        &kinesis_endpoint(),
        &support::unique("run-kin-leases"),
        &support::unique("run-kin"),
    );
    let mut herald = Herald::start(dir.path(), 0, &cfg);
    herald.wait_ready().await;

    let execs = synthetic::executions(50);
    let bodies = synthetic::interleaved(&execs);
    for (n, chunk) in bodies.chunks(50).enumerate() {
        put_chunk(&kin, &stream, n, chunk).await;
    }
    let done = wait_until(Duration::from_secs(180), || {
        let (jsonl, execs) = (&jsonl, &execs);
        async move { check_exactly_once(&read_jsonl(std::slice::from_ref(jsonl)), execs).is_empty() }
    })
    .await;
    let problems = check_exactly_once(&read_jsonl(std::slice::from_ref(&jsonl)), &execs);
    assert!(
        done && problems.is_empty(),
        "{problems:?}\n{}",
        herald.log_text()
    );
    let held = herald.metric("herald_kinesis_leases_held", "").await;
    assert_eq!(held, 2.0, "one worker holds both shards");
    herald.sigterm();
    let (code, _) = herald.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{}", herald.log_text());
    let _ = kin.delete_stream().stream_name(&stream).send().await;
}
