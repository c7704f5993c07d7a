//! Against a real Redis (`source .ci/redis.sh`): the shared GCRA, pause and adaptive rate, and
//! what a worker does when Redis goes away. Each test uses an account of its own, so its key
//! meets no other test's on the one server.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::budget::{AcquireError, Budget, Priority};

/// The test server's URL from `BATCHGEN_TEST_REDIS_URL`. Without one (or if it does not
/// answer): a failure with `BATCHGEN_CI=1`, else a loud SKIPPED and `None`.
pub(crate) async fn test_redis(test: &str) -> Option<String> {
    let ci = std::env::var("BATCHGEN_CI").is_ok_and(|v| v == "1");
    let why = match std::env::var("BATCHGEN_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => match ping(&url).await {
            Ok(()) => return Some(url),
            Err(e) => format!(
                "BATCHGEN_TEST_REDIS_URL={} does not answer: {e}",
                redact(&url)
            ),
        },
        _ => "BATCHGEN_TEST_REDIS_URL is not set".to_owned(),
    };
    assert!(
        !ci,
        "{test}: {why} (BATCHGEN_CI=1: .ci/redis.sh should have started one)"
    );
    eprintln!("SKIPPED: {test}: {why}, run source .ci/redis.sh");
    None
}

async fn ping(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut c = tokio::time::timeout(
        Duration::from_secs(3),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| "timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    redis::cmd("PING")
        .query_async::<String>(&mut c)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// An account no other test uses.
fn account(test: &str) -> String {
    format!(
        "http://127.0.0.1:1\nsecret-{test}-{}",
        rand::random::<u64>()
    )
}

async fn budget(url: &str, account: &str, rate: &str) -> Budget {
    let setting: RateSetting = rate.parse().unwrap();
    Budget::shared(
        SharedBudget::connect(url, account, setting, None)
            .await
            .unwrap(),
    )
}

/// Redis' own clock, in seconds.
async fn server_time(url: &str) -> f64 {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let (s, us): (u64, u64) = redis::cmd("TIME").query_async(&mut c).await.unwrap();
    s as f64 + us as f64 / 1e6
}

#[test]
fn keys_hash_the_account_and_urls_hide_passwords() {
    let k = budget_key("https://app.aistudios.com\nsk-12345");
    assert!(k.starts_with("batchgen:budget:"), "{k}");
    assert_eq!(k.len(), "batchgen:budget:".len() + 16);
    assert!(!k.contains("sk-12345"));
    assert_ne!(k, budget_key("https://app.aistudios.com\nsk-12346"));
    assert_eq!(
        redact("redis://user:hunter2@10.0.0.5:6380/2"),
        "redis://user:***@10.0.0.5:6380/2"
    );
    assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
}

#[test]
fn the_lag_keeps_every_window_within_the_rate() {
    // k grants within one window need (k-1)·period - lag < window: k ≤ count.
    for r in ["1", "5", "40", "100", "999", "30/min"] {
        let rate: Rate = r.parse().unwrap();
        let (period, lag) = (period_us(rate) as f64, lag_us(rate) as f64);
        let most = ((rate.window().as_micros() as f64 + lag) / period).ceil();
        assert!(most <= f64::from(rate.count()), "{r}: {most}");
    }
}

#[tokio::test]
async fn bad_urls_and_a_server_that_is_not_there_are_typed_errors() {
    let a = account("bad");
    let auto = RateSetting::Auto;
    let e = SharedBudget::connect("rediss://h:1", &a, auto, None)
        .await
        .unwrap_err();
    assert!(matches!(e, SharedBudgetError::BadUrl { .. }), "{e}");
    assert!(e.to_string().contains("TLS"), "{e}");
    let e = SharedBudget::connect("http://h:1", &a, auto, None)
        .await
        .unwrap_err();
    assert!(matches!(e, SharedBudgetError::BadUrl { .. }), "{e}");
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let e = SharedBudget::connect(&url, &a, auto, None)
        .await
        .unwrap_err();
    match &e {
        SharedBudgetError::Unreachable { url, .. } => {
            assert_eq!(url, &format!("redis://:***@127.0.0.1:{port}/0"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

/// Two workers with one key get one budget: 40 grants at 20/s, however they are split, take 39
/// periods less the lag on Redis' clock, where one worker alone would get its 20 in one second.
/// Load can only make it slower, so these lower bounds cannot flake.
///
/// What the script promises is on the server's clock (`TIME`): the first grant leaves the GCRA's
/// arrival time `lag` behind the server's now (the burst tolerance, 5 ms), and each grant moves
/// it one period on, so the 40th grant comes at least `39 × period − lag` = 39 × 52 ms − 5 ms =
/// 2,023 ms after the first (39 periods, not 40: the first is due at once). Inside the script
/// `TIME` is the time of the call to the microsecond (never a cached one). But it is the wall
/// clock (CLOCK_REALTIME), and this test's `Instant` the monotonic one: they tick together
/// unless the wall clock is stepped (time sync) during the run, which moves Redis' grants on
/// our clock by the step. That is the one explanation left for the run once seen here ~11 ms
/// inside that floor on our clock; so the slack is asserted on Redis' clock, and on ours only
/// the limit itself,
/// 39 × 50 ms − lag (a step of up to 78 ms absorbed). Figures of 22 runs on the CI machine
/// (12 idle, 10 beside the e2e suite, load 2.7): 2,025.1–2,048.9 ms on our clock,
/// 2,026.0–2,050.1 ms on Redis'; the wall clock drifted 0.44 ms from the monotonic one in 25
/// minutes, with no step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_budgets_with_one_key_share_the_limit() {
    let Some(url) = test_redis("two_budgets_with_one_key_share_the_limit").await else {
        return;
    };
    let acc = account("share");
    let (a, b) = (
        Arc::new(budget(&url, &acc, "20").await),
        Arc::new(budget(&url, &acc, "20").await),
    );
    let stop = CancellationToken::new();
    let server_t0 = server_time(&url).await;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for budget in [&a, &b] {
        for _ in 0..4 {
            let (budget, stop) = (Arc::clone(budget), stop.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    budget.acquire(Priority::Submit, &stop).await.unwrap();
                }
            }));
        }
    }
    // A hang guard, not a margin: the grants take about 2 s.
    tokio::time::timeout(HANG_GUARD, async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("40 grants at 20/s came within the hang guard");
    let elapsed = t0.elapsed();
    let server_elapsed = Duration::from_secs_f64(server_time(&url).await - server_t0);
    assert_eq!(a.granted() + b.granted(), 40);
    // Both took part: neither worker was starved by the other.
    assert!(a.granted() >= 5 && b.granted() >= 5, "{a:?} {b:?}");
    let rate: Rate = "20".parse().unwrap();
    let lag = Duration::from_micros(lag_us(rate));
    // On the server's clock: the promise, slack included.
    let promised = Duration::from_micros(period_us(rate)) * 39 - lag;
    assert!(
        server_elapsed >= promised,
        "{server_elapsed:?} < {promised:?} on Redis' clock"
    );
    // On ours: the limit itself (see above).
    let limit = (rate.window() / rate.count()) * 39 - lag;
    assert!(elapsed >= limit, "{elapsed:?} < {limit:?}");
    // A worker with another key is not held back by them: a pause of a minute on their key
    // does not touch it (held back, it would wait out the minute, past the hang guard).
    a.pause_until(Instant::now() + Duration::from_secs(60));
    a.flush().await;
    let other = budget(&url, &account("share-other"), "20").await;
    tokio::time::timeout(HANG_GUARD, other.acquire(Priority::Submit, &stop))
        .await
        .expect("another key's worker is not held back by this key's pause")
        .unwrap();
    assert_eq!(other.granted(), 1);
}

/// How long a test waits for what must happen before calling it a hang (far beyond any
/// timing here: only a hang trips it).
const HANG_GUARD: Duration = Duration::from_secs(30);

/// A pause sent by one worker holds the other: no grant before it ends on Redis' clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_set_by_one_is_seen_by_the_other() {
    let Some(url) = test_redis("a_pause_set_by_one_is_seen_by_the_other").await else {
        return;
    };
    let acc = account("pause");
    let (a, b) = (
        budget(&url, &acc, "1000").await,
        budget(&url, &acc, "1000").await,
    );
    let stop = CancellationToken::new();
    b.acquire(Priority::Poll, &stop).await.unwrap();
    let t0 = Instant::now();
    a.pause_until(t0 + Duration::from_millis(400));
    a.flush().await;
    tokio::time::timeout(HANG_GUARD, b.acquire(Priority::Poll, &stop))
        .await
        .expect("the pause ends")
        .unwrap();
    // The pause is sent as "400 ms less what already passed since t0", and Redis counts it
    // from when it receives it, after that: it ends no sooner than t0 + 400 ms. The 1 ms of
    // slack is the two clocks' (Redis' wall clock against our monotonic one, read in whole
    // microseconds), not the budget's.
    assert!(
        t0.elapsed() >= Duration::from_millis(399),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(b.granted(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adaptive_rate_is_one_for_all_workers() {
    let Some(url) = test_redis("the_adaptive_rate_is_one_for_all_workers").await else {
        return;
    };
    let acc = account("auto");
    let (a, b) = (
        budget(&url, &acc, "auto").await,
        budget(&url, &acc, "auto").await,
    );
    let stop = CancellationToken::new();
    a.acquire(Priority::Submit, &stop).await.unwrap();
    assert_eq!(a.current_rate(), adaptive::START_RATE);
    // A 429 seen by A cuts the rate B gets.
    a.rate_limited();
    a.flush().await;
    b.acquire(Priority::Submit, &stop).await.unwrap();
    assert_eq!(
        b.current_rate(),
        adaptive::START_RATE * adaptive::SLOW_START_BACKOFF
    );
    // The state in Redis holds no trace of the account's secret.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let key = budget_key(&acc);
    let fields: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(fields.iter().any(|(f, _)| f == "rate"), "{fields:?}");
    let secret = acc.split('\n').nth(1).unwrap();
    for (f, v) in &fields {
        assert!(!f.contains(secret) && !v.contains(secret), "{f}={v}");
    }
    assert!(!key.contains(secret));
}

/// A TCP proxy to `upstream` that can be cut: the "Redis went away" of a worker.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: CancellationToken,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = CancellationToken::new();
        let stop = cut.clone();
        tokio::spawn(async move {
            loop {
                let (mut down, _) = tokio::select! {
                    c = listener.accept() => c.unwrap(),
                    () = stop.cancelled() => return,
                };
                let (up, stop) = (upstream.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut up = TcpStream::connect(up).await.unwrap();
                    tokio::select! {
                        _ = copy_bidirectional(&mut down, &mut up) => {}
                        () = stop.cancelled() => {}
                    }
                });
            }
        });
        Proxy { addr, cut }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_gone_mid_run_grants_nothing_and_fails_every_waiter() {
    let Some(url) = test_redis("redis_gone_mid_run_grants_nothing_and_fails_every_waiter").await
    else {
        return;
    };
    let parsed = url::Url::parse(&url).unwrap();
    let upstream = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(6379)
    );
    let proxy = Proxy::start(upstream).await;
    let via = format!("redis://{}{}", proxy.addr, parsed.path());
    let remote = SharedBudget::connect(&via, &account("gone"), "50".parse().unwrap(), None)
        .await
        .unwrap()
        .with_grace(Duration::from_millis(600));
    let budget = Arc::new(Budget::shared(remote));
    let stop = CancellationToken::new();
    budget.acquire(Priority::Submit, &stop).await.unwrap();
    proxy.cut.cancel();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (b, s) = (Arc::clone(&budget), stop.clone());
        tasks.push(tokio::spawn(
            async move { b.acquire(Priority::Poll, &s).await },
        ));
    }
    for t in tasks {
        // A hang guard: the grace is 600 ms.
        let outcome = tokio::time::timeout(HANG_GUARD, t)
            .await
            .expect("a waiter was failed once the grace ran out")
            .unwrap();
        match outcome {
            Err(AcquireError::Lost(SharedBudgetError::Lost { url, .. })) => {
                assert_eq!(url, via);
            }
            other => panic!("{other:?}"),
        }
    }
    // The first grant only (the pacer counts it right after handing it over, before it asks
    // Redis again): nothing granted without Redis.
    assert_eq!(budget.granted(), 1, "nothing granted without Redis");
    let lost = budget.lost().expect("the failure is kept").to_string();
    assert!(
        lost.starts_with(&format!("reach the shared budget at {via}")),
        "{lost}"
    );
    // Later acquires fail at once.
    let e = budget.acquire(Priority::Submit, &stop).await.unwrap_err();
    assert!(matches!(e, AcquireError::Lost(_)), "{e:?}");
}

/// The controller in the script is [`adaptive::Aimd`], step for step. Both are driven on one
/// fake clock (the script's clock argument) by a client that always has work, against a token
/// bucket whose limit goes 50/s, then 10/s from 20 s, then 80/s from 40 s (its 429s come back
/// 20 ms after the request): slow start, cuts, holds that measure the limit, probing and both
/// changes of limit. After every call (3,000 or so) both have the same rate.
#[tokio::test]
async fn the_script_runs_the_local_controller_step_for_step() {
    let Some(url) = test_redis("the_script_runs_the_local_controller_step_for_step").await else {
        return;
    };
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let script = Script::new(LUA);
    let key = budget_key(&account("step-for-step"));
    let max = Some(500.0);
    let auto = take_args(RateSetting::Auto, max);
    let t0 = Instant::now();
    let mut local = adaptive::Aimd::new(max, t0);
    let mut call = async |op: &str, now_us: u64| -> (i64, i64, f64) {
        let mut inv = script.key(&key);
        inv.arg(op).arg(TTL_MS).arg(now_us.to_string());
        for c in &auto {
            inv.arg(c);
        }
        let (granted, wait, rate): (i64, i64, String) = inv.invoke_async(&mut conn).await.unwrap();
        (granted, wait, rate.parse().unwrap())
    };
    let limit = |us: u64| match us {
        ..20_000_000 => 50.0,
        20_000_000..40_000_000 => 10.0,
        _ => 80.0,
    };
    let same = |script: f64, local: f64, what: &str| {
        assert!(
            (script - local).abs() <= 1e-9 * local.abs().max(1.0),
            "{what}: the script's rate {script}, the local controller's {local}"
        );
    };
    let (mut tokens, mut filled_at) = (50.0f64, 0u64);
    let mut refusals: std::collections::VecDeque<u64> = Default::default();
    let (mut now, mut next_take) = (0u64, 0u64);
    let (mut grants, mut refused) = (0u64, 0u64);
    let mut rates = Vec::new();
    while now < 60_000_000 {
        if refusals.front().is_some_and(|&at| at <= next_take) {
            now = refusals.pop_front().unwrap();
            let at = t0 + Duration::from_micros(now);
            let (_, _, rate) = call("cut", now).await;
            local.rate_limited(at);
            same(rate, local.current(), &format!("429 at {now} us"));
            continue;
        }
        now = next_take;
        let at = t0 + Duration::from_micros(now);
        let (granted, wait, rate) = call("take", now).await;
        same(rate, local.rate(at), &format!("take at {now} us"));
        if granted == 0 {
            next_take = now + (wait as u64).max(1);
            continue;
        }
        local.granted(at);
        grants += 1;
        // The server's token bucket (capacity: a second of its limit).
        let l = limit(now);
        tokens = (tokens + (now - filled_at) as f64 / 1e6 * l).min(l);
        filled_at = now;
        if tokens >= 1.0 {
            tokens -= 1.0;
        } else {
            refused += 1;
            refusals.push_back(now + 20_000);
        }
        next_take = now + 100;
        if rates.len() as u64 <= now / 1_000_000 {
            rates.push(local.current().round());
        }
    }
    // It went through every phase: slow start past the first limit, cuts, a hold that measured
    // the second limit (and stayed at or under it), and probing upwards after the rise. (It
    // climbs slowly from there: at 10/s a probing round of 25 grants takes 2.5 s.)
    assert!(local.cuts() >= 3, "{} cuts: {rates:?}", local.cuts());
    assert!(
        refused > 0 && grants > 1_000,
        "{grants} grants, {refused} refused"
    );
    assert!(rates[..20].iter().any(|&r| r > 40.0), "{rates:?}");
    assert!(
        rates[25..40].iter().all(|&r| (8.0..=10.0).contains(&r)),
        "{rates:?}"
    );
    assert!(rates[59] > 10.0, "{rates:?}");
}
