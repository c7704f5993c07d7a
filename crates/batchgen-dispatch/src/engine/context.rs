//! What every row task of a run shares, and the steps they take through it: journal, budget,
//! waits, errors.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use batchgen_aistudios::{ApiError, ApiErrorKind, Client};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::budget::{AcquireError, Budget, Priority};
use crate::claims::Claims;
use crate::counters::{Counters, inc};
use crate::download::Downloader;
use crate::job::Job;
use crate::journal::{Event, FailReason, JournalError, now_ms};
use crate::manifest::Status;
use crate::retry::{Action, decide};
use crate::store::Store;

use super::{EngineConfig, Ledger, RenderTimes};

/// Shared by every row task.
pub(super) struct Ctx {
    pub(super) config: EngineConfig,
    pub(super) client: Client,
    pub(super) budget: Arc<Budget>,
    /// The bound on renders in progress, lowered on concurrency refusals.
    pub(super) in_flight: Arc<crate::concurrency::InFlight>,
    pub(super) journal: Arc<dyn Store>,
    pub(super) counters: Arc<Counters>,
    pub(super) ledger: Mutex<Ledger>,
    /// Cancelled by the caller's token or by a refused credential.
    pub(super) stop: CancellationToken,
    pub(super) auth_refused: OnceLock<String>,
    /// Set when some API call got an answer (any answer) from the server.
    pub(super) reached: AtomicBool,
    /// Set when the run stops because the API was never reached.
    pub(super) unreachable: OnceLock<String>,
    pub(super) journal_failed: OnceLock<String>,
    /// Set when the shared budget (`--shared-budget`) was lost and the run stopped for it.
    pub(super) budget_lost: OnceLock<String>,
    pub(super) downloads: Option<(Downloader, Semaphore)>,
    pub(super) tokens_seen: AtomicU64,
    /// Remote objects the rows hold, and pending creates (for export lookups).
    pub(super) claims: Claims,
    /// Set once when the API turns out to have no project list (404/405): why lookups cannot
    /// be made. Rows whose create may have been applied then end `unknown`.
    pub(super) list_missing: OnceLock<String>,
    /// How long this run's renders take, as well as polls and webhooks tell.
    pub(super) render_times: RenderTimes,
    /// The last project list fetched, shared by the rows looking for lost creates.
    pub(super) projects: super::project_list::SharedList,
}

/// How a phase ended early.
pub(super) enum Halt {
    /// The row ended without a video, failed or `unknown` (already recorded).
    Failed,
    /// The run is stopping; the row stays where the journal has it.
    Stopped,
}

impl Ctx {
    /// Journals `event` and waits for it to be durable. A journal failure stops the run; a
    /// lease lost to another worker (a shared store) stops only the row.
    pub(super) async fn record(&self, event: Event) -> Result<(), Halt> {
        match self.journal.record(event).await {
            Ok(()) => Ok(()),
            Err(e @ JournalError::LeaseLost { .. }) => {
                tracing::warn!(error = %e, "another worker may hold the row now; leaving it to them");
                Err(Halt::Stopped)
            }
            Err(e) => {
                // The reason alone: the run's error wraps it in a WriterStopped again.
                let reason = match e {
                    crate::journal::JournalError::WriterStopped(reason) => reason,
                    e => crate::error::chain(&e),
                };
                let _ = self.journal_failed.set(reason);
                self.stop.cancel();
                Err(Halt::Stopped)
            }
        }
    }

    /// A row ended (or was found ended): later webhooks for it are acknowledged and ignored.
    pub(super) fn finish_callbacks(&self, row: u64) {
        if let Some(c) = &self.config.callbacks {
            c.finish(row);
        }
    }

    /// Counts one request about to be sent.
    pub(super) fn sent(&self) {
        inc(&self.counters.requests);
    }

    /// Charges the budget for token fetches the client made on its own.
    pub(super) fn settle_tokens(&self) {
        let now = self.client.token_requests();
        let before = self.tokens_seen.swap(now, Ordering::Relaxed);
        if now > before {
            self.budget.charge(now - before);
            self.counters
                .requests
                .fetch_add(now - before, Ordering::Relaxed);
        }
    }

    /// Waits for budget. A lost shared budget stops the run (nothing more can be sent);
    /// the row stays where the journal has it.
    pub(super) async fn acquire(&self, priority: Priority) -> Result<(), Halt> {
        match self.budget.acquire(priority, &self.stop).await {
            Ok(()) => Ok(()),
            Err(AcquireError::Stopped) => Err(Halt::Stopped),
            Err(AcquireError::Lost(e)) => {
                if self.budget_lost.set(e.to_string()).is_ok() {
                    tracing::error!(error = %e, "stopping the run: the shared budget is lost");
                }
                self.stop.cancel();
                Err(Halt::Stopped)
            }
        }
    }

    /// Sleeps `d`, or returns `Stopped` as soon as the run stops.
    pub(super) async fn sleep(&self, d: Duration) -> Result<(), Halt> {
        tokio::select! {
            () = tokio::time::sleep(d) => Ok(()),
            () = self.stop.cancelled() => Err(Halt::Stopped),
        }
    }

    /// Acts on a failed call: `Ok(wait)` to try again after `wait`, or how the row ends.
    pub(super) fn on_error(
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
                    // With --rate auto, the key's limit is below the current rate: cut it.
                    self.budget.rate_limited();
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

    /// The longest render of this run, as well as it is known (see [`RenderTimes::longest`]).
    pub(super) fn longest_render(&self) -> Option<Duration> {
        self.render_times.longest()
    }

    /// Whether some API call of the run got an answer from the server.
    pub(super) fn reached(&self) -> bool {
        self.reached.load(Ordering::Relaxed)
    }

    /// Notes that an API call got an answer from the server.
    pub(super) fn reached_server(&self) {
        self.reached.store(true, Ordering::Relaxed);
    }

    pub(super) fn fail(&self, idx: usize, job: &Job, reason: FailReason, error: String) {
        tracing::warn!(row = job.row, key = %job.key, %error, "row failed");
        let at = now_ms();
        self.journal.record_later(Event::Failed {
            row: job.row,
            key: job.key.clone(),
            reason,
            error: error.clone(),
            at,
        });
        inc(&self.counters.failed);
        self.update(idx, |e| {
            e.status = Status::Failed;
            e.error = Some(error);
            e.ended_at = Some(at);
            e.failure_class = Some(reason.as_str());
        });
    }
}
