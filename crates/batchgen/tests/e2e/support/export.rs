//! Shared by the export end-to-end tests: a v2 client against the test sandbox, CSVs of
//! exports, the `batchgen export` command line, and a recording proxy that shows what reached
//! the server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use batchgen_aistudios::{Client, ClientConfig, Credentials, Secret};

use super::{Env, KEY, batchgen};

/// A project body the sandbox accepts (for direct projects made through v3).
pub const PROJECT: &str = r#"{"name":"NAME","scenes":[{"sceneIdx":0,"background":{},"clips":[{"id":"m","type":"aiModel","layer":1,"left":0,"top":0,"width":10,"height":10,"model":{"ai_name":"M000045058","emotion":"BG00002320"},"script":{"org":"Hello"}}]}]}"#;

/// A small runtime for test-side API calls.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client with the test key against `base`.
pub fn client(base: &str) -> Client {
    Client::new(ClientConfig::new(Credentials::ApiKey(Secret::new(KEY))).base_url(base)).unwrap()
}

/// Creates `n` projects through v3 (they have no folder: exported "direct"); their ids.
pub fn direct_projects(env: &Env, n: usize) -> Vec<String> {
    let c = client(&env.sandbox().base_url());
    rt().block_on(async {
        let mut ids = Vec::new();
        for i in 0..n {
            let body = PROJECT.replace("NAME", &format!("direct {i}"));
            ids.push(
                c.create_project(body.as_bytes())
                    .await
                    .unwrap()
                    .as_str()
                    .to_owned(),
            );
        }
        ids
    })
}

/// How many exports the sandbox has of `project` (asked again through injected faults).
pub fn exports_of(env: &Env, project: &str) -> usize {
    let c = client(&env.sandbox().base_url());
    rt().block_on(async {
        let mut last = None;
        for _ in 0..50 {
            match c.list_exports(None, Some(project)).await {
                Ok(v) => return v.len(),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("cannot list the exports of {project}: {last:?}")
    })
}

/// Writes `text` as `name` in the test's directory.
pub fn write(env: &Env, name: &str, text: &str) -> PathBuf {
    let path = env.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A CSV exporting every seeded project once, keyed by `key`: `key,project_id,folder_id`.
pub fn seeded_csv(env: &Env) -> PathBuf {
    let mut text = String::from("key,project_id,folder_id\n");
    for (i, p) in env.sandbox().seeded_projects().iter().enumerate() {
        text.push_str(&format!("x{i},{},{}\n", p.project_id, p.folder_id));
    }
    write(env, "exports.csv", &text)
}

/// `batchgen export --api v2 CSV --out OUT --base-url … --poll-interval 150ms --poll-cap 1s` plus
/// `extra`, with the key in the environment.
pub fn export_cmd(env: &Env, csv: &Path, extra: &[&str]) -> Command {
    export_cmd_to(env, csv, &env.sandbox().base_url(), extra)
}

/// Like [`export_cmd`] against another base URL (a proxy).
pub fn export_cmd_to(env: &Env, csv: &Path, base: &str, extra: &[&str]) -> Command {
    let mut cmd = batchgen();
    cmd.env("AISTUDIOS_API_KEY", KEY)
        .args(["export", "--api", "v2"])
        .arg(csv)
        .arg("--out")
        .arg(env.out())
        .args(["--base-url", base])
        .args(["--poll-interval", "150ms", "--poll-cap", "1s"])
        .args(extra);
    cmd
}

/// A request the proxy saw: method, path with query, body.
pub type Seen = (String, String, String);

/// A reverse proxy on loopback in front of `upstream` that records every request.
pub struct Recorder {
    pub base: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    _rt: tokio::runtime::Runtime,
}

impl Recorder {
    pub fn start(upstream: String) -> Recorder {
        Recorder::refusing(upstream, None)
    }

    /// Like [`Recorder::start`], answering 404 (the vendor's envelope) to every request whose
    /// path starts with `refuse`, as an API without that endpoint would.
    pub fn refusing(upstream: String, refuse: Option<&'static str>) -> Recorder {
        use axum::body::{Body, Bytes};
        use axum::extract::{Request, State};
        use axum::response::Response;

        type Shared = (
            String,
            reqwest::Client,
            Arc<Mutex<Vec<Seen>>>,
            Option<&'static str>,
        );
        async fn forward(State(s): State<Arc<Shared>>, req: Request) -> Response {
            let (parts, body) = req.into_parts();
            let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let path = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            s.2.lock().unwrap().push((
                parts.method.to_string(),
                path.clone(),
                String::from_utf8_lossy(&body).into_owned(),
            ));
            if s.3.is_some_and(|r| path.starts_with(r)) {
                return Response::builder()
                    .status(404)
                    .header("content-type", "application/json")
                    .body(Body::from(
                        r#"{"success":false,"error":{"code":"NOT_FOUND","msg":"no such endpoint"}}"#,
                    ))
                    .unwrap();
            }
            let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap();
            let mut out =
                s.1.request(method, format!("{}{path}", s.0))
                    .body(body.to_vec());
            for name in ["authorization", "content-type", "accept"] {
                if let Some(v) = parts.headers.get(name) {
                    out = out.header(name, v.as_bytes());
                }
            }
            let answer = out.send().await.unwrap();
            let status = answer.status().as_u16();
            let bytes = answer.bytes().await.unwrap();
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(bytes))
                .unwrap()
        }

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared: Arc<Shared> =
            Arc::new((upstream, reqwest::Client::new(), Arc::clone(&seen), refuse));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state(shared);
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder {
            base,
            seen,
            _rt: rt,
        }
    }

    /// The create-export requests seen: (path, body).
    pub fn creates(&self) -> Vec<(String, String)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _)| m == "POST" && p.ends_with("/exports"))
            .map(|(_, p, b)| (p.clone(), b.clone()))
            .collect()
    }
}
