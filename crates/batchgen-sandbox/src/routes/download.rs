//! The "CDN": `GET /downloads/{id}.mp4` serves the sample video for a finished render,
//! with `Content-Length`, `Accept-Ranges: bytes` and single byte ranges (206 / 416).
//! No authentication and no rate limit, as a CDN link needs neither.

use std::sync::Arc;
use tokio::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::envelope::ApiError;
use crate::project::Phase;
use crate::state::Shared;
use crate::stats::bump;

/// The video every download serves: 1 s, 160x90, H.264 + AAC, about 7 KB.
pub(crate) static SAMPLE_MP4: &[u8] = include_bytes!("../../assets/sample.mp4");

/// A byte range request, resolved against the file length.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No usable `Range`: serve the whole file.
    Full,
    /// Serve bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// The range lies outside the file: 416.
    Unsatisfiable,
}

/// Reads a `Range` header for a file of `len` bytes. Only one `bytes=` range is honoured;
/// several ranges, other units or a malformed header get the whole file, as RFC 9110 allows.
pub(crate) fn parse_range(value: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        // Suffix range: the last `b` bytes.
        let Ok(n) = b.parse::<u64>() else {
            return RangeRequest::Full;
        };
        if n == 0 || len == 0 {
            return RangeRequest::Unsatisfiable;
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return RangeRequest::Full;
        };
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(len.saturating_sub(1)),
                _ => return RangeRequest::Full,
            }
        };
        if start >= len {
            return RangeRequest::Unsatisfiable;
        }
        (start, end)
    };
    RangeRequest::Partial { start, end }
}

/// Whether `id` names a finished render (a v3 project or a v2 export).
fn is_ready(s: &Shared, id: &str, now: Instant) -> bool {
    if id.starts_with("export_") {
        let exports = s.exports.read().unwrap_or_else(|p| p.into_inner());
        exports
            .get(id)
            .is_some_and(|e| e.render.phase(now) == Phase::Completed)
    } else {
        let projects = s.projects.read().unwrap_or_else(|p| p.into_inner());
        projects
            .get(id)
            .is_some_and(|p| p.phase(now) == Phase::Completed)
    }
}

/// `GET /downloads/{id}.mp4` (HEAD too).
pub(crate) async fn download(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let id = file.strip_suffix(".mp4").unwrap_or("");
    if !is_ready(&s, id, Instant::now()) {
        return Err(ApiError::not_found(
            "no finished video at this address; wait until progress reaches 100 and use the downloadUrl it gives",
        ));
    }
    let len = SAMPLE_MP4.len() as u64;
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let mut resp = match range {
        RangeRequest::Full => (StatusCode::OK, Body::from(SAMPLE_MP4)).into_response(),
        RangeRequest::Partial { start, end } => {
            let slice = &SAMPLE_MP4[start as usize..=end as usize];
            let mut r = (StatusCode::PARTIAL_CONTENT, Body::from(slice)).into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::try_from(format!("bytes {start}-{end}/{len}"))
                    .expect("digits are a valid header value"),
            );
            r
        }
        RangeRequest::Unsatisfiable => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::try_from(format!("bytes */{len}"))
                    .expect("digits are a valid header value"),
            );
            return Ok(r);
        }
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    bump(&s.counters.downloads);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_length() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(
            parse_range(Some("bytes=0-9"), 100),
            Partial { start: 0, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=90-"), 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            parse_range(Some("bytes=-10"), 100),
            Partial { start: 90, end: 99 }
        );
        assert_eq!(
            parse_range(Some("bytes=-500"), 100),
            Partial { start: 0, end: 99 }
        );
        assert_eq!(
            parse_range(Some("bytes=50-500"), 100),
            Partial { start: 50, end: 99 }
        );
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Full);
        assert_eq!(parse_range(Some("items=0-1"), 100), Full);
        assert_eq!(parse_range(Some("bytes=9-2"), 100), Full);
        assert_eq!(parse_range(Some("bytes=x-2"), 100), Full);
    }

    #[test]
    fn sample_is_an_mp4() {
        assert_eq!(&SAMPLE_MP4[4..8], b"ftyp");
        assert!(SAMPLE_MP4.len() < 30 * 1024);
    }
}
