//! `Caller` sends one kind of API call to one region: through a client-side rate limiter (the
//! API's quota, no bursts), retrying throttling and transient failures with exponential backoff
//! and jitter, so that a retry also waits for the limiter; and pages a request to its end.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudtrail::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::error::{describe, ApiError};
use crate::backoff::Backoff;

/// API calls made and throttled, per source (read by the metrics).
#[derive(Debug, Default)]
pub struct ApiStats {
    pub calls: AtomicU64,
    pub throttled: AtomicU64,
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
