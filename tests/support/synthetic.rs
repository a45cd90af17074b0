//! A synthetic multi-account stream of raw EventBridge CodePipeline events: each execution
//! starts, runs Source and Build, and ends SUCCEEDED or FAILED (every seventh fails in Build).
//! Each event has the fields AWS sends today (the V2 shapes of the corpus's `*-doc.json`
//! examples): the pipeline ARN in `resources`, `start-time`, `pipeline-execution-attempt`, and
//! on actions `region`, `action-execution-id`, artifacts and the result's console URL.
#![allow(dead_code)]

/// One execution's events in the order AWS sends them, and its expected final status.
pub struct Execution {
    pub account: String,
    pub pipeline: String,
    pub execution_id: String,
    pub failed: bool,
    pub events: Vec<String>,
}

const REGION: &str = "eu-west-1";

fn rfc3339(secs: u64, millis: bool) -> String {
    let format = if millis {
        chrono::SecondsFormat::Millis
    } else {
        chrono::SecondsFormat::Secs
    };
    chrono::DateTime::from_timestamp(1_700_000_000 + secs as i64, 0)
        .map(|t| t.to_rfc3339_opts(format, true))
        .unwrap_or_default()
}

fn ev(
    account: &str,
    pipeline: &str,
    id: &str,
    detail_type: &str,
    secs: u64,
    detail: serde_json::Value,
) -> String {
    serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": "aws.codepipeline",
        "account": account,
        "time": rfc3339(secs, false),
        "region": REGION,
        "resources": [format!("arn:aws:codepipeline:{REGION}:{account}:{pipeline}")],
        "detail": detail,
    })
    .to_string()
}

pub fn executions(n: usize) -> Vec<Execution> {
    (0..n)
        .map(|i| {
            let account = format!("{:012}", 100_000_000_000u64 + (i % 7) as u64);
            let pipeline = format!("service-{}", i % 40);
            let execution_id = format!("00000000-0000-4000-8000-{:012}", i);
            let failed = i % 7 == 3;
            let base = (i as u64) * 3;
            let mut out = Vec::new();
            let mut k = 0;
            let mut push = |dt: &str, secs: u64, detail: serde_json::Value| {
                k += 1;
                out.push(ev(
                    &account,
                    &pipeline,
                    &format!("{execution_id}-{k}"),
                    dt,
                    base + secs,
                    detail,
                ));
            };
            let p = |extra: serde_json::Value| {
                let mut d = serde_json::json!({"pipeline": pipeline, "execution-id": execution_id,
                    "start-time": rfc3339(base, true), "version": 3.0, "pipeline-execution-attempt": 1.0});
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
            let source = serde_json::json!({"owner": "AWS", "provider": "CodeCommit", "category": "Source", "version": "1"});
            let build = serde_json::json!({"owner": "AWS", "provider": "CodeBuild", "category": "Build", "version": "1"});
            push(PE, 0, p(serde_json::json!({"state": "STARTED", "execution-trigger": {"trigger-type": "Webhook"}})));
            push(SE, 1, p(serde_json::json!({"stage": "Source", "state": "STARTED"})));
            let action_id = |n: u64| format!("{:08x}-a902-44b2-ae61-{:012x}", i, n);
            let bucket = format!("codepipeline-{REGION}-{account}");
            let artifact = |name: &str| {
                serde_json::json!([{"name": name, "s3location": {"bucket": bucket, "key": format!("{pipeline}/{name}/{i:x}")}}])
            };
            let commit = format!("{:040x}", i);
            push(AE, 1, p(serde_json::json!({"stage": "Source", "action": "Source", "state": "STARTED", "type": source,
                "region": REGION, "action-execution-id": action_id(1)})));
            push(AE, 5, p(serde_json::json!({"stage": "Source", "action": "Source", "state": "SUCCEEDED", "type": source,
                "region": REGION, "action-execution-id": action_id(1), "output-artifacts": artifact("SourceArtifact"),
                "execution-result": {"external-execution-id": commit,
                    "external-execution-url": format!("https://{REGION}.console.aws.amazon.com/codecommit/home#/repository/{pipeline}/commit/{commit}"),
                    "external-execution-summary": format!("change {i}")}})));
            push(SE, 5, p(serde_json::json!({"stage": "Source", "state": "SUCCEEDED"})));
            push(SE, 6, p(serde_json::json!({"stage": "Build", "state": "STARTED"})));
            push(AE, 6, p(serde_json::json!({"stage": "Build", "action": "Build", "state": "STARTED", "type": build,
                "region": REGION, "action-execution-id": action_id(2), "input-artifacts": artifact("SourceArtifact")})));
            let end = if failed { "FAILED" } else { "SUCCEEDED" };
            push(AE, 60, p(serde_json::json!({"stage": "Build", "action": "Build", "state": end, "type": build,
                "region": REGION, "action-execution-id": action_id(2), "input-artifacts": artifact("SourceArtifact"),
                "output-artifacts": artifact("BuildArtifact"),
                "execution-result": {"external-execution-id": format!("proj:{i}"),
                    "external-execution-url": format!("https://console.aws.amazon.com/codebuild/home?region={REGION}#/builds/proj:{i}/view/new"),
                    "external-execution-summary": format!("Build terminated with state: {end}"), "error-code": if failed { "JobFailed" } else { "" }}})));
            push(SE, 61, p(serde_json::json!({"stage": "Build", "state": end})));
            push(PE, 62, p(serde_json::json!({"state": end})));
            Execution {
                account,
                pipeline,
                execution_id,
                failed,
                events: out,
            }
        })
        .collect()
}

/// All executions' events interleaved as a busy bus delivers them: executions overlap, each
/// one's events stay roughly in order.
pub fn interleaved(execs: &[Execution]) -> Vec<String> {
    let mut tagged: Vec<(u64, usize, usize, &String)> = Vec::new();
    for (i, e) in execs.iter().enumerate() {
        for (j, line) in e.events.iter().enumerate() {
            tagged.push(((i as u64) * 3 + (j as u64) * 7, i, j, line));
        }
    }
    tagged.sort();
    tagged.into_iter().map(|(_, _, _, l)| l.clone()).collect()
}

/// All events in event-time order, as EventBridge delivers them: each execution's events come
/// in bursts (start, stage and action together), executions overlap.
pub fn by_time(execs: &[Execution]) -> Vec<String> {
    let mut all: Vec<(String, usize, String)> = Vec::new();
    for (i, e) in execs.iter().enumerate() {
        for line in &e.events {
            let t = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["time"].as_str().map(str::to_owned))
                .unwrap_or_default();
            all.push((t, i, line.clone()));
        }
    }
    all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    all.into_iter().map(|(_, _, l)| l).collect()
}
