//! Fencing of deliveries made under a thread's delivery lease.
//!
//! The lease (in the thread's item, see [`crate::correlate::engine::Engine::acquire`]) says which
//! worker may post and edit a thread's messages until when. A worker that is paused (SIGSTOP, a
//! long GC-like stall of its host, a Slack outage that keeps it retrying) may find, when it goes
//! on, that its lease ran out and another worker took the thread over. Its writes to the store
//! are fenced by their condition on the version it read; a chat provider has no such condition,
//! so the worker asks the clock before each attempt: [`under_lease`] runs a delivery with the
//! lease's deadline, and every attempt inside ([`crate::deliver::retry::with_retry_while`])
//! is refused once the wall clock reaches it. What remains is the time between that check and
//! the request leaving, and a request already sent when the process paused (the "post then
//! die" window: the provider may have the message while the store does not know it).

use std::future::Future;

tokio::task_local! {
    static LEASE_UNTIL_MS: i64;
}

/// What is kept off the end of a lease: an attempt is not started in its last half second, so
/// it reaches the provider while the lease still holds (the other workers' clocks are assumed
/// within that of this one's).
pub const MARGIN_MS: i64 = 500;

/// Runs `f` fenced by a delivery lease held until `until` (Unix seconds, as the store keeps it).
pub async fn under_lease<F: Future>(until: i64, f: F) -> F::Output {
    until_ms(until.saturating_mul(1000) - MARGIN_MS, f).await
}

/// Runs `f` with no fence, even inside [`under_lease`]: for work done on behalf of many
/// threads at once (a digest message), which no single thread's lease should stop.
pub async fn unfenced<F: Future>(f: F) -> F::Output {
    until_ms(i64::MAX, f).await
}

/// Runs `f` fenced at `deadline` (Unix milliseconds): no attempt starts at or after it.
pub(crate) async fn until_ms<F: Future>(deadline: i64, f: F) -> F::Output {
    LEASE_UNTIL_MS.scope(deadline, f).await
}

/// Whether the lease this task delivers under has run out (never outside [`under_lease`]).
pub fn expired() -> bool {
    LEASE_UNTIL_MS
        .try_with(|until| now_ms() >= *until)
        .unwrap_or(false)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lease_fences_only_inside_its_scope() {
        assert!(!expired(), "no lease: nothing to fence");
        let now = crate::clock::unix_now();
        assert!(under_lease(now + 30, async { !expired() }).await);
        assert!(under_lease(now - 1, async { expired() }).await);
        // Inside the margin: too late to start an attempt.
        assert!(under_lease(now, async { expired() }).await);
        // Work for many threads is not stopped by one thread's lease.
        assert!(under_lease(now - 1, unfenced(async { !expired() })).await);
    }
}
