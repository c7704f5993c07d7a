//! Retries: exponential backoff with full jitter, and what to do about a failed call.
//!
//! Only [`ErrorClass::Retryable`] failures are retried. The wait before attempt `n + 1` is drawn
//! uniformly from `0..=min(cap, base × 2^(n-1))` ("full jitter": many rows failing together do not
//! come back together). When the server sent `Retry-After`, the wait is at least that long, and
//! the whole run pauses with it (see [`crate::budget::Budget::pause_until`]).

use std::time::Duration;

use batchgen_aistudios::{ApiError, ErrorClass};
use rand::RngExt;

/// Backoff settings: the first wait's upper bound, the largest wait, and how many attempts a
/// request gets in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Upper bound of the first wait.
    pub base: Duration,
    /// No wait is longer than this (a `Retry-After` excepted).
    pub cap: Duration,
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
}

impl Default for Backoff {
    /// 500 ms, doubling up to 30 s, 6 attempts.
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_attempts: 6,
        }
    }
}

impl Backoff {
    /// The largest wait after `attempt` failed attempts (`attempt` ≥ 1): `min(cap, base × 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << doublings).min(self.cap)
    }

    /// A wait after `attempt` failed attempts, drawn uniformly from `0..=ceiling(attempt)`, and
    /// never shorter than `retry_after`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling(attempt);
        let drawn = ceiling.mul_f64(rand::rng().random_range(0.0..=1.0));
        match retry_after {
            Some(ra) => drawn.max(ra),
            None => drawn,
        }
    }
}

/// What to do after a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Wait `after`, then try again. `maybe_applied`: the server may have acted (a create may
    /// have made a project): look before sending again. `retry_after`: the server asked the
    /// whole run to wait this long.
    Retry {
        /// How long to wait before the next attempt.
        after: Duration,
        /// Whether the failed request may have taken effect.
        maybe_applied: bool,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// Retryable, but the attempts are used up: the row fails for a transient reason
    /// (`--resume` tries it again).
    GiveUp,
    /// This request will never succeed: fail the row.
    FailRow,
    /// Nothing will succeed (refused credentials): stop the run.
    StopRun,
}

/// Decides what to do after `attempt` attempts (≥ 1) of a call failed with `error`.
pub fn decide(error: &ApiError, attempt: u32, backoff: &Backoff) -> Action {
    match error.class() {
        ErrorClass::Retryable {
            retry_after,
            maybe_applied,
        } => {
            if attempt >= backoff.max_attempts {
                Action::GiveUp
            } else {
                Action::Retry {
                    after: backoff.delay(attempt, retry_after),
                    maybe_applied,
                    retry_after,
                }
            }
        }
        ErrorClass::RowFatal => Action::FailRow,
        ErrorClass::RunFatal => Action::StopRun,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use batchgen_aistudios::{ApiErrorKind, Call};

    fn rejected(status: u16, retry_after: Option<u64>) -> ApiError {
        ApiError::new(
            Call::CreateProject,
            ApiErrorKind::Rejected {
                status,
                code: None,
                message: String::new(),
                retry_after: retry_after.map(Duration::from_secs),
            },
        )
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: 10,
        };
        let c: Vec<u64> = (1..=6).map(|n| b.ceiling(n).as_millis() as u64).collect();
        assert_eq!(c, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.ceiling(1000), Duration::from_secs(1));
    }

    #[test]
    fn delays_stay_within_bounds_and_spread() {
        let b = Backoff::default();
        let mut seen = Vec::new();
        for _ in 0..2000 {
            let d = b.delay(3, None);
            assert!(d <= b.ceiling(3), "{d:?}");
            seen.push(d);
        }
        // Full jitter: draws cover the range, not just its top.
        assert!(seen.iter().any(|d| *d < b.ceiling(3) / 4));
        assert!(seen.iter().any(|d| *d > b.ceiling(3) * 3 / 4));
        for _ in 0..100 {
            assert!(b.delay(1, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
        }
    }

    #[test]
    fn classes_become_actions() {
        let b = Backoff::default();
        match decide(&rejected(429, Some(3)), 1, &b) {
            Action::Retry {
                after,
                maybe_applied: false,
                retry_after: Some(ra),
            } => {
                assert!(after >= Duration::from_secs(3));
                assert_eq!(ra, Duration::from_secs(3));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&rejected(500, None), 1, &b),
            Action::Retry {
                maybe_applied: true,
                ..
            }
        ));
        assert_eq!(decide(&rejected(500, None), 6, &b), Action::GiveUp);
        assert_eq!(decide(&rejected(400, None), 1, &b), Action::FailRow);
        assert_eq!(decide(&rejected(401, None), 1, &b), Action::StopRun);
    }
}
