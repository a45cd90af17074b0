//! The terminal: notifications as a person reads them, for `herald demo` and laptops.

use super::{Delivery, MessageRef, Op, Sink, SinkError};
use futures::future::BoxFuture;
use std::io::Write;
use std::sync::Mutex;

pub struct TextSink {
    out: Mutex<Box<dyn Write + Send>>,
}

impl TextSink {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }

    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }
}

impl Sink for TextSink {
    fn kind(&self) -> &'static str {
        "text"
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<MessageRef, SinkError>> {
        let head = match d.op {
            Op::Post => "new",
            Op::Update => "edit",
            Op::Reply => "reply",
        };
        let body = crate::render::text::render(&d.notification);
        let result = {
            let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
            writeln!(out, "[{head} → {}] {body}\n", d.destination)
                .and_then(|_| out.flush())
                .map_err(|e| SinkError::Transient(e.to_string()))
                .map(|_| serde_json::json!({ "thread": d.thread }))
        };
        Box::pin(async move { result })
    }
}
