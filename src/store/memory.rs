//! The embedded store: a map behind a mutex, with the same conditional-write contract as
//! DynamoDB so the correlator cannot tell them apart.

use super::{Item, Put, Store, StoreError};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<String, Item>>,
    reads: AtomicU64,
    writes: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// (reads, writes) served so far, for cost tests.
    pub fn requests(&self) -> (u64, u64) {
        (
            self.reads.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Item>> {
        // A poisoned lock only means another thread panicked mid-insert of a whole value; the
        // map itself is still consistent, so keep serving.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemoryStore {
    fn in_process(&self) -> bool {
        true
    }

    fn get<'a>(&'a self, pk: &'a str) -> BoxFuture<'a, Result<Option<Item>, StoreError>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let item = self.lock().get(pk).cloned();
        Box::pin(async move { Ok(item) })
    }

    fn put<'a>(
        &'a self,
        pk: &'a str,
        item: &'a Item,
        expected: Option<u64>,
    ) -> BoxFuture<'a, Result<Put, StoreError>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut items = self.lock();
        let current = items.get(pk);
        let ok = match (current, expected) {
            (None, None) => true,
            (Some(c), Some(v)) => c.version == v,
            _ => false,
        };
        let out = if ok {
            items.insert(pk.to_owned(), item.clone());
            Put::Written
        } else {
            Put::Conflict(current.cloned())
        };
        Box::pin(async move { Ok(out) })
    }

    fn due<'a>(
        &'a self,
        now: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<(String, i64)>, StoreError>> {
        let out = self
            .lock()
            .iter()
            .filter_map(|(k, v)| v.wake.filter(|w| *w <= now).map(|w| (k.clone(), w)))
            .take(limit)
            .collect();
        Box::pin(async move { Ok(out) })
    }

    fn scan_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Item)>, StoreError>> {
        let out = self
            .lock()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Box::pin(async move { Ok(out) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(v: u64) -> Item {
        Item {
            version: v,
            wake: None,
            state: vec![],
            expires_at: 0,
        }
    }

    #[tokio::test]
    async fn conditional_writes() {
        let s = MemoryStore::new();
        assert_eq!(s.put("a", &item(1), None).await.ok(), Some(Put::Written));
        assert_eq!(
            s.put("a", &item(1), None).await.ok(),
            Some(Put::Conflict(Some(item(1))))
        );
        assert_eq!(s.put("a", &item(2), Some(1)).await.ok(), Some(Put::Written));
        assert_eq!(
            s.put("a", &item(2), Some(1)).await.ok(),
            Some(Put::Conflict(Some(item(2))))
        );
        assert_eq!(
            s.put("b", &item(2), Some(1)).await.ok(),
            Some(Put::Conflict(None))
        );
        let keys: Vec<_> = s
            .scan_prefix("a")
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["a"]);
    }
}
