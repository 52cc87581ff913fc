//! AWS's clock, as one source sees it. Windows and watermarks must be in AWS's time, not the
//! host's: a host clock ahead of AWS by more than `overlap` + `poll_interval` would put every
//! window in AWS's future, and polls would succeed with nothing in them. Every response's `Date`
//! header (second resolution) gives the skew; `now()` is the host's time corrected by it.
//!
//! The same corrected time signs the SDK's requests (`TimeSource`), so a host clock off by more
//! than SigV4's 5 minutes still gets its calls accepted once one answer has told the skew.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_cloudtrail::config::ConfigBag;
use aws_smithy_async::time::TimeSource;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use jiff::Timestamp;

/// A skew at or above this is logged (once) and worth an operator's look.
pub(crate) const SKEW_WARNING: Duration = Duration::from_secs(30);

/// AWS's time for one source: the host's clock plus the last skew measured.
#[derive(Debug)]
pub struct Clock {
    /// The source's name, for the log line.
    source: String,
    /// AWS's time minus the host's, in milliseconds.
    skew_ms: AtomicI64,
    /// Tests drive the host clock by hand (ms since the epoch; `i64::MIN`: the real one).
    manual_host_ms: AtomicI64,
    measured: AtomicBool,
    warned: AtomicBool,
}

impl Clock {
    pub fn new(source: &str) -> Clock {
        Clock {
            source: source.to_string(),
            skew_ms: AtomicI64::new(0),
            manual_host_ms: AtomicI64::new(i64::MIN),
            measured: AtomicBool::new(false),
            warned: AtomicBool::new(false),
        }
    }

    /// Sets the host clock by hand (tests: a host 15 minutes ahead of AWS).
    pub fn set_host(&self, t: Timestamp) {
        self.manual_host_ms
            .store(t.as_millisecond(), Ordering::SeqCst);
    }

    /// The host's time.
    pub fn host(&self) -> Timestamp {
        match self.manual_host_ms.load(Ordering::SeqCst) {
            i64::MIN => Timestamp::now(),
            ms => Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH),
        }
    }

    /// AWS's time now, as well as it is known.
    pub fn now(&self) -> Timestamp {
        let ms = self.host().as_millisecond() + self.skew_ms.load(Ordering::SeqCst);
        Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// AWS's time minus the host's; `None` until an answer has been seen.
    pub fn skew(&self) -> Option<jiff::SignedDuration> {
        self.measured
            .load(Ordering::SeqCst)
            .then(|| jiff::SignedDuration::from_millis(self.skew_ms.load(Ordering::SeqCst)))
    }

    /// Takes an answer's `Date` header, received now.
    pub fn observe_date(&self, date: &str) {
        let Ok(t) = jiff::fmt::rfc2822::parse(date.trim()) else {
            return;
        };
        // The header is cut to the second: its middle is half a second later.
        let aws_ms = t.timestamp().as_millisecond() + 500;
        let skew = aws_ms - self.host().as_millisecond();
        // Within a second the header cannot tell more than the host clock does.
        let skew = if skew.abs() < 1_000 { 0 } else { skew };
        self.skew_ms.store(skew, Ordering::SeqCst);
        self.measured.store(true, Ordering::SeqCst);
        if skew.unsigned_abs() >= SKEW_WARNING.as_millis() as u64
            && !self.warned.swap(true, Ordering::SeqCst)
        {
            let d = humantime::format_duration(Duration::from_secs(skew.unsigned_abs() / 1000));
            let side = if skew < 0 { "ahead of" } else { "behind" };
            tracing::warn!(
                source = %self.source,
                skew_seconds = skew / 1000,
                "the host clock is {d} {side} AWS's: windows and watermarks use AWS's time (from the Date of its answers); fix the host's time sync (chrony, systemd-timesyncd)"
            );
        }
    }
}

impl TimeSource for Clock {
    fn now(&self) -> SystemTime {
        let ms = Clock::now(self).as_millisecond();
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
    }
}

/// The interceptor that reads every answer's `Date` into a `Clock`.
#[derive(Debug, Clone)]
pub(crate) struct DateHeader(pub std::sync::Arc<Clock>);

impl Intercept for DateHeader {
    fn name(&self) -> &'static str {
        "trailwatch::DateHeader"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(d) = context.response().headers().get("date") {
            self.0.observe_date(d);
        }
        Ok(())
    }
}

/// The `TimeSource` view of a shared clock (the SDK takes ownership of its time source).
#[derive(Debug, Clone)]
pub(crate) struct SharedClock(pub std::sync::Arc<Clock>);

impl TimeSource for SharedClock {
    fn now(&self) -> SystemTime {
        TimeSource::now(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skew_comes_from_the_date_header() {
        let c = Clock::new("s");
        let host: Timestamp = "2026-11-23T10:15:00Z".parse().unwrap();
        c.set_host(host);
        assert_eq!(c.now(), host, "no answer yet: the host's time");
        assert_eq!(c.skew(), None);
        // AWS says 10:00:00: the host is 15 minutes ahead.
        c.observe_date("Mon, 23 Nov 2026 10:00:00 GMT");
        assert_eq!(c.skew().unwrap().as_secs(), -899);
        let now = c.now();
        assert!(
            now >= "2026-11-23T10:00:00Z".parse().unwrap()
                && now < "2026-11-23T10:00:01Z".parse().unwrap(),
            "{now}"
        );
        // A host in step stays exact.
        c.observe_date("Mon, 23 Nov 2026 10:15:00 GMT");
        assert_eq!(c.now(), host);
        c.observe_date("not a date");
        assert_eq!(c.now(), host);
    }
}
