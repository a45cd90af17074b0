//! Plumbing for the `herald run` tests: SQS queues on the emulator, a `herald run` child
//! process with its config, its `/metrics`, and the checks on what the jsonl sink recorded.
#![allow(dead_code)]

use crate::support;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&support::sdk_config(&support::moto_endpoint()).await)
}

/// A queue with a dead-letter queue behind it (redrive after `max_receive` receives).
pub async fn queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    prefix: &str,
    visibility_secs: u32,
    max_receive: u32,
) -> (String, String) {
    let dlq = client
        .create_queue()
        .queue_name(support::unique(&format!("{prefix}-dlq")))
        .send()
        .await
        .expect("create dlq");
    let dlq_url = dlq.queue_url().expect("dlq url").to_owned();
    let arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dlq attrs")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("dlq arn");
    let policy =
        serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive}).to_string();
    let q = client
        .create_queue()
        .queue_name(support::unique(prefix))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .expect("create queue");
    (q.queue_url().expect("url").to_owned(), dlq_url)
}

/// Sends every body, 10 per `SendMessageBatch`, a few calls at a time.
pub async fn send_all(client: &aws_sdk_sqs::Client, url: &str, bodies: &[String]) {
    use futures::StreamExt;
    let chunks: Vec<Vec<String>> = bodies.chunks(10).map(|c| c.to_vec()).collect();
    futures::stream::iter(chunks)
        .for_each_concurrent(4, |chunk| async move {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(b)
                        .build()
                        .expect("entry")
                })
                .collect();
            let out = client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("send batch");
            assert!(out.failed().is_empty(), "send failed: {:?}", out.failed());
        })
        .await;
}

/// Sends every body while keeping the queue's backlog small: moto scans every message of a
/// queue on each receive and delete, so a backlog of thousands makes it crawl (real SQS does
/// not care). Sends `step` messages, then waits until fewer than `step` are waiting.
pub async fn send_paced(client: &aws_sdk_sqs::Client, url: &str, bodies: &[String], step: usize) {
    for chunk in bodies.chunks(step) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            let (visible, in_flight) = depth(client, url).await;
            if ((visible + in_flight) as usize) < step {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        send_all(client, url, chunk).await;
    }
}

/// (visible, in flight) messages of a queue.
pub async fn depth(client: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("attrs");
    let get = |n: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&n))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A `herald run` child process.
pub struct Herald {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Herald {
    /// Starts `herald run --config <dir>/herald-N.toml` with `config` (its `[server] listen`
    /// is added here), logging to `<dir>/herald-N.log`.
    pub fn start(dir: &Path, n: usize, config: &str) -> Herald {
        Self::start_env(dir, n, config, &[])
    }

    /// [`Herald::start`] with more environment variables.
    pub fn start_env(dir: &Path, n: usize, config: &str, env: &[(&str, &str)]) -> Herald {
        let port = free_port();
        let path = dir.join(format!("herald-{n}.toml"));
        let text = format!(
            "{config}\n[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_timeout_secs = 25\n"
        );
        std::fs::write(&path, text).expect("write config");
        let log = dir.join(format!("herald-{n}.log"));
        let err = std::fs::File::create(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["run", "--config"])
            .arg(&path)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "info")
            .env_remove("AWS_ENDPOINT_URL")
            // No batching window: these tests are about what is told and when, and each waits
            // for its deliveries; the footprint and latency tests set the default again.
            .env("HERALD_BATCH_WINDOW_MS", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn herald run");
        Herald { child, port, log }
    }

    /// Starts `herald run` with no `--config` (no `HERALD_CONFIG` either): the config comes
    /// from the environment alone, e.g. `HERALD_CONFIG_SSM_PARAMETER`, or is the laptop default.
    /// `HERALD_LISTEN` is set to a free port here; stdout goes to `<dir>/herald-N.out` and
    /// stderr to `<dir>/herald-N.log`.
    pub fn start_without_config(dir: &Path, n: usize, env: &[(&str, &str)]) -> Herald {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let log = dir.join(format!("herald-{n}.log"));
        let err = std::fs::File::create(&log).expect("log");
        let out = std::fs::File::create(dir.join(format!("herald-{n}.out"))).expect("out");
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("run")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "info")
            .env("HERALD_LISTEN", &listen)
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("HERALD_CONFIG")
            .env_remove("HERALD_CONFIG_SSM_PARAMETER")
            .envs(env.iter().copied())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn herald run");
        Herald { child, port, log }
    }

    /// What the process wrote to stdout, for [`Herald::start_without_config`].
    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(self.log.with_extension("out")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let r = reqwest::Client::new()
            .get(self.url(path))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    }

    pub async fn wait_ready(&mut self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some((200, _)) = self.get("/readyz").await {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("herald run exited early ({status}):\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("herald run not ready after 30 s:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One counter or gauge value from `/metrics` (the sum over label sets matching `filter`).
    pub async fn metric(&self, name: &str, filter: &str) -> f64 {
        let Some((_, text)) = self.get("/metrics").await else {
            return 0.0;
        };
        metric_sum(&text, name, filter)
    }

    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(ok.success());
    }

    /// Sends a signal by name (`-STOP`, `-CONT`, ...) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success(), "kill {sig}");
    }

    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit; returns its exit code and how long it took.
    pub async fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status.code(), started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (None, started.elapsed())
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn metric_sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")))
        .filter(|l| l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// The config shared by the SQS tests: jsonl sink, DynamoDB Local store, short leases.
pub fn sqs_config(
    queue_url: &str,
    jsonl: &Path,
    table: &str,
    pollers: usize,
    visibility: u32,
) -> String {
    format!(
        r#"default_destination = "out"

[correlate]
settle_secs = 1

[[destinations]]
name = "out"
kind = "jsonl"
path = "{jsonl}"

[source]
kind = "sqs"
queue_url = "{queue_url}"
sqs_endpoint = "{moto}"
pollers = {pollers}
visibility_timeout_secs = {visibility}
wait_time_secs = 2

[store]
kind = "dynamodb"
table = "{table}"
endpoint = "{ddb}"
delivery_lease_secs = 3
"#,
        jsonl = jsonl.display(),
        moto = support::moto_endpoint(),
        ddb = support::dynamodb_endpoint(),
    )
}

/// What the jsonl sink recorded, per thread: (posts, lines, last notification); and the threads
/// whose final notification was delivered more than once (the same one again: a second edit
/// that changes nothing, which a jsonl or webhook receiver sees as a second line; a message
/// received again edits its thread again, see `Runner::process_with`).
pub struct Recorded {
    pub threads: BTreeMap<String, (usize, usize, serde_json::Value)>,
    pub lines: usize,
    pub repeated_finals: BTreeMap<String, usize>,
}

pub fn read_jsonl(paths: &[PathBuf]) -> Recorded {
    let mut threads: BTreeMap<String, (usize, usize, serde_json::Value)> = BTreeMap::new();
    let mut lines = 0;
    let mut finals: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for p in paths {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("jsonl line");
            lines += 1;
            let thread = v["thread"].as_str().unwrap_or("").to_owned();
            let e = threads
                .entry(thread)
                .or_insert((0, 0, serde_json::Value::Null));
            if v["op"] == "post" {
                e.0 += 1;
            }
            e.1 += 1;
            e.2 = v["notification"].clone();
            if v["notification"]["final"] == true {
                finals
                    .entry(v["thread"].as_str().unwrap_or("").to_owned())
                    .or_default()
                    .push(v["notification"].clone());
            }
        }
    }
    let repeated_finals = finals
        .into_iter()
        .filter_map(|(t, ns)| {
            let again = ns.windows(2).filter(|w| w[0] == w[1]).count();
            (again > 0).then_some((t, again))
        })
        .collect();
    Recorded {
        threads,
        lines,
        repeated_finals,
    }
}

/// Every execution delivered: exactly one post, and its last line says its final status.
/// Returns a description of each problem.
pub fn check_exactly_once(rec: &Recorded, execs: &[support::synthetic::Execution]) -> Vec<String> {
    check_delivered(rec, execs, 1)
}

/// Every execution delivered, posted at least once and at most `max_posts` times, and its last
/// line says its final status. Returns a description of each problem.
pub fn check_delivered(
    rec: &Recorded,
    execs: &[support::synthetic::Execution],
    max_posts: usize,
) -> Vec<String> {
    let mut problems = Vec::new();
    for e in execs {
        let key = format!(
            "ex#{}#eu-west-1#{}#{}",
            e.account, e.pipeline, e.execution_id
        );
        let want = if e.failed { "FAILED" } else { "SUCCEEDED" };
        match rec.threads.get(&key) {
            None => problems.push(format!("{key}: nothing delivered")),
            Some((posts, _, last)) => {
                if *posts == 0 || *posts > max_posts {
                    problems.push(format!("{key}: {posts} posts"));
                }
                if last["status"] != want || last["final"] != true {
                    problems.push(format!(
                        "{key}: last delivered status {} final {}, want {want}",
                        last["status"], last["final"]
                    ));
                }
            }
        }
    }
    problems
}

/// The line numbers (from 0) of each thread's posts in a jsonl file.
pub fn post_lines(path: &Path) -> BTreeMap<String, Vec<usize>> {
    let mut posts: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).expect("jsonl line");
        if v["op"] == "post" {
            let thread = v["thread"].as_str().unwrap_or("").to_owned();
            posts.entry(thread).or_default().push(i);
        }
    }
    posts
}

/// How many lines a jsonl file holds.
pub fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// How many messages every process received (from each one's log is not possible after a
/// SIGKILL, so this counts final states instead): polls until `done` or the time is up.
pub async fn wait_until<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut f: impl FnMut() -> F,
) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

/// kinesalite started by `scripts/test.sh` (moto's Kinesis moves a split parent's records into
/// its children, so it cannot test resharding).
pub fn kinesis_endpoint() -> String {
    match std::env::var("HERALD_TEST_KINESIS") {
        Ok(v) if v.starts_with("http://127.0.0.1:") => v,
        Ok(v) => panic!("HERALD_TEST_KINESIS={v} is not a loopback address"),
        Err(_) => panic!(
            "HERALD_TEST_KINESIS is not set: run the suite with `bash scripts/test.sh`, which \
             installs and starts kinesalite"
        ),
    }
}

/// A `herald run` config on Kinesis (`lease_failover_secs = 3`) with its state in DynamoDB
/// Local (delivery lease 3 s), telling everything to one jsonl file.
pub fn kinesis_config(
    jsonl: &Path,
    stream: &str,
    kinesis: &str,
    lease_table: &str,
    table: &str,
) -> String {
    format!(
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
kinesis_endpoint = "{kinesis}"
lease_table = "{lease_table}"
lease_failover_secs = 3

[store]
kind = "dynamodb"
table = "{table}"
endpoint = "{}"
delivery_lease_secs = 3
"#,
        jsonl.display(),
        support::dynamodb_endpoint(),
    )
}

/// Puts one chunk of bodies on a stream (partition keys `k{chunk}-{i}`, spread over its shards).
pub async fn put_chunk(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    chunk: usize,
    bodies: &[String],
) -> aws_sdk_kinesis::operation::put_records::PutRecordsOutput {
    let entries: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .data(aws_sdk_kinesis::primitives::Blob::new(b.clone()))
                .partition_key(format!("k{chunk}-{i}"))
                .build()
                .expect("entry")
        })
        .collect();
    client
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries))
        .send()
        .await
        .expect("put records")
}

/// Waits until a Kinesis stream is ACTIVE (after a create or a split).
pub async fn wait_active(client: &aws_sdk_kinesis::Client, stream: &str) {
    for _ in 0..100 {
        let s = client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .expect("describe");
        if s.stream_description_summary()
            .is_some_and(|d| d.stream_status().as_str() == "ACTIVE")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream {stream} not active");
}

/// Creates a Kinesis stream of `shards` shards and waits until it is ACTIVE.
pub async fn create_stream(client: &aws_sdk_kinesis::Client, stream: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(stream)
        .shard_count(shards)
        .send()
        .await
        .expect("create stream");
    wait_active(client, stream).await;
}

/// The s7 scenario (an ECS deployment rolled back by its circuit breaker) as one JSON array,
/// the body `POST /events` takes.
pub fn s7_events() -> String {
    scenario_events("s7-ecs-deployment-circuit-breaker-rollback.jsonl")
}

/// A scenario of `tests/fixtures/scenarios/` as one JSON array, the body `POST /events` takes.
pub fn scenario_events(file: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/scenarios/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("scenario");
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    serde_json::Value::Array(events).to_string()
}

/// EventBridge's "execution STARTED" of execution `exec` of pipeline `web` in eu-west-1, at
/// `time` (RFC 3339).
pub fn execution_started(account: &str, exec: &str, time: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0", "id": format!("start-{exec}"),
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline", "account": account, "time": time,
        "region": "eu-west-1", "resources": [],
        "detail": {"pipeline": "web", "execution-id": exec, "state": "STARTED", "version": 1}
    })
}
