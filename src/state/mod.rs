//! The state database (sled), the only module that touches it: per-stream watermarks (and
//! since when each stream has been polled), the set of alerts already raised (event ID + rule),
//! the outbox of alerts waiting for delivery (in eventTime order, whatever order they were
//! read in), the dead letters, and what a `files` source has read.
//!
//! The invariant that makes delivery exactly-once: an alert enters the outbox in the same
//! transaction that records it as raised, and a watermark only moves after the alerts before it
//! are durable (`flush` survives power loss, see `store`). A crash at any point leaves either
//! nothing (the window is read again) or the alert in the outbox (it is delivered, and not
//! raised again).
//!
//! A write that fails (a full disk) leaves sled unusable until it is opened again: the state
//! then says it is broken, and `recover` reopens it (its data intact) once writes work again.

mod keys;
mod outbox;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use jiff::Timestamp;
use serde::Serialize;

pub use self::keys::EntryId;
use self::keys::{i64_of, key2, split2};
pub use self::outbox::OutboxEntry;
use self::store::Store;
use crate::rules::threshold::{Tallies, Tally};
use crate::source::files::{FileMark, Stamp};
use crate::when;

/// Errors of the state database, with the directory named and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state directory {0} is in use by another trailwatch process (stop it first, or give this one its own state_dir)")]
    Locked(PathBuf),
    #[error("cannot open the state database in {}: {error} — it may be damaged: restore {} from a backup, or move it aside to start a new one (a new state reads `overlap` back from now, and every file of a files source again: their alerts are sent again)", dir.display(), dir.display())]
    Open { dir: PathBuf, error: String },
    #[error("the state database in {} is empty, but it held data before (its files were deleted or damaged): starting from it would read everything again and send every alert again. Restore {} from a backup, or, to start over on purpose, move the whole folder aside", .0.display(), .0.display())]
    Emptied(PathBuf),
    #[error("the state database in {} cannot be written: {error} (a full disk?); it is opened again once writes work", dir.display())]
    Write { dir: PathBuf, error: String },
    #[error("state database: a stored entry is unreadable: {0}")]
    Corrupt(String),
}

/// The state is not writable: since when, and why.
#[derive(Debug, Clone)]
pub struct Broken {
    pub since: Timestamp,
    pub error: String,
}

/// How long writes must keep working after the state was opened again before an outage is
/// over. On a disk that is nearly full, reopening succeeds (a small write fits) and the next
/// large write fails again: without this, every outage would last half a second and none
/// would be reported.
pub const STEADY: std::time::Duration = std::time::Duration::from_secs(10);

/// The open state database.
pub struct State {
    dir: PathBuf,
    /// `None` while it is being opened again.
    store: RwLock<Option<Store>>,
    broken: Mutex<Option<Broken>>,
    /// The last outage, and when the state was opened again after it.
    last_outage: Mutex<Option<(Broken, Timestamp)>>,
}

type Result<T> = std::result::Result<T, StateError>;

/// What was read of an S3 object: its ETag (a new version is read again), its delivery time
/// (marks are forgotten once listings no longer reach back to them), and what could not be
/// read of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ObjectMark {
    pub etag: String,
    pub time_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `source` NUL `stream` NUL `key`.
fn object_key(source: &str, stream: &str, key: &str) -> Vec<u8> {
    key2(source, &format!("{stream}\0{key}"))
}

/// Threshold counts kept in the state: they survive a restart. Changes wait in memory until
/// `commit`, which the caller does once the alerts they go with are raised: a count that fired
/// is never saved without its alert (a failed raise leaves the old count, and the records read
/// again count again).
pub struct StateTallies<'a> {
    state: &'a State,
    pending: std::collections::HashMap<(String, String), Tally>,
}

impl<'a> StateTallies<'a> {
    pub fn new(state: &'a State) -> Self {
        StateTallies {
            state,
            pending: Default::default(),
        }
    }

    /// Saves the changed counts.
    pub fn commit(self) -> Result<()> {
        for ((rule, key), t) in &self.pending {
            self.state.put_tally(rule, key, t)?;
        }
        Ok(())
    }
}

impl Tallies for StateTallies<'_> {
    type Error = StateError;
    fn get(&mut self, rule: &str, key: &str) -> Result<Tally> {
        match self.pending.get(&(rule.to_string(), key.to_string())) {
            Some(t) => Ok(t.clone()),
            None => self.state.tally(rule, key),
        }
    }
    fn put(&mut self, rule: &str, key: &str, t: &Tally) -> Result<()> {
        self.pending
            .insert((rule.to_string(), key.to_string()), t.clone());
        Ok(())
    }
}

/// A watermark as `state show` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct WatermarkRow {
    pub source: String,
    pub stream: String,
    pub watermark: Timestamp,
}

impl State {
    /// Opens (creating if needed) the database in `dir`. Refuses when another process has it,
    /// and a database that was emptied.
    pub fn open(dir: &Path) -> Result<State> {
        Ok(State {
            store: RwLock::new(Some(Store::open(dir)?)),
            dir: dir.to_path_buf(),
            broken: Mutex::new(None),
            last_outage: Mutex::new(None),
        })
    }

    /// Runs `f` on the database; a failure marks the state broken.
    fn with<T>(&self, f: impl FnOnce(&Store) -> std::result::Result<T, sled::Error>) -> Result<T> {
        let g = self.store.read().expect("state lock");
        let Some(store) = g.as_ref() else {
            return Err(self.write_error("it is closed until it can be opened again".into()));
        };
        f(store).map_err(|e| {
            let error = e.to_string();
            let mut b = self.broken.lock().expect("broken lock");
            if b.is_none() {
                // An outage that resumes soon after the state was opened again goes on.
                let resumed = self.outage_since_reopening();
                *b = Some(Broken {
                    since: resumed.unwrap_or_else(Timestamp::now),
                    error: error.clone(),
                });
                if resumed.is_none() {
                    tracing::error!(
                        "the state database in {} cannot be written: {error}",
                        self.dir.display()
                    );
                }
            }
            drop(b);
            self.write_error(error)
        })
    }

    fn write_error(&self, error: String) -> StateError {
        StateError::Write {
            dir: self.dir.clone(),
            error,
        }
    }

    /// Since when, and why, writes fail (`None`: they work).
    pub fn broken(&self) -> Option<Broken> {
        self.broken.lock().expect("broken lock").clone()
    }

    /// The outage going on: writes fail, or have worked for less than `STEADY` since the
    /// state was opened again after failing. Its end is for the health task to say.
    pub fn outage(&self) -> Option<Broken> {
        self.broken().or_else(|| self.reopened_within_steady())
    }

    fn reopened_within_steady(&self) -> Option<Broken> {
        let last = self.last_outage.lock().expect("outage lock");
        last.as_ref()
            .filter(|(_, at)| Timestamp::now().duration_since(*at).unsigned_abs() < STEADY)
            .map(|(b, _)| b.clone())
    }

    fn outage_since_reopening(&self) -> Option<Timestamp> {
        self.reopened_within_steady().map(|b| b.since)
    }

    /// Opens the database again after a failed write (sled refuses every write after one
    /// fails), and checks that it can be written. Its data are intact.
    pub fn recover(&self) -> Result<()> {
        let mut g = self.store.write().expect("state lock");
        *g = None;
        let store = Store::open(&self.dir)?;
        store
            .meta_touch()
            .map_err(|e| self.write_error(e.to_string()))?;
        *g = Some(store);
        if let Some(b) = self.broken.lock().expect("broken lock").take() {
            tracing::debug!("the state database in {} is open again", self.dir.display());
            *self.last_outage.lock().expect("outage lock") = Some((b, Timestamp::now()));
        }
        Ok(())
    }

    /// Makes everything written so far durable, power loss included.
    pub fn flush(&self) -> Result<()> {
        self.with(|s| s.flush())
    }

    /// The watermark of one stream (a source's region, log group or folder).
    pub fn watermark(&self, source: &str, stream: &str) -> Result<Option<Timestamp>> {
        let v = self.with(|s| s.watermarks.get(key2(source, stream)))?;
        Ok(v.map(|v| when::from_millis(i64_of(&v))))
    }

    /// Moves a stream's watermark (never backwards) and makes it durable.
    pub fn advance_watermark(&self, source: &str, stream: &str, to: Timestamp) -> Result<()> {
        let k = key2(source, stream);
        let to = when::millis(to);
        self.with(|s| {
            s.watermarks.fetch_and_update(&k, |old| {
                let keep = old.map(i64_of).unwrap_or(i64::MIN);
                Some(keep.max(to).to_be_bytes().to_vec())
            })?;
            s.flush()
        })
    }

    /// Records that a stream is polled from `first` on, unless it was polled before.
    pub fn note_covered(&self, source: &str, stream: &str, first: Timestamp) -> Result<()> {
        let v = when::millis(first).to_be_bytes();
        self.with(|s| {
            s.covered
                .compare_and_swap(key2(source, stream), None as Option<&[u8]>, Some(&v[..]))
                .map(|_| ())
        })
    }

    /// Since when a stream has been polled.
    pub fn covered(&self, source: &str, stream: &str) -> Result<Option<Timestamp>> {
        let v = self.with(|s| s.covered.get(key2(source, stream)))?;
        Ok(v.map(|v| when::from_millis(i64_of(&v))))
    }

    /// Every watermark.
    pub fn watermarks(&self) -> Result<Vec<WatermarkRow>> {
        self.with(|s| {
            s.watermarks
                .iter()
                .map(|kv| {
                    let (k, v) = kv?;
                    let (source, stream) = split2(&k);
                    Ok(WatermarkRow {
                        source,
                        stream,
                        watermark: when::from_millis(i64_of(&v)),
                    })
                })
                .collect()
        })
    }

    /// What a `files` source read of this file, if it read it.
    pub fn file_mark(&self, source: &str, path: &str) -> Result<Option<FileMark>> {
        let Some(v) = self.with(|s| s.files.get(key2(source, path)))? else {
            return Ok(None);
        };
        if v.len() == 8 {
            // Written before marks kept the time: the size alone.
            let len = u64::from_be_bytes(v.as_ref().try_into().expect("8 bytes"));
            return Ok(Some(FileMark {
                stamp: Stamp { len, mtime_ns: 0 },
                offset: len,
                lines: 0,
                problem: None,
            }));
        }
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StateError::Corrupt(format!("file mark of {path}: {e}")))
    }

    /// Marks a file as read (not durable until `flush`).
    pub fn mark_file(&self, source: &str, path: &str, mark: &FileMark) -> Result<()> {
        let v = serde_json::to_vec(mark).expect("a file mark serializes");
        self.with(|s| s.files.insert(key2(source, path), v).map(|_| ()))
    }

    /// What was read of an S3 object of a source's stream, if it was read.
    pub fn object_mark(&self, source: &str, stream: &str, key: &str) -> Result<Option<ObjectMark>> {
        let Some(v) = self.with(|s| s.objects.get(object_key(source, stream, key)))? else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StateError::Corrupt(format!("object mark of {key}: {e}")))
    }

    /// Marks an S3 object as read (not durable until `flush`).
    pub fn mark_object(
        &self,
        source: &str,
        stream: &str,
        key: &str,
        mark: &ObjectMark,
    ) -> Result<()> {
        let v = serde_json::to_vec(mark).expect("an object mark serializes");
        self.with(|s| {
            s.objects
                .insert(object_key(source, stream, key), v)
                .map(|_| ())
        })
    }

    /// Forgets the objects of a stream delivered before `before` (a listing never reaches
    /// back to them again); returns how many.
    pub fn forget_objects(&self, source: &str, stream: &str, before: Timestamp) -> Result<usize> {
        let before = when::millis(before);
        self.with(|s| {
            let mut n = 0;
            for kv in s.objects.scan_prefix(object_key(source, stream, "")) {
                let (k, v) = kv?;
                let old =
                    serde_json::from_slice::<ObjectMark>(&v).map_or(true, |m| m.time_ms < before);
                if old {
                    s.objects.remove(k)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// A threshold rule's count for one key.
    pub fn tally(&self, rule: &str, key: &str) -> Result<Tally> {
        let Some(v) = self.with(|s| s.tallies.get(key2(rule, key)))? else {
            return Ok(Tally::default());
        };
        serde_json::from_slice(&v).map_err(|e| StateError::Corrupt(format!("count of {rule}: {e}")))
    }

    /// Keeps a threshold rule's count (made durable with the alerts it goes with).
    pub fn put_tally(&self, rule: &str, key: &str, t: &Tally) -> Result<()> {
        let v = serde_json::to_vec(t).expect("a tally serializes");
        self.with(|s| s.tallies.insert(key2(rule, key), v).map(|_| ()))
    }

    /// Forgets counts with nothing since `before` (their period is long over).
    pub fn expire_tallies(&self, before: Timestamp) -> Result<usize> {
        let before = when::millis(before);
        self.with(|s| {
            let mut n = 0;
            for kv in s.tallies.iter() {
                let (k, v) = kv?;
                let old = serde_json::from_slice::<Tally>(&v).map_or(true, |t| t.newest() < before);
                if old {
                    s.tallies.remove(k)?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// Files read, per source.
    pub fn files_read(&self, source: &str) -> usize {
        self.with(|s| Ok(s.files.scan_prefix(key2(source, "")).count()))
            .unwrap_or(0)
    }

    /// Forgets the watermarks and read files of one source (or all), so that the next run reads
    /// again from its start. Raised alerts stay remembered, so nothing is alerted twice.
    pub fn reset(&self, source: Option<&str>) -> Result<usize> {
        self.with(|s| {
            let mut n = 0;
            for tree in [&s.watermarks, &s.files, &s.covered, &s.objects] {
                let keys: Vec<_> = match source {
                    Some(src) => tree.scan_prefix(key2(src, "")).keys().collect(),
                    None => tree.iter().keys().collect(),
                };
                for k in keys {
                    tree.remove(k?)?;
                    n += 1;
                }
            }
            s.flush()?;
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::severity::Severity;

    fn alert(id: &str, rule: &str) -> Alert {
        Alert {
            rule: rule.into(),
            title: "t".into(),
            subject: "s".into(),
            severity: Severity::High,
            event_id: id.into(),
            event_time: "2026-11-22T00:00:00Z".into(),
            source: "src".into(),
            record: "{}".into(),
        }
    }

    #[test]
    fn counts_are_saved_only_on_commit_and_expire_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        let t = Tally {
            events: vec![(1_000, "e1".into())],
            quiet_until: 0,
        };
        let mut pending = StateTallies::new(&s);
        pending.put("r", "k", &t).unwrap();
        assert_eq!(pending.get("r", "k").unwrap(), t, "seen before the commit");
        drop(pending);
        assert_eq!(s.tally("r", "k").unwrap(), Tally::default(), "not saved");
        let mut pending = StateTallies::new(&s);
        pending.put("r", "k", &t).unwrap();
        pending.commit().unwrap();
        assert_eq!(s.tally("r", "k").unwrap(), t);
        let at = |ms| Timestamp::from_millisecond(ms).unwrap();
        assert_eq!(s.expire_tallies(at(1_000)).unwrap(), 0, "still in use");
        assert_eq!(s.expire_tallies(at(1_001)).unwrap(), 1);
        assert_eq!(s.tally("r", "k").unwrap(), Tally::default());
    }

    #[test]
    fn raise_is_once_per_event_and_rule() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        let now = Timestamp::now();
        assert!(s.raise(&alert("e1", "r"), vec!["a".into()], now).unwrap());
        assert!(!s.raise(&alert("e1", "r"), vec!["a".into()], now).unwrap());
        assert!(s.raise(&alert("e1", "r2"), vec!["a".into()], now).unwrap());
        assert_eq!(s.outbox_len(), 2);
        let out = s.outbox().unwrap();
        assert_eq!(out[0].1.alert.rule, "r", "oldest first");
        let mut e = out[0].1.clone();
        e.pending.clear();
        s.update_outbox(out[0].0, &e).unwrap();
        assert_eq!(s.outbox_len(), 1);
        s.bury(out[1].0, &out[1].1).unwrap();
        assert_eq!((s.outbox_len(), s.dead_len()), (0, 1));
        // Kept from when they were raised (now), not from their events' time.
        let day = jiff::SignedDuration::from_hours(24);
        assert_eq!(s.expire_raised(now - day).unwrap(), 0);
        assert_eq!(s.expire_raised(now + day).unwrap(), 2);
    }

    #[test]
    fn a_new_state_flushed_from_many_threads_at_once_stays_writable() {
        // The first flushes of a new database write its manifest: from several threads at
        // once (an s3 source polls accounts in parallel), none may fail.
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let s = std::sync::Arc::new(State::open(dir.path()).unwrap());
            let threads: Vec<_> = (0..8)
                .map(|i| {
                    let s = s.clone();
                    std::thread::spawn(move || {
                        let t: Timestamp = "2026-11-22T01:00:00Z".parse().unwrap();
                        s.advance_watermark("src", &format!("stream-{i}"), t)
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap().unwrap();
            }
            assert!(s.broken().is_none());
            assert!(dir.path().join(store::MANIFEST).exists());
        }
    }

    #[test]
    fn watermarks_never_move_back_and_reset_per_source() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        let t1: Timestamp = "2026-11-22T01:00:00Z".parse().unwrap();
        let t0: Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
        s.advance_watermark("a", "us-east-1", t1).unwrap();
        s.advance_watermark("a", "us-east-1", t0).unwrap();
        s.advance_watermark("b", "g", t0).unwrap();
        assert_eq!(s.watermark("a", "us-east-1").unwrap(), Some(t1));
        assert_eq!(s.reset(Some("a")).unwrap(), 1);
        assert_eq!(s.watermark("a", "us-east-1").unwrap(), None);
        assert_eq!(s.watermark("b", "g").unwrap(), Some(t0));
    }

    #[test]
    fn a_second_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _s = State::open(dir.path()).unwrap();
        // sled's lock is per process file handle; a second open in the same process fails too.
        match State::open(dir.path()) {
            Err(StateError::Locked(d)) => assert_eq!(d, dir.path()),
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("second open succeeded"),
        }
    }
}
