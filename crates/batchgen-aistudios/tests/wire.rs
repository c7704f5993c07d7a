//! Wire-level tests against a scripted loopback server: exact headers and bodies sent, and
//! how every kind of bad answer is classified.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use batchgen_aistudios::{
    ApiErrorKind, Client, ClientConfig, Credentials, ErrorClass, ExportRequest, ExportStatus,
    Progress, ProjectId, ProjectQuery, Secret, Stage, Watermark,
};
use common::{Action, Scripted};

const KEY: &str = "wire-test-key-0123456789";
const USER_KEY: &str = "wire-user-key-9876543210";

fn key_client(server: &Scripted) -> Client {
    Client::new(
        ClientConfig::new(Credentials::ApiKey(Secret::new(KEY))).base_url(server.base_url()),
    )
    .unwrap()
}

fn app_client(server: &Scripted) -> Client {
    Client::new(
        ClientConfig::new(Credentials::App {
            app_id: "wire-app".into(),
            user_key: Secret::new(USER_KEY),
        })
        .base_url(server.base_url()),
    )
    .unwrap()
}

fn ok(data: &str) -> Action {
    Action::json(200, format!(r#"{{"success":true,"data":{data}}}"#))
}

fn retryable(retry_after: Option<Duration>, maybe_applied: bool) -> ErrorClass {
    ErrorClass::Retryable {
        retry_after,
        maybe_applied,
    }
}

#[tokio::test]
async fn v3_sends_the_raw_key_and_the_body_byte_for_byte() {
    let server = Scripted::start(|_| ok(r#"{"projectId":"65f1c0ffee0123456789abcd"}"#)).await;
    let client = key_client(&server);
    let body = br#"{"name":"row-1","scenes":[{"sceneIdx":0}],  "keep":"spacing"}"#;
    let id = client.create_project(body).await.unwrap();
    assert_eq!(id.as_str(), "65f1c0ffee0123456789abcd");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, "/api/odin/v3/editor/project");
    assert_eq!(r.header("authorization"), Some(KEY));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("user-agent").unwrap().starts_with("batchgen/"));
    assert_eq!(r.body, body);
}

#[tokio::test]
async fn v2_sends_bearer_and_documented_paths() {
    let export = r#"{"id":"export_001","status":"processing","src_url":null,"project_id":"project_001",
        "created_at":"2023-10-02T09:00:00Z","finished_at":null,"name":"Exported Video",
        "author_id":"user_123","folder_id":"folder_001","descriptions":"Export started."}"#;
    let export = export.to_owned();
    let server = Scripted::start(move |r| {
        if r.path() == "/v2/exports" {
            Action::json(200, format!("[{export}]"))
        } else {
            Action::json(200, export.clone())
        }
    })
    .await;
    let client = key_client(&server);
    let req =
        ExportRequest::with_watermark(Watermark::new("https://example.com/logo.png").scale(2.0));
    let e = client
        .create_export(Some("folder_001"), "project_001", &req)
        .await
        .unwrap();
    assert_eq!(e.status, ExportStatus::Processing);
    client
        .create_export(None, "project_001", &ExportRequest::default())
        .await
        .unwrap();
    client
        .export_status(Some("folder_001"), "project_001", "export_001")
        .await
        .unwrap();
    client
        .export_status(None, "project 001", "export_001")
        .await
        .unwrap();
    assert_eq!(
        client
            .list_exports(Some("folder_001"), Some("project_001"))
            .await
            .unwrap()
            .len(),
        1
    );
    client.list_exports(None, None).await.unwrap();

    let reqs = server.requests();
    let seen: Vec<(String, String)> = reqs
        .iter()
        .map(|r| (r.method.clone(), r.target.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", "/v2/projects/folder_001/project_001/exports"),
            ("POST", "/v2/projects/project_001/exports"),
            (
                "GET",
                "/v2/projects/folder_001/project_001/exports/export_001"
            ),
            ("GET", "/v2/projects/project%20001/exports/export_001"),
            (
                "GET",
                "/v2/exports?folder_id=folder_001&project_id=project_001"
            ),
            ("GET", "/v2/exports"),
        ]
        .map(|(m, t)| (m.to_owned(), t.to_owned()))
    );
    for r in &reqs {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
    }
    assert_eq!(
        reqs[0].body,
        br#"{"watermark":{"src_url":"https://example.com/logo.png","scale":2.0}}"#
    );
    assert_eq!(reqs[1].body, b"{}");
}

#[tokio::test]
async fn list_projects_filters_by_name_itself_and_reads_numeric_ids() {
    let server = Scripted::start(|_| {
        ok(r#"[{"id":123,"name":"a b&c","state":"exported","download_url":"http://x/1.mp4"},{"id":124,"name":"a b","state":"exported","download_url":"http://x/2.mp4"}]"#)
    })
    .await;
    let client = key_client(&server);
    let page = client
        .list_projects(&ProjectQuery::named("a b&c").page(2).limit(50))
        .await
        .unwrap();
    assert_eq!(page.projects.len(), 1, "exact names only: {page:?}");
    assert_eq!(page.projects[0].id.as_str(), "123");
    assert_eq!(
        page.projects[0].state,
        batchgen_aistudios::ProjectState::Completed
    );
    assert_eq!(page.total, None);
    let all = client
        .list_projects(&ProjectQuery::default())
        .await
        .unwrap();
    assert_eq!(all.projects.len(), 2);
    let reqs = server.requests();
    assert_eq!(
        reqs[0].target, "/api/odin/v3/editor/project?page=2&limit=50",
        "the name is not a documented parameter"
    );
    assert_eq!(reqs[1].target, "/api/odin/v3/editor/project");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_credentials_fetch_one_token_for_many_concurrent_calls() {
    let server = Scripted::start(|r| match r.path() {
        "/api/odin/v3/auth/token" => {
            std::thread::sleep(Duration::from_millis(50));
            ok(r#"{"token":"tok-AAAAAAAAAAAA"}"#)
        }
        _ => ok(r#"{"progress":"12.5"}"#),
    })
    .await;
    let client = app_client(&server);
    let id = ProjectId::new("p1").unwrap();
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let (client, id) = (client.clone(), id.clone());
        tasks.push(tokio::spawn(async move { client.progress(&id).await }));
    }
    for t in tasks {
        assert_eq!(
            t.await.unwrap().unwrap(),
            Progress::Rendering { percent: 12.5 }
        );
    }
    let reqs = server.requests();
    let tokens: Vec<_> = reqs
        .iter()
        .filter(|r| r.path() == "/api/odin/v3/auth/token")
        .collect();
    assert_eq!(tokens.len(), 1);
    assert_eq!(client.token_requests(), 1);
    let body: serde_json::Value = serde_json::from_slice(&tokens[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"appId": "wire-app", "userKey": USER_KEY})
    );
    assert_eq!(tokens[0].header("authorization"), None);
    for r in reqs
        .iter()
        .filter(|r| r.path() != "/api/odin/v3/auth/token")
    {
        assert_eq!(r.header("authorization"), Some("tok-AAAAAAAAAAAA"));
    }

    // v2 calls use the token as the Bearer value.
    let server2 = Scripted::start(|r| match r.path() {
        "/api/odin/v3/auth/token" => ok(r#"{"token":"tok-BBBBBBBBBBBB"}"#),
        _ => Action::json(200, "[]"),
    })
    .await;
    let client = app_client(&server2);
    client.list_exports(None, None).await.unwrap();
    let reqs = server2.requests();
    assert_eq!(
        reqs[1].header("authorization"),
        Some("Bearer tok-BBBBBBBBBBBB")
    );
}

#[tokio::test]
async fn a_refused_token_is_renewed_once_and_the_call_sent_once_more() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let t = tokens.clone();
    let server = Scripted::start(move |r| match r.path() {
        "/api/odin/v3/auth/token" => {
            let n = t.fetch_add(1, Ordering::SeqCst);
            ok(&format!(r#"{{"token":"tok-{n}-xxxxxxxx"}}"#))
        }
        _ if r.header("authorization") == Some("tok-0-xxxxxxxx") => Action::json(
            401,
            r#"{"success":false,"error":{"code":"TOKEN_EXPIRED","msg":"token expired"}}"#,
        ),
        _ => ok(r#"{"projectId":"fresh-project"}"#),
    })
    .await;
    let client = app_client(&server);
    let id = client.create_project(b"{}").await.unwrap();
    assert_eq!(id.as_str(), "fresh-project");
    let seen: Vec<_> = server
        .requests()
        .iter()
        .map(|r| {
            (
                r.path().to_owned(),
                r.header("authorization").map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("/api/odin/v3/auth/token".to_owned(), None),
            (
                "/api/odin/v3/editor/project".to_owned(),
                Some("tok-0-xxxxxxxx".to_owned())
            ),
            ("/api/odin/v3/auth/token".to_owned(), None),
            (
                "/api/odin/v3/editor/project".to_owned(),
                Some("tok-1-xxxxxxxx".to_owned())
            ),
        ]
    );
    // The renewed token is reused.
    client.create_project(b"{}").await.unwrap();
    assert_eq!(client.token_requests(), 2);
}

#[tokio::test]
async fn a_token_refused_twice_stops_the_run_after_four_requests() {
    let server = Scripted::start(|r| match r.path() {
        "/api/odin/v3/auth/token" => ok(r#"{"token":"tok-always-refused"}"#),
        _ => Action::json(
            401,
            r#"{"success":false,"error":{"code":"UNAUTHORIZED","msg":"invalid token"}}"#,
        ),
    })
    .await;
    let client = app_client(&server);
    let e = client
        .progress(&ProjectId::new("p").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::RunFatal);
    assert_eq!(e.stage(), Stage::Request);
    assert_eq!(server.requests().len(), 4);
    assert_eq!(
        e.to_string(),
        "check render progress: server answered 401 UNAUTHORIZED: invalid token; check the api key or app credentials"
    );
}

#[tokio::test]
async fn refused_app_credentials_stop_the_run_and_check_auth_says_false() {
    let server = Scripted::start(|_| {
        Action::json(401, r#"{"success":false,"error":{"code":"INVALID_USER_KEY","msg":"bad app id or user key"}}"#)
    })
    .await;
    let client = app_client(&server);
    let e = client.create_project(b"{}").await.unwrap_err();
    assert_eq!(e.stage(), Stage::Token);
    assert_eq!(e.class(), ErrorClass::RunFatal);
    assert!(
        e.to_string()
            .starts_with("create project: fetch access token: server answered 401"),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1, "the call itself is never sent");
    assert!(!client.check_auth().await.unwrap());
}

#[tokio::test]
async fn token_endpoint_outage_is_retryable_and_certainly_not_applied() {
    let server = Scripted::start(|r| match r.path() {
        "/api/odin/v3/auth/token" => Action::json(
            500,
            r#"{"success":false,"error":{"code":"INTERNAL_ERROR","msg":"boom"}}"#,
        ),
        _ => ok(r#"{"projectId":"x"}"#),
    })
    .await;
    let e = app_client(&server).create_project(b"{}").await.unwrap_err();
    assert_eq!(e.class(), retryable(None, false));
    assert_eq!(e.stage(), Stage::Token);
}

#[tokio::test]
async fn rate_limit_in_a_200_envelope_with_an_http_date() {
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
    let server = Scripted::start(move |_| {
        Action::json(
            200,
            r#"{"success":false,"error":{"code":"TOO_MANY_REQUESTS","msg":"slow down"}}"#,
        )
        .with_header("retry-after", when.clone())
    })
    .await;
    let e = key_client(&server).create_project(b"{}").await.unwrap_err();
    match e.class() {
        ErrorClass::Retryable {
            retry_after: Some(d),
            maybe_applied: false,
        } => {
            assert!(
                d > Duration::from_secs(25) && d <= Duration::from_secs(30),
                "{d:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.vendor_code(), Some("TOO_MANY_REQUESTS"));
}

#[tokio::test]
async fn proxy_errors_and_garbled_answers_are_retryable_and_maybe_applied() {
    let server = Scripted::start(|r| match r.path() {
        "/api/odin/v3/editor/project" => Action::Reply {
            status: 503,
            headers: vec![
                ("content-type", "text/html".into()),
                ("retry-after", "3".into()),
            ],
            body: "<html><h1>503 Service Temporarily Unavailable</h1></html>".into(),
        },
        "/api/odin/v3/auth" => Action::json(200, r#"{"success":true,"data":{"isAuth"#),
        _ => Action::json(200, r#"{"success":true,"data":{"progress":"soon"}}"#),
    })
    .await;
    let client = key_client(&server);
    let e = client.create_project(b"{}").await.unwrap_err();
    assert_eq!(e.class(), retryable(Some(Duration::from_secs(3)), true));
    assert_eq!(
        e.to_string(),
        "create project: server answered 503: service unavailable"
    );
    let e = client.check_auth().await.unwrap_err();
    assert!(
        matches!(e.kind(), ApiErrorKind::Decode { status: 200, .. }),
        "{e:?}"
    );
    assert_eq!(e.class(), retryable(None, true));
    let e = client
        .progress(&ProjectId::new("p").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.class(), retryable(None, true));
    assert!(
        e.to_string()
            .contains("progress is a string that is not a number"),
        "{e}"
    );
}

#[tokio::test]
async fn lost_and_truncated_answers_are_retryable_and_maybe_applied() {
    let server = Scripted::start(|r| match r.path() {
        "/api/odin/v3/editor/project" => Action::Close,
        _ => Action::Truncate {
            status: 200,
            declared: 200,
            body: r#"{"success":true,"da"#.into(),
        },
    })
    .await;
    let client = key_client(&server);
    let e = client.create_project(b"{}").await.unwrap_err();
    assert!(matches!(e.kind(), ApiErrorKind::Transport { .. }), "{e:?}");
    assert_eq!(e.class(), retryable(None, true));
    let e = client
        .progress(&ProjectId::new("p").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ApiErrorKind::Transport { .. }), "{e:?}");
    assert_eq!(e.class(), retryable(None, true));
    assert!(
        !e.to_string().contains("127.0.0.1"),
        "no url in messages: {e}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_as_maybe_applied() {
    // The server says nothing for a minute: only the client's 300 ms timeout can end the
    // call before the hang guard does (no wall-clock margin to measure).
    let server = Scripted::start(|_| Action::Hang(Duration::from_secs(60))).await;
    let client = Client::new(
        ClientConfig::new(Credentials::ApiKey(Secret::new(KEY)))
            .base_url(server.base_url())
            .request_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(30), client.create_project(b"{}"))
        .await
        .expect("the request timeout ends the call")
        .unwrap_err();
    assert!(matches!(e.kind(), ApiErrorKind::Timeout { .. }), "{e:?}");
    assert_eq!(e.class(), retryable(None, true));
    assert_eq!(
        e.to_string(),
        "create project: no answer within 0.3s: operation timed out"
    );
}

#[tokio::test]
async fn redirects_are_not_followed_and_stop_the_run() {
    let server = Scripted::start(|_| Action::Reply {
        status: 301,
        headers: vec![("location", "https://elsewhere.example/api".into())],
        body: String::new(),
    })
    .await;
    let e = key_client(&server).create_project(b"{}").await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::RunFatal);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        e.to_string(),
        "create project: server answered 301: redirect to https://elsewhere.example/api; check the base url"
    );
}

#[tokio::test]
async fn render_failure_and_state_failure_are_answers() {
    let server = Scripted::start(|r| match r.path() {
        "/api/odin/v3/editor/progress/a" => Action::json(
            200,
            r#"{"success":false,"error":{"code":"RENDER_FAILED","msg":"render failed: avatar unavailable"}}"#,
        ),
        "/api/odin/v3/editor/progress/b" => ok(r#"{"progress":37,"state":"failed"}"#),
        "/api/odin/v3/editor/progress/c" => ok(r#"{"progress":100}"#),
        _ => ok(r#"{"progress":"100","downloadUrl":"http://cdn/c.mp4"}"#),
    })
    .await;
    let client = key_client(&server);
    let p = |id: &str| {
        let (client, id) = (client.clone(), ProjectId::new(id).unwrap());
        async move { client.progress(&id).await.unwrap() }
    };
    assert_eq!(
        p("a").await,
        Progress::Failed {
            code: "RENDER_FAILED".into(),
            message: "render failed: avatar unavailable".into()
        }
    );
    assert!(matches!(p("b").await, Progress::Failed { .. }));
    assert_eq!(p("c").await, Progress::Rendering { percent: 100.0 });
    assert_eq!(
        p("d").await,
        Progress::Done {
            download_url: "http://cdn/c.mp4".into()
        }
    );
}

#[tokio::test]
async fn secrets_echoed_by_a_server_are_scrubbed() {
    let server = Scripted::start(|r| {
        let auth = r.header("authorization").unwrap_or("").to_owned();
        let body = String::from_utf8_lossy(&r.body).replace('"', "'");
        Action::json(
            400,
            format!(r#"{{"success":false,"error":{{"code":"BAD","msg":"you sent {auth} with {body}"}}}}"#),
        )
    })
    .await;
    let e = key_client(&server).create_project(b"{}").await.unwrap_err();
    let shown = format!("{e} | {e:?} | {:?}", e.kind());
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("you sent ***"), "{shown}");
    assert_eq!(e.class(), ErrorClass::RowFatal);

    let e = app_client(&server).create_project(b"{}").await.unwrap_err();
    let shown = format!("{e} | {e:?}");
    assert!(!shown.contains(USER_KEY), "{shown}");
}
