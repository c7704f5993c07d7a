//! What a sandbox is told to be: keys, timings and the faults it injects.
//!
//! [`SandboxConfig`] is a builder: every setter takes and returns `Self`, and nothing is
//! checked until [`SandboxConfig::start`](crate::SandboxConfig::start), which validates
//! the whole configuration once (probabilities in `0..=1`, ranges not reversed, ...) so the
//! request path never re-checks an option.
//!
//! The text forms used by the CLI (`200ms..2s`, `0.05`) are parsed by
//! [`parse_duration_range`] and [`parse_probability`].

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use crate::error::{ParseError, SandboxError};
use crate::limits::{LimitHeaders, RateSchedule};
use crate::vendor_rules::VendorRule;

/// The API key a sandbox accepts when none is configured.
pub const DEFAULT_API_KEY: &str = "sandbox-key";
/// The `appId` that `/auth/token` accepts when none is configured.
pub const DEFAULT_APP_ID: &str = "sandbox-app";
/// The `userKey` that `/auth/token` accepts when none is configured.
pub const DEFAULT_USER_KEY: &str = "sandbox-user-key";

/// How a sandbox behaves: the credentials it accepts, how long renders take, and which
/// faults it injects. `Default` is a well-behaved server: every fault off, no rate limit,
/// api key `sandbox-key`, app credentials `sandbox-app`/`sandbox-user-key`, renders of
/// 1 to 3 seconds, tokens valid 24 hours.
///
/// ```no_run
/// # async fn demo() -> Result<(), batchgen_sandbox::SandboxError> {
/// use std::time::Duration;
/// use batchgen_sandbox::SandboxConfig;
///
/// let sandbox = SandboxConfig::default()
///     .rate_limit(5)
///     .fail_probability(0.1)
///     .render_time(Duration::from_millis(200)..Duration::from_secs(1))
///     .seed(42)
///     .start("127.0.0.1:0".parse().unwrap())
///     .await?;
/// println!("{}", sandbox.base_url());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SandboxConfig {
    pub(crate) api_key: String,
    pub(crate) app_id: String,
    pub(crate) user_key: String,
    pub(crate) rate_schedule: RateSchedule,
    pub(crate) limit_headers: LimitHeaders,
    pub(crate) max_renders: u32,
    pub(crate) vendor_rules: Vec<VendorRule>,
    pub(crate) list_unexported: bool,
    pub(crate) render_time: Range<Duration>,
    pub(crate) latency: Range<Duration>,
    pub(crate) fail_probability: f64,
    pub(crate) drop_probability: f64,
    pub(crate) lost_probability: f64,
    pub(crate) render_fail_probability: f64,
    pub(crate) download_fail_probability: f64,
    pub(crate) webhook_duplicate_probability: f64,
    pub(crate) webhook_attempts: u32,
    pub(crate) webhook_backoff: Duration,
    pub(crate) seed: Option<u64>,
    pub(crate) token_ttl: Duration,
    pub(crate) seed_projects: usize,
    pub(crate) project_list: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            api_key: DEFAULT_API_KEY.to_owned(),
            app_id: DEFAULT_APP_ID.to_owned(),
            user_key: DEFAULT_USER_KEY.to_owned(),
            rate_schedule: RateSchedule::fixed(0),
            limit_headers: LimitHeaders::RETRY_AFTER,
            max_renders: 0,
            vendor_rules: Vec::new(),
            list_unexported: false,
            render_time: Duration::from_secs(1)..Duration::from_secs(3),
            latency: Duration::ZERO..Duration::ZERO,
            fail_probability: 0.0,
            drop_probability: 0.0,
            lost_probability: 0.0,
            render_fail_probability: 0.0,
            download_fail_probability: 0.0,
            webhook_duplicate_probability: 0.0,
            webhook_attempts: 5,
            webhook_backoff: Duration::from_secs(1),
            seed: None,
            token_ttl: Duration::from_secs(24 * 60 * 60),
            seed_projects: 0,
            project_list: true,
        }
    }
}

// Debug by hand: the key and the user key are secrets and must never be printed.
impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("api_key", &"<redacted>")
            .field("app_id", &self.app_id)
            .field("user_key", &"<redacted>")
            .field("rate_schedule", &self.rate_schedule.to_string())
            .field("limit_headers", &self.limit_headers.to_string())
            .field("max_renders", &self.max_renders)
            .field("vendor_rules", &self.vendor_rules)
            .field("list_unexported", &self.list_unexported)
            .field("render_time", &self.render_time)
            .field("latency", &self.latency)
            .field("fail_probability", &self.fail_probability)
            .field("drop_probability", &self.drop_probability)
            .field("lost_probability", &self.lost_probability)
            .field("render_fail_probability", &self.render_fail_probability)
            .field("download_fail_probability", &self.download_fail_probability)
            .field(
                "webhook_duplicate_probability",
                &self.webhook_duplicate_probability,
            )
            .field("webhook_attempts", &self.webhook_attempts)
            .field("webhook_backoff", &self.webhook_backoff)
            .field("seed", &self.seed)
            .field("token_ttl", &self.token_ttl)
            .field("seed_projects", &self.seed_projects)
            .field("project_list", &self.project_list)
            .finish()
    }
}

impl SandboxConfig {
    /// The key v3 calls send raw in `Authorization` and v2 calls send as `Bearer <key>`.
    pub fn api_key(mut self, k: impl Into<String>) -> Self {
        self.api_key = k.into();
        self
    }

    /// The `appId` and `userKey` that `POST /api/odin/v3/auth/token` exchanges for a token.
    pub fn app_credentials(
        mut self,
        app_id: impl Into<String>,
        user_key: impl Into<String>,
    ) -> Self {
        self.app_id = app_id.into();
        self.user_key = user_key.into();
        self
    }

    /// Requests per second allowed per key, every API call counting against one budget
    /// (a token bucket holding `per_second` requests, refilled at `per_second` a second).
    /// `0` means no limit.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_schedule = RateSchedule::fixed(per_second);
        self
    }

    /// A rate limit that changes during the run, e.g. 50/s then 10/s from 30 s after the
    /// start (`"50,10@30s".parse()`); replaces [`rate_limit`](Self::rate_limit). Buckets
    /// refill at the rate in force and never hold more than it.
    pub fn rate_schedule(mut self, schedule: RateSchedule) -> Self {
        self.rate_schedule = schedule;
        self
    }

    /// Which headers tell clients about the rate limit (default: `Retry-After` on 429s;
    /// [`LimitHeaders::NONE`] hides the limit entirely).
    pub fn limit_headers(mut self, headers: LimitHeaders) -> Self {
        self.limit_headers = headers;
        self
    }

    /// At most `n` renders in progress at once (`0`, the default: no limit). A create with
    /// `isExport` or an export past it is refused with 429 `CONCURRENT_RENDER_LIMIT` (no
    /// `Retry-After`) and creates nothing; polls and other calls are never refused for it.
    pub fn max_renders(mut self, n: u32) -> Self {
        self.max_renders = n;
        self
    }

    /// How long a render takes, drawn uniformly from `r` per project (and per v2 export).
    /// An empty range (`d..d`) means exactly `d`.
    pub fn render_time(mut self, r: Range<Duration>) -> Self {
        self.render_time = r;
        self
    }

    /// Adds a vendor-side rule batchgen's own validation does not know: creates that break
    /// it are refused with 400 `INVALID_PARAMETER` naming the pointer. Rules add up.
    pub fn refuse(mut self, rule: VendorRule) -> Self {
        self.vendor_rules.push(rule);
        self
    }

    /// A laxer list than the docs: `GET /api/odin/v3/editor/project` also shows projects
    /// still rendering and failed ones (drafts stay hidden). Off by default: the vendor lists
    /// exported projects only. For tests of lost-answer lookups written before lookups wait
    /// for a render to end (issue 10 item 4).
    pub fn list_unexported(mut self, on: bool) -> Self {
        self.list_unexported = on;
        self
    }

    /// Extra delay before each API call is handled, drawn uniformly from `r`.
    pub fn latency(mut self, r: Range<Duration>) -> Self {
        self.latency = r;
        self
    }

    /// Share of API calls answered with a server error (mostly `500` with the envelope,
    /// some `502`/`503` with an HTML body as a proxy would send) without being handled.
    pub fn fail_probability(mut self, p: f64) -> Self {
        self.fail_probability = p;
        self
    }

    /// Share of API calls whose connection is closed before the handler runs (nothing changes).
    pub fn drop_probability(mut self, p: f64) -> Self {
        self.drop_probability = p;
        self
    }

    /// Share of API calls that are handled (a create does create the project) and whose
    /// answer is then lost: the connection closes without a response.
    pub fn lost_probability(mut self, p: f64) -> Self {
        self.lost_probability = p;
        self
    }

    /// Whether `GET /api/odin/v3/editor/project` (the project list) exists; without it the
    /// endpoint answers 404, as an API version or account without the list would, so that a
    /// create whose answer was lost cannot be looked up (on by default).
    pub fn project_list(mut self, on: bool) -> Self {
        self.project_list = on;
        self
    }

    /// Share of renders (v3 projects and v2 exports) that end in failure part-way through.
    pub fn render_fail_probability(mut self, p: f64) -> Self {
        self.render_fail_probability = p;
        self
    }

    /// Share of downloads whose connection is closed before any byte is sent.
    pub fn download_fail_probability(mut self, p: f64) -> Self {
        self.download_fail_probability = p;
        self
    }

    /// Share of webhook deliveries that are delivered a second time, as real services do.
    pub fn webhook_duplicate_probability(mut self, p: f64) -> Self {
        self.webhook_duplicate_probability = p;
        self
    }

    /// How many times a webhook is tried (at least 1) and the wait before the first retry,
    /// doubling after each failed attempt. Default: 5 attempts, first retry after 1 s.
    pub fn webhook_retry(mut self, attempts: u32, first_backoff: Duration) -> Self {
        self.webhook_attempts = attempts;
        self.webhook_backoff = first_backoff;
        self
    }

    /// Seed for every random decision (faults, render times, failures, duplicates), so a
    /// given seed gives the same decisions for the same sequence of requests.
    /// Without a seed, one is drawn from the OS.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = Some(s);
        self
    }

    /// How long a token from `/auth/token` stays valid. Default 24 hours, as the vendor documents.
    pub fn token_ttl(mut self, d: Duration) -> Self {
        self.token_ttl = d;
        self
    }

    /// Number of already-rendered projects that exist at start, five to a v2 folder
    /// (`folder_001`, `folder_002`, ...), for v2 export tests.
    pub fn seed_projects(mut self, n: usize) -> Self {
        self.seed_projects = n;
        self
    }

    /// Checks the whole configuration once; [`start`](Self::start) calls it.
    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        let probabilities = [
            ("fail_probability", self.fail_probability),
            ("drop_probability", self.drop_probability),
            ("lost_probability", self.lost_probability),
            ("render_fail_probability", self.render_fail_probability),
            ("download_fail_probability", self.download_fail_probability),
            (
                "webhook_duplicate_probability",
                self.webhook_duplicate_probability,
            ),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(SandboxError::InvalidConfig(format!(
                    "{name} is {p}; give a share between 0 and 1"
                )));
            }
        }
        let sum = self.fail_probability + self.drop_probability + self.lost_probability;
        if sum > 1.0 + 1e-9 {
            return Err(SandboxError::InvalidConfig(format!(
                "fail_probability + drop_probability + lost_probability is {sum}; each request gets at most one fault, so keep the sum at most 1"
            )));
        }
        for (name, r) in [
            ("render_time", &self.render_time),
            ("latency", &self.latency),
        ] {
            if r.start > r.end {
                return Err(SandboxError::InvalidConfig(format!(
                    "{name} range {:?}..{:?} is reversed; put the shorter duration first",
                    r.start, r.end
                )));
            }
        }
        if self.api_key.is_empty() {
            return Err(SandboxError::InvalidConfig(
                "api_key is empty; give a non-empty key".to_owned(),
            ));
        }
        if self.token_ttl.is_zero() {
            return Err(SandboxError::InvalidConfig(
                "token_ttl is zero; give a positive duration".to_owned(),
            ));
        }
        self.rate_schedule
            .check()
            .map_err(|e| SandboxError::InvalidConfig(format!("{e}; give steps like 50,10@30s")))?;
        if self.webhook_attempts == 0 {
            return Err(SandboxError::InvalidConfig(
                "webhook attempts is 0; give at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Parses a duration range `A..B` such as `200ms..2s` or `1s..3s`; a single duration `2s`
/// means exactly that (`2s..2s`). Units: `us`, `ms`, `s`, `m`, `h`; a bare `0` is zero.
/// Fractions are allowed (`1.5s`).
///
/// ```
/// use std::time::Duration;
/// let r = batchgen_sandbox::parse_duration_range("200ms..2s").unwrap();
/// assert_eq!(r, Duration::from_millis(200)..Duration::from_secs(2));
/// ```
pub fn parse_duration_range(s: &str) -> Result<Range<Duration>, ParseError> {
    let s = s.trim();
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
        None => {
            let d = parse_duration(s)?;
            (d, d)
        }
    };
    if a > b {
        return Err(ParseError::new(
            s,
            "the range is reversed; put the shorter duration first",
        ));
    }
    Ok(a..b)
}

/// Parses one duration: a number followed by `us`, `ms`, `s`, `m` or `h` (`250ms`, `1.5s`),
/// or a bare `0`.
pub fn parse_duration(s: &str) -> Result<Duration, ParseError> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| ParseError::new(s, "a duration needs a unit: us, ms, s, m or h"))?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| ParseError::new(s, "expected a number before the unit, like 200ms or 1.5s"))?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(ParseError::new(s, "unknown unit; use us, ms, s, m or h"));
        }
    };
    Duration::try_from_secs_f64(n * scale)
        .map_err(|_| ParseError::new(s, "the duration is out of range"))
}

/// Parses a share between 0 and 1: `0.05`, or a percentage `5%`.
///
/// ```
/// assert_eq!(batchgen_sandbox::parse_probability("5%").unwrap(), 0.05);
/// assert_eq!(batchgen_sandbox::parse_probability("0.3").unwrap(), 0.3);
/// assert!(batchgen_sandbox::parse_probability("1.5").is_err());
/// ```
pub fn parse_probability(s: &str) -> Result<f64, ParseError> {
    let t = s.trim();
    let p = match t.strip_suffix('%') {
        Some(pct) => pct
            .trim()
            .parse::<f64>()
            .map(|v| v / 100.0)
            .map_err(|_| ParseError::new(s, "expected a percentage like 5%"))?,
        None => t.parse::<f64>().map_err(|_| {
            ParseError::new(s, "expected a share like 0.05 or a percentage like 5%")
        })?,
    };
    if !(0.0..=1.0).contains(&p) {
        return Err(ParseError::new(
            s,
            "a share must be between 0 and 1 (0% to 100%)",
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_ranges_parse_in_every_unit() {
        assert_eq!(
            parse_duration_range("200ms..2s").unwrap(),
            Duration::from_millis(200)..Duration::from_secs(2)
        );
        assert_eq!(
            parse_duration_range("1.5s..1m").unwrap(),
            Duration::from_millis(1500)..Duration::from_secs(60)
        );
        assert_eq!(
            parse_duration_range("0..500us").unwrap(),
            Duration::ZERO..Duration::from_micros(500)
        );
        assert_eq!(
            parse_duration_range("2s").unwrap(),
            Duration::from_secs(2)..Duration::from_secs(2)
        );
    }

    #[test]
    fn bad_duration_ranges_say_why() {
        let e = parse_duration_range("2s..1s").unwrap_err();
        assert!(e.to_string().contains("reversed"), "{e}");
        let e = parse_duration_range("5..6").unwrap_err();
        assert!(e.to_string().contains("unit"), "{e}");
        let e = parse_duration_range("5parsecs").unwrap_err();
        assert!(e.to_string().contains("unknown unit"), "{e}");
        assert!(parse_duration_range("..2s").is_err());
    }

    #[test]
    fn probabilities_parse_as_shares_or_percentages() {
        assert_eq!(parse_probability("0.05").unwrap(), 0.05);
        assert_eq!(parse_probability("30%").unwrap(), 0.3);
        assert_eq!(parse_probability("1").unwrap(), 1.0);
        assert!(parse_probability("-0.1").is_err());
        assert!(parse_probability("101%").is_err());
        assert!(parse_probability("lots").is_err());
    }

    #[test]
    fn validate_rejects_impossible_configs() {
        assert!(SandboxConfig::default().validate().is_ok());
        let e = SandboxConfig::default()
            .fail_probability(1.5)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("fail_probability"), "{e}");
        let e = SandboxConfig::default()
            .fail_probability(0.6)
            .drop_probability(0.6)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("at most 1"), "{e}");
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = Duration::from_secs(3)..Duration::from_secs(1);
        assert!(
            SandboxConfig::default()
                .render_time(reversed)
                .validate()
                .is_err()
        );
        assert!(SandboxConfig::default().api_key("").validate().is_err());
        assert!(
            SandboxConfig::default()
                .token_ttl(Duration::ZERO)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let c = SandboxConfig::default()
            .api_key("super-secret-key")
            .app_credentials("app", "secret-user-key");
        let s = format!("{c:?}");
        assert!(
            !s.contains("super-secret-key") && !s.contains("secret-user-key"),
            "{s}"
        );
    }
}
