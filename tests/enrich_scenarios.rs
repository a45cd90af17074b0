//! A held replay of each failing corpus scenario with enrichment on: the scenario's events go
//! through decode -> correlate (Runner, in-memory store) with the settle windows flushed; each
//! final notification is enriched against moto (STS, CloudWatch Logs) and the AWS test server
//! (CodePipeline action executions, CodeBuild builds and CodeDeploy deployments seeded to match
//! the scenario's build and deployment ids), then rendered for Slack and Discord. The messages
//! must carry the failing command, the log tail, the deployment diagnostics and working links,
//! for events from an account other than Herald's own.

mod aws_test_server;
mod support;
mod worker;

use aws_test_server::{
    action_execution, all_text, deployment_target, failed_build, failed_deployment, lifecycle,
    put_log_lines, unique_account, TestServer,
};
use herald::config::Mode;
use herald::correlate::engine::{Engine, EngineConfig};
use herald::deliver::Sink;
use herald::enrich::{Api, EnrichConfig, Enricher, Outcome};
use herald::event::decode;
use herald::notification::Notification;
use herald::pipeline::Runner;
use herald::route::Router;
use herald::store::memory::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::Recorder;

/// The scenario's accounts as they appear in the corpus.
const CORPUS_ACCOUNTS: [&str; 2] = ["164943972409", "000000000000"];

/// What the APIs know about one scenario.
#[derive(Default)]
struct Seed {
    region: &'static str,
    pipeline: &'static str,
    execution: &'static str,
    /// (stage, action, provider, external id) of the failed actions.
    actions: Vec<(&'static str, &'static str, &'static str, &'static str)>,
    /// (build id, failing command, log lines).
    builds: Vec<(&'static str, &'static str, Vec<String>)>,
    /// (deployment id, script, message, log tail).
    deployments: Vec<(&'static str, &'static str, &'static str, &'static str)>,
}

struct Enriched {
    note: Notification,
    slack: String,
    discord: String,
}

struct Run {
    account: String,
    server: TestServer,
    enricher: Enricher,
    finals: Vec<Enriched>,
}

/// Makes the APIs (the test server, and moto's CloudWatch Logs in `account`) know `seed`.
async fn seed_apis(server: &TestServer, base: &aws_config::SdkConfig, account: &str, seed: &Seed) {
    for (stage, action, provider, ext) in &seed.actions {
        server.add_action_execution(
            seed.pipeline,
            action_execution(
                seed.region,
                seed.execution,
                stage,
                action,
                provider,
                "Failed",
                1_700_000_000,
                Some(ext),
                Some(("JobFailed", "See the external execution for details")),
            ),
        );
    }
    for (id, command, lines) in &seed.builds {
        let (project, uuid) = id.split_once(':').expect("build id");
        let group = format!("/aws/codebuild/{project}");
        server.add_build(failed_build(
            id,
            account,
            seed.region,
            "BUILD",
            (
                "COMMAND_EXECUTION_ERROR",
                &format!("Error while executing command: {command}. Reason: exit status 1"),
            ),
            &group,
            uuid,
        ));
        put_log_lines(base, account, seed.region, &group, uuid, lines).await;
    }
    for (id, script, message, tail) in &seed.deployments {
        server.add_deployment(
            failed_deployment(
                id,
                "meerkat",
                &format!("group-{id}"),
                "HEALTH_CONSTRAINTS",
                "The overall deployment failed because too many individual instances failed deployment, too few healthy instances are available for deployment, or some instances in your deployment group are experiencing problems.",
            ),
            vec![
                deployment_target("instance", id, "i-0a1b2c3d4e5f60001", "Succeeded", vec![
                    lifecycle("AfterInstall", "Succeeded", None),
                ]),
                deployment_target("instance", id, "i-0a1b2c3d4e5f60002", "Failed", vec![
                    lifecycle("ApplicationStop", "Succeeded", None),
                    lifecycle("BeforeInstall", "Succeeded", None),
                    lifecycle("AfterInstall", "Succeeded", None),
                    lifecycle("ValidateService", "Failed", Some(("ScriptFailed", script, message, tail))),
                ]),
            ],
        );
    }
}

/// The scenario's event lines, as if sent from `account`.
fn scenario_lines(file: &str, account: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/fixtures/scenarios/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut text = std::fs::read_to_string(&path).expect("read scenario");
    for a in CORPUS_ACCOUNTS {
        text = text.replace(a, account);
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Replays `file` as if from a fresh member account, then enriches and renders every failed
/// final message.
async fn replay(file: &str, seed: Seed) -> Run {
    let moto = support::moto_endpoint();
    let account = unique_account();
    let server = TestServer::start(Some(moto.clone())).await;
    let base = support::sdk_config(&moto).await;
    seed_apis(&server, &base, &account, &seed).await;

    // Decode -> correlate, held until the end (settle windows flushed), as a replay runs.
    let events: Vec<_> = scenario_lines(file, &account)
        .iter()
        .flat_map(|l| decode(l.as_bytes()).expect("decodes"))
        .collect();
    let recorder = Arc::new(Recorder::default());
    let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
    sinks.insert("r".into(), recorder.clone());
    let engine = Arc::new(Engine::new(
        Arc::new(MemoryStore::new()),
        EngineConfig::default(),
    ));
    let runner = Runner::new(
        engine.clone(),
        Router::single("r"),
        sinks,
        Mode::FinalOnly,
        5,
    );
    for chunk in events.chunks(10) {
        runner.process(chunk, 1_000).await.expect("process");
    }
    runner.flush(1_000).await.expect("flush");
    let mut last: BTreeMap<String, Notification> = BTreeMap::new();
    for (_, thread, n) in recorder.seen.lock().expect("lock").iter() {
        last.insert(thread.clone(), n.clone());
    }

    let enricher = Enricher::new(
        EnrichConfig {
            enabled: true,
            // Generous: moto is shared with every test running now. The deadline itself is
            // tested in enrich_aws.rs.
            deadline_ms: 30_000,
            call_timeout_ms: 20_000,
            aliases: [(account.clone(), "payments-prod".to_string())].into(),
            endpoints: [
                ("codepipeline".to_string(), server.url.clone()),
                ("codebuild".to_string(), server.url.clone()),
                ("codedeploy".to_string(), server.url.clone()),
            ]
            .into(),
            ..EnrichConfig::default()
        },
        &base,
    )
    .expect("enricher");
    let mut finals = Vec::new();
    for (key, mut note) in last {
        if note.status != "FAILED" {
            continue;
        }
        let (_, thread) = engine.load(&key).await.expect("load").expect("thread");
        let plain = note.clone();
        let learned = enricher.enrich(&key, &thread, &mut note, None).await;
        assert!(learned.is_some(), "{key}: nothing learned");
        // Stored with the thread, it serves a redelivery or another worker without a call.
        let stored: herald::enrich::Enrichment =
            serde_json::from_str(&serde_json::to_string(&learned).expect("serialise"))
                .expect("deserialise");
        let calls = enricher.stats().total();
        let mut again = plain;
        let relearned = enricher
            .enrich(&key, &thread, &mut again, Some(&stored))
            .await;
        assert_eq!(relearned, None, "{key}");
        assert_eq!(enricher.stats().total(), calls, "{key}: called again");
        assert_eq!(again, note);
        let slack = all_text(&herald::render::slack::render(&note));
        let discord = unescape_markdown(&all_text(&herald::render::discord::render(&note)));
        finals.push(Enriched {
            note,
            slack,
            discord,
        });
    }
    Run {
        account,
        server,
        enricher,
        finals,
    }
}

/// Discord text with its markdown escapes removed (`validate\_service.sh` reads
/// `validate_service.sh` in the client).
fn unescape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| n.is_ascii_punctuation()) {
            continue;
        }
        out.push(c);
    }
    out
}

fn build_log(tail: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = (0..30)
        .map(|i| format!("[Container] 2026/01/01 10:00:{i:02} Running step {i}"))
        .collect();
    lines.extend(tail.iter().map(|s| s.to_string()));
    lines
}

/// Both renderings say `what`.
fn says(e: &Enriched, what: &str) {
    assert!(e.slack.contains(what), "Slack lacks {what:?}:\n{}", e.slack);
    assert!(
        e.discord.contains(what),
        "Discord lacks {what:?}:\n{}",
        e.discord
    );
}

/// Calls ran in the member account (assumed-role keys) and the scenario's region.
fn from_the_member_account(r: &Run, region: &str) {
    assert_ne!(r.account, "123456789012", "not Herald's own account");
    let seen = r.server.seen();
    assert!(!seen.is_empty());
    for s in seen {
        assert_eq!(s.region, region, "{}", s.target);
        assert!(
            s.access_key.starts_with("ASIA"),
            "{}: {}",
            s.target,
            s.access_key
        );
    }
    assert_eq!(r.enricher.stats().count(Api::AssumeRole, Outcome::Ok), 1);
}

const S2: &str = "s2-v1-raw-concurrent-executions-codebuild-failure.jsonl";
const S2_BUILD: &str = "buildfish-repo-server-ng-dev:1e81d092-63ae-4811-933b-02214d605c6e";

/// What the APIs know of s2's failed build.
fn s2_seed() -> Seed {
    Seed {
        region: "us-west-2",
        pipeline: "buildfish-repo-server-ng-code-pipeline-dev",
        execution: "a68bd8b4-e5cb-4174-a2f4-8b28652d5352",
        actions: vec![("Build", "CodeBuildAction", "CodeBuild", S2_BUILD)],
        builds: vec![(
            S2_BUILD,
            "mvn package",
            build_log(&[
                "[INFO] BUILD FAILURE",
                "[ERROR] Tests run: 12, Failures: 1, Errors: 0, Skipped: 0",
                "[ERROR] Failed to execute goal maven-surefire-plugin:2.22.2:test (default-test) on project repo-server: There are test failures.",
                "[Container] 2018/05/22 17:54:20 Command did not exit successfully mvn package exit status 1",
            ]),
        )],
        ..Seed::default()
    }
}

#[tokio::test]
async fn s2_v1_codebuild_failure_gets_the_log_tail_and_links() {
    let build = S2_BUILD;
    let r = replay(S2, s2_seed()).await;
    assert_eq!(r.finals.len(), 1, "one failed execution");
    let e = &r.finals[0];
    says(
        e,
        "Error while executing command: mvn package. Reason: exit status 1",
    );
    says(
        e,
        "[ERROR] Tests run: 12, Failures: 1, Errors: 0, Skipped: 0",
    );
    says(
        e,
        "Command did not exit successfully mvn package exit status 1",
    );
    says(e, "payments-prod");
    let a = &e.note.failure.as_ref().expect("failure").actions[0];
    // The region of the first error (Maven's [ERROR] line), ending with the exit line.
    assert_eq!(
        a.log_region.as_ref().map(|r| r.kind.as_str()),
        Some("error"),
        "{:?}",
        a.log_tail
    );
    assert!(
        a.log_tail
            .iter()
            .any(|l| l.contains("[ERROR] Tests run: 12")),
        "{:?}",
        a.log_tail
    );
    assert_eq!(
        a.log_tail.last().map(String::as_str),
        Some("Command did not exit successfully mvn package exit status 1")
    );
    let log = a.log_url.as_deref().expect("log link");
    assert!(
        log.starts_with("https://") && log.contains("1e81d092"),
        "{log}"
    );
    // The action's link, from ListActionExecutions (the V1 action events carried none).
    let url = a.url.as_deref().expect("build link");
    assert!(
        url.starts_with("https://console.aws.amazon.com/codebuild/home?region=us-west-2#/builds/"),
        "{url}"
    );
    assert!(url.contains(build), "{url}");
    says(e, log);
    from_the_member_account(&r, "us-west-2");
}

#[tokio::test]
async fn s4_processed_codebuild_failure_names_the_failing_command() {
    let build = "meerkat-testing:56be3e40-853a-4797-9455-f88ce291fdad";
    let r = replay(
        "s4-processed-source-build-fails-in-codebuild.jsonl",
        Seed {
            region: "ap-southeast-2",
            pipeline: "meerkat",
            execution: "94fb261b-65d0-41ba-bea3-b08420e9b5e7",
            actions: vec![("Build", "Build", "CodeBuild", build)],
            builds: vec![(
                build,
                "npm run test",
                build_log(&[
                    "FAIL src/orders.test.ts",
                    "  Tests: 1 failed, 48 passed, 49 total",
                    "npm ERR! Test failed.  See above for more details.",
                ]),
            )],
            ..Seed::default()
        },
    )
    .await;
    assert_eq!(r.finals.len(), 1);
    let e = &r.finals[0];
    let a = &e.note.failure.as_ref().expect("failure").actions[0];
    // CodePipeline's own words were only "Build terminated with state: FAILED".
    assert_eq!(
        a.reason.as_deref(),
        Some("COMMAND_EXECUTION_ERROR: Error while executing command: npm run test. Reason: exit status 1")
    );
    says(e, "Error while executing command: npm run test");
    says(e, "Tests: 1 failed, 48 passed, 49 total");
    says(e, "npm ERR! Test failed.  See above for more details.");
    assert!(a
        .log_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://")));
    from_the_member_account(&r, "ap-southeast-2");
}

#[tokio::test]
async fn meerkat_codebuild_failure_gets_command_and_tail() {
    let build = "meerkat:0de10f6f-5fc5-45c0-9171-6333ffff564f";
    let r = replay(
        "meerkat-CodePipelineFailedCodeBuildFlow.jsonl",
        Seed {
            region: "ap-southeast-2",
            pipeline: "meerkat-testing",
            execution: "8bdcdf4b-aaaa-4bbe-8aeb-562ff8b55969",
            actions: vec![("Build", "Build", "CodeBuild", build)],
            builds: vec![(
                build,
                "./gradlew build",
                build_log(&["BUILD FAILED in 41s", "5 actionable tasks: 5 executed"]),
            )],
            ..Seed::default()
        },
    )
    .await;
    assert_eq!(r.finals.len(), 1);
    let e = &r.finals[0];
    says(
        e,
        "Error while executing command: ./gradlew build. Reason: exit status 1",
    );
    says(e, "BUILD FAILED in 41s");
    from_the_member_account(&r, "ap-southeast-2");
}

fn deployment_seed(
    pipeline: &'static str,
    execution: &'static str,
    deployments: &[(&'static str, &'static str)],
) -> Seed {
    Seed {
        region: "ap-southeast-2",
        pipeline,
        execution,
        actions: deployments
            .iter()
            .map(|(action, id)| ("DeployToExternalAccount", *action, "CodeDeploy", *id))
            .collect(),
        deployments: deployments
            .iter()
            .map(|(_, id)| {
                (
                    *id,
                    "scripts/validate_service.sh",
                    "Script at specified location: scripts/validate_service.sh run as user root failed with exit code 7",
                    "[stdout]Checking http://localhost:8080/health\n[stderr]curl: (7) Failed to connect to localhost port 8080: Connection refused\n",
                )
            })
            .collect(),
        ..Seed::default()
    }
}

fn deployment_diagnostics_said(r: &Run, ids: &[&str]) {
    assert_eq!(r.finals.len(), 1);
    let e = &r.finals[0];
    let f = e.note.failure.as_ref().expect("failure");
    assert_eq!(f.actions.len(), ids.len());
    for a in &f.actions {
        let reason = a.reason.as_deref().unwrap_or("");
        assert!(
            reason.starts_with("i-0a1b2c3d4e5f60002: ValidateService failed — ScriptFailed in scripts/validate_service.sh: Script at specified location"),
            "{}: {reason}",
            a.action
        );
        assert!(reason.contains("HEALTH_CONSTRAINTS"), "{reason}");
        assert_eq!(
            a.log_tail,
            [
                "[stdout]Checking http://localhost:8080/health",
                "[stderr]curl: (7) Failed to connect to localhost port 8080: Connection refused"
            ]
        );
        assert!(a.url.as_deref().is_some_and(|u| u.starts_with("https://")));
    }
    says(e, "ValidateService failed");
    says(e, "scripts/validate_service.sh");
    says(
        e,
        "curl: (7) Failed to connect to localhost port 8080: Connection refused",
    );
    says(e, "payments-prod");
    // Every deployment: its info, its failed targets (one page), one chunk of details.
    assert_eq!(r.server.seen_op("GetDeployment").len(), ids.len());
    assert_eq!(r.server.seen_op("ListDeploymentTargets").len(), ids.len());
    assert_eq!(
        r.server.seen_op("BatchGetDeploymentTargets").len(),
        ids.len()
    );
    from_the_member_account(r, "ap-southeast-2");
}

#[tokio::test]
async fn s5_codedeploy_multi_group_failure_gets_each_deployments_diagnostics() {
    let ids = [
        ("Deploy-GROUP_RED", "d-C3XYEM1QF"),
        ("Deploy-GROUP_GREEN", "d-8YX2HV1QF"),
        ("Deploy-GROUP_BLUE", "d-2BBLC01QF"),
    ];
    let r = replay(
        "s5-processed-codedeploy-multi-group-deploy-failure.jsonl",
        deployment_seed("meerkat", "7705a421-5549-4b28-a4ad-2150fee793e8", &ids),
    )
    .await;
    deployment_diagnostics_said(&r, &ids.map(|(_, id)| id));
}

#[tokio::test]
async fn meerkat_codedeploy_failure_gets_each_deployments_diagnostics() {
    let ids = [
        ("Deploy-GREEN", "d-KH37TM9SF"),
        ("Deploy-BLUE", "d-SUP6PC9SF"),
        ("Deploy-ORANGE", "d-QJ1WPX8SF"),
        ("Deploy-RED", "d-XGTBRT9SF"),
    ];
    let r = replay(
        "meerkat-CodePipelineFailedCodeDeployFlow.jsonl",
        deployment_seed("meerkat", "8bdcdf4b-2dd1-cccc-8aeb-562ff8b55969", &ids),
    )
    .await;
    deployment_diagnostics_said(&r, &ids.map(|(_, id)| id));
}

/// The whole worker: `herald run` with `[enrich]` from its config file takes s2's events from
/// an SQS queue, assumes the reader role in the member account, and its jsonl sink records a
/// failure that carries the failing command, the log tail, the links and the account alias.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_run_enriches_from_its_config() {
    let moto = support::moto_endpoint();
    let account = unique_account();
    let server = TestServer::start(Some(moto.clone())).await;
    let base = support::sdk_config(&moto).await;
    seed_apis(&server, &base, &account, &s2_seed()).await;

    let sqs = worker::sqs().await;
    let (url, dlq) = worker::queue_with_dlq(&sqs, "run-enrich", 30, 5).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let mut cfg = worker::sqs_config(&url, &jsonl, &support::unique("run-enrich"), 1, 30);
    cfg.push_str(&format!(
        r#"
[enrich]
enabled = true
deadline_ms = 30000
call_timeout_ms = 20000

[enrich.aliases]
"{account}" = "payments-prod"

[enrich.endpoints]
sts = "{moto}"
logs = "{moto}"
codepipeline = "{api}"
codebuild = "{api}"
codedeploy = "{api}"
"#,
        api = server.url,
    ));
    let mut herald = worker::Herald::start(dir.path(), 0, &cfg);
    herald.wait_ready().await;
    worker::send_all(&sqs, &url, &scenario_lines(S2, &account)).await;

    let failed = |rec: &worker::Recorded| {
        rec.threads
            .values()
            .find(|(_, _, n)| n["status"] == "FAILED" && n["final"] == true)
            .map(|(_, _, n)| n.clone())
    };
    let enriched = |n: &serde_json::Value| {
        n.pointer("/failure/actions/0/log_tail")
            .and_then(|t| t.as_array())
            .is_some_and(|t| !t.is_empty())
    };
    let done = worker::wait_until(std::time::Duration::from_secs(120), || {
        let jsonl = &jsonl;
        async move {
            failed(&worker::read_jsonl(std::slice::from_ref(jsonl))).is_some_and(|n| enriched(&n))
        }
    })
    .await;
    let rec = worker::read_jsonl(std::slice::from_ref(&jsonl));
    let note = failed(&rec);
    assert!(
        done,
        "no enriched failure delivered: {note:#?}\n{}",
        herald.log_text()
    );
    let note: Notification = serde_json::from_value(note.expect("failure")).expect("model");
    let a = &note.failure.as_ref().expect("failure").actions[0];
    assert_eq!(
        a.reason.as_deref().map(|r| r.contains("mvn package")),
        Some(true),
        "{a:#?}"
    );
    assert_eq!(
        a.log_region.as_ref().map(|r| r.kind.as_str()),
        Some("error"),
        "{a:#?}"
    );
    assert!(a
        .log_tail
        .iter()
        .any(|l| l.contains("Tests run: 12, Failures: 1")));
    assert!(a.log_url.as_deref().is_some_and(|u| u.contains("1e81d092")));
    assert_eq!(note.account_alias.as_deref(), Some("payments-prod"));
    let slack = all_text(&herald::render::slack::render(&note));
    assert!(
        slack.contains("Command did not exit successfully mvn package"),
        "{slack}"
    );

    // Every call ran in the member account with the assumed role's keys, and the calls were
    // counted on /metrics.
    let seen = server.seen();
    assert!(!seen.is_empty());
    assert!(seen
        .iter()
        .all(|s| s.access_key.starts_with("ASIA") && s.region == "us-west-2"));
    let ok = herald
        .metric("herald_enrich_requests_total", "outcome=\"ok\"")
        .await;
    assert!(ok >= 2.0, "enrich requests ok: {ok}");
    assert_eq!(worker::depth(&sqs, &dlq).await, (0, 0));

    herald.sigterm();
    let (code, _) = herald.wait_exit(std::time::Duration::from_secs(30)).await;
    assert_eq!(code, Some(0));
}

/// Self-healing (issue 14): `herald run` hears two executions start and never hears of them
/// again (their last events were lost). When each stalls (here after 2 s), Herald asks
/// `GetPipelineExecution` in the execution's account (the AWS test server, through a role
/// assumed on moto) and applies what AWS says as if the lost events had come: each ends with
/// its right final status, and no stall is told for either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_run_heals_stalled_executions_from_what_aws_says() {
    let moto = support::moto_endpoint();
    let account = unique_account();
    let server = TestServer::start(Some(moto.clone())).await;
    server.add_execution(
        "web",
        aws_test_server::execution("x-healed", "web", "Succeeded", None, "Webhook"),
    );
    server.add_execution(
        "web",
        aws_test_server::execution("x-broke", "web", "Failed", None, "Webhook"),
    );
    // Their actions as ListActionExecutions tells them: the stages' and actions' events were
    // lost too.
    let t0 = chrono::Utc::now().timestamp();
    for (exec, stage, action, provider, status, error) in [
        (
            "x-healed",
            "Source",
            "Checkout",
            "CodeStarSourceConnection",
            "Succeeded",
            None,
        ),
        ("x-healed", "Build", "Unit", "CodeBuild", "Succeeded", None),
        (
            "x-broke",
            "Source",
            "Checkout",
            "CodeStarSourceConnection",
            "Succeeded",
            None,
        ),
        (
            "x-broke",
            "Build",
            "Unit",
            "CodeBuild",
            "Failed",
            Some(("JobFailed", "Build terminated with state: FAILED")),
        ),
    ] {
        // The build ran after the checkout.
        let started = if stage == "Source" { t0 } else { t0 + 120 };
        server.add_action_execution(
            "web",
            aws_test_server::action_execution(
                "eu-west-1",
                exec,
                stage,
                action,
                provider,
                status,
                started,
                None,
                error,
            ),
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("deliveries.jsonl");
    let cfg = format!(
        r#"default_destination = "out"
[correlate]
settle_secs = 0
pipeline_stall_secs = 2
[[destinations]]
name = "out"
kind = "jsonl"
path = "{}"
[enrich]
enabled = true
deadline_ms = 30000
call_timeout_ms = 20000
[enrich.endpoints]
sts = "{moto}"
logs = "{moto}"
codepipeline = "{api}"
codebuild = "{api}"
codedeploy = "{api}"
"#,
        jsonl.display(),
        api = server.url,
    );
    let mut herald = worker::Herald::start(dir.path(), 0, &cfg);
    herald.wait_ready().await;
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let started = |exec: &str| worker::execution_started(&account, exec, &now);
    let body = serde_json::json!([started("x-healed"), started("x-broke")]).to_string();
    let r = reqwest::Client::new()
        .post(herald.url("/events"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("posted");
    assert_eq!(r.status().as_u16(), 200);
    let last = || {
        let mut out: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for l in std::fs::read_to_string(&jsonl).unwrap_or_default().lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(l) {
                let n = v["notification"].clone();
                out.insert(n["execution_id"].as_str().unwrap_or_default().to_owned(), n);
            }
        }
        out
    };
    let healed = worker::wait_until(std::time::Duration::from_secs(40), || async {
        let l = last();
        l.get("x-healed").is_some_and(|n| n["final"] == true)
            && l.get("x-broke").is_some_and(|n| n["final"] == true)
    })
    .await;
    let l = last();
    assert!(healed, "not healed: {l:?}");
    assert_eq!(l["x-healed"]["status"], "SUCCEEDED", "{l:?}");
    assert_eq!(l["x-broke"]["status"], "FAILED", "{l:?}");
    // The stages as AWS says they ended, and the failed action named.
    let stages = |exec: &str| -> Vec<(String, String)> {
        l[exec]["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let f = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
                (f("name"), f("status"))
            })
            .collect()
    };
    let st = |n: &str, s: &str| (n.to_owned(), s.to_owned());
    assert_eq!(
        stages("x-healed"),
        [st("Source", "SUCCEEDED"), st("Build", "SUCCEEDED")]
    );
    assert_eq!(
        stages("x-broke"),
        [st("Source", "SUCCEEDED"), st("Build", "FAILED")]
    );
    assert_eq!(l["x-broke"]["failure"]["stage"], "Build", "{l:?}");
    assert_eq!(
        l["x-broke"]["failure"]["actions"][0]["action"], "Unit",
        "{l:?}"
    );
    assert!(
        !std::fs::read_to_string(&jsonl)
            .unwrap_or_default()
            .contains("\"stalled\":true"),
        "healed before any stall was told"
    );
    let asked = server.seen_op("GetPipelineExecution");
    assert!(asked.len() >= 2, "{asked:?}");
}
