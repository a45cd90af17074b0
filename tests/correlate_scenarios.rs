//! Each corpus scenario gives the threads its README describes, whatever the order of arrival
//! and however many duplicates: 200 random permutations with random duplicates per scenario give
//! the same final notification, and exactly one post per chat message.

mod support;

use herald::config::Mode;
use herald::correlate::engine::{Engine, EngineConfig};
use herald::deliver::{Op, Sink};
use herald::event::{decode, Event};
use herald::notification::Notification;
use herald::pipeline::Runner;
use herald::route::Router;
use herald::store::memory::MemoryStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::Recorder;

fn scenario(name: &str) -> Vec<Event> {
    let path = format!(
        "{}/tests/fixtures/scenarios/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("read scenario");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| decode(l.as_bytes()).expect("decodes"))
        .collect()
}

struct Outcome {
    /// Final notification per chat message id.
    finals: BTreeMap<String, Notification>,
    /// Posts per chat message id.
    posts: BTreeMap<String, usize>,
}

async fn run(events: &[Event], batch: &[usize]) -> Outcome {
    run_mode(events, batch, Mode::Progress).await
}

/// A runner on the memory store delivering to one recorder.
fn recorded(mode: Mode) -> (Runner, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
    sinks.insert("r".into(), recorder.clone());
    let engine = Arc::new(Engine::new(
        Arc::new(MemoryStore::new()),
        EngineConfig::default(),
    ));
    (
        Runner::new(engine, Router::single("r"), sinks, mode, 5),
        recorder,
    )
}

async fn run_mode(events: &[Event], batch: &[usize], mode: Mode) -> Outcome {
    let (runner, recorder) = recorded(mode);
    let mut i = 0;
    let mut b = 0;
    while i < events.len() {
        let n = batch
            .get(b % batch.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let end = (i + n).min(events.len());
        runner
            .process(&events[i..end], 1_000)
            .await
            .expect("process");
        i = end;
        b += 1;
    }
    // Two minutes on: stopped tasks that waited for the events that would place them are
    // told (the service item's timer); nothing else is due that soon.
    runner.fire_due(1_120).await.expect("timers");
    runner.flush(1_120).await.expect("flush");
    let seen = recorder.seen.lock().expect("lock");
    let mut finals = BTreeMap::new();
    let mut posts = BTreeMap::new();
    for (op, thread, n) in seen.iter() {
        if *op == Op::Post {
            *posts.entry(thread.clone()).or_insert(0) += 1;
        }
        finals.insert(thread.clone(), n.clone());
    }
    Outcome { finals, posts }
}

fn by_title(o: &Outcome) -> Vec<&Notification> {
    let mut v: Vec<&Notification> = o.finals.values().collect();
    v.sort_by_key(|n| (n.title.clone(), n.execution_id.clone()));
    v
}

#[tokio::test]
async fn s1_success_out_of_order() {
    let o = run(
        &scenario("s1-v1-raw-github-codebuild-success-out-of-order.jsonl"),
        &[1],
    )
    .await;
    let n = by_title(&o);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].status, "SUCCEEDED");
    assert!(n[0].is_final);
    let stages: Vec<_> = n[0]
        .stages
        .iter()
        .map(|s| (s.name.as_str(), s.status.as_str()))
        .collect();
    assert_eq!(stages, [("Source", "SUCCEEDED"), ("Build", "SUCCEEDED")]);
    assert!(n[0]
        .links
        .iter()
        .any(|l| l.label.starts_with("build log") && l.url.contains("logEvent")));
    assert_eq!(n[0].failure, None);
}

#[tokio::test]
async fn s2_concurrent_executions_build_failure_joined_to_the_right_one() {
    let o = run(
        &scenario("s2-v1-raw-concurrent-executions-codebuild-failure.jsonl"),
        &[1],
    )
    .await;
    let n = by_title(&o);
    assert_eq!(n.len(), 2, "two executions, never merged");
    let failed: Vec<_> = n.iter().filter(|n| n.status == "FAILED").collect();
    let running: Vec<_> = n.iter().filter(|n| !n.is_final).collect();
    assert_eq!((failed.len(), running.len()), (1, 1));
    assert_eq!(
        failed[0].execution_id.as_deref(),
        Some("a68bd8b4-e5cb-4174-a2f4-8b28652d5352")
    );
    let f = failed[0].failure.as_ref().expect("failure");
    assert_eq!(f.stage.as_deref(), Some("Build"));
    assert_eq!(
        f.actions[0].reason.as_deref(),
        Some("COMMAND_EXECUTION_ERROR: Error while executing command: mvn package. Reason: exit status 1")
    );
    assert!(f.actions[0]
        .log_url
        .as_deref()
        .is_some_and(|u| u.contains("1e81d092")));
    // The second execution's build is its own, not the first's.
    assert!(running[0].links.iter().all(|l| !l.url.contains("1e81d092")));
}

#[tokio::test]
async fn s3_processed_success_with_commit_and_trigger() {
    let o = run(
        &scenario("s3-processed-3stage-success-codestar-codebuild-codedeploy.jsonl"),
        &[1],
    )
    .await;
    let n = by_title(&o);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].status, "SUCCEEDED");
    let c = n[0].commit.as_ref().expect("commit");
    assert_eq!(
        c.id.as_deref(),
        Some("1a104adf6a84de18fa3e3c4cb42b5024fe450ed5")
    );
    assert!(c
        .message
        .as_deref()
        .is_some_and(|m| m.starts_with("Merge branches")));
    assert_eq!(n[0].trigger.as_deref(), Some("Webhook"));
    assert!(n[0].stages.iter().all(|s| s.status == "SUCCEEDED"));
}

#[tokio::test]
async fn s4_build_fails_in_codebuild() {
    let o = run(
        &scenario("s4-processed-source-build-fails-in-codebuild.jsonl"),
        &[1],
    )
    .await;
    let n = by_title(&o);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].status, "FAILED");
    let f = n[0].failure.as_ref().expect("failure");
    assert_eq!(f.stage.as_deref(), Some("Build"));
    assert_eq!(f.actions.len(), 1);
    assert_eq!(f.actions[0].provider.as_deref(), Some("CodeBuild"));
    assert_eq!(
        f.actions[0].reason.as_deref(),
        Some("Build terminated with state: FAILED")
    );
    assert_eq!(f.actions[0].error_code.as_deref(), Some("JobFailed"));
}

#[tokio::test]
async fn s5_multi_group_deploy_failure_without_pipeline_failed() {
    let o = run(
        &scenario("s5-processed-codedeploy-multi-group-deploy-failure.jsonl"),
        &[1],
    )
    .await;
    let n = by_title(&o);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].status, "FAILED");
    assert!(n[0].is_final);
    let f = n[0].failure.as_ref().expect("failure");
    assert_eq!(f.stage.as_deref(), Some("DeployToExternalAccount"));
    assert_eq!(f.actions.len(), 3);
    let ids: Vec<_> = f
        .actions
        .iter()
        .filter_map(|a| a.external_id.clone())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|i| i.starts_with("d-")));
}

#[tokio::test]
async fn s6_two_pipelines_waiting_for_approval() {
    let o = run(
        &scenario("s6-manual-approval-waiting-two-pipelines.jsonl"),
        &[1],
    )
    .await;
    let n = by_title(&o);
    assert_eq!(n.len(), 2);
    for note in &n {
        assert_eq!(note.status, "WAITING_FOR_APPROVAL", "{}", note.title);
        assert!(!note.is_final);
        let a = note.approval.as_ref().expect("approval");
        assert!(a
            .review_link
            .as_deref()
            .is_some_and(|l| l.contains(note.pipeline.as_deref().unwrap_or("?"))));
        assert!(a.expires.is_some());
        assert!(a.custom_data.is_some());
    }
}

#[tokio::test]
async fn s7_ecs_rollback_is_never_success() {
    let o = run(
        &scenario("s7-ecs-deployment-circuit-breaker-rollback.jsonl"),
        &[1],
    )
    .await;
    let n = by_title(&o);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].status, "ROLLED_BACK");
    assert!(n[0].is_final);
    assert!(n[0]
        .failure
        .as_ref()
        .and_then(|f| f.reason.as_deref())
        .is_some_and(|r| r.contains("circuit breaker")));
    assert!(n[0]
        .warnings
        .iter()
        .any(|w| w.contains("SERVICE_TASK_START_IMPAIRED")));
}

#[tokio::test]
async fn s8_crashes_during_a_deployment_on_it_after_it_a_crash_loop_of_the_service() {
    let o = run(&scenario("s8-ecs-service-crash-loop.jsonl"), &[1]).await;
    let n = by_title(&o);
    assert_eq!(n.len(), 2, "{n:#?}");
    let (deploy, service) = (n[0], n[1]);
    assert_eq!(deploy.title, "prod/inventory-sync deployment");
    assert_eq!(deploy.status, "SUCCEEDED");
    assert_eq!(deploy.crashes, Some(1), "the crash during the deployment");
    assert_eq!(
        deploy.warnings,
        ["1 task crashed, last: sync: Essential container in task exited (exit 1)"]
    );
    assert_eq!(service.kind, herald::notification::Kind::EcsService);
    assert_eq!(service.title, "prod/inventory-sync service");
    // Three crashes within 15 minutes; the scheduler's scale-in stop is no crash.
    assert_eq!(
        (service.status.as_str(), service.is_final),
        ("CRASH_LOOP", false)
    );
    assert_eq!(service.crashes, Some(3));
    assert_eq!(
        service.failure.as_ref().and_then(|f| f.reason.as_deref()),
        Some("sync: OutOfMemoryError: Container killed due to memory usage (exit 137)")
    );
    let last = service.last_crash.as_ref().expect("last crash");
    assert_eq!(
        (last.task.as_str(), last.exit_code),
        ("1c0ffee0000000000000000000000005", Some(137))
    );
    assert!(o.posts.values().all(|p| *p == 1), "{:?}", o.posts);
}

/// Who changed what (CloudTrail): the call that started a deployment is its trigger, a change
/// of the desired count is an `ecs_scaling` thread that ends at the service's next steady
/// state, autoscaling's calls say so, and a refused call changes nothing.
#[tokio::test]
async fn s9_who_deployed_and_who_scaled() {
    let o = run(&scenario("s9-ecs-who-changed-what.jsonl"), &[1]).await;
    let n = by_title(&o);
    let told: Vec<(&str, &str, Option<&str>, Option<&str>)> = n
        .iter()
        .map(|n| {
            (
                n.title.as_str(),
                n.status.as_str(),
                n.trigger.as_deref(),
                n.invoked_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        told,
        [
            (
                "prod/gateway deployment",
                "SUCCEEDED",
                Some("UpdateService by bob-ops (gateway:88)"),
                None
            ),
            (
                "prod/search-indexer scaled to 6 by alice@example.com",
                "SUCCEEDED",
                Some("UpdateService by alice@example.com"),
                None
            ),
            (
                "prod/search-indexer scaled to 9 by Application Auto Scaling",
                "SUCCEEDED",
                Some("UpdateService by Application Auto Scaling"),
                Some("ecs.application-autoscaling.amazonaws.com")
            ),
        ]
    );
    assert_eq!(n[0].principal.as_deref(), Some("bob-ops"));
    assert_eq!(n[1].kind, herald::notification::Kind::EcsScaling);
    assert_eq!(
        (n[1].desired_count, n[1].duration_secs),
        (Some(6), Some(90))
    );
    assert!(n.iter().all(|n| n.is_final));
    // Without its steady state a scaling is still in progress.
    let events: Vec<Event> = scenario("s9-ecs-who-changed-what.jsonl")
        .into_iter()
        .filter(|e| !matches!(e, Event::EcsServiceAction(_)))
        .collect();
    let o = run(&events, &[1]).await;
    let statuses: Vec<&str> = by_title(&o)
        .iter()
        .filter(|n| n.kind == herald::notification::Kind::EcsScaling)
        .map(|n| n.status.as_str())
        .collect();
    assert_eq!(statuses, ["IN_PROGRESS", "IN_PROGRESS"]);
}

/// AWS Health: one thread per event ARN, whichever accounts it came from, edited as AWS
/// updates it, CLOSED once AWS says so.
#[tokio::test]
async fn s10_an_aws_health_issue_is_one_thread_edited_until_closed() {
    let o = run(&scenario("s10-aws-health-ecs-issue.jsonl"), &[1]).await;
    let n = by_title(&o);
    assert_eq!(n.len(), 1, "{n:#?}");
    let h = n[0].health.as_ref().expect("health");
    assert_eq!(n[0].kind, herald::notification::Kind::Health);
    assert_eq!(
        n[0].title,
        "AWS Health: AWS_ECS_OPERATIONAL_ISSUE in eu-west-1"
    );
    assert_eq!((n[0].status.as_str(), n[0].is_final), ("CLOSED", true));
    assert_eq!(
        (h.service.as_str(), h.category.as_deref()),
        ("ECS", Some("issue"))
    );
    assert_eq!(h.accounts, ["111122223333", "444455556666"]);
    assert!(h
        .description
        .as_deref()
        .is_some_and(|d| d.contains("has been resolved")));
    assert_eq!(n[0].duration_secs, Some(85 * 60));
    assert!(o.posts.values().all(|p| *p == 1), "{:?}", o.posts);
    // Before AWS closed it: OPEN, with the cause identified.
    let open: Vec<Event> = scenario("s10-aws-health-ecs-issue.jsonl")
        .into_iter()
        .take(3)
        .collect();
    let o = run(&open, &[1]).await;
    let n = by_title(&o);
    assert_eq!((n[0].status.as_str(), n[0].is_final), ("OPEN", false));
    assert!(n[0]
        .health
        .as_ref()
        .and_then(|h| h.description.as_deref())
        .is_some_and(|d| d.contains("identified the cause")));
}

/// The crash episode ends RECOVERED once its steady state has held `recovered_after_secs`
/// (a timer), and the next crash is a new episode: a new message.
#[tokio::test]
async fn a_crash_episode_recovers_on_its_timer_and_the_next_crash_opens_another() {
    let (runner, recorder) = recorded(Mode::Progress);
    let events = scenario("s8-ecs-service-crash-loop.jsonl");
    let t = 1_772_446_000; // 2026-03-02T10:06:40Z, about when the events happened
    runner.process(&events, t).await.expect("process");
    // The crashes after the deployment wait a minute for events that would place them, then
    // are the service's; its steady state is recovery 5 minutes after that.
    runner.fire_due(t + 60).await.expect("timers");
    runner.fire_due(t + 359).await.expect("timers");
    let service = |seen: &[(Op, String, Notification)]| -> Vec<(String, String)> {
        seen.iter()
            .filter(|(_, _, n)| n.kind == herald::notification::Kind::EcsService)
            .map(|(_, id, n)| (id.clone(), n.status.clone()))
            .collect()
    };
    let before = service(&recorder.seen.lock().expect("lock"));
    assert_eq!(before.last().map(|s| s.1.as_str()), Some("CRASH_LOOP"));
    runner.fire_due(t + 360).await.expect("timers");
    runner.flush(t + 400).await.expect("flush");
    let after = service(&recorder.seen.lock().expect("lock"));
    let episode0 = "es#123456789012#eu-west-1#prod#inventory-sync#0";
    assert_eq!(
        after.last(),
        Some(&(episode0.to_owned(), "RECOVERED".to_owned()))
    );
    // A crash after the recovery opens episode 1; a duplicate of an old one changes nothing.
    let late: Vec<Event> = events
        .iter()
        .filter(|e| matches!(e, Event::EcsTask(_)))
        .cloned()
        .map(|e| match e {
            Event::EcsTask(mut task) => {
                task.task_arn.push_str("-late");
                task.meta.time = task.meta.time.map(|t| t + chrono::Duration::hours(3));
                Event::EcsTask(task)
            }
            other => other,
        })
        .take(1)
        .collect();
    runner.process(&events, t + 500).await.expect("duplicates");
    runner.fire_due(t + 560).await.expect("timers");
    runner.process(&late, t + 600).await.expect("a later crash");
    runner.fire_due(t + 660).await.expect("timers");
    let seen = recorder.seen.lock().expect("lock");
    let episode1 = "es#123456789012#eu-west-1#prod#inventory-sync#1";
    let posts: Vec<&String> = seen
        .iter()
        .filter(|(op, _, n)| *op == Op::Post && n.kind == herald::notification::Kind::EcsService)
        .map(|(_, id, _)| id)
        .collect();
    assert_eq!(posts, [episode0, episode1]);
    let last = seen.last().expect("told");
    assert_eq!(
        (last.1.as_str(), last.2.status.as_str()),
        (episode1, "RECOVERING")
    );
    assert_eq!(last.2.crashes, Some(1));
}

/// A crash of a task whose deployment Herald has not heard of waits a minute for it (events
/// arrive out of order), on the service item's timer: if the deployment comes, the crash is
/// told on it; if not, the crash opens the service's crash episode when the wait ends.
#[tokio::test]
async fn a_crash_of_an_unknown_deployment_waits_a_minute_for_it() {
    let events = scenario("s8-ecs-service-crash-loop.jsonl");
    let crash = events
        .iter()
        .find(|e| matches!(e, Event::EcsTask(t) if t.task_arn.ends_with("0005")))
        .cloned()
        .expect("a crash");
    let t = 1_772_446_000;
    let kinds = |r: &Recorder| -> Vec<(Op, String)> {
        r.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(op, _, n)| (*op, n.kind.as_str().to_owned()))
            .collect()
    };
    // Nobody tells of the deployment: the crash is its service's own, once the wait ends.
    let (runner, recorder) = recorded(Mode::Progress);
    runner
        .process(std::slice::from_ref(&crash), t)
        .await
        .expect("crash");
    runner.fire_due(t + 59).await.expect("timers");
    assert!(kinds(&recorder).is_empty(), "still waiting");
    runner.fire_due(t + 60).await.expect("timers");
    assert_eq!(kinds(&recorder), [(Op::Post, "ecs_service".to_owned())]);
    runner.fire_due(t + 120).await.expect("timers");
    assert_eq!(kinds(&recorder).len(), 1, "released once");
    // The deployment's events come within the minute: the crash was during it.
    let (runner, recorder) = recorded(Mode::Progress);
    runner
        .process(std::slice::from_ref(&crash), t)
        .await
        .expect("crash");
    let started: Vec<Event> = events
        .iter()
        .filter(|e| matches!(e, Event::EcsDeployment(d) if d.event_name.ends_with("IN_PROGRESS")))
        .cloned()
        .collect();
    runner.process(&started, t + 30).await.expect("deployment");
    runner.fire_due(t + 90).await.expect("timers");
    let seen = recorder.seen.lock().expect("lock");
    assert!(
        seen.iter()
            .all(|(_, _, n)| n.kind.as_str() == "ecs_deployment"),
        "{seen:?}"
    );
    assert_eq!(seen.last().and_then(|(_, _, n)| n.crashes), Some(1));
}

#[tokio::test]
async fn meerkat_failed_codebuild_flow_keeps_the_reason() {
    let o = run(
        &scenario("meerkat-CodePipelineFailedCodeBuildFlow.jsonl"),
        &[1],
    )
    .await;
    let n = by_title(&o);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].status, "FAILED");
    let f = n[0].failure.as_ref().expect("failure");
    assert_eq!(f.actions.len(), 1);
    assert_eq!(f.actions[0].provider.as_deref(), Some("CodeBuild"));
    assert!(f.actions[0].reason.is_some());
}

#[tokio::test]
async fn meerkat_failed_codedeploy_flow() {
    let o = run(
        &scenario("meerkat-CodePipelineFailedCodeDeployFlow.jsonl"),
        &[1],
    )
    .await;
    let n = by_title(&o);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].status, "FAILED");
    let f = n[0].failure.as_ref().expect("failure");
    assert_eq!(f.actions.len(), 4);
    assert!(f
        .actions
        .iter()
        .all(|a| a.provider.as_deref() == Some("CodeDeploy")));
}

#[tokio::test]
async fn meerkat_success_flow_with_duplicates() {
    let o = run(&scenario("meerkat-CodePipelineSuccessFlow.jsonl"), &[1]).await;
    let n = by_title(&o);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].status, "SUCCEEDED");
    assert!(o.posts.values().all(|p| *p == 1));
}

/// A small deterministic PRNG so failures reproduce from the printed seed.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What must not depend on arrival order.
fn essence(n: &Notification) -> serde_json::Value {
    serde_json::json!({
        "status": n.status,
        "final": n.is_final,
        "failure": n.failure,
        "commit": n.commit,
        "stages": n.stages,
        "approval": n.approval,
        "warnings": n.warnings,
        "crashes": n.crashes,
        "last_crash": n.last_crash,
        "title": n.title,
        "trigger": n.trigger,
        "principal": n.principal,
        "invoked_by": n.invoked_by,
        "finished_at": n.finished_at,
        "duration_secs": n.duration_secs,
        "health": n.health,
        "account": n.account,
        "region": n.region,
    })
}

#[tokio::test]
async fn every_scenario_is_order_and_duplicate_independent() {
    let dir = format!("{}/tests/fixtures/scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        let events = scenario(&name);
        let baseline = run(&events, &[1]).await;
        let want: BTreeMap<&String, serde_json::Value> = baseline
            .finals
            .iter()
            .map(|(k, n)| (k, essence(n)))
            .collect();
        for seed in 1..=200u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut shuffled = events.clone();
            for _ in 0..rng.below(events.len() / 2 + 1) {
                let dup = shuffled[rng.below(shuffled.len())].clone();
                shuffled.push(dup);
            }
            for i in (1..shuffled.len()).rev() {
                let j = rng.below(i + 1);
                shuffled.swap(i, j);
            }
            let batches: Vec<usize> = (0..4).map(|_| 1 + rng.below(10)).collect();
            let got = run(&shuffled, &batches).await;
            let got_map: BTreeMap<&String, serde_json::Value> =
                got.finals.iter().map(|(k, n)| (k, essence(n))).collect();
            assert_eq!(got_map, want, "{name}, seed {seed}");
            assert!(
                got.posts.values().all(|p| *p == 1),
                "{name}, seed {seed}: {:?}",
                got.posts
            );
        }
    }
}

/// Meerkat's mode: nothing until the end, then one post per finished story with the same final
/// content progress mode ends with; stories still running post nothing.
#[tokio::test]
async fn final_only_posts_once_per_finished_story() {
    let dir = format!("{}/tests/fixtures/scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        let events = scenario(&name);
        let progress = run(&events, &[3]).await;
        let fin = run_mode(&events, &[3], Mode::FinalOnly).await;
        let finished: BTreeMap<&String, serde_json::Value> = progress
            .finals
            .iter()
            .filter(|(_, n)| n.is_final)
            .map(|(k, n)| (k, essence(n)))
            .collect();
        let got: BTreeMap<&String, serde_json::Value> =
            fin.finals.iter().map(|(k, n)| (k, essence(n))).collect();
        assert_eq!(got, finished, "{name}");
        assert!(
            fin.posts.values().all(|p| *p == 1),
            "{name}: {:?}",
            fin.posts
        );
    }
}

#[tokio::test]
async fn a_failed_ecs_deployment_names_its_stopped_tasks_reasons_and_exit_codes() {
    // A real task STOPPED event (its essential container `app` exited 2), and the circuit
    // breaker's SERVICE_DEPLOYMENT_FAILED for the deployment that started it, in either order.
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let task = std::fs::read_to_string(format!(
        "{dir}/ecs-task-state-change-stopped-essential-container-exit2-fivexl.json"
    ))
    .expect("task fixture");
    let mut failed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/ecs-deployment-state-change-failed-doc.json"))
            .expect("deployment fixture"),
    )
    .expect("json");
    // The same service, cluster, account and region as the task, and its deployment id.
    failed["account"] = "111111111111".into();
    failed["region"] = "eu-central-1".into();
    failed["time"] = "2020-03-16T15:40:00Z".into();
    failed["resources"] =
        serde_json::json!(["arn:aws:ecs:eu-central-1:111111111111:service/test/example-api-v1"]);
    failed["detail"]["deploymentId"] = "ecs-svc/9300480928766973637".into();
    let failed = failed.to_string();
    for order in [[&task, &failed], [&failed, &task]] {
        let events: Vec<Event> = order
            .iter()
            .flat_map(|l| decode(l.as_bytes()).expect("decodes"))
            .collect();
        let o = run(&events, &[1]).await;
        let n = by_title(&o);
        assert_eq!(n.len(), 1, "{n:#?}");
        assert_eq!(n[0].status, "FAILED");
        // The crash is told on the deployment it happened during, whichever came first, and
        // opens no crash episode of the service.
        assert_eq!(n[0].crashes, Some(1));
        let reason = n[0]
            .failure
            .as_ref()
            .and_then(|f| f.reason.as_deref())
            .unwrap_or_default();
        assert!(reason.contains("circuit breaker"), "{reason}");
        assert!(
            reason.contains("app: Essential container in task exited (exit 2)"),
            "{reason}"
        );
    }
}
