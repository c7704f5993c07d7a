//! The HTTP routes, one module per family.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::envelope::ApiError;
use crate::state::Shared;

pub(crate) mod admin;
pub(crate) mod catalog;
pub(crate) mod download;
pub(crate) mod editor;
pub(crate) mod v2;
pub(crate) mod v3;

/// Largest request body accepted (a project with many scenes is well under it).
pub(crate) const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Every route of the sandbox.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/odin/v3/auth/token", post(v3::issue_token))
        .route("/api/odin/v3/auth", get(v3::auth_status))
        .route(
            "/api/odin/v3/editor/project",
            post(v3::create_project)
                .get(editor::list_projects)
                .delete(editor::delete_projects),
        )
        .route(
            "/api/odin/v3/editor/project/export",
            post(editor::export_project),
        )
        .route("/api/odin/v3/editor/project/{id}", get(editor::get_project))
        .route("/api/odin/v3/model", get(catalog::models))
        .route("/api/odin/v3/dropdown/models", get(catalog::model_dropdown))
        .route("/api/odin/v3/dropdown/workspaces", get(catalog::workspaces))
        .route("/api/odin/v3/editor/progress/{id}", get(v3::progress))
        .route(
            "/v2/projects/{folder_id}/{project_id}/exports",
            post(v2::create_in_folder),
        )
        .route("/v2/projects/{project_id}/exports", post(v2::create_direct))
        .route(
            "/v2/projects/{folder_id}/{project_id}/exports/{export_id}",
            get(v2::status_in_folder),
        )
        .route(
            "/v2/projects/{project_id}/exports/{export_id}",
            get(v2::status_direct),
        )
        .route("/v2/exports", get(v2::list))
        .route("/downloads/{file}", get(download::download))
        .route("/__sandbox/stats", get(admin::stats))
        .route("/__sandbox/seeded", get(admin::seeded))
        .fallback(|| async {
            ApiError::not_found("no such endpoint; check the path against the API reference")
        })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}
