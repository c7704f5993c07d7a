//! `--shared-budget redis://…`: the request budget of every process using one API key, kept in
//! Redis, so that several workers together stay under the key's limit.
//!
//! - **One GCRA on the server's clock.** Each grant runs a Lua script
//!   (`shared_budget.lua`, through the `redis` crate's [`redis::Script`]) that reads Redis'
//!   own `TIME`, so the workers' clocks do not matter. Burst 1, the same period as the local
//!   budget (`Rate::period`, with its slack); the theoretical arrival time may lag the
//!   server's clock by 5 ms (a timer's rounding and a round trip), so a worker that wakes a
//!   little late does not lose budget, no window ever holds more than the rate, and the rest of
//!   the slack absorbs the jitter between a grant and the moment the API counts the request.
//! - **Late grants are let go.** A worker that hears of its grant more than 15 ms after asking
//!   (it was not scheduled: a busy machine) does not use it: sent that late, the request would
//!   land among the next slots of the other workers, and their sum would pass the limit.
//! - **One pause.** A 429's `Retry-After` seen by any worker is written to the same hash; the
//!   script grants nothing to anyone before it.
//! - **One adaptive rate.** With `--rate auto` the local budget's controller
//!   ([`crate::adaptive::Aimd`], step for step, with its constants) runs inside the script:
//!   one rate for all workers, raised by their combined use, cut by the 429s any of them sees,
//!   and set just under the limit that the hold after a cut measures from all their grants
//!   and refusals together.
//! - **The key.** `batchgen:budget:<first 16 hex digits of SHA-256(account)>`, the account being
//!   the API's origin and the credential ([`budget_key`]): the credential is never stored in
//!   Redis, neither in a key nor in a value. The hash expires an hour after its last use.
//! - **No Redis, no requests.** A worker never falls back to a budget of its own: while Redis
//!   does not answer it grants nothing (and says so once), tries again for [`GRACE`], then the
//!   budget fails with [`SharedBudgetError::Lost`] and the run stops (the engine's
//!   `End::BudgetLost`). At start, [`SharedBudget::connect`] fails with
//!   [`SharedBudgetError::Unreachable`] before anything is sent.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::adaptive;
use crate::budget::{Rate, RateSetting};

/// How long a worker keeps trying to reach Redis mid-run before the run stops.
pub const GRACE: Duration = Duration::from_secs(5);
/// Between two attempts while Redis does not answer.
const RETRY: Duration = Duration::from_millis(250);
/// Timeouts of one connection attempt and of one script call.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest a pacer sleeps before asking again (a pause set meanwhile may be shorter).
const MAX_WAIT: Duration = Duration::from_secs(1);
/// A grant heard of later than this after asking is not used (see [`SharedBudget::take`]).
const STALE: Duration = Duration::from_millis(15);
/// The most a fixed rate's GCRA may lag the server's clock.
const MAX_LAG: Duration = Duration::from_millis(5);
/// How long the state outlives its last use (ms).
const TTL_MS: u64 = 3_600_000;

const LUA: &str = include_str!("shared_budget.lua");
/// The script's clock argument for Redis' own clock (`TIME`).
const SERVER_CLOCK: &str = "";

/// Why the shared budget cannot be used. Messages name the URL without its password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedBudgetError {
    /// `--shared-budget` is not a Redis URL this build can use.
    #[error("use shared budget {url}: {reason}")]
    BadUrl {
        /// The URL, password hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Redis did not answer at start: nothing was sent.
    #[error("reach the shared budget at {url}: {reason}")]
    Unreachable {
        /// The URL, password hidden.
        url: String,
        /// The last error.
        reason: String,
    },
    /// Redis stopped answering mid-run and did not come back within [`GRACE`].
    #[error(
        "reach the shared budget at {url}: {reason} (no answer for {}s)",
        grace.as_secs()
    )]
    Lost {
        /// The URL, password hidden.
        url: String,
        /// The last error.
        reason: String,
        /// How long it kept trying.
        grace: Duration,
    },
}

/// The Redis key of the budget of `account` (the API origin and the credential): a hash of
/// it, never the credential itself.
pub fn budget_key(account: &str) -> String {
    let digest = Sha256::digest(account.as_bytes());
    format!("batchgen:budget:{}", &hex::encode(digest)[..16])
}

/// `url` with its password (if any) replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "the --shared-budget URL".to_owned(),
    }
}

/// What one `take` answered.
enum Take {
    Granted,
    Wait(Duration),
}

/// A connection to the shared budget in Redis, and how this worker asks it for cells.
pub struct SharedBudget {
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    script: Script,
    key: String,
    shown: String,
    password: Option<String>,
    setting: RateSetting,
    /// What every `take` passes after the operation's common arguments: `fixed` with the
    /// period and lag, or `auto` with the controller's constants. Made once at connect, since
    /// every grant passes them.
    take_args: Vec<String>,
    /// The rate the script last reported (f64 bits).
    rate: AtomicU64,
    /// Slots granted but heard of too late to use.
    stale: AtomicU64,
    grace: Duration,
}

impl fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBudget")
            .field("url", &self.shown)
            .field("key", &self.key)
            .finish()
    }
}

impl SharedBudget {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`) for the budget of
    /// `account` (see [`budget_key`]) with `--rate` and `--max-rate`, and checks that the
    /// script runs there. Nothing is granted yet.
    pub async fn connect(
        url: &str,
        account: &str,
        setting: RateSetting,
        max_rate: Option<f64>,
    ) -> Result<SharedBudget, SharedBudgetError> {
        let shown = redact(url);
        let bad = |reason: &str| SharedBudgetError::BadUrl {
            url: shown.clone(),
            reason: reason.to_owned(),
        };
        let parsed = url::Url::parse(url)
            .map_err(|e| bad(&format!("{e}; expected redis://host:port[/db]")))?;
        match parsed.scheme() {
            "redis" => {}
            "rediss" => {
                return Err(bad(
                    "TLS (rediss://) is not built in; use redis:// on a private network or a TLS tunnel",
                ));
            }
            other => {
                return Err(bad(&format!(
                    "the scheme is {other}://, expected redis://host:port[/db]"
                )));
            }
        }
        let password = parsed.password().map(str::to_owned);
        let client = redis::Client::open(url).map_err(|e| bad(&e.to_string()))?;
        let budget = SharedBudget {
            client,
            conn: Mutex::new(None),
            script: Script::new(LUA),
            key: budget_key(account),
            shown,
            password,
            setting,
            take_args: take_args(setting, max_rate),
            rate: AtomicU64::new(0f64.to_bits()),
            stale: AtomicU64::new(0),
            grace: GRACE,
        };
        // One harmless call: a zero-length pause checks the connection, the script and the
        // server's version (TIME before writes needs Redis 3.2+ with effects replication).
        budget
            .call("pause", &["0".to_owned()])
            .await
            .map_err(|reason| SharedBudgetError::Unreachable {
                url: budget.shown.clone(),
                reason,
            })?;
        Ok(budget)
    }

    /// How long to keep trying mid-run before failing (tests shorten it).
    pub fn with_grace(mut self, grace: Duration) -> SharedBudget {
        self.grace = grace;
        self
    }

    /// `--rate` as connected with: a fixed rate shared by all, or `auto` (one shared controller).
    pub fn setting(&self) -> RateSetting {
        self.setting
    }

    /// The Redis key this budget lives under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The URL, password hidden.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// The shared rate last reported by Redis (requests per second; 0 before the first grant).
    pub fn current_rate(&self) -> f64 {
        f64::from_bits(self.rate.load(Ordering::Relaxed))
    }

    /// Slots Redis granted that this worker heard of more than 15 ms late and let pass unused
    /// (a request sent that late could land among other workers' slots).
    pub fn stale_slots(&self) -> u64 {
        self.stale.load(Ordering::Relaxed)
    }

    /// Waits until Redis grants one cell. While Redis does not answer nothing is granted;
    /// after [`GRACE`] without an answer, [`SharedBudgetError::Lost`].
    pub(crate) async fn take(&self) -> Result<(), SharedBudgetError> {
        let mut down_since: Option<(Instant, String)> = None;
        loop {
            match self.take_once().await {
                Ok(answer) => {
                    if down_since.take().is_some() {
                        tracing::warn!(url = %self.shown, "the shared budget answers again; sending resumes");
                    }
                    match answer {
                        Take::Granted => return Ok(()),
                        Take::Wait(Duration::ZERO) => {}
                        Take::Wait(d) => tokio::time::sleep(d.min(MAX_WAIT)).await,
                    }
                }
                Err(reason) => {
                    let (since, last) = down_since.get_or_insert_with(|| {
                        tracing::warn!(
                            url = %self.shown,
                            %reason,
                            "the shared budget does not answer: no request is sent until it does (trying for {}s)",
                            self.grace.as_secs()
                        );
                        (Instant::now(), reason.clone())
                    });
                    *last = reason;
                    if since.elapsed() >= self.grace {
                        return Err(SharedBudgetError::Lost {
                            url: self.shown.clone(),
                            reason: last.clone(),
                            grace: self.grace,
                        });
                    }
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    async fn take_once(&self) -> Result<Take, String> {
        let asked = Instant::now();
        let (granted, wait_us) = self.call("take", &self.take_args).await?;
        let took = asked.elapsed();
        Ok(if granted == 1 && took > STALE {
            // The slot was granted at Redis' "now", but this worker heard of it late (it was
            // not scheduled, or the network stalled): sent now, the request would land among
            // the next workers' slots. Let the slot pass unused and ask again.
            self.stale.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(?took, "a shared budget slot arrived late; not used");
            Take::Wait(Duration::ZERO)
        } else if granted == 1 {
            Take::Granted
        } else {
            Take::Wait(Duration::from_micros(wait_us.max(1)))
        })
    }

    /// Pauses every worker of the key for `d` (a 429's `Retry-After`).
    pub(crate) async fn pause(&self, d: Duration) -> Result<(), String> {
        self.call("pause", &[d.as_micros().to_string()])
            .await
            .map(|_| ())
    }

    /// A 429 arrived: with `--rate auto`, cut the shared rate (or, in the hold after a cut,
    /// count it towards measuring the limit).
    pub(crate) async fn cut(&self) -> Result<(), String> {
        if self.setting != RateSetting::Auto {
            return Ok(());
        }
        // A cut passes the same `auto` and constants as a take.
        self.call("cut", &self.take_args).await.map(|_| ())
    }

    /// Runs the script's `op` on Redis' clock with `rest` after the common arguments; on a
    /// connection error the connection is dropped (the next call connects again). Errors are
    /// the redis error's text, the password scrubbed.
    async fn call(&self, op: &str, rest: &[String]) -> Result<(i64, u64), String> {
        let mut conn = self.connection().await?;
        let mut inv = self.script.key(&self.key);
        inv.arg(op).arg(TTL_MS).arg(SERVER_CLOCK);
        for a in rest {
            inv.arg(a);
        }
        let answer: Result<(i64, i64, String), redis::RedisError> =
            inv.invoke_async(&mut conn).await;
        match answer {
            Ok((granted, wait, rate)) => {
                if let Ok(r) = rate.parse::<f64>() {
                    self.rate.store(r.to_bits(), Ordering::Relaxed);
                }
                Ok((granted, wait.max(0) as u64))
            }
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                Err(self.scrub(e.to_string()))
            }
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, String> {
        if let Some(c) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(c);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.scrub(e.to_string()))?;
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        Ok(c)
    }

    fn scrub(&self, text: String) -> String {
        match &self.password {
            Some(p) if !p.is_empty() => text.replace(p.as_str(), "***"),
            _ => text,
        }
    }
}

/// The GCRA period of a fixed rate (µs): the local budget's, slack included.
fn period_us(rate: Rate) -> u64 {
    rate.period().as_micros().max(1) as u64
}

/// How far the shared GCRA may lag the server's clock (µs): enough for a timer's rounding and
/// a round trip to Redis ([`MAX_LAG`]), never more than half the rate's slack per window, so
/// that no window of the rate ever holds more than its count and the rest of the slack absorbs
/// the jitter between a grant and the moment the API counts the request.
fn lag_us(rate: Rate) -> u64 {
    let slack = rate.period().mul_f64(f64::from(rate.count())) - rate.window();
    (slack / 2).min(MAX_LAG).as_micros() as u64
}

/// What a `take` passes after the common arguments for `setting`: `fixed`, the period and the
/// lag; or `auto` and the controller's constants, the local controller's
/// ([`adaptive::constants`]).
fn take_args(setting: RateSetting, max_rate: Option<f64>) -> Vec<String> {
    match setting {
        RateSetting::Fixed(rate) => vec![
            "fixed".into(),
            period_us(rate).to_string(),
            lag_us(rate).to_string(),
        ],
        RateSetting::Auto => std::iter::once("auto".to_owned())
            .chain(adaptive::constants(max_rate).iter().map(f64::to_string))
            .collect(),
    }
}

#[cfg(test)]
mod tests;
