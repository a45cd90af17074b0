//! The wall clock, read only at the edges (sources stamp what they receive, the worker's loop
//! says what time it is): the pure core takes time as a parameter.

/// Seconds since the Unix epoch; 0 if the clock is before it.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Where the worker's loop reads "now": the wall clock in `herald run`, tokio's clock where a
/// test drives the loop on a paused clock (the limiter, the digests and the test servers read
/// that one too). `origin` is the Unix time the tokio clock's start stands for.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    Wall,
    Tokio {
        origin: i64,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// Tokio's clock from now on, reading `origin` at this instant.
    pub fn tokio(origin: i64) -> Self {
        Clock::Tokio {
            origin,
            start: tokio::time::Instant::now(),
        }
    }

    /// Seconds since the Unix epoch, on this clock.
    pub fn now(&self) -> i64 {
        match self {
            Clock::Wall => unix_now(),
            Clock::Tokio { origin, start } => origin + start.elapsed().as_secs() as i64,
        }
    }
}
