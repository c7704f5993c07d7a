//! v2 exports: create and status in a folder and direct, list filters, watermark rules,
//! folder/project mismatches and Bearer auth.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, HANG_GUARD, PROJECT, expect_error, fast, json, start};

const WATERMARK: &str = include_str!("../fixtures/v2-create-export.json");

/// Polls the export until its status is `want` (it may only be `processing` before), under
/// the hang guard: a guard, not a margin (these exports take well under a second).
async fn wait_status(api: &Api<'_>, path: &str, want: &str) -> Value {
    let poll = async {
        loop {
            let (s, v) = json(api.v2(Method::GET, path).send().await.unwrap()).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            if v["status"] == want {
                return v;
            }
            assert_eq!(v["status"], "processing", "{v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(HANG_GUARD, poll)
        .await
        .unwrap_or_else(|_| panic!("{path} never became {want} (hang guard {HANG_GUARD:?})"))
}

#[tokio::test]
async fn seeded_projects_live_five_to_a_folder_and_show_in_the_v3_list() {
    let sb = start(fast().seed_projects(7)).await;
    let api = Api::new(&sb);
    let seeded = sb.seeded_projects().to_vec();
    assert_eq!(seeded.len(), 7);
    let folders: Vec<&str> = seeded.iter().map(|s| s.folder_id.as_str()).collect();
    assert_eq!(folders[..5], ["folder_001"; 5]);
    assert_eq!(folders[5..], ["folder_002"; 2]);
    let (_, v) = json(
        api.c
            .get(api.url("/__sandbox/seeded"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let over_http: Vec<batchgen_sandbox::SeededProject> = serde_json::from_value(v).unwrap();
    assert_eq!(over_http, seeded);
    let (_, v) = json(
        api.v3(Method::GET, "/api/odin/v3/editor/project")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let listed = v["data"].as_array().unwrap();
    assert_eq!(listed.len(), 7);
    assert!(
        listed
            .iter()
            .all(|p| p["state"] == "exported" && p["download_url"].is_string())
    );
    assert_eq!(sb.stats().projects, 7);
}

#[tokio::test]
async fn export_in_a_folder_goes_from_processing_to_ready() {
    let sb = start(fast().seed_projects(2)).await;
    let api = Api::new(&sb);
    let p = sb.seeded_projects()[1].clone();
    let base = format!("/v2/projects/{}/{}/exports", p.folder_id, p.project_id);
    let r = api
        .v2(Method::POST, &base)
        .header("Content-Type", "application/json")
        .body(WATERMARK)
        .send()
        .await
        .unwrap();
    let (status, created) = json(r).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let keys: Vec<_> = created.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "id",
            "status",
            "src_url",
            "project_id",
            "created_at",
            "finished_at",
            "name",
            "author_id",
            "folder_id",
            "descriptions"
        ]
    );
    assert_eq!(created["id"], "export_001");
    assert_eq!(created["status"], "processing");
    assert_eq!(created["src_url"], Value::Null);
    assert_eq!(created["finished_at"], Value::Null);
    assert_eq!(created["project_id"], p.project_id.as_str());
    assert_eq!(created["folder_id"], p.folder_id.as_str());
    assert_eq!(created["descriptions"], "Export started.");

    let ready = wait_status(&api, &format!("{base}/export_001"), "ready").await;
    let src = ready["src_url"].as_str().unwrap();
    assert_eq!(src, format!("{}/downloads/export_001.mp4", sb.base_url()));
    assert!(ready["finished_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ready["descriptions"], "Export completed successfully.");
    let video = api.c.get(src).send().await.unwrap();
    assert_eq!(video.status(), StatusCode::OK);
    assert_eq!(video.headers()["content-type"], "video/mp4");
    assert_eq!(sb.stats().exports, 1);
}

#[tokio::test]
async fn direct_export_of_a_v3_project_has_no_folder() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let id = api.create(PROJECT).await;
    // No body at all: the watermark is optional.
    let (s, created) = json(
        api.v2(Method::POST, &format!("/v2/projects/{id}/exports"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{created}");
    assert_eq!(created["folder_id"], Value::Null);
    assert_eq!(created["name"], "Test Project Using Api");
    let eid = created["id"].as_str().unwrap();
    let ready = wait_status(&api, &format!("/v2/projects/{id}/exports/{eid}"), "ready").await;
    assert!(ready["src_url"].is_string());
    // Two exports get two ids.
    let (_, second) = json(
        api.v2(Method::POST, &format!("/v2/projects/{id}/exports"))
            .body(WATERMARK)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(second["id"], "export_002");
}

#[tokio::test]
async fn list_filters_by_folder_and_project() {
    let sb = start(fast().seed_projects(6)).await;
    let api = Api::new(&sb);
    let seeded = sb.seeded_projects().to_vec();
    // Exports of folder_001's first project (x2), its second, and folder_002's only project.
    for p in [&seeded[0], &seeded[0], &seeded[1], &seeded[5]] {
        let path = format!("/v2/projects/{}/{}/exports", p.folder_id, p.project_id);
        let r = api.v2(Method::POST, &path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let direct = api.create(PROJECT).await;
    api.v2(Method::POST, &format!("/v2/projects/{direct}/exports"))
        .send()
        .await
        .unwrap();
    let ids = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |q: String| {
        let api = &api;
        async move {
            json(
                api.v2(Method::GET, &format!("/v2/exports{q}"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
            .1
        }
    };
    assert_eq!(ids(get(String::new()).await).len(), 5);
    assert_eq!(
        ids(get("?folder_id=folder_001".into()).await),
        ["export_001", "export_002", "export_003"]
    );
    assert_eq!(
        ids(get(format!(
            "?folder_id=folder_001&project_id={}",
            seeded[0].project_id
        ))
        .await),
        ["export_001", "export_002"]
    );
    assert_eq!(
        ids(get(format!("?project_id={direct}")).await),
        ["export_005"]
    );
    assert!(ids(get("?folder_id=folder_009".into()).await).is_empty());
}

#[tokio::test]
async fn folder_and_project_must_match() {
    let sb = start(fast().seed_projects(6)).await;
    let api = Api::new(&sb);
    let seeded = sb.seeded_projects().to_vec();
    let v3 = api.create(PROJECT).await;
    let not_found = [
        format!("/v2/projects/folder_002/{}/exports", seeded[0].project_id),
        format!("/v2/projects/folder_001/{v3}/exports"),
        format!("/v2/projects/{}/exports", seeded[0].project_id),
        "/v2/projects/folder_001/0123456789abcdef01234567/exports".to_owned(),
        format!("/v2/projects/not_a_folder/{}/exports", seeded[0].project_id),
    ];
    for path in &not_found {
        let r = api.v2(Method::POST, path).send().await.unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }
    let ok = format!("/v2/projects/folder_001/{}/exports", seeded[0].project_id);
    assert_eq!(
        api.v2(Method::POST, &ok).send().await.unwrap().status(),
        StatusCode::OK
    );
    for path in [
        format!(
            "/v2/projects/folder_001/{}/exports/export_001",
            seeded[1].project_id
        ),
        format!(
            "/v2/projects/folder_001/{}/exports/export_999",
            seeded[0].project_id
        ),
        format!("/v2/projects/{v3}/exports/export_001"),
    ] {
        let r = api.v2(Method::GET, &path).send().await.unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }
    assert_eq!(sb.stats().exports, 1);
}

#[tokio::test]
async fn watermark_rules_are_400_naming_the_field() {
    let sb = start(fast().seed_projects(1)).await;
    let api = Api::new(&sb);
    let p = sb.seeded_projects()[0].clone();
    let path = format!("/v2/projects/{}/{}/exports", p.folder_id, p.project_id);
    let cases = [
        (json!({"watermark": {"pos_x": 0.5}}), "/watermark/src_url"),
        (
            json!({"watermark": {"src_url": "logo.png"}}),
            "/watermark/src_url",
        ),
        (
            json!({"watermark": {"src_url": "https://e.com/l.png", "pos_x": 1.2}}),
            "/watermark/pos_x",
        ),
        (
            json!({"watermark": {"src_url": "https://e.com/l.png", "pos_y": -0.1}}),
            "/watermark/pos_y",
        ),
        (
            json!({"watermark": {"src_url": "https://e.com/l.png", "scale": 0}}),
            "/watermark/scale",
        ),
        (json!({"watermark": "big"}), "/watermark"),
    ];
    for (body, field) in cases {
        let r = api
            .v2(Method::POST, &path)
            .json(&body)
            .send()
            .await
            .unwrap();
        let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
        assert!(msg.starts_with(field), "{body}: {msg}");
    }
    assert_eq!(sb.stats().exports, 0);
}

#[tokio::test]
async fn v2_wants_bearer() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let r = api.v3(Method::GET, "/v2/exports").send().await.unwrap();
    let msg = expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert!(msg.contains("Bearer"), "{msg}");
    let r = api.c.get(api.url("/v2/exports")).send().await.unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let r = api
        .c
        .get(api.url("/v2/exports"))
        .header("Authorization", "Bearer wrong")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn failing_exports_end_failed_without_src_url() {
    let sb = start(fast().seed_projects(1).render_fail_probability(1.0)).await;
    let api = Api::new(&sb);
    let p = sb.seeded_projects()[0].clone();
    let path = format!("/v2/projects/{}/{}/exports", p.folder_id, p.project_id);
    api.v2(Method::POST, &path).send().await.unwrap();
    let failed = wait_status(&api, &format!("{path}/export_001"), "failed").await;
    assert_eq!(failed["src_url"], Value::Null);
    assert!(failed["finished_at"].is_string());
    let r = api
        .c
        .get(api.url("/downloads/export_001.mp4"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(sb.stats().renders_failed, 1);
}
