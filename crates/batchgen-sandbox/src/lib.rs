//! A local emulator of DeepBrain's AI Studios API, for tests, demos and
//! `batchgen run --sandbox`.
//!
//! The sandbox is a real HTTP server (hyper + axum on tokio) speaking the vendor's API as
//! documented: v3 project creation, progress, project list/get, tokens; v2 exports; a
//! "CDN" serving a real MP4 with range requests; webhooks on completion. It is faithful
//! where the vendor documents behaviour and hostile where real services are: a per-key
//! rate limit (which can change mid-run, with `Retry-After`, `RateLimit-*` or no hint at
//! all), a cap on renders in progress, server errors, dropped connections, lost answers,
//! latency, failed renders and duplicate webhooks, all off by default and all
//! deterministic under a seed.
//!
//! Renders are simulated from the clock: a project records its start and duration and
//! every answer computes its progress, so 10,000 renders in flight cost about 10 MiB and
//! no CPU while nobody polls (`examples/scale.rs` measures it).
//!
//! Every duration the sandbox keeps (renders, the rate limit and its schedule, tokens,
//! latency, webhook deliveries, the peak-rate window) is measured with `tokio::time::Instant`:
//! the same as std's in a real run, and paused time in a test that starts the sandbox on a
//! `#[tokio::test(start_paused = true)]` runtime, where a render of a minute takes no time
//! and a rate limit refills only when the test advances the clock. The times in answers
//! (`createdAt`, `RateLimit-Reset`'s date) stay on the wall clock.
//!
//! Layout: `server` (start, serve, stop), `routes/` (one module per family of calls),
//! `state` (what handlers share), `config` (what a sandbox is told to be), `auth` (who
//! calls), `project` and `export` (the stores), `catalog` (avatars, workspaces), `envelope`,
//! `clock` (time in answers); what makes it hostile: `budget` (the per-key rate limit),
//! `limits` (rate schedules, render caps), `faults`, `vendor_rules` (refusals the client
//! cannot foresee); `webhook` (deliveries), `stats` (counters for tests), `error`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use batchgen_sandbox::SandboxConfig;
//!
//! let sandbox = SandboxConfig::default()
//!     .rate_limit(10)
//!     .seed(7)
//!     .start("127.0.0.1:0".parse()?)
//!     .await?;
//! let client = reqwest::Client::new();
//! // Every create is checked with the core's schema and rules: no scenes is a 400
//! // whose message names the JSON Pointer ("/scenes: ...").
//! let answer = client
//!     .post(format!("{}/api/odin/v3/editor/project", sandbox.base_url()))
//!     .header("Authorization", sandbox.api_key())
//!     .body(r#"{"scenes":[]}"#)
//!     .send()
//!     .await?;
//! assert_eq!(answer.status(), 400);
//! assert_eq!(sandbox.stats().requests, 1);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! See `docs/sandbox.md` for every endpoint, fault and counter.

mod auth;
mod budget;
mod catalog;
mod clock;
mod config;
mod envelope;
mod error;
mod export;
mod faults;
mod limits;
mod project;
mod routes;
mod server;
mod state;
mod stats;
mod vendor_rules;
mod webhook;

pub use config::{
    DEFAULT_API_KEY, DEFAULT_APP_ID, DEFAULT_USER_KEY, SandboxConfig, parse_duration,
    parse_duration_range, parse_probability,
};
pub use error::{ParseError, SandboxError};
pub use limits::{LimitHeaders, RateSchedule};
pub use server::Sandbox;
pub use state::SeededProject;
pub use stats::Stats;
pub use vendor_rules::VendorRule;

/// The bytes every download serves: a 1-second 160x90 H.264/AAC MP4 (about 7 KB).
/// Tests can compare downloaded files against it.
pub fn sample_video() -> &'static [u8] {
    routes::download::SAMPLE_MP4
}
