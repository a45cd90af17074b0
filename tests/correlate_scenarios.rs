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
    outcome(&recorder)
}

/// What a recorder saw: each chat message's last notification, and its posts.
fn outcome(recorder: &Recorder) -> Outcome {
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

/// The same approvals delivered raw (SNS raw message delivery to SQS: no account) join their
/// executions by region, pipeline, stage and action, before or after the action's event.
#[tokio::test]
async fn s6_raw_approval_messages_join_their_executions_in_any_order() {
    let mut events: Vec<Event> = scenario("s6-manual-approval-waiting-two-pipelines.jsonl")
        .into_iter()
        .map(|mut ev| {
            if let Event::ManualApproval(a) = &mut ev {
                a.meta.account = String::new();
            }
            ev
        })
        .collect();
    // The Manual approval actions' own events (the scenario has the executions' only).
    for (account, pipeline, execution, action) in [
        (
            "123456789012",
            "tf-jenkins-update-apply-pipeline",
            "d8fcecc5-d21a-4007-99c0-f4063b2192b1",
            "Approval",
        ),
        (
            "429533234373",
            "vrathore-slack-test2-sandbox-pipeline",
            "b7c9a84b-aebf-4f02-9a6a-336282893747",
            "ManualApproval",
        ),
    ] {
        let doc = serde_json::json!({
            "version": "0", "id": format!("act-{execution}"),
            "detail-type": "CodePipeline Action Execution State Change",
            "source": "aws.codepipeline", "account": account, "time": "2024-01-01T00:00:05Z",
            "region": "us-east-1", "resources": [],
            "detail": {"pipeline": pipeline, "execution-id": execution, "stage": "Approval",
                       "action": action, "state": "STARTED", "version": 1,
                       "type": {"owner": "AWS", "category": "Approval", "provider": "Manual", "version": "1"}}
        });
        events.extend(decode(doc.to_string().as_bytes()).expect("decodes"));
    }
    let (approvals, others): (Vec<Event>, Vec<Event>) = events
        .iter()
        .cloned()
        .partition(|e| matches!(e, Event::ManualApproval(_)));
    assert!(!approvals.is_empty());
    for order in [
        [others.clone(), approvals.clone()].concat(),
        [approvals.clone(), others.clone()].concat(),
    ] {
        for batch in [&[1usize][..], &[50]] {
            let o = run(&order, batch).await;
            let n = by_title(&o);
            assert_eq!(n.len(), 2, "{:?}", o.finals.keys());
            for note in &n {
                assert_eq!(note.status, "WAITING_FOR_APPROVAL", "{}", note.title);
                assert!(!note.account.is_empty());
                let a = note.approval.as_ref().expect("approval");
                assert!(
                    a.review_link
                        .as_deref()
                        .is_some_and(|l| l.contains(note.pipeline.as_deref().unwrap_or("?"))),
                    "{}: the raw approval joined its own execution",
                    note.title
                );
                assert!(a.custom_data.is_some() && a.expires.is_some());
            }
        }
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
        "verdict": n.verdict,
        "alarms": n.alarms,
        "deployment": n.deployment,
        "aws_health": n.aws_health,
        "held": n.held,
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
        // An alarm whose event comes before any event of the deployment it fired during is
        // posted at once (nothing says yet that it should wait): s11's orders are those in
        // which a deployment's first event comes before the alarms during it (see
        // `s11_verdicts_are_order_and_duplicate_independent`).
        if name.starts_with("s11") {
            continue;
        }
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

/// s11 on the events' own clock, as `herald replay` runs it: each batch at the newest event
/// time seen, timers and settled finals told before each batch, and at the end the clock run
/// a day on (every 900 s watch window over). A batch holds at most `batch[i]` events, all
/// within 5 minutes of its first (a batch spanning an alarm's two episodes would tell only the
/// second: one thread has one message at a time, see `correlate::alarm`).
async fn run_verdicts(events: &[Event], batch: &[usize]) -> Outcome {
    let (runner, recorder) = recorded(Mode::Progress);
    let time = |e: &Event| e.meta().time.map_or(0, |t| t.timestamp());
    let mut now = 0;
    let mut i = 0;
    let mut b = 0;
    while i < events.len() {
        let n = batch[b % batch.len()].max(1);
        let first = time(&events[i]);
        let mut end = i + 1;
        while end < events.len() && end - i < n && (time(&events[end]) - first).abs() <= 300 {
            end += 1;
        }
        now = events[i..end].iter().map(time).fold(now, i64::max);
        runner.fire_due(now).await.expect("timers");
        runner.deliver_due(now).await.expect("settled");
        runner.process(&events[i..end], now).await.expect("process");
        i = end;
        b += 1;
    }
    for step in 1..=24 {
        let at = now + step * 3_600;
        runner.fire_due(at).await.expect("timers");
        runner.deliver_due(at).await.expect("settled");
    }
    runner.flush(now + 86_400).await.expect("flush");
    outcome(&recorder)
}

const S11: &str = "s11-ecs-deploy-verdicts.jsonl";
const GW_A: &str = "ecs#123456789012#eu-west-1#prod#gateway#ecs-svc/8245970361628043112";
const API_B: &str = "ecs#123456789012#eu-west-1#prod#api#ecs-svc/5093817264019283746";
const GW_C: &str = "ecs#123456789012#eu-west-1#prod#gateway#ecs-svc/6120394857162039485";
const FIVE_XX: &str = "al#123456789012#eu-west-1#prod-gateway-5xx";

/// Deploy verdicts: an alarm on the service's metrics (its `ClusterName`/`ServiceName`
/// dimensions) is told on the deployments around it; a deployment that succeeded is watched
/// for 900 s and ends HEALTHY or UNHEALTHY; an alarm that fires and clears while its service
/// deploys posts nothing of its own; one still in ALARM when the deploy ends is posted, and
/// every alarm posted names the deployment it fired after.
#[tokio::test]
async fn s11_deploys_are_judged_by_the_alarms_watching_their_service() {
    let o = run_verdicts(&scenario(S11), &[1]).await;
    let posted: Vec<&str> = o.posts.keys().map(String::as_str).collect();
    assert_eq!(
        posted,
        [
            "al#123456789012#eu-west-1#prod-gateway-5xx#2",
            "al#123456789012#eu-west-1#prod-gateway-5xx#3",
            "al#123456789012#eu-west-1#prod-gateway-cpu#1",
            API_B,
            GW_C,
            GW_A,
        ],
        "the 5xx alarm's first episode (10:02 to 10:04, during deployment A) posts nothing"
    );
    assert!(o.posts.values().all(|p| *p == 1), "{:?}", o.posts);

    // A: the 5xx alarm fired 30 s after it ended; the CPU alarm was on before it started.
    let a = &o.finals[GW_A];
    let v = a.verdict.as_ref().expect("verdict");
    assert_eq!(
        (v.status.as_str(), v.alarms.as_slice(), v.after_secs),
        ("UNHEALTHY", &["prod-gateway-5xx".to_string()][..], Some(30))
    );
    let phases: Vec<(&str, &str, bool)> = a
        .alarms
        .iter()
        .map(|x| (x.name.as_str(), x.phase.as_str(), x.cleared_at.is_some()))
        .collect();
    assert_eq!(
        phases,
        [
            ("prod-gateway-cpu", "before", true),
            ("prod-gateway-5xx", "during", true),
            ("prod-gateway-5xx", "after", true),
        ]
    );
    // B: nothing fired in its window.
    let b = o.finals[API_B].verdict.as_ref().expect("verdict");
    assert_eq!((b.status.as_str(), b.watched_secs), ("HEALTHY", Some(900)));
    // C: the 5xx alarm fired while it ran and was still in ALARM at its end.
    let c = &o.finals[GW_C];
    let v = c.verdict.as_ref().expect("verdict");
    assert_eq!((v.status.as_str(), v.after_secs), ("UNHEALTHY", Some(0)));
    assert_eq!(c.alarms.len(), 1);
    assert!(c.alarms[0].cleared_at.is_some(), "its 12:30 OK is told too");

    // The alarms' own messages name the deployment.
    let d = o.finals[&format!("{FIVE_XX}#2")]
        .deployment
        .as_ref()
        .expect("deployment named");
    assert_eq!(
        (
            d.deployment_id.as_str(),
            d.by.as_deref(),
            d.after_secs,
            d.during
        ),
        (
            "ecs-svc/8245970361628043112",
            Some("bob-ops"),
            Some(30),
            false
        )
    );
    let d = o.finals[&format!("{FIVE_XX}#3")]
        .deployment
        .as_ref()
        .expect("deployment named");
    assert_eq!(
        (d.deployment_id.as_str(), d.during, d.status.as_str()),
        ("ecs-svc/6120394857162039485", true, "SUCCEEDED")
    );
    assert!(o.finals.values().all(|n| n.held.is_none()));
    let cpu = &o.finals["al#123456789012#eu-west-1#prod-gateway-cpu#1"];
    assert!(cpu.deployment.is_none(), "it fired before any deployment");

    // Before the windows ran out: WATCHING (B), and the verdicts already reached stay.
    let o = run(&scenario(S11), &[1]).await;
    let b = o.finals[API_B].verdict.as_ref().expect("verdict");
    assert_eq!(b.status, "WATCHING");
    assert_eq!(
        o.finals[GW_A].verdict.as_ref().map(|v| v.status.as_str()),
        Some("UNHEALTHY")
    );
}

/// While deployment C runs, the 5xx alarm is held; it is posted when C ends with it still in
/// ALARM, or after an hour if C's end never comes. With verdicts off (`watch_secs` 0) a
/// deployment has no verdict, but an alarm is still held while it runs and names it.
#[tokio::test]
async fn an_alarm_held_while_deploying_is_posted_when_the_deploy_ends_still_in_alarm() {
    let events = scenario(S11);
    // Up to C's 12:03 ALARM: held, not posted.
    let upto: Vec<Event> = events[..13].to_vec();
    let o = run(&upto, &[1]).await;
    assert!(
        !o.posts.contains_key(&format!("{FIVE_XX}#3")),
        "{:?}",
        o.posts.keys()
    );
    // C's end never heard of: told anyway an hour (processing time) after it fired.
    let (runner, recorder) = recorded(Mode::Progress);
    runner.process(&upto, 1_000).await.expect("process");
    runner.fire_due(4_599).await.expect("timers");
    assert!(!outcome(&recorder)
        .posts
        .contains_key(&format!("{FIVE_XX}#3")));
    runner.fire_due(4_600).await.expect("timers");
    let o = outcome(&recorder);
    let n = &o.finals[&format!("{FIVE_XX}#3")];
    assert_eq!((n.status.as_str(), n.held.is_none()), ("ALARM", true));
    assert_eq!(n.deployment.as_ref().map(|d| d.during), Some(true));
    // C's COMPLETED: posted.
    let o = run(&events[..14], &[1]).await;
    let n = &o.finals[&format!("{FIVE_XX}#3")];
    assert_eq!((n.status.as_str(), n.held.is_none()), ("ALARM", true));

    // Verdicts off.
    let recorder = Arc::new(Recorder::default());
    let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
    sinks.insert("r".into(), recorder.clone());
    let mut cfg = EngineConfig::default();
    cfg.timing.watch_secs = 0;
    let engine = Arc::new(Engine::new(Arc::new(MemoryStore::new()), cfg));
    let runner = Runner::new(engine, Router::single("r"), sinks, Mode::Progress, 5);
    runner.process(&events, 1_000).await.expect("process");
    runner.fire_due(100_000).await.expect("timers");
    runner.flush(100_000).await.expect("flush");
    let o = outcome(&recorder);
    assert!(o.finals.values().all(|n| n.verdict.is_none()));
    assert!(!o.posts.contains_key(&format!("{FIVE_XX}#1")), "held");
    let n = &o.finals[&format!("{FIVE_XX}#3")];
    assert_eq!(n.deployment.as_ref().map(|d| d.during), Some(true));
}

/// s11 with every event up to a minute late and a quarter of them twice (the 5xx alarm that
/// fired 30 s after deployment A ended arriving before A's COMPLETED, and after it),
/// where each deployment's first event comes before the alarms that fired while it ran (AWS
/// sends it minutes before them) and each alarm's own changes come in order (an alarm's
/// episodes are told by arrival, see `correlate::alarm`): the same messages, each posted once,
/// with the same verdicts, alarms and deployments.
#[tokio::test]
async fn s11_verdicts_are_order_and_duplicate_independent() {
    let events = scenario(S11);
    let baseline = run_verdicts(&events, &[1]).await;
    let want: BTreeMap<&String, serde_json::Value> = baseline
        .finals
        .iter()
        .map(|(k, n)| (k, essence(n)))
        .collect();
    let first_of = |ev: &Event| match ev {
        Event::EcsDeployment(d) if d.event_name == "SERVICE_DEPLOYMENT_IN_PROGRESS" => {
            Some((d.service.clone(), d.meta.time))
        }
        _ => None,
    };
    for seed in 1..=100u64 {
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // Each event up to a minute late, some twice.
        let mut late: Vec<(i64, Event)> = Vec::new();
        for ev in &events {
            let t = ev.meta().time.map_or(0, |t| t.timestamp());
            for _ in 0..1 + usize::from(rng.below(4) == 0) {
                late.push((t + rng.below(60) as i64, ev.clone()));
            }
        }
        late.sort_by_key(|(t, _)| *t);
        let mut shuffled: Vec<Event> = late.into_iter().map(|(_, e)| e).collect();
        // Each deployment's first event moves before the first alarm that fired while it ran.
        let starts: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> =
            events.iter().filter_map(first_of).collect();
        for (service, start) in starts {
            let Some(at) = shuffled
                .iter()
                .position(|e| first_of(e).is_some_and(|(s, t)| s == service && t == start))
            else {
                continue;
            };
            let needs = shuffled.iter().position(|e| {
                matches!(e, Event::AlarmState(a) if service == "gateway"
                    && a.meta.time >= start
                    && a.meta.time.zip(start).is_some_and(|(t, s)| (t - s).num_minutes() < 10))
            });
            if let Some(n) = needs.filter(|n| *n < at) {
                let ev = shuffled.remove(at);
                shuffled.insert(n, ev);
            }
        }
        // Each alarm's changes in their order, in the places its events were shuffled to.
        for name in ["prod-gateway-5xx", "prod-gateway-cpu"] {
            let of = |e: &Event| matches!(e, Event::AlarmState(a) if a.alarm_name == name);
            let places: Vec<usize> = (0..shuffled.len()).filter(|i| of(&shuffled[*i])).collect();
            let mut mine: Vec<Event> = places.iter().map(|i| shuffled[*i].clone()).collect();
            mine.sort_by_key(|e| e.meta().time);
            for (i, ev) in places.into_iter().zip(mine) {
                shuffled[i] = ev;
            }
        }
        let batches: Vec<usize> = (0..4).map(|_| 1 + rng.below(10)).collect();
        let got = run_verdicts(&shuffled, &batches).await;
        let got_map: BTreeMap<&String, serde_json::Value> =
            got.finals.iter().map(|(k, n)| (k, essence(n))).collect();
        assert_eq!(got_map, want, "seed {seed}");
        assert!(
            got.posts.values().all(|p| *p == 1),
            "seed {seed}: {:?}",
            got.posts
        );
    }
}

/// An ECS deployment while AWS Health says ECS has an operational issue in its account and
/// region names the issue on its message and in its verdict; one after the issue closed does
/// not (the permutation test runs this scenario in every order).
#[tokio::test]
async fn s12_a_deploy_during_an_aws_health_issue_names_it() {
    let o = run(&scenario("s12-ecs-deploy-during-aws-health.jsonl"), &[1]).await;
    let during = &o.finals["ecs#111122223333#eu-west-1#prod#gateway#ecs-svc/7301928374650192837"];
    let issues: Vec<(&str, &str)> = during
        .aws_health
        .iter()
        .map(|h| (h.event_type_code.as_str(), h.status.as_str()))
        .collect();
    assert_eq!(issues, [("AWS_ECS_OPERATIONAL_ISSUE", "CLOSED")]);
    assert_eq!(
        during.aws_health[0].since.map(|t| t.to_rfc3339()),
        Some("2026-03-06T20:00:00+00:00".to_string())
    );
    let v = during.verdict.as_ref().expect("verdict");
    assert_eq!(v.aws_health, ["AWS_ECS_OPERATIONAL_ISSUE"]);
    let text = herald::render::text::render(during);
    assert!(
        text.contains("AWS Health: AWS_ECS_OPERATIONAL_ISSUE (now closed) was open in eu-west-1 since 2026-03-06 20:00 UTC"),
        "{text}"
    );
    let after = &o.finals["ecs#111122223333#eu-west-1#prod#gateway#ecs-svc/7301928374650199999"];
    assert!(after.aws_health.is_empty(), "{:?}", after.aws_health);
    // Before AWS closed it, and before the deployment's own end: open.
    let events = scenario("s12-ecs-deploy-during-aws-health.jsonl");
    let o = run(&events[..4], &[1]).await;
    let during = &o.finals["ecs#111122223333#eu-west-1#prod#gateway#ecs-svc/7301928374650192837"];
    assert_eq!(during.aws_health.len(), 1);
    assert_eq!(during.aws_health[0].status, "OPEN");
}

/// `inhibit = false` holds for its own rule only: a held alarm goes to the audit destination
/// whose rule says so, and to the usual one only once it is released (its deployment ended with
/// it still in ALARM). An alarm heard of only as INSUFFICIENT_DATA posts nothing, even though
/// its service's deployments are told to it.
#[tokio::test]
async fn a_held_alarm_goes_only_where_a_rule_with_inhibit_false_sends_it() {
    use herald::route::{expr::Expr, Rule};
    let (audit, ops) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
    sinks.insert("audit".into(), audit.clone());
    sinks.insert("ops".into(), ops.clone());
    let rule = |name: &str, to: &str, inhibit: bool, cont: bool| Rule {
        name: name.into(),
        expr: "kind:alarm".parse::<Expr>().expect("expression"),
        destinations: vec![to.into()],
        cont,
        inhibit,
    };
    let router = Router {
        rules: vec![
            rule("audit", "audit", false, true),
            rule("ops", "ops", true, false),
        ],
        default: None,
    };
    let engine = Arc::new(Engine::new(
        Arc::new(MemoryStore::new()),
        EngineConfig::default(),
    ));
    let runner = Runner::new(engine, router, sinks, Mode::Progress, 5);
    let mut events = scenario(S11);
    // prod-gateway-mem on the same service, never more than INSUFFICIENT_DATA.
    let unknown = serde_json::json!({
        "version": "0", "id": "7d1e9b40-0c1a-4f3e-8a52-999999999999",
        "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": "2026-03-02T12:01:00Z", "region": "eu-west-1",
        "resources": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-gateway-mem"],
        "detail": {"alarmName": "prod-gateway-mem",
            "configuration": {"metrics": [{"id": "m1", "metricStat": {"metric": {
                "dimensions": {"ClusterName": "prod", "ServiceName": "gateway"},
                "name": "MemoryUtilization", "namespace": "AWS/ECS"}, "period": 60, "stat": "Average"}}]},
            "state": {"value": "INSUFFICIENT_DATA", "timestamp": "2026-03-02T12:01:00.000+0000"}}
    });
    events.insert(
        12,
        decode(unknown.to_string().as_bytes())
            .expect("decodes")
            .remove(0),
    );
    let third = format!("{FIVE_XX}#3");
    // Up to the 12:03 ALARM while deployment C runs: held, told to audit only.
    runner.process(&events[..14], 1_000).await.expect("process");
    let (a, o) = (outcome(&audit), outcome(&ops));
    assert!(a.posts.contains_key(&third), "{:?}", a.posts.keys());
    assert!(a.finals[&third].held.is_some());
    assert!(!o.posts.contains_key(&third), "{:?}", o.posts.keys());
    // C's COMPLETED with the alarm still on: released, posted to ops too, edited at audit.
    runner
        .process(&events[14..15], 1_001)
        .await
        .expect("process");
    let (a, o) = (outcome(&audit), outcome(&ops));
    assert_eq!(o.posts.get(&third), Some(&1), "{:?}", o.posts);
    assert_eq!(a.posts.get(&third), Some(&1));
    assert!(a.finals[&third].held.is_none());
    for r in [&a, &o] {
        assert!(
            !r.posts.keys().any(|k| k.contains("prod-gateway-mem")),
            "{:?}",
            r.posts.keys()
        );
    }
}
