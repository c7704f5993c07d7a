//! The engine against the real sandbox over loopback: resuming a row caught between
//! `submitting` and `submitted` adopts the project found by name instead of sending it again;
//! `--retry-failed` submits a failed render again without adopting the failed project.

use std::sync::Arc;
use std::time::Duration;

use batchgen_aistudios::{Client, ClientConfig, Credentials, Secret};
use batchgen_dispatch::journal::{Event, Fingerprint, Journal, Opened, now_ms};
use batchgen_dispatch::{Budget, End, Engine, EngineConfig, JobInput};
use batchgen_sandbox::SandboxConfig;
use tokio_util::sync::CancellationToken;

const BODY: &str = r#"{"name":"NAME","scenes":[{"sceneIdx":0,"background":{},"clips":[{"id":"m","type":"aiModel","layer":1,"left":0,"top":0,"width":10,"height":10,"model":{"ai_name":"M1"},"script":{"org":"Hello"}}]}]}"#;

fn job(key: &str, tag: &str) -> (String, JobInput) {
    let name = format!("demo [{key}] #{tag}");
    let body = BODY.replace("NAME", &name);
    let input = JobInput::project(
        1,
        key.into(),
        name.clone(),
        key.into(),
        body.into_bytes(),
        vec![key.into()],
    );
    (name, input)
}

fn open(
    dir: &std::path::Path,
    resume: bool,
) -> (Journal, Option<batchgen_dispatch::journal::Replay>) {
    match Journal::open(
        dir,
        Fingerprint::new().text("t", "1"),
        vec![],
        Some(1),
        resume,
    )
    .unwrap()
    {
        Opened::New(j) => (j, None),
        Opened::Resumed(j, r) => (j, Some(*r)),
    }
}

async fn run(
    client: &Client,
    dir: &std::path::Path,
    journal: Journal,
    replay: Option<batchgen_dispatch::journal::Replay>,
    input: JobInput,
    retry_failed: bool,
) -> batchgen_dispatch::Report {
    let config = EngineConfig {
        poll: batchgen_dispatch::poll::PollConfig {
            interval: Duration::from_millis(100),
            cap: Duration::from_millis(300),
            ..Default::default()
        },
        retry_failed,
        ..EngineConfig::new(dir, vec!["key".into()])
    };
    let budget = Arc::new(Budget::new("50/s".parse().unwrap()));
    let engine = Engine::new(config, client.clone(), budget, Arc::new(journal), replay);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(input).await.unwrap();
    drop(tx);
    engine.run(rx, CancellationToken::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_adopts_the_project_of_a_row_caught_while_submitting() {
    let sb = SandboxConfig::default()
        .api_key("engine-test-key")
        .render_time(Duration::from_millis(100)..Duration::from_millis(200))
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = Client::new(
        ClientConfig::new(Credentials::ApiKey(Secret::new("engine-test-key")))
            .base_url(sb.base_url()),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // A run journals `submitting`, sends the create, and dies before `submitted`.
    let (journal, _) = open(dir.path(), false);
    let tag = journal.header().run_tag().to_owned();
    let (name, input) = job("k1", &tag);
    journal
        .record(Event::Submitting {
            row: 1,
            key: "k1".into(),
            at: now_ms(),
        })
        .await
        .unwrap();
    let created = client
        .create_project(BODY.replace("NAME", &name).as_bytes())
        .await
        .unwrap();
    journal.close().unwrap();
    drop(journal);
    assert_eq!(sb.stats().submissions, 1);

    let (journal, replay) = open(dir.path(), true);
    let report = run(&client, dir.path(), journal, replay, input, false).await;
    assert_eq!(report.end, End::Finished);
    assert_eq!(report.statuses.ready, 1);
    assert_eq!(report.progress.recovered, 1);
    assert_eq!(report.progress.creates, 0);
    let stats = sb.stats();
    assert_eq!(
        (stats.submissions, stats.duplicate_names),
        (1, 0),
        "{stats:?}"
    );
    let manifest = std::fs::read_to_string(dir.path().join("manifest.csv")).unwrap();
    assert!(manifest.contains(created.as_str()), "{manifest}");
    // attempts counts the create sent by the first run.
    assert!(
        manifest.contains(",ready,") && manifest.contains(",1,,k1"),
        "{manifest}"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_submits_a_failed_render_again() {
    let sb = SandboxConfig::default()
        .api_key("engine-test-key")
        .render_time(Duration::from_millis(100)..Duration::from_millis(200))
        .render_fail_rate(1.0)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = Client::new(
        ClientConfig::new(Credentials::ApiKey(Secret::new("engine-test-key")))
            .base_url(sb.base_url()),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path(), false);
    let tag = journal.header().run_tag().to_owned();
    let report = run(&client, dir.path(), journal, None, job("k1", &tag).1, false).await;
    assert_eq!(report.statuses.failed, 1);
    assert!(
        report.failures[0].2.contains("render failed"),
        "{:?}",
        report.failures
    );

    // --resume alone leaves a failed render alone.
    let (journal, replay) = open(dir.path(), true);
    let report = run(
        &client,
        dir.path(),
        journal,
        replay,
        job("k1", &tag).1,
        false,
    )
    .await;
    assert_eq!((report.statuses.failed, report.progress.requests), (1, 0));
    assert_eq!(sb.stats().submissions, 1);

    // --retry-failed sends it again (and it fails again: every render fails here).
    let (journal, replay) = open(dir.path(), true);
    let report = run(
        &client,
        dir.path(),
        journal,
        replay,
        job("k1", &tag).1,
        true,
    )
    .await;
    assert_eq!(report.statuses.failed, 1);
    assert_eq!(report.progress.creates, 1);
    assert_eq!(sb.stats().submissions, 2);
    let manifest = std::fs::read_to_string(dir.path().join("manifest.csv")).unwrap();
    assert!(manifest.contains(",failed,"), "{manifest}");
    sb.shutdown().await;
}
