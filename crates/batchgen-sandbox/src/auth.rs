//! Who is calling: the raw key or token of v3, the `Bearer` key of v2, and whose
//! request budget a call spends.
//!
//! No message here ever repeats what the caller sent.

use tokio::time::Instant;

use axum::http::{HeaderMap, header};

use crate::envelope::ApiError;
use crate::state::{Shared, TokenState};

/// The `Authorization` header as sent.
enum Credential<'a> {
    Missing,
    Bearer(&'a str),
    Raw(&'a str),
}

fn credential(headers: &HeaderMap) -> Credential<'_> {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Credential::Missing;
    };
    match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            Credential::Bearer(rest.trim())
        }
        _ => Credential::Raw(v),
    }
}

/// Checks a key or token (without any scheme) against the account.
fn check_secret(shared: &Shared, secret: &str, now: Instant) -> Result<(), ApiError> {
    if secret == shared.api_key {
        return Ok(());
    }
    match shared.token_state(secret, now) {
        TokenState::Valid => Ok(()),
        TokenState::Expired => Err(ApiError::unauthorized(
            "the token has expired (tokens last 24 hours); request a new one from POST /api/odin/v3/auth/token",
        )),
        TokenState::Unknown => Err(ApiError::unauthorized(
            "the API key or token is not valid; check the key you were given",
        )),
    }
}

/// v3 routes: `Authorization: <key or token>`, raw.
pub(crate) fn check_v3(shared: &Shared, headers: &HeaderMap, now: Instant) -> Result<(), ApiError> {
    match credential(headers) {
        Credential::Missing => Err(ApiError::unauthorized(
            "the Authorization header is missing; send the API key (or a token) raw in Authorization",
        )),
        Credential::Bearer(_) => Err(ApiError::unauthorized(
            "v3 takes the raw key in Authorization; drop the \"Bearer \" prefix",
        )),
        Credential::Raw(secret) => check_secret(shared, secret, now),
    }
}

/// v2 routes: `Authorization: Bearer <key or token>`.
pub(crate) fn check_v2(shared: &Shared, headers: &HeaderMap, now: Instant) -> Result<(), ApiError> {
    match credential(headers) {
        Credential::Missing => Err(ApiError::unauthorized(
            "the Authorization header is missing; send \"Authorization: Bearer <your-api-key>\"",
        )),
        Credential::Raw(_) => Err(ApiError::unauthorized(
            "v2 takes \"Authorization: Bearer <your-api-key>\"; add the \"Bearer \" prefix",
        )),
        Credential::Bearer(secret) => check_secret(shared, secret, now),
    }
}

/// Whether a v3 caller is authenticated (for `GET /api/odin/v3/auth`).
pub(crate) fn is_authenticated_v3(shared: &Shared, headers: &HeaderMap, now: Instant) -> bool {
    check_v3(shared, headers, now).is_ok()
}

/// The budget a call spends: the account's for its key, its live tokens and token
/// requests (the sandbox has one account); otherwise one per presented credential.
pub(crate) fn budget_key(shared: &Shared, headers: &HeaderMap, path: &str, now: Instant) -> String {
    const ACCOUNT: &str = "\u{0}account";
    match credential(headers) {
        Credential::Missing if path == "/api/odin/v3/auth/token" => ACCOUNT.to_owned(),
        Credential::Missing => "\u{0}anonymous".to_owned(),
        Credential::Bearer(s) | Credential::Raw(s) => {
            if s == shared.api_key || shared.token_state(s, now) == TokenState::Valid {
                ACCOUNT.to_owned()
            } else {
                s.to_owned()
            }
        }
    }
}
