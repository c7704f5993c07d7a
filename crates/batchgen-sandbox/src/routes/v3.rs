//! API v3: create a project, follow its progress, list and get projects, tokens.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rand::RngExt;
use serde_json::{Value, json};

use crate::auth;
use crate::clock::rfc3339;
use crate::envelope::{ApiError, ok};
use crate::project::{Phase, Project};
use crate::state::Shared;
use crate::stats::bump;

/// The name a project gets when the body has none, as the vendor documents.
pub(crate) const DEFAULT_NAME: &str = "Default Template";

/// How many violations a 400 lists before summing up the rest.
const MAX_LISTED: usize = 5;

/// Parses a request body as JSON, or says where it stops being JSON.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not valid JSON: {e}; send a JSON object"
        ))
    })
}

/// `pointer: message` for one problem, `(document)` for the whole document.
fn describe(pointer: &str, message: &str) -> String {
    if pointer.is_empty() {
        format!("(document): {message}")
    } else {
        format!("{pointer}: {message}")
    }
}

/// Joins problems into one 400 message, listing the first few.
pub(crate) fn violations_message(problems: &[(String, String)]) -> String {
    let mut msg = problems
        .iter()
        .take(MAX_LISTED)
        .map(|(p, m)| describe(p, m))
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > MAX_LISTED {
        msg.push_str(&format!("; and {} more", problems.len() - MAX_LISTED));
    }
    msg
}

/// Whether `s` is an absolute http(s) URL.
pub(crate) fn is_absolute_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// The fields the sandbox itself reads from a create body.
struct CreateFields {
    name: Option<String>,
    webhook_url: Option<String>,
    is_export: bool,
}

/// Checks the fields the sandbox acts on (beyond the core's schema); problems are
/// appended to `problems`.
fn read_fields(body: &Value, problems: &mut Vec<(String, String)>) -> CreateFields {
    let mut f = CreateFields {
        name: None,
        webhook_url: None,
        is_export: true,
    };
    let Some(obj) = body.as_object() else {
        problems.push((String::new(), "expected a JSON object".to_owned()));
        return f;
    };
    match obj.get("name") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => f.name = Some(s.clone()),
        Some(_) => problems.push(("/name".to_owned(), "expected a string".to_owned())),
    }
    match obj.get("webhookUrl") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) if is_absolute_http_url(s) => f.webhook_url = Some(s.clone()),
        Some(_) => problems.push((
            "/webhookUrl".to_owned(),
            "expected an absolute http(s) URL".to_owned(),
        )),
    }
    match obj.get("isExport") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => f.is_export = *b,
        Some(_) => problems.push(("/isExport".to_owned(), "expected a boolean".to_owned())),
    }
    f
}

/// `POST /api/odin/v3/editor/project`.
pub(crate) async fn create_project(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    auth::check_v3(&s, &headers, now)?;
    let body = body.map_err(ApiError::unreadable_body)?;
    let json = parse_json(&body)?;
    let mut problems: Vec<(String, String)> = batchgen_core::validate::validate_project(&json)
        .into_iter()
        .map(|v| (v.pointer, v.message))
        .collect();
    let fields = read_fields(&json, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::bad_request(violations_message(&problems)));
    }
    let body_hash = {
        let mut h = std::hash::DefaultHasher::new();
        body.hash(&mut h);
        h.finish()
    };
    let now_wall = SystemTime::now();
    let render = s.draw_render(now, now_wall);
    let (id, task_id) = {
        let mut ids = s.ids.lock().unwrap_or_else(|p| p.into_inner());
        (ids.project_id(now_wall), ids.task_id())
    };
    let explicit_name = fields.name.is_some();
    let project = Project {
        id,
        name: fields.name.as_deref().unwrap_or(DEFAULT_NAME).into(),
        render,
        webhook_url: fields.webhook_url.map(String::into_boxed_str),
        is_export: fields.is_export,
        task_id,
        folder: None,
    };
    let delivers_webhook = project.webhook_url.is_some() && project.is_export;
    let inserted = s
        .projects
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(project, Some(body_hash), explicit_name);
    bump(&s.counters.submissions);
    if inserted.duplicate_body {
        bump(&s.counters.duplicate_bodies);
    }
    if inserted.duplicate_name {
        bump(&s.counters.duplicate_names);
    }
    if delivers_webhook {
        s.webhooks.schedule(id, render.ends_at());
    }
    Ok(ok(json!({ "projectId": id.to_string() })))
}

/// `GET /api/odin/v3/editor/progress/{id}`.
///
/// Rendering: `{"progress": 42.5}`; done: `{"progress": 100, "downloadUrl": ...}`;
/// draft: `{"progress": 0}`; failed: HTTP 200 with
/// `{"success":false,"error":{"code":"RENDER_FAILED","msg":"render failed: <reason>"}}`.
pub(crate) async fn progress(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    auth::check_v3(&s, &headers, now)?;
    bump(&s.counters.polls);
    let projects = s.projects.read().unwrap_or_else(|p| p.into_inner());
    let p = projects.get(&id).ok_or_else(|| unknown_project(&id))?;
    Ok(match p.phase(now) {
        Phase::Completed => ok(json!({
            "progress": 100,
            "downloadUrl": download_url(&s, p),
        })),
        Phase::Failed { .. } => {
            let body = json!({
                "success": false,
                "error": {
                    "code": "RENDER_FAILED",
                    "msg": format!("render failed: {}", p.failure_reason()),
                }
            });
            axum::response::IntoResponse::into_response(axum::Json(body))
        }
        phase @ (Phase::Rendering { .. } | Phase::Draft) => {
            ok(json!({ "progress": phase.progress() }))
        }
    })
}

fn unknown_project(id: &str) -> ApiError {
    // The id is echoed only when it looks like one, so nothing odd is reflected back.
    if crate::project::ProjectId::parse(id).is_some() {
        ApiError::not_found(format!(
            "project {id} does not exist; check the projectId the create call returned"
        ))
    } else {
        ApiError::not_found("no project has that id; project ids are 24 lowercase hex characters")
    }
}

fn download_url(s: &Shared, p: &Project) -> String {
    format!("{}/downloads/{}.mp4", s.base_url, p.id)
}

/// `{id, name, state, download_url}` of the list.
fn summary(s: &Shared, p: &Project, now: Instant) -> Value {
    let phase = p.phase(now);
    json!({
        "id": p.id.to_string(),
        "name": p.name.as_ref(),
        "state": phase.state(),
        "download_url": (phase == Phase::Completed).then(|| download_url(s, p)),
    })
}

/// Reads a positive integer query parameter.
fn positive(name: &str, v: &str, max: Option<u64>) -> Result<u64, ApiError> {
    match v.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(max.map_or(n, |m| n.min(m))),
        _ => Err(ApiError::bad_request(format!(
            "query parameter {name}: expected a whole number of at least 1"
        ))),
    }
}

/// `GET /api/odin/v3/editor/project?name=&page=&limit=`: newest first.
pub(crate) async fn list_projects(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    auth::check_v3(&s, &headers, now)?;
    if !s.project_list {
        return Err(ApiError::not_found(
            "no such endpoint: GET /api/odin/v3/editor/project (the sandbox runs without the project list)",
        ));
    }
    let (mut name, mut page, mut limit) = (None, 1u64, 20u64);
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "name" => name = Some(v.into_owned()),
            "page" => page = positive("page", &v, None)?,
            "limit" => limit = positive("limit", &v, Some(100))?,
            _ => {}
        }
    }
    let projects = s.projects.read().unwrap_or_else(|p| p.into_inner());
    let matching = || {
        projects
            .newest_first()
            .filter(|p| name.as_deref().is_none_or(|n| n == p.name.as_ref()))
    };
    let total = matching().count();
    let skip = usize::try_from((page - 1).saturating_mul(limit)).unwrap_or(usize::MAX);
    let items: Vec<Value> = matching()
        .skip(skip)
        .take(limit as usize)
        .map(|p| summary(&s, p, now))
        .collect();
    Ok(ok(json!({
        "projects": items,
        "total": total,
        "page": page,
        "limit": limit,
    })))
}

/// `GET /api/odin/v3/editor/project/{id}`.
pub(crate) async fn get_project(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = Instant::now();
    auth::check_v3(&s, &headers, now)?;
    let projects = s.projects.read().unwrap_or_else(|p| p.into_inner());
    let p = projects.get(&id).ok_or_else(|| unknown_project(&id))?;
    let phase = p.phase(now);
    let mut v = summary(&s, p, now);
    v["progress"] = json!(phase.progress());
    v["createdAt"] = json!(rfc3339(p.render.started_at));
    Ok(ok(v))
}

/// `POST /api/odin/v3/auth/token` with `{"appId","userKey"}`.
pub(crate) async fn issue_token(
    State(s): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::unreadable_body)?;
    let json = parse_json(&body)?;
    let field = |name: &str| -> Result<String, ApiError> {
        match json.get(name) {
            Some(Value::String(v)) if !v.is_empty() => Ok(v.clone()),
            _ => Err(ApiError::bad_request(format!(
                "/{name}: expected a non-empty string"
            ))),
        }
    };
    let (app_id, user_key) = (field("appId")?, field("userKey")?);
    if app_id != s.app_id || user_key != s.user_key {
        return Err(ApiError::unauthorized(
            "appId or userKey is not valid; check the pair issued with your API key",
        ));
    }
    let token: String = {
        let bytes: [u8; 24] = rand::rng().random();
        hex::encode(bytes)
    };
    s.add_token(token.clone(), Instant::now());
    bump(&s.counters.tokens_issued);
    Ok(ok(json!({ "token": token })))
}

/// `GET /api/odin/v3/auth`: `{"isAuthenticated": bool}`, 200 either way.
pub(crate) async fn auth_status(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let yes = auth::is_authenticated_v3(&s, &headers, Instant::now());
    ok(json!({ "isAuthenticated": yes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_list_the_first_few_with_pointers() {
        let problems: Vec<(String, String)> = (0..7)
            .map(|i| (format!("/scenes/{i}"), "expected an object".to_owned()))
            .collect();
        let m = violations_message(&problems);
        assert!(
            m.starts_with("/scenes/0: expected an object; /scenes/1"),
            "{m}"
        );
        assert!(m.ends_with("; and 2 more"), "{m}");
        let root = violations_message(&[(String::new(), "expected a JSON object".to_owned())]);
        assert_eq!(root, "(document): expected a JSON object");
    }

    #[test]
    fn sandbox_fields_are_type_checked() {
        let mut problems = Vec::new();
        let f = read_fields(
            &json!({"name": "n", "webhookUrl": "https://h/x", "isExport": false}),
            &mut problems,
        );
        assert!(problems.is_empty());
        assert_eq!(f.name.as_deref(), Some("n"));
        assert_eq!(f.webhook_url.as_deref(), Some("https://h/x"));
        assert!(!f.is_export);
        read_fields(
            &json!({"name": 3, "webhookUrl": "/relative", "isExport": "yes"}),
            &mut problems,
        );
        let pointers: Vec<_> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(pointers, ["/name", "/webhookUrl", "/isExport"]);
    }

    #[test]
    fn bad_json_names_line_and_column() {
        let e = parse_json(b"{\n  \"a\": 1,\n}").unwrap_err();
        assert!(e.msg.contains("line 3 column 1"), "{}", e.msg);
    }
}
