//! JSON Lines: one object per delivery, for replay, tests and piping.
//!
//! `{"op": "post"|"update"|"reply", "thread": ..., "destination": ..., "notification": {...}}`

use super::{Delivery, MessageRef, Sink, SinkError};
use futures::future::BoxFuture;
use std::io::Write;
use std::sync::Mutex;

pub struct JsonlSink {
    /// The output, and the buffer each line is built in (kept: a fresh one per line cost an
    /// allocation large enough to make the allocator consolidate its free lists every time).
    out: Mutex<(Box<dyn Write + Send>, Vec<u8>)>,
}

impl JsonlSink {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: Mutex::new((out, Vec::new())),
        }
    }

    /// Appends to a file (created if missing), so a restarted worker adds to what is there.
    pub fn append(path: &std::path::Path) -> std::io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self::new(Box::new(f)))
    }

    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }
}

impl Sink for JsonlSink {
    fn kind(&self) -> &'static str {
        "jsonl"
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        // Serialised straight from borrowed fields: no intermediate `Value` on the hot path.
        #[derive(serde::Serialize)]
        struct Line<'b> {
            op: &'b str,
            thread: &'b str,
            destination: &'b str,
            notification: &'b crate::notification::Notification,
        }
        let line = Line {
            op: d.op.as_str(),
            thread: &d.thread,
            destination: &d.destination,
            notification: &d.notification,
        };
        let result = (|| {
            let mut guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
            let (out, text) = &mut *guard;
            text.clear();
            serde_json::to_writer(&mut *text, &line)
                .map_err(|e| SinkError::Rejected(e.to_string()))?;
            text.push(b'\n');
            // One write call per line: lines from concurrent deliveries never interleave.
            out.write_all(text)
                .and_then(|_| out.flush())
                .map_err(|e| SinkError::Transient(e.to_string()))?;
            if text.capacity() > 1 << 20 {
                // One huge notification does not keep its buffer for good.
                *text = Vec::new();
            }
            Ok(serde_json::json!({ "thread": d.thread }))
        })();
        Box::pin(async move { result })
    }
}
