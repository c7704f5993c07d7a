//! # batchgen-store
//!
//! A batchgen run's state in PostgreSQL (`batchgen run --store postgres://…`), so that the run
//! outlives any one machine and several worker processes work on it together.
//!
//! **Why a crate of its own.** The engine (`batchgen-dispatch`) knows only its
//! [`Store`](batchgen_dispatch::store::Store) seam; the file journal behind it is the default
//! and needs no database driver. Keeping sqlx here means the core and the engine build, test
//! and embed without it, and only the binary (which wires `--store`) links it.
//!
//! **What the store holds** (migrations in `migrations/`, embedded and applied on open by
//! [`MIGRATOR`]; applying them again is a no-op):
//! - `batchgen_runs`: one row per run *name*, with the journal header (run id and tag, the
//!   fingerprint of what decides the projects, the command line with the store's password
//!   redacted, the webhook secret);
//! - `batchgen_events`: the run's journal events, each as a line of `journal.jsonl` would hold
//!   it, in the order they were recorded. A row's record is these events folded with
//!   [`Replay::apply`](batchgen_dispatch::journal::Replay::apply), exactly as a journal is
//!   replayed, so the resume plan's rules (lookups before resending, changed and removed
//!   rows) are the same for both;
//! - `batchgen_rows`: one claim per row: which worker holds it and until when.
//!
//! **A run is known by its name** (`--run NAME`, default the output directory's name, e.g.
//! `data` for `out/data/`), never by a digest of the CSV: the same command continues the same
//! run after rows are added, edited or removed. Its fingerprint (API, account, key column,
//! command kind) must match, as for a run directory.
//!
//! **Claims.** Before a worker starts a row, it claims it in one transaction: the claim row is
//! locked with `SELECT … FOR UPDATE SKIP LOCKED` (a row being claimed by another worker is
//! skipped, not waited for) and taken unless another worker holds a live lease on it. The
//! holder renews its leases every third of `--lease`; a `submitting` event is committed only
//! while the lease is live (the create is sent after the commit), so two workers never send
//! one row. A worker killed with `kill -9` stops renewing: once its leases run out, the others
//! take its rows, and a row it left in `submitting` is looked up first, never blindly sent
//! again. Rows are given back as their task ends.
//!
//! **Secrets.** The URL's password never reaches a log, an error, the manifest or the store:
//! [`StoreUrl`] redacts it when shown and scrubs it from the driver's messages; command lines
//! are recorded through [`redact`].

mod error;
mod pg;
mod url;
mod writer;

pub use error::StoreError;
pub use pg::{MIGRATOR, PgStore, RunSpec, Worker, connect, read_run};
pub use url::{StoreUrl, redact};

#[cfg(test)]
mod tests;
