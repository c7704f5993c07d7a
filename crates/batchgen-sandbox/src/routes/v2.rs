//! API v2 exports, exactly the paths of `reference/aistudios-v2-exports.txt` under `/v2`.
//!
//! Answers are the bare export object (or an array of them), no envelope. Errors use
//! the v3 error envelope `{"success":false,"error":{"code","msg"}}` with the HTTP status.

use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::auth;
use crate::envelope::ApiError;
use crate::export::Export;
use crate::project::{ProjectId, folder_name, parse_folder};
use crate::routes::v3::{is_absolute_http_url, parse_json, violations_message};
use crate::state::Shared;
use crate::stats::bump;

/// Checks the optional `watermark` of a create body; an empty body is no watermark.
fn check_body(body: &[u8]) -> Result<(), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let json = parse_json(body)?;
    let Some(obj) = json.as_object() else {
        return Err(ApiError::bad_request("(document): expected a JSON object"));
    };
    let wm = match obj.get("watermark") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(wm)) => wm,
        Some(_) => return Err(ApiError::bad_request("/watermark: expected an object")),
    };
    let mut problems = Vec::new();
    match wm.get("src_url") {
        Some(Value::String(s)) if is_absolute_http_url(s) => {}
        Some(_) => problems.push((
            "/watermark/src_url".to_owned(),
            "expected an absolute http(s) URL".to_owned(),
        )),
        None => problems.push((
            "/watermark/src_url".to_owned(),
            "is required: the URL of the watermark image".to_owned(),
        )),
    }
    for pos in ["pos_x", "pos_y"] {
        match wm.get(pos) {
            None => {}
            Some(v) if v.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)) => {}
            Some(_) => problems.push((
                format!("/watermark/{pos}"),
                "expected a number between 0 and 1".to_owned(),
            )),
        }
    }
    match wm.get("scale") {
        None => {}
        Some(v) if v.as_f64().is_some_and(|x| x > 0.0) => {}
        Some(_) => problems.push((
            "/watermark/scale".to_owned(),
            "expected a number greater than 0".to_owned(),
        )),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request(violations_message(&problems)))
    }
}

/// The project an export path names: `folder` is `None` for the direct routes.
/// Folder and project must match, or it is a 404.
fn find_project(
    s: &Shared,
    folder: Option<&str>,
    project_id: &str,
) -> Result<(ProjectId, Box<str>, Option<u32>), ApiError> {
    let not_found = || match folder {
        Some(f) => ApiError::not_found(format!(
            "no project {project_id} in folder {f}; check both ids"
        )),
        None => ApiError::not_found(format!(
            "no project {project_id} outside a folder; for a project in a folder use /v2/projects/{{folder_id}}/{{project_id}}/exports"
        )),
    };
    let wanted_folder = match folder {
        Some(f) => Some(parse_folder(f).ok_or_else(not_found)?),
        None => None,
    };
    let projects = s.projects.read().unwrap_or_else(|p| p.into_inner());
    let p = projects.get(project_id).ok_or_else(not_found)?;
    if p.folder != wanted_folder {
        return Err(not_found());
    }
    Ok((p.id, p.name.clone(), p.folder))
}

fn create(
    s: &Shared,
    headers: &HeaderMap,
    folder: Option<&str>,
    project_id: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let now = Instant::now();
    auth::check_v2(s, headers, now)?;
    let (pid, name, folder) = find_project(s, folder, project_id)?;
    check_body(body)?;
    let render = s.draw_render(now, SystemTime::now());
    let mut exports = s.exports.write().unwrap_or_else(|p| p.into_inner());
    let e = Export {
        number: exports.next_number(),
        project_id: pid,
        folder,
        name,
        render,
    };
    let answer = e.to_json(now, &s.base_url);
    exports.push(e);
    bump(&s.counters.exports);
    Ok(Json(answer).into_response())
}

fn status(
    s: &Shared,
    headers: &HeaderMap,
    folder: Option<&str>,
    project_id: &str,
    export_id: &str,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    auth::check_v2(s, headers, now)?;
    let (pid, _, _) = find_project(s, folder, project_id)?;
    let exports = s.exports.read().unwrap_or_else(|p| p.into_inner());
    match exports.get(export_id) {
        Some(e) if e.project_id == pid => Ok(Json(e.to_json(now, &s.base_url)).into_response()),
        _ => Err(ApiError::not_found(format!(
            "no export {export_id} for project {project_id}; check the id the create call returned"
        ))),
    }
}

/// `POST /v2/projects/{folder_id}/{project_id}/exports`.
pub(crate) async fn create_in_folder(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((folder_id, project_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::unreadable_body)?;
    create(&s, &headers, Some(&folder_id), &project_id, &body)
}

/// `POST /v2/projects/{project_id}/exports`.
pub(crate) async fn create_direct(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::unreadable_body)?;
    create(&s, &headers, None, &project_id, &body)
}

/// `GET /v2/projects/{folder_id}/{project_id}/exports/{export_id}`.
pub(crate) async fn status_in_folder(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((folder_id, project_id, export_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    status(&s, &headers, Some(&folder_id), &project_id, &export_id)
}

/// `GET /v2/projects/{project_id}/exports/{export_id}`.
pub(crate) async fn status_direct(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project_id, export_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    status(&s, &headers, None, &project_id, &export_id)
}

/// `GET /v2/exports?folder_id=&project_id=`: every export matching both filters, oldest first.
pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    auth::check_v2(&s, &headers, now)?;
    let (mut folder, mut project) = (None, None);
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "folder_id" => folder = Some(v.into_owned()),
            "project_id" => project = Some(v.into_owned()),
            _ => {}
        }
    }
    let exports = s.exports.read().unwrap_or_else(|p| p.into_inner());
    let items: Vec<Value> = exports
        .iter()
        .filter(|e| {
            folder
                .as_deref()
                .is_none_or(|f| e.folder.map(folder_name).as_deref() == Some(f))
        })
        .filter(|e| {
            project
                .as_deref()
                .is_none_or(|p| e.project_id.to_string() == p)
        })
        .map(|e| e.to_json(now, &s.base_url))
        .collect();
    Ok(Json(items).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_rules() {
        assert!(check_body(b"").is_ok());
        assert!(check_body(b"{}").is_ok());
        assert!(
            check_body(br#"{"watermark":{"src_url":"https://e.com/l.png","pos_x":0.5,"pos_y":0.5,"scale":1}}"#)
                .is_ok()
        );
        let e = check_body(br#"{"watermark":{"pos_x":0.5}}"#).unwrap_err();
        assert!(e.msg.contains("/watermark/src_url"), "{}", e.msg);
        let e = check_body(br#"{"watermark":{"src_url":"logo.png"}}"#).unwrap_err();
        assert!(
            e.msg.contains("/watermark/src_url: expected an absolute"),
            "{}",
            e.msg
        );
        let e = check_body(br#"{"watermark":{"src_url":"https://e.com/l.png","pos_y":1.5}}"#)
            .unwrap_err();
        assert!(e.msg.contains("/watermark/pos_y"), "{}", e.msg);
        let e = check_body(br#"{"watermark":{"src_url":"https://e.com/l.png","scale":0}}"#)
            .unwrap_err();
        assert!(e.msg.contains("/watermark/scale"), "{}", e.msg);
        let e = check_body(br#"{"watermark":{"src_url":"https://e.com/l.png",}}"#).unwrap_err();
        assert!(e.msg.contains("line 1"), "{}", e.msg);
    }
}
