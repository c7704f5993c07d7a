//! The run journal, `DIR/journal.jsonl`: what happened to every row, durable before the next
//! step depends on it, so a run can be resumed after anything (`kill -9`, a power cut).
//!
//! Line 1 is a [`Header`]: `{"batchgen_journal":1,"run_id","created_at","fingerprint","command","rows"}`.
//! Every further line is one [`Event`], e.g.
//! `{"event":"submitting","row":3,"key":"C1002","at":1718000000123}` before a create request is
//! sent and `{"event":"submitted","row":3,"key":"C1002","id":"65f…","at":…}` as soon as its
//! project id is known. Render progress is not journaled (too chatty).
//!
//! **Group commit.** One writer thread owns the file. Events from every task are queued; the
//! writer takes all that are waiting, writes them in one `write`, calls `fdatasync` once, and
//! then acknowledges each of them. A task that must not go on before its event is durable
//! (`submitting` before the POST) awaits [`Journal::record`]; others use
//! [`Journal::record_later`]: those are written at once (a crash of the process loses nothing)
//! and synced with the next awaited batch, or within [`LAZY_SYNC`] at the latest (a power cut
//! loses at most that much of them, and losing one costs only a repeated poll or download on
//! resume). One `fdatasync` per create instead of one per event is most of the journal's cost.
//!
//! **Replay** ([`Replay::read`]) folds the events into one [`RowRecord`] per key. A last line
//! cut short (a power cut during a write) is ignored with a warning and cut off before the
//! journal is appended to again; damage anywhere else is an error.
//!
//! **Fingerprint.** The header records a [`Fingerprint`] of what decides the projects and where
//! they go; a journal whose fingerprint differs from the current inputs is refused
//! ([`JournalError::Mismatch`]), never mixed.
//!
//! One idea a module: [`format`](mod@format) (the header, the events, the fingerprint: what a line
//! holds), [`replay`] (folding the lines into one record per row), [`writer`] (the open
//! journal: its writer thread, group commit, opening and taking over).

mod error;
pub mod format;
pub mod lock;
pub mod replay;
pub mod writer;

pub use error::JournalError;
pub use format::{
    Event, FailReason, Fingerprint, Header, JOURNAL_FILE, JOURNAL_VERSION, LAZY_SYNC, RunKind,
    RunSecret, now_ms,
};
pub use lock::{LOCK_FILE, RunLock};
pub use replay::{Replay, RowRecord, RowState};
pub use writer::{Journal, Opened};

#[cfg(test)]
mod tests;
