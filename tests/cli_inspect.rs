//! `herald inspect` as a user runs it: files of every layout, stdin, and bad input reported as
//! `file:line: what is wrong` with exit code 2 after the rest is decoded.

use std::io::Write;
use std::process::{Command, Stdio};

fn herald() -> Command {
    Command::new(env!("CARGO_BIN_EXE_herald"))
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is JSON"))
        .collect()
}

#[test]
fn one_line_per_event_across_files() {
    let out = herald()
        .arg("inspect")
        .arg(fixture(
            "codebuild-build-state-change-failed-command-error-real.json",
        ))
        .arg(fixture(
            "scenarios/s4-processed-source-build-fails-in-codebuild.jsonl",
        ))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 1 + 9);
    assert_eq!(got[0]["kind"], "build_state");
    assert_eq!(
        got[0]["build_id"],
        "buildfish-repo-server-ng-dev:1e81d092-63ae-4811-933b-02214d605c6e"
    );
    assert_eq!(got[0]["state"], "FAILED");
    assert_eq!(got[0]["time"], "2018-05-22T17:53:36Z");
    assert!(got[1..].iter().all(|e| e["pipeline"] == "meerkat"));
}

#[test]
fn malformed_input_names_file_and_line_and_exits_2_after_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mixed.jsonl");
    let good = std::fs::read_to_string(fixture(
        "scenarios/meerkat-CodePipelineFailedCodeBuildFlow.jsonl",
    ))
    .expect("read");
    let mut good_lines = good.lines();
    let mut text = String::new();
    text.push_str(good_lines.next().expect("line 1"));
    text.push('\n');
    text.push_str(
        "{\"detail-type\": \"CodePipeline Pipeline Execution State Change\", \"detail\": \n",
    );
    text.push_str("{\"detail-type\":\"CodePipeline Stage Execution State Change\",\"detail\":{\"state\":\"STARTED\"}}\n");
    for l in good_lines {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write");
    let out = herald().arg("inspect").arg(&path).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = path.display().to_string();
    assert!(stderr.contains(&format!("{name}:2: not JSON")), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{name}:3: stage_execution event without `pipeline`"
        )),
        "{stderr}"
    );
    assert_eq!(
        lines(&out.stdout).len(),
        3,
        "the three good lines still decode"
    );
}

#[test]
fn json_array_and_stdin() {
    let a: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("ecs-deployment-state-change-failed-doc.json"))
            .expect("read"),
    )
    .expect("json");
    let b: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(
            "cloudwatch-alarm-state-change-alarm-single-metric-doc.json",
        ))
        .expect("read"),
    )
    .expect("json");
    let body = serde_json::to_string_pretty(
        &serde_json::json!([a, b, {"source": "custom.app", "detail-type": "Hello", "detail": {}}]),
    )
    .expect("json");
    let mut child = herald()
        .args(["inspect", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0]["kind"], "ecs_deployment");
    assert_eq!(got[0]["cluster"], "default");
    assert_eq!(got[0]["service"], "servicetest");
    assert_eq!(got[1]["alarm_name"], "ServerCpuTooHigh");
    assert_eq!(got[2]["kind"], "unknown");
    assert_eq!(got[2]["source"], "custom.app");
    assert_eq!(got[2]["detail_type"], "Hello");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let out = herald()
        .args(["inspect", "/nonexistent/events.json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/events.json: cannot read"));
}
