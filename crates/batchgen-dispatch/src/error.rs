//! [`EngineError`]: what stops a run other than its rows (which fail one by one, into the
//! manifest) and refused credentials (an [`End`](crate::End) of its own).

use std::path::PathBuf;

use crate::journal::JournalError;

/// `e` and each of its causes, after ": ": the one line a row's `error` (journal, manifest)
/// keeps of an error, since such an error is kept as text.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A failure of the run itself: its files could not be kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The journal could not be written: nothing more can be done safely.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The manifest could not be written.
    #[error("write the manifest in {}", .dir.display())]
    Manifest {
        /// The output directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The download client could not be set up.
    #[error(transparent)]
    Download(#[from] crate::download::DownloadError),
}
