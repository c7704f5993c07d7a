//! The vendor's answer envelope: `{"success":true,"data":...}` and
//! `{"success":false,"error":{"code","msg"}}` with a proper HTTP status.
//!
//! v2 export errors use the same error envelope (the vendor documents none for v2), so a
//! client needs one error parser for both API generations.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// An error answer: HTTP status, machine code, and a message a person can act on.
/// Messages never contain the caller's key or token.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub msg: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, msg: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            msg: msg.into(),
            retry_after: None,
        }
    }

    /// 400 `INVALID_PARAMETER`: the body or a parameter is wrong; `msg` names where.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", msg)
    }

    /// The answer for a body the server could not read: 413 `PAYLOAD_TOO_LARGE` past the
    /// body limit, 400 otherwise.
    pub fn unreadable_body(rejection: axum::extract::rejection::BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the request body is larger than {} MiB; send a smaller project",
                    crate::routes::BODY_LIMIT / (1024 * 1024)
                ),
            )
        } else {
            Self::bad_request("the request body could not be read; send it again")
        }
    }

    /// 401 `UNAUTHORIZED`: no key, a wrong key, or an expired token.
    pub fn unauthorized(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", msg)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", msg)
    }

    /// 405 `METHOD_NOT_ALLOWED`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "this endpoint does not take that method; see the API reference for the right one",
        )
    }

    /// 429 `TOO_MANY_REQUESTS` with `Retry-After: secs`.
    pub fn too_many_requests(secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            format!("rate limit exceeded for this key; retry after {secs} s and slow down"),
        );
        e.retry_after = Some(secs);
        e
    }

    /// 429 `CONCURRENT_RENDER_LIMIT`: a create or an export past `max_renders` renders in
    /// progress. No `Retry-After`: nobody can say when a render ends.
    pub fn concurrent_render_limit(max: u32) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "CONCURRENT_RENDER_LIMIT",
            format!(
                "too many renders in progress (this account may have {max} at once); wait for one to finish before starting another"
            ),
        )
    }

    /// 500 `INTERNAL_ERROR`, as an injected fault.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal server error; retry the request later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"success": false, "error": {"code": self.code, "msg": self.msg}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// `200 {"success":true,"data":data}`.
pub(crate) fn ok<T: Serialize>(data: T) -> Response {
    axum::Json(json!({"success": true, "data": data})).into_response()
}

/// An HTML error page as a reverse proxy sends it (`502`, or `503` with `Retry-After: 1`).
pub(crate) fn proxy_error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let body = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}
