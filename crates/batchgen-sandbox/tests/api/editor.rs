//! v3 on existing projects, as the 1.6.x pages document them: get-project's fields, the
//! list of exported projects, export (drafts, repeats), delete, the model and workspace
//! lists, and the 400 for an avatar the account does not have.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, expect_error, fast, json, project_with, start, until};
use crate::webhooks::Receiver;

const LIST: &str = "/api/odin/v3/editor/project";
const EXPORT: &str = "/api/odin/v3/editor/project/export";

async fn get(api: &Api<'_>, path: &str) -> (StatusCode, Value) {
    json(api.v3(Method::GET, path).send().await.unwrap()).await
}

async fn project(api: &Api<'_>, id: &str) -> Value {
    let (status, v) = get(api, &format!("{LIST}/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["data"]["project"].clone()
}

async fn export(api: &Api<'_>, body: Value) -> reqwest::Response {
    api.v3(Method::POST, EXPORT)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn get_project_has_every_documented_field() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let id = api.create(&project_with(json!({"name": "One"}))).await;
    let p = project(&api, &id).await;
    let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "_id",
            "name",
            "orientation",
            "scenes",
            "userId",
            "templateId",
            "state",
            "thumbnailUrl",
            "baseInfoId",
            "dictionary",
            "backendTaskId",
            "exportType",
            "progress",
            "creditSubstracted",
            "createdAt",
            "updatedAt",
            "download_url"
        ]
    );
    assert_eq!(p["_id"], id.as_str());
    assert_eq!(p["name"], "One");
    assert_eq!(p["orientation"], "landscape");
    assert_eq!(p["scenes"][0]["sceneIdx"], 0, "the scenes as sent");
    assert_eq!(p["state"], "rendering");
    assert!(p["progress"].is_u64(), "progress is an Int: {p}");
    assert_eq!(p["creditSubstracted"], false);
    assert_eq!(p["download_url"], Value::Null);
    let created = p["createdAt"].as_str().unwrap();
    assert!(created.len() == 20 && created.ends_with('Z'), "{created}");
    api.wait_done(&id).await;
    let p = project(&api, &id).await;
    assert_eq!(p["state"], "exported");
    assert_eq!(p["progress"], 100);
    assert_eq!(p["creditSubstracted"], true);
    assert_eq!(
        p["download_url"],
        format!("{}/downloads/{id}.mp4", sb.base_url())
    );
}

#[tokio::test]
async fn the_list_shows_only_exported_projects_and_ignores_query_parameters() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let done_a = api.create(&project_with(json!({"name": "a"}))).await;
    let done_b = api.create(&project_with(json!({"name": "b"}))).await;
    api.wait_done(&done_a).await;
    api.wait_done(&done_b).await;
    let _draft = api
        .create(&project_with(json!({"name": "a", "isExport": false})))
        .await;
    let slow = start(
        fast()
            .render_time(Duration::from_secs(600)..Duration::from_secs(600))
            .seed(3),
    )
    .await;
    let slow_api = Api::new(&slow);
    slow_api.create(&project_with(json!({"name": "a"}))).await;
    let (_, v) = get(&slow_api, LIST).await;
    assert_eq!(v["data"], json!([]), "a render in progress is not listed");

    for query in ["", "?name=b", "?name=zzz&page=7&limit=1", "?page=0"] {
        let (status, v) = get(&api, &format!("{LIST}{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {v}");
        let listed = v["data"].as_array().unwrap();
        let ids: Vec<&str> = listed.iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [done_b.as_str(), done_a.as_str()],
            "{query}: newest first, all"
        );
        let keys: Vec<_> = listed[0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["id", "name", "state", "download_url"]);
        assert_eq!(listed[0]["state"], "exported");
        assert!(listed[0]["download_url"].is_string());
    }
}

/// On paused time: the wait after the delivery covers any other one exactly.
#[tokio::test(start_paused = true)]
async fn exporting_a_draft_renders_it_and_calls_the_exports_webhook() {
    let (rx, url) = Receiver::start(0).await;
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let id = api
        .create(&project_with(
            json!({"isExport": false, "webhookUrl": "http://127.0.0.1:9/never"}),
        ))
        .await;
    let p = project(&api, &id).await;
    assert_eq!(
        (p["state"].as_str(), &p["backendTaskId"]),
        (Some("draft"), &Value::Null)
    );
    let r = export(
        &api,
        json!({"projectId": id, "workspaceId": "65a1f0c2e4b0a1b2c3d4e5f6", "resolution": "720", "webhookUrl": url}),
    )
    .await;
    let (status, v) = json(r).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["projectId"], id.as_str(), "{v}");
    assert_eq!(project(&api, &id).await["state"], "rendering");
    let last = api.wait_done(&id).await;
    assert_eq!(last["data"]["progress"], 100);
    let got = rx.wait_for(1).await;
    assert_eq!(got[0]["progress"], 100);
    assert!(got[0]["credit"].as_u64().unwrap() >= 1);
    // The receiver has the payload a moment before the sandbox has read its 200 and counted
    // it; then nothing else is tried (a try of the draft's URL, where nothing listens, would
    // count as retried at once).
    until("the delivery counted", || sb.stats().webhooks_sent > 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = sb.stats();
    assert_eq!((s.drafts, s.project_exports, s.repeat_exports), (1, 1, 0));
    assert_eq!(
        (s.webhooks_sent, s.webhooks_retried, s.webhooks_failed),
        (1, 0, 0),
        "the draft's own webhookUrl is not used"
    );
    assert_eq!(rx.received().len(), 1);
}

/// On paused time: the wait after the second delivery covers any later one exactly.
#[tokio::test(start_paused = true)]
async fn exporting_again_renders_and_charges_again() {
    let (rx, url) = Receiver::start(0).await;
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let id = api.create(&project_with(json!({"webhookUrl": url}))).await;
    // Once while the first render runs (it restarts), once after it is done.
    let r = export(&api, json!({"projectId": id, "webhookUrl": url})).await;
    assert_eq!(r.status(), StatusCode::OK);
    api.wait_done(&id).await;
    rx.wait_for(1).await;
    let r = export(&api, json!({"projectId": id, "webhookUrl": url})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(project(&api, &id).await["state"], "rendering");
    api.wait_done(&id).await;
    let got = rx.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        rx.received().len(),
        2,
        "the restarted render's delivery is dropped: {got:?}"
    );
    assert_ne!(got[0]["backendTaskId"], got[1]["backendTaskId"]);
    assert!(got.iter().all(|p| p["credit"].as_u64() >= Some(1)));
    let s = sb.stats();
    assert_eq!((s.project_exports, s.repeat_exports), (2, 2));
}

#[tokio::test]
async fn export_refuses_what_the_docs_do_not_allow() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let id = api.create(&project_with(json!({"isExport": false}))).await;
    for (body, pointer) in [
        (json!({}), "/projectId"),
        (json!({"projectId": 7}), "/projectId"),
        (json!({"projectId": id, "resolution": 1080}), "/resolution"),
        (json!({"projectId": id, "resolution": "8k"}), "/resolution"),
        (
            json!({"projectId": id, "workspaceId": "nope"}),
            "/workspaceId",
        ),
        (
            json!({"projectId": id, "webhookUrl": "/relative"}),
            "/webhookUrl",
        ),
    ] {
        let msg = expect_error(
            export(&api, body.clone()).await,
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
        )
        .await;
        assert!(msg.starts_with(pointer), "{body}: {msg}");
    }
    let msg = expect_error(
        export(&api, json!({"projectId": id, "resolution": 1080})).await,
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER",
    )
    .await;
    assert!(msg.contains("quote it: \"1080\""), "{msg}");
    let r = export(&api, json!({"projectId": "0123456789abcdef01234567"})).await;
    expect_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    // "" for webhookUrl means none.
    let r = export(&api, json!({"projectId": id, "webhookUrl": ""})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sb.stats().project_exports, 1);
}

#[tokio::test]
async fn delete_removes_projects_and_counts_them() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let a = api.create(&project_with(json!({"name": "a"}))).await;
    let b = api.create(&project_with(json!({"name": "b"}))).await;
    let r = api
        .v3(Method::DELETE, LIST)
        .header("Content-Type", "application/json")
        .body(json!({"ids": [a, "0123456789abcdef01234567", "junk"]}).to_string())
        .send()
        .await
        .unwrap();
    let (status, v) = json(r).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"], json!({"deletedCount": 1}));
    let (status, _) = get(&api, &format!("{LIST}/{a}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&api, &format!("/api/odin/v3/editor/progress/{a}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(project(&api, &b).await["name"], "b");
    for body in [json!({}), json!({"ids": []}), json!({"ids": [1]})] {
        let r = api
            .v3(Method::DELETE, LIST)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
        assert!(msg.starts_with("/ids"), "{body}: {msg}");
    }
    let s = sb.stats();
    assert_eq!((s.deleted, s.projects), (1, 1));
}

#[tokio::test]
async fn model_and_workspace_lists_have_the_documented_fields() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let (status, v) = get(&api, "/api/odin/v3/model").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let models = v["data"]["models"].as_array().unwrap();
    assert!(models.len() >= 2);
    let daniel = models.iter().find(|m| m["id"] == "M000045058").unwrap();
    for key in ["id", "label", "thumbnail", "clothes"] {
        assert!(daniel.get(key).is_some(), "{key}: {daniel}");
    }
    assert!(daniel["label"]["en"].is_string() && daniel["label"]["ko"].is_string());
    let cloth = &daniel["clothes"][0];
    assert_eq!(cloth["id"], "BG00002320");
    assert!(cloth["label"]["en"].is_string() && cloth["thumbnail"].is_string());

    let (_, v) = get(&api, "/api/odin/v3/dropdown/models").await;
    let first = &v["data"][0];
    let keys: Vec<_> = first.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["id", "label", "avatarType"]);
    let (_, v) = get(&api, "/api/odin/v3/dropdown/workspaces").await;
    let keys: Vec<_> = v["data"][0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["workspaceId", "workspaceName"]);
    // These need the key like every v3 call.
    let r = api
        .c
        .get(api.url("/api/odin/v3/model"))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn a_project_whose_avatar_is_not_the_accounts_is_400() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let mut body: Value = serde_json::from_str(crate::common::PROJECT).unwrap();
    let clip = body["scenes"][0]["clips"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["type"] == "aiModel")
        .unwrap();
    let pointer_of_model = "/scenes/0/clips/";
    clip["model"]["ai_name"] = json!("M999999999");
    let r = api
        .v3(Method::POST, LIST)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(msg.starts_with(pointer_of_model), "{msg}");
    assert!(
        msg.contains("/model/ai_name: the account has no avatar \"M999999999\""),
        "{msg}"
    );
    assert!(msg.contains("M000045058"), "names the known ones: {msg}");
    assert_eq!(sb.stats().submissions, 0);
    let r = api
        .v3(Method::POST, LIST)
        .body(project_with(json!({"workspaceId": "w1"})))
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(msg.starts_with("/workspaceId"), "{msg}");
}
