//! Representative notifications, shared by the sink tests and the golden render tests: a build
//! failure (40-line log tail, Japanese commit message), a success, an approval wait, an ECS
//! rollback and an alarm.

use chrono::{DateTime, Utc};
use herald::notification::{
    status, ApprovalInfo, Commit, FailedActionInfo, FailedTest, Failure, Kind, Link, Notification,
    StageInfo,
};

pub const JAPANESE_COMMIT: &str = "修正: ビルドを直す 🚀";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("a valid time")
}

fn stage(name: &str, status: &str) -> StageInfo {
    StageInfo {
        name: name.into(),
        status: status.into(),
    }
}

fn empty(kind: Kind, status: &str, is_final: bool, title: &str) -> Notification {
    Notification {
        stalled: false,
        stalled_since: None,
        stalled_for_secs: None,
        reminder: None,
        principal: None,
        invoked_by: None,
        desired_count: None,
        crashes: None,
        last_crash: None,
        health: None,
        verdict: None,
        alarms: Vec::new(),
        deployment: None,
        aws_health: Vec::new(),
        held: None,
        actions: vec![],
        acted: vec![],
        muted: None,
        kind,
        status: status.into(),
        is_final,
        account: "111122223333".into(),
        account_alias: Some("prod".into()),
        region: "eu-west-1".into(),
        pipeline: None,
        execution_id: None,
        project: None,
        build_id: None,
        application: None,
        deployment_group: None,
        deployment_id: None,
        cluster: None,
        service: None,
        alarm_name: None,
        title: title.into(),
        started_at: None,
        finished_at: None,
        duration_secs: None,
        trigger: None,
        commit: None,
        stages: vec![],
        failure: None,
        approval: None,
        warnings: vec![],
        links: vec![],
    }
}

/// The failed cases of a 2,000-test report, as enrichment keeps them: 14 FAILED (the Cart one
/// among them, with a message in Japanese yen), then 1 ERROR.
pub fn report_tests() -> Vec<FailedTest> {
    let mut tests: Vec<FailedTest> = [1, 151, 301, 451, 601]
        .iter()
        .map(|i| FailedTest {
            name: format!("Widget{i:04} renders its label"),
            suite: Some("Widgets".into()),
            file: Some("reports/junit.xml".into()),
            status: "FAILED".into(),
            message: Some(format!(
                "Error: expect(received).toBe(expected)\nExpected: \"Widget {i}\""
            )),
        })
        .collect();
    tests.insert(
        2,
        FailedTest {
            name: "renders <CartTotal> for 2 items & a coupon".into(),
            suite: Some("Cart".into()),
            file: Some("reports/junit.xml".into()),
            status: "FAILED".into(),
            message: Some(
                "Error: expect(received).toBe(expected) // Object.is equality\nExpected: \"¥1,980\"\nReceived: \"¥2,200\"".into(),
            ),
        },
    );
    for i in [751, 901, 1051, 1201, 1351, 1501, 1651, 1801] {
        tests.push(FailedTest {
            name: format!("Widget{i:04} renders its label"),
            suite: Some("Widgets".into()),
            file: Some("reports/junit.xml".into()),
            status: "FAILED".into(),
            message: Some(format!("Expected \"Widget {i}\"")),
        });
    }
    tests.push(FailedTest {
        name: "checkout flow completes".into(),
        suite: Some("Checkout".into()),
        file: Some("reports/junit.xml".into()),
        status: "ERROR".into(),
        message: Some("Timeout - Async callback was not invoked within 5000 ms".into()),
    });
    tests
}

pub fn build_failure() -> Notification {
    let mut n = empty(
        Kind::Pipeline,
        status::FAILED,
        true,
        "web-app #b1c2d3e4 failed",
    );
    n.pipeline = Some("web-app".into());
    n.execution_id = Some("b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d".into());
    n.started_at = Some(at("2024-03-03T10:10:05Z"));
    n.finished_at = Some(at("2024-03-03T10:15:17Z"));
    n.duration_secs = Some(312);
    n.trigger = Some("Webhook: GitHub push to main".into());
    n.commit = Some(Commit {
        id: Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
        message: Some(format!("{JAPANESE_COMMIT}\n\nカートの合計金額の計算を修正")),
        author: Some("山田 太郎".into()),
        author_email: Some("taro.yamada@example.com".into()),
        url: Some(
            "https://github.com/example/web-app/commit/9fceb02d0ae598e95dc970b74767f19372d61af8"
                .into(),
        ),
        provider: Some("GitHub".into()),
        branch: Some("main".into()),
        repository: None,
    });
    n.stages = vec![
        stage("Source", status::SUCCEEDED),
        stage("Build", status::FAILED),
        stage("Deploy", status::CANCELED),
    ];
    // What enrichment makes of the build's log (a jest run whose one failure is 1,494 lines
    // above the end of a 2,298-line log): the region of its first error.
    let raw = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs/npm-jest.log"),
    )
    .expect("tests/fixtures/logs/npm-jest.log");
    let chunks: Vec<&str> = raw.lines().collect();
    let limits = herald::enrich::TailLimits {
        lines: 40,
        line_chars: 300,
        total_chars: 3_000,
    };
    let (log_tail, log_region) = herald::enrich::excerpt::excerpt(&chunks, &limits);
    n.failure = Some(Failure {
        stage: Some("Build".into()),
        reason: None,
        actions: vec![FailedActionInfo {
            action: "Build".into(),
            provider: Some("CodeBuild".into()),
            reason: Some("Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, Message: Error while executing command: npm test. Reason: exit status 1".into()),
            error_code: Some("JobFailed".into()),
            external_id: Some("web-app-build:0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a".into()),
            url: Some("https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/111122223333/projects/web-app-build/build/web-app-build%3A0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a".into()),
            log_url: Some("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Faws$252Fcodebuild$252Fweb-app-build/log-events/0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a".into()),
            log_tail,
            log_region,
            tests: report_tests(),
            tests_failed: Some(15),
            tests_total: Some(2_000),
        }],
    });
    n.links = vec![Link {
        label: "Execution".into(),
        url: "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/web-app/executions/b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d/timeline".into(),
    }];
    n
}

pub fn success() -> Notification {
    let mut n = empty(
        Kind::Pipeline,
        status::SUCCEEDED,
        true,
        "web-app #7a8b9c0d succeeded",
    );
    n.pipeline = Some("web-app".into());
    n.execution_id = Some("7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d".into());
    n.started_at = Some(at("2024-03-03T11:00:00Z"));
    n.finished_at = Some(at("2024-03-03T11:12:34Z"));
    n.duration_secs = Some(754);
    n.trigger = Some("Webhook: GitHub push to main".into());
    n.commit = Some(Commit {
        id: Some("3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f".into()),
        message: Some("Fix cart total rounding (#412)".into()),
        author: Some("Jane Doe".into()),
        author_email: Some("jane@example.com".into()),
        url: Some(
            "https://github.com/example/web-app/commit/3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"
                .into(),
        ),
        provider: Some("GitHub".into()),
        branch: Some("main".into()),
        repository: None,
    });
    n.stages = vec![
        stage("Source", status::SUCCEEDED),
        stage("Build", status::SUCCEEDED),
        stage("Deploy", status::SUCCEEDED),
    ];
    n.links = vec![Link {
        label: "Execution".into(),
        url: "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/web-app/executions/7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d/timeline".into(),
    }];
    n
}

pub fn approval_waiting() -> Notification {
    let mut n = empty(
        Kind::Pipeline,
        status::WAITING_FOR_APPROVAL,
        false,
        "web-app #c0ffee12 waiting for approval",
    );
    n.pipeline = Some("web-app".into());
    n.execution_id = Some("c0ffee12-3456-4789-abcd-ef0123456789".into());
    n.started_at = Some(at("2024-03-03T12:00:00Z"));
    n.stages = vec![
        stage("Source", status::SUCCEEDED),
        stage("Build", status::SUCCEEDED),
        stage("Approve", status::WAITING_FOR_APPROVAL),
        stage("Deploy", status::STARTED),
    ];
    n.approval = Some(ApprovalInfo {
        stage: "Approve".into(),
        action: "ProductionGate".into(),
        review_link: Some("https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/web-app/view?stage=Approve&action=ProductionGate".into()),
        expires: Some(at("2024-03-10T12:00:00Z")),
        custom_data: Some("Release 1.4.2 to production? Changelog below.".into()),
        external_link: Some("https://github.com/example/web-app/releases/tag/v1.4.2".into()),
        token: Some("c0ffee00-aaaa-4bbb-8ccc-0123456789ab".into()),
    });
    n
}

pub fn ecs_rolled_back() -> Notification {
    let mut n = empty(
        Kind::EcsDeployment,
        status::ROLLED_BACK,
        true,
        "api on prod-cluster rolled back",
    );
    n.cluster = Some("prod-cluster".into());
    n.service = Some("api".into());
    n.deployment_id = Some("ecs-svc/1234567890123456789".into());
    n.started_at = Some(at("2024-03-03T13:00:00Z"));
    n.finished_at = Some(at("2024-03-03T13:09:41Z"));
    n.duration_secs = Some(581);
    n.failure = Some(Failure {
        stage: None,
        reason: Some("ECS deployment circuit breaker: tasks failed to start. Rolling back to task definition api:41.".into()),
        actions: vec![],
    });
    n.warnings = vec![
        "(service api) has started 3 tasks: task 3f2a, task 8c1d, task 77e0. Essential container in task exited (exit code 1: Error: connect ECONNREFUSED 10.0.3.17:5432)".into(),
        "(service api) is unable to consistently start tasks successfully.".into(),
    ];
    n.links = vec![Link {
        label: "Service".into(),
        url: "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod-cluster/services/api/deployments".into(),
    }];
    n
}

/// An approval still waiting a day before it expires: reminded of.
pub fn approval_reminded() -> Notification {
    let mut n = approval_waiting();
    n.reminder = Some(herald::notification::Reminder {
        kind: "expiring".into(),
        waiting_secs: Some(6 * 86_400),
        expires: n.approval.as_ref().and_then(|a| a.expires),
        due: 1_709_985_600,
    });
    n
}

/// An ECS deployment that heard nothing for its stall timeout (`[ecs] deployment_stall_secs`).
pub fn ecs_stalled() -> Notification {
    let mut n = empty(
        Kind::EcsDeployment,
        status::IN_PROGRESS,
        false,
        "prod-cluster/gateway deployment",
    );
    n.cluster = Some("prod-cluster".into());
    n.service = Some("gateway".into());
    n.deployment_id = Some("ecs-svc/9876543210987654321".into());
    n.started_at = Some(at("2024-03-04T09:00:00Z"));
    n.stalled = true;
    n.stalled_since = Some(at("2024-03-04T09:02:10Z"));
    n.stalled_for_secs = Some(1800);
    n
}

pub fn alarm() -> Notification {
    let mut n = empty(
        Kind::Alarm,
        status::ALARM,
        false,
        "api-5xx-high is in ALARM",
    );
    n.account_alias = None;
    n.region = "us-east-1".into();
    n.alarm_name = Some("api-5xx-high".into());
    n.started_at = Some(at("2024-03-03T14:15:00Z"));
    n.failure = Some(Failure {
        stage: None,
        reason: Some("Threshold Crossed: 1 out of the last 1 datapoints [12.0 (03/03/24 14:14:00)] was greater than the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition).".into()),
        actions: vec![],
    });
    n.links = vec![Link {
        label: "Alarm".into(),
        url: "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/api-5xx-high".into(),
    }];
    n
}

/// An ECS deployment that succeeded, and an alarm on its service fired 3 minutes after: its
/// verdict is UNHEALTHY (`[verdicts]`); another alarm fired and cleared while it ran.
pub fn ecs_unhealthy() -> Notification {
    let mut n = empty(
        Kind::EcsDeployment,
        status::SUCCEEDED,
        true,
        "prod-cluster/gateway deployment",
    );
    n.cluster = Some("prod-cluster".into());
    n.service = Some("gateway".into());
    n.deployment_id = Some("ecs-svc/5555555555555555555".into());
    n.started_at = Some(at("2024-03-05T10:00:00Z"));
    n.finished_at = Some(at("2024-03-05T10:06:40Z"));
    n.duration_secs = Some(400);
    n.principal = Some("bob-ops".into());
    n.trigger = Some("UpdateService by bob-ops (gateway:88)".into());
    n.alarms = vec![
        herald::notification::DeployAlarm {
            name: "gateway-latency".into(),
            phase: "during".into(),
            fired_at: Some(at("2024-03-05T10:02:00Z")),
            cleared_at: Some(at("2024-03-05T10:04:00Z")),
            after_secs: None,
        },
        herald::notification::DeployAlarm {
            name: "gateway-5xx".into(),
            phase: "after".into(),
            fired_at: Some(at("2024-03-05T10:09:40Z")),
            cleared_at: None,
            after_secs: Some(180),
        },
    ];
    n.verdict = Some(herald::notification::Verdict {
        status: "UNHEALTHY".into(),
        alarms: vec!["gateway-5xx".into()],
        after_secs: Some(180),
        watched_secs: None,
        aws_health: Vec::new(),
        until: None,
    });
    n
}

/// An alarm on a service that fired 3 minutes after its deployment ended: it names it.
pub fn alarm_after_deploy() -> Notification {
    let mut n = alarm();
    n.title = "gateway-5xx".into();
    n.alarm_name = Some("gateway-5xx".into());
    n.deployment = Some(herald::notification::DeploymentRef {
        kind: "ecs_deployment".into(),
        target: "prod-cluster/gateway".into(),
        deployment_id: "ecs-svc/5555555555555555555".into(),
        status: "SUCCEEDED".into(),
        by: Some("bob-ops".into()),
        started_at: Some(at("2024-03-05T10:00:00Z")),
        finished_at: Some(at("2024-03-05T10:06:40Z")),
        after_secs: Some(180),
        during: false,
    });
    n
}

/// Every sample with its name (the golden files' stem) and the thread it belongs to.
pub fn all() -> Vec<(&'static str, &'static str, Notification)> {
    vec![
        (
            "build-failure",
            "pl#111122223333#eu-west-1#web-app#b1c2d3e4-5f60-4a7b-8c9d-0e1f2a3b4c5d",
            build_failure(),
        ),
        (
            "success",
            "pl#111122223333#eu-west-1#web-app#7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d",
            success(),
        ),
        (
            "approval-waiting",
            "pl#111122223333#eu-west-1#web-app#c0ffee12-3456-4789-abcd-ef0123456789",
            approval_waiting(),
        ),
        (
            "ecs-rolled-back",
            "ecs#111122223333#eu-west-1#prod-cluster#api#ecs-svc/1234567890123456789",
            ecs_rolled_back(),
        ),
        (
            "alarm",
            "alarm#111122223333#us-east-1#api-5xx-high#1",
            alarm(),
        ),
        (
            "approval-reminded",
            "pl#111122223333#eu-west-1#web-app#c0ffee12-3456-4789-abcd-ef0123456789",
            approval_reminded(),
        ),
        (
            "ecs-stalled",
            "ecs#111122223333#eu-west-1#prod-cluster#gateway#ecs-svc/9876543210987654321",
            ecs_stalled(),
        ),
        (
            "ecs-unhealthy",
            "ecs#111122223333#eu-west-1#prod-cluster#gateway#ecs-svc/5555555555555555555",
            ecs_unhealthy(),
        ),
        (
            "alarm-after-deploy",
            "al#111122223333#us-east-1#gateway-5xx#1",
            alarm_after_deploy(),
        ),
    ]
}
