//! The engine against the real sandbox over loopback: resuming a row caught between
//! `submitting` and `submitted` adopts the project found by name instead of sending it again;
//! `--retry-failed` submits a failed render again without adopting the failed project.

use std::sync::Arc;
use std::time::Duration;

use batchgen_aistudios::{Client, ClientConfig, Credentials, Secret};
use batchgen_dispatch::journal::{Event, Fingerprint, Journal, Opened, now_ms};
use batchgen_dispatch::{Budget, End, Engine, EngineConfig, ExportRow, JobInput, ProjectRow};
use batchgen_sandbox::SandboxConfig;
use tokio_util::sync::CancellationToken;

const BODY: &str = r#"{"name":"NAME","scenes":[{"sceneIdx":0,"background":{},"clips":[{"id":"m","type":"aiModel","layer":1,"left":0,"top":0,"width":10,"height":10,"model":{"ai_name":"M000045058","emotion":"BG00002320"},"script":{"org":"Hello"}}]}]}"#;

/// Row 1's input (its body named "demo"), and the name the engine gives its project in run
/// `tag`.
fn job(key: &str, tag: &str) -> (String, JobInput) {
    job_of_row(1, key, tag)
}

/// Row `row`'s job, keyed `key`, and the name its project gets in the run tagged `tag`.
fn job_of_row(row: u64, key: &str, tag: &str) -> (String, JobInput) {
    let input = JobInput::Project(ProjectRow {
        row,
        key: key.into(),
        file_stem: key.into(),
        body: BODY.replace("NAME", "demo").into(),
        inputs: vec![key.into()],
    });
    (format!("demo [{key}] #{tag}"), input)
}

/// `dir/manifest.csv`'s rows, each as its cells by column name (the first column of a name),
/// so that no test depends on where a column is.
fn manifest_rows(dir: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(dir.join("manifest.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            let mut row = std::collections::HashMap::new();
            for (name, cell) in header.iter().zip(rec.unwrap().iter()) {
                row.entry(name.clone()).or_insert_with(|| cell.to_owned());
            }
            row
        })
        .collect()
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

/// The sandbox of `config` with this file's key, and a client of it.
async fn start(config: SandboxConfig) -> (batchgen_sandbox::Sandbox, Client) {
    let sb = config
        .api_key("engine-test-key")
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = Client::new(
        ClientConfig::new(Credentials::ApiKey(Secret::new("engine-test-key")))
            .base_url(sb.base_url()),
    )
    .unwrap();
    (sb, client)
}

/// A run that journaled row 1's `submitting` and whose create was applied by the server but
/// whose answer never arrived: the run tag, the project's name, and its id.
async fn lost_create(
    client: &Client,
    dir: &std::path::Path,
) -> (String, String, batchgen_aistudios::ProjectId) {
    let (tag, mut lost) = lost_creates(client, dir, &[1]).await;
    let (name, _, created) = lost.remove(0);
    (tag, name, created)
}

/// [`lost_create`] for each of `rows` (keyed `k<row>`): the run tag, and each row's project
/// name, job and project id.
async fn lost_creates(
    client: &Client,
    dir: &std::path::Path,
    rows: &[u64],
) -> (
    String,
    Vec<(String, JobInput, batchgen_aistudios::ProjectId)>,
) {
    let (journal, _) = open(dir, false);
    let tag = journal.header().run_tag().to_owned();
    let mut lost = Vec::new();
    for &row in rows {
        let key = format!("k{row}");
        let (name, input) = job_of_row(row, &key, &tag);
        journal
            .record(Event::Submitting {
                name: None,
                hash: None,
                row,
                key,
                at: now_ms(),
            })
            .await
            .unwrap();
        let created = client
            .create_project(BODY.replace("NAME", &name).as_bytes())
            .await
            .unwrap();
        lost.push((name, input, created));
    }
    journal.close().unwrap();
    (tag, lost)
}

/// Lookups every 100–200 ms, for up to 20 s: the engine tests' renders take a second or two.
fn quick_lookups(c: &mut EngineConfig) {
    c.lookup = batchgen_dispatch::lookup::LookupSchedule {
        first: Duration::from_millis(100),
        cap: Duration::from_millis(200),
        window: Duration::from_secs(20),
    };
}

async fn run(
    client: &Client,
    dir: &std::path::Path,
    journal: Journal,
    replay: Option<batchgen_dispatch::journal::Replay>,
    input: JobInput,
    retry_failed: bool,
) -> batchgen_dispatch::Report {
    run_with(client, dir, (journal, replay), vec![input], |c| {
        c.retry_failed = retry_failed;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_adopts_the_project_of_a_row_caught_while_submitting() {
    let (sb, client) = start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(100)..Duration::from_millis(200)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();

    // A run journals `submitting`, sends the create, and dies before `submitted`.
    let (tag, name, created) = lost_create(&client, dir.path()).await;
    let input = job("k1", &tag).1;
    assert_eq!(sb.stats().submissions, 1);
    // The vendor lists a project only once it is exported: resume after its render ended
    // (a lookup during the render finds nothing; issue 10 item 4 makes lookups patient).
    tokio::time::timeout(Duration::from_secs(60), async {
        while !client.progress(&created).await.unwrap().is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the render ended within the hang guard");

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
    let rows = manifest_rows(dir.path());
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["status"], "ready", "{r:?}");
    assert_eq!(r["project_id"], created.as_str(), "{r:?}");
    // attempts counts the create sent by the first run.
    assert_eq!(r["attempts"], "1", "{r:?}");
    assert_eq!(r["error"], "", "{r:?}");
    assert_eq!(r["project_name"], name, "{r:?}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_submits_a_failed_render_again() {
    let (sb, client) = start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(100)..Duration::from_millis(200))
            .render_fail_probability(1.0),
    )
    .await;
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
    let rows = manifest_rows(dir.path());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "failed", "{rows:?}");
    assert_ne!(rows[0]["error"], "", "a failed row says why: {rows:?}");
    sb.shutdown().await;
}

/// Runs `inputs` with `config` adjusted by `adjust` (polls fast, a budget of 50/s).
async fn run_with(
    client: &Client,
    dir: &std::path::Path,
    (journal, replay): (Journal, Option<batchgen_dispatch::journal::Replay>),
    inputs: Vec<JobInput>,
    adjust: impl FnOnce(&mut EngineConfig),
) -> batchgen_dispatch::Report {
    let mut config = EngineConfig {
        poll: batchgen_dispatch::poll::PollConfig {
            interval: Duration::from_millis(100),
            cap: Duration::from_millis(300),
            ..Default::default()
        },
        ..EngineConfig::new(dir, vec!["key".into()])
    };
    adjust(&mut config);
    let budget = Arc::new(Budget::new("50/s".parse().unwrap()));
    let engine = Engine::new(config, client.clone(), budget, Arc::new(journal), replay);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for input in inputs {
            tx.send(input).await.unwrap();
        }
    });
    engine.run(rx, CancellationToken::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_that_cannot_be_looked_up_ends_unknown_and_is_never_sent_blindly() {
    let (sb, client) = start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(100)..Duration::from_millis(200))
            .project_list(false),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();

    // A run journals `submitting`, the create is applied, and its answer never arrives.
    let (tag, name, _) = lost_create(&client, dir.path()).await;

    // The next run cannot look it up (no project list): unknown, not sent, not failed.
    let report = run_with(
        &client,
        dir.path(),
        open(dir.path(), true),
        vec![job("k1", &tag).1],
        |_| {},
    )
    .await;
    assert_eq!(report.end, End::Finished);
    assert_eq!(
        (
            report.statuses.unknown,
            report.statuses.failed,
            report.progress.creates
        ),
        (1, 0, 0),
        "{report:?}"
    );
    assert_eq!(
        report.progress.lookups, 1,
        "the missing list is found by one request"
    );
    let why = report.lookups_unavailable.as_deref().unwrap();
    assert!(
        why.contains("404") && why.contains("no project list"),
        "{why}"
    );
    let error = &report.unknowns[0].2;
    assert!(
        error.contains(&format!("a project named \"{name}\" may exist"))
            && error.contains("--resubmit-unknown"),
        "{error}"
    );
    let rows = manifest_rows(dir.path());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "unknown", "{rows:?}");
    assert_eq!(rows[0]["error"], *error, "{rows:?}");
    assert_eq!(sb.stats().submissions, 1);

    // Running again keeps it unknown and sends nothing, --retry-failed included.
    let report = run_with(
        &client,
        dir.path(),
        open(dir.path(), true),
        vec![job("k1", &tag).1],
        |c| {
            c.retry_failed = true;
        },
    )
    .await;
    assert_eq!((report.statuses.unknown, report.progress.requests), (1, 0));

    // --resubmit-unknown sends it again: the user's call, made knowingly.
    let report = run_with(
        &client,
        dir.path(),
        open(dir.path(), true),
        vec![job("k1", &tag).1],
        |c| {
            c.resubmit_unknown = true;
        },
    )
    .await;
    assert_eq!(
        (
            report.statuses.ready,
            report.statuses.unknown,
            report.progress.creates
        ),
        (1, 0, 1),
        "{report:?}"
    );
    assert_eq!(sb.stats().submissions, 2);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_is_looked_up_patiently_until_its_project_is_listed() {
    // Renders of ~1.5 s; the vendor lists a project only once exported, so the first lookups
    // may find nothing: they are asked again (every 100 ms here) instead of sending it again.
    let (sb, client) = start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(1500)..Duration::from_millis(1600)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (tag, _, _) = lost_create(&client, dir.path()).await;

    let report = run_with(
        &client,
        dir.path(),
        open(dir.path(), true),
        vec![job("k1", &tag).1],
        quick_lookups,
    )
    .await;
    assert_eq!(
        (
            report.statuses.ready,
            report.progress.recovered,
            report.progress.creates
        ),
        (1, 1, 0),
        "{report:?}"
    );
    let stats = sb.stats();
    assert_eq!(
        (stats.submissions, stats.duplicate_names),
        (1, 0),
        "{stats:?}"
    );
    sb.shutdown().await;
}

/// Eight rows caught while submitting, whose projects all render ~1.5 s: on resume they look
/// for them together, every 100–200 ms. Each row alone would list the account's projects about
/// eight times before its project is listed; sharing the list (a lookup takes one sent at most
/// 1 s before it, and after the lost create) makes it a few requests for all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_looking_at_the_same_time_share_one_project_list() {
    let (sb, client) = start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(1500)..Duration::from_millis(1600)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<u64> = (1..=8).collect();
    let (_, lost) = lost_creates(&client, dir.path(), &rows).await;
    let inputs = lost.into_iter().map(|(_, input, _)| input).collect();

    let report = run_with(
        &client,
        dir.path(),
        open(dir.path(), true),
        inputs,
        quick_lookups,
    )
    .await;
    assert_eq!(
        (
            report.statuses.ready,
            report.progress.recovered,
            report.progress.creates
        ),
        (8, 8, 0),
        "{report:?}"
    );
    // Listed after ~1.5 s: a list at once, one a second after it, and maybe one more as the
    // renders end; never one per row and lookup (~64).
    assert!(
        (1..=4).contains(&report.progress.lookups),
        "{} list requests",
        report.progress.lookups
    );
    let stats = sb.stats();
    assert_eq!(
        (stats.submissions, stats.duplicate_names),
        (8, 0),
        "{stats:?}"
    );
    sb.shutdown().await;
}

mod exports {
    use super::*;
    use batchgen_aistudios::{ExportRequest, Watermark};
    use batchgen_dispatch::journal::RunKind;
    use batchgen_dispatch::manifest::Layout;

    fn export(row: u64, folder: &str, project: &str, logo: Option<&str>) -> JobInput {
        let key = format!("k{row}");
        let request = match logo {
            Some(url) => ExportRequest::with_watermark(Watermark::new(url)),
            None => ExportRequest::default(),
        };
        JobInput::Export(ExportRow {
            row,
            key: key.clone(),
            file_stem: key.clone(),
            folder_id: Some(folder.to_owned()),
            project_id: project.to_owned(),
            request,
            inputs: vec![key],
        })
    }

    fn open(
        dir: &std::path::Path,
        resume: bool,
    ) -> (Journal, Option<batchgen_dispatch::journal::Replay>) {
        match Journal::open_as(
            RunKind::Export,
            dir,
            Fingerprint::new().text("t", "1"),
            vec![],
            Some(3),
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
        inputs: Vec<JobInput>,
    ) -> batchgen_dispatch::Report {
        run_with(client, dir, (journal, replay), inputs, |c| {
            c.layout = Layout::Exports;
        })
        .await
    }

    /// Rows caught between `submitting` and `submitted`: the one whose export is the only
    /// new one of its project adopts it; two rows exporting the same project cannot tell
    /// their exports apart and send again (never sharing one); an export older than the
    /// row's create is never adopted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn resume_adopts_an_export_only_when_it_can_tell_it_is_the_rows() {
        let (sb, client) = start(
            SandboxConfig::default()
                .render_time(Duration::from_millis(100)..Duration::from_millis(200))
                .seed_projects(3),
        )
        .await;
        let seeded = sb.seeded_projects().to_vec();
        let (f0, p0) = (seeded[0].folder_id.clone(), seeded[0].project_id.clone());
        let (f1, p1) = (seeded[1].folder_id.clone(), seeded[1].project_id.clone());
        let (f2, p2) = (seeded[2].folder_id.clone(), seeded[2].project_id.clone());
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), false);
        let now = now_ms();
        // Row 1 exports p0 alone: its export is adoptable.
        // Rows 2 and 3 both export p1: two new exports, no way to tell whose is whose.
        // Row 4 exports p2, whose only export predates the row's create by a minute.
        for (row, at) in [(1, now), (2, now), (3, now), (4, now + 60_000)] {
            journal
                .record(Event::Submitting {
                    name: None,
                    hash: None,
                    row,
                    key: format!("k{row}"),
                    at,
                })
                .await
                .unwrap();
        }
        let req = ExportRequest::default();
        let e1 = client.create_export(Some(&f0), &p0, &req).await.unwrap();
        client.create_export(Some(&f1), &p1, &req).await.unwrap();
        client.create_export(Some(&f1), &p1, &req).await.unwrap();
        client.create_export(Some(&f2), &p2, &req).await.unwrap();
        journal.close().unwrap();
        drop(journal);

        let (journal, replay) = open(dir.path(), true);
        let inputs = vec![
            export(1, &f0, &p0, None),
            export(2, &f1, &p1, Some("https://example.com/a.png")),
            export(3, &f1, &p1, Some("https://example.com/b.png")),
            export(4, &f2, &p2, None),
        ];
        let report = run(&client, dir.path(), journal, replay, inputs).await;
        assert_eq!(report.end, End::Finished);
        assert_eq!(report.statuses.ready, 4, "{:?}", report.failures);
        assert_eq!(report.progress.lookups, 4);
        assert_eq!(report.progress.recovered, 1);
        assert_eq!(report.progress.creates, 3);
        let count = |p: &str| {
            let client = client.clone();
            let p = p.to_owned();
            async move { client.list_exports(None, Some(&p)).await.unwrap().len() }
        };
        assert_eq!(count(&p0).await, 1, "row 1 adopted its export");
        assert_eq!(count(&p1).await, 4, "rows 2 and 3 sent again");
        assert_eq!(count(&p2).await, 2, "row 4 did not adopt the old export");

        let rows = manifest_rows(dir.path());
        assert_eq!(rows[0]["project_id"], p0);
        assert_eq!(rows[0]["export_id"], e1.id);
        assert_ne!(
            rows[1]["export_id"], rows[2]["export_id"],
            "two rows never share an export"
        );
        assert!(rows.iter().all(|r| r["status"] == "ready"), "{rows:?}");
        sb.shutdown().await;
    }
}

mod webhooks {
    use super::*;
    use batchgen_dispatch::poll::PollConfig;
    use batchgen_dispatch::{Callbacks, WebhookAuth, WebhookReceiver, WebhookUrls};

    /// Renders end by webhook (the safety-net poll is far away), each exactly once although
    /// half the callbacks are delivered twice; failed renders fail by their callback.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renders_end_by_webhook_exactly_once() {
        let (sb, client) = start(
            SandboxConfig::default()
                .render_time(Duration::from_millis(100)..Duration::from_millis(300))
                .webhook_duplicate_probability(0.5)
                .render_fail_probability(0.4)
                .seed(5),
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = open(dir.path(), false);
        let (auth, ephemeral) = WebhookAuth::for_run(journal.header());
        assert!(!ephemeral);
        let n = 12u64;
        let callbacks = Callbacks::new(n);
        let receiver = WebhookReceiver::new(auth.clone(), callbacks.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let public = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let server = tokio::spawn(receiver.clone().serve(listener, stop.clone()));

        let config = EngineConfig {
            poll: PollConfig::safety_net(Duration::from_secs(60), Duration::from_secs(300)),
            callbacks: Some(callbacks),
            webhook_urls: Some(WebhookUrls {
                auth,
                public_base: public,
            }),
            ..EngineConfig::new(dir.path(), vec!["key".into()])
        };
        let budget = Arc::new(Budget::new("50/s".parse().unwrap()));
        let engine = Engine::new(config, client.clone(), budget, Arc::new(journal), None);
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for row in 1..=n {
                let key = format!("k{row}");
                // The engine names the project and sets the row's webhookUrl.
                tx.send(JobInput::Project(ProjectRow {
                    row,
                    key: key.clone(),
                    file_stem: key.clone(),
                    body: BODY.replace("NAME", "demo").into(),
                    inputs: vec![key],
                }))
                .await
                .unwrap();
            }
        });
        let report = tokio::time::timeout(
            Duration::from_secs(20),
            engine.run(rx, CancellationToken::new()),
        )
        .await
        .expect("webhooks ended every render long before the first safety-net poll")
        .unwrap();
        assert_eq!(report.end, End::Finished);
        let s = report.statuses;
        assert_eq!(s.ready + s.failed, n, "{s:?}");
        assert!(s.ready > 0 && s.failed > 0, "the seed gives both: {s:?}");
        assert!(
            report
                .failures
                .iter()
                .all(|(_, _, e)| e.contains("(reported by the webhook)")),
            "{:?}",
            report.failures
        );
        assert_eq!(report.progress.webhooks, n);
        assert_eq!(report.progress.polls, 0);
        assert_eq!(report.progress.requests, n);
        // The sandbox's second copies come 50-300 ms after the first, and the last duplicate
        // decisions right after the run's last callbacks: wait (a hang guard, not a margin)
        // until every delivery it decided on has been made and received.
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let d = sb.stats();
                if d.webhooks_sent == n + d.webhooks_duplicated
                    && receiver.stats().ignored >= d.webhooks_duplicated
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the duplicates never all arrived: {:?} {:?}",
                sb.stats(),
                receiver.stats()
            )
        });
        let stats = receiver.stats();
        let dup = sb.stats().webhooks_duplicated;
        assert!(dup > 0, "the seed gives duplicates");
        assert_eq!(stats.accepted, n);
        assert_eq!(stats.ignored, dup, "{stats:?}");
        assert_eq!(stats.unauthorized + stats.unknown + stats.malformed, 0);
        let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
        assert_eq!(
            journal.matches("\"event\":\"ready\"").count() as u64,
            s.ready
        );
        assert_eq!(
            journal.matches("\"event\":\"failed\"").count() as u64,
            s.failed
        );
        stop.cancel();
        server.await.unwrap().unwrap();
        sb.shutdown().await;
    }
}
