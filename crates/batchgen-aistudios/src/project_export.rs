//! The request of `POST /api/odin/v3/editor/project/export`.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::project::ProjectId;

/// Video quality, as the vendor documents it (`4k | 1080 | 720 | 480`, sent as a string;
/// the vendor's default is 1080).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Resolution {
    /// `"4k"`.
    #[serde(rename = "4k")]
    Uhd4k,
    /// `"1080"`.
    #[serde(rename = "1080")]
    P1080,
    /// `"720"`.
    #[serde(rename = "720")]
    P720,
    /// `"480"`.
    #[serde(rename = "480")]
    P480,
}

impl Resolution {
    /// The value sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Uhd4k => "4k",
            Resolution::P1080 => "1080",
            Resolution::P720 => "720",
            Resolution::P480 => "480",
        }
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resolution that is not one of the four documented ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse resolution {0:?}: expected one of 4k, 1080, 720, 480")]
pub struct ResolutionError(String);

impl FromStr for Resolution {
    type Err = ResolutionError;
    /// Reads `4k` (or `4K`, `2160`), `1080` (or `1080p`), `720`, `480`.
    fn from_str(s: &str) -> Result<Resolution, ResolutionError> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_suffix('p').unwrap_or(&t);
        Ok(match t {
            "4k" | "2160" => Resolution::Uhd4k,
            "1080" => Resolution::P1080,
            "720" => Resolution::P720,
            "480" => Resolution::P480,
            _ => return Err(ResolutionError(s.to_owned())),
        })
    }
}

/// What to export: `{"projectId", "workspaceId"?, "resolution"?, "webhookUrl"?}`; fields
/// left `None` are not sent, so the vendor's defaults apply.
///
/// ```
/// use batchgen_aistudios::{ProjectExport, ProjectId, Resolution};
/// let id = ProjectId::new("65fa6b07dca2e367461a2925").unwrap();
/// let req = ProjectExport::new(id).resolution(Resolution::P720);
/// assert_eq!(
///     serde_json::to_string(&req).unwrap(),
///     r#"{"projectId":"65fa6b07dca2e367461a2925","resolution":"720"}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProjectExport {
    /// The project to render.
    pub project_id: ProjectId,
    /// The workspace to export in ([`crate::Client::workspaces`] lists them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// Video quality.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// Where the vendor posts the result (an absolute http(s) URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

impl ProjectExport {
    /// An export of `project_id` with the vendor's defaults.
    pub fn new(project_id: ProjectId) -> ProjectExport {
        ProjectExport {
            project_id,
            workspace_id: None,
            resolution: None,
            webhook_url: None,
        }
    }

    /// Sets the workspace.
    pub fn workspace(mut self, id: impl Into<String>) -> ProjectExport {
        self.workspace_id = Some(id.into());
        self
    }

    /// Sets the resolution.
    pub fn resolution(mut self, r: Resolution) -> ProjectExport {
        self.resolution = Some(r);
        self
    }

    /// Sets the webhook URL.
    pub fn webhook_url(mut self, url: impl Into<String>) -> ProjectExport {
        self.webhook_url = Some(url.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_parse_and_serialize_as_strings() {
        for (s, r) in [
            ("4k", Resolution::Uhd4k),
            ("4K", Resolution::Uhd4k),
            ("1080", Resolution::P1080),
            ("1080p", Resolution::P1080),
            ("720", Resolution::P720),
            ("480", Resolution::P480),
        ] {
            assert_eq!(s.parse::<Resolution>().unwrap(), r, "{s}");
        }
        let e = "8k".parse::<Resolution>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "parse resolution \"8k\": expected one of 4k, 1080, 720, 480"
        );
        assert_eq!(
            serde_json::to_string(&Resolution::P1080).unwrap(),
            "\"1080\""
        );
    }

    #[test]
    fn unset_fields_are_not_sent() {
        let id = ProjectId::new("p1").unwrap();
        let full = ProjectExport::new(id.clone())
            .workspace("w")
            .resolution(Resolution::Uhd4k)
            .webhook_url("https://h/x");
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            r#"{"projectId":"p1","workspaceId":"w","resolution":"4k","webhookUrl":"https://h/x"}"#
        );
        assert_eq!(
            serde_json::to_string(&ProjectExport::new(id)).unwrap(),
            r#"{"projectId":"p1"}"#
        );
    }
}
