//! The body the vendor posts to a `webhookUrl` when a render ends.

use serde::Serialize;
use serde_json::Value;

/// A webhook body as the vendor documents it:
/// `{"progress":100,"credit":1,"backendTaskId":"…","download_url":"…"}`. `credit` and
/// `download_url` are "exposed if progress is 100"; a failed render's body has `progress`
/// below 100 and no (or a null) `download_url`.
///
/// ```
/// use batchgen_aistudios::{WebhookEnd, WebhookPayload};
/// let p = WebhookPayload::parse(
///     br#"{"progress":100,"credit":2,"backendTaskId":"t-1","download_url":"https://v/1.mp4"}"#,
/// )
/// .unwrap();
/// assert_eq!(p.credit, Some(2));
/// assert_eq!(
///     p.end().unwrap(),
///     WebhookEnd::Ready { download_url: "https://v/1.mp4".into(), credit: Some(2) }
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WebhookPayload {
    /// Progress, 0 to 100 (an integer on the wire; a numeric string is accepted).
    pub progress: f64,
    /// Credits the render used, given at progress 100.
    pub credit: Option<u64>,
    /// The server's task id (not the project id).
    pub backend_task_id: Option<String>,
    /// The video, given at progress 100 (`download_url`; `downloadUrl` is accepted).
    pub download_url: Option<String>,
}

/// How a render ended, as a webhook says.
#[derive(Clone, Debug, PartialEq)]
pub enum WebhookEnd {
    /// Rendered: the video and the credits it cost (when the body says).
    Ready {
        /// The video.
        download_url: String,
        /// Credits used.
        credit: Option<u64>,
    },
    /// The render failed at `progress`.
    Failed {
        /// Where it stopped (0 to 100).
        progress: f64,
    },
}

impl WebhookPayload {
    /// Reads a webhook body; the message says what is wrong with one that is not the
    /// documented payload.
    pub fn parse(body: &[u8]) -> Result<WebhookPayload, String> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        let obj = v.as_object().ok_or(
            "the body is not a JSON object like {\"progress\":100,\"download_url\":\"…\"}",
        )?;
        let progress = match obj.get("progress") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|p| p.is_finite())
        .ok_or("the body has no numeric \"progress\"")?;
        let download_url = match obj.get("download_url").or_else(|| obj.get("downloadUrl")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(_) => return Err("\"download_url\" is neither a string nor null".into()),
        };
        let credit =
            match obj.get("credit") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(|| {
                    format!("\"credit\" is {n}; expected a whole number of credits")
                })?),
                Some(Value::String(s)) => Some(s.trim().parse::<u64>().map_err(|_| {
                    format!("\"credit\" is {s:?}; expected a whole number of credits")
                })?),
                Some(_) => return Err("\"credit\" is not a number".into()),
            };
        let backend_task_id = match obj.get("backendTaskId") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(WebhookPayload {
            progress,
            credit,
            backend_task_id,
            download_url,
        })
    }

    /// How the render ended: ready at progress 100 with a `download_url`, failed below 100
    /// without one; anything else is not a payload the vendor documents.
    pub fn end(&self) -> Result<WebhookEnd, String> {
        match (self.progress >= 100.0, &self.download_url) {
            (true, Some(url)) => Ok(WebhookEnd::Ready {
                download_url: url.clone(),
                credit: self.credit,
            }),
            (false, None) => Ok(WebhookEnd::Failed {
                progress: self.progress.max(0.0),
            }),
            (true, None) => Err("progress is 100 but there is no \"download_url\"".into()),
            (false, Some(_)) => Err(format!(
                "progress is {} (below 100) but there is a \"download_url\"",
                self.progress
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_bodies_parse() {
        let ok = WebhookPayload::parse(
            br#"{"progress":100,"credit":1,"backendTaskId":"x","download_url":"http://v/1.mp4"}"#,
        )
        .unwrap();
        assert_eq!(ok.credit, Some(1));
        assert_eq!(ok.backend_task_id.as_deref(), Some("x"));
        let failed = WebhookPayload::parse(br#"{"progress":42,"backendTaskId":"x"}"#).unwrap();
        assert_eq!(failed.credit, None);
        assert_eq!(failed.end().unwrap(), WebhookEnd::Failed { progress: 42.0 });
        let lenient =
            WebhookPayload::parse(br#"{"progress":"100","credit":"3","downloadUrl":"http://v"}"#)
                .unwrap();
        assert_eq!(lenient.credit, Some(3));
        assert!(matches!(lenient.end().unwrap(), WebhookEnd::Ready { .. }));
    }

    #[test]
    fn bad_bodies_say_why() {
        for (body, want) in [
            (&b"nope"[..], "not JSON"),
            (b"[]", "not a JSON object"),
            (br#"{"download_url":"x"}"#, "numeric \"progress\""),
            (br#"{"progress":100,"credit":1.5}"#, "whole number"),
            (br#"{"progress":100,"credit":true}"#, "not a number"),
            (br#"{"progress":1,"download_url":5}"#, "neither a string"),
        ] {
            let e = WebhookPayload::parse(body).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        let e = WebhookPayload::parse(br#"{"progress":100}"#)
            .unwrap()
            .end()
            .unwrap_err();
        assert!(e.contains("no \"download_url\""), "{e}");
    }
}
