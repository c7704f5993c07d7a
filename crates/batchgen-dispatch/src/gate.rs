//! A check of every project before its first create, made with something the API tells once
//! per run — `batchgen run`'s avatar check against the account's model list is one.
//!
//! The engine loads the gate lazily: just before the run's first create (a row a journal
//! already finished never causes the request), with one request drawn from the run's budget.
//! Each project it is about to create is then put to [`CreateGate::refuse`]: a refused row ends
//! `invalid` with the reason, and is never sent. Loading may fail (the gate then says so once
//! and lets everything through); that is the gate's own business, not the engine's.

use std::fmt;
use std::sync::Arc;

use batchgen_aistudios::Client;

/// What [`CreateGate::load`] returns.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a gate does; see the module docs.
pub trait CreateGate: Send + Sync {
    /// Reads what the check needs with `client` (one request, made once per run before its
    /// first create). Never fails: a gate that cannot load lets every project through.
    fn load<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, ()>;
    /// Why the project `body` of row `row` (key `key`) must not be created, or `None`.
    fn refuse(&self, row: u64, key: &str, body: &[u8]) -> Option<String>;
}

/// A shared [`CreateGate`] in an [`crate::EngineConfig`].
#[derive(Clone)]
pub struct Gate(pub Arc<dyn CreateGate>);

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Gate(..)")
    }
}
