//! Counters for tests: what the sandbox saw and did, served at `GET /__sandbox/stats`
//! and by [`Sandbox::stats`](crate::Sandbox::stats).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use serde::{Deserialize, Serialize};

/// A snapshot of the sandbox's counters since it started.
///
/// "API call" means any request under `/api/` or `/v2/`; downloads and `/__sandbox/*`
/// are counted apart (`downloads`) or not at all.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// API calls received, whatever became of them (429s and injected faults included).
    pub requests: u64,
    /// `POST /api/odin/v3/editor/project` calls that created a project (lost answers included).
    pub submissions: u64,
    /// Creates with `isExport: false`: drafts saved without a render.
    pub drafts: u64,
    /// `POST /api/odin/v3/editor/project/export` calls that started a render.
    pub project_exports: u64,
    /// Renders started for a project that had been rendered (or was rendering) already:
    /// a second export, each charged again.
    pub repeat_exports: u64,
    /// Projects deleted through `DELETE /api/odin/v3/editor/project`.
    pub deleted: u64,
    /// Created projects whose body was byte-for-byte the same as an earlier one's.
    pub duplicate_bodies: u64,
    /// Created projects whose explicit `name` was already used by an earlier one
    /// (projects without a `name` are not counted).
    pub duplicate_names: u64,
    /// API calls answered 429 because the key's budget was spent.
    pub rate_limited: u64,
    /// Creates and exports refused with `CONCURRENT_RENDER_LIMIT` (`max_renders`).
    pub render_limit_refusals: u64,
    /// Renders in progress now (projects; v2 exports are not counted).
    pub renders_in_progress: u64,
    /// API calls answered with an injected 500/502/503.
    pub faults_500: u64,
    /// API calls whose connection was closed before handling.
    pub faults_dropped: u64,
    /// API calls handled and then left unanswered.
    pub faults_lost: u64,
    /// `GET /api/odin/v3/editor/progress/{id}` calls handled.
    pub polls: u64,
    /// Video downloads served (200 or 206).
    pub downloads: u64,
    /// Downloads whose connection was closed by `download_fail_probability`.
    pub downloads_dropped: u64,
    /// Most API calls received within any one-second span (sliding window).
    pub peak_requests_per_second: u64,
    /// Projects that exist (created through v3, plus seeded ones).
    pub projects: u64,
    /// Renders (v3 projects and v2 exports) that have ended in failure so far.
    pub renders_failed: u64,
    /// Renders (v3 projects and v2 exports) that have completed so far.
    pub renders_completed: u64,
    /// v2 exports created.
    pub exports: u64,
    /// Tokens issued by `/auth/token`.
    pub tokens_issued: u64,
    /// Webhook POSTs answered with a 2xx (second deliveries included).
    pub webhooks_sent: u64,
    /// Webhook deliveries given up after every attempt failed.
    pub webhooks_failed: u64,
    /// Webhook attempts that failed and were tried again later.
    pub webhooks_retried: u64,
    /// Webhook deliveries that were sent a second time on purpose (`webhook_duplicate_probability`).
    pub webhooks_duplicated: u64,
}

/// The live counters, shared by every connection. Lock-free except the peak window.
#[derive(Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub submissions: AtomicU64,
    pub drafts: AtomicU64,
    pub project_exports: AtomicU64,
    pub repeat_exports: AtomicU64,
    pub deleted: AtomicU64,
    pub duplicate_bodies: AtomicU64,
    pub duplicate_names: AtomicU64,
    pub rate_limited: AtomicU64,
    pub render_limit_refusals: AtomicU64,
    pub faults_500: AtomicU64,
    pub faults_dropped: AtomicU64,
    pub faults_lost: AtomicU64,
    pub polls: AtomicU64,
    pub downloads: AtomicU64,
    pub downloads_dropped: AtomicU64,
    pub exports: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub webhooks_sent: AtomicU64,
    pub webhooks_failed: AtomicU64,
    pub webhooks_retried: AtomicU64,
    pub webhooks_duplicated: AtomicU64,
    peak: Mutex<PeakWindow>,
}

/// Adds one to a counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Records one API call arriving now: counts it and updates the peak.
    pub fn record_request(&self, now: Instant) {
        bump(&self.requests);
        self.peak
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(now);
    }

    /// Snapshot of every counter; the caller fills in the render-derived numbers.
    pub fn snapshot(&self) -> Stats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            requests: g(&self.requests),
            submissions: g(&self.submissions),
            drafts: g(&self.drafts),
            project_exports: g(&self.project_exports),
            repeat_exports: g(&self.repeat_exports),
            deleted: g(&self.deleted),
            duplicate_bodies: g(&self.duplicate_bodies),
            duplicate_names: g(&self.duplicate_names),
            rate_limited: g(&self.rate_limited),
            render_limit_refusals: g(&self.render_limit_refusals),
            renders_in_progress: 0,
            faults_500: g(&self.faults_500),
            faults_dropped: g(&self.faults_dropped),
            faults_lost: g(&self.faults_lost),
            polls: g(&self.polls),
            downloads: g(&self.downloads),
            downloads_dropped: g(&self.downloads_dropped),
            peak_requests_per_second: self.peak.lock().unwrap_or_else(|p| p.into_inner()).peak,
            projects: 0,
            renders_failed: 0,
            renders_completed: 0,
            exports: g(&self.exports),
            tokens_issued: g(&self.tokens_issued),
            webhooks_sent: g(&self.webhooks_sent),
            webhooks_failed: g(&self.webhooks_failed),
            webhooks_retried: g(&self.webhooks_retried),
            webhooks_duplicated: g(&self.webhooks_duplicated),
        }
    }
}

/// The arrival times of the API calls of the last second, and the most ever seen at once.
/// Memory is bounded by the request rate (one `Instant` per call of the last second).
#[derive(Default)]
struct PeakWindow {
    recent: VecDeque<Instant>,
    peak: u64,
}

impl PeakWindow {
    fn record(&mut self, now: Instant) {
        while let Some(&first) = self.recent.front() {
            if now.saturating_duration_since(first) >= Duration::from_secs(1) {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        self.recent.push_back(now);
        self.peak = self.peak.max(self.recent.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_counts_the_busiest_second_span() {
        let mut w = PeakWindow::default();
        let t0 = Instant::now();
        // 3 calls within 0.5 s, then 2 more 1.2 s later (the first three have left the window).
        for ms in [0, 100, 500, 1700, 1800] {
            w.record(t0 + Duration::from_millis(ms));
        }
        assert_eq!(w.peak, 3);
        // A sliding window sees 4 calls in (0.9 s, 1.9 s] that fixed windows would split.
        let mut w = PeakWindow::default();
        for ms in [950, 990, 1010, 1050] {
            w.record(t0 + Duration::from_millis(ms));
        }
        assert_eq!(w.peak, 4);
    }

    #[test]
    fn snapshot_reads_counters() {
        let c = Counters::default();
        let now = Instant::now();
        c.record_request(now);
        c.record_request(now);
        bump(&c.polls);
        let s = c.snapshot();
        assert_eq!((s.requests, s.polls, s.peak_requests_per_second), (2, 1, 2));
    }
}
