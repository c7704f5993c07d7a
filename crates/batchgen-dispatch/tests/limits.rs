//! The engine against a sandbox whose limits it is not told: a hidden rate limit (no
//! `Retry-After`, no `RateLimit-*`) and a cap on renders in progress. `--rate auto` finds the
//! rate, the in-flight bound drops to the vendor's cap, every row ends ready, nothing twice.

use std::sync::Arc;
use std::time::Duration;

use batchgen_aistudios::{Client, ClientConfig, Credentials, Secret};
use batchgen_dispatch::journal::{Fingerprint, Journal, Opened};
use batchgen_dispatch::{Budget, End, Engine, EngineConfig, JobInput, ProjectRow};
use batchgen_sandbox::{LimitHeaders, SandboxConfig};
use tokio_util::sync::CancellationToken;

const BODY: &str = r#"{"name":"NAME","scenes":[{"sceneIdx":0,"background":{},"clips":[{"id":"m","type":"aiModel","layer":1,"left":0,"top":0,"width":10,"height":10,"model":{"ai_name":"M000045058","emotion":"BG00002320"},"script":{"org":"Hello"}}]}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_limits_are_found_and_kept_to() {
    const ROWS: u64 = 80;
    let sb = SandboxConfig::default()
        .api_key("limits-test-key")
        .rate_limit(20)
        .limit_headers(LimitHeaders::NONE)
        .max_renders(6)
        .render_time(Duration::from_millis(300)..Duration::from_millis(600))
        .seed(4)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = Client::new(
        ClientConfig::new(Credentials::ApiKey(Secret::new("limits-test-key")))
            .base_url(sb.base_url()),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Opened::New(journal) = Journal::open(
        dir.path(),
        Fingerprint::new().text("t", "limits"),
        vec![],
        Some(ROWS),
        false,
    )
    .unwrap() else {
        panic!("a fresh directory");
    };
    let config = EngineConfig {
        poll: batchgen_dispatch::poll::PollConfig {
            interval: Duration::from_millis(200),
            cap: Duration::from_millis(500),
            ..Default::default()
        },
        ..EngineConfig::new(dir.path(), vec!["key".into()])
    };
    assert_eq!(config.max_in_flight, 500, "the default bound is high");
    let budget = Arc::new(Budget::adaptive(None));
    let engine = Engine::new(config, client, Arc::clone(&budget), Arc::new(journal), None);
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        for row in 1..=ROWS {
            let key = format!("k{row}");
            tx.send(JobInput::Project(ProjectRow {
                row,
                key: key.clone(),
                file_stem: key.clone(),
                body: BODY.replace("NAME", &format!("row {row}")).into(),
                inputs: vec![key],
            }))
            .await
            .unwrap();
        }
    });
    let report = engine.run(rx, CancellationToken::new()).await.unwrap();
    assert_eq!(report.end, End::Finished);
    assert_eq!(report.statuses.ready, ROWS, "{report:?}");
    let s = sb.stats();
    assert_eq!((s.submissions, s.duplicate_names), (ROWS, 0), "{s:?}");
    assert!(s.render_limit_refusals > 0, "the cap was met: {s:?}");
    // A short run that is mostly the search: at most 10 % (the benchmark measures longer runs).
    assert!(
        s.rate_limited * 10 <= s.requests,
        "429s stay rare: {} of {}",
        s.rate_limited,
        s.requests
    );
    let rate = budget.current_rate();
    assert!((4.0..=30.0).contains(&rate), "settled near 20/s: {rate}");
}
