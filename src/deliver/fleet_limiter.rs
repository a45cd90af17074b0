//! The budget of a destination shared by every worker of the fleet: GCRA state in one DynamoDB
//! item per destination (`pk = "rl#<limiter key>"`, attribute `tat`, the theoretical arrival
//! time in Unix milliseconds), so that all workers together stay under a provider's limit.
//!
//! Each post reserves the next free slot with one conditional write: `tat` moves from the value
//! this worker last saw to `max(tat, now) + period`, and the post waits until its slot begins.
//! A worker that saw a stale `tat` loses the condition, reads the current one from the failure
//! (`ReturnValuesOnConditionCheckFailure=ALL_OLD`, no extra read) and tries again; a worker alone
//! on a destination never loses. The clock is the wall clock, which ECS hosts keep within a
//! millisecond of each other; tokio's clock supplies its passage, so a paused test clock works.
//!
//! Items carry `expires_at` (the table's TTL attribute) a day ahead, so idle destinations
//! vanish. The table may be the store's own: the `rl#` keys never meet thread keys.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A reservation that lost this many races in a row gives up (and the caller paces locally).
const MAX_TRIES: usize = 32;
const ITEM_TTL_SECS: i64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// DynamoDB did not answer, or refused: the caller falls back to its local budget.
    #[error("shared rate limiter: {0}")]
    Store(String),
    #[error("shared rate limiter: {0} lost races in a row for one slot")]
    Contended(usize),
}

/// Wall-clock milliseconds measured with tokio's clock from one reading of the system clock.
#[derive(Debug, Clone, Copy)]
struct WallClock {
    epoch_ms: i64,
    start: Instant,
}

impl WallClock {
    fn new() -> Self {
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Self {
            epoch_ms,
            start: Instant::now(),
        }
    }

    fn now_ms(&self) -> i64 {
        self.epoch_ms + (Instant::now() - self.start).as_millis() as i64
    }

    fn instant_at(&self, ms: i64) -> Instant {
        let after = u64::try_from(ms - self.epoch_ms).unwrap_or(0);
        self.start + Duration::from_millis(after)
    }
}

/// Counts for tests and metrics.
#[derive(Debug, Default)]
pub struct FleetStats {
    /// Reservations written (one per post).
    pub reserved: AtomicU64,
    /// Conditional writes that lost a race and were retried.
    pub conflicts: AtomicU64,
    /// Requests paced by the worker's own budget because the shared one could not be reached
    /// (counted by the [`super::limiter::Limiter`] using this).
    pub fallbacks: AtomicU64,
}

pub struct FleetLimiter {
    client: tokio::sync::OnceCell<Client>,
    /// DynamoDB endpoint override for a client made on first use.
    endpoint: Option<String>,
    table: String,
    clock: WallClock,
    /// The `tat` this worker last wrote per key: right whenever it is alone.
    seen: Mutex<HashMap<String, i64>>,
    /// One reservation per key at a time from this worker: its own callers queue here instead
    /// of racing each other for the same slot in DynamoDB.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub stats: FleetStats,
}

impl std::fmt::Debug for FleetLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetLimiter")
            .field("table", &self.table)
            .finish()
    }
}

impl FleetLimiter {
    /// `table` has a string partition key `pk` (the store's table does).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client: tokio::sync::OnceCell::new_with(Some(client)),
            endpoint: None,
            table: table.into(),
            clock: WallClock::new(),
            seen: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
            stats: FleetStats::default(),
        }
    }

    /// A client made on first use from the default credential chain (at `endpoint` when given,
    /// e.g. DynamoDB Local), so that sinks can be built without an async context.
    pub fn lazy(endpoint: Option<String>, table: impl Into<String>) -> Self {
        Self {
            client: tokio::sync::OnceCell::new(),
            endpoint,
            table: table.into(),
            clock: WallClock::new(),
            seen: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
            stats: FleetStats::default(),
        }
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(e) = &self.endpoint {
                    loader = loader.endpoint_url(e);
                }
                Client::new(&loader.load().await)
            })
            .await
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves the next slot of `key`, one every `period`, and returns when it begins. The
    /// caller sleeps until then and sends.
    pub async fn reserve(&self, key: &str, period: Duration) -> Result<Instant, FleetError> {
        let period_ms = (period.as_millis() as i64).max(1);
        let pk = format!("rl#{key}");
        let turn = self
            .turns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        let _turn = turn.lock().await;
        let mut expected = self.seen().get(key).copied();
        for _ in 0..MAX_TRIES {
            let now = self.clock.now_ms();
            let start = expected.map_or(now, |t| t.max(now));
            let tat = start + period_ms;
            match self.write(&pk, expected, tat, now).await? {
                None => {
                    self.seen().insert(key.to_owned(), tat);
                    self.stats.reserved.fetch_add(1, Ordering::Relaxed);
                    return Ok(self.clock.instant_at(start));
                }
                Some(current) => {
                    self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                    expected = current;
                }
            }
        }
        Err(FleetError::Contended(MAX_TRIES))
    }

    /// Moves `key`'s next slot to at least `d` from now, for every worker: a provider's 429
    /// speaks for the whole fleet. Best effort.
    pub async fn pause(&self, key: &str, d: Duration) -> Result<(), FleetError> {
        let until = self.clock.now_ms() + d.as_millis() as i64;
        let pk = format!("rl#{key}");
        let sent = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .update_expression("SET #tat = :tat, #exp = :exp")
            .condition_expression("attribute_not_exists(#tat) OR #tat < :tat")
            .expression_attribute_names("#tat", "tat")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":tat", AttributeValue::N(until.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(expires(until)))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                // Already paused for longer.
                Ok(())
            }
            Err(e) => Err(FleetError::Store(DisplayErrorContext(&e).to_string())),
        }
    }

    /// Moves `tat` from `expected` to `tat`. `Ok(None)` when written, `Ok(Some(current))` when
    /// another worker moved it first.
    async fn write(
        &self,
        pk: &str,
        expected: Option<i64>,
        tat: i64,
        now: i64,
    ) -> Result<Option<Option<i64>>, FleetError> {
        let mut request = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .update_expression("SET #tat = :tat, #exp = :exp")
            .expression_attribute_names("#tat", "tat")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":tat", AttributeValue::N(tat.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(expires(now)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = match expected {
            None => request.condition_expression("attribute_not_exists(#tat)"),
            Some(old) => request
                .condition_expression("#tat = :old")
                .expression_attribute_values(":old", AttributeValue::N(old.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let current = failed
                        .item()
                        .and_then(|item| item.get("tat"))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse::<i64>().ok());
                    Ok(Some(current))
                }
                _ => Err(FleetError::Store(DisplayErrorContext(&e).to_string())),
            },
        }
    }
}

fn expires(now_ms: i64) -> String {
    (now_ms / 1000 + ITEM_TTL_SECS).to_string()
}
