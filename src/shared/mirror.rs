//! The state's copy in the shared table (`state::Mirror`): each flush's keys written under
//! the lease's fence. The state is synchronous (sled) and its flushes run inside the daemon's
//! tasks, so the writes run on a small runtime of their own, waited for here.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use super::lease::Lease;
use super::table::{Table, WriteError};
use crate::state::{Mirror, Write};

/// The runtime the shared table's calls run on (one per process, for its whole life).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("trailwatch-shared")
            .enable_all()
            .build()
            .expect("a runtime for the shared table")
    })
}

/// Runs `fut` on the shared runtime and awaits it from another runtime.
pub async fn on_runtime<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    runtime()
        .spawn(fut)
        .await
        .expect("a task of the shared runtime does not panic")
}

/// Runs `fut` on the shared runtime and waits for it, from async code or not.
pub fn wait<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    let recv = move || rx.recv().expect("the shared runtime answers");
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(recv)
        }
        _ => recv(),
    }
}

/// The copy in the table, fenced by this instance's lease.
pub struct TableMirror {
    pub table: Arc<Table>,
    pub lease: Arc<Lease>,
}

impl Mirror for TableMirror {
    fn push(&self, writes: &[Write]) -> Result<(), String> {
        if self.lease.is_lost() {
            return Err(format!(
                "{}: this instance's lease is lost ({})",
                self.table.describe(),
                self.lease.why()
            ));
        }
        let (table, fence, writes) = (self.table.clone(), self.lease.fence(), writes.to_vec());
        let r = wait(async move { table.write(&writes, Some(&fence)).await });
        match r {
            Ok(()) => Ok(()),
            Err(WriteError::Fenced) => {
                self.lease
                    .lose("another instance took the lease over".into());
                Err(format!(
                    "{}: another instance took the lease over; nothing more is written by this one",
                    self.table.describe()
                ))
            }
            Err(e) => Err(format!("{}: {e}", self.table.describe())),
        }
    }

    fn held(&self) -> bool {
        self.lease.held()
    }
}
