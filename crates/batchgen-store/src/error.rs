//! Why the store could not be used.

use batchgen_dispatch::journal::RunKind;

/// Why the store could not be used. No message holds the store's password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or refused us (the driver's message, password scrubbed).
    #[error("reach the run store {url}: {message}")]
    Connect {
        /// The store's URL, password redacted.
        url: String,
        /// What the driver said.
        message: String,
    },
    /// A query failed (the driver's message, password scrubbed).
    #[error("use the run store {url}: {message}")]
    Query {
        /// The store's URL, password redacted.
        url: String,
        /// What the driver said.
        message: String,
    },
    /// The store has no run of that name (`batchgen status`).
    #[error(
        "read run {run:?} from the store {url}: no run of that name; give the --run of the `batchgen run` (default: its output directory's name)"
    )]
    NoRun {
        /// The store's URL, password redacted.
        url: String,
        /// The run's name.
        run: String,
    },
    /// The named run was made by the other command.
    #[error(
        "continue run {run:?} in the store {url}: it is a `batchgen {}` run, not a `batchgen {}` one; give another --run",
        .found.as_str(), .expected.as_str()
    )]
    OtherKind {
        /// The store's URL, password redacted.
        url: String,
        /// The run's name.
        run: String,
        /// What the store holds.
        found: RunKind,
        /// What this command writes.
        expected: RunKind,
    },
    /// The named run was made from inputs that cannot change within one run.
    #[error(
        "continue run {run:?} in the store {url}: {} changed since the run began (a run keeps its API, account and key column); give another --run for these settings, or the ones of that run",
        .changed.join(", ")
    )]
    Mismatch {
        /// The store's URL, password redacted.
        url: String,
        /// The run's name.
        run: String,
        /// The fingerprint entries that differ.
        changed: Vec<String>,
    },
    /// What the store holds cannot be read.
    #[error("read run {run:?} from the store {url}: {reason}")]
    Corrupt {
        /// The store's URL, password redacted.
        url: String,
        /// The run's name.
        run: String,
        /// What is wrong.
        reason: String,
    },
}
