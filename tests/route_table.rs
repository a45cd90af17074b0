//! Routing against real notifications: the corpus scenarios and samples go through the whole
//! pipeline (decode → correlate), and a table of expressions (Meerkat's README examples among
//! them, pasted unchanged) is matched against the last notification of each thread. Then rules
//! with `continue` and a default destination, `herald route-test` as a user runs it, and a bad
//! rule refused at config load with the position of the mistake.

use herald::cli::route_test::reports;
use herald::config::Config;
use herald::event::{decode, Event};
use herald::route::expr::Expr;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn events(name: &str) -> Vec<Event> {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    let docs: Vec<String> = if name.ends_with(".jsonl") {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect()
    } else {
        vec![text]
    };
    docs.iter()
        .flat_map(|d| decode(d.as_bytes()).expect("decodes"))
        .collect()
}

fn everything_to_one() -> Config {
    toml::from_str(
        "default_destination = \"all\"\n[[destinations]]\nname = \"all\"\nkind = \"text\"\n",
    )
    .expect("config")
}

/// The last notification of every thread of `file`, as the rules see it.
async fn finals(file: &str) -> Vec<Value> {
    let rs = reports(
        &everything_to_one(),
        &events(file),
        herald::cli::replay::DEFAULT_DRAIN_SECS,
    )
    .await
    .expect("reports");
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for r in rs {
        last.insert(r.thread, r.notification);
    }
    last.into_values().collect()
}

/// Named real notifications, one per situation rules tell apart.
async fn samples() -> BTreeMap<&'static str, Value> {
    let pick = |all: Vec<Value>, status: &str| {
        all.into_iter()
            .find(|n| n["status"] == status)
            .unwrap_or_else(|| panic!("a {status} notification"))
    };
    let mut s = BTreeMap::new();
    s.insert(
        "failed_codebuild",
        pick(
            finals("scenarios/meerkat-CodePipelineFailedCodeBuildFlow.jsonl").await,
            "FAILED",
        ),
    );
    s.insert(
        "failed_codedeploy",
        pick(
            finals("scenarios/meerkat-CodePipelineFailedCodeDeployFlow.jsonl").await,
            "FAILED",
        ),
    );
    s.insert(
        "succeeded_dev",
        pick(
            finals("scenarios/s1-v1-raw-github-codebuild-success-out-of-order.jsonl").await,
            "SUCCEEDED",
        ),
    );
    s.insert(
        "failed_dev",
        pick(
            finals("scenarios/s2-v1-raw-concurrent-executions-codebuild-failure.jsonl").await,
            "FAILED",
        ),
    );
    let approvals = finals("scenarios/s6-manual-approval-waiting-two-pipelines.jsonl").await;
    for n in approvals {
        let name = if n["pipeline"].as_str().is_some_and(|p| p.starts_with("tf-")) {
            "approval_jenkins"
        } else {
            "approval_sandbox"
        };
        s.insert(name, n);
    }
    s.insert(
        "ecs_rolled_back",
        pick(
            finals("scenarios/s7-ecs-deployment-circuit-breaker-rollback.jsonl").await,
            "ROLLED_BACK",
        ),
    );
    s.insert(
        "alarm_cpu",
        pick(
            finals("cloudwatch-alarm-state-change-alarm-single-metric-doc.json").await,
            "ALARM",
        ),
    );
    s.insert(
        "deploy_succeeded",
        pick(
            finals("codedeploy-deployment-state-change-notification-success-doc.json").await,
            "SUCCEEDED",
        ),
    );
    assert_eq!(s.len(), 9);
    s
}

/// An expression, and the samples it matches (it must match none of the others).
const TABLE: &[(&str, &[&str])] = &[
    // Meerkat's README ("Slack Message Routing"), pasted unchanged.
    ("type:PipelineNotification&name~.*prod.*", &[]),
    ("type:AlarmNotification&alert.name~.*Critical.*", &[]),
    (
        "type:PipelineNotification",
        &[
            "approval_jenkins",
            "approval_sandbox",
            "failed_codebuild",
            "failed_codedeploy",
            "failed_dev",
            "succeeded_dev",
        ],
    ),
    ("type:AlarmNotification", &["alarm_cpu"]),
    (
        "type:PipelineNotification&successfull:false",
        &["failed_codebuild", "failed_codedeploy", "failed_dev"],
    ),
    (
        "type:PipelineNotification&successfull:true",
        &["succeeded_dev"],
    ),
    (
        "type:ManualApprovalNotification",
        &["approval_jenkins", "approval_sandbox"],
    ),
    (
        "!type:AlarmNotification&!type:PipelineNotification",
        &["deploy_succeeded", "ecs_rolled_back"],
    ),
    (
        "type:SimpleNotification",
        &["deploy_succeeded", "ecs_rolled_back"],
    ),
    // The same shapes, with names these samples have.
    (
        "type:PipelineNotification&name~.*dev.*",
        &["failed_dev", "succeeded_dev"],
    ),
    ("type:AlarmNotification&alert.name~.*Cpu.*", &["alarm_cpu"]),
    (
        "type:AlarmNotification&alert.name~.*(Critical|Cpu).*",
        &["alarm_cpu"],
    ),
    ("alert.type:alarm", &["alarm_cpu"]),
    ("failureDetail.type:CodeDeploy", &["failed_codedeploy"]),
    (
        "type:PipelineNotification&(name~.*jenkins.*|name~.*sandbox.*)",
        &["approval_jenkins", "approval_sandbox"],
    ),
    // Herald's own names.
    (
        "kind:pipeline & status:FAILED & failure.actions.provider:CodeBuild",
        &["failed_codebuild", "failed_dev"],
    ),
    (
        "kind:ecs_deployment | kind:deployment",
        &["deploy_succeeded", "ecs_rolled_back"],
    ),
    (
        "account:\"000000000000\" & region:ap-southeast-2",
        &["failed_codebuild", "failed_codedeploy"],
    ),
    // Quoted values holding `|`, `:` and `/`; a regex alternation in quotes.
    (
        "pipeline~\"^(tf|vrathore)-\"",
        &["approval_jenkins", "approval_sandbox"],
    ),
    (
        "title:\"default/servicetest deployment\"",
        &["ecs_rolled_back"],
    ),
    (
        "title:\"myApplication/myDeploymentGroup\"",
        &["deploy_succeeded"],
    ),
    ("alarm_name~\"Cpu|Memory\"", &["alarm_cpu"]),
    ("final:false & !status:WAITING_FOR_APPROVAL", &["alarm_cpu"]),
    (
        "status:WAITING_FOR_APPROVAL & approval.review_link~\"^https://\"",
        &["approval_jenkins", "approval_sandbox"],
    ),
    ("title:\"a:b|c~d\"", &[]),
    (
        "*",
        &[
            "alarm_cpu",
            "approval_jenkins",
            "approval_sandbox",
            "deploy_succeeded",
            "ecs_rolled_back",
            "failed_codebuild",
            "failed_codedeploy",
            "failed_dev",
            "succeeded_dev",
        ],
    ),
];

#[tokio::test]
async fn a_table_of_expressions_against_real_notifications() {
    let samples = samples().await;
    let mut wrong = Vec::new();
    for (src, want) in TABLE {
        let expr = Expr::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let got: Vec<&str> = samples
            .iter()
            .filter(|(_, n)| expr.matches(n))
            .map(|(name, _)| *name)
            .collect();
        if got != *want {
            wrong.push(format!("{src}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn rules_go_in_order_continue_adds_and_the_default_catches_the_rest() {
    let cfg: Config = toml::from_str(
        r#"
        default_destination = "everything-else"
        [[destinations]]
        name = "oncall"
        kind = "text"
        [[destinations]]
        name = "deploys"
        kind = "text"
        [[destinations]]
        name = "everything-else"
        kind = "text"
        [[rules]]
        name = "failures page"
        match = "status:FAILED | status:ALARM | status:ROLLED_BACK"
        destinations = ["oncall"]
        continue = true
        [[rules]]
        name = "pipelines"
        match = "type:PipelineNotification"
        destinations = ["deploys"]
        [[rules]]
        name = "never reached for pipelines"
        match = "kind:pipeline"
        destinations = ["oncall"]
        "#,
    )
    .expect("config");
    cfg.validate().expect("valid");
    let router = cfg.router().expect("router");
    let samples = samples().await;
    let route = |name: &str| {
        let n: herald::notification::Notification =
            serde_json::from_value(samples[name].clone()).expect("a notification");
        let r = router.route(&n);
        // What delivery asks on every change, borrowed: the same destinations.
        assert_eq!(router.destinations(&n), r.destinations, "{name}");
        (r.rules, r.destinations)
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        route("failed_codebuild"),
        (
            s(&["failures page", "pipelines"]),
            s(&["oncall", "deploys"])
        )
    );
    assert_eq!(route("succeeded_dev"), (s(&["pipelines"]), s(&["deploys"])));
    assert_eq!(
        route("ecs_rolled_back"),
        (s(&["failures page"]), s(&["oncall"]))
    );
    assert_eq!(
        route("deploy_succeeded"),
        (s(&["default"]), s(&["everything-else"]))
    );
}

fn write_config(text: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let p = std::env::temp_dir().join(format!(
        "herald-route-{}-{}.toml",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&p, text).expect("write config");
    p
}

#[test]
fn route_test_shows_each_notification_its_rules_and_its_messages() {
    let cfg = write_config(
        r#"
        [[destinations]]
        name = "ops"
        kind = "slack"
        channel = "C0OPS"
        token = { env = "HERALD_ROUTE_TEST_UNUSED_TOKEN" }
        [[rules]]
        name = "failed pipelines"
        match = "type:PipelineNotification&successfull:false"
        destinations = ["ops"]
        "#,
    );
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("route-test")
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .expect("herald route-test");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let file = fixture("scenarios/s5-processed-codedeploy-multi-group-deploy-failure.jsonl");
    let file = file.to_str().expect("a path");
    let text = run(&[file]);
    // The start is unrouted; the failure matched the rule and shows as Slack would get it.
    assert!(text.contains("unrouted"), "{text}");
    assert!(text.contains("matched: failed pipelines"), "{text}");
    assert!(text.contains("→ ops (slack): post"), "{text}");
    assert!(text.contains("❌ meerkat — FAILED"), "{text}");
    let json = run(&["--json", file]);
    let last: Value = serde_json::from_str(json.lines().last().expect("a line")).expect("json");
    assert_eq!(last["rules"][0], "failed pipelines");
    assert_eq!(last["destinations"][0]["kind"], "slack");
    assert!(last["destinations"][0]["body"]["blocks"].is_array());
    let _ = std::fs::remove_file(cfg);
}

#[test]
fn a_bad_rule_is_refused_at_load_with_where_it_goes_wrong() {
    let cfg = write_config(
        r#"
        [[destinations]]
        name = "ops"
        kind = "text"
        [[rules]]
        match = "type:PipelineNotification & (name~.*prod.* | name~\"staging"
        destinations = ["ops"]
        [[rules]]
        match = "kind:pipeline & alert.reason~x"
        destinations = ["ops"]
        "#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("check-config")
        .arg(&cfg)
        .output()
        .expect("herald check-config");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules[0].match"), "{err}");
    assert!(
        err.contains("at 50: quoted value has no closing '\"'"),
        "{err}"
    );
    assert!(err.contains("rules[1].match"), "{err}");
    assert!(
        err.contains("\"alert.reason\" has no Herald equivalent"),
        "{err}"
    );
    let _ = std::fs::remove_file(cfg);
}
