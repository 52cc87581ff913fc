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
//! fresh start, which would send every alert again. A database that is a cache of a shared
//! table (`shared/`) is opened without that check: it is filled from the table at each start.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::error::CACHE_MARK;
use super::keys::i64_of;
use super::replica::{Replica, Write, TREES};
use super::tree::Tree;
use super::StateError;
use crate::when;

/// The file beside the database that says it once held data.
pub(super) use crate::names::MANIFEST;

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
    pub watermarks: Tree,
    /// Since when each stream has been polled (the late sweep never reads before it).
    pub covered: Tree,
    pub raised: Tree,
    pub outbox: Tree,
    pub dead: Tree,
    pub files: Tree,
    /// S3 objects read, per source and stream.
    pub objects: Tree,
    /// Threshold rules' counts, per rule and key.
    pub tallies: Tree,
    /// First-seen rules' history: each combination's sightings, each account's learning.
    pub sightings: Tree,
    /// The trail's digests verified: each chain's last link.
    pub digests: Tree,
    /// S3 objects that could not be read, set aside to be tried again.
    pub aside: Tree,
    /// Every alert raised, 90 days, with what became of it.
    pub history: Tree,
    /// Silences added at run time.
    pub silences: Tree,
    meta: sled::Tree,
    /// Added to sled's ids: above every id of a state loaded from a shared table.
    id_offset: std::sync::atomic::AtomicU64,
    pub replica: Arc<Replica>,
    populated: AtomicBool,
    /// Blob files already made durable.
    synced_blobs: Mutex<HashSet<OsString>>,
    /// Held while the manifest is written (flushes run from several threads at once).
    manifest: Mutex<()>,
    /// The next alert of the history's id, and the next silence's: people type them, so
    /// they count one by one (sled's ids jump by a million after a restart).
    next_alert: std::sync::atomic::AtomicU64,
    next_silence: std::sync::atomic::AtomicU64,
}

fn open_error(dir: &Path, e: &sled::Error) -> StateError {
    if let sled::Error::Io(io) = e {
        if io.kind() == std::io::ErrorKind::WouldBlock
            || io.to_string().contains("could not acquire lock")
        {
            return StateError::Locked(dir.to_path_buf());
        }
        return io_error(dir, io);
    }
    StateError::Open {
        dir: dir.to_path_buf(),
        error: e.to_string(),
    }
}

/// An I/O error opening the state: a permission denied is said as such (the database is
/// not damaged: another user's), anything else as a failure to open.
fn io_error(dir: &Path, e: &std::io::Error) -> StateError {
    let (dir, error) = (dir.to_path_buf(), e.to_string());
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => StateError::Permission { dir, error },
        _ => StateError::Open { dir, error },
    }
}

/// Makes the state directory and everything in it its owner's alone (0700 folders, 0600
/// files): it holds whole CloudTrail records. A state made before (or by hand) with looser
/// modes is tightened, and said.
fn keep_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut loose = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let tighten = |p: &Path, mode: u32, loose: &mut usize| -> std::io::Result<()> {
            let m = std::fs::symlink_metadata(p)?;
            if m.file_type().is_symlink() || m.permissions().mode() & 0o077 == 0 {
                return Ok(());
            }
            *loose += 1;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        };
        tighten(&d, 0o700, &mut loose)?;
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                tighten(&entry.path(), 0o600, &mut loose)?;
            }
        }
    }
    if loose > 0 {
        tracing::warn!(
            "the state directory {} held {loose} files or folders other users could read: they are its owner's alone now (0600, 0700)",
            dir.display()
        );
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database in `dir`; `cache`: it is filled from a shared
    /// table, so one found emptied is no loss.
    pub(super) fn open(
        dir: &Path,
        replica: Arc<Replica>,
        cache: bool,
    ) -> Result<Store, StateError> {
        let io = |e: std::io::Error| io_error(dir, &e);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        keep_private(dir).map_err(io)?;
        let mark = dir.join(CACHE_MARK);
        if cache {
            std::fs::write(
                &mark,
                "filled from a shared table at each start: see `trailwatch state --help`\n",
            )
            .map_err(io)?;
        } else if mark.exists() {
            return Err(StateError::SharedCache(dir.to_path_buf()));
        }
        let path = dir.join("db");
        let db = sled::Config::new()
            .path(&path)
            .mode(sled::Mode::LowSpace)
            .cache_capacity(crate::defaults::STATE_CACHE_BYTES)
            .open()
            .map_err(|e| open_error(dir, &e))?;
        let raw = |n: &str| db.open_tree(n).map_err(|e| open_error(dir, &e));
        let tree = |n: &'static str| Ok::<_, StateError>(Tree::new(raw(n)?, n, replica.clone()));
        let meta = raw("meta")?;
        let id_offset = meta
            .get("id_offset")
            .map_err(|e| open_error(dir, &e))?
            .map_or(0, |v| i64_of(&v) as u64);
        let store = Store {
            watermarks: tree("watermarks")?,
            covered: tree("covered")?,
            raised: tree("raised")?,
            outbox: tree("outbox")?,
            dead: tree("dead")?,
            files: tree("files")?,
            objects: tree("objects")?,
            tallies: tree("tallies")?,
            sightings: tree("sightings")?,
            digests: tree("digests")?,
            aside: tree("aside")?,
            history: tree("history")?,
            silences: tree("silences")?,
            meta,
            id_offset: std::sync::atomic::AtomicU64::new(id_offset),
            replica,
            db,
            path,
            dir: dir.to_path_buf(),
            populated: AtomicBool::new(false),
            synced_blobs: Mutex::new(HashSet::new()),
            manifest: Mutex::new(()),
            next_alert: Default::default(),
            next_silence: Default::default(),
        };
        store.count_from_last().map_err(|e| open_error(dir, &e))?;
        let manifest = std::fs::read(dir.join(MANIFEST)).ok();
        let empty = store.is_empty();
        if manifest.is_some() && empty && !cache {
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

    /// A new id (history entries, outbox keys, silences), never one a loaded state used.
    pub(super) fn new_id(&self) -> Result<u64, sled::Error> {
        Ok(self.db.generate_id()? + self.id_offset.load(Ordering::SeqCst))
    }

    /// The tree named `name` (one of `replica::TREES`).
    fn tree(&self, name: &str) -> Option<&Tree> {
        [
            &self.outbox,
            &self.dead,
            &self.history,
            &self.tallies,
            &self.sightings,
            &self.digests,
            &self.files,
            &self.objects,
            &self.aside,
            &self.silences,
            &self.raised,
            &self.covered,
            &self.watermarks,
        ]
        .into_iter()
        .find(|t| t.name == name)
    }

    /// Every key of every copied tree, in `TREES` order.
    pub(super) fn dump(&self) -> Result<Vec<Write>, sled::Error> {
        let mut out = Vec::new();
        for name in TREES {
            let t = self.tree(name).expect("every copied tree is open");
            for kv in t.iter() {
                let (k, v) = kv?;
                out.push(Write {
                    tree: name,
                    key: k.to_vec(),
                    value: Some(v.to_vec()),
                });
            }
        }
        Ok(out)
    }

    /// Replaces every copied tree's content with `items` (a shared table's), and sets new ids
    /// above every id they use. Durable on return (the copy is not told: it is where they came
    /// from).
    pub(super) fn replace_all(&self, items: &[Write]) -> Result<usize, sled::Error> {
        for name in TREES {
            self.tree(name)
                .expect("every copied tree is open")
                .inner
                .clear()?;
        }
        let mut n = 0;
        let mut top = 0u64;
        for w in items {
            let (Some(t), Some(v)) = (self.tree(w.tree), &w.value) else {
                continue;
            };
            t.inner.insert(&w.key, v.as_slice())?;
            n += 1;
            if matches!(w.tree, "outbox" | "dead" | "history" | "silences") && w.key.len() >= 8 {
                let low: [u8; 8] = w.key[w.key.len() - 8..].try_into().expect("8 bytes");
                top = top.max(u64::from_be_bytes(low));
            }
        }
        let offset = (top + 1).saturating_sub(self.db.generate_id()?);
        let offset = offset.max(self.id_offset.load(Ordering::SeqCst));
        self.meta
            .insert("id_offset", &(offset as i64).to_be_bytes())?;
        self.id_offset.store(offset, Ordering::SeqCst);
        self.count_from_last()?;
        self.local_flush()?;
        Ok(n)
    }

    /// Sets the people's counters past the last alert of the history and the last silence.
    fn count_from_last(&self) -> Result<(), sled::Error> {
        let after = |t: &Tree| -> Result<u64, sled::Error> {
            Ok(t.inner.last()?.map_or(0, |(k, _)| {
                k.as_ref().try_into().map_or(0, u64::from_be_bytes)
            }) + 1)
        };
        self.next_alert
            .store(after(&self.history)?, Ordering::SeqCst);
        self.next_silence
            .store(after(&self.silences)?, Ordering::SeqCst);
        Ok(())
    }

    /// The id of a new alert of the history (from 1, one by one).
    pub(super) fn alert_id(&self) -> u64 {
        self.next_alert.fetch_add(1, Ordering::SeqCst)
    }

    /// The id of a new silence (from 1, one by one).
    pub(super) fn silence_id(&self) -> u64 {
        self.next_silence.fetch_add(1, Ordering::SeqCst)
    }

    /// Makes everything written so far durable, even on power loss, and in the shared table
    /// when the state is copied there.
    pub(super) fn flush(&self) -> Result<(), sled::Error> {
        self.local_flush()?;
        self.replica
            .push(|tree, key| {
                let t = self.tree(tree).expect("noted keys are of copied trees");
                t.get(key)
                    .map(|v| v.map(|v| v.to_vec()))
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| sled::Error::Io(std::io::Error::other(e)))
    }

    fn local_flush(&self) -> Result<(), sled::Error> {
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
