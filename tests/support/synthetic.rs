//! A synthetic multi-account stream of raw EventBridge CodePipeline events: each execution
//! starts, runs Source and Build, and ends SUCCEEDED or FAILED (every seventh fails in Build).
#![allow(dead_code)]

/// One execution's events in the order AWS sends them, and its expected final status.
pub struct Execution {
    pub account: String,
    pub pipeline: String,
    pub execution_id: String,
    pub failed: bool,
    pub events: Vec<String>,
}

fn ev(account: &str, id: &str, detail_type: &str, secs: u64, detail: serde_json::Value) -> String {
    let t = chrono::DateTime::from_timestamp(1_700_000_000 + secs as i64, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": "aws.codepipeline",
        "account": account,
        "time": t,
        "region": "eu-west-1",
        "resources": [],
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
                out.push(ev(&account, &format!("{execution_id}-{k}"), dt, base + secs, detail));
            };
            let p = |extra: serde_json::Value| {
                let mut d = serde_json::json!({"pipeline": pipeline, "execution-id": execution_id, "version": 1});
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
            push(AE, 1, p(serde_json::json!({"stage": "Source", "action": "Source", "state": "STARTED", "type": source})));
            push(AE, 5, p(serde_json::json!({"stage": "Source", "action": "Source", "state": "SUCCEEDED", "type": source,
                "execution-result": {"external-execution-id": format!("{:040x}", i), "external-execution-summary": format!("change {i}")}})));
            push(SE, 5, p(serde_json::json!({"stage": "Source", "state": "SUCCEEDED"})));
            push(SE, 6, p(serde_json::json!({"stage": "Build", "state": "STARTED"})));
            push(AE, 6, p(serde_json::json!({"stage": "Build", "action": "Build", "state": "STARTED", "type": build})));
            let end = if failed { "FAILED" } else { "SUCCEEDED" };
            push(AE, 60, p(serde_json::json!({"stage": "Build", "action": "Build", "state": end, "type": build,
                "execution-result": {"external-execution-id": format!("proj:{i}"), "external-execution-summary": format!("Build terminated with state: {end}"), "error-code": if failed { "JobFailed" } else { "" }}})));
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
