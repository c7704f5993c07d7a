//! Webhooks, received by a real little axum server in the test. On paused time (the sandbox's
//! renders and delivery queue keep tokio's clock): renders, backoffs and the 50-300 ms delay of
//! a duplicate take no real time, and a wait for "nothing more arrives" covers them exactly.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use batchgen_sandbox::SandboxConfig;
use serde_json::{Value, json};

use crate::common::{Api, fast, project_with, start, until};

/// A webhook receiver that answers 500 to its first `fail_first` calls.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Value>>>,
    calls: Arc<AtomicUsize>,
    fail_first: usize,
}

impl Receiver {
    pub(crate) async fn start(fail_first: usize) -> (Receiver, String) {
        let r = Receiver {
            fail_first,
            ..Default::default()
        };
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    pub(crate) fn received(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` payloads have arrived, under the hang guard (a guard, not a margin:
    /// deliveries here come well within a second).
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Value> {
        until(
            &format!("{n} webhook deliveries (got {:?})", self.received().len()),
            || self.received().len() >= n,
        )
        .await;
        self.received()
    }
}

async fn receive(State(r): State<Receiver>, Json(body): Json<Value>) -> StatusCode {
    let call = r.calls.fetch_add(1, Ordering::SeqCst);
    if call < r.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.got.lock().unwrap().push(body);
    StatusCode::OK
}

#[tokio::test(start_paused = true)]
async fn completion_posts_the_documented_payload_once() {
    let (rx, url) = Receiver::start(0).await;
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let id = api
        .create(&project_with(json!({ "webhookUrl": url })))
        .await;
    let got = rx.wait_for(1).await;
    let p = &got[0];
    let keys: Vec<_> = p.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["progress", "credit", "backendTaskId", "download_url"]
    );
    assert_eq!(p["progress"], 100);
    assert!(p["credit"].as_u64().unwrap() >= 1);
    let task = p["backendTaskId"].as_str().unwrap();
    assert_ne!(task, id, "the task id is not the project id");
    assert_eq!(task.len(), 36);
    assert_eq!(
        p["download_url"],
        format!("{}/downloads/{id}.mp4", sb.base_url())
    );
    // The render is complete by the time the webhook arrives: the first poll says so.
    let (_, done) = crate::common::json(
        api.v3(
            reqwest::Method::GET,
            &format!("/api/odin/v3/editor/progress/{id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(done["data"]["progress"], 100, "{done}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.received().len(), 1, "delivered once");
    let s = sb.stats();
    assert_eq!(
        (s.webhooks_sent, s.webhooks_retried, s.webhooks_failed),
        (1, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_500_from_the_receiver_is_retried_with_backoff() {
    let (rx, url) = Receiver::start(2).await;
    let sb = start(fast().webhook_retry(5, Duration::from_millis(100))).await;
    let api = Api::new(&sb);
    api.create(&project_with(json!({ "webhookUrl": url })))
        .await;
    let got = rx.wait_for(1).await;
    assert_eq!(got[0]["progress"], 100);
    assert_eq!(rx.calls.load(Ordering::SeqCst), 3);
    // The receiver has the payload a moment before the sandbox has read the 200.
    until("webhooks sent", || sb.stats().webhooks_sent > 0).await;
    let s = sb.stats();
    assert_eq!(
        (s.webhooks_sent, s.webhooks_retried, s.webhooks_failed),
        (1, 2, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn deliveries_give_up_after_the_last_attempt() {
    let (rx, url) = Receiver::start(usize::MAX).await;
    let sb = start(fast().webhook_retry(3, Duration::from_millis(50))).await;
    let api = Api::new(&sb);
    api.create(&project_with(json!({ "webhookUrl": url })))
        .await;
    until("webhooks failed", || sb.stats().webhooks_failed > 0).await;
    assert_eq!(rx.calls.load(Ordering::SeqCst), 3);
    let s = sb.stats();
    assert_eq!(
        (s.webhooks_sent, s.webhooks_retried, s.webhooks_failed),
        (0, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_receiver_that_is_down_is_retried_too() {
    // Bind and drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sb = start(fast().webhook_retry(2, Duration::from_millis(50))).await;
    let api = Api::new(&sb);
    api.create(&project_with(
        json!({ "webhookUrl": format!("http://127.0.0.1:{port}/hook") }),
    ))
    .await;
    until("webhooks failed", || sb.stats().webhooks_failed > 0).await;
    assert_eq!(sb.stats().webhooks_retried, 1);
}

#[tokio::test(start_paused = true)]
async fn duplicate_probability_delivers_the_same_payload_twice() {
    let (rx, url) = Receiver::start(0).await;
    let sb = start(fast().webhook_duplicate_probability(1.0)).await;
    let api = Api::new(&sb);
    for i in 0..3 {
        api.create(&project_with(
            json!({ "webhookUrl": format!("{url}?row={i}") }),
        ))
        .await;
    }
    let got = rx.wait_for(6).await;
    for p in &got {
        let same = got.iter().filter(|q| *q == p).count();
        assert_eq!(same, 2, "each payload twice: {got:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rx.received().len(),
        6,
        "a duplicate is never duplicated again"
    );
    let s = sb.stats();
    assert_eq!((s.webhooks_sent, s.webhooks_duplicated), (6, 3));
}

#[tokio::test(start_paused = true)]
async fn duplicate_probability_with_a_seed_duplicates_some() {
    let (rx, url) = Receiver::start(0).await;
    let sb = start(fast().webhook_duplicate_probability(0.3).seed(3)).await;
    let api = Api::new(&sb);
    for _ in 0..20 {
        api.create(&project_with(json!({ "webhookUrl": url })))
            .await;
    }
    until("webhooks sent", || {
        sb.stats().webhooks_sent >= 20 + sb.stats().webhooks_duplicated
    })
    .await;
    // Let any duplicate decided at the last moment arrive too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = sb.stats();
    let dup = s.webhooks_duplicated;
    assert!((1..=14).contains(&dup), "{dup}");
    assert_eq!(s.webhooks_sent, 20 + dup);
    assert_eq!(rx.received().len() as u64, 20 + dup);
}

#[tokio::test(start_paused = true)]
async fn a_failed_render_posts_where_it_stopped_without_credit_or_url() {
    let (rx, url) = Receiver::start(0).await;
    let sb = start(fast().render_fail_probability(1.0)).await;
    let api = Api::new(&sb);
    api.create(&project_with(json!({ "webhookUrl": url })))
        .await;
    let got = rx.wait_for(1).await;
    let p = &got[0];
    let progress = p["progress"].as_u64().expect("an integer, as documented");
    assert!(progress > 0 && progress < 100, "{p}");
    // credit and download_url are "exposed if progress is 100": absent here.
    let keys: Vec<_> = p.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["progress", "backendTaskId"], "{p}");
}

#[tokio::test(start_paused = true)]
async fn drafts_send_no_webhook() {
    let (rx, url) = Receiver::start(0).await;
    let sb = start(SandboxConfig::default().render_time(Duration::ZERO..Duration::ZERO)).await;
    let api = Api::new(&sb);
    api.create(&project_with(
        json!({ "webhookUrl": url, "isExport": false }),
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.received().is_empty());
}
