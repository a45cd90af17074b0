//! The one delivery path every sink goes through: drop an update that a newer one of the same
//! message has superseded, wait for the destination's budget, try once under a timeout, and on
//! failure back off (full jitter) or pause the destination for as long as the provider asked, a
//! bounded number of times. The last error goes back to the caller, which leaves the message
//! for the queue to redeliver.

use super::limiter::Limiter;
use super::{Delivery, DigestDelivery, MessageRef, Op, Sink, SinkError};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Tries per delivery, the first included. A 429 counts as a try, so a destination that
    /// keeps refusing cannot hold a worker forever.
    pub max_attempts: u32,
    /// The backoff ceiling doubles from this after each transient failure…
    pub base_delay_ms: u64,
    /// …up to this.
    pub max_delay_ms: u64,
    /// One try (request and response) gives up after this.
    pub attempt_timeout_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay_ms: 500,
            max_delay_ms: 30_000,
            attempt_timeout_ms: 10_000,
        }
    }
}

impl RetryPolicy {
    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_millis(self.attempt_timeout_ms)
    }

    /// The most the wait after the `retry`-th failure (0-based) may be: base·2^retry, capped.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u64.checked_shl(retry.min(32)).unwrap_or(u64::MAX);
        Duration::from_millis(
            self.base_delay_ms
                .saturating_mul(factor)
                .min(self.max_delay_ms),
        )
    }

    /// "Full jitter": a uniform wait in `[0, ceiling]`, so workers that failed together do not
    /// come back together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry).as_millis() as u64;
        Duration::from_millis(rand::random_range(0..=ceiling))
    }
}

/// Runs `attempt` until it succeeds, is rejected, or `policy.max_attempts` tries are spent.
/// Before each try it waits for `key`'s turn at `limiter`; a `RateLimited(d)` pauses `key` for
/// `d` for every caller in the process. Returns the last error.
pub async fn with_retry<T, F, Fut>(
    policy: &RetryPolicy,
    limiter: &Limiter,
    key: &str,
    attempt: F,
) -> Result<T, SinkError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SinkError>>,
{
    with_retry_while(policy, limiter, key, "", || true, attempt)
        .await?
        .ok_or_else(|| SinkError::Transient("abandoned".into()))
}

/// [`with_retry`], asking `wanted` before waiting for a turn and again once it has one: `Ok(None)`
/// when the answer became no (an update superseded by a newer one of the same message). Retries
/// and rate limits count in `herald_sink_retries_total{sink}` and
/// `herald_sink_rate_limited_total{sink}` when `sink` (the sink kind) is not empty.
pub async fn with_retry_while<T, F, Fut>(
    policy: &RetryPolicy,
    limiter: &Limiter,
    key: &str,
    sink: &'static str,
    wanted: impl Fn() -> bool,
    mut attempt: F,
) -> Result<Option<T>, SinkError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SinkError>>,
{
    let tries = policy.max_attempts.max(1);
    let mut retry = 0;
    let mut n = 0;
    loop {
        n += 1;
        if !wanted() {
            return Ok(None);
        }
        // Checked before the wait too, so an attempt the fence refuses takes no turn.
        if !super::fence::expired() {
            limiter.until_ready(key).await;
        }
        if !wanted() {
            return Ok(None);
        }
        if super::fence::expired() {
            if !sink.is_empty() {
                crate::telemetry::metrics()
                    .sink_fenced
                    .with_label_values(&[sink])
                    .inc();
            }
            tracing::warn!(
                destination = key,
                attempts = n - 1,
                "delivery lease ran out: attempt not made, left to the lease's next holder"
            );
            return Err(SinkError::Fenced);
        }
        let result = match tokio::time::timeout(policy.attempt_timeout(), attempt()).await {
            Ok(r) => r,
            Err(_) => Err(SinkError::Transient(format!(
                "no answer within {} ms",
                policy.attempt_timeout_ms
            ))),
        };
        let err = match result {
            Ok(v) => return Ok(Some(v)),
            Err(e) => e,
        };
        // Every 429 counts, the one that ends the tries included.
        if !sink.is_empty() && matches!(err, SinkError::RateLimited(_)) {
            crate::telemetry::metrics()
                .sink_rate_limited
                .with_label_values(&[sink])
                .inc();
        }
        if !err.retryable() || n >= tries {
            tracing::warn!(destination = key, attempts = n, reason = err.reason(), error = %err, "delivery failed");
            return Err(err);
        }
        tracing::debug!(destination = key, attempt = n, reason = err.reason(), error = %err, "retrying delivery");
        if !sink.is_empty() {
            crate::telemetry::metrics()
                .sink_retries
                .with_label_values(&[sink])
                .inc();
        }
        match err {
            // The provider said how long; waiting on the limiter makes every caller wait too.
            SinkError::RateLimited(d) => limiter.pause(key, d),
            _ => {
                tokio::time::sleep(policy.backoff(retry)).await;
                retry += 1;
            }
        }
    }
}

/// Any sink behind the delivery path: superseded updates dropped, limiter, retry with backoff,
/// per-attempt timeout; and, when asked, a failure's details as a reply in its message's thread.
pub struct Paced {
    inner: Arc<dyn Sink>,
    limiter: Arc<Limiter>,
    key: String,
    policy: RetryPolicy,
    failure_reply: bool,
    news_reply: bool,
    /// The newest update waiting per thread: an older one still waiting is not sent.
    newest: Mutex<HashMap<String, u64>>,
    next: AtomicU64,
    /// Threads whose failure reply was posted (by this process: a restart may post one again).
    replied: Mutex<HashSet<String>>,
}

/// Past this many threads, the memory of failure replies starts over.
const REPLIED_KEPT: usize = 10_000;

impl Paced {
    /// `key` names the destination's budget at `limiter`: a channel id or destination name,
    /// never a URL. Destinations that share a channel should share a key.
    pub fn new(
        inner: Arc<dyn Sink>,
        limiter: Arc<Limiter>,
        key: impl Into<String>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            inner,
            limiter,
            key: key.into(),
            policy,
            failure_reply: false,
            news_reply: false,
            newest: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            replied: Mutex::new(HashSet::new()),
        }
    }

    /// After a final failure is posted or edited in, also send [`Op::Reply`] with its details
    /// (Slack: a reply in the message's thread), once per thread.
    pub fn with_failure_reply(mut self, on: bool) -> Self {
        self.failure_reply = on;
        self
    }

    /// When a thread is marked stalled or an approval is reminded of, also send [`Op::Reply`]
    /// saying so, once each.
    pub fn with_news_reply(mut self, on: bool) -> Self {
        self.news_reply = on;
        self
    }

    fn newest(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.newest.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn replied(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.replied.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn deliver_one(&self, d: &Delivery) -> Result<MessageRef, SinkError> {
        let reference = if d.op == Op::Update {
            let gen = self.next.fetch_add(1, Ordering::Relaxed) + 1;
            self.newest().insert(d.thread.clone(), gen);
            let _done = Newest {
                paced: self,
                thread: &d.thread,
                gen,
            };
            let wanted = || self.newest().get(&d.thread) == Some(&gen);
            let sent = with_retry_while(
                &self.policy,
                &self.limiter,
                &self.key,
                self.inner.kind(),
                wanted,
                || self.inner.deliver(d),
            )
            .await?;
            match sent {
                Some(r) => r,
                None => {
                    tracing::debug!(destination = %d.destination, "update superseded by a newer one; not sent");
                    return Ok(d.message.clone().unwrap_or_else(|| json!({})));
                }
            }
        } else {
            self.paced(|| self.inner.deliver(d)).await?
        };
        let mut reference = reference;
        if d.op != Op::Reply && self.wants_reply(d) && self.reply(d, &reference).await {
            // Said in the reference, which the runner stores with the thread: another worker,
            // or this one after a restart, does not reply again.
            if let Some(r) = reference.as_object_mut() {
                r.insert(REPLIED.into(), json!(true));
            }
        }
        if d.op != Op::Reply {
            if let Some((key, id)) = self.wants_news_reply(d) {
                if self.reply(d, &reference).await {
                    if let Some(r) = reference.as_object_mut() {
                        r.insert(key.into(), json!(id));
                    }
                }
            }
        }
        Ok(reference)
    }

    /// News told by a reply too, once each (Slack: in the message's thread, broadcast to the
    /// channel; Discord and Teams: a new message; an edit notifies nobody): a stall, by its
    /// `stalled_since`, or an approval reminder, by its due time. `None` when there is none or
    /// it was replied already (said in the message's reference, or remembered here).
    fn wants_news_reply(&self, d: &Delivery) -> Option<(&'static str, i64)> {
        if !self.news_reply {
            return None;
        }
        let (key, id) = news_of(&d.notification)?;
        let told = news_replied_in(d.message.as_ref(), key) == Some(id)
            || self.replied().contains(&format!("{}#{key}#{id}", d.thread));
        (!told).then_some((key, id))
    }

    /// One request through the limiter and the retries, counted under this sink's kind.
    async fn paced<T, F, Fut>(&self, attempt: F) -> Result<T, SinkError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SinkError>>,
    {
        with_retry_while(
            &self.policy,
            &self.limiter,
            &self.key,
            self.inner.kind(),
            || true,
            attempt,
        )
        .await?
        .ok_or_else(|| SinkError::Transient("abandoned".into()))
    }

    fn wants_reply(&self, d: &Delivery) -> bool {
        if news_of(&d.notification).is_some() {
            return false;
        }
        let n = &d.notification;
        self.failure_reply
            && n.is_final
            && n.status == crate::notification::status::FAILED
            && n.failure.is_some()
            && !self.replied().contains(&d.thread)
            && !replied_in(d.message.as_ref())
    }

    /// Best effort: the message itself already shows the failure, so a reply that cannot be
    /// sent is logged, and tried again with the thread's next update.
    async fn reply(&self, d: &Delivery, reference: &MessageRef) -> bool {
        let reply = Delivery {
            op: Op::Reply,
            message: Some(d.message.clone().unwrap_or_else(|| reference.clone())),
            ..d.clone()
        };
        match self.paced(|| self.inner.deliver(&reply)).await {
            Ok(_) => {
                let mut replied = self.replied();
                if replied.len() >= REPLIED_KEPT {
                    replied.clear();
                }
                match news_of(&d.notification) {
                    Some((key, id)) => replied.insert(format!("{}#{key}#{id}", d.thread)),
                    None => replied.insert(d.thread.clone()),
                };
                true
            }
            Err(e) => {
                tracing::warn!(destination = %d.destination, reason = e.reason(), error = %e, "failure reply not sent");
                false
            }
        }
    }
}

/// The key a message reference carries once its failure reply went out.
pub const REPLIED: &str = "replied";

/// Whether a message reference says its failure reply went out.
pub fn replied_in(m: Option<&MessageRef>) -> bool {
    m.and_then(|m| m.get(REPLIED)).and_then(|v| v.as_bool()) == Some(true)
}

/// The keys a message reference carries once a reply told its news: a stall's
/// `stalled_since`, an approval reminder's due time (Unix seconds).
pub const STALL_REPLIED: &str = "stall_replied";
pub const REMINDED: &str = "reminded";
/// A deployment's UNHEALTHY verdict was replied (once per message: the value is 1).
pub const UNHEALTHY_REPLIED: &str = "unhealthy_replied";
/// Every key of news a reference remembers.
pub const NEWS_KEYS: [&str; 3] = [STALL_REPLIED, REMINDED, UNHEALTHY_REPLIED];

/// The news a notification's reply tells, with the reference key that remembers it.
pub fn news_of(n: &crate::notification::Notification) -> Option<(&'static str, i64)> {
    if n.stalled && !n.is_final {
        return n.stalled_since.map(|t| (STALL_REPLIED, t.timestamp()));
    }
    if let Some(r) = &n.reminder {
        return Some((REMINDED, r.due));
    }
    n.verdict
        .as_ref()
        .filter(|v| v.status == crate::notification::verdict_status::UNHEALTHY)
        .map(|_| (UNHEALTHY_REPLIED, 1))
}

/// The news of kind `key` a message reference says was replied to.
pub fn news_replied_in(m: Option<&MessageRef>, key: &str) -> Option<i64> {
    m.and_then(|m| m.get(key)).and_then(|v| v.as_i64())
}

/// The reference to keep after a delivery: the message's own when it had one (an edit is of
/// the same message), plus the news that this delivery sent the failure reply, so it is never
/// sent twice.
pub fn kept_reference(existing: Option<MessageRef>, returned: MessageRef) -> MessageRef {
    let replied = replied_in(Some(&returned));
    let news: Vec<(&str, i64)> = NEWS_KEYS
        .into_iter()
        .filter_map(|k| news_replied_in(Some(&returned), k).map(|v| (k, v)))
        .collect();
    let mut kept = existing.unwrap_or(returned);
    if let Some(r) = kept.as_object_mut() {
        if replied {
            r.insert(REPLIED.into(), true.into());
        }
        for (k, v) in news {
            r.insert(k.into(), v.into());
        }
    }
    kept
}

/// Forgets an update's place as the newest of its thread when it is done (or cancelled).
struct Newest<'a> {
    paced: &'a Paced,
    thread: &'a str,
    gen: u64,
}

impl Drop for Newest<'_> {
    fn drop(&mut self) {
        let mut newest = self.paced.newest();
        if newest.get(self.thread) == Some(&self.gen) {
            newest.remove(self.thread);
        }
    }
}

impl Sink for Paced {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(self.deliver_one(d))
    }

    fn deliver_digest<'a>(
        &'a self,
        d: &'a DigestDelivery,
    ) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        Box::pin(self.paced(move || self.inner.deliver_digest(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::Instant;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay_ms: 100,
            max_delay_ms: 1_000,
            attempt_timeout_ms: 5_000,
        }
    }

    #[test]
    fn ceilings_double_then_cap() {
        let p = policy();
        let c: Vec<u128> = (0..6).map(|r| p.ceiling(r).as_millis()).collect();
        assert_eq!(c, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.ceiling(500).as_millis(), 1000);
        for r in 0..10 {
            assert!(p.backoff(r) <= p.ceiling(r));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_back_off_then_succeed() {
        let calls = AtomicU32::new(0);
        let t0 = Instant::now();
        let r = with_retry(&policy(), &Limiter::pause_only(), "k", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(SinkError::Transient("503".into())),
                _ => Ok("posted"),
            }
        })
        .await;
        assert_eq!(r.unwrap(), "posted");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(Instant::now() - t0 <= Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn rejection_is_not_retried() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = with_retry(&policy(), &Limiter::pause_only(), "k", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(SinkError::Rejected("invalid_auth".into()))
        })
        .await;
        assert!(matches!(r, Err(SinkError::Rejected(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded_and_the_last_error_returns() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = with_retry(&policy(), &Limiter::pause_only(), "k", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Err(SinkError::Transient(format!("failure {n}")))
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(r.unwrap_err().to_string(), "transient: failure 3");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_times_out_and_is_retried() {
        let calls = AtomicU32::new(0);
        let mut p = policy();
        p.attempt_timeout_ms = 1_000;
        let t0 = Instant::now();
        let r = with_retry(&p, &Limiter::pause_only(), "k", || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Ok(())
        })
        .await;
        assert!(r.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(Instant::now() - t0 < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn an_attempt_after_the_lease_ran_out_is_not_made() {
        let m = crate::telemetry::metrics();
        let sink = "retry-test-fenced";
        let calls = AtomicU32::new(0);
        let now = crate::clock::unix_now();
        // A worker that was paused past its lease: nothing is sent.
        let r: Result<Option<()>, SinkError> = super::super::fence::under_lease(
            now - 5,
            with_retry_while(
                &policy(),
                &Limiter::pause_only(),
                "C9",
                sink,
                || true,
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                },
            ),
        )
        .await;
        assert!(matches!(&r, Err(SinkError::Fenced)), "{r:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(m.sink_fenced.with_label_values(&[sink]).get(), 1);
        // The lease ends while the first attempt fails: the retry is not made.
        let first = AtomicU32::new(0);
        let r: Result<Option<()>, SinkError> = super::super::fence::until_ms(
            super::super::fence::now_ms() + 1_000,
            with_retry_while(
                &RetryPolicy {
                    base_delay_ms: 1_600,
                    max_delay_ms: 1_600,
                    ..policy()
                },
                &Limiter::pause_only(),
                "C9",
                sink,
                || true,
                || async {
                    first.fetch_add(1, Ordering::SeqCst);
                    // Long enough that any backoff ends past the lease's margin.
                    tokio::time::sleep(Duration::from_millis(1_600)).await;
                    Err(SinkError::Transient("503".into()))
                },
            ),
        )
        .await;
        assert!(r.is_err());
        assert_eq!(first.load(Ordering::SeqCst), 1, "one attempt, then fenced");
        assert_eq!(m.sink_fenced.with_label_values(&[sink]).get(), 2);
        // With time left, it is sent.
        let r = super::super::fence::under_lease(
            now + 30,
            with_retry(&policy(), &Limiter::pause_only(), "C9", || async { Ok(1) }),
        )
        .await;
        assert_eq!(r.ok(), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_on_the_last_try_is_counted_too() {
        let m = crate::telemetry::metrics();
        let sink = "retry-test-429";
        let before = m.sink_rate_limited.with_label_values(&[sink]).get();
        let one_try = RetryPolicy {
            max_attempts: 1,
            ..policy()
        };
        let r: Result<Option<()>, SinkError> = with_retry_while(
            &one_try,
            &Limiter::pause_only(),
            "C9",
            sink,
            || true,
            || async { Err(SinkError::RateLimited(Duration::from_secs(1))) },
        )
        .await;
        assert!(matches!(r, Err(SinkError::RateLimited(_))));
        assert_eq!(
            m.sink_rate_limited.with_label_values(&[sink]).get(),
            before + 1
        );
        assert_eq!(m.sink_retries.with_label_values(&[sink]).get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limits_pause_the_destination_for_every_caller() {
        let limiter = Arc::new(Limiter::pause_only());
        let calls = Arc::new(AtomicU32::new(0));
        let t0 = Instant::now();
        let first = {
            let (limiter, calls) = (limiter.clone(), calls.clone());
            tokio::spawn(async move {
                with_retry(&policy(), &limiter, "C1", || async {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        Err(SinkError::RateLimited(Duration::from_secs(7)))
                    } else {
                        Ok(Instant::now() - t0)
                    }
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // A second caller for the same destination, arriving during the pause, waits it out.
        let second = with_retry(&policy(), &limiter, "C1", || async {
            Ok(Instant::now() - t0)
        })
        .await
        .unwrap();
        assert_eq!(second, Duration::from_secs(7));
        assert_eq!(first.await.unwrap().unwrap(), Duration::from_secs(7));
        // Other destinations never waited.
        let other = with_retry(&policy(), &limiter, "C2", || async { Ok(()) }).await;
        assert!(other.is_ok());
    }
}
