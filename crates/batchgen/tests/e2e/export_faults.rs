//! `batchgen export` under faults (rate limit, 500s, dropped connections, lost answers,
//! latency, failed exports, cut downloads): every row ends ready or failed with a reason, and
//! no project is exported twice.

use std::time::Duration;

use crate::support::export::{export_cmd, exports_of, seeded_csv};
use crate::support::{Env, KEY, manifest};
use batchgen_sandbox::SandboxConfig;

#[test]
fn faults_end_every_row_ready_or_failed_and_nothing_is_exported_twice() {
    let env = Env::start(
        SandboxConfig::default()
            .seed_projects(30)
            .rate_limit(30)
            .render_time(Duration::from_millis(100)..Duration::from_millis(400))
            .latency(Duration::ZERO..Duration::from_millis(80))
            .fail_probability(0.08)
            .drop_probability(0.04)
            .lost_probability(0.06)
            .render_fail_probability(0.1)
            .download_fail_probability(0.1)
            .seed(3),
    );
    let csv = seeded_csv(&env);
    let summary = env.dir.path().join("summary.json");
    let out = export_cmd(
        &env,
        &csv,
        &[
            "--key",
            "key",
            "--rate",
            "30",
            "--max-in-flight",
            "30",
            "--download",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "exit {:?}: {stderr}",
        out.status.code()
    );
    let (_, rows) = manifest(&env.out());
    assert_eq!(rows.len(), 30);
    let seeded = env.sandbox().seeded_projects().to_vec();
    let mut failed = 0;
    for r in &rows {
        match r["status"].as_str() {
            "ready" => {
                let video = std::fs::read(env.out().join(&r["file"])).unwrap();
                assert_eq!(video, batchgen_sandbox::sample_video());
            }
            "failed" => {
                failed += 1;
                assert!(!r["error"].is_empty(), "a failed row says why: {r:?}");
            }
            other => panic!("row {r:?} ended {other}"),
        }
    }
    // With this seed some exports fail, and their rows say so in the vendor's words.
    assert!(failed > 0, "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r["error"].contains("Export failed: the renderer stopped unexpectedly")),
        "{rows:?}"
    );
    for p in &seeded {
        let n = exports_of(&env, &p.project_id);
        assert_eq!(n, 1, "project {} was exported {n} times", p.project_id);
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let stats = env.stats();
    assert!(
        stats.faults_lost > 0 && stats.faults_dropped > 0 && stats.faults_500 > 0,
        "{stats:?}"
    );
    assert!(s["progress"]["recovered"].as_u64().unwrap() > 0, "{s}");
    assert!(s["progress"]["retries"].as_u64().unwrap() > 0, "{s}");
    // The key is in no output.
    for (path, text) in env.output_texts() {
        assert!(!text.contains(KEY), "{} holds the key", path.display());
    }
    assert!(!stderr.contains(KEY));
}

/// A budget set above the vendor's limit: 429s with Retry-After pause the run and every row
/// still ends ready, each project exported once.
#[test]
fn rate_limited_answers_are_waited_out() {
    let env = Env::start(
        SandboxConfig::default()
            .seed_projects(15)
            .rate_limit(8)
            .render_time(Duration::from_millis(100)..Duration::from_millis(200))
            .seed(9),
    );
    let csv = seeded_csv(&env);
    let summary = env.dir.path().join("summary.json");
    let out = export_cmd(
        &env,
        &csv,
        &[
            "--rate",
            "40",
            "--max-in-flight",
            "15",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stats = env.stats();
    assert!(stats.rate_limited > 0, "{stats:?}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["progress"]["rate_limited"], stats.rate_limited, "{s}");
    let (_, rows) = manifest(&env.out());
    assert!(rows.iter().all(|r| r["status"] == "ready"), "{rows:?}");
    assert_eq!(stats.exports, 15, "{stats:?}");
}
