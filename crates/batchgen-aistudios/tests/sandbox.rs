//! The client against the real sandbox (`batchgen-sandbox`) over loopback: every call's happy
//! path, the error classes the sandbox can provoke, app-credential tokens, and that no secret
//! ever shows in an error or its Debug output.

use std::fmt::{Debug, Display};
use std::time::Duration;

use batchgen_aistudios::{
    ApiError, ApiErrorKind, Client, ClientConfig, Credentials, ErrorClass, ExportRequest,
    ExportStatus, Progress, ProjectId, ProjectQuery, ProjectState, Secret, Stage, Watermark,
};
use batchgen_sandbox::{Sandbox, SandboxConfig};

#[path = "sandbox/editor.rs"]
mod editor;

/// Long enough to be scrubbed; every test's sandbox uses it.
const KEY: &str = "sandbox-test-key-0123456789";
const WRONG_KEY: &str = "wrong-test-key-9876543210";
const APP_ID: &str = "sandbox-test-app";
const USER_KEY: &str = "sandbox-test-user-key-0123456789";
const WRONG_USER_KEY: &str = "wrong-test-user-key-0123456789";

/// Asserts that nothing secret shows in `x`'s Display or Debug output, and returns its Display.
fn shown(x: &(impl Display + Debug)) -> String {
    let text = format!("{x}");
    let all = format!("{x} {x:?} {x:#?}");
    for secret in [KEY, WRONG_KEY, USER_KEY, WRONG_USER_KEY] {
        assert!(!all.contains(secret), "a secret shows in {all}");
    }
    text
}

/// Unwraps an error, checking it shows no secret.
fn err<T: Debug>(r: Result<T, ApiError>) -> ApiError {
    let e = r.expect_err("expected an error");
    shown(&e);
    e
}

async fn start(config: SandboxConfig) -> Sandbox {
    config
        .api_key(KEY)
        .app_credentials(APP_ID, USER_KEY)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn client_with(sandbox: &Sandbox, credentials: Credentials) -> Client {
    let c = Client::new(ClientConfig::new(credentials).base_url(sandbox.base_url())).unwrap();
    shown(&format!("{c:?}"));
    c
}

fn key_client(sandbox: &Sandbox) -> Client {
    client_with(sandbox, Credentials::ApiKey(Secret::new(KEY)))
}

fn app(user_key: &str) -> Credentials {
    Credentials::App {
        app_id: APP_ID.into(),
        user_key: Secret::new(user_key),
    }
}

/// The vendor's own sample request body (`tests/fixtures/README.md`), named.
fn project_body(name: &str) -> Vec<u8> {
    let mut body: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/vendor-export-project.json")).unwrap();
    body["name"] = name.into();
    serde_json::to_vec(&body).unwrap()
}

/// How long a test waits for what must happen before calling it a hang: far beyond the
/// renders here (well under a second), so only a hang trips it. A guard, not a margin.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Polls until the render has finished (done or failed), under [`HANG_GUARD`].
async fn poll_until_done(client: &Client, id: &ProjectId) -> Progress {
    let poll = async {
        loop {
            let p = client.progress(id).await.unwrap();
            if p.is_finished() {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(HANG_GUARD, poll)
        .await
        .unwrap_or_else(|_| {
            panic!("the render of {id:?} never finished (hang guard {HANG_GUARD:?})")
        })
}

#[tokio::test]
async fn every_v3_call_happy_path() {
    let sandbox = start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(300)..Duration::from_millis(400)),
    )
    .await;
    let client = key_client(&sandbox);

    assert!(client.check_auth().await.unwrap());

    let id = client
        .create_project(&project_body("row-1 welcome"))
        .await
        .unwrap();
    assert_eq!(id.as_str().len(), 24, "vendor-like id: {id}");

    match client.progress(&id).await.unwrap() {
        Progress::Rendering { percent } => assert!((0.0..100.0).contains(&percent), "{percent}"),
        other => panic!("just created, yet {other:?}"),
    }

    let info = client.get_project(&id).await.unwrap();
    assert_eq!(info.id, id);
    assert_eq!(info.name.as_deref(), Some("row-1 welcome"));
    assert_eq!(info.state, ProjectState::Rendering);
    assert_eq!(info.download_url, None);
    assert!(info.created_at.is_some());

    // The list holds exported projects only: nothing while it renders.
    client
        .create_project(&project_body("another row"))
        .await
        .unwrap();
    let page = client
        .list_projects(&ProjectQuery::named("row-1 welcome"))
        .await
        .unwrap();
    assert!(page.projects.is_empty(), "{page:?}");

    let Progress::Done { download_url } = poll_until_done(&client, &id).await else {
        panic!("the render did not finish");
    };
    assert!(
        download_url.starts_with(&sandbox.base_url()),
        "{download_url}"
    );
    let video = reqwest::get(&download_url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&video[..], batchgen_sandbox::sample_video());

    let info = client.get_project(&id).await.unwrap();
    assert_eq!(info.state, ProjectState::Completed);
    assert_eq!(info.download_url.as_deref(), Some(download_url.as_str()));

    // Found again by name once exported: how a run recovers a project whose create answer
    // was lost (the client filters by name; the vendor takes no query parameters).
    let page = client
        .list_projects(&ProjectQuery::named("row-1 welcome"))
        .await
        .unwrap();
    assert_eq!(page.projects.len(), 1, "{page:?}");
    assert_eq!(page.projects[0].id, id);

    let stats = sandbox.stats();
    assert_eq!(stats.submissions, 2);
    assert_eq!(stats.duplicate_bodies, 0);
}

#[tokio::test]
async fn every_v2_call_happy_path() {
    let sandbox = start(
        SandboxConfig::default()
            .seed_projects(3)
            .render_time(Duration::from_millis(200)..Duration::from_millis(300)),
    )
    .await;
    let client = key_client(&sandbox);
    let seeded = sandbox.seeded_projects()[1].clone();

    // In a folder, with a watermark.
    let req = ExportRequest::with_watermark(
        Watermark::new("https://example.com/logo.png")
            .position(0.9, 0.1)
            .scale(0.5),
    );
    let e = client
        .create_export(Some(&seeded.folder_id), &seeded.project_id, &req)
        .await
        .unwrap();
    assert_eq!(e.status, ExportStatus::Processing);
    assert_eq!(e.project_id, seeded.project_id);
    assert_eq!(e.folder_id.as_deref(), Some(seeded.folder_id.as_str()));
    assert_eq!(e.src_url, None);

    // Direct, for a project made through v3.
    let pid = client
        .create_project(&project_body("v2 direct"))
        .await
        .unwrap();
    let d = client
        .create_export(None, pid.as_str(), &ExportRequest::default())
        .await
        .unwrap();
    assert_eq!(d.folder_id, None);

    // Polled until neither is processing, under the hang guard (a guard, not a margin).
    let (ready, ready_direct) = tokio::time::timeout(HANG_GUARD, async {
        loop {
            let a = client
                .export_status(Some(&seeded.folder_id), &seeded.project_id, &e.id)
                .await
                .unwrap();
            let b = client
                .export_status(None, pid.as_str(), &d.id)
                .await
                .unwrap();
            if a.status != ExportStatus::Processing && b.status != ExportStatus::Processing {
                break (a, b);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("both v2 exports finished within the hang guard");
    for x in [&ready, &ready_direct] {
        assert_eq!(x.status, ExportStatus::Ready, "{x:?}");
        assert!(
            x.src_url.as_deref().is_some_and(|u| u.starts_with("http")),
            "{x:?}"
        );
        assert!(x.finished_at.is_some(), "{x:?}");
    }

    let mine = client
        .list_exports(Some(&seeded.folder_id), Some(&seeded.project_id))
        .await
        .unwrap();
    assert_eq!(mine.iter().map(|x| &x.id).collect::<Vec<_>>(), [&e.id]);
    let direct = client.list_exports(None, Some(pid.as_str())).await.unwrap();
    assert_eq!(direct.iter().map(|x| &x.id).collect::<Vec<_>>(), [&d.id]);
    assert_eq!(client.list_exports(None, None).await.unwrap().len(), 2);

    // A folder/project mismatch is a 404 for that row.
    let other = &sandbox.seeded_projects()[0];
    let wrong_folder = if other.folder_id == "folder_001" {
        "folder_002"
    } else {
        "folder_001"
    };
    let x = err(client
        .create_export(
            Some(wrong_folder),
            &other.project_id,
            &ExportRequest::default(),
        )
        .await);
    assert_eq!((x.class(), x.status()), (ErrorClass::RowFatal, Some(404)));
}

#[tokio::test]
async fn a_bad_request_fails_the_row_with_the_vendor_message() {
    let sandbox = start(SandboxConfig::default()).await;
    let client = key_client(&sandbox);

    let e = err(client.create_project(br#"{"name": 3, "scenes": []}"#).await);
    assert_eq!(e.class(), ErrorClass::RowFatal);
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.vendor_code(), Some("INVALID_PARAMETER"));
    assert!(
        e.vendor_message()
            .unwrap()
            .contains("/name: expected a string"),
        "{e}"
    );
    assert!(
        shown(&e).starts_with("create project: server answered 400 INVALID_PARAMETER: "),
        "{e}"
    );

    let e = err(client.create_project(b"{\n \"scenes\": [,\n}").await);
    assert_eq!(e.class(), ErrorClass::RowFatal);
    assert!(e.vendor_message().unwrap().contains("line 2"), "{e}");

    let unknown = ProjectId::new("0123456789abcdef01234567").unwrap();
    let e = err(client.progress(&unknown).await);
    assert_eq!(
        (e.class(), e.status(), e.vendor_code()),
        (ErrorClass::RowFatal, Some(404), Some("NOT_FOUND"))
    );
    let e = err(client.get_project(&unknown).await);
    assert_eq!(e.class(), ErrorClass::RowFatal);

    // A watermark the client cannot judge (a relative URL) is refused by the server...
    let pid = client.create_project(&project_body("wm")).await.unwrap();
    let e = err(client
        .create_export(
            None,
            pid.as_str(),
            &ExportRequest::with_watermark(Watermark::new("logo.png")),
        )
        .await);
    assert_eq!((e.class(), e.status()), (ErrorClass::RowFatal, Some(400)));
    assert!(
        e.vendor_message().unwrap().contains("/watermark/src_url"),
        "{e}"
    );
    // ...one it can is refused before a request is spent.
    let before = sandbox.stats().requests;
    let e = err(client
        .create_export(
            None,
            pid.as_str(),
            &ExportRequest::with_watermark(Watermark::new("https://e/l.png").position(2.0, 0.5)),
        )
        .await);
    assert!(matches!(e.kind(), ApiErrorKind::InvalidRequest(_)), "{e:?}");
    assert_eq!(sandbox.stats().requests, before);
}

#[tokio::test]
async fn a_bad_key_stops_the_run() {
    let sandbox = start(SandboxConfig::default()).await;
    let client = client_with(&sandbox, Credentials::ApiKey(Secret::new(WRONG_KEY)));
    let e = err(client.create_project(&project_body("x")).await);
    assert_eq!(e.class(), ErrorClass::RunFatal);
    assert_eq!(
        (e.status(), e.vendor_code()),
        (Some(401), Some("UNAUTHORIZED"))
    );
    let e = err(client.list_exports(None, None).await);
    assert_eq!(e.class(), ErrorClass::RunFatal);
    let e = err(client
        .progress(&ProjectId::new("0123456789abcdef01234567").unwrap())
        .await);
    assert_eq!(e.class(), ErrorClass::RunFatal);
    assert!(!client.check_auth().await.unwrap());
    assert_eq!(sandbox.stats().submissions, 0);
}

/// On paused time (the sandbox's budget keeps tokio's clock): six calls at one instant against
/// a 2/s limit, so exactly the burst of 2 passes, however busy the machine.
#[tokio::test(start_paused = true)]
async fn over_the_rate_limit_is_retryable_after_the_given_wait() {
    let sandbox = start(SandboxConfig::default().rate_limit(2)).await;
    let client = key_client(&sandbox);
    let mut limited = Vec::new();
    for _ in 0..6 {
        if let Err(e) = client.list_projects(&ProjectQuery::default()).await {
            shown(&e);
            limited.push(e);
        }
    }
    assert_eq!(limited.len(), 4, "6 calls at once against a 2/s limit");
    for e in &limited {
        assert_eq!(e.status(), Some(429));
        match e.class() {
            ErrorClass::Retryable {
                retry_after: Some(wait),
                maybe_applied: false,
            } => {
                assert!(
                    wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2),
                    "{wait:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sandbox.stats().rate_limited, limited.len() as u64);

    // Waiting as told works.
    tokio::time::sleep(limited[0].retry_after().unwrap()).await;
    client
        .list_projects(&ProjectQuery::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn server_errors_are_retryable_and_maybe_applied() {
    let sandbox = start(SandboxConfig::default().fail_probability(1.0).seed(11)).await;
    let client = key_client(&sandbox);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let e = err(client.create_project(&project_body("x")).await);
        let status = e.status().unwrap();
        assert!(matches!(status, 500 | 502 | 503), "{e}");
        let expected_wait = (status == 503).then(|| Duration::from_secs(1));
        assert_eq!(
            e.class(),
            ErrorClass::Retryable {
                retry_after: expected_wait,
                maybe_applied: true
            },
            "{e}"
        );
        statuses.push(status);
    }
    assert!(statuses.contains(&500), "{statuses:?}");
    assert_eq!(sandbox.stats().faults_500, 12);
    assert_eq!(sandbox.stats().submissions, 0);
}

#[tokio::test]
async fn dropped_connections_are_retryable_and_maybe_applied() {
    // The sandbox drops the connection before acting, but a client cannot tell that from
    // an answer lost after acting: the request was sent, so "maybe applied" is the truth
    // as far as the client knows.
    let sandbox = start(SandboxConfig::default().drop_probability(1.0).seed(3)).await;
    let client = key_client(&sandbox);
    for _ in 0..3 {
        let e = err(client.create_project(&project_body("x")).await);
        assert!(matches!(e.kind(), ApiErrorKind::Transport { .. }), "{e:?}");
        assert_eq!(
            e.class(),
            ErrorClass::Retryable {
                retry_after: None,
                maybe_applied: true
            }
        );
        assert!(!shown(&e).contains("http://"), "no url in the message: {e}");
    }
    assert_eq!(sandbox.stats().faults_dropped, 3);
    assert_eq!(sandbox.stats().submissions, 0);
}

#[tokio::test]
async fn a_lost_create_answer_is_maybe_applied_and_the_project_is_found_by_name() {
    // Instant renders: the vendor lists a project only once it is exported.
    let sandbox = start(
        SandboxConfig::default()
            .lost_probability(0.3)
            .render_time(Duration::ZERO..Duration::ZERO)
            .seed(5),
    )
    .await;
    let client = key_client(&sandbox);
    // Create until one answer is lost.
    let mut name = String::new();
    for i in 0..40 {
        name = format!("row-{i}");
        match client.create_project(&project_body(&name)).await {
            Ok(_) => continue,
            Err(e) => {
                shown(&e);
                assert!(matches!(e.kind(), ApiErrorKind::Transport { .. }), "{e:?}");
                assert_eq!(
                    e.class(),
                    ErrorClass::Retryable {
                        retry_after: None,
                        maybe_applied: true
                    }
                );
                break;
            }
        }
    }
    assert!(
        sandbox.stats().faults_lost >= 1,
        "a 0.3 lost rate over 40 calls loses one"
    );
    // The dispatcher's recovery: list by name (retrying lost answers) instead of resubmitting.
    let page = loop {
        match client.list_projects(&ProjectQuery::named(&name)).await {
            Ok(page) => break page,
            Err(e) => assert!(e.class().is_retryable(), "{e}"),
        }
    };
    assert_eq!(page.projects.len(), 1, "the lost create did create {name}");
}

#[tokio::test]
async fn latency_beyond_the_request_timeout_is_a_retryable_timeout() {
    let sandbox =
        start(SandboxConfig::default().latency(Duration::from_secs(60)..Duration::from_secs(61)))
            .await;
    let client = Client::new(
        ClientConfig::new(Credentials::ApiKey(Secret::new(KEY)))
            .base_url(sandbox.base_url())
            .request_timeout(Duration::from_millis(250)),
    )
    .unwrap();
    // Only the client's 250 ms timeout can end the call before the hang guard does.
    let e = err(tokio::time::timeout(
        Duration::from_secs(30),
        client.create_project(&project_body("slow")),
    )
    .await
    .expect("the request timeout ends the call"));
    assert!(matches!(e.kind(), ApiErrorKind::Timeout { .. }), "{e:?}");
    assert_eq!(
        e.class(),
        ErrorClass::Retryable {
            retry_after: None,
            maybe_applied: true
        }
    );
    assert_eq!(
        shown(&e),
        "create project: no answer within 0.25s: operation timed out"
    );
}

#[tokio::test]
async fn a_stopped_server_is_retryable_and_certainly_not_applied() {
    let sandbox = start(SandboxConfig::default()).await;
    key_client(&sandbox).check_auth().await.unwrap();
    // A fresh client, so no pooled connection is involved: the port is simply closed.
    let client = key_client(&sandbox);
    sandbox.shutdown().await;
    let e = err(client.create_project(&project_body("x")).await);
    assert!(matches!(e.kind(), ApiErrorKind::Connect { .. }), "{e:?}");
    assert_eq!(
        e.class(),
        ErrorClass::Retryable {
            retry_after: None,
            maybe_applied: false
        },
        "{e:?}"
    );
}

#[tokio::test]
async fn render_failures_are_answers() {
    let sandbox = start(
        SandboxConfig::default()
            .render_fail_probability(1.0)
            .render_time(Duration::from_millis(100)..Duration::from_millis(150))
            .seed(2),
    )
    .await;
    let client = key_client(&sandbox);
    let id = client
        .create_project(&project_body("doomed"))
        .await
        .unwrap();
    match poll_until_done(&client, &id).await {
        Progress::Failed { code, message } => {
            assert_eq!(code, "RENDER_FAILED");
            assert!(message.starts_with("render failed"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        client.get_project(&id).await.unwrap().state,
        ProjectState::Failed
    );
}

/// On paused time (the sandbox's tokens and the client's cache keep tokio's clock): the five
/// calls all fall inside the token's 1.5 s, the next one after it, however busy the machine.
#[tokio::test(start_paused = true)]
async fn app_credentials_fetch_one_token_reuse_it_and_renew_it_when_refused() {
    let sandbox = start(SandboxConfig::default().token_ttl(Duration::from_millis(1500))).await;
    let client = client_with(&sandbox, app(USER_KEY));

    let id = client.create_project(&project_body("tok")).await.unwrap();
    client.progress(&id).await.unwrap();
    client.list_exports(None, None).await.unwrap(); // v2 with the token as Bearer
    assert!(client.check_auth().await.unwrap());
    assert_eq!(sandbox.stats().tokens_issued, 1);
    assert_eq!(client.token_requests(), 1);
    assert_eq!(sandbox.stats().requests, 5, "1 token + 4 calls");

    // The sandbox's token expires; the next call is refused once, renewed, and sent again.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    client.get_project(&id).await.unwrap();
    assert_eq!(sandbox.stats().tokens_issued, 2);
    assert_eq!(sandbox.stats().requests, 8, "+ refused call, token, call");
    client.progress(&id).await.unwrap();
    assert_eq!(sandbox.stats().tokens_issued, 2, "the new token is reused");
}

/// On paused time: the call 500 ms in is past the 400 ms refresh age and inside the 900 ms
/// life, exactly.
#[tokio::test(start_paused = true)]
async fn app_tokens_are_renewed_ahead_of_expiry() {
    let sandbox = start(SandboxConfig::default().token_ttl(Duration::from_millis(900))).await;
    let client = Client::new(
        ClientConfig::new(app(USER_KEY))
            .base_url(sandbox.base_url())
            .token_refresh_after(Duration::from_millis(400)),
    )
    .unwrap();
    let id = client.create_project(&project_body("ahead")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.progress(&id).await.unwrap();
    assert_eq!(sandbox.stats().tokens_issued, 2);
    assert_eq!(
        sandbox.stats().requests,
        4,
        "token, call, token, call: no refused call"
    );
}

#[tokio::test]
async fn concurrent_callers_share_one_token_fetch() {
    let sandbox = start(SandboxConfig::default()).await;
    let client = client_with(&sandbox, app(USER_KEY));
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { client.check_auth().await }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap());
    }
    assert_eq!(sandbox.stats().tokens_issued, 1);
}

#[tokio::test]
async fn refused_app_credentials_stop_the_run() {
    let sandbox = start(SandboxConfig::default()).await;
    let client = client_with(&sandbox, app(WRONG_USER_KEY));
    let e = err(client.create_project(&project_body("x")).await);
    assert_eq!(e.stage(), Stage::Token);
    assert_eq!(e.class(), ErrorClass::RunFatal);
    assert_eq!(e.status(), Some(401));
    assert!(
        shown(&e)
            .starts_with("create project: fetch access token: server answered 401 UNAUTHORIZED"),
        "{e}"
    );
    assert!(!client.check_auth().await.unwrap());
    assert_eq!(sandbox.stats().submissions, 0);
}

#[tokio::test]
async fn no_secret_in_any_error_under_every_fault() {
    // Mixed faults, wrong keys, both kinds of credentials: every error and every answer
    // seen is formatted and checked.
    let sandbox = start(
        SandboxConfig::default()
            .rate_limit(20)
            .fail_probability(0.2)
            .drop_probability(0.1)
            .lost_probability(0.1)
            .render_fail_probability(0.3)
            .render_time(Duration::from_millis(50)..Duration::from_millis(100))
            .seed(99),
    )
    .await;
    let clients = [
        key_client(&sandbox),
        client_with(&sandbox, Credentials::ApiKey(Secret::new(WRONG_KEY))),
        client_with(&sandbox, app(USER_KEY)),
        client_with(&sandbox, app(WRONG_USER_KEY)),
    ];
    let mut errors = 0;
    for round in 0..15 {
        for client in &clients {
            let created = client
                .create_project(&project_body(&format!("leak-{round}")))
                .await;
            match &created {
                Ok(id) => {
                    shown(id);
                    if let Ok(p) = client.progress(id).await {
                        shown(&format!("{p:?}"));
                    }
                }
                Err(e) => {
                    shown(e);
                    errors += 1;
                }
            }
            for r in [
                client
                    .list_projects(&ProjectQuery::named(format!("leak-{round}")))
                    .await
                    .map(|p| format!("{p:?}")),
                client
                    .list_exports(None, None)
                    .await
                    .map(|p| format!("{p:?}")),
                client.check_auth().await.map(|p| format!("{p:?}")),
            ] {
                match r {
                    Ok(text) => {
                        shown(&text);
                    }
                    Err(e) => {
                        shown(&e);
                        errors += 1;
                    }
                }
            }
        }
    }
    assert!(
        errors > 20,
        "the faults should have produced errors, got {errors}"
    );
}
