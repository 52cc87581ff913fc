//! One instance of a configuration whose state is a shared table: it waits for the lease (a
//! standby), fills its local cache from the table, copies every flush to it, renews the lease,
//! and says so when it loses it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::config::InstancesConfig;
use super::lease::{self, Lease};
use super::mirror::TableMirror;
use super::table::Table;
use crate::state::{State, StateError};

/// Why this instance cannot work on the shared state.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InstancesError {
    #[error("{0}")]
    Table(String),
    #[error(transparent)]
    Api(#[from] crate::source::aws::ApiError),
    #[error(transparent)]
    Write(#[from] super::table::WriteError),
    #[error("{table} does not exist: create it with `trailwatch state init --config {config}`")]
    NoTable { table: String, config: String },
    #[error("the local cache of the shared state cannot be written: {0}")]
    Cache(#[from] StateError),
}

/// This instance, holding the lease.
pub(crate) struct Instance {
    pub table: Arc<Table>,
    pub lease: Arc<Lease>,
    /// The instance that held the lease before, if another.
    pub previous: Option<String>,
    /// Items the table held when this instance took over.
    pub loaded: usize,
}

/// Waits for the lease (as a standby while another instance holds it), then fills `state` from
/// the table and copies every flush to it.
pub(crate) async fn take_over(
    standby: Arc<dyn Fn(&str) + Send + Sync>,
    cfg: &InstancesConfig,
    config: &std::path::Path,
    state: &State,
) -> Result<Instance, InstancesError> {
    let table = Table::connect(cfg).await?;
    if !table.exists().await? {
        return Err(InstancesError::NoTable {
            table: table.describe(),
            config: config.display().to_string(),
        });
    }
    let taken = lease::take(table.clone(), &*standby).await?;
    let items = table.load().await?;
    let loaded = state.load(&items)?;
    state.attach(Arc::new(TableMirror {
        table: table.clone(),
        lease: taken.lease.clone(),
    }));
    Table::spawn(taken.lease.clone().keep());
    tracing::info!(
        "instance {} holds {} ({loaded} entries loaded{})",
        cfg.instance,
        table.describe(),
        taken
            .previous
            .as_deref()
            .map(|p| format!(", taken over from instance {p}"))
            .unwrap_or_default()
    );
    Ok(Instance {
        table,
        lease: taken.lease,
        previous: taken.previous,
        loaded,
    })
}

impl Instance {
    /// Resolves when the lease is lost, with why.
    pub(crate) async fn lost(&self) -> String {
        loop {
            let notified = self.lease.lost_now.notified();
            if self.lease.is_lost() {
                return self.lease.why();
            }
            notified.await;
        }
    }

    /// Gives the lease up (a clean stop) and says what the table was asked.
    pub(crate) async fn release(&self) {
        self.lease.release().await;
        tracing::info!(
            "instance {} gave up {} ({} DynamoDB calls, {} items written)",
            self.table.cfg.instance,
            self.table.describe(),
            self.table.calls.calls.load(Ordering::Relaxed),
            self.table.written.load(Ordering::Relaxed)
        );
    }
}
