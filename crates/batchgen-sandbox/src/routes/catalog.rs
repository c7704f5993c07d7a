//! API v3 account lists: avatars (`/model`, `/dropdown/models`) and workspaces.

use std::sync::Arc;
use tokio::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::auth;
use crate::catalog;
use crate::envelope::{ApiError, ok};
use crate::state::Shared;

/// `GET /api/odin/v3/model`: `{"models": [{id, label{ko,en}, thumbnail, clothes[]}]}`.
pub(crate) async fn models(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::check_v3(&s, &headers, Instant::now())?;
    Ok(ok(catalog::model_list()))
}

/// `GET /api/odin/v3/dropdown/models`: `[{id, label, avatarType}]`.
pub(crate) async fn model_dropdown(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::check_v3(&s, &headers, Instant::now())?;
    Ok(ok(catalog::model_dropdown()))
}

/// `GET /api/odin/v3/dropdown/workspaces`: `[{workspaceId, workspaceName}]`.
pub(crate) async fn workspaces(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::check_v3(&s, &headers, Instant::now())?;
    Ok(ok(catalog::workspace_list()))
}
