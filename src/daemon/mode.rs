//! How long `run` runs: until a signal, or one poll of every source.

/// How `run` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Until a signal.
    Forever,
    /// One poll of every source, then delivery of what is due, then exit.
    Once,
}
