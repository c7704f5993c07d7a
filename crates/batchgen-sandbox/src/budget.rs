//! The per-key request budget behind `--rate-limit N`.
//!
//! One token bucket per key: it holds at most `N` requests and refills at `N` a second,
//! so a client may burst `N` calls and then keep to `N` a second (the same contract as a
//! GCRA limiter such as governor with `N`/s and burst `N`). Every API call of a key,
//! v3, v2, auth, list or progress, takes from the same bucket. Keys are stored only as
//! hashes, so a wrong key a client sends is never kept in memory as text.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Past this many buckets, idle full ones are forgotten (they hold nothing worth keeping).
const PRUNE_ABOVE: usize = 4096;

pub(crate) struct Budget {
    per_second: u32,
    hasher: RandomState,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Budget {
    /// A budget of `per_second` calls a second per key; `0` allows everything.
    pub fn new(per_second: u32) -> Self {
        Budget {
            per_second,
            hasher: RandomState::new(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from `key`'s budget, or says how long until the budget has room
    /// (in whole seconds, at least 1, as `Retry-After` wants).
    pub fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.per_second == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_second);
        let id = self.hasher.hash_one(key);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets
                .retain(|_, b| now.saturating_duration_since(b.updated) < Duration::from_secs(2));
        }
        let b = buckets.entry(id).or_insert(Bucket {
            tokens: rate,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(rate);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / rate;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let b = Budget::new(5);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(b.take("k", t0).is_ok());
        }
        assert_eq!(b.take("k", t0), Err(1));
        // 200 ms later one more call has room, not two.
        let t1 = t0 + Duration::from_millis(200);
        assert!(b.take("k", t1).is_ok());
        assert!(b.take("k", t1).is_err());
        // After a full second idle the whole burst is back.
        let t2 = t1 + Duration::from_secs(1);
        for _ in 0..5 {
            assert!(b.take("k", t2).is_ok());
        }
    }

    #[test]
    fn keys_have_separate_budgets() {
        let b = Budget::new(1);
        let t0 = Instant::now();
        assert!(b.take("a", t0).is_ok());
        assert!(b.take("a", t0).is_err());
        assert!(b.take("b", t0).is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let b = Budget::new(0);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| b.take("k", t0).is_ok()));
    }

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        let b = Budget::new(1000);
        let t0 = Instant::now();
        for _ in 0..1000 {
            b.take("k", t0).unwrap();
        }
        assert_eq!(b.take("k", t0), Err(1));
    }
}
