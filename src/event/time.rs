//! Timestamps in every spelling AWS uses, normalised to UTC.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// Parses the time formats seen in AWS events:
/// RFC 3339 (`2018-05-22T17:53:36Z`, with or without fraction), `+0000` offsets
/// (`2021-09-27T01:38:19.630+0000`), minutes-only approval expiry (`2022-08-30T11:09Z`),
/// CodeBuild's US locale (`Sep 1, 2017 4:12:29 PM`, taken as UTC: that is what CodeBuild
/// emits), RFC 2822 (`Sun, 05 Jun 2016 05:01:10 GMT`, AWS Health) and epoch seconds as a
/// string (`1446744188.595`, CodeDeploy triggers).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit() {
        if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
            return Some(t.with_timezone(&Utc));
        }
        for fmt in [
            "%Y-%m-%dT%H:%MZ",
            "%Y-%m-%dT%H:%M:%S%.fZ",
            "%Y-%m-%d %H:%M:%S%.f",
        ] {
            if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
                return Some(Utc.from_utc_datetime(&t));
            }
        }
        return epoch(s);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%b %d, %Y %I:%M:%S %p") {
        return Some(Utc.from_utc_datetime(&t));
    }
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Epoch seconds with an optional decimal fraction, read digit by digit so `1446744188.595`
/// is exactly .595 and not the nearest float.
fn epoch(s: &str) -> Option<DateTime<Utc>> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || whole.len() > 11 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let mut nanos: u32 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Utc.timestamp_opt(secs, nanos).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        parse_time(s)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    }

    #[test]
    fn every_spelling() {
        assert_eq!(iso("2018-05-22T17:53:36Z"), "2018-05-22T17:53:36.000Z");
        assert_eq!(iso("2023-12-20T11:13:23.742Z"), "2023-12-20T11:13:23.742Z");
        assert_eq!(
            iso("2021-09-27T01:38:19.630+0000"),
            "2021-09-27T01:38:19.630Z"
        );
        assert_eq!(iso("2022-08-30T11:09Z"), "2022-08-30T11:09:00.000Z");
        assert_eq!(iso("Sep 1, 2017 4:12:29 PM"), "2017-09-01T16:12:29.000Z");
        assert_eq!(iso("May 22, 2018 12:52:17 AM"), "2018-05-22T00:52:17.000Z");
        assert_eq!(
            iso("Sun, 05 Jun 2016 05:01:10 GMT"),
            "2016-06-05T05:01:10.000Z"
        );
        assert_eq!(iso("1446744188.595"), "2015-11-05T17:23:08.595Z");
        assert_eq!(iso("not a time"), "");
        assert_eq!(iso(""), "");
    }
}
