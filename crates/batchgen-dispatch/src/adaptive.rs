//! The `--rate auto` controller: AIMD on 429s with a remembered ceiling (docs/run.md says
//! why AIMD and not a gradient method).
//!
//! Pure state: the budget's pacer asks [`Aimd::rate`] before each grant, reports grants
//! with [`Aimd::granted`] and 429s with [`Aimd::rate_limited`]; every method takes `now`, so
//! tests drive it on a fake clock.

use tokio::time::{Duration, Instant};

/// Where the rate starts.
pub const START_RATE: f64 = 2.0;
/// The lowest rate it goes to.
pub const MIN_RATE: f64 = 0.2;
/// Highest rate without `--max-rate`.
pub const DEFAULT_MAX_RATE: f64 = 1000.0;
/// How often the rate may rise.
const STEP: Duration = Duration::from_secs(1);
/// 429s within this long after a cut answer requests sent before it: no second cut.
const HOLD_AFTER_CUT: Duration = Duration::from_secs(1);
/// Multiplicative decrease.
const BACKOFF: f64 = 0.7;
/// Decrease at the first 429 (the end of slow start, which overshoots by up to its growth).
const FIRST_BACKOFF: f64 = 0.5;
/// Growth per step in slow start.
const SLOW_START: f64 = 1.5;
/// Below this share of the ceiling the rate climbs back quickly.
const SAFE_SHARE: f64 = 0.9;
/// Above it, it probes by this share a step.
const PROBE: f64 = 0.02;
/// A rate this far above the ceiling without a 429 means the limit rose.
const FORGET_ABOVE: f64 = 1.1;
/// A step raises the rate only if the run used at least this share of it.
const BUSY_SHARE: f64 = 0.8;

/// The controller's constants for the shared budget's script (`shared_budget.lua` runs the
/// same controller in Redis), in its order: start, min, max, step (µs), busy share, slow-start
/// growth, safe share, probe, forget-above, hold after a cut (µs), backoff, first backoff.
pub(crate) fn constants(max: Option<f64>) -> [f64; 12] {
    let max = max.unwrap_or(DEFAULT_MAX_RATE).max(MIN_RATE);
    [
        START_RATE,
        MIN_RATE,
        max,
        STEP.as_micros() as f64,
        BUSY_SHARE,
        SLOW_START,
        SAFE_SHARE,
        PROBE,
        FORGET_ABOVE,
        HOLD_AFTER_CUT.as_micros() as f64,
        BACKOFF,
        FIRST_BACKOFF,
    ]
}

/// The controller's state.
#[derive(Clone, Debug)]
pub struct Aimd {
    rate: f64,
    max: f64,
    /// The rate at the last 429, while it is believed.
    ceiling: Option<f64>,
    step_started: Instant,
    grants_in_step: u64,
    last_cut: Option<Instant>,
    cuts: u64,
}

impl Aimd {
    /// A controller starting at [`START_RATE`] (or `max` if lower), capped at `max`
    /// (requests per second).
    pub fn new(max: Option<f64>, now: Instant) -> Aimd {
        let max = max.unwrap_or(DEFAULT_MAX_RATE).max(MIN_RATE);
        Aimd {
            rate: START_RATE.min(max),
            max,
            ceiling: None,
            step_started: now,
            grants_in_step: 0,
            last_cut: None,
            cuts: 0,
        }
    }

    /// The rate in force (requests per second), after raising it if a step has passed.
    pub fn rate(&mut self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.step_started);
        if elapsed >= STEP {
            let used = self.grants_in_step as f64 / elapsed.as_secs_f64();
            if used >= BUSY_SHARE * self.rate {
                self.raise();
            }
            self.step_started = now;
            self.grants_in_step = 0;
        }
        self.rate
    }

    fn raise(&mut self) {
        let next = match self.ceiling {
            None => self.rate * SLOW_START,
            Some(c) if self.rate < SAFE_SHARE * c => {
                self.rate + (SAFE_SHARE * c - self.rate).max(0.0) * 0.5 + 0.1
            }
            Some(c) => {
                let next = self.rate * (1.0 + PROBE) + 0.05;
                if next > FORGET_ABOVE * c {
                    // Probes pass well above the old ceiling: the limit rose.
                    self.ceiling = None;
                }
                next
            }
        };
        self.rate = next.min(self.max);
    }

    /// One request was granted at `now`.
    pub fn granted(&mut self, _now: Instant) {
        self.grants_in_step += 1;
    }

    /// A 429 came back at `now`: cut the rate unless one was cut just before.
    pub fn rate_limited(&mut self, now: Instant) {
        if self
            .last_cut
            .is_some_and(|t| now.saturating_duration_since(t) < HOLD_AFTER_CUT)
        {
            return;
        }
        let factor = if self.ceiling.is_none() {
            FIRST_BACKOFF
        } else {
            BACKOFF
        };
        self.ceiling = Some(self.rate);
        self.rate = (self.rate * factor).max(MIN_RATE);
        self.last_cut = Some(now);
        self.cuts += 1;
        self.step_started = now;
        self.grants_in_step = 0;
    }

    /// The rate last in force, without stepping.
    pub fn current(&self) -> f64 {
        self.rate
    }

    /// How many times a 429 cut the rate.
    pub fn cuts(&self) -> u64 {
        self.cuts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake server with a per-second limit that may change, driven one second at a time:
    /// the client sends what the controller allows; whatever exceeds the limit is a 429.
    /// Returns (sent, refused) for each second.
    fn simulate(limit_at: impl Fn(u64) -> f64, secs: u64, max: Option<f64>) -> Vec<(f64, f64)> {
        let t0 = Instant::now();
        let mut c = Aimd::new(max, t0);
        let mut out = Vec::new();
        for s in 0..secs {
            let limit = limit_at(s);
            // Ten slices a second, so a cut takes effect within the second.
            let mut sent = 0.0;
            let mut refused = 0.0;
            for slice in 0..10 {
                let now = t0 + Duration::from_millis(s * 1000 + slice * 100);
                let rate = c.rate(now);
                let n = rate / 10.0;
                let room = (limit / 10.0 - n).min(0.0);
                sent += n;
                for _ in 0..(n.round() as u64).max(1) {
                    c.granted(now);
                }
                if room < 0.0 {
                    refused += -room;
                    c.rate_limited(now);
                }
            }
            out.push((sent, refused));
        }
        out
    }

    fn share(v: &[(f64, f64)], of: impl Fn(&(f64, f64)) -> f64) -> f64 {
        v.iter().map(of).sum::<f64>()
    }

    #[test]
    fn finds_each_limit_and_stays_just_under_it() {
        for limit in [2.0, 10.0, 50.0, 200.0] {
            let run = simulate(|_| limit, 120, None);
            // After the search (the first 20 s), throughput is near the limit and 429s rare.
            let settled = &run[20..];
            let sent = share(settled, |x| x.0);
            let refused = share(settled, |x| x.1);
            let ideal = limit * settled.len() as f64;
            assert!(sent >= 0.8 * ideal, "{limit}/s: {sent} of {ideal}");
            assert!(
                refused <= 0.02 * sent,
                "{limit}/s: {refused} refused of {sent}"
            );
        }
    }

    #[test]
    fn follows_a_limit_that_drops_then_rises() {
        let run = simulate(
            |s| {
                if s < 60 {
                    50.0
                } else if s < 120 {
                    10.0
                } else {
                    40.0
                }
            },
            200,
            None,
        );
        let at = |range: std::ops::Range<usize>| {
            share(&run[range.clone()], |x| x.0) / range.len() as f64
        };
        assert!(at(40..60) >= 40.0, "{}", at(40..60));
        assert!((8.0..=10.5).contains(&at(80..120)), "{}", at(80..120));
        assert!(
            at(180..200) >= 32.0,
            "the higher limit is found again: {}",
            at(180..200)
        );
    }

    #[test]
    fn max_rate_caps_it_and_idle_runs_do_not_climb() {
        let run = simulate(|_| 500.0, 60, Some(30.0));
        assert!(run.iter().all(|x| x.0 <= 30.0 + 1e-9), "{run:?}");
        assert!(run[30].0 >= 29.0);
        // Nobody asks for budget: the rate stays where it started.
        let t0 = Instant::now();
        let mut c = Aimd::new(None, t0);
        for s in 1..30 {
            c.rate(t0 + Duration::from_secs(s));
        }
        assert_eq!(c.current(), START_RATE);
    }

    #[test]
    fn a_burst_of_429s_cuts_once() {
        let t0 = Instant::now();
        let mut c = Aimd::new(None, t0);
        for s in 1..6 {
            let now = t0 + Duration::from_secs(s);
            c.rate(now);
            for _ in 0..100 {
                c.granted(now);
            }
        }
        let before = c.rate(t0 + Duration::from_secs(6));
        for ms in 0..10 {
            c.rate_limited(t0 + Duration::from_secs(6) + Duration::from_millis(ms * 50));
        }
        assert_eq!(c.cuts(), 1);
        assert!((c.current() - before * FIRST_BACKOFF).abs() < 1e-9);
        let again = c.current();
        c.rate_limited(t0 + Duration::from_secs(8));
        assert_eq!(c.cuts(), 2);
        assert!((c.current() - again * BACKOFF).abs() < 1e-9);
    }
}
