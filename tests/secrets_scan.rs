//! No secret reaches a log line, an error or a metric: a full run with every kind of chat
//! destination, its secrets taken from each kind of source (a value in the config, an
//! environment variable, an SSM SecureString parameter and Secrets Manager secrets on moto),
//! with failures on the way (503s, an `ok:false`, a destination that does not answer), then every
//! log line (herald's at every level, its dependencies' at the default `info`), every error, the
//! metrics and the config's `Debug` are searched for each secret and for the telling pieces of
//! it (a webhook URL's token segment, a Teams `sig`).
//!
//! The same config is then run by the `herald replay` binary, resolving its references itself,
//! and its stdout and stderr are searched the same way.

mod chat_servers;
mod support;

use chat_servers::closed_port;
use chat_servers::discord::DiscordServer;
use chat_servers::slack::SlackServer;
use chat_servers::teams::TeamsServer;
use chat_servers::webhook::WebhookServer;
use herald::cli::replay::{read_events, runner, ReplayOptions};
use herald::config::Config;
use herald::store::memory::MemoryStore;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const SLACK_TOKEN: &str = "xoxb-4444-5555-SCANSLACKTOKEN";
const DISCORD_TOKEN: &str = "SCANDISCORDWEBHOOKTOKEN";
const DEAD_TOKEN: &str = "SCANDEADWEBHOOKTOKEN";
const TEAMS_SIG: &str = "SCANTEAMSSIGNATURE";
const HOOK_TOKEN: &str = "SCANHOOKTOKEN";
const SIGNING: &str = "scan-signing-secret-value";

/// Log lines, captured whole.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn scenarios() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
}

/// Every secret and every piece of one that would give it away.
fn needles(urls: &[&str]) -> Vec<String> {
    let mut n: Vec<String> = [
        SLACK_TOKEN,
        DISCORD_TOKEN,
        DEAD_TOKEN,
        TEAMS_SIG,
        HOOK_TOKEN,
        SIGNING,
    ]
    .map(String::from)
    .to_vec();
    n.extend(urls.iter().map(|u| u.to_string()));
    n
}

fn assert_clean(what: &str, text: &str, needles: &[String]) {
    for s in needles {
        assert!(
            !text.contains(s.as_str()),
            "{what} holds the secret {s:?}:\n{}",
            text.lines()
                .filter(|l| l.contains(s.as_str()))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_logs_and_reports_no_secret() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info,herald=trace"))
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    // The chat side, with trouble: a refused token once, 503s, a webhook nobody answers.
    let slack = SlackServer::start(SLACK_TOKEN).await;
    slack.set_min_gap(std::time::Duration::ZERO);
    slack.add_user("taro.yamada@example.com", "U0TARO");
    slack.fail_with("invalid_auth", 1);
    let discord = DiscordServer::start().await;
    let discord_url = discord.webhook("1400000000000000001", DISCORD_TOKEN);
    discord.fail_503(2);
    let teams = TeamsServer::start("wf-scan", TEAMS_SIG).await;
    teams.fail_503(1);
    let hook = WebhookServer::start(HOOK_TOKEN).await;
    hook.fail_503(1);
    let dead_url = format!(
        "{}/api/webhooks/1400000000000000002/{DEAD_TOKEN}",
        closed_port().await
    );

    // The secrets, in SSM, Secrets Manager and the environment.
    let moto = support::moto_endpoint();
    let aws = support::sdk_config(&moto).await;
    let ssm_name = format!("/{}/slack-token", support::unique("herald-scan"));
    aws_sdk_ssm::Client::new(&aws)
        .put_parameter()
        .name(&ssm_name)
        .value(SLACK_TOKEN)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("parameter");
    let sm = aws_sdk_secretsmanager::Client::new(&aws);
    let discord_secret = support::unique("herald-scan-discord");
    sm.create_secret()
        .name(&discord_secret)
        .secret_string(serde_json::json!({ "webhook_url": discord_url }).to_string())
        .send()
        .await
        .expect("secret");
    let signing_secret = support::unique("herald-scan-signing");
    sm.create_secret()
        .name(&signing_secret)
        .secret_string(SIGNING)
        .send()
        .await
        .expect("secret");
    std::env::set_var("HERALD_SCAN_TEAMS_URL", teams.webhook());

    let text = format!(
        r#"
        [correlate]
        settle_secs = 0
        [[destinations]]
        name = "ops"
        kind = "slack"
        channel = "C0SCAN"
        token = {{ ssm = "{ssm_name}" }}
        api_base = "{slack_api}"
        failure_reply = true
        rate = {{ requests = 100, per_ms = 1000 }}
        retry = {{ max_attempts = 3, base_delay_ms = 10, max_delay_ms = 50, attempt_timeout_ms = 5000 }}
        [[destinations]]
        name = "dev"
        kind = "discord"
        webhook_url = {{ secrets_manager = "{discord_secret}", key = "webhook_url" }}
        rate = {{ requests = 100, per_ms = 1000 }}
        retry = {{ max_attempts = 3, base_delay_ms = 10, max_delay_ms = 50, attempt_timeout_ms = 5000 }}
        [[destinations]]
        name = "mgmt"
        kind = "teams"
        webhook_url = {{ env = "HERALD_SCAN_TEAMS_URL" }}
        rate = {{ requests = 100, per_ms = 1000 }}
        retry = {{ max_attempts = 3, base_delay_ms = 10, max_delay_ms = 50, attempt_timeout_ms = 5000 }}
        [[destinations]]
        name = "audit"
        kind = "webhook"
        url = "{hook_url}"
        signing_secret = {{ secrets_manager = "{signing_secret}" }}
        retry = {{ max_attempts = 3, base_delay_ms = 10, max_delay_ms = 50, attempt_timeout_ms = 5000 }}
        [[destinations]]
        name = "nowhere"
        kind = "discord"
        webhook_url = "{dead_url}"
        retry = {{ max_attempts = 2, base_delay_ms = 10, max_delay_ms = 50, attempt_timeout_ms = 2000 }}
        [[rules]]
        match = "kind:ecs_deployment"
        destinations = ["ops", "dev", "mgmt", "audit", "nowhere"]
        [[rules]]
        match = "*"
        destinations = ["ops", "dev", "mgmt", "audit"]
        "#,
        slack_api = slack.url,
        hook_url = hook.webhook(),
    );
    let cfg_path = std::env::temp_dir().join(format!("{}.toml", support::unique("herald-scan")));
    std::fs::write(&cfg_path, &text).expect("write config");
    let mut cfg = Config::load(&cfg_path).expect("config");
    cfg.resolve_secrets(Some(aws.clone()))
        .await
        .expect("every reference resolves");
    let urls = [
        discord_url.as_str(),
        dead_url.as_str(),
        &teams.webhook(),
        &hook.webhook(),
    ]
    .map(String::from);
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let needles = needles(&urls);
    let debug = format!("{cfg:?}");

    let runner = runner(&ReplayOptions {
        jsonl: None,
        config: Some(cfg),
        store: Arc::new(MemoryStore::new()),
    })
    .expect("runner");
    let (events, bad) = read_events(&scenarios());
    assert!(!bad);
    let mut errors = Vec::new();
    for chunk in events.chunks(10) {
        // A failed batch is tried once more, as a redelivery would.
        for _ in 0..2 {
            match Box::pin(runner.process(chunk, 2_000_000_000)).await {
                Ok(_) => break,
                Err(e) => errors.push(format!("{e} / {e:?}")),
            }
        }
    }
    if let Err(e) = Box::pin(runner.flush(2_000_000_000)).await {
        errors.push(format!("{e} / {e:?}"));
    }
    let delivered = slack.messages().len();
    assert!(
        delivered > 5,
        "the run delivered ({delivered} Slack messages)"
    );
    assert!(!discord.requests().is_empty() && !teams.accepted().is_empty());
    assert!(!errors.is_empty(), "the run met trouble");
    assert!(errors.iter().any(|e| e.contains("nowhere")), "{errors:?}");
    assert!(
        slack
            .calls("chat.postMessage")
            .iter()
            .any(|r| r.body["thread_ts"].is_string()),
        "failure replies went out"
    );

    let logs = String::from_utf8(logs.0.lock().unwrap_or_else(|p| p.into_inner()).clone())
        .unwrap_or_default();
    assert!(logs.contains("delivery failed"), "the failures were logged");
    assert_clean("the logs", &logs, &needles);
    assert_clean("the errors", &errors.join("\n"), &needles);
    assert_clean("the config's Debug", &debug, &needles);
    assert_clean(
        "the metrics",
        &herald::telemetry::metrics().render(),
        &needles,
    );

    // The binary, resolving the same references itself.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("replay")
        .arg("--config")
        .arg(&cfg_path)
        .args(scenarios())
        .env("AWS_ENDPOINT_URL", &moto)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "trace")
        .output()
        .expect("herald replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The dead destination makes the replay fail, and it says where.
    assert!(!out.status.success());
    assert!(stderr.contains("nowhere"), "{stderr}");
    eprintln!("herald replay said: {}", stderr.trim());
    assert_clean("herald replay's stdout", &stdout, &needles);
    assert_clean("herald replay's stderr", &stderr, &needles);
    let _ = std::fs::remove_file(&cfg_path);
}
