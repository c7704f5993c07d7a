//! The run's counters: live counts the engine keeps and the CLI displays. No display code here.
//!
//! [`ProgressHandle::snapshot`] is cheap (a few atomic loads) and can be called as often as a
//! display refreshes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// What the run has done so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Rows received from the input so far.
    pub rows: u64,
    /// Rows that are invalid.
    pub invalid: u64,
    /// Rows already finished by an earlier run of the journal (skipped).
    pub skipped: u64,
    /// Rows in the submit phase now (sending, retrying or looking up).
    pub submitting: u64,
    /// Rows whose render is being followed now.
    pub rendering: u64,
    /// Rows whose video is being downloaded now.
    pub downloading: u64,
    /// Rows ready (the skipped ones that were ready included).
    pub ready: u64,
    /// Of those, rows an earlier run of the journal had made ready (kept, not made here).
    pub kept_ready: u64,
    /// Rows failed (the skipped ones that had failed included).
    pub failed: u64,
    /// Rows left `unknown`: a lost create may have made a project no lookup could find.
    pub unknown: u64,
    /// Videos downloaded in this run.
    pub downloaded: u64,
    /// API requests sent in this run (token fetches included).
    pub requests: u64,
    /// Create requests sent.
    pub creates: u64,
    /// Progress (or export status) requests sent.
    pub polls: u64,
    /// Lookups (after a lost answer, or on resume): by name for projects, by project and time
    /// for exports.
    pub lookups: u64,
    /// Remote objects found by a lookup and adopted instead of being sent again.
    pub recovered: u64,
    /// Renders ended by a webhook callback (not by a poll).
    pub webhooks: u64,
    /// Failed requests that were tried again.
    pub retries: u64,
    /// Answers that were 429 / rate limited.
    pub rate_limited: u64,
    /// Time since the engine started.
    #[serde(rename = "elapsed_secs", serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl Snapshot {
    /// Rows finished one way or another: ready, failed, invalid or unknown.
    pub fn done(&self) -> u64 {
        self.ready + self.failed + self.invalid + self.unknown
    }

    /// Videos made ready by this process (not kept from an earlier run).
    pub fn ready_here(&self) -> u64 {
        self.ready.saturating_sub(self.kept_ready)
    }

    /// API requests per second over the whole run so far.
    pub fn requests_per_second(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.requests as f64 / s
        } else {
            0.0
        }
    }
}

#[derive(Debug)]
pub(crate) struct Counters {
    started: Instant,
    pub rows: AtomicU64,
    pub invalid: AtomicU64,
    pub skipped: AtomicU64,
    pub submitting: AtomicU64,
    pub rendering: AtomicU64,
    pub downloading: AtomicU64,
    pub ready: AtomicU64,
    pub kept_ready: AtomicU64,
    pub failed: AtomicU64,
    pub unknown: AtomicU64,
    pub downloaded: AtomicU64,
    pub requests: AtomicU64,
    pub creates: AtomicU64,
    pub polls: AtomicU64,
    pub lookups: AtomicU64,
    pub recovered: AtomicU64,
    pub webhooks: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn dec(c: &AtomicU64) {
    c.fetch_sub(1, Ordering::Relaxed);
}

/// A shared view of a run's counters. Clones share them.
#[derive(Clone, Debug)]
pub struct ProgressHandle(pub(crate) Arc<Counters>);

impl ProgressHandle {
    pub(crate) fn new() -> ProgressHandle {
        ProgressHandle(Arc::new(Counters {
            started: Instant::now(),
            rows: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            submitting: AtomicU64::new(0),
            rendering: AtomicU64::new(0),
            downloading: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            kept_ready: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            downloaded: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            creates: AtomicU64::new(0),
            polls: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
            webhooks: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        }))
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        let c = &self.0;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            rows: g(&c.rows),
            invalid: g(&c.invalid),
            skipped: g(&c.skipped),
            submitting: g(&c.submitting),
            rendering: g(&c.rendering),
            downloading: g(&c.downloading),
            ready: g(&c.ready),
            kept_ready: g(&c.kept_ready),
            failed: g(&c.failed),
            unknown: g(&c.unknown),
            downloaded: g(&c.downloaded),
            requests: g(&c.requests),
            creates: g(&c.creates),
            polls: g(&c.polls),
            lookups: g(&c.lookups),
            recovered: g(&c.recovered),
            webhooks: g(&c.webhooks),
            retries: g(&c.retries),
            rate_limited: g(&c.rate_limited),
            elapsed: c.started.elapsed(),
        }
    }
}
