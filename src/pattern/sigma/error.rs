//! Why a Sigma rule cannot be used: every refusal names what is wrong and where.

/// Why a Sigma rule cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SigmaError(pub String);

pub(super) fn err<T>(m: impl Into<String>) -> Result<T, SigmaError> {
    Err(SigmaError(m.into()))
}
