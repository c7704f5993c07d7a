//! [`Client`]: one method per vendor call, one HTTP request per method.

mod editor;

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION};
use serde_json::Value;
use url::Url;

use crate::config::{ClientConfig, ClientError, parse_base_url};
use crate::envelope::Answer;
use crate::error::{ApiError, ApiErrorKind, Call, CodeClass, classify_code};
use crate::export::{Export, ExportRequest};
use crate::lenient::{boolean, field, id_string, kind_of, non_empty};
use crate::project::{ProjectId, ProjectInfo, ProjectPage, ProjectQuery};
use crate::render_progress::Progress;
use crate::segment::check_segment;
use crate::token::TokenCache;
use crate::{Credentials, Secret, retry_after};

/// Answers larger than this are not read further (a 2xx that big is reported as undecodable).
const MAX_BODY_BYTES: usize = 16 << 20;
/// How many issued tokens are remembered for scrubbing error texts.
const REMEMBERED_TOKENS: usize = 4;

/// Which API generation a request goes to: v3 sends `Authorization: <key>`, v2
/// `Authorization: Bearer <key>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    V3,
    V2,
}

/// A typed client for the AI Studios API: v3 projects and progress, v2 exports.
///
/// **One request per call.** Every method sends exactly one HTTP request and returns a typed
/// answer or an [`ApiError`] whose [`ApiError::class`] says whether to retry, fail the row or
/// stop the run. Retries, rate limiting and polling cadence belong to the caller. The one
/// exception is authentication with [`Credentials::App`]: before a call the client may first
/// fetch an access token (`POST /api/odin/v3/auth/token`, when it has none or the one it has is
/// older than [`ClientConfig::token_refresh_after`]), and when a call is answered 401 (or
/// `success:false` with an auth code) while using a token, the client fetches a new token and
/// sends that call once more. So a call makes at most four requests (token, call, token,
/// call), and [`Client::token_requests`] tells how many token requests were made, for
/// callers that count every request against the vendor's limit. Concurrent callers share one
/// token fetch.
///
/// With app credentials, v2 calls send the access token as the `Bearer` value. The v2 pages
/// only say `Bearer <your-api-key>`; using the token there is an assumption.
///
/// Cloning is cheap and clones share the connection pool and the token.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use batchgen_aistudios::{Client, ClientConfig, Credentials, Progress};
/// let client = Client::new(ClientConfig::new(Credentials::from_env()?))?;
/// let id = client.create_project(br#"{"scenes":[]}"#).await?;
/// match client.progress(&id).await? {
///     Progress::Rendering { percent } => println!("{percent:.0}%"),
///     Progress::Done { download_url } => println!("ready: {download_url}"),
///     Progress::Failed { code, message } => println!("failed: {code} {message}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    v2_base: Url,
    auth: Auth,
    request_timeout: Duration,
    /// The credential and the last few tokens: scrubbed from every error text.
    secrets: RwLock<Vec<Secret>>,
}

enum Auth {
    Key {
        v3: HeaderValue,
        v2: HeaderValue,
    },
    App {
        app_id: String,
        user_key: Secret,
        tokens: TokenCache,
    },
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.inner.auth {
            Auth::Key { .. } => "api key".to_owned(),
            Auth::App { app_id, .. } => format!("app credentials ({app_id})"),
        };
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field("v2_base_url", &self.inner.v2_base.as_str())
            .field("auth", &auth)
            .finish()
    }
}

fn sensitive_header(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The root cause of a transport error, without the URL reqwest would add.
fn transport_reason(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut cur: &dyn std::error::Error = &e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown transport error".to_owned(),
    }
}

/// Whether an answer refuses the credentials: 401, or a 2xx `success:false` with an auth code.
fn refuses_credentials(answer: &Answer) -> bool {
    if answer.status == 401 {
        return true;
    }
    if !(200..300).contains(&answer.status) {
        return false;
    }
    matches!(
        answer.v3_data(),
        Err(ApiErrorKind::Rejected { code: Some(code), .. }) if classify_code(&code) == CodeClass::Auth
    )
}

/// Like [`refuses_credentials`], and also `{"isAuthenticated": false}`.
fn refuses_or_unauthenticated(answer: &Answer) -> bool {
    refuses_credentials(answer) || matches!(is_authenticated(answer), Some(false))
}

fn is_authenticated(answer: &Answer) -> Option<bool> {
    let data = answer.v3_data().ok()?;
    field(
        data.as_object()?,
        &["isAuthenticated", "is_authenticated", "authenticated"],
    )
    .and_then(boolean)
}

impl Client {
    /// Builds a client: checks the base URLs, the credentials' characters and the timeouts,
    /// and creates the one shared HTTP client (rustls). Sends nothing.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let base = parse_base_url("base url", &config.base_url)?;
        let v2_base = match &config.v2_base_url {
            Some(url) => parse_base_url("v2 base url", url)?,
            None => {
                let mut url = base.clone();
                url.path_segments_mut()
                    .expect("a checked base url has a path")
                    .pop_if_empty()
                    .push("v2");
                url
            }
        };
        if config.request_timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(ClientError::InvalidSetting(
                "a timeout is zero; give it a positive duration".into(),
            ));
        }
        let secret = match &config.credentials {
            Credentials::ApiKey(k) => k.clone(),
            Credentials::App { user_key, .. } => user_key.clone(),
        };
        let auth = match config.credentials {
            Credentials::ApiKey(key) => {
                if key.expose().trim().is_empty() {
                    return Err(ClientError::InvalidCredentials("the api key is empty"));
                }
                let bad = ClientError::InvalidCredentials(
                    "the api key contains a character not allowed in an http header (a newline or control character)",
                );
                let v3 = sensitive_header(key.expose()).ok_or(bad)?;
                let v2 = sensitive_header(&format!("Bearer {}", key.expose())).ok_or(
                    ClientError::InvalidCredentials(
                        "the api key contains a character not allowed in an http header",
                    ),
                )?;
                Auth::Key { v3, v2 }
            }
            Credentials::App { app_id, user_key } => {
                if app_id.trim().is_empty() {
                    return Err(ClientError::InvalidCredentials("the app id is empty"));
                }
                if user_key.expose().trim().is_empty() {
                    return Err(ClientError::InvalidCredentials("the user key is empty"));
                }
                Auth::App {
                    app_id,
                    user_key,
                    tokens: TokenCache::new(config.token_refresh_after),
                }
            }
        };
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Http(transport_reason(e)))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                v2_base,
                auth,
                request_timeout: config.request_timeout,
                secrets: RwLock::new(vec![secret]),
            }),
        })
    }

    /// The v3 base URL in use (no trailing `/` unless it is the bare host).
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// How many access-token requests this client has started (always 0 with an API key).
    /// They count against the vendor's rate limit like any other call.
    pub fn token_requests(&self) -> u64 {
        match &self.inner.auth {
            Auth::Key { .. } => 0,
            Auth::App { tokens, .. } => tokens.fetches(),
        }
    }

    /// `POST /api/odin/v3/editor/project`: submits an already-serialized project (the body is
    /// sent as is, `Content-Type: application/json`) and returns its id (`data.projectId`,
    /// a string or a number).
    ///
    /// When the error is [`ErrorClass::Retryable`](crate::ErrorClass::Retryable) with
    /// `maybe_applied: true`, the project may have been created: look it up by name with
    /// [`Client::list_projects`] before sending it again.
    pub async fn create_project(&self, body: &[u8]) -> Result<ProjectId, ApiError> {
        let call = Call::CreateProject;
        let url = self
            .inner
            .url(Api::V3, &["api", "odin", "v3", "editor", "project"]);
        let body = Bytes::copy_from_slice(body);
        let answer = self
            .inner
            .send(
                call,
                Api::V3,
                Method::POST,
                url,
                Some(body),
                refuses_credentials,
            )
            .await?;
        let data = answer.v3_data().map_err(|k| self.inner.error(call, k))?;
        let id = match &data {
            Value::Object(obj) => {
                field(obj, &["projectId", "project_id", "id"]).and_then(id_string)
            }
            other => id_string(other),
        }
        .ok_or_else(|| format!("data.projectId is missing (data is {})", kind_of(&data)))
        .and_then(|id| ProjectId::new(id).map_err(|e| e.to_string()));
        id.map_err(|reason| self.inner.error(call, answer.decode(reason)))
    }

    /// `GET /api/odin/v3/editor/progress/{id}`: where the render stands.
    ///
    /// A failed render is an answer, not an error: [`Progress::Failed`] comes from a
    /// `state`/`status` of `failed`/`error` in the data, or from a `success:false` whose code
    /// names a failed render (`RENDER_FAILED`, as the sandbox sends with HTTP 200). Progress
    /// 100 without a `downloadUrl` is still [`Progress::Rendering`].
    pub async fn progress(&self, id: &ProjectId) -> Result<Progress, ApiError> {
        let call = Call::Progress;
        let url = self.inner.url(
            Api::V3,
            &["api", "odin", "v3", "editor", "progress", id.as_str()],
        );
        let answer = self
            .inner
            .send(call, Api::V3, Method::GET, url, None, refuses_credentials)
            .await?;
        match answer.v3_data() {
            Ok(data) => Progress::from_data(&data)
                .map_err(|reason| self.inner.error(call, answer.decode(reason))),
            Err(kind) => match Progress::from_rejection(&kind) {
                Some(failed) => Ok(failed),
                None => Err(self.inner.error(call, kind)),
            },
        }
    }

    /// `GET /api/odin/v3/editor/project/{id}`: one project (`data.project`, as the 1.6.x page
    /// documents; a bare object is read too): id (`_id`), name, state, progress, download URL,
    /// whether its credits were deducted (`creditSubstracted`), its task id and times.
    pub async fn get_project(&self, id: &ProjectId) -> Result<ProjectInfo, ApiError> {
        let call = Call::GetProject;
        let url = self.inner.url(
            Api::V3,
            &["api", "odin", "v3", "editor", "project", id.as_str()],
        );
        let answer = self
            .inner
            .send(call, Api::V3, Method::GET, url, None, refuses_credentials)
            .await?;
        let data = answer.v3_data().map_err(|k| self.inner.error(call, k))?;
        let project = match data.as_object().and_then(|o| o.get("project")) {
            Some(nested @ Value::Object(_)) => nested,
            _ => &data,
        };
        ProjectInfo::from_value(project)
            .map_err(|reason| self.inner.error(call, answer.decode(reason)))
    }

    /// `GET /api/odin/v3/editor/project`: the exported projects (the vendor lists only
    /// those: a project still rendering, failed or a draft is not in it). Used to find a
    /// project whose create answer was lost.
    ///
    /// The docs define no query parameters, so `query.name` is not sent: the client keeps
    /// the projects named exactly so itself (and then reports no `total`). `page` and `limit`
    /// are sent when set, for servers that page; the vendor documents no paging.
    pub async fn list_projects(&self, query: &ProjectQuery) -> Result<ProjectPage, ApiError> {
        let call = Call::ListProjects;
        let mut url = self
            .inner
            .url(Api::V3, &["api", "odin", "v3", "editor", "project"]);
        {
            let mut q = url.query_pairs_mut();
            if let Some(page) = query.page {
                q.append_pair("page", &page.to_string());
            }
            if let Some(limit) = query.limit {
                q.append_pair("limit", &limit.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let answer = self
            .inner
            .send(call, Api::V3, Method::GET, url, None, refuses_credentials)
            .await?;
        let data = answer.v3_data().map_err(|k| self.inner.error(call, k))?;
        let mut page = ProjectPage::from_value(&data)
            .map_err(|reason| self.inner.error(call, answer.decode(reason)))?;
        if let Some(name) = &query.name {
            page.projects
                .retain(|p| p.name.as_deref() == Some(name.as_str()));
            page.total = None;
        }
        Ok(page)
    }

    /// `GET /api/odin/v3/auth`: whether the credentials are accepted (`data.isAuthenticated`).
    ///
    /// Refused credentials are the answer `false`, not an error: a 401/403, or app credentials
    /// the token endpoint refuses. With app credentials, `isAuthenticated: false` for a cached
    /// token triggers the one refresh-and-retry.
    pub async fn check_auth(&self) -> Result<bool, ApiError> {
        let call = Call::CheckAuth;
        let url = self.inner.url(Api::V3, &["api", "odin", "v3", "auth"]);
        let answer = match self
            .inner
            .send(
                call,
                Api::V3,
                Method::GET,
                url,
                None,
                refuses_or_unauthenticated,
            )
            .await
        {
            Ok(answer) => answer,
            Err(e)
                if e.class() == crate::ErrorClass::RunFatal
                    && matches!(e.status(), Some(400..=499)) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if matches!(answer.status, 401 | 403) || refuses_credentials(&answer) {
            return Ok(false);
        }
        let data = answer.v3_data().map_err(|k| self.inner.error(call, k))?;
        data.as_object()
            .and_then(|o| field(o, &["isAuthenticated", "is_authenticated", "authenticated"]))
            .and_then(boolean)
            .ok_or_else(|| {
                self.inner.error(
                    call,
                    answer.decode(format!(
                        "data.isAuthenticated is missing (data is {})",
                        kind_of(&data)
                    )),
                )
            })
    }

    /// `POST /v2/projects/{folder_id}/{project_id}/exports`, or with `folder_id: None` the
    /// direct `POST /v2/projects/{project_id}/exports`: starts an export. The watermark is
    /// checked first (URL not empty, positions in 0..=1, scale above 0).
    pub async fn create_export(
        &self,
        folder_id: Option<&str>,
        project_id: &str,
        request: &ExportRequest,
    ) -> Result<Export, ApiError> {
        let call = Call::CreateExport;
        request
            .check()
            .map_err(|m| self.inner.error(call, ApiErrorKind::InvalidRequest(m)))?;
        let url = self.inner.export_url(call, folder_id, project_id, None)?;
        let body = serde_json::to_vec(request).expect("an export request always serializes");
        let answer = self
            .inner
            .send(
                call,
                Api::V2,
                Method::POST,
                url,
                Some(body.into()),
                refuses_credentials,
            )
            .await?;
        let data = answer.v2_data().map_err(|k| self.inner.error(call, k))?;
        Export::from_value(&data).map_err(|reason| self.inner.error(call, answer.decode(reason)))
    }

    /// `GET /v2/projects/{folder_id}/{project_id}/exports/{export_id}`, or with `folder_id:
    /// None` the direct `GET /v2/projects/{project_id}/exports/{export_id}`: an export's state.
    pub async fn export_status(
        &self,
        folder_id: Option<&str>,
        project_id: &str,
        export_id: &str,
    ) -> Result<Export, ApiError> {
        let call = Call::ExportStatus;
        let url = self
            .inner
            .export_url(call, folder_id, project_id, Some(export_id))?;
        let answer = self
            .inner
            .send(call, Api::V2, Method::GET, url, None, refuses_credentials)
            .await?;
        let data = answer.v2_data().map_err(|k| self.inner.error(call, k))?;
        Export::from_value(&data).map_err(|reason| self.inner.error(call, answer.decode(reason)))
    }

    /// `GET /v2/exports?folder_id=&project_id=`: the user's exports, optionally filtered.
    pub async fn list_exports(
        &self,
        folder_id: Option<&str>,
        project_id: Option<&str>,
    ) -> Result<Vec<Export>, ApiError> {
        let call = Call::ListExports;
        let mut url = self.inner.url(Api::V2, &["exports"]);
        for (name, what, value) in [
            ("folder_id", "folder id", folder_id),
            ("project_id", "project id", project_id),
        ] {
            if let Some(value) = value {
                check_segment(what, value).map_err(|e| self.inner.error(call, e.into()))?;
                url.query_pairs_mut().append_pair(name, value);
            }
        }
        let answer = self
            .inner
            .send(call, Api::V2, Method::GET, url, None, refuses_credentials)
            .await?;
        let data = answer.v2_data().map_err(|k| self.inner.error(call, k))?;
        Export::list_from_value(&data)
            .map_err(|reason| self.inner.error(call, answer.decode(reason)))
    }
}

impl Inner {
    /// A URL under the v3 or v2 base with these (already checked) path segments.
    fn url(&self, api: Api, segments: &[&str]) -> Url {
        let mut url = match api {
            Api::V3 => self.base.clone(),
            Api::V2 => self.v2_base.clone(),
        };
        url.path_segments_mut()
            .expect("a checked base url has a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    fn export_url(
        &self,
        call: Call,
        folder_id: Option<&str>,
        project_id: &str,
        export_id: Option<&str>,
    ) -> Result<Url, ApiError> {
        let check = |what, v: &str| check_segment(what, v).map_err(|e| self.error(call, e.into()));
        let mut segments = vec!["projects"];
        if let Some(folder) = folder_id {
            check("folder id", folder)?;
            segments.push(folder);
        }
        check("project id", project_id)?;
        segments.push(project_id);
        segments.push("exports");
        if let Some(export) = export_id {
            check("export id", export)?;
            segments.push(export);
        }
        Ok(self.url(Api::V2, &segments))
    }

    /// Builds the caller-facing error, scrubbing every known secret from its texts.
    fn error(&self, call: Call, mut kind: ApiErrorKind) -> ApiError {
        let secrets = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let texts: Vec<&str> = secrets.iter().map(Secret::expose).collect();
        kind.scrub(&texts);
        ApiError::new(call, kind)
    }

    fn remember_secret(&self, token: &Secret) {
        let mut secrets = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        if !secrets.contains(token) {
            if secrets.len() > REMEMBERED_TOKENS {
                secrets.remove(1); // keep the credential at 0
            }
            secrets.push(token.clone());
        }
    }

    /// Sends the call's request with its credentials; with app credentials, renews a refused
    /// token once and sends the request once more.
    async fn send(
        &self,
        call: Call,
        api: Api,
        method: Method,
        url: Url,
        body: Option<Bytes>,
        refused: fn(&Answer) -> bool,
    ) -> Result<Answer, ApiError> {
        let (auth, token) = self.authorization(call, api, None).await?;
        let answer = self
            .send_once(
                call.as_str(),
                method.clone(),
                url.clone(),
                Some(auth),
                body.clone(),
            )
            .await
            .map_err(|k| self.error(call, k))?;
        let Some(token) = token else {
            return Ok(answer);
        };
        if !refused(&answer) {
            return Ok(answer);
        }
        tracing::debug!(
            call = call.as_str(),
            status = answer.status,
            "access token refused; fetching a new one and sending the call once more"
        );
        let (auth, _) = self.authorization(call, api, Some(&token)).await?;
        self.send_once(call.as_str(), method, url, Some(auth), body)
            .await
            .map_err(|k| self.error(call, k))
    }

    /// The `Authorization` value for a call, and the token it holds (app credentials only).
    async fn authorization(
        &self,
        call: Call,
        api: Api,
        rejected: Option<&Secret>,
    ) -> Result<(HeaderValue, Option<Secret>), ApiError> {
        match &self.auth {
            Auth::Key { v3, v2 } => Ok((
                match api {
                    Api::V3 => v3.clone(),
                    Api::V2 => v2.clone(),
                },
                None,
            )),
            Auth::App {
                app_id,
                user_key,
                tokens,
            } => {
                let token = tokens
                    .get(rejected, || self.fetch_token(app_id, user_key))
                    .await
                    .map_err(|k| self.error(call, k).in_token_stage())?;
                let value = match api {
                    Api::V3 => sensitive_header(token.expose()),
                    Api::V2 => sensitive_header(&format!("Bearer {}", token.expose())),
                };
                let value = value.ok_or_else(|| {
                    self.error(
                        call,
                        ApiErrorKind::Decode {
                            status: 200,
                            reason:
                                "the access token contains characters not allowed in an http header"
                                    .into(),
                        },
                    )
                    .in_token_stage()
                })?;
                Ok((value, Some(token)))
            }
        }
    }

    /// `POST /api/odin/v3/auth/token` with `{"appId","userKey"}` → `data.token`.
    async fn fetch_token(&self, app_id: &str, user_key: &Secret) -> Result<Secret, ApiErrorKind> {
        let url = self.url(Api::V3, &["api", "odin", "v3", "auth", "token"]);
        let body = serde_json::to_vec(&serde_json::json!({
            "appId": app_id,
            "userKey": user_key.expose(),
        }))
        .expect("a json object always serializes");
        let answer = self
            .send_once(
                "fetch access token",
                Method::POST,
                url,
                None,
                Some(body.into()),
            )
            .await?;
        let data = answer.v3_data()?;
        let token = match &data {
            Value::Object(obj) => {
                field(obj, &["token", "accessToken", "access_token"]).and_then(non_empty)
            }
            other => non_empty(other),
        }
        .ok_or_else(|| {
            answer.decode(format!(
                "data.token is missing (data is {})",
                kind_of(&data)
            ))
        })?;
        let token = Secret::new(token);
        self.remember_secret(&token);
        Ok(token)
    }

    /// Sends one request and reads the whole answer, whatever its status. Logs one debug
    /// event (method, path, status or error, duration); never headers or bodies.
    async fn send_once(
        &self,
        label: &'static str,
        method: Method,
        url: Url,
        auth: Option<HeaderValue>,
        body: Option<Bytes>,
    ) -> Result<Answer, ApiErrorKind> {
        let started = Instant::now();
        let path = url.path().to_owned();
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(ACCEPT, "application/json");
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let result = self.exchange(request).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(answer) => tracing::debug!(
                call = label,
                %method,
                path,
                status = answer.status,
                elapsed_ms,
                "aistudios request"
            ),
            Err(kind) => {
                let mut kind = kind.clone();
                let secrets = self.secrets.read().unwrap_or_else(|p| p.into_inner());
                kind.scrub(&secrets.iter().map(Secret::expose).collect::<Vec<_>>());
                tracing::debug!(call = label, %method, path, error = %kind, elapsed_ms, "aistudios request failed")
            }
        }
        result
    }

    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Answer, ApiErrorKind> {
        let mut response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        let success = (200..300).contains(&status);
        let retry_after = retry_after::from_headers(response.headers());
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        if success {
                            return Err(ApiErrorKind::Decode {
                                status,
                                reason: format!("the answer is larger than {MAX_BODY_BYTES} bytes"),
                            });
                        }
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // An error status is an answer even if its body is cut short.
                Err(_) if !success => break,
                Err(e) => return Err(self.transport(e)),
            }
        }
        Ok(Answer {
            status,
            retry_after,
            location,
            body: Bytes::from(body),
        })
    }

    /// Classifies a transport failure: connect errors (nothing sent), timeouts, and broken
    /// connections after sending.
    fn transport(&self, e: reqwest::Error) -> ApiErrorKind {
        let (connect, timeout) = (e.is_connect(), e.is_timeout());
        let reason = transport_reason(e);
        if connect {
            ApiErrorKind::Connect { reason }
        } else if timeout {
            ApiErrorKind::Timeout {
                after: self.request_timeout,
                reason,
            }
        } else {
            ApiErrorKind::Transport { reason }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_client(base: &str) -> Client {
        Client::new(
            ClientConfig::new(Credentials::ApiKey(Secret::new("test-key-0123456789")))
                .base_url(base),
        )
        .unwrap()
    }

    #[test]
    fn urls_are_built_from_the_base() {
        let c = key_client("http://127.0.0.1:9/");
        assert_eq!(
            c.inner
                .url(Api::V3, &["api", "odin", "v3", "editor", "progress", "abc"])
                .as_str(),
            "http://127.0.0.1:9/api/odin/v3/editor/progress/abc"
        );
        assert_eq!(
            c.inner.url(Api::V2, &["exports"]).as_str(),
            "http://127.0.0.1:9/v2/exports"
        );
        let c = key_client("https://proxy.example/aistudios");
        assert_eq!(
            c.inner
                .url(Api::V2, &["projects", "p 1", "exports"])
                .as_str(),
            "https://proxy.example/aistudios/v2/projects/p%201/exports"
        );
        let c = Client::new(
            ClientConfig::new(Credentials::ApiKey(Secret::new("k")))
                .base_url("https://app.aistudios.cn")
                .v2_base_url("https://v2.example/api/v2/"),
        )
        .unwrap();
        assert_eq!(
            c.inner.url(Api::V2, &["exports"]).as_str(),
            "https://v2.example/api/v2/exports"
        );
    }

    #[test]
    fn export_urls_check_ids() {
        let c = key_client("http://127.0.0.1:9");
        let url = c
            .inner
            .export_url(
                Call::ExportStatus,
                Some("folder_001"),
                "project_001",
                Some("export_001"),
            )
            .unwrap();
        assert_eq!(
            url.path(),
            "/v2/projects/folder_001/project_001/exports/export_001"
        );
        let url = c
            .inner
            .export_url(Call::CreateExport, None, "p?1", None)
            .unwrap();
        assert_eq!(url.path(), "/v2/projects/p%3F1/exports");
        let e = c
            .inner
            .export_url(Call::CreateExport, Some("a/b"), "p", None)
            .unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::RowFatal);
        assert_eq!(
            e.to_string(),
            "create export: folder id \"a/b\" contains '/'; pass the id alone, not a path"
        );
        assert!(
            c.inner
                .export_url(Call::ExportStatus, None, "p", Some(""))
                .is_err()
        );
    }

    #[test]
    fn bad_settings_and_credentials_are_refused() {
        let new = |c: Credentials| Client::new(ClientConfig::new(c));
        assert!(matches!(
            new(Credentials::ApiKey(Secret::new(" "))),
            Err(ClientError::InvalidCredentials(_))
        ));
        let e = new(Credentials::ApiKey(Secret::new("abc\ndef-secret"))).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("def-secret"));
        assert!(matches!(
            new(Credentials::App {
                app_id: "".into(),
                user_key: Secret::new("u")
            }),
            Err(ClientError::InvalidCredentials(_))
        ));
        let e = Client::new(
            ClientConfig::new(Credentials::ApiKey(Secret::new("k")))
                .request_timeout(Duration::ZERO),
        )
        .unwrap_err();
        assert!(matches!(e, ClientError::InvalidSetting(_)));
        assert!(
            Client::new(
                ClientConfig::new(Credentials::ApiKey(Secret::new("k"))).base_url("ftp://x")
            )
            .is_err()
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let c = key_client("http://127.0.0.1:9");
        let shown = format!("{c:?}");
        assert!(!shown.contains("test-key-0123456789"), "{shown}");
        assert!(shown.contains("api key"), "{shown}");
        let c = Client::new(ClientConfig::new(Credentials::App {
            app_id: "app-1".into(),
            user_key: Secret::new("user-key-0123456789"),
        }))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("user-key-0123456789") && shown.contains("app-1"),
            "{shown}"
        );
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            retry_after: None,
            location: None,
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn credential_refusal_detection() {
        assert!(refuses_credentials(&answer(401, "")));
        assert!(refuses_credentials(&answer(
            200,
            r#"{"success":false,"error":{"code":"TOKEN_EXPIRED","msg":"x"}}"#
        )));
        assert!(!refuses_credentials(&answer(
            200,
            r#"{"success":false,"error":{"code":"RENDER_FAILED","msg":"x"}}"#
        )));
        assert!(!refuses_credentials(&answer(403, "")));
        assert!(!refuses_credentials(&answer(
            200,
            r#"{"success":true,"data":{}}"#
        )));
        assert!(refuses_or_unauthenticated(&answer(
            200,
            r#"{"success":true,"data":{"isAuthenticated":false}}"#
        )));
        assert!(!refuses_or_unauthenticated(&answer(
            200,
            r#"{"success":true,"data":{"isAuthenticated":true}}"#
        )));
    }

    #[tokio::test]
    async fn connection_refused_is_retryable_and_certainly_not_applied() {
        // Bind then drop a listener: the port is (almost certainly) closed now.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = key_client(&format!("http://127.0.0.1:{port}"));
        let e = c.create_project(b"{}").await.unwrap_err();
        assert!(matches!(e.kind(), ApiErrorKind::Connect { .. }), "{e:?}");
        assert_eq!(
            e.class(),
            crate::ErrorClass::Retryable {
                retry_after: None,
                maybe_applied: false
            }
        );
        let text = e.to_string();
        assert!(
            text.starts_with("create project: could not connect: "),
            "{text}"
        );
        assert!(!text.contains("test-key"), "{text}");
    }
}
