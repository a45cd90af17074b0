//! Acknowledgement as data: every [`super::Envelope`] carries an [`AckToken`], and whoever
//! finishes the message's work says how it ended. Only the source that made the token acts on
//! the outcome (SQS delete, Kinesis checkpoint, an HTTP answer); a token dropped without an
//! outcome counts as [`Outcome::Release`], so a panic or a forgotten path never deletes.

/// How a message's work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every outcome it caused is durable: delete it (SQS) or let the checkpoint pass it.
    Done,
    /// Not finished (an error, or shutdown came first): leave it for redelivery.
    Release,
    /// It cannot be decoded: never delete it, the queue's redrive moves it to the dead-letter
    /// queue after `maxReceiveCount` receives.
    Reject,
}

impl Outcome {
    /// The `outcome` label of `herald_source_messages_acked_total`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Done => "deleted",
            Outcome::Release => "released",
            Outcome::Reject => "rejected",
        }
    }
}

type Callback = Box<dyn FnOnce(Outcome) + Send + 'static>;

/// The right and the duty to say how one message ended. Consumed by [`AckToken::finish`].
pub struct AckToken {
    callback: Option<Callback>,
}

impl AckToken {
    pub fn new(callback: impl FnOnce(Outcome) + Send + 'static) -> Self {
        Self {
            callback: Some(Box::new(callback)),
        }
    }

    /// A token whose outcome goes nowhere (tests, inspection).
    pub fn noop() -> Self {
        Self::new(|_| {})
    }

    pub fn finish(mut self, outcome: Outcome) {
        if let Some(cb) = self.callback.take() {
            cb(outcome);
        }
    }
}

impl Drop for AckToken {
    fn drop(&mut self) {
        if let Some(cb) = self.callback.take() {
            cb(Outcome::Release);
        }
    }
}

impl std::fmt::Debug for AckToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.callback.is_some() {
            "AckToken(open)"
        } else {
            "AckToken(done)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_dropped_token_releases_and_a_finished_one_reports_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        drop(AckToken::new(move |o| s.lock().expect("lock").push(o)));
        let s = seen.clone();
        AckToken::new(move |o| s.lock().expect("lock").push(o)).finish(Outcome::Done);
        assert_eq!(
            *seen.lock().expect("lock"),
            vec![Outcome::Release, Outcome::Done]
        );
    }
}
