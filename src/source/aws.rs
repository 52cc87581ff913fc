//! AWS access for the sources: the SDK configuration (the standard credential chain, a
//! profile, an assumed role, an endpoint override), and `Caller`, which sends one API call
//! through a client-side rate limiter and retries throttling and transient failures with
//! exponential backoff and jitter.
//!
//! The SDK's own retries are turned off: they would bypass the rate limiter, and a retry that
//! waits for the limiter is what keeps a sweep inside the API's quota.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudtrail::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use crate::defaults;

/// How a source reaches AWS (all optional: the standard chain is the default).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AwsAccess {
    /// A named profile from ~/.aws/config.
    pub profile: Option<String>,
    /// A role to assume (another account's reader role).
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
    /// An endpoint override (tests, VPC endpoints).
    pub endpoint_url: Option<String>,
}

/// The SDK configuration for one region.
pub async fn sdk_config(access: &AwsAccess, region: &str) -> SdkConfig {
    let loader = || {
        let mut l = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(defaults::AWS_CALL_TIMEOUT)
                    .build(),
            );
        if let Some(p) = &access.profile {
            l = l.profile_name(p);
        }
        if let Some(u) = &access.endpoint_url {
            l = l.endpoint_url(u);
        }
        l
    };
    let base = loader().load().await;
    let Some(role) = &access.role_arn else {
        return base;
    };
    let mut b = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name(access.session_name.as_deref().unwrap_or("trailwatch"))
        .region(Region::new(region.to_string()))
        .configure(&base);
    if let Some(x) = &access.external_id {
        b = b.external_id(x);
    }
    loader().credentials_provider(b.build().await).load().await
}

/// The region the standard chain resolves (AWS_REGION, the profile…), if any.
pub async fn default_region(access: &AwsAccess) -> Option<String> {
    let mut chain = aws_config::default_provider::region::DefaultRegionChain::builder();
    if let Some(p) = &access.profile {
        chain = chain.profile_name(p);
    }
    chain.build().region().await.map(|r| r.to_string())
}

/// API calls made and throttled, per source (read by the metrics).
#[derive(Debug, Default)]
pub struct ApiStats {
    pub calls: AtomicU64,
    pub throttled: AtomicU64,
    pub failed: AtomicU64,
}

/// Retry timing.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max_delay: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: defaults::RETRY_INITIAL,
            max_delay: defaults::RETRY_MAX_DELAY,
            attempts: defaults::RETRY_ATTEMPTS,
        }
    }
}

impl Backoff {
    /// The wait before retry `n` (0-based): exponential, capped, with full jitter in its upper half.
    pub fn delay(&self, n: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << n.min(16))
            .min(self.max_delay);
        base.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// A failed API call, after retries, described for an operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action}: {message}")]
pub struct ApiError {
    /// What was asked: `cloudtrail:LookupEvents in us-east-1`.
    pub action: String,
    /// The error code and message, or the transport failure.
    pub message: String,
    /// The error code AWS returned, when it returned one.
    pub code: Option<String>,
    /// True when retrying later may succeed (throttling, 5xx, network).
    pub transient: bool,
}

/// How one failed attempt should be handled.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    Throttled,
    Transient,
    Fatal,
}

const THROTTLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
];

fn classify<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Failure
where
    R: HasStatus,
{
    match e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("");
            let status = se.raw().status_code();
            if THROTTLE_CODES.contains(&code) || status == 429 {
                Failure::Throttled
            } else if status >= 500 || code == "ServiceUnavailableException" {
                Failure::Transient
            } else {
                Failure::Fatal
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Transient
        }
        _ => Failure::Fatal,
    }
}

/// The HTTP status of a raw response (implemented for the SDK's response type).
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_cloudtrail::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Sends API calls of one kind to one region within a rate, retrying what can be retried.
pub struct Caller {
    limiter: DefaultDirectRateLimiter,
    backoff: Backoff,
    stats: Arc<ApiStats>,
}

impl Caller {
    /// `rate` calls per second at most, spaced evenly (no bursts).
    pub fn new(rate: f64, backoff: Backoff, stats: Arc<ApiStats>) -> Caller {
        let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let quota = Quota::with_period(period)
            .expect("a positive period")
            .allow_burst(NonZeroU32::MIN);
        Caller {
            limiter: RateLimiter::direct(quota),
            backoff,
            stats,
        }
    }

    /// Calls `f` until it succeeds, fails for good, or runs out of retries.
    pub async fn call<T, E, F, Fut>(&self, action: &str, mut f: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut:
            Future<Output = Result<T, SdkError<E, aws_sdk_cloudtrail::config::http::HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut retry = 0;
        loop {
            self.limiter.until_ready().await;
            self.stats.calls.fetch_add(1, Ordering::Relaxed);
            let e = match f().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let failure = classify(&e);
            if failure == Failure::Throttled {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            if failure == Failure::Fatal || retry >= self.backoff.attempts {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                return Err(describe(action, &e, failure != Failure::Fatal));
            }
            let wait = self.backoff.delay(retry);
            tracing::debug!(action, retry, ?wait, error = %DisplayErrorContext(&e), "retrying");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}

impl Caller {
    /// Pages a request to its end: `send(token)` makes one call, `take(output)` hands its
    /// records on and returns the next token. Each page goes through `call` (limiter, retries);
    /// a page is asked again with the same token, so a retry never skips or repeats one.
    /// Returns the number of pages.
    pub async fn paginate<O, E, F, Fut>(
        &self,
        action: &str,
        mut send: F,
        mut take: impl FnMut(O) -> Option<String>,
    ) -> Result<u64, ApiError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut:
            Future<Output = Result<O, SdkError<E, aws_sdk_cloudtrail::config::http::HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let out = self.call(action, || send(token.clone())).await?;
            pages += 1;
            match take(out) {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(pages),
            }
        }
    }
}

fn describe<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
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
        code,
        transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            attempts: 5,
        };
        for n in 0..10 {
            let d = b.delay(n);
            let base = Duration::from_millis(100 * (1 << n.min(16))).min(Duration::from_secs(1));
            assert!(d >= base / 2 && d <= base, "retry {n}: {d:?} vs {base:?}");
        }
    }
}
