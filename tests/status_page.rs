//! The status page: the pure rendering (escaping, filters, rows from notifications), the HTTP
//! endpoints over the demo stream, and a real browser (Debian's headless Chromium, found through
//! `HERALD_TEST_CHROMIUM`, which `scripts/test.sh` sets) loading the page of a running
//! `herald demo`, whose screenshot is `docs/status-page.png`.

use chrono::{DateTime, Utc};
use herald::cli::replay::{demo_events, memory_store, replay_events, runner, ReplayOptions};
use herald::correlate::DeliveryRec;
use herald::notification::Notification;
use herald::server::dashboard::{
    chat_ref, render_page, routes, Filters, PipelineRow, PipelinesDoc,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Pipelines of the demo stream and their newest executions' statuses (the stream has more).
const DEMO: &[(&str, &str, &str)] = &[
    ("meerkat", "000000000000", "FAILED"),
    (
        "tf-jenkins-update-apply-pipeline",
        "123456789012",
        "WAITING_FOR_APPROVAL",
    ),
    (
        "buildfish-repo-server-ng-code-pipeline-dev",
        "164943972409",
        "IN_PROGRESS",
    ),
    (
        "buildfish-web-ng-code-pipeline-dev",
        "164943972409",
        "SUCCEEDED",
    ),
];

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .expect("test timestamps are RFC 3339")
}

fn note(json: serde_json::Value) -> Notification {
    serde_json::from_value(json).expect("a notification")
}

fn failed_note() -> Notification {
    note(serde_json::json!({
        "kind": "pipeline",
        "status": "FAILED",
        "final": true,
        "account": "111111111111",
        "account_alias": "prod",
        "region": "eu-west-1",
        "pipeline": "api",
        "execution_id": "0f4c1e2a-1111-2222-3333-444455556666",
        "title": "api",
        "started_at": "2024-05-01T10:00:00Z",
        "finished_at": "2024-05-01T10:04:10Z",
        "duration_secs": 250,
        "stages": [
            {"name": "Source", "status": "SUCCEEDED"},
            {"name": "Build", "status": "FAILED"},
            {"name": "Deploy", "status": "STARTED"}
        ],
        "failure": {"stage": "Build", "actions": [{"action": "Compile"}]},
        "links": [
            {"label": "build log x", "url": "https://example.invalid/log"},
            {"label": "execution", "url": "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/api/executions/0f4c1e2a/timeline"}
        ]
    }))
}

fn slack_delivered() -> BTreeMap<String, DeliveryRec> {
    let mut d = BTreeMap::new();
    d.insert(
        "ops-slack".to_owned(),
        DeliveryRec {
            message: Some(serde_json::json!({"channel": "C0123&X", "ts": "1714557600.000100"})),
            seq: 3,
        },
    );
    d.insert(
        "dev-slack".to_owned(),
        DeliveryRec {
            message: Some(serde_json::json!({
                "channel": "C0DEV",
                "ts": "1714557600.000200",
                "permalink": "https://acme.slack.com/archives/C0DEV/p1714557600000200",
            })),
            seq: 3,
        },
    );
    d.insert(
        "audit".to_owned(),
        DeliveryRec {
            message: Some(serde_json::json!({"thread": "ex#111111111111#eu-west-1#api#0f4c"})),
            seq: 3,
        },
    );
    d.insert(
        "teams".to_owned(),
        DeliveryRec {
            message: None,
            seq: 0,
        },
    );
    d
}

fn row_of(n: &Notification, now: DateTime<Utc>) -> PipelineRow {
    PipelineRow::new(n, &slack_delivered(), now).expect("a pipeline row")
}

fn rendered_rows(html: &str) -> Vec<&str> {
    let body = html
        .split_once("<tbody id=\"rows\">")
        .and_then(|(_, rest)| rest.split_once("</tbody>"))
        .map(|(b, _)| b)
        .expect("the page has a rows table body");
    body.split("<tr").skip(1).collect()
}

#[test]
fn a_row_tells_status_stage_age_console_and_chat() {
    let now = at("2024-05-01T11:00:00Z");
    let r = row_of(&failed_note(), now);
    assert_eq!(r.pipeline, "api");
    assert_eq!(r.status, "FAILED");
    assert_eq!(
        r.stage.as_deref(),
        Some("Build"),
        "the failed stage, not the last one"
    );
    assert_eq!(r.age_secs, Some(3600));
    assert_eq!(r.duration_secs, Some(250));
    assert_eq!(
        r.console_url.as_deref(),
        Some("https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/api/executions/0f4c1e2a/timeline"),
        "the execution link, not the build log"
    );
    let chat: Vec<(&str, &str, Option<&str>)> = r
        .chat
        .iter()
        .map(|c| (c.destination.as_str(), c.state.as_str(), c.url.as_deref()))
        .collect();
    assert_eq!(
        chat,
        vec![
            ("audit", "posted", None),
            (
                "dev-slack",
                "posted",
                Some("https://acme.slack.com/archives/C0DEV/p1714557600000200"),
            ),
            (
                "ops-slack",
                "posted",
                Some("https://slack.com/app_redirect?channel=C0123%26X")
            ),
            ("teams", "pending", None),
        ]
    );

    // Stages: running → the running stage; succeeded → the last; approval → its stage.
    let mut running = failed_note();
    running.status = "IN_PROGRESS".into();
    running.failure = None;
    running.stages[1].status = "SUCCEEDED".into();
    assert_eq!(row_of(&running, now).stage.as_deref(), Some("Deploy"));
    let mut approval = running.clone();
    approval.status = "WAITING_FOR_APPROVAL".into();
    approval.approval = Some(herald::notification::ApprovalInfo {
        stage: "Approve".into(),
        action: "Manual".into(),
        ..Default::default()
    });
    assert_eq!(row_of(&approval, now).stage.as_deref(), Some("Approve"));

    // Other thread kinds have no row; a javascript: link is no console link.
    let mut ecs = failed_note();
    ecs.kind = herald::notification::Kind::EcsDeployment;
    assert!(PipelineRow::new(&ecs, &BTreeMap::new(), now).is_none());
    let mut evil = failed_note();
    evil.links = vec![herald::notification::Link {
        label: "execution".into(),
        url: "javascript:alert(1)".into(),
    }];
    assert_eq!(row_of(&evil, now).console_url, None);

    // A Slack reference without a ts, or a Discord one, opens nothing.
    let discord = DeliveryRec {
        message: Some(serde_json::json!({"message_id": "123"})),
        seq: 1,
    };
    assert_eq!(chat_ref("d", &discord).url, None);
    assert_eq!(chat_ref("d", &discord).state, "posted");
}

#[test]
fn the_page_escapes_everything_it_was_told() {
    let now = at("2024-05-01T11:00:00Z");
    let mut n = failed_note();
    n.pipeline = Some("<script>alert('p')</script>".into());
    n.account_alias = Some("\"><img src=x onerror=alert(1)>".into());
    n.stages[1].name = "<b>Build</b>".into();
    n.failure = None;
    let mut deliveries = slack_delivered();
    deliveries.insert(
        "<i>dest</i>".into(),
        DeliveryRec {
            message: Some(serde_json::json!({"channel": "\"onclick=\"x", "ts": "1"})),
            seq: 1,
        },
    );
    let row = PipelineRow::new(&n, &deliveries, now).expect("a row");
    let html = render_page(&[row], &Filters::default(), now);

    assert!(!html.contains("<script>alert"), "pipeline name unescaped");
    assert!(html.contains("&lt;script&gt;alert(&#39;p&#39;)&lt;/script&gt;"));
    assert!(!html.contains("<img"), "alias unescaped");
    assert!(!html.contains("<b>Build"), "stage unescaped");
    assert!(!html.contains("<i>dest"), "destination unescaped");
    assert!(
        !html.contains("\"onclick"),
        "channel broke out of an attribute"
    );
    // The embedded data cannot close its script element.
    let data = html
        .split_once("<script id=\"herald-data\" type=\"application/json\">")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(d, _)| d)
        .expect("embedded data");
    assert!(!data.contains('<') && !data.contains('>'));
    let doc: PipelinesDoc = serde_json::from_str(data).expect("embedded data is the JSON doc");
    assert_eq!(
        doc.pipelines[0].pipeline, "<script>alert('p')</script>",
        "escaping is lossless"
    );
    // Exactly two script elements, both ours; no external asset.
    assert_eq!(html.matches("<script").count(), 2);
    assert!(!html.contains("src=\"http") && !html.contains("<link"));
}

#[test]
fn filters_choose_rows_and_keep_every_account_choosable() {
    let now = at("2024-05-01T11:00:00Z");
    let a = row_of(&failed_note(), now);
    let mut b = a.clone();
    b.pipeline = "web".into();
    b.account = "222222222222".into();
    b.account_alias = None;
    b.status = "SUCCEEDED".into();
    let rows = vec![a, b];

    let all = render_page(&rows, &Filters::default(), now);
    assert_eq!(rendered_rows(&all).len(), 2);
    assert!(all.contains("2 pipelines · 1 failed · 1 succeeded"));
    assert!(all.contains("hidden>No pipeline matches"));

    let by_alias = Filters {
        account: Some("prod".into()),
        status: None,
    };
    let html = render_page(&rows, &by_alias, now);
    let shown = rendered_rows(&html);
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains(">api<"));
    assert!(html.contains("<option value=\"222222222222\">222222222222</option>"));
    assert!(html.contains("<option value=\"111111111111\">prod (111111111111)</option>"));
    assert!(html.contains("1 of 2 pipelines · 1 failed"));

    let by_status = Filters {
        account: None,
        status: Some("succeeded".into()),
    };
    let html = render_page(&rows, &by_status, now);
    let shown = rendered_rows(&html);
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains(">web<"));
    assert!(html.contains("<option value=\"SUCCEEDED\" selected>"));

    let none = Filters {
        account: Some("333333333333".into()),
        status: None,
    };
    let html = render_page(&rows, &none, now);
    assert!(rendered_rows(&html).is_empty());
    assert!(html.contains("<p id=\"empty\" class=\"empty\">No pipeline matches these filters."));
    assert!(
        html.contains("<option value=\"333333333333\" selected>"),
        "the filtered account stays visible"
    );

    let empty = render_page(&[], &Filters::default(), now);
    assert!(empty.contains(">No pipeline execution seen yet."));
}

/// The demo stream replayed into an in-memory engine, served on a free port.
async fn serve_demo() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let r = runner(&ReplayOptions {
        jsonl: Some(dir.path().join("deliveries.jsonl")),
        config: None,
        store: memory_store(),
    })
    .expect("the demo runner");
    replay_events(&r, &demo_events(), herald::cli::replay::DEFAULT_DRAIN_SECS)
        .await
        .expect("the demo replays");
    let app = routes().with_state(r.engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), dir)
}

#[tokio::test]
async fn the_endpoints_serve_the_demo_pipelines() {
    let (base, _dir) = serve_demo().await;
    let client = reqwest::Client::new();

    let resp = client
        .get(format!("{base}/api/pipelines"))
        .send()
        .await
        .expect("GET /api/pipelines");
    assert_eq!(resp.status(), 200);
    let doc: PipelinesDoc = resp.json().await.expect("the JSON doc");
    let mut got: Vec<(&str, &str, &str)> = doc
        .pipelines
        .iter()
        .map(|r| (r.pipeline.as_str(), r.account.as_str(), r.status.as_str()))
        .collect();
    got.sort();
    for want in DEMO {
        assert!(got.contains(want), "{want:?} missing from {got:#?}");
    }
    let total = got.len();
    for r in &doc.pipelines {
        assert!(r
            .console_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")
                && u.contains(r.execution_id.as_deref().unwrap_or("?"))));
        assert!(
            r.age_secs.is_some_and(|a| a > 0),
            "{}: age from the clock",
            r.pipeline
        );
        assert_eq!(
            r.chat.iter().map(|c| c.state.as_str()).collect::<Vec<_>>(),
            vec!["posted"],
            "{}: the demo's jsonl destination",
            r.pipeline
        );
    }
    let started: Vec<_> = doc.pipelines.iter().map(|r| r.started_at).collect();
    let mut sorted = started.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(started, sorted, "newest first");

    let doc: PipelinesDoc = client
        .get(format!(
            "{base}/api/pipelines?account=164943972409&status=succeeded"
        ))
        .send()
        .await
        .expect("filtered GET")
        .json()
        .await
        .expect("the JSON doc");
    assert_eq!(
        doc.pipelines
            .iter()
            .map(|r| r.pipeline.as_str())
            .collect::<Vec<_>>(),
        vec!["buildfish-web-ng-code-pipeline-dev"]
    );

    let resp = client
        .get(format!("{base}/?status=FAILED"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/html; charset=utf-8")
    );
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'sha256-"));
    let html = resp.text().await.expect("the page");
    let shown = rendered_rows(&html);
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains("data-status=\"FAILED\"") && shown[0].contains(">meerkat<"));
    assert!(html.contains(&format!("1 of {total} pipelines · 1 failed")));
}

// ---------------------------------------------------------------------------------------------
// The browser test.

/// The page's summary line for all of `rows`.
fn summary_of(rows: &[PipelineRow]) -> String {
    let n = rows.len();
    let mut s = format!("{n} pipeline{}", if n == 1 { "" } else { "s" });
    for (want, label) in [
        (&["FAILED"][..], "failed"),
        (&["STARTED", "IN_PROGRESS"][..], "in progress"),
        (&["WAITING_FOR_APPROVAL"][..], "waiting for approval"),
        (&["SUCCEEDED"][..], "succeeded"),
    ] {
        let k = rows
            .iter()
            .filter(|r| want.contains(&r.status.as_str()))
            .count();
        if k > 0 {
            s.push_str(&format!(" · {k} {label}"));
        }
    }
    s
}

fn chromium() -> PathBuf {
    match std::env::var("HERALD_TEST_CHROMIUM") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "HERALD_TEST_CHROMIUM is not set: this test drives a headless Chromium. Run the \
             suite with `bash scripts/test.sh`, which installs Debian's `chromium` if missing \
             and sets it."
        ),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs headless Chromium with `extra` arguments on `url`; its stdout.
async fn run_chromium(bin: &Path, extra: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().expect("a profile dir");
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("chromium finished within 120 s")
        .expect("chromium ran");
    assert!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Kills the demo when the test ends, pass or fail.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn chromium_shows_the_demo_status_page() {
    let bin = chromium();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let work = tempfile::tempdir().expect("a temp dir");
    let demo = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        // The default terminal sink, as someone trying the demo sees it (stdout is discarded).
        .arg("demo")
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("herald demo starts");
    let _demo = Demo(demo);

    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..240 {
        if client
            .get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(up, "herald demo did not serve {base}/healthz within 60 s");
    let expected: Vec<PipelineRow> = client
        .get(format!("{base}/api/pipelines"))
        .send()
        .await
        .expect("GET /api/pipelines")
        .json::<PipelinesDoc>()
        .await
        .expect("the JSON doc")
        .pipelines;

    // The page as the browser has it after the script ran and fetched /api/pipelines once.
    let dom = run_chromium(&bin, &["--dump-dom".into()], &format!("{base}/")).await;
    assert!(
        dom.contains("<body class=\"js\">"),
        "the script did not run:\n{dom}"
    );
    let refreshes = dom
        .split_once("data-refreshes=\"")
        .and_then(|(_, r)| r.split_once('"'))
        .and_then(|(n, _)| n.parse::<u32>().ok())
        .unwrap_or(0);
    assert!(
        refreshes >= 1,
        "the page never re-fetched /api/pipelines:\n{dom}"
    );
    let rows = rendered_rows(&dom);
    assert_eq!(rows.len(), expected.len(), "rows:\n{rows:#?}");
    assert!(
        dom.contains(&format!(
            "<p id=\"summary\" class=\"summary\">{}</p>",
            summary_of(&expected)
        )),
        "summary: {dom}"
    );
    for want in DEMO {
        assert!(
            expected
                .iter()
                .any(|r| (r.pipeline.as_str(), r.account.as_str(), r.status.as_str()) == *want),
            "{want:?} missing from the demo"
        );
    }
    for r in &expected {
        let row = rows
            .iter()
            .find(|x| x.contains(&format!("<div class=\"name\">{}</div>", r.pipeline)))
            .unwrap_or_else(|| panic!("no row for {}:\n{dom}", r.pipeline));
        assert!(
            row.contains(&format!("data-status=\"{}\"", r.status)),
            "{row}"
        );
        assert!(
            row.contains(&format!("data-account=\"{}\"", r.account)),
            "{row}"
        );
        assert!(row.contains(">Console</a>"), "{row}");
        assert!(
            row.contains(" ago</td>") && row.contains("class=\"when\""),
            "{row}"
        );
        assert!(row.contains("terminal: posted"), "{row}");
    }

    // Filters from the URL hold through the script's own re-render of fetched rows.
    let dom = run_chromium(
        &bin,
        &["--dump-dom".into()],
        &format!("{base}/?account=164943972409&status=IN_PROGRESS"),
    )
    .await;
    let rows = rendered_rows(&dom);
    assert_eq!(rows.len(), 1, "rows:\n{rows:#?}");
    assert!(rows[0].contains(">buildfish-repo-server-ng-code-pipeline-dev<"));
    assert!(dom.contains(&format!(
        "1 of {} pipelines · 1 in progress",
        expected.len()
    )));

    // The README's picture.
    let shot = std::env::var("HERALD_STATUS_SCREENSHOT").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png"),
        PathBuf::from,
    );
    if let Some(dir) = shot.parent() {
        std::fs::create_dir_all(dir).expect("the screenshot's folder");
    }
    let tmp = work.path().join("status-page.png");
    run_chromium(
        &bin,
        &[
            format!("--screenshot={}", tmp.display()),
            "--window-size=1280,800".into(),
        ],
        &format!("{base}/"),
    )
    .await;
    let png = std::fs::read(&tmp).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((width, height), (1280, 800));
    std::fs::write(&shot, &png).expect("the screenshot is saved");
}
