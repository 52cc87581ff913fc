//! The state database (sled), the only module that touches it: per-stream watermarks (and
//! since when each stream has been polled), the set of alerts already raised (event ID + rule),
//! the outbox of alerts waiting for delivery (in eventTime order, whatever order they were
//! read in), the dead letters, and the files a `files` source has read.
//!
//! The invariant that makes delivery exactly-once: an alert enters the outbox in the same
//! transaction that records it as raised, and a watermark only moves after the alerts before it
//! are durable. A crash at any point leaves either nothing (the window is read again) or the
//! alert in the outbox (it is delivered, and not raised again).

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::alert::Alert;
use crate::source::files::{FileMark, Stamp};
use crate::when;

/// An alert waiting in the outbox, with its delivery progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxEntry {
    pub alert: Alert,
    /// Sinks that have not confirmed delivery yet.
    pub pending: Vec<String>,
    /// When the alert entered the outbox (ms since the epoch).
    pub queued_ms: i64,
    /// Delivery attempts so far, over all sinks.
    #[serde(default)]
    pub attempts: u32,
    /// The last delivery error, for `state show` and dead letters.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// Errors of the state database, with the directory named.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state directory {0} is in use by another trailwatch process (stop it first, or give this one its own state_dir)")]
    Locked(PathBuf),
    #[error("state database {dir}: {source}")]
    Db {
        dir: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("state database: a stored entry is unreadable: {0}")]
    Corrupt(String),
}

/// An outbox or dead-letter entry's key: its event's time (ms, high 64 bits) and a sequence
/// number (low 64 bits), so that the outbox drains oldest event first.
pub type EntryId = u128;

/// An entry key for an event at `ms`.
fn entry_key(ms: i64, seq: u64) -> [u8; 16] {
    let hi = (ms as u64) ^ (1 << 63);
    ((u128::from(hi) << 64) | u128::from(seq)).to_be_bytes()
}

fn entry_id(k: &[u8]) -> EntryId {
    match k.len() {
        16 => u128::from_be_bytes(k.try_into().expect("16 bytes")),
        // Entries written before keys carried the event's time.
        _ => u128::from(u64::from_be_bytes(k.try_into().unwrap_or([0; 8]))),
    }
}

/// The open state database.
pub struct State {
    dir: PathBuf,
    db: sled::Db,
    watermarks: sled::Tree,
    /// Since when each stream has been polled (the late sweep never reads before it).
    covered: sled::Tree,
    raised: sled::Tree,
    outbox: sled::Tree,
    dead: sled::Tree,
    files: sled::Tree,
}

type Result<T> = std::result::Result<T, StateError>;

fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = a.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

fn split2(k: &[u8]) -> (String, String) {
    let s = String::from_utf8_lossy(k);
    match s.split_once('\0') {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (s.to_string(), String::new()),
    }
}

/// The bytes of an entry's key, as it was stored (old 8-byte keys stay 8 bytes).
fn id_bytes(id: EntryId) -> Vec<u8> {
    match u64::try_from(id) {
        Ok(old) => old.to_be_bytes().to_vec(),
        Err(_) => id.to_be_bytes().to_vec(),
    }
}

fn i64_of(v: &[u8]) -> i64 {
    v.get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, i64::from_be_bytes)
}

/// A watermark as `state show` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct WatermarkRow {
    pub source: String,
    pub stream: String,
    pub watermark: Timestamp,
}

impl State {
    /// Opens (creating if needed) the database in `dir`. Refuses when another process has it.
    pub fn open(dir: &Path) -> Result<State> {
        let db_err = |source| StateError::Db {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| db_err(sled::Error::Io(e)))?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .mode(sled::Mode::LowSpace)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("could not acquire lock") =>
                {
                    StateError::Locked(dir.to_path_buf())
                }
                e => db_err(e),
            })?;
        let tree = |n: &str| db.open_tree(n).map_err(db_err);
        Ok(State {
            watermarks: tree("watermarks")?,
            covered: tree("covered")?,
            raised: tree("raised")?,
            outbox: tree("outbox")?,
            dead: tree("dead")?,
            files: tree("files")?,
            db: db.clone(),
            dir: dir.to_path_buf(),
        })
    }

    fn err(&self, source: sled::Error) -> StateError {
        StateError::Db {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    /// The watermark of one stream (a source's region, log group or folder).
    pub fn watermark(&self, source: &str, stream: &str) -> Result<Option<Timestamp>> {
        let v = self
            .watermarks
            .get(key2(source, stream))
            .map_err(|e| self.err(e))?;
        Ok(v.map(|v| when::from_millis(i64_of(&v))))
    }

    /// Moves a stream's watermark (never backwards) and makes it durable.
    pub fn advance_watermark(&self, source: &str, stream: &str, to: Timestamp) -> Result<()> {
        let k = key2(source, stream);
        let to = when::millis(to);
        self.watermarks
            .fetch_and_update(&k, |old| {
                let keep = old.map(i64_of).unwrap_or(i64::MIN);
                Some(keep.max(to).to_be_bytes().to_vec())
            })
            .map_err(|e| self.err(e))?;
        self.flush()
    }

    /// Records that a stream is polled from `first` on, unless it was polled before.
    pub fn note_covered(&self, source: &str, stream: &str, first: Timestamp) -> Result<()> {
        let v = when::millis(first).to_be_bytes();
        self.covered
            .compare_and_swap(key2(source, stream), None as Option<&[u8]>, Some(&v[..]))
            .map_err(|e| self.err(e))?
            .ok();
        Ok(())
    }

    /// Since when a stream has been polled.
    pub fn covered(&self, source: &str, stream: &str) -> Result<Option<Timestamp>> {
        let v = self
            .covered
            .get(key2(source, stream))
            .map_err(|e| self.err(e))?;
        Ok(v.map(|v| when::from_millis(i64_of(&v))))
    }

    /// Every watermark.
    pub fn watermarks(&self) -> Result<Vec<WatermarkRow>> {
        self.watermarks
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                let (source, stream) = split2(&k);
                Ok(WatermarkRow {
                    source,
                    stream,
                    watermark: when::from_millis(i64_of(&v)),
                })
            })
            .collect()
    }

    /// Records `alert` as raised and queues it for `sinks`, in one transaction. Returns false
    /// (and queues nothing) when it was raised before. Not durable until `flush`.
    pub fn raise(&self, alert: &Alert, sinks: Vec<String>, now: Timestamp) -> Result<bool> {
        let event_ms = alert
            .event_time
            .parse::<Timestamp>()
            .map_or_else(|_| when::millis(now), when::millis);
        let key = entry_key(event_ms, self.db.generate_id().map_err(|e| self.err(e))?);
        let entry = OutboxEntry {
            alert: alert.clone(),
            pending: sinks,
            queued_ms: when::millis(now),
            attempts: 0,
            last_error: None,
        };
        let bytes = serde_json::to_vec(&entry).expect("an outbox entry serializes");
        let dedupe = alert.dedupe_key();
        let r = (&self.raised, &self.outbox).transaction(|(raised, outbox)| {
            if raised.get(&dedupe)?.is_some() {
                return Ok(false);
            }
            raised.insert(dedupe.as_slice(), &event_ms.to_be_bytes())?;
            if !entry.pending.is_empty() {
                outbox.insert(&key, bytes.as_slice())?;
            }
            Ok::<_, ConflictableTransactionError<()>>(true)
        });
        match r {
            Ok(b) => Ok(b),
            Err(TransactionError::Storage(e)) => Err(self.err(e)),
            Err(TransactionError::Abort(())) => unreachable!("the transaction never aborts"),
        }
    }

    /// Forgets raised alerts whose events are older than `before` (they cannot be read again).
    pub fn expire_raised(&self, before: Timestamp) -> Result<usize> {
        let limit = when::millis(before);
        let mut n = 0;
        for kv in self.raised.iter() {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            if i64_of(&v) < limit {
                self.raised.remove(k).map_err(|e| self.err(e))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// How many alerts are remembered as raised.
    pub fn raised_len(&self) -> usize {
        self.raised.len()
    }

    /// The outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<(EntryId, OutboxEntry)>> {
        Self::entries(&self.outbox)
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<(EntryId, OutboxEntry)>> {
        Self::entries(&self.dead)
    }

    pub fn dead_len(&self) -> usize {
        self.dead.len()
    }

    fn entries(tree: &sled::Tree) -> Result<Vec<(EntryId, OutboxEntry)>> {
        tree.iter()
            .map(|kv| {
                let (k, v) = kv.map_err(|e| StateError::Corrupt(e.to_string()))?;
                let id = entry_id(&k);
                let e = serde_json::from_slice(&v)
                    .map_err(|e| StateError::Corrupt(format!("outbox entry {id}: {e}")))?;
                Ok((id, e))
            })
            .collect()
    }

    /// Rewrites an outbox entry (after a partial delivery or a failed attempt); removes it when
    /// no sink is pending. Durable on return.
    pub fn update_outbox(&self, id: EntryId, entry: &OutboxEntry) -> Result<()> {
        let k = id_bytes(id);
        if entry.pending.is_empty() {
            self.outbox.remove(k).map_err(|e| self.err(e))?;
        } else {
            let v = serde_json::to_vec(entry).expect("an outbox entry serializes");
            self.outbox.insert(k, v).map_err(|e| self.err(e))?;
        }
        self.flush()
    }

    /// Moves an outbox entry to the dead letters. Durable on return.
    pub fn bury(&self, id: EntryId, entry: &OutboxEntry) -> Result<()> {
        let v = serde_json::to_vec(entry).expect("an outbox entry serializes");
        let k = id_bytes(id);
        let dk = self.dead_key()?;
        (&self.outbox, &self.dead)
            .transaction(|(outbox, dead)| {
                outbox.remove(k.as_slice())?;
                dead.insert(&dk, v.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => self.err(e),
                TransactionError::Abort(()) => unreachable!(),
            })?;
        self.flush()
    }

    /// Adds a copy of an alert to the dead letters (a sink refused it for good), leaving the
    /// outbox entry to the other sinks. Durable on return.
    pub fn dead_letter(&self, entry: &OutboxEntry) -> Result<()> {
        let v = serde_json::to_vec(entry).expect("an outbox entry serializes");
        self.dead
            .insert(self.dead_key()?, v)
            .map_err(|e| self.err(e))?;
        self.flush()
    }

    /// A new dead-letter key: dead letters are kept in the order they died.
    fn dead_key(&self) -> Result<[u8; 16]> {
        let seq = self.db.generate_id().map_err(|e| self.err(e))?;
        Ok(entry_key(when::millis(Timestamp::now()), seq))
    }

    /// What a `files` source read of this file, if it read it.
    pub fn file_mark(&self, source: &str, path: &str) -> Result<Option<FileMark>> {
        let Some(v) = self
            .files
            .get(key2(source, path))
            .map_err(|e| self.err(e))?
        else {
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
        self.files
            .insert(key2(source, path), v)
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Files read, per source.
    pub fn files_read(&self, source: &str) -> usize {
        self.files.scan_prefix(key2(source, "")).count()
    }

    /// Forgets the watermarks and read files of one source (or all), so that the next run reads
    /// again from its start. Raised alerts stay remembered, so nothing is alerted twice.
    pub fn reset(&self, source: Option<&str>) -> Result<usize> {
        let mut n = 0;
        for tree in [&self.watermarks, &self.files, &self.covered] {
            let keys: Vec<_> = match source {
                Some(s) => tree.scan_prefix(key2(s, "")).keys().collect(),
                None => tree.iter().keys().collect(),
            };
            for k in keys {
                tree.remove(k.map_err(|e| self.err(e))?)
                    .map_err(|e| self.err(e))?;
                n += 1;
            }
        }
        self.flush()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert_eq!(
            s.expire_raised("2026-11-23T00:00:00Z".parse().unwrap())
                .unwrap(),
            2
        );
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
