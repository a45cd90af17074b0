//! Where `herald run` gets its config when no `--config` is given: the deploy template sets
//! `HERALD_CONFIG_SSM_PARAMETER`, so a deployed task reads its TOML from that SSM parameter (on
//! moto here, through the real SDK and `AWS_ENDPOINT_URL`), with the `HERALD_...` environment
//! overrides applied on top. A parameter that is missing or holds a bad config stops the worker
//! at start with an error naming the parameter. With neither a file nor the variable, the worker
//! runs in laptop mode: the local source, the memory store and the terminal sink.

mod support;
mod worker;

use std::time::Duration;
use worker::Herald;

async fn post_events(herald: &Herald, body: String) {
    let resp = reqwest::Client::new()
        .post(herald.url("/events"))
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("POST /events");
    assert!(
        resp.status().is_success(),
        "POST /events: {}\n{}",
        resp.status(),
        herald.log_text()
    );
}

async fn put_parameter(aws: &aws_config::SdkConfig, name: &str, value: &str) {
    aws_sdk_ssm::Client::new(aws)
        .put_parameter()
        .name(name)
        .value(value)
        // A SecureString: the worker must ask for decryption to read it.
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("put parameter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_run_takes_its_config_from_the_ssm_parameter() {
    let moto = support::moto_endpoint();
    let aws = support::sdk_config(&moto).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("out.jsonl");

    // The parameter's own listen address is one nobody serves: HERALD_LISTEN (set by
    // start_without_config) must override it, as the deploy template's does.
    let unused = worker::free_port();
    let param = format!("/{}/config", support::unique("run-config-ssm"));
    let config = format!(
        r#"default_destination = "out"

[correlate]
settle_secs = 0

[[destinations]]
name = "out"
kind = "jsonl"
path = "{}"

[server]
listen = "127.0.0.1:{unused}"
"#,
        jsonl.display()
    );
    put_parameter(&aws, &param, &config).await;

    let env = [
        ("HERALD_CONFIG_SSM_PARAMETER", param.as_str()),
        ("AWS_ENDPOINT_URL", moto.as_str()),
    ];
    let mut herald = Herald::start_without_config(dir.path(), 0, &env);
    herald.wait_ready().await;
    post_events(&herald, worker::s7_events()).await;

    let done = worker::wait_until(Duration::from_secs(60), || {
        let jsonl = jsonl.clone();
        async move {
            worker::read_jsonl(&[jsonl])
                .threads
                .values()
                .any(|(_, _, last)| last["final"] == true)
        }
    })
    .await;
    let rec = worker::read_jsonl(std::slice::from_ref(&jsonl));
    assert!(
        done,
        "no final notification in the jsonl destination the SSM config names ({} lines)\n{}",
        rec.lines,
        herald.log_text()
    );
    // s7 is one ECS service deployment: one thread, posted once, ending rolled back.
    assert_eq!(rec.threads.len(), 1, "{:?}", rec.threads.keys());
    let (posts, _, last) = rec.threads.values().next().expect("a thread");
    assert_eq!(*posts, 1);
    assert_eq!(last["kind"], "ecs_deployment", "{last}");
    assert_eq!(last["status"], "ROLLED_BACK", "{last}");

    herald.sigterm();
    let (code, _) = herald.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{}", herald.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_bad_config_parameter_stops_herald_run_naming_it() {
    let moto = support::moto_endpoint();
    let aws = support::sdk_config(&moto).await;
    let dir = tempfile::tempdir().expect("tempdir");

    let missing = format!("/{}/config", support::unique("run-config-missing"));
    let env = [
        ("HERALD_CONFIG_SSM_PARAMETER", missing.as_str()),
        ("AWS_ENDPOINT_URL", moto.as_str()),
    ];
    let mut herald = Herald::start_without_config(dir.path(), 0, &env);
    let (code, _) = herald.wait_exit(Duration::from_secs(60)).await;
    let log = herald.log_text();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!("SSM parameter {missing}"))
            && log.contains("HERALD_CONFIG_SSM_PARAMETER")
            && log.contains("does not exist"),
        "{log}"
    );

    // A parameter that exists but whose config is wrong: the error says which parameter and
    // what is wrong in it.
    let bad = format!("/{}/config", support::unique("run-config-bad"));
    put_parameter(&aws, &bad, "default_destination = \"nowhere\"\n").await;
    let env = [
        ("HERALD_CONFIG_SSM_PARAMETER", bad.as_str()),
        ("AWS_ENDPOINT_URL", moto.as_str()),
    ];
    let mut herald = Herald::start_without_config(dir.path(), 1, &env);
    let (code, _) = herald.wait_exit(Duration::from_secs(60)).await;
    let log = herald.log_text();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!("SSM parameter {bad}"))
            && log.contains("default_destination: unknown destination \"nowhere\""),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_run_without_any_config_runs_in_laptop_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut herald = Herald::start_without_config(dir.path(), 0, &[]);
    herald.wait_ready().await;
    let health = herald.get("/healthz").await;
    assert!(
        matches!(health, Some((200, _))),
        "{health:?}\n{}",
        herald.log_text()
    );
    post_events(&herald, worker::s7_events()).await;

    // The terminal sink prints the story on stdout (the default settle window is 5 s).
    let printed = worker::wait_until(Duration::from_secs(30), || {
        let text = herald.stdout_text();
        async move { text.contains("[new → terminal]") }
    })
    .await;
    assert!(
        printed,
        "stdout:\n{}\nlog:\n{}",
        herald.stdout_text(),
        herald.log_text()
    );
    let log = herald.log_text();
    assert!(
        log.contains("\"source\":\"local\"") && log.contains("Memory"),
        "{log}"
    );

    herald.sigterm();
    let (code, _) = herald.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{}", herald.log_text());
}
