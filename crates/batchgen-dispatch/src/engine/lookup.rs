//! A row's lookup phase: after a create whose answer was lost, look for what it made —
//! patiently, on the [`LookupSchedule`](crate::lookup::LookupSchedule) — before it is sent
//! again; end the row `unknown` where no lookup can be made.

use std::time::Duration;

use batchgen_aistudios::{ApiError, ApiErrorKind, ProjectQuery};
use tokio::time::Instant;

use crate::budget::Priority;
use crate::counters::inc;
use crate::job::{Found, Job, JobKind, Lookup};
use crate::journal::{Event, now_ms};
use crate::manifest::Status;
use crate::retry::{Action, decide};
use crate::webhook::callbacks::Outcome;

use super::project_list::{Listing, STALE};
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
        // When the list looked in was sent, if it may be older than this lookup.
        let mut seen = None;
        let found = if let JobKind::CreateProject { .. } = &job.kind {
            // The list serves every row looking at about this time (`project_list`): the last
            // lookup of the window takes only a list sent after the window closed.
            let elapsed = Duration::from_millis(now_ms().saturating_sub(sent_at));
            let now = Instant::now();
            let last = elapsed >= schedule.window_for(ctx.longest_render());
            let not_before = if last {
                now
            } else {
                let created = now.checked_sub(elapsed).unwrap_or(now);
                now.checked_sub(STALE).unwrap_or(now).max(created)
            };
            match ctx
                .projects
                .sent_after(not_before, || fetch_list(ctx))
                .await
            {
                Ok(listing) => {
                    seen = Some(listing.sent_at());
                    Ok(listing
                        .find(&job.name, exclude)
                        .map_or(Found::Nothing, |id| Found::One(id.to_owned())))
                }
                Err(Fetch::Halted(halt)) => return Err(halt),
                Err(Fetch::Failed(e)) => Err(e),
            }
        } else {
            ctx.acquire(Priority::Submit).await?;
            ctx.sent();
            inc(&ctx.counters.lookups);
            let found = job
                .kind
                .find(
                    &ctx.client,
                    &Lookup {
                        row: job.row,
                        exclude,
                        since_ms,
                        claims: &ctx.claims,
                    },
                )
                .await;
            ctx.settle_tokens();
            found
        };
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
                // As of the list's request: only a list sent after the window closed sends
                // the create again.
                let elapsed = Duration::from_millis(now_ms().saturating_sub(sent_at))
                    .saturating_sub(seen.map_or(Duration::ZERO, |t| t.elapsed()));
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

/// Why the shared project list could not be fetched.
enum Fetch {
    /// The run stopped, or its budget is lost.
    Halted(Halt),
    /// The list request failed.
    Failed(ApiError),
}

/// One request for the project list, for every row looking (see `project_list`). At creates'
/// priority: a lookup decides whether a row's create is sent again, and its window is counted
/// from the lost create; a lookup queued behind every poll of the run would keep the row
/// waiting past it.
async fn fetch_list(ctx: &Ctx) -> Result<Listing, Fetch> {
    ctx.acquire(Priority::Submit).await.map_err(Fetch::Halted)?;
    let sent_at = Instant::now();
    ctx.sent();
    inc(&ctx.counters.lookups);
    let page = ctx
        .client
        .list_projects(&ProjectQuery::default().limit(100))
        .await;
    ctx.settle_tokens();
    Ok(Listing::of_page(sent_at, page.map_err(Fetch::Failed)?))
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
