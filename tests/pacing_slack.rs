//! Pacing at Slack's documented rate, against the Slack test server, on tokio's paused clock.
//!
//! The sinks are built from a config exactly as `replay` and `run` build them (digest stage,
//! limiter, retry, timeout); the limiter and the test server both read tokio's clock, so 300
//! posts at Herald's default of one every 1.2 s (50 a minute: chat.update's Tier 3, within
//! chat.postMessage's one a second) take six virtual minutes and well under a second of real
//! time, with
//! real HTTP in between. The server answers 429 to any post that reaches a channel less than a
//! second after the one before (stricter than Slack, which lets short bursts through), so "no
//! 429" means "never faster than the limit". The digest is switched off here (`threshold = 0`):
//! these tests are about the limiter; `storm_slack.rs` is about the digest.

mod chat_servers;

use chat_servers::samples;
use chat_servers::slack::SlackServer;
use herald::app::sinks::build_sinks;
use herald::config::Config;
use herald::deliver::{Delivery, Op};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

const TOKEN: &str = "xoxb-1111-2222-PACINGTOKEN";

fn config(api: &str, channels: usize) -> Config {
    let mut text = String::new();
    for c in 0..channels {
        text.push_str(&format!(
            r#"
            [[destinations]]
            name = "c{c}"
            kind = "slack"
            channel = "C{c:08}"
            token = "{TOKEN}"
            api_base = "{api}"
            mention_authors = false
            digest = {{ threshold = 0 }}
            "#
        ));
    }
    let cfg: Config = toml::from_str(&text).expect("config");
    cfg.validate().expect("valid");
    cfg
}

fn post(destination: &str, i: usize) -> Delivery {
    let mut n = samples::success();
    n.title = format!("pacing {i:03}");
    Delivery {
        op: Op::Post,
        thread: format!("t{i}"),
        destination: destination.into(),
        notification: n,
        message: None,
    }
}

/// Posts `per_channel` notifications to each of `channels` channels, all at once; returns the
/// virtual time it took.
async fn burst(server: &SlackServer, channels: usize, per_channel: usize) -> Duration {
    let sinks = build_sinks(&config(&server.url, channels)).expect("sinks");
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..channels {
        for k in 0..per_channel {
            let sink = sinks[&format!("c{c}")].clone();
            let d = post(&format!("c{c}"), c * per_channel + k);
            tasks.push(tokio::spawn(async move { sink.deliver(&d).await }));
        }
    }
    for t in tasks {
        t.await.expect("task").expect("delivered");
    }
    Instant::now() - t0
}

/// Every post arrived once, none was refused, and none reached its channel less than a second
/// after the previous one.
fn check(server: &SlackServer, total: usize) {
    let posts = server.calls("chat.postMessage");
    assert_eq!(server.rate_limited(), 0, "the limiter provoked no 429");
    assert_eq!(posts.len(), total, "no retries were needed");
    let titles: HashSet<String> = posts
        .iter()
        .map(|p| p.body["blocks"][0]["text"]["text"].to_string())
        .collect();
    assert_eq!(titles.len(), total, "each notification arrived once");
    assert_eq!(server.messages().len(), total);
    let mut by_channel: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
    for p in &posts {
        by_channel
            .entry(p.body["channel"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(p.at);
    }
    for (channel, times) in by_channel {
        let gap = chat_servers::min_gap(&times).unwrap_or(Duration::MAX);
        assert!(
            gap >= Duration::from_secs(1),
            "{channel}: two posts {gap:?} apart"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn three_hundred_posts_to_one_channel_go_at_fifty_a_minute() {
    let server = SlackServer::start(TOKEN).await;
    server.set_min_gap(Duration::from_secs(1));
    let took = burst(&server, 1, 300).await;
    check(&server, 300);
    // 299 gaps of 1.2 s: as fast as the default budget allows, and no faster.
    assert!(
        took >= Duration::from_millis(358_800) && took < Duration::from_secs(362),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn three_hundred_posts_over_thirty_channels_go_in_parallel() {
    let server = SlackServer::start(TOKEN).await;
    server.set_min_gap(Duration::from_secs(1));
    let took = burst(&server, 30, 10).await;
    check(&server, 300);
    // Each channel has its own budget: ten posts a channel take 9 × 1.2 s, not 299 × 1.2 s.
    assert!(
        took >= Duration::from_millis(10_800) && took < Duration::from_secs(13),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn destinations_sharing_a_channel_share_its_budget() {
    let server = SlackServer::start(TOKEN).await;
    server.set_min_gap(Duration::from_secs(1));
    let text = format!(
        r#"
        [[destinations]]
        name = "deploys"
        kind = "slack"
        channel = "C0SHARED"
        token = "{TOKEN}"
        api_base = "{api}"
        mention_authors = false
        digest = {{ threshold = 0 }}
        [[destinations]]
        name = "failures"
        kind = "slack"
        channel = "C0SHARED"
        token = "{TOKEN}"
        api_base = "{api}"
        mention_authors = false
        failure_reply = true
        digest = {{ threshold = 0 }}
        "#,
        api = server.url
    );
    let cfg: Config = toml::from_str(&text).expect("config");
    let sinks = build_sinks(&cfg).expect("sinks");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let name = if i % 2 == 0 { "deploys" } else { "failures" };
        let sink = sinks[name].clone();
        let d = post(name, i);
        tasks.push(tokio::spawn(async move { sink.deliver(&d).await }));
    }
    for t in tasks {
        t.await.expect("task").expect("delivered");
    }
    check(&server, 20);
}

/// Updates of one message that pile up behind the budget: only the newest is sent.
#[tokio::test(start_paused = true)]
async fn an_update_superseded_while_it_waits_is_not_sent() {
    let server = SlackServer::start(TOKEN).await;
    server.set_min_gap(Duration::from_secs(1));
    let sinks = build_sinks(&config(&server.url, 1)).expect("sinks");
    let sink = sinks["c0"].clone();
    let posted = sink.deliver(&post("c0", 0)).await.expect("posted");
    let tasks: Vec<_> = (1..=5)
        .map(|k| {
            let sink = sink.clone();
            let mut d = post("c0", 0);
            d.op = Op::Update;
            d.message = Some(posted.clone());
            d.notification.title = format!("state {k}");
            tokio::spawn(async move {
                // In order, each a moment after the one before, all inside the first second.
                tokio::time::sleep(Duration::from_millis(10 * k)).await;
                sink.deliver(&d).await
            })
        })
        .collect();
    for t in tasks {
        let r = t.await.expect("task").expect("done");
        assert_eq!(r, posted, "an update keeps the message's reference");
    }
    let updates = server.calls("chat.update");
    assert_eq!(updates.len(), 1, "only the newest update went out");
    let ts = posted["ts"].as_str().expect("a ts");
    let m = server.message(ts).expect("the message");
    assert_eq!(m.body["blocks"][0]["text"]["text"], "✅ state 5");
}

/// `failure_reply = true`: a final failure also goes in the message's thread, once, within the
/// channel's budget like any post.
#[tokio::test(start_paused = true)]
async fn a_failure_is_also_replied_in_its_thread_once() {
    let server = SlackServer::start(TOKEN).await;
    server.set_min_gap(Duration::from_secs(1));
    server.add_user("taro.yamada@example.com", "U0TARO");
    let text = format!(
        r#"
        [[destinations]]
        name = "deploys"
        kind = "slack"
        channel = "C0REPLY"
        token = "{TOKEN}"
        api_base = "{api}"
        failure_reply = true
        reply_broadcast = true
        "#,
        api = server.url
    );
    let cfg: Config = toml::from_str(&text).expect("config");
    let sink = build_sinks(&cfg).expect("sinks")["deploys"].clone();
    let failed = Delivery {
        op: Op::Post,
        thread: "t1".into(),
        destination: "deploys".into(),
        notification: samples::build_failure(),
        message: None,
    };
    let posted = sink.deliver(&failed).await.expect("posted");
    // A late detail edits the message and does not reply again.
    let late = Delivery {
        op: Op::Update,
        message: Some(posted.clone()),
        ..failed.clone()
    };
    sink.deliver(&late).await.expect("edited");
    let posts = server.calls("chat.postMessage");
    assert_eq!(posts.len(), 2, "the message and one reply");
    assert_eq!(posts[1].body["thread_ts"], posted["ts"]);
    assert_eq!(posts[1].body["reply_broadcast"], true);
    assert!(
        posts[1].body.to_string().contains("<@U0TARO>"),
        "the author is mentioned"
    );
    assert!(posts[1]
        .body
        .to_string()
        .contains("Command did not exit successfully npm test -- --ci"));
    assert!(posts[1].at - posts[0].at >= Duration::from_secs(1));
    assert_eq!(server.rate_limited(), 0);
    assert_eq!(server.calls("chat.update").len(), 1);

    // The reference says the reply went out, so a worker that never saw it (another one, or
    // this one restarted: new sinks, empty memory) edits without replying again.
    assert_eq!(posted["replied"], true, "{posted}");
    let restarted = build_sinks(&cfg).expect("sinks")["deploys"].clone();
    restarted.deliver(&late).await.expect("edited again");
    assert_eq!(server.calls("chat.postMessage").len(), 2, "no second reply");
    assert_eq!(server.calls("chat.update").len(), 2);
}

/// News is told by a reply too, since an edit notifies nobody: a stall and an approval
/// reminder each get one reply in the message's thread, broadcast to the channel (without
/// `reply_broadcast` set), once, also after a restart (the reference remembers it); the next
/// reminder is news again.
#[tokio::test(start_paused = true)]
async fn a_stall_and_each_reminder_are_replied_once_and_broadcast() {
    let server = SlackServer::start(TOKEN).await;
    let text = format!(
        r#"
        [[destinations]]
        name = "deploys"
        kind = "slack"
        channel = "C0NEWS"
        token = "{TOKEN}"
        api_base = "{api}"
        "#,
        api = server.url
    );
    let cfg: Config = toml::from_str(&text).expect("config");
    let sink = build_sinks(&cfg).expect("sinks")["deploys"].clone();
    let mut quiet = samples::ecs_stalled();
    quiet.stalled = false;
    quiet.stalled_since = None;
    quiet.stalled_for_secs = None;
    let post = Delivery {
        op: Op::Post,
        thread: "t1".into(),
        destination: "deploys".into(),
        notification: quiet,
        message: None,
    };
    let posted = sink.deliver(&post).await.expect("posted");
    let stalled = Delivery {
        op: Op::Update,
        message: Some(posted.clone()),
        notification: samples::ecs_stalled(),
        ..post.clone()
    };
    let told = sink.deliver(&stalled).await.expect("edited");
    let replies = |s: &SlackServer| {
        s.calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body.get("thread_ts").is_some())
            .collect::<Vec<_>>()
    };
    let r = replies(&server);
    assert_eq!(r.len(), 1, "one stall reply");
    assert_eq!(r[0].body["reply_broadcast"], true);
    assert!(r[0]
        .body
        .to_string()
        .contains("Stalled: nothing heard for 30m 00s"));
    assert_eq!(told["stall_replied"], 1_709_542_930, "{told}");
    // Edited again (a restarted worker, empty memory): not replied again.
    let again = Delivery {
        message: Some(told.clone()),
        ..stalled.clone()
    };
    build_sinks(&cfg).expect("sinks")["deploys"]
        .deliver(&again)
        .await
        .expect("edited");
    assert_eq!(replies(&server).len(), 1);

    // An approval reminder, then the next one: each is news once.
    let mut waiting = samples::approval_waiting();
    let mut reminder = herald::notification::Reminder {
        kind: "waiting".into(),
        waiting_secs: Some(4 * 3600),
        expires: None,
        due: 1_710_000_000,
    };
    waiting.reminder = Some(reminder.clone());
    let remind = Delivery {
        op: Op::Update,
        thread: "t2".into(),
        message: Some(posted.clone()),
        notification: waiting.clone(),
        ..post.clone()
    };
    let told = sink.deliver(&remind).await.expect("edited");
    sink.deliver(&Delivery {
        message: Some(told.clone()),
        ..remind.clone()
    })
    .await
    .expect("edited");
    reminder.kind = "expiring".into();
    reminder.due += 3600;
    reminder.expires = waiting.approval.as_ref().and_then(|a| a.expires);
    waiting.reminder = Some(reminder);
    sink.deliver(&Delivery {
        message: Some(told),
        notification: waiting,
        ..remind.clone()
    })
    .await
    .expect("edited");
    let r = replies(&server);
    assert_eq!(r.len(), 3, "the stall, and two reminders");
    assert!(r[1]
        .body
        .to_string()
        .contains("Still waiting for approval after 4h 00m"));
    assert!(r[2].body.to_string().contains("expires at"));
    assert!(r.iter().all(|c| c.body["reply_broadcast"] == true));
}

/// An UNHEALTHY verdict is news too: replied once in the deployment's thread (with who
/// deployed), and not again when edited later, also by a restarted worker.
#[tokio::test(start_paused = true)]
async fn an_unhealthy_verdict_is_replied_once() {
    let server = SlackServer::start(TOKEN).await;
    let text = format!(
        r#"
        [[destinations]]
        name = "deploys"
        kind = "slack"
        channel = "C0VERDICT"
        token = "{TOKEN}"
        api_base = "{api}"
        "#,
        api = server.url
    );
    let cfg: Config = toml::from_str(&text).expect("config");
    let sink = build_sinks(&cfg).expect("sinks")["deploys"].clone();
    let mut watching = samples::ecs_unhealthy();
    watching.verdict = None;
    let post = Delivery {
        op: Op::Post,
        thread: "t1".into(),
        destination: "deploys".into(),
        notification: watching,
        message: None,
    };
    let posted = sink.deliver(&post).await.expect("posted");
    let unhealthy = Delivery {
        op: Op::Update,
        message: Some(posted),
        notification: samples::ecs_unhealthy(),
        ..post.clone()
    };
    let told = sink.deliver(&unhealthy).await.expect("edited");
    let replies = |s: &SlackServer| {
        s.calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body.get("thread_ts").is_some())
            .collect::<Vec<_>>()
    };
    let r = replies(&server);
    assert_eq!(r.len(), 1, "one verdict reply");
    assert!(
        r[0].body.to_string().contains("deployed by bob-ops"),
        "{:?}",
        r[0].body
    );
    assert_eq!(told["unhealthy_replied"], 1, "{told}");
    build_sinks(&cfg).expect("sinks")["deploys"]
        .deliver(&Delivery {
            message: Some(told),
            ..unhealthy.clone()
        })
        .await
        .expect("edited again");
    assert_eq!(replies(&server).len(), 1, "not replied again");
}
