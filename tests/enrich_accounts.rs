//! Accounts: calls run in the event's own account and region through an assumed role, one
//! `AssumeRole` per account until shortly before its credentials expire; the allow-list; account
//! aliases from the config map and from AWS Organizations. Against moto's STS and Organizations
//! over HTTP, with the test server recording which credentials and region each call carried.

mod aws_test_server;
mod support;

use aws_credential_types::Credentials;
use aws_test_server::{moto_json, unique_account, TestServer};
use herald::correlate::alarm::AlarmEpisodes;
use herald::correlate::standalone::Build;
use herald::correlate::{Body, Reg, Thread};
use herald::enrich::{Api, EnrichConfig, Enricher, Outcome};
use herald::notification::Notification;
use serde_json::json;
use std::collections::BTreeSet;

fn build_thread(account: &str, region: &str, build_id: &str) -> (Thread, Notification) {
    let project = build_id.split(':').next().unwrap_or(build_id);
    let mut b = Build::new(account, region, project, build_id);
    b.state = Some(Reg {
        value: "FAILED".into(),
        time: None,
        rank: 3,
    });
    let note = b.notification();
    (Thread::new(Body::Build(b)), note)
}

fn alarm_thread(account: &str) -> (Thread, Notification) {
    let a = AlarmEpisodes::new(account, "us-east-1", "cpu-high");
    let note = a.notification();
    (Thread::new(Body::Alarm(a)), note)
}

fn config(server: &TestServer) -> EnrichConfig {
    EnrichConfig {
        enabled: true,
        deadline_ms: 30_000,
        call_timeout_ms: 20_000,
        endpoints: [
            ("codebuild".to_string(), server.url.clone()),
            ("logs".to_string(), server.url.clone()),
        ]
        .into(),
        ..EnrichConfig::default()
    }
}

#[tokio::test]
async fn one_assume_role_per_account_and_each_call_in_its_own_account_and_region() {
    let moto = support::moto_endpoint();
    let server = TestServer::start(Some(moto.clone())).await;
    let base = support::sdk_config(&moto).await;
    let e = Enricher::new(config(&server), &base).expect("enricher");
    let (a, b) = (unique_account(), unique_account());
    let mut n = 0;
    for round in 0..3 {
        for (account, region) in [(&a, "eu-west-1"), (&a, "us-west-2"), (&b, "eu-west-1")] {
            n += 1;
            let (thread, mut note) =
                build_thread(account, region, &format!("app:{round}-{n}-0000"));
            e.enrich("k", &thread, &mut note, None).await;
        }
    }
    let s = e.stats();
    assert_eq!(
        s.count(Api::AssumeRole, Outcome::Ok),
        2,
        "{:?}",
        s.snapshot()
    );
    assert_eq!(e.accounts().assume_role_calls(), 2);
    assert_eq!(s.api_total(Api::BatchGetBuilds), 9);

    // Every call carried the assumed credentials of its event's account, in its region: one
    // key per account, never the base credentials.
    let seen = server.seen_op("BatchGetBuilds");
    assert_eq!(seen.len(), 9);
    let keys: BTreeSet<&str> = seen.iter().map(|s| s.access_key.as_str()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(!keys.contains("testing"));
    let regions: BTreeSet<&str> = seen.iter().map(|s| s.region.as_str()).collect();
    assert_eq!(regions, BTreeSet::from(["eu-west-1", "us-west-2"]));
    // Same account, two regions: the same key.
    let key_of = |region: &str| {
        seen.iter()
            .filter(|s| s.region == region)
            .map(|s| s.access_key.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(key_of("us-west-2").len(), 1);
    assert!(key_of("eu-west-1").is_superset(&key_of("us-west-2")));
}

#[tokio::test]
async fn credentials_are_renewed_shortly_before_they_expire() {
    let moto = support::moto_endpoint();
    let server = TestServer::start(Some(moto.clone())).await;
    let base = support::sdk_config(&moto).await;
    // 900 s credentials renewed when less than 899 s are left: stale a second after issue.
    let e = Enricher::new(
        EnrichConfig {
            session_duration_secs: 900,
            refresh_before_secs: 899,
            ..config(&server)
        },
        &base,
    )
    .expect("enricher");
    let a = unique_account();
    let (thread, mut note) = build_thread(&a, "eu-west-1", "app:r-1");
    e.enrich("k", &thread, &mut note, None).await;
    let first = e.accounts().assume_role_calls();
    assert!(first >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (thread, mut note) = build_thread(&a, "eu-west-1", "app:r-2");
    e.enrich("k", &thread, &mut note, None).await;
    assert!(
        e.accounts().assume_role_calls() > first,
        "expired credentials were not renewed"
    );
}

#[tokio::test]
async fn accounts_off_the_allow_list_and_masked_ones_get_no_calls() {
    let moto = support::moto_endpoint();
    let server = TestServer::start(Some(moto.clone())).await;
    let base = support::sdk_config(&moto).await;
    let (allowed, other) = (unique_account(), unique_account());
    let e = Enricher::new(
        EnrichConfig {
            allowed_accounts: vec![allowed.clone()],
            aliases: [(other.clone(), "sandbox".to_string())].into(),
            ..config(&server)
        },
        &base,
    )
    .expect("enricher");
    let (thread, mut note) = build_thread(&other, "eu-west-1", "app:x-1");
    e.enrich("k", &thread, &mut note, None).await;
    let (thread, mut masked) = build_thread("000000000000", "eu-west-1", "app:x-2");
    e.enrich("k", &thread, &mut masked, None).await;
    assert_eq!(e.stats().total(), 0);
    assert!(server.seen().is_empty());
    assert_eq!(
        note.account_alias.as_deref(),
        Some("sandbox"),
        "aliases need no call"
    );
    let (thread, mut note) = build_thread(&allowed, "eu-west-1", "app:x-3");
    e.enrich("k", &thread, &mut note, None).await;
    assert_eq!(e.stats().count(Api::AssumeRole, Outcome::Ok), 1);
}

#[tokio::test]
async fn aliases_come_from_the_map_first_then_from_organizations() {
    let moto = support::moto_endpoint();
    // Herald's own account is a fresh organization's management account.
    let central = unique_account();
    let sts = aws_sdk_sts::Client::new(&support::sdk_config(&moto).await);
    let assumed = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{central}:role/herald"))
        .role_session_name("test")
        .send()
        .await
        .expect("assume central");
    let c = assumed.credentials().expect("credentials");
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto)
        .credentials_provider(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "test",
        ))
        .load()
        .await;
    let org = |target: &'static str, body: serde_json::Value| {
        let (moto, central) = (moto.clone(), central.clone());
        async move { moto_json(&moto, &central, "us-east-1", "organizations", target, body).await }
    };
    org(
        "AWSOrganizationsV20161128.CreateOrganization",
        json!({"FeatureSet": "ALL"}),
    )
    .await;
    let mut members = Vec::new();
    for name in ["payments-prod", "payments-staging"] {
        let r = org(
            "AWSOrganizationsV20161128.CreateAccount",
            json!({"AccountName": name, "Email": format!("{name}@example.com")}),
        )
        .await;
        members.push(
            r["CreateAccountStatus"]["AccountId"]
                .as_str()
                .expect("account id")
                .to_owned(),
        );
    }
    let e = Enricher::new(
        EnrichConfig {
            enabled: true,
            organizations: true,
            deadline_ms: 30_000,
            call_timeout_ms: 20_000,
            aliases: [(members[1].clone(), "staging (map)".to_string())].into(),
            ..EnrichConfig::default()
        },
        &base,
    )
    .expect("enricher");
    let (thread, mut note) = alarm_thread(&members[0]);
    let learned = e.enrich("al#1", &thread, &mut note, None).await;
    assert_eq!(note.account_alias.as_deref(), Some("payments-prod"));
    assert_eq!(
        learned.and_then(|l| l.alias).as_deref(),
        Some("payments-prod")
    );
    let (thread, mut note) = alarm_thread(&members[1]);
    e.enrich("al#2", &thread, &mut note, None).await;
    assert_eq!(note.account_alias.as_deref(), Some("staging (map)"));
    // A third account: the cached listing answers, no second ListAccounts.
    let (thread, mut note) = alarm_thread(&central);
    e.enrich("al#3", &thread, &mut note, None).await;
    assert_eq!(e.stats().api_total(Api::ListAccounts), 1);
    assert_eq!(e.stats().count(Api::ListAccounts, Outcome::Ok), 1);
    assert_eq!(
        e.stats().api_total(Api::AssumeRole),
        0,
        "aliases need no member role"
    );
}
