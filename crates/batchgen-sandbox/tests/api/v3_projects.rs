//! v3 projects: create, progress, drafts, and their 400/401/404 answers (list, get,
//! export and delete are in `editor.rs`).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, PROJECT, expect_error, fast, json, project_with, start};

const CREATE: &str = "/api/odin/v3/editor/project";

#[tokio::test]
async fn create_answers_a_vendor_shaped_project_id() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let id = api.create(PROJECT).await;
    assert_eq!(id.len(), 24, "{id}");
    assert!(
        id.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let other = api.create(PROJECT).await;
    assert_ne!(id, other);
    let s = sb.stats();
    assert_eq!((s.submissions, s.projects, s.requests), (2, 2, 2));
    assert_eq!(
        s.duplicate_bodies, 1,
        "the same body twice is one duplicate"
    );
}

/// On paused time (the sandbox's renders keep tokio's clock): polled every 100 ms, an 800 ms
/// render is seen at 0, 100, …, 700 ms below 100 % and done at 800 ms, however busy the
/// machine.
#[tokio::test(start_paused = true)]
async fn progress_rises_below_100_then_gives_the_download_url() {
    let sb =
        start(fast().render_time(Duration::from_millis(800)..Duration::from_millis(800))).await;
    let api = Api::new(&sb);
    let id = api.create(PROJECT).await;
    let mut seen = Vec::new();
    let last = loop {
        let r = api
            .v3(Method::GET, &format!("/api/odin/v3/editor/progress/{id}"))
            .send()
            .await
            .unwrap();
        let (status, v) = json(r).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["success"], true, "{v}");
        let p = v["data"]["progress"].as_f64().unwrap();
        seen.push(p);
        if p >= 100.0 {
            break v;
        }
        assert!(
            v["data"].get("downloadUrl").is_none(),
            "no URL while rendering: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(seen.len(), 9, "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {seen:?}"
    );
    assert!(seen[..seen.len() - 1].iter().all(|&p| p < 100.0));
    assert!(seen.iter().any(|&p| p > 0.0 && p < 100.0), "{seen:?}");
    assert_eq!(last["data"]["progress"], 100);
    assert_eq!(
        last["data"]["downloadUrl"],
        format!("{}/downloads/{id}.mp4", sb.base_url())
    );
    assert_eq!(sb.stats().polls as usize, seen.len());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_naming_line_and_column() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let r = api
        .v3(Method::POST, CREATE)
        .body("{\n  \"scenes\": [],\n}")
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(msg.contains("line 3 column 1"), "{msg}");
    assert_eq!(sb.stats().submissions, 0);
}

#[tokio::test]
async fn wrong_field_types_are_400_naming_the_json_path() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let body = project_with(json!({"isExport": "yes", "webhookUrl": "/relative/hook"}));
    let r = api
        .v3(Method::POST, CREATE)
        .body(body)
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(
        msg.contains("/webhookUrl: expected an absolute http(s) URL"),
        "{msg}"
    );
    assert!(msg.contains("/isExport: expected a boolean"), "{msg}");
    let r = api
        .v3(Method::POST, CREATE)
        .body("[1,2]")
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(msg.contains("(document): expected a JSON object"), "{msg}");
}

#[tokio::test]
async fn unknown_fields_are_accepted_and_ignored() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let body = project_with(
        json!({"resolution": "1080", "workspaceId": "65a1f0c2e4b0a1b2c3d4e5f6", "someFutureField": {"x": 1}}),
    );
    api.create(&body).await;
}

#[tokio::test]
async fn bad_keys_are_401_and_never_echoed() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let r = api
        .c
        .post(api.url(CREATE))
        .body(PROJECT)
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert!(msg.contains("missing"), "{msg}");
    let r = api
        .c
        .post(api.url(CREATE))
        .header("Authorization", "wrong-key-4711")
        .body(PROJECT)
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert!(!msg.contains("wrong-key-4711"), "{msg}");
    let r = api
        .c
        .get(api.url("/api/odin/v3/editor/project"))
        .header("Authorization", format!("Bearer {}", sb.api_key()))
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert!(msg.contains("v3 takes the raw key"), "{msg}");
    assert!(!msg.contains(sb.api_key()), "{msg}");
    assert_eq!(sb.stats().submissions, 0);
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    for path in [
        "/api/odin/v3/editor/progress/0123456789abcdef01234567",
        "/api/odin/v3/editor/project/0123456789abcdef01234567",
        "/api/odin/v3/editor/progress/not-an-id",
    ] {
        let r = api.v3(Method::GET, path).send().await.unwrap();
        expect_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }
    let r = api
        .v3(Method::GET, "/api/odin/v3/nothing/here")
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let r = api.v3(Method::PUT, CREATE).send().await.unwrap();
    expect_error(r, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
}

/// On paused time: 400 ms is past any render `fast()` draws (150-300 ms), exactly.
#[tokio::test(start_paused = true)]
async fn is_export_false_saves_a_draft_that_never_renders() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let id = api.create(&project_with(json!({"isExport": false}))).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, v) = json(
        api.v3(Method::GET, &format!("/api/odin/v3/editor/progress/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["data"]["progress"], 0.0);
    let (_, v) = json(
        api.v3(Method::GET, &format!("/api/odin/v3/editor/project/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["data"]["project"]["state"], "draft");
    assert_eq!(v["data"]["project"]["name"], "Test Project Using Api");
    assert_eq!(sb.stats().drafts, 1);
}

#[tokio::test]
async fn stats_endpoint_matches_in_process_stats() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    api.create(PROJECT).await;
    let (status, v) = json(api.c.get(api.url("/__sandbox/stats")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let over_http: batchgen_sandbox::Stats = serde_json::from_value(v).unwrap();
    assert_eq!(over_http, sb.stats());
    assert_eq!(over_http.requests, 1, "/__sandbox/* is not an API call");
    assert_eq!(over_http.peak_requests_per_second, 1);
}

#[tokio::test]
async fn schema_and_rule_violations_from_the_core_are_400_naming_the_pointer() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let mut bad: Value = serde_json::from_str(PROJECT).unwrap();
    bad["scenes"][0]["clips"][0]["width"] = json!("wide");
    let r = api
        .v3(Method::POST, CREATE)
        .body(bad.to_string())
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(msg.starts_with("/scenes/0/clips/0/width: "), "{msg}");
    let r = api
        .v3(Method::POST, CREATE)
        .body(r#"{"scenes": []}"#)
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(msg.starts_with("/scenes: "), "{msg}");
    // The same checks the core runs before a row is ever submitted.
    let core = batchgen_core::validate::validate_project(&bad);
    assert_eq!(core[0].pointer, "/scenes/0/clips/0/width");
    assert!(msg.len() > "/scenes: ".len());
    assert_eq!(sb.stats().submissions, 0);
}

#[tokio::test]
async fn bodies_past_the_limit_are_413_in_the_envelope() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let huge = project_with(json!({"padding": "x".repeat(9 * 1024 * 1024)}));
    let r = api
        .v3(Method::POST, CREATE)
        .body(huge)
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    assert!(msg.contains("8 MiB"), "{msg}");
    assert_eq!(sb.stats().submissions, 0);
}
