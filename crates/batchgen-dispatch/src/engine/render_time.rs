//! What the run knows of how long renders take, for the lookup window
//! ([`LookupSchedule::window_for`](crate::lookup::LookupSchedule::window_for)).
//!
//! A poll that finds a render done says only that it ended *before* the poll; when the budget
//! is busy, polls wait behind creates, and "done at the first poll, 20 s after the create" may
//! be a render of 2 s. Taking such figures as render times makes the window after a lost
//! answer several times longer than a render can take. So each row's render is bracketed:
//!
//! - a poll that found it still rendering `t` after the create proves renders take more than
//!   `t` (a lower bound, kept for every row);
//! - a render seen done at `hi`, last seen rendering at `lo`, took at most `hi`; the bracket is
//!   *tight* when `hi - lo` is at most a quarter of `hi` (or 1 s), and a webhook's callback is
//!   tight by itself.
//!
//! The longest render is then the largest tight end, or any lower bound above it; while no
//! bracket is tight, the largest end seen (an over-estimate, the safe side). To have tight
//! brackets while the budget is busy, a few renders are *probes*: the first
//! [`FIRST_PROBES`] the run follows and one in [`PROBE_EVERY`] after them poll at
//! [`Priority::Probe`](crate::budget::Priority::Probe), ahead of creates. They cost a few
//! requests per probe, about 1 % of a run's requests (1,000 rows: 1.023 polls per row against
//! 1.000 without probes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How many of the first renders followed are probes.
pub(crate) const FIRST_PROBES: u64 = 4;
/// One render in this many is a probe after the first ones.
pub(crate) const PROBE_EVERY: u64 = 50;

/// Render times seen by this run; shared by its tasks.
#[derive(Debug, Default)]
pub(crate) struct RenderTimes {
    followed: AtomicU64,
    /// Largest time after a create at which a poll found the render still going (ms).
    at_least_ms: AtomicU64,
    /// Largest tight end (ms).
    tight_ms: AtomicU64,
    /// Largest end seen, tight or not (ms).
    any_ms: AtomicU64,
}

impl RenderTimes {
    /// Whether the render about to be followed is a probe (its polls go first).
    pub fn probe(&self) -> bool {
        let n = self.followed.fetch_add(1, Ordering::Relaxed);
        n < FIRST_PROBES || (n - FIRST_PROBES) % PROBE_EVERY == PROBE_EVERY - 1
    }

    /// A poll sent `at` after the create found the render still going.
    pub fn still_rendering(&self, at: Duration) {
        self.at_least_ms.fetch_max(ms(at), Ordering::Relaxed);
    }

    /// A render was seen done `hi` after its create, last seen going at `lo` (`None`: never).
    pub fn ended(&self, lo: Option<Duration>, hi: Duration) {
        let hi_ms = ms(hi).max(1);
        self.any_ms.fetch_max(hi_ms, Ordering::Relaxed);
        let gap = hi.saturating_sub(lo.unwrap_or_default());
        if gap <= (hi / 4).max(Duration::from_secs(1)) {
            self.tight_ms.fetch_max(hi_ms, Ordering::Relaxed);
        }
    }

    /// A webhook said a render ended `took` after its create: as tight as a bracket gets.
    pub fn called_back(&self, took: Duration) {
        self.ended(Some(took), took);
    }

    /// The longest render of the run, as well as it is known; `None` until one has ended.
    pub fn longest(&self) -> Option<Duration> {
        let at_least = self.at_least_ms.load(Ordering::Relaxed);
        let longest = match self.tight_ms.load(Ordering::Relaxed) {
            0 => match self.any_ms.load(Ordering::Relaxed) {
                0 => return None,
                any => any,
            },
            tight => tight,
        };
        Some(Duration::from_millis(longest.max(at_least)))
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn nothing_is_known_until_a_render_ends() {
        let t = RenderTimes::default();
        assert_eq!(t.longest(), None);
        t.still_rendering(S(30));
        assert_eq!(
            t.longest(),
            None,
            "a lower bound alone says no render ended"
        );
        t.ended(None, S(40));
        assert_eq!(t.longest(), Some(S(40)));
    }

    #[test]
    fn a_starved_poll_does_not_stretch_the_longest_render() {
        let t = RenderTimes::default();
        // Probes: seen going at 3.5 s, done at 4 s; going at 1 s, done at 1.8 s.
        t.ended(Some(Duration::from_millis(3500)), S(4));
        t.ended(Some(S(1)), Duration::from_millis(1800));
        // Rows whose first poll waited 20 s behind creates.
        t.ended(None, S(20));
        t.ended(Some(S(2)), S(22));
        assert_eq!(t.longest(), Some(S(4)));
    }

    #[test]
    fn with_no_tight_bracket_the_longest_end_is_taken() {
        let t = RenderTimes::default();
        t.ended(None, S(20));
        t.ended(Some(S(2)), S(12));
        assert_eq!(t.longest(), Some(S(20)));
    }

    #[test]
    fn a_render_still_going_raises_the_longest() {
        let t = RenderTimes::default();
        t.ended(Some(Duration::from_millis(3500)), S(4));
        t.still_rendering(S(9));
        assert_eq!(t.longest(), Some(S(9)));
        t.called_back(S(12));
        assert_eq!(t.longest(), Some(S(12)));
    }

    #[test]
    fn brackets_up_to_a_quarter_or_a_second_are_tight() {
        let t = RenderTimes::default();
        t.ended(
            Some(Duration::from_millis(300)),
            Duration::from_millis(1300),
        );
        assert_eq!(t.longest(), Some(Duration::from_millis(1300)));
        t.ended(Some(S(60)), S(80));
        assert_eq!(t.longest(), Some(S(80)));
        t.ended(Some(S(60)), S(90));
        assert_eq!(t.longest(), Some(S(80)), "30 s of 90 is loose");
    }

    #[test]
    fn the_first_renders_and_one_in_fifty_are_probes() {
        let t = RenderTimes::default();
        let at: Vec<usize> = (0..110).filter(|_| t.probe()).collect();
        assert_eq!(at, [0, 1, 2, 3, 53, 103]);
    }
}
