//! deploy/ as written, proven on the emulator.
//!
//! - `grants_match_the_code`: every AWS operation in `src/` is granted to the role that calls
//!   it, and every grant of the task and reader roles is used (tests/deploy/grants.py).
//! - `stacks_deploy_and_a_worker_runs_with_the_task_definition`: the central and member stacks
//!   are created on moto's CloudFormation (tests/deploy/stack.py: resolved for their
//!   parameters, since moto cannot resolve `Fn::If` inside lists), real CodePipeline events go
//!   onto the central bus and the member's default bus, the stacks' own rules route them into
//!   the stack's queue, and `herald run` started with exactly the environment of the stack's
//!   task definition (its variables, and its `ChatSecretArns` secrets resolved as the ECS agent
//!   does), the task role's credentials, and the emulator's endpoints, posts them to the Slack
//!   test server. Its configuration comes from the stack's `ConfigParameterName` and
//!   references a Secrets Manager secret (the Slack token) and an SSM SecureString (the
//!   webhook's signing secret), both resolved at start under the task role's new grants.
//!
//! The Python scripts run on the moto venv's interpreter (`$HERALD_TOOLS_DIR/venv`, installed
//! by scripts/test.sh), which has boto3 and PyYAML.

mod chat_servers;
mod support;
mod worker;

use chat_servers::slack::SlackServer;
use chat_servers::webhook::WebhookServer;
use herald::deliver::webhook;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use worker::Herald;

const SLACK_TOKEN: &str = "xoxb-deploy-stacks-token-3c9d";
const HOOK_TOKEN: &str = "deploy-stacks-hook-7b21";

fn python() -> PathBuf {
    let tools = std::env::var("HERALD_TOOLS_DIR").unwrap_or_else(|_| {
        panic!("HERALD_TOOLS_DIR is not set: run the suite with `bash scripts/test.sh`")
    });
    PathBuf::from(tools).join("venv/bin/python")
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/deploy")
        .join(name)
}

/// Runs one of tests/deploy/'s scripts: (exit status was 0, stdout and stderr).
fn run_script(name: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(python())
        .arg(script(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn grants_match_the_code() {
    let (ok, text) = run_script("grants.py", &[]);
    assert!(ok, "{text}");
    assert!(text.contains(", 0 problems"), "{text}");
    // What the issue removed stays removed; what it added is there and used.
    for gone in [
        "dynamodb:DeleteItem",
        "sqs:GetQueueAttributes",
        "kinesis:DescribeStream",
    ] {
        assert!(!text.contains(gone), "{gone} is back:\n{text}");
    }
    for used in [
        "granted       task   secretsmanager:GetSecretValue",
        "granted       task   ssm:GetParameter",
        "granted       reader codebuild:BatchGetBuilds",
        "granted       task   dynamodb:Query",
        "granted       operator codepipeline:PutApprovalResult",
        "granted       operator codedeploy:StopDeployment",
    ] {
        assert!(text.contains(used), "{used}:\n{text}");
    }
}

/// The Slack app manifest grants exactly the scopes of the Web API methods `src/` calls, and
/// sends interactions to the worker's `POST /slack/interactions`.
#[test]
fn the_slack_manifest_has_exactly_the_scopes_the_code_uses() {
    // Slack's method reference: the bot scopes each method needs.
    let needs: &[(&str, &[&str])] = &[
        ("chat.postMessage", &["chat:write"]),
        ("chat.update", &["chat:write"]),
        ("chat.postEphemeral", &["chat:write"]),
        ("chat.getPermalink", &[]),
        ("users.lookupByEmail", &["users:read", "users:read.email"]),
        ("usergroups.users.list", &["usergroups:read"]),
    ];
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut src = String::new();
    for f in ["src/deliver/slack.rs", "src/chatops/slack.rs"] {
        src += &std::fs::read_to_string(root.join(f)).expect("read");
    }
    // Every Web API method the code names is one this table knows.
    let mut called = std::collections::BTreeSet::new();
    for (i, _) in src.match_indices('"') {
        let rest = &src[i + 1..];
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let known = [
            "chat.",
            "users.",
            "usergroups.",
            "conversations.",
            "reactions.",
        ];
        if known.iter().any(|k| word.starts_with(k)) && rest[word.len()..].starts_with('"') {
            called.insert(word);
        }
    }
    for m in &called {
        assert!(
            needs.iter().any(|(n, _)| n == m),
            "{m} is called: add it and its scopes here and to the manifest"
        );
    }
    let mut want: Vec<&str> = needs
        .iter()
        .filter(|(m, _)| called.contains(*m) || src.contains(&format!("/api/{m}")))
        .flat_map(|(_, s)| s.iter().copied())
        .collect();
    want.sort();
    want.dedup();
    let manifest =
        std::fs::read_to_string(root.join("deploy/slack/manifest.yaml")).expect("manifest");
    let mut scopes: Vec<&str> = manifest
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("bot:"))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("settings:"))
        .filter_map(|l| l.trim().strip_prefix("- "))
        .collect();
    scopes.sort();
    assert_eq!(scopes, want);
    assert!(manifest.contains("request_url: https://herald.example.com/slack/interactions"));
    assert!(manifest.contains("is_enabled: true"));
}

/// The Amazon Q Developer custom actions read only what Herald's custom notifications carry:
/// for each criterion's `actionGroup`, a notification in that state has every variable the
/// action's command reads.
#[test]
fn the_amazon_q_custom_actions_read_what_herald_notifications_carry() {
    use herald::notification::{status, ActionOffer, Kind};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let stack = std::fs::read_to_string(root.join("deploy/cloudformation/amazonq-actions.yaml"))
        .expect("stack");
    let offer = |id: &str| ActionOffer {
        id: id.into(),
        label: id.into(),
        style: "default".into(),
    };
    let mut approval = chat_servers::samples::approval_waiting();
    approval.actions = vec![offer("approve"), offer("reject"), offer("stop_pipeline")];
    let mut ready = chat_servers::samples::success();
    ready.kind = Kind::Deployment;
    ready.status = status::READY.into();
    ready.deployment_id = Some("d-ABCDEFGHI".into());
    ready.actions = vec![offer("continue_deployment"), offer("stop_deployment")];
    let mut running = ready.clone();
    running.status = status::IN_PROGRESS.into();
    running.actions = vec![offer("stop_deployment")];
    let mut checked = 0;
    // Each attachment: its criterion's group, then its variables.
    for block in stack.split("- NotificationType: Custom").skip(1) {
        // Up to the next resource or section (a line indented by two spaces or less).
        let lines: Vec<&str> = block
            .lines()
            .take_while(|l| l.trim().is_empty() || l.starts_with("   "))
            .collect();
        let block = lines.join("\n");
        let group = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("Value: "))
            .expect("a criterion value");
        let keys: Vec<&str> = block
            .lines()
            .filter_map(|l| l.split("event.metadata.additionalContext.").nth(1))
            .map(str::trim)
            .collect();
        let n = match group {
            "approval" => &approval,
            "deploy_ready" => &ready,
            "deploy_running" => &running,
            other => panic!("unknown group {other}"),
        };
        let ctx = &herald::render::amazonq::render(n, "t")["metadata"]["additionalContext"];
        assert_eq!(ctx["actionGroup"], group, "{ctx}");
        for k in keys {
            assert!(
                ctx[k].as_str().is_some_and(|v| !v.is_empty()),
                "{group}: {k} missing from {ctx}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked}");
    assert_eq!(
        herald::render::amazonq::render(&approval, "t")["metadata"]["additionalContext"]
            ["approvalToken"],
        "c0ffee00-aaaa-4bbb-8ccc-0123456789ab"
    );
    // The token is for Amazon Q only: never in the notification's JSON.
    assert!(!serde_json::to_string(&approval)
        .expect("json")
        .contains("c0ffee00-aaaa"));
}

#[test]
fn a_select_past_the_end_fails_even_in_the_branch_not_taken() {
    // The resolver evaluates both branches of Fn::If, as CloudFormation does: the shipped
    // template passes with one ChatSecretArn, and a template selecting past the end of the
    // list in an untaken branch is refused.
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "Parameters:\n  L: {Type: CommaDelimitedList, Default: ''}\n\
         Conditions:\n  No: !Equals ['a', 'b']\n\
         Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n\
         \x20     QueueName: !If [No, !Select [2, !Ref L], x]\n",
    )
    .expect("write");
    let run = |args: &[&str]| {
        Command::new(python())
            .arg(script("cfn.py"))
            .args(args)
            .output()
            .expect("run cfn.py")
    };
    let out = run(&[bad.to_str().expect("utf-8"), "L=a,b"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot select nonexistent value at index 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let central = script("../../deploy/cloudformation/central.yaml");
    for arns in [
        "",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:herald/a-AbCdEf",
    ] {
        let out = run(&[
            central.to_str().expect("utf-8"),
            "OrganizationId=o-abcdefghij",
            "ContainerImage=123456789012.dkr.ecr.us-east-1.amazonaws.com/herald:1",
            "VpcSubnets=subnet-1",
            "SecurityGroups=sg-1",
            &format!("ChatSecretArns={arns}"),
        ]);
        assert!(
            out.status.success(),
            "ChatSecretArns={arns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let secrets =
            &t["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Secrets"];
        let want = if arns.is_empty() { 0 } else { 1 };
        assert_eq!(secrets.as_array().map(Vec::len), Some(want), "{secrets}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacks_deploy_and_a_worker_runs_with_the_task_definition() {
    let moto = support::moto_endpoint();
    let slack = SlackServer::start(SLACK_TOKEN).await;
    let hook = WebhookServer::start(HOOK_TOKEN).await;
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = tokio::task::spawn_blocking({
        let (moto, slack_url, hook_url) = (moto.clone(), slack.url.clone(), hook.webhook());
        move || {
            Command::new(python())
                .arg(script("stack.py"))
                .args([&moto, &slack_url, SLACK_TOKEN, &hook_url])
                .arg(&fixtures)
                .output()
                .expect("run stack.py")
        }
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "stack.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let deployed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stack.py JSON");
    for line in deployed["checked"].as_array().expect("checked") {
        eprintln!("checked: {}", line.as_str().unwrap_or_default());
    }
    // Two pipeline events, and the ECS call the member rule forwards (not the S3 one).
    assert_eq!(deployed["queued"], 3, "{deployed}");

    // The task's environment, exactly as the task definition has it, less what cannot hold
    // here: the listen address (a free loopback port instead of 0.0.0.0:8080) and the
    // endpoints (the emulator instead of AWS). The credentials are the task role's.
    let env = deployed["env"].as_object().expect("env");
    assert_eq!(env["HERALD_LISTEN"], "0.0.0.0:8080");
    assert_eq!(env["HERALD_CONFIG_SSM_PARAMETER"], "/herald/config");
    let mut vars: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k.as_str() != "HERALD_LISTEN")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    for (k, v) in deployed["credentials"].as_object().expect("credentials") {
        vars.push((k.clone(), v.as_str().unwrap_or_default().to_owned()));
    }
    for k in [
        "AWS_ENDPOINT_URL",
        "HERALD_SQS_ENDPOINT",
        "HERALD_DYNAMODB_ENDPOINT",
    ] {
        vars.push((k.to_owned(), moto.clone()));
    }
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut herald = Herald::start_without_config(dir.path(), 0, &vars);
    herald.wait_ready().await;

    // The events reach Slack through the stack's rule and queue: the one put on the central
    // bus, and those the member stack's rule forwarded from the member's default bus (a
    // pipeline's, and an ECS scaling CloudTrail recorded).
    let posted = worker::wait_until(Duration::from_secs(90), || {
        let slack = &slack;
        async move { slack.messages().len() >= 3 }
    })
    .await;
    let messages = slack.messages();
    assert!(
        posted,
        "{} Slack messages\n{}",
        messages.len(),
        herald.log_text()
    );
    assert!(
        messages.iter().all(|m| m.channel == "C0DEPLOYS"),
        "{messages:?}"
    );
    let text =
        serde_json::to_string(&messages.iter().map(|m| &m.body).collect::<Vec<_>>()).expect("json");
    assert!(text.contains("myPipeline"), "{text}");
    assert!(
        text.contains("search-indexer scaled to 6 by alice@example.com"),
        "{text}"
    );
    for (state, seen) in [
        (
            "SUCCEEDED",
            text.contains("Succeeded") || text.contains("SUCCEEDED"),
        ),
        ("FAILED", text.contains("Failed") || text.contains("FAILED")),
    ] {
        assert!(seen, "no {state} message: {text}");
    }
    // The webhook got them too, signed with the SSM SecureString the config references.
    let signed = worker::wait_until(Duration::from_secs(30), || {
        let hook = &hook;
        async move { hook.requests().iter().filter(|r| r.status == 200).count() >= 2 }
    })
    .await;
    assert!(signed, "{:?}\n{}", hook.requests().len(), herald.log_text());
    let signing = format!("signing-{}", deployed["account"].as_str().expect("account"));
    for r in hook.requests() {
        let sig = r.header(webhook::SIGNATURE_HEADER).expect("signed");
        assert!(webhook::verify(signing.as_bytes(), &r.raw, sig));
    }

    herald.sigterm();
    let (code, _) = herald.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{}", herald.log_text());
    let log = herald.log_text();
    assert!(
        !log.contains(SLACK_TOKEN) && !log.contains(HOOK_TOKEN),
        "{log}"
    );
}

#[test]
fn the_central_stack_deploys_in_kinesis_mode() {
    let (ok, text) = run_script("stack.py", &["kinesis", &support::moto_endpoint()]);
    assert!(ok, "{text}");
    assert!(text.contains("stream ACTIVE"), "{text}");
}
