//! Enrichment against real SDK calls over HTTP: moto for CodeBuild builds, CloudWatch Logs,
//! CodePipeline executions and STS; the AWS JSON 1.1 test server (`aws_test_server`) for the
//! operations moto lacks and for the failed builds and deployments its models cannot hold.
//! Every test works in accounts of its own (assumed roles into fresh account ids).

mod aws_test_server;
mod support;

use aws_test_server::{
    action_execution, deployment_target, failed_build, failed_deployment, lifecycle, moto_json,
    put_log_lines, unique_account, TestServer,
};
use herald::correlate::pipeline::PipelineExec;
use herald::correlate::standalone::{Build, Deployment};
use herald::correlate::{Body, Reg, Thread};
use herald::enrich::{Api, EnrichConfig, Enricher, Outcome};
use herald::notification::{Failure, Notification};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn failed(state: &str) -> Option<Reg> {
    Some(Reg {
        value: herald::correlate::name(state),
        time: None,
        rank: 3,
    })
}

fn build_thread(account: &str, region: &str, build_id: &str) -> (Thread, Notification) {
    let project = build_id.split(':').next().unwrap_or(build_id);
    let mut b = Build::new(account, region, project, build_id);
    b.state = failed("FAILED");
    let note = b.notification();
    (Thread::new(Body::Build(b)), note)
}

fn deployment_thread(account: &str, region: &str, id: &str) -> (Thread, Notification) {
    let mut d = Deployment::new(account, region, id);
    d.state = failed("FAILURE");
    let note = d.notification();
    (Thread::new(Body::Deployment(d)), note)
}

fn config(endpoints: &[(&str, &str)]) -> EnrichConfig {
    EnrichConfig {
        enabled: true,
        // moto is shared by every test (and machine) running now: generous, so only the
        // deadline test measures time.
        deadline_ms: 30_000,
        call_timeout_ms: 20_000,
        endpoints: endpoints
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..EnrichConfig::default()
    }
}

async fn enricher(cfg: EnrichConfig) -> Enricher {
    let base = support::sdk_config(&support::moto_endpoint()).await;
    Enricher::new(cfg, &base).expect("enricher")
}

fn log_lines(n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| format!("[Container] {tag} line {i}"))
        .collect()
}

#[tokio::test]
async fn a_moto_build_and_its_log_tail_in_the_events_own_account() {
    let moto = support::moto_endpoint();
    let account = unique_account();
    let region = "eu-west-1";
    let project = format!("app-{account}");
    moto_json(
        &moto,
        &account,
        region,
        "codebuild",
        "CodeBuild_20161006.CreateProject",
        json!({
            "name": project,
            "source": {"type": "S3", "location": "bucket/source.zip"},
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"},
            "serviceRole": format!("arn:aws:iam::{account}:role/codebuild"),
        }),
    )
    .await;
    let started = moto_json(
        &moto,
        &account,
        region,
        "codebuild",
        "CodeBuild_20161006.StartBuild",
        json!({"projectName": project}),
    )
    .await;
    let build_id = started["build"]["id"]
        .as_str()
        .expect("build id")
        .to_owned();
    let uuid = build_id.split(':').nth(1).expect("uuid").to_owned();
    // 40 lines of output, a very long one, then the error: the message shows the region of
    // the first error (two lines of context), not the log's tail.
    let mut lines: Vec<String> = (0..40).map(|i| format!("ok line {i}")).collect();
    lines.push("x".repeat(2_000));
    lines.push("\u{1b}[31mnpm ERR!\u{1b}[0m Test failed.  See above for more details.".into());
    lines.push("[Container] 2024/05/02 10:15:03.123456 Phase complete: BUILD State: FAILED".into());
    let base = support::sdk_config(&moto).await;
    put_log_lines(
        &base,
        &account,
        region,
        &format!("/aws/codebuild/{project}"),
        &uuid,
        &lines,
    )
    .await;

    let e = enricher(config(&[])).await;
    let (thread, mut note) = build_thread(&account, region, &build_id);
    let learned = e
        .enrich("cb#x", &thread, &mut note, None)
        .await
        .expect("learned something");
    let a = &note.failure.as_ref().expect("failure").actions[0];
    assert_eq!(a.log_tail.len(), 3, "{:?}", a.log_tail);
    assert_eq!(
        a.log_tail.last().map(String::as_str),
        Some("npm ERR! Test failed.  See above for more details.")
    );
    assert!(a.log_tail.iter().all(|l| l.chars().count() <= 300));
    assert_eq!(a.log_tail[0], "ok line 39");
    let at = a.log_region.as_ref().expect("where the lines are");
    assert_eq!(
        (at.from_line, at.of_lines, at.kind.as_str()),
        (40, 43, "error")
    );
    let log_url = a.log_url.as_deref().expect("log link");
    assert!(log_url.starts_with(&format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/"
    )));
    assert!(log_url.contains(&uuid), "{log_url}");
    let url = a.url.as_deref().expect("build link");
    assert!(url.contains(&account) && url.contains(&project), "{url}");
    let s = e.stats();
    assert_eq!(s.count(Api::AssumeRole, Outcome::Ok), 1);
    assert_eq!(s.count(Api::BatchGetBuilds, Outcome::Ok), 1);
    assert!(s.count(Api::GetLogEvents, Outcome::Ok) >= 1);
    assert!(learned.builds.get(&build_id).is_some_and(|b| b.tail_done));

    // The stored enrichment is applied again without a single call.
    let calls = s.total();
    let (_, mut again) = build_thread(&account, region, &build_id);
    assert_eq!(
        e.enrich("cb#x", &thread, &mut again, Some(&learned)).await,
        None
    );
    assert_eq!(s.total(), calls);
    assert_eq!(again, note);
}

#[tokio::test]
async fn a_moto_pipeline_execution_gives_the_trigger() {
    let moto = support::moto_endpoint();
    let account = unique_account();
    let region = "us-east-2";
    aws_test_server::create_role(
        &moto,
        &account,
        "pipeline-role",
        "codepipeline.amazonaws.com",
    )
    .await;
    let action = |name: &str, category: &str, provider: &str| json!({"name": name, "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"}, "runOrder": 1, "configuration": {}});
    moto_json(
        &moto,
        &account,
        region,
        "codepipeline",
        "CodePipeline_20150709.CreatePipeline",
        json!({"pipeline": {
            "name": "web",
            "roleArn": format!("arn:aws:iam::{account}:role/pipeline-role"),
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [
                {"name": "Source", "actions": [action("Source", "Source", "S3")]},
                {"name": "Build", "actions": [action("Build", "Build", "CodeBuild")]},
            ],
        }}),
    )
    .await;
    let started = moto_json(
        &moto,
        &account,
        region,
        "codepipeline",
        "CodePipeline_20150709.StartPipelineExecution",
        json!({"name": "web"}),
    )
    .await;
    let exec = started["pipelineExecutionId"]
        .as_str()
        .expect("execution id")
        .to_owned();
    let p = PipelineExec::new(&account, region, "web", &exec);
    let mut note = p.notification();
    let thread = Thread::new(Body::Pipeline(Box::new(p)));
    assert_eq!(note.trigger, None);
    let e = enricher(config(&[])).await;
    let learned = e.enrich("ex#x", &thread, &mut note, None).await;
    let learned = learned.unwrap_or_else(|| panic!("learned nothing: {:?}", e.stats().snapshot()));
    assert_eq!(note.trigger.as_deref(), Some("StartPipelineExecution"));
    assert!(
        learned.commit_done,
        "a finished execution is not asked again"
    );
    assert_eq!(e.stats().count(Api::GetPipelineExecution, Outcome::Ok), 1);
    let calls = e.stats().total();
    let mut again = thread.notification().expect("note");
    assert_eq!(
        e.enrich("ex#x", &thread, &mut again, Some(&learned)).await,
        None
    );
    assert_eq!(e.stats().total(), calls);
    assert_eq!(again.trigger.as_deref(), Some("StartPipelineExecution"));
}

#[tokio::test]
async fn the_action_list_explains_a_failure_whose_action_event_never_arrived() {
    let moto = support::moto_endpoint();
    let server = TestServer::start(Some(moto.clone())).await;
    let account = unique_account();
    let region = "eu-central-1";
    let exec = "6f2e3a10-0000-4000-8000-000000000001";
    let build_id = "api-tests:7d1c2b3a-1111-4222-8333-444455556666";
    // More than one page (100) of action executions: other executions' and this one's.
    for i in 0..130 {
        let other = format!("other-{i}");
        server.add_action_execution(
            "api",
            action_execution(
                region,
                &other,
                "Build",
                "Unit",
                "CodeBuild",
                "Succeeded",
                1_700_000_000 + i,
                Some("api-tests:x"),
                None,
            ),
        );
    }
    for i in 0..104 {
        server.add_action_execution(
            "api",
            action_execution(
                region,
                exec,
                &format!("Stage{i}"),
                "Step",
                "Lambda",
                "Succeeded",
                1_700_000_000 + i,
                None,
                None,
            ),
        );
    }
    // Retried: failed first, then failed again with the build we want.
    server.add_action_execution(
        "api",
        action_execution(
            region,
            exec,
            "Build",
            "Unit",
            "CodeBuild",
            "Failed",
            1_700_000_500,
            Some("api-tests:old"),
            Some(("JobFailed", "Build terminated with state: FAILED")),
        ),
    );
    server.add_action_execution(
        "api",
        action_execution(
            region,
            exec,
            "Build",
            "Unit",
            "CodeBuild",
            "Failed",
            1_700_000_900,
            Some(build_id),
            Some(("JobFailed", "Build terminated with state: FAILED")),
        ),
    );
    server.add_build(failed_build(
        build_id,
        &account,
        region,
        "BUILD",
        (
            "COMMAND_EXECUTION_ERROR",
            "Error while executing command: cargo test --locked. Reason: exit status 101",
        ),
        "/ci/api-tests",
        "run/7d1c2b3a",
    ));
    let base = support::sdk_config(&moto).await;
    let mut lines = log_lines(5, "test");
    lines.push("test result: FAILED. 41 passed; 1 failed".into());
    put_log_lines(
        &base,
        &account,
        region,
        "/ci/api-tests",
        "run/7d1c2b3a",
        &lines,
    )
    .await;

    // Only the stage's FAILED event arrived.
    let mut p = PipelineExec::new(&account, region, "api", exec);
    p.stages.insert(
        "Build".into(),
        Box::new(herald::correlate::pipeline::StageRec {
            state: failed("FAILED"),
            first_seen: None,
        }),
    );
    let mut note = p.notification();
    assert_eq!(
        note.failure,
        Some(Failure {
            stage: Some("Build".into()),
            actions: Vec::new(),
            reason: None
        })
    );
    let thread = Thread::new(Body::Pipeline(Box::new(p)));
    let e = enricher(config(&[
        ("codepipeline", &server.url),
        ("codebuild", &server.url),
    ]))
    .await;
    e.enrich("ex#api", &thread, &mut note, None)
        .await
        .expect("learned");
    let f = note.failure.as_ref().expect("failure");
    assert_eq!(f.actions.len(), 1, "{f:?}");
    let a = &f.actions[0];
    assert_eq!(a.action, "Unit");
    assert_eq!(a.external_id.as_deref(), Some(build_id));
    assert_eq!(
        a.reason.as_deref(),
        Some("COMMAND_EXECUTION_ERROR: Error while executing command: cargo test --locked. Reason: exit status 101")
    );
    assert_eq!(
        a.log_tail.last().map(String::as_str),
        Some("test result: FAILED. 41 passed; 1 failed")
    );
    assert!(a
        .log_url
        .as_deref()
        .is_some_and(|u| u.contains("$252Fci$252Fapi-tests")));
    // Two pages, each asked for this execution only.
    let lists = server.seen_op("ListActionExecutions");
    assert_eq!(lists.len(), 2);
    assert!(lists
        .iter()
        .all(|s| s.body["filter"]["pipelineExecutionId"] == json!(exec)));
    assert_eq!(lists[1].body["nextToken"], json!("n100"));
    // In the event's account (assumed-role keys, not the base ones) and region.
    assert!(server
        .seen()
        .iter()
        .all(|s| s.region == region && s.access_key != "testing" && !s.access_key.is_empty()));
}

/// A test case as `DescribeTestCases` returns it.
fn test_case(
    report: &str,
    suite: &str,
    name: &str,
    status: &str,
    message: &str,
) -> serde_json::Value {
    json!({
        "reportArn": report, "testRawDataPath": "reports/junit.xml", "prefix": suite,
        "name": name, "status": status, "durationInNanoSeconds": 1_000_000,
        "message": message, "testSuiteName": suite,
    })
}

#[tokio::test]
async fn failed_tests_come_from_the_builds_test_reports() {
    let moto = support::moto_endpoint();
    let server = TestServer::start(Some(moto.clone())).await;
    let account = unique_account();
    let region = "eu-west-1";
    let build_id = "web-tests:5e6f7a8b-1111-4222-8333-444455556666";
    let report = format!(
        "arn:aws:codebuild:{region}:{account}:report/web-jest:{}",
        "5e6f7a8b"
    );
    let coverage = format!(
        "arn:aws:codebuild:{region}:{account}:report/web-cov:{}",
        "5e6f7a8b"
    );
    // A 2,000-test report: 14 FAILED (the Cart one among them) and 1 ERROR; 1,985 passed.
    let mut cases = Vec::new();
    for i in 0..2_000 {
        let (status, name, message) = match i {
            700 => (
                "FAILED",
                "renders <CartTotal> for 2 items & a coupon".to_owned(),
                "Error: expect(received).toBe(expected)\n\nExpected: \"¥1,980\"\nReceived: \"¥2,200\"\n    at Object.<anonymous> (src/Cart.test.tsx:42:7)".to_owned(),
            ),
            1_500 => ("ERROR", "checkout flow".to_owned(), "Timeout - Async callback was not invoked".to_owned()),
            i if i % 150 == 1 && i < 1_950 => ("FAILED", format!("widget {i} renders"), format!("expected {i}")),
            _ => ("SUCCEEDED", format!("widget {i} renders"), String::new()),
        };
        let suite = if i == 700 { "Cart" } else { "Widgets" };
        cases.push(test_case(&report, suite, &name, status, &message));
    }
    let failing = cases.iter().filter(|c| c["status"] != "SUCCEEDED").count();
    assert_eq!(failing, 15);
    server.add_report(&report, cases);
    server.data().reports.insert(
        coverage.clone(),
        json!({"arn": coverage, "type": "CODE_COVERAGE", "status": "SUCCEEDED",
               "codeCoverageSummary": {"lineCoveragePercentage": 81.5}}),
    );
    let mut build = failed_build(
        build_id,
        &account,
        region,
        "BUILD",
        (
            "COMMAND_EXECUTION_ERROR",
            "Error while executing command: npm test. Reason: exit status 1",
        ),
        "/aws/codebuild/web-tests",
        "5e6f7a8b-1111-4222-8333-444455556666",
    );
    build["reportArns"] = json!([report, coverage]);
    server.add_build(build);

    let e = enricher(config(&[("codebuild", &server.url)])).await;
    let (thread, mut note) = build_thread(&account, region, build_id);
    let learned = e
        .enrich("cb#tests", &thread, &mut note, None)
        .await
        .expect("learned");
    let a = &note.failure.as_ref().expect("failure").actions[0];
    assert_eq!((a.tests_failed, a.tests_total), (Some(15), Some(2_000)));
    assert_eq!(a.tests.len(), 15, "{:#?}", a.tests);
    // In the report's order, FAILED before ERROR.
    assert_eq!(a.tests[0].name, "widget 1 renders");
    let cart = a
        .tests
        .iter()
        .find(|t| t.suite.as_deref() == Some("Cart"))
        .expect("the Cart test");
    assert_eq!(cart.name, "renders <CartTotal> for 2 items & a coupon");
    assert_eq!(cart.status, "FAILED");
    assert_eq!(cart.file.as_deref(), Some("reports/junit.xml"));
    // The message's first three non-blank lines.
    assert_eq!(
        cart.message.as_deref(),
        Some("Error: expect(received).toBe(expected)\nExpected: \"¥1,980\"\nReceived: \"¥2,200\"")
    );
    assert_eq!(a.tests.last().map(|t| t.status.as_str()), Some("ERROR"));
    // One BatchGetReports; DescribeTestCases in pages of 7 (the server's), FAILED then ERROR,
    // only for the test report, in the event's account and region.
    assert_eq!(server.seen_op("BatchGetReports").len(), 1);
    let pages = server.seen_op("DescribeTestCases");
    let filters: Vec<&str> = pages
        .iter()
        .map(|p| p.body["filter"]["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(filters, ["FAILED", "FAILED", "ERROR"], "{pages:#?}");
    assert!(pages.iter().all(|p| p.body["reportArn"] == json!(report)));
    assert_eq!(pages[1].body["nextToken"], json!("n7"));
    assert!(server
        .seen()
        .iter()
        .all(|s| s.region == region && s.access_key != "testing"));
    // Stored, the reports are not read again.
    let stored = learned.builds.get(build_id).expect("stored");
    assert!(stored.reports_done && stored.tests.len() == 15);
    let (_, mut again) = build_thread(&account, region, build_id);
    e.enrich("cb#tests", &thread, &mut again, Some(&learned))
        .await;
    assert_eq!(server.seen_op("DescribeTestCases").len(), 3);
    assert_eq!(again.failure, note.failure);
    // Routable: a rule can match a failed test by name.
    for (rule, matches) in [
        (r#"failure.actions.tests.name~"CartTotal""#, true),
        ("failure.actions.tests_failed:15", true),
        ("failure.actions.tests_failed:0", false),
    ] {
        let e = herald::route::expr::Expr::parse(rule).expect("parse");
        assert_eq!(e.matches(&note.to_value()), matches, "{rule}");
    }
}

#[tokio::test]
async fn failed_targets_of_every_kind_are_listed_in_pages_and_read_in_chunks_of_25() {
    let moto = support::moto_endpoint();
    let server = TestServer::start(Some(moto)).await;
    let account = unique_account();
    let region = "ap-southeast-2";
    let ec2 = "d-EC2FAIL01";
    let mut targets = Vec::new();
    for i in 0..40 {
        targets.push(deployment_target(
            "instance",
            ec2,
            &format!("i-{i:04}"),
            "Failed",
            vec![
                lifecycle("ApplicationStop", "Succeeded", None),
                lifecycle("DownloadBundle", "Succeeded", None),
                lifecycle(
                    "AfterInstall",
                    "Failed",
                    Some((
                        "ScriptFailed",
                        "scripts/migrate.sh",
                        "Script at specified location: scripts/migrate.sh run as user root failed with exit code 3",
                        "[stdout]Running migrations\n[stderr]psql: error: connection refused\n",
                    )),
                ),
                lifecycle("ApplicationStart", "Skipped", None),
            ],
        ));
    }
    for i in 0..7 {
        targets.push(deployment_target(
            "instance",
            ec2,
            &format!("i-ok{i}"),
            "Succeeded",
            vec![lifecycle("AfterInstall", "Succeeded", None)],
        ));
    }
    server.add_deployment(
        failed_deployment(
            ec2,
            "web",
            "prod",
            "HEALTH_CONSTRAINTS",
            "The overall deployment failed because too many individual instances failed deployment",
        ),
        targets,
    );
    let ecs = "d-ECSFAIL01";
    server.add_deployment(
        failed_deployment(
            ecs,
            "svc",
            "prod",
            "ECS_UPDATE_ERROR",
            "The ECS service failed to stabilize",
        ),
        vec![deployment_target(
            "ecs",
            ecs,
            "cluster:svc",
            "Failed",
            vec![
                lifecycle("BeforeInstall", "Succeeded", None),
                lifecycle(
                    "AfterAllowTestTraffic",
                    "Failed",
                    Some((
                        "ScriptFailed",
                        "arn:aws:lambda:ap-southeast-2:1:function:smoke",
                        "Smoke test returned 502",
                        "",
                    )),
                ),
            ],
        )],
    );
    let lambda = "d-LAMFAIL01";
    server.add_deployment(
        failed_deployment(
            lambda,
            "fn",
            "live",
            "HOOK_EXECUTION_FAILURE",
            "BeforeAllowTraffic hook failed",
        ),
        vec![deployment_target(
            "lambda",
            lambda,
            "orders-fn",
            "Failed",
            vec![lifecycle(
                "BeforeAllowTraffic",
                "Failed",
                Some((
                    "ScriptFailed",
                    "validate-orders",
                    "The hook returned Failed",
                    "validation: 3 of 10 checks failed",
                )),
            )],
        )],
    );
    let cfn = "d-CFNFAIL01";
    server.add_deployment(
        failed_deployment(
            cfn,
            "stack",
            "bg",
            "DEPLOYMENT_GROUP_MISSING",
            "Blue/green traffic shift failed",
        ),
        vec![deployment_target(
            "cloudformation",
            cfn,
            "arn:aws:cloudformation:ap-southeast-2:1:stack/app/1",
            "Failed",
            vec![
                lifecycle("Install", "Succeeded", None),
                lifecycle(
                    "AllowTraffic",
                    "Failed",
                    Some(("UnknownError", "", "Traffic shift timed out", "")),
                ),
            ],
        )],
    );

    let e = enricher(EnrichConfig {
        max_failed_targets: 40,
        ..config(&[("codedeploy", &server.url)])
    })
    .await;
    let (thread, mut note) = deployment_thread(&account, region, ec2);
    e.enrich("cd#ec2", &thread, &mut note, None)
        .await
        .expect("learned");
    let f = note.failure.as_ref().expect("failure");
    assert!(f
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("too many individual instances")));
    assert_eq!(
        f.actions.len(),
        40,
        "every failed target, none of the healthy ones"
    );
    let a = &f.actions[0];
    assert_eq!(
        a.reason.as_deref(),
        Some("i-0000: AfterInstall failed — ScriptFailed in scripts/migrate.sh: Script at specified location: scripts/migrate.sh run as user root failed with exit code 3")
    );
    assert_eq!(
        a.log_tail,
        [
            "[stdout]Running migrations",
            "[stderr]psql: error: connection refused"
        ]
    );
    assert!(a.url.as_deref().is_some_and(|u| u.starts_with("https://ap-southeast-2.console.aws.amazon.com/codesuite/codedeploy/deployments/d-EC2FAIL01")));
    // 40 failed targets at 10 a page, then 25 + 15.
    let lists = server.seen_op("ListDeploymentTargets");
    assert_eq!(lists.len(), 4);
    assert!(lists
        .iter()
        .all(|s| s.body["targetFilters"]["TargetStatus"] == json!(["Failed"])));
    let mut chunks: Vec<usize> = server
        .seen_op("BatchGetDeploymentTargets")
        .iter()
        .map(|s| s.body["targetIds"].as_array().map_or(0, Vec::len))
        .collect();
    chunks.sort();
    assert_eq!(chunks, [15, 25]);

    for (id, want) in [
        (ecs, "cluster:svc: AfterAllowTestTraffic failed — ScriptFailed in arn:aws:lambda:ap-southeast-2:1:function:smoke: Smoke test returned 502"),
        (lambda, "orders-fn: BeforeAllowTraffic failed — ScriptFailed in validate-orders: The hook returned Failed"),
        (cfn, "arn:aws:cloudformation:ap-southeast-2:1:stack/app/1: AllowTraffic failed — UnknownError: Traffic shift timed out"),
    ] {
        let (thread, mut note) = deployment_thread(&account, region, id);
        e.enrich("cd#x", &thread, &mut note, None).await.expect("learned");
        let f = note.failure.as_ref().expect("failure");
        assert_eq!(f.actions.len(), 1, "{id}");
        assert_eq!(f.actions[0].reason.as_deref(), Some(want), "{id}");
    }
    let (thread, mut note) = deployment_thread(&account, region, lambda);
    e.enrich("cd#l", &thread, &mut note, None).await;
    assert_eq!(
        note.failure.as_ref().expect("failure").actions[0].log_tail,
        ["validation: 3 of 10 checks failed"]
    );
    assert_eq!(
        e.stats()
            .count(Api::BatchGetDeploymentTargets, Outcome::Error),
        0
    );
}

#[tokio::test]
async fn the_test_server_enforces_the_25_target_limit_with_its_documented_error() {
    let server = TestServer::start(None).await;
    let id = "d-LIMIT0001";
    let targets = (0..30)
        .map(|i| deployment_target("instance", id, &format!("i-{i}"), "Failed", Vec::new()))
        .collect();
    server.add_deployment(failed_deployment(id, "a", "g", "X", "y"), targets);
    let base = support::sdk_config(&server.url).await;
    let cd = aws_sdk_codedeploy::Client::new(&base);
    let err = cd
        .batch_get_deployment_targets()
        .deployment_id(id)
        .set_target_ids(Some((0..26).map(|i| format!("i-{i}")).collect()))
        .send()
        .await
        .expect_err("26 ids are refused");
    assert!(matches!(
        err.into_service_error(),
        aws_sdk_codedeploy::operation::batch_get_deployment_targets::BatchGetDeploymentTargetsError::DeploymentTargetListSizeExceededException(_)
    ));
    let page = cd
        .list_deployment_targets()
        .deployment_id(id)
        .next_token("garbage")
        .send()
        .await
        .expect_err("a bad token is refused");
    assert!(page.into_service_error().is_invalid_next_token_exception());
}

#[tokio::test]
async fn a_hanging_api_does_not_hold_delivery_past_the_deadline() {
    let moto = support::moto_endpoint();
    let server = TestServer::start(Some(moto)).await;
    server.hang("BatchGetBuilds");
    server.hang("GetLogEvents");
    server.hang("GetDeployment");
    server.hang("ListDeploymentTargets");
    let account = unique_account();
    let e = enricher(EnrichConfig {
        deadline_ms: 700,
        call_timeout_ms: 10_000,
        ..config(&[
            ("codebuild", &server.url),
            ("logs", &server.url),
            ("codedeploy", &server.url),
        ])
    })
    .await;
    let (thread, mut note) = build_thread(&account, "us-west-2", "app:11111111-2222");
    let before = note.clone();
    let t = Instant::now();
    let learned = e.enrich("cb#hang", &thread, &mut note, None).await;
    let took = t.elapsed();
    assert!(took < Duration::from_millis(700 + 600), "took {took:?}");
    assert!(
        took >= Duration::from_millis(600),
        "gave up early: {took:?}"
    );
    assert_eq!(
        note.failure, before.failure,
        "a thinner message, never a lost one"
    );
    assert!(learned.is_none_or(|l| l.builds.values().all(|b| !b.fetched && !b.tail_done)));
    let s = e.stats();
    assert_eq!(s.count(Api::BatchGetBuilds, Outcome::Timeout), 1);
    assert_eq!(s.count(Api::GetLogEvents, Outcome::Timeout), 1);

    let (thread, mut note) = deployment_thread(&account, "us-west-2", "d-HANG00001");
    let t = Instant::now();
    e.enrich("cd#hang", &thread, &mut note, None).await;
    assert!(
        t.elapsed() < Duration::from_millis(700 + 600),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(s.count(Api::GetDeployment, Outcome::Timeout), 1);
    assert_eq!(s.count(Api::ListDeploymentTargets, Outcome::Timeout), 1);
}
