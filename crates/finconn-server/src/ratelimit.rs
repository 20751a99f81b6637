//! Per-key request rate limits, as Stripe answers them: 429 `rate_limit`. Each key has a read bucket
//! (GET) and a write bucket (POST, DELETE) of `rate` tokens, refilled at `rate` per second, so a key may
//! burst one second's worth and then keep the rate. Buckets live in this process: with several finconn
//! processes behind a balancer, a key's limit is per process (documented).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<(String, bool), Bucket>>,
}

/// How many buckets before idle ones are dropped.
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// `per_second` 0: no limit.
    pub fn new(per_second: u32) -> Self {
        Self { rate: f64::from(per_second), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key` (a key's digest) in its read or write bucket; false when it is empty.
    pub fn allow(&self, key: &str, write: bool) -> bool {
        self.allow_at(key, write, Instant::now())
    }

    fn allow_at(&self, key: &str, write: bool, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let Ok(mut buckets) = self.buckets.lock() else { return true };
        if buckets.len() >= MAX_BUCKETS {
            let rate = self.rate;
            // Full buckets carry no state worth keeping.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < rate);
        }
        let b = buckets.entry((key.to_owned(), write)).or_insert(Bucket { tokens: self.rate, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.rate);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_beyond_the_rate_is_refused_then_refills() {
        let l = RateLimiter::new(20);
        let t = Instant::now();
        let allowed = (0..200).filter(|_| l.allow_at("k", true, t)).count();
        assert_eq!(allowed, 20);
        assert!(l.allow_at("other", true, t), "another key has its own bucket");
        assert!(l.allow_at("k", false, t), "reads have their own bucket");
        assert!(!l.allow_at("k", true, t));
        assert!(l.allow_at("k", true, t + Duration::from_millis(100)), "two tokens back after 100 ms");
        assert!((0..200).all(|_| RateLimiter::new(0).allow_at("k", true, t)), "0: no limit");
    }
}
