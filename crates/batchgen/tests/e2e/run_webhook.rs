//! `batchgen run --webhook-listen` end to end against the sandbox's webhook delivery: every
//! render ends by callback (duplicates harmless) with about one request per row; forged and
//! unknown callbacks change nothing; kill -9 + `--resume` still verifies callbacks of projects
//! sent before the kill.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{
    Env, batchgen, journal_events, kill_once_submitted, manifest, submitted_count, wait_for,
};
use batchgen_dispatch::WebhookAuth;
use batchgen_dispatch::journal::Replay;
use batchgen_sandbox::SandboxConfig;

fn summary(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn post(url: &str, body: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .post(url)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn every_row_ends_by_webhook_with_one_request_each_despite_duplicates() {
    let env = Env::start(
        SandboxConfig::default()
            .rate_limit(50)
            .render_time(Duration::from_millis(100)..Duration::from_millis(400))
            .webhook_duplicate_probability(0.5)
            .seed(21),
    );
    let csv = env.csv(40);
    let path = env.dir.path().join("summary.json");
    let out = env
        .run_cmd(
            &csv,
            &[
                "--rate",
                "50",
                "--max-in-flight",
                "40",
                "--webhook-listen",
                "127.0.0.1:0",
                "--summary-json",
                path.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (_, rows) = manifest(&env.out());
    assert!(rows.iter().all(|r| r["status"] == "ready"), "{rows:?}");
    // The sandbox counts a duplicate as it decides it, right after reading a first delivery's
    // 200 and before sending it, so `ignored <= duplicated` holds at any moment; the last
    // decisions may come a moment after the binary has exited, so wait for one (a hang guard,
    // not a margin).
    assert!(
        wait_for(crate::support::HANG_GUARD, || env
            .stats()
            .webhooks_duplicated
            > 0),
        "the seeded sandbox never duplicated a delivery"
    );
    let stats = env.stats();
    let s = summary(&path);
    // One request per row, the create, and the account's model list once before the first.
    // No poll: callbacks came long before the first one.
    assert_eq!(stats.requests, 41, "{stats:?}");
    assert_eq!(stats.polls, 0, "{stats:?}");
    assert_eq!(s["requests_per_row"], 41.0 / 40.0, "{s}");
    assert_eq!(s["progress"]["webhooks"], 40, "{s}");
    let hooks = &s["webhooks"];
    assert_eq!(hooks["accepted"], 40, "{s}");
    assert_eq!(hooks["unauthorized"], 0, "{s}");
    assert!(stats.webhooks_duplicated > 0, "{stats:?}");
    // Duplicates that arrived while the run was on were acknowledged and ignored.
    assert!(
        hooks["ignored"].as_u64().unwrap() <= stats.webhooks_duplicated,
        "{s} {stats:?}"
    );
    assert!(hooks["received"].as_u64().unwrap() >= 40);
    // Exactly one `ready` per row in the journal.
    let ready = journal_events(&env.out())
        .iter()
        .filter(|e| e["event"] == "ready")
        .count();
    assert_eq!(ready, 40);
    // Tokens and the run secret stay out of everything but the journal header.
    let header = Replay::read(&env.out().join("journal.jsonl"))
        .unwrap()
        .header;
    let secret = serde_json::to_value(&header).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for (p, text) in env.output_texts() {
        assert!(!text.contains("token="), "{} holds a token", p.display());
        if !p.ends_with("journal.jsonl") {
            assert!(
                !text.contains(&secret),
                "{} holds the run secret",
                p.display()
            );
        }
    }
    let summary_text = std::fs::read_to_string(&path).unwrap();
    for text in [&*stderr, &summary_text] {
        assert!(
            !text.contains("token=") && !text.contains(&secret),
            "{text}"
        );
    }
}

#[test]
fn forged_and_unknown_callbacks_change_nothing() {
    let env = Env::start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(1500)..Duration::from_millis(2500))
            .seed(4),
    );
    let csv = env.csv(6);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let path = env.dir.path().join("summary.json");
    let child = env
        .run_cmd(
            &csv,
            &[
                "--rate",
                "50",
                "--webhook-listen",
                &listen,
                "--summary-json",
                path.to_str().unwrap(),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(20), || submitted_count(
        &env.out()
    ) >= 6));
    let header = Replay::read(&env.out().join("journal.jsonl"))
        .unwrap()
        .header;
    let (auth, _) = WebhookAuth::for_run(&header);
    let base = format!("http://{listen}");
    let forged_url = "https://evil.example.com/x.mp4";
    let payload = format!(
        r#"{{"progress":100,"credit":1,"backendTaskId":"t","download_url":"{forged_url}"}}"#
    );
    // Row 1 with row 2's token, and with none: refused.
    let wrong = auth.url(&base, 1).replace(&auth.token(1), &auth.token(2));
    assert_eq!(post(&wrong, &payload), 401);
    let bare = format!("{base}/batchgen/v1/{}/1", auth.tag());
    assert_eq!(post(&bare, &payload), 401);
    // Another run's tag, and a row this run does not have (with its valid token): ignored.
    let other = auth
        .url(&base, 1)
        .replace(&format!("/{}/", auth.tag()), "/000000/");
    assert_eq!(post(&other, &payload), 404);
    assert_eq!(post(&auth.url(&base, 99), &payload), 404);
    // A body that is not the documented payload.
    assert_eq!(post(&auth.url(&base, 3), r#"{"status":"done"}"#), 400);

    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (_, rows) = manifest(&env.out());
    assert!(rows.iter().all(|r| r["status"] == "ready"), "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r["download_url"].starts_with(&env.sandbox().base_url())),
        "a forged URL got in: {rows:?}"
    );
    let s = summary(&path);
    assert_eq!(s["webhooks"]["unauthorized"], 2, "{s}");
    assert_eq!(s["webhooks"]["unknown"], 2, "{s}");
    assert_eq!(s["webhooks"]["malformed"], 1, "{s}");
    assert_eq!(s["webhooks"]["accepted"], 6, "{s}");
    assert!(
        stderr.contains("missing or wrong token was refused (401)"),
        "{stderr}"
    );
    assert!(stderr.contains("a row this run does not have"), "{stderr}");
    assert!(
        !stderr.contains(&auth.token(2)) && !stderr.contains("token="),
        "{stderr}"
    );
}

#[test]
fn kill_9_then_resume_still_takes_the_callbacks_of_projects_sent_before() {
    let env = Env::start(
        SandboxConfig::default()
            .rate_limit(40)
            .render_time(Duration::from_millis(1500)..Duration::from_millis(3000))
            .seed(8),
    );
    let csv = env.csv(40);
    let listen = format!("127.0.0.1:{}", free_port());
    let args = [
        "--rate",
        "20",
        "--max-in-flight",
        "40",
        "--webhook-listen",
        &listen,
    ];
    // SIGKILL once 15 rows are submitted: no cleanup at all.
    kill_once_submitted(env.run_cmd(&csv, &args).arg("-q"), &env.out(), 15);
    let before = env.stats().submissions;
    assert!((15..40).contains(&before), "{before}");

    let path = env.dir.path().join("summary.json");
    let out = env
        .run_cmd(&csv, &args)
        .args(["--resume", "--summary-json", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stats = env.stats();
    assert_eq!(
        (stats.submissions, stats.duplicate_names),
        (40, 0),
        "{stats:?}"
    );
    let (_, rows) = manifest(&env.out());
    assert!(rows.iter().all(|r| r["status"] == "ready"), "{rows:?}");
    let s = summary(&path);
    // Every render ended by callback, those of projects sent before the kill included: the
    // run secret in the journal header verified their tokens.
    assert_eq!(s["webhooks"]["unauthorized"], 0, "{s}");
    assert_eq!(s["progress"]["polls"], 0, "{s}");
    assert_eq!(s["progress"]["webhooks"], 40, "{s}");
}

#[test]
fn a_remote_api_needs_a_public_webhook_url() {
    let env = Env::start(SandboxConfig::default());
    let csv = env.csv(1);
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", crate::support::KEY)
        .arg("run")
        .arg(&csv)
        .arg(crate::support::repo().join("templates/welcome.json"))
        .arg("--out")
        .arg(env.out())
        .args([
            "--base-url",
            "https://app.aistudios.com",
            "--webhook-listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--webhook-url is required"), "{stderr}");
    assert!(!env.out().join("journal.jsonl").exists());
}

/// Creates whose answers are lost while the row is looked up: the row's webhook (matched by
/// its per-row token) adopts it, with no list (404) or a list that shows only exported
/// projects; no project is created twice.
#[test]
fn a_lost_create_is_adopted_by_its_webhook_while_it_is_looked_up() {
    for list in [false, true] {
        let env = Env::start(
            SandboxConfig::default()
                .render_time(Duration::from_millis(200)..Duration::from_millis(600))
                .lost_probability(0.25)
                .project_list(list)
                .seed(5),
        );
        let rows = 24;
        let csv = env.csv(rows);
        let path = env.dir.path().join("summary.json");
        let out = env
            .run_cmd(
                &csv,
                &[
                    "--rate",
                    "100",
                    "--webhook-listen",
                    "127.0.0.1:0",
                    "--summary-json",
                    path.to_str().unwrap(),
                ],
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "list {list}: {stderr}");
        let (_, manifest_rows) = manifest(&env.out());
        assert!(
            manifest_rows.iter().all(|r| r["status"] == "ready"),
            "list {list}: {manifest_rows:?}"
        );
        let stats = env.stats();
        let s = summary(&path);
        assert!(
            s["progress"]["recovered"].as_u64().unwrap() >= 1,
            "list {list}: some lost create was adopted: {s}"
        );
        assert_eq!(
            stats.submissions, rows as u64,
            "list {list}: every project created once: {stats:?}"
        );
        assert_eq!(stats.duplicate_names, 0, "list {list}: {stats:?}");
        assert_eq!(s["statuses"]["unknown"], 0, "list {list}: {s}");
        if !list {
            assert!(
                stderr.contains("no project list"),
                "list {list}: said once: {stderr}"
            );
        }
    }
}
