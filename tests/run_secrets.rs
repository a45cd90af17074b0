//! `herald run` resolves its destinations' secret references itself, at start: a webhook URL
//! from Secrets Manager (a key of a JSON secret) and its signing secret from an SSM
//! SecureString parameter, both on moto. The events come in through `POST /events`; the
//! webhook receives the notifications signed with the secret from SSM, and neither secret is
//! in the worker's log. A reference that does not resolve stops the worker at start, naming it.

mod chat_servers;
mod support;
mod worker;

use chat_servers::webhook::WebhookServer;
use herald::deliver::webhook;
use std::time::Duration;
use worker::Herald;

const HOOK_TOKEN: &str = "run-secrets-hook-token-5f1c";
const SIGNING: &str = "run-secrets-signing-value-9a7e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_run_resolves_secret_references_at_start() {
    let moto = support::moto_endpoint();
    let aws = support::sdk_config(&moto).await;
    let hook = WebhookServer::start(HOOK_TOKEN).await;

    let param = format!("/{}/signing", support::unique("run-secrets"));
    aws_sdk_ssm::Client::new(&aws)
        .put_parameter()
        .name(&param)
        .value(SIGNING)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("parameter");
    let secret = support::unique("run-secrets-hook");
    aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name(&secret)
        .secret_string(serde_json::json!({ "url": hook.webhook() }).to_string())
        .send()
        .await
        .expect("secret");

    let config = |param: &str| {
        format!(
            r#"default_destination = "audit"
[correlate]
settle_secs = 0
[[destinations]]
name = "audit"
kind = "webhook"
url = {{ secrets_manager = "{secret}", key = "url" }}
signing_secret = {{ ssm = "{param}" }}
"#
        )
    };
    let env = [("AWS_ENDPOINT_URL", moto.as_str())];
    let dir = tempfile::tempdir().expect("tempdir");

    // A reference to nothing: the worker does not start, and says which one.
    let mut broken = Herald::start_env(dir.path(), 0, &config("/herald/no-such-parameter"), &env);
    let (code, _) = broken.wait_exit(Duration::from_secs(60)).await;
    assert_eq!(code, Some(1), "{}", broken.log_text());
    let log = broken.log_text();
    assert!(
        log.contains("/herald/no-such-parameter") && log.contains("audit"),
        "{log}"
    );

    let mut herald = Herald::start_env(dir.path(), 1, &config(&param), &env);
    herald.wait_ready().await;
    let resp = reqwest::Client::new()
        .post(herald.url("/events"))
        .header("content-type", "application/json")
        .body(worker::s7_events())
        .send()
        .await
        .expect("POST /events");
    assert!(resp.status().is_success(), "{}", resp.status());

    let delivered = worker::wait_until(Duration::from_secs(60), || {
        let hook = &hook;
        async move {
            hook.requests()
                .iter()
                .any(|r| r.status == 200 && r.body["notification"]["final"] == true)
        }
    })
    .await;
    assert!(
        delivered,
        "{:?}\n{}",
        hook.requests().len(),
        herald.log_text()
    );
    for r in hook.requests() {
        let sig = r.header(webhook::SIGNATURE_HEADER).expect("signed");
        assert!(
            webhook::verify(SIGNING.as_bytes(), &r.raw, sig),
            "signed with the secret from SSM"
        );
    }

    herald.sigterm();
    let (code, _) = herald.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0));
    let log = herald.log_text();
    for s in [HOOK_TOKEN, SIGNING] {
        assert!(!log.contains(s), "the log holds a secret:\n{log}");
    }
}
