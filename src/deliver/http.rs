//! HTTP plumbing shared by the chat sinks: the client they use, and how a status, a
//! `Retry-After` or a transport error becomes a [`SinkError`] with every secret redacted.

use super::SinkError;
use crate::secret::{redact_all, Secret};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use std::time::Duration;

/// A provider asking for longer than this is treated as asking for this: a destination paused
/// for an hour would hold every message meant for it, and the queue redelivers anyway.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(900);
/// What a 429 without a usable `Retry-After` waits.
pub const RETRY_AFTER_DEFAULT: Duration = Duration::from_secs(1);

/// A client whose every request gives up after `timeout` (the per-attempt timeout).
pub fn client(timeout: Duration) -> Result<reqwest::Client, SinkError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
        // A chat API never redirects a post; following one would resend the body elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| SinkError::Rejected(format!("building the HTTP client: {e}")))
}

/// A request that got no response: worth retrying, except a request we could not even build.
/// The URL is stripped and the rest redacted, because webhook URLs carry their credential.
pub fn transport_error(what: &str, e: reqwest::Error, secrets: &[&Secret]) -> SinkError {
    let builder = e.is_builder();
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut msg = format!("{what}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    let msg = redact_all(&msg, secrets);
    if builder {
        SinkError::Rejected(msg)
    } else if timeout {
        SinkError::Transient(format!("{what}: timed out"))
    } else {
        SinkError::Transient(msg)
    }
}

/// A response that is not a success: 429 pauses, 5xx and 408 retry, any other 4xx is refused
/// for good (bad credentials, a deleted webhook, a body the provider will never accept).
pub fn status_error(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    secrets: &[&Secret],
) -> SinkError {
    let msg = redact_all(
        &format!("{what}: HTTP {}: {}", status.as_u16(), snippet(body)),
        secrets,
    );
    if status == StatusCode::TOO_MANY_REQUESTS {
        SinkError::RateLimited(retry_after(headers).unwrap_or(RETRY_AFTER_DEFAULT))
    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        SinkError::Transient(msg)
    } else {
        SinkError::Rejected(msg)
    }
}

/// `Retry-After` in seconds (integer or, as Discord sends, fractional). An HTTP date is not
/// worth a clock read here: the caller falls back to a default.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    seconds(v.trim().parse::<f64>().ok()?)
}

/// Seconds as a pause, capped, ignoring nonsense (negative, NaN).
pub fn seconds(s: f64) -> Option<Duration> {
    if !s.is_finite() || s < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(
        s.min(RETRY_AFTER_MAX.as_secs_f64()),
    ))
}

/// The start of a response body, for an error message: enough to see what the provider said.
pub fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    one_line.trim().to_string()
}

/// Sends `request` and answers like every webhook-style provider: the body of a 2xx, else the
/// error its status means (429 with its `Retry-After`, 5xx transient, 4xx rejected), with
/// `secrets` redacted from whatever is said.
pub async fn send(
    what: &str,
    request: reqwest::RequestBuilder,
    secrets: &[&Secret],
) -> Result<String, SinkError> {
    let resp = request
        .send()
        .await
        .map_err(|e| transport_error(what, e, secrets))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp
        .text()
        .await
        .map_err(|e| transport_error(what, e, secrets))?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(status_error(what, status, &headers, &text, secrets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, retry.parse().unwrap());
        h
    }

    #[test]
    fn statuses_classify() {
        let h = HeaderMap::new();
        assert!(matches!(
            status_error("x", StatusCode::TOO_MANY_REQUESTS, &headers("2"), "", &[]),
            SinkError::RateLimited(d) if d == Duration::from_secs(2)
        ));
        assert!(matches!(
            status_error("x", StatusCode::TOO_MANY_REQUESTS, &h, "", &[]),
            SinkError::RateLimited(d) if d == RETRY_AFTER_DEFAULT
        ));
        assert!(matches!(
            status_error("x", StatusCode::SERVICE_UNAVAILABLE, &h, "", &[]),
            SinkError::Transient(_)
        ));
        assert!(matches!(
            status_error("x", StatusCode::NOT_FOUND, &h, "", &[]),
            SinkError::Rejected(_)
        ));
    }

    #[test]
    fn retry_after_parses_fractions_and_caps() {
        assert_eq!(
            retry_after(&headers("0.5")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(retry_after(&headers("99999")), Some(RETRY_AFTER_MAX));
        assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(&headers("-1")), None);
    }

    #[test]
    fn error_bodies_are_redacted() {
        let s = Secret::new("sekrit-token-value");
        let e = status_error(
            "x",
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            "bad token sekrit-token-value",
            &[&s],
        );
        assert!(!e.to_string().contains("sekrit"));
    }
}
