//! `/__sandbox/*`: observability for tests. Never rate limited, never faulted.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use crate::state::{SeededProject, Shared};
use crate::stats::Stats;

/// `GET /__sandbox/stats`: the same numbers as [`Sandbox::stats`](crate::Sandbox::stats).
pub(crate) async fn stats(State(s): State<Arc<Shared>>) -> Json<Stats> {
    Json(s.stats())
}

/// `GET /__sandbox/seeded`: the projects made by `seed_projects(n)`, with their folders.
pub(crate) async fn seeded(State(s): State<Arc<Shared>>) -> Json<Vec<SeededProject>> {
    Json(s.seeded.clone())
}
