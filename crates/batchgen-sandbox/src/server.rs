//! Starting, serving and stopping a sandbox.
//!
//! The sandbox serves with hyper directly (not `axum::serve`) so that a fault can close a
//! connection without answering: the service wrapped around the router returns an error,
//! and hyper then drops the connection. Every API call passes through [`handle`], which
//! counts it, spends its key's budget, draws its fault and only then reaches the router.
//!
//! Shutdown follows mini-redis: one [`CancellationToken`] that the accept loop and the
//! webhook task watch; in-flight connections are closed gracefully (answers being written
//! are finished, idle keep-alive connections are closed).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::budget::Budget;
use crate::config::SandboxConfig;
use crate::envelope::{ApiError, proxy_error};
use crate::error::SandboxError;
use crate::export::ExportStore;
use crate::faults::{Fault, Faults, ServerError, Stream, stream_rng};
use crate::limits::RenderSlots;
use crate::project::{IdGen, Project, ProjectStore, Render, folder_name};
use crate::state::{SeededProject, Shared};
use crate::stats::{Stats, bump};
use crate::webhook::{self, WebhookQueue};
use crate::{auth, routes};

/// How long a shutdown waits for in-flight connections before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Seeded projects per v2 folder.
const PROJECTS_PER_FOLDER: usize = 5;

/// The error a faulted call's service returns: hyper closes the connection on it.
#[derive(Debug)]
struct ConnectionCut;

impl std::fmt::Display for ConnectionCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by an injected fault")
    }
}

impl std::error::Error for ConnectionCut {}

/// A running sandbox. Dropping it stops the server too (without waiting);
/// [`shutdown`](Sandbox::shutdown) stops it and waits.
pub struct Sandbox {
    base_url: String,
    seed: u64,
    api_key: String,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SandboxConfig {
    /// Checks the configuration, binds `listen` (port 0 picks a free port) and starts
    /// serving on the current tokio runtime. Returns once the socket accepts connections.
    pub async fn start(self, listen: SocketAddr) -> Result<Sandbox, SandboxError> {
        self.validate()?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: listen,
                source,
            })?;
        let local = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: listen,
            source,
        })?;
        // An unspecified address (0.0.0.0) is reachable on loopback; say so in the URL.
        let host = if local.ip().is_unspecified() {
            match local {
                SocketAddr::V4(_) => "127.0.0.1".to_owned(),
                SocketAddr::V6(_) => "[::1]".to_owned(),
            }
        } else if local.is_ipv6() {
            format!("[{}]", local.ip())
        } else {
            local.ip().to_string()
        };
        let base_url = format!("http://{host}:{}", local.port());
        let seed = self.seed.unwrap_or_else(rand::random);
        let webhooks = WebhookQueue::new(
            self.webhook_attempts,
            self.webhook_backoff,
            self.webhook_duplicate_probability,
            stream_rng(seed, Stream::Webhooks),
        )
        .map_err(|e| SandboxError::WebhookClient(e.to_string()))?;
        let mut shared = Shared {
            base_url: base_url.clone(),
            api_key: self.api_key.clone(),
            app_id: self.app_id,
            user_key: self.user_key,
            token_ttl: self.token_ttl,
            render_time: self.render_time,
            render_fail_probability: self.render_fail_probability,
            project_list: self.project_list,
            counters: Default::default(),
            budget: Budget::new(self.rate_schedule, Instant::now()),
            limit_headers: self.limit_headers,
            render_slots: RenderSlots::new(self.max_renders),
            vendor_rules: self.vendor_rules,
            list_unexported: self.list_unexported,
            faults: Faults::new(
                seed,
                self.fail_probability,
                self.drop_probability,
                self.lost_probability,
                self.latency,
                self.download_fail_probability,
            ),
            renders: Mutex::new(stream_rng(seed, Stream::Renders)),
            ids: Mutex::new(IdGen::new(stream_rng(seed, Stream::Ids))),
            projects: RwLock::new(ProjectStore::default()),
            exports: RwLock::new(ExportStore::default()),
            tokens: Mutex::new(Default::default()),
            webhooks,
            seeded: Vec::new(),
        };
        seed_projects(&mut shared, self.seed_projects);
        let shared = Arc::new(shared);
        let cancel = CancellationToken::new();
        let router = routes::router(shared.clone());
        let tasks = vec![
            tokio::spawn(serve(listener, router, shared.clone(), cancel.clone())),
            tokio::spawn(webhook::run(shared.clone(), cancel.clone())),
        ];
        tracing::info!(%base_url, "sandbox listening");
        Ok(Sandbox {
            base_url,
            seed,
            api_key: self.api_key,
            shared,
            cancel,
            tasks,
        })
    }
}

/// Creates `n` finished projects, five to a folder, as if made an hour ago.
fn seed_projects(shared: &mut Shared, n: usize) {
    let now = Instant::now();
    let wall = SystemTime::now();
    let ago = Duration::from_secs(3600);
    let started = now.checked_sub(ago).unwrap_or(now);
    let store = shared.projects.get_mut().unwrap_or_else(|p| p.into_inner());
    let ids = shared.ids.get_mut().unwrap_or_else(|p| p.into_inner());
    for i in 0..n {
        let folder = (i / PROJECTS_PER_FOLDER + 1) as u32;
        let id = ids.project_id(wall - ago);
        let p = Project {
            id,
            name: format!("Seeded Project {:03}", i + 1).into(),
            orientation: "landscape".into(),
            scenes: "[]".into(),
            created_at: wall - ago,
            updated_at: wall - ago,
            render: Some(Render {
                started,
                started_at: wall - ago,
                duration: Duration::from_secs(60),
                fails_at: None,
            }),
            generation: 1,
            webhook_url: None,
            task_id: ids.task_id(),
            folder: Some(folder),
        };
        shared.seeded.push(SeededProject {
            folder_id: folder_name(folder),
            project_id: id.to_string(),
        });
        store.insert(p, None, false);
    }
}

impl Sandbox {
    /// Where the sandbox listens, e.g. `http://127.0.0.1:40123` (no trailing slash).
    /// v3 lives under `{base_url}/api/odin/v3`, v2 under `{base_url}/v2`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The key the sandbox accepts.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The seed behind every random decision: the configured one, or the one drawn at
    /// start. Starting again with [`SandboxConfig::seed`] set to it repeats the decisions.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The counters, the same numbers `GET /__sandbox/stats` answers.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The projects made by [`SandboxConfig::seed_projects`], with their v2 folders.
    pub fn seeded_projects(&self) -> &[SeededProject] {
        &self.shared.seeded
    }

    /// Stops accepting connections, lets answers in flight finish (up to 5 s), stops
    /// webhook deliveries, and returns when everything has stopped.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The tasks see the signal and wind down on their own.
        self.cancel.cancel();
    }
}

/// Accepts connections until `cancel` fires, then shuts them down gracefully.
async fn serve(
    listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %e, "sandbox failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let shared = shared.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(req, router.clone(), shared.clone())
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Errors here are clients going away or injected cuts: nothing to report.
            let _ = conn.await;
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("sandbox connections still open after the grace period; closing them");
        }
    }
}

/// Which kind of traffic a path is.
#[derive(Debug, PartialEq, Eq)]
enum Traffic {
    Api,
    Download,
    Other,
}

fn traffic(path: &str) -> Traffic {
    if path.starts_with("/api/") || path.starts_with("/v2/") {
        Traffic::Api
    } else if path.starts_with("/downloads/") {
        Traffic::Download
    } else {
        Traffic::Other
    }
}

/// One request: counters, budget and faults around the router.
async fn handle(
    req: Request<Incoming>,
    router: Router,
    shared: Arc<Shared>,
) -> Result<Response<Body>, ConnectionCut> {
    match traffic(req.uri().path()) {
        Traffic::Other => Ok(route(router, req).await),
        Traffic::Download => {
            if shared.faults.download_dropped() {
                bump(&shared.counters.downloads_dropped);
                return Err(ConnectionCut);
            }
            Ok(route(router, req).await)
        }
        Traffic::Api => {
            let now = Instant::now();
            // Method and path only: headers (the key) are never logged.
            tracing::debug!(method = %req.method(), path = req.uri().path(), "api call");
            shared.counters.record_request(now);
            // Drawn for every call, first, so the sequence depends only on the calls.
            let plan = shared.faults.draw();
            let key = auth::budget_key(&shared, req.headers(), req.uri().path(), now);
            let quota = match shared.budget.take(&key, now) {
                Ok(quota) => quota,
                Err(refused) => {
                    tracing::debug!(retry_after = refused.retry_after, "answered 429");
                    bump(&shared.counters.rate_limited);
                    let mut resp = shared
                        .limit_headers
                        .too_many_requests(refused.retry_after)
                        .into_response();
                    shared.limit_headers.apply(
                        resp.headers_mut(),
                        &refused.quota,
                        SystemTime::now(),
                    );
                    return Ok(resp);
                }
            };
            if plan.fault == Fault::Drop {
                tracing::debug!("injected fault: connection dropped");
                bump(&shared.counters.faults_dropped);
                return Err(ConnectionCut);
            }
            if !plan.latency.is_zero() {
                tokio::time::sleep(plan.latency).await;
            }
            if let Fault::ServerError(kind) = plan.fault {
                tracing::debug!(?kind, "injected fault: server error");
                bump(&shared.counters.faults_500);
                return Ok(match kind {
                    ServerError::Internal => ApiError::internal().into_response(),
                    ServerError::BadGateway => proxy_error(StatusCode::BAD_GATEWAY),
                    ServerError::Unavailable => proxy_error(StatusCode::SERVICE_UNAVAILABLE),
                });
            }
            let mut resp = route(router, req).await;
            if let Some(quota) = quota {
                shared
                    .limit_headers
                    .apply(resp.headers_mut(), &quota, SystemTime::now());
            }
            if plan.fault == Fault::Lost {
                tracing::debug!(status = %resp.status(), "injected fault: answer lost");
                bump(&shared.counters.faults_lost);
                return Err(ConnectionCut);
            }
            Ok(resp)
        }
    }
}

async fn route(router: Router, req: Request<Incoming>) -> Response<Body> {
    match router.oneshot(req.map(Body::new)).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        assert_eq!(traffic("/api/odin/v3/editor/project"), Traffic::Api);
        assert_eq!(traffic("/v2/exports"), Traffic::Api);
        assert_eq!(traffic("/downloads/x.mp4"), Traffic::Download);
        assert_eq!(traffic("/__sandbox/stats"), Traffic::Other);
        assert_eq!(traffic("/v2"), Traffic::Other);
    }
}
