//! Golden renders: representative notifications as Slack, Discord, Teams and Amazon Q receive
//! them, compared with reviewed files in `tests/golden/`, with each provider's limits checked.
//!
//! `UPDATE_GOLDEN=1 cargo test --test render_golden` rewrites the files; read the diff before
//! committing it: a golden file is a claim that the message is right, not that it is current.

mod chat_servers;
mod support;

use chat_servers::samples::{self, JAPANESE_COMMIT};
use herald::render;
use serde_json::Value;
use std::path::PathBuf;

fn golden(name: &str, got: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    support::golden(&path, got);
}

fn chars(v: &Value) -> usize {
    v.as_str().map(|s| s.chars().count()).unwrap_or(0)
}

/// Every `text` string anywhere in a Block Kit payload.
fn slack_texts<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if let Some(t) = m.get("text") {
                if t.is_string() {
                    out.push(t);
                }
            }
            m.values().for_each(|x| slack_texts(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| slack_texts(x, out)),
        _ => {}
    }
}

fn check_slack(v: &Value) {
    let top = v["blocks"].as_array().expect("blocks");
    let mut all: Vec<&Value> = top.iter().collect();
    for a in v["attachments"].as_array().into_iter().flatten() {
        assert!(a["color"].as_str().is_some_and(|c| c.starts_with('#')));
        all.extend(a["blocks"].as_array().expect("attachment blocks"));
    }
    assert!(all.len() <= render::slack::BLOCKS_MAX);
    for b in &all {
        match b["type"].as_str() {
            Some("header") => {
                assert_eq!(b["text"]["type"], "plain_text");
                assert!(chars(&b["text"]["text"]) <= render::slack::HEADER_MAX);
            }
            Some("section") => assert!(chars(&b["text"]["text"]) <= render::slack::SECTION_MAX),
            Some("context") => assert!(b["elements"].as_array().expect("elements").len() <= 10),
            Some("actions") => {
                for e in b["elements"].as_array().expect("elements") {
                    assert!(chars(&e["text"]["text"]) <= 75);
                    assert!(chars(&e["url"]) <= 3000);
                }
            }
            other => panic!("unexpected block {other:?}"),
        }
    }
    let mut texts = Vec::new();
    slack_texts(v, &mut texts);
    for t in texts {
        assert!(chars(t) <= render::slack::SECTION_MAX);
    }
    assert!(chars(&v["text"]) <= render::slack::TEXT_MAX);
}

fn check_discord(v: &Value) {
    use render::discord::*;
    assert_eq!(v["allowed_mentions"]["parse"], serde_json::json!([]));
    let embeds = v["embeds"].as_array().expect("embeds");
    assert_eq!(embeds.len(), 1);
    let e = &embeds[0];
    assert!(chars(&e["title"]) <= TITLE_MAX);
    assert!(chars(&e["description"]) <= DESCRIPTION_MAX);
    assert!(chars(&e["footer"]["text"]) <= FOOTER_MAX);
    let fields = e["fields"].as_array().expect("fields");
    assert!(fields.len() <= FIELDS_MAX);
    for f in fields {
        assert!(chars(&f["name"]) <= FIELD_NAME_MAX);
        assert!(chars(&f["value"]) <= FIELD_VALUE_MAX);
    }
    assert!(embed_text_len(e) <= EMBED_TOTAL_MAX);
    assert!(e["color"].as_u64().is_some_and(|c| c <= 0xFFFFFF));
    let d = e["description"].as_str().unwrap_or_default();
    assert_eq!(d.matches("```").count() % 2, 0, "code fences are balanced");
}

fn check_teams(v: &Value) {
    assert_eq!(v["type"], "message");
    let a = &v["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &a["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert!(serde_json::to_vec(v).expect("bytes").len() <= render::teams::MESSAGE_BYTES_MAX);
    for action in card["actions"].as_array().into_iter().flatten() {
        assert_eq!(action["type"], "Action.OpenUrl");
        assert!(action["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")));
    }
}

fn check_amazonq(v: &Value, thread: &str) {
    use render::amazonq::*;
    assert_eq!(v["version"], "1.0");
    assert_eq!(v["source"], "custom");
    assert_eq!(v["content"]["textType"], "client-markdown");
    assert_eq!(v["metadata"]["threadId"], thread);
    assert!(chars(&v["content"]["title"]) <= TITLE_MAX);
    assert!(chars(&v["content"]["description"]) <= DESCRIPTION_MAX);
    assert!(chars(&v["metadata"]["summary"]) <= SUMMARY_MAX);
    let steps = v["content"]["nextSteps"].as_array().expect("nextSteps");
    assert!(steps.len() <= NEXT_STEPS_MAX);
    assert!(steps.iter().all(|s| chars(s) <= NEXT_STEP_MAX));
    let kw = v["content"]["keywords"].as_array().expect("keywords");
    assert!(kw.len() <= KEYWORDS_MAX && kw.iter().all(|k| chars(k) <= KEYWORD_MAX));
    assert!(
        v["metadata"]["relatedResources"]
            .as_array()
            .expect("related")
            .len()
            <= RELATED_MAX
    );
    assert!(v["metadata"]["eventType"]
        .as_str()
        .is_some_and(|t| t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')));
    for (_, val) in v["metadata"]["additionalContext"]
        .as_object()
        .expect("context")
    {
        assert!(val.is_string(), "custom actions read strings");
    }
}

/// The Japanese commit message and its emoji arrive whole, wherever the commit is shown.
fn japanese_survives(name: &str, v: &Value) {
    if name == "build-failure" {
        let s = v.to_string();
        assert!(s.contains(JAPANESE_COMMIT), "{s}");
        assert!(s.contains("山田 太郎"));
    }
}

#[test]
fn slack() {
    for (name, _, n) in samples::all() {
        let v = render::slack::render(&n);
        check_slack(&v);
        japanese_survives(name, &v);
        golden(&format!("{name}.slack.json"), &v);
    }
    let n = samples::build_failure();
    let reply = render::slack::render_reply(
        &n,
        render::slack::Extras {
            author_mention: Some("U0TARO"),
            actions_for: None,
        },
    );
    check_slack(&reply);
    golden("build-failure.slack-reply.json", &reply);
    // A stall is said in the message and in a reply (which the sink broadcasts).
    let stalled = samples::ecs_stalled();
    let v = render::slack::render(&stalled);
    let said = "nothing heard for 30m 00s since 2024-03-04 09:02 UTC";
    assert!(v.to_string().contains(said), "{v}");
    let reply = render::slack::render_reply(&stalled, render::slack::Extras::default());
    check_slack(&reply);
    assert!(reply.to_string().contains(said), "{reply}");
    golden("ecs-stalled.slack-reply.json", &reply);
}

#[test]
fn every_sink_says_a_thread_stalled() {
    let n = samples::ecs_stalled();
    let said = "nothing heard for 30m 00s since 2024-03-04 09:02 UTC";
    let renders = [
        render::slack::render(&n).to_string(),
        render::discord::render(&n).to_string(),
        render::teams::render(&n).to_string(),
        render::text::render(&n),
        render::amazonq::render(&n, "t").to_string(),
    ];
    for r in renders {
        assert!(r.contains(said), "{r}");
        assert!(r.contains("the deployment may be stuck"), "{r}");
    }
    // An approval reminder too.
    let n = samples::approval_reminded();
    let said = "This approval expires at 2024-03-10 12:00 UTC, in less than a day";
    for r in [
        render::slack::render(&n).to_string(),
        render::slack::render_reply(&n, render::slack::Extras::default()).to_string(),
        render::discord::render(&n).to_string(),
        render::teams::render(&n).to_string(),
        render::text::render(&n),
        render::amazonq::render(&n, "t").to_string(),
    ] {
        assert!(r.contains(said), "{r}");
    }
    // Not stalled: not said.
    let mut done = samples::ecs_stalled();
    done.stalled = false;
    assert!(!render::slack::render(&done).to_string().contains("Stalled"));
}

/// Deploy verdicts in every sink: a deployment's verdict and the alarms it ran into, an
/// alarm's deployment; the UNHEALTHY verdict is news, replied with who deployed.
#[test]
fn slack_shows_the_actions_as_buttons_and_every_sink_says_who_did_what() {
    use herald::notification::{ActionOffer, ActionTaken};
    let mut n = samples::approval_waiting();
    let offer = |id: &str, label: &str, style: &str| ActionOffer {
        id: id.into(),
        label: label.into(),
        style: style.into(),
    };
    n.actions = vec![
        offer("approve", "Approve", "primary"),
        offer("reject", "Reject", "danger"),
        offer("stop_pipeline", "Stop", "danger"),
    ];
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.to_utc())
    };
    n.acted = vec![
        ActionTaken {
            action: "retry_stage".into(),
            by: "U0BOB".into(),
            at: at("2024-03-03T11:40:00Z"),
            outcome: "failed".into(),
            error: Some("StageNotRetryableException: the stage is not retryable".into()),
        },
        ActionTaken {
            action: "stop_pipeline".into(),
            by: "U0ALICE".into(),
            at: at("2024-03-03T12:02:00Z"),
            outcome: "requested".into(),
            error: None,
        },
    ];
    // Without [actions], no buttons.
    let plain = render::slack::render(&n);
    assert!(!plain.to_string().contains("herald:approve"));
    let thread = "ex#111122223333#eu-west-1#web-app#c0ffee12-3456-4789-abcd-ef0123456789";
    let v = render::slack::render_with(
        &n,
        render::slack::Extras {
            author_mention: None,
            actions_for: Some(thread),
        },
    );
    check_slack(&v);
    let blocks = v["attachments"][0]["blocks"].as_array().expect("blocks");
    let actions = blocks.last().expect("a last block");
    assert_eq!(actions["type"], "actions");
    let ids: Vec<&str> = actions["elements"]
        .as_array()
        .expect("elements")
        .iter()
        .filter_map(|e| e["action_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["herald:approve", "herald:reject", "herald:stop_pipeline"]
    );
    let approve = &actions["elements"][0];
    assert_eq!(approve["style"], "primary");
    assert_eq!(approve["confirm"]["confirm"]["text"], "Approve");
    let value: Value =
        serde_json::from_str(approve["value"].as_str().expect("value")).expect("json");
    assert_eq!(value["t"], thread);
    assert_eq!(value["b"], "approval/Approve/ProductionGate");
    let text = v.to_string();
    assert!(
        text.contains("⏳ Stop requested by <@U0ALICE> at 12:02 UTC"),
        "{text}"
    );
    assert!(
        text.contains("❌ Stage retry by <@U0BOB> at 11:40 UTC failed: StageNotRetryableException"),
        "{text}"
    );
    golden("approval-actions.slack.json", &v);
    for r in [
        render::discord::render(&n).to_string(),
        render::teams::render(&n).to_string(),
        render::text::render(&n),
        render::amazonq::render(&n, "t").to_string(),
    ] {
        assert!(r.contains("Stop requested by U0ALICE at 12:02 UTC"), "{r}");
    }
}

#[test]
fn every_sink_tells_verdicts_and_the_deploy_an_alarm_fired_after() {
    let n = samples::ecs_unhealthy();
    let said = [
        "Unhealthy: gateway-5xx fired 3m 00s after the deploy",
        "Alarm gateway-latency fired and cleared while deploying (10:02 UTC–10:04 UTC)",
    ];
    let a = samples::alarm_after_deploy();
    let named = "Fired 3m 00s after prod-cluster/gateway deploy ecs-svc/5555555555555555555 by bob-ops (succeeded)";
    for (r, a) in [
        (
            render::slack::render(&n).to_string(),
            render::slack::render(&a).to_string(),
        ),
        (
            render::discord::render(&n).to_string(),
            render::discord::render(&a).to_string(),
        ),
        (
            render::teams::render(&n).to_string(),
            render::teams::render(&a).to_string(),
        ),
        (render::text::render(&n), render::text::render(&a)),
        (
            render::amazonq::render(&n, "t").to_string(),
            render::amazonq::render(&a, "t").to_string(),
        ),
    ] {
        for s in said {
            assert!(r.contains(s), "{s} not in {r}");
        }
        assert!(a.contains(named), "{named} not in {a}");
    }
    let q = render::amazonq::render(&n, "t");
    assert_eq!(q["metadata"]["additionalContext"]["verdict"], "UNHEALTHY");
    let q = render::amazonq::render(&a, "t");
    assert_eq!(
        q["metadata"]["additionalContext"]["afterDeploymentId"],
        "ecs-svc/5555555555555555555"
    );
    // SUCCEEDED, but it needs eyes: Slack's bar is not green.
    let v = render::slack::render(&n);
    assert_ne!(v["attachments"][0]["color"], "#2EB67D", "{v}");
    let reply = render::slack::render_reply(&n, render::slack::Extras::default());
    check_slack(&reply);
    assert!(
        reply
            .to_string()
            .contains("gateway-5xx fired 3m 00s after the deploy (deployed by bob-ops)"),
        "{reply}"
    );
    golden("ecs-unhealthy.slack-reply.json", &reply);
}

#[test]
fn discord() {
    for (name, _, n) in samples::all() {
        let v = render::discord::render(&n);
        check_discord(&v);
        japanese_survives(name, &v);
        golden(&format!("{name}.discord.json"), &v);
    }
}

#[test]
fn teams() {
    for (name, _, n) in samples::all() {
        let v = render::teams::render(&n);
        check_teams(&v);
        japanese_survives(name, &v);
        golden(&format!("{name}.teams.json"), &v);
    }
}

#[test]
fn amazonq() {
    for (name, thread, n) in samples::all() {
        let v = render::amazonq::render(&n, thread);
        check_amazonq(&v, thread);
        japanese_survives(name, &v);
        golden(&format!("{name}.amazonq.json"), &v);
    }
}

#[test]
fn the_build_failure_shows_its_error_region_and_escapes_markup() {
    // The sample's log is a 2,298-line jest run whose one failure is 1,494 lines above its
    // end, and its 2,000-test report has 15 failed cases. Every sink shows the failed tests
    // first (the Cart one among them, the rest counted), then the log from two lines above its
    // first error to the exit line, saying where that is in the log; none shows the passing
    // suites far from it.
    let n = samples::build_failure();
    let slack = render::slack::render(&n).to_string();
    assert!(slack.contains("renders &lt;CartTotal&gt; for 2 items &amp; a coupon"));
    assert!(!slack.contains("<CartTotal>"));
    let discord = render::discord::render(&n).to_string();
    let teams = render::teams::render(&n).to_string();
    let amazonq = render::amazonq::render(&n, "t").to_string();
    let text = render::text::render(&n);
    for (sink, out) in [
        ("slack", &slack),
        ("discord", &discord),
        ("teams", &teams),
        ("amazonq", &amazonq),
        ("text", &text),
    ] {
        assert!(
            out.contains("FAIL  src/components/Cart.test.tsx"),
            "{sink}: {out}"
        );
        assert!(out.contains("15 of 2,000 tests failed"), "{sink}: {out}");
        assert!(out.contains("Cart › renders"), "{sink}: {out}");
        // The chats list the first few and count the rest; the terminal lists all it has.
        let more = match sink {
            "slack" => Some("…and 7 more failed tests"),
            "text" => None,
            _ => Some("…and 10 more failed tests"),
        };
        match more {
            Some(m) => assert!(out.contains(m), "{sink}: {out}"),
            None => assert!(!out.contains("more failed tests"), "{sink}: {out}"),
        }
        assert!(
            out.contains("Command did not exit successfully npm test -- --ci"),
            "{sink}: {out}"
        );
        assert!(
            out.contains("Log from line 804 of 2,298, at the first error"),
            "{sink}: {out}"
        );
        assert!(!out.contains("Widget0001.test.tsx"), "{sink}: {out}");
        assert!(!out.contains("[Container]"), "{sink}: {out}");
    }
}

#[test]
fn many_failed_actions_with_tests_and_logs_stay_within_every_limit() {
    // Eight failed actions, each with a 2,000-test report and the jest log's error region: the
    // failed tests fill the room, and the log is left out where it does not fit.
    let mut n = samples::build_failure();
    if let Some(f) = n.failure.as_mut() {
        let one = f.actions[0].clone();
        f.actions = (0..8)
            .map(|i| {
                let mut a = one.clone();
                a.action = format!("Build{i}");
                a
            })
            .collect();
    }
    check_slack(&render::slack::render(&n));
    check_discord(&render::discord::render(&n));
    check_teams(&render::teams::render(&n));
    check_amazonq(&render::amazonq::render(&n, "t"), "t");
    let discord = render::discord::render(&n).to_string();
    assert!(!discord.contains("…(0 more lines)"), "{discord}");
}
