//! The sandbox's own errors: starting it, and parsing its textual options.
//!
//! Errors the sandbox *answers* to clients (400, 401, 429 ...) are not Rust errors: they
//! live in [`crate::envelope`].

use std::net::SocketAddr;

/// Why a sandbox could not start. Messages read after "failed to start the sandbox: ...".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The listening socket could not be bound.
    #[error("bind {addr} (pick another address or port; port 0 picks a free one)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The configuration cannot work (a share outside 0..1, a reversed range ...).
    #[error("use this configuration: {0}")]
    InvalidConfig(String),
    /// The HTTP client used for webhooks could not be built.
    #[error("build the webhook client: {0}")]
    WebhookClient(String),
}

/// A textual option (`200ms..2s`, `0.05`) that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse {input:?}: {reason}")]
pub struct ParseError {
    input: String,
    reason: &'static str,
}

impl ParseError {
    pub(crate) fn new(input: &str, reason: &'static str) -> Self {
        ParseError {
            input: input.to_owned(),
            reason,
        }
    }
}
