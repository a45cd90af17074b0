//! Durable timers in a fleet: two workers share one DynamoDB table (DynamoDB Local, through the
//! AWS SDK over HTTP). Threads' timers live in their items and are found through the sparse
//! `wake` index, never a scan; each fires once fleet-wide (its firing is the thread's own
//! conditional write), and a worker killed between firing a timer and delivering what it
//! changed is followed by another once its delivery claim runs out.

mod support;

use herald::correlate::engine::EngineConfig;
use herald::correlate::TAKEOVER_GRACE_SECS;
use herald::deliver::Sink;
use herald::event::{decode, Event};
use herald::pipeline::Runner;
use herald::store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::Recorder;

const T0: i64 = 1_700_000_000;
const LEASE: i64 = 30;

fn runner(store: Arc<dyn Store>, sink: Arc<dyn Sink>, owner: &str) -> Runner {
    support::fleet_runner(
        store,
        sink,
        EngineConfig {
            owner: owner.into(),
            lease_secs: LEASE,
            ..EngineConfig::default()
        },
    )
}

/// Execution `i` started at `T0` and was never heard of again.
fn started(i: usize) -> Event {
    execution(i, "STARTED", "2023-11-14T22:13:20Z")
}

/// Execution `i` succeeded.
fn succeeded(i: usize) -> Event {
    execution(i, "SUCCEEDED", "2023-11-14T22:20:00Z")
}

fn execution(i: usize, state: &str, time: &str) -> Event {
    let doc = serde_json::json!({
        "version": "0", "id": format!("ev-{i}-{state}"),
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline", "account": "111122223333",
        "time": time, "region": "eu-west-1", "resources": [],
        "detail": {"pipeline": "web", "execution-id": format!("x{i:03}"), "state": state, "version": 1}
    });
    decode(doc.to_string().as_bytes())
        .expect("decodes")
        .pop()
        .expect("an event")
}

/// A worker's pipeline in final_only mode with a 5 s settle window.
fn settling_runner(store: Arc<dyn Store>, sink: Arc<Recorder>, owner: &str) -> Runner {
    let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
    sinks.insert("r".into(), sink);
    let engine = herald::correlate::engine::Engine::new(
        store,
        EngineConfig {
            owner: owner.into(),
            lease_secs: LEASE,
            ..EngineConfig::default()
        },
    );
    Runner::new(
        Arc::new(engine),
        herald::route::Router::single("r"),
        sinks,
        herald::config::Mode::FinalOnly,
        5,
    )
}

/// Stalled deliveries per thread, and who made them.
fn stalled(recorders: &[&Recorder]) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (w, r) in recorders.iter().enumerate() {
        for (_, thread, note) in r.seen.lock().expect("lock").iter() {
            if note.stalled {
                out.entry(thread.clone()).or_default().push(w);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_fire_each_timer_once_and_a_dead_firers_delivery_is_taken_over() {
    let store = support::dynamo_store("herald-timers").await;
    let (r1, r2) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let w1 = Arc::new(runner(store.clone(), r1.clone(), "w1"));
    let w2 = Arc::new(runner(store.clone(), r2.clone(), "w2"));

    let events: Vec<Event> = (0..40).map(started).collect();
    for chunk in events.chunks(10) {
        w1.process(chunk, T0).await.expect("processed");
    }
    // Nothing is due before the stall timeout (an hour by default).
    assert!(w2.engine.due(T0 + 3599, 100).await.expect("due").is_empty());

    // Execution 0's timer is fired by w1, which then dies before delivering what it changed:
    // the firing write took the delivery claim, and set a timer for just after the claim.
    let due = T0 + 3600;
    let key0 = "ex#111122223333#eu-west-1#web#x000";
    let (fired, _) = w1.engine.tick(key0, due, w1.as_ref()).await.expect("tick");
    assert!(fired.is_some(), "w1 fired execution 0's timer");
    let (_, t) = w1.engine.load(key0).await.expect("load").expect("thread");
    assert!(t.stalled_since.is_some());
    assert_eq!(t.wake, Some(due + LEASE + TAKEOVER_GRACE_SECS));

    // Both live workers look at once, at most 16 timers a look (a full batch looks again
    // soon): every other timer fires once, fleet-wide.
    let queries_before = store.requests().queries;
    for _ in 0..4 {
        let (a, b) = tokio::join!(w1.fire_due(due), w2.fire_due(due));
        a.expect("w1 fires");
        b.expect("w2 fires");
    }
    let queries = store.requests().queries - queries_before;
    let told = stalled(&[&r1, &r2]);
    assert_eq!(told.len(), 39, "every other execution told once: {told:?}");
    assert!(told.values().all(|w| w.len() == 1), "{told:?}");
    assert!(!told.contains_key(key0), "execution 0's claim still holds");
    // Each look is a Query of the index per hour partition (at a worker's first look, the
    // last two days'), never a Scan.
    assert_eq!(store.requests().scans, 0);
    assert!(queries <= 8 * 50, "{queries} queries");

    // After the dead worker's claim (and the grace), another worker tells execution 0.
    let later = due + LEASE + TAKEOVER_GRACE_SECS;
    w2.fire_due(later).await.expect("w2 fires again");
    let told = stalled(&[&r1, &r2]);
    assert_eq!(told.get(key0), Some(&vec![1]), "{told:?}");
    assert_eq!(told.len(), 40);
    // Nothing is left to fire, and firing again tells nobody twice.
    let again = T0 + 7200 + 60;
    w1.fire_due(again).await.expect("w1 fires");
    w2.fire_due(again).await.expect("w2 fires");
    assert!(stalled(&[&r1, &r2]).values().all(|w| w.len() == 1));
    assert!(w1.engine.due(again, 100).await.expect("due").is_empty());

    // The next event clears the stall, and its message says so.
    let mut next = started(5);
    if let Event::PipelineExecution(p) = &mut next {
        p.state = "SUCCEEDED".into();
        p.meta.time = chrono::DateTime::from_timestamp(again, 0);
    }
    w2.process(&[next], again).await.expect("processed");
    let seen = r2.seen.lock().expect("lock").clone();
    let last = seen
        .iter()
        .rev()
        .find(|(_, t, _)| t.ends_with("#x005"))
        .map(|(_, _, n)| n.clone())
        .expect("x005 delivered");
    assert!(!last.stalled && last.is_final, "{last:?}");
}

/// The service item's timer (a crash waiting for its deployment) and the crash episode's
/// recovery timer fire once fleet-wide: two workers look at once, one message is posted and
/// edited to RECOVERED once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_release_a_held_crash_and_recover_its_episode_once() {
    let store = support::dynamo_store("herald-crash").await;
    let (r1, r2) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let w1 = Arc::new(runner(store.clone(), r1.clone(), "w1"));
    let w2 = Arc::new(runner(store.clone(), r2.clone(), "w2"));
    let path = format!(
        "{}/tests/fixtures/scenarios/s8-ecs-service-crash-loop.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("scenario");
    let events: Vec<Event> = text
        .lines()
        .flat_map(|l| decode(l.as_bytes()).expect("decodes"))
        .collect();
    // The three crashes after the deployment, and the steady state; the deployment itself
    // never told: the first crash waits for it, the others join the episode it opens.
    let late: Vec<Event> = events
        .iter()
        .filter(|e| match e {
            Event::EcsTask(t) => t.task_arn.ends_with(['3', '4', '5']),
            Event::EcsServiceAction(a) => {
                a.meta.time.is_some_and(|t| t.timestamp() > 1_772_449_000)
            }
            _ => false,
        })
        .cloned()
        .collect();
    assert_eq!(late.len(), 4);
    w1.process(&late, T0).await.expect("processed");
    assert!(
        r1.seen.lock().expect("lock").is_empty(),
        "held for the deployment"
    );
    for at in [T0 + 60, T0 + 61, T0 + 360, T0 + 400] {
        let (a, b) = tokio::join!(w1.fire_due(at), w2.fire_due(at));
        a.expect("w1 fires");
        b.expect("w2 fires");
    }
    let mut told: Vec<(herald::deliver::Op, String)> = Vec::new();
    for r in [&r1, &r2] {
        for (op, _, n) in r.seen.lock().expect("lock").iter() {
            told.push((*op, n.status.clone()));
        }
    }
    told.sort_by_key(|(_, s)| s.clone());
    use herald::deliver::Op;
    assert_eq!(
        told,
        [
            (Op::Post, "CRASH_LOOP".to_owned()),
            (Op::Update, "RECOVERED".to_owned())
        ]
    );
    // Nothing left to fire.
    assert!(w2
        .engine
        .due(T0 + 100_000, 100)
        .await
        .expect("due")
        .is_empty());
}

/// The settle window on a timer: a worker that made an execution final and died inside the
/// window (its source message already acknowledged: nothing waits for the window) is followed
/// by another, whose timer tells the final message once the dead worker's claim runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_message_is_told_by_another_worker_when_its_worker_died_while_it_settled() {
    let store = support::dynamo_store("herald-settle").await;
    let (r1, r2) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let settling = |sink: Arc<Recorder>, owner: &str| settling_runner(store.clone(), sink, owner);
    let w1 = settling(r1.clone(), "w1");
    let w2 = settling(r2.clone(), "w2");
    w1.process(&[started(7), succeeded(7)], T0)
        .await
        .expect("processed");
    assert!(!w1.waiting().is_empty(), "w1 waits for the settle window");
    // w1 dies here. Its claim on the delivery holds until T0 + LEASE.
    drop(w1);
    w2.fire_due(T0 + 5).await.expect("timers");
    assert!(
        r2.seen.lock().expect("lock").is_empty(),
        "w1's claim still holds"
    );
    let due = T0 + LEASE + TAKEOVER_GRACE_SECS;
    w2.fire_due(due - 1).await.expect("timers");
    assert!(r2.seen.lock().expect("lock").is_empty());
    // A worker looks for due timers every TIMER_POLL_SECS.
    w2.fire_due(due - 1 + herald::pipeline::TIMER_POLL_SECS)
        .await
        .expect("timers");
    let told: Vec<(herald::deliver::Op, String)> = r2
        .seen
        .lock()
        .expect("lock")
        .iter()
        .map(|(op, _, n)| (*op, n.status.clone()))
        .collect();
    assert_eq!(told, [(herald::deliver::Op::Post, "SUCCEEDED".to_owned())]);
    assert!(r1.seen.lock().expect("lock").is_empty());
    // Told once: nothing is due any more.
    w2.fire_due(due + 3600).await.expect("timers");
    assert_eq!(r2.seen.lock().expect("lock").len(), 1);
}

/// On DynamoDB no source message waits for a final message's settle window, so a failed
/// delivery of it is tried again by the thread's own timer, a minute later: also when another
/// worker had already fired the settle timer (while this one held the delivery).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_message_whose_delivery_failed_is_tried_again_by_its_timer() {
    let store = support::dynamo_store("herald-settle-retry").await;
    let (r1, r2) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let settling = |sink: Arc<Recorder>, owner: &str| settling_runner(store.clone(), sink, owner);
    let (w1, w2) = (settling(r1.clone(), "w1"), settling(r2.clone(), "w2"));
    w1.process(&[started(9), succeeded(9)], T0)
        .await
        .expect("processed");
    // w2 fires the settle timer first; w1 holds the delivery, which fails.
    w2.fire_due(T0 + 5).await.expect("timers");
    r1.failing.store(1, std::sync::atomic::Ordering::SeqCst);
    assert!(
        w1.deliver_due(T0 + 5).await.is_err(),
        "the provider is down"
    );
    let told = |r: &Recorder| -> Vec<String> {
        r.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, _, n)| n.status.clone())
            .collect()
    };
    w2.fire_due(T0 + 5 + 59).await.expect("timers");
    assert!(told(&r1).is_empty() && told(&r2).is_empty(), "not yet");
    // A minute after the failure, at w2's next look.
    w2.fire_due(T0 + 5 + 59 + herald::pipeline::TIMER_POLL_SECS)
        .await
        .expect("timers");
    assert_eq!(
        (told(&r1), told(&r2)),
        (vec![], vec!["SUCCEEDED".to_owned()])
    );
}

/// Deploy verdicts in a fleet: one worker reads the deployments' events, another the alarms'
/// (as processors split them: by service and by alarm), on one table; both fire timers at
/// once. Each watch window's verdict is reached once: one HEALTHY edit for the quiet
/// deployment, the UNHEALTHY ones as the alarms came, every message posted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_reach_each_deploy_verdict_once() {
    use herald::deliver::Op;
    let store = support::dynamo_store("herald-verdict").await;
    let (r1, r2) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let w1 = Arc::new(settling_runner(store.clone(), r1.clone(), "w1"));
    let w2 = Arc::new(settling_runner(store.clone(), r2.clone(), "w2"));
    let path = format!(
        "{}/tests/fixtures/scenarios/s11-ecs-deploy-verdicts.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("scenario");
    let events: Vec<Event> = text
        .lines()
        .flat_map(|l| decode(l.as_bytes()).expect("decodes"))
        .collect();
    // On the events' clock (a second apart at least), settled finals told as they come due.
    let mut now = T0;
    for ev in &events {
        now = ev.meta().time.map_or(now, |t| t.timestamp()).max(now + 1);
        let w = if matches!(ev, Event::AlarmState(_)) {
            &w2
        } else {
            &w1
        };
        w.process(std::slice::from_ref(ev), now)
            .await
            .expect("processed");
        let (a, b) = tokio::join!(w1.fire_due(now), w2.fire_due(now));
        a.expect("w1 fires");
        b.expect("w2 fires");
    }
    for step in 1..=30 {
        let at = now + step * 60;
        let (a, b) = tokio::join!(w1.fire_due(at), w2.fire_due(at));
        a.expect("w1 fires");
        b.expect("w2 fires");
    }
    let mut verdicts: BTreeMap<String, Vec<(Op, String)>> = BTreeMap::new();
    let mut posts: BTreeMap<String, usize> = BTreeMap::new();
    for r in [&r1, &r2] {
        for (op, thread, n) in r.seen.lock().expect("lock").iter() {
            if *op == Op::Post {
                *posts.entry(thread.clone()).or_default() += 1;
            }
            if let Some(v) = &n.verdict {
                verdicts
                    .entry(thread.clone())
                    .or_default()
                    .push((*op, v.status.clone()));
            }
        }
    }
    assert!(posts.values().all(|p| *p == 1), "{posts:?}");
    let b = "ecs#123456789012#eu-west-1#prod#api#ecs-svc/5093817264019283746";
    let healthy: Vec<&(Op, String)> = verdicts[b].iter().filter(|(_, s)| s == "HEALTHY").collect();
    assert_eq!(healthy.len(), 1, "{:?}", verdicts[b]);
    for (thread, told) in &verdicts {
        if thread != b {
            assert_eq!(
                told.last().map(|(_, s)| s.as_str()),
                Some("UNHEALTHY"),
                "{thread}: {told:?}"
            );
        }
    }
    assert_eq!(verdicts.len(), 3, "{verdicts:?}");
    assert!(!posts.contains_key("al#123456789012#eu-west-1#prod-gateway-5xx#1"));
    // Nothing left to fire.
    assert!(w2
        .engine
        .due(now + 100_000, 100)
        .await
        .expect("due")
        .is_empty());
}
