//! Timestamps in every spelling AWS uses, normalised to UTC.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// Serialises a UTC time exactly as chrono's own `Serialize` does (RFC 3339 with `Z`, and a
/// fraction of 3, 6 or 9 digits only when there is one), without the formatting machinery:
/// each notification carries a time or two and is serialised on every delivery, and chrono's
/// way through `Display` was a few percent of a replay.
pub fn ser_opt<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => {
            let mut buf = [0u8; 30];
            match rfc3339(t, &mut buf).and_then(|n| std::str::from_utf8(&buf[..n]).ok()) {
                Some(text) => s.serialize_some(text),
                None => s.serialize_some(t),
            }
        }
        None => s.serialize_none(),
    }
}

/// `t` in RFC 3339 into `buf`, returning the length; `None` for what only chrono spells
/// (years outside 0..=9999, leap seconds).
fn rfc3339(t: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    fn put(buf: &mut [u8], at: usize, value: u32, digits: usize) {
        let mut v = value;
        for i in (0..digits).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    put(buf, 0, year, 4);
    buf[4] = b'-';
    put(buf, 5, t.month(), 2);
    buf[7] = b'-';
    put(buf, 8, t.day(), 2);
    buf[10] = b'T';
    put(buf, 11, t.hour(), 2);
    buf[13] = b':';
    put(buf, 14, t.minute(), 2);
    buf[16] = b':';
    put(buf, 17, t.second(), 2);
    let mut n = 19;
    let (value, digits) = match nanos {
        0 => (0, 0),
        _ if nanos.is_multiple_of(1_000_000) => (nanos / 1_000_000, 3),
        _ if nanos.is_multiple_of(1_000) => (nanos / 1_000, 6),
        _ => (nanos, 9),
    };
    if digits > 0 {
        buf[n] = b'.';
        put(buf, n + 1, value, digits);
        n += 1 + digits;
    }
    buf[n] = b'Z';
    Some(n + 1)
}

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
    if let Some(t) = codebuild_time(s) {
        return Some(t);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%b %d, %Y %I:%M:%S %p") {
        return Some(Utc.from_utc_datetime(&t));
    }
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// CodeBuild's `Sep 1, 2017 4:12:29 PM`, read by hand: chrono reads its format string again on
/// every call, and each of a build's events carries a dozen of these (a few percent of a
/// replay). Anything it does not take goes on to chrono's reading of the same format.
fn codebuild_time(s: &str) -> Option<DateTime<Utc>> {
    let (month, rest) = s.split_once(' ')?;
    let month = match month {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let (day, rest) = rest.split_once(", ")?;
    let (year, rest) = rest.split_once(' ')?;
    let (clock, half) = rest.split_once(' ')?;
    let mut hms = clock.split(':');
    let number = |t: Option<&str>, digits: std::ops::RangeInclusive<usize>| -> Option<u32> {
        let t = t?;
        (digits.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (h, m, sec) = (
        number(hms.next(), 1..=2)?,
        number(hms.next(), 2..=2)?,
        number(hms.next(), 2..=2)?,
    );
    if hms.next().is_some() {
        return None;
    }
    let hour = match (half, h) {
        ("AM", 12) => 0,
        ("AM", 1..=11) => h,
        ("PM", 12) => 12,
        ("PM", 1..=11) => h + 12,
        _ => return None,
    };
    let day = number(Some(day), 1..=2)?;
    let year = i32::try_from(number(Some(year), 4..=4)?).ok()?;
    let t = chrono::NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, m, sec)?;
    Some(Utc.from_utc_datetime(&t))
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

    #[test]
    fn codebuild_times_are_read_by_hand_as_chrono_reads_them() {
        let start = Utc
            .with_ymd_and_hms(2016, 12, 30, 0, 0, 0)
            .single()
            .expect("start");
        for k in 0..20_000i64 {
            let t = start + chrono::Duration::seconds(k * 26_107);
            for fmt in ["%b %-d, %Y %-I:%M:%S %p", "%b %d, %Y %I:%M:%S %p"] {
                let text = t.format(fmt).to_string();
                let chrono = NaiveDateTime::parse_from_str(&text, "%b %d, %Y %I:%M:%S %p")
                    .ok()
                    .map(|n| Utc.from_utc_datetime(&n));
                assert_eq!(codebuild_time(&text), chrono, "{text}");
                assert_eq!(codebuild_time(&text), Some(t), "{text}");
            }
        }
        for bad in [
            "Sep 31, 2017 4:12:29 PM",
            "Sep 1, 2017 13:12:29 PM",
            "Sep 1, 2017 0:12:29 AM",
            "Sept 1, 2017 4:12:29 PM",
            "Sep 1, 2017 4:12 PM",
        ] {
            assert_eq!(codebuild_time(bad), None, "{bad}");
        }
    }

    use super::*;

    #[test]
    fn times_are_serialised_as_chrono_does() {
        #[derive(serde::Serialize)]
        struct Fast(#[serde(serialize_with = "ser_opt")] Option<DateTime<Utc>>);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut seen = 0;
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Seconds from 1970 to 9999, and nanos of every kind: none, millis, micros, nanos.
            let secs = (x % 253_402_300_799) as i64;
            let nanos = match i % 4 {
                0 => 0,
                1 => ((x >> 20) % 1000) as u32 * 1_000_000,
                2 => ((x >> 20) % 1_000_000) as u32 * 1_000,
                _ => ((x >> 20) % 1_000_000_000) as u32,
            };
            let Some(t) = DateTime::from_timestamp(secs, nanos) else {
                continue;
            };
            let want = serde_json::to_string(&Some(t)).unwrap_or_default();
            let got = serde_json::to_string(&Fast(Some(t))).unwrap_or_default();
            assert_eq!(got, want, "{secs} {nanos}");
            seen += 1;
        }
        assert!(seen > 19_000);
        // Outside what RFC 3339 spells with four digits: chrono's own text.
        let far = DateTime::from_timestamp(300_000_000_000, 0);
        assert_eq!(
            serde_json::to_string(&Fast(far)).ok(),
            serde_json::to_string(&far).ok()
        );
        assert_eq!(
            serde_json::to_string(&Fast(None)).ok().as_deref(),
            Some("null")
        );
    }

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
