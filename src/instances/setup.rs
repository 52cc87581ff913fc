//! Setting a shared state up: `trailwatch state init` creates the table, `trailwatch state
//! migrate` copies a one-host (sled) state into it, so that instances continue where the one
//! host stopped: nothing read again, nothing sent again.

use std::path::Path;
use std::sync::Arc;

use super::config::InstancesConfig;
use super::instance::InstancesError;
use super::table::Table;
use crate::state::State;

fn connect(cfg: &InstancesConfig) -> Result<Arc<Table>, InstancesError> {
    let c = cfg.clone();
    Ok(Table::wait(async move { Table::connect(&c).await })?)
}

/// Creates the table (on-demand capacity) and waits until it can be used. False: it existed.
pub(crate) fn init(cfg: &InstancesConfig) -> Result<(bool, String), InstancesError> {
    let t = connect(cfg)?;
    let what = t.describe();
    let created = Table::wait(async move { t.create().await })?;
    Ok((created, what))
}

/// What a migration copied.
pub(crate) struct Migrated {
    pub items: usize,
    pub table: String,
}

/// Copies the sled state in `state_dir` into the table, which must exist and hold no state
/// yet (a state copied over another would mix two histories). The daemon must not run on
/// `state_dir`; afterwards `state_dir` is the cache of the table.
pub(crate) fn migrate(
    cfg: &InstancesConfig,
    state_dir: &Path,
    config: &Path,
) -> Result<Migrated, InstancesError> {
    let t = connect(cfg)?;
    let table = t.describe();
    let t1 = t.clone();
    let (exists, holds) = Table::wait(async move {
        let exists = t1.exists().await?;
        let holds = if exists {
            t1.holds_state().await?
        } else {
            false
        };
        Ok::<_, crate::source::aws::ApiError>((exists, holds))
    })?;
    if !exists {
        return Err(InstancesError::NoTable {
            table,
            config: config.display().to_string(),
        });
    }
    if holds {
        return Err(InstancesError::Table(format!(
            "{table} already holds a state: a migration copies into an empty table only (instances already use this one, or an earlier migration finished)"
        )));
    }
    let items = {
        let st = State::open(state_dir)?;
        st.dump()?
    };
    let n = items.len();
    Table::wait(async move { t.write(&items, None).await })?;
    // From now on this folder is the table's cache: commands go through the daemon.
    drop(State::open_cache(state_dir)?);
    Ok(Migrated { items: n, table })
}

/// A copy of the shared state in a folder of its own, for commands that read it from any host
/// (removed when dropped).
pub(crate) struct Snapshot {
    pub dir: std::path::PathBuf,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads the whole table into a new folder (consistent reads). The folder is created new and
/// readable by this user only: it holds the alert history, records included, on a host other
/// users may share.
pub(crate) fn snapshot(cfg: &InstancesConfig) -> Result<Snapshot, InstancesError> {
    use std::os::unix::fs::DirBuilderExt;
    let t = connect(cfg)?;
    let items = Table::wait(async move { t.load().await })?;
    let dir = std::env::temp_dir().join(super::lease::unique(crate::names::SNAPSHOT));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| InstancesError::Table(format!("cannot make {}: {e}", dir.display())))?;
    let snap = Snapshot { dir };
    State::open(&snap.dir)?.load(&items)?;
    Ok(snap)
}

/// The instance that holds the lease now, if any.
pub(crate) fn holder(cfg: &InstancesConfig) -> Result<Option<String>, InstancesError> {
    let t = connect(cfg)?;
    Ok(Table::wait(async move { t.lease().await })?.map(|l| l.owner))
}

/// Whether the table exists (`check` says so before `run` would stop on it).
pub(crate) fn exists(cfg: &InstancesConfig) -> Result<bool, InstancesError> {
    let t = connect(cfg)?;
    Ok(Table::wait(async move { t.exists().await })?)
}
