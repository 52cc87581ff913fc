//! Every default window, interval, rate, timeout and retry count, named in one place.

use std::time::Duration;

/// Where the daemon keeps its state when the configuration names no `state_dir`.
pub(crate) const STATE_DIR: &str = "/var/lib/trailwatch";
/// How often a source polls.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(60);
/// How far behind its watermark each poll reads again (late delivery: ≥ 20 minutes).
pub(crate) const OVERLAP: Duration = Duration::from_secs(20 * 60);
/// A background sweep re-reads this far back (behind `overlap`), for events that become
/// visible later than `overlap` after their eventTime ("0s" turns it off).
pub(crate) const LATE_SWEEP: Duration = Duration::from_secs(6 * 3600);
/// How often the sweep runs.
pub(crate) const LATE_SWEEP_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// A `lookup_events` source learns its account's regions and aliases again this often.
pub(crate) const DISCOVERY_INTERVAL: Duration = Duration::from_secs(6 * 3600);
/// Account discovery at start gives up after this long (and says what it could not learn).
pub(crate) const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// A CloudWatch Logs event's timestamp is its delivery time, at or after its eventTime:
/// `backfill` reads this much past `--until` so that an event whose eventTime is inside the
/// window but was delivered after it is still found.
pub(crate) const LOGS_DELIVERY_MARGIN: Duration = Duration::from_secs(24 * 3600);
/// The longest window read in one go; a longer catch-up is split, oldest first, so the
/// watermark moves as it goes and memory stays bounded.
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(60 * 60);
/// `LookupEvents` allows 2 calls per second per account and region.
pub(crate) const LOOKUP_EVENTS_RATE: f64 = 2.0;
/// `FilterLogEvents` allows 5 calls per second per account and region.
pub(crate) const FILTER_LOG_EVENTS_RATE: f64 = 5.0;
/// The first retry waits about this long; each later one twice as long, with jitter.
pub(crate) const RETRY_INITIAL: Duration = Duration::from_millis(500);
/// No retry waits longer than this.
pub(crate) const RETRY_MAX_DELAY: Duration = Duration::from_secs(20);
/// Retries of one API call before the sweep gives up (and the next poll starts it again).
pub(crate) const RETRY_ATTEMPTS: u32 = 10;
/// One API call (one attempt) may take this long.
pub(crate) const AWS_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Alerts raised are remembered this long (CloudTrail's own reach), so that a backfill never
/// raises again what was sent.
pub(crate) const RAISED_RETENTION: Duration = Duration::from_secs(90 * 86400);
/// A `files` source looks for new files this often.
/// S3 calls per second of one `s3` source, at most (S3 serves 5,500 reads per second and
/// prefix; a backfill should not be held back by this).
pub(crate) const S3_RATE: f64 = 1000.0;
/// How often an `s3` source with a queue lists its bucket (notifications bring the rest).
pub(crate) const S3_LIST_INTERVAL_WITH_QUEUE: Duration = Duration::from_secs(600);
/// An S3 object that cannot be read is tried again after this long (then twice as long each
/// time, up to 6 hours), while the files after it are read.
pub(crate) const UNREADABLE_RETRY: Duration = Duration::from_secs(300);
/// How often an organization's accounts are listed again.
pub(crate) const ACCOUNTS_INTERVAL: Duration = Duration::from_secs(3600);
pub(crate) const FILES_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// A `files` source reads at most this much of one file (after decompression: a gzip bomb
/// stops here, loudly).
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 30;
/// A record longer than this is reduced (its longest members replaced by a note) so that the
/// rest of it is still judged, and memory stays bounded.
pub(crate) const MAX_RECORD_BYTES: usize = 1 << 20;
/// Repeats of a rule by one principal within this window are summed up in one message.
pub(crate) const GROUP_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Delivery gives up on an alert this long after it was raised (dead letter).
pub(crate) const MAX_DELIVERY_AGE: Duration = Duration::from_secs(24 * 3600);
/// A source or sink failing this long raises a health alert.
pub(crate) const HEALTH_AFTER: Duration = Duration::from_secs(15 * 60);
/// One webhook request (Dooray, Slack, Teams, PagerDuty, webhook) may take this long.
pub(crate) const HTTP_SINK_TIMEOUT: Duration = Duration::from_secs(5);
/// One SMTP session (connect, TLS, login, send) may take this long.
pub(crate) const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// Delivery retries: first wait, and the longest wait between attempts.
pub(crate) const DELIVERY_RETRY_INITIAL: Duration = Duration::from_secs(2);
pub(crate) const DELIVERY_RETRY_MAX: Duration = Duration::from_secs(300);
/// In one delivery pass, a sink's alerts past this many are summed up in one message.
pub(crate) const STORM_AFTER: usize = 20;
/// A clean stop finishes within this long.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// How long a first-seen rule remembers a combination after it was last seen.
pub(crate) const FIRST_SEEN_WINDOW: Duration = Duration::from_secs(30 * 86400);
/// How long a first-seen rule only learns, from the first record of an account.
pub(crate) const FIRST_SEEN_LEARN: Duration = Duration::from_secs(7 * 86400);

/// An enrichment database older than this is said to be stale (`check`).
pub(crate) const ENRICH_STALE: Duration = Duration::from_secs(60 * 86400);

/// The state database's page cache (sled's default is 1 GiB, which a history of 100,000
/// alerts fills): the daemon's memory stays independent of the history's size.
pub(crate) const STATE_CACHE_BYTES: u64 = 32 << 20;
