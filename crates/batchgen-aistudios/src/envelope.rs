//! The answer envelope: v3's `{"success":true,"data":...}` / `{"success":false,"error":{"code","msg"}}`,
//! v2's bare objects, and the error bodies of both.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::ApiErrorKind;
use crate::lenient::{field, text};

/// Longest vendor message kept in an error; the rest is cut (HTML error pages can be huge).
const MAX_MESSAGE_CHARS: usize = 500;

/// An HTTP answer as it came back, before any interpretation.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After`, parsed.
    pub retry_after: Option<Duration>,
    /// `Location`, for 3xx.
    pub location: Option<String>,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Unwraps a v3 answer: the `data` of a `success:true` envelope (null if absent), or the
    /// error it carries. A 2xx JSON body without a `success` field is taken as the data itself.
    pub fn v3_data(&self) -> Result<Value, ApiErrorKind> {
        if !self.is_success() {
            return Err(self.rejection());
        }
        let value = self.json()?;
        match value {
            Value::Object(mut obj) => match obj.get("success") {
                Some(Value::Bool(true)) => Ok(obj.remove("data").unwrap_or(Value::Null)),
                Some(Value::Bool(false)) => Err(self.rejected_from(&obj)),
                Some(other) => Err(self.decode(format!(
                    "\"success\" is {} instead of true or false",
                    crate::lenient::kind_of(other)
                ))),
                None => Ok(Value::Object(obj)),
            },
            other => Ok(other),
        }
    }

    /// Unwraps a v2 answer: the bare JSON body. An envelope is unwrapped too, in case the
    /// vendor aligns v2 with v3.
    pub fn v2_data(&self) -> Result<Value, ApiErrorKind> {
        self.v3_data()
    }

    fn json(&self) -> Result<Value, ApiErrorKind> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(self.decode("the body is empty".into()));
        }
        serde_json::from_slice(&self.body).map_err(|e| self.decode(format!("not JSON ({e})")))
    }

    /// A decode error for this (2xx) answer.
    pub fn decode(&self, reason: String) -> ApiErrorKind {
        ApiErrorKind::Decode {
            status: self.status,
            reason,
        }
    }

    /// The error a non-2xx answer stands for, with whatever code and message its body holds.
    fn rejection(&self) -> ApiErrorKind {
        if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&self.body) {
            return self.rejected_from(&obj);
        }
        let message = if (300..400).contains(&self.status) {
            match &self.location {
                Some(to) => format!("redirect to {to}"),
                None => "redirect".to_owned(),
            }
        } else {
            reason_phrase(self.status)
        };
        ApiErrorKind::Rejected {
            status: self.status,
            code: None,
            message,
            retry_after: self.retry_after,
        }
    }

    fn rejected_from(&self, obj: &Map<String, Value>) -> ApiErrorKind {
        let (code, message) = error_fields(obj);
        ApiErrorKind::Rejected {
            status: self.status,
            code,
            message: message
                .map(|m| truncate(&m))
                .unwrap_or_else(|| reason_phrase(self.status)),
            retry_after: self.retry_after,
        }
    }
}

/// Reads `(code, message)` from an error body: `{"error":{"code","msg"}}` (v3), also
/// `message`/`detail` spellings, `{"error":"text"}`, and top-level `code`/`msg`/`message`.
pub(crate) fn error_fields(obj: &Map<String, Value>) -> (Option<String>, Option<String>) {
    const CODE: &[&str] = &["code", "errorCode", "error_code"];
    const MSG: &[&str] = &[
        "msg",
        "message",
        "detail",
        "description",
        "error_description",
    ];
    let nested = match obj.get("error") {
        Some(Value::Object(e)) => Some(e),
        _ => None,
    };
    let code = nested
        .and_then(|e| field(e, CODE))
        .or_else(|| field(obj, CODE))
        .and_then(text)
        .filter(|c| !c.trim().is_empty());
    let message = nested
        .and_then(|e| field(e, MSG))
        .or_else(|| obj.get("error").filter(|v| v.is_string()))
        .or_else(|| field(obj, MSG))
        .and_then(text)
        .filter(|m| !m.trim().is_empty());
    (code, message)
}

/// The status's reason phrase in lowercase ("bad gateway"), or "http error".
fn reason_phrase(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "http error".to_owned())
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            retry_after: None,
            location: None,
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    fn rejected(kind: ApiErrorKind) -> (u16, Option<String>, String) {
        match kind {
            ApiErrorKind::Rejected {
                status,
                code,
                message,
                ..
            } => (status, code, message),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn success_envelope_gives_data() {
        let a = answer(200, r#"{"success":true,"data":{"projectId":"abc"}}"#);
        assert_eq!(a.v3_data().unwrap(), json!({"projectId":"abc"}));
        let a = answer(200, r#"{"success":true}"#);
        assert_eq!(a.v3_data().unwrap(), Value::Null);
    }

    #[test]
    fn failure_envelope_in_a_200_is_a_rejection() {
        let a = answer(
            200,
            r#"{"success":false,"error":{"code":"RENDER_FAILED","msg":"render failed: no voice"}}"#,
        );
        assert_eq!(
            rejected(a.v3_data().unwrap_err()),
            (
                200,
                Some("RENDER_FAILED".into()),
                "render failed: no voice".into()
            )
        );
    }

    #[test]
    fn failure_envelope_with_an_error_status() {
        let a = answer(
            400,
            r#"{"success":false,"error":{"code":"INVALID_PARAMETER","msg":"/scenes/0/clips/1/width: expected a number"}}"#,
        );
        assert_eq!(
            rejected(a.v3_data().unwrap_err()),
            (
                400,
                Some("INVALID_PARAMETER".into()),
                "/scenes/0/clips/1/width: expected a number".into()
            )
        );
    }

    #[test]
    fn other_error_shapes() {
        let a = answer(
            404,
            r#"{"error":{"code":404,"message":"export not found"}}"#,
        );
        assert_eq!(
            rejected(a.v2_data().unwrap_err()),
            (404, Some("404".into()), "export not found".into())
        );
        let a = answer(400, r#"{"error":"watermark.pos_x must be within 0..1"}"#);
        assert_eq!(
            rejected(a.v2_data().unwrap_err()),
            (400, None, "watermark.pos_x must be within 0..1".into())
        );
        let a = answer(422, r#"{"code":"BAD","detail":"nope"}"#);
        assert_eq!(
            rejected(a.v2_data().unwrap_err()),
            (422, Some("BAD".into()), "nope".into())
        );
        let a = answer(500, r#"{"success":false}"#);
        assert_eq!(
            rejected(a.v3_data().unwrap_err()),
            (500, None, "internal server error".into())
        );
    }

    #[test]
    fn non_json_error_bodies_use_the_reason_phrase() {
        let a = answer(502, "<html><body><h1>502 Bad Gateway</h1></body></html>");
        assert_eq!(
            rejected(a.v3_data().unwrap_err()),
            (502, None, "bad gateway".into())
        );
        let a = answer(503, "");
        assert_eq!(
            rejected(a.v3_data().unwrap_err()),
            (503, None, "service unavailable".into())
        );
        let mut a = answer(301, "");
        a.location = Some("https://app.aistudios.com/api".into());
        assert_eq!(
            rejected(a.v3_data().unwrap_err()).2,
            "redirect to https://app.aistudios.com/api"
        );
    }

    #[test]
    fn retry_after_is_carried() {
        let mut a = answer(
            429,
            r#"{"success":false,"error":{"code":"TOO_MANY_REQUESTS","msg":"slow down"}}"#,
        );
        a.retry_after = Some(Duration::from_secs(2));
        match a.v3_data().unwrap_err() {
            ApiErrorKind::Rejected { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(2)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbled_success_bodies_are_decode_errors() {
        for body in [
            "",
            "  ",
            "{\"success\":tr",
            "<html>ok</html>",
            r#"{"success":"yes"}"#,
        ] {
            match answer(200, body).v3_data() {
                Err(ApiErrorKind::Decode { status: 200, .. }) => {}
                other => panic!("{body:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn bare_bodies_are_data() {
        assert_eq!(answer(200, "[1,2]").v2_data().unwrap(), json!([1, 2]));
        assert_eq!(
            answer(201, r#"{"id":"export_001"}"#).v2_data().unwrap(),
            json!({"id":"export_001"})
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(2000);
        let a = answer(
            400,
            &format!(r#"{{"error":{{"code":"E","msg":"{long}"}}}}"#),
        );
        let (_, _, msg) = rejected(a.v3_data().unwrap_err());
        assert_eq!(msg.len(), MAX_MESSAGE_CHARS + 3);
    }
}
