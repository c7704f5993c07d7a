//! The v3 calls on existing projects and on the account (1.5.x+ pages): export a project,
//! delete projects, the avatar and workspace lists.

use reqwest::Method;
use serde_json::Value;

use super::{Api, Client, refuses_credentials};
use crate::account::{Model, Workspace, models_from_value, workspaces_from_value};
use crate::error::{ApiError, ApiErrorKind, Call};
use crate::lenient::{count, field, id_string, kind_of};
use crate::project::ProjectId;
use crate::project_export::ProjectExport;

impl Client {
    /// `POST /api/odin/v3/editor/project/export`: starts the render of an existing project
    /// (a draft made with `isExport: false`, or one made in the vendor's editor) and returns
    /// the id the answer names (`data.projectId`, the same project). Follow it with
    /// [`Client::progress`] or [`Client::get_project`].
    ///
    /// Every export may start a paid render: the docs promise nothing about exporting a
    /// project twice (the sandbox renders and charges again). When the error is retryable
    /// with `maybe_applied: true`, look the project up with [`Client::get_project`] (a state
    /// other than draft means the export started) before sending it again.
    pub async fn export_project(&self, request: &ProjectExport) -> Result<ProjectId, ApiError> {
        let call = Call::ExportProject;
        check_export(request).map_err(|k| self.inner.error(call, k))?;
        let url = self.inner.url(
            Api::V3,
            &["api", "odin", "v3", "editor", "project", "export"],
        );
        let body = serde_json::to_vec(request).expect("an export request always serializes");
        let answer = self
            .inner
            .send(
                call,
                Api::V3,
                Method::POST,
                url,
                Some(body.into()),
                refuses_credentials,
            )
            .await?;
        let data = answer.v3_data().map_err(|k| self.inner.error(call, k))?;
        let id = match &data {
            Value::Object(obj) => {
                field(obj, &["projectId", "project_id", "id"]).and_then(id_string)
            }
            // Some answers carry no data at all: the project is the one asked for.
            Value::Null => Some(request.project_id.as_str().to_owned()),
            other => id_string(other),
        }
        .ok_or_else(|| format!("data.projectId is missing (data is {})", kind_of(&data)))
        .and_then(|id| ProjectId::new(id).map_err(|e| e.to_string()));
        id.map_err(|reason| self.inner.error(call, answer.decode(reason)))
    }

    /// `DELETE /api/odin/v3/editor/project` with `{"ids": [...]}`: deletes projects and
    /// returns how many the server deleted (`data.deletedCount`). An empty `ids` sends
    /// nothing and deletes nothing.
    pub async fn delete_projects(&self, ids: &[ProjectId]) -> Result<u64, ApiError> {
        let call = Call::DeleteProjects;
        if ids.is_empty() {
            return Ok(0);
        }
        let url = self
            .inner
            .url(Api::V3, &["api", "odin", "v3", "editor", "project"]);
        let body = serde_json::to_vec(&serde_json::json!({ "ids": ids }))
            .expect("a list of ids always serializes");
        let answer = self
            .inner
            .send(
                call,
                Api::V3,
                Method::DELETE,
                url,
                Some(body.into()),
                refuses_credentials,
            )
            .await?;
        let data = answer.v3_data().map_err(|k| self.inner.error(call, k))?;
        data.as_object()
            .and_then(|o| field(o, &["deletedCount", "deleted_count", "deleted"]))
            .and_then(count)
            .ok_or_else(|| {
                self.inner.error(
                    call,
                    answer.decode(format!(
                        "data.deletedCount is missing (data is {})",
                        kind_of(&data)
                    )),
                )
            })
    }

    /// `GET /api/odin/v3/model`: the account's avatars and the clothes each can wear
    /// (`model.ai_name` / `model.emotion` of an aiModel clip, `modelId` / `clothId` of a
    /// script).
    pub async fn models(&self) -> Result<Vec<Model>, ApiError> {
        let call = Call::ListModels;
        let data = self.get_v3(call, &["api", "odin", "v3", "model"]).await?;
        models_from_value(&data.0).map_err(|reason| self.inner.error(call, data.1.decode(reason)))
    }

    /// `GET /api/odin/v3/dropdown/workspaces`: the account's workspaces (`workspaceId` of a
    /// create or an export).
    pub async fn workspaces(&self) -> Result<Vec<Workspace>, ApiError> {
        let call = Call::ListWorkspaces;
        let data = self
            .get_v3(call, &["api", "odin", "v3", "dropdown", "workspaces"])
            .await?;
        workspaces_from_value(&data.0)
            .map_err(|reason| self.inner.error(call, data.1.decode(reason)))
    }

    /// One v3 GET: its `data` and the answer (for decode errors).
    async fn get_v3(
        &self,
        call: Call,
        segments: &[&str],
    ) -> Result<(Value, crate::envelope::Answer), ApiError> {
        let url = self.inner.url(Api::V3, segments);
        let answer = self
            .inner
            .send(call, Api::V3, Method::GET, url, None, refuses_credentials)
            .await?;
        let data = answer.v3_data().map_err(|k| self.inner.error(call, k))?;
        Ok((data, answer))
    }
}

/// Checks an export request before sending it.
pub(crate) fn check_export(request: &ProjectExport) -> Result<(), ApiErrorKind> {
    if let Some(url) = &request.webhook_url
        && !url.is_empty()
        && url::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
    {
        return Err(ApiErrorKind::InvalidRequest(format!(
            "webhook url {url:?} is not an absolute http(s) url"
        )));
    }
    Ok(())
}
