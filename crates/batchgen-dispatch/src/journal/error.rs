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
    /// The journal was made with what cannot change within one run directory: another API
    /// (base URL, account) or another key column.
    #[error(
        "continue the run in {}: {}; a run directory keeps its API, account and key column, so use a new --out for these settings, or the ones of that run",
        .path.parent().unwrap_or(.path).display(), mismatch_why(.changed)
    )]
    Mismatch {
        /// The journal.
        path: PathBuf,
        /// The fingerprint entries that differ.
        changed: Vec<String>,
    },
    /// Another process runs in the directory (see [`super::lock`]).
    #[error(
        "start the run: {} is in use by another batchgen ({}); wait for it to end, or choose another --out",
        .dir.display(), .holder.as_deref().unwrap_or("a process that has not said which yet")
    )]
    Locked {
        /// The output directory.
        dir: PathBuf,
        /// What the holder wrote in the lock file: its pid and command.
        holder: Option<String>,
    },
    /// The journal was written by another command (`run`, `export`, `export --api v2`).
    #[error(
        "resume the run: {} is the journal of a `batchgen {}`, not of a `batchgen {}`; choose another --out for this command",
        .path.display(), .found.command(), .expected.command()
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
    #[error("write the journal {}", .path.display())]
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

/// Why each changed fingerprint entry cannot change within a run directory.
fn mismatch_why(changed: &[String]) -> String {
    changed
        .iter()
        .map(|name| match name.as_str() {
            "base_url" | "v2_base_url" => format!(
                "it was made against another API ({name} changed): its projects are there, and cannot be followed or reused from here"
            ),
            "account" => "it was made with another account: its projects are not this account's".to_owned(),
            "key" => "its rows are known by another key column (--key changed): every row would look new and be paid for again".to_owned(),
            other => format!("{other} changed"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
