//! The per-key request budget behind `--rate-limit`.
//!
//! One token bucket per key: it holds at most `N` requests and refills at `N` a second,
//! so a client may burst `N` calls and then keep to `N` a second (the same contract as a
//! GCRA limiter such as governor with `N`/s and burst `N`). Every API call of a key,
//! v3, v2, auth, list or progress, takes from the same bucket. Keys are stored only as
//! hashes, so a wrong key a client sends is never kept in memory as text.
//!
//! `N` may change during a run ([`RateSchedule`]: 50/s, then 10/s from 30 s on): a bucket
//! always refills at the rate in force and never holds more than it, so a drop takes
//! effect at once.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

use crate::limits::RateSchedule;

/// Past this many buckets, idle full ones are forgotten (they hold nothing worth keeping).
const PRUNE_ABOVE: usize = 4096;

pub(crate) struct Budget {
    schedule: RateSchedule,
    started: Instant,
    hasher: RandomState,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Where a key's budget stands after a call, for the `RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Quota {
    /// Calls a second now in force (also the bucket's size).
    pub limit: u32,
    /// Whole calls left in the bucket.
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset: Duration,
}

/// A refused call: the quota (nothing remaining) and the wait until there is room, in
/// whole seconds, at least 1, as `Retry-After` wants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Refused {
    pub quota: Quota,
    pub retry_after: u64,
}

impl Budget {
    /// A budget following `schedule` from `started`; a rate of 0 allows everything.
    pub fn new(schedule: RateSchedule, started: Instant) -> Self {
        Budget {
            schedule,
            started,
            hasher: RandomState::new(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The rate in force at `now` (0: no limit).
    pub fn rate_at(&self, now: Instant) -> u32 {
        self.schedule
            .rate_at(now.saturating_duration_since(self.started))
    }

    /// Takes one call from `key`'s budget. `Ok(None)` when no limit is in force.
    pub fn take(&self, key: &str, now: Instant) -> Result<Option<Quota>, Refused> {
        let per_second = self.rate_at(now);
        if per_second == 0 {
            return Ok(None);
        }
        let rate = f64::from(per_second);
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
        let quota = |tokens: f64| Quota {
            limit: per_second,
            remaining: tokens.floor().max(0.0) as u32,
            reset: Duration::from_secs_f64(((rate - tokens) / rate).max(0.0)),
        };
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(Some(quota(b.tokens)))
        } else {
            let wait = (1.0 - b.tokens) / rate;
            Err(Refused {
                quota: quota(b.tokens),
                retry_after: (wait.ceil() as u64).max(1),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(n: u32, t0: Instant) -> Budget {
        Budget::new(RateSchedule::fixed(n), t0)
    }

    #[test]
    fn allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let b = fixed(5, t0);
        for left in (0..5).rev() {
            assert_eq!(b.take("k", t0).unwrap().unwrap().remaining, left);
        }
        let refused = b.take("k", t0).unwrap_err();
        assert_eq!(refused.retry_after, 1);
        assert_eq!((refused.quota.limit, refused.quota.remaining), (5, 0));
        assert_eq!(refused.quota.reset, Duration::from_secs(1));
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
        let t0 = Instant::now();
        let b = fixed(1, t0);
        assert!(b.take("a", t0).is_ok());
        assert!(b.take("a", t0).is_err());
        assert!(b.take("b", t0).is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let t0 = Instant::now();
        let b = fixed(0, t0);
        assert!((0..10_000).all(|_| b.take("k", t0) == Ok(None)));
    }

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        let t0 = Instant::now();
        let b = fixed(1000, t0);
        for _ in 0..1000 {
            b.take("k", t0).unwrap();
        }
        assert_eq!(b.take("k", t0).unwrap_err().retry_after, 1);
    }

    /// Calls granted in one second of calls every millisecond.
    fn granted_in_a_second(b: &Budget, from: Instant) -> usize {
        (0..1000)
            .filter(|ms| b.take("k", from + Duration::from_millis(*ms)).is_ok())
            .count()
    }

    #[test]
    fn a_schedule_changes_the_rate_mid_run() {
        let t0 = Instant::now();
        let s: RateSchedule = "50,10@10s".parse().unwrap();
        let b = Budget::new(s, t0);
        assert_eq!(b.rate_at(t0), 50);
        assert_eq!(b.rate_at(t0 + Duration::from_secs(10)), 10);
        // A call every millisecond throughout: after the first burst 50/s, then at once
        // 10/s after the drop (the bucket never holds more than the rate in force).
        let per_second: Vec<usize> = (0..12)
            .map(|sec| granted_in_a_second(&b, t0 + Duration::from_secs(sec)))
            .collect();
        assert!(
            (99..=100).contains(&per_second[0]),
            "burst + rate: {per_second:?}"
        );
        assert!(
            per_second[1..10].iter().all(|n| (49..=51).contains(n)),
            "{per_second:?}"
        );
        assert!(
            per_second[10..].iter().all(|n| (10..=11).contains(n)),
            "{per_second:?}"
        );
        let q = b.take("k", t0 + Duration::from_secs(12)).err().unwrap();
        assert_eq!(q.quota.limit, 10);
    }
}
