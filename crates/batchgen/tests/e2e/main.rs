//! End-to-end tests of the `batchgen` binary: the real binary on real files, against the real
//! sandbox on loopback. One test binary (one link); a module per command and concern, and one
//! shared [`support`] module (the sandbox environment, generated inputs, the command lines).

mod support;

mod export_basic;
mod export_faults;
mod export_list;
mod export_resume;
mod export_v3;
mod incremental;
mod names;
mod render;
mod run_auth;
mod run_drafts;
mod run_faults;
mod run_lock;
mod run_models;
mod run_resume;
mod run_webhook;
mod sandbox_cli;
mod shard;
mod shared_budget;
mod snapshots;
mod spreadsheets;
mod store;
mod terminal;
