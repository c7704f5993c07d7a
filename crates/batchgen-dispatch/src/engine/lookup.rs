//! A row's lookup phase: after a create whose answer was lost, look for what it made —
//! patiently, on the [`LookupSchedule`](crate::lookup::LookupSchedule) — before it is sent
//! again; end the row `unknown` where no lookup can be made.

use std::time::Duration;

use batchgen_aistudios::ApiErrorKind;
use tokio::time::Instant;

use crate::budget::Priority;
use crate::counters::inc;
use crate::job::{Found, Job, Lookup};
use crate::journal::{Event, now_ms};
use crate::manifest::Status;
use crate::retry::{Action, decide};
use crate::webhook::callbacks::Outcome;

use super::{Ctx, Halt};

/// What the lookup phase found.
pub(super) enum Looked {
    /// The row's remote object (not yet journaled): adopt it.
    Found(String),
    /// A webhook for the row came meanwhile: the render it made has ended so.
    CalledBack(Outcome),
    /// Nothing, for as long as a render can take (or at once for kinds whose list shows work
    /// in progress): send the create again.
    Nothing,
}

/// Looks for what the row's earlier create made (sent at `since_ms`, if known). Ends the row
/// `unknown` (returning [`Halt::Failed`]) where no lookup can be made.
pub(super) async fn look(
    ctx: &Ctx,
    idx: usize,
    job: &Job,
    exclude: &[String],
    since_ms: Option<u64>,
) -> Result<Looked, Halt> {
    let sent_at = since_ms.unwrap_or_else(now_ms);
    let patient = job.kind.listed_only_when_done();
    let schedule = ctx.config.lookup;
    let callbacks = ctx.config.callbacks.as_ref();
    let watch = callbacks.map(|c| c.watch(job.row));
    let (mut found_nothing, mut failures) = (0u32, 0u32);
    loop {
        if let Some(outcome) = callbacks.and_then(|c| c.take(job.row)) {
            return Ok(Looked::CalledBack(outcome));
        }
        if let Some(why) = ctx.list_missing.get() {
            // No list to look in. With webhooks, the row's callback is the one lookup left:
            // it is waited for as long as a render can take; without them, nothing can tell.
            let elapsed = Duration::from_millis(now_ms().saturating_sub(sent_at));
            let left = schedule
                .window_for(ctx.longest_render())
                .saturating_sub(elapsed);
            match &watch {
                Some(notify) if !left.is_zero() => {
                    wait_or_callback(ctx, job.row, notify, left).await?;
                    continue;
                }
                Some(_) => {
                    return Err(ctx.unknown(
                        idx,
                        job,
                        &format!("{why}, and no webhook for the row came within the lookup window"),
                    ));
                }
                None => return Err(ctx.unknown(idx, job, why)),
            }
        }
        // At creates' priority: a lookup decides whether the row's create is sent again, and its
        // window is counted from the lost create; a lookup queued behind every poll of the run
        // would keep the row waiting past it.
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
        let wait = match found {
            Ok(Found::One(id)) => {
                ctx.reached_server();
                return Ok(Looked::Found(id));
            }
            Ok(Found::Ambiguous {
                candidates,
                others_pending,
            }) => {
                ctx.reached_server();
                tracing::warn!(
                    row = job.row,
                    key = %job.key,
                    candidates,
                    others_pending,
                    "cannot tell which export of the project a lost answer made ({candidates} unclaimed since it was sent, {others_pending} other row(s) of this run exporting it now); sending it again, which may leave a duplicate export"
                );
                return Ok(Looked::Nothing);
            }
            Ok(Found::Undecidable(why)) => {
                ctx.reached_server();
                return Err(ctx.unknown(idx, job, &why));
            }
            Ok(Found::Nothing) => {
                ctx.reached_server();
                failures = 0;
                found_nothing += 1;
                if !patient {
                    return Ok(Looked::Nothing);
                }
                let elapsed = Duration::from_millis(now_ms().saturating_sub(sent_at));
                let window = schedule.window_for(ctx.longest_render());
                match schedule.next_within(window, found_nothing, elapsed) {
                    Some(wait) => wait,
                    None => {
                        tracing::info!(row = job.row, key = %job.key, lookups = found_nothing, "no project made by the lost create appeared in the list within --lookup-window; sending it again");
                        return Ok(Looked::Nothing);
                    }
                }
            }
            Err(e) if matches!(e.status(), Some(404 | 405)) => {
                ctx.reached_server();
                let why = format!(
                    "{e} (this API has no project list, so a create whose answer was lost cannot be looked up)"
                );
                if ctx.list_missing.set(why).is_ok() {
                    tracing::warn!(error = %e, "the API has no project list: rows whose create answer is lost end `unknown` (the project may exist) instead of being sent again; said once for the run");
                }
                continue;
            }
            Err(e) => {
                failures += 1;
                let no_connection = matches!(e.kind(), ApiErrorKind::Connect { .. });
                let never_reached = no_connection && !ctx.reached();
                match decide(&e, failures, &ctx.config.backoff) {
                    // A refusal of the lookup, or lookups failing every time: the project
                    // cannot be looked for. Neither failed nor sent again.
                    Action::FailRow => {
                        ctx.reached_server();
                        return Err(ctx.unknown(
                            idx,
                            job,
                            &format!("{e} (the lookup was refused)"),
                        ));
                    }
                    Action::GiveUp if !never_reached => {
                        return Err(ctx.unknown(
                            idx,
                            job,
                            &format!("{e} (gave up after {failures} attempts to look it up)"),
                        ));
                    }
                    // Retries (429 pauses everyone), refused credentials, an API never reached.
                    _ => ctx.on_error(idx, job, &e, failures, "look it up")?.0,
                }
            }
        };
        // Wait for the next lookup, unless the row's webhook comes first.
        match &watch {
            None => ctx.sleep(wait).await?,
            Some(notify) => wait_or_callback(ctx, job.row, notify, wait).await?,
        }
    }
}

/// Waits `wait`, or less if a webhook for `row` comes (or has come) first.
async fn wait_or_callback(
    ctx: &Ctx,
    row: u64,
    notify: &tokio::sync::Notify,
    wait: Duration,
) -> Result<(), Halt> {
    let callbacks = ctx.config.callbacks.as_ref();
    let due = Instant::now() + wait;
    loop {
        if callbacks.is_some_and(|c| c.has_outcome(row)) {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep_until(due) => return Ok(()),
            () = notify.notified() => {}
            () = ctx.stop.cancelled() => return Err(Halt::Stopped),
        }
    }
}

impl Ctx {
    /// Ends row `idx` `unknown`: a create may have made a project, and `why` no lookup could
    /// tell. Journaled; the row is not sent again unless a later run says
    /// `--resubmit-unknown`.
    pub(super) fn unknown(&self, idx: usize, job: &Job, why: &str) -> Halt {
        let error = job.kind.unknown_message(&job.name, why);
        tracing::warn!(row = job.row, key = %job.key, %error, "row unknown");
        let at = now_ms();
        self.journal.record_later(Event::Unknown {
            row: job.row,
            key: job.key.clone(),
            error: error.clone(),
            at,
        });
        inc(&self.counters.unknown);
        self.update(idx, |e| {
            e.status = Status::Unknown;
            e.error = Some(error);
            e.ended_at = Some(at);
            e.failure_class = Some("unknown");
        });
        Halt::Failed
    }
}
