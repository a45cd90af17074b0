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
    std::fs::write(
        &bad,
        "default_destination = \"nowhere\"\n[[rules]]\nmatch = \"status:FAILED & (kind:pipeline\"\ndestinations = [\"ghost\"]\n",
    )
    .expect("write");
    let run = herald()
        .arg("check-config")
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("rules[0].match"), "{err}");
    assert!(err.contains("unknown destination \"ghost\""), "{err}");
    assert!(err.contains("default_destination"), "{err}");
}
