//! The DynamoDB store: one table, partition key `pk`, TTL on `expires_at`, every write
//! conditioned on `version`, throttling absorbed by a short bounded retry.
//!
//! Cost per call on the hot path: [`Store::get`] is one strongly consistent `GetItem`, and
//! [`Store::put`] is one `PutItem` whose condition failure carries the current item
//! (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), so a lost race costs no extra read.
//! [`Store::scan_prefix`] is a full-table `Scan` with a filter: it is for the status page and
//! lease sweeps, never for per-event work. [`DynamoStore::requests`] counts every request
//! attempt, retries included, so tests can hold those costs to account.
//!
//! Retries live here, not in the SDK: [`DynamoStore::new`] rebuilds the client with the SDK's
//! retry strategy disabled, so one [`RetryPolicy`] bounds the attempts (5 by default, full
//! jitter from 50 ms, capped at 2 s) instead of the SDK's 3 multiplying ours into 15.
//!
//! Items past `expires_at` are still returned until DynamoDB's TTL sweeper deletes them (which can
//! lag by days): this store does not hide them, because hiding an item that still exists would
//! make a create (`attribute_not_exists`) fail against something `get` said was absent.

use super::{Item, Put, Store, StoreError};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConsumedCapacity,
    CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;
use backon::Retryable;
use futures::future::BoxFuture;
use rand::RngExt;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const PK: &str = "pk";
const VERSION: &str = "version";
const STATE: &str = "state";
const EXPIRES_AT: &str = "expires_at";
/// A thread's durable timer (Unix seconds), and the hour it falls in: the sort and partition
/// keys of the sparse index `wake` (an item without a timer is not in it).
const WAKE: &str = "wake";
const WAKE_HOUR: &str = "wake_hour";
/// The index of due timers.
pub const WAKE_INDEX: &str = "wake";
/// How long past an hour its partition is still asked (index lag, clock skew).
const WAKE_SETTLE_SECS: i64 = 300;
/// How far back a worker that just started looks for timers nobody fired (all workers down).
const WAKE_LOOKBACK_HOURS: i64 = 48;

/// The `wake_hour` partition a timer at `wake` falls in.
fn wake_hour(wake: i64) -> String {
    format!("h{}", wake.div_euclid(3600))
}

/// Error codes that mean "too fast, the request was not applied": safe to retry any operation.
const THROTTLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    // Control plane only (too many concurrent CreateTable/UpdateTimeToLive calls).
    "LimitExceededException",
];

/// Without an attempt timeout a half-open connection would hold a thread's events forever; with
/// one it becomes a retryable timeout. Only applied when the caller's config set none.
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long `create_table_if_missing` waits for a new table to become ACTIVE (real DynamoDB
/// takes seconds; the emulators are immediate).
const TABLE_ACTIVE_DEADLINE: Duration = Duration::from_secs(300);

/// Bounded exponential backoff with full jitter: before retry `n` (0-based) sleep a uniformly
/// random time in `[0, min(max_delay, base_delay * 2^n)]`. Full jitter spreads a throttled fleet
/// out instead of having it retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests sent at most per call, the first included.
    pub attempts: usize,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The sleeps between attempts, as the iterator `backon` drives.
    fn backoff(self) -> impl Iterator<Item = Duration> + Send + Sync + Unpin {
        let RetryPolicy {
            attempts,
            base_delay,
            max_delay,
        } = self;
        (0..attempts.saturating_sub(1)).map(move |n| {
            // 2^20 * any sane base is far past any sane cap; the min only avoids overflow.
            let shift = u32::try_from(n).unwrap_or(u32::MAX).min(20);
            let ceiling = base_delay.saturating_mul(1 << shift).min(max_delay);
            let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rand::rng().random_range(0..=ceiling_nanos))
        })
    }
}

/// Requests this store has attempted so far (each attempt counts, retries included; an attempt
/// that failed before reaching the network, e.g. fetching credentials, counts too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// `GetItem` requests.
    pub gets: u64,
    /// `PutItem` requests.
    pub puts: u64,
    /// `PutItem` requests answered with a failed condition that `put` returned as
    /// [`Put::Conflict`].
    pub conflicts: u64,
    /// Requests re-sent after a throttle, a 5xx, a timeout or a connection failure.
    pub retries: u64,
    /// Requests answered with a throttling error ([`is_throttling`]), the last attempt of a
    /// call included; each also counts in `herald_store_requests_total{outcome="throttled"}`.
    pub throttled: u64,
    /// `Scan` pages requested.
    pub scans: u64,
    /// `Query` pages of the `wake` index requested (due timers).
    pub queries: u64,
    /// Read capacity units DynamoDB reported consumed (`ReturnConsumedCapacity=TOTAL`) by
    /// `GetItem` and `Query`, in thousandths.
    pub read_milli_units: u64,
    /// Write capacity units DynamoDB reported consumed by `PutItem` that wrote (indexes
    /// included), in thousandths. A write refused by its condition reports none.
    pub write_milli_units: u64,
}

#[derive(Debug, Default)]
struct Counters {
    gets: AtomicU64,
    puts: AtomicU64,
    conflicts: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    scans: AtomicU64,
    queries: AtomicU64,
    read_milli_units: AtomicU64,
    write_milli_units: AtomicU64,
}

/// Adds what DynamoDB reported consumed to `counter` (thousandths of a unit) and to
/// `herald_store_capacity_units_total{kind}`.
fn consumed(counter: &AtomicU64, kind: &str, c: Option<&ConsumedCapacity>) {
    let Some(units) = c.and_then(|c| c.capacity_units()) else {
        return;
    };
    counter.fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
    crate::telemetry::metrics()
        .store_capacity_units
        .with_label_values(&[kind])
        .inc_by(units);
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Thread state in one DynamoDB table; see the module docs for the cost of each call.
#[derive(Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retry: RetryPolicy,
    counts: Counters,
    /// The oldest `wake_hour` that may still hold a due timer (`None` before the first look).
    wake_cursor: std::sync::Mutex<Option<i64>>,
}

/// What a failed request means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Throttled: the request was definitely not applied; retry.
    Throttled,
    /// 5xx, timeout, connection or unreadable response: the request may or may not have been
    /// applied; retry, and remember that a later conflict may be our own write.
    Ambiguous,
    /// Anything else (validation, missing table, access, failed condition): retrying won't help.
    Permanent,
}

/// True when DynamoDB answered "too fast" (`ProvisionedThroughputExceededException`,
/// `ThrottlingException`, `RequestLimitExceeded`, the control plane's
/// `LimitExceededException`, or any HTTP 429): what `outcome="throttled"` counts.
pub fn is_throttling(code: Option<&str>, http_status: u16) -> bool {
    code.is_some_and(|c| THROTTLE_CODES.contains(&c)) || http_status == 429
}

/// The `op` label of `herald_store_requests_total` for a DynamoDB operation.
fn op_label(op: &str) -> &'static str {
    match op {
        "GetItem" => "get",
        "PutItem" => "put",
        "Scan" => "scan",
        "CreateTable" => "create_table",
        "DescribeTable" => "describe_table",
        "DescribeTimeToLive" => "describe_ttl",
        "UpdateTimeToLive" => "update_ttl",
        "Query" => "query",
        "UpdateTable" => "update_table",
        _ => "other",
    }
}

fn classify<E: ProvideErrorMetadata>(err: &SdkError<E>) -> Failure {
    match err {
        SdkError::ConstructionFailure(_) => Failure::Permanent,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Failure::Ambiguous,
        // A "user" dispatch failure is a bad request or config on our side, not the network.
        SdkError::DispatchFailure(d) if d.is_user() => Failure::Permanent,
        // Also where a failure to fetch credentials lands: transient, so worth a retry.
        SdkError::DispatchFailure(_) => Failure::Ambiguous,
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            if is_throttling(ctx.err().code(), status) {
                Failure::Throttled
            } else if status >= 500 {
                Failure::Ambiguous
            } else {
                Failure::Permanent
            }
        }
        // `SdkError` is non-exhaustive; an unknown kind is most safely left for redelivery.
        _ => Failure::Ambiguous,
    }
}

impl DynamoStore {
    /// A store on `table`. The client is rebuilt with the SDK's own retries disabled (this store
    /// retries, see [`RetryPolicy`]) and, unless the caller configured one, a 3 s per-attempt
    /// timeout; everything else (region, credentials, endpoint, HTTP client) is kept.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let conf = client.config();
        let mut timeouts = conf
            .timeout_config()
            .cloned()
            .unwrap_or_else(|| TimeoutConfig::builder().build());
        timeouts.take_defaults_from(
            &TimeoutConfig::builder()
                .operation_attempt_timeout(DEFAULT_ATTEMPT_TIMEOUT)
                .build(),
        );
        let conf = conf
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts)
            .build();
        Self {
            client: Client::from_conf(conf),
            table: table.into(),
            retry: RetryPolicy::default(),
            counts: Counters::default(),
            wake_cursor: std::sync::Mutex::new(None),
        }
    }

    /// Replaces the default retry policy (tests use millisecond delays).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Requests sent so far. Throttled answers are also counted in the process-wide
    /// `herald_store_requests_total{op,outcome="throttled"}` as they happen; reads, writes and
    /// conflicts reach that metric through the engine's counters (`herald run`'s ticker).
    pub fn requests(&self) -> StoreCounts {
        let c = &self.counts;
        StoreCounts {
            gets: c.gets.load(Ordering::Relaxed),
            puts: c.puts.load(Ordering::Relaxed),
            conflicts: c.conflicts.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            scans: c.scans.load(Ordering::Relaxed),
            queries: c.queries.load(Ordering::Relaxed),
            read_milli_units: c.read_milli_units.load(Ordering::Relaxed),
            write_milli_units: c.write_milli_units.load(Ordering::Relaxed),
        }
    }

    /// Makes sure the table exists, is ACTIVE and has TTL on `expires_at`, creating it
    /// (on-demand billing, partition key `pk`) only when `DescribeTable` says it does not exist.
    /// Safe to call from several processes at once.
    ///
    /// A table that already exists with TTL enabled (as the deploy template creates it) costs
    /// one `DescribeTable` and one `DescribeTimeToLive`, so a deployed worker needs neither
    /// `dynamodb:CreateTable` nor `dynamodb:UpdateTimeToLive`; any other `DescribeTable` failure
    /// (AccessDenied included) is returned as it is, never papered over by a create. Creation is
    /// for tests, `herald replay --store dynamodb` and local runs.
    pub async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        let described = self
            .retrying("DescribeTable", None, || {
                self.client.describe_table().table_name(&self.table).send()
            })
            .await;
        let active = match described {
            Ok(out) => {
                let has_index = out.table().is_some_and(|t| {
                    t.global_secondary_indexes()
                        .iter()
                        .any(|i| i.index_name() == Some(WAKE_INDEX))
                });
                if has_index {
                    out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active)
                } else {
                    // Added, and waited for until ACTIVE.
                    self.create_wake_index().await?;
                    true
                }
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                self.create_table().await?;
                false
            }
            Err(e) => return Err(self.failure("DescribeTable", e)),
        };
        if !active {
            self.wait_active().await?;
        }
        self.enable_ttl().await
    }

    /// The attributes the table and its `wake` index are keyed on.
    fn attribute(
        name: &str,
        kind: ScalarAttributeType,
    ) -> Result<AttributeDefinition, aws_sdk_dynamodb::error::BuildError> {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
    }

    fn key(
        name: &str,
        kind: KeyType,
    ) -> Result<KeySchemaElement, aws_sdk_dynamodb::error::BuildError> {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    }

    /// The sparse index of timers: partition `wake_hour`, sort `wake`, keys only.
    fn wake_index_parts(
    ) -> Result<(Vec<KeySchemaElement>, Projection), aws_sdk_dynamodb::error::BuildError> {
        Ok((
            vec![
                Self::key(WAKE_HOUR, KeyType::Hash)?,
                Self::key(WAKE, KeyType::Range)?,
            ],
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        ))
    }

    /// `UpdateTable` adding the `wake` index to a table made before timers (the deploy
    /// template creates it with the table), then waits for it to be ACTIVE. Needs
    /// `dynamodb:UpdateTable`; without it the error says what to add.
    async fn create_wake_index(&self) -> Result<(), StoreError> {
        let construction =
            |e: aws_sdk_dynamodb::error::BuildError| self.rejected("UpdateTable", &e.to_string());
        let (schema, projection) = Self::wake_index_parts().map_err(construction)?;
        let hour = Self::attribute(WAKE_HOUR, ScalarAttributeType::S).map_err(construction)?;
        let wake = Self::attribute(WAKE, ScalarAttributeType::N).map_err(construction)?;
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(WAKE_INDEX)
            .set_key_schema(Some(schema))
            .projection(projection)
            .build()
            .map_err(construction)?;
        let sent = self
            .retrying("UpdateTable", None, || {
                self.client
                    .update_table()
                    .table_name(&self.table)
                    .attribute_definitions(hour.clone())
                    .attribute_definitions(wake.clone())
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder()
                            .create(create.clone())
                            .build(),
                    )
                    .send()
            })
            .await;
        match sent {
            Ok(_) => tracing::info!(table = %self.table, "added the `wake` index of timers"),
            // Another worker is adding it right now.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => {
                return Err(StoreError::Rejected(format!(
                    "DynamoDB table `{}` has no `{WAKE_INDEX}` index (keys `{WAKE_HOUR}` S, `{WAKE}` N, keys only) and adding it failed: {}; add it as deploy/cloudformation/central.yaml does",
                    self.table,
                    DisplayErrorContext(&e)
                )))
            }
        }
        self.wait_active().await
    }

    /// `CreateTable`; a table another process created meanwhile is fine.
    async fn create_table(&self) -> Result<(), StoreError> {
        let construction =
            |e: aws_sdk_dynamodb::error::BuildError| self.rejected("CreateTable", &e.to_string());
        let key = Self::attribute(PK, ScalarAttributeType::S).map_err(construction)?;
        let hour = Self::attribute(WAKE_HOUR, ScalarAttributeType::S).map_err(construction)?;
        let wake = Self::attribute(WAKE, ScalarAttributeType::N).map_err(construction)?;
        let schema = Self::key(PK, KeyType::Hash).map_err(construction)?;
        let (index_schema, projection) = Self::wake_index_parts().map_err(construction)?;
        let index = GlobalSecondaryIndex::builder()
            .index_name(WAKE_INDEX)
            .set_key_schema(Some(index_schema))
            .projection(projection)
            .build()
            .map_err(construction)?;
        let created = self
            .retrying("CreateTable", None, || {
                self.client
                    .create_table()
                    .table_name(&self.table)
                    .billing_mode(BillingMode::PayPerRequest)
                    .attribute_definitions(key.clone())
                    .attribute_definitions(hour.clone())
                    .attribute_definitions(wake.clone())
                    .key_schema(schema.clone())
                    .global_secondary_indexes(index.clone())
                    .send()
            })
            .await;
        match created {
            Ok(_) => {
                tracing::info!(table = %self.table, "created DynamoDB table");
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.failure("CreateTable", e)),
        }
    }

    async fn wait_active(&self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_DEADLINE;
        let mut pause = Duration::from_millis(100);
        loop {
            let described = self
                .retrying("DescribeTable", None, || {
                    self.client.describe_table().table_name(&self.table).send()
                })
                .await
                .map_err(|e| self.failure("DescribeTable", e))?;
            let status = described.table().and_then(|t| t.table_status());
            // The `wake` index too, once it is there (it is backfilled after an UpdateTable).
            let index_active = described.table().is_some_and(|t| {
                t.global_secondary_indexes()
                    .iter()
                    .filter(|i| i.index_name() == Some(WAKE_INDEX))
                    .all(|i| i.index_status().is_none_or(|s| *s == IndexStatus::Active))
            });
            if status == Some(&TableStatus::Active) && index_active {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(StoreError::Unavailable(format!(
                    "DynamoDB table `{}` is still {status:?} after {}s",
                    self.table,
                    TABLE_ACTIVE_DEADLINE.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Enables TTL unless it already is: DynamoDB rejects enabling it twice, and rejects a second
    /// TTL attribute, which we report rather than silently keeping items forever.
    async fn enable_ttl(&self) -> Result<(), StoreError> {
        let ttl_status = || async {
            let out = self
                .retrying("DescribeTimeToLive", None, || {
                    self.client
                        .describe_time_to_live()
                        .table_name(&self.table)
                        .send()
                })
                .await
                .map_err(|e| self.failure("DescribeTimeToLive", e))?;
            let d = out.time_to_live_description();
            Ok::<_, StoreError>((
                d.and_then(|d| d.time_to_live_status().cloned()),
                d.and_then(|d| d.attribute_name().map(str::to_owned)),
            ))
        };
        let on_expires_at = |s: &(Option<TimeToLiveStatus>, Option<String>)| {
            matches!(
                s.0,
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            ) && s.1.as_deref() == Some(EXPIRES_AT)
        };
        let before = ttl_status().await?;
        if on_expires_at(&before) {
            return Ok(());
        }
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(EXPIRES_AT)
            .build()
            .map_err(|e| self.rejected("UpdateTimeToLive", &e.to_string()))?;
        let updated = self
            .retrying("UpdateTimeToLive", None, || {
                self.client
                    .update_time_to_live()
                    .table_name(&self.table)
                    .time_to_live_specification(spec.clone())
                    .send()
            })
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(e) => {
                // Another process may have enabled it between our describe and update.
                if on_expires_at(&ttl_status().await?) {
                    Ok(())
                } else {
                    Err(self.failure("UpdateTimeToLive", e))
                }
            }
        }
    }

    /// Sends `request` until it succeeds, fails permanently or the policy runs out. Counts
    /// every re-send and every throttled answer; sets `ambiguous` when an attempt failed in a
    /// way that may have applied it.
    async fn retrying<T, E, F, Fut>(
        &self,
        op: &'static str,
        ambiguous: Option<&AtomicBool>,
        mut request: F,
    ) -> Result<T, SdkError<E>>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E>>>,
    {
        let counted = || {
            let sent = request();
            async move {
                let r = sent.await;
                if let Err(e) = &r {
                    if classify(e) == Failure::Throttled {
                        bump(&self.counts.throttled);
                        crate::telemetry::metrics()
                            .store_requests
                            .with_label_values(&[op_label(op), "throttled"])
                            .inc();
                    }
                }
                r
            }
        };
        counted
            .retry(self.retry.backoff())
            .when(|e| classify(e) != Failure::Permanent)
            .notify(|e, delay| {
                bump(&self.counts.retries);
                if let (Some(flag), Failure::Ambiguous) = (ambiguous, classify(e)) {
                    flag.store(true, Ordering::Relaxed);
                }
                tracing::debug!(
                    table = %self.table,
                    op,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %DisplayErrorContext(e),
                    "retrying DynamoDB request"
                );
            })
            .await
    }

    /// The caller-facing error for a request that will not be retried (again).
    fn failure<E>(&self, op: &str, err: SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or_default();
        match classify(&err) {
            Failure::Permanent if code == "ResourceNotFoundException" => {
                StoreError::Rejected(format!(
                    "DynamoDB {op}: table `{}` does not exist in this account and region \
                     (create it, or fix the configured table name)",
                    self.table
                ))
            }
            Failure::Permanent => self.rejected(op, &DisplayErrorContext(&err).to_string()),
            Failure::Throttled | Failure::Ambiguous => StoreError::Unavailable(format!(
                "DynamoDB {op} on table `{}` still failing after {} attempts: {}",
                self.table,
                self.retry.attempts,
                DisplayErrorContext(&err)
            )),
        }
    }

    fn rejected(&self, op: &str, why: &str) -> StoreError {
        StoreError::Rejected(format!("DynamoDB {op} on table `{}`: {why}", self.table))
    }

    fn decode(
        &self,
        pk: &str,
        attrs: &HashMap<String, AttributeValue>,
    ) -> Result<Item, StoreError> {
        let malformed = |what: &str| {
            StoreError::Rejected(format!(
                "item `{pk}` in DynamoDB table `{}` is not a Herald thread item: {what}",
                self.table
            ))
        };
        let number = |name: &str| {
            attrs
                .get(name)
                .and_then(|v| v.as_n().ok())
                .ok_or_else(|| malformed(&format!("no number attribute `{name}`")))
        };
        let version = number(VERSION)?
            .parse::<u64>()
            .map_err(|_| malformed("`version` is not a non-negative integer"))?;
        let expires_at = number(EXPIRES_AT)?
            .parse::<i64>()
            .map_err(|_| malformed("`expires_at` is not an integer"))?;
        let state = attrs
            .get(STATE)
            .and_then(|v| v.as_b().ok())
            .ok_or_else(|| malformed("no binary attribute `state`"))?
            .as_ref()
            .to_vec();
        let wake = attrs
            .get(WAKE)
            .and_then(|v| v.as_n().ok())
            .map(|n| {
                n.parse::<i64>()
                    .map_err(|_| malformed("`wake` is not an integer"))
            })
            .transpose()?;
        Ok(Item {
            version,
            state,
            expires_at,
            wake,
        })
    }

    async fn get_item(&self, pk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .retrying("GetItem", None, || {
                bump(&self.counts.gets);
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .key(PK, AttributeValue::S(pk.to_owned()))
                    .consistent_read(true)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
            })
            .await
            .map_err(|e| self.failure("GetItem", e))?;
        consumed(
            &self.counts.read_milli_units,
            "read",
            out.consumed_capacity(),
        );
        out.item().map(|attrs| self.decode(pk, attrs)).transpose()
    }

    async fn put_item(
        &self,
        pk: &str,
        item: &Item,
        expected: Option<u64>,
    ) -> Result<Put, StoreError> {
        let ambiguous = AtomicBool::new(false);
        let sent = self
            .retrying("PutItem", Some(&ambiguous), || {
                bump(&self.counts.puts);
                let request = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item(PK, AttributeValue::S(pk.to_owned()))
                    .item(VERSION, AttributeValue::N(item.version.to_string()))
                    .item(STATE, AttributeValue::B(Blob::new(item.state.clone())))
                    .item(EXPIRES_AT, AttributeValue::N(item.expires_at.to_string()));
                // A timer puts the item in the sparse `wake` index; a put without one takes
                // it out (PutItem replaces the whole item).
                let request = match item.wake {
                    Some(w) => request
                        .item(WAKE, AttributeValue::N(w.to_string()))
                        .item(WAKE_HOUR, AttributeValue::S(wake_hour(w))),
                    None => request,
                };
                let request = request
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .return_consumed_capacity(ReturnConsumedCapacity::Total);
                let request = match expected {
                    None => request
                        .condition_expression("attribute_not_exists(#pk)")
                        .expression_attribute_names("#pk", PK),
                    // `#version`: a name placeholder keeps the expression valid whatever
                    // DynamoDB's reserved-word list says.
                    Some(v) => request
                        .condition_expression("#version = :v")
                        .expression_attribute_names("#version", VERSION)
                        .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
                };
                request.send()
            })
            .await;
        let err = match sent {
            Ok(out) => {
                consumed(
                    &self.counts.write_milli_units,
                    "write",
                    out.consumed_capacity(),
                );
                return Ok(Put::Written);
            }
            Err(e) => e,
        };
        let Some(PutItemError::ConditionalCheckFailedException(failed)) = err.as_service_error()
        else {
            return Err(self.failure("PutItem", err));
        };
        let current = failed
            .item()
            .map(|attrs| self.decode(pk, attrs))
            .transpose()?;
        // An earlier attempt may have been applied without us hearing back; if what is stored is
        // exactly what we wrote, that attempt was ours (or indistinguishable from it).
        if ambiguous.load(Ordering::Relaxed) && current.as_ref() == Some(item) {
            return Ok(Put::Written);
        }
        bump(&self.counts.conflicts);
        Ok(Put::Conflict(current))
    }

    /// Due timers from the `wake` index: one `Query` per hour partition from the oldest that
    /// may still hold one to the current hour (at a worker's start, the last
    /// `WAKE_LOOKBACK_HOURS`; after that usually one or two), each asking only for timers at or
    /// before `now`. An hour past and found empty is not asked again.
    async fn due_timers(&self, now: i64, limit: usize) -> Result<Vec<(String, i64)>, StoreError> {
        let this_hour = now.div_euclid(3600);
        let settled_hour = (now - WAKE_SETTLE_SECS).div_euclid(3600);
        let from = {
            let cursor = self.wake_cursor.lock().unwrap_or_else(|p| p.into_inner());
            cursor.unwrap_or(this_hour - WAKE_LOOKBACK_HOURS)
        };
        let mut out = Vec::new();
        let mut oldest_left = from;
        for hour in from..=this_hour {
            let mut start: Option<HashMap<String, AttributeValue>> = None;
            let before = out.len();
            loop {
                let page = self
                    .retrying("Query", None, || {
                        bump(&self.counts.queries);
                        self.client
                            .query()
                            .table_name(&self.table)
                            .index_name(WAKE_INDEX)
                            .key_condition_expression("#h = :h AND #w <= :now")
                            .expression_attribute_names("#h", WAKE_HOUR)
                            .expression_attribute_names("#w", WAKE)
                            .expression_attribute_values(
                                ":h",
                                AttributeValue::S(format!("h{hour}")),
                            )
                            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
                            .set_exclusive_start_key(start.clone())
                            .return_consumed_capacity(ReturnConsumedCapacity::Total)
                            .send()
                    })
                    .await
                    .map_err(|e| self.failure("Query", e))?;
                consumed(
                    &self.counts.read_milli_units,
                    "read",
                    page.consumed_capacity(),
                );
                crate::telemetry::metrics()
                    .store_requests
                    .with_label_values(&["query", "ok"])
                    .inc();
                for attrs in page.items() {
                    let pk = attrs.get(PK).and_then(|v| v.as_s().ok());
                    let wake = attrs
                        .get(WAKE)
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse::<i64>().ok());
                    if let (Some(pk), Some(wake)) = (pk, wake) {
                        out.push((pk.clone(), wake));
                    }
                }
                match page.last_evaluated_key() {
                    Some(key) if !key.is_empty() && out.len() < limit => start = Some(key.clone()),
                    _ => break,
                }
            }
            // An hour is left behind only once it is well past: the index is read eventually
            // consistently, and workers' clocks differ.
            if out.len() == before && hour == oldest_left && hour < settled_hour {
                oldest_left = hour + 1;
            }
            if out.len() >= limit {
                break;
            }
        }
        *self.wake_cursor.lock().unwrap_or_else(|p| p.into_inner()) = Some(oldest_left);
        out.truncate(limit);
        Ok(out)
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<(String, Item)>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .retrying("Scan", None, || {
                    bump(&self.counts.scans);
                    let request = self
                        .client
                        .scan()
                        .table_name(&self.table)
                        // Lease sweeps must see writes made just before them.
                        .consistent_read(true)
                        .set_exclusive_start_key(start.clone());
                    // DynamoDB rejects an empty string operand, and "" matches everything anyway.
                    let request = if prefix.is_empty() {
                        request
                    } else {
                        request
                            .filter_expression("begins_with(#pk, :p)")
                            .expression_attribute_names("#pk", PK)
                            .expression_attribute_values(":p", AttributeValue::S(prefix.to_owned()))
                    };
                    request.send()
                })
                .await
                .map_err(|e| self.failure("Scan", e))?;
            for attrs in page.items() {
                let pk = attrs
                    .get(PK)
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| self.rejected("Scan", "an item has no string `pk`"))?;
                out.push((pk.clone(), self.decode(pk, attrs)?));
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        // Same order as the memory store (Scan order is by hash, not by key).
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

impl Store for DynamoStore {
    fn get<'a>(&'a self, pk: &'a str) -> BoxFuture<'a, Result<Option<Item>, StoreError>> {
        Box::pin(self.get_item(pk))
    }

    fn put<'a>(
        &'a self,
        pk: &'a str,
        item: &'a Item,
        expected: Option<u64>,
    ) -> BoxFuture<'a, Result<Put, StoreError>> {
        Box::pin(self.put_item(pk, item, expected))
    }

    fn due<'a>(
        &'a self,
        now: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<(String, i64)>, StoreError>> {
        Box::pin(self.due_timers(now, limit))
    }

    /// A filtered full-table Scan, page by page: not for the hot path.
    fn scan_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Item)>, StoreError>> {
        Box::pin(self.scan(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_told_from_other_failures() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "LimitExceededException",
        ] {
            assert!(is_throttling(Some(code), 400), "{code}");
        }
        assert!(is_throttling(None, 429), "a bare 429");
        for code in [
            "ConditionalCheckFailedException",
            "ResourceNotFoundException",
            "AccessDeniedException",
            "ValidationException",
            "InternalServerError",
        ] {
            assert!(!is_throttling(Some(code), 400), "{code}");
        }
        assert!(!is_throttling(None, 500));
        assert_eq!(op_label("GetItem"), "get");
        assert_eq!(op_label("PutItem"), "put");
        assert_eq!(op_label("Scan"), "scan");
        assert_eq!(op_label("DescribeTable"), "describe_table");
    }

    #[test]
    fn backoff_is_bounded_and_jittered_under_the_cap() {
        let policy = RetryPolicy::default();
        let sleeps: Vec<_> = policy.backoff().collect();
        assert_eq!(sleeps.len(), policy.attempts - 1);
        for (n, d) in sleeps.iter().enumerate() {
            let ceiling = (policy.base_delay * (1 << n)).min(policy.max_delay);
            assert!(*d <= ceiling, "sleep {n} = {d:?} over {ceiling:?}");
        }
        let huge = RetryPolicy {
            attempts: 100,
            ..policy
        };
        assert!(huge.backoff().all(|d| d <= policy.max_delay));
    }
}
