//! The PostgreSQL store: opening (or joining) a run, claims under leases, and the reads.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use batchgen_dispatch::journal::{
    Event, Fingerprint, Header, JournalError, Replay, RowRecord, RunKind, now_ms,
};
use batchgen_dispatch::store::{Claim, SharedRows, Store, StoreFuture};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Row as _};
use tokio::sync::{mpsc, oneshot};

use crate::writer::{Op, write_loop};
use crate::{StoreError, StoreUrl};

/// The migrations batchgen owns (`migrations/`), applied on open; applying them again does
/// nothing, and two workers applying them at once wait for each other (an advisory lock).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How a worker takes part in a run.
#[derive(Clone, Debug)]
pub struct Worker {
    /// The run's name in the store (`--run`).
    pub run: String,
    /// How long a claim holds without renewal (`--lease`); renewed every third of it.
    pub lease: Duration,
}

/// What a new run's header records (as [`Header::new_kind`] takes it).
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Which command.
    pub kind: RunKind,
    /// What decides the run's projects; a run is refused if it changed.
    pub fingerprint: Fingerprint,
    /// The command line (its store URL already redacted: see [`crate::redact`]).
    pub command: Vec<String>,
    /// Rows in the input.
    pub rows: Option<u64>,
}

/// A run's state in PostgreSQL, shared by every worker given the same store and run name. It
/// is the engine's [`Store`] (and [`SharedRows`]): events go to `batchgen_events` through one
/// writer task per worker, in order, several per transaction; a `submitting` is committed only
/// while this worker's lease on the row is live; leases are renewed in the background.
pub struct PgStore {
    inner: Arc<Inner>,
    header: Header,
    tx: std::sync::Mutex<Option<mpsc::UnboundedSender<Op>>>,
    writer: tokio::sync::Mutex<Option<tokio::task::JoinHandle<Result<(), String>>>>,
    renewer: tokio::task::JoinHandle<()>,
}

pub(crate) struct Inner {
    pub(crate) pool: PgPool,
    pub(crate) url: StoreUrl,
    pub(crate) run: String,
    pub(crate) worker: String,
    pub(crate) lease: Duration,
}

impl Inner {
    pub(crate) fn query_error(&self, e: sqlx::Error) -> StoreError {
        StoreError::Query {
            url: self.url.to_string(),
            message: self.url.scrub(&e.to_string()),
        }
    }

    fn journal_error(&self, e: sqlx::Error) -> JournalError {
        JournalError::Store(self.query_error(e).to_string())
    }

    pub(crate) fn lease_ms(&self) -> i64 {
        self.lease.as_millis().min(i64::MAX as u128) as i64
    }
}

/// Connects to `url` (the driver's statement log off: nothing it prints holds the password).
pub async fn connect(url: &StoreUrl, max: u32) -> Result<PgPool, StoreError> {
    let connect_error = |e: sqlx::Error| StoreError::Connect {
        url: url.to_string(),
        message: url.scrub(&e.to_string()),
    };
    let options = PgConnectOptions::from_str(url.expose())
        .map_err(connect_error)?
        .application_name("batchgen")
        .disable_statement_logging();
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(15))
        .connect_with(options)
        .await
        .map_err(connect_error)
}

impl PgStore {
    /// Opens run `worker.run` in the store at `url` for this process: applies the migrations,
    /// makes the run with a new header if the store has none of that name (then the replay is
    /// `None`), or joins it (refused if another command made it or its fingerprint differs;
    /// the replay is what the store knows of every row, and a `resumed` event is recorded).
    pub async fn open(
        url: &StoreUrl,
        worker: Worker,
        spec: RunSpec,
    ) -> Result<(PgStore, Option<Replay>), StoreError> {
        let pool = connect(url, 6).await?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Query {
            url: url.to_string(),
            message: url.scrub(&format!("apply batchgen's migrations: {e}")),
        })?;
        let id: [u8; 6] = rand::random();
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "worker".into());
        let inner = Arc::new(Inner {
            pool,
            url: url.clone(),
            run: worker.run.clone(),
            worker: format!("{host}:{}:{}", std::process::id(), hex::encode(id)),
            lease: worker.lease.max(Duration::from_millis(300)),
        });
        let fresh = Header::new_kind(spec.kind, spec.fingerprint.clone(), spec.command, spec.rows);
        let fresh_text = serde_json::to_string(&fresh).expect("a header serializes");
        let made = sqlx::query(
            "INSERT INTO batchgen_runs (name, kind, header) VALUES ($1, $2, $3::jsonb) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&inner.run)
        .bind(spec.kind.as_str())
        .bind(&fresh_text)
        .execute(&inner.pool)
        .await
        .map_err(|e| inner.query_error(e))?
        .rows_affected()
            == 1;
        let replay = read_replay(&inner.pool, url, &inner.run).await?;
        let header = replay.header.clone();
        if header.kind != spec.kind {
            return Err(StoreError::OtherKind {
                url: url.to_string(),
                run: inner.run.clone(),
                found: header.kind,
                expected: spec.kind,
            });
        }
        let changed = spec.fingerprint.changed_since(&header.fingerprint);
        if !changed.is_empty() {
            return Err(StoreError::Mismatch {
                url: url.to_string(),
                run: inner.run.clone(),
                changed,
            });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(Arc::clone(&inner), rx));
        let renewer = tokio::spawn(renew_loop(Arc::clone(&inner)));
        let store = PgStore {
            inner,
            header,
            tx: std::sync::Mutex::new(Some(tx)),
            writer: tokio::sync::Mutex::new(Some(writer)),
            renewer,
        };
        if made {
            Ok((store, None))
        } else {
            store.record_later(Event::Resumed { at: now_ms() });
            Ok((store, Some(replay)))
        }
    }

    /// This worker's name in the store (`host:pid:random`).
    pub fn worker(&self) -> &str {
        &self.inner.worker
    }

    fn send(&self, op: Op) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        tx.as_ref().is_some_and(|tx| tx.send(op).is_ok())
    }

    fn stopped() -> JournalError {
        JournalError::WriterStopped("the run store is closed".into())
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl Store for PgStore {
    fn header(&self) -> &Header {
        &self.header
    }

    fn record(&self, event: Event) -> StoreFuture<'_, ()> {
        let (ack, done) = oneshot::channel();
        let sent = self.send(Op::Event(event, Some(ack)));
        Box::pin(async move {
            if !sent {
                return Err(Self::stopped());
            }
            done.await.unwrap_or_else(|_| Err(Self::stopped()))
        })
    }

    fn record_later(&self, event: Event) {
        self.send(Op::Event(event, None));
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
            let writer = self.writer.lock().await.take();
            self.renewer.abort();
            let result = match writer {
                None => Ok(()),
                Some(w) => match w.await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(JournalError::WriterStopped(e)),
                    Err(_) => Err(JournalError::WriterStopped(
                        "the store writer panicked".into(),
                    )),
                },
            };
            // Whatever this worker still holds (a stopped run) is free for the others now.
            let released = sqlx::query(
                "UPDATE batchgen_rows SET holder = NULL, lease_until = NULL WHERE run = $1 AND holder = $2",
            )
            .bind(&self.inner.run)
            .bind(&self.inner.worker)
            .execute(&self.inner.pool)
            .await;
            if let Err(e) = released {
                tracing::warn!(error = %self.inner.query_error(e), "could not give back this worker's rows; they are free once their lease runs out");
            }
            result
        })
    }

    fn shared(&self) -> Option<&dyn SharedRows> {
        Some(self)
    }
}

impl SharedRows for PgStore {
    fn claim(&self, row: u64, key: &str) -> StoreFuture<'_, Claim> {
        let key = key.to_owned();
        Box::pin(async move {
            claim(&self.inner, &self.header, row, &key)
                .await
                .map_err(|e| self.inner.journal_error(e))
        })
    }

    fn release(&self, key: &str) {
        self.send(Op::Release(key.to_owned()));
    }

    fn rows(&self) -> StoreFuture<'_, HashMap<String, RowRecord>> {
        Box::pin(async move {
            read_replay(&self.inner.pool, &self.inner.url, &self.inner.run)
                .await
                .map(|r| r.rows)
                .map_err(|e| JournalError::Store(e.to_string()))
        })
    }

    fn retry_every(&self) -> Duration {
        (self.inner.lease / 3).clamp(Duration::from_millis(100), Duration::from_secs(5))
    }
}

/// One claim, in one transaction: the row's claim record is made if missing, locked with
/// `FOR UPDATE SKIP LOCKED` (a row another worker is claiming right now is skipped, not
/// waited for), taken if nobody holds a live lease on it, and its events read.
async fn claim(inner: &Inner, header: &Header, row: u64, key: &str) -> Result<Claim, sqlx::Error> {
    let mut tx = inner.pool.begin().await?;
    sqlx::query(
        "INSERT INTO batchgen_rows (run, key, row_number) VALUES ($1, $2, $3) ON CONFLICT (run, key) DO NOTHING",
    )
    .bind(&inner.run)
    .bind(key)
    .bind(row as i64)
    .execute(&mut *tx)
    .await?;
    let locked = sqlx::query(
        "SELECT holder, lease_until > now() AS live FROM batchgen_rows WHERE run = $1 AND key = $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(&inner.run)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(locked) = locked else {
        return Ok(Claim::Held);
    };
    let holder: Option<String> = locked.try_get("holder")?;
    let live: Option<bool> = locked.try_get("live")?;
    if holder.as_ref().is_some_and(|h| *h != inner.worker) && live == Some(true) {
        return Ok(Claim::Held);
    }
    if let Some(h) = holder.as_ref().filter(|h| **h != inner.worker) {
        tracing::info!(row, key, from = %h, "taking over a row whose worker's lease ran out");
    }
    sqlx::query(
        "UPDATE batchgen_rows SET holder = $3, lease_until = now() + $4 * interval '1 millisecond', row_number = $5 WHERE run = $1 AND key = $2",
    )
    .bind(&inner.run)
    .bind(key)
    .bind(&inner.worker)
    .bind(inner.lease_ms())
    .bind(row as i64)
    .execute(&mut *tx)
    .await?;
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT body::text FROM batchgen_events WHERE run = $1 AND key = $2 ORDER BY seq",
    )
    .bind(&inner.run)
    .bind(key)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut replay = empty_replay(header.clone());
    for text in events {
        match serde_json::from_str::<Event>(&text) {
            Ok(e) => replay.apply(e),
            Err(e) => {
                tracing::warn!(key, error = %e, "ignoring an event of the store that this batchgen cannot read")
            }
        }
    }
    Ok(Claim::Taken(replay.rows.remove(key).map(Box::new)))
}

/// Renews every lease this worker holds, every third of the lease.
async fn renew_loop(inner: Arc<Inner>) {
    let every = inner.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let renewed = sqlx::query(
            "UPDATE batchgen_rows SET lease_until = now() + $3 * interval '1 millisecond' WHERE run = $1 AND holder = $2",
        )
        .bind(&inner.run)
        .bind(&inner.worker)
        .bind(inner.lease_ms())
        .execute(&inner.pool)
        .await;
        if let Err(e) = renewed {
            tracing::warn!(error = %inner.query_error(e), "could not renew this worker's leases; trying again");
        }
    }
}

fn empty_replay(header: Header) -> Replay {
    Replay {
        header,
        rows: HashMap::new(),
        torn_tail: false,
        interruptions: 0,
        resumptions: 0,
        intact_len: 0,
    }
}

/// Run `run` as the store at `pool` knows it: its header and every row (events folded in the
/// order they were recorded, as a journal is replayed).
pub(crate) async fn read_replay(
    pool: &PgPool,
    url: &StoreUrl,
    run: &str,
) -> Result<Replay, StoreError> {
    let query_error = |e: sqlx::Error| StoreError::Query {
        url: url.to_string(),
        message: url.scrub(&e.to_string()),
    };
    let header: Option<String> =
        sqlx::query_scalar("SELECT header::text FROM batchgen_runs WHERE name = $1")
            .bind(run)
            .fetch_optional(pool)
            .await
            .map_err(query_error)?;
    let Some(header) = header else {
        return Err(StoreError::NoRun {
            url: url.to_string(),
            run: run.to_owned(),
        });
    };
    let corrupt = |reason: String| StoreError::Corrupt {
        url: url.to_string(),
        run: run.to_owned(),
        reason,
    };
    let header: Header = serde_json::from_str(&header)
        .map_err(|e| corrupt(format!("the run's header cannot be read: {e}")))?;
    let events: Vec<String> =
        sqlx::query_scalar("SELECT body::text FROM batchgen_events WHERE run = $1 ORDER BY seq")
            .bind(run)
            .fetch_all(pool)
            .await
            .map_err(query_error)?;
    let mut replay = empty_replay(header);
    for text in events {
        let event: Event = serde_json::from_str(&text)
            .map_err(|e| corrupt(format!("an event cannot be read: {e}")))?;
        replay.apply(event);
    }
    Ok(replay)
}

/// Reads run `run` from the store at `url` without changing anything (`batchgen status
/// --store`): [`StoreError::NoRun`] when the store has no such run (or no batchgen tables).
pub async fn read_run(url: &StoreUrl, run: &str) -> Result<Replay, StoreError> {
    let pool = connect(url, 1).await?;
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass('batchgen_runs')::text")
        .fetch_one(&pool)
        .await
        .map_err(|e| StoreError::Query {
            url: url.to_string(),
            message: url.scrub(&e.to_string()),
        })?;
    if exists.is_none() {
        return Err(StoreError::NoRun {
            url: url.to_string(),
            run: run.to_owned(),
        });
    }
    let replay = read_replay(&pool, url, run).await;
    pool.close().await;
    replay
}
