//! Retry timing shared by AWS calls and deliveries: exponential, capped, with jitter.

use std::time::Duration;

use crate::defaults;

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
