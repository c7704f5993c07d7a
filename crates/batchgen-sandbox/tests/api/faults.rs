//! Every fault switched on alone with a seed, its answer, and its counter.

use std::time::Duration;

use batchgen_sandbox::SandboxConfig;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, PROJECT, expect_error, fast, json, project_with, start};

const LIST: &str = "/api/odin/v3/editor/project";

/// On paused time (the sandbox's budget keeps tokio's clock): no time passes during the 20
/// calls, so exactly the burst of 5 pass and nothing refills; after the `Retry-After` the key
/// has room again.
#[tokio::test(start_paused = true)]
async fn rate_limit_answers_429_with_retry_after_then_recovers() {
    let sb = start(fast().rate_limit(5)).await;
    let api = Api::new(&sb);
    let mut ok = 0;
    let mut limited = Vec::new();
    let t0 = tokio::time::Instant::now();
    for _ in 0..20 {
        let r = api.v3(Method::GET, LIST).send().await.unwrap();
        if r.status() == StatusCode::OK {
            ok += 1;
        } else {
            limited.push(r);
        }
    }
    assert_eq!(t0.elapsed(), Duration::ZERO, "the paused clock stood still");
    assert_eq!(ok, 5, "the burst of 5, then nothing refilled");
    let n_limited = limited.len() as u64;
    let r = limited.pop().unwrap();
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is whole seconds");
    // An empty bucket refills one call in 200 ms: in whole seconds, 1.
    assert_eq!(retry_after, 1);
    let msg = expect_error(r, StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS").await;
    assert!(msg.contains("retry after"), "{msg}");
    let s = sb.stats();
    assert_eq!(s.rate_limited, n_limited);
    assert_eq!(n_limited, 15);
    assert_eq!(s.requests, 20);
    assert_eq!(s.peak_requests_per_second, 20, "{s:?}");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        api.v3(Method::GET, LIST).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_kind_of_call_spends_one_budget_per_key() {
    let sb = start(fast().rate_limit(4).seed_projects(1)).await;
    let api = Api::new(&sb);
    let id = api.create(PROJECT).await; // 1
    api.v3(Method::GET, &format!("/api/odin/v3/editor/progress/{id}"))
        .send()
        .await
        .unwrap(); // 2
    api.v2(Method::GET, "/v2/exports").send().await.unwrap(); // 3 (v2, Bearer)
    let r = api
        .c
        .post(api.url("/api/odin/v3/auth/token"))
        .json(&json!({"appId": "sandbox-app", "userKey": "sandbox-user-key"}))
        .send()
        .await
        .unwrap(); // 4 (token request: the account's budget)
    let token = json(r).await.1["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A token counts as its key: the budget is spent.
    let r = api
        .c
        .get(api.url(LIST))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // Another (wrong) key has its own budget: it gets its 401, not a 429.
    let r = api
        .c
        .get(api.url(LIST))
        .header("Authorization", "someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The CDN and the test endpoints are not limited.
    let r = api.c.get(api.url("/__sandbox/stats")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sb.stats().rate_limited, 1);
}

#[tokio::test]
async fn fail_probability_answers_500_envelopes_and_proxy_pages() {
    let sb = start(SandboxConfig::default().fail_probability(0.3).seed(11)).await;
    let api = Api::new(&sb);
    let (mut ok, mut internal, mut proxy) = (0u64, 0u64, 0u64);
    for _ in 0..80 {
        let r = api.v3(Method::GET, LIST).send().await.unwrap();
        match r.status() {
            StatusCode::OK => ok += 1,
            StatusCode::INTERNAL_SERVER_ERROR => {
                expect_error(r, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR").await;
                internal += 1;
            }
            s @ (StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE) => {
                assert!(
                    r.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("text/html")
                );
                if s == StatusCode::SERVICE_UNAVAILABLE {
                    assert_eq!(r.headers()["retry-after"], "1");
                }
                assert!(r.text().await.unwrap().contains(&s.as_u16().to_string()));
                proxy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        (10..=40).contains(&(internal + proxy)),
        "{internal} + {proxy}"
    );
    assert!(internal > 0 && proxy > 0, "{internal} {proxy}");
    assert_eq!(sb.stats().faults_500, internal + proxy);
    assert_eq!(ok + internal + proxy, 80);
}

#[tokio::test]
async fn drop_probability_closes_connections_before_anything_happens() {
    let sb = start(SandboxConfig::default().drop_probability(0.3).seed(5)).await;
    let api = Api::new(&sb);
    let (mut ok, mut failed) = (0u64, 0u64);
    for i in 0..40 {
        let body = project_with(json!({"name": format!("p{i}")}));
        match api
            .v3(Method::POST, "/api/odin/v3/editor/project")
            .body(body)
            .send()
            .await
        {
            Ok(r) => {
                assert_eq!(r.status(), StatusCode::OK);
                ok += 1;
            }
            Err(e) => {
                assert!(!e.is_status(), "{e}");
                failed += 1;
            }
        }
    }
    let s = sb.stats();
    assert!((4..=20).contains(&failed), "{failed}");
    assert_eq!(s.faults_dropped, failed);
    assert_eq!(s.projects, ok, "a dropped create creates nothing");
    assert_eq!(s.submissions, ok);
}

#[tokio::test]
async fn lost_probability_creates_the_project_but_loses_the_answer() {
    // Renders that take no time, so every project is exported (and listed) at once.
    let sb = start(
        SandboxConfig::default()
            .lost_probability(0.3)
            .render_time(Duration::ZERO..Duration::ZERO)
            .seed(9),
    )
    .await;
    let api = Api::new(&sb);
    let mut lost_names = Vec::new();
    for i in 0..40 {
        let name = format!("row-{i}");
        let body = project_with(json!({ "name": name }));
        match api
            .v3(Method::POST, "/api/odin/v3/editor/project")
            .body(body)
            .send()
            .await
        {
            Ok(r) => assert_eq!(r.status(), StatusCode::OK),
            Err(_) => lost_names.push(name),
        }
    }
    let s = sb.stats();
    assert!((4..=20).contains(&lost_names.len()), "{}", lost_names.len());
    assert_eq!(s.faults_lost, lost_names.len() as u64);
    assert_eq!(s.projects, 40, "every create ran, answered or not");
    assert_eq!(s.submissions, 40);
    // Once rendered, a project whose answer was lost shows in the list under its name
    // (the list is retried, since its answer can be lost too).
    let name = &lost_names[0];
    let found = loop {
        if let Ok(r) = api.v3(Method::GET, LIST).send().await {
            break json(r).await.1;
        }
    };
    let named: Vec<&serde_json::Value> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name.as_str())
        .collect();
    assert_eq!(named.len(), 1, "{found}");
}

/// On paused time: a call takes exactly the latency drawn (tokio's timer ends a sleep on the
/// next whole millisecond, so up to 1 ms more), and no time at all without one.
#[tokio::test(start_paused = true)]
async fn latency_delays_answers_within_the_range() {
    let sb = start(
        SandboxConfig::default()
            .latency(Duration::from_millis(150)..Duration::from_millis(250))
            .seed(2),
    )
    .await;
    let api = Api::new(&sb);
    let mut took = Vec::new();
    for _ in 0..5 {
        let t0 = tokio::time::Instant::now();
        let r = api.v3(Method::GET, LIST).send().await.unwrap();
        took.push(t0.elapsed());
        assert_eq!(r.status(), StatusCode::OK);
    }
    for t in &took {
        assert!(
            *t >= Duration::from_millis(150) && *t < Duration::from_millis(251),
            "{took:?}"
        );
    }
    // Drawn, not fixed: the five differ.
    let mut distinct = took.clone();
    distinct.dedup();
    assert!(distinct.len() > 1, "{took:?}");
    // Without latency the same call takes no time at all.
    let quick = start(SandboxConfig::default()).await;
    let api = Api::new(&quick);
    api.v3(Method::GET, LIST).send().await.unwrap();
    let t0 = tokio::time::Instant::now();
    api.v3(Method::GET, LIST).send().await.unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn failed_renders_answer_200_with_render_failed() {
    let sb = start(fast().render_fail_probability(1.0)).await;
    let api = Api::new(&sb);
    let id = api.create(PROJECT).await;
    let last = api.wait_done(&id).await;
    assert_eq!(last["success"], false, "{last}");
    assert_eq!(last["error"]["code"], "RENDER_FAILED");
    assert!(
        last["error"]["msg"]
            .as_str()
            .unwrap()
            .starts_with("render failed: ")
    );
    let (_, v) = json(
        api.v3(Method::GET, &format!("{LIST}/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let project = &v["data"]["project"];
    assert_eq!(project["state"], "failed");
    assert_eq!(project["download_url"], serde_json::Value::Null);
    assert_eq!(project["creditSubstracted"], false);
    let p = project["progress"].as_f64().unwrap();
    assert!(p > 0.0 && p < 100.0, "stops part-way: {p}");
    let s = sb.stats();
    assert_eq!((s.renders_failed, s.renders_completed), (1, 0));
}

#[tokio::test]
async fn render_fail_probability_fails_a_share_of_renders() {
    let sb = start(fast().render_fail_probability(0.3).seed(4)).await;
    let api = Api::new(&sb);
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(api.create(PROJECT).await);
    }
    let mut failed = 0;
    for id in &ids {
        if api.wait_done(id).await["success"] == false {
            failed += 1;
        }
    }
    assert!((3..=18).contains(&failed), "{failed}");
    let s = sb.stats();
    assert_eq!(s.renders_failed, failed);
    assert_eq!(s.renders_completed, 30 - failed);
}

#[tokio::test]
async fn download_fail_probability_cuts_downloads_only() {
    let sb = start(fast().download_fail_probability(0.3).seed(6)).await;
    let api = Api::new(&sb);
    let id = api.create(PROJECT).await;
    let url = api.wait_done(&id).await["data"]["downloadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut ok, mut cut) = (0u64, 0u64);
    for _ in 0..40 {
        match api.c.get(&url).send().await {
            Ok(r) => {
                assert_eq!(r.status(), StatusCode::OK);
                assert_eq!(
                    r.bytes().await.unwrap().len(),
                    batchgen_sandbox::sample_video().len()
                );
                ok += 1;
            }
            Err(_) => cut += 1,
        }
    }
    let s = sb.stats();
    assert!((4..=20).contains(&cut), "{cut}");
    assert_eq!((s.downloads, s.downloads_dropped), (ok, cut));
    assert_eq!(s.faults_dropped, 0, "API calls are not affected");
}

/// The outcome of each of `n` sequential list calls: a status, or "cut".
async fn outcomes(cfg: SandboxConfig, n: usize) -> Vec<String> {
    let sb = start(cfg).await;
    let api = Api::new(&sb);
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(match api.v3(Method::GET, LIST).send().await {
            Ok(r) => r.status().as_str().to_owned(),
            Err(_) => "cut".to_owned(),
        });
    }
    out
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let cfg = |seed| {
        SandboxConfig::default()
            .fail_probability(0.2)
            .drop_probability(0.2)
            .lost_probability(0.2)
            .seed(seed)
    };
    let a = outcomes(cfg(42), 40).await;
    let b = outcomes(cfg(42), 40).await;
    let c = outcomes(cfg(43), 40).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(
        a.iter().any(|o| o == "cut") && a.iter().any(|o| o == "200"),
        "{a:?}"
    );
}

#[tokio::test]
async fn peak_counts_concurrent_calls() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let calls = (0..25).map(|_| api.v3(Method::GET, LIST).send());
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().status(), StatusCode::OK);
    }
    let s = sb.stats();
    assert_eq!(s.requests, 25);
    assert_eq!(s.peak_requests_per_second, 25);
}

#[tokio::test]
async fn api_faults_never_touch_downloads_or_the_test_endpoints() {
    let sb = start(
        SandboxConfig::default()
            .fail_probability(0.5)
            .drop_probability(0.5)
            .seed_projects(1)
            .seed(8),
    )
    .await;
    let api = Api::new(&sb);
    let video = format!("/downloads/{}.mp4", sb.seeded_projects()[0].project_id);
    for _ in 0..20 {
        let r = api.c.get(api.url("/__sandbox/stats")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = api.c.get(api.url(&video)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Every API call, on the other hand, is faulted.
    for _ in 0..10 {
        if let Ok(r) = api.v3(Method::GET, LIST).send().await {
            assert!(r.status().is_server_error(), "{}", r.status());
        }
    }
    let s = sb.stats();
    assert_eq!(s.requests, 10);
    assert_eq!(s.faults_500 + s.faults_dropped, 10);
    assert_eq!(s.downloads, 20);
}
