//! # batchgen-dispatch
//!
//! The engine behind `batchgen run`: it takes one job per CSV row, submits each to the AI
//! Studios API under one request budget, follows every render to its end, downloads the videos
//! if asked, and keeps a journal (so any run can be resumed) and a manifest (what became of
//! every row). It never inspects templates: the CLI renders rows with the core and feeds the
//! engine [`JobInput`]s through a bounded channel.
//!
//! One idea a module:
//! - [`budget`]: one GCRA request budget for every API call, shared `Retry-After` pause,
//!   submit-before-poll priority;
//! - [`adaptive`]: the `--rate auto` controller (AIMD on 429s with a remembered ceiling);
//! - [`concurrency`]: the bound on renders in progress, lowered when the vendor refuses;
//! - [`shared_budget`]: the same budget kept in Redis for every worker of one API key
//!   (`--shared-budget`): GCRA, pause and adaptive rate in one Lua script on the server's clock;
//! - [`retry`]: exponential backoff with full jitter; error class → action;
//! - [`poll`]: per-project polling schedule, aimed at the estimated end of the render;
//! - [`journal`]: its format (header, events, fingerprint), its replay (one record per row)
//!   and its writer (append + `fdatasync` with group commit);
//! - [`store`]: the seam between the engine and where the run's state lives (the file
//!   journal, or a store shared by several workers, which claims rows);
//! - [`manifest`]: atomic `manifest.csv` and `manifest.jsonl`;
//! - [`download`]: streamed, retried video downloads;
//! - [`job`]: the inputs, and the submit/poll/lookup calls of each [`JobKind`] (v3 projects
//!   for `batchgen run`, v2 exports for `batchgen export`);
//! - [`naming`]: the unique project name and per-row webhook URL, set by a top-level edit of
//!   the rendered body;
//! - `claims`: which remote objects the run's rows hold (export lookups adopt no other);
//! - [`engine`]: the run loop (task orchestration, cancellation), the resume plan (a pure
//!   function from a row's journaled state and the flags to where it starts), the row driver
//!   (submit, follow, download), the render times behind the lookup window (with its probe
//!   renders) and the ledger that refreshes the manifest;
//! - [`webhook`]: the webhook receiver and the per-row tokens, and [`webhook::callbacks`], the
//!   per-row slots a callback fills; a render ends on a callback or a poll, whichever first;
//! - [`lookup`]: when to look again for what a lost create may have made;
//! - [`error`]: what stops a run other than its rows;
//! - [`counters`]: the run's counters, for a display.
//!
//! **Project names.** A lost create answer (the server acted but the answer never came) is
//! recovered by listing projects by name, so every project needs a name no other project has:
//! the engine names each `"<project name> [<row key>] #<run tag>"` when it makes the row's job
//! ([`naming`]), the run tag being the first 6 hex characters of the run id in the journal
//! header. A project of another run with the same key is never adopted.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use batchgen_aistudios::{Client, ClientConfig, Credentials};
//! use batchgen_dispatch::{Budget, Engine, EngineConfig, JobInput, ProjectRow};
//! use batchgen_dispatch::journal::{Fingerprint, Journal, Opened};
//! use tokio_util::sync::CancellationToken;
//!
//! let client = Client::new(ClientConfig::new(Credentials::from_env()?))?;
//! let budget = Arc::new(Budget::new("5/s".parse()?));
//! let out = std::path::Path::new("out");
//! let fingerprint = Fingerprint::new().text("what", "demo");
//! let (journal, replay) = match Journal::open(out, fingerprint, vec![], Some(1), false)? {
//!     Opened::New(j) => (j, None),
//!     Opened::Resumed(j, r) => (j, Some(*r)),
//! };
//! let engine = Engine::new(EngineConfig::new(out, vec![]), client, budget, Arc::new(journal), replay);
//! let (tx, rx) = tokio::sync::mpsc::channel(64);
//! let body = r#"{"name":"demo","scenes":[]}"#; // sent as "demo [row-1] #<run tag>"
//! tx.send(JobInput::Project(ProjectRow {
//!     row: 1,
//!     key: "row-1".into(),
//!     file_stem: "row-1".into(),
//!     body: body.into(),
//!     inputs: vec![],
//! }))
//! .await?;
//! drop(tx);
//! let report = engine.run(rx, CancellationToken::new()).await?;
//! println!("{:?}: {} ready", report.end, report.statuses.ready);
//! # Ok(()) }
//! ```

pub mod adaptive;
pub mod budget;
mod claims;
pub mod concurrency;
pub mod counters;
pub mod download;
pub mod engine;
pub mod error;
pub mod gate;
pub mod job;
pub mod journal;
pub mod lookup;
pub mod manifest;
pub mod naming;
pub mod poll;
pub mod retry;
pub mod shared_budget;
pub mod store;
pub mod webhook;

pub use budget::{AcquireError, Budget, Priority, Rate, RateSetting};
pub use counters::{ProgressHandle, Snapshot};
pub use engine::{End, Engine, EngineConfig, Report, StatusCounts};
pub use error::EngineError;
pub use gate::{CreateGate, Gate};
pub use job::{ExportRow, Job, JobInput, JobKind, ProjectExportRow, ProjectFlags, ProjectRow};
pub use store::{Claim, SharedRows, Store};
pub use webhook::callbacks::Callbacks;
pub use webhook::{WebhookAuth, WebhookReceiver, WebhookUrls};
