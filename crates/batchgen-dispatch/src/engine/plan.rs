//! The resume plan: where a row starts, given what the journal knows of it and this run's
//! flags. [`plan`] is a pure function (tested as a table below); [`admit`] applies it to one
//! input: the row's job, its manifest entry and the counters.

use std::collections::HashMap;

use crate::counters::inc;
use crate::job::{Job, JobInput, JobKind};
use crate::journal::{Event, FailReason, RowRecord, RowState, now_ms};
use crate::manifest::{Entry, Status};

use super::Ctx;

/// Where a row's task starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Start {
    /// Send the create. `lookup`: first look for what an earlier create whose answer was lost
    /// made; `exclude`: earlier remote objects of the row that a lookup must not adopt;
    /// `since_ms`: when the row's last create was sent, if one was.
    Submit {
        lookup: bool,
        exclude: Vec<String>,
        since_ms: Option<u64>,
    },
    /// Follow remote object `id` (submitted at `since_ms`, if known).
    Poll { id: String, since_ms: Option<u64> },
    /// Download the video at `url`.
    Download { url: String },
}

/// The flags of this run that decide where journaled rows start.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Flags {
    /// `--download`: rows ready without their file download it.
    pub downloading: bool,
    /// `--retry-failed`: rows failed for good are submitted again.
    pub retry_failed: bool,
    /// `--rerender-changed`: changed rows that have a video (or are rendering) are made again.
    pub rerender_changed: bool,
    /// `--resubmit-unknown`: rows left `unknown` are sent again, without a lookup.
    pub resubmit_unknown: bool,
}

/// What to do with a row the journal knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Plan {
    /// Nothing: the row keeps its journaled status (ready, or failed with its error).
    Keep(Status),
    /// Run the row's task from `start`. `forget_remote`: the row's earlier remote object and
    /// video are given up (`--retry-failed`), so the manifest no longer shows them.
    Run { start: Start, forget_remote: bool },
}

/// Where a row with journal record `r` starts under `flags`; `changed`: what the row asks for
/// now differs from what its last create sent.
///
/// A changed row that never got a video (failed, or invalid before) is submitted afresh; one
/// that has a video or is rendering keeps it, unless `--rerender-changed` (then it is made
/// again, one new project, the old one never adopted again). A row caught between sending
/// and its answer is looked up first, changed or not: its create may have been made.
pub(super) fn plan(r: &RowRecord, flags: Flags, changed: bool) -> Plan {
    let afresh = || {
        let mut exclude = r.abandoned.clone();
        exclude.extend(r.project_id.clone());
        Plan::Run {
            start: Start::Submit {
                lookup: false,
                exclude,
                since_ms: None,
            },
            forget_remote: true,
        }
    };
    if changed {
        let has_video = match r.state {
            // An unknown row may have a project rendering: kept like one that has.
            RowState::Ready | RowState::Submitted | RowState::Draft | RowState::Unknown => true,
            RowState::Failed => r.download_url.is_some(),
            RowState::Submitting | RowState::Invalid => false,
        };
        match (r.state, has_video) {
            (RowState::Submitting | RowState::Invalid, _) => {}
            (_, true) if flags.rerender_changed => return afresh(),
            (_, true) => {}
            (_, false) => return afresh(),
        }
    }
    plan_unchanged(r, flags)
}

/// What becomes of `planned` where the API holds none of the journal's remote objects
/// ([`EngineConfig::fresh_api`](crate::EngineConfig::fresh_api): a `--sandbox` run, whose
/// emulator is new in every process and costs nothing): a row that would go back to an earlier
/// object — follow it, download its video, look up a lost create — is made afresh instead,
/// since the new API would answer "not found" for it, or nothing for as long as a lookup waits.
/// Every other plan is kept.
pub(super) fn on_a_fresh_api(planned: Plan) -> Plan {
    match planned {
        Plan::Run {
            start: Start::Poll { .. } | Start::Download { .. } | Start::Submit { lookup: true, .. },
            ..
        } => Plan::Run {
            start: Start::Submit {
                lookup: false,
                exclude: Vec::new(),
                since_ms: None,
            },
            forget_remote: true,
        },
        other => other,
    }
}

/// [`plan`] for a row whose inputs are as its journal has them.
fn plan_unchanged(r: &RowRecord, flags: Flags) -> Plan {
    let run = |start| Plan::Run {
        start,
        forget_remote: false,
    };
    let submit_again = || Start::Submit {
        lookup: r.attempts > 0,
        exclude: r.abandoned.clone(),
        since_ms: r.submitting_at,
    };
    match r.state {
        RowState::Submitting => run(Start::Submit {
            lookup: true,
            exclude: r.abandoned.clone(),
            since_ms: r.submitting_at,
        }),
        RowState::Invalid => run(submit_again()),
        RowState::Draft => Plan::Keep(Status::Draft),
        // A lost create may have made a project that could not be looked up: kept, unless the
        // user says to send it again (a lookup would only end it `unknown` once more where
        // the API has no list).
        RowState::Unknown if flags.resubmit_unknown => run(Start::Submit {
            lookup: false,
            exclude: r.abandoned.clone(),
            since_ms: None,
        }),
        RowState::Unknown => Plan::Keep(Status::Unknown),
        RowState::Submitted => run(Start::Poll {
            id: r.project_id.clone().unwrap_or_default(),
            since_ms: r.submitted_at,
        }),
        RowState::Ready => match (&r.download_url, &r.file) {
            (Some(url), None) if flags.downloading => run(Start::Download { url: url.clone() }),
            _ => Plan::Keep(Status::Ready),
        },
        RowState::Failed => {
            let reason = r.reason.unwrap_or(FailReason::RetriesExhausted);
            if reason.is_transient() {
                match (&r.download_url, &r.project_id) {
                    (Some(url), _) if flags.downloading => {
                        run(Start::Download { url: url.clone() })
                    }
                    // Only the download had failed, and no download is asked for now.
                    (Some(_), _) => Plan::Keep(Status::Ready),
                    (None, Some(id)) => run(Start::Poll {
                        id: id.clone(),
                        since_ms: None,
                    }),
                    (None, None) => run(submit_again()),
                }
            } else if flags.retry_failed {
                let mut exclude = r.abandoned.clone();
                exclude.extend(r.project_id.clone());
                Plan::Run {
                    start: Start::Submit {
                        lookup: false,
                        exclude,
                        since_ms: None,
                    },
                    forget_remote: true,
                }
            } else {
                Plan::Keep(Status::Failed)
            }
        }
    }
}

/// Decides what to do with one input, given the journal's past: the job and where its task
/// starts, plus its manifest entry; `None` when nothing is to be done (the entry is recorded).
pub(super) fn admit(
    ctx: &Ctx,
    input: JobInput,
    prior: &mut HashMap<String, RowRecord>,
) -> Option<(Job, Start, Entry)> {
    let tag = ctx.journal.header().run_tag();
    let job = match input.into_job(tag, ctx.config.webhook_urls.as_ref(), &ctx.config.projects) {
        Ok(job) => job,
        Err((row, key, error, inputs)) => {
            let known = prior
                .remove(&key)
                .filter(|r| r.state == RowState::Invalid && r.error.as_deref() == Some(&error))
                .map(|r| r.ended_at);
            let ended_at = match known {
                Some(at) => at,
                None => {
                    let at = now_ms();
                    ctx.journal.record_later(Event::Invalid {
                        row,
                        key: key.clone(),
                        error: error.clone(),
                        at,
                    });
                    Some(at)
                }
            };
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
                credits: None,
                error: Some(error),
                inputs: inputs.into(),
                changed: false,
                name: None,
                submitted_at: None,
                ended_at,
                failure_class: Some("invalid"),
            });
            return None;
        }
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
        credits: None,
        error: None,
        inputs: job.inputs.clone(),
        changed: false,
        name: None,
        submitted_at: None,
        ended_at: None,
        failure_class: None,
    };
    let Some(r) = prior.remove(&job.key) else {
        let start = Start::Submit {
            lookup: false,
            exclude: Vec::new(),
            since_ms: None,
        };
        return Some((job, start, entry));
    };
    entry.attempts = r.attempts;
    set_remote(&mut entry, &job.kind, r.project_id.clone());
    entry.submitted_at = r.submitted_at;
    entry.ended_at = r.ended_at;
    // The name the last create sent; journals of earlier versions did not record it, and
    // then it is this job's when the row has not changed (the name is part of what is hashed).
    entry.name = r.name.clone().or_else(|| {
        (job.kind.named() && r.attempts > 0 && r.hash.as_ref().is_none_or(|h| *h == job.hash))
            .then(|| job.name.clone())
    });
    entry.download_url.clone_from(&r.download_url);
    entry.file.clone_from(&r.file);
    entry.credits = r.credits;
    let flags = Flags {
        downloading: ctx.downloads.is_some(),
        retry_failed: ctx.config.retry_failed,
        rerender_changed: ctx.config.rerender_changed,
        resubmit_unknown: ctx.config.resubmit_unknown,
    };
    let changed = r.hash.as_ref().is_some_and(|h| *h != job.hash);
    let mut planned = plan(&r, flags, changed);
    if ctx.config.fresh_api {
        planned = on_a_fresh_api(planned);
    }
    // The row keeps what an earlier run made from other inputs: the manifest says so.
    entry.changed = changed
        && !matches!(
            planned,
            Plan::Run {
                start: Start::Submit { .. },
                ..
            }
        );
    match planned {
        Plan::Run {
            start,
            forget_remote,
        } => {
            if forget_remote {
                set_remote(&mut entry, &job.kind, None);
                entry.download_url = None;
            }
            // Started again: it has not ended (what it had is kept only if it is followed).
            if !matches!(start, Start::Poll { .. } | Start::Download { .. }) {
                entry.ended_at = None;
                entry.submitted_at = None;
            }
            Some((job, start, entry))
        }
        Plan::Keep(status) => {
            inc(&ctx.counters.skipped);
            match status {
                Status::Failed => {
                    inc(&ctx.counters.failed);
                    entry.error = r.error;
                    entry.failure_class = r.reason.map(FailReason::as_str);
                }
                Status::Draft => {}
                Status::Unknown => {
                    inc(&ctx.counters.unknown);
                    entry.error = r.error;
                    entry.failure_class = Some("unknown");
                }
                _ => {
                    inc(&ctx.counters.ready);
                    inc(&ctx.counters.kept_ready);
                }
            }
            entry.status = status;
            ctx.push(entry);
            ctx.finish_callbacks(job.row);
            None
        }
    }
}

/// Puts a remote id where the manifest shows it: `project_id` for projects, `export_id` for
/// exports (whose `project_id` is the project exported).
/// Ends a row a [`crate::gate::CreateGate`] refused before its create: `invalid`, journaled,
/// with `error`; never sent.
pub(super) fn refuse(ctx: &Ctx, job: &Job, entry: &mut Entry, error: String) {
    ctx.journal.record_later(Event::Invalid {
        row: job.row,
        key: job.key.clone(),
        error: error.clone(),
        at: now_ms(),
    });
    inc(&ctx.counters.invalid);
    entry.status = Status::Invalid;
    entry.error = Some(error);
}

pub(super) fn set_remote(entry: &mut Entry, kind: &JobKind, id: Option<String>) {
    let (project_id, export_id) = kind.manifest_ids(id);
    entry.project_id = project_id;
    if let Some(export_id) = export_id {
        entry.export_id = export_id;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal record: `state`, `reason`, whether a project id, a video URL and a file are
    /// known, and how many creates were sent.
    fn record(
        state: RowState,
        reason: Option<FailReason>,
        project: bool,
        url: bool,
        file: bool,
        attempts: u32,
    ) -> RowRecord {
        RowRecord {
            row: 1,
            key: "k".into(),
            state,
            project_id: project.then(|| "p1".into()),
            credits: None,
            submitted_at: Some(20),
            submitting_at: Some(10),
            download_url: url.then(|| "https://v/1.mp4".into()),
            file: file.then(|| "videos/k.mp4".into()),
            attempts,
            error: Some("why".into()),
            reason,
            abandoned: vec!["p0".into()],
            hash: Some("sha256:old".into()),
            name: None,
            ended_at: None,
        }
    }

    fn submit(lookup: bool, exclude: &[&str], since_ms: Option<u64>) -> Plan {
        Plan::Run {
            start: Start::Submit {
                lookup,
                exclude: exclude.iter().map(|s| s.to_string()).collect(),
                since_ms,
            },
            forget_remote: false,
        }
    }

    fn poll(since_ms: Option<u64>) -> Plan {
        Plan::Run {
            start: Start::Poll {
                id: "p1".into(),
                since_ms,
            },
            forget_remote: false,
        }
    }

    fn download() -> Plan {
        Plan::Run {
            start: Start::Download {
                url: "https://v/1.mp4".into(),
            },
            forget_remote: false,
        }
    }

    #[test]
    fn where_each_journaled_row_starts() {
        use FailReason::*;
        use RowState::*;
        let none = Flags::default();
        let dl = Flags {
            downloading: true,
            ..Flags::default()
        };
        let retry = Flags {
            retry_failed: true,
            ..Flags::default()
        };
        let resubmit = Flags {
            resubmit_unknown: true,
            ..Flags::default()
        };
        let again = Plan::Run {
            start: Start::Submit {
                lookup: false,
                exclude: vec!["p0".into(), "p1".into()],
                since_ms: None,
            },
            forget_remote: true,
        };
        #[rustfmt::skip]
        let table: Vec<(RowRecord, Flags, Plan)> = vec![
            // A create may have been sent: look up what it made first.
            (record(Submitting, None, false, false, false, 1), none, submit(true, &["p0"], Some(10))),
            (record(Submitting, None, false, false, false, 0), none, submit(true, &["p0"], Some(10))),
            // Invalid last time, valid now: look up only if a create was ever sent.
            (record(Invalid, None, false, false, false, 0), none, submit(false, &["p0"], Some(10))),
            (record(Invalid, None, false, false, false, 2), none, submit(true, &["p0"], Some(10))),
            // Rendering: follow it.
            (record(Submitted, None, true, false, false, 1), none, poll(Some(20))),
            // Ready: kept, unless a download is asked for and the file is missing.
            (record(Ready, None, true, true, true, 1), dl, Plan::Keep(Status::Ready)),
            (record(Ready, None, true, true, false, 1), none, Plan::Keep(Status::Ready)),
            (record(Ready, None, true, true, false, 1), dl, download()),
            // Transient failures are taken up again where they stopped.
            (record(Failed, Some(Download), true, true, false, 1), dl, download()),
            (record(Failed, Some(Download), true, true, false, 1), none, Plan::Keep(Status::Ready)),
            (record(Failed, Some(RenderTimeout), true, false, false, 1), none, poll(None)),
            (record(Failed, Some(RetriesExhausted), true, false, false, 1), none, poll(None)),
            (record(Failed, Some(RetriesExhausted), false, false, false, 3), none, submit(true, &["p0"], Some(10))),
            (record(Failed, Some(RetriesExhausted), false, false, false, 0), none, submit(false, &["p0"], Some(10))),
            // No reason journaled (older journals): treated as retries exhausted.
            (record(Failed, None, true, false, false, 1), none, poll(None)),
            // Failed for good: kept, or submitted afresh with --retry-failed (never adopting
            // the failed project).
            (record(Failed, Some(Rejected), false, false, false, 1), none, Plan::Keep(Status::Failed)),
            (record(Failed, Some(RenderFailed), true, false, false, 1), none, Plan::Keep(Status::Failed)),
            (record(Failed, Some(RenderFailed), true, false, false, 1), retry, again.clone()),
            (record(Failed, Some(Rejected), true, false, false, 1), retry, again),
            // Unknown (a lost create no lookup could settle): kept, even by --retry-failed;
            // sent again, without a lookup, with --resubmit-unknown.
            (record(Unknown, None, false, false, false, 1), none, Plan::Keep(Status::Unknown)),
            (record(Unknown, None, false, false, false, 1), retry, Plan::Keep(Status::Unknown)),
            (record(Unknown, None, false, false, false, 1), resubmit, submit(false, &["p0"], None)),
        ];
        for (i, (r, flags, want)) in table.into_iter().enumerate() {
            assert_eq!(plan(&r, flags, false), want, "case {i}: {r:?} {flags:?}");
        }
    }

    /// On a fresh API (a `--sandbox` run) nothing goes back to an earlier remote object: what
    /// would follow one, download from one or look one up is made afresh, without exclusions
    /// (the new API never had them); every other plan stands.
    #[test]
    fn on_a_fresh_api_what_would_go_back_to_an_earlier_object_is_made_afresh() {
        use FailReason::*;
        use RowState::*;
        let none = Flags::default();
        let dl = Flags {
            downloading: true,
            ..Flags::default()
        };
        let afresh = Plan::Run {
            start: Start::Submit {
                lookup: false,
                exclude: Vec::new(),
                since_ms: None,
            },
            forget_remote: true,
        };
        #[rustfmt::skip]
        let table: Vec<(RowRecord, Flags, Plan)> = vec![
            // Would look up a lost create, follow a render, or download a video.
            (record(Submitting, None, false, false, false, 1), none, afresh.clone()),
            (record(Invalid, None, false, false, false, 2), none, afresh.clone()),
            (record(Submitted, None, true, false, false, 1), none, afresh.clone()),
            (record(Ready, None, true, true, false, 1), dl, afresh.clone()),
            (record(Failed, Some(Download), true, true, false, 1), dl, afresh.clone()),
            (record(Failed, Some(RenderTimeout), true, false, false, 1), none, afresh.clone()),
            (record(Failed, Some(RetriesExhausted), false, false, false, 3), none, afresh),
            // Needs nothing of the earlier API: as planned.
            (record(Ready, None, true, true, false, 1), none, Plan::Keep(Status::Ready)),
            (record(Ready, None, true, true, true, 1), dl, Plan::Keep(Status::Ready)),
            (record(Failed, Some(Rejected), false, false, false, 1), none, Plan::Keep(Status::Failed)),
            (record(Unknown, None, false, false, false, 1), none, Plan::Keep(Status::Unknown)),
            (record(Invalid, None, false, false, false, 0), none, submit(false, &["p0"], Some(10))),
            (record(Draft, None, true, false, false, 1), none, Plan::Keep(Status::Draft)),
        ];
        for (i, (r, flags, want)) in table.into_iter().enumerate() {
            assert_eq!(
                on_a_fresh_api(plan(&r, flags, false)),
                want,
                "case {i}: {r:?} {flags:?}"
            );
        }
    }

    #[test]
    fn where_each_changed_row_starts() {
        use FailReason::*;
        use RowState::*;
        let none = Flags::default();
        let rerender = Flags {
            rerender_changed: true,
            ..Flags::default()
        };
        let afresh = |exclude: &[&str]| Plan::Run {
            start: Start::Submit {
                lookup: false,
                exclude: exclude.iter().map(|s| s.to_string()).collect(),
                since_ms: None,
            },
            forget_remote: true,
        };
        #[rustfmt::skip]
        let table: Vec<(RowRecord, Flags, Plan)> = vec![
            // A video, or one rendering: kept (and followed), or made again on request.
            (record(Ready, None, true, true, true, 1), none, Plan::Keep(Status::Ready)),
            (record(Ready, None, true, true, true, 1), rerender, afresh(&["p0", "p1"])),
            (record(Submitted, None, true, false, false, 1), none, poll(Some(20))),
            (record(Submitted, None, true, false, false, 1), rerender, afresh(&["p0", "p1"])),
            (record(Failed, Some(Download), true, true, false, 1), none, Plan::Keep(Status::Ready)),
            (record(Failed, Some(Download), true, true, false, 1), rerender, afresh(&["p0", "p1"])),
            // Never got a video: submitted afresh, whatever the failure.
            (record(Failed, Some(RenderFailed), true, false, false, 1), none, afresh(&["p0", "p1"])),
            (record(Failed, Some(Rejected), false, false, false, 1), none, afresh(&["p0"])),
            (record(Failed, Some(RenderTimeout), true, false, false, 1), none, afresh(&["p0", "p1"])),
            (record(Failed, Some(RetriesExhausted), false, false, false, 2), none, afresh(&["p0"])),
            // Invalid before, valid now; or caught while sending: as if unchanged.
            (record(Invalid, None, false, false, false, 0), none, submit(false, &["p0"], Some(10))),
            (record(Submitting, None, false, false, false, 1), none, submit(true, &["p0"], Some(10))),
        ];
        for (i, (r, flags, want)) in table.into_iter().enumerate() {
            assert_eq!(plan(&r, flags, true), want, "case {i}: {r:?} {flags:?}");
        }
    }
}
