//! The sled database itself: opening it (refusing a locked or emptied one), its trees, and a
//! flush that is durable on power loss.
//!
//! sled 0.34's `flush()` ends in `sync_file_range`, which neither flushes the disk's cache nor
//! the file's length, and it never syncs its blob files (large values) or its directories. A
//! durable flush here adds `fsync` of the log file, of blobs written since the last one, and of
//! both directories.
//!
//! A manifest beside the database (`trailwatch-state.json`) records that it once held data: a
//! database that opens empty (its snapshot or log deleted) is refused rather than taken as a
//! fresh start, which would send every alert again.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::keys::i64_of;
use super::StateError;
use crate::when;

/// The file beside the database that says it once held data.
pub(super) const MANIFEST: &str = "trailwatch-state.json";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// When the database first held data.
    populated: String,
}

/// The open database and its trees.
pub(super) struct Store {
    pub db: sled::Db,
    /// The database's own folder (`state_dir/db`).
    path: PathBuf,
    dir: PathBuf,
    pub watermarks: sled::Tree,
    /// Since when each stream has been polled (the late sweep never reads before it).
    pub covered: sled::Tree,
    pub raised: sled::Tree,
    pub outbox: sled::Tree,
    pub dead: sled::Tree,
    pub files: sled::Tree,
    /// S3 objects read, per source and stream.
    pub objects: sled::Tree,
    /// Threshold rules' counts, per rule and key.
    pub tallies: sled::Tree,
    /// S3 objects that could not be read, set aside to be tried again.
    pub aside: sled::Tree,
    /// Every alert raised, 90 days, with what became of it.
    pub history: sled::Tree,
    /// Silences added at run time.
    pub silences: sled::Tree,
    meta: sled::Tree,
    populated: AtomicBool,
    /// Blob files already made durable.
    synced_blobs: Mutex<HashSet<OsString>>,
    /// Held while the manifest is written (flushes run from several threads at once).
    manifest: Mutex<()>,
}

fn open_error(dir: &Path, e: &sled::Error) -> StateError {
    if let sled::Error::Io(io) = e {
        if io.kind() == std::io::ErrorKind::WouldBlock
            || io.to_string().contains("could not acquire lock")
        {
            return StateError::Locked(dir.to_path_buf());
        }
    }
    StateError::Open {
        dir: dir.to_path_buf(),
        error: e.to_string(),
    }
}

impl Store {
    /// Opens (creating if needed) the database in `dir`.
    pub(super) fn open(dir: &Path) -> Result<Store, StateError> {
        let io = |e: std::io::Error| StateError::Open {
            dir: dir.to_path_buf(),
            error: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join("db");
        let db = sled::Config::new()
            .path(&path)
            .mode(sled::Mode::LowSpace)
            .open()
            .map_err(|e| open_error(dir, &e))?;
        let tree = |n: &str| db.open_tree(n).map_err(|e| open_error(dir, &e));
        let store = Store {
            watermarks: tree("watermarks")?,
            covered: tree("covered")?,
            raised: tree("raised")?,
            outbox: tree("outbox")?,
            dead: tree("dead")?,
            files: tree("files")?,
            objects: tree("objects")?,
            tallies: tree("tallies")?,
            aside: tree("aside")?,
            history: tree("history")?,
            silences: tree("silences")?,
            meta: tree("meta")?,
            db,
            path,
            dir: dir.to_path_buf(),
            populated: AtomicBool::new(false),
            synced_blobs: Mutex::new(HashSet::new()),
            manifest: Mutex::new(()),
        };
        let manifest = std::fs::read(dir.join(MANIFEST)).ok();
        let empty = store.is_empty();
        if manifest.is_some() && empty {
            return Err(StateError::Emptied(dir.to_path_buf()));
        }
        store.populated.store(manifest.is_some(), Ordering::SeqCst);
        store.migrate().map_err(|e| open_error(dir, &e))?;
        Ok(store)
    }

    /// True when it holds nothing whose loss would send alerts again (silences do not count:
    /// removing the last one leaves a state that held nothing of that kind).
    fn is_empty(&self) -> bool {
        [
            &self.watermarks,
            &self.raised,
            &self.outbox,
            &self.dead,
            &self.files,
            &self.objects,
            &self.aside,
            &self.history,
        ]
        .iter()
        .all(|t| t.is_empty())
    }

    /// Raised alerts were once kept by eventTime; they are now kept 90 days after they were
    /// raised. Keys from before count as raised now (kept longer, never shorter).
    fn migrate(&self) -> Result<(), sled::Error> {
        if self.meta.get("raised_by")?.is_some() {
            return Ok(());
        }
        let now = when::millis(Timestamp::now()).to_be_bytes();
        for kv in self.raised.iter() {
            let (k, v) = kv?;
            if i64_of(&v) < i64::from_be_bytes(now) {
                self.raised.insert(k, &now)?;
            }
        }
        self.meta.insert("raised_by", "raise time")?;
        self.db.flush()?;
        Ok(())
    }

    /// Makes everything written so far durable, even on power loss.
    pub(super) fn flush(&self) -> Result<(), sled::Error> {
        self.db.flush()?;
        File::open(self.path.join("db"))?.sync_all()?;
        let blobs = self.path.join("blobs");
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            let mut synced = self.synced_blobs.lock().expect("blob set lock");
            let mut any = false;
            for e in entries.flatten() {
                if !synced.contains(&e.file_name()) {
                    match File::open(e.path()) {
                        Ok(f) => f.sync_all()?,
                        // sled removed it meanwhile (its value was replaced): nothing to keep.
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(err) => return Err(err.into()),
                    }
                    synced.insert(e.file_name());
                    any = true;
                }
            }
            if any {
                sync_dir(&blobs)?;
            }
        }
        sync_dir(&self.path)?;
        if !self.populated.load(Ordering::SeqCst) && !self.is_empty() {
            self.write_manifest()?;
        }
        Ok(())
    }

    /// Writes and flushes a key: proves the database can be written.
    pub(super) fn meta_touch(&self) -> Result<(), sled::Error> {
        let now = when::millis(Timestamp::now()).to_be_bytes();
        self.meta.insert("touched", &now)?;
        self.flush()
    }

    /// Records, durably, that the database holds data (once, whichever thread flushes first).
    fn write_manifest(&self) -> std::io::Result<()> {
        let _one_at_a_time = self.manifest.lock().expect("manifest lock");
        if self.populated.load(Ordering::SeqCst) {
            return Ok(());
        }
        let m = Manifest {
            populated: Timestamp::now().to_string(),
        };
        let tmp = self.dir.join(format!("{MANIFEST}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(&m).expect("a manifest serializes"))?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(MANIFEST))?;
        sync_dir(&self.dir)?;
        self.populated.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// Makes a directory's entries (new, renamed files) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
