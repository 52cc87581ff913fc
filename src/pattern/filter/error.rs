//! What a filter pattern may not be: its limits, and the error that says where it is wrong.

/// The longest pattern `PutMetricFilter` and `FilterLogEvents` accept.
pub const MAX_PATTERN_LEN: usize = 1024;
/// How deep brackets may nest (the parser recurses: a bound keeps any thread's stack safe; AWS
/// documents none, and no pattern written by hand comes near it).
pub(crate) const MAX_DEPTH: usize = 100;
/// Regular expressions allowed in one pattern.
pub const MAX_REGEXES: usize = 2;

/// A pattern that failed to compile: what is wrong and at which column (1-based, in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct FilterError {
    pub message: String,
    pub column: usize,
}
