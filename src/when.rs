//! Durations and points in time as users write them: `15m`, `7d`, `1h 30m`, and RFC 3339
//! times (`2026-11-20T09:00:00Z`) or durations back from now (`7d` = seven days ago).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Parses a duration such as `60s`, `20m`, `7d` or `1h 30m`.
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration '{s}': {e} (write e.g. 30s, 15m, 2h, 7d)"))
}

/// Parses a point in time: RFC 3339, or a duration meaning that long before `now`.
pub(crate) fn point(s: &str, now: Timestamp) -> Result<Timestamp, String> {
    let t = s.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    let ago = duration(t).map_err(|_| {
        format!("invalid time '{s}': write an RFC 3339 time (2026-11-20T09:00:00Z) or a duration back from now (90m, 7d)")
    })?;
    let d = SignedDuration::try_from(ago).map_err(|e| format!("invalid time '{s}': {e}"))?;
    now.checked_sub(d)
        .map_err(|e| format!("invalid time '{s}': {e}"))
}

/// "3m 20s ago" (whole seconds), for messages about the past.
pub(crate) fn ago(now: Timestamp, then: Timestamp) -> String {
    let secs = now.duration_since(then).as_secs().max(0) as u64;
    format!(
        "{} ago",
        humantime::format_duration(Duration::from_secs(secs))
    )
}

/// A span in words, in its largest whole unit: "30 days", "1 hour", "15 minutes", "40 seconds".
pub(crate) fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = match s {
        86_400.. => (s / 86_400, "day"),
        3_600.. => (s / 3_600, "hour"),
        60.. => (s / 60, "minute"),
        _ => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Milliseconds since the epoch, as stored in state.
pub(crate) fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// A record's eventTime in milliseconds (0 when it has none that reads).
pub(crate) fn event_millis(event_time: &str) -> i64 {
    event_time
        .parse::<Timestamp>()
        .map_or(0, |t| t.as_millisecond())
}

/// The timestamp of stored milliseconds.
pub(crate) fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `d` as a signed duration, saturating.
pub(crate) fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_points() {
        assert_eq!(duration("20m").unwrap(), Duration::from_secs(1200));
        assert_eq!(duration("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(duration("soon")
            .unwrap_err()
            .contains("invalid duration 'soon'"));
        let now: Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
        assert_eq!(
            point("1d", now).unwrap(),
            "2026-11-21T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            point("2026-11-20T09:00:00+09:00", now).unwrap(),
            "2026-11-20T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(point("yesterday", now).unwrap_err().contains("RFC 3339"));
        assert_eq!(span(Duration::from_secs(30 * 86400)), "30 days");
        assert_eq!(span(Duration::from_secs(86400 + 7200)), "1 day");
        assert_eq!(span(Duration::from_secs(59)), "59 seconds");
    }
}
