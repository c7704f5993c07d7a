//! A typed client for DeepBrain's AI Studios API: v3 projects (create, export, get, list,
//! delete) and render progress, the account's avatars and workspaces, webhook bodies, v2
//! exports.
//!
//! The client knows the vendor's wire format and nothing of CSV or templates. Every call sends
//! one HTTP request (see [`Client`] for the token-refresh exception) and returns a typed answer
//! or an [`ApiError`] whose [`ErrorClass`] tells the caller what to do: retry (and whether the
//! server may already have acted), fail the row, or stop the run. Retries, rate limiting and
//! polling are the caller's (batchgen's dispatcher).
//!
//! Secrets are [`Secret`]s: they print as `***`, are scrubbed from every error text, and are
//! sent only in `Authorization` headers (marked sensitive) and the token request body.
//!
//! Wire format, as documented by the vendor:
//! - v3 (`/api/odin/v3/...`): `Authorization: <key or token>` (no `Bearer`); answers are
//!   `{"success":true,"data":{...}}` or `{"success":false,"error":{"code","msg"}}`, the latter
//!   possibly with HTTP 200.
//! - v2 (`/v2/...`, exports): `Authorization: Bearer <key>`; answers are bare objects/arrays.
//!
//! Layout: `client` (one method per call; `client/` holds the calls on existing projects and
//! the account, and the v2 exports), `config` and `credentials` (where and as whom), `token`
//! (the shared access token of an app id), `secret`, `segment` (ids in URL paths), `envelope`
//! and `lenient` (reading answers), `error` (an [`ApiError`] and its [`ErrorClass`]),
//! `retry_after`; the vendor's objects: `project`, `project_export`, `render_progress`,
//! `export` (v2), `account` (avatars, workspaces), `webhook` (the body posted when a render
//! ends).

mod account;
mod client;
mod config;
mod credentials;
mod envelope;
mod error;
mod export;
mod lenient;
mod project;
mod project_export;
mod render_progress;
mod retry_after;
mod secret;
mod segment;
mod token;
mod webhook;

pub use account::{Cloth, Label, Model, Workspace};
pub use client::Client;
pub use config::{CHINA_BASE_URL, ClientConfig, ClientError, DEFAULT_USER_AGENT, GLOBAL_BASE_URL};
pub use credentials::{Credentials, CredentialsError, ENV_API_KEY, ENV_APP_ID, ENV_USER_KEY};
pub use error::{ApiError, ApiErrorKind, Call, CodeClass, ErrorClass, Stage, classify_code};
pub use export::{Export, ExportRequest, ExportStatus, Watermark};
pub use project::{ProjectId, ProjectInfo, ProjectPage, ProjectQuery, ProjectState};
pub use project_export::{ProjectExport, Resolution, ResolutionError};
pub use render_progress::Progress;
pub use retry_after::{parse_reset, parse_retry_after};
pub use secret::Secret;
pub use segment::{SegmentError, check_segment};
pub use webhook::{WebhookEnd, WebhookPayload};
