//! A bounded LRU of thread items in front of the store, so a warm worker reads each thread from
//! DynamoDB at most once. Entries expire after a TTL so a thread another worker moved on is
//! eventually re-read even without a conflict; a stale entry is harmless anyway, because the
//! write it leads to fails its version condition and the store returns the current item.

use super::Thread;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Per key: when it was cached, its version, the thread.
type Entries = LruCache<String, (Instant, u64, Arc<Thread>)>;

pub struct Cache {
    inner: Mutex<Entries>,
    ttl: Duration,
}

impl Cache {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let cap = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            inner: Mutex::new(LruCache::new(cap)),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Entries are inserted whole; a panic elsewhere cannot leave one half-written.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<(u64, Arc<Thread>)> {
        let mut c = self.lock();
        match c.get(key) {
            Some((at, v, t)) if at.elapsed() < self.ttl => Some((*v, t.clone())),
            Some(_) => {
                c.pop(key);
                None
            }
            None => None,
        }
    }

    /// Whether a live entry is cached (without touching its place in the LRU).
    pub fn contains(&self, key: &str) -> bool {
        self.lock()
            .peek(key)
            .is_some_and(|(at, _, _)| at.elapsed() < self.ttl)
    }

    pub fn put(&self, key: &str, version: u64, thread: Arc<Thread>) {
        self.lock()
            .put(key.to_owned(), (Instant::now(), version, thread));
    }

    /// The soonest timer after `after` among the cached threads (stale entries included: a
    /// timer found that way only makes its caller look again).
    pub fn min_wake_after(&self, after: i64) -> Option<i64> {
        self.lock()
            .iter()
            .filter_map(|(_, (_, _, t))| t.wake)
            .filter(|w| *w > after)
            .min()
    }

    pub fn invalidate(&self, key: &str) {
        self.lock().pop(key);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
