//! Against a real PostgreSQL (`source .ci/postgres.sh`): each test in a database of its own.

use std::time::Duration;

use batchgen_dispatch::journal::{Event, Fingerprint, JournalError, RowState, RunKind, now_ms};
use batchgen_dispatch::store::{Claim, SharedRows, Store};

use super::*;

/// A fresh database on the test server, or `None` (said loudly) when there is no server
/// outside CI; in CI (`BATCHGEN_CI=1`) a missing server fails the test.
async fn test_db() -> Option<StoreUrl> {
    let ci = std::env::var("BATCHGEN_CI").is_ok_and(|v| v == "1");
    let Ok(admin) = std::env::var("BATCHGEN_TEST_POSTGRES_URL") else {
        assert!(
            !ci,
            "BATCHGEN_TEST_POSTGRES_URL is not set in CI: .ci/run sources .ci/postgres.sh"
        );
        eprintln!(
            "SKIPPED: no test PostgreSQL (BATCHGEN_TEST_POSTGRES_URL unset), run source .ci/postgres.sh"
        );
        return None;
    };
    let admin_url = StoreUrl::parse(&admin).expect("BATCHGEN_TEST_POSTGRES_URL is a postgres URL");
    let pool = match connect(&admin_url, 1).await {
        Ok(p) => p,
        Err(e) => {
            assert!(!ci, "the test PostgreSQL cannot be reached in CI: {e}");
            eprintln!(
                "SKIPPED: the test PostgreSQL cannot be reached ({e}), run source .ci/postgres.sh"
            );
            return None;
        }
    };
    let name = format!("bgtest_{}", hex::encode(rand::random::<[u8; 6]>()));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut url = ::url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    Some(StoreUrl::parse(url.as_str()).unwrap())
}

fn spec(kind: RunKind, key: &str) -> RunSpec {
    RunSpec {
        kind,
        fingerprint: Fingerprint::new().text("key", key),
        command: vec!["batchgen".into(), "run".into()],
        rows: Some(3),
    }
}

fn worker(lease_ms: u64) -> Worker {
    Worker {
        run: "people".into(),
        lease: Duration::from_millis(lease_ms),
    }
}

fn submitting(row: u64, key: &str) -> Event {
    Event::Submitting {
        row,
        key: key.into(),
        name: None,
        hash: Some("sha256:x".into()),
        at: now_ms(),
    }
}

async fn expire_leases(url: &StoreUrl) {
    let pool = connect(url, 1).await.unwrap();
    sqlx::query("UPDATE batchgen_rows SET lease_until = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_again_and_concurrently() {
    let Some(url) = test_db().await else { return };
    let (a, b) = (
        connect(&url, 2).await.unwrap(),
        connect(&url, 2).await.unwrap(),
    );
    let (ra, rb) = tokio::join!(MIGRATOR.run(&a), MIGRATOR.run(&b));
    ra.unwrap();
    rb.unwrap();
    MIGRATOR.run(&a).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&a)
        .await
        .unwrap();
    assert_eq!(applied as usize, MIGRATOR.iter().count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_holds_a_row_and_its_events_replay_for_the_next() {
    let Some(url) = test_db().await else { return };
    let (a, replay) = PgStore::open(&url, worker(30_000), spec(RunKind::Run, "email"))
        .await
        .unwrap();
    assert!(replay.is_none(), "a new run");
    let (b, replay) = PgStore::open(&url, worker(30_000), spec(RunKind::Run, "email"))
        .await
        .unwrap();
    assert!(replay.is_some(), "the second worker joins the run");
    assert_eq!(a.header().run_id, b.header().run_id, "one run, one run id");

    assert_eq!(a.claim(1, "k1").await.unwrap(), Claim::Taken(None));
    assert_eq!(b.claim(1, "k1").await.unwrap(), Claim::Held);
    assert_eq!(b.claim(2, "k2").await.unwrap(), Claim::Taken(None));
    a.record(submitting(1, "k1")).await.unwrap();
    a.record_later(Event::Submitted {
        row: 1,
        key: "k1".into(),
        id: "p1".into(),
        recovered: false,
        draft: false,
        at: now_ms(),
    });
    a.release("k1");
    a.close().await.unwrap();
    let Claim::Taken(Some(r)) = b.claim(1, "k1").await.unwrap() else {
        panic!("released rows are taken at once, with their record")
    };
    assert_eq!(
        (r.state, r.project_id.as_deref(), r.attempts),
        (RowState::Submitted, Some("p1"), 1)
    );
    let rows = b.rows().await.unwrap();
    assert_eq!(rows.len(), 1, "k2 has no event yet");
    b.close().await.unwrap();

    // The run is refused to the other command and to other inputs.
    let e = PgStore::open(&url, worker(30_000), spec(RunKind::Export, "email"))
        .await
        .err()
        .unwrap();
    assert!(matches!(e, StoreError::OtherKind { .. }), "{e}");
    let e = PgStore::open(&url, worker(30_000), spec(RunKind::Run, "id"))
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("key changed"), "{e}");
    let password = ::url::Url::parse(url.expose())
        .unwrap()
        .password()
        .unwrap()
        .to_owned();
    assert!(
        !e.to_string().contains(&password) && e.to_string().contains(":***@"),
        "{e}"
    );
    let replay = read_run(&url, "people").await.unwrap();
    assert_eq!(replay.rows["k1"].state, RowState::Submitted);
    assert_eq!(replay.resumptions, 1);
    assert!(matches!(
        read_run(&url, "nope").await,
        Err(StoreError::NoRun { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_being_claimed_elsewhere_is_skipped_not_waited_for() {
    let Some(url) = test_db().await else { return };
    let (a, _) = PgStore::open(&url, worker(30_000), spec(RunKind::Run, "email"))
        .await
        .unwrap();
    assert_eq!(a.claim(1, "k1").await.unwrap(), Claim::Taken(None));
    a.release("k1");
    a.close().await.unwrap();
    // Another connection locks the claim row, as a worker's claim transaction does.
    let pool = connect(&url, 1).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM batchgen_rows WHERE key = 'k1' FOR UPDATE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let (b, _) = PgStore::open(&url, worker(30_000), spec(RunKind::Run, "email"))
        .await
        .unwrap();
    let claimed = tokio::time::timeout(Duration::from_secs(10), b.claim(1, "k1")).await;
    assert_eq!(
        claimed.expect("SKIP LOCKED does not wait").unwrap(),
        Claim::Held
    );
    tx.rollback().await.unwrap();
    assert_eq!(b.claim(1, "k1").await.unwrap(), Claim::Taken(None));
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_over_and_its_holder_can_no_longer_submit() {
    let Some(url) = test_db().await else { return };
    let (a, _) = PgStore::open(&url, worker(30_000), spec(RunKind::Run, "email"))
        .await
        .unwrap();
    let (b, _) = PgStore::open(&url, worker(30_000), spec(RunKind::Run, "email"))
        .await
        .unwrap();
    assert_eq!(a.claim(1, "k1").await.unwrap(), Claim::Taken(None));
    a.record(submitting(1, "k1")).await.unwrap();
    assert_eq!(b.claim(1, "k1").await.unwrap(), Claim::Held);
    expire_leases(&url).await;
    let Claim::Taken(Some(r)) = b.claim(1, "k1").await.unwrap() else {
        panic!("an expired lease is taken over")
    };
    assert_eq!(
        r.state,
        RowState::Submitting,
        "so the new holder looks it up first"
    );
    // The old holder is fenced off: its next create is not sent.
    let e = a.record(submitting(1, "k1")).await.unwrap_err();
    assert!(matches!(e, JournalError::LeaseLost { .. }), "{e}");
    b.record(submitting(1, "k1")).await.unwrap();
    a.close().await.unwrap();
    b.close().await.unwrap();
    assert_eq!(
        read_run(&url, "people").await.unwrap().rows["k1"].attempts,
        2
    );
}

/// How long a test waits for what must happen before calling it a hang: far beyond the leases
/// used here, so only a hang trips it.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// The row's lease as the database sees it: (lease_until, now()) in µs since the epoch (exact:
/// timestamptz keeps microseconds), on the database's clock, the clock that decides expiry.
async fn lease_of(pool: &sqlx::PgPool, key: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (extract(epoch FROM lease_until) * 1000000)::bigint, (extract(epoch FROM now()) * 1000000)::bigint FROM batchgen_rows WHERE run = 'people' AND key = $1",
    )
    .bind(key)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits (checking every 20 ms) until `f` gives `Some`, under [`HANG_GUARD`]; `what` says what
/// never happened.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let wait = async {
        loop {
            if let Some(t) = f().await {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(HANG_GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {HANG_GUARD:?}"))
}

/// A live holder's renewals move its lease on, each to the database's now() plus the lease, past
/// the end of its first lease; a holder that stops renewing (as after kill -9) loses the row to
/// another worker once it runs out. Watched on the database's clock, with no fixed sleep: the
/// waits are hang guards, and the only timing left is the product's own (the lease outlives
/// two missed renewals).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_holder_renews_its_lease_and_a_dead_one_loses_it() {
    let Some(url) = test_db().await else { return };
    // A 3 s lease, renewed every second.
    let lease_ms = 3000;
    let lease_us = lease_ms as i64 * 1000;
    let (a, _) = PgStore::open(&url, worker(lease_ms), spec(RunKind::Run, "email"))
        .await
        .unwrap();
    let (b, _) = PgStore::open(&url, worker(lease_ms), spec(RunKind::Run, "email"))
        .await
        .unwrap();
    let pool = connect(&url, 1).await.unwrap();
    assert_eq!(a.claim(1, "k1").await.unwrap(), Claim::Taken(None));
    let (first_until, claimed_at) = lease_of(&pool, "k1").await;
    assert!(
        first_until > claimed_at && first_until - claimed_at <= lease_us,
        "a claim holds for the lease: {first_until} - {claimed_at}"
    );
    // Renewals move the lease on: wait for one that reaches past the end of the first lease
    // by a whole renewal period (two renewals at least), on the database's clock.
    let every = lease_us / 3;
    let (until_us, now_us) = until("a renewal past the first lease", || async {
        let (until_us, now_us) = lease_of(&pool, "k1").await;
        (until_us >= first_until + every).then_some((until_us, now_us))
    })
    .await;
    assert!(
        until_us - now_us <= lease_us,
        "a renewal sets the lease to now() plus the lease, never more: {until_us} - {now_us}"
    );
    // Just renewed, it has most of a lease to run: the other worker is held off.
    assert_eq!(
        b.claim(1, "k1").await.unwrap(),
        Claim::Held,
        "renewed past its first lease"
    );
    // A worker that stops renewing loses its rows once the lease runs out: how soon is the
    // lease's business (not asserted here), that it happens is.
    drop(a);
    until("the dead worker's row taken over", || async {
        (b.claim(1, "k1").await.unwrap() != Claim::Held).then_some(())
    })
    .await;
    let (_, taken_at) = lease_of(&pool, "k1").await;
    assert!(
        taken_at >= until_us,
        "taken over only once the last renewal ran out: {taken_at} < {until_us}"
    );
    pool.close().await;
    b.close().await.unwrap();
}
