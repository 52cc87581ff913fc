//! A failed API call, described for an operator: what was asked, AWS's code and message, and
//! what to do (the IAM permission that is missing, expired credentials…); and how a failure
//! is handled (retried, given up, or taken as "not permitted" by a caller with a fallback).

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};

/// The HTTP status of a raw response (implemented for the SDK's response type).
pub(crate) trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_cloudtrail::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// What kind of failure an answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The credentials lack the permission (a caller may fall back).
    Denied,
    /// Too many calls: wait and retry.
    Throttled,
    /// 5xx, timeouts, network, or a request signed with a skewed clock: retry.
    Transient,
    /// Anything else: retrying cannot help.
    Other,
}

const THROTTLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
];

impl ApiErrorKind {
    /// The kind of an answer with this error code and HTTP status.
    pub fn of(code: &str, status: u16) -> ApiErrorKind {
        if THROTTLE_CODES.contains(&code) || status == 429 {
            ApiErrorKind::Throttled
        } else if status >= 500
            || code == "ServiceUnavailableException"
            || code == "RequestTimeTooSkewed"
            || code == "RequestExpired"
        {
            ApiErrorKind::Transient
        } else if code.contains("AccessDenied") || code == "UnauthorizedOperation" {
            ApiErrorKind::Denied
        } else {
            ApiErrorKind::Other
        }
    }

    /// Also looks at the message: a signature refused as expired comes from a host clock off
    /// by more than 5 minutes; the answer's `Date` has just corrected the clock, so a retry is
    /// signed right.
    pub fn of_message(code: &str, status: u16, message: &str) -> ApiErrorKind {
        if message.contains("Signature expired") || message.contains("RequestTimeTooSkewed") {
            ApiErrorKind::Transient
        } else {
            ApiErrorKind::of(code, status)
        }
    }
}

/// A failed API call, after retries, described for an operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action}: {message}")]
pub struct ApiError {
    /// What was asked: `cloudtrail:LookupEvents in us-east-1`.
    pub action: String,
    /// The error code and message, or the transport failure, with advice.
    pub message: String,
    pub kind: ApiErrorKind,
    /// AWS's error code (`NoSuchKey`, `ConditionalCheckFailedException`…), when the answer
    /// had one: what callers match on, never the message.
    pub code: Option<Box<str>>,
    /// A cancelled transaction's reasons, one code per item (`None`, `ConditionalCheckFailed`).
    pub reasons: Box<[String]>,
}

impl ApiError {
    /// An error of `action` (`iam:ListAccountAliases`…), with the advice its kind calls for.
    pub fn new(action: &str, message: String, kind: ApiErrorKind) -> ApiError {
        let hint = match kind {
            // An object encrypted with a KMS key needs kms:Decrypt on the key as well.
            ApiErrorKind::Denied
                if message.contains("kms:")
                    || message.contains("KMS")
                    || message.contains("master key") =>
            {
                " — the credentials lack kms:Decrypt on the bucket's KMS key".to_string()
            }
            ApiErrorKind::Denied => format!(
                " — the credentials lack the IAM permission {}",
                action.split(' ').next().unwrap_or(action)
            ),
            ApiErrorKind::Throttled | ApiErrorKind::Transient => {
                " (gave up after retries; the next poll tries again)".to_string()
            }
            ApiErrorKind::Other if message.contains("ExpiredToken") => {
                " — the credentials have expired".to_string()
            }
            ApiErrorKind::Other
                if message.contains("UnrecognizedClientException")
                    || message.contains("InvalidClientTokenId") =>
            {
                " — the access key is not valid".to_string()
            }
            ApiErrorKind::Other => String::new(),
        };
        ApiError {
            action: action.to_string(),
            message: format!("{message}{hint}"),
            kind,
            code: None,
            reasons: Box::default(),
        }
    }

    /// The same error, with AWS's error code (empty: none).
    pub(crate) fn coded(mut self, code: &str) -> ApiError {
        self.code = (!code.is_empty()).then(|| code.into());
        self
    }

    /// True when AWS answered with error code `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// True when a conditional write was refused by its condition: a `PutItem`/`UpdateItem`/
    /// `DeleteItem` whose condition failed, or a transaction cancelled for one.
    pub fn is_condition_failed(&self) -> bool {
        self.is("ConditionalCheckFailedException")
            || (self.is("TransactionCanceledException")
                && self.reasons.iter().any(|r| r == "ConditionalCheckFailed"))
    }
}

impl ApiError {
    /// True when AWS refused the request for its signing time (a host clock off by more than
    /// five minutes): asked again once the clock is corrected, it can succeed.
    pub fn is_clock(&self) -> bool {
        [
            "Signature expired",
            "RequestTimeTooSkewed",
            "Signature not yet current",
            "RequestExpired",
        ]
        .iter()
        .any(|m| self.message.contains(m))
    }
}

/// The kind of an SDK failure.
pub(super) fn kind_of<E: ProvideErrorMetadata, R: HasStatus>(e: &SdkError<E, R>) -> ApiErrorKind {
    match e {
        SdkError::ServiceError(se) => ApiErrorKind::of_message(
            se.err().code().unwrap_or(""),
            se.raw().status_code(),
            se.err().message().unwrap_or(""),
        ),
        // No credentials at all: asking again cannot help.
        SdkError::DispatchFailure(_) if no_credentials(e) => ApiErrorKind::Other,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ApiErrorKind::Transient
        }
        _ => ApiErrorKind::Other,
    }
}

/// True when the SDK could not load any credentials (a `CredentialsError` in the chain).
fn no_credentials<E, R>(e: &SdkError<E, R>) -> bool {
    let SdkError::DispatchFailure(d) = e else {
        return false;
    };
    let Some(c) = d.as_connector_error() else {
        return false;
    };
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(c);
    while let Some(x) = cur {
        if x.downcast_ref::<CredentialsError>().is_some() {
            return true;
        }
        cur = x.source();
    }
    false
}

/// An error and its causes in words, each said once ("dispatch failure: io error: connection
/// refused"), without the debug dump the SDK's `DisplayErrorContext` appends.
pub(crate) fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(x) = cur {
        let t = x.to_string();
        if !t.is_empty() && !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = x.source();
    }
    out
}

/// Why credentials could not be loaded, in AWS's own words: a role refused by STS says which
/// role and why (AccessDenied, ExpiredToken…), not "no credentials", which would send the
/// operator to the host's credentials when they work for every other account.
fn credentials_failure(chain: &str) -> String {
    const AWS_CODES: &[&str] = &[
        "AccessDenied",
        "ExpiredToken",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "RegionDisabledException",
        "MalformedPolicyDocument",
        "PackedPolicyTooLarge",
        "InvalidIdentityToken",
    ];
    let cause = AWS_CODES
        .iter()
        .filter_map(|c| chain.find(c))
        .min()
        .map(|i| chain[i..].trim().trim_end_matches(')').to_string());
    match cause {
        Some(c) if chain.contains("AssumeRole") || c.contains("sts:") => {
            format!("the role could not be assumed: {c}")
        }
        Some(c) => format!("the credentials were refused: {c}"),
        None => format!(
            "no AWS credentials could be loaded (environment, profile, SSO or instance role): {}",
            chain
                .rsplit("an error occurred while loading credentials")
                .next()
                .unwrap_or(chain)
                .trim_start_matches([':', ' '])
        ),
    }
}

/// An SDK failure described for an operator.
pub(super) fn describe<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    action: &str,
    e: &SdkError<E, aws_sdk_cloudtrail::config::http::HttpResponse>,
) -> ApiError {
    let code = match e {
        SdkError::ServiceError(se) => se.err().code().unwrap_or(""),
        _ => "",
    };
    let message = match e {
        SdkError::ServiceError(se) => {
            let msg = se.err().message().unwrap_or("");
            match se.err().code() {
                Some(c) => format!("{c}: {msg} (HTTP {})", se.raw().status_code()),
                None => format!("HTTP {}: {msg}", se.raw().status_code()),
            }
        }
        other if no_credentials(other) => credentials_failure(&chain_text(other)),
        other => chain_text(other),
    };
    ApiError::new(action, message, kind_of(e)).coded(code)
}
