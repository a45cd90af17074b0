//! Deploy verdicts from a CodeDeploy deployment group's own alarm configuration (issue 16):
//! `herald run` with enrichment on asks `GetDeploymentGroup` once per deployment (the AWS test
//! server answers it with the alarm configuration moto does not keep), keeps the group's alarms,
//! and an alarm named there that fires after the deployment succeeded makes its verdict
//! UNHEALTHY, with no `[[verdicts.watch]]` rule and no dimension naming the group.

mod aws_test_server;
mod support;
mod worker;

use serde_json::{json, Value};
use std::time::Duration;
use worker::Herald;

const ACCOUNT: &str = "123456789012";

fn stamp(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn deployment(id: &str, state: &str, t: i64) -> Value {
    json!({
        "version": "0", "id": format!("{id}-{state}"),
        "detail-type": "CodeDeploy Deployment State-change Notification",
        "source": "aws.codedeploy", "account": ACCOUNT, "time": stamp(t), "region": "us-east-1",
        "resources": [],
        "detail": {"region": "us-east-1", "deploymentId": id, "instanceGroupId": "g-1",
                   "deploymentGroup": "shop-bg", "application": "shopapp", "state": state},
    })
}

fn alarm(name: &str, state: &str, t: i64) -> Value {
    let at = chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
        .unwrap_or_default();
    json!({
        "version": "0", "id": format!("{name}-{state}-{t}"), "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": ACCOUNT, "time": stamp(t), "region": "us-east-1",
        "resources": [format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{name}")],
        "detail": {"alarmName": name, "configuration": {"metrics": []},
                   "previousState": {"value": if state == "ALARM" { "OK" } else { "ALARM" }, "reason": "-", "timestamp": at},
                   "state": {"value": state, "reason": "Threshold Crossed", "timestamp": at}},
    })
}

async fn post(h: &Herald, body: Value) {
    let r = reqwest::Client::new()
        .post(h.url("/events"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /events");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_of_the_deployment_groups_alarm_configuration_judges_its_deployments() {
    let aws = aws_test_server::TestServer::start(None).await;
    aws.add_group("shopapp", "shop-bg", &["shop-5xx", "shop-latency"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("out.jsonl");
    let config = format!(
        r#"default_destination = "out"
[correlate]
settle_secs = 0
[verdicts]
watch_secs = 900
[[destinations]]
name = "out"
kind = "jsonl"
path = "{}"
[enrich]
enabled = true
role_arn_template = ""
endpoints = {{ codedeploy = "{}" }}
"#,
        jsonl.display(),
        aws.url
    );
    let mut h = Herald::start(dir.path(), 0, &config);
    h.wait_ready().await;
    let t0 = chrono::Utc::now().timestamp() - 1200;

    // The first deployment: its group's alarms are learned when it is first told.
    post(&h, json!([deployment("d-SHOP1", "START", t0)])).await;
    post(&h, json!([deployment("d-SHOP1", "SUCCESS", t0 + 60)])).await;
    // shop-5xx fires two minutes after it succeeded.
    post(&h, json!([alarm("shop-5xx", "ALARM", t0 + 180)])).await;

    let rec = worker::read_jsonl(std::slice::from_ref(&jsonl));
    let key = format!("cd#{ACCOUNT}#us-east-1#d-SHOP1");
    let (_, _, last) = rec
        .threads
        .get(&key)
        .unwrap_or_else(|| panic!("no {key} in {:?}", rec.threads.keys()));
    assert_eq!(last["status"], "SUCCEEDED");
    assert_eq!(last["verdict"]["status"], "UNHEALTHY", "{last}");
    assert_eq!(last["verdict"]["alarms"], json!(["shop-5xx"]));
    assert_eq!(last["verdict"]["after_secs"], 120);
    assert_eq!(last["alarms"][0]["phase"], "after");
    // The alarm's own message names the deployment it fired after.
    let alarm_key = format!("al#{ACCOUNT}#us-east-1#shop-5xx#1");
    let (_, _, a) = rec
        .threads
        .get(&alarm_key)
        .unwrap_or_else(|| panic!("no {alarm_key}"));
    assert_eq!(a["deployment"]["deployment_id"], "d-SHOP1", "{a}");
    // Asked once for the deployment, whatever how many times it was told.
    assert_eq!(aws.seen_op("GetDeploymentGroup").len(), 1);
    let seen = &aws.seen_op("GetDeploymentGroup")[0];
    assert_eq!(seen.body["applicationName"], "shopapp");
    assert_eq!(seen.body["deploymentGroupName"], "shop-bg");

    // An alarm not in the group's configuration judges nothing.
    post(
        &h,
        json!([
            deployment("d-SHOP2", "START", t0 + 600),
            deployment("d-SHOP2", "SUCCESS", t0 + 660)
        ]),
    )
    .await;
    post(&h, json!([alarm("other-alarm", "ALARM", t0 + 700)])).await;
    let rec = worker::read_jsonl(std::slice::from_ref(&jsonl));
    let (_, _, last) = rec
        .threads
        .get(&format!("cd#{ACCOUNT}#us-east-1#d-SHOP2"))
        .expect("d-SHOP2");
    assert_eq!(last["verdict"]["status"], "WATCHING", "{last}");

    h.sigterm();
    assert_eq!(h.wait_exit(Duration::from_secs(30)).await.0, Some(0));
}
