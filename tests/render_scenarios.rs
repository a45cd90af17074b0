//! Golden renders of every corpus scenario: each scenario file is replayed through decode →
//! correlate (memory store) → the runner with a recording sink, and the final notification of
//! each thread is rendered for Slack, Discord, Teams and Amazon Q and compared with
//! `tests/golden/scenarios/<scenario>.<sink>.json` (an object keyed by thread). One more golden
//! set takes the failure of scenario s2 as enrichment would leave it, with a Japanese commit
//! message and a 2,000-line log tail of over-long lines, to show what is kept and what is cut.
//!
//! `UPDATE_GOLDEN=1 cargo test --test render_scenarios` rewrites the files; read the diff before
//! committing it: a golden file is a claim that the message is right, not that it is current.

mod support;

use futures::future::BoxFuture;
use herald::config::Mode;
use herald::correlate::engine::{Engine, EngineConfig};
use herald::deliver::{Delivery, MessageRef, Sink, SinkError};
use herald::event::decode;
use herald::notification::{Commit, Notification};
use herald::pipeline::Runner;
use herald::render;
use herald::route::Router;
use herald::store::memory::MemoryStore;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Recorder(Mutex<BTreeMap<String, Notification>>);

impl Sink for Recorder {
    fn kind(&self) -> &'static str {
        "recorder"
    }
    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(d.thread.clone(), d.notification.clone());
        Box::pin(async move { Ok(json!({ "thread": d.thread })) })
    }
}

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(sub)
}

/// The last notification of each thread of a scenario, by thread (the corpus README says what
/// each should be: most end, s2's second execution is still building, s6's wait for approval).
async fn finals(file: &PathBuf) -> BTreeMap<String, Notification> {
    let text = std::fs::read_to_string(file).expect("scenario");
    let events: Vec<_> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| decode(l.as_bytes()).expect("decodes"))
        .collect();
    let recorder = Arc::new(Recorder::default());
    let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
    sinks.insert("r".into(), recorder.clone());
    let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
    let runner = Runner::new(
        Arc::new(engine),
        Router::single("r"),
        sinks,
        Mode::Progress,
        5,
    );
    for chunk in events.chunks(10) {
        Box::pin(runner.process(chunk, 2_000_000_000))
            .await
            .expect("process");
    }
    // Two minutes on, where ECS tasks stopped: those that waited for events that would place
    // them are told (the service item's timer). Other timers (approval reminders) stay unfired:
    // the scenarios' times are years before this clock.
    if events
        .iter()
        .any(|e| matches!(e, herald::event::Event::EcsTask(_)))
    {
        Box::pin(runner.fire_due(2_000_000_120))
            .await
            .expect("timers");
    }
    Box::pin(runner.flush(2_000_000_120)).await.expect("flush");
    let out = recorder.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    out
}

fn render_all(sink: &str, notes: &BTreeMap<String, Notification>) -> Value {
    let mut m = Map::new();
    for (thread, n) in notes {
        let v = match sink {
            "slack" => render::slack::render(n),
            "discord" => render::discord::render(n),
            "teams" => render::teams::render(n),
            "amazonq" => render::amazonq::render(n, thread),
            _ => Value::Null,
        };
        m.insert(thread.clone(), v);
    }
    Value::Object(m)
}

fn golden(name: &str, got: &Value) {
    let path = dir("tests/golden/scenarios").join(name);
    support::golden(&path, got);
}

const SINKS: [&str; 4] = ["slack", "discord", "teams", "amazonq"];

#[tokio::test]
async fn every_scenario_renders_as_reviewed() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir("tests/fixtures/scenarios"))
        .expect("scenarios")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    assert_eq!(files.len(), 16);
    for file in files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a name")
            .to_string();
        let notes = finals(&file).await;
        assert!(!notes.is_empty(), "{name}: no notification");
        for sink in SINKS {
            golden(&format!("{name}.{sink}.json"), &render_all(sink, &notes));
        }
    }
}

/// Scenario s2's failure as enrichment would leave it: the commit (in Japanese, with an emoji)
/// and the end of a very long log whose lines are longer than any chat shows.
#[tokio::test]
async fn an_enriched_failure_keeps_its_commit_whole_and_the_end_of_its_log() {
    let file =
        dir("tests/fixtures/scenarios/s2-v1-raw-concurrent-executions-codebuild-failure.jsonl");
    let mut notes = finals(&file).await;
    notes.retain(|_, n| n.status == "FAILED");
    assert_eq!(notes.len(), 1);
    const COMMIT: &str = "修正: 決済画面の二重送信を防ぐ 🚀";
    for n in notes.values_mut() {
        n.commit = Some(Commit {
            id: Some("3d2a9b8c7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b".into()),
            message: Some(format!("{COMMIT}\n\n詳細は #1234 を参照")),
            author: Some("佐藤 花子".into()),
            author_email: Some("hanako.sato@example.com".into()),
            url: Some("https://github.com/example/repo-server/commit/3d2a9b8c7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b".into()),
            provider: Some("GitHub".into()),
            branch: Some("main".into()),
            repository: None,
        });
        let action = n
            .failure
            .as_mut()
            .and_then(|f| f.actions.first_mut())
            .expect("a failed action");
        action.log_tail = (1..=2000)
            .map(|i| {
                format!(
                    "[Container] line {i:04} {} ✓ ünïcödé <tag> & `tick`",
                    "x".repeat(if i % 10 == 0 { 900 } else { 40 })
                )
            })
            .collect();
        action
            .log_tail
            .push("[Container] Phase complete: BUILD State: FAILED".into());
    }
    for sink in SINKS {
        let v = render_all(sink, &notes);
        let s = v.to_string();
        assert!(s.contains(COMMIT), "{sink}: the commit whole");
        assert!(
            s.contains("Phase complete: BUILD State: FAILED"),
            "{sink}: the log's end"
        );
        assert!(!s.contains("line 0001 "), "{sink}: the log's start is cut");
        golden(&format!("s2-enriched.{sink}.json"), &v);
    }
}
