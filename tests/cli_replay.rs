//! `herald replay`, `herald demo` and `herald check-config` as a user runs them.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

fn herald() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_herald"));
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("HERALD_LISTEN");
    c
}

fn scenario(name: &str) -> String {
    format!(
        "{}/tests/fixtures/scenarios/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The last notification per chat message, and posts per chat message, from a jsonl file.
fn read_jsonl(
    path: &std::path::Path,
) -> (BTreeMap<String, serde_json::Value>, BTreeMap<String, usize>) {
    let text = std::fs::read_to_string(path).expect("jsonl written");
    let mut last = BTreeMap::new();
    let mut posts = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        let thread = v["thread"].as_str().expect("thread").to_owned();
        if v["op"] == "post" {
            *posts.entry(thread.clone()).or_insert(0) += 1;
        }
        assert_eq!(v["destination"], "jsonl");
        last.insert(thread, v["notification"].clone());
    }
    (last, posts)
}

fn check_s2(last: &BTreeMap<String, serde_json::Value>, posts: &BTreeMap<String, usize>) {
    assert_eq!(last.len(), 2, "{last:?}");
    assert!(posts.values().all(|n| *n == 1), "{posts:?}");
    let failed: Vec<_> = last.values().filter(|n| n["status"] == "FAILED").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["final"], true);
    assert_eq!(
        failed[0]["failure"]["actions"][0]["reason"],
        "COMMAND_EXECUTION_ERROR: Error while executing command: mvn package. Reason: exit status 1"
    );
}

#[test]
fn replay_to_jsonl_on_the_embedded_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.jsonl");
    let run = herald()
        .args(["replay", "--jsonl"])
        .arg(&out)
        .arg(scenario(
            "s2-v1-raw-concurrent-executions-codebuild-failure.jsonl",
        ))
        .output()
        .expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (last, posts) = read_jsonl(&out);
    check_s2(&last, &posts);
}

#[test]
fn replay_on_dynamodb_local() {
    let endpoint = support::dynamodb_endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.jsonl");
    let table = support::unique("herald-replay");
    let run = herald()
        .args([
            "replay",
            "--store",
            "dynamodb",
            "--dynamodb-endpoint",
            &endpoint,
            "--table",
            &table,
            "--jsonl",
        ])
        .arg(&out)
        .arg(scenario(
            "s2-v1-raw-concurrent-executions-codebuild-failure.jsonl",
        ))
        .output()
        .expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (last, posts) = read_jsonl(&out);
    check_s2(&last, &posts);
    // A second replay of the same file against the same table: the threads are already told,
    // so nothing is posted again (redelivery never duplicates).
    let out2 = dir.path().join("again.jsonl");
    let run = herald()
        .args([
            "replay",
            "--store",
            "dynamodb",
            "--dynamodb-endpoint",
            &endpoint,
            "--table",
            &table,
            "--jsonl",
        ])
        .arg(&out2)
        .arg(scenario(
            "s2-v1-raw-concurrent-executions-codebuild-failure.jsonl",
        ))
        .output()
        .expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let again = std::fs::read_to_string(&out2).unwrap_or_default();
    assert!(
        again.lines().all(|l| !l.contains("\"op\":\"post\"")),
        "{again}"
    );
}

#[test]
fn replay_reports_bad_lines_and_exits_2_after_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    let good = std::fs::read_to_string(scenario(
        "s4-processed-source-build-fails-in-codebuild.jsonl",
    ))
    .expect("read");
    std::fs::write(&input, format!("{good}{{not json\n")).expect("write");
    let out = dir.path().join("out.jsonl");
    let run = herald()
        .args(["replay", "--jsonl"])
        .arg(&out)
        .arg(&input)
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("in.jsonl:10: not JSON"));
    let (last, _) = read_jsonl(&out);
    assert_eq!(
        last.values().next().map(|n| n["status"].clone()),
        Some("FAILED".into())
    );
}

#[test]
fn demo_tells_every_story() {
    let run = herald()
        .args(["demo", "--no-serve"])
        .output()
        .expect("runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8_lossy(&run.stdout);
    for needle in [
        "❌ buildfish-repo-server-ng-code-pipeline-dev — FAILED",
        "mvn package. Reason: exit status 1",
        "✅ meerkat — SUCCEEDED",
        "❌ meerkat — FAILED",
        "Deployment d-C3XYEM1QF failed",
        "WAITING_FOR_APPROVAL",
        "ROLLED_BACK",
        "✅ ServerCpuTooHigh — OK",
    ] {
        assert!(
            text.contains(needle),
            "demo output lacks {needle:?}:\n{text}"
        );
    }
    // Several accounts.
    for account in [
        "000000000000",
        "164943972409",
        "123456789012",
        "429533234373",
        "111122223333",
    ] {
        assert!(text.contains(account), "{account}");
    }
}

#[test]
fn check_config_lists_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    // check-config on `text`: exits 1; what it printed.
    let refused = |text: &str| {
        std::fs::write(&bad, text).expect("write");
        let run = herald()
            .arg("check-config")
            .arg(&bad)
            .output()
            .expect("runs");
        assert_eq!(run.status.code(), Some(1));
        String::from_utf8_lossy(&run.stderr).into_owned()
    };
    let err = refused(concat!(
        "default_destination = \"nowhere\"\n",
        "[correlate]\npipeline_stall_secs = -1\n",
        "[ecs]\ndeployment_stall_secs = -5\ncrash_loop_window_secs = 0\nrecovered_after_secs = -1\n",
        "[[rules]]\nmatch = \"status:FAILED & (kind:pipeline\"\ndestinations = [\"ghost\"]\n",
    ));
    assert!(err.contains("rules[0].match"), "{err}");
    assert!(err.contains("unknown destination \"ghost\""), "{err}");
    assert!(err.contains("default_destination"), "{err}");
    assert!(
        err.contains("correlate.pipeline_stall_secs must be >= 0"),
        "{err}"
    );
    assert!(
        err.contains("ecs.deployment_stall_secs must be >= 0"),
        "{err}"
    );
    assert!(
        err.contains("ecs.crash_loop_window_secs must be > 0"),
        "{err}"
    );
    assert!(
        err.contains("ecs.recovered_after_secs must be >= 0"),
        "{err}"
    );
    // An unknown key of the new table is refused too.
    let err = refused("[ecs]\nstall = 5\n");
    assert!(err.contains("stall"), "{err}");
}

/// A pipeline event at `t` (Unix seconds): an execution's state, or a stage's when `stage` is
/// given.
fn pipeline_event(exec: &str, stage: Option<&str>, state: &str, t: i64) -> serde_json::Value {
    let time = chrono::DateTime::from_timestamp(t, 0)
        .expect("a time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (detail_type, mut detail) = match stage {
        Some(s) => (
            "CodePipeline Stage Execution State Change",
            serde_json::json!({"stage": s}),
        ),
        None => (
            "CodePipeline Pipeline Execution State Change",
            serde_json::json!({}),
        ),
    };
    detail["pipeline"] = "web".into();
    detail["execution-id"] = exec.into();
    detail["state"] = state.into();
    detail["version"] = 1.into();
    serde_json::json!({
        "version": "0", "id": format!("{exec}-{}-{state}-{t}", stage.unwrap_or("")),
        "detail-type": detail_type, "source": "aws.codepipeline", "account": "111122223333",
        "time": time, "region": "eu-west-1", "resources": [], "detail": detail,
    })
}

/// Two executions from `t0`: `x-done` succeeds; `x-lost` starts, and its last events never
/// come (dropped on the way).
fn stream_with_lost_ending(dir: &std::path::Path, name: &str, t0: i64) -> std::path::PathBuf {
    let events = [
        pipeline_event("x-lost", None, "STARTED", t0),
        pipeline_event("x-lost", Some("Source"), "STARTED", t0 + 5),
        pipeline_event("x-done", None, "STARTED", t0 + 8),
        pipeline_event("x-lost", Some("Source"), "SUCCEEDED", t0 + 20),
        pipeline_event("x-lost", Some("Build"), "STARTED", t0 + 21),
        pipeline_event("x-done", None, "SUCCEEDED", t0 + 300),
    ];
    let path = dir.join(name);
    let text: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    std::fs::write(&path, text.join("\n")).expect("stream written");
    path
}

fn replay_lines(
    args: &[&str],
    stream: &std::path::Path,
    out: &std::path::Path,
) -> Vec<serde_json::Value> {
    let run = herald()
        .arg("replay")
        .arg("--jsonl")
        .arg(out)
        .args(args)
        .arg(stream)
        .output()
        .expect("herald runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read_to_string(out)
        .expect("jsonl written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn last_of(lines: &[serde_json::Value], exec: &str) -> serde_json::Value {
    lines
        .iter()
        .rev()
        .find(|l| l["notification"]["execution_id"] == exec)
        .map(|l| l["notification"].clone())
        .unwrap_or_else(|| panic!("{exec} in {lines:?}"))
}

#[test]
fn replay_runs_on_the_events_clock_and_tells_a_stalled_execution() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = 1_700_000_000;
    let stream = stream_with_lost_ending(dir.path(), "s.jsonl", t0);
    let lines = replay_lines(&[], &stream, &dir.path().join("a.jsonl"));
    // The execution whose ending was lost: stalled an hour (the default) after its last event.
    let lost = last_of(&lines, "x-lost");
    assert_eq!(lost["status"], "IN_PROGRESS", "{lost}");
    assert_eq!(lost["stalled"], true, "{lost}");
    assert_eq!(lost["stalled_since"], "2023-11-14T22:13:41Z", "{lost}");
    assert_eq!(lost["stalled_for_secs"], 3600, "{lost}");
    // Told by an edit of its one message; the finished one never stalls.
    let ops: Vec<&str> = lines
        .iter()
        .filter(|l| l["notification"]["execution_id"] == "x-lost")
        .map(|l| l["op"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ops.iter().filter(|o| **o == "post").count(), 1, "{ops:?}");
    let done = last_of(&lines, "x-done");
    assert_eq!(done["status"], "SUCCEEDED");
    assert!(done.get("stalled").is_none(), "{done}");

    // The same input gives the same output, byte for byte.
    let again = replay_lines(&[], &stream, &dir.path().join("b.jsonl"));
    assert_eq!(lines, again);

    // Any date: the same stream ten years later tells the same story, ten years later. The
    // replay never reads the wall clock (which would leave a 2033 stream unstalled today).
    let shift = 10 * 365 * 86_400;
    let later = stream_with_lost_ending(dir.path(), "later.jsonl", t0 + shift);
    let shifted = replay_lines(&[], &later, &dir.path().join("c.jsonl"));
    assert_eq!(shifted.len(), lines.len());
    let lost_later = last_of(&shifted, "x-lost");
    assert_eq!(lost_later["stalled"], true);
    assert_eq!(lost_later["stalled_for_secs"], 3600);
    let since = |n: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(n["stalled_since"].as_str().unwrap_or_default())
            .map(|t| t.timestamp())
            .unwrap_or_default()
    };
    assert_eq!(since(&lost_later) - since(&lost), shift);

    // A drain shorter than the timeout stops before it; the config sets the timeout.
    let short = replay_lines(&["--drain", "30m"], &stream, &dir.path().join("d.jsonl"));
    assert!(last_of(&short, "x-lost").get("stalled").is_none());
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[correlate]\npipeline_stall_secs = 600\n").expect("config");
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let quick = replay_lines(
        &["--drain", "30m", "--config", &cfg_arg],
        &stream,
        &dir.path().join("e.jsonl"),
    );
    assert_eq!(last_of(&quick, "x-lost")["stalled_for_secs"], 600);
    // Turned off.
    std::fs::write(&cfg, "[correlate]\npipeline_stall_secs = 0\n").expect("config");
    let off = replay_lines(
        &["--config", &cfg_arg],
        &stream,
        &dir.path().join("f.jsonl"),
    );
    assert!(last_of(&off, "x-lost").get("stalled").is_none());
}

#[test]
fn a_bad_drain_is_refused_naming_it() {
    let run = herald()
        .args(["replay", "--drain", "soon", "x.json"])
        .output()
        .expect("herald runs");
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("--drain") && err.contains("soon"), "{err}");
}

/// An approval still waiting is reminded of `approval_remind_secs` (4 h) after it was asked,
/// and a day before it expires, each once: an edit carrying `reminder`, on the events' clock.
#[test]
fn an_approval_still_waiting_is_reminded_of_then_before_it_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s6 = std::path::PathBuf::from(scenario("s6-manual-approval-waiting-two-pipelines.jsonl"));
    let lines = replay_lines(&["--drain", "7d"], &s6, &dir.path().join("a.jsonl"));
    let mut per_thread: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for l in &lines {
        let r = &l["notification"]["reminder"];
        if !r.is_null() {
            per_thread
                .entry(l["thread"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(r.clone());
        }
    }
    assert_eq!(per_thread.len(), 2, "both approvals: {per_thread:?}");
    for (thread, rs) in &per_thread {
        assert_eq!(rs.len(), 2, "{thread}: {rs:?}");
        assert_eq!(rs[0]["kind"], "waiting");
        assert_eq!(rs[0]["waiting_secs"], 4 * 3600);
        assert_eq!(rs[1]["kind"], "expiring");
        let last = lines
            .iter()
            .rev()
            .find(|l| l["thread"] == thread.as_str())
            .map(|l| l["notification"].clone())
            .expect("a line");
        assert_eq!(rs[1]["expires"], last["approval"]["expires"], "{last}");
        assert_eq!(last["status"], "WAITING_FOR_APPROVAL");
        assert!(
            last.get("stalled").is_none(),
            "waiting for a person is no stall"
        );
    }
    // The stream's second approval (2022) comes a year after the first (2021): on the events'
    // clock the first one's reminders are due by then. An hour after the last event the
    // second has none yet; the config sets when.
    let newest = "vrathore-slack-test2-sandbox-pipeline";
    let reminders_of = |lines: &[serde_json::Value]| -> Vec<serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["notification"]["pipeline"] == newest)
            .map(|l| l["notification"]["reminder"].clone())
            .filter(|r| !r.is_null())
            .collect()
    };
    let early = replay_lines(&["--drain", "1h"], &s6, &dir.path().join("b.jsonl"));
    assert!(reminders_of(&early).is_empty(), "{early:?}");
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[correlate]\napproval_remind_secs = 600\n").expect("config");
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let soon = replay_lines(
        &["--drain", "1h", "--config", &cfg_arg],
        &s6,
        &dir.path().join("c.jsonl"),
    );
    let told = reminders_of(&soon);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["kind"], "waiting");
    assert_eq!(told[0]["waiting_secs"], 600);
}

/// A service's tasks crash after its deployment: a crash loop, told as an `ecs_service`
/// episode that ends RECOVERED on the events' clock once its steady state held for
/// `recovered_after_secs`; the crash during the deployment is on the deployment's message.
#[test]
fn a_crash_loop_is_told_and_recovers_on_the_events_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s8 = std::path::PathBuf::from(scenario("s8-ecs-service-crash-loop.jsonl"));
    let lines = replay_lines(&[], &s8, &dir.path().join("a.jsonl"));
    let told: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
            (
                s(&l["op"]),
                s(&l["thread"]),
                s(&l["notification"]["status"]),
            )
        })
        .collect();
    let episode = "es#123456789012#eu-west-1#prod#inventory-sync#0";
    let deploy = "ecs#123456789012#eu-west-1#prod#inventory-sync#ecs-svc/4025868829011422385";
    let t = |op: &str, thread: &str, status: &str| (op.into(), thread.into(), status.into());
    assert_eq!(
        told,
        [
            t("post", deploy, "SUCCEEDED"),
            // A minute after the crashes: they waited for events that would place them.
            t("post", episode, "CRASH_LOOP"),
            t("update", episode, "RECOVERED"),
            // Its 900 s watch window ended with no alarm: the verdict is edited in.
            t("update", deploy, "SUCCEEDED"),
        ]
    );
    assert_eq!(lines[0]["notification"]["verdict"]["status"], "WATCHING");
    assert_eq!(lines[3]["notification"]["verdict"]["status"], "HEALTHY");
    assert_eq!(lines[3]["notification"]["verdict"]["watched_secs"], 900);
    let last = &lines[2]["notification"];
    assert_eq!(last["kind"], "ecs_service");
    assert_eq!(last["crashes"], 3);
    assert_eq!(last["final"], true);
    assert_eq!(last["finished_at"], "2026-03-02T11:06:00Z");
    assert_eq!(lines[0]["notification"]["crashes"], 1);
    // Not long enough for the recovery, or a longer recovery wait: still in a crash loop.
    for (args, name) in [
        (vec!["--drain", "299s"], "b"),
        (vec!["--drain", "1h", "--config"], "c"),
    ] {
        let mut args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        if args.last().is_some_and(|a| a == "--config") {
            let cfg = dir.path().join("c.toml");
            std::fs::write(&cfg, "[ecs]\nrecovered_after_secs = 7200\n").expect("config");
            args.push(cfg.to_string_lossy().into_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let lines = replay_lines(&args, &s8, &dir.path().join(format!("{name}.jsonl")));
        let statuses: Vec<&str> = lines
            .iter()
            .filter(|l| l["thread"] == episode)
            .filter_map(|l| l["notification"]["status"].as_str())
            .collect();
        assert_eq!(statuses, ["CRASH_LOOP"], "{name}");
    }
}

/// A replay on DynamoDB Local fires the timers due on the way too (the store cannot say when
/// its next timer is; the replay steps to those of the threads it wrote): the crash loop's
/// replay tells the same story as on the embedded store.
#[test]
fn a_replay_on_dynamodb_fires_its_timers_on_the_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s8 = std::path::PathBuf::from(scenario("s8-ecs-service-crash-loop.jsonl"));
    let told = |lines: &[serde_json::Value]| -> Vec<(String, String, String)> {
        lines
            .iter()
            .map(|l| {
                let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
                (
                    s(&l["op"]),
                    s(&l["thread"]),
                    s(&l["notification"]["status"]),
                )
            })
            .collect()
    };
    let embedded = replay_lines(&[], &s8, &dir.path().join("memory.jsonl"));
    let endpoint = support::dynamodb_endpoint();
    let table = support::unique("herald-replay-timers");
    let shared = replay_lines(
        &[
            "--store",
            "dynamodb",
            "--dynamodb-endpoint",
            &endpoint,
            "--table",
            &table,
        ],
        &s8,
        &dir.path().join("dynamodb.jsonl"),
    );
    assert_eq!(told(&shared), told(&embedded));
    let statuses: Vec<String> = told(&shared).into_iter().map(|t| t.2).collect();
    assert_eq!(
        statuses,
        ["SUCCEEDED", "CRASH_LOOP", "RECOVERED", "SUCCEEDED"]
    );
}

/// Deploy verdicts of pipelines and CodeDeploy deployment groups, through `[[verdicts.watch]]`
/// in the config `herald replay --config` reads: a watched pipeline's execution that deployed
/// is judged by the alarms the rule names (UNHEALTHY: its ALB alarm fired 4 minutes after),
/// a CodeDeploy deployment by its group's (HEALTHY: the billing alarm fired long after its
/// window), and the ALB alarm's message names the execution. Without the rules, the pipeline
/// has no verdict and the alarms name nothing.
#[test]
fn pipelines_and_codedeploy_groups_are_judged_by_the_alarms_the_config_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("herald.toml");
    std::fs::write(
        &cfg,
        r#"
[verdicts]
watch_secs = 900

[[verdicts.watch]]
alarm = "^web-alb-"
pipeline = "web-release"

[[verdicts.watch]]
alarm = "^billing-"
account = "111122223333"
application = "billing"
deployment_group = "billing-prod"
"#,
    )
    .expect("config");
    let check = herald()
        .arg("check-config")
        .arg(&cfg)
        .output()
        .expect("herald runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let s13 = std::path::PathBuf::from(scenario("s13-pipeline-and-codedeploy-verdicts.jsonl"));
    let cfg_arg = cfg.display().to_string();
    let lines = replay_lines(&["--config", &cfg_arg], &s13, &dir.path().join("a.jsonl"));
    let last = |thread: &str| {
        lines
            .iter()
            .rev()
            .find(|l| l["thread"].as_str().is_some_and(|t| t.starts_with(thread)))
            .map(|l| l["notification"].clone())
            .unwrap_or_else(|| panic!("{thread} told"))
    };
    let pipeline = last("ex#111122223333#eu-west-1#web-release#");
    assert_eq!(pipeline["verdict"]["status"], "UNHEALTHY", "{pipeline}");
    assert_eq!(pipeline["verdict"]["alarms"][0], "web-alb-5xx");
    assert_eq!(pipeline["verdict"]["after_secs"], 240);
    let alarm = last("al#111122223333#eu-west-1#web-alb-5xx");
    assert_eq!(alarm["deployment"]["kind"], "pipeline", "{alarm}");
    assert_eq!(alarm["deployment"]["target"], "web-release");
    assert_eq!(alarm["deployment"]["after_secs"], 240);
    let deploy = last("cd#111122223333#eu-west-1#d-7Q2XK4M1A");
    assert_eq!(deploy["verdict"]["status"], "HEALTHY", "{deploy}");
    assert_eq!(deploy["verdict"]["watched_secs"], 900);
    let billing = last("al#111122223333#eu-west-1#billing-errors");
    assert!(billing.get("deployment").is_none(), "{billing}");

    // Without the rules: no pipeline verdict, no deployment named.
    let plain = replay_lines(&[], &s13, &dir.path().join("b.jsonl"));
    for l in &plain {
        let n = &l["notification"];
        if n["kind"] == "pipeline" {
            assert!(n.get("verdict").is_none(), "{n}");
        }
        assert!(n.get("deployment").is_none(), "{n}");
    }
}
