//! API v3 on existing projects: export one, get one, list the exported ones, delete some.
//!
//! The answers follow the 1.6.x pages field for field: get-project wraps the project in
//! `data.project` with `_id`, `state`, `progress` (an integer), `creditSubstracted`,
//! `download_url` ...; the list holds only exported projects, and takes no query
//! parameters (the docs define none, so any sent are ignored).

use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use crate::auth;
use crate::clock::rfc3339;
use crate::envelope::{ApiError, ok};
use crate::project::{Phase, Project, format_task_id};
use crate::routes::v3::{
    check_resolution, check_workspace, download_url, parse_json, read_webhook_url, unknown_project,
    violations_message,
};
use crate::state::Shared;
use crate::stats::bump;

/// The owner every project reports (`project.userId`).
const USER_ID: &str = "user_sandbox";

/// `GET /api/odin/v3/editor/project`: `data` is an array of `{id, name, state,
/// download_url}` for the projects whose render is done (state `exported`), newest
/// first. Rendering, failed and draft projects are not listed (rendering and failed ones are
/// with `list_unexported`).
pub(crate) async fn list_projects(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    auth::check_v3(&s, &headers, now)?;
    if !s.project_list {
        return Err(ApiError::not_found(
            "no such endpoint: GET /api/odin/v3/editor/project (the sandbox runs without the project list)",
        ));
    }
    let projects = s.projects.read().unwrap_or_else(|p| p.into_inner());
    let items: Vec<Value> = projects
        .newest_first()
        .filter(|p| match p.phase(now) {
            Phase::Completed => true,
            Phase::Draft => false,
            Phase::Rendering { .. } | Phase::Failed { .. } => s.list_unexported,
        })
        .map(|p| {
            let phase = p.phase(now);
            json!({
                "id": p.id.to_string(),
                "name": p.name.as_ref(),
                "state": phase.state(),
                "download_url": (phase == Phase::Completed).then(|| download_url(&s, p)),
            })
        })
        .collect();
    Ok(ok(items))
}

/// `data.project` of get-project, every documented field present.
fn project_json(s: &Shared, p: &Project, now: Instant) -> Value {
    let phase = p.phase(now);
    let scenes: Value = serde_json::from_str(&p.scenes).unwrap_or_else(|_| json!([]));
    json!({
        "_id": p.id.to_string(),
        "name": p.name.as_ref(),
        "orientation": p.orientation.as_ref(),
        "scenes": scenes,
        "userId": USER_ID,
        "templateId": null,
        "state": phase.state(),
        "thumbnailUrl": null,
        "baseInfoId": p.id.to_string(),
        "dictionary": {},
        "backendTaskId": p.render.is_some().then(|| format_task_id(p.task_id)),
        "exportType": p.render.is_some().then_some("video"),
        "progress": phase.progress().floor() as u64,
        "creditSubstracted": phase == Phase::Completed,
        "createdAt": rfc3339(p.created_at),
        "updatedAt": rfc3339(p.updated_at),
        "download_url": (phase == Phase::Completed).then(|| download_url(s, p)),
    })
}

/// `GET /api/odin/v3/editor/project/{id}`: `{"project": {...}}`; unknown id: 404.
pub(crate) async fn get_project(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    auth::check_v3(&s, &headers, now)?;
    let projects = s.projects.read().unwrap_or_else(|p| p.into_inner());
    let p = projects.get(&id).ok_or_else(|| unknown_project(&id))?;
    Ok(ok(json!({ "project": project_json(&s, p, now) })))
}

/// `DELETE /api/odin/v3/editor/project` with `{"ids": [...]}`: `{"deletedCount": n}`.
/// Ids that name no project are not counted; a deleted project's render, webhook and
/// download are gone with it.
pub(crate) async fn delete_projects(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    auth::check_v3(&s, &headers, Instant::now())?;
    let body = body.map_err(ApiError::unreadable_body)?;
    let json = parse_json(&body)?;
    let ids = match json.get("ids") {
        Some(Value::Array(ids)) if !ids.is_empty() => ids,
        Some(Value::Array(_)) => {
            return Err(ApiError::bad_request(
                "/ids: the array is empty; give the ids of the projects to delete",
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                "/ids: expected an array of project ids, like {\"ids\": [\"<projectId>\"]}",
            ));
        }
    };
    let mut problems = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if !id.is_string() {
            problems.push((
                format!("/ids/{i}"),
                "expected a project id string".to_owned(),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_request(violations_message(&problems)));
    }
    let mut store = s.projects.write().unwrap_or_else(|p| p.into_inner());
    let deleted = ids
        .iter()
        .filter_map(Value::as_str)
        .filter(|id| store.remove(id))
        .count();
    drop(store);
    for _ in 0..deleted {
        bump(&s.counters.deleted);
    }
    Ok(ok(json!({ "deletedCount": deleted })))
}

/// `POST /api/odin/v3/editor/project/export` with `{projectId, workspaceId?, resolution?,
/// webhookUrl?}`: starts a render of an existing project and answers `{"projectId"}` (the
/// same id).
///
/// Every export starts a new render and costs its credits again: exporting a draft renders
/// it for the first time; exporting a project that is rendering restarts its render;
/// exporting one already exported renders (and charges) it once more. The docs promise no
/// idempotence, so the sandbox takes the reading that costs a careless client most, and
/// counts the second and later renders of a project in `repeat_exports`. The webhook of the
/// new render goes to this call's `webhookUrl` only (a create's does not carry over).
pub(crate) async fn export_project(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    auth::check_v3(&s, &headers, now)?;
    let body = body.map_err(ApiError::unreadable_body)?;
    let json = parse_json(&body)?;
    let Some(obj) = json.as_object() else {
        return Err(ApiError::bad_request(
            "(document): expected a JSON object like {\"projectId\": \"<id>\"}",
        ));
    };
    let mut problems = Vec::new();
    let id = match obj.get("projectId") {
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        _ => {
            problems.push((
                "/projectId".to_owned(),
                "expected the id of the project to export (a non-empty string)".to_owned(),
            ));
            None
        }
    };
    check_workspace(obj.get("workspaceId"), &mut problems);
    check_resolution(obj.get("resolution"), &mut problems);
    let webhook_url = read_webhook_url(obj.get("webhookUrl"), &mut problems);
    let (Some(id), true) = (id, problems.is_empty()) else {
        return Err(ApiError::bad_request(violations_message(&problems)));
    };
    let now_wall = SystemTime::now();
    let render = s.draw_render(now, now_wall);
    let mut store = s.projects.write().unwrap_or_else(|p| p.into_inner());
    let p = store.get_mut(&id).ok_or_else(|| unknown_project(&id))?;
    s.render_slots
        .start(now, render.ends_at())
        .inspect_err(|_| bump(&s.counters.render_limit_refusals))?;
    let task_id = s.ids.lock().unwrap_or_else(|p| p.into_inner()).task_id();
    let repeat = p.render.is_some();
    p.render = Some(render);
    p.generation += 1;
    p.task_id = task_id;
    p.updated_at = now_wall;
    p.webhook_url = webhook_url.map(String::into_boxed_str);
    let (pid, generation, webhook) = (p.id, p.generation, p.webhook_url.is_some());
    drop(store);
    bump(&s.counters.project_exports);
    if repeat {
        bump(&s.counters.repeat_exports);
    }
    if webhook {
        s.webhooks.schedule(pid, generation, render.ends_at());
    }
    Ok(ok(json!({ "projectId": pid.to_string() })))
}
