//! One row's task: submit (or look up what a lost create made), follow the render to its end
//! by poll or callback, download the video.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::budget::Priority;
use crate::counters::{dec, inc};
use crate::job::{Job, Polled};
use crate::journal::{Event, FailReason, now_ms};
use crate::manifest::Status;
use crate::poll::PollSchedule;
use crate::webhook::callbacks::Outcome;

use super::lookup::{Looked, look};
use super::plan::{Start, set_remote};
use super::{Ctx, Halt};

/// Runs one row from `start` to its end.
pub(super) async fn drive(
    ctx: Arc<Ctx>,
    idx: usize,
    mut job: Job,
    start: Start,
    permit: Option<crate::concurrency::Slot>,
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
                Ok(Submitted::Remote(_)) if job.draft => {
                    // Created and not rendered: the row is done, nothing polls it.
                    ctx.finish_callbacks(job.row);
                    ctx.update(idx, |e| {
                        e.status = Status::Draft;
                        e.ended_at = e.submitted_at;
                    });
                    return;
                }
                Ok(Submitted::Remote(id)) => {
                    job.kind.release_payload();
                    follow(&ctx, idx, &job, &id, None).await
                }
                Ok(Submitted::CalledBack(outcome)) => {
                    job.kind.release_payload();
                    called_back(&ctx, idx, &job, "made by the lost create", outcome)
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
            ctx.update(idx, |e| {
                e.status = Status::Ready;
                e.ended_at.get_or_insert_with(now_ms);
            });
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
                        e.ended_at.get_or_insert_with(now_ms);
                    });
                }
                Err(e) => ctx.fail(
                    idx,
                    &job,
                    FailReason::Download,
                    format!("{} (--resume downloads it again)", crate::error::chain(&e)),
                ),
            }
        }
    }
}

/// Concurrency refusals a row waits out before they count as failed attempts (at the
/// 30 s cap, about an hour).
const MAX_CONCURRENCY_REFUSALS: u32 = 120;

/// The wait after a row's `n`th concurrency refusal: 1 s doubling to 30 s.
fn concurrency_wait(n: u32) -> Duration {
    Duration::from_secs(1u64 << n.saturating_sub(1).min(5)).min(Duration::from_secs(30))
}

/// How the submit phase ended.
enum Submitted {
    /// The remote object exists: follow it.
    Remote(String),
    /// The row's webhook came while a lost create was looked up: the render ended so.
    CalledBack(Outcome),
}

/// The submit phase: (look up,) journal `submitting`, create, journal `submitted`.
async fn submit(
    ctx: &Ctx,
    idx: usize,
    job: &Job,
    mut lookup: bool,
    exclude: &[String],
    mut since_ms: Option<u64>,
) -> Result<Submitted, Halt> {
    let mut failures = 0u32;
    let mut refusals = 0u32;
    let target = job.kind.target();
    // For exports: while this row may have a create in flight, other rows' lookups for the
    // same project adopt nothing (see `claims`).
    let mut pending = None;
    loop {
        if std::mem::take(&mut lookup) {
            if let Some(t) = &target {
                pending.get_or_insert_with(|| ctx.claims.pending(t, job.row));
            }
            match look(ctx, idx, job, exclude, since_ms).await? {
                Looked::Found(id) => {
                    ctx.claims.hold(&id);
                    let at = now_ms();
                    ctx.record(Event::Submitted {
                        row: job.row,
                        key: job.key.clone(),
                        id: id.clone(),
                        recovered: true,
                        draft: job.draft,
                        at,
                    })
                    .await?;
                    inc(&ctx.counters.recovered);
                    tracing::info!(row = job.row, key = %job.key, id, "found what a create whose answer was lost made; adopting it");
                    ctx.update(idx, |e| {
                        set_remote(e, &job.kind, Some(id.clone()));
                        e.submitted_at = Some(at);
                    });
                    return Ok(Submitted::Remote(id));
                }
                Looked::CalledBack(outcome) => {
                    inc(&ctx.counters.recovered);
                    tracing::info!(row = job.row, key = %job.key, "the row's webhook reported what a create whose answer was lost made; adopting it");
                    return Ok(Submitted::CalledBack(outcome));
                }
                Looked::Nothing => {}
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
            hash: Some(job.hash.clone()),
            name: job.kind.named().then(|| job.name.clone()),
            at,
        })
        .await?;
        since_ms = Some(at);
        ctx.update(idx, |e| {
            e.attempts += 1;
            if job.kind.named() {
                e.name = Some(job.name.clone());
            }
        });
        ctx.sent();
        inc(&ctx.counters.creates);
        let created = job.kind.submit(&ctx.client).await;
        ctx.settle_tokens();
        match created {
            Ok(id) => {
                ctx.reached_server();
                ctx.in_flight.accepted();
                ctx.claims.hold(&id);
                // Appended now, synced with the next batch: nothing waits for it. Lost in a
                // crash, the row's last event is `submitting` and a resume looks it up.
                let at = now_ms();
                ctx.journal.record_later(Event::Submitted {
                    row: job.row,
                    key: job.key.clone(),
                    id: id.clone(),
                    recovered: false,
                    draft: job.draft,
                    at,
                });
                ctx.update(idx, |e| {
                    set_remote(e, &job.kind, Some(id.clone()));
                    e.submitted_at = Some(at);
                });
                return Ok(Submitted::Remote(id));
            }
            Err(e)
                if crate::concurrency::is_concurrency_refusal(&e)
                    && refusals < MAX_CONCURRENCY_REFUSALS =>
            {
                // Refused before acting, for the account's renders in progress: lower the
                // bound and wait for renders to end; not an attempt of this row's.
                ctx.reached_server();
                ctx.in_flight.refused();
                refusals += 1;
                inc(&ctx.counters.retries);
                tracing::debug!(row = job.row, key = %job.key, error = %e, refusals, "create refused for concurrency; waiting");
                ctx.sleep(concurrency_wait(refusals)).await?;
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
    // A probe's polls go before creates, so that its render is timed (see `render_time`).
    let probe = ctx.render_times.probe();
    let priority = if probe {
        Priority::Probe
    } else {
        Priority::Poll
    };
    // When a poll last found the render going, after the create.
    let mut last_going: Option<Duration> = None;
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
                        ctx.render_times.called_back(started.elapsed());
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
        ctx.acquire(priority).await?;
        // A webhook may have come while this poll waited for the budget: the request is not
        // needed any more (its slot goes unused).
        if let Some(outcome) = callbacks.and_then(|c| c.take(job.row)) {
            ctx.render_times.called_back(started.elapsed());
            return called_back(ctx, idx, job, id, outcome);
        }
        let sent = started.elapsed();
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
                last_going = Some(sent);
                ctx.render_times.still_rendering(sent);
                wait = schedule.next(percent, started.elapsed());
            }
            Ok(Polled::Done { download_url }) => {
                ctx.render_times.ended(last_going, started.elapsed());
                return Ok(ready(ctx, idx, job, download_url, None));
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
fn ready(ctx: &Ctx, idx: usize, job: &Job, download_url: String, credits: Option<u64>) -> String {
    let at = now_ms();
    ctx.journal.record_later(Event::Ready {
        row: job.row,
        key: job.key.clone(),
        download_url: download_url.clone(),
        credits,
        at,
    });
    ctx.update(idx, |e| {
        e.download_url = Some(download_url.clone());
        e.credits = credits;
        // The render ended now (a download may follow).
        e.ended_at = Some(at);
    });
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
        Outcome::Ready {
            download_url,
            credits,
        } => Ok(ready(ctx, idx, job, download_url, credits)),
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
