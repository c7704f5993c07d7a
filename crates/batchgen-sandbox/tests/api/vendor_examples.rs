//! The exact request bodies of the vendor's examples (`tests/fixtures/`, see its README)
//! are accepted as sent, except where the docs' own rules refuse them (the JSON-template
//! tutorial gives both scenes `sceneIdx` 0).

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::common::{Api, expect_error, fast, json, start};

const AUTH_PAGE: &str = include_str!("../fixtures/v3-authentication-curl.json");
const EXPORT_PAGE: &str = include_str!("../fixtures/v3-export-project-curl.json");
const TEMPLATE_PAGE: &str = include_str!("../fixtures/v3-json-template.json");
const V2_EXPORT: &str = include_str!("../fixtures/v2-create-export.json");
const CREATE_PAGE_1_6: &str = include_str!("../fixtures/v3-1.6.x-create-project-curl.json");

#[tokio::test]
async fn the_1_6_create_page_body_with_scene_level_scripts_is_accepted() {
    let sb = start(fast().render_time(Duration::from_secs(120)..Duration::from_secs(120))).await;
    let api = Api::new(&sb);
    let id = api.create(CREATE_PAGE_1_6).await;
    let (_, v) = json(
        api.v3(Method::GET, &format!("/api/odin/v3/editor/project/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let script = &v["data"]["project"]["scenes"][0]["scripts"][0];
    assert_eq!(script["modelId"], "M000045058", "{v}");
    assert_eq!(script["clothId"], "BG00002320");
    // The same body naming a model the clip does not use is refused by the core's rule.
    let wrong = CREATE_PAGE_1_6.replacen(
        "\"modelId\": \"M000045058\"",
        "\"modelId\": \"M000004017\"",
        1,
    );
    assert_ne!(wrong, CREATE_PAGE_1_6);
    let r = api
        .v3(Method::POST, "/api/odin/v3/editor/project")
        .body(wrong)
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(msg.contains("/scenes/0/scripts/0/modelId"), "{msg}");
}

#[tokio::test]
async fn every_v3_example_body_is_accepted_byte_for_byte() {
    // Slow renders: the export page's webhook (a dead loopback port) never comes due.
    let sb = start(fast().render_time(Duration::from_secs(120)..Duration::from_secs(120))).await;
    let api = Api::new(&sb);
    let mut ids = Vec::new();
    for (page, body) in [
        ("authentication", AUTH_PAGE),
        ("export project", EXPORT_PAGE),
    ] {
        // Sent as the cURL/fetch examples do: raw key, JSON content type, the body verbatim.
        let r = api
            .v3(Method::POST, "/api/odin/v3/editor/project")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, v) = json(r).await;
        assert_eq!(status, StatusCode::OK, "{page}: {v}");
        assert_eq!(v["success"], true, "{page}: {v}");
        let id = v["data"]["projectId"].as_str().unwrap().to_owned();
        ids.push(id.clone());
        // The progress call of the JSON-template page's loop.
        let (_, p) = json(
            api.v3(Method::GET, &format!("/api/odin/v3/editor/progress/{id}"))
                .header("Content-Type", "application/json")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(p["success"], true, "{page}: {p}");
        assert!(p["data"]["progress"].as_f64().unwrap() < 100.0);
    }
    // The tutorial as printed repeats sceneIdx 0, which the create page forbids.
    let r = api
        .v3(Method::POST, "/api/odin/v3/editor/project")
        .header("Content-Type", "application/json")
        .body(TEMPLATE_PAGE)
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(msg.contains("/scenes/1/sceneIdx"), "{msg}");
    // The get-project page's call, for each (the list shows exported projects only, and
    // these still render): the export page's body has no name, so it gets the default.
    let mut names = Vec::new();
    for id in &ids {
        let (_, v) = json(
            api.v3(Method::GET, &format!("/api/odin/v3/editor/project/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        names.push(v["data"]["project"]["name"].as_str().unwrap().to_owned());
    }
    assert_eq!(names, ["Test Project Using Api", "Default Template"]);
}

#[tokio::test]
async fn the_example_as_printed_with_its_trailing_comma_is_400_naming_the_place() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let as_printed = EXPORT_PAGE.replacen("}\n        ],", "},\n        ],", 1);
    assert_ne!(as_printed, EXPORT_PAGE);
    let r = api
        .v3(Method::POST, "/api/odin/v3/editor/project")
        .body(as_printed)
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(msg.contains("trailing comma at line 119 column"), "{msg}");
}

#[tokio::test]
async fn the_v2_example_body_creates_exports_in_a_folder_and_direct() {
    let sb = start(fast().seed_projects(1)).await;
    let api = Api::new(&sb);
    let seeded = sb.seeded_projects()[0].clone();
    let direct = api.create(AUTH_PAGE).await;
    for path in [
        format!(
            "/v2/projects/{}/{}/exports",
            seeded.folder_id, seeded.project_id
        ),
        format!("/v2/projects/{direct}/exports"),
    ] {
        let r = api
            .v2(Method::POST, &path)
            .header("Content-Type", "application/json")
            .body(V2_EXPORT)
            .send()
            .await
            .unwrap();
        let (status, v) = json(r).await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        assert_eq!(v["status"], "processing");
    }
}
