//! [`PollSchedule`]: when to look at a render next.
//!
//! The first poll comes `interval` after the submission; without better knowledge the next
//! intervals grow ×1.5 up to `cap`, each jittered by ±20 % so projects submitted together do
//! not poll together. When the API reports a percentage, the schedule uses it: the rate of
//! progress so far gives an estimate of the time left, and the next poll is aimed just past the
//! estimated end (+10 % and 100 ms), bounded above by the growing interval and below by a floor
//! (`min(interval, 500 ms)`, doubled after each estimate that proved too early). With
//! steady progress this finds most renders finished at the first or second poll.

use std::time::Duration;

use rand::RngExt;

/// Poll settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollConfig {
    /// The first wait, and the start of the growing intervals (`--poll-interval`).
    pub interval: Duration,
    /// The longest wait between two polls (`--poll-cap`).
    pub cap: Duration,
    /// Aim polls at the end estimated from reported progress. Off for a safety net (with
    /// webhooks the callback says when a render ends; polls only catch lost callbacks).
    pub aim_at_end: bool,
}

impl Default for PollConfig {
    /// 2 s growing to 30 s, aimed at the estimated end.
    fn default() -> PollConfig {
        PollConfig {
            interval: Duration::from_secs(2),
            cap: Duration::from_secs(30),
            aim_at_end: true,
        }
    }
}

impl PollConfig {
    /// A safety net behind webhooks: polls from `interval` growing to `cap`, never aimed at an
    /// estimated end.
    pub fn safety_net(interval: Duration, cap: Duration) -> PollConfig {
        PollConfig {
            interval,
            cap,
            aim_at_end: false,
        }
    }
}

/// Growth of the interval between polls without a usable estimate.
const GROWTH: f64 = 1.5;
/// Jitter applied to every wait: ±20 %.
const JITTER: f64 = 0.2;
/// The smallest estimate-based wait.
const FLOOR: Duration = Duration::from_millis(500);

/// One project's polling schedule.
#[derive(Clone, Debug)]
pub struct PollSchedule {
    config: PollConfig,
    /// The un-jittered upper bound of the next wait.
    current: Duration,
    /// The smallest estimate-based wait; doubles after each early estimate.
    floor: Duration,
    /// Whether the last wait was aimed at an estimated end.
    estimated: bool,
}

impl PollSchedule {
    /// A schedule for a project just submitted.
    pub fn new(config: PollConfig) -> PollSchedule {
        let cap = config.cap.max(config.interval);
        PollSchedule {
            config: PollConfig { cap, ..config },
            current: config.interval,
            floor: config.interval.min(FLOOR),
            estimated: false,
        }
    }

    /// The wait before the first poll: `interval`, jittered.
    pub fn first(&self) -> Duration {
        jitter(self.config.interval)
    }

    /// The wait after a poll that found the render at `percent` (if the API said), `elapsed`
    /// after it started.
    pub fn next(&mut self, percent: Option<f64>, elapsed: Duration) -> Duration {
        if self.estimated {
            // The last wait was aimed at the estimated end and the render was not done yet.
            self.floor = (self.floor * 2).min(self.config.cap);
        }
        let bound = self.current;
        self.current = self.current.mul_f64(GROWTH).min(self.config.cap);
        let percent = percent.filter(|_| self.config.aim_at_end);
        match percent.and_then(|p| remaining(p, elapsed)) {
            Some(left) => {
                let aim = left.mul_f64(1.1) + Duration::from_millis(100);
                // Only a wait that was aimed at the end (not cut short by the bound) can prove early.
                self.estimated = aim <= bound;
                aim.clamp(self.floor.min(bound), bound)
            }
            None => {
                self.estimated = false;
                jitter(bound)
            }
        }
    }
}

/// The time left if progress keeps its average pace so far; `None` without progress to go by.
pub fn remaining(percent: f64, elapsed: Duration) -> Option<Duration> {
    if !(percent.is_finite() && percent > 0.5 && percent < 100.0) || elapsed.is_zero() {
        return None;
    }
    let total = elapsed.as_secs_f64() * 100.0 / percent;
    Some(Duration::from_secs_f64(total - elapsed.as_secs_f64()))
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(1.0 - JITTER..=1.0 + JITTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn without_progress_intervals_grow_to_the_cap() {
        let mut s = PollSchedule::new(PollConfig {
            interval: ms(1000),
            cap: ms(4000),
            aim_at_end: true,
        });
        let f = s.first();
        assert!(f >= ms(800) && f <= ms(1200), "{f:?}");
        let bounds = [1000u64, 1500, 2250, 3375, 4000, 4000];
        for b in bounds {
            let d = s.next(None, ms(1));
            let (lo, hi) = (ms(b).mul_f64(0.8), ms(b).mul_f64(1.2));
            assert!(d >= lo && d <= hi, "{d:?} not within ±20% of {b} ms");
        }
    }

    #[test]
    fn progress_aims_at_the_estimated_end() {
        let mut s = PollSchedule::new(PollConfig {
            interval: ms(2000),
            cap: ms(30_000),
            aim_at_end: true,
        });
        // 40 % after 2 s: 3 s left; the aim (3.4 s) is cut to the current bound (2 s).
        assert_eq!(s.next(Some(40.0), ms(2000)), ms(2000));
        // 80 % after 4 s: 1 s left → 1.2 s.
        assert_eq!(s.next(Some(80.0), ms(4000)), ms(1200));
        // The estimate proved early: the floor doubles from 500 ms to 1 s, then 2 s.
        assert_eq!(s.next(Some(99.0), ms(5000)), ms(1000));
        assert_eq!(s.next(Some(99.5), ms(6000)), ms(2000));
    }

    #[test]
    fn a_safety_net_ignores_progress() {
        let mut s = PollSchedule::new(PollConfig::safety_net(ms(60_000), ms(300_000)));
        // 99 % after 60 s would aim at ~0.7 s; the safety net waits its growing interval.
        let d = s.next(Some(99.0), ms(60_000));
        assert!(d >= ms(48_000) && d <= ms(72_000), "{d:?}");
        let d = s.next(Some(99.5), ms(120_000));
        assert!(d >= ms(72_000) && d <= ms(108_000), "{d:?}");
    }

    #[test]
    fn estimates() {
        assert_eq!(remaining(50.0, ms(2000)), Some(ms(2000)));
        assert_eq!(remaining(25.0, ms(1000)), Some(ms(3000)));
        assert_eq!(remaining(0.0, ms(1000)), None);
        assert_eq!(remaining(100.0, ms(1000)), None);
        assert_eq!(remaining(f64::NAN, ms(1000)), None);
        assert_eq!(remaining(50.0, Duration::ZERO), None);
    }

    #[test]
    fn a_cap_below_the_interval_is_raised_to_it() {
        let mut s = PollSchedule::new(PollConfig {
            interval: ms(1000),
            cap: ms(10),
            aim_at_end: true,
        });
        let d = s.next(None, ms(1));
        assert!(d >= ms(800), "{d:?}");
    }
}
