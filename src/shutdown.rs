//! One shutdown signal every task listens to (as mini-redis's `Shutdown`): triggered once, by
//! SIGTERM or Ctrl-C, and seen by readiness (not ready any more), the pump (stop polling) and
//! the settle ticker (cut settle windows short so held acks finish inside the deadline).

use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            tx: Arc::new(tx),
            rx,
        }
    }

    /// Starts the shutdown; every listener sees it. Idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once the shutdown has started (at once if it already has).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        // An error means the sender is gone, which only happens once every clone is dropped.
        let _ = rx.wait_for(|v| *v).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_listener_sees_one_trigger() {
        let s = Shutdown::new();
        let (a, b) = (s.clone(), s.clone());
        assert!(!a.is_triggered());
        let waiting = tokio::spawn(async move { b.wait().await });
        s.trigger();
        s.trigger();
        waiting.await.expect("the waiter ends");
        assert!(a.is_triggered());
        a.wait().await;
    }
}
