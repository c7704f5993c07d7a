//! `run --draft` and a template's own `isExport: false`: projects created and not rendered, rows
//! ending `draft` with their project id, nothing polled; `--resolution` and `--workspace` set in
//! every project sent (seen through a recording proxy).

use std::time::Duration;

use batchgen_sandbox::SandboxConfig;

use crate::support::export::Recorder;
use crate::support::{Env, KEY, batchgen, column, expect_exit, manifest, repo};

fn config() -> SandboxConfig {
    SandboxConfig::default().render_time(Duration::from_millis(200)..Duration::from_millis(400))
}

#[test]
fn draft_rows_end_draft_with_their_project_and_nothing_polls_them() {
    let env = Env::start(config());
    let csv = env.csv(5);
    let out = env
        .run_cmd(&csv, &["--draft", "--summary-json"])
        .arg(env.dir.path().join("summary.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("5 draft (created, not rendered)"),
        "{stderr}"
    );
    let (_, rows) = manifest(&env.out());
    assert_eq!(column(&rows, "status"), ["draft"; 5]);
    assert!(column(&rows, "project_id").iter().all(|id| !id.is_empty()));
    let stats = env.stats();
    assert_eq!(stats.submissions, 5);
    assert_eq!(stats.polls, 0, "a draft is never polled");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join("summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["statuses"]["draft"], 5, "{summary}");
    // The same command again keeps the drafts: nothing is created twice.
    let again = env
        .run_cmd(&csv, &["--draft", "--resume"])
        .output()
        .unwrap();
    expect_exit(&again, 0);
    assert_eq!(env.stats().submissions, 5);
    assert_eq!(column(&manifest(&env.out()).1, "status"), ["draft"; 5]);
}

#[test]
fn a_template_with_is_export_false_makes_drafts_without_the_flag() {
    let env = Env::start(config());
    let mut template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("templates/scene-scripts-promo.json")).unwrap(),
    )
    .unwrap();
    template["isExport"] = serde_json::json!(false);
    let t = env.dir.path().join("draft.json");
    std::fs::write(&t, template.to_string()).unwrap();
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", KEY)
        .arg("run")
        .arg(repo().join("samples/scene-scripts.csv"))
        .arg(&t)
        .args(["--key", "customer_id", "--out"])
        .arg(env.out())
        .args([
            "--base-url",
            &env.sandbox().base_url(),
            "--poll-interval",
            "150ms",
        ])
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let (_, rows) = manifest(&env.out());
    assert_eq!(column(&rows, "status"), ["draft"; 3]);
    assert_eq!(env.stats().polls, 0);
}

#[test]
fn resolution_workspace_and_draft_are_set_in_every_project_sent() {
    let env = Env::start(config());
    let proxy = Recorder::start(env.sandbox().base_url());
    let csv = env.csv(3);
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", KEY)
        .arg("run")
        .arg(&csv)
        .arg(repo().join("templates/welcome.json"))
        .args(["--key", "email", "--out"])
        .arg(env.out())
        .args([
            "--base-url",
            &proxy.base,
            "--poll-interval",
            "150ms",
            "--poll-cap",
            "1s",
        ])
        .args([
            "--resolution",
            "720",
            "--workspace",
            "65a1f0c2e4b0a1b2c3d4e5f7",
        ])
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let creates: Vec<serde_json::Value> = proxy
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/api/odin/v3/editor/project")
        .map(|(_, _, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(creates.len(), 3);
    for body in &creates {
        assert_eq!(body["resolution"], "720");
        assert_eq!(body["workspaceId"], "65a1f0c2e4b0a1b2c3d4e5f7");
        assert!(body.get("isExport").is_none(), "{body}");
    }
    let (_, rows) = manifest(&env.out());
    assert_eq!(column(&rows, "status"), ["ready"; 3]);
    // A resolution the vendor does not offer is refused before anything is sent.
    let bad = env
        .run_cmd(&csv, &["--resolution", "1080p"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1080p"));
}

#[test]
fn credits_from_the_webhooks_are_recorded_per_row_and_totalled() {
    let env = Env::start(config().seed(5));
    let csv = env.csv(4);
    let summary_path = env.dir.path().join("summary.json");
    let out = env
        .run_cmd(&csv, &["--webhook-listen", "127.0.0.1:0", "--summary-json"])
        .arg(&summary_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (_, rows) = manifest(&env.out());
    let credits = column(&rows, "credits");
    // The sandbox charges one credit per started minute: each of these short renders costs 1.
    assert_eq!(credits, ["1"; 4], "{rows:?}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert_eq!(summary["statuses"]["credits"], 4, "{summary}");
    assert!(stderr.contains("4 credits"), "{stderr}");
    // Without webhooks the vendor does not say: the column stays empty.
    let env = Env::start(config());
    let out = env.run_cmd(&env.csv(2), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (_, rows) = manifest(&env.out());
    assert_eq!(column(&rows, "credits"), ["", ""]);
}
