//! A failed API call, described for an operator: what was asked, AWS's code and message, and
//! what to do (the IAM permission that is missing, expired credentials…).

use aws_sdk_cloudtrail::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::caller::HasStatus;

/// A failed API call, after retries, described for an operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action}: {message}")]
pub struct ApiError {
    /// What was asked: `cloudtrail:LookupEvents in us-east-1`.
    pub action: String,
    /// The error code and message, or the transport failure, with advice.
    pub message: String,
}

pub(super) fn describe<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    action: &str,
    e: &SdkError<E, aws_sdk_cloudtrail::config::http::HttpResponse>,
    transient: bool,
) -> ApiError {
    let (code, message) = match e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().map(str::to_string);
            let msg = se.err().message().unwrap_or("").to_string();
            let shown = match &code {
                Some(c) => format!("{c}: {msg} (HTTP {})", se.raw().status_code()),
                None => format!("HTTP {}: {msg}", se.raw().status_code()),
            };
            (code, shown)
        }
        other => (None, DisplayErrorContext(other).to_string()),
    };
    let hint = match code.as_deref() {
        Some(c) if c.contains("AccessDenied") || c == "UnauthorizedOperation" => {
            format!(
                " — the credentials lack the IAM permission {}",
                action.split(' ').next().unwrap_or(action)
            )
        }
        Some("ExpiredTokenException" | "ExpiredToken") => {
            " — the credentials have expired".to_string()
        }
        Some("UnrecognizedClientException" | "InvalidClientTokenId") => {
            " — the access key is not valid".to_string()
        }
        _ if transient => " (gave up after retries; the next poll tries again)".to_string(),
        _ => String::new(),
    };
    ApiError {
        action: action.to_string(),
        message: format!("{message}{hint}"),
    }
}
