//! The fleet under combined faults. Four `herald run` workers share one queue (moto) and one
//! table (DynamoDB Local) and post to the Slack test server, each of them through fault proxies
//! (`tests/fault_proxy`) that add latency, connection resets before and after the service acts,
//! 5xx answers and DynamoDB throttling. Every event is sent three times, shuffled, with a few
//! poison bodies among them; meanwhile workers are SIGKILLed and restarted, SIGSTOPped past their
//! delivery lease and the queue's visibility timeout and then SIGCONTed, Slack is down for 60 s
//! and answers 429 in storms.
//!
//! It prints and asserts: every execution has exactly one message, showing its final status;
//! no duplicate post except in the windows no fencing can close, which are counted and reported
//! apart (a post whose answer the proxy dropped after Slack posted it; a post made just before
//! its worker was killed or stopped, before it could record it, or sent on waking by a worker
//! stopped between its fence's check and the request leaving); only the poison bodies in the
//! dead-letter queue; the queue empty; the largest event-to-chat lag.
//!
//! Fencing: a worker that wakes after its lease ran out neither posts again (each provider
//! attempt is refused once the lease's end has passed, `herald_sink_fenced_total`) nor
//! overwrites a newer state (every write is conditional on the version it read).
//!
//! CI runs a bounded version; a longer soak is the same test with more executions:
//! `HERALD_CHAOS_EXECUTIONS=300 cargo test --test chaos_fleet -- --nocapture` (with the
//! emulators' variables set as `scripts/test.sh` sets them).

mod chat_servers;
mod fault_proxy;
mod support;
mod worker;

use chat_servers::slack::SlackServer;
use fault_proxy::{FaultProxy, Faults, Service};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use support::synthetic;
use tokio::time::Instant;
use worker::*;

const TOKEN: &str = "xoxb-4444-5555-CHAOSTOKEN";
const WORKERS: usize = 4;
const POISON: usize = 5;
/// The queue's visibility timeout and delivery lease, short so that a stopped worker's work is
/// taken over within the test (production: 60 s and 30 s), the lease shorter than the timeout
/// so that a dead worker's lease has run out when its messages come back.
const VISIBILITY_SECS: u32 = 10;
const LEASE_SECS: u64 = 6;
/// Long enough that a stopped worker wakes after both ran out.
const STOP: Duration = Duration::from_secs(14);
/// Receives before the dead-letter queue: a good message is received again after each failed
/// try (Slack down a minute: about six), a poison one at once.
const MAX_RECEIVES: u32 = 20;
/// How long after a post its worker may die or stop with the post not yet recorded (the record
/// is a DynamoDB write that faults, retries and injected latency may delay by seconds).
const RECORD_WINDOW: Duration = Duration::from_secs(10);
/// How long after waking a stopped worker's request, checked by its fence before the stop, may
/// take to reach the proxy.
const IN_FLIGHT: Duration = Duration::from_secs(3);

fn faults(service: Service) -> Faults {
    Faults {
        latency: 0.2,
        latency_max_ms: 150,
        reset_before: 0.01,
        reset_after: if service == Service::Slack {
            0.005
        } else {
            0.01
        },
        server_error: 0.02,
        throttle: if service == Service::DynamoDb {
            0.03
        } else {
            0.0
        },
        expired_iterator: 0.0,
    }
}

/// What happened to a worker, when.
#[derive(Debug, Clone, Copy)]
enum Hit {
    Killed,
    Stopped,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_under_combined_faults_lose_nothing_and_post_once() {
    let executions: usize = std::env::var("HERALD_CHAOS_EXECUTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let seed: u64 = std::env::var("HERALD_CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::random::<u64>() | 1);
    eprintln!("chaos: {executions} executions, seed {seed}");
    let mut rng = Xorshift(seed);

    let sqs = sqs().await;
    let (queue, dlq) = queue_with_dlq(&sqs, "chaos", VISIBILITY_SECS, MAX_RECEIVES).await;
    let slack = SlackServer::start(TOKEN).await;
    // Slack's own limits would make this a long test; the 429s here are the proxies' storms.
    slack.set_min_gap(Duration::from_millis(50));
    slack.set_update_limit(None);
    let ddb = FaultProxy::start(
        &support::dynamodb_endpoint(),
        Service::DynamoDb,
        faults(Service::DynamoDb),
    )
    .await;
    let sqs_proxy = FaultProxy::start(
        &support::moto_endpoint(),
        Service::Sqs,
        faults(Service::Sqs),
    )
    .await;
    // One Slack proxy per worker slot: each message is known by who posted it.
    let mut slack_proxies = Vec::new();
    for _ in 0..WORKERS {
        slack_proxies
            .push(FaultProxy::start(&slack.url, Service::Slack, faults(Service::Slack)).await);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let table = support::unique("chaos");
    let config = |slot: usize| {
        format!(
            r#"default_destination = "chat"
[correlate]
settle_secs = 1

[[destinations]]
name = "chat"
kind = "slack"
channel = "C0CHAOS"
token = "{TOKEN}"
api_base = "{slack}"
mention_authors = false
permalinks = false
rate = {{ requests = 20, per_ms = 1000 }}
retry = {{ max_attempts = 3, base_delay_ms = 200, max_delay_ms = 2000, attempt_timeout_ms = 3000 }}
digest = {{ threshold = 0 }}

[source]
kind = "sqs"
queue_url = "{queue}"
sqs_endpoint = "{sqs}"
pollers = 2
visibility_timeout_secs = {VISIBILITY_SECS}
wait_time_secs = 1

[store]
kind = "dynamodb"
table = "{table}"
endpoint = "{ddb}"
delivery_lease_secs = {LEASE_SECS}
"#,
            slack = slack_proxies[slot].url,
            sqs = sqs_proxy.url,
            ddb = ddb.url,
        )
    };

    // Three copies of every event, shuffled within windows of 90 (executions overlap, each
    // one's events mostly in the same minute of sending), and the poison bodies among them.
    let execs = synthetic::executions(executions);
    let mut bodies: Vec<String> = Vec::new();
    for b in synthetic::interleaved(&execs) {
        bodies.extend([b.clone(), b.clone(), b]);
    }
    for w in bodies.chunks_mut(90) {
        for i in (1..w.len()).rev() {
            w.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
    }
    for p in 0..POISON {
        let at = (rng.next() as usize) % bodies.len();
        // Undecodable: not JSON, a truncated object, an array.
        let poison = match p % 3 {
            0 => format!("not json {p}"),
            1 => format!("{{\"truncated\": {p}"),
            _ => format!("[{p}, 2, 3]"),
        };
        bodies.insert(at, poison);
    }
    let sent_events = bodies.len();

    let mut workers: Vec<Herald> = (0..WORKERS)
        .map(|k| Herald::start(dir.path(), k, &config(k)))
        .collect();
    for w in &mut workers {
        w.wait_ready().await;
    }
    let started = Instant::now();
    // When each execution's events had all been sent once, and the schedule of faults.
    let mut sent_all: HashMap<String, Instant> = HashMap::new();
    let mut hits: Vec<(Instant, usize, Hit)> = Vec::new();
    let mut generation = WORKERS;
    let mut stopped: Option<(usize, Instant)> = None;
    let mut slack_down = false;
    let mut storm = false;
    let mut next_hit = started + Duration::from_secs(8);
    // Send, and run the schedule of faults beside it; once everything is sent, go on with the
    // schedule until each fault has happened (on a fast machine the sending ends first).
    let mut chunks = bodies.chunks(150).enumerate();
    loop {
        let sending = match chunks.next() {
            Some((n, chunk)) => {
                // Keep moto's backlog small (it scans every message on each receive).
                let t = Instant::now();
                while t.elapsed() < Duration::from_secs(120) {
                    let (visible, in_flight) = depth(&sqs, &queue).await;
                    if visible + in_flight < 300 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                send_all(&sqs, &queue, chunk).await;
                let now = Instant::now();
                for b in chunk {
                    if let Some(id) = execution_of(b) {
                        sent_all.insert(id, now);
                    }
                }
                if n + 1 == bodies.len().div_ceil(150) {
                    eprintln!(
                        "chaos: {sent_events} messages sent in {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                true
            }
            None => false,
        };
        let now = Instant::now();
        if !slack_down && now >= started + Duration::from_secs(20) {
            eprintln!("chaos: Slack down for 60 s");
            slack.outage(Duration::from_secs(60));
            slack_down = true;
        }
        if !storm && now >= started + Duration::from_secs(90) {
            eprintln!("chaos: 429 storm for 15 s");
            for p in &slack_proxies {
                p.storm(Duration::from_secs(15), 0.5);
            }
            storm = true;
        }
        if let Some((k, at)) = stopped {
            if now >= at + STOP {
                cont(&workers[k]);
                stopped = None;
            }
        }
        let killed = hits.iter().any(|h| matches!(h.2, Hit::Killed));
        let paused = hits.iter().any(|h| matches!(h.2, Hit::Stopped));
        if now >= next_hit && (sending || !killed || !paused) {
            let k = (rng.next() as usize) % WORKERS;
            let kill = if sending {
                rng.next().is_multiple_of(2)
            } else {
                !killed
            };
            if stopped.is_some() || kill {
                eprintln!("chaos: SIGKILL worker {k}");
                hits.push((Instant::now(), k, Hit::Killed));
                workers[k].sigkill();
                workers[k] = Herald::start(dir.path(), generation, &config(k));
                generation += 1;
            } else {
                eprintln!("chaos: SIGSTOP worker {k} for {STOP:?}");
                hits.push((Instant::now(), k, Hit::Stopped));
                stop(&workers[k]);
                stopped = Some((k, Instant::now()));
            }
            next_hit = Instant::now() + Duration::from_secs(6 + rng.next() % 10);
        }
        if !sending {
            if slack_down && storm && killed && paused && stopped.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    eprintln!(
        "chaos: every fault happened after {:.0} s; waiting for the fleet to finish",
        started.elapsed().as_secs_f64()
    );

    let want: BTreeMap<&str, &str> = execs
        .iter()
        .map(|e| {
            (
                e.execution_id.as_str(),
                if e.failed { "FAILED" } else { "SUCCEEDED" },
            )
        })
        .collect();
    let finished = wait_until(Duration::from_secs(420), || {
        let (sqs, queue, dlq, slack, want) = (&sqs, &queue, &dlq, &slack, &want);
        async move {
            let report = Report::of(&slack.messages(), want);
            report.lost.is_empty()
                && report.wrong.is_empty()
                && depth(sqs, queue).await == (0, 0)
                && depth(sqs, dlq).await.0 as usize >= POISON
        }
    })
    .await;
    let took = started.elapsed();

    // The verdict.
    let messages = slack.messages();
    let report = Report::of(&messages, &want);
    let lost_answers: std::collections::BTreeSet<String> =
        slack_proxies.iter().flat_map(|p| p.lost_posts()).collect();
    let posted_by = posters(&slack_proxies);
    let (mut answer_lost, mut died_after_post, mut unexplained) = (0, 0, Vec::new());
    for ts in &report.extra {
        if lost_answers.contains(ts) {
            answer_lost += 1;
            continue;
        }
        let explained = posted_by.get(ts).is_some_and(|(slot, at)| {
            hits.iter().any(|(t, k, hit)| {
                k == slot
                    && ((*t >= *at && *t <= *at + RECORD_WINDOW)
                        // Stopped between the fence's check and the request leaving: the post
                        // goes out when the worker wakes (the fence's documented remainder).
                        || (matches!(hit, Hit::Stopped)
                            && *at >= *t + STOP
                            && *at <= *t + STOP + IN_FLIGHT))
            })
        });
        if explained {
            died_after_post += 1;
        } else {
            unexplained.push(ts.clone());
        }
    }
    // What a failure needs to be understood: who posted each copy when, and what hit them.
    for ts in &unexplained {
        let rel = |at: Instant| at.saturating_duration_since(started).as_secs_f64();
        let copies: Vec<String> = copies_of(&messages, &want, ts)
            .iter()
            .map(|c| match posted_by.get(c) {
                Some((slot, at)) => format!("{c} by worker {slot} at {:.1} s", rel(*at)),
                None => format!("{c} by an unknown worker"),
            })
            .collect();
        eprintln!("chaos: unexplained duplicate {ts}; copies: {copies:?}");
    }
    for (t, k, hit) in &hits {
        eprintln!(
            "chaos: {hit:?} worker {k} at {:.1} s",
            t.saturating_duration_since(started).as_secs_f64()
        );
    }
    let lag = execs
        .iter()
        .filter_map(|e| {
            let shown = first_final(&slack, &e.execution_id, want[e.execution_id.as_str()])?;
            let sent = sent_all.get(&e.execution_id)?;
            Some(shown.saturating_duration_since(*sent))
        })
        .max()
        .unwrap_or_default();
    let mut fenced = 0.0;
    for w in &workers {
        fenced += w.metric("herald_sink_fenced_total", "").await;
    }
    let dlq_depth = depth(&sqs, &dlq).await;
    let queue_depth = depth(&sqs, &queue).await;
    eprintln!(
        "chaos report: {sent_events} messages sent ({} events ×3, {POISON} poison), {} executions, {} worker kills, {} stops past the lease, in {:.0} s",
        (sent_events - POISON) / 3,
        execs.len(),
        hits.iter().filter(|h| matches!(h.2, Hit::Killed)).count(),
        hits.iter().filter(|h| matches!(h.2, Hit::Stopped)).count(),
        took.as_secs_f64()
    );
    eprintln!(
        "chaos report: final messages lost {}, wrong final statuses {}, duplicate posts {} (+ {answer_lost} whose answer was lost after Slack posted, {died_after_post} posted just before their worker was killed or stopped, or on waking), DLQ {}, queue {:?}, largest event-to-chat lag {:.1} s, attempts fenced (live workers) {fenced}",
        report.lost.len(),
        report.wrong.len(),
        unexplained.len(),
        dlq_depth.0,
        queue_depth,
        lag.as_secs_f64()
    );
    for (name, p) in [("dynamodb", &ddb), ("sqs", &sqs_proxy)] {
        eprintln!(
            "chaos report: {name} proxy injected {:?} of {} forwarded",
            p.injected(),
            p.forwarded()
        );
    }
    let mut slack_faults: BTreeMap<&str, u64> = BTreeMap::new();
    for p in &slack_proxies {
        for (k, v) in p.injected() {
            *slack_faults.entry(k).or_default() += v;
        }
    }
    eprintln!(
        "chaos report: slack proxies injected {slack_faults:?}; Slack answered {} requests 503 while down",
        slack.requests().iter().filter(|r| r.status == 503).count()
    );

    assert!(report.lost.is_empty(), "lost: {:?}", report.lost);
    assert!(
        report.wrong.is_empty(),
        "wrong final status: {:?}",
        report.wrong
    );
    assert!(
        unexplained.is_empty(),
        "{} duplicate posts outside the post-then-die windows: {:?}",
        unexplained.len(),
        unexplained
    );
    assert_eq!(queue_depth, (0, 0), "the queue drained");
    assert_eq!(
        dlq_depth.0 as usize, POISON,
        "only the poison bodies in the DLQ"
    );
    assert!(finished, "finished within the time");
    // The faults happened.
    for p in [&ddb, &sqs_proxy] {
        let i = p.injected();
        for kind in ["reset_before", "reset_after", "5xx"] {
            assert!(
                i.get(kind).copied().unwrap_or(0) > 0,
                "{kind} injected: {i:?}"
            );
        }
    }
    assert!(ddb.injected().get("throttle").copied().unwrap_or(0) > 0);
    assert!(
        slack_faults.get("429").copied().unwrap_or(0) > 0,
        "a 429 storm"
    );
    assert!(
        hits.iter().any(|h| matches!(h.2, Hit::Killed)),
        "a worker was killed"
    );
    assert!(
        hits.iter().any(|h| matches!(h.2, Hit::Stopped)),
        "a worker was stopped"
    );
    for w in &mut workers {
        w.sigterm();
        assert_eq!(w.wait_exit(Duration::from_secs(40)).await.0, Some(0));
    }
}

/// Per execution: its messages (top-level posts that name it) and what the newest shows.
struct Report {
    /// Executions with no message showing their final status, and no message at all.
    lost: Vec<String>,
    /// Executions whose message shows another final status.
    wrong: Vec<String>,
    /// The `ts` of every message beyond the first of an execution.
    extra: Vec<String>,
}

impl Report {
    fn of(messages: &[chat_servers::slack::Message], want: &BTreeMap<&str, &str>) -> Self {
        let mut mine: HashMap<&str, Vec<&chat_servers::slack::Message>> = HashMap::new();
        for m in messages.iter().filter(|m| m.thread_ts.is_none()) {
            let text = m.body.to_string();
            for id in want.keys() {
                if text.contains(id) {
                    mine.entry(id).or_default().push(m);
                }
            }
        }
        let (mut lost, mut wrong, mut extra) = (Vec::new(), Vec::new(), Vec::new());
        for (id, status) in want {
            let Some(ms) = mine.get(id) else {
                lost.push(id.to_string());
                continue;
            };
            // The status line is the only `*…*` of a Slack message that names a status.
            let shows = |m: &&chat_servers::slack::Message, s: &str| {
                m.body.to_string().contains(&format!("*{s}*"))
            };
            let other = if *status == "FAILED" {
                "SUCCEEDED"
            } else {
                "FAILED"
            };
            if ms.iter().any(|m| shows(m, other)) {
                wrong.push(id.to_string());
            } else if !ms.iter().any(|m| shows(m, status)) {
                lost.push(id.to_string());
            }
            // The message the fleet kept editing is the one that shows the end; the others
            // are duplicates.
            let keep = ms
                .iter()
                .max_by_key(|m| (shows(m, status), m.updates))
                .map(|m| m.ts.clone());
            extra.extend(
                ms.iter()
                    .map(|m| m.ts.clone())
                    .filter(|ts| Some(ts) != keep.as_ref()),
            );
        }
        Report { lost, wrong, extra }
    }
}

/// The `ts` of every top-level message of the execution that message `ts` shows.
fn copies_of(
    messages: &[chat_servers::slack::Message],
    want: &BTreeMap<&str, &str>,
    ts: &str,
) -> Vec<String> {
    let text = |m: &chat_servers::slack::Message| m.body.to_string();
    let Some(id) = messages
        .iter()
        .find(|m| m.ts == ts)
        .and_then(|m| want.keys().find(|id| text(m).contains(**id)))
    else {
        return Vec::new();
    };
    messages
        .iter()
        .filter(|m| m.thread_ts.is_none() && text(m).contains(*id))
        .map(|m| m.ts.clone())
        .collect()
}

/// Who posted each message (by its proxy) and when the proxy forwarded it.
fn posters(proxies: &[FaultProxy]) -> HashMap<String, (usize, Instant)> {
    let mut out = HashMap::new();
    for (slot, p) in proxies.iter().enumerate() {
        for (ts, at) in p.posts() {
            out.insert(ts, (slot, at));
        }
    }
    out
}

/// When Slack first answered 200 to a post or an edit showing `id` at its final `status`.
fn first_final(slack: &SlackServer, id: &str, status: &str) -> Option<Instant> {
    slack
        .requests()
        .iter()
        .filter(|r| r.status == 200)
        .filter(|r| r.path == "/api/chat.postMessage" || r.path == "/api/chat.update")
        .find(|r| {
            let text = r.body.to_string();
            text.contains(id) && text.contains(&format!("*{status}*"))
        })
        .map(|r| r.at)
}

/// The execution id a synthetic event names.
fn execution_of(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["detail"]["execution-id"].as_str().map(str::to_owned)
}

fn stop(h: &Herald) {
    h.signal("-STOP");
}

fn cont(h: &Herald) {
    h.signal("-CONT");
}

/// A small xorshift: the schedule and the shuffle, reproducible from the printed seed.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
