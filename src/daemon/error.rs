//! Why the daemon could not run, or what `--once` could not read.

use crate::instances::instance::InstancesError;
use crate::sink::OpenError;
use crate::source::SourceError;
use crate::state::StateError;

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DaemonError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] OpenError),
    #[error("cannot listen for signals: {0}")]
    Signals(#[from] std::io::Error),
    /// The operator endpoint's address cannot be bound (in use, not local).
    #[error("{0}")]
    Endpoint(std::io::Error),
    /// The status page's token cannot be read (the error names where it was looked for).
    #[error("operator_token: {0}")]
    OperatorToken(crate::secret::SecretError),
    /// The shared state cannot be reached.
    #[error(transparent)]
    Instances(#[from] InstancesError),
    /// Another instance took the shared state over: this one stops (and, restarted, stands by).
    #[error("instance {instance} lost its lease on the shared state ({why}); it stops, and stands by when started again")]
    LeaseLost { instance: String, why: String },
    /// `--once`: some streams could not be read (their events are read at the next run).
    #[error("{} could not be read in this run (their events are read at the next run): {}", if .0.len() == 1 { "1 stream".to_string() } else { format!("{} streams", .0.len()) }, .0.join("; "))]
    Failed(Vec<String>),
}
