//! Per-sink delivery health: failures in a row, when the sink may be tried again, since when it
//! fails (for health alerts), and counts for the metrics.

use std::time::Duration;

use jiff::Timestamp;

use crate::backoff::Backoff;
use crate::defaults;
use crate::when;

/// Per-sink delivery health.
#[derive(Debug, Default, Clone)]
pub(crate) struct SinkHealth {
    pub failures: u32,
    pub blocked_until: Option<Timestamp>,
    pub last_error: Option<String>,
    /// When the current run of failures began.
    pub failing_since: Option<Timestamp>,
    pub sent: u64,
    pub failed: u64,
    /// When a message last went through (the status page).
    pub last_ok: Option<Timestamp>,
}

impl SinkHealth {
    /// True while a failed sink waits for its retry.
    pub(crate) fn blocked(&self, now: Timestamp) -> bool {
        self.blocked_until.is_some_and(|t| t > now)
    }

    /// A message went through.
    pub(crate) fn delivered(&mut self, sink: &str) {
        if self.failing_since.is_some() {
            tracing::info!(sink, "delivery works again");
        }
        self.failures = 0;
        self.blocked_until = None;
        self.failing_since = None;
        self.sent += 1;
        self.last_ok = Some(Timestamp::now());
    }

    /// An attempt failed and may be retried: the sink waits (exponentially longer each time,
    /// and at least as long as the receiver asked).
    pub(crate) fn retry(
        &mut self,
        sink: &str,
        reason: &str,
        after: Option<Duration>,
        initial: Duration,
        now: Timestamp,
    ) {
        let backoff = Backoff {
            initial,
            max_delay: defaults::DELIVERY_RETRY_MAX,
            attempts: u32::MAX,
        };
        let wait = backoff.delay(self.failures).max(after.unwrap_or_default());
        self.failures += 1;
        self.failed += 1;
        self.blocked_until = Some(now.saturating_add(when::signed(wait)).unwrap_or(now));
        self.failing_since.get_or_insert(now);
        self.last_error = Some(reason.to_string());
        tracing::warn!(sink, retry_in = ?wait, "delivery failed: {reason}");
    }

    /// The sink refused the message for good: it is failing (a rotated webhook, a refused
    /// login) until a message goes through again.
    pub(crate) fn parked(&mut self, sink: &str, reason: &str) {
        self.failed += 1;
        self.failing_since.get_or_insert_with(Timestamp::now);
        self.last_error = Some(format!("{reason} (alerts are parked in the dead letters; `trailwatch state redrive` sends them again)"));
        tracing::error!(
            sink,
            "delivery refused for good, alert parked in the dead letters: {reason}"
        );
    }
}
