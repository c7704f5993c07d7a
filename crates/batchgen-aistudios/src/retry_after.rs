//! Reading the `Retry-After` header (RFC 9110 §10.2.3).

use std::time::{Duration, SystemTime};

/// Longest wait the client will report. A server asking for more is either misconfigured or
/// telling us to give up; the dispatcher's own caps decide what to do with a long wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a `Retry-After` value: delay-seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`), measured from `now`.
///
/// A date in the past gives zero. Fractional seconds (`"1.5"`, not in the RFC but sent by some
/// servers) are accepted. Anything else, negative values included, gives `None`. Values are
/// capped at 24 hours.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = value.parse().ok()?;
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        return Some(Duration::from_secs_f64(
            secs.min(MAX_RETRY_AFTER.as_secs_f64()),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// Reads `Retry-After` from response headers (the first value if repeated), relative to now.
/// Without it, a spent quota announced by `RateLimit-Remaining: 0` / `X-RateLimit-Remaining: 0`
/// gives the wait until its `*-Reset` (see [`parse_reset`]).
pub(crate) fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(value) = get("retry-after") {
        return parse_retry_after(value, SystemTime::now());
    }
    for prefix in ["ratelimit", "x-ratelimit"] {
        let spent = get(&format!("{prefix}-remaining")).is_some_and(|r| r.trim() == "0");
        if let (true, Some(reset)) = (spent, get(&format!("{prefix}-reset"))) {
            return parse_reset(reset, SystemTime::now());
        }
    }
    None
}

/// Parses a `RateLimit-Reset` / `X-RateLimit-Reset` value: seconds to wait, or, for values
/// above 10^9, a Unix time in seconds (as GitHub sends `X-RateLimit-Reset`), from `now`.
/// Capped like `Retry-After`.
pub fn parse_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let n: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let wait = if n > 1e9 {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(n);
        at.duration_since(now).unwrap_or(Duration::ZERO)
    } else {
        Duration::from_secs_f64(n)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratelimit_reset_is_a_delay_or_a_unix_time() {
        let now = at(1_700_000_000);
        assert_eq!(parse_reset("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_reset("1700000003", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_reset("1600000000", now), Some(Duration::ZERO));
        assert_eq!(parse_reset("-1", now), None);
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", "5".parse().unwrap());
        assert_eq!(from_headers(&h), Some(Duration::from_secs(5)));
        h.insert("x-ratelimit-remaining", "3".parse().unwrap());
        assert_eq!(from_headers(&h), None, "quota left: no wait");
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(from_headers(&h), Some(Duration::from_secs(7)));
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn delay_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn http_dates_in_all_three_formats() {
        // 1445412480 = Wed, 21 Oct 2015 07:28:00 GMT
        let now = at(1_445_412_480 - 90);
        let want = Some(Duration::from_secs(90));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            want
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now),
            want
        );
        assert_eq!(parse_retry_after("Wed Oct 21 07:28:00 2015", now), want);
    }

    #[test]
    fn past_dates_give_zero() {
        let now = at(1_445_412_480 + 10);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn garbage_gives_none() {
        let now = SystemTime::now();
        for v in [
            "",
            "  ",
            "-1",
            "soon",
            "1e3",
            "1..2",
            "Wed, 99 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_retry_after(v, now), None, "{v:?}");
        }
    }

    #[test]
    fn reads_the_header() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(from_headers(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(from_headers(&h), Some(Duration::from_secs(7)));
    }
}
