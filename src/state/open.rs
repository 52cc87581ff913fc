//! The open state: the database handle every other file of `state/` works through. A write
//! that fails (a full disk) leaves sled unusable until it is opened again: the state then says
//! it is broken, and `recover` reopens it (its data intact) once writes work again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use jiff::Timestamp;

use super::error::{Broken, StateError};
use super::replica::{Mirror, Replica, Write};
use super::store::Store;

/// How long writes must keep working after the state was opened again before an outage is
/// over. On a disk that is nearly full, reopening succeeds (a small write fits) and the next
/// large write fails again: without this, every outage would last half a second and none
/// would be reported.
pub(super) const STEADY: std::time::Duration = std::time::Duration::from_secs(10);

/// The open state database.
pub struct State {
    dir: PathBuf,
    /// `None` while it is being opened again.
    store: RwLock<Option<Store>>,
    broken: Mutex<Option<Broken>>,
    /// The last outage, and when the state was opened again after it.
    last_outage: Mutex<Option<(Broken, Timestamp)>>,
    /// The copy elsewhere, if any (kept across reopenings).
    replica: Arc<Replica>,
    /// A cache of a shared table: filled from it, so found emptied is no loss.
    cache: bool,
}

pub(super) type Result<T> = std::result::Result<T, StateError>;

impl State {
    /// Opens (creating if needed) the database in `dir`. Refuses when another process has it,
    /// and a database that was emptied.
    pub fn open(dir: &Path) -> Result<State> {
        State::open_as(dir, false)
    }

    /// Opens the database in `dir` as the cache of a shared table (`shared/`): an emptied one
    /// is taken as it is, since `load` fills it.
    pub fn open_cache(dir: &Path) -> Result<State> {
        State::open_as(dir, true)
    }

    fn open_as(dir: &Path, cache: bool) -> Result<State> {
        let replica = Arc::new(Replica::default());
        Ok(State {
            store: RwLock::new(Some(Store::open(dir, replica.clone(), cache)?)),
            dir: dir.to_path_buf(),
            broken: Mutex::new(None),
            last_outage: Mutex::new(None),
            replica,
            cache,
        })
    }

    /// From now on, every flush also writes what changed to `m`.
    pub fn attach(&self, m: Arc<dyn Mirror>) {
        self.replica.attach(m);
    }

    /// Whether this process may act on the state: always, unless its copy says another
    /// instance may have taken it over.
    pub fn held(&self) -> bool {
        self.replica.mirror().is_none_or(|m| m.held())
    }

    /// Replaces the state with `items` (what a shared table holds). Returns how many.
    pub fn load(&self, items: &[Write]) -> Result<usize> {
        self.with(|s| s.replace_all(items))
    }

    /// Every key and value, tree by tree (for a copy elsewhere).
    pub fn dump(&self) -> Result<Vec<Write>> {
        self.with(|s| s.dump())
    }

    /// Runs `f` on the database; a failure marks the state broken.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&Store) -> std::result::Result<T, sled::Error>,
    ) -> Result<T> {
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
        let store = Store::open(&self.dir, self.replica.clone(), self.cache)?;
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
}
