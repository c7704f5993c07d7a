//! Helpers shared by the integration tests.

use std::time::Duration;

use batchgen_sandbox::{Sandbox, SandboxConfig};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::Value;

/// A valid project body: the vendor's own authentication-page example.
pub const PROJECT: &str = include_str!("../fixtures/v3-authentication-curl.json");

/// Starts a sandbox on an ephemeral loopback port, on the test's runtime: under
/// `#[tokio::test(start_paused = true)]` its renders, budgets, tokens, latency and webhook
/// queue run on the paused clock. Real sockets and paused time: tokio moves the paused clock
/// only when no task can run and no I/O event is ready; a loopback write is readable at once,
/// so a call in flight does not let the clock jump (if it ever did, it would jump to the
/// client's 10 s timeout and fail loudly, never miscount quietly).
pub async fn start(cfg: SandboxConfig) -> Sandbox {
    cfg.start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("sandbox starts")
}

/// A client that never uses a proxy and never waits long.
pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The project body with `name` set (and other top-level fields merged in).
pub fn project_with(extra: Value) -> String {
    let mut v: Value = serde_json::from_str(PROJECT).unwrap();
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

pub struct Api<'a> {
    pub sb: &'a Sandbox,
    pub c: Client,
}

impl<'a> Api<'a> {
    pub fn new(sb: &'a Sandbox) -> Self {
        Api { sb, c: client() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.base_url())
    }

    /// A v3 request with the raw key.
    pub fn v3(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.c
            .request(method, self.url(path))
            .header("Authorization", self.sb.api_key())
    }

    /// A v2 request with `Bearer <key>`.
    pub fn v2(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.c
            .request(method, self.url(path))
            .header("Authorization", format!("Bearer {}", self.sb.api_key()))
    }

    /// Creates a project from `body`, returns its id.
    pub async fn create(&self, body: &str) -> String {
        let r = self
            .v3(reqwest::Method::POST, "/api/odin/v3/editor/project")
            .header("Content-Type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let (status, v) = json(r).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["success"], true, "{v}");
        v["data"]["projectId"].as_str().unwrap().to_owned()
    }

    /// Polls progress until it is 100 (or fails), returns the last answer. Under
    /// [`HANG_GUARD`]: a guard, not a margin (renders here take well under a second; only a
    /// render that never ends trips it).
    pub async fn wait_done(&self, id: &str) -> Value {
        let mut last = Value::Null;
        let poll = async {
            loop {
                let r = self
                    .v3(
                        reqwest::Method::GET,
                        &format!("/api/odin/v3/editor/progress/{id}"),
                    )
                    .send()
                    .await
                    .unwrap();
                let (_, v) = json(r).await;
                if v["success"] == false || v["data"]["progress"].as_f64() == Some(100.0) {
                    return v;
                }
                last = v;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        match tokio::time::timeout(HANG_GUARD, poll).await {
            Ok(v) => v,
            Err(_) => panic!("the render of {id} never ended (hang guard {HANG_GUARD:?}): {last}"),
        }
    }
}

/// Status and JSON body of an answer.
pub async fn json(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, v)
}

/// Asserts an error envelope with `status` and `code`; returns its message.
pub async fn expect_error(r: Response, status: StatusCode, code: &str) -> String {
    let (s, v) = json(r).await;
    assert_eq!(s, status, "{v}");
    assert_eq!(v["success"], false, "{v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    v["error"]["msg"].as_str().unwrap().to_owned()
}

/// A fast configuration: renders of 150..300 ms.
pub fn fast() -> SandboxConfig {
    SandboxConfig::default()
        .render_time(Duration::from_millis(150)..Duration::from_millis(300))
        .seed(1)
}

/// How long a test waits for what must happen before it calls it a hang: far beyond any
/// timing the tests set, so only a real hang trips it. Waits under it are guards, not
/// margins: none asserts how soon something happens.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// Waits until `holds` (checked every 10 ms), under [`HANG_GUARD`]; `what` names it when not.
pub async fn until(what: &str, mut holds: impl FnMut() -> bool) {
    let wait = async {
        while !holds() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(HANG_GUARD, wait).await.is_err() {
        panic!("{what} did not happen within {HANG_GUARD:?}");
    }
}
