//! Pacing per destination: a GCRA budget per destination key (`governor` inside one process, or
//! [`FleetLimiter`] shared by the fleet through DynamoDB), and a pause that a provider's
//! `Retry-After` puts on the whole destination, for every caller.
//!
//! The clock is tokio's, so tests pace and pause on a paused clock. Keys are destination
//! names or channel ids, never URLs: they show up in logs.

use super::fleet_limiter::FleetLimiter;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde::Deserialize;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// governor's view of tokio's clock (which a test can pause and advance).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> Self::Instant {
        Instant::now().into_std()
    }
}

type Gcra = RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    TokioClock,
    NoOpMiddleware<std::time::Instant>,
>;

/// `requests` per `per_ms` milliseconds, spread evenly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub requests: NonZeroU32,
    pub per_ms: u64,
}

impl Rate {
    pub const fn new(requests: NonZeroU32, per: Duration) -> Self {
        Self {
            requests,
            per_ms: per.as_millis() as u64,
        }
    }

    /// Slack: 50 requests a minute per channel, one every 1.2 s. `chat.postMessage` allows about
    /// one a second per channel, but `chat.update` is a Tier 3 method (about 50 a minute), and a
    /// living message is mostly edits: at one a second a storm's edits were refused.
    pub const SLACK: Rate = Rate::new(
        match NonZeroU32::new(50) {
            Some(n) => n,
            None => NonZeroU32::MIN,
        },
        Duration::from_secs(60),
    );
    /// Discord: 5 requests per 2 seconds per webhook (the bucket its headers report).
    pub const DISCORD: Rate = Rate::new(
        match NonZeroU32::new(5) {
            Some(n) => n,
            None => NonZeroU32::MIN,
        },
        Duration::from_secs(2),
    );
    /// Microsoft Teams incoming webhooks: 4 requests per second.
    pub const TEAMS: Rate = Rate::new(
        match NonZeroU32::new(4) {
            Some(n) => n,
            None => NonZeroU32::MIN,
        },
        Duration::from_secs(1),
    );

    /// The time between two requests: `per / requests`.
    pub fn period(self) -> Duration {
        Duration::from_millis(self.per_ms) / self.requests.get()
    }

    /// The GCRA quota: one request per `per / requests`, burst of one. Providers count in fixed
    /// windows; a burst allowed at the end of one window plus the next window's share would
    /// exceed theirs, so requests are spaced evenly instead.
    fn quota(self) -> Option<Quota> {
        Quota::with_period(self.period()).map(|q| q.allow_burst(NonZeroU32::MIN))
    }
}

pub struct Limiter {
    gcra: Option<Gcra>,
    period: Option<Duration>,
    /// The fleet's shared budget; the local one is the fallback when DynamoDB cannot answer.
    fleet: Option<Arc<FleetLimiter>>,
    paused: Mutex<HashMap<String, Instant>>,
    /// When each key's budget next allows a request, by this process's own sends.
    next_free: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("period", &self.period)
            .field("shared", &self.fleet.is_some())
            .finish()
    }
}

/// Past this many remembered pauses, the expired ones are dropped.
const PAUSES_KEPT: usize = 1024;

impl Limiter {
    /// Paces each key at `rate`. A zero-length period means no pacing, only pauses.
    pub fn new(rate: Rate) -> Self {
        let quota = rate.quota();
        Self {
            period: quota.is_some().then(|| rate.period()),
            gcra: quota.map(|q| RateLimiter::new(q, DefaultKeyedStateStore::default(), TokioClock)),
            fleet: None,
            paused: Mutex::new(HashMap::new()),
            next_free: Mutex::new(HashMap::new()),
        }
    }

    /// Takes each request from the fleet's shared budget (the same rate, for all workers
    /// together), and shares the pauses providers ask for.
    pub fn shared(mut self, fleet: Arc<FleetLimiter>) -> Self {
        self.fleet = Some(fleet);
        self
    }

    pub fn slack() -> Self {
        Self::new(Rate::SLACK)
    }

    pub fn discord() -> Self {
        Self::new(Rate::DISCORD)
    }

    pub fn teams() -> Self {
        Self::new(Rate::TEAMS)
    }

    /// No budget of its own, but still honours the pauses a provider asks for: for destinations
    /// without a documented rate (webhooks, SNS).
    pub fn pause_only() -> Self {
        Self {
            gcra: None,
            period: None,
            fleet: None,
            paused: Mutex::new(HashMap::new()),
            next_free: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a request to `key` now would have to wait: the destination is paused, or this
    /// process used its budget less than a period ago. (The digest stage asks, to tell a run of
    /// posts that the destination cannot keep up with from posts it takes in its stride.)
    pub fn busy(&self, key: &str) -> bool {
        let now = Instant::now();
        self.paused_until(key).is_some()
            || self
                .next_free
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(key)
                .is_some_and(|t| *t > now)
    }

    fn granted(&self, key: &str) {
        let Some(period) = self.period else { return };
        let mut next = self.next_free.lock().unwrap_or_else(|p| p.into_inner());
        if next.len() > PAUSES_KEPT {
            let now = Instant::now();
            next.retain(|_, t| *t > now);
        }
        next.insert(key.to_owned(), Instant::now() + period);
    }

    /// Waits until `key` may send one request, and takes that request from its budget.
    pub async fn until_ready(&self, key: &str) {
        let mut shared = self.fleet.as_ref().zip(self.period);
        loop {
            if let Some(until) = self.paused_until(key) {
                tokio::time::sleep_until(until).await;
                // Someone may have paused the destination again while this caller slept.
                continue;
            }
            if let Some((fleet, period)) = shared {
                match fleet.reserve(key, period).await {
                    Ok(at) => {
                        tokio::time::sleep_until(at).await;
                        // A pause that arrived while waiting for the slot still holds.
                        if let Some(until) = self.paused_until(key) {
                            tokio::time::sleep_until(until).await;
                        }
                        self.granted(key);
                        return;
                    }
                    Err(e) => {
                        fleet
                            .stats
                            .fallbacks
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!(destination = key, error = %e, "pacing with this worker's own budget");
                        shared = None;
                        continue;
                    }
                }
            }
            let Some(gcra) = &self.gcra else { return };
            match gcra.check_key(&key.to_owned()) {
                Ok(()) => {
                    self.granted(key);
                    return;
                }
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await
                }
            }
        }
    }

    /// Holds every request to `key` for `d` (a 429's `Retry-After`). A shorter pause never
    /// cuts a longer one short.
    pub fn pause(&self, key: &str, d: Duration) {
        if let Some(fleet) = &self.fleet {
            let (fleet, k) = (fleet.clone(), key.to_owned());
            // Best effort and off the caller's path: this worker's own pause below holds anyway.
            tokio::spawn(async move {
                if let Err(e) = fleet.pause(&k, d).await {
                    tracing::debug!(destination = %k, error = %e, "could not share a pause");
                }
            });
        }
        let until = Instant::now() + d;
        let mut paused = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        let e = paused.entry(key.to_owned()).or_insert(until);
        if *e < until {
            *e = until;
        }
        if paused.len() > PAUSES_KEPT {
            let now = Instant::now();
            paused.retain(|_, t| *t > now);
        }
    }

    /// How long `key` is still paused for, if it is.
    pub fn paused_for(&self, key: &str) -> Option<Duration> {
        self.paused_until(key).map(|t| t - Instant::now())
    }

    fn paused_until(&self, key: &str) -> Option<Instant> {
        let paused = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        paused.get(key).copied().filter(|t| *t > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_per_key() {
        let l = Limiter::slack();
        let t0 = Instant::now();
        let mut at = Vec::new();
        for _ in 0..4 {
            l.until_ready("C1").await;
            at.push((Instant::now() - t0).as_millis());
        }
        // 50 a minute: chat.update's Tier 3, within chat.postMessage's one a second.
        assert_eq!(at, vec![0, 1200, 2400, 3600]);
        // Another channel has its own budget.
        l.until_ready("C2").await;
        assert_eq!((Instant::now() - t0).as_millis(), 3600);
    }

    #[tokio::test(start_paused = true)]
    async fn discord_and_teams_spread_their_windows() {
        let l = Limiter::discord();
        let t0 = Instant::now();
        for _ in 0..6 {
            l.until_ready("hook").await;
        }
        // Six requests, 400 ms apart: never more than five in any two seconds.
        assert_eq!((Instant::now() - t0).as_millis(), 2000);
        let l = Limiter::teams();
        let t0 = Instant::now();
        for _ in 0..5 {
            l.until_ready("hook").await;
        }
        assert_eq!((Instant::now() - t0).as_millis(), 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller_of_that_key_only() {
        let l = std::sync::Arc::new(Limiter::pause_only());
        let t0 = Instant::now();
        l.pause("C1", Duration::from_secs(3));
        l.pause("C1", Duration::from_secs(1)); // shorter: ignored
        let a = tokio::spawn({
            let l = l.clone();
            async move {
                l.until_ready("C1").await;
                Instant::now() - t0
            }
        });
        let b = tokio::spawn({
            let l = l.clone();
            async move {
                l.until_ready("C1").await;
                Instant::now() - t0
            }
        });
        l.until_ready("C2").await;
        assert_eq!(Instant::now() - t0, Duration::ZERO);
        assert_eq!(a.await.unwrap(), Duration::from_secs(3));
        assert_eq!(b.await.unwrap(), Duration::from_secs(3));
        assert_eq!(l.paused_for("C1"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_extended_while_waiting_is_honoured() {
        let l = std::sync::Arc::new(Limiter::pause_only());
        let t0 = Instant::now();
        l.pause("k", Duration::from_secs(1));
        let waiter = tokio::spawn({
            let l = l.clone();
            async move {
                l.until_ready("k").await;
                Instant::now() - t0
            }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        l.pause("k", Duration::from_secs(2));
        assert_eq!(waiter.await.unwrap(), Duration::from_millis(2500));
    }
}
