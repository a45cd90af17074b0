//! `DynamoStore` against DynamoDB Local and moto (the same contract as the memory store), and
//! its retry and error handling against a loopback server that speaks DynamoDB's JSON protocol.

mod support;

use aws_sdk_dynamodb::types::TimeToLiveStatus;
use aws_sdk_dynamodb::Client;
use herald::store::dynamo::{DynamoStore, RetryPolicy};
use herald::store::{Item, Put, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// A fresh table on `endpoint`, created through the store itself.
async fn store_on(endpoint: &str) -> (DynamoStore, Client) {
    let client = Client::new(&support::sdk_config(endpoint).await);
    let store = DynamoStore::new(client.clone(), support::unique("herald-store"));
    store.create_table_if_missing().await.expect("create table");
    (store, client)
}

fn item(version: u64, state: &[u8]) -> Item {
    Item {
        version,
        state: state.to_vec(),
        expires_at: 1_900_000_000,
        wake: None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Emulator {
    DynamoDbLocal,
    Moto,
}

impl Emulator {
    fn endpoint(self) -> String {
        match self {
            Emulator::DynamoDbLocal => support::dynamodb_endpoint(),
            Emulator::Moto => support::moto_endpoint(),
        }
    }
}

/// Runs one scenario against both emulators, as two tests.
macro_rules! on_both_emulators {
    ($($scenario:ident),* $(,)?) => {
        mod dynamodb_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(super::Emulator::DynamoDbLocal).await;
                }
            )*
        }
        mod moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    super::$scenario(super::Emulator::Moto).await;
                }
            )*
        }
    };
}

on_both_emulators!(
    creates_table_with_ttl_idempotently,
    missing_key_reads_as_none,
    create_then_update_with_conditions,
    state_bytes_round_trip_exactly,
    concurrent_increments_all_land,
    scan_prefix_pages_through_the_table,
    missing_table_is_rejected_by_name,
);

async fn creates_table_with_ttl_idempotently(emulator: Emulator) {
    let (store, client) = store_on(&emulator.endpoint()).await;
    // A second call (another replica starting, a rerun) finds the table and TTL already there.
    store
        .create_table_if_missing()
        .await
        .expect("second create_table_if_missing");
    let ttl = client
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .expect("describe ttl");
    let ttl = ttl.time_to_live_description().expect("ttl description");
    assert!(
        matches!(
            ttl.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ),
        "TTL status {:?}",
        ttl.time_to_live_status()
    );
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    let table = client
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .expect("describe table");
    let table = table.table().expect("table description");
    assert_eq!(table.key_schema()[0].attribute_name(), "pk");
    assert_eq!(
        table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str()),
        Some("PAY_PER_REQUEST")
    );
}

async fn missing_key_reads_as_none(emulator: Emulator) {
    let (store, _) = store_on(&emulator.endpoint()).await;
    assert_eq!(store.get("pl#nobody").await.expect("get"), None);
    assert_eq!(store.requests().gets, 1);
}

async fn create_then_update_with_conditions(emulator: Emulator) {
    let (store, _) = store_on(&emulator.endpoint()).await;
    let key = "pl#111122223333#eu-west-1#web#exec-1";
    let v1 = item(1, b"{\"stage\":\"Build\"}");
    let v2 = item(2, b"{\"stage\":\"Deploy\"}");

    assert_eq!(
        store.put(key, &v1, None).await.expect("create"),
        Put::Written
    );
    // Both emulators return the stored item with the failed condition (ALL_OLD).
    assert_eq!(
        store
            .put(key, &item(1, b"other"), None)
            .await
            .expect("re-create"),
        Put::Conflict(Some(v1.clone()))
    );
    assert_eq!(
        store.put(key, &v2, Some(1)).await.expect("update"),
        Put::Written
    );
    assert_eq!(
        store
            .put(key, &item(2, b"stale"), Some(1))
            .await
            .expect("stale update"),
        Put::Conflict(Some(v2.clone()))
    );
    // Updating something that does not exist: the condition fails and there is no old item.
    assert_eq!(
        store
            .put("pl#absent", &item(2, b"x"), Some(1))
            .await
            .expect("update of absent"),
        Put::Conflict(None)
    );
    assert_eq!(store.get(key).await.expect("get"), Some(v2));

    let counts = store.requests();
    assert_eq!((counts.puts, counts.conflicts, counts.gets), (5, 3, 1));
    assert_eq!(counts.retries, 0);
}

async fn state_bytes_round_trip_exactly(emulator: Emulator) {
    let (store, _) = store_on(&emulator.endpoint()).await;
    let mut bytes: Vec<u8> = (0..=255u8).collect();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x00, 0xc3, 0x28, 0xed, 0xa0, 0x80]);
    assert!(std::str::from_utf8(&bytes).is_err());
    let cases = [
        ("bytes", item(1, &bytes)),
        ("empty", item(1, b"")),
        (
            "negative-expiry",
            Item {
                version: 1,
                state: "é✓ 😀".as_bytes().to_vec(),
                expires_at: -5,
                wake: None,
            },
        ),
    ];
    for (key, it) in &cases {
        assert_eq!(store.put(key, it, None).await.expect("put"), Put::Written);
        assert_eq!(
            store.get(key).await.expect("get").as_ref(),
            Some(it),
            "{key}"
        );
    }
}

async fn concurrent_increments_all_land(emulator: Emulator) {
    const WRITERS: u64 = 8;
    const INCREMENTS: u64 = 25;
    let (store, _) = store_on(&emulator.endpoint()).await;
    let store = Arc::new(store);
    let key = "alarm#111122223333#us-east-1#cpu";
    assert_eq!(
        store.put(key, &item(1, b"0"), None).await.expect("seed"),
        Put::Written
    );

    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut current = store.get(key).await.expect("get");
                for _ in 0..INCREMENTS {
                    loop {
                        let seen = current.clone().expect("the item was seeded");
                        let n: u64 = std::str::from_utf8(&seen.state)
                            .expect("utf8")
                            .parse()
                            .expect("counter");
                        let next = Item {
                            version: seen.version + 1,
                            state: (n + 1).to_string().into_bytes(),
                            expires_at: seen.expires_at,
                            wake: None,
                        };
                        match store
                            .put(key, &next, Some(seen.version))
                            .await
                            .expect("put")
                        {
                            Put::Written => {
                                current = Some(next);
                                break;
                            }
                            // ALL_OLD hands us the winner's item: no re-read needed.
                            Put::Conflict(Some(winner)) => current = Some(winner),
                            Put::Conflict(None) => current = store.get(key).await.expect("get"),
                        }
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer task");
    }

    let total = WRITERS * INCREMENTS;
    let last = store.get(key).await.expect("get").expect("item");
    let value: u64 = std::str::from_utf8(&last.state)
        .expect("utf8")
        .parse()
        .expect("counter");
    let counts = store.requests();
    if emulator == Emulator::Moto {
        // moto checks a condition and then writes without a lock, and its server is threaded:
        // two writers conditioned on the same version can both succeed, so an increment or two
        // is lost under this much contention (reproducible with plain boto3 threads too). Each
        // stored item is still one whole write, so version and value stay in step.
        assert!(value <= total && value + 10 >= total, "{value}, {counts:?}");
        assert_eq!(last.version, value + 1);
    } else {
        assert_eq!(value, total, "{counts:?}");
        assert_eq!(last.version, total + 1);
    }
    assert!(
        counts.conflicts > 0,
        "no conflicts with {WRITERS} writers: {counts:?}"
    );
    // Every conflict carried the item, so reads stayed at one per writer plus the final check.
    assert_eq!(counts.gets, WRITERS + 1, "{counts:?}");
    assert_eq!(counts.puts, 1 + total + counts.conflicts, "{counts:?}");
}

async fn scan_prefix_pages_through_the_table(emulator: Emulator) {
    let (store, _) = store_on(&emulator.endpoint()).await;
    // 60 x 20 KB = 1.2 MB: more than one 1 MB Scan page.
    let big = vec![0xa5u8; 20 * 1024];
    let mut expected = Vec::new();
    for i in 0..60 {
        let key = format!("pl#111122223333#eu-west-1#web#{i:03}");
        assert_eq!(
            store.put(&key, &item(1, &big), None).await.expect("put"),
            Put::Written
        );
        expected.push(key);
    }
    // Near misses that must not match.
    for key in [
        "pl#111122223333#eu-west-1#we",
        "ecs#111122223333#eu-west-1#web#1",
        "xpl#111122223333#eu-west-1#web#1",
    ] {
        store.put(key, &item(1, b"{}"), None).await.expect("put");
    }

    let found = store
        .scan_prefix("pl#111122223333#eu-west-1#web#")
        .await
        .expect("scan");
    let keys: Vec<_> = found.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, expected, "sorted by key, exactly the prefix");
    assert!(found.iter().all(|(_, it)| it == &item(1, &big)));
    assert!(
        store.requests().scans >= 2,
        "1.2 MB should take more than one page: {:?}",
        store.requests()
    );

    let all = store.scan_prefix("").await.expect("scan all");
    assert_eq!(all.len(), 63);
}

async fn missing_table_is_rejected_by_name(emulator: Emulator) {
    let client = Client::new(&support::sdk_config(&emulator.endpoint()).await);
    let table = support::unique("herald-missing");
    let store = DynamoStore::new(client, table.clone());
    let rejected = |what: &str, r: Result<(), StoreError>| match r {
        Err(StoreError::Rejected(msg)) => {
            assert!(msg.contains(&table), "{what}: {msg} does not name {table}")
        }
        other => panic!("{what}: expected Rejected, got {other:?}"),
    };
    rejected("get", store.get("k").await.map(drop));
    rejected("put", store.put("k", &item(1, b""), None).await.map(drop));
    rejected("scan", store.scan_prefix("k").await.map(drop));
    assert_eq!(
        store.requests().retries,
        0,
        "a missing table is not retried"
    );
}

/// A loopback server answering DynamoDB JSON 1.0 requests from a script, to drive the retry
/// paths no emulator can produce on demand (throttling, 5xx, a write applied but unacknowledged).
mod scripted {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    pub type Reply = (u16, String);

    #[derive(Default)]
    pub struct Script {
        replies: Mutex<VecDeque<Reply>>,
        /// The `X-Amz-Target` of every request received.
        pub seen: Mutex<Vec<String>>,
    }

    pub fn error(status: u16, code: &str) -> Reply {
        (
            status,
            format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"scripted {code}"}}"#
            ),
        )
    }

    pub fn ok(body: &str) -> Reply {
        (200, body.to_owned())
    }

    impl Script {
        pub fn seen(&self) -> Vec<String> {
            self.seen.lock().map(|s| s.clone()).unwrap_or_default()
        }
    }

    /// Serves `replies` in order (the last one repeats) and returns the endpoint.
    pub async fn serve(replies: Vec<Reply>) -> (String, Arc<Script>) {
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            seen: Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::post(answer))
            .with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), script)
    }

    async fn answer(State(script): State<Arc<Script>>, headers: HeaderMap) -> impl IntoResponse {
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        script.seen.lock().expect("seen lock").push(target);
        let (status, body) = {
            let mut replies = script.replies.lock().expect("replies lock");
            if replies.len() > 1 {
                replies.pop_front()
            } else {
                replies.front().cloned()
            }
            .unwrap_or_else(|| ok("{}"))
        };
        (
            StatusCode::from_u16(status).expect("status"),
            [("content-type", "application/x-amz-json-1.0")],
            body,
        )
    }
}

const FAST: RetryPolicy = RetryPolicy {
    attempts: 5,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(5),
};

async fn scripted_store(replies: Vec<scripted::Reply>) -> (DynamoStore, Arc<scripted::Script>) {
    let (endpoint, script) = scripted::serve(replies).await;
    let client = Client::new(&support::sdk_config(&endpoint).await);
    (
        DynamoStore::new(client, "herald-scripted").with_retry_policy(FAST),
        script,
    )
}

/// The item `item(2, [0x00, 0x01, 0xff])` in DynamoDB's JSON (the state base64-encoded).
const STORED: &str =
    r#"{"pk":{"S":"k"},"version":{"N":"2"},"state":{"B":"AAH/"},"expires_at":{"N":"1900000000"}}"#;

fn throttled_metric(op: &str) -> u64 {
    herald::telemetry::metrics()
        .store_requests
        .with_label_values(&[op, "throttled"])
        .get()
}

#[tokio::test]
async fn throttled_reads_are_retried_then_succeed() {
    let before = throttled_metric("get");
    let (store, script) = scripted_store(vec![
        scripted::error(400, "ProvisionedThroughputExceededException"),
        scripted::error(400, "ThrottlingException"),
        scripted::error(503, "ServiceUnavailable"),
        scripted::ok(&format!(r#"{{"Item":{STORED}}}"#)),
    ])
    .await;
    let got = store.get("k").await.expect("get after throttling");
    assert_eq!(got, Some(item(2, &[0x00, 0x01, 0xff])));
    assert_eq!(script.seen().len(), 4);
    let counts = store.requests();
    assert_eq!((counts.gets, counts.retries), (4, 3));
    // The two throttles count as throttled (the 503 does not), in the store's counts and in
    // the metric the HeraldStoreThrottled alert reads (other tests of this binary may add to
    // it concurrently, hence at least).
    assert_eq!(counts.throttled, 2);
    assert!(throttled_metric("get") >= before + 2);
}

#[tokio::test]
async fn persistent_throttling_gives_unavailable_after_the_bounded_attempts() {
    let before = throttled_metric("put");
    let (store, script) = scripted_store(vec![scripted::error(400, "RequestLimitExceeded")]).await;
    match store.put("k", &item(1, b""), None).await {
        Err(StoreError::Unavailable(msg)) => {
            assert!(
                msg.contains("herald-scripted") && msg.contains("RequestLimitExceeded"),
                "{msg}"
            )
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Exactly our 5 attempts reached the wire: the SDK's own retries are off, not multiplied in.
    assert_eq!(script.seen().len(), 5);
    assert_eq!(store.requests().retries, 4);
    // Every throttled answer counts, the last one too.
    assert_eq!(store.requests().throttled, 5);
    let metrics = herald::telemetry::metrics().render();
    assert!(throttled_metric("put") >= before + 5, "{metrics}");
    assert!(
        metrics.contains(r#"herald_store_requests_total{op="put",outcome="throttled"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn validation_errors_are_rejected_without_retry() {
    let (store, script) = scripted_store(vec![scripted::error(400, "ValidationException")]).await;
    match store.put("k", &item(1, b""), None).await {
        Err(StoreError::Rejected(msg)) => assert!(msg.contains("herald-scripted"), "{msg}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(script.seen().len(), 1);
    assert_eq!(store.requests().throttled, 0);
}

#[tokio::test]
async fn unacknowledged_write_found_on_retry_counts_as_written() {
    // The first PutItem is applied but answered with a 500; the retry then fails its condition
    // against exactly the item we wrote.
    let ours = item(2, &[0x00, 0x01, 0xff]);
    let failed_against_ours = format!(
        r#"{{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed","Item":{STORED}}}"#
    );
    let (store, _) = scripted_store(vec![
        scripted::error(500, "InternalServerError"),
        (400, failed_against_ours.clone()),
    ])
    .await;
    assert_eq!(
        store.put("k", &ours, Some(1)).await.expect("put"),
        Put::Written
    );
    assert_eq!(store.requests().conflicts, 0);

    // Without an ambiguous attempt the same answer is a plain conflict, as in the memory store.
    let (store, _) = scripted_store(vec![(400, failed_against_ours)]).await;
    assert_eq!(
        store.put("k", &ours, Some(1)).await.expect("put"),
        Put::Conflict(Some(ours.clone()))
    );
    assert_eq!(store.requests().conflicts, 1);
}

/// DynamoDB's answer to `DescribeTable` for an ACTIVE table with the `wake` index of timers
/// (as the deploy template creates it).
fn active_table(name: &str) -> String {
    format!(
        r#"{{"Table":{{"TableName":"{name}","TableStatus":"ACTIVE","KeySchema":[{{"AttributeName":"pk","KeyType":"HASH"}}],"AttributeDefinitions":[{{"AttributeName":"pk","AttributeType":"S"}}],"GlobalSecondaryIndexes":[{{"IndexName":"wake","IndexStatus":"ACTIVE","KeySchema":[{{"AttributeName":"wake_hour","KeyType":"HASH"}},{{"AttributeName":"wake","KeyType":"RANGE"}}],"Projection":{{"ProjectionType":"KEYS_ONLY"}}}}]}}}}"#
    )
}

/// The same table made before timers: no index.
fn table_without_index(name: &str) -> String {
    format!(
        r#"{{"Table":{{"TableName":"{name}","TableStatus":"ACTIVE","KeySchema":[{{"AttributeName":"pk","KeyType":"HASH"}}],"AttributeDefinitions":[{{"AttributeName":"pk","AttributeType":"S"}}]}}}}"#
    )
}

/// A table made before timers gets its `wake` index (UpdateTable), and the start waits for it;
/// a role that may not add it is told what is missing and where it is defined.
#[tokio::test]
async fn a_table_without_the_timer_index_gets_it_or_says_what_is_missing() {
    let (store, script) = scripted_store(vec![
        scripted::ok(&table_without_index("herald-scripted")),
        scripted::ok("{}"),
        scripted::ok(&active_table("herald-scripted")),
        scripted::ok(TTL_ENABLED),
    ])
    .await;
    store.create_table_if_missing().await.expect("start");
    assert_eq!(
        targets(&script),
        [
            "DescribeTable",
            "UpdateTable",
            "DescribeTable",
            "DescribeTimeToLive"
        ]
    );
    let (store, _) = scripted_store(vec![
        scripted::ok(&table_without_index("herald-scripted")),
        scripted::error(400, "AccessDeniedException"),
    ])
    .await;
    match store.create_table_if_missing().await {
        Err(StoreError::Rejected(msg)) => assert!(
            msg.contains("no `wake` index")
                && msg.contains("deploy/cloudformation/central.yaml")
                && msg.contains("AccessDeniedException"),
            "{msg}"
        ),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

const TTL_ENABLED: &str =
    r#"{"TimeToLiveDescription":{"TimeToLiveStatus":"ENABLED","AttributeName":"expires_at"}}"#;

fn targets(script: &scripted::Script) -> Vec<String> {
    script
        .seen()
        .iter()
        .map(|t| t.trim_start_matches("DynamoDB_20120810.").to_owned())
        .collect()
}

/// `herald run` starting on the table the deploy template created (ACTIVE, TTL on
/// `expires_at`): describe calls only, so the task role needs no CreateTable or
/// UpdateTimeToLive.
#[tokio::test]
async fn an_existing_table_is_only_described_at_start() {
    let (store, script) = scripted_store(vec![
        scripted::ok(&active_table("herald-scripted")),
        scripted::ok(TTL_ENABLED),
    ])
    .await;
    store.create_table_if_missing().await.expect("start");
    assert_eq!(targets(&script), ["DescribeTable", "DescribeTimeToLive"]);
}

/// A task role without dynamodb:DescribeTable: the start fails naming the operation and the
/// table, and no CreateTable is tried behind the refusal.
#[tokio::test]
async fn a_refused_describe_is_reported_not_followed_by_a_create() {
    let (store, script) = scripted_store(vec![scripted::error(400, "AccessDeniedException")]).await;
    match store.create_table_if_missing().await {
        Err(StoreError::Rejected(msg)) => assert!(
            msg.contains("DescribeTable")
                && msg.contains("herald-scripted")
                && msg.contains("AccessDeniedException"),
            "{msg}"
        ),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(targets(&script), ["DescribeTable"]);
}

/// Only a table that does not exist is created (tests and local runs rely on it).
#[tokio::test]
async fn a_missing_table_is_created_after_the_describe() {
    let (store, script) = scripted_store(vec![
        scripted::error(400, "ResourceNotFoundException"),
        scripted::ok(&active_table("herald-scripted")),
        scripted::ok(&active_table("herald-scripted")),
        scripted::ok(TTL_ENABLED),
    ])
    .await;
    store.create_table_if_missing().await.expect("create");
    assert_eq!(
        targets(&script),
        [
            "DescribeTable",
            "CreateTable",
            "DescribeTable",
            "DescribeTimeToLive"
        ]
    );
}

/// The Kinesis lease table: the same rule, one DescribeTable when it exists (the deploy
/// template creates it in kinesis mode), CreateTable only after ResourceNotFoundException, and
/// a refused describe reported naming the table.
#[tokio::test]
async fn the_lease_table_is_described_before_any_create() {
    use herald::source::lease::LeaseTable;
    let lease_table = |endpoint: String| async move {
        let client = Client::new(&support::sdk_config(&endpoint).await);
        LeaseTable::new(client, "herald-leases-scripted", "arn:stream")
    };

    let (endpoint, script) =
        scripted::serve(vec![scripted::ok(&active_table("herald-leases-scripted"))]).await;
    lease_table(endpoint)
        .await
        .create_table_if_missing()
        .await
        .expect("existing lease table");
    assert_eq!(targets(&script), ["DescribeTable"]);

    let (endpoint, script) = scripted::serve(vec![
        scripted::error(400, "ResourceNotFoundException"),
        scripted::ok(&active_table("herald-leases-scripted")),
    ])
    .await;
    lease_table(endpoint)
        .await
        .create_table_if_missing()
        .await
        .expect("missing lease table created");
    assert_eq!(targets(&script), ["DescribeTable", "CreateTable"]);

    let (endpoint, script) =
        scripted::serve(vec![scripted::error(400, "AccessDeniedException")]).await;
    let err = lease_table(endpoint)
        .await
        .create_table_if_missing()
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("DescribeTable") && err.contains("herald-leases-scripted"),
        "{err}"
    );
    assert_eq!(targets(&script), ["DescribeTable"]);
}
