//! Starting and stopping.

use std::time::Duration;

use batchgen_sandbox::{SandboxConfig, SandboxError};
use reqwest::StatusCode;

use crate::common::{HANG_GUARD, client, fast, start, until};

#[tokio::test]
async fn base_url_is_loopback_without_trailing_slash() {
    let sb = start(fast()).await;
    let url = sb.base_url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with('/'));
    assert_eq!(sb.api_key(), "sandbox-key");
    assert_eq!(sb.seed(), 1, "the configured seed");
    assert!(!format!("{sb:?}").contains("sandbox-key"));
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sb = start(fast()).await;
    let url = format!("{}/api/odin/v3/editor/project", sb.base_url());
    let c = client();
    assert_eq!(
        c.get(&url)
            .header("Authorization", sb.api_key())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    sb.shutdown().await;
    let fresh = client();
    assert!(
        fresh.get(&url).send().await.is_err(),
        "nothing listens any more"
    );
}

#[tokio::test]
async fn dropping_the_sandbox_stops_the_server_too() {
    let sb = start(fast()).await;
    let url = format!("{}/__sandbox/stats", sb.base_url());
    assert!(client().get(&url).send().await.is_ok());
    drop(sb);
    // The accept loop notices the drop on its next turn (a hang guard, not a margin).
    let stopped = tokio::time::timeout(HANG_GUARD, async {
        while client().get(&url).send().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(stopped.is_ok(), "the server still answers after the drop");
}

#[tokio::test]
async fn shutdown_lets_an_answer_in_flight_finish() {
    let sb = start(
        SandboxConfig::default().latency(Duration::from_millis(300)..Duration::from_millis(300)),
    )
    .await;
    let (c, key) = (client(), sb.api_key().to_owned());
    let url = format!("{}/api/odin/v3/editor/project", sb.base_url());
    let pending = tokio::spawn(async move { c.get(url).header("Authorization", key).send().await });
    // The call has arrived (it is counted before its 300 ms latency), not "100 ms have passed".
    until("the call's arrival", || sb.stats().requests == 1).await;
    sb.shutdown().await;
    let r = pending.await.unwrap().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_configurations_and_busy_ports_are_refused() {
    let e = SandboxConfig::default()
        .fail_probability(2.0)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, SandboxError::InvalidConfig(_)), "{e}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = SandboxConfig::default()
        .start(taken.local_addr().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, SandboxError::Bind { .. }), "{e}");
    assert!(e.to_string().starts_with("bind 127.0.0.1:"), "{e}");
}
