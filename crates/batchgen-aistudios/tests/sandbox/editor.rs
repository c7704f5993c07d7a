//! The 1.5.x+ calls against the sandbox: export of an existing project (a draft), get with
//! its credit fields, delete, the avatar and workspace lists, and the webhook body with its
//! credit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use batchgen_aistudios::{
    ApiErrorKind, ErrorClass, ProjectExport, ProjectId, ProjectQuery, ProjectState, Resolution,
    WebhookEnd, WebhookPayload,
};
use batchgen_sandbox::SandboxConfig;

use super::{err, key_client, poll_until_done, project_body, shown, start};

fn draft_body(name: &str) -> Vec<u8> {
    let mut body: serde_json::Value = serde_json::from_slice(&project_body(name)).unwrap();
    body["isExport"] = false.into();
    serde_json::to_vec(&body).unwrap()
}

/// A webhook receiver on loopback that keeps the raw bodies.
async fn receiver() -> (Arc<Mutex<Vec<Vec<u8>>>>, String) {
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State(got): axum::extract::State<Arc<Mutex<Vec<Vec<u8>>>>>,
                 body: axum::body::Bytes| async move {
                    got.lock().unwrap().push(body.to_vec());
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (got, url)
}

#[tokio::test]
async fn a_draft_is_exported_then_its_credits_show_in_get_and_the_webhook() {
    let sandbox = start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(100)..Duration::from_millis(200)),
    )
    .await;
    let client = key_client(&sandbox);
    let (hooks, url) = receiver().await;
    let id = client
        .create_project(&draft_body("review me"))
        .await
        .unwrap();
    let info = client.get_project(&id).await.unwrap();
    assert_eq!(info.state, ProjectState::Draft);
    assert_eq!(info.credit_subtracted, Some(false));
    assert_eq!(info.backend_task_id, None);

    let workspace = client.workspaces().await.unwrap()[0].id.clone();
    let request = ProjectExport::new(id.clone())
        .workspace(workspace)
        .resolution(Resolution::P720)
        .webhook_url(url);
    let exported = client.export_project(&request).await.unwrap();
    assert_eq!(exported, id);
    assert!(poll_until_done(&client, &id).await.is_finished());
    let info = client.get_project(&id).await.unwrap();
    assert_eq!(info.state, ProjectState::Completed);
    assert_eq!(info.credit_subtracted, Some(true));
    assert!(info.backend_task_id.is_some() && info.updated_at.is_some());

    // A hang guard, not a margin: the webhook comes as the render ends.
    tokio::time::timeout(super::HANG_GUARD, async {
        while hooks.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("no webhook came");
    let body = hooks.lock().unwrap()[0].clone();
    let payload = WebhookPayload::parse(&body).unwrap();
    assert_eq!(payload.backend_task_id, info.backend_task_id);
    let WebhookEnd::Ready {
        download_url,
        credit,
    } = payload.end().unwrap()
    else {
        panic!("{payload:?}");
    };
    assert_eq!(Some(download_url), info.download_url);
    assert!(credit >= Some(1), "{credit:?}");

    let page = client
        .list_projects(&ProjectQuery::named("review me"))
        .await
        .unwrap();
    assert_eq!(page.projects.len(), 1);
    let s = sandbox.stats();
    assert_eq!((s.drafts, s.project_exports, s.repeat_exports), (1, 1, 0));
}

#[tokio::test]
async fn export_errors_are_classed() {
    let sandbox = start(SandboxConfig::default()).await;
    let client = key_client(&sandbox);
    let unknown = ProjectId::new("0123456789abcdef01234567").unwrap();
    let e = err(client.export_project(&ProjectExport::new(unknown)).await);
    assert_eq!(e.status(), Some(404));
    assert_eq!(e.class(), ErrorClass::RowFatal);
    assert!(
        e.to_string()
            .starts_with("export project: server answered 404"),
        "{e}"
    );
    let id = client.create_project(&draft_body("d")).await.unwrap();
    let e = err(client
        .export_project(&ProjectExport::new(id.clone()).workspace("not-mine"))
        .await);
    assert_eq!(e.class(), ErrorClass::RowFatal);
    assert!(e.to_string().contains("/workspaceId"), "{e}");
    // Checked before sending: nothing reaches the server.
    let before = sandbox.stats().requests;
    let e = err(client
        .export_project(&ProjectExport::new(id).webhook_url("/relative"))
        .await);
    assert!(matches!(e.kind(), ApiErrorKind::InvalidRequest(_)), "{e:?}");
    assert_eq!(sandbox.stats().requests, before);
}

#[tokio::test]
async fn delete_counts_what_it_deleted() {
    let sandbox = start(SandboxConfig::default()).await;
    let client = key_client(&sandbox);
    let a = client.create_project(&draft_body("a")).await.unwrap();
    let b = client.create_project(&draft_body("b")).await.unwrap();
    let gone = ProjectId::new("0123456789abcdef01234567").unwrap();
    assert_eq!(client.delete_projects(&[a.clone(), gone]).await.unwrap(), 1);
    assert_eq!(err(client.get_project(&a).await).status(), Some(404));
    assert_eq!(client.get_project(&b).await.unwrap().id, b);
    let before = sandbox.stats().requests;
    assert_eq!(client.delete_projects(&[]).await.unwrap(), 0);
    assert_eq!(sandbox.stats().requests, before, "nothing sent for no ids");
}

#[tokio::test]
async fn the_account_lists_its_avatars_with_clothes_and_its_workspaces() {
    let sandbox = start(SandboxConfig::default()).await;
    let client = key_client(&sandbox);
    let models = client.models().await.unwrap();
    shown(&format!("{models:?}"));
    let daniel = models.iter().find(|m| m.id == "M000045058").unwrap();
    assert!(daniel.has_cloth("BG00002320"), "{daniel:?}");
    assert!(!daniel.label.best().is_empty());
    assert!(daniel.clothes.iter().all(|c| c.thumbnail.is_some()));
    assert!(models.len() >= 2);
    let workspaces = client.workspaces().await.unwrap();
    assert!(!workspaces.is_empty());
    assert!(workspaces.iter().all(|w| w.name.is_some()));
    // Wrong key: refused like every call.
    let wrong = super::client_with(
        &sandbox,
        batchgen_aistudios::Credentials::ApiKey(batchgen_aistudios::Secret::new(super::WRONG_KEY)),
    );
    let e = err(wrong.models().await);
    assert_eq!(e.class(), ErrorClass::RunFatal);
    assert!(e.to_string().starts_with("list avatars: "), "{e}");
}
