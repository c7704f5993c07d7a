//! Projects: ids, states, the project record, and the list query and page.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::lenient::{boolean, count, field, id_string, kind_of, non_empty, number, text};
use crate::segment::{SegmentError, check_segment};

/// A project id as the vendor gives it (24 lowercase hex characters in practice; any string
/// that is a valid path segment is accepted). Checked on construction, so it can always be put
/// into a request path.
///
/// Serializes as a string; deserializes from a string or an integer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProjectId(String);

impl ProjectId {
    /// Checks and wraps an id: not empty, no `/`, not `.`/`..`, no control characters.
    pub fn new(id: impl Into<String>) -> Result<ProjectId, SegmentError> {
        let id = id.into();
        check_segment("project id", &id)?;
        Ok(ProjectId(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ProjectId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for ProjectId {
    type Err = SegmentError;
    fn from_str(s: &str) -> Result<ProjectId, SegmentError> {
        ProjectId::new(s)
    }
}

impl<'de> Deserialize<'de> for ProjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ProjectId, D::Error> {
        let v = Value::deserialize(d)?;
        let id = id_string(&v).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a project id (string or integer), found {}",
                kind_of(&v)
            ))
        })?;
        ProjectId::new(id).map_err(serde::de::Error::custom)
    }
}

/// A project's state as the project list and get calls report it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProjectState {
    /// Being rendered (also `processing`, `waiting`, `queued`, `pending`...).
    Rendering,
    /// Rendered; the video can be downloaded: `exported`, the vendor's word (also
    /// `completed`, `done`, `success`, `ready`...).
    Completed,
    /// The render failed (also `fail`, `error`).
    Failed,
    /// Saved without rendering (`isExport: false`).
    Draft,
    /// The answer had no state.
    Unknown,
    /// A state this client does not know, as sent.
    Other(String),
}

impl ProjectState {
    /// Reads a state word, case-insensitively, accepting common synonyms.
    pub fn parse(s: &str) -> ProjectState {
        match s.trim().to_ascii_lowercase().as_str() {
            "rendering" | "processing" | "progress" | "in_progress" | "inprogress"
            | "exporting" | "waiting" | "queued" | "pending" | "running" => ProjectState::Rendering,
            "exported" | "completed" | "complete" | "done" | "finished" | "success"
            | "succeeded" | "ready" => ProjectState::Completed,
            "failed" | "fail" | "failure" | "error" | "errored" => ProjectState::Failed,
            "draft" | "saved" => ProjectState::Draft,
            "" => ProjectState::Unknown,
            _ => ProjectState::Other(s.to_owned()),
        }
    }
}

/// One project as `GET /api/odin/v3/editor/project[/{id}]` describes it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ProjectInfo {
    /// The id.
    pub id: ProjectId,
    /// The name given at creation (the vendor's default is "Default Template").
    pub name: Option<String>,
    /// The state.
    pub state: ProjectState,
    /// Where the finished video can be downloaded, once there is one.
    pub download_url: Option<String>,
    /// Render progress 0..100, if the answer carries it.
    pub progress: Option<f64>,
    /// Creation time as the server wrote it, if given.
    pub created_at: Option<String>,
    /// Last change (an export counts) as the server wrote it, if given.
    pub updated_at: Option<String>,
    /// Whether the render's credits have been deducted (`creditSubstracted`, the vendor's
    /// spelling), if given. The amount comes only with the webhook (`credit`).
    pub credit_subtracted: Option<bool>,
    /// The server's task id of the current render (`backendTaskId`), if given.
    pub backend_task_id: Option<String>,
}

impl ProjectInfo {
    /// When the project last changed (an export counts), in milliseconds since the Unix
    /// epoch: `updatedAt` read as RFC 3339. `None` when absent or not such a time.
    pub fn updated_at_ms(&self) -> Option<u64> {
        self.updated_at
            .as_deref()
            .and_then(crate::export::parse_rfc3339_ms)
    }

    /// Reads one project object (`id` or `projectId`; `download_url` or `downloadUrl`;
    /// `state` or `status`). Unknown fields are ignored.
    pub(crate) fn from_value(v: &Value) -> Result<ProjectInfo, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("expected a project object, found {}", kind_of(v)))?;
        ProjectInfo::from_object(obj)
    }

    fn from_object(obj: &Map<String, Value>) -> Result<ProjectInfo, String> {
        let id = field(obj, &["id", "projectId", "project_id", "_id"])
            .and_then(id_string)
            .ok_or("the project has no id")?;
        let id = ProjectId::new(id).map_err(|e| e.to_string())?;
        Ok(ProjectInfo {
            id,
            name: field(obj, &["name", "projectName", "title"]).and_then(text),
            state: field(obj, &["state", "status"])
                .and_then(text)
                .map(|s| ProjectState::parse(&s))
                .unwrap_or(ProjectState::Unknown),
            download_url: field(obj, &["download_url", "downloadUrl"]).and_then(non_empty),
            progress: field(obj, &["progress"]).and_then(number),
            created_at: field(obj, &["createdAt", "created_at", "createDate", "created"])
                .and_then(text),
            updated_at: field(obj, &["updatedAt", "updated_at"]).and_then(text),
            credit_subtracted: field(
                obj,
                &["creditSubstracted", "creditSubtracted", "credit_subtracted"],
            )
            .and_then(boolean),
            backend_task_id: field(obj, &["backendTaskId", "backend_task_id"]).and_then(non_empty),
        })
    }
}

/// What to ask `GET /api/odin/v3/editor/project` for. All fields optional; absent ones are not
/// sent and the server's defaults apply.
///
/// ```
/// use batchgen_aistudios::ProjectQuery;
/// let q = ProjectQuery::named("row-17 welcome").limit(100);
/// assert_eq!(q.name.as_deref(), Some("row-17 welcome"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectQuery {
    /// Only projects with exactly this name. Not sent (the vendor defines no query
    /// parameters): [`Client::list_projects`](crate::Client::list_projects) filters the answer.
    pub name: Option<String>,
    /// Page number, sent as `page` when set (the vendor documents no paging; the sandbox
    /// ignores it and answers every exported project).
    pub page: Option<u32>,
    /// Page size, sent as `limit` when set (see `page`).
    pub limit: Option<u32>,
}

impl ProjectQuery {
    /// A query for projects with this name.
    pub fn named(name: impl Into<String>) -> ProjectQuery {
        ProjectQuery {
            name: Some(name.into()),
            ..ProjectQuery::default()
        }
    }

    /// Sets the page number.
    pub fn page(mut self, page: u32) -> ProjectQuery {
        self.page = Some(page);
        self
    }

    /// Sets the page size.
    pub fn limit(mut self, limit: u32) -> ProjectQuery {
        self.limit = Some(limit);
        self
    }
}

/// One page of the project list.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ProjectPage {
    /// The projects on this page, in the server's order (newest first in the sandbox).
    pub projects: Vec<ProjectInfo>,
    /// How many projects match in all, if the server says.
    pub total: Option<u64>,
    /// This page's number, if the server says.
    pub page: Option<u64>,
    /// The page size used, if the server says.
    pub limit: Option<u64>,
}

impl ProjectPage {
    /// Reads a list answer's data: a bare array, or an object whose `projects`, `items`,
    /// `list`, `content`, `rows` or `data` field is the array.
    pub(crate) fn from_value(v: &Value) -> Result<ProjectPage, String> {
        let (items, obj) = match v {
            Value::Array(items) => (items, None),
            Value::Object(obj) => {
                let items = field(
                    obj,
                    &["projects", "items", "list", "content", "rows", "data"],
                )
                .and_then(Value::as_array)
                .ok_or("the list answer has no array of projects")?;
                (items, Some(obj))
            }
            other => return Err(format!("expected a project list, found {}", kind_of(other))),
        };
        let projects = items
            .iter()
            .enumerate()
            .map(|(i, p)| ProjectInfo::from_value(p).map_err(|e| format!("project {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let num = |names: &[&str]| obj.and_then(|o| field(o, names)).and_then(count);
        Ok(ProjectPage {
            projects,
            total: num(&["total", "totalCount", "total_count", "count"]),
            page: num(&["page", "pageNumber", "page_number"]),
            limit: num(&["limit", "size", "pageSize", "page_size"]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn project_ids() {
        let id: ProjectId = serde_json::from_value(json!("65f1c0ffee0123456789abcd")).unwrap();
        assert_eq!(id.as_str(), "65f1c0ffee0123456789abcd");
        let id: ProjectId = serde_json::from_value(json!(12345)).unwrap();
        assert_eq!(id.to_string(), "12345");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"12345\"");
        assert!(serde_json::from_value::<ProjectId>(json!("a/b")).is_err());
        assert!(serde_json::from_value::<ProjectId>(json!(null)).is_err());
        assert!("".parse::<ProjectId>().is_err());
    }

    #[test]
    fn states() {
        assert_eq!(ProjectState::parse("rendering"), ProjectState::Rendering);
        assert_eq!(ProjectState::parse("COMPLETED"), ProjectState::Completed);
        assert_eq!(ProjectState::parse("exported"), ProjectState::Completed);
        assert_eq!(ProjectState::parse("failed"), ProjectState::Failed);
        assert_eq!(ProjectState::parse("draft"), ProjectState::Draft);
        assert_eq!(
            ProjectState::parse("weird"),
            ProjectState::Other("weird".into())
        );
    }

    #[test]
    fn project_info_variants() {
        let p = ProjectInfo::from_value(&json!({
            "id": "65f1c0ffee0123456789abcd", "name": "row-1", "state": "completed",
            "download_url": "http://x/downloads/65f1.mp4", "progress": 100,
            "createdAt": "2025-01-01T00:00:00Z", "extra": {"ignored": true}
        }))
        .unwrap();
        assert_eq!(p.id.as_str(), "65f1c0ffee0123456789abcd");
        assert_eq!(p.name.as_deref(), Some("row-1"));
        assert_eq!(p.state, ProjectState::Completed);
        assert_eq!(
            p.download_url.as_deref(),
            Some("http://x/downloads/65f1.mp4")
        );
        assert_eq!(p.progress, Some(100.0));
        assert_eq!(p.created_at.as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(p.credit_subtracted, None);

        let p = ProjectInfo::from_value(&json!({
            "_id": "65f1c0ffee0123456789abcd", "state": "exported", "progress": 100,
            "creditSubstracted": true, "backendTaskId": "t-1", "updatedAt": "2025-01-02T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(p.state, ProjectState::Completed);
        assert_eq!(p.credit_subtracted, Some(true));
        assert_eq!(p.backend_task_id.as_deref(), Some("t-1"));
        assert_eq!(p.updated_at.as_deref(), Some("2025-01-02T00:00:00Z"));

        let p = ProjectInfo::from_value(
            &json!({"projectId": 77, "status": "processing", "downloadUrl": ""}),
        )
        .unwrap();
        assert_eq!(p.id.as_str(), "77");
        assert_eq!(p.state, ProjectState::Rendering);
        assert_eq!(p.download_url, None);
        assert_eq!(p.name, None);

        assert!(ProjectInfo::from_value(&json!({"name": "no id"})).is_err());
        assert!(ProjectInfo::from_value(&json!("abc")).is_err());
    }

    #[test]
    fn list_shapes() {
        let one = json!({"id": "a1", "name": "n", "state": "rendering", "download_url": null});
        let page = ProjectPage::from_value(
            &json!({"projects": [one], "total": 41, "page": 2, "limit": 20}),
        )
        .unwrap();
        assert_eq!(page.projects.len(), 1);
        assert_eq!(
            (page.total, page.page, page.limit),
            (Some(41), Some(2), Some(20))
        );
        for shape in [
            json!([one]),
            json!({"items": [one]}),
            json!({"list": [one], "totalCount": "1"}),
        ] {
            let page = ProjectPage::from_value(&shape).unwrap();
            assert_eq!(page.projects[0].id.as_str(), "a1", "{shape}");
        }
        assert!(ProjectPage::from_value(&json!({"total": 0})).is_err());
        assert!(ProjectPage::from_value(&json!({"projects": [{"name": "x"}]})).is_err());
        assert!(ProjectPage::from_value(&json!(3)).is_err());
        let empty = ProjectPage::from_value(&json!({"projects": []})).unwrap();
        assert!(empty.projects.is_empty());
    }
}
