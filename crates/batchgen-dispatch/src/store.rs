//! Where a run's state lives: the seam between the engine and its journal.
//!
//! The engine writes every state change through a [`Store`] and, when it continues a run,
//! starts each row from the [`RowRecord`] the store folds from those changes (the same
//! [`Replay::apply`](crate::journal::Replay::apply) fold for every store, so the resume plan's
//! rules hold whatever keeps the events). Two stores exist:
//!
//! - the file journal, [`Journal`] (`OUT/journal.jsonl`, the default): one process per run
//!   directory, every row of the input is that process's;
//! - a shared store (`batchgen-store`'s PostgreSQL store, `--store postgres://…`), used by
//!   several processes on one run at once. It also answers [`Store::shared`]: before a row is
//!   started, the engine [claims](SharedRows::claim) it (one worker holds a row at a time,
//!   under a lease the store renews while the row's task runs), the row starts from the record
//!   the store has *now* (another worker may have moved it on), and the claim is
//!   [released](SharedRows::release) when the task ends. Rows another worker holds are tried
//!   again every [`SharedRows::retry_every`] until each is finished or taken over.
//!
//! What the engine requires of any store: [`Store::record`] returns only once the event is
//! durable (the engine sends a create only after its `submitting` is); [`Store::record_later`]
//! keeps the order of events; a shared store refuses a `submitting` for a row this worker no
//! longer holds ([`JournalError::LeaseLost`]), so two workers never send one row.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::journal::{Event, Header, Journal, JournalError, RowRecord};

/// A store's answer, later.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, JournalError>> + Send + 'a>>;

/// Where a run's state lives (see the [module docs](self)).
pub trait Store: Send + Sync {
    /// The run's header: its id (and run tag), secret, fingerprint and kind.
    fn header(&self) -> &Header;
    /// Records `event`; resolves once it is durable.
    fn record(&self, event: Event) -> StoreFuture<'_, ()>;
    /// Records `event` without waiting (after every event recorded before it). A failure shows
    /// in the next [`Store::record`] and in [`Store::close`].
    fn record_later(&self, event: Event);
    /// Writes what is queued and stops writing; later records fail.
    fn close(&self) -> StoreFuture<'_, ()>;
    /// Row claims, when several processes share the run; `None` (the file journal): every row
    /// is this process's.
    fn shared(&self) -> Option<&dyn SharedRows> {
        None
    }
}

/// Row claims of a store shared by several worker processes.
pub trait SharedRows: Send + Sync {
    /// Claims row `key` (number `row`) for this worker: [`Claim::Taken`] with what the store
    /// knows of it now, or [`Claim::Held`] while another worker's lease on it is live.
    fn claim(&self, row: u64, key: &str) -> StoreFuture<'_, Claim>;
    /// Gives row `key` back (after every event recorded for it before), so that another
    /// worker may take it at once.
    fn release(&self, key: &str);
    /// Every row of the run as the store knows it now.
    fn rows(&self) -> StoreFuture<'_, HashMap<String, RowRecord>>;
    /// How long to wait before trying rows held by others again.
    fn retry_every(&self) -> Duration;
}

/// The answer to a [`SharedRows::claim`].
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// The row is this worker's until released: start it from this record (`None`: nothing
    /// happened to it yet).
    Taken(Option<Box<RowRecord>>),
    /// Another worker holds it under a live lease.
    Held,
}

impl Store for Journal {
    fn header(&self) -> &Header {
        Journal::header(self)
    }

    fn record(&self, event: Event) -> StoreFuture<'_, ()> {
        Box::pin(Journal::record(self, event))
    }

    fn record_later(&self, event: Event) {
        Journal::record_later(self, event);
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        let closed = Journal::close(self);
        Box::pin(async move { closed })
    }
}
