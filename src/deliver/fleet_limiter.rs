//! The budget of a destination shared by every worker of the fleet: GCRA state in one DynamoDB
//! item per destination (`pk = "rl#<limiter key>"`, attribute `tat`, the theoretical arrival
//! time in Unix milliseconds), so that all workers together stay under a provider's limit.
//!
//! Each post reserves the next free slot with one conditional write, and waits until its slot
//! begins: while the schedule is busy (`tat` at or after now), `tat = tat + period` conditioned
//! only on it still being busy, returning the old `tat` (the slot's start), so workers taking
//! slots at once all succeed and none is starved; an idle schedule is started at now (`tat =
//! now + period` if absent or past), which one of racing workers wins while the others find it
//! busy. A worker alone on a destination writes once per post. The clock is the wall clock, which ECS hosts keep within a
//! millisecond of each other; tokio's clock supplies its passage, so a paused test clock works.
//!
//! Items carry `expires_at` (the table's TTL attribute) a day ahead, so idle destinations
//! vanish. The table may be the store's own: the `rl#` keys never meet thread keys.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
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
    /// When the last [`GRANTED_KEPT`] slots granted to this worker begin (the schedule the
    /// fleet keeps, which tests compare with when posts arrive).
    pub granted: Mutex<std::collections::VecDeque<Instant>>,
}

/// Slot starts kept in [`FleetStats::granted`].
pub const GRANTED_KEPT: usize = 256;

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
    ///
    /// While the schedule is busy (`tat` at or after now) a slot is taken by adding `period` to
    /// `tat` in place, conditioned only on it still being busy: workers taking slots at once
    /// all succeed, each with its own (the write returns the old `tat`, where its slot begins),
    /// so none is starved by the others. Only an idle schedule is started with a condition on
    /// its state (`tat` absent or past: set to now + `period`), which one of racing workers
    /// wins; the others find it busy and take the following slots.
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
        for _ in 0..MAX_TRIES {
            let now = self.clock.now_ms();
            // Which write is likely to hold first: the schedule as this worker last left it.
            let busy = self.seen().get(key).is_some_and(|t| *t >= now);
            let start = if busy {
                match self.extend(&pk, period_ms, now).await? {
                    Some(start) => Some(start),
                    None => self.start_idle(&pk, period_ms, now).await?,
                }
            } else {
                match self.start_idle(&pk, period_ms, now).await? {
                    Some(start) => Some(start),
                    None => self.extend(&pk, period_ms, now).await?,
                }
            };
            let Some(start) = start else {
                // Idle when extended, busy when started: moved meanwhile; look again.
                continue;
            };
            self.seen().insert(key.to_owned(), start + period_ms);
            self.stats.reserved.fetch_add(1, Ordering::Relaxed);
            let at = self.clock.instant_at(start);
            let mut granted = self.stats.granted.lock().unwrap_or_else(|p| p.into_inner());
            if granted.len() >= GRANTED_KEPT {
                granted.pop_front();
            }
            granted.push_back(at);
            return Ok(at);
        }
        Err(FleetError::Contended(MAX_TRIES))
    }

    /// Moves `key`'s next slot to at least `d` from now, for every worker: a provider's 429
    /// speaks for the whole fleet. Best effort.
    pub async fn pause(&self, key: &str, d: Duration) -> Result<(), FleetError> {
        let until = self.clock.now_ms() + d.as_millis() as i64;
        let pk = format!("rl#{key}");
        let sent = self
            .schedule_write(
                &pk,
                "SET #tat = :tat, #exp = :exp",
                "attribute_not_exists(#tat) OR #tat < :tat",
                until,
            )
            .await
            .expression_attribute_values(":tat", AttributeValue::N(until.to_string()))
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

    /// A conditional update of a schedule item: the names `#tat` and `#exp`, the value `:exp`
    /// (a day after `now`) and, when the condition uses it, `:now`.
    async fn schedule_write(
        &self,
        pk: &str,
        update: &str,
        condition: &str,
        now: i64,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut req = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#tat", "tat")
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_values(":exp", AttributeValue::N(expires(now)));
        if condition.contains(":now") {
            req = req.expression_attribute_values(":now", AttributeValue::N(now.to_string()));
        }
        req
    }

    /// A busy schedule (`tat` at or after `now`): moves `tat` on by a period and returns where
    /// it was, the start of this slot. `None` when the schedule is idle.
    async fn extend(&self, pk: &str, period_ms: i64, now: i64) -> Result<Option<i64>, FleetError> {
        let sent = self
            .schedule_write(pk, "SET #tat = #tat + :p, #exp = :exp", "#tat >= :now", now)
            .await
            .expression_attribute_values(":p", AttributeValue::N(period_ms.to_string()))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        match sent {
            Ok(out) => Ok(out
                .attributes()
                .and_then(|a| a.get("tat"))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())),
            Err(e) => self.condition_failed(e).map(|()| None),
        }
    }

    /// An idle schedule (no `tat`, or one already past): starts it at `now`, the start of this
    /// slot. `None` when it is busy.
    async fn start_idle(
        &self,
        pk: &str,
        period_ms: i64,
        now: i64,
    ) -> Result<Option<i64>, FleetError> {
        let sent = self
            .schedule_write(
                pk,
                "SET #tat = :tat, #exp = :exp",
                "attribute_not_exists(#tat) OR #tat < :now",
                now,
            )
            .await
            .expression_attribute_values(":tat", AttributeValue::N((now + period_ms).to_string()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Some(now)),
            Err(e) => self.condition_failed(e).map(|()| None),
        }
    }

    /// `Ok` when a write's condition failed (the schedule was not as assumed: counted), the
    /// error otherwise.
    fn condition_failed(
        &self,
        e: aws_sdk_dynamodb::error::SdkError<UpdateItemError>,
    ) -> Result<(), FleetError> {
        match e.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(_)) => {
                self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(FleetError::Store(DisplayErrorContext(&e).to_string())),
        }
    }
}

fn expires(now_ms: i64) -> String {
    (now_ms / 1000 + ITEM_TTL_SECS).to_string()
}
