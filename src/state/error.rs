//! What can go wrong with the state database, each error naming the directory and what to do.

use std::path::PathBuf;

use jiff::Timestamp;

/// The file that marks a state folder as the cache of a shared table: opened as a state of
/// its own, it would show (and act on) what may be older than the table.
pub(super) const CACHE_MARK: &str = "shared-cache";

/// Errors of the state database, with the directory named and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state directory {0} is in use by another trailwatch process (stop it first, or give this one its own state_dir)")]
    Locked(PathBuf),
    #[error("cannot open the state database in {}: {error} — it may be damaged: restore {} from a backup, or move it aside to start a new one (a new state reads `overlap` back from now, and every file of a files source again: their alerts are sent again)", dir.display(), dir.display())]
    Open { dir: PathBuf, error: String },
    #[error("cannot open the state database in {}: permission denied ({error}): it is another user's. Run trailwatch as that user (the service's state is root's: `sudo trailwatch …`). The state is fine as it is: do not move it", dir.display())]
    Permission { dir: PathBuf, error: String },
    #[error("the state database in {} is empty, but it held data before (its files were deleted or damaged): starting from it would read everything again and send every alert again. Restore {} from a backup, or, to start over on purpose, move the whole folder aside", .0.display(), .0.display())]
    Emptied(PathBuf),
    #[error("the state database in {} cannot be written: {error} (a full disk?); it is opened again once writes work", dir.display())]
    Write { dir: PathBuf, error: String },
    #[error("{} is the local cache of a state shared by several instances ([state] backend = \"dynamodb\"): commands reach that state through the running daemon that holds the lease, on its host. To use this folder as a state of its own again (its content may be older than the table's), remove {}", .0.display(), .0.join(CACHE_MARK).display())]
    SharedCache(PathBuf),
    #[error("state database: a stored entry is unreadable: {0}")]
    Corrupt(String),
    /// What was asked of the state breaks its rules (whoever sent it: a command, the control
    /// socket, another instance through the table).
    #[error("refused: {0}")]
    Refused(String),
}

/// The state is not writable: since when, and why.
#[derive(Debug, Clone)]
pub struct Broken {
    pub since: Timestamp,
    pub error: String,
}
