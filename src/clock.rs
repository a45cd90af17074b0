//! The wall clock, read only at the edges (sources stamp what they receive, the worker's loop
//! says what time it is): the pure core takes time as a parameter.

/// Seconds since the Unix epoch; 0 if the clock is before it.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
