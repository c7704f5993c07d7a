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
//! [`crate::webhook::callbacks`]).

//!
//! One idea a module: this one runs the loop (read inputs, admit each row, spawn its task,
//! wait, write the final manifest); `plan` decides where a row starts from what the journal
//! knows of it (a pure function); `row` drives one row (submit, follow, download); `lookup`
//! looks for what a create whose answer was lost made; `render_time` keeps what polls and
//! webhooks tell of how long renders take (the lookups' window) and picks the probe renders;
//! the ledger keeps the manifest entries and refreshes the manifest; `context` is what every
//! row task shares.

mod context;
mod ledger;
mod lookup;
mod plan;
mod project_list;
mod render_time;
mod row;

use context::{Ctx, Halt};
use ledger::{Ledger, refresh_manifest};
use plan::{Start, admit, refuse};
use render_time::RenderTimes;
use row::drive;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use batchgen_aistudios::Client;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::budget::Budget;
use crate::budget::Priority;
use crate::claims::Claims;
use crate::counters::{ProgressHandle, Snapshot, inc};
use crate::download::Downloader;
use crate::error::EngineError;
use crate::job::{JobInput, JobKind};
use crate::journal::{Event, FailReason, Replay, RowRecord, RowState, now_ms};
use crate::lookup::LookupSchedule;
use crate::manifest::{self, Entry, Layout, Status};
use crate::poll::PollConfig;
use crate::retry::Backoff;
use crate::store::{Claim, Store};
use crate::webhook::WebhookUrls;
use crate::webhook::callbacks::Callbacks;

/// Engine settings. Everything here may change between a run and its `--resume`.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The output directory (manifest, videos; the journal is opened by the caller).
    pub out_dir: PathBuf,
    /// The input's column names, for the manifest.
    pub columns: Vec<String>,
    /// Renders in progress at once at most (`--max-in-flight`); lowered while the vendor
    /// refuses creates for concurrency (see [`crate::concurrency`]).
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
    /// Make again the rows whose project changed although they have a video or are rendering
    /// (`--rerender-changed`); otherwise they keep it and the manifest says they changed.
    pub rerender_changed: bool,
    /// Send rows that an earlier run left `unknown` again (`--resubmit-unknown`): the project
    /// their lost create may have made is given up on, and may be paid for twice.
    pub resubmit_unknown: bool,
    /// Lookups after a lost create answer (`--lookup-window`): see [`crate::lookup`].
    pub lookup: LookupSchedule,
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
    /// With webhooks: where each project's `webhookUrl` points (set on the body when the job
    /// is made).
    pub webhook_urls: Option<WebhookUrls>,
    /// What every project sent carries (`--resolution`, `--workspace`, `--draft`).
    pub projects: crate::job::ProjectFlags,
    /// A check of every project before its first create, loaded once just before the run's
    /// first create (see [`crate::gate`]).
    pub create_gate: Option<crate::gate::Gate>,
    /// The API holds none of the remote objects an earlier run of the journal made, and
    /// nothing sent to it is paid for (a `--sandbox` run: its emulator is new in every
    /// process). Resumed rows that would go back to one — follow it, download its video, look
    /// up a lost create — are then made afresh. Never set it for a real account: that would
    /// pay again for every render in progress.
    pub fresh_api: bool,
}

impl EngineConfig {
    /// Defaults for `out_dir`: 20 in flight, 6 attempts, polls from 2 s to 30 s, 30 min render
    /// timeout, no downloads, manifest every 2 s.
    pub fn new(out_dir: impl Into<PathBuf>, columns: Vec<String>) -> EngineConfig {
        EngineConfig {
            out_dir: out_dir.into(),
            columns,
            max_in_flight: 500,
            backoff: Backoff::default(),
            poll: PollConfig::default(),
            render_timeout: Duration::from_secs(30 * 60),
            download: None,
            retry_failed: false,
            rerender_changed: false,
            resubmit_unknown: false,
            lookup: LookupSchedule::default(),
            manifest_every: Duration::from_secs(2),
            layout: Layout::Projects,
            manifest_csv: manifest::CsvStyle::default(),
            callbacks: None,
            webhook_urls: None,
            projects: crate::job::ProjectFlags::default(),
            create_gate: None,
            fresh_api: false,
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
    /// The shared budget (`--shared-budget`, Redis) stopped answering: the run stopped sending
    /// (it never falls back to a budget of its own). Rows not done stay pending, renders in
    /// progress stay `submitted`; the same command continues them. The message reads after
    /// "failed to" and names the URL without its password.
    BudgetLost {
        /// The shared budget's error.
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
    /// The rows left `unknown`: (row, key, error), in row order.
    pub unknowns: Vec<(u64, String, String)>,
    /// Why lookups after a lost answer could not be made in this run (the API has no project
    /// list), said once; `None` when they could.
    pub lookups_unavailable: Option<String>,
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
    /// Gone from the CSV since an earlier run of the directory (kept, untouched).
    pub removed: u64,
    /// Kept what an earlier run made from inputs that have changed since.
    pub changed: u64,
    /// Created as drafts, not rendered.
    pub draft: u64,
    /// A create may have made a project that no lookup could find or rule out.
    pub unknown: u64,
    /// Credits the vendor said the rows' renders cost (rows it did not say for count 0).
    pub credits: u64,
}

/// The engine, ready to run once.
pub struct Engine {
    config: EngineConfig,
    client: Client,
    budget: Arc<Budget>,
    journal: Arc<dyn Store>,
    prior: HashMap<String, RowRecord>,
    progress: ProgressHandle,
}

impl Engine {
    /// An engine over `client`, `budget` and an open `journal` (the file journal, or a shared
    /// store: see [`crate::store`]); `replay` is the journal's past when continuing a run.
    pub fn new(
        config: EngineConfig,
        client: Client,
        budget: Arc<Budget>,
        journal: Arc<dyn Store>,
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
            in_flight: crate::concurrency::InFlight::new(config.max_in_flight),
            journal,
            counters: Arc::clone(&progress.0),
            ledger: Mutex::new(Ledger::default()),
            stop: shutdown.child_token(),
            auth_refused: OnceLock::new(),
            reached: std::sync::atomic::AtomicBool::new(false),
            unreachable: OnceLock::new(),
            journal_failed: OnceLock::new(),
            budget_lost: OnceLock::new(),
            downloads,
            tokens_seen: AtomicU64::new(0),
            list_missing: OnceLock::new(),
            render_times: RenderTimes::default(),
            projects: project_list::SharedList::default(),
            config,
        });
        let refresher_done = CancellationToken::new();
        let refresher = tokio::spawn(refresh_manifest(Arc::clone(&ctx), refresher_done.clone()));
        let mut tasks = JoinSet::new();
        // Rows another worker holds (a shared store): tried again until each is taken.
        let mut held: Vec<JobInput> = Vec::new();
        // Rows read but not started because the run is stopping: listed in the manifest.
        let mut unstarted: Vec<JobInput> = Vec::new();
        let mut gate_loaded = false;

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
            match launch(&ctx, input, &mut prior, &mut tasks, &mut gate_loaded).await {
                Launched::Done => {}
                Launched::Held(input) => held.push(input),
                Launched::Stopped(input) => {
                    unstarted.extend(input);
                    break 'read;
                }
            }
        }
        // A shared store: every row of the input is finished or held by another worker's live
        // lease. Wait for those, and take over the ones whose lease runs out.
        if let Some(shared) = ctx.journal.shared() {
            while !held.is_empty() && ctx.sleep(shared.retry_every()).await.is_ok() {
                let mut waiting = std::mem::take(&mut held).into_iter();
                for input in waiting.by_ref() {
                    match launch(&ctx, input, &mut prior, &mut tasks, &mut gate_loaded).await {
                        Launched::Done => {}
                        Launched::Held(input) => held.push(input),
                        Launched::Stopped(input) => {
                            unstarted.extend(input);
                            break;
                        }
                    }
                }
                held.extend(waiting);
                while tasks.try_join_next().is_some() {}
            }
        }
        // Rows not started are still listed: pending, or what an earlier run made of them.
        // (The renderer is fast; reading the rest keeps the manifest complete.)
        for input in unstarted.into_iter().chain(held) {
            if let Some((_, _, entry)) = admit(&ctx, input, &mut prior) {
                ctx.push(entry);
            }
        }
        while let Some(input) = inputs.recv().await {
            inc(&ctx.counters.rows);
            if let Some((_, _, entry)) = admit(&ctx, input, &mut prior) {
                ctx.push(entry);
            }
        }
        // Rows of earlier runs that the CSV no longer has: listed as they were, untouched.
        {
            let mut gone: Vec<RowRecord> = prior.into_values().collect();
            gone.sort_by_key(|r| r.row);
            for r in gone {
                let mut entry = Entry {
                    row: r.row,
                    key: r.key,
                    status: Status::Removed,
                    project_id: None,
                    export_id: None,
                    download_url: r.download_url,
                    file: r.file,
                    attempts: r.attempts,
                    credits: r.credits,
                    error: r.error,
                    inputs: Vec::new().into(),
                    changed: false,
                    failure_class: match r.state {
                        RowState::Failed => r.reason.map(FailReason::as_str),
                        RowState::Unknown => Some("unknown"),
                        RowState::Invalid => Some("invalid"),
                        _ => None,
                    },
                    name: r.name,
                    submitted_at: r.submitted_at,
                    ended_at: r.ended_at,
                };
                match ctx.config.layout {
                    Layout::Projects => entry.project_id = r.project_id,
                    Layout::Exports => entry.export_id = r.project_id,
                }
                ctx.push(entry);
            }
        }
        while tasks.join_next().await.is_some() {}
        // Let a refresh in progress finish before the final write (they share a temp file).
        refresher_done.cancel();
        let _ = refresher.await;

        let interrupted = shutdown.is_cancelled()
            && ctx.auth_refused.get().is_none()
            && ctx.unreachable.get().is_none()
            && ctx.budget_lost.get().is_none();
        if interrupted {
            ctx.journal
                .record_later(Event::Interrupted { at: now_ms() });
        }
        let closed = ctx.journal.close().await;
        // A shared store: rows other workers took to an end (or still hold) are listed as the
        // store knows them now.
        if let Some(shared) = ctx.journal.shared() {
            match shared.rows().await {
                Ok(now) => ctx.refresh_pending(&now),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the run's rows from the store; the manifest lists other workers' rows as they were");
                }
            }
        }
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
        let mut unknowns = Vec::new();
        for e in &entries {
            statuses.credits += e.credits.unwrap_or(0);
            match e.status {
                Status::Ready => statuses.ready += 1,
                Status::Failed => {
                    statuses.failed += 1;
                    failures.push((e.row, e.key.clone(), e.error.clone().unwrap_or_default()));
                }
                Status::Invalid => statuses.invalid += 1,
                Status::Pending => statuses.pending += 1,
                Status::Removed => statuses.removed += 1,
                Status::Draft => statuses.draft += 1,
                Status::Unknown => {
                    statuses.unknown += 1;
                    unknowns.push((e.row, e.key.clone(), e.error.clone().unwrap_or_default()));
                }
            }
            if e.changed {
                statuses.changed += 1;
            }
        }
        let end = if let Some(message) = ctx.auth_refused.get() {
            End::AuthRefused {
                message: message.clone(),
            }
        } else if let Some(message) = ctx.budget_lost.get() {
            End::BudgetLost {
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
            unknowns,
            lookups_unavailable: ctx.list_missing.get().cloned(),
        })
    }
}

/// How [`launch`] left a row.
enum Launched {
    /// Its task runs, or it needed none (its entry is recorded).
    Done,
    /// Another worker holds it (a shared store): try again later.
    Held(JobInput),
    /// The run is stopping; the input, if the row was not admitted yet.
    Stopped(Option<JobInput>),
}

/// Claims the row (a shared store), decides where it starts, and spawns its task, which gives
/// the claim back when it ends.
async fn launch(
    ctx: &Arc<Ctx>,
    input: JobInput,
    prior: &mut HashMap<String, RowRecord>,
    tasks: &mut JoinSet<()>,
    gate_loaded: &mut bool,
) -> Launched {
    let shared = ctx.journal.shared();
    if let Some(rows) = shared {
        let claimed = tokio::select! {
            biased;
            () = ctx.stop.cancelled() => return Launched::Stopped(Some(input)),
            claimed = rows.claim(input.row(), input.key()) => claimed,
        };
        match claimed {
            Ok(Claim::Taken(Some(record))) => {
                prior.insert(input.key().to_owned(), *record);
            }
            Ok(Claim::Taken(None)) => {
                prior.remove(input.key());
            }
            Ok(Claim::Held) => return Launched::Held(input),
            Err(e) => {
                tracing::error!(error = %e, "the store failed; stopping the run");
                let _ = ctx.journal_failed.set(e.to_string());
                ctx.stop.cancel();
                return Launched::Stopped(Some(input));
            }
        }
    }
    let key = input.key().to_owned();
    let release = || {
        if let Some(rows) = shared {
            rows.release(&key);
        }
    };
    let Some((job, start, mut entry)) = admit(ctx, input, prior) else {
        release();
        return Launched::Done;
    };
    // The create gate (the account's models), loaded once just before the first create.
    if let (Some(gate), Start::Submit { lookup: false, .. }, JobKind::CreateProject { body }) =
        (&ctx.config.create_gate, &start, &job.kind)
    {
        if !std::mem::replace(gate_loaded, true) {
            if ctx.acquire(Priority::Submit).await.is_err() {
                ctx.push(entry);
                release();
                return Launched::Stopped(None);
            }
            ctx.sent();
            gate.0.load(&ctx.client).await;
            ctx.settle_tokens();
        }
        if let Some(error) = gate.0.refuse(job.row, &job.key, body) {
            refuse(ctx, &job, &mut entry, error);
            ctx.push(entry);
            ctx.finish_callbacks(job.row);
            release();
            return Launched::Done;
        }
    }
    let idx = ctx.push(entry);
    let permit = match &start {
        // Downloads only need a download slot, not a render slot.
        Start::Download { .. } => None,
        _ => tokio::select! {
            biased;
            () = ctx.stop.cancelled() => {
                release();
                return Launched::Stopped(None);
            }
            slot = ctx.in_flight.acquire() => Some(slot),
        },
    };
    let task_ctx = Arc::clone(ctx);
    // Every line logged while the row runs (the client's included) carries its row and key: a
    // span at the error level, so that no log filter leaves it out.
    let span = tracing::error_span!("row", row = job.row, key = %job.key);
    tasks.spawn(tracing::Instrument::instrument(
        async move {
            drive(Arc::clone(&task_ctx), idx, job, start, permit).await;
            if let Some(rows) = task_ctx.journal.shared() {
                rows.release(&key);
            }
        },
        span,
    ));
    Launched::Done
}
