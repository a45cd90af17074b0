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
    kin.create_stream()
        .stream_name(&stream)
        .shard_count(2)
        .send()
        .await
        .expect("create stream");
    for _ in 0..100 {
        let s = kin
            .describe_stream_summary()
            .stream_name(&stream)
            .send()
            .await
            .expect("describe");
        if s.stream_description_summary()
            .is_some_and(|d| d.stream_status().as_str() == "ACTIVE")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let cfg = format!(
        r#"default_destination = "out"

[correlate]
settle_secs = 1

[[destinations]]
name = "out"
kind = "jsonl"
path = "{}"

[source]
kind = "kinesis"
stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/{stream}"
kinesis_endpoint = "{}"
lease_table = "{}"
lease_failover_secs = 3

[store]
kind = "dynamodb"
table = "{}"
endpoint = "{}"
delivery_lease_secs = 3
"#,
        jsonl.display(),
        kinesis_endpoint(),
        support::unique("run-kin-leases"),
        support::unique("run-kin"),
        support::dynamodb_endpoint(),
    );
    let mut herald = Herald::start(dir.path(), 0, &cfg);
    herald.wait_ready().await;

    let execs = synthetic::executions(50);
    let bodies = synthetic::interleaved(&execs);
    for (n, chunk) in bodies.chunks(50).enumerate() {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .data(aws_sdk_kinesis::primitives::Blob::new(b.clone()))
                    .partition_key(format!("k{n}-{i}"))
                    .build()
                    .expect("entry")
            })
            .collect();
        kin.put_records()
            .stream_name(&stream)
            .set_records(Some(entries))
            .send()
            .await
            .expect("put records");
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
