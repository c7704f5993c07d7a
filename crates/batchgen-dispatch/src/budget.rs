//! [`Budget`]: one request budget for every API call of a run.
//!
//! The vendor limits requests per key, counting every call (create, progress, list, get, token).
//! A run therefore shares one budget among all its tasks:
//!
//! - **Pacing** is GCRA with a burst of **1** and a period of `(window × 1.01 + 30 ms) /
//!   count`, on tokio's clock and timer (so paused time drives it in tests, and no timer thread
//!   wakes the process). A burst of 1 spaces grants evenly, so no 1-second (or 1-minute) window
//!   ever holds more than `count` grants; the slack (1 % + 30 ms per window) absorbs the jitter
//!   between the moment a request is granted and the moment the server counts it (task
//!   wake-ups, connection set-up, a busy server), so the server's own sliding window does not
//!   see `count + 1`. It costs 1–4 % of throughput (4 % at 100/s). A larger burst would let a
//!   run send `burst + count` requests within one second after an idle spell, which is exactly
//!   what a per-second limiter answers with 429s. (governor's limiter does the same arithmetic,
//!   but waits on its own timer thread, a wake-up per grant; on tokio's millisecond timer its
//!   burst of 1 loses each wake's lateness, ~8 % of the budget at 100/s. The schedule here keeps
//!   a grant's slot when it is at most 2 ms late.)
//! - **One waiter on the pacing.** Tasks do not race for cells: they queue (FIFO within a
//!   [`Priority`]) and a single pacer task waits for each cell and hands it to the most urgent
//!   waiter. So no thundering herd forms when thousands of tasks wait.
//! - **Priorities**: [`Priority::Submit`] before [`Priority::Poll`]. When the budget is the
//!   bottleneck, polls wait while projects are still to be submitted; by the time a poll is
//!   served its render has usually finished, so one poll per project suffices. Renders run on
//!   the vendor's side whether or not we look, so this costs no time. The polls of a few
//!   renders the run times ([`Priority::Probe`]) go before everything.
//! - **Retry-After** from any answer pauses everyone: [`Budget::pause_until`] sets a shared
//!   "not before" instant that the pacer honours before granting the next cell.
//! - Requests made behind the caller's back (an access-token fetch inside a client call) are
//!   paid for afterwards with [`Budget::charge`].
//!
//! - **Shared** ([`Budget::shared`], `--shared-budget redis://…`): the pacer asks Redis for each
//!   cell instead of pacing it locally (see [`crate::shared_budget`]); pauses and 429 cuts go to Redis
//!   too, so every worker of the key honours them. The queue, the priorities and the charges
//!   stay local. If Redis stops answering for good, every waiter gets
//!   [`AcquireError::Lost`] and nothing more is granted.
//!
//! Downloads go to the vendor's CDN, not the API, and take no budget.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::adaptive::Aimd;
use crate::shared_budget::{SharedBudget, SharedBudgetError};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Slack added to each window (see the module documentation): a share of it…
const SLACK: f64 = 1.01;
/// …and a fixed part.
const SLACK_FIXED: Duration = Duration::from_millis(30);

/// A request rate: `count` requests per `window` (one second or one minute).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    count: NonZeroU32,
    window: Duration,
}

impl Rate {
    /// `count` requests a second.
    pub fn per_second(count: NonZeroU32) -> Rate {
        Rate {
            count,
            window: Duration::from_secs(1),
        }
    }

    /// `count` requests a minute.
    pub fn per_minute(count: NonZeroU32) -> Rate {
        Rate {
            count,
            window: Duration::from_secs(60),
        }
    }

    /// Requests allowed per window.
    pub fn count(&self) -> u32 {
        self.count.get()
    }

    /// The window the count applies to.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Requests per second, as a float.
    pub fn per_sec(&self) -> f64 {
        f64::from(self.count.get()) / self.window.as_secs_f64()
    }

    /// The spacing between two grants: the window (plus 1 % and 30 ms of slack) divided by
    /// the count.
    pub fn period(&self) -> Duration {
        (self.window.mul_f64(SLACK) + SLACK_FIXED).div_f64(f64::from(self.count.get()))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.window == Duration::from_secs(60) {
            write!(f, "{}/min", self.count)
        } else {
            write!(f, "{}/s", self.count)
        }
    }
}

/// Why a rate could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("read rate {given:?}: expected auto, N, N/s or N/min with N a whole number above 0")]
pub struct RateError {
    given: String,
}

impl FromStr for Rate {
    type Err = RateError;

    /// Reads `N`, `N/s`, `N/sec`, `N/min` (N a positive whole number).
    fn from_str(s: &str) -> Result<Rate, RateError> {
        let err = || RateError {
            given: s.to_owned(),
        };
        let t = s.trim();
        let (n, unit) = t.split_once('/').unwrap_or((t, "s"));
        let n: NonZeroU32 = n.trim().parse().map_err(|_| err())?;
        match unit.trim() {
            "s" | "sec" | "second" => Ok(Rate::per_second(n)),
            "m" | "min" | "minute" => Ok(Rate::per_minute(n)),
            _ => Err(err()),
        }
    }
}

/// `--rate`: `auto` (find the key's limit, see [`crate::adaptive`]) or a fixed [`Rate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RateSetting {
    /// Find the limit and stay just under it.
    #[default]
    Auto,
    /// A fixed budget.
    Fixed(Rate),
}

impl fmt::Display for RateSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateSetting::Auto => f.write_str("auto"),
            RateSetting::Fixed(r) => r.fmt(f),
        }
    }
}

impl FromStr for RateSetting {
    type Err = RateError;

    /// Reads `auto`, or a [`Rate`] (`N`, `N/s`, `N/min`).
    fn from_str(s: &str) -> Result<RateSetting, RateError> {
        if s.trim().eq_ignore_ascii_case("auto") {
            Ok(RateSetting::Auto)
        } else {
            s.parse().map(RateSetting::Fixed).map_err(|_| RateError {
                given: s.to_owned(),
            })
        }
    }
}

/// How urgent a request is. Lower variants are served first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Following one of the few renders the run times (a probe): served even before creates,
    /// so that render times are known while the budget is busy. See the engine's
    /// `render_time` module.
    Probe = 0,
    /// Creating a project, or looking up one whose create answer was lost.
    Submit = 1,
    /// Following a render.
    Poll = 2,
}

const CLASSES: usize = 4;
/// Internal class for [`Budget::charge`]: paid before anything else.
const CHARGE: usize = 0;

/// Why an acquire got no budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    /// The run is stopping: the place in the queue was given up, no budget spent.
    #[error("wait for the request budget: the run is stopping")]
    Stopped,
    /// The shared budget (Redis) stopped answering: nothing more is granted, to anyone.
    #[error(transparent)]
    Lost(#[from] SharedBudgetError),
}

type Waiter = Option<oneshot::Sender<()>>;

struct Shared {
    queues: Mutex<[VecDeque<Waiter>; CLASSES]>,
    wake: Notify,
    not_before: Mutex<Option<Instant>>,
    granted: AtomicU64,
    pauses: AtomicU64,
    sent: Mutex<PeakWindow>,
    /// Set once when the shared budget is lost; every waiter then gets it.
    failure: OnceLock<SharedBudgetError>,
}

/// The instants of the grants of the last window, and the most ever seen in one window: the
/// client's own count of what it sent, to compare with the server's.
struct PeakWindow {
    window: Duration,
    recent: VecDeque<Instant>,
    peak: u64,
}

impl PeakWindow {
    fn record(&mut self, now: Instant) {
        while let Some(&first) = self.recent.front() {
            if now.saturating_duration_since(first) >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        self.recent.push_back(now);
        self.peak = self.peak.max(self.recent.len() as u64);
    }
}

impl Shared {
    fn pop(&self) -> Option<Waiter> {
        let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        q.iter_mut().find_map(VecDeque::pop_front)
    }

    fn is_empty(&self) -> bool {
        let q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        q.iter().all(VecDeque::is_empty)
    }

    /// The shared budget is gone: record why, then drop every waiter (each sees the failure).
    fn fail(&self, error: SharedBudgetError) {
        let _ = self.failure.set(error);
        let mut q = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        q.iter_mut().for_each(VecDeque::clear);
    }
}

/// The run's one request budget. Create it inside a tokio runtime; dropping it stops its pacer.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use batchgen_dispatch::budget::{Budget, Priority, Rate};
/// use tokio_util::sync::CancellationToken;
/// let budget = Budget::new("50/s".parse().unwrap());
/// let stop = CancellationToken::new();
/// let t0 = std::time::Instant::now();
/// for _ in 0..3 {
///     budget.acquire(Priority::Submit, &stop).await.unwrap();
/// }
/// // Grants are spaced by 1/50 s (plus slack): three take at least two periods.
/// assert!(t0.elapsed() >= std::time::Duration::from_millis(40));
/// assert_eq!(budget.granted(), 3);
/// # }
/// ```
pub struct Budget {
    setting: RateSetting,
    adaptive: Option<Arc<Mutex<Aimd>>>,
    shared: Arc<Shared>,
    pacer: tokio::task::JoinHandle<()>,
    /// `--shared-budget`: the budget in Redis.
    remote: Option<Arc<SharedBudget>>,
    /// Pauses and cuts on their way to Redis.
    reports: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("rate", &self.setting)
            .field("granted", &self.granted())
            .finish()
    }
}

impl Budget {
    /// A budget of `rate`, burst 1 (see the module documentation). Spawns the pacer task.
    pub fn new(rate: Rate) -> Budget {
        Budget::with_setting(RateSetting::Fixed(rate), None)
    }

    /// A budget that finds the key's limit (`--rate auto`), never above `max_rate` requests a
    /// second. Spawns the pacer task.
    pub fn adaptive(max_rate: Option<f64>) -> Budget {
        Budget::with_setting(RateSetting::Auto, max_rate)
    }

    /// A budget for `--rate` and `--max-rate` (the cap applies to `auto` only).
    pub fn with_setting(setting: RateSetting, max_rate: Option<f64>) -> Budget {
        let shared = Budget::state(setting);
        let (pacing, adaptive) = match setting {
            RateSetting::Fixed(rate) => (Pacing::Fixed(rate.period()), None),
            RateSetting::Auto => {
                let aimd = Arc::new(Mutex::new(Aimd::new(max_rate, Instant::now())));
                (Pacing::Adaptive(aimd.clone()), Some(aimd))
            }
        };
        let pacer = tokio::spawn(pace(Arc::clone(&shared), pacing));
        Budget {
            setting,
            adaptive,
            shared,
            pacer,
            remote: None,
            reports: Mutex::new(Vec::new()),
        }
    }

    /// The budget every worker of one API key shares through Redis (`--shared-budget`), with
    /// the rate setting `remote` was connected with. Spawns the pacer task.
    pub fn shared(remote: SharedBudget) -> Budget {
        let setting = remote.setting();
        let shared = Budget::state(setting);
        let remote = Arc::new(remote);
        let pacer = tokio::spawn(pace(
            Arc::clone(&shared),
            Pacing::Shared(Arc::clone(&remote)),
        ));
        Budget {
            setting,
            adaptive: None,
            shared,
            pacer,
            remote: Some(remote),
            reports: Mutex::new(Vec::new()),
        }
    }

    fn state(setting: RateSetting) -> Arc<Shared> {
        let window = match setting {
            RateSetting::Fixed(rate) => rate.window(),
            RateSetting::Auto => Duration::from_secs(1),
        };
        Arc::new(Shared {
            queues: Mutex::new(Default::default()),
            wake: Notify::new(),
            not_before: Mutex::new(None),
            granted: AtomicU64::new(0),
            pauses: AtomicU64::new(0),
            sent: Mutex::new(PeakWindow {
                window,
                recent: VecDeque::new(),
                peak: 0,
            }),
            failure: OnceLock::new(),
        })
    }

    /// The shared budget behind this one, if any (`--shared-budget`).
    pub fn remote(&self) -> Option<&SharedBudget> {
        self.remote.as_deref()
    }

    /// Why the shared budget was lost, once it has been (nothing is granted after that).
    pub fn lost(&self) -> Option<&SharedBudgetError> {
        self.shared.failure.get()
    }

    /// `--rate` as given: `auto` or the fixed rate.
    pub fn setting(&self) -> RateSetting {
        self.setting
    }

    /// The rate in force, requests per second (the adaptive one's latest value).
    pub fn current_rate(&self) -> f64 {
        if let (Some(r), RateSetting::Auto) = (&self.remote, self.setting) {
            return r.current_rate();
        }
        match (&self.adaptive, self.setting) {
            (Some(a), _) => a.lock().unwrap_or_else(|p| p.into_inner()).current(),
            (None, RateSetting::Fixed(r)) => r.per_sec(),
            (None, RateSetting::Auto) => 0.0,
        }
    }

    /// A 429 for the whole key arrived: with `--rate auto` the rate is cut (once per burst
    /// of 429s, see [`crate::adaptive`]). A fixed budget is not changed. The caller also
    /// pauses everyone with [`Budget::pause_until`] when the answer says how long.
    pub fn rate_limited(&self) {
        if let Some(r) = &self.remote {
            let r = Arc::clone(r);
            self.report(async move {
                if let Err(e) = r.cut().await {
                    tracing::debug!(error = %e, "could not cut the shared rate");
                }
            });
        }
        if let Some(a) = &self.adaptive {
            a.lock()
                .unwrap_or_else(|p| p.into_inner())
                .rate_limited(Instant::now());
        }
    }

    /// Waits for one request's worth of budget. Returns [`AcquireError::Stopped`] as soon as `stop` is
    /// cancelled (the place in the queue is given up, no budget is spent).
    pub async fn acquire(
        &self,
        priority: Priority,
        stop: &CancellationToken,
    ) -> Result<(), AcquireError> {
        if stop.is_cancelled() {
            return Err(AcquireError::Stopped);
        }
        let lost = || match self.shared.failure.get() {
            Some(e) => AcquireError::Lost(e.clone()),
            None => AcquireError::Stopped,
        };
        let (tx, rx) = oneshot::channel();
        {
            let mut q = self.shared.queues.lock().unwrap_or_else(|p| p.into_inner());
            q[priority as usize + 1].push_back(Some(tx));
        }
        // Checked after queueing: a failure recorded before the push is seen here, one
        // recorded after it drops this waiter.
        if self.shared.failure.get().is_some() {
            return Err(lost());
        }
        self.shared.wake.notify_one();
        let granted = tokio::select! {
            granted = rx => granted.map_err(|_| lost()),
            () = stop.cancelled() => Err(AcquireError::Stopped),
        };
        if granted.is_ok() {
            // The moment this task goes on to send: later than the grant if it was slow to wake.
            self.shared
                .sent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(Instant::now());
        }
        granted
    }

    /// Pays for `n` requests that were already sent (token fetches inside a client call):
    /// the next `n` cells go to nobody, before any waiter is served.
    pub fn charge(&self, n: u64) {
        if n == 0 {
            return;
        }
        {
            let mut q = self.shared.queues.lock().unwrap_or_else(|p| p.into_inner());
            for _ in 0..n {
                q[CHARGE].push_back(None);
            }
        }
        self.shared.wake.notify_one();
    }

    /// No request is granted before `deadline` (a server's `Retry-After`). A later deadline
    /// than the current one extends the pause; an earlier one changes nothing.
    pub fn pause_until(&self, deadline: Instant) {
        let mut nb = self
            .shared
            .not_before
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if nb.is_none_or(|d| d < deadline) {
            *nb = Some(deadline);
            self.shared.pauses.fetch_add(1, Ordering::Relaxed);
        }
        drop(nb);
        if let Some(r) = &self.remote {
            let r = Arc::clone(r);
            let d = deadline.saturating_duration_since(Instant::now());
            self.report(async move {
                if let Err(e) = r.pause(d).await {
                    tracing::debug!(error = %e, "could not pause the shared budget");
                }
            });
        }
    }

    /// Sends a pause or a cut to Redis in the background.
    fn report(&self, what: impl Future<Output = ()> + Send + 'static) {
        let mut reports = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        reports.retain(|h| !h.is_finished());
        reports.push(tokio::spawn(what));
    }

    /// Waits until every pause and cut reported so far has been sent to the shared budget
    /// (or failed to be). Nothing to wait for without `--shared-budget`.
    pub async fn flush(&self) {
        let reports = std::mem::take(&mut *self.reports.lock().unwrap_or_else(|p| p.into_inner()));
        for r in reports {
            let _ = r.await;
        }
    }

    /// Requests granted so far (charges included).
    pub fn granted(&self) -> u64 {
        self.shared.granted.load(Ordering::Relaxed)
    }

    /// The most requests that went on to be sent within one window of the rate (one second
    /// for `N/s`), measured when each acquiring task resumed. Charges are not included.
    pub fn peak_per_window(&self) -> u64 {
        self.shared
            .sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .peak
    }

    /// How many times a `Retry-After` extended the shared pause.
    pub fn pauses(&self) -> u64 {
        self.shared.pauses.load(Ordering::Relaxed)
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.pacer.abort();
    }
}

/// How the pacer spaces grants.
enum Pacing {
    /// A fixed rate: one grant per [`Rate::period`], a burst of one (see [`LATE`]).
    Fixed(Duration),
    /// `--rate auto`: grants spaced by the controller's current rate, on tokio's clock.
    Adaptive(Arc<Mutex<Aimd>>),
    /// `--shared-budget`: each cell granted by Redis.
    Shared(Arc<SharedBudget>),
}

/// How late a fixed-rate grant may be and still keep its slot in the schedule.
///
/// The fixed pacer is GCRA with a burst of one, on tokio's clock: grant `k` is due at
/// `start + k × period`. tokio's timer wakes up to a millisecond late; a grant that late keeps
/// the schedule, so the lateness is not lost (restarting the schedule at each late wake lost
/// ~8 % of the budget at 100/s). A grant later than this (nobody was waiting, or a pause) starts
/// a new schedule at once, so an idle spell never banks a burst. Any window of `W` then holds at
/// most `(W + LATE) / period + 1` grants, which the period's slack (1 % + 30 ms per window)
/// covers.
const LATE: Duration = Duration::from_millis(2);

/// The pacer: wait for a waiter, then for the shared pause, then for the limiter; hand the cell
/// to the most urgent waiter still waiting.
async fn pace(shared: Arc<Shared>, pacing: Pacing) {
    // When the next grant is due. It advances by one period per grant. Adaptive pacing lets it
    // lag `now` by at most one period, so timer rounding (tokio's whole milliseconds) does not
    // lose budget and an idle spell banks at most one grant; fixed pacing, by at most [`LATE`].
    let mut next = Instant::now();
    loop {
        // Wait until someone waits. `notified` is enabled before the check so a push between
        // the check and the await is not missed.
        loop {
            let notified = shared.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !shared.is_empty() {
                break;
            }
            notified.await;
        }
        loop {
            let deadline = *shared.not_before.lock().unwrap_or_else(|p| p.into_inner());
            match deadline {
                Some(d) if d > Instant::now() => tokio::time::sleep_until(d).await,
                _ => break,
            }
        }
        match &pacing {
            Pacing::Fixed(period) => {
                let now = Instant::now();
                if now.saturating_duration_since(next) > LATE {
                    next = now;
                }
                if next > now {
                    tokio::time::sleep_until(next).await;
                }
                next += *period;
            }
            Pacing::Adaptive(aimd) => {
                let rate = aimd
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .rate(Instant::now());
                let period = Duration::from_secs_f64(1.0 / rate.max(crate::adaptive::MIN_RATE));
                let now = Instant::now();
                next = next.max(now.checked_sub(period).unwrap_or(now));
                if next > now {
                    tokio::time::sleep_until(next).await;
                }
                next += period;
                aimd.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .granted(Instant::now());
            }
            Pacing::Shared(remote) => {
                if let Err(e) = remote.take().await {
                    tracing::error!(error = %e, "the shared budget is lost: no more requests are sent");
                    shared.fail(e);
                    return;
                }
            }
        }
        // Give the cell to the most urgent live waiter; a waiter that gave up (its receiver
        // is gone) passes it on.
        while let Some(waiter) = shared.pop() {
            match waiter {
                None => {
                    shared.granted.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Some(tx) => {
                    // Counted before the waiter wakes, so `granted()` never lags an acquire
                    // that has returned; taken back if the waiter is gone.
                    shared.granted.fetch_add(1, Ordering::Relaxed);
                    if tx.send(()).is_ok() {
                        break;
                    }
                    shared.granted.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_parse() {
        assert_eq!("5".parse::<Rate>().unwrap().to_string(), "5/s");
        assert_eq!("100/s".parse::<Rate>().unwrap().count(), 100);
        let m: Rate = "30/min".parse().unwrap();
        assert_eq!(m.window(), Duration::from_secs(60));
        assert!((m.per_sec() - 0.5).abs() < 1e-9);
        for bad in ["0", "-1", "x", "5/h", "1.5", ""] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        assert_eq!(
            "0/s".parse::<Rate>().unwrap_err().to_string(),
            "read rate \"0/s\": expected auto, N, N/s or N/min with N a whole number above 0"
        );
    }

    #[test]
    fn period_has_slack() {
        let r: Rate = "100".parse().unwrap();
        assert_eq!(r.period(), Duration::from_micros(10_400));
        let r: Rate = "5".parse().unwrap();
        assert_eq!(r.period(), Duration::from_millis(208));
    }

    /// No 1-second window holds more than the rate, even with many tasks waiting at once
    /// (the budget's own count of grants per window, taken as each task resumes). On paused
    /// time, so a task that a busy machine wakes late cannot bunch the count.
    #[tokio::test(start_paused = true)]
    async fn grants_never_exceed_the_rate_in_any_window() {
        let rate: Rate = "40/s".parse().unwrap();
        let budget = Arc::new(Budget::new(rate));
        let stop = CancellationToken::new();
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..60 {
            let (b, s) = (Arc::clone(&budget), stop.clone());
            tasks.push(tokio::spawn(async move {
                b.acquire(Priority::Poll, &s).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(budget.granted(), 60);
        // The first grant is due at once, each next one a period (or, as tokio's timer
        // rounds up to whole milliseconds, under a millisecond more) later.
        let took = t0.elapsed();
        assert!(
            took >= rate.period() * 59 && took < (rate.period() + Duration::from_millis(1)) * 59,
            "{took:?}"
        );
        // At most the rate in any second, and the budget used: a grant every 26-27 ms puts
        // 38 or 39 in the busiest second.
        let peak = budget.peak_per_window();
        assert!((38..=40).contains(&peak), "{peak}");
    }

    /// The fixed rate's schedule on paused time: cells come exactly one period apart, so 60
    /// take 59 periods (about 1.5 s at 40/s, the budget used, not wasted).
    #[tokio::test(start_paused = true)]
    async fn the_fixed_rate_grants_one_cell_a_period() {
        let rate: Rate = "40/s".parse().unwrap();
        let budget = Budget::new(rate);
        let stop = CancellationToken::new();
        let t0 = Instant::now();
        let mut times = Vec::new();
        for _ in 0..60 {
            budget.acquire(Priority::Submit, &stop).await.unwrap();
            times.push(Instant::now() - t0);
        }
        assert_eq!(times[0], Duration::ZERO);
        assert_eq!(times[59], rate.period() * 59);
        assert!(times.windows(2).all(|w| w[1] - w[0] == rate.period()));
    }

    /// A grant at most [`LATE`] behind its slot keeps the schedule (tokio's timer may wake that
    /// late: the lateness is not lost); a later one starts a new schedule, so an idle spell
    /// banks nothing and the next grant is a whole period away.
    #[tokio::test(start_paused = true)]
    async fn a_late_grant_keeps_its_slot_and_idleness_banks_nothing() {
        // 26 ms apart: whole milliseconds, as tokio's timer (paused or not) counts them.
        let rate: Rate = "40/s".parse().unwrap();
        let period = rate.period();
        assert_eq!(period, Duration::from_millis(26));
        let budget = Budget::new(rate);
        let stop = CancellationToken::new();
        budget.acquire(Priority::Submit, &stop).await.unwrap();
        let t0 = Instant::now();
        // 1 ms behind the slot: granted at once, and the next slot stays at t0 + 2 periods.
        tokio::time::sleep(period + Duration::from_millis(1)).await;
        budget.acquire(Priority::Submit, &stop).await.unwrap();
        assert_eq!(Instant::now() - t0, period + Duration::from_millis(1));
        budget.acquire(Priority::Submit, &stop).await.unwrap();
        assert_eq!(Instant::now() - t0, period * 2);
        // Idle for a second: granted at once, then a whole period before the next.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t1 = Instant::now();
        budget.acquire(Priority::Submit, &stop).await.unwrap();
        assert_eq!(Instant::now(), t1);
        budget.acquire(Priority::Submit, &stop).await.unwrap();
        assert_eq!(Instant::now() - t1, period);
    }

    /// On paused time the pause is exact: no grant before the later deadline.
    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_everyone() {
        let budget = Budget::new("1000/s".parse().unwrap());
        let stop = CancellationToken::new();
        budget.acquire(Priority::Submit, &stop).await.unwrap();
        let t0 = Instant::now();
        budget.pause_until(t0 + Duration::from_millis(300));
        // An earlier deadline does not shorten the pause.
        budget.pause_until(t0 + Duration::from_millis(100));
        budget.acquire(Priority::Poll, &stop).await.unwrap();
        budget.acquire(Priority::Submit, &stop).await.unwrap();
        assert!(
            t0.elapsed() >= Duration::from_millis(300),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(budget.pauses(), 1);
    }

    /// Waiters queued while the pacer waits for its next cell are served by priority, then in
    /// order: a probe's poll, then creates, then polls. On paused time: the waiters queue 0-4 ms
    /// after the first grant, the next cell is 52 ms away, so all five wait together.
    #[tokio::test(start_paused = true)]
    async fn probes_go_first_then_submits_then_polls() {
        let rate: Rate = "20/s".parse().unwrap();
        let budget = Arc::new(Budget::new(rate));
        let stop = CancellationToken::new();
        // Occupy the pacer so the next waiters queue up together.
        budget.acquire(Priority::Poll, &stop).await.unwrap();
        let t0 = Instant::now();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, p) in [
            Priority::Poll,
            Priority::Poll,
            Priority::Submit,
            Priority::Submit,
            Priority::Probe,
        ]
        .into_iter()
        .enumerate()
        {
            let (b, s, o) = (Arc::clone(&budget), stop.clone(), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i as u64)).await;
                b.acquire(p, &s).await.unwrap();
                o.lock().unwrap().push((p, i));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(
            order,
            [
                (Priority::Probe, 4),
                (Priority::Submit, 2),
                (Priority::Submit, 3),
                (Priority::Poll, 0),
                (Priority::Poll, 1)
            ]
        );
        // Five cells after the first: five periods (each under a millisecond of rounding).
        let took = t0.elapsed();
        assert!(
            took >= rate.period() * 5 && took < (rate.period() + Duration::from_millis(1)) * 5,
            "{took:?}"
        );
        assert_eq!(budget.granted(), 6);
    }

    /// On paused time: two charged cells go first, so the acquire gets the third, exactly two
    /// periods later (not one, not three); a stopped run's acquire gives up.
    #[tokio::test(start_paused = true)]
    async fn charges_take_cells_and_stopping_gives_up() {
        let rate: Rate = "10/s".parse().unwrap();
        let budget = Budget::new(rate);
        let stop = CancellationToken::new();
        budget.charge(2);
        let t0 = Instant::now();
        budget.acquire(Priority::Submit, &stop).await.unwrap();
        let took = t0.elapsed();
        assert!(
            took >= rate.period() * 2 && took < rate.period() * 2 + Duration::from_millis(2),
            "{took:?}"
        );
        assert_eq!(budget.granted(), 3);
        stop.cancel();
        assert_eq!(
            budget.acquire(Priority::Submit, &stop).await,
            Err(AcquireError::Stopped)
        );
        assert_eq!(budget.granted(), 3);
    }

    /// A waiter whose run stops gives up at once, though its cell is a minute away.
    #[tokio::test]
    async fn a_waiter_gives_up_when_its_run_stops() {
        let budget = Budget::new("1/min".parse().unwrap());
        let stop = CancellationToken::new();
        budget.acquire(Priority::Submit, &stop).await.unwrap();
        let other = CancellationToken::new();
        let waiting = budget.acquire(Priority::Poll, &other);
        let canceller = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            other.cancel();
        };
        let (r, ()) = tokio::time::timeout(Duration::from_secs(30), async {
            tokio::join!(waiting, canceller)
        })
        .await
        .expect("a stopped waiter never hangs");
        assert_eq!(r, Err(AcquireError::Stopped));
        assert_eq!(budget.granted(), 1);
    }
}
