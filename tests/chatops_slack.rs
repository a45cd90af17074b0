//! People acting from Slack messages (issue 15), end to end through `herald run`: the Slack test
//! server holds the messages and their buttons and sends clicks as Slack does (a signed
//! `block_actions` request to `POST /slack/interactions`); the AWS test server answers the write
//! calls with their real wire protocol and refuses what AWS refuses.
//!
//! Cases: unsigned, forged and stale requests (401, nothing done); an unauthorized user (told
//! why, nothing called); an approval from a message whose SNS approval never came (the token from
//! `GetPipelineState`); the message then says who approved and loses its approve button; a
//! replayed request and a double click (one call); a group member allowed by a routing
//! expression; two workers receiving the same click (one call); a worker killed after the AWS
//! call and before recording it (no second call; the message says it was requested); a
//! deployment judged UNHEALTHY rolled back from its message (`RollbackStage` to the previous
//! execution that succeeded).

mod aws_test_server;
mod chat_servers;
mod support;
mod worker;

use chat_servers::slack::{buttons, SlackServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use worker::Herald;

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TOKEN: &str = "xoxb-test-token";
const ACCOUNT: &str = "111122223333";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn config(slack: &str, aws: &str, store: &str) -> String {
    format!(
        r#"default_destination = "slack"
[correlate]
settle_secs = 0
[[destinations]]
name = "slack"
kind = "slack"
token = "{TOKEN}"
channel = "C0DEPLOYS"
api_base = "{slack}"
mention_authors = false
permalinks = false
[enrich]
endpoints = {{ codepipeline = "{aws}", codedeploy = "{aws}", sts = "{aws}" }}
[actions]
slack_signing_secret = "{SECRET}"
role_arn_template = ""
[[actions.allow]]
users = ["UALICE"]
actions = ["approve", "reject", "stop_pipeline"]
[[actions.allow]]
users = ["UDAVE"]
actions = ["continue_deployment", "terminate_old", "stop_deployment"]
[[actions.allow]]
groups = ["SOPS"]
actions = ["*"]
match = 'pipeline~"^prod-"'
{store}
"#
    )
}

fn event(detail_type: &str, id: &str, secs: i64, detail: Value) -> Value {
    let time = chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    json!({
        "version": "0", "id": id, "detail-type": detail_type, "source": "aws.codepipeline",
        "account": ACCOUNT, "time": time, "region": "us-east-1",
        "resources": [format!("arn:aws:codepipeline:us-east-1:{ACCOUNT}:{}", detail["pipeline"].as_str().unwrap_or_default())],
        "detail": detail,
    })
}

/// An execution of `pipeline` that started and waits at its Manual approval action (no SNS
/// approval message: the topic is optional).
fn waiting(pipeline: &str, execution: &str, t: i64) -> String {
    json!([
        event("CodePipeline Pipeline Execution State Change", &format!("{execution}-1"), t,
            json!({"pipeline": pipeline, "execution-id": execution, "state": "STARTED", "version": 1})),
        event("CodePipeline Stage Execution State Change", &format!("{execution}-2"), t + 1,
            json!({"pipeline": pipeline, "execution-id": execution, "stage": "Approve", "state": "STARTED", "version": 1})),
        event("CodePipeline Action Execution State Change", &format!("{execution}-3"), t + 2,
            json!({"pipeline": pipeline, "execution-id": execution, "stage": "Approve", "action": "Gate", "state": "STARTED", "version": 1,
                   "type": {"owner": "AWS", "category": "Approval", "provider": "Manual", "version": "1"}})),
    ])
    .to_string()
}

async fn post_events(h: &Herald, body: String) {
    let r = reqwest::Client::new()
        .post(h.url("/events"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST /events");
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

fn sign(ts: i64, body: &str) -> String {
    let base = format!("v0:{ts}:{body}");
    herald::deliver::webhook::signature(SECRET.as_bytes(), base.as_bytes())
        .replace("sha256=", "v0=")
}

/// Posts an interaction body with the given timestamp and signature; returns the status.
async fn interact(h: &Herald, body: &str, ts: i64, signature: Option<&str>) -> u16 {
    let mut r = reqwest::Client::new()
        .post(h.url("/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(s) = signature {
        r = r
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", s);
    }
    let started = Instant::now();
    let status = r.send().await.expect("answered").status().as_u16();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "Slack wants an answer within 3 s"
    );
    status
}

async fn click(h: &Herald, body: &str) -> u16 {
    let ts = now();
    interact(h, body, ts, Some(&sign(ts, body))).await
}

async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The message of `pipeline`'s execution, once it shows the button `action_id`.
async fn message_with(slack: &SlackServer, pipeline: &str, action_id: &str) -> String {
    wait_for(&format!("{pipeline}'s message with {action_id}"), || {
        slack
            .messages()
            .into_iter()
            .find(|m| {
                m.body["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(pipeline)
                    && buttons(&m.body).iter().any(|b| b["action_id"] == action_id)
            })
            .map(|m| m.ts)
    })
    .await
}

fn text_of(slack: &SlackServer, ts: &str) -> String {
    slack
        .message(ts)
        .map(|m| m.body.to_string())
        .unwrap_or_default()
}

fn action_ids(slack: &SlackServer, ts: &str) -> Vec<String> {
    slack
        .message(ts)
        .map(|m| buttons(&m.body))
        .unwrap_or_default()
        .iter()
        .filter_map(|b| b["action_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_approves_from_slack_once_and_others_are_refused_with_a_reason() {
    let slack = SlackServer::start(TOKEN).await;
    slack.add_group("SOPS", &["UCAROL"]);
    let aws = aws_test_server::TestServer::start(None).await;
    aws.add_approval("prod-web", "x-1", "Approve", "Gate", "token-prod-web-1");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = Herald::start(dir.path(), 0, &config(&slack.url, &aws.url, ""));
    h.wait_ready().await;

    let t0 = now() - 60;
    post_events(&h, waiting("prod-web", "x-1", t0)).await;
    let ts = message_with(&slack, "prod-web", "herald:approve").await;
    assert_eq!(
        action_ids(&slack, &ts),
        ["herald:approve", "herald:reject", "herald:stop_pipeline"]
    );
    assert!(
        text_of(&slack, &ts).contains("WAITING_FOR_APPROVAL")
            || text_of(&slack, &ts).contains("Approval needed")
    );

    // Unsigned, forged and stale requests: 401, nothing done.
    let alice = slack
        .click_body(
            &ts,
            "herald:approve",
            "UALICE",
            &format!("{}.000100", now()),
        )
        .expect("an approve button");
    assert_eq!(interact(&h, &alice, now(), None).await, 401, "unsigned");
    assert_eq!(
        interact(&h, &alice, now(), Some("v0=00ff")).await,
        401,
        "forged"
    );
    let stale = now() - 400;
    assert_eq!(
        interact(&h, &alice, stale, Some(&sign(stale, &alice))).await,
        401,
        "stale"
    );
    let tampered = alice.replace("UALICE", "UMALLORY");
    let ts_now = now();
    assert_eq!(
        interact(&h, &tampered, ts_now, Some(&sign(ts_now, &alice))).await,
        401,
        "a body that is not the one signed"
    );

    // Bob is allowed nothing: told why, nothing called.
    let bob = slack
        .click_body(&ts, "herald:approve", "UBOB", &format!("{}.000200", now()))
        .expect("button");
    assert_eq!(click(&h, &bob).await, 200);
    let told = wait_for("Bob told why", || {
        slack.ephemeral().into_iter().find(|(_, u, _)| u == "UBOB")
    })
    .await;
    assert!(told.2.contains("not allowed"), "{told:?}");
    assert_eq!(told.0, "C0DEPLOYS");

    // Alice approves: the token comes from GetPipelineState (no SNS approval message came).
    let ts_alice = now();
    let alice_sig = sign(ts_alice, &alice);
    assert_eq!(interact(&h, &alice, ts_alice, Some(&alice_sig)).await, 200);
    wait_for("the approval", || {
        (!aws.seen_op("PutApprovalResult").is_empty()).then_some(())
    })
    .await;
    let put = &aws.seen_op("PutApprovalResult")[0];
    assert_eq!(put.body["token"], "token-prod-web-1");
    assert_eq!(put.body["result"]["status"], "Approved");
    assert_eq!(put.body["pipelineName"], "prod-web");
    assert_eq!(
        (
            put.body["stageName"].as_str(),
            put.body["actionName"].as_str()
        ),
        (Some("Approve"), Some("Gate"))
    );
    assert!(put.body["result"]["summary"]
        .as_str()
        .unwrap_or_default()
        .contains("UALICE"));
    assert_eq!(aws.seen_op("GetPipelineState").len(), 1);
    wait_for("the message to say who approved", || {
        text_of(&slack, &ts)
            .contains("Approved by <@UALICE>")
            .then_some(())
    })
    .await;
    assert_eq!(action_ids(&slack, &ts), ["herald:stop_pipeline"]);

    // The same request again (a retry by Slack) and a double click: no second call.
    assert_eq!(interact(&h, &alice, ts_alice, Some(&alice_sig)).await, 200);
    let again = alice.replace(".000100", ".000300");
    assert_eq!(click(&h, &again).await, 200);
    let refused = wait_for("the double click refused", || {
        slack
            .ephemeral()
            .into_iter()
            .find(|(_, u, t)| u == "UALICE" && t.contains("already done"))
    })
    .await;
    assert!(refused.2.contains("UALICE"), "{refused:?}");
    // Carol (group SOPS, allowed everything on prod- pipelines) tries to reject the old copy.
    let carol = alice
        .replace("UALICE", "UCAROL")
        .replace("herald:approve", "herald:reject");
    assert_eq!(click(&h, &carol).await, 200);
    wait_for("Carol refused: already approved", || {
        slack
            .ephemeral()
            .into_iter()
            .find(|(_, u, t)| u == "UCAROL" && t.contains("already done"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(aws.seen_op("PutApprovalResult").len(), 1, "one call");

    // Carol stops it: allowed through her group and the routing expression.
    let stop = slack
        .click_body(
            &ts,
            "herald:stop_pipeline",
            "UCAROL",
            &format!("{}.000400", now()),
        )
        .expect("a stop button");
    assert_eq!(click(&h, &stop).await, 200);
    wait_for("the stop", || {
        (!aws.seen_op("StopPipelineExecution").is_empty()).then_some(())
    })
    .await;
    let s = &aws.seen_op("StopPipelineExecution")[0];
    assert_eq!(s.body["pipelineExecutionId"], "x-1");
    assert_eq!(s.body["abandon"], false);
    wait_for("the message to say who stopped it", || {
        text_of(&slack, &ts)
            .contains("Stopped by <@UCAROL>")
            .then_some(())
    })
    .await;

    // Every attempt counted.
    let done = h.metric("herald_actions_total", "outcome=\"done\"").await;
    let refused = h
        .metric("herald_actions_total", "outcome=\"refused\"")
        .await;
    let forged = h.metric("herald_actions_total", "outcome=\"forged\"").await;
    let again = h.metric("herald_actions_total", "outcome=\"again\"").await;
    assert_eq!(done, 2.0);
    assert_eq!(refused, 3.0, "Bob, the double click, Carol");
    assert_eq!(again, 1.0, "the same request again");
    assert_eq!(forged, 4.0);
    assert!(h.log_text().contains("action"), "attempts are logged");

    h.sigterm();
    assert_eq!(h.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}

/// AWS refuses the call (the approval was answered elsewhere): the message says so, with AWS's
/// error, and the person may try again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_aws_refuses_is_told_on_the_message() {
    let slack = SlackServer::start(TOKEN).await;
    let aws = aws_test_server::TestServer::start(None).await;
    aws.add_approval("prod-api", "x-9", "Approve", "Gate", "tok-1");
    // Another pipeline whose stage now runs another execution (parallel executions).
    aws.add_approval("prod-par", "x-newer", "Approve", "Gate", "tok-par");
    // Answered in the console meanwhile.
    aws.data()
        .approvals
        .get_mut(&("prod-api".into(), "Approve".into(), "Gate".into()))
        .expect("seeded")
        .1 = Some("Approved".into());
    slack.add_group("SOPS", &["UCAROL"]);
    let dir = tempfile::tempdir().expect("tempdir");
    // A group Slack does not know (a deleted group, a missing scope): its members cannot be read.
    let cfg = config(&slack.url, &aws.url, "")
        .replace("groups = [\"SOPS\"]", "groups = [\"SOPS\", \"SGONE\"]");
    let mut h = Herald::start(dir.path(), 0, &cfg);
    h.wait_ready().await;
    post_events(&h, waiting("prod-api", "x-9", now() - 60)).await;
    let ts = message_with(&slack, "prod-api", "herald:reject").await;
    let body = slack
        .click_body(&ts, "herald:reject", "UALICE", &format!("{}.000100", now()))
        .expect("button");
    assert_eq!(click(&h, &body).await, 200);
    wait_for("the failure on the message", || {
        text_of(&slack, &ts)
            .contains("Rejection by <@UALICE>")
            .then_some(())
    })
    .await;
    let text = text_of(&slack, &ts);
    assert!(text.contains("failed"), "{text}");
    wait_for("the person told", || {
        slack
            .ephemeral()
            .into_iter()
            .find(|(_, u, t)| u == "UALICE" && t.contains("AWS refused"))
    })
    .await;
    // A failed call leaves the action offered.
    assert!(action_ids(&slack, &ts).contains(&"herald:reject".to_string()));

    // The approval waiting at the stage belongs to a newer execution: this message's click does
    // not approve it.
    post_events(&h, waiting("prod-par", "x-older", now() - 60)).await;
    let ts = message_with(&slack, "prod-par", "herald:approve").await;
    let body = slack
        .click_body(
            &ts,
            "herald:approve",
            "UALICE",
            &format!("{}.000200", now()),
        )
        .expect("button");
    assert_eq!(click(&h, &body).await, 200);
    wait_for("the person told it is another execution's", || {
        slack
            .ephemeral()
            .into_iter()
            .find(|(_, u, t)| u == "UALICE" && t.contains("another execution's (x-newer)"))
    })
    .await;
    assert!(aws
        .seen_op("PutApprovalResult")
        .iter()
        .all(|s| s.body["pipelineName"] != "prod-par"));

    // Bob is in no list, and one group cannot be read: told so, not "not allowed".
    let bob = slack
        .click_body(
            &ts,
            "herald:stop_pipeline",
            "UBOB",
            &format!("{}.000300", now()),
        )
        .expect("a stop button");
    assert_eq!(click(&h, &bob).await, 200);
    wait_for("Bob told the group could not be read", || {
        slack
            .ephemeral()
            .into_iter()
            .find(|(_, u, t)| u == "UBOB" && t.contains("cannot read user group SGONE"))
    })
    .await;

    // AWS never answers the stop: after the call's timeout the person is told it may have been
    // done, and the claim stays requested (not failed: no invitation to call again).
    aws.hang("StopPipelineExecution");
    let stop = slack
        .click_body(
            &ts,
            "herald:stop_pipeline",
            "UALICE",
            &format!("{}.000400", now()),
        )
        .expect("a stop button");
    assert_eq!(click(&h, &stop).await, 200);
    wait_for("the person told AWS did not answer", || {
        slack
            .ephemeral()
            .into_iter()
            .find(|(_, u, t)| u == "UALICE" && t.contains("AWS did not answer"))
    })
    .await;
    let text = text_of(&slack, &ts);
    assert!(text.contains("Stop requested by <@UALICE>"), "{text}");
    assert!(
        !text.contains("Stop by <@UALICE>"),
        "not told as failed: {text}"
    );
    assert_eq!(
        h.metric("herald_actions_total", "outcome=\"unknown\"")
            .await,
        1.0
    );
    h.sigterm();
    assert_eq!(h.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}

fn dynamo(table: &str) -> String {
    format!(
        "[store]\nkind = \"dynamodb\"\ntable = \"{table}\"\nendpoint = \"{}\"\ndelivery_lease_secs = 3\n",
        support::dynamodb_endpoint()
    )
}

/// Two workers on one table receive the same click at once: one call. Then a worker dies after
/// its call reached AWS and before recording it: the next click (on the other worker) is refused
/// while the claim stands, and no second call is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_a_fleet_an_action_is_made_once_even_when_its_worker_dies() {
    let slack = SlackServer::start(TOKEN).await;
    let aws = aws_test_server::TestServer::start(None).await;
    aws.add_approval("prod-db", "x-2", "Approve", "Gate", "tok-db");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&slack.url, &aws.url, &dynamo(&support::unique("chatops")));
    let mut a = Herald::start(dir.path(), 0, &cfg);
    let mut b = Herald::start(dir.path(), 1, &cfg);
    a.wait_ready().await;
    b.wait_ready().await;

    post_events(&a, waiting("prod-db", "x-2", now() - 60)).await;
    let ts = message_with(&slack, "prod-db", "herald:approve").await;
    let body = slack
        .click_body(
            &ts,
            "herald:approve",
            "UALICE",
            &format!("{}.000100", now()),
        )
        .expect("button");
    let t = now();
    let sig = sign(t, &body);
    let (ra, rb) = tokio::join!(
        interact(&a, &body, t, Some(&sig)),
        interact(&b, &body, t, Some(&sig))
    );
    assert_eq!((ra, rb), (200, 200));
    wait_for("the message to say who approved", || {
        text_of(&slack, &ts)
            .contains("Approved by <@UALICE>")
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        aws.seen_op("PutApprovalResult").len(),
        1,
        "one call from two workers"
    );

    // The stop call hangs at AWS; its worker dies with the call made and nothing recorded.
    aws.hang("StopPipelineExecution");
    let stop = slack
        .click_body(
            &ts,
            "herald:stop_pipeline",
            "UALICE",
            &format!("{}.000200", now()),
        )
        .expect("a stop button");
    assert_eq!(click(&a, &stop).await, 200);
    wait_for("the stop call", || {
        (!aws.seen_op("StopPipelineExecution").is_empty()).then_some(())
    })
    .await;
    a.sigkill();
    wait_for("the message to say the stop was requested", || {
        text_of(&slack, &ts)
            .contains("Stop requested by <@UALICE>")
            .then_some(())
    })
    .await;
    let again = slack
        .click_body(
            &ts,
            "herald:stop_pipeline",
            "UALICE",
            &format!("{}.000300", now()),
        )
        .expect("the stop button stays while it is being done");
    assert_eq!(click(&b, &again).await, 200);
    wait_for("the second stop refused", || {
        slack
            .ephemeral()
            .into_iter()
            .find(|(_, u, t)| u == "UALICE" && t.contains("being done"))
    })
    .await;
    assert_eq!(
        aws.seen_op("StopPipelineExecution").len(),
        1,
        "no second call"
    );
    b.sigterm();
    assert_eq!(b.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}

/// A pipeline that deployed, then an alarm watching it fired: UNHEALTHY, and the message offers
/// to roll back; the click rolls the stage that deployed back to the execution that succeeded
/// before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_deploy_is_rolled_back_from_its_message() {
    let slack = SlackServer::start(TOKEN).await;
    let aws = aws_test_server::TestServer::start(None).await;
    let t0 = now() - 600;
    for (id, status, start) in [
        ("x-old-ok", "Succeeded", t0 - 7200),
        ("x-old-bad", "Failed", t0 - 3600),
        ("x-new", "Succeeded", t0),
    ] {
        let mut x = aws_test_server::execution(id, "prod-shop", status, None, "Webhook");
        x["startTime"] = json!(start);
        aws.add_execution("prod-shop", x);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&slack.url, &aws.url, "").replace(
        "[actions]",
        "[verdicts]\nwatch_secs = 900\n[[verdicts.watch]]\nalarm = \"^shop-5xx$\"\npipeline = \"prod-shop\"\n[actions]",
    );
    let mut h = Herald::start(dir.path(), 0, &cfg);
    h.wait_ready().await;
    let p = "prod-shop";
    let x = "x-new";
    let deploy = json!({"owner": "AWS", "category": "Deploy", "provider": "ECS", "version": "1"});
    let alarm_time = chrono::DateTime::from_timestamp(t0 + 160, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
        .unwrap_or_default();
    let events = json!([
        event("CodePipeline Pipeline Execution State Change", "r1", t0,
            json!({"pipeline": p, "execution-id": x, "state": "STARTED", "version": 1})),
        event("CodePipeline Stage Execution State Change", "r2", t0 + 1,
            json!({"pipeline": p, "execution-id": x, "stage": "Deploy", "state": "STARTED", "version": 1})),
        event("CodePipeline Action Execution State Change", "r3", t0 + 2,
            json!({"pipeline": p, "execution-id": x, "stage": "Deploy", "action": "Ecs", "state": "STARTED", "version": 1, "type": deploy})),
        event("CodePipeline Action Execution State Change", "r4", t0 + 90,
            json!({"pipeline": p, "execution-id": x, "stage": "Deploy", "action": "Ecs", "state": "SUCCEEDED", "version": 1, "type": deploy})),
        event("CodePipeline Stage Execution State Change", "r5", t0 + 91,
            json!({"pipeline": p, "execution-id": x, "stage": "Deploy", "state": "SUCCEEDED", "version": 1})),
        event("CodePipeline Pipeline Execution State Change", "r6", t0 + 100,
            json!({"pipeline": p, "execution-id": x, "state": "SUCCEEDED", "version": 1})),
        {
            "version": "0", "id": "r7", "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": ACCOUNT, "region": "us-east-1",
            "time": chrono::DateTime::from_timestamp(t0 + 160, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default(),
            "resources": [format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:shop-5xx")],
            "detail": {
                "alarmName": "shop-5xx",
                "configuration": {"metrics": []},
                "previousState": {"value": "OK", "reason": "ok", "timestamp": alarm_time},
                "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": alarm_time},
            },
        },
    ]);
    post_events(&h, events.to_string()).await;
    let ts = message_with(&slack, p, "herald:roll_back").await;
    assert!(
        text_of(&slack, &ts).contains("Unhealthy"),
        "{}",
        text_of(&slack, &ts)
    );
    let body = slack
        .click_body(
            &ts,
            "herald:roll_back",
            "UCAROL",
            &format!("{}.000100", now()),
        )
        .expect("a roll back button");
    // Carol may (group SOPS, every action on prod- pipelines); Alice may not roll back.
    slack.add_group("SOPS", &["UCAROL"]);
    let alice = body.replace("UCAROL", "UALICE");
    assert_eq!(click(&h, &alice).await, 200);
    wait_for("Alice refused", || {
        slack
            .ephemeral()
            .into_iter()
            .find(|(_, u, t)| u == "UALICE" && t.contains("not allowed to roll_back"))
    })
    .await;
    // A newer execution succeeded meanwhile: rolling this one back is refused, and stays offered.
    let mut newer =
        aws_test_server::execution("x-newest", "prod-shop", "Succeeded", None, "Webhook");
    newer["startTime"] = json!(t0 + 400);
    aws.add_execution("prod-shop", newer);
    assert_eq!(click(&h, &body).await, 200);
    wait_for("the refusal told", || {
        slack.ephemeral().into_iter().find(|(_, u, t)| {
            u == "UCAROL" && t.contains("a newer execution of prod-shop (x-newest) succeeded since")
        })
    })
    .await;
    assert!(aws.seen_op("RollbackStage").is_empty());
    aws.data()
        .executions
        .remove(&("prod-shop".to_owned(), "x-newest".to_owned()));
    let body = body.replace(".000100", ".000200");
    assert_eq!(click(&h, &body).await, 200);
    wait_for("the rollback", || {
        (!aws.seen_op("RollbackStage").is_empty()).then_some(())
    })
    .await;
    let r = &aws.seen_op("RollbackStage")[0];
    assert_eq!(r.body["pipelineName"], p);
    assert_eq!(r.body["stageName"], "Deploy");
    assert_eq!(
        r.body["targetPipelineExecutionId"], "x-old-ok",
        "the previous execution that succeeded"
    );
    wait_for("the message to say who rolled back", || {
        text_of(&slack, &ts)
            .contains("Rolled back by <@UCAROL>")
            .then_some(())
    })
    .await;
    assert!(!action_ids(&slack, &ts).contains(&"herald:roll_back".to_string()));
    h.sigterm();
    assert_eq!(h.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}

/// Socket Mode: no request URL (no signing secret), the worker opens the connection with the
/// app-level token; each envelope is acknowledged within 3 s and its click made once, a
/// redelivered envelope (a retry) makes no second call, and after Slack's `disconnect` the
/// worker connects again and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_acknowledges_each_envelope_and_reconnects_when_slack_asks() {
    let slack = SlackServer::start(TOKEN).await;
    slack.add_group("SOPS", &["UCAROL"]);
    let aws = aws_test_server::TestServer::start(None).await;
    aws.add_approval("prod-sock", "x-5", "Approve", "Gate", "tok-sock");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&slack.url, &aws.url, "").replace(
        &format!("slack_signing_secret = \"{SECRET}\""),
        "slack_app_token = \"xapp-1-test-app-token\"",
    );
    let mut h = Herald::start(dir.path(), 0, &cfg);
    h.wait_ready().await;
    wait_for("a Socket Mode connection", || {
        (slack.socket_connections() == 1).then_some(())
    })
    .await;

    post_events(&h, waiting("prod-sock", "x-5", now() - 60)).await;
    let ts = message_with(&slack, "prod-sock", "herald:approve").await;
    // No signing secret: the request URL is not served.
    let body = slack
        .click_body(&ts, "herald:approve", "UALICE", "1.1")
        .expect("button");
    assert_eq!(click(&h, &body).await, 404);

    let e1 = slack
        .click_envelope(
            "env-1",
            0,
            &ts,
            "herald:approve",
            "UALICE",
            &format!("{}.000100", now()),
        )
        .expect("button");
    let sent = std::time::Instant::now();
    assert!(slack.socket_send(&e1));
    wait_for("the envelope acknowledged", || {
        slack
            .socket_acks()
            .contains(&"env-1".to_string())
            .then_some(())
    })
    .await;
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "acknowledged within 3 s"
    );
    wait_for("the approval", || {
        text_of(&slack, &ts)
            .contains("Approved by <@UALICE>")
            .then_some(())
    })
    .await;
    assert_eq!(aws.seen_op("PutApprovalResult").len(), 1);
    assert_eq!(
        aws.seen_op("PutApprovalResult")[0].body["token"],
        "tok-sock"
    );

    // Slack sends it again (its retry after a missed acknowledgement): acknowledged, not made.
    let mut again = e1.clone();
    again["retry_attempt"] = json!(1);
    assert!(slack.socket_send(&again));
    wait_for("the retry acknowledged", || {
        (slack.socket_acks().iter().filter(|a| *a == "env-1").count() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(aws.seen_op("PutApprovalResult").len(), 1, "one call");

    // Slack refreshes the connection: the worker opens another and clicks go on.
    assert!(slack.socket_send(&json!({"type": "disconnect", "reason": "refresh_requested"})));
    wait_for("a new connection", || {
        (slack.socket_connections() == 2).then_some(())
    })
    .await;
    let e2 = slack
        .click_envelope(
            "env-2",
            0,
            &ts,
            "herald:stop_pipeline",
            "UCAROL",
            &format!("{}.000200", now()),
        )
        .expect("a stop button");
    assert!(slack.socket_send(&e2));
    wait_for("the stop", || {
        (!aws.seen_op("StopPipelineExecution").is_empty()).then_some(())
    })
    .await;
    assert!(slack.socket_acks().contains(&"env-2".to_string()));
    h.sigterm();
    assert_eq!(h.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}

/// A CodeDeploy blue/green deployment waiting at READY: continued from its message
/// (`ContinueDeployment` READY_WAIT), then its old task set terminated (TERMINATION_WAIT).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_deployment_is_continued_then_its_old_task_set_terminated() {
    let slack = SlackServer::start(TOKEN).await;
    let aws = aws_test_server::TestServer::start(None).await;
    aws.add_ready("d-BLUEGREEN1");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = Herald::start(dir.path(), 0, &config(&slack.url, &aws.url, ""));
    h.wait_ready().await;
    let t0 = now() - 300;
    let dep = |state: &str, t: i64| {
        json!({
            "version": "0", "id": format!("bg-{state}"),
            "detail-type": "CodeDeploy Deployment State-change Notification",
            "source": "aws.codedeploy", "account": ACCOUNT, "region": "us-east-1",
            "time": chrono::DateTime::from_timestamp(t, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default(),
            "resources": [],
            "detail": {"region": "us-east-1", "deploymentId": "d-BLUEGREEN1", "instanceGroupId": "g",
                       "deploymentGroup": "shop-bg", "application": "shopapp", "state": state},
        })
    };
    post_events(
        &h,
        json!([dep("START", t0), dep("READY", t0 + 60)]).to_string(),
    )
    .await;
    let ts = message_with(&slack, "shopapp", "herald:continue_deployment").await;
    assert!(
        text_of(&slack, &ts).contains("READY"),
        "{}",
        text_of(&slack, &ts)
    );
    assert_eq!(
        action_ids(&slack, &ts),
        ["herald:continue_deployment", "herald:stop_deployment"]
    );
    let body = slack
        .click_body(
            &ts,
            "herald:continue_deployment",
            "UDAVE",
            &format!("{}.000100", now()),
        )
        .expect("a continue button");
    assert_eq!(click(&h, &body).await, 200);
    wait_for("the reroute told", || {
        text_of(&slack, &ts)
            .contains("Continued (traffic rerouted) by <@UDAVE>")
            .then_some(())
    })
    .await;
    let c = &aws.seen_op("ContinueDeployment")[0];
    assert_eq!(c.body["deploymentId"], "d-BLUEGREEN1");
    assert_eq!(c.body["deploymentWaitType"], "READY_WAIT");
    assert_eq!(action_ids(&slack, &ts), ["herald:terminate_old"]);
    let body = slack
        .click_body(
            &ts,
            "herald:terminate_old",
            "UDAVE",
            &format!("{}.000200", now()),
        )
        .expect("a terminate button");
    assert_eq!(click(&h, &body).await, 200);
    wait_for("the termination told", || {
        text_of(&slack, &ts)
            .contains("Old task set terminated by <@UDAVE>")
            .then_some(())
    })
    .await;
    let seen = aws.seen_op("ContinueDeployment");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body["deploymentWaitType"], "TERMINATION_WAIT");
    h.sigterm();
    assert_eq!(h.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}

/// Discord cannot take clicks: while something can be done, its message links to the thread's
/// Slack message, where it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_message_links_to_the_slack_message_to_act_on() {
    let slack = SlackServer::start(TOKEN).await;
    let discord = chat_servers::discord::DiscordServer::start().await;
    let hook = discord.webhook("1200000000000000009", "DISCORDHOOKTOKEN");
    let aws = aws_test_server::TestServer::start(None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&slack.url, &aws.url, "").replace("permalinks = false", "permalinks = true")
        + &format!(
            "[[destinations]]\nname = \"zz-discord\"\nkind = \"discord\"\nwebhook_url = \"{hook}\"\n\
             [[rules]]\nmatch = 'kind:pipeline'\ndestinations = [\"slack\", \"zz-discord\"]\n"
        );
    let mut h = Herald::start(dir.path(), 0, &cfg);
    h.wait_ready().await;
    let t0 = now() - 60;
    post_events(&h, waiting("prod-disc", "x-7", t0)).await;
    message_with(&slack, "prod-disc", "herald:approve").await;
    // The next change edits both; Discord's now names the Slack message.
    let more = json!([event(
        "CodePipeline Stage Execution State Change",
        "x-7-9",
        t0 + 3,
        json!({"pipeline": "prod-disc", "execution-id": "x-7", "stage": "Source", "state": "SUCCEEDED", "version": 1})
    )]);
    post_events(&h, more.to_string()).await;
    wait_for("the Discord message to link to Slack", || {
        discord
            .requests()
            .iter()
            .any(|r| {
                let raw = String::from_utf8_lossy(&r.raw);
                raw.contains("act in Slack")
                    && raw.contains("https://herald-test.slack.com/archives/C0DEPLOYS/p")
            })
            .then_some(())
    })
    .await;
    h.sigterm();
    assert_eq!(h.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}
