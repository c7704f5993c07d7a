//! The `--rate auto` controller: AIMD on 429s with a remembered ceiling and a measured limit
//! (docs/run.md says why AIMD and not a gradient method, and gives the figures).
//!
//! Pure state: the budget's pacer asks [`Aimd::rate`] before each grant, reports grants
//! with [`Aimd::granted`] and 429s with [`Aimd::rate_limited`]; every method takes `now`, so
//! tests drive it on a fake clock.
//!
//! The rate rises in *rounds*. A round ends once it has lasted `ROUND` (250 ms) and granted enough
//! requests (a few in slow start and while climbing back, [`PROBE_ROUND_GRANTS`] while probing
//! above the safe share of the ceiling, so a probe costs about one 429 per hundred requests
//! whatever the limit); a round in which the run did not use most of the rate restarts
//! without a rise, so an idle run never climbs on no evidence.
//!
//! A 429 starts a *hold* of `HOLD_AFTER_CUT`: 429s within it answer requests sent before
//! the cut and do not cut again, but they are counted. A hold that saw 429s measured the
//! limit: a rate limiter that refuses some calls passes exactly its limit, so the calls it
//! passed in the hold (grants less refusals) are the limit, and the rate goes just under it.
//! This is what undoes the overshoot of a limiter with a burst (a token bucket lets a client
//! run above its limit until the bucket is empty).

use tokio::time::{Duration, Instant};

/// Where the rate starts.
pub const START_RATE: f64 = 4.0;
/// The lowest rate it goes to.
pub const MIN_RATE: f64 = 0.2;
/// Highest rate without `--max-rate`.
pub const DEFAULT_MAX_RATE: f64 = 1000.0;
/// The shortest round.
const ROUND: Duration = Duration::from_millis(250);
/// Grants a slow-start or climbing round needs at least.
const ROUND_GRANTS: u64 = 2;
/// Grants a probing round needs at least.
pub const PROBE_ROUND_GRANTS: u64 = 25;
/// 429s within this long after a cut answer requests sent before it: no second cut.
const HOLD_AFTER_CUT: Duration = Duration::from_secs(1);
/// Growth per round in slow start.
const SLOW_START: f64 = 2.0;
/// Decrease at the first 429, which ends slow start. Slow start overshoots by more than its
/// growth when the limiter allows a burst (it refuses only once the burst is spent), so the
/// cut is deep; the hold then measures the limit and the rate climbs back to it.
pub(crate) const SLOW_START_BACKOFF: f64 = 0.25;
/// Decrease at a 429 far below the ceiling (the limit fell).
const HARD_BACKOFF: f64 = 0.5;
/// Decrease at a 429 near the ceiling.
const BACKOFF: f64 = 0.9;
/// A 429 below this share of the ceiling means the limit fell.
const FELL_BELOW: f64 = 0.8;
/// Below this share of the ceiling the rate climbs back quickly; above it, it probes.
const SAFE_SHARE: f64 = 0.95;
/// The ceiling after a hold measured the limit, as a share of what it measured.
const MEASURED_CEILING: f64 = 1.15;
/// Where the rate goes after a hold measured the limit, as a share of it.
const UNDER_MEASURED: f64 = 0.97;
/// A hold measures the limit once it has lasted this long...
const MEASURE_AFTER: Duration = Duration::from_millis(250);
/// ...and only if it saw this many 429s (the first are answers to
/// requests sent before the cut)...
const MEASURE_AFTER_REFUSALS: u64 = 3;
/// ...and only if the limit it measured is this far below the rate after the cut.
const MEASURED_BELOW: f64 = 0.95;
/// A probing round raises the rate by this share.
const PROBE: f64 = 0.01;
/// A rate this far above the ceiling without a 429 means the limit rose: probes grow faster
/// (each round doubles the last one's growth) until a 429 sets a new ceiling.
const ROSE_ABOVE: f64 = 1.05;
/// The most a probing round grows the rate (a limiter's burst hides the limit for a while,
/// so faster growth overshoots as slow start does).
const MAX_PROBE: f64 = 0.04;
/// A round raises the rate only if the run used at least this share of it.
const BUSY_SHARE: f64 = 0.8;

/// The controller's constants in the order `shared_budget.lua` reads them (durations in µs),
/// with `max` (`--max-rate`) as [`Aimd::new`] takes it: the shared budget runs this same
/// controller in Redis for all the workers of a key.
pub(crate) fn constants(max: Option<f64>) -> [f64; 22] {
    let us = |d: Duration| d.as_micros() as f64;
    [
        START_RATE,
        MIN_RATE,
        max.unwrap_or(DEFAULT_MAX_RATE).max(MIN_RATE),
        us(ROUND),
        ROUND_GRANTS as f64,
        PROBE_ROUND_GRANTS as f64,
        us(HOLD_AFTER_CUT),
        SLOW_START,
        SLOW_START_BACKOFF,
        HARD_BACKOFF,
        BACKOFF,
        FELL_BELOW,
        SAFE_SHARE,
        MEASURED_CEILING,
        UNDER_MEASURED,
        us(MEASURE_AFTER),
        MEASURE_AFTER_REFUSALS as f64,
        MEASURED_BELOW,
        PROBE,
        ROSE_ABOVE,
        MAX_PROBE,
        BUSY_SHARE,
    ]
}

/// The controller's state.
#[derive(Clone, Debug)]
pub struct Aimd {
    rate: f64,
    max: f64,
    /// The rate at the last 429 (or the last measured limit), while it is believed.
    ceiling: Option<f64>,
    round_started: Instant,
    grants_in_round: u64,
    /// Growth of the last probing round above the ceiling (0 below it).
    probe_growth: f64,
    hold: Option<Hold>,
    cuts: u64,
}

/// The second after a cut.
#[derive(Clone, Debug)]
struct Hold {
    started: Instant,
    grants: u64,
    refused: u64,
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
            round_started: now,
            grants_in_round: 0,
            probe_growth: 0.0,
            hold: None,
            cuts: 0,
        }
    }

    /// The rate in force (requests per second), after ending a hold or a round that is due.
    pub fn rate(&mut self, now: Instant) -> f64 {
        self.end_hold(now);
        if self.hold.is_some() {
            return self.rate;
        }
        let elapsed = now.saturating_duration_since(self.round_started);
        let probing = self.ceiling.is_some_and(|c| self.rate >= SAFE_SHARE * c);
        // Probing near the ceiling takes long rounds (each costs about one 429 when it
        // crosses the limit); below it, and once well above it, rounds are short.
        let near = self
            .ceiling
            .is_some_and(|c| probing && self.rate <= ROSE_ABOVE * c);
        let needed = if near {
            PROBE_ROUND_GRANTS
        } else {
            ROUND_GRANTS
        };
        // How long the round should take at the rate in force.
        let expected = ROUND.max(Duration::from_secs_f64(needed as f64 / self.rate));
        if elapsed >= ROUND && self.grants_in_round >= needed {
            let used = self.grants_in_round as f64 / elapsed.as_secs_f64();
            if used >= BUSY_SHARE * self.rate {
                self.raise(probing);
            }
            self.start_round(now);
        } else if elapsed >= expected * 4 {
            // The run did not ask for the budget: no evidence either way.
            self.start_round(now);
        }
        self.rate
    }

    fn start_round(&mut self, now: Instant) {
        self.round_started = now;
        self.grants_in_round = 0;
    }

    fn raise(&mut self, probing: bool) {
        let next = match self.ceiling {
            None => self.rate * SLOW_START,
            Some(c) if !probing => {
                self.probe_growth = 0.0;
                (self.rate + (SAFE_SHARE * c - self.rate) * 0.5 + 0.01 * c).min(SAFE_SHARE * c)
            }
            Some(c) => {
                if self.rate > ROSE_ABOVE * c {
                    // Probes pass well above the ceiling: the limit rose (or the ceiling was
                    // measured low). Each round grows twice as much as the last, until a 429.
                    self.probe_growth = (self.probe_growth * 2.0).max(PROBE);
                } else {
                    self.probe_growth = PROBE;
                }
                self.rate * (1.0 + self.probe_growth.min(MAX_PROBE))
            }
        };
        self.rate = next.min(self.max);
    }

    /// Measures the limit in a hold that has seen enough 429s (going under it at once, and
    /// measuring again from there), and ends a hold that has run its time.
    fn end_hold(&mut self, now: Instant) {
        let Some(hold) = &self.hold else { return };
        let elapsed = now.saturating_duration_since(hold.started);
        if elapsed >= MEASURE_AFTER && hold.refused >= MEASURE_AFTER_REFUSALS {
            let passed = hold.grants.saturating_sub(hold.refused) as f64;
            // Answers to requests sent before the cut make it low: never more than halve.
            let measured = (passed / elapsed.as_secs_f64()).max(HARD_BACKOFF * self.rate);
            // Well below the rate: refusals went on after the cut, not only answers to
            // requests sent before it.
            if measured < MEASURED_BELOW * self.rate {
                // The answers to requests sent before the cut make the measure low: the
                // ceiling sits a little above it, so the rate climbs back there quickly.
                self.ceiling = Some(MEASURED_CEILING * measured);
                self.rate = (UNDER_MEASURED * measured).clamp(MIN_RATE, self.max);
                self.hold = Some(Hold {
                    started: now,
                    grants: 0,
                    refused: 0,
                });
                self.start_round(now);
                return;
            }
        }
        if elapsed < HOLD_AFTER_CUT {
            return;
        }
        self.hold = None;
        self.probe_growth = 0.0;
        self.start_round(now);
    }

    /// One request was granted at `now`.
    pub fn granted(&mut self, _now: Instant) {
        self.grants_in_round += 1;
        if let Some(hold) = &mut self.hold {
            hold.grants += 1;
        }
    }

    /// A 429 came back at `now`: cut the rate unless one was cut just before (then the 429
    /// is counted towards measuring the limit).
    pub fn rate_limited(&mut self, now: Instant) {
        self.end_hold(now);
        if let Some(hold) = &mut self.hold {
            hold.refused += 1;
            return;
        }
        let factor = match self.ceiling {
            Some(c) if self.rate >= FELL_BELOW * c => BACKOFF,
            Some(_) => HARD_BACKOFF,
            None => SLOW_START_BACKOFF,
        };
        self.ceiling = Some(self.rate);
        self.rate = (self.rate * factor).max(MIN_RATE);
        self.probe_growth = 0.0;
        self.hold = Some(Hold {
            started: now,
            grants: 0,
            refused: 0,
        });
        self.cuts += 1;
        self.start_round(now);
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

    /// A fake server: a token bucket holding `limit(t)` calls and refilling at `limit(t)` a
    /// second (the sandbox's limiter, and governor's with burst = limit), answering after
    /// `RTT`. The client always has work: it sends each request the controller allows.
    /// Returns (sent, refused) for each second, on a fake clock in 1 ms ticks.
    fn simulate(limit_at: impl Fn(u64) -> f64, secs: u64, max: Option<f64>) -> Vec<(f64, f64)> {
        const RTT: u64 = 20;
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut c = Aimd::new(max, t0);
        let mut out = vec![(0.0, 0.0); secs as usize];
        let mut tokens = limit_at(0);
        let mut next_send = 0.0_f64;
        let mut answers: std::collections::VecDeque<u64> = Default::default();
        for ms in 0..secs * 1000 {
            let limit = limit_at(ms / 1000);
            tokens = (tokens + limit / 1000.0).min(limit);
            while answers.front().is_some_and(|&due| due <= ms) {
                answers.pop_front();
                c.rate_limited(at(ms));
            }
            while next_send <= ms as f64 {
                let rate = c.rate(at(ms));
                c.granted(at(ms));
                let second = &mut out[(ms / 1000) as usize];
                second.0 += 1.0;
                if tokens >= 1.0 {
                    tokens -= 1.0;
                } else {
                    second.1 += 1.0;
                    answers.push_back(ms + RTT);
                }
                next_send = next_send.max(ms as f64 - 1000.0 / rate) + 1000.0 / rate;
            }
        }
        out
    }

    fn total(v: &[(f64, f64)], of: impl Fn(&(f64, f64)) -> f64) -> f64 {
        v.iter().map(of).sum::<f64>()
    }

    #[test]
    fn finds_each_limit_and_stays_just_under_it() {
        for (limit, secs, search) in [
            (2.0, 600, 60),
            (10.0, 300, 30),
            (50.0, 120, 10),
            (200.0, 60, 5),
        ] {
            let run = simulate(|_| limit, secs, None);
            let settled = &run[search..];
            let sent = total(settled, |x| x.0);
            let refused = total(settled, |x| x.1);
            let passed = sent - refused;
            let ideal = limit * settled.len() as f64;
            assert!(
                passed >= 0.93 * ideal,
                "{limit}/s: {passed} passed of {ideal}"
            );
            assert!(
                refused <= 0.02 * sent,
                "{limit}/s: {refused} refused of {sent}"
            );
            // The search itself: within its first seconds the run passes most of the limit.
            let early = total(&run[..search], |x| x.0 - x.1);
            assert!(
                early >= 0.6 * limit * search as f64,
                "{limit}/s: {early} in the search"
            );
        }
    }

    /// How long a rise takes to find (docs/run.md, "Keep adapting", quotes these): seconds
    /// from the rise until a second passes 90 % of the new limit, and the 429s meanwhile.
    #[test]
    fn finds_a_limit_that_rises() {
        for (low, high, within) in [
            (10.0, 12.0, 12),
            (50.0, 200.0, 16),
            (10.0, 40.0, 40),
            (10.0, 80.0, 45),
        ] {
            let run = simulate(move |s| if s < 60 { low } else { high }, 180, None);
            let found = run[60..]
                .iter()
                .position(|x| x.0 - x.1 >= 0.9 * high)
                .expect("the higher limit is found");
            let refused = total(&run[60..], |x| x.1);
            let sent = total(&run[60..], |x| x.0);
            eprintln!(
                "{low}/s to {high}/s: 90 % of it after {found} s; {refused} of {sent} refused"
            );
            assert!(found <= within, "{low} -> {high}: {found} s");
            assert!(
                refused <= 0.01 * sent,
                "{low} -> {high}: {refused} of {sent} refused"
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
        let passed = |range: std::ops::Range<usize>| {
            total(&run[range.clone()], |x| x.0 - x.1) / range.len() as f64
        };
        let refused = |range: std::ops::Range<usize>| total(&run[range], |x| x.1);
        assert!(passed(40..60) >= 46.0, "{}", passed(40..60));
        assert!(passed(70..120) >= 9.3, "{}", passed(70..120));
        assert!(refused(70..120) <= 10.0, "{}", refused(70..120));
        assert!(
            passed(160..200) >= 37.0,
            "the higher limit is found again: {}",
            passed(160..200)
        );
    }

    #[test]
    fn max_rate_caps_it_and_idle_runs_do_not_climb() {
        let run = simulate(|_| 500.0, 60, Some(30.0));
        assert!(run.iter().all(|x| x.0 <= 31.0), "{run:?}");
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
    fn a_burst_of_429s_cuts_once_and_measures_the_limit() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut c = Aimd::new(None, t0);
        // Slow start to 128/s (a limiter's burst hid the limit so far).
        let mut ms = 0;
        while c.rate(at(ms)) < 128.0 {
            c.granted(at(ms));
            ms += (1000.0 / c.current()).ceil() as u64;
        }
        let before = c.current();
        for i in 0..10 {
            c.rate_limited(at(ms + i * 20));
        }
        assert_eq!(c.cuts(), 1);
        assert!((c.current() - before * SLOW_START_BACKOFF).abs() < 1e-9);
        // In the hold's first 250 ms: 20 grants, and 429s keep coming (the 9 above, 5 more).
        // The measure is taken at each 429 once 250 ms have passed, and acted on as soon as
        // it is clearly below the rate (32/s): at the 13th, 7 passed, 28/s.
        for i in 0..20 {
            c.granted(at(ms + 200 + i * 2));
        }
        for _ in 0..5 {
            c.rate_limited(at(ms + 250));
        }
        let measured = 7.0 / 0.25;
        assert!(
            (c.rate(at(ms + 250)) - UNDER_MEASURED * measured).abs() < 1e-9,
            "{}",
            c.current()
        );
        assert_eq!(c.cuts(), 1, "measuring is not a cut");
        // The hold ends; a 429 near the ceiling then cuts gently.
        let again = c.rate(at(ms + 1300));
        c.rate_limited(at(ms + 1300));
        assert_eq!(c.cuts(), 2);
        assert!((c.current() - again * BACKOFF).abs() < 1e-9);
    }
}
