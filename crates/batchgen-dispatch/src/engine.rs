//! The engine: one task per row in flight, each walking the row through its states, all
//! sharing one request budget, one journal and one manifest, and all listening to one
//! cancellation token.
//!
//! ```text
//!            ┌──────────── lost answer: look it up ────────────────┐
//!            ▼                                                     │
//! pending ─▶ submitting ──create──▶ submitted ──poll…──▶ ready ──▶ (download) ──▶ ready + file
//!               │ 400                  │ render failed / timeout
//!               ▼                      ▼
//!             failed                 failed
//! ```
//!
//! Shape (after mini-redis): the main loop reads [`JobInput`]s from a bounded channel, takes a
//! permit of the `--max-in-flight` semaphore for each valid row and spawns its task. A
//! [`CancellationToken`] stops everything: the caller's (Ctrl-C) and the engine's own (the
//! first refused credential). Tasks stop at their next wait — a budget acquire, a backoff, a
//! poll interval — never in the middle of a request, so a create that was sent is always
//! journaled with its answer.
//!
//! With [`EngineConfig::callbacks`] (webhooks), a row that follows its render also waits on its
//! callback slot: whichever comes first — a webhook or a poll — ends it, exactly once (see
//! [`crate::callbacks`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use batchgen_aistudios::{ApiError, ApiErrorKind, Client};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::budget::{Budget, Priority};
use crate::callbacks::{Callbacks, Outcome};
use crate::claims::Claims;
use crate::download::Downloader;
use crate::error::EngineError;
use crate::job::{Found, Job, JobInput, JobKind, Lookup, Polled};
use crate::journal::{Event, FailReason, Journal, Replay, RowRecord, RowState, now_ms};
use crate::manifest::{self, Entry, Layout, Status};
use crate::poll::{PollConfig, PollSchedule};
use crate::progress::{Counters, ProgressHandle, Snapshot, dec, inc};
use crate::retry::{Action, Backoff, decide};

/// Engine settings. Everything here may change between a run and its `--resume`.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The output directory (manifest, videos; the journal is opened by the caller).
    pub out_dir: PathBuf,
    /// The input's column names, for the manifest.
    pub columns: Vec<String>,
    /// Renders in progress at once (`--max-in-flight`).
    pub max_in_flight: usize,
    /// Retries (`--max-attempts`).
    pub backoff: Backoff,
    /// Polling (`--poll-interval`, `--poll-cap`).
    pub poll: PollConfig,
    /// A render not finished this long after its submission fails (`--render-timeout`).
    pub render_timeout: Duration,
    /// Download videos, this many at once (`--download --download-concurrency N`).
    pub download: Option<usize>,
    /// Also re-attempt rows that failed for good in an earlier run (`--retry-failed`).
    pub retry_failed: bool,
    /// How often the manifest is refreshed while something changed.
    pub manifest_every: Duration,
    /// The manifest's fixed columns: [`Layout::Projects`] for `run`, [`Layout::Exports`] for
    /// `export`.
    pub layout: Layout,
    /// The CSV manifest's separator and BOM (the input's).
    pub manifest_csv: manifest::CsvStyle,
    /// Webhook callbacks, when a receiver feeds them: rows then end on a callback or a poll,
    /// whichever comes first. Set [`EngineConfig::poll`] to a slow safety net with it.
    pub callbacks: Option<Callbacks>,
}

impl EngineConfig {
    /// Defaults for `out_dir`: 20 in flight, 6 attempts, polls from 2 s to 30 s, 30 min render
    /// timeout, no downloads, manifest every 2 s.
    pub fn new(out_dir: impl Into<PathBuf>, columns: Vec<String>) -> EngineConfig {
        EngineConfig {
            out_dir: out_dir.into(),
            columns,
            max_in_flight: 20,
            backoff: Backoff::default(),
            poll: PollConfig::default(),
            render_timeout: Duration::from_secs(30 * 60),
            download: None,
            retry_failed: false,
            manifest_every: Duration::from_secs(2),
            layout: Layout::Projects,
            manifest_csv: manifest::CsvStyle::default(),
            callbacks: None,
        }
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every row was taken to its end (ready, failed or invalid).
    Finished,
    /// The caller's token was cancelled (Ctrl-C); the journal says where to resume.
    Interrupted,
    /// No API call of the run ever reached the server (connection refused, unknown host) and a
    /// row ran out of attempts: the run stopped rather than fail every row the same way. The
    /// rows not done stay pending for `--resume`. The message reads after "failed to".
    Unreachable {
        /// The last connection error.
        message: String,
    },
    /// The API refused the credentials; the run stopped at once. The message reads after
    /// "failed to".
    AuthRefused {
        /// The refused call's error.
        message: String,
    },
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Report {
    /// How it ended.
    pub end: End,
    /// The final counters.
    pub progress: Snapshot,
    /// Rows by manifest status: ready, failed, invalid, pending.
    pub statuses: StatusCounts,
    /// The failed rows: (row, key, error), in row order.
    pub failures: Vec<(u64, String, String)>,
    /// The most requests sent within one window of the rate, by the client's own clock
    /// ([`Budget::peak_per_window`]).
    pub peak_per_window: u64,
}

/// Rows by manifest status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatusCounts {
    /// Ready.
    pub ready: u64,
    /// Failed.
    pub failed: u64,
    /// Invalid.
    pub invalid: u64,
    /// Not finished.
    pub pending: u64,
}

/// The engine, ready to run once.
pub struct Engine {
    config: EngineConfig,
    client: Client,
    budget: Arc<Budget>,
    journal: Arc<Journal>,
    prior: HashMap<String, RowRecord>,
    progress: ProgressHandle,
}

/// Shared by every row task.
struct Ctx {
    config: EngineConfig,
    client: Client,
    budget: Arc<Budget>,
    journal: Arc<Journal>,
    counters: Arc<Counters>,
    ledger: Mutex<Ledger>,
    /// Cancelled by the caller's token or by a refused credential.
    stop: CancellationToken,
    auth_refused: OnceLock<String>,
    /// Set when some API call got an answer (any answer) from the server.
    reached: std::sync::atomic::AtomicBool,
    /// Set when the run stops because the API was never reached.
    unreachable: OnceLock<String>,
    journal_failed: OnceLock<String>,
    downloads: Option<(Downloader, Semaphore)>,
    tokens_seen: AtomicU64,
    /// Remote objects the rows hold, and pending creates (for export lookups).
    claims: Claims,
}

#[derive(Default)]
struct Ledger {
    entries: Vec<Entry>,
    dirty: bool,
}

/// Where a row's task starts.
#[derive(Debug)]
enum Start {
    /// `exclude`: earlier remote objects of the row that a lookup must not adopt;
    /// `since_ms`: when the row's last create was sent, if one was.
    Submit {
        lookup: bool,
        exclude: Vec<String>,
        since_ms: Option<u64>,
    },
    Poll {
        id: String,
        since_ms: Option<u64>,
    },
    Download {
        url: String,
    },
}

/// How a phase ended early.
enum Halt {
    /// The row failed (already recorded).
    Failed,
    /// The run is stopping; the row stays where the journal has it.
    Stopped,
}

impl Engine {
    /// An engine over `client`, `budget` and an open `journal`; `replay` is the journal's past
    /// when resuming.
    pub fn new(
        config: EngineConfig,
        client: Client,
        budget: Arc<Budget>,
        journal: Arc<Journal>,
        replay: Option<Replay>,
    ) -> Engine {
        Engine {
            config,
            client,
            budget,
            journal,
            prior: replay.map(|r| r.rows).unwrap_or_default(),
            progress: ProgressHandle::new(),
        }
    }

    /// A handle on the run's counters, for a display.
    pub fn progress(&self) -> ProgressHandle {
        self.progress.clone()
    }

    /// Runs every job from `inputs` to its end, or until `shutdown` is cancelled or the API
    /// refuses the credentials. Writes the manifest along the way and at the end; records
    /// `interrupted` in the journal when stopped by `shutdown`.
    pub async fn run(
        self,
        mut inputs: mpsc::Receiver<JobInput>,
        shutdown: CancellationToken,
    ) -> Result<Report, EngineError> {
        let Engine {
            config,
            client,
            budget,
            journal,
            mut prior,
            progress,
        } = self;
        let downloads = match config.download {
            Some(n) => Some((
                Downloader::new(&config.out_dir, config.backoff)?,
                Semaphore::new(n.max(1)),
            )),
            None => None,
        };
        let claims = Claims::default();
        for r in prior.values() {
            r.project_id
                .iter()
                .chain(&r.abandoned)
                .for_each(|id| claims.hold(id));
        }
        let ctx = Arc::new(Ctx {
            claims,
            client,
            budget,
            journal,
            counters: Arc::clone(&progress.0),
            ledger: Mutex::new(Ledger::default()),
            stop: shutdown.child_token(),
            auth_refused: OnceLock::new(),
            reached: std::sync::atomic::AtomicBool::new(false),
            unreachable: OnceLock::new(),
            journal_failed: OnceLock::new(),
            downloads,
            tokens_seen: AtomicU64::new(0),
            config,
        });
        let in_flight = Arc::new(Semaphore::new(ctx.config.max_in_flight.max(1)));
        let refresher_done = CancellationToken::new();
        let refresher = tokio::spawn(refresh_manifest(Arc::clone(&ctx), refresher_done.clone()));
        let mut tasks = JoinSet::new();

        'read: loop {
            let input = tokio::select! {
                biased;
                () = ctx.stop.cancelled() => break 'read,
                input = inputs.recv() => match input {
                    Some(i) => i,
                    None => break 'read,
                },
            };
            while tasks.try_join_next().is_some() {}
            inc(&ctx.counters.rows);
            let (job, start, entry) = match admit(&ctx, input, &mut prior) {
                Some(x) => x,
                None => continue,
            };
            let idx = ctx.push(entry);
            let permit = match &start {
                // Downloads only need a download slot, not a render slot.
                Start::Download { .. } => None,
                _ => tokio::select! {
                    biased;
                    () = ctx.stop.cancelled() => break 'read,
                    p = Arc::clone(&in_flight).acquire_owned() => Some(p.expect("the semaphore is never closed")),
                },
            };
            tasks.spawn(drive(Arc::clone(&ctx), idx, job, start, permit));
        }
        // Rows not started are still listed: pending, or what an earlier run made of them.
        // (The renderer is fast; reading the rest keeps the manifest complete.)
        while let Some(input) = inputs.recv().await {
            inc(&ctx.counters.rows);
            if let Some((_, _, entry)) = admit(&ctx, input, &mut prior) {
                ctx.push(entry);
            }
        }
        while tasks.join_next().await.is_some() {}
        // Let a refresh in progress finish before the final write (they share a temp file).
        refresher_done.cancel();
        let _ = refresher.await;

        let interrupted = shutdown.is_cancelled()
            && ctx.auth_refused.get().is_none()
            && ctx.unreachable.get().is_none();
        if interrupted {
            ctx.journal
                .record_later(Event::Interrupted { at: now_ms() });
        }
        let closed = ctx.journal.close();
        let (entries, _) = ctx.snapshot_entries();
        manifest::write_with(
            &ctx.config.out_dir,
            ctx.config.layout,
            ctx.config.manifest_csv,
            &ctx.config.columns,
            &entries,
        )
        .map_err(|source| EngineError::Manifest {
            dir: ctx.config.out_dir.clone(),
            source,
        })?;
        if let Some(e) = ctx.journal_failed.get() {
            return Err(EngineError::Journal(
                crate::journal::JournalError::WriterStopped(e.clone()),
            ));
        }
        closed?;
        let mut statuses = StatusCounts::default();
        let mut failures = Vec::new();
        for e in &entries {
            match e.status {
                Status::Ready => statuses.ready += 1,
                Status::Failed => {
                    statuses.failed += 1;
                    failures.push((e.row, e.key.clone(), e.error.clone().unwrap_or_default()));
                }
                Status::Invalid => statuses.invalid += 1,
                Status::Pending => statuses.pending += 1,
            }
        }
        let end = if let Some(message) = ctx.auth_refused.get() {
            End::AuthRefused {
                message: message.clone(),
            }
        } else if let Some(message) = ctx.unreachable.get() {
            End::Unreachable {
                message: message.clone(),
            }
        } else if interrupted {
            End::Interrupted
        } else {
            End::Finished
        };
        Ok(Report {
            end,
            peak_per_window: ctx.budget.peak_per_window(),
            progress: progress.snapshot(),
            statuses,
            failures,
        })
    }
}

/// Decides what to do with one input, given the journal's past: the job and where its task
/// starts, plus its manifest entry; `None` when nothing is to be done (the entry is recorded).
fn admit(
    ctx: &Ctx,
    input: JobInput,
    prior: &mut HashMap<String, RowRecord>,
) -> Option<(Job, Start, Entry)> {
    let job = match input {
        JobInput::Invalid {
            row,
            key,
            error,
            inputs,
        } => {
            let known = prior.remove(&key).is_some_and(|r| {
                r.state == RowState::Invalid && r.error.as_deref() == Some(&error)
            });
            if !known {
                ctx.journal.record_later(Event::Invalid {
                    row,
                    key: key.clone(),
                    error: error.clone(),
                    at: now_ms(),
                });
            }
            inc(&ctx.counters.invalid);
            ctx.push(Entry {
                row,
                key,
                status: Status::Invalid,
                project_id: None,
                export_id: None,
                download_url: None,
                file: None,
                attempts: 0,
                error: Some(error),
                inputs: inputs.into(),
            });
            return None;
        }
        JobInput::Valid(job) => job,
    };
    let mut entry = Entry {
        row: job.row,
        key: job.key.clone(),
        status: Status::Pending,
        project_id: job.kind.known_project().map(str::to_owned),
        export_id: None,
        download_url: None,
        file: None,
        attempts: 0,
        error: None,
        inputs: job.inputs.clone(),
    };
    let Some(r) = prior.remove(&job.key) else {
        return Some((
            job,
            Start::Submit {
                lookup: false,
                exclude: Vec::new(),
                since_ms: None,
            },
            entry,
        ));
    };
    entry.attempts = r.attempts;
    set_remote(&mut entry, &job.kind, r.project_id.clone());
    entry.download_url.clone_from(&r.download_url);
    entry.file.clone_from(&r.file);
    let downloading = ctx.downloads.is_some();
    let start = match r.state {
        RowState::Submitting => Start::Submit {
            lookup: true,
            exclude: r.abandoned.clone(),
            since_ms: r.submitting_at,
        },
        RowState::Invalid => Start::Submit {
            lookup: r.attempts > 0,
            exclude: r.abandoned.clone(),
            since_ms: r.submitting_at,
        },
        RowState::Submitted => Start::Poll {
            id: r.project_id.clone().unwrap_or_default(),
            since_ms: r.submitted_at,
        },
        RowState::Ready => match (&r.download_url, &r.file) {
            (Some(url), None) if downloading => Start::Download { url: url.clone() },
            _ => {
                inc(&ctx.counters.skipped);
                inc(&ctx.counters.ready);
                entry.status = Status::Ready;
                ctx.push(entry);
                ctx.finish_callbacks(job.row);
                return None;
            }
        },
        RowState::Failed => {
            let reason = r.reason.unwrap_or(FailReason::RetriesExhausted);
            if reason.is_transient() {
                match (&r.download_url, &r.project_id) {
                    (Some(url), _) if downloading => Start::Download { url: url.clone() },
                    (Some(_), _) => {
                        // Only the download had failed, and no download is asked for now.
                        inc(&ctx.counters.skipped);
                        inc(&ctx.counters.ready);
                        entry.status = Status::Ready;
                        ctx.push(entry);
                        return None;
                    }
                    (None, Some(id)) => Start::Poll {
                        id: id.clone(),
                        since_ms: None,
                    },
                    (None, None) => Start::Submit {
                        lookup: r.attempts > 0,
                        exclude: r.abandoned.clone(),
                        since_ms: r.submitting_at,
                    },
                }
            } else if ctx.config.retry_failed {
                let mut exclude = r.abandoned.clone();
                exclude.extend(r.project_id.clone());
                set_remote(&mut entry, &job.kind, None);
                entry.download_url = None;
                Start::Submit {
                    lookup: false,
                    exclude,
                    since_ms: None,
                }
            } else {
                inc(&ctx.counters.skipped);
                inc(&ctx.counters.failed);
                entry.status = Status::Failed;
                entry.error = r.error;
                ctx.push(entry);
                ctx.finish_callbacks(job.row);
                return None;
            }
        }
    };
    Some((job, start, entry))
}

/// Puts a remote id where the manifest shows it: `project_id` for projects, `export_id` for
/// exports (whose `project_id` is the project exported).
fn set_remote(entry: &mut Entry, kind: &JobKind, id: Option<String>) {
    match kind {
        JobKind::CreateProject { .. } => entry.project_id = id,
        JobKind::Export { .. } => entry.export_id = id,
    }
}

impl Ctx {
    fn push(&self, entry: Entry) -> usize {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        l.entries.push(entry);
        l.dirty = true;
        l.entries.len() - 1
    }

    fn update(&self, idx: usize, f: impl FnOnce(&mut Entry)) {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut l.entries[idx]);
        l.dirty = true;
    }

    /// The entries in row order, and whether they changed since the last snapshot.
    fn snapshot_entries(&self) -> (Vec<Entry>, bool) {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let dirty = std::mem::take(&mut l.dirty);
        let mut entries = l.entries.clone();
        drop(l);
        entries.sort_by_key(|e| e.row);
        (entries, dirty)
    }

    /// Journals `event` and waits for it to be durable. A journal failure stops the run.
    async fn record(&self, event: Event) -> Result<(), Halt> {
        match self.journal.record(event).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.journal_failed.set(e.to_string());
                self.stop.cancel();
                Err(Halt::Stopped)
            }
        }
    }

    /// A row ended (or was found ended): later webhooks for it are acknowledged and ignored.
    fn finish_callbacks(&self, row: u64) {
        if let Some(c) = &self.config.callbacks {
            c.finish(row);
        }
    }

    /// Counts one request about to be sent.
    fn sent(&self) {
        inc(&self.counters.requests);
    }

    /// Charges the budget for token fetches the client made on its own.
    fn settle_tokens(&self) {
        let now = self.client.token_requests();
        let before = self.tokens_seen.swap(now, Ordering::Relaxed);
        if now > before {
            self.budget.charge(now - before);
            self.counters
                .requests
                .fetch_add(now - before, Ordering::Relaxed);
        }
    }

    async fn acquire(&self, priority: Priority) -> Result<(), Halt> {
        self.budget
            .acquire(priority, &self.stop)
            .await
            .map_err(|_| Halt::Stopped)
    }

    /// Sleeps `d`, or returns `Stopped` as soon as the run stops.
    async fn sleep(&self, d: Duration) -> Result<(), Halt> {
        tokio::select! {
            () = tokio::time::sleep(d) => Ok(()),
            () = self.stop.cancelled() => Err(Halt::Stopped),
        }
    }

    /// Acts on a failed call: `Ok(wait)` to try again after `wait`, or how the row ends.
    fn on_error(
        &self,
        idx: usize,
        job: &Job,
        error: &ApiError,
        failures: u32,
        what: &str,
    ) -> Result<(Duration, bool), Halt> {
        let no_connection = matches!(error.kind(), ApiErrorKind::Connect { .. });
        if !no_connection {
            self.reached_server();
        }
        match decide(error, failures, &self.config.backoff) {
            Action::Retry {
                after,
                maybe_applied,
                retry_after,
            } => {
                inc(&self.counters.retries);
                let rate_limited = error.status() == Some(429)
                    || error.vendor_code().is_some_and(|c| {
                        batchgen_aistudios::classify_code(c)
                            == batchgen_aistudios::CodeClass::RateLimit
                    });
                if rate_limited {
                    inc(&self.counters.rate_limited);
                }
                // A 429 speaks for the whole key: everyone waits. Another answer's
                // Retry-After (a 503) only delays this request (the backoff honours it).
                if let (true, Some(ra)) = (rate_limited, retry_after) {
                    self.budget.pause_until(Instant::now() + ra);
                }
                tracing::debug!(row = job.row, key = %job.key, %error, failures, ?after, "retrying");
                Ok((after, maybe_applied))
            }
            Action::GiveUp if no_connection && !self.reached.load(Ordering::Relaxed) => {
                // Nothing of this run ever reached the API: failing every row the same way,
                // one after another, would only burn time. Stop; the rows stay pending.
                if self.unreachable.set(error.to_string()).is_ok() {
                    tracing::error!(%error, "the API cannot be reached; stopping the run");
                }
                self.stop.cancel();
                Err(Halt::Stopped)
            }
            Action::GiveUp => {
                self.fail(
                    idx,
                    job,
                    FailReason::RetriesExhausted,
                    format!("{error} (gave up after {failures} attempts to {what}; --resume tries again)"),
                );
                Err(Halt::Failed)
            }
            Action::FailRow => {
                self.fail(idx, job, FailReason::Rejected, error.to_string());
                Err(Halt::Failed)
            }
            Action::StopRun => {
                if self.auth_refused.set(error.to_string()).is_ok() {
                    tracing::error!(%error, "the API refused the credentials; stopping the run");
                }
                self.stop.cancel();
                Err(Halt::Stopped)
            }
        }
    }

    /// Notes that an API call got an answer from the server.
    fn reached_server(&self) {
        self.reached.store(true, Ordering::Relaxed);
    }

    fn fail(&self, idx: usize, job: &Job, reason: FailReason, error: String) {
        tracing::warn!(row = job.row, key = %job.key, %error, "row failed");
        self.journal.record_later(Event::Failed {
            row: job.row,
            key: job.key.clone(),
            reason,
            error: error.clone(),
            at: now_ms(),
        });
        inc(&self.counters.failed);
        self.update(idx, |e| {
            e.status = Status::Failed;
            e.error = Some(error);
        });
    }
}

/// Runs one row from `start` to its end.
async fn drive(
    ctx: Arc<Ctx>,
    idx: usize,
    mut job: Job,
    start: Start,
    permit: Option<OwnedSemaphorePermit>,
) {
    let followed = match start {
        Start::Submit {
            lookup,
            exclude,
            since_ms,
        } => {
            inc(&ctx.counters.submitting);
            let submitted = submit(&ctx, idx, &job, lookup, &exclude, since_ms).await;
            dec(&ctx.counters.submitting);
            match submitted {
                Ok(id) => {
                    job.kind.release_payload();
                    follow(&ctx, idx, &job, &id, None).await
                }
                Err(halt) => Err(halt),
            }
        }
        Start::Poll { id, since_ms } => {
            job.kind.release_payload();
            follow(&ctx, idx, &job, &id, since_ms).await
        }
        Start::Download { url } => Ok(url),
    };
    let url = match followed {
        Ok(url) => {
            ctx.finish_callbacks(job.row);
            url
        }
        Err(Halt::Failed) => {
            ctx.finish_callbacks(job.row);
            return;
        }
        Err(Halt::Stopped) => return,
    };
    // The render is over: free its slot before downloading.
    drop(permit);
    match &ctx.downloads {
        None => {
            inc(&ctx.counters.ready);
            ctx.update(idx, |e| e.status = Status::Ready);
        }
        Some((downloader, slots)) => {
            let slot = tokio::select! {
                s = slots.acquire() => s.ok(),
                () = ctx.stop.cancelled() => None,
            };
            let Some(_slot) = slot else { return };
            inc(&ctx.counters.downloading);
            let saved = downloader.save(&url, &job.file_stem).await;
            dec(&ctx.counters.downloading);
            match saved {
                Ok(saved) => {
                    if !saved.existed {
                        inc(&ctx.counters.downloaded);
                    }
                    ctx.journal.record_later(Event::Downloaded {
                        row: job.row,
                        key: job.key.clone(),
                        file: saved.file.clone(),
                        bytes: saved.bytes,
                        at: now_ms(),
                    });
                    inc(&ctx.counters.ready);
                    ctx.update(idx, |e| {
                        e.status = Status::Ready;
                        e.file = Some(saved.file);
                    });
                }
                Err(e) => ctx.fail(
                    idx,
                    &job,
                    FailReason::Download,
                    format!("{e} (--resume downloads it again)"),
                ),
            }
        }
    }
}

/// The submit phase: (look up,) journal `submitting`, create, journal `submitted`.
async fn submit(
    ctx: &Ctx,
    idx: usize,
    job: &Job,
    mut lookup: bool,
    exclude: &[String],
    mut since_ms: Option<u64>,
) -> Result<String, Halt> {
    let mut failures = 0u32;
    let target = job.kind.target();
    // For exports: while this row may have a create in flight, other rows' lookups for the
    // same project adopt nothing (see `claims`).
    let mut pending = None;
    loop {
        if std::mem::take(&mut lookup) {
            if let Some(t) = &target {
                pending.get_or_insert_with(|| ctx.claims.pending(t, job.row));
            }
            ctx.acquire(Priority::Submit).await?;
            ctx.sent();
            inc(&ctx.counters.lookups);
            let found = job
                .kind
                .find(
                    &ctx.client,
                    &Lookup {
                        row: job.row,
                        name: &job.name,
                        exclude,
                        since_ms,
                        claims: &ctx.claims,
                    },
                )
                .await;
            ctx.settle_tokens();
            if found.is_ok() {
                ctx.reached_server();
            }
            match found {
                Ok(Found::One(id)) => {
                    ctx.claims.hold(&id);
                    ctx.record(Event::Submitted {
                        row: job.row,
                        key: job.key.clone(),
                        id: id.clone(),
                        recovered: true,
                        at: now_ms(),
                    })
                    .await?;
                    inc(&ctx.counters.recovered);
                    tracing::info!(row = job.row, key = %job.key, id, "found what a create whose answer was lost made; adopting it");
                    ctx.update(idx, |e| set_remote(e, &job.kind, Some(id.clone())));
                    return Ok(id);
                }
                Ok(Found::Nothing) => {}
                Ok(Found::Ambiguous {
                    candidates,
                    others_pending,
                }) => {
                    tracing::warn!(
                        row = job.row,
                        key = %job.key,
                        candidates,
                        others_pending,
                        "cannot tell which export of the project a lost answer made ({candidates} unclaimed since it was sent, {others_pending} other row(s) of this run exporting it now); sending it again, which may leave a duplicate export"
                    );
                }
                Err(e) => {
                    failures += 1;
                    let (wait, _) = ctx.on_error(idx, job, &e, failures, "look it up")?;
                    lookup = true;
                    ctx.sleep(wait).await?;
                    continue;
                }
            }
        }
        ctx.acquire(Priority::Submit).await?;
        if let Some(t) = &target {
            pending.get_or_insert_with(|| ctx.claims.pending(t, job.row));
        }
        let at = now_ms();
        ctx.record(Event::Submitting {
            row: job.row,
            key: job.key.clone(),
            at,
        })
        .await?;
        since_ms = Some(at);
        ctx.update(idx, |e| e.attempts += 1);
        ctx.sent();
        inc(&ctx.counters.creates);
        let created = job.kind.submit(&ctx.client).await;
        ctx.settle_tokens();
        match created {
            Ok(id) => {
                ctx.reached_server();
                ctx.claims.hold(&id);
                // Appended now, synced with the next batch: nothing waits for it. Lost in a
                // crash, the row's last event is `submitting` and a resume looks it up.
                ctx.journal.record_later(Event::Submitted {
                    row: job.row,
                    key: job.key.clone(),
                    id: id.clone(),
                    recovered: false,
                    at: now_ms(),
                });
                ctx.update(idx, |e| set_remote(e, &job.kind, Some(id.clone())));
                return Ok(id);
            }
            Err(e) => {
                failures += 1;
                let (wait, maybe_applied) =
                    ctx.on_error(idx, job, &e, failures, job.kind.create_what())?;
                lookup = maybe_applied;
                ctx.sleep(wait).await?;
            }
        }
    }
}

/// The poll phase: follows the render until it is done (its URL), failed or timed out.
async fn follow(
    ctx: &Ctx,
    idx: usize,
    job: &Job,
    id: &str,
    since_ms: Option<u64>,
) -> Result<String, Halt> {
    inc(&ctx.counters.rendering);
    let r = follow_inner(ctx, idx, job, id, since_ms).await;
    dec(&ctx.counters.rendering);
    r
}

async fn follow_inner(
    ctx: &Ctx,
    idx: usize,
    job: &Job,
    id: &str,
    since_ms: Option<u64>,
) -> Result<String, Halt> {
    let now = Instant::now();
    let already = since_ms.map_or(Duration::ZERO, |at| {
        Duration::from_millis(now_ms().saturating_sub(at))
    });
    let started = now.checked_sub(already).unwrap_or(now);
    let mut schedule = PollSchedule::new(ctx.config.poll);
    let mut wait = schedule.first().saturating_sub(already);
    let mut failures = 0u32;
    let callbacks = ctx.config.callbacks.as_ref();
    let watch = callbacks.map(|c| c.watch(job.row));
    loop {
        // The next poll, unless a webhook ends the render first (or already did).
        match &watch {
            None => ctx.sleep(wait).await?,
            Some(notify) => {
                let due = Instant::now() + wait;
                loop {
                    if let Some(outcome) = callbacks.and_then(|c| c.take(job.row)) {
                        return called_back(ctx, idx, job, id, outcome);
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(due) => break,
                        () = notify.notified() => {}
                        () = ctx.stop.cancelled() => return Err(Halt::Stopped),
                    }
                }
            }
        }
        let elapsed = started.elapsed();
        if elapsed > ctx.config.render_timeout {
            ctx.fail(
                idx,
                job,
                FailReason::RenderTimeout,
                format!(
                    "wait for the render of {id}: not finished after {}s (--render-timeout); --resume follows it again",
                    ctx.config.render_timeout.as_secs()
                ),
            );
            return Err(Halt::Failed);
        }
        ctx.acquire(Priority::Poll).await?;
        // A webhook may have come while this poll waited for the budget: the request is not
        // needed any more (its slot goes unused).
        if let Some(outcome) = callbacks.and_then(|c| c.take(job.row)) {
            return called_back(ctx, idx, job, id, outcome);
        }
        ctx.sent();
        inc(&ctx.counters.polls);
        let answer = job.kind.poll(&ctx.client, id).await;
        ctx.settle_tokens();
        if answer.is_ok() {
            ctx.reached_server();
        }
        match answer {
            Ok(Polled::Rendering { percent }) => {
                failures = 0;
                wait = schedule.next(percent, started.elapsed());
            }
            Ok(Polled::Done { download_url }) => {
                return Ok(ready(ctx, idx, job, download_url));
            }
            Ok(Polled::Failed { message }) => {
                ctx.fail(idx, job, FailReason::RenderFailed, message);
                return Err(Halt::Failed);
            }
            Err(e) => {
                failures += 1;
                let (after, _) = ctx.on_error(idx, job, &e, failures, "check the render")?;
                wait = after;
            }
        }
    }
}

/// The render is done: journal it (without waiting) and note the URL.
fn ready(ctx: &Ctx, idx: usize, job: &Job, download_url: String) -> String {
    ctx.journal.record_later(Event::Ready {
        row: job.row,
        key: job.key.clone(),
        download_url: download_url.clone(),
        at: now_ms(),
    });
    ctx.update(idx, |e| e.download_url = Some(download_url.clone()));
    download_url
}

/// A webhook ended the render of `id`.
fn called_back(
    ctx: &Ctx,
    idx: usize,
    job: &Job,
    id: &str,
    outcome: Outcome,
) -> Result<String, Halt> {
    inc(&ctx.counters.webhooks);
    match outcome {
        Outcome::Ready { download_url } => Ok(ready(ctx, idx, job, download_url)),
        Outcome::Failed { progress } => {
            ctx.fail(
                idx,
                job,
                FailReason::RenderFailed,
                format!("render project {id}: the render stopped at {progress:.0}% (reported by the webhook)"),
            );
            Err(Halt::Failed)
        }
    }
}

/// Rewrites the manifest every `manifest_every` while something changed.
async fn refresh_manifest(ctx: Arc<Ctx>, done: CancellationToken) {
    let mut tick = tokio::time::interval(ctx.config.manifest_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = done.cancelled() => return,
        }
        let (entries, dirty) = ctx.snapshot_entries();
        if !dirty {
            continue;
        }
        let dir = ctx.config.out_dir.clone();
        let columns = ctx.config.columns.clone();
        let (layout, style) = (ctx.config.layout, ctx.config.manifest_csv);
        let written = tokio::task::spawn_blocking(move || {
            manifest::write_with(&dir, layout, style, &columns, &entries)
        })
        .await;
        if let Ok(Err(e)) = written {
            tracing::warn!(error = %e, "could not refresh the manifest; will try again");
        }
    }
}
