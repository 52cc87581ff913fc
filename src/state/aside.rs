//! S3 objects that could not be read (refused by a bucket policy or a KMS key, say), set aside
//! with the error so that the objects after them are read meanwhile: each is tried again with
//! a growing wait until it can be read (then it is read and alerted like any other) or is gone.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::keys::key2;
use super::open::{Result, State};
use super::StateError;
use crate::when;

/// The longest wait before an object set aside is tried again.
const MAX_WAIT_MS: i64 = 6 * 3600 * 1000;

/// An object set aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAside {
    /// Its delivery time (from its name), for its read mark once it is read.
    pub time_ms: i64,
    /// Why it could not be read, the last time it was tried.
    pub error: String,
    /// When it was first set aside, and how many times it was tried.
    pub since_ms: i64,
    pub tries: u32,
    /// When it is tried again, and the first wait (it doubles with each try).
    pub next_ms: i64,
    pub first_wait_ms: i64,
}

/// One object set aside, as `state show` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AsideRow {
    pub source: String,
    pub stream: String,
    pub key: String,
    pub since: Timestamp,
    pub tries: u32,
    pub next_try: Timestamp,
    pub error: String,
}

/// `source` NUL `stream` NUL `key`.
fn aside_key(source: &str, stream: &str, key: &str) -> Vec<u8> {
    key2(source, &format!("{stream}\0{key}"))
}

impl SetAside {
    /// Set aside now, after a failed read; tried again after `first_wait`.
    pub fn new(
        time_ms: i64,
        error: String,
        now: Timestamp,
        first_wait: std::time::Duration,
    ) -> SetAside {
        let now = when::millis(now);
        let first_wait_ms = i64::try_from(first_wait.as_millis()).unwrap_or(MAX_WAIT_MS);
        SetAside {
            time_ms,
            error,
            since_ms: now,
            tries: 1,
            next_ms: now + first_wait_ms,
            first_wait_ms,
        }
    }

    /// Tried again at `now`, and still not readable.
    pub fn failed_again(&mut self, error: String, now: Timestamp) {
        self.tries += 1;
        self.error = error;
        let wait = self
            .first_wait_ms
            .saturating_mul(1 << self.tries.min(12).saturating_sub(1))
            .min(MAX_WAIT_MS);
        self.next_ms = when::millis(now) + wait;
    }
}

impl State {
    /// Sets an object of a source's stream aside (or updates it), made durable at once.
    pub fn set_aside(&self, source: &str, stream: &str, key: &str, a: &SetAside) -> Result<()> {
        let v = serde_json::to_vec(a).expect("a set-aside entry serializes");
        self.with(|s| {
            s.aside.insert(aside_key(source, stream, key), v)?;
            s.flush()
        })
    }

    /// An object is readable again, or gone: no longer set aside.
    pub fn clear_aside(&self, source: &str, stream: &str, key: &str) -> Result<()> {
        self.with(|s| s.aside.remove(aside_key(source, stream, key)).map(|_| ()))
    }

    /// The objects of a source's stream set aside, with whether each is due at `now`.
    pub fn aside(&self, source: &str, stream: &str) -> Result<Vec<(String, SetAside)>> {
        let prefix = aside_key(source, stream, "");
        let entries = self.with(|s| {
            s.aside
                .scan_prefix(&prefix)
                .collect::<std::result::Result<Vec<_>, _>>()
        })?;
        entries
            .into_iter()
            .map(|(k, v)| {
                let key = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                serde_json::from_slice(&v)
                    .map(|a| (key.clone(), a))
                    .map_err(|e| StateError::Corrupt(format!("set-aside object {key}: {e}")))
            })
            .collect()
    }

    /// Every object set aside, for `state show` and `check`.
    pub fn all_aside(&self) -> Result<Vec<AsideRow>> {
        let entries = self.with(|s| s.aside.iter().collect::<std::result::Result<Vec<_>, _>>())?;
        let mut rows = Vec::new();
        for (k, v) in entries {
            let k = String::from_utf8_lossy(&k).into_owned();
            let mut parts = k.splitn(3, '\0');
            let (source, stream, key) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let a: SetAside = serde_json::from_slice(&v)
                .map_err(|e| StateError::Corrupt(format!("set-aside object {key}: {e}")))?;
            rows.push(AsideRow {
                source,
                stream,
                key,
                since: when::from_millis(a.since_ms),
                tries: a.tries,
                next_try: when::from_millis(a.next_ms),
                error: a.error,
            });
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_set_aside_waits_longer_each_time_and_is_kept_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let first = std::time::Duration::from_secs(300);
        let mut a = SetAside::new(1, "AccessDenied".into(), now, first);
        assert_eq!(a.next_ms - when::millis(now), 300_000);
        a.failed_again("AccessDenied".into(), now);
        assert_eq!(a.next_ms - when::millis(now), 600_000);
        for _ in 0..20 {
            a.failed_again("x".into(), now);
        }
        assert_eq!(a.next_ms - when::millis(now), MAX_WAIT_MS);
        s.set_aside("src", "1/us-east-1", "AWSLogs/k.json.gz", &a)
            .unwrap();
        let got = s.aside("src", "1/us-east-1").unwrap();
        assert_eq!(got, [("AWSLogs/k.json.gz".to_string(), a.clone())]);
        assert_eq!(s.all_aside().unwrap()[0].key, "AWSLogs/k.json.gz");
        assert!(s.aside("src", "2/us-east-1").unwrap().is_empty());
        s.clear_aside("src", "1/us-east-1", "AWSLogs/k.json.gz")
            .unwrap();
        assert!(s.all_aside().unwrap().is_empty());
    }
}
