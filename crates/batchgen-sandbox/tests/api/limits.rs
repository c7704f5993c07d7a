//! The limits the vendor does not publish: renders in progress (`max_renders`), a rate
//! limit that changes mid-run, and the headers a 429 (and every answer) may carry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use batchgen_sandbox::{LimitHeaders, SandboxConfig};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, PROJECT, expect_error, fast, json, project_with, start};

const CREATE: &str = "/api/odin/v3/editor/project";

async fn create(api: &Api<'_>, body: &str) -> reqwest::Response {
    api.v3(Method::POST, CREATE)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn creates_past_max_renders_are_refused_with_their_own_code_and_polls_never_are() {
    let sb = start(
        fast()
            .max_renders(2)
            .render_time(Duration::from_millis(1500)..Duration::from_millis(1500)),
    )
    .await;
    let api = Api::new(&sb);
    let a = api.create(PROJECT).await;
    let _b = api.create(PROJECT).await;
    let r = create(&api, PROJECT).await;
    assert!(
        r.headers().get("retry-after").is_none(),
        "{:?}",
        r.headers()
    );
    let msg = expect_error(r, StatusCode::TOO_MANY_REQUESTS, "CONCURRENT_RENDER_LIMIT").await;
    assert!(msg.contains("too many renders in progress"), "{msg}");
    // Polls, gets and drafts are never refused for it; exporting a draft is.
    for _ in 0..5 {
        let (status, _) = json(
            api.v3(Method::GET, &format!("/api/odin/v3/editor/progress/{a}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let draft = api.create(&project_with(json!({"isExport": false}))).await;
    let r = api
        .v3(Method::POST, "/api/odin/v3/editor/project/export")
        .body(json!({"projectId": draft}).to_string())
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::TOO_MANY_REQUESTS, "CONCURRENT_RENDER_LIMIT").await;
    let s = sb.stats();
    assert_eq!(s.render_limit_refusals, 2);
    assert!(s.renders_in_progress <= 2, "{s:?}");
    assert_eq!(
        s.submissions, 3,
        "two renders and the draft; the refusals created nothing"
    );
    // Once a render ends there is room again.
    api.wait_done(&a).await;
    api.create(PROJECT).await;
}

/// On paused time (the sandbox's schedule and budget keep tokio's clock): 100/s for the first
/// 2 s, then 1/s: the bucket shrinks to one call at once, so of three calls one passes.
#[tokio::test(start_paused = true)]
async fn a_rate_limit_that_drops_mid_run_takes_effect_at_once() {
    let sb = start(
        SandboxConfig::default()
            .rate_schedule("100,1@2s".parse().unwrap())
            .limit_headers(LimitHeaders::ALL),
    )
    .await;
    let api = Api::new(&sb);
    for _ in 0..5 {
        let r = api.v3(Method::GET, CREATE).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "100/s at first");
        assert_eq!(r.headers()["ratelimit-limit"], "100");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut refused = 0;
    for _ in 0..3 {
        let r = api.v3(Method::GET, CREATE).send().await.unwrap();
        assert_eq!(r.headers()["ratelimit-limit"], "1");
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert_eq!(
        refused, 2,
        "1/s after 2 s: of three calls at one instant only the first passes"
    );
    assert_eq!(sb.stats().rate_limited, refused);
}

/// Two quick calls against a limit of 1/s: the answers to the second (a 429) and the first.
async fn second_call_refused(headers: LimitHeaders) -> (reqwest::Response, reqwest::Response) {
    let sb = start(
        SandboxConfig::default()
            .rate_limit(1)
            .limit_headers(headers),
    )
    .await;
    let api = Api::new(&sb);
    let first = api.v3(Method::GET, CREATE).send().await.unwrap();
    let second = api.v3(Method::GET, CREATE).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    (second, first)
}

#[tokio::test]
async fn limit_headers_are_chosen_or_hidden() {
    let (r, ok) = second_call_refused(LimitHeaders::default()).await;
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(r.headers().get("ratelimit-limit").is_none());
    assert!(ok.headers().get("x-ratelimit-limit").is_none());

    let (r, ok) = second_call_refused(LimitHeaders::NONE).await;
    for h in ["retry-after", "ratelimit-limit", "x-ratelimit-limit"] {
        assert!(r.headers().get(h).is_none(), "{h}: {:?}", r.headers());
    }
    assert!(ok.headers().get("ratelimit-remaining").is_none());
    let msg = expect_error(r, StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS").await;
    assert!(!msg.contains("retry after"), "the limit is hidden: {msg}");

    let (r, ok) = second_call_refused("ratelimit,x-ratelimit".parse().unwrap()).await;
    let h = r.headers();
    assert!(h.get("retry-after").is_none());
    assert_eq!(h["ratelimit-limit"], "1");
    assert_eq!(h["ratelimit-remaining"], "0");
    assert_eq!(h["ratelimit-reset"], "1");
    assert_eq!(h["ratelimit-policy"], "1;w=1");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    let reset: u64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now..=now + 2).contains(&reset),
        "unix time: {reset} vs {now}"
    );
    assert_eq!(
        ok.headers()["ratelimit-remaining"],
        "0",
        "answers that pass carry them too"
    );
    assert_eq!(ok.headers()["x-ratelimit-limit"], "1");
}
