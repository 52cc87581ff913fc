//! `Caller` sends one kind of API call to one region: through a client-side rate limiter (the
//! API's quota, no bursts), retrying throttling and transient failures with exponential backoff
//! and jitter, so that a retry also waits for the limiter; and pages a request to its end.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::error::{describe, kind_of, ApiError, ApiErrorKind};
use crate::backoff::Backoff;

/// API calls made and throttled, per source (read by the metrics).
#[derive(Debug, Default)]
pub struct ApiStats {
    pub calls: AtomicU64,
    pub throttled: AtomicU64,
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
            let kind = kind_of(&e);
            if kind == ApiErrorKind::Throttled {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            let retryable = matches!(kind, ApiErrorKind::Throttled | ApiErrorKind::Transient);
            if !retryable || retry >= self.backoff.attempts {
                return Err(describe(action, &e));
            }
            let wait = self.backoff.delay(retry);
            tracing::debug!(action, retry, ?wait, error = %super::error::chain_text(&e), "retrying");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// Calls `f` (a call signed here, already described) until it succeeds, fails for good, or
    /// runs out of retries.
    pub async fn call_signed<T, F, Fut>(&self, mut f: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut retry = 0;
        loop {
            self.limiter.until_ready().await;
            self.stats.calls.fetch_add(1, Ordering::Relaxed);
            let e = match f().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if e.kind == ApiErrorKind::Throttled {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            let retryable = matches!(e.kind, ApiErrorKind::Throttled | ApiErrorKind::Transient);
            if !retryable || retry >= self.backoff.attempts {
                return Err(e);
            }
            let wait = self.backoff.delay(retry);
            tracing::debug!(action = %e.action, retry, ?wait, error = %e.message, "retrying");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}
