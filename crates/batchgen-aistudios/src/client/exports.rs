//! The v2 export calls of the seed page `aistudios-v2-exports.txt` (Bearer key, folders,
//! watermarks): start an export, read its state, list exports.

use reqwest::Method;

use super::{Api, Client, refuses_credentials};
use crate::error::{ApiError, ApiErrorKind, Call};
use crate::export::{Export, ExportRequest};
use crate::segment::check_segment;

impl Client {
    /// `POST /v2/projects/{folder_id}/{project_id}/exports`, or with `folder_id: None` the
    /// direct `POST /v2/projects/{project_id}/exports`: starts an export. The watermark is
    /// checked first (URL not empty, positions in 0..=1, scale above 0).
    pub async fn create_export(
        &self,
        folder_id: Option<&str>,
        project_id: &str,
        request: &ExportRequest,
    ) -> Result<Export, ApiError> {
        let call = Call::CreateExport;
        request
            .check()
            .map_err(|m| self.inner.error(call, ApiErrorKind::InvalidRequest(m)))?;
        let url = self.inner.export_url(call, folder_id, project_id, None)?;
        let body = serde_json::to_vec(request).expect("an export request always serializes");
        let answer = self
            .inner
            .send(
                call,
                Api::V2,
                Method::POST,
                url,
                Some(body.into()),
                refuses_credentials,
            )
            .await?;
        let data = answer.v2_data().map_err(|k| self.inner.error(call, k))?;
        Export::from_value(&data).map_err(|reason| self.inner.error(call, answer.decode(reason)))
    }

    /// `GET /v2/projects/{folder_id}/{project_id}/exports/{export_id}`, or with `folder_id:
    /// None` the direct `GET /v2/projects/{project_id}/exports/{export_id}`: an export's state.
    pub async fn export_status(
        &self,
        folder_id: Option<&str>,
        project_id: &str,
        export_id: &str,
    ) -> Result<Export, ApiError> {
        let call = Call::ExportStatus;
        let url = self
            .inner
            .export_url(call, folder_id, project_id, Some(export_id))?;
        let answer = self
            .inner
            .send(call, Api::V2, Method::GET, url, None, refuses_credentials)
            .await?;
        let data = answer.v2_data().map_err(|k| self.inner.error(call, k))?;
        Export::from_value(&data).map_err(|reason| self.inner.error(call, answer.decode(reason)))
    }

    /// `GET /v2/exports?folder_id=&project_id=`: the user's exports, optionally filtered.
    pub async fn list_exports(
        &self,
        folder_id: Option<&str>,
        project_id: Option<&str>,
    ) -> Result<Vec<Export>, ApiError> {
        let call = Call::ListExports;
        let mut url = self.inner.url(Api::V2, &["exports"]);
        for (name, what, value) in [
            ("folder_id", "folder id", folder_id),
            ("project_id", "project id", project_id),
        ] {
            if let Some(value) = value {
                check_segment(what, value).map_err(|e| self.inner.error(call, e.into()))?;
                url.query_pairs_mut().append_pair(name, value);
            }
        }
        let answer = self
            .inner
            .send(call, Api::V2, Method::GET, url, None, refuses_credentials)
            .await?;
        let data = answer.v2_data().map_err(|k| self.inner.error(call, k))?;
        Export::list_from_value(&data)
            .map_err(|reason| self.inner.error(call, answer.decode(reason)))
    }
}
