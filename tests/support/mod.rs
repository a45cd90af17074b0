//! Shared test plumbing: where the emulators are and SDK configs that reach only them.
#![allow(dead_code)]

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;

/// The moto server started by `scripts/test.sh`. Without it the test fails and says how to run.
pub fn moto_endpoint() -> String {
    endpoint("HERALD_TEST_MOTO")
}

/// DynamoDB Local started by `scripts/test.sh`.
pub fn dynamodb_endpoint() -> String {
    endpoint("HERALD_TEST_DYNAMODB")
}

fn endpoint(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if v.starts_with("http://127.0.0.1:") => v,
        Ok(v) => panic!("{var}={v} is not a loopback address; tests only talk to local emulators"),
        Err(_) => panic!(
            "{var} is not set: this test needs the AWS emulators. Run the suite with \
             `bash scripts/test.sh`, which installs and starts them."
        ),
    }
}

/// An SDK config with static credentials pointed at one emulator endpoint.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    // Belt and braces: never fall back to the instance metadata service.
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
        .load()
        .await
}

/// A name no other test uses, for tables and queues on a shared emulator.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
pub mod org_stream;
pub mod synthetic;

/// Compares `got`, pretty-printed, with the golden file at `path`; with `UPDATE_GOLDEN` set,
/// writes it instead (then review the diff).
pub fn golden(path: &std::path::Path, got: &serde_json::Value) {
    let text = serde_json::to_string_pretty(got).expect("serialise") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, &text).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run with UPDATE_GOLDEN=1, then review it",
            path.display()
        )
    });
    assert_eq!(
        text,
        want,
        "{} differs from the render; if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
}

/// A sink that records deliveries in memory, for tests whose subject is not the chat side.
#[derive(Default)]
pub struct Recorder {
    pub seen: std::sync::Mutex<
        Vec<(
            herald::deliver::Op,
            String,
            herald::notification::Notification,
        )>,
    >,
    /// Deliveries to refuse (as a provider that is down would) before recording any.
    pub failing: std::sync::atomic::AtomicUsize,
}

impl herald::deliver::Sink for Recorder {
    fn kind(&self) -> &'static str {
        "recorder"
    }
    fn deliver<'a>(
        &'a self,
        d: &'a herald::deliver::Delivery,
    ) -> futures::future::BoxFuture<
        'a,
        Result<herald::deliver::MessageRef, herald::deliver::SinkError>,
    > {
        use std::sync::atomic::Ordering;
        let down = self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if down {
            return Box::pin(async {
                Err(herald::deliver::SinkError::Rejected(
                    "the test provider is down".into(),
                ))
            });
        }
        self.seen
            .lock()
            .expect("lock")
            .push((d.op, d.thread.clone(), d.notification.clone()));
        Box::pin(async move { Ok(serde_json::json!({"thread": d.thread})) })
    }
}

/// A DynamoDB store on a fresh table of DynamoDB Local (created with its `wake` index).
pub async fn dynamo_store(prefix: &str) -> std::sync::Arc<herald::store::dynamo::DynamoStore> {
    let cfg = sdk_config(&dynamodb_endpoint()).await;
    let store = herald::store::dynamo::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&cfg),
        unique(prefix),
    );
    store.create_table_if_missing().await.expect("create table");
    std::sync::Arc::new(store)
}

/// A worker's pipeline on `store` named `owner`, delivering everything to `sink` as
/// destination "r" (progress mode, no settle window).
pub fn fleet_runner(
    store: std::sync::Arc<dyn herald::store::Store>,
    sink: std::sync::Arc<dyn herald::deliver::Sink>,
    cfg: herald::correlate::engine::EngineConfig,
) -> herald::pipeline::Runner {
    let mut sinks: std::collections::BTreeMap<String, std::sync::Arc<dyn herald::deliver::Sink>> =
        std::collections::BTreeMap::new();
    sinks.insert("r".into(), sink);
    herald::pipeline::Runner::new(
        std::sync::Arc::new(herald::correlate::engine::Engine::new(store, cfg)),
        herald::route::Router::single("r"),
        sinks,
        herald::config::Mode::Progress,
        0,
    )
}
