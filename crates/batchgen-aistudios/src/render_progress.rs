//! Render progress: `GET /api/odin/v3/editor/progress/{id}` read into [`Progress`].

use serde_json::Value;

use crate::error::ApiErrorKind;
use crate::lenient::{field, kind_of, non_empty, number, text};

/// Where a render stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// Still rendering; `percent` is 0..=100. A progress of 100 without a download URL is
    /// still `Rendering` (the vendor's own sample keeps polling until the URL is there).
    Rendering {
        /// Progress in percent, clamped to 0..=100.
        percent: f64,
    },
    /// Finished: the video is at `download_url`.
    Done {
        /// The finished video.
        download_url: String,
    },
    /// The render ended in failure. This is an answer, not an error: polling is over.
    Failed {
        /// The vendor's code (`RENDER_FAILED` in the sandbox) or the state word.
        code: String,
        /// The vendor's message.
        message: String,
    },
}

impl Progress {
    /// Whether polling is over (`Done` or `Failed`).
    pub fn is_finished(&self) -> bool {
        !matches!(self, Progress::Rendering { .. })
    }

    /// Reads the `data` of a `success:true` progress answer.
    ///
    /// In order: a `state`/`status` of `failed`/`fail`/`error` is `Failed`; a non-empty
    /// `downloadUrl` (or `download_url`) with `progress` ≥ 100 or absent is `Done`; a
    /// `progress` (number or numeric string) is `Rendering`; a state alone is `Rendering` at 0.
    /// Anything else cannot be read.
    pub(crate) fn from_data(data: &Value) -> Result<Progress, String> {
        let obj = data
            .as_object()
            .ok_or_else(|| format!("expected a progress object, found {}", kind_of(data)))?;
        let state = field(obj, &["state", "status"]).and_then(text);
        if let Some(state) = &state
            && matches!(
                state.trim().to_ascii_lowercase().as_str(),
                "failed" | "fail" | "failure" | "error" | "errored"
            )
        {
            let code = field(obj, &["errorCode", "error_code", "code"])
                .and_then(text)
                .unwrap_or_else(|| state.clone());
            let message = field(obj, &["msg", "message", "errorMessage", "error", "reason"])
                .and_then(text)
                .unwrap_or_else(|| format!("the render ended in state {state:?}"));
            return Ok(Progress::Failed { code, message });
        }
        let percent = match field(obj, &["progress", "percent"]) {
            Some(v) => Some(
                number(v)
                    .ok_or_else(|| format!("progress is {} that is not a number", kind_of(v)))?,
            ),
            None => None,
        };
        let url = field(obj, &["downloadUrl", "download_url"]).and_then(non_empty);
        match (percent, url) {
            (Some(p), Some(url)) if p >= 100.0 => Ok(Progress::Done { download_url: url }),
            (None, Some(url)) => Ok(Progress::Done { download_url: url }),
            (Some(p), _) => Ok(Progress::Rendering {
                percent: p.clamp(0.0, 100.0),
            }),
            (None, None) if state.is_some() => Ok(Progress::Rendering { percent: 0.0 }),
            (None, None) => Err("the progress answer has neither progress nor downloadUrl".into()),
        }
    }

    /// Whether a rejection is the server's way of saying "this render failed": a vendor code
    /// naming a failed render (`RENDER_FAILED`, or any code with `RENDER`/`SYNTHES` and
    /// `FAIL`/`ERROR`) in a 2xx or a 4xx other than 401/403/408/429.
    pub(crate) fn from_rejection(kind: &ApiErrorKind) -> Option<Progress> {
        let ApiErrorKind::Rejected {
            status,
            code: Some(code),
            message,
            ..
        } = kind
        else {
            return None;
        };
        let status_ok = (200..300).contains(status)
            || ((400..500).contains(status) && !matches!(status, 401 | 403 | 408 | 429));
        let c = code.to_ascii_uppercase();
        let render_failed = (c.contains("RENDER") || c.contains("SYNTHES"))
            && (c.contains("FAIL") || c.contains("ERROR"));
        (status_ok && render_failed).then(|| Progress::Failed {
            code: code.clone(),
            message: message.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Result<Progress, String> {
        Progress::from_data(&v)
    }

    #[test]
    fn rendering_variants() {
        assert_eq!(
            p(json!({"progress": 42.5})),
            Ok(Progress::Rendering { percent: 42.5 })
        );
        assert_eq!(
            p(json!({"progress": "42.5"})),
            Ok(Progress::Rendering { percent: 42.5 })
        );
        assert_eq!(
            p(json!({"progress": 0, "downloadUrl": null})),
            Ok(Progress::Rendering { percent: 0.0 })
        );
        assert_eq!(
            p(json!({"progress": 60, "downloadUrl": "http://x/v.mp4"})),
            Ok(Progress::Rendering { percent: 60.0 })
        );
        assert_eq!(
            p(json!({"progress": -3})),
            Ok(Progress::Rendering { percent: 0.0 })
        );
        assert_eq!(
            p(json!({"state": "rendering"})),
            Ok(Progress::Rendering { percent: 0.0 })
        );
    }

    #[test]
    fn hundred_without_url_is_still_rendering() {
        assert_eq!(
            p(json!({"progress": 100})),
            Ok(Progress::Rendering { percent: 100.0 })
        );
        assert_eq!(
            p(json!({"progress": "100", "downloadUrl": ""})),
            Ok(Progress::Rendering { percent: 100.0 })
        );
        assert_eq!(
            p(json!({"progress": 100.7})),
            Ok(Progress::Rendering { percent: 100.0 })
        );
    }

    #[test]
    fn done_variants() {
        let done = Ok(Progress::Done {
            download_url: "http://x/v.mp4".into(),
        });
        assert_eq!(
            p(json!({"progress": 100, "downloadUrl": "http://x/v.mp4"})),
            done
        );
        assert_eq!(
            p(json!({"progress": "100.0", "download_url": "http://x/v.mp4"})),
            done
        );
        assert_eq!(p(json!({"downloadUrl": "http://x/v.mp4"})), done);
        assert_eq!(
            p(json!({"progress": 100, "downloadUrl": "http://x/v.mp4", "other": 1})),
            done
        );
    }

    #[test]
    fn failed_state_fields() {
        assert_eq!(
            p(json!({"progress": 40, "state": "failed", "msg": "voice missing"})),
            Ok(Progress::Failed {
                code: "failed".into(),
                message: "voice missing".into()
            })
        );
        assert_eq!(
            p(json!({"status": "ERROR", "errorCode": "E42"})),
            Ok(Progress::Failed {
                code: "E42".into(),
                message: "the render ended in state \"ERROR\"".into()
            })
        );
    }

    #[test]
    fn unreadable_answers() {
        assert!(p(json!({})).is_err());
        assert!(p(json!({"progress": "soon"})).is_err());
        assert!(p(json!({"progress": [1]})).is_err());
        assert!(p(json!(null)).is_err());
        assert!(p(json!(55)).is_err());
    }

    fn rejection(status: u16, code: &str) -> ApiErrorKind {
        ApiErrorKind::Rejected {
            status,
            code: Some(code.into()),
            message: "render failed: lip sync".into(),
            retry_after: None,
        }
    }

    #[test]
    fn render_failed_rejection_is_an_answer() {
        assert_eq!(
            Progress::from_rejection(&rejection(200, "RENDER_FAILED")),
            Some(Progress::Failed {
                code: "RENDER_FAILED".into(),
                message: "render failed: lip sync".into()
            })
        );
        assert!(Progress::from_rejection(&rejection(400, "SYNTHESIS_ERROR")).is_some());
        assert_eq!(
            Progress::from_rejection(&rejection(200, "INVALID_PARAMETER")),
            None
        );
        assert_eq!(
            Progress::from_rejection(&rejection(500, "RENDER_FAILED")),
            None
        );
        assert_eq!(
            Progress::from_rejection(&rejection(401, "RENDER_FAILED")),
            None
        );
        assert_eq!(
            Progress::from_rejection(&ApiErrorKind::Transport {
                reason: "reset".into()
            }),
            None
        );
    }
}
