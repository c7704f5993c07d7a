//! The ledger: every row's manifest entry, kept in memory and written to the manifest while
//! the run goes (every `manifest_every` while something changed, less often for a large one)
//! and at its end.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use std::collections::HashMap;

use crate::journal::{RowRecord, RowState};
use crate::manifest::{self, Entry, Layout, Status};

use super::Ctx;

#[derive(Default)]
pub(super) struct Ledger {
    pub(super) entries: Vec<Entry>,
    pub(super) dirty: bool,
}

impl Ctx {
    pub(super) fn push(&self, entry: Entry) -> usize {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        l.entries.push(entry);
        l.dirty = true;
        l.entries.len() - 1
    }

    pub(super) fn update(&self, idx: usize, f: impl FnOnce(&mut Entry)) {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut l.entries[idx]);
        l.dirty = true;
    }

    /// Entries still pending here (rows another worker held, with a shared store) take what
    /// `now` records of them.
    pub(super) fn refresh_pending(&self, now: &HashMap<String, RowRecord>) {
        let layout = self.config.layout;
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        for e in l.entries.iter_mut().filter(|e| e.status == Status::Pending) {
            let Some(r) = now.get(&e.key) else { continue };
            e.status = match r.state {
                RowState::Ready => Status::Ready,
                RowState::Failed => Status::Failed,
                RowState::Invalid => Status::Invalid,
                RowState::Unknown => Status::Unknown,
                RowState::Draft => Status::Draft,
                RowState::Submitting | RowState::Submitted => Status::Pending,
            };
            match layout {
                Layout::Projects => e.project_id.clone_from(&r.project_id),
                Layout::Exports => e.export_id.clone_from(&r.project_id),
            }
            e.download_url.clone_from(&r.download_url);
            e.file.clone_from(&r.file);
            e.attempts = r.attempts;
            e.credits = r.credits;
            e.error.clone_from(&r.error);
        }
        l.dirty = true;
    }

    /// The entries in row order, and whether they changed since the last snapshot.
    pub(super) fn snapshot_entries(&self) -> (Vec<Entry>, bool) {
        let mut l = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let dirty = std::mem::take(&mut l.dirty);
        let mut entries = l.entries.clone();
        drop(l);
        entries.sort_by_key(|e| e.row);
        (entries, dirty)
    }
}

/// A refresh that took `d` (the snapshot and the write, on the real clock) is followed by at
/// least `d × REFRESH_SPACING` before the next: the manifest is rewritten whole, so without
/// this a run of many rows would spend more and more of its time rewriting it (quadratic in
/// the rows); with it, refreshes take at most about 2 % of one core.
const REFRESH_SPACING: u32 = 50;

/// Rewrites the manifest every `manifest_every` (longer for a large one, see
/// [`REFRESH_SPACING`]) while something changed.
pub(super) async fn refresh_manifest(ctx: Arc<Ctx>, done: CancellationToken) {
    let mut wait = ctx.config.manifest_every;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = done.cancelled() => return,
        }
        let started = std::time::Instant::now();
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
        wait = ctx
            .config
            .manifest_every
            .max(started.elapsed().saturating_mul(REFRESH_SPACING));
    }
}
