//! Lookups after a lost answer: when to look again for what a create may have made, and for
//! how long, before the create is sent again.
//!
//! A create whose answer was lost (a dropped connection, a timeout, a 502 after the server
//! acted) may have made a project that renders, and will be paid for. Sending it again at once
//! would pay twice; so the engine first looks for it by its unique name. The vendor's project
//! list (`GET /api/odin/v3/editor/project`) shows only projects "that have been already
//! exported" — a project appears there only once its render is done, which takes "about 1 to
//! 10 minutes". A lookup that finds nothing is therefore not an answer: it is asked again over
//! the time a render can take, on this schedule:
//!
//! - the first lookup right away (a quick render, or an export list that shows work in
//!   progress, finds it at once);
//! - then after [`LookupSchedule::first`] (5 s), doubling each time up to
//!   [`LookupSchedule::cap`] (60 s): 5, 10, 20, 40, 60, 60, … s;
//! - until the time a render can take has passed since the create was sent: twice the longest
//!   render of this run (as the engine's `render_time` module measures it, from tight brackets
//!   of polls and from webhooks), plus [`LookupSchedule::first`], and never more than
//!   [`LookupSchedule::window`] (15 min, `--lookup-window`; the whole window while no render of
//!   the run has ended yet). Only then is the project deemed never made, and the create sent
//!   again.
//!
//! So a lost answer costs at most 19 lookups (drawn from the one request budget, at the
//! priority of creates; rows looking at about the same time share one list, see the engine's
//! `project_list` module) and at most one window of delay for that row; it never costs a second
//! render. A create whose request never reached the server (a connection dropped before it
//! was read) waits as long — no answer tells the two apart. A webhook for the row (its per-row
//! token identifies it) ends the wait at once.
//!
//! Where the API has no project list (404/405, detected once for the run) and webhooks are on,
//! the row's callback is the one lookup left: it is waited for over the same window, and a
//! callback adopts the row as above. Where no lookup can be made — no list and no webhook
//! within the window, or every lookup failed — the row ends `unknown`: the project may exist, and only the
//! user can tell (the vendor's dashboard). `--resubmit-unknown` on a later run sends such rows
//! again. No row fails because a lookup could not be made.

use std::time::Duration;

/// When to look again, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookupSchedule {
    /// The wait after the first lookup that found nothing.
    pub first: Duration,
    /// The longest wait between two lookups.
    pub cap: Duration,
    /// How long after the create was sent lookups go on finding nothing before the create is
    /// sent again. A lookup is always made at least once.
    pub window: Duration,
}

impl Default for LookupSchedule {
    /// 5 s, doubling up to 60 s, for 15 minutes (the vendor's renders take 1–10 minutes).
    fn default() -> LookupSchedule {
        LookupSchedule {
            first: Duration::from_secs(5),
            cap: Duration::from_secs(60),
            window: Duration::from_secs(15 * 60),
        }
    }
}

impl LookupSchedule {
    /// How long lookups go on when the longest render this run has seen end took
    /// `longest_render` (`None`: none has ended yet): twice that plus [`Self::first`], at most
    /// [`Self::window`].
    pub fn window_for(&self, longest_render: Option<Duration>) -> Duration {
        match longest_render {
            Some(l) => l
                .saturating_mul(2)
                .saturating_add(self.first)
                .min(self.window),
            None => self.window,
        }
    }

    /// After `found_nothing` lookups (≥ 1) that found nothing, with `elapsed` since the create
    /// was sent: how long to wait before the next lookup, or `None` when the window is over
    /// and the create is to be sent again. The last wait is cut to end with the window, so the
    /// last lookup is made when the window closes.
    pub fn next(&self, found_nothing: u32, elapsed: Duration) -> Option<Duration> {
        self.next_within(self.window, found_nothing, elapsed)
    }

    /// [`Self::next`] for a window of `window` (see [`Self::window_for`]).
    pub fn next_within(
        &self,
        window: Duration,
        found_nothing: u32,
        elapsed: Duration,
    ) -> Option<Duration> {
        let left = window.checked_sub(elapsed).filter(|d| !d.is_zero())?;
        let doublings = found_nothing.saturating_sub(1).min(30);
        let wait = self.first.saturating_mul(1u32 << doublings).min(self.cap);
        Some(wait.min(left).max(Duration::from_millis(1)))
    }

    /// The most lookups one lost answer can cost when each finds nothing (the first one
    /// included), for documentation and tests.
    pub fn most_lookups(&self) -> u32 {
        let mut n = 1;
        let mut elapsed = Duration::ZERO;
        while let Some(w) = self.next(n, elapsed) {
            elapsed += w;
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn waits_double_up_to_the_cap_and_end_with_the_window() {
        let s = LookupSchedule::default();
        let mut elapsed = Duration::ZERO;
        let mut waits = Vec::new();
        let mut n = 1;
        while let Some(w) = s.next(n, elapsed) {
            waits.push(w.as_secs());
            elapsed += w;
            n += 1;
        }
        assert_eq!(&waits[..6], &[5, 10, 20, 40, 60, 60]);
        assert_eq!(
            elapsed, s.window,
            "the last lookup is made as the window closes"
        );
        assert!(waits.iter().all(|&w| w <= 60));
        assert_eq!(s.most_lookups(), n);
        assert_eq!(
            s.most_lookups(),
            19,
            "documented as at most 19 list requests"
        );
    }

    #[test]
    fn a_create_sent_long_ago_gets_one_lookup_then_is_sent_again() {
        let s = LookupSchedule::default();
        assert_eq!(s.next(1, S(3600)), None);
        assert_eq!(s.next(1, s.window), None);
        // One second left: the wait is cut to it.
        assert_eq!(s.next(1, s.window - S(1)), Some(S(1)));
    }

    #[test]
    fn the_window_follows_the_renders_the_run_has_seen() {
        let s = LookupSchedule::default();
        assert_eq!(s.window_for(None), s.window);
        assert_eq!(s.window_for(Some(S(60))), S(125));
        assert_eq!(
            s.window_for(Some(S(3600))),
            s.window,
            "never past --lookup-window"
        );
        assert_eq!(s.next_within(S(10), 1, S(9)), Some(S(1)));
        assert_eq!(s.next_within(S(10), 1, S(10)), None);
    }

    #[test]
    fn a_zero_window_looks_once() {
        let s = LookupSchedule {
            window: Duration::ZERO,
            ..LookupSchedule::default()
        };
        assert_eq!(s.next(1, Duration::ZERO), None);
        assert_eq!(s.most_lookups(), 1);
    }
}
