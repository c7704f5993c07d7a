//! Integration tests: a real sandbox on an ephemeral loopback port, driven over HTTP
//! with reqwest. One test binary, a module per area.

mod common;

mod auth;
mod downloads;
mod editor;
mod faults;
mod lifecycle;
mod limits;
mod v2_exports;
mod v3_projects;
mod vendor_examples;
mod webhooks;
