//! Tokens: issue, use on v3 and v2, expiry, and `GET /api/odin/v3/auth`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, PROJECT, expect_error, fast, json, start};

const TOKEN: &str = "/api/odin/v3/auth/token";

async fn issue(api: &Api<'_>, app_id: &str, user_key: &str) -> reqwest::Response {
    api.c
        .post(api.url(TOKEN))
        .json(&json!({"appId": app_id, "userKey": user_key}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn app_credentials_buy_a_token_that_works_raw_on_v3_and_bearer_on_v2() {
    let sb = start(fast().app_credentials("my-app", "my-user-key")).await;
    let api = Api::new(&sb);
    let (status, v) = json(issue(&api, "my-app", "my-user-key").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["success"], true);
    let token = v["data"]["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32 && token != sb.api_key());

    let r = api
        .c
        .post(api.url("/api/odin/v3/editor/project"))
        .header("Authorization", &token)
        .body(PROJECT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = api
        .c
        .get(api.url("/v2/exports"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, v) = json(
        api.c
            .get(api.url("/api/odin/v3/auth"))
            .header("Authorization", &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        v,
        json!({"success": true, "data": {"isAuthenticated": true}})
    );
    assert_eq!(sb.stats().tokens_issued, 1);
}

#[tokio::test]
async fn wrong_app_credentials_are_401_and_bad_bodies_400() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let msg = expect_error(
        issue(&api, "sandbox-app", "not-the-key").await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    assert!(!msg.contains("not-the-key"), "{msg}");
    let r = api
        .c
        .post(api.url(TOKEN))
        .json(&json!({"appId": "sandbox-app"}))
        .send()
        .await
        .unwrap();
    let msg = expect_error(r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER").await;
    assert!(msg.contains("/userKey"), "{msg}");
    let ok = issue(
        &api,
        batchgen_sandbox::DEFAULT_APP_ID,
        batchgen_sandbox::DEFAULT_USER_KEY,
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
}

/// On paused time (the sandbox's tokens keep tokio's clock): the token is used at once, well
/// inside its 300 ms, and again 400 ms later, past it; no machine's speed changes either.
#[tokio::test(start_paused = true)]
async fn tokens_expire_after_their_ttl() {
    let sb = start(fast().token_ttl(Duration::from_millis(300))).await;
    let api = Api::new(&sb);
    let (_, v) = json(issue(&api, "sandbox-app", "sandbox-user-key").await).await;
    let token = v["data"]["token"].as_str().unwrap().to_owned();
    let list = || {
        api.c
            .get(api.url("/api/odin/v3/editor/project"))
            .header("Authorization", &token)
            .send()
    };
    assert_eq!(list().await.unwrap().status(), StatusCode::OK);
    // Still good 1 ms before the end of its life…
    tokio::time::sleep(Duration::from_millis(299)).await;
    assert_eq!(list().await.unwrap().status(), StatusCode::OK);
    // …and expired after it.
    tokio::time::sleep(Duration::from_millis(101)).await;
    let msg = expect_error(
        list().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    assert!(msg.contains("expired"), "{msg}");
    let (_, v) = json(
        api.c
            .get(api.url("/api/odin/v3/auth"))
            .header("Authorization", &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["data"]["isAuthenticated"], false);
}

#[tokio::test]
async fn auth_status_says_false_for_a_bad_key_and_true_for_the_key() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let (s, v) = json(
        api.c
            .get(api.url("/api/odin/v3/auth"))
            .header("Authorization", "nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"]["isAuthenticated"], false);
    let (_, v) = json(
        api.v3(Method::GET, "/api/odin/v3/auth")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["data"]["isAuthenticated"], true);
}
