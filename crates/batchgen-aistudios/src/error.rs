//! [`ApiError`] and its [`ErrorClass`]: what went wrong with a call and what the caller should do.
//!
//! The client never retries by itself (except the one token refresh, see [`crate::Client`]); it
//! says which class a failure belongs to and the dispatcher acts on it:
//!
//! | what happened | class | `maybe_applied` |
//! |---|---|---|
//! | connect refused / DNS / connect timeout | `Retryable` | false: nothing was sent |
//! | 429, or `success:false` with a rate-limit code | `Retryable` + `Retry-After` | false: refused before acting |
//! | 408 | `Retryable` | false: the server did not get the whole request |
//! | any 5xx (503 with `Retry-After` included) | `Retryable` | **true** |
//! | timeout, reset or incomplete answer after the request was sent | `Retryable` | true |
//! | a 2xx whose body cannot be decoded | `Retryable` | true |
//! | `success:false` with a temporary code (`INTERNAL_ERROR`, `..._UNAVAILABLE`, `..._TIMEOUT`...) | `Retryable` | true |
//! | 401 / 403 (after one token refresh), `success:false` with an auth code, a 3xx | `RunFatal` | - |
//! | other 4xx (400, 404, 409, 422...) and `success:false` with any other code | `RowFatal` | - |
//! | the access token could not be fetched | as above, but `maybe_applied` is always false and 4xx is `RunFatal` | |
//!
//! Why every 5xx is "maybe applied", 503 too: nothing in HTTP guarantees that a 503 (or 502)
//! was not produced by a proxy after the origin had started work, and the two mistakes cost
//! very differently. Wrongly saying "maybe" costs the dispatcher one list request to look the
//! project up by name before sending it again; wrongly saying "certainly not" costs a duplicate
//! paid render. 429 is the exception because a rate limiter answers it *instead of* acting.
//!
//! The vendor publishes no error-code list, so classifying `success:false` codes is a
//! heuristic on the code's words; see [`classify_code`].

use std::fmt;
use std::time::Duration;

use crate::segment::SegmentError;

/// Which client call failed; its `Display` starts every error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Call {
    /// [`crate::Client::create_project`].
    CreateProject,
    /// [`crate::Client::progress`].
    Progress,
    /// [`crate::Client::get_project`].
    GetProject,
    /// [`crate::Client::list_projects`].
    ListProjects,
    /// [`crate::Client::check_auth`].
    CheckAuth,
    /// [`crate::Client::create_export`].
    CreateExport,
    /// [`crate::Client::export_status`].
    ExportStatus,
    /// [`crate::Client::list_exports`].
    ListExports,
    /// [`crate::Client::export_project`].
    ExportProject,
    /// [`crate::Client::delete_projects`].
    DeleteProjects,
    /// [`crate::Client::models`].
    ListModels,
    /// [`crate::Client::workspaces`].
    ListWorkspaces,
}

impl Call {
    /// The call's name as it reads after "failed to".
    pub fn as_str(self) -> &'static str {
        match self {
            Call::CreateProject => "create project",
            Call::Progress => "check render progress",
            Call::GetProject => "get project",
            Call::ListProjects => "list projects",
            Call::CheckAuth => "check authentication",
            Call::CreateExport => "create export",
            Call::ExportStatus => "get export status",
            Call::ListExports => "list exports",
            Call::ExportProject => "export project",
            Call::DeleteProjects => "delete projects",
            Call::ListModels => "list avatars",
            Call::ListWorkspaces => "list workspaces",
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller should do about a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again later (with backoff); the same request may succeed.
    Retryable {
        /// How long the server asked us to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
        /// Whether the server may have acted on the request although no usable answer came
        /// back. For `create_project` this means a project may exist: look it up by name before
        /// sending it again. `false` means the request certainly had no effect.
        maybe_applied: bool,
    },
    /// This request will fail every time (bad body, unknown id): fail this row, go on with
    /// the others. The vendor's code and message are in the error.
    RowFatal,
    /// Nothing will work (bad key, refused token, wrong base URL): stop the whole run.
    RunFatal,
}

impl ErrorClass {
    /// Whether the class is [`ErrorClass::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, ErrorClass::Retryable { .. })
    }
}

/// The stage a failure happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Fetching the access token for app credentials, before the call's own request was sent.
    Token,
    /// The call's own request.
    Request,
}

/// A failed client call: which call, at which stage, and what happened.
///
/// Messages read after "failed to": `create project: server answered 400 INVALID_PARAMETER:
/// /scenes/0/clips/1/width: expected a number`. They never contain a key, user key, token or
/// `Authorization` header (the client scrubs every text it copies from a server or a transport
/// error), and they carry no URL query or credentials.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {}{kind}", if *.stage == Stage::Token { "fetch access token: " } else { "" })]
pub struct ApiError {
    call: Call,
    stage: Stage,
    kind: ApiErrorKind,
}

/// What went wrong, without the call name.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// The server answered with an error: a non-2xx status, or `success:false` in a 2xx.
    #[error("{}", rejected_message(*.status, .code.as_deref(), .message))]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The vendor's error code (`error.code`), if the body had one.
        code: Option<String>,
        /// The vendor's message (`error.msg`), or the status's reason phrase.
        message: String,
        /// `Retry-After`, if the server sent it.
        retry_after: Option<Duration>,
    },
    /// No connection could be made, so nothing was sent.
    #[error("could not connect: {reason}; check the base url and that the service is reachable")]
    Connect {
        /// The transport's reason, e.g. "connection refused (os error 111)".
        reason: String,
    },
    /// The request was sent (or may have been) but no complete answer came within the
    /// request timeout.
    #[error("no answer within {}s: {reason}", .after.as_secs_f64())]
    Timeout {
        /// The configured request timeout.
        after: Duration,
        /// The transport's reason.
        reason: String,
    },
    /// The connection broke after the request was sent: reset, closed, or an incomplete body.
    #[error("connection broke before a complete answer: {reason}")]
    Transport {
        /// The transport's reason.
        reason: String,
    },
    /// A 2xx answer whose body could not be decoded into the expected shape.
    #[error("server answered {status} with a body that cannot be decoded: {reason}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// An id given to the call cannot be put into the request path; nothing was sent.
    #[error(transparent)]
    InvalidId(#[from] SegmentError),
    /// An argument was rejected before sending (e.g. a watermark position outside 0..1).
    #[error("{0}")]
    InvalidRequest(String),
}

fn rejected_message(status: u16, code: Option<&str>, message: &str) -> String {
    let mut s = format!("server answered {status}");
    if let Some(code) = code {
        s.push(' ');
        s.push_str(code);
    }
    if !message.is_empty() {
        s.push_str(": ");
        s.push_str(message);
    }
    match status {
        401 | 403 => s.push_str("; check the api key or app credentials"),
        300..=399 => s.push_str("; check the base url"),
        _ => {}
    }
    s
}

/// How a vendor error code reads, by its words (the vendor publishes no list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeClass {
    /// Rate limiting: refused before acting (`TOO_MANY_REQUESTS`, `RATE_LIMIT...`, `THROTTL...`).
    RateLimit,
    /// A temporary server condition (`INTERNAL...`, `..._UNAVAILABLE`, `TIMEOUT`, `BUSY`,
    /// `TEMPORAR...`, `TRY_AGAIN`, `OVERLOAD...`, `SERVER_ERROR`).
    Temporary,
    /// Authentication (`UNAUTHORI...`, `FORBIDDEN`, `...TOKEN...` with `INVALID`/`EXPIRED`,
    /// `INVALID_API_KEY`, `INVALID_KEY`, `AUTH...FAIL...`, `PERMISSION_DENIED`).
    Auth,
    /// Anything else: a problem with this request.
    Other,
}

/// Classifies a vendor error code (case-insensitive). See [`CodeClass`] for the word lists.
pub fn classify_code(code: &str) -> CodeClass {
    let c = code.to_ascii_uppercase();
    let has = |w: &str| c.contains(w);
    if has("TOO_MANY") || has("RATE_LIMIT") || has("RATELIMIT") || has("THROTTL") {
        CodeClass::RateLimit
    } else if has("UNAUTHORI")
        || has("UNAUTHENTICATED")
        || has("FORBIDDEN")
        || has("PERMISSION_DENIED")
        || has("INVALID_API_KEY")
        || has("INVALID_KEY")
        || (has("TOKEN") && (has("INVALID") || has("EXPIRED")))
        || (has("AUTH") && (has("FAIL") || has("INVALID")))
    {
        CodeClass::Auth
    } else if has("INTERNAL")
        || has("UNAVAILABLE")
        || has("TIMEOUT")
        || has("TIMED_OUT")
        || has("BUSY")
        || has("TEMPORAR")
        || has("TRY_AGAIN")
        || has("OVERLOAD")
        || has("SERVER_ERROR")
    {
        CodeClass::Temporary
    } else {
        CodeClass::Other
    }
}

impl ApiError {
    /// An error of `call` in its own request. The client builds these; the constructor is
    /// public so callers can build errors in their own tests.
    pub fn new(call: Call, kind: ApiErrorKind) -> ApiError {
        ApiError {
            call,
            stage: Stage::Request,
            kind,
        }
    }

    /// The same error, moved to the token stage: it happened while fetching the access token,
    /// before the call's own request was sent (see [`ApiError::class`]).
    pub fn in_token_stage(mut self) -> ApiError {
        self.stage = Stage::Token;
        self
    }

    /// The call that failed.
    pub fn call(&self) -> Call {
        self.call
    }

    /// The stage it failed in.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// What happened.
    pub fn kind(&self) -> &ApiErrorKind {
        &self.kind
    }

    /// The HTTP status, if an answer came.
    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            ApiErrorKind::Rejected { status, .. } | ApiErrorKind::Decode { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The vendor's error code (`error.code`), if the server sent one.
    pub fn vendor_code(&self) -> Option<&str> {
        match &self.kind {
            ApiErrorKind::Rejected { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The vendor's error message (`error.msg`) or the status reason, if the server answered.
    pub fn vendor_message(&self) -> Option<&str> {
        match &self.kind {
            ApiErrorKind::Rejected { message, .. } => Some(message),
            _ => None,
        }
    }

    /// `Retry-After` from the answer, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            ApiErrorKind::Rejected { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// What the caller should do: see the module documentation for the table.
    pub fn class(&self) -> ErrorClass {
        let class = self.kind.class();
        match self.stage {
            Stage::Request => class,
            // The call's own request was never sent. A token endpoint refusing our app
            // credentials (any 4xx but 408/429) will refuse them for every row.
            Stage::Token => match class {
                ErrorClass::Retryable { retry_after, .. } => ErrorClass::Retryable {
                    retry_after,
                    maybe_applied: false,
                },
                ErrorClass::RowFatal | ErrorClass::RunFatal => match self.kind {
                    ApiErrorKind::InvalidId(_) | ApiErrorKind::InvalidRequest(_) => {
                        ErrorClass::RowFatal
                    }
                    _ => ErrorClass::RunFatal,
                },
            },
        }
    }
}

impl ApiErrorKind {
    /// Replaces every occurrence of each secret in the texts this error carries with `***`.
    /// Secrets shorter than 6 characters are not searched for (they would mangle ordinary words
    /// and are not credible keys).
    pub(crate) fn scrub(&mut self, secrets: &[&str]) {
        let texts: Vec<&mut String> = match self {
            ApiErrorKind::Rejected { code, message, .. } => {
                let mut v = vec![message];
                v.extend(code.as_mut());
                v
            }
            ApiErrorKind::Connect { reason }
            | ApiErrorKind::Timeout { reason, .. }
            | ApiErrorKind::Transport { reason }
            | ApiErrorKind::Decode { reason, .. } => vec![reason],
            ApiErrorKind::InvalidRequest(text) => vec![text],
            ApiErrorKind::InvalidId(_) => vec![],
        };
        for text in texts {
            for secret in secrets.iter().filter(|s| s.len() >= 6) {
                if text.contains(secret) {
                    *text = text.replace(secret, "***");
                }
            }
        }
    }

    fn class(&self) -> ErrorClass {
        let retry = |retry_after, maybe_applied| ErrorClass::Retryable {
            retry_after,
            maybe_applied,
        };
        match self {
            ApiErrorKind::Rejected {
                status,
                code,
                retry_after,
                ..
            } => {
                let status = *status;
                let code_class = code.as_deref().map(classify_code);
                match status {
                    429 => retry(*retry_after, false),
                    408 => retry(*retry_after, false),
                    500..=599 => retry(*retry_after, true),
                    401 | 403 => ErrorClass::RunFatal,
                    300..=399 => ErrorClass::RunFatal,
                    200..=299 => match code_class {
                        Some(CodeClass::RateLimit) => retry(*retry_after, false),
                        Some(CodeClass::Temporary) => retry(*retry_after, true),
                        Some(CodeClass::Auth) => ErrorClass::RunFatal,
                        Some(CodeClass::Other) | None => ErrorClass::RowFatal,
                    },
                    _ => ErrorClass::RowFatal,
                }
            }
            ApiErrorKind::Connect { .. } => retry(None, false),
            ApiErrorKind::Timeout { .. } | ApiErrorKind::Transport { .. } => retry(None, true),
            ApiErrorKind::Decode { .. } => retry(None, true),
            ApiErrorKind::InvalidId(_) | ApiErrorKind::InvalidRequest(_) => ErrorClass::RowFatal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(status: u16, code: Option<&str>, retry_after: Option<u64>) -> ApiError {
        ApiError::new(
            Call::CreateProject,
            ApiErrorKind::Rejected {
                status,
                code: code.map(str::to_owned),
                message: "some message".into(),
                retry_after: retry_after.map(Duration::from_secs),
            },
        )
    }

    fn retryable(retry_after: Option<u64>, maybe_applied: bool) -> ErrorClass {
        ErrorClass::Retryable {
            retry_after: retry_after.map(Duration::from_secs),
            maybe_applied,
        }
    }

    #[test]
    fn http_statuses() {
        assert_eq!(
            rejected(429, Some("TOO_MANY_REQUESTS"), Some(2)).class(),
            retryable(Some(2), false)
        );
        assert_eq!(rejected(429, None, None).class(), retryable(None, false));
        assert_eq!(rejected(408, None, None).class(), retryable(None, false));
        assert_eq!(
            rejected(500, Some("INTERNAL_ERROR"), None).class(),
            retryable(None, true)
        );
        assert_eq!(rejected(502, None, None).class(), retryable(None, true));
        assert_eq!(
            rejected(503, None, Some(5)).class(),
            retryable(Some(5), true)
        );
        assert_eq!(rejected(504, None, None).class(), retryable(None, true));
        assert_eq!(
            rejected(400, Some("INVALID_PARAMETER"), None).class(),
            ErrorClass::RowFatal
        );
        assert_eq!(
            rejected(404, Some("NOT_FOUND"), None).class(),
            ErrorClass::RowFatal
        );
        assert_eq!(rejected(422, None, None).class(), ErrorClass::RowFatal);
        assert_eq!(
            rejected(401, Some("UNAUTHORIZED"), None).class(),
            ErrorClass::RunFatal
        );
        assert_eq!(rejected(403, None, None).class(), ErrorClass::RunFatal);
        assert_eq!(rejected(301, None, None).class(), ErrorClass::RunFatal);
        // A status decides over a code that says otherwise.
        assert_eq!(
            rejected(400, Some("INTERNAL_ERROR"), None).class(),
            ErrorClass::RowFatal
        );
    }

    #[test]
    fn success_false_in_a_2xx_is_classified_by_code() {
        assert_eq!(
            rejected(200, Some("TOO_MANY_REQUESTS"), Some(1)).class(),
            retryable(Some(1), false)
        );
        assert_eq!(
            rejected(200, Some("rate_limit_exceeded"), None).class(),
            retryable(None, false)
        );
        assert_eq!(
            rejected(200, Some("INTERNAL_ERROR"), None).class(),
            retryable(None, true)
        );
        assert_eq!(
            rejected(200, Some("SERVICE_UNAVAILABLE"), None).class(),
            retryable(None, true)
        );
        assert_eq!(
            rejected(200, Some("INVALID_TOKEN"), None).class(),
            ErrorClass::RunFatal
        );
        assert_eq!(
            rejected(200, Some("UNAUTHORIZED"), None).class(),
            ErrorClass::RunFatal
        );
        assert_eq!(
            rejected(200, Some("INVALID_PARAMETER"), None).class(),
            ErrorClass::RowFatal
        );
        assert_eq!(
            rejected(200, Some("4001"), None).class(),
            ErrorClass::RowFatal
        );
        assert_eq!(rejected(200, None, None).class(), ErrorClass::RowFatal);
    }

    #[test]
    fn code_words() {
        assert_eq!(classify_code("TOO_MANY_REQUESTS"), CodeClass::RateLimit);
        assert_eq!(classify_code("Throttled"), CodeClass::RateLimit);
        assert_eq!(classify_code("TOKEN_EXPIRED"), CodeClass::Auth);
        assert_eq!(classify_code("AUTH_FAILED"), CodeClass::Auth);
        assert_eq!(classify_code("FORBIDDEN"), CodeClass::Auth);
        assert_eq!(classify_code("GATEWAY_TIMEOUT"), CodeClass::Temporary);
        assert_eq!(classify_code("SERVER_BUSY"), CodeClass::Temporary);
        assert_eq!(classify_code("RENDER_FAILED"), CodeClass::Other);
        assert_eq!(classify_code("NOT_FOUND"), CodeClass::Other);
        assert_eq!(classify_code("TOKEN_LIMIT"), CodeClass::Other);
    }

    #[test]
    fn transport_failures() {
        let e = |kind| ApiError::new(Call::CreateProject, kind);
        assert_eq!(
            e(ApiErrorKind::Connect {
                reason: "connection refused".into()
            })
            .class(),
            retryable(None, false)
        );
        assert_eq!(
            e(ApiErrorKind::Timeout {
                after: Duration::from_secs(1),
                reason: "operation timed out".into()
            })
            .class(),
            retryable(None, true)
        );
        assert_eq!(
            e(ApiErrorKind::Transport {
                reason: "connection reset".into()
            })
            .class(),
            retryable(None, true)
        );
        assert_eq!(
            e(ApiErrorKind::Decode {
                status: 200,
                reason: "expected value".into()
            })
            .class(),
            retryable(None, true)
        );
        assert_eq!(
            e(ApiErrorKind::InvalidId(SegmentError::Empty {
                what: "project id"
            }))
            .class(),
            ErrorClass::RowFatal
        );
    }

    #[test]
    fn token_stage_never_maybe_applied_and_4xx_stops_the_run() {
        assert_eq!(
            rejected(500, None, None).in_token_stage().class(),
            retryable(None, false)
        );
        assert_eq!(
            rejected(429, None, Some(3)).in_token_stage().class(),
            retryable(Some(3), false)
        );
        assert_eq!(
            rejected(400, Some("INVALID_PARAMETER"), None)
                .in_token_stage()
                .class(),
            ErrorClass::RunFatal
        );
        assert_eq!(
            rejected(401, None, None).in_token_stage().class(),
            ErrorClass::RunFatal
        );
        let t = ApiError::new(
            Call::Progress,
            ApiErrorKind::Timeout {
                after: Duration::from_secs(2),
                reason: "operation timed out".into(),
            },
        )
        .in_token_stage();
        assert_eq!(t.class(), retryable(None, false));
        assert_eq!(
            t.to_string(),
            "check render progress: fetch access token: no answer within 2s: operation timed out"
        );
    }

    #[test]
    fn messages() {
        let e = ApiError::new(
            Call::CreateProject,
            ApiErrorKind::Rejected {
                status: 400,
                code: Some("INVALID_PARAMETER".into()),
                message: "/scenes/0/clips/1/width: expected a number".into(),
                retry_after: None,
            },
        );
        assert_eq!(
            e.to_string(),
            "create project: server answered 400 INVALID_PARAMETER: /scenes/0/clips/1/width: expected a number"
        );
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.vendor_code(), Some("INVALID_PARAMETER"));
        assert_eq!(
            e.vendor_message(),
            Some("/scenes/0/clips/1/width: expected a number")
        );
        let e = rejected(401, Some("UNAUTHORIZED"), None);
        assert_eq!(
            e.to_string(),
            "create project: server answered 401 UNAUTHORIZED: some message; check the api key or app credentials"
        );
        let e = ApiError::new(
            Call::ListExports,
            ApiErrorKind::Rejected {
                status: 502,
                code: None,
                message: "bad gateway".into(),
                retry_after: None,
            },
        );
        assert_eq!(
            e.to_string(),
            "list exports: server answered 502: bad gateway"
        );
    }

    #[test]
    fn scrub_removes_secrets_from_every_text() {
        let mut k = ApiErrorKind::Rejected {
            status: 400,
            code: Some("BAD_KEY_key-123456".into()),
            message: "your key key-123456 and token tok-abcdef are wrong".into(),
            retry_after: None,
        };
        k.scrub(&["key-123456", "tok-abcdef", "k"]);
        let shown = format!("{k} {k:?}");
        assert!(
            !shown.contains("key-123456") && !shown.contains("tok-abcdef"),
            "{shown}"
        );
        assert!(
            shown.contains("your key *** and token *** are wrong"),
            "{shown}"
        );
        let mut k = ApiErrorKind::Decode {
            status: 200,
            reason: "invalid type: string \"key-123456\"".into(),
        };
        k.scrub(&["key-123456"]);
        assert_eq!(
            k.to_string(),
            "server answered 200 with a body that cannot be decoded: invalid type: string \"***\""
        );
    }
}
