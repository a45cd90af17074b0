//! The synthetic organization stream of issue 19 (see README, "Footprint"): N pipeline
//! executions as raw EventBridge events. Per execution the pipeline, stage and action events of
//! a Source and a Build stage (the V2 shapes of the corpus), the CodeBuild build's state and
//! phase events (with the `additional-information` AWS sends: environment, logs, the phases so
//! far), 1 in 8 failing in Build; ECS task and CloudWatch alarm events as noise; about 22 events
//! per execution. Executions start 30 s apart and overlap; events are in event-time order, then
//! shuffled within 40-event windows, and 2 % are sent twice. Deterministic: the same N gives
//! the same lines.
#![allow(dead_code)]

use serde_json::{json, Value};

const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-southeast-2"];

/// splitmix64: a small deterministic generator, enough to shuffle and pick.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn rfc3339(secs: u64, millis: bool) -> String {
    let format = if millis {
        chrono::SecondsFormat::Millis
    } else {
        chrono::SecondsFormat::Secs
    };
    chrono::DateTime::from_timestamp(1_760_000_000 + secs as i64, 0)
        .map(|t| t.to_rfc3339_opts(format, true))
        .unwrap_or_default()
}

/// CodeBuild's own time format in `additional-information`.
fn cb_time(secs: u64) -> String {
    chrono::DateTime::from_timestamp(1_760_000_000 + secs as i64, 0)
        .map(|t| t.format("%b %-d, %Y %-I:%M:%S %p").to_string())
        .unwrap_or_default()
}

struct Ev {
    at: u64,
    line: String,
}

#[allow(clippy::too_many_arguments)]
fn envelope(
    id: String,
    detail_type: &str,
    source: &str,
    account: &str,
    region: &str,
    at: u64,
    resources: Vec<String>,
    detail: Value,
) -> Ev {
    let line = json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": rfc3339(at, false),
        "region": region,
        "resources": resources,
        "detail": detail,
    })
    .to_string();
    Ev { at, line }
}

const PHASES: [&str; 9] = [
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
];

/// Execution `i`: (account, region, pipeline, execution id, whether it fails).
fn ids(i: u64) -> (String, &'static str, String, String, bool) {
    (
        format!("{:012}", 200_000_000_000u64 + (i % 150)),
        REGIONS[(i % 3) as usize],
        format!("service-{}-{}", i % 150, (i / 150) % 4),
        format!(
            "{:08x}-0000-4000-8000-{:012x}",
            i * 2654435761 % (1 << 32),
            i
        ),
        i % 8 == 5,
    )
}

/// Each execution's thread key and final status, as Herald should tell them.
pub fn expected(n: u64) -> Vec<(String, &'static str)> {
    (0..n)
        .map(|i| {
            let (account, region, pipeline, execution_id, failed) = ids(i);
            (
                format!("ex#{account}#{region}#{pipeline}#{execution_id}"),
                if failed { "FAILED" } else { "SUCCEEDED" },
            )
        })
        .collect()
}

fn execution(i: u64, rng: &mut Rng, out: &mut Vec<Ev>) {
    let (account, region, pipeline, execution_id, failed) = ids(i);
    let base = i * 30;
    let arn = format!("arn:aws:codepipeline:{region}:{account}:{pipeline}");
    let mut k = 0u64;
    let mut push = |out: &mut Vec<Ev>, dt: &str, src: &str, at: u64, res: Vec<String>, d: Value| {
        k += 1;
        let id = format!("{:08x}-{:04x}-4{:03x}-8000-{:012x}", i, k, k, i * 31 + k);
        out.push(envelope(id, dt, src, &account, region, base + at, res, d));
    };
    let p = |extra: Value| {
        let mut d = json!({"pipeline": pipeline, "execution-id": execution_id,
            "start-time": rfc3339(base, true), "version": 7.0, "pipeline-execution-attempt": 1.0});
        if let (Some(o), Some(e)) = (d.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                o.insert(k.clone(), v.clone());
            }
        }
        d
    };
    const PE: &str = "CodePipeline Pipeline Execution State Change";
    const SE: &str = "CodePipeline Stage Execution State Change";
    const AE: &str = "CodePipeline Action Execution State Change";
    const CP: &str = "aws.codepipeline";
    let r = || vec![arn.clone()];
    let source = json!({"owner": "AWS", "provider": "CodeStarSourceConnection", "category": "Source", "version": "1"});
    let build =
        json!({"owner": "AWS", "provider": "CodeBuild", "category": "Build", "version": "1"});
    let action_id = |n: u64| format!("{:08x}-a902-44b2-ae61-{:012x}", i, n);
    let bucket = format!("codepipeline-{region}-{account}");
    let artifact = |name: &str| json!([{"name": name, "s3location": {"bucket": bucket, "key": format!("{pipeline}/{name}/{i:x}")}}]);
    let commit = format!("{:040x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    push(
        out,
        PE,
        CP,
        0,
        r(),
        p(
            json!({"state": "STARTED", "execution-trigger": {"trigger-type": "Webhook", "trigger-detail": format!("arn:aws:codeconnections:{region}:{account}:connection/{i:x}")}}),
        ),
    );
    push(
        out,
        SE,
        CP,
        1,
        r(),
        p(json!({"stage": "Source", "state": "STARTED"})),
    );
    push(
        out,
        AE,
        CP,
        1,
        r(),
        p(
            json!({"stage": "Source", "action": "Source", "state": "STARTED", "type": source,
        "region": region, "action-execution-id": action_id(1)}),
        ),
    );
    push(
        out,
        AE,
        CP,
        4,
        r(),
        p(
            json!({"stage": "Source", "action": "Source", "state": "SUCCEEDED", "type": source,
        "region": region, "action-execution-id": action_id(1), "output-artifacts": artifact("SourceArtifact"),
        "execution-result": {"external-execution-id": commit,
            "external-execution-url": format!("https://github.com/example-org/{pipeline}/commit/{commit}"),
            "external-execution-summary": format!("{{\"ProviderType\":\"GitHub\",\"CommitMessage\":\"change {i}\"}}")}}),
        ),
    );
    push(
        out,
        SE,
        CP,
        4,
        r(),
        p(json!({"stage": "Source", "state": "SUCCEEDED"})),
    );
    push(
        out,
        SE,
        CP,
        5,
        r(),
        p(json!({"stage": "Build", "state": "STARTED"})),
    );
    push(
        out,
        AE,
        CP,
        5,
        r(),
        p(
            json!({"stage": "Build", "action": "Build", "state": "STARTED", "type": build,
        "region": region, "action-execution-id": action_id(2), "input-artifacts": artifact("SourceArtifact")}),
        ),
    );

    // The CodeBuild build the Build action runs.
    let project = format!("{pipeline}-build");
    let build_uuid = format!("{:08x}-1111-4222-8333-{:012x}", i, i * 7);
    let build_arn = format!("arn:aws:codebuild:{region}:{account}:build/{project}:{build_uuid}");
    let fail_at = if failed { 6 } else { PHASES.len() };
    let mut phases: Vec<Value> = Vec::new();
    let info = |phases: &[Value], complete: bool| {
        json!({
            "cache": {"type": "NO_CACHE"},
            "build-number": (i / 150 + 1) as f64,
            "timeout-in-minutes": 60,
            "build-complete": complete,
            "initiator": format!("codepipeline/{pipeline}"),
            "build-start-time": cb_time(base + 6),
            "source": {"buildspec": "buildspec.yml", "type": "CODEPIPELINE"},
            "source-version": format!("arn:aws:s3:::{bucket}/{pipeline}/SourceArtifact/{i:x}"),
            "artifact": {"location": format!("arn:aws:s3:::{bucket}/{pipeline}/BuildArtifact/{i:x}")},
            "environment": {"image": "aws/codebuild/amazonlinux2-x86_64-standard:5.0", "privileged-mode": false,
                "image-pull-credentials-type": "CODEBUILD", "compute-type": "BUILD_GENERAL1_SMALL",
                "type": "LINUX_CONTAINER", "environment-variables": []},
            "logs": {"group-name": format!("/aws/codebuild/{project}"), "stream-name": build_uuid,
                "deep-link": format!("https://console.aws.amazon.com/cloudwatch/home?region={region}#logEvent:group=/aws/codebuild/{project};stream={build_uuid}")},
            "phases": phases,
            "queued-timeout-in-minutes": 480,
        })
    };
    const CB: &str = "aws.codebuild";
    let cb_res = || vec![build_arn.clone()];
    push(
        out,
        "CodeBuild Build State Change",
        CB,
        6,
        cb_res(),
        json!({
        "build-status": "IN_PROGRESS", "project-name": project, "build-id": build_arn,
        "additional-information": info(&phases, false), "current-phase": "SUBMITTED",
        "current-phase-context": "[]", "version": "1"}),
    );
    let mut t = 6;
    for (n, phase) in PHASES
        .iter()
        .enumerate()
        .take(fail_at + 1)
        .take(PHASES.len())
    {
        let took = 1 + rng.below(if *phase == "BUILD" { 40 } else { 6 });
        let status = if n == fail_at { "FAILED" } else { "SUCCEEDED" };
        let context: Vec<String> = if n == fail_at {
            vec!["COMMAND_EXECUTION_ERROR: Error while executing command: npm test. Reason: exit status 1".into()]
        } else {
            Vec::new()
        };
        phases.push(json!({"phase-context": context, "start-time": cb_time(base + t), "end-time": cb_time(base + t + took),
            "duration-in-seconds": took, "phase-type": phase, "phase-status": status}));
        t += took;
        // Phase events for the phases that tell something: the rest arrive only in `phases`.
        if matches!(
            *phase,
            "QUEUED"
                | "PROVISIONING"
                | "INSTALL"
                | "BUILD"
                | "POST_BUILD"
                | "UPLOAD_ARTIFACTS"
                | "PRE_BUILD"
        ) || n == fail_at
        {
            push(
                out,
                "CodeBuild Build Phase Change",
                CB,
                t,
                cb_res(),
                json!({
                "completed-phase": phase, "project-name": project, "build-id": build_arn,
                "completed-phase-context": format!("{context:?}"),
                // Slimmer than AWS's (which repeats the build's whole `additional-information`):
                // the stream keeps the size of issue 19's, about 740 bytes an event.
                "additional-information": {"build-complete": false, "initiator": format!("codepipeline/{pipeline}"),
                    "build-start-time": cb_time(base + 6)},
                "completed-phase-status": status, "completed-phase-duration-seconds": took,
                "version": "1", "completed-phase-start": cb_time(base + t - took), "completed-phase-end": cb_time(base + t)}),
            );
        }
        if n == fail_at {
            break;
        }
    }
    let end = if failed { "FAILED" } else { "SUCCEEDED" };
    push(
        out,
        "CodeBuild Build State Change",
        CB,
        t + 1,
        cb_res(),
        json!({
        "build-status": end, "project-name": project, "build-id": build_arn,
        "additional-information": info(&phases, true), "current-phase": "COMPLETED",
        "current-phase-context": "[]", "version": "1"}),
    );
    let t = t + 2;
    push(
        out,
        AE,
        CP,
        t,
        r(),
        p(
            json!({"stage": "Build", "action": "Build", "state": end, "type": build,
        "region": region, "action-execution-id": action_id(2), "input-artifacts": artifact("SourceArtifact"),
        "output-artifacts": if failed { json!([]) } else { artifact("BuildArtifact") },
        "execution-result": {"external-execution-id": format!("{project}:{build_uuid}"),
            "external-execution-url": format!("https://console.aws.amazon.com/codebuild/home?region={region}#/builds/{project}:{build_uuid}/view/new"),
            "external-execution-summary": format!("Build terminated with state: {end}"),
            "error-code": if failed { "JobFailed" } else { "" }}}),
        ),
    );
    push(
        out,
        SE,
        CP,
        t,
        r(),
        p(json!({"stage": "Build", "state": end})),
    );
    push(out, PE, CP, t + 1, r(), p(json!({"state": end})));

    // Noise: ECS tasks starting and stopping, an alarm changing state.
    let cluster = format!("arn:aws:ecs:{region}:{account}:cluster/prod");
    for n in 0..2u64 {
        let task = format!(
            "arn:aws:ecs:{region}:{account}:task/prod/{:016x}{n:016x}",
            i
        );
        let (last, desired) = if n == 0 {
            ("RUNNING", "RUNNING")
        } else {
            ("DEPROVISIONING", "STOPPED")
        };
        push(
            out,
            "ECS Task State Change",
            "aws.ecs",
            3 + n * 7,
            vec![task.clone()],
            json!({
            "clusterArn": cluster, "taskArn": task, "lastStatus": last, "desiredStatus": desired,
            "group": format!("service:worker-{}", i % 20), "launchType": "FARGATE", "cpu": "256", "memory": "512",
            "containers": [{"name": "app", "lastStatus": last}],
            "taskDefinitionArn": format!("arn:aws:ecs:{region}:{account}:task-definition/worker-{}:{}", i % 20, 1 + i % 9),
            "version": 3 + n, "createdAt": rfc3339(base, true), "updatedAt": rfc3339(base + 3 + n * 7, true),
            "stopCode": if n == 1 { "ServiceSchedulerInitiated" } else { "" }}),
        );
    }
    let alarm = format!("{pipeline}-5xx");
    let state = if i.is_multiple_of(2) { "ALARM" } else { "OK" };
    let previous = if state == "ALARM" { "OK" } else { "ALARM" };
    push(
        out,
        "CloudWatch Alarm State Change",
        "aws.cloudwatch",
        8,
        vec![format!(
            "arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}"
        )],
        json!({
        "alarmName": alarm,
        "state": {"value": state, "reason": "Threshold Crossed: 1 datapoint [12.0 (01/10/25 00:00:00)] was greater than the threshold (5.0).", "timestamp": rfc3339(base + 8, true)},
        "previousState": {"value": previous, "reason": "Threshold Crossed", "timestamp": rfc3339(base, true)},
        "configuration": {"description": "5xx from the load balancer", "metrics": [{"id": "m1", "metricStat": {"metric": {
            "namespace": "AWS/ApplicationELB", "name": "HTTPCode_Target_5XX_Count",
            "dimensions": {"LoadBalancer": format!("app/{pipeline}/{i:x}")}}, "period": 60, "stat": "Sum"}, "returnData": true}]}}),
    );
}

/// The stream's lines, in the order they are sent.
pub fn lines(n: u64) -> Vec<String> {
    let mut rng = Rng(0x5EED_0019);
    let mut all = Vec::new();
    for i in 0..n {
        execution(i, &mut rng, &mut all);
    }
    all.sort_by_key(|e| e.at);
    // 2 % sent twice, the copy a few events later.
    let mut out: Vec<String> = Vec::with_capacity(all.len() + all.len() / 40);
    let mut later: Vec<(usize, String)> = Vec::new();
    for (n, e) in all.into_iter().enumerate() {
        if rng.below(50) == 0 {
            later.push((n + 1 + rng.below(30) as usize, e.line.clone()));
        }
        out.push(e.line);
        let mut k = 0;
        while k < later.len() {
            if later[k].0 <= n {
                out.push(later.swap_remove(k).1);
            } else {
                k += 1;
            }
        }
    }
    out.extend(later.into_iter().map(|(_, d)| d));
    for w in out.chunks_mut(40) {
        for a in (1..w.len()).rev() {
            let b = rng.below(a as u64 + 1) as usize;
            w.swap(a, b);
        }
    }
    out
}
