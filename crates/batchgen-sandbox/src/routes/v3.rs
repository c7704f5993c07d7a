//! API v3: create a project, follow its progress, list and get projects, tokens.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rand::RngExt;
use serde_json::{Value, json};

use crate::auth;
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

/// The resolutions the vendor documents.
pub(crate) const RESOLUTIONS: [&str; 4] = ["4k", "1080", "720", "480"];

/// Checks an optional `resolution` (a string, one of [`RESOLUTIONS`]); a problem is
/// appended unless one is already reported at `/resolution`.
pub(crate) fn check_resolution(v: Option<&Value>, problems: &mut Vec<(String, String)>) {
    if problems.iter().any(|(p, _)| p == "/resolution") {
        return;
    }
    let msg = match v {
        None | Some(Value::Null) => return,
        Some(Value::String(r)) if RESOLUTIONS.contains(&r.as_str()) => return,
        Some(Value::Number(n)) => format!(
            "expected one of \"4k\", \"1080\", \"720\", \"480\" as a string; quote it: \"{n}\""
        ),
        Some(_) => "expected one of \"4k\", \"1080\", \"720\", \"480\"".to_owned(),
    };
    problems.push(("/resolution".to_owned(), msg));
}

/// Checks an optional `workspaceId` against the account's workspaces.
pub(crate) fn check_workspace(v: Option<&Value>, problems: &mut Vec<(String, String)>) {
    match v {
        None | Some(Value::Null) => {}
        Some(Value::String(w)) if crate::catalog::has_workspace(w) => {}
        Some(Value::String(_)) => problems.push((
            "/workspaceId".to_owned(),
            "the account has no such workspace; GET /api/odin/v3/dropdown/workspaces lists yours"
                .to_owned(),
        )),
        Some(_) => problems.push(("/workspaceId".to_owned(), "expected a string".to_owned())),
    }
}

/// Reads an optional `webhookUrl`: absent, `null` or `""` is none.
pub(crate) fn read_webhook_url(
    v: Option<&Value>,
    problems: &mut Vec<(String, String)>,
) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if is_absolute_http_url(s) => Some(s.clone()),
        Some(_) => {
            problems.push((
                "/webhookUrl".to_owned(),
                "expected an absolute http(s) URL".to_owned(),
            ));
            None
        }
    }
}

/// The fields the sandbox itself reads from a create body.
struct CreateFields {
    name: Option<String>,
    orientation: Option<String>,
    webhook_url: Option<String>,
    is_export: bool,
}

/// Checks the fields the sandbox acts on (beyond the core's schema); problems are
/// appended to `problems`.
fn read_fields(body: &Value, problems: &mut Vec<(String, String)>) -> CreateFields {
    let mut f = CreateFields {
        name: None,
        orientation: None,
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
    if let Some(Value::String(o)) = obj.get("orientation") {
        f.orientation = Some(o.clone());
    }
    f.webhook_url = read_webhook_url(obj.get("webhookUrl"), problems);
    match obj.get("isExport") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => f.is_export = *b,
        Some(_) => problems.push(("/isExport".to_owned(), "expected a boolean".to_owned())),
    }
    check_resolution(obj.get("resolution"), problems);
    check_workspace(obj.get("workspaceId"), problems);
    crate::catalog::check_avatars(body, problems);
    f
}

/// A hash of a request body, to count byte-identical creates.
fn hash_body(body: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    body.hash(&mut h);
    h.finish()
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
    for rule in &s.vendor_rules {
        rule.check(&json, &mut problems);
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_request(violations_message(&problems)));
    }
    let body_hash = hash_body(&body);
    let now_wall = SystemTime::now();
    let render = fields.is_export.then(|| s.draw_render(now, now_wall));
    if let Some(r) = &render {
        s.render_slots
            .start(now, r.ends_at())
            .inspect_err(|_| bump(&s.counters.render_limit_refusals))?;
    }
    let (id, task_id) = {
        let mut ids = s.ids.lock().unwrap_or_else(|p| p.into_inner());
        (ids.project_id(now_wall), ids.task_id())
    };
    let explicit_name = fields.name.is_some();
    let project = Project {
        id,
        name: fields.name.as_deref().unwrap_or(DEFAULT_NAME).into(),
        orientation: fields.orientation.as_deref().unwrap_or("landscape").into(),
        scenes: json
            .get("scenes")
            .map_or_else(|| "[]".to_owned(), Value::to_string)
            .into(),
        created_at: now_wall,
        updated_at: now_wall,
        render,
        generation: u32::from(fields.is_export),
        webhook_url: fields.webhook_url.map(String::into_boxed_str),
        task_id,
        folder: None,
    };
    let webhook = project.webhook_url.is_some().then_some(render).flatten();
    let inserted = s
        .projects
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(project, Some(body_hash), explicit_name);
    bump(&s.counters.submissions);
    if !fields.is_export {
        bump(&s.counters.drafts);
    }
    if inserted.duplicate_body {
        bump(&s.counters.duplicate_bodies);
    }
    if inserted.duplicate_name {
        bump(&s.counters.duplicate_names);
    }
    if let Some(render) = webhook {
        s.webhooks.schedule(id, 1, render.ends_at());
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

pub(crate) fn unknown_project(id: &str) -> ApiError {
    // The id is echoed only when it looks like one, so nothing odd is reflected back.
    if crate::project::ProjectId::parse(id).is_some() {
        ApiError::not_found(format!(
            "project {id} does not exist; check the projectId the create call returned"
        ))
    } else {
        ApiError::not_found("no project has that id; project ids are 24 lowercase hex characters")
    }
}

pub(crate) fn download_url(s: &Shared, p: &Project) -> String {
    format!("{}/downloads/{}.mp4", s.base_url, p.id)
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
