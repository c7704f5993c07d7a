//! Webhooks: the per-row token ([`WebhookAuth`]) and the receiver ([`WebhookReceiver`]) that
//! turns the vendor's completion callbacks into row outcomes, so a run need not poll every
//! render.
//!
//! Each project's body carries
//! `webhookUrl = {public base}/batchgen/v1/{run tag}/{row}?token={t}`, where `t` is the first 32
//! hex characters of HMAC-SHA256(run secret, `"{run id}:{row}"`). The run secret is random per
//! run and kept in the journal header, so a `--resume` verifies callbacks of projects submitted
//! before it; it never appears in a log, the manifest or the summary.
//!
//! The receiver answers, in this order:
//!
//! | request | answer |
//! |---|---|
//! | not `POST /batchgen/v1/{tag}/{row}`, or another run's tag, or a row that is not a number | 404, logged |
//! | token missing or wrong (compared in constant time) | 401, logged at warn without the token |
//! | body not the documented payload `{progress, credit, backendTaskId, download_url}` | 400, logged |
//! | a row the run does not have | 404, logged and ignored |
//! | a row that already ended (a duplicate, or a poll was first) | 200, ignored |
//! | otherwise | 200: `progress` 100 with `download_url` → ready; below 100 with `download_url: null` → failed |
//!
//! It answers at once: the callback is only handed to the row's task ([`Callbacks`]), which
//! journals the outcome without the receiver waiting for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

pub mod callbacks;

use crate::journal::{Header, RunSecret};
use callbacks::{Callbacks, Delivery, Outcome};

/// The path prefix of every callback URL.
pub const PATH_PREFIX: &str = "/batchgen/v1";
/// Hex characters in a token (the first 16 bytes of the MAC).
const TOKEN_HEX: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Makes and checks the per-row tokens of one run. `Debug` hides the secret.
#[derive(Clone)]
pub struct WebhookAuth {
    run_id: String,
    tag: String,
    secret: RunSecret,
}

impl std::fmt::Debug for WebhookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAuth")
            .field("run_id", &self.run_id)
            .field("secret", &"***")
            .finish()
    }
}

impl WebhookAuth {
    /// The tokens of the run whose journal has `header`. A journal older than the run secret
    /// has none: then a secret is drawn for this process only (callbacks for projects it
    /// submits cannot be verified by a later `--resume`, which polls them instead), and
    /// `ephemeral` is true.
    pub fn for_run(header: &Header) -> (WebhookAuth, bool) {
        let (secret, ephemeral) = match &header.secret {
            Some(s) => (s.clone(), false),
            None => (RunSecret::random(), true),
        };
        (
            WebhookAuth::new(header.run_id.clone(), header.run_tag().to_owned(), secret),
            ephemeral,
        )
    }

    /// Tokens for run `run_id` (tag `tag`) keyed by `secret`.
    pub fn new(run_id: String, tag: String, secret: RunSecret) -> WebhookAuth {
        WebhookAuth {
            run_id,
            tag,
            secret,
        }
    }

    fn mac(&self, row: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.secret.bytes())
            .expect("HMAC takes a key of any length");
        mac.update(format!("{}:{row}", self.run_id).as_bytes());
        mac
    }

    /// Row `row`'s token: 32 lowercase hex characters.
    pub fn token(&self, row: u64) -> String {
        let tag = self.mac(row).finalize().into_bytes();
        hex::encode(&tag[..TOKEN_HEX / 2])
    }

    /// Whether `token` is row `row`'s, compared in constant time.
    pub fn verify(&self, row: u64, token: &str) -> bool {
        let mut bytes = [0u8; TOKEN_HEX / 2];
        if hex::decode_to_slice(token, &mut bytes).is_err() {
            return false;
        }
        self.mac(row).verify_truncated_left(&bytes).is_ok()
    }

    /// The run tag in callback paths.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Row `row`'s callback URL under `public_base` (the receiver's address as the vendor
    /// reaches it, e.g. `https://hooks.example.com/batchgen-in`; a trailing `/` is ignored).
    /// It holds the token: put it in the request body only, never in a log.
    pub fn url(&self, public_base: &str, row: u64) -> String {
        format!(
            "{}{PATH_PREFIX}/{}/{row}?token={}",
            public_base.trim_end_matches('/'),
            self.tag,
            self.token(row)
        )
    }
}

/// Where the vendor sends a run's callbacks: the run's tokens and the receiver's public base
/// URL (as the vendor reaches it). The engine sets each project's `webhookUrl` from it.
#[derive(Clone, Debug)]
pub struct WebhookUrls {
    /// The run's tokens.
    pub auth: WebhookAuth,
    /// The receiver's public base URL, e.g. `https://hooks.example.com/batchgen-in`.
    pub public_base: String,
}

impl WebhookUrls {
    /// Row `row`'s callback URL (see [`WebhookAuth::url`]).
    pub fn url(&self, row: u64) -> String {
        self.auth.url(&self.public_base, row)
    }
}

/// Reads a callback body: `{"progress":100,"credit":1,"backendTaskId":"…","download_url":"…"}`
/// is ready; `progress` below 100 with `download_url` null (or absent) is a failed render, as
/// the vendor's failure callback reads. The wire type, `credit` included, is the client's
/// [`WebhookPayload`](batchgen_aistudios::WebhookPayload).
pub fn parse_payload(body: &[u8]) -> Result<Outcome, String> {
    use batchgen_aistudios::{WebhookEnd, WebhookPayload};
    Ok(match WebhookPayload::parse(body)?.end()? {
        WebhookEnd::Ready {
            download_url,
            credit,
        } => Outcome::Ready {
            download_url,
            credits: credit,
        },
        WebhookEnd::Failed { progress } => Outcome::Failed { progress },
    })
}

/// What the receiver has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WebhookStats {
    /// Requests received.
    pub received: u64,
    /// Callbacks handed to their row.
    pub accepted: u64,
    /// Callbacks for rows that had already ended (duplicates, or a poll was first).
    pub ignored: u64,
    /// Requests refused: wrong or missing token (401).
    pub unauthorized: u64,
    /// Requests refused: unknown run tag, row or path (404).
    pub unknown: u64,
    /// Requests refused: a body that is not the documented payload (400).
    pub malformed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    accepted: AtomicU64,
    ignored: AtomicU64,
    unauthorized: AtomicU64,
    unknown: AtomicU64,
    malformed: AtomicU64,
}

struct Shared {
    auth: WebhookAuth,
    callbacks: Callbacks,
    counters: Counters,
}

/// The callback receiver: an axum service. Clones share it.
#[derive(Clone)]
pub struct WebhookReceiver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("auth", &self.shared.auth)
            .field("stats", &self.stats())
            .finish()
    }
}

impl WebhookReceiver {
    /// A receiver that checks tokens with `auth` and hands callbacks to `callbacks` (the
    /// registry the engine was given through [`EngineConfig`](crate::EngineConfig)).
    pub fn new(auth: WebhookAuth, callbacks: Callbacks) -> WebhookReceiver {
        WebhookReceiver {
            shared: Arc::new(Shared {
                auth,
                callbacks,
                counters: Counters::default(),
            }),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> WebhookStats {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WebhookStats {
            received: g(&c.received),
            accepted: g(&c.accepted),
            ignored: g(&c.ignored),
            unauthorized: g(&c.unauthorized),
            unknown: g(&c.unknown),
            malformed: g(&c.malformed),
        }
    }

    /// The axum router: `POST /batchgen/v1/{tag}/{row}`, everything else 404.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                &format!("{PATH_PREFIX}/{{tag}}/{{row}}"),
                axum::routing::post(callback),
            )
            .fallback(not_found)
            .with_state(Arc::clone(&self.shared))
    }

    /// Serves on `listener` until `shutdown` is cancelled (then finishes the requests in
    /// progress and returns).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let router = self.router();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    }
}

fn answer(status: StatusCode, message: &str) -> Response {
    let body = if status.is_success() {
        serde_json::json!({"ok": true, "message": message})
    } else {
        serde_json::json!({"ok": false, "error": message})
    };
    (status, axum::Json(body)).into_response()
}

async fn not_found(State(s): State<Arc<Shared>>) -> Response {
    bump(&s.counters.received);
    bump(&s.counters.unknown);
    tracing::warn!("webhook: a request for an unknown path; ignored");
    answer(StatusCode::NOT_FOUND, "no such callback path")
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

async fn callback(
    State(s): State<Arc<Shared>>,
    Path((tag, row)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let c = &s.counters;
    bump(&c.received);
    let row = match row.parse::<u64>() {
        Ok(r) if tag == s.auth.tag() => r,
        _ => {
            bump(&c.unknown);
            tracing::warn!(
                "webhook: a callback for another run or a row that is not a number; ignored (404)"
            );
            return answer(StatusCode::NOT_FOUND, "no such run or row");
        }
    };
    let token = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="));
    if !token.is_some_and(|t| s.auth.verify(row, t)) {
        bump(&c.unauthorized);
        tracing::warn!(
            row,
            "webhook: a callback with a missing or wrong token was refused (401)"
        );
        return answer(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token for this row",
        );
    }
    let outcome = match parse_payload(&body) {
        Ok(o) => o,
        Err(reason) => {
            bump(&c.malformed);
            tracing::warn!(row, %reason, "webhook: a callback with an unreadable body was refused (400)");
            return answer(StatusCode::BAD_REQUEST, &reason);
        }
    };
    match s.callbacks.deliver(row, outcome) {
        Delivery::Accepted => {
            bump(&c.accepted);
            tracing::debug!(row, "webhook: callback accepted");
            answer(StatusCode::OK, "accepted")
        }
        Delivery::AlreadyDone => {
            bump(&c.ignored);
            tracing::debug!(
                row,
                "webhook: callback for a row that already ended (a duplicate?); ignored"
            );
            answer(StatusCode::OK, "already done")
        }
        Delivery::UnknownRow => {
            bump(&c.unknown);
            tracing::warn!(
                row,
                "webhook: a callback for a row this run does not have; ignored (404)"
            );
            answer(StatusCode::NOT_FOUND, "this run has no such row")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> WebhookAuth {
        WebhookAuth::new(
            "0123456789abcdef0123456789abcdef".into(),
            "012345".into(),
            RunSecret::random(),
        )
    }

    #[test]
    fn tokens_are_per_row_per_run_and_verify() {
        let a = auth();
        let t1 = a.token(1);
        assert_eq!(t1.len(), 32);
        assert!(t1.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(a.verify(1, &t1));
        assert!(!a.verify(2, &t1));
        assert!(!a.verify(1, &t1[..31]));
        assert!(!a.verify(
            1,
            &t1.to_uppercase().replace(|c: char| c.is_ascii_digit(), "g")
        ));
        assert!(!a.verify(1, ""));
        // Another run (other secret) never accepts this token.
        assert!(!auth().verify(1, &t1));
        let url = a.url("http://127.0.0.1:9/base/", 7);
        assert_eq!(
            url,
            format!(
                "http://127.0.0.1:9/base/batchgen/v1/012345/7?token={}",
                a.token(7)
            )
        );
        assert!(!format!("{a:?}").contains(&hex_of(&a)));
    }

    fn hex_of(a: &WebhookAuth) -> String {
        hex::encode(a.secret.bytes())
    }

    #[test]
    fn payloads() {
        assert_eq!(
            parse_payload(br#"{"progress":100,"credit":1,"backendTaskId":"x","download_url":"http://v/1.mp4"}"#),
            Ok(Outcome::Ready {
                download_url: "http://v/1.mp4".into(),
                credits: Some(1)
            })
        );
        assert_eq!(
            parse_payload(
                br#"{"progress":42.5,"credit":0,"backendTaskId":"x","download_url":null}"#
            ),
            Ok(Outcome::Failed { progress: 42.5 })
        );
        assert_eq!(
            parse_payload(br#"{"progress":"100","downloadUrl":"http://v/1.mp4"}"#),
            Ok(Outcome::Ready {
                download_url: "http://v/1.mp4".into(),
                credits: None
            })
        );
        for bad in [
            &b"not json"[..],
            b"[1]",
            br#"{"download_url":"http://v"}"#,
            br#"{"progress":100,"download_url":null}"#,
            br#"{"progress":50,"download_url":"http://v"}"#,
            br#"{"progress":100,"download_url":7}"#,
        ] {
            assert!(
                parse_payload(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// The receiver over real HTTP on loopback.
    #[tokio::test]
    async fn the_receiver_answers_each_case() {
        let a = auth();
        let callbacks = Callbacks::new(3);
        let receiver = WebhookReceiver::new(a.clone(), callbacks.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let server = tokio::spawn(receiver.clone().serve(listener, stop.clone()));
        let http = reqwest::Client::new();
        let post = |url: String, body: &'static str| {
            let http = http.clone();
            async move {
                http.post(url)
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        let ok =
            r#"{"progress":100,"credit":1,"backendTaskId":"t","download_url":"http://v/1.mp4"}"#;
        assert_eq!(post(a.url(&base, 1), ok).await, 200);
        assert_eq!(post(a.url(&base, 1), ok).await, 200, "a duplicate");
        assert_eq!(
            callbacks.take(1),
            Some(Outcome::Ready {
                download_url: "http://v/1.mp4".into(),
                credits: Some(1)
            })
        );
        callbacks.finish(1);
        assert_eq!(post(a.url(&base, 1), ok).await, 200, "after the row ended");
        // Wrong token, no token, another row's token.
        let wrong = a.url(&base, 2).replace(&a.token(2), &a.token(3));
        assert_eq!(post(wrong, ok).await, 401);
        let bare = format!("{base}{PATH_PREFIX}/{}/2", a.tag());
        assert_eq!(post(bare, ok).await, 401);
        assert_eq!(
            callbacks.take(2),
            None,
            "a refused callback changes nothing"
        );
        // Unknown tag, unknown row, not a row, other path.
        let other_tag = a.url(&base, 2).replace("/012345/", "/ffffff/");
        assert_eq!(post(other_tag, ok).await, 404);
        assert_eq!(post(a.url(&base, 9), ok).await, 404);
        assert_eq!(
            post(format!("{base}{PATH_PREFIX}/012345/x?token=0"), ok).await,
            404
        );
        assert_eq!(post(format!("{base}/elsewhere"), ok).await, 404);
        // Malformed body.
        assert_eq!(post(a.url(&base, 2), "{}").await, 400);
        assert_eq!(callbacks.take(2), None);
        assert_eq!(
            receiver.stats(),
            WebhookStats {
                received: 10,
                accepted: 2,
                ignored: 1,
                unauthorized: 2,
                unknown: 4,
                malformed: 1,
            }
        );
        stop.cancel();
        server.await.unwrap().unwrap();
    }
}
