//! The chat sinks against local servers that speak each provider's HTTP API: a post then an edit
//! of the same message, `ok:false` classification, 429s with and without the limiter in front,
//! recovery after 503s with nothing lost or duplicated, webhook signatures, Amazon Q through
//! SNS on moto, and no secret in any error.
//!
//! Rates are the providers' real ones, so the burst tests take a few seconds each.

mod chat_servers;
mod support;

use chat_servers::discord::DiscordServer;
use chat_servers::samples::{self, JAPANESE_COMMIT};
use chat_servers::slack::SlackServer;
use chat_servers::teams::TeamsServer;
use chat_servers::webhook::WebhookServer;
use chat_servers::{closed_port, min_gap};
use herald::deliver::discord::{DiscordConfig, DiscordSink};
use herald::deliver::limiter::Limiter;
use herald::deliver::retry::{Paced, RetryPolicy};
use herald::deliver::slack::{SlackConfig, SlackSink};
use herald::deliver::sns::SnsSink;
use herald::deliver::teams::{TeamsConfig, TeamsSink};
use herald::deliver::webhook::{self, WebhookConfig, WebhookSink};
use herald::deliver::{Delivery, MessageRef, Op, Sink, SinkError};
use herald::notification::{status, Notification};
use herald::secret::Secret;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SLACK_TOKEN: &str = "xoxb-1111-2222-SLACKSECRETTOKEN";

fn delivery(op: Op, thread: &str, n: Notification, message: Option<MessageRef>) -> Delivery {
    Delivery {
        op,
        thread: thread.into(),
        destination: "deploys".into(),
        notification: n,
        message,
    }
}

fn started() -> Notification {
    let mut n = samples::build_failure();
    n.status = status::IN_PROGRESS.into();
    n.is_final = false;
    n.failure = None;
    n.finished_at = None;
    n.duration_secs = None;
    n
}

fn titled(i: usize) -> Notification {
    let mut n = samples::success();
    n.title = format!("burst {i:02}");
    n
}

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay_ms: 50,
        max_delay_ms: 500,
        attempt_timeout_ms: 5_000,
    }
}

fn slack_sink(server: &SlackServer, token: &str, channel: &str) -> SlackSink {
    let mut cfg = SlackConfig::new(Secret::new(token), channel);
    cfg.api_base = server.url.clone();
    cfg.timeout = Duration::from_secs(5);
    SlackSink::new(cfg).expect("a client")
}

/// The header text of a recorded Slack post (our title, behind the status emoji).
fn slack_title(body: &Value) -> String {
    body["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Slack

#[tokio::test]
async fn slack_posts_then_updates_the_same_message_and_replies_in_its_thread() {
    let server = SlackServer::start(SLACK_TOKEN).await;
    server.set_min_gap(Duration::ZERO);
    server.add_user("taro.yamada@example.com", "U0TARO");
    let sink = slack_sink(&server, SLACK_TOKEN, "C0DEPLOYS");

    let posted = sink
        .deliver(&delivery(Op::Post, "t1", started(), None))
        .await
        .expect("post");
    assert_eq!(posted["channel"], "C0DEPLOYS");
    let ts = posted["ts"].as_str().expect("a ts").to_string();
    // The reference keeps the message's permalink (chat.getPermalink), for the status page.
    assert_eq!(
        posted["permalink"],
        format!(
            "https://herald-test.slack.com/archives/C0DEPLOYS/p{}",
            ts.replace('.', "")
        )
    );
    let asked = server.calls("chat.getPermalink");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].method, "GET");
    assert!(
        asked[0].query.contains("channel=C0DEPLOYS"),
        "{}",
        asked[0].query
    );

    let updated = sink
        .deliver(&delivery(
            Op::Update,
            "t1",
            samples::build_failure(),
            Some(posted.clone()),
        ))
        .await
        .expect("update");
    assert_eq!(
        updated["ts"],
        ts.as_str(),
        "the update edits the same message"
    );

    let updates = server.calls("chat.update");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].body["ts"], ts.as_str());
    assert_eq!(updates[0].body["channel"], "C0DEPLOYS");
    let m = server.message(&ts).expect("the message");
    assert_eq!(m.updates, 1);
    let shown = m.body.to_string();
    assert!(shown.contains("<@U0TARO>"), "the author is mentioned");
    assert!(shown.contains(JAPANESE_COMMIT));
    assert!(shown.contains("Command did not exit successfully npm test -- --ci"));

    let posts = server.calls("chat.postMessage");
    assert_eq!(
        posts[0].header("authorization"),
        Some(&*format!("Bearer {SLACK_TOKEN}"))
    );
    assert_eq!(posts[0].body["unfurl_links"], false);
    // One lookup for two deliveries: the mention is cached.
    assert_eq!(server.calls("users.lookupByEmail").len(), 1);

    let reply = sink
        .deliver(&delivery(
            Op::Reply,
            "t1",
            samples::build_failure(),
            Some(posted),
        ))
        .await
        .expect("reply");
    assert_eq!(reply["thread_ts"], ts.as_str());
    let posts = server.calls("chat.postMessage");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].body["thread_ts"], ts.as_str());
    assert_eq!(posts[1].body["reply_broadcast"], false);
    assert_eq!(server.messages().len(), 2);
}

#[tokio::test]
async fn slack_without_a_known_author_posts_without_a_mention() {
    let server = SlackServer::start(SLACK_TOKEN).await;
    let sink = slack_sink(&server, SLACK_TOKEN, "C0DEPLOYS");
    let r = sink
        .deliver(&delivery(Op::Post, "t", samples::build_failure(), None))
        .await
        .expect("post");
    let m = server.message(r["ts"].as_str().unwrap()).unwrap();
    assert!(!m.body.to_string().contains("<@"));
    assert_eq!(server.calls("users.lookupByEmail").len(), 1);
}

#[tokio::test]
async fn slack_ok_false_is_an_error_classified_by_its_name() {
    let server = SlackServer::start(SLACK_TOKEN).await;
    server.set_min_gap(Duration::ZERO);
    let post = |n| delivery(Op::Post, "t", n, None);

    let wrong = slack_sink(&server, "xoxb-wrong", "C0DEPLOYS");
    let e = wrong.deliver(&post(samples::alarm())).await.unwrap_err();
    assert!(
        matches!(&e, SinkError::Rejected(m) if m.contains("invalid_auth")),
        "{e}"
    );

    let nowhere = slack_sink(&server, SLACK_TOKEN, "general");
    let e = nowhere.deliver(&post(samples::alarm())).await.unwrap_err();
    assert!(
        matches!(&e, SinkError::Rejected(m) if m.contains("channel_not_found")),
        "{e}"
    );

    let sink = slack_sink(&server, SLACK_TOKEN, "C0DEPLOYS");
    for (error, want) in [
        ("ratelimited", "rate_limited"),
        ("internal_error", "transient"),
        ("service_unavailable", "transient"),
        ("a_brand_new_error", "transient"),
        ("msg_too_long", "rejected"),
        ("token_revoked", "rejected"),
    ] {
        server.fail_with(error, 1);
        let e = sink.deliver(&post(samples::alarm())).await.unwrap_err();
        assert_eq!(e.reason(), want, "{error}: {e}");
    }

    let e = sink
        .deliver(&delivery(Op::Update, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SinkError::Rejected(_)),
        "an update needs a message"
    );
    let gone = serde_json::json!({"channel": "C0DEPLOYS", "ts": "1.2"});
    let e = sink
        .deliver(&delivery(Op::Update, "t", samples::alarm(), Some(gone)))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SinkError::Rejected(m) if m.contains("message_not_found")),
        "{e}"
    );
}

#[tokio::test]
async fn slack_burst_through_the_limiter_arrives_whole_and_never_too_fast() {
    let server = SlackServer::start(SLACK_TOKEN).await;
    // The limiter spaces sends 1 s apart; arrivals may bunch by a busy machine's scheduling.
    let tolerated = Duration::from_millis(800);
    server.set_min_gap(tolerated);
    let sink: Arc<dyn Sink> = Arc::new(slack_sink(&server, SLACK_TOKEN, "C0BURST"));
    let paced = Arc::new(Paced::new(
        sink,
        Arc::new(Limiter::slack()),
        "C0BURST",
        policy(5),
    ));

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let paced = paced.clone();
            tokio::spawn(async move {
                let d = delivery(Op::Post, &format!("t{i}"), titled(i), None);
                paced.deliver(&d).await
            })
        })
        .collect();
    let mut ts = HashSet::new();
    for t in tasks {
        let r = t.await.expect("task").expect("delivered");
        ts.insert(r["ts"].as_str().unwrap().to_string());
    }
    assert_eq!(ts.len(), 20);

    assert_eq!(
        server.rate_limited(),
        0,
        "the limiter kept under Slack's limit"
    );
    let posts = server.calls("chat.postMessage");
    assert_eq!(posts.len(), 20, "no retries were needed");
    let titles: HashSet<String> = posts.iter().map(|p| slack_title(&p.body)).collect();
    assert_eq!(titles.len(), 20, "each post arrived once");
    let times: Vec<tokio::time::Instant> = posts.iter().map(|p| p.at).collect();
    let gap = min_gap(&times).unwrap();
    assert!(gap >= tolerated, "two posts {gap:?} apart");
}

#[tokio::test]
async fn slack_429_retry_after_is_honoured_when_the_limiter_is_bypassed() {
    let server = SlackServer::start(SLACK_TOKEN).await;
    let sink: Arc<dyn Sink> = Arc::new(slack_sink(&server, SLACK_TOKEN, "C0BURST"));
    // No budget of its own: only the pauses the server asks for.
    let paced = Arc::new(Paced::new(
        sink,
        Arc::new(Limiter::pause_only()),
        "C0BURST",
        policy(10),
    ));
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let paced = paced.clone();
            tokio::spawn(async move {
                paced
                    .deliver(&delivery(Op::Post, "t", titled(i), None))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("delivered despite 429s");
    }
    let requests = server.calls("chat.postMessage");
    let accepted: Vec<_> = requests.iter().filter(|r| r.status == 200).collect();
    assert_eq!(accepted.len(), 5);
    let titles: HashSet<String> = accepted.iter().map(|p| slack_title(&p.body)).collect();
    assert_eq!(titles.len(), 5, "nothing lost, nothing twice");
    assert!(server.rate_limited() > 0, "the burst did provoke 429s");
    // After each 429, nothing new arrived before its Retry-After (1 s) was over; requests
    // already in flight when it was sent may land in the first 300 ms.
    for limited in requests.iter().filter(|r| r.status == 429) {
        for r in &requests {
            let after = r.at.saturating_duration_since(limited.at);
            assert!(
                after <= Duration::from_millis(300) || after >= Duration::from_millis(950),
                "a request came {after:?} after a 429"
            );
        }
    }
}

#[tokio::test]
async fn slack_recovers_from_503s_without_losing_or_duplicating() {
    let server = SlackServer::start(SLACK_TOKEN).await;
    server.set_min_gap(Duration::ZERO);
    let sink: Arc<dyn Sink> = Arc::new(slack_sink(&server, SLACK_TOKEN, "C0DEPLOYS"));
    let paced = Paced::new(
        sink,
        Arc::new(Limiter::pause_only()),
        "C0DEPLOYS",
        policy(6),
    );

    server.fail_503(4);
    let mut refs = Vec::new();
    for i in 0..5 {
        refs.push(
            paced
                .deliver(&delivery(Op::Post, "t", titled(i), None))
                .await
                .expect("delivered after the outage"),
        );
    }
    server.fail_503(2);
    paced
        .deliver(&delivery(
            Op::Update,
            "t",
            titled(99),
            Some(refs[0].clone()),
        ))
        .await
        .expect("updated after the outage");

    let unavailable = server.requests().iter().filter(|r| r.status == 503).count();
    assert_eq!(unavailable, 6);
    let messages = server.messages();
    assert_eq!(messages.len(), 5, "five posts, five messages");
    let titles: HashSet<String> = messages.iter().map(|m| slack_title(&m.body)).collect();
    assert_eq!(titles.len(), 5);
    let first = server.message(refs[0]["ts"].as_str().unwrap()).unwrap();
    assert_eq!(first.updates, 1, "the update landed once");
    assert!(slack_title(&first.body).contains("burst 99"));
}

// ---------------------------------------------------------------------------------------------
// Discord

fn discord_sink(url: &str) -> DiscordSink {
    let mut cfg = DiscordConfig::new(Secret::new(url));
    cfg.timeout = Duration::from_secs(5);
    DiscordSink::new(cfg).expect("a client")
}

#[tokio::test]
async fn discord_posts_then_patches_the_same_message() {
    let server = DiscordServer::start().await;
    let hook = server.webhook("1200000000000000001", "DISCORDWEBHOOKTOKEN");
    let sink = discord_sink(&hook);

    let posted = sink
        .deliver(&delivery(Op::Post, "t", started(), None))
        .await
        .expect("post");
    let id = posted["message_id"].as_str().expect("an id").to_string();
    let updated = sink
        .deliver(&delivery(
            Op::Update,
            "t",
            samples::build_failure(),
            Some(posted.clone()),
        ))
        .await
        .expect("update");
    assert_eq!(updated["message_id"], id.as_str());

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].query, "wait=true");
    assert_eq!(requests[1].method, "PATCH");
    assert_eq!(
        requests[1].path,
        format!("/api/webhooks/1200000000000000001/DISCORDWEBHOOKTOKEN/messages/{id}")
    );
    let (body, edits) = server.message(&id).expect("the message");
    assert_eq!(edits, 1);
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    assert!(body.to_string().contains(JAPANESE_COMMIT));

    // A reply has nowhere to go on a webhook: the failure is already in the message.
    let r = sink
        .deliver(&delivery(
            Op::Reply,
            "t",
            samples::build_failure(),
            Some(posted),
        ))
        .await
        .expect("reply");
    assert_eq!(r["message_id"], id.as_str());
    assert_eq!(server.requests().len(), 2);

    // News (a stall) is a new message, since an edit notifies nobody; the thread's message
    // stays the one it edits.
    let r = sink
        .deliver(&delivery(
            Op::Reply,
            "t",
            samples::ecs_stalled(),
            Some(r.clone()),
        ))
        .await
        .expect("reply");
    assert_eq!(r["message_id"], id.as_str());
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[2].method, "POST");
    assert_eq!(server.message_count(), 2);
}

#[tokio::test]
async fn discord_errors_classify() {
    let server = DiscordServer::start().await;
    let hook = server.webhook("1200000000000000002", "RIGHTTOKEN");
    let wrong = discord_sink(&hook.replace("RIGHTTOKEN", "WRONGTOKEN"));
    let e = wrong
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Rejected(_)), "{e}");
    let sink = discord_sink(&hook);
    server.fail_503(1);
    let e = sink
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Transient(_)), "{e}");
    let gone = serde_json::json!({"message_id": "42"});
    let e = sink
        .deliver(&delivery(Op::Update, "t", samples::alarm(), Some(gone)))
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Rejected(_)), "{e}");
}

#[tokio::test]
async fn discord_429_retry_after_is_honoured_when_the_limiter_is_bypassed() {
    let server = DiscordServer::start().await;
    let hook = server.webhook("1200000000000000003", "TOKEN3");
    let sink: Arc<dyn Sink> = Arc::new(discord_sink(&hook));
    let paced = Paced::new(sink, Arc::new(Limiter::pause_only()), "hook3", policy(6));
    for i in 0..8 {
        paced
            .deliver(&delivery(Op::Post, "t", titled(i), None))
            .await
            .expect("delivered despite 429s");
    }
    assert_eq!(server.message_count(), 8, "every post arrived once");
    assert!(server.rate_limited() > 0);
    let requests = server.requests();
    let limited = requests.iter().find(|r| r.status == 429).unwrap();
    let next = requests
        .iter()
        .find(|r| r.at > limited.at)
        .expect("a request after the 429");
    // The 429 said to wait for the rest of the 2-second window (its `retry_after`, float
    // seconds, counted from the window's first request): the next request did, and went through.
    let reset =
        (requests[0].at + chat_servers::discord::WINDOW).saturating_duration_since(limited.at);
    let waited = next.at.saturating_duration_since(limited.at);
    assert!(
        waited + Duration::from_millis(50) >= reset,
        "retried after {waited:?}, retry_after was {reset:?}"
    );
    assert!(
        next.status == 200,
        "the request after the wait went through"
    );
}

#[tokio::test]
async fn discord_burst_behind_the_limiter_provokes_no_429() {
    let server = DiscordServer::start().await;
    let hook = server.webhook("1200000000000000004", "TOKEN4");
    let sink: Arc<dyn Sink> = Arc::new(discord_sink(&hook));
    let paced = Arc::new(Paced::new(
        sink,
        Arc::new(Limiter::discord()),
        "hook4",
        policy(5),
    ));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let paced = paced.clone();
            tokio::spawn(async move {
                paced
                    .deliver(&delivery(Op::Post, "t", titled(i), None))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("delivered");
    }
    assert_eq!(server.message_count(), 8);
    assert_eq!(server.rate_limited(), 0);
}

// ---------------------------------------------------------------------------------------------
// Teams

fn teams_sink(url: &str) -> TeamsSink {
    let mut cfg = TeamsConfig::new(Secret::new(url));
    cfg.timeout = Duration::from_secs(5);
    TeamsSink::new(cfg).expect("a client")
}

#[tokio::test]
async fn teams_posts_and_posts_again_only_for_the_final_state() {
    let server = TeamsServer::start("wf0123", "TEAMSSIGNATURESECRET").await;
    let sink = teams_sink(&server.webhook());

    let posted = sink
        .deliver(&delivery(Op::Post, "t", started(), None))
        .await
        .expect("post");
    assert_eq!(posted["posted"], true);
    let mut progress = started();
    progress.stages[1].status = status::IN_PROGRESS.into();
    let r = sink
        .deliver(&delivery(Op::Update, "t", progress, Some(posted.clone())))
        .await
        .expect("a non-final update");
    assert_eq!(r, posted, "nothing sent");
    let final_ref = sink
        .deliver(&delivery(
            Op::Update,
            "t",
            samples::build_failure(),
            Some(posted),
        ))
        .await
        .expect("final update");
    // A late detail after the final message does not post the card a third time.
    sink.deliver(&delivery(
        Op::Update,
        "t",
        samples::build_failure(),
        Some(final_ref),
    ))
    .await
    .expect("late detail");

    let accepted = server.accepted();
    assert_eq!(accepted.len(), 2);
    assert!(accepted[1]
        .body
        .to_string()
        .contains("Command did not exit successfully npm test -- --ci"));
    assert_eq!(
        accepted[1].body["attachments"][0]["content"]["version"],
        "1.4"
    );

    // News (a stall, an approval reminder) is a new card (Teams cannot edit or thread), and
    // the thread's reference stays what it was; a failure's reply sends nothing.
    let kept = sink
        .deliver(&delivery(
            Op::Reply,
            "s",
            samples::ecs_stalled(),
            Some(serde_json::json!({"posted": true, "final": false})),
        ))
        .await
        .expect("news");
    assert_eq!(kept, serde_json::json!({"posted": true, "final": false}));
    sink.deliver(&delivery(
        Op::Reply,
        "r",
        samples::approval_reminded(),
        Some(kept),
    ))
    .await
    .expect("news");
    sink.deliver(&delivery(
        Op::Reply,
        "t",
        samples::build_failure(),
        Some(serde_json::json!({"posted": true, "final": true})),
    ))
    .await
    .expect("a failure reply");
    let accepted = server.accepted();
    assert_eq!(accepted.len(), 4, "two news cards, no failure reply");
    assert!(accepted[2]
        .body
        .to_string()
        .contains("Stalled: nothing heard"));
    assert!(accepted[3]
        .body
        .to_string()
        .contains("This approval expires at"));
}

#[tokio::test]
async fn teams_429_retry_after_is_honoured_and_503_is_transient() {
    let server = TeamsServer::start("wf0456", "TEAMSSIG456").await;
    let sink: Arc<dyn Sink> = Arc::new(teams_sink(&server.webhook()));
    server.fail_503(1);
    let e = sink
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Transient(_)), "{e}");

    let paced = Arc::new(Paced::new(
        sink,
        Arc::new(Limiter::pause_only()),
        "teams",
        policy(6),
    ));
    let tasks: Vec<_> = (0..7)
        .map(|i| {
            let paced = paced.clone();
            tokio::spawn(async move {
                paced
                    .deliver(&delivery(Op::Post, "t", titled(i), None))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("delivered despite 429s");
    }
    assert_eq!(server.accepted().len(), 7);
    assert!(server.rate_limited() > 0);

    // Behind the Teams limiter, the same burst provokes none.
    let server = TeamsServer::start("wf0789", "TEAMSSIG789").await;
    let sink: Arc<dyn Sink> = Arc::new(teams_sink(&server.webhook()));
    let paced = Paced::new(sink, Arc::new(Limiter::teams()), "teams", policy(3));
    for i in 0..7 {
        paced
            .deliver(&delivery(Op::Post, "t", titled(i), None))
            .await
            .expect("delivered");
    }
    assert_eq!(server.accepted().len(), 7);
    assert_eq!(server.rate_limited(), 0);
}

// ---------------------------------------------------------------------------------------------
// Webhook

#[tokio::test]
async fn a_provider_that_hangs_is_timed_out_and_retried() {
    let server = WebhookServer::start("HANGTOKEN").await;
    server.hang(1);
    let sink: Arc<dyn Sink> = Arc::new(
        WebhookSink::new(WebhookConfig::new(Secret::new(server.webhook()), None))
            .expect("a client"),
    );
    let mut p = policy(3);
    p.attempt_timeout_ms = 300;
    let paced = Paced::new(sink, Arc::new(Limiter::pause_only()), "hang", p);
    let started = Instant::now();
    paced
        .deliver(&delivery(Op::Post, "t", samples::build_failure(), None))
        .await
        .expect("delivered by the second attempt");
    let took = started.elapsed();
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one attempt hung, the next went through");
    assert_eq!((requests[0].status, requests[1].status), (0, 200));
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "the hung attempt was cut at its timeout: {took:?}"
    );

    // Every attempt hangs: the error goes back to the caller (for redelivery), in bounded time.
    server.hang(3);
    let started = Instant::now();
    let e = paced
        .deliver(&delivery(Op::Post, "t2", samples::build_failure(), None))
        .await
        .expect_err("no attempt answered");
    assert!(matches!(e, SinkError::Transient(_)), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn webhook_signature_verifies_with_the_shared_secret() {
    let server = WebhookServer::start("HOOKTOKEN").await;
    let secret = "shared-signing-secret";
    let sink = WebhookSink::new(WebhookConfig::new(
        Secret::new(server.webhook()),
        Some(Secret::new(secret)),
    ))
    .expect("a client");
    let r = sink
        .deliver(&delivery(
            Op::Update,
            "th-1",
            samples::build_failure(),
            None,
        ))
        .await
        .expect("delivered");
    assert_eq!(r["thread"], "th-1");

    let req = &server.requests()[0];
    let sig = req.header(webhook::SIGNATURE_HEADER).expect("signed");
    assert!(webhook::verify(secret.as_bytes(), &req.raw, sig));
    assert_eq!(sig, webhook::signature(secret.as_bytes(), &req.raw));
    assert!(!webhook::verify(b"another secret", &req.raw, sig));
    let ts = req.header(webhook::TIMESTAMP_HEADER).expect("a timestamp");
    assert_eq!(
        req.body["timestamp"].to_string(),
        ts,
        "the signed body carries the time"
    );
    assert_eq!(req.body["op"], "update");
    assert_eq!(req.body["thread"], "th-1");
    assert_eq!(req.body["destination"], "deploys");
    assert_eq!(req.body["notification"]["final"], true);
    assert!(req.body.to_string().contains(JAPANESE_COMMIT));

    server.fail_503(1);
    let e = sink
        .deliver(&delivery(Op::Post, "th-2", samples::alarm(), None))
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Transient(_)));
}

// ---------------------------------------------------------------------------------------------
// Amazon Q through SNS, on moto

#[tokio::test]
async fn amazonq_notifications_reach_a_subscribed_queue_with_their_thread() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let endpoint = support::moto_endpoint();
    let conf = support::sdk_config(&endpoint).await;
    let sns = aws_sdk_sns::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);

    let topic = sns
        .create_topic()
        .name(support::unique("herald-amazonq"))
        .send()
        .await
        .expect("topic")
        .topic_arn
        .expect("an arn");
    let queue_url = sqs
        .create_queue()
        .queue_name(support::unique("herald-amazonq"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("a url");
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("a queue arn");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");

    let sink = SnsSink::new(sns.clone(), &topic);
    let thread = "pl#111122223333#eu-west-1#web-app#b1c2d3e4";
    let posted = sink
        .deliver(&delivery(Op::Post, thread, started(), None))
        .await
        .expect("publish");
    assert!(posted["message_id"].is_string());
    sink.deliver(&delivery(
        Op::Update,
        thread,
        samples::build_failure(),
        Some(posted.clone()),
    ))
    .await
    .expect("publish the update");
    sink.deliver(&delivery(
        Op::Reply,
        thread,
        samples::build_failure(),
        Some(posted),
    ))
    .await
    .expect("a reply publishes nothing");

    let mut bodies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while bodies.len() < 2 && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        for m in out.messages.unwrap_or_default() {
            bodies.push(m.body.unwrap_or_default());
        }
    }
    assert_eq!(bodies.len(), 2, "a post and an update, no reply");
    let mut statuses = Vec::new();
    for b in &bodies {
        let v: Value = serde_json::from_str(b).expect("raw delivery: the message itself");
        assert_eq!(v["version"], "1.0");
        assert_eq!(v["source"], "custom");
        assert_eq!(v["content"]["textType"], "client-markdown");
        assert_eq!(v["metadata"]["threadId"], thread);
        assert_eq!(v["metadata"]["eventType"], "pipeline");
        statuses.push(
            v["metadata"]["additionalContext"]["status"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    statuses.sort();
    assert_eq!(statuses, vec!["FAILED", "IN_PROGRESS"]);
    assert!(bodies.iter().any(|b| b.contains(JAPANESE_COMMIT)));
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// Neither the error's `Display` nor its `Debug` may hold any of `secrets`.
fn assert_clean(e: &SinkError, secrets: &[&str]) {
    for text in [format!("{e}"), format!("{e:?}")] {
        for s in secrets {
            assert!(!text.contains(s), "{s:?} leaked into {text:?}");
        }
    }
}

#[tokio::test]
async fn no_secret_reaches_an_error_from_any_sink() {
    let dead = closed_port().await;

    // Slack: the bot token, refused by the server and unsent to a dead port.
    let token = "xoxb-9999-8888-LEAKYSLACKTOKEN";
    let server = SlackServer::start("xoxb-other").await;
    let e = slack_sink(&server, token, "C1")
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert_clean(&e, &[token, "LEAKYSLACKTOKEN"]);
    server.fail_503(1);
    let e = slack_sink(&server, token, "C1")
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert_clean(&e, &[token, "LEAKYSLACKTOKEN"]);
    let mut cfg = SlackConfig::new(Secret::new(token), "C1");
    cfg.api_base = dead.clone();
    assert!(!format!("{cfg:?}").contains("LEAKYSLACKTOKEN"));
    let e = SlackSink::new(cfg)
        .unwrap()
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Transient(_)));
    assert_clean(&e, &[token, "LEAKYSLACKTOKEN"]);

    // Discord: the token in the webhook URL, on a 503, a 401 and a dead port.
    let server = DiscordServer::start().await;
    let hook = server.webhook("1300000000000000001", "LEAKYDISCORDTOKEN");
    server.fail_503(1);
    let e = discord_sink(&hook)
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert_clean(&e, &[&hook, "LEAKYDISCORDTOKEN"]);
    let bad = hook.replace("LEAKYDISCORDTOKEN", "OTHERLEAKYTOKEN");
    let e = discord_sink(&bad)
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert_clean(&e, &[&bad, "OTHERLEAKYTOKEN"]);
    let dead_hook = format!("{dead}/api/webhooks/1300000000000000001/LEAKYDISCORDTOKEN");
    let e = discord_sink(&dead_hook)
        .deliver(&delivery(
            Op::Update,
            "t",
            samples::alarm(),
            Some(serde_json::json!({"message_id": "77"})),
        ))
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Transient(_)));
    assert_clean(&e, &[&dead_hook, "LEAKYDISCORDTOKEN"]);
    assert!(!format!("{:?}", DiscordConfig::new(Secret::new(&hook))).contains("LEAKY"));

    // Teams: the signature in the trigger URL.
    let server = TeamsServer::start("wf-leak", "LEAKYTEAMSSIG").await;
    server.fail_503(1);
    let e = teams_sink(&server.webhook())
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert_clean(&e, &[&server.webhook(), "LEAKYTEAMSSIG"]);
    let dead_teams = server.webhook().replace(&server.url, &dead);
    let e = teams_sink(&dead_teams)
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert_clean(&e, &[&dead_teams, "LEAKYTEAMSSIG"]);

    // Webhook: the token in its URL and the signing secret.
    let server = WebhookServer::start("LEAKYHOOKTOKEN").await;
    server.fail_503(1);
    let cfg = WebhookConfig::new(
        Secret::new(server.webhook()),
        Some(Secret::new("LEAKYSIGNINGSECRET")),
    );
    assert!(!format!("{cfg:?}").contains("LEAKY"));
    let e = WebhookSink::new(cfg)
        .unwrap()
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert_clean(&e, &["LEAKYHOOKTOKEN", "LEAKYSIGNINGSECRET"]);
    // A 404 whose body echoes the URL's path, token included.
    let wrong = server
        .webhook()
        .replace("LEAKYHOOKTOKEN", "LEAKYWRONGTOKEN");
    let e = WebhookSink::new(WebhookConfig::new(Secret::new(wrong), None))
        .unwrap()
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SinkError::Rejected(m) if m.contains("no hook at")),
        "{e}"
    );
    assert_clean(&e, &["LEAKYWRONGTOKEN"]);
    let cfg = WebhookConfig::new(
        Secret::new(format!("{dead}/hooks/LEAKYHOOKTOKEN")),
        Some(Secret::new("LEAKYSIGNINGSECRET")),
    );
    let e = WebhookSink::new(cfg)
        .unwrap()
        .deliver(&delivery(Op::Post, "t", samples::alarm(), None))
        .await
        .unwrap_err();
    assert_clean(&e, &["LEAKYHOOKTOKEN", "LEAKYSIGNINGSECRET"]);
}
