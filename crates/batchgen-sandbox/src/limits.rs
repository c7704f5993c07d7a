//! The limits a real account has and the vendor does not publish: requests per second
//! (which may change during a run, [`RateSchedule`]), how a 429 shows them
//! ([`LimitHeaders`]), and how many renders may be in progress at once (`max_renders`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

use axum::http::{HeaderMap, HeaderValue};

use crate::budget::Quota;
use crate::config::parse_duration;
use crate::envelope::ApiError;
use crate::error::ParseError;

/// Requests per second per key over time: a rate from the start, then other rates from
/// given offsets (time since the sandbox started). `0` means no limit.
///
/// Written `50` (always 50/s) or `50,10@30s` (50/s, then 10/s from 30 s on), steps in
/// increasing order; the first step may carry `@0`.
///
/// ```
/// use std::time::Duration;
/// use batchgen_sandbox::RateSchedule;
/// let s: RateSchedule = "50,10@30s,0@2m".parse().unwrap();
/// assert_eq!(s.rate_at(Duration::from_secs(29)), 50);
/// assert_eq!(s.rate_at(Duration::from_secs(30)), 10);
/// assert_eq!(s.rate_at(Duration::from_secs(600)), 0);
/// assert_eq!(s.to_string(), "50,10@30s,0@120s");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateSchedule {
    /// (from, per second), `from` strictly increasing, the first at zero.
    steps: Vec<(Duration, u32)>,
}

impl Default for RateSchedule {
    fn default() -> Self {
        RateSchedule::fixed(0)
    }
}

impl RateSchedule {
    /// `per_second` all the time (`0`: no limit).
    pub fn fixed(per_second: u32) -> Self {
        RateSchedule {
            steps: vec![(Duration::ZERO, per_second)],
        }
    }

    /// Adds a step: `per_second` from `from` on. Steps must come in increasing order of
    /// `from` ([`SandboxConfig::start`](crate::SandboxConfig::start) checks it).
    pub fn then(mut self, from: Duration, per_second: u32) -> Self {
        self.steps.push((from, per_second));
        self
    }

    /// The rate in force `elapsed` after the start.
    pub fn rate_at(&self, elapsed: Duration) -> u32 {
        self.steps
            .iter()
            .rev()
            .find(|(from, _)| *from <= elapsed)
            .map_or(0, |(_, r)| *r)
    }

    /// Whether any step has a limit.
    pub fn is_limited(&self) -> bool {
        self.steps.iter().any(|(_, r)| *r > 0)
    }

    /// The steps, `(from, per second)`.
    pub fn steps(&self) -> &[(Duration, u32)] {
        &self.steps
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.steps.first().is_none_or(|(f, _)| !f.is_zero()) {
            return Err("the rate schedule must start at 0".into());
        }
        if self.steps.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err("the rate schedule's steps must come in increasing order of time".into());
        }
        Ok(())
    }
}

impl fmt::Display for RateSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (from, r)) in self.steps.iter().enumerate() {
            if i == 0 {
                write!(f, "{r}")?;
            } else {
                write!(f, ",{r}@{}s", from.as_secs_f64())?;
            }
        }
        Ok(())
    }
}

impl FromStr for RateSchedule {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut steps = Vec::new();
        for (i, part) in s.split(',').enumerate() {
            let part = part.trim();
            let (rate, from) = match part.split_once('@') {
                Some((r, t)) => (r, parse_duration(t)?),
                None if i == 0 => (part, Duration::ZERO),
                None => {
                    return Err(ParseError::new(
                        s,
                        "every step after the first needs a time, like 10@30s",
                    ));
                }
            };
            let rate: u32 = rate.trim().parse().map_err(|_| {
                ParseError::new(
                    s,
                    "expected requests per second as a whole number, like 50 or 50,10@30s",
                )
            })?;
            steps.push((from, rate));
        }
        let schedule = RateSchedule { steps };
        schedule.check().map_err(|_| {
            ParseError::new(
                s,
                "steps must start at 0 and come in increasing order of time, like 50,10@30s,20@1m",
            )
        })?;
        Ok(schedule)
    }
}

/// Which headers tell a client about the rate limit. Default: `Retry-After` on a 429 only.
///
/// - `retry_after`: `Retry-After: <seconds>` on a 429;
/// - `ratelimit`: the IETF draft's `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`
///   (seconds until the bucket is full) and `RateLimit-Policy: <n>;w=1`, on every API answer;
/// - `x_ratelimit`: `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
///   (Unix time in seconds, as GitHub sends it), on every API answer.
///
/// [`LimitHeaders::NONE`] hides the limit entirely: a 429 says nothing about when to retry.
///
/// Written as a comma list: `retry-after,ratelimit,x-ratelimit`, `all`, or `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitHeaders {
    /// `Retry-After` on 429s.
    pub retry_after: bool,
    /// `RateLimit-*` on every API answer.
    pub ratelimit: bool,
    /// `X-RateLimit-*` on every API answer.
    pub x_ratelimit: bool,
}

impl LimitHeaders {
    /// No header at all: the limit is hidden.
    pub const NONE: LimitHeaders = LimitHeaders {
        retry_after: false,
        ratelimit: false,
        x_ratelimit: false,
    };
    /// `Retry-After` on 429s only (the default).
    pub const RETRY_AFTER: LimitHeaders = LimitHeaders {
        retry_after: true,
        ratelimit: false,
        x_ratelimit: false,
    };
    /// Every header.
    pub const ALL: LimitHeaders = LimitHeaders {
        retry_after: true,
        ratelimit: true,
        x_ratelimit: true,
    };
}

impl Default for LimitHeaders {
    fn default() -> Self {
        LimitHeaders::RETRY_AFTER
    }
}

impl fmt::Display for LimitHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.retry_after, "retry-after"),
            (self.ratelimit, "ratelimit"),
            (self.x_ratelimit, "x-ratelimit"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

impl FromStr for LimitHeaders {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut h = LimitHeaders::NONE;
        for part in s.split(',').map(|p| p.trim().to_ascii_lowercase()) {
            match part.as_str() {
                "none" => {}
                "all" => h = LimitHeaders::ALL,
                "retry-after" => h.retry_after = true,
                "ratelimit" => h.ratelimit = true,
                "x-ratelimit" => h.x_ratelimit = true,
                _ => {
                    return Err(ParseError::new(
                        s,
                        "expected retry-after, ratelimit, x-ratelimit (comma-separated), all or none",
                    ));
                }
            }
        }
        Ok(h)
    }
}

impl LimitHeaders {
    /// Adds the quota headers this setting asks for to an API answer.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, quota: &Quota, now: SystemTime) {
        let reset_secs = quota.reset.as_secs_f64().ceil() as u64;
        if self.ratelimit {
            headers.insert("ratelimit-limit", HeaderValue::from(quota.limit));
            headers.insert("ratelimit-remaining", HeaderValue::from(quota.remaining));
            headers.insert("ratelimit-reset", HeaderValue::from(reset_secs));
            if let Ok(v) = HeaderValue::from_str(&format!("{};w=1", quota.limit)) {
                headers.insert("ratelimit-policy", v);
            }
        }
        if self.x_ratelimit {
            let epoch = now
                .checked_add(quota.reset)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs_f64().ceil() as u64);
            headers.insert("x-ratelimit-limit", HeaderValue::from(quota.limit));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(quota.remaining));
            headers.insert("x-ratelimit-reset", HeaderValue::from(epoch));
        }
    }

    /// The 429 for a spent budget: `Retry-After` only if asked for, and a message that says
    /// when to retry only then.
    pub(crate) fn too_many_requests(&self, retry_after: u64) -> ApiError {
        if self.retry_after {
            ApiError::too_many_requests(retry_after)
        } else {
            let mut e = ApiError::too_many_requests(retry_after);
            e.retry_after = None;
            e.msg = "rate limit exceeded for this key; slow down".to_owned();
            e
        }
    }
}

/// The renders in progress, by when each ends, against `max_renders`.
pub(crate) struct RenderSlots {
    max: u32,
    ends: Mutex<BinaryHeap<Reverse<Instant>>>,
}

impl RenderSlots {
    /// At most `max` renders at once (`0`: no limit).
    pub fn new(max: u32) -> Self {
        RenderSlots {
            max,
            ends: Mutex::new(BinaryHeap::new()),
        }
    }

    /// Starts a render ending at `ends` if fewer than `max` are in progress at `now`;
    /// otherwise the distinct refusal a create or an export gets (429
    /// `CONCURRENT_RENDER_LIMIT`, never a `Retry-After`: the sandbox does not say when a
    /// render ends). Polls and every other call are never refused for it.
    pub fn start(&self, now: Instant, ends: Instant) -> Result<(), ApiError> {
        if self.max == 0 {
            return Ok(());
        }
        let mut heap = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        while heap.peek().is_some_and(|Reverse(e)| *e <= now) {
            heap.pop();
        }
        if heap.len() >= self.max as usize {
            return Err(ApiError::concurrent_render_limit(self.max));
        }
        heap.push(Reverse(ends));
        Ok(())
    }

    /// Renders in progress at `now`.
    #[cfg(test)]
    pub fn in_progress(&self, now: Instant) -> usize {
        let heap = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        heap.iter().filter(|Reverse(e)| *e > now).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_refuse_disorder() {
        let s: RateSchedule = "50, 10@30s, 20@1m".parse().unwrap();
        assert_eq!(
            s.steps(),
            [
                (Duration::ZERO, 50),
                (Duration::from_secs(30), 10),
                (Duration::from_secs(60), 20)
            ]
        );
        assert_eq!("7".parse::<RateSchedule>().unwrap(), RateSchedule::fixed(7));
        assert!("10@5s".parse::<RateSchedule>().is_err(), "must start at 0");
        assert!("50,10@30s,5@10s".parse::<RateSchedule>().is_err());
        assert!("50,10".parse::<RateSchedule>().is_err());
        assert!("fast".parse::<RateSchedule>().is_err());
        assert!(!RateSchedule::fixed(0).is_limited());
    }

    #[test]
    fn header_choices_parse() {
        assert_eq!("none".parse::<LimitHeaders>().unwrap(), LimitHeaders::NONE);
        assert_eq!("all".parse::<LimitHeaders>().unwrap(), LimitHeaders::ALL);
        let h: LimitHeaders = "retry-after, x-ratelimit".parse().unwrap();
        assert!(h.retry_after && h.x_ratelimit && !h.ratelimit);
        assert_eq!(h.to_string(), "retry-after,x-ratelimit");
        assert!("everything".parse::<LimitHeaders>().is_err());
    }

    #[test]
    fn headers_carry_the_quota() {
        let q = Quota {
            limit: 10,
            remaining: 3,
            reset: Duration::from_millis(700),
        };
        let mut h = HeaderMap::new();
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        LimitHeaders::ALL.apply(&mut h, &q, now);
        assert_eq!(h["ratelimit-limit"], "10");
        assert_eq!(h["ratelimit-remaining"], "3");
        assert_eq!(h["ratelimit-reset"], "1");
        assert_eq!(h["ratelimit-policy"], "10;w=1");
        assert_eq!(h["x-ratelimit-reset"], "1001");
        let mut h = HeaderMap::new();
        LimitHeaders::RETRY_AFTER.apply(&mut h, &q, now);
        assert!(h.is_empty());
        let hidden = LimitHeaders::NONE.too_many_requests(3);
        assert_eq!(hidden.retry_after, None);
        assert!(!hidden.msg.contains("retry after"), "{}", hidden.msg);
    }

    #[test]
    fn render_slots_refuse_past_the_maximum_until_one_ends() {
        let slots = RenderSlots::new(2);
        let t0 = Instant::now();
        let s = Duration::from_secs;
        slots.start(t0, t0 + s(5)).unwrap();
        slots.start(t0, t0 + s(10)).unwrap();
        let e = slots.start(t0, t0 + s(10)).unwrap_err();
        assert_eq!(e.code, "CONCURRENT_RENDER_LIMIT");
        assert_eq!(e.retry_after, None);
        assert_eq!(slots.in_progress(t0), 2);
        // The first ends at 5 s: room for one more.
        slots.start(t0 + s(5), t0 + s(20)).unwrap();
        assert!(slots.start(t0 + s(6), t0 + s(20)).is_err());
        assert!(RenderSlots::new(0).start(t0, t0 + s(1)).is_ok());
    }
}
