//! `POST /events` on `herald run` (the local source, an EventBridge API-destination target):
//! the shared secret header is required when configured (here from `HERALD_EVENTS_SECRET`),
//! a body above SQS's 256 KiB message limit gets 413, a body that is not an event 400, and an
//! array of events is processed before the 200 (the jsonl sink has its notifications).

mod support;
mod worker;

use std::time::Duration;
use worker::Herald;

const SECRET: &str = "events-secret-3c9f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_events_checks_the_secret_and_the_size_and_processes_what_it_accepts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("out.jsonl");
    let config = format!(
        r#"default_destination = "out"
[correlate]
settle_secs = 0
[[destinations]]
name = "out"
kind = "jsonl"
path = "{}"
"#,
        jsonl.display()
    );
    let mut herald = Herald::start_env(dir.path(), 0, &config, &[("HERALD_EVENTS_SECRET", SECRET)]);
    herald.wait_ready().await;
    let http = reqwest::Client::new();
    let post = |body: String, secret: Option<&str>| {
        let mut r = http
            .post(herald.url("/events"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = secret {
            r = r.header("x-herald-secret", s);
        }
        r.send()
    };
    let array = worker::s7_events();

    let status = |r: reqwest::Result<reqwest::Response>| r.expect("answered").status().as_u16();
    assert_eq!(status(post(array.clone(), None).await), 401, "no secret");
    assert_eq!(
        status(post(array.clone(), Some("wrong")).await),
        401,
        "wrong secret"
    );
    let big = format!("[{}]", "1,".repeat(140_000) + "1");
    assert!(big.len() > 262_144);
    assert_eq!(status(post(big, Some(SECRET)).await), 413, "above 256 KiB");
    assert_eq!(
        status(post("not json".into(), Some(SECRET)).await),
        400,
        "not an event"
    );
    assert!(
        std::fs::read_to_string(&jsonl)
            .unwrap_or_default()
            .is_empty(),
        "nothing refused was processed"
    );

    assert_eq!(status(post(array, Some(SECRET)).await), 200);
    // The 200 comes once the events are handled: the notifications are already written.
    let rec = worker::read_jsonl(std::slice::from_ref(&jsonl));
    let finals: Vec<_> = rec
        .threads
        .values()
        .filter(|(_, _, n)| n["final"] == true)
        .map(|(_, _, n)| n["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(finals, vec!["ROLLED_BACK".to_string()], "{:?}", rec.threads);

    herald.sigterm();
    let (code, _) = herald.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0));
    assert!(
        !herald.log_text().contains(SECRET),
        "the secret is not logged"
    );
}

/// `[server] status_listen` (here `HERALD_STATUS_LISTEN`): the status page and `/metrics`, which
/// have no login, move to an address of their own; `POST /events`, `/readyz` and `/healthz` stay
/// on `listen`, and neither answers the other's paths. The status page is read here from
/// `herald run` on DynamoDB Local (the pipelines the worker wrote to its table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_listen_serves_the_status_page_and_metrics_apart_from_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("out.jsonl");
    let table = support::unique("herald-status-listen");
    let config = format!(
        r#"default_destination = "out"
[correlate]
settle_secs = 0
[[destinations]]
name = "out"
kind = "jsonl"
path = "{}"
[store]
kind = "dynamodb"
table = "{table}"
endpoint = "{}"
"#,
        jsonl.display(),
        support::dynamodb_endpoint(),
    );
    let status_port = worker::free_port();
    let status_base = format!("http://127.0.0.1:{status_port}");
    let mut herald = Herald::start_env(
        dir.path(),
        0,
        &config,
        &[("HERALD_STATUS_LISTEN", &format!("127.0.0.1:{status_port}"))],
    );
    herald.wait_ready().await;
    let http = reqwest::Client::new();
    let code = |r: reqwest::Result<reqwest::Response>| r.expect("answered").status().as_u16();

    let body = worker::scenario_events("meerkat-CodePipelineSuccessFlow.jsonl");
    let post = |base: String| {
        http.post(format!("{base}/events"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    assert_eq!(
        code(post(status_base.clone()).await),
        404,
        "no events on the status address"
    );
    assert_eq!(code(post(herald.url("")).await), 200, "events on listen");

    // The main address: no status page, no metrics.
    for p in ["/metrics", "/", "/api/pipelines"] {
        assert_eq!(
            code(http.get(herald.url(p)).send().await),
            404,
            "{p} on listen"
        );
    }
    assert_eq!(code(http.get(herald.url("/healthz")).send().await), 200);
    // The status address: the page, its API, the metrics and /healthz; not /readyz.
    assert_eq!(
        code(http.get(format!("{status_base}/healthz")).send().await),
        200
    );
    assert_eq!(
        code(http.get(format!("{status_base}/readyz")).send().await),
        404
    );
    let metrics = http
        .get(format!("{status_base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("herald_events_decoded_total"),
        "the worker's metrics: {}",
        &metrics[..metrics.len().min(400)]
    );
    let page = http
        .get(format!("{status_base}/"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.expect("html").contains("<html"));
    let doc: serde_json::Value = http
        .get(format!("{status_base}/api/pipelines"))
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    let rows: Vec<(String, String, String)> = doc["pipelines"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                    (s("pipeline"), s("account"), s("status"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        rows,
        vec![(
            "meerkat".to_string(),
            "000000000000".to_string(),
            "SUCCEEDED".to_string()
        )],
        "the execution the worker wrote to DynamoDB: {doc}"
    );

    herald.sigterm();
    let (code, _) = herald.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0));
}

/// Silence is news: `herald run` on DynamoDB Local, an execution that starts and is never heard
/// of again. Its stall timer (here 2 s) lives in the thread's item, is found through the
/// `wake` index, fires, and the message is edited to say the execution stalled; the metrics
/// count it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_run_tells_an_execution_that_went_silent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("out.jsonl");
    let table = support::unique("herald-stall");
    let config = format!(
        r#"default_destination = "out"
[correlate]
settle_secs = 0
pipeline_stall_secs = 2
[[destinations]]
name = "out"
kind = "jsonl"
path = "{}"
[store]
kind = "dynamodb"
table = "{table}"
endpoint = "{}"
"#,
        jsonl.display(),
        support::dynamodb_endpoint(),
    );
    let mut herald = Herald::start_env(dir.path(), 0, &config, &[]);
    herald.wait_ready().await;
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let event = worker::execution_started("111122223333", "gone-quiet", &now);
    let http = reqwest::Client::new();
    let r = http
        .post(herald.url("/events"))
        .header("content-type", "application/json")
        .body(event.to_string())
        .send()
        .await
        .expect("posted");
    assert_eq!(r.status().as_u16(), 200);
    let stalled = || {
        std::fs::read_to_string(&jsonl)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["notification"]["stalled"] == true)
            .collect::<Vec<_>>()
    };
    // Due 2 s after the event; a worker on DynamoDB looks every 10 s.
    let told =
        worker::wait_until(Duration::from_secs(30), || async { !stalled().is_empty() }).await;
    assert!(told, "no stall told: {:?}", std::fs::read_to_string(&jsonl));
    let lines = stalled();
    assert_eq!(lines.len(), 1, "told once: {lines:?}");
    assert_eq!(lines[0]["op"], "update", "an edit of its message");
    assert_eq!(lines[0]["notification"]["stalled_since"], now.as_str());
    let metrics = http
        .get(herald.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("herald_timers_fired_total{kind=\"stall\"} 1"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("timer"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
