//! Thread state storage: one item per thread key, written only with a condition on its version.
//!
//! Backends: [`memory::MemoryStore`] (the embedded default) and `dynamo::DynamoStore` (one
//! DynamoDB table, partition key `pk`, TTL attribute `expires_at`).

pub mod dynamo;
pub mod memory;

use futures::future::BoxFuture;

/// One stored thread: its opaque serialised state and the version every write is conditioned on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// 1 for the first write, +1 for every write after.
    pub version: u64,
    /// The serialised thread state (JSON); the store never looks inside.
    pub state: Vec<u8>,
    /// Unix seconds after which the item may be deleted (DynamoDB TTL).
    pub expires_at: i64,
    /// When the item's thread asks to be woken (Unix seconds): its durable timer, found by
    /// [`Store::due`] without a scan.
    pub wake: Option<i64>,
}

/// What a conditional write found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    Written,
    /// Someone else wrote first. Carries the current item when the backend returns it with the
    /// failure (DynamoDB's `ReturnValuesOnConditionCheckFailure=ALL_OLD`), saving a re-read.
    Conflict(Option<Item>),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled or unavailable after the backend's own bounded retries: leave the message for
    /// redelivery.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A request the store rejected (bad table, bad item): retrying will not help.
    #[error("store rejected the request: {0}")]
    Rejected(String),
}

impl StoreError {
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Rejected(_) => "rejected",
        }
    }
}

/// A key-value store with conditional writes.
pub trait Store: Send + Sync {
    /// Reads an item (strongly consistent where the backend offers it).
    fn get<'a>(&'a self, pk: &'a str) -> BoxFuture<'a, Result<Option<Item>, StoreError>>;

    /// Writes `item` if the stored version is `expected` (`None`: only if the item does not
    /// exist). `item.version` must be `expected + 1` (or 1 when creating).
    fn put<'a>(
        &'a self,
        pk: &'a str,
        item: &'a Item,
        expected: Option<u64>,
    ) -> BoxFuture<'a, Result<Put, StoreError>>;

    /// True for a store that lives in this process (the embedded default). The correlator then
    /// keeps typed threads itself, with the same version-conditioned writes, instead of
    /// serialising every write into bytes nobody else will read.
    fn in_process(&self) -> bool {
        false
    }

    /// Keys of items whose `wake` is at or before `now`, with it, at most `limit` (in no
    /// particular order): the durable timers that are due. DynamoDB reads its sparse `wake`
    /// index, never the table.
    fn due<'a>(
        &'a self,
        now: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<(String, i64)>, StoreError>>;

    /// Every item whose key starts with `prefix` (for the status page and lease scans); not on
    /// the hot path.
    fn scan_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Item)>, StoreError>>;
}

/// A DynamoDB store for `replay --store dynamodb` and local runs: the SDK's default credential
/// chain and region, with an optional endpoint (DynamoDB Local); the table is created if
/// missing.
pub async fn dynamo_from_env(
    endpoint: Option<&str>,
    table: &str,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    let client = aws_sdk_dynamodb::Client::new(&loader.load().await);
    let store = dynamo::DynamoStore::new(client, table);
    store.create_table_if_missing().await?;
    Ok(std::sync::Arc::new(store))
}
