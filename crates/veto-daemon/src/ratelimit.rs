//! A token bucket per principal for mutating routes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Allows `per_second` requests per principal on average, with bursts of `burst`.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    // A std Mutex: held for a few arithmetic operations, never across an await.
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter; `per_second == 0` disables it.
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `principal`, or answers 429 with the seconds until one is free.
    pub fn check(&self, principal: &str) -> Result<(), ApiError> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|poison| poison.into_inner());
        if buckets.len() > 10_000 {
            // Forget idle principals rather than grow without bound.
            buckets.retain(|_, bucket| now.duration_since(bucket.updated).as_secs() < 60);
        }
        let bucket = buckets.entry(principal.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait_secs = ((1.0 - bucket.tokens) / self.per_second).ceil() as u64;
            Err(ApiError::rate_limited(wait_secs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_limited_per_principal() {
        let limiter = RateLimiter::new(1, 3);
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let error = limiter.check("a").unwrap_err();
        assert_eq!(error.code().as_str(), "rate_limited");
        assert!(limiter.check("b").is_ok(), "another principal has its own bucket");
    }

    #[test]
    fn zero_disables_the_limit() {
        let limiter = RateLimiter::new(0, 0);
        assert!((0..1000).all(|_| limiter.check("a").is_ok()));
    }
}
