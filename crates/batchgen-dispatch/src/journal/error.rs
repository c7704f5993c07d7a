//! Why the journal could not be used.

use std::io;
use std::path::PathBuf;

use super::RunKind;

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A journal exists and `--resume` was not given.
    #[error(
        "start the run: {} already holds a run journal; add --resume to continue that run, or choose another --out",
        .path.display()
    )]
    Exists {
        /// The journal.
        path: PathBuf,
    },
    /// The journal was made from other inputs.
    #[error(
        "resume the run: {} was made from other inputs ({} changed); resuming would mix two runs, so use a new --out for these inputs",
        .path.display(), .changed.join(", ")
    )]
    Mismatch {
        /// The journal.
        path: PathBuf,
        /// The fingerprint entries that differ.
        changed: Vec<String>,
    },
    /// The journal was written by the other command (`run` versus `export`).
    #[error(
        "resume the run: {} is the journal of a `batchgen {}`, not of a `batchgen {}`; choose another --out for this command",
        .path.display(), .found.as_str(), .expected.as_str()
    )]
    OtherKind {
        /// The journal.
        path: PathBuf,
        /// The kind the journal records.
        found: RunKind,
        /// The kind this command writes.
        expected: RunKind,
    },
    /// The journal cannot be read.
    #[error("read the journal {}: line {line}: {reason}", .path.display())]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// The damaged line (1-based).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("write the journal {}: {source}", .path.display())]
    Io {
        /// The journal.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The writer stopped after an earlier failure.
    #[error("write the journal: the writer stopped after an earlier error: {0}")]
    WriterStopped(String),
}
