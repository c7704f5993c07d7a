//! `batchgen export` through v3 (`POST /editor/project/export`), end to end against the
//! sandbox: the review-before-you-pay flow (`run --draft`, then `export OUT/manifest.csv`),
//! rows of a manifest that are not drafts skipped and listed, `--resolution`/`--workspace` in
//! every request, the same command continuing, and lost export answers looked up, never paid
//! twice.

use std::path::Path;
use std::time::Duration;

use batchgen_sandbox::SandboxConfig;

use crate::support::export::{PROJECT, Recorder, client, rt, write};
use crate::support::{Env, KEY, batchgen, column, manifest};

fn config() -> SandboxConfig {
    SandboxConfig::default().render_time(Duration::from_millis(200)..Duration::from_millis(500))
}

/// `batchgen export DATA --out OUT --base-url BASE` (fast polls) plus `extra`.
fn export_v3(data: &Path, out: &Path, base: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = batchgen();
    cmd.env("AISTUDIOS_API_KEY", KEY)
        .arg("export")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--base-url", base])
        .args(["--poll-interval", "150ms", "--poll-cap", "1s"])
        .args(extra);
    cmd
}

/// `n` drafts made through v3 (`isExport: false`); their ids.
fn drafts(env: &Env, n: usize) -> Vec<String> {
    let c = client(&env.sandbox().base_url());
    rt().block_on(async {
        let mut ids = Vec::new();
        for i in 0..n {
            let body = PROJECT
                .replacen('{', r#"{"isExport":false,"#, 1)
                .replace("NAME", &format!("draft {i}"));
            ids.push(
                c.create_project(body.as_bytes())
                    .await
                    .unwrap()
                    .as_str()
                    .to_owned(),
            );
        }
        ids
    })
}

#[test]
fn drafts_from_a_run_are_exported_from_its_manifest_once_with_the_run_keys() {
    let env = Env::start(config());
    let csv = env.csv(4);
    let out = env.run_cmd(&csv, &["--draft"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, run_rows) = manifest(&env.out());
    let drafts = column(&run_rows, "project_id");
    assert_eq!(env.stats().project_exports, 0);

    // Review in the editor, then pay: every draft rendered once, by the run's keys.
    let proxy = Recorder::start(env.sandbox().base_url());
    let out2 = env.dir.path().join("out2");
    let manifest_csv = env.out().join("manifest.csv");
    let flags = [
        "--resolution",
        "720",
        "--workspace",
        "65a1f0c2e4b0a1b2c3d4e5f7",
        "--download",
    ];
    let done = export_v3(&manifest_csv, &out2, &proxy.base, &flags)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{stderr}");
    let (header, rows) = manifest(&out2);
    assert_eq!(&header[..4], ["row", "key", "status", "project_id"]);
    assert!(
        !header[4..].iter().any(|h| h == "status" || h == "row"),
        "the run manifest's own columns are not carried: {header:?}"
    );
    assert!(header.iter().any(|h| h == "first_name"), "{header:?}");
    assert_eq!(column(&rows, "status"), ["ready"; 4]);
    assert_eq!(column(&rows, "project_id"), drafts);
    assert_eq!(column(&rows, "key"), column(&run_rows, "key"));
    for file in column(&rows, "file") {
        assert!(
            file.starts_with("videos/p"),
            "named by the run's key: {file}"
        );
        assert!(out2.join(file).is_file(), "{file}");
    }
    let stats = env.stats();
    assert_eq!((stats.project_exports, stats.repeat_exports), (4, 0));
    let sent: Vec<serde_json::Value> = proxy
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/api/odin/v3/editor/project/export")
        .map(|(_, _, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(sent.len(), 4);
    for body in &sent {
        assert_eq!(body["resolution"], "720", "{body}");
        assert_eq!(body["workspaceId"], "65a1f0c2e4b0a1b2c3d4e5f7", "{body}");
        assert!(
            drafts.contains(&body["projectId"].as_str().unwrap()),
            "{body}"
        );
    }

    // The same command again: nothing is exported twice.
    let again = export_v3(&manifest_csv, &out2, &proxy.base, &flags)
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(env.stats().project_exports, 4);

    // The export's own manifest holds rendered rows: all skipped and listed, nothing sent.
    let out3 = env.dir.path().join("out3");
    let requests = env.stats().requests;
    let skipped = export_v3(&out2.join("manifest.csv"), &out3, &proxy.base, &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&skipped.stderr);
    assert_eq!(skipped.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("skipped 4 row(s) of") && stderr.contains("whose status is not draft"),
        "{stderr}"
    );
    assert!(stderr.contains("--include-non-drafts"), "{stderr}");
    assert_eq!(env.stats().project_exports, 4);
    assert!(
        env.stats().requests - requests <= 1,
        "at most a token/auth check"
    );
}

#[test]
fn non_draft_rows_are_skipped_unless_asked_and_v2_only_flags_are_refused() {
    let env = Env::start(config());
    let ids = drafts(&env, 3);
    // A manifest as an earlier build wrote it (`credits` before `error`, no columns after
    // `changed`): read by its column names all the same.
    let data = write(
        &env,
        "reviewed.csv",
        &format!(
            "row,key,status,project_id,download_url,file,attempts,credits,error,changed,name\n\
             1,a,draft,{},,,1,,,,Ann\n\
             2,b,ready,{},https://v/b.mp4,,1,,,,Bob\n\
             3,c,failed,,,,6,,render failed,,Cy\n\
             4,d,draft,{},,,1,,,,Dee\n",
            ids[0], ids[1], ids[2]
        ),
    );
    let base = env.sandbox().base_url();
    let out = env.out();
    let done = export_v3(&data, &out, &base, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("skipped 2 row(s)"), "{stderr}");
    assert!(stderr.contains("row 2 (b): ready"), "{stderr}");
    assert!(stderr.contains("row 3 (c): failed"), "{stderr}");
    let (_, rows) = manifest(&out);
    assert_eq!(column(&rows, "key"), ["a", "d"]);
    assert_eq!(column(&rows, "status"), ["ready", "ready"]);
    assert_eq!(env.stats().project_exports, 2);

    // --include-non-drafts: the ready row is rendered again; the row without a project is
    // invalid, named, and never sent.
    let out2 = env.dir.path().join("all");
    let all = export_v3(&data, &out2, &base, &["--include-non-drafts"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&all.stderr);
    assert_eq!(all.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("line 4, column project_id: the project id is empty"),
        "{stderr}"
    );
    let (_, rows) = manifest(&out2);
    assert_eq!(
        column(&rows, "status"),
        ["ready", "ready", "invalid", "ready"]
    );
    assert_eq!(env.stats().project_exports, 5);

    // Flags of the other API: exit 2, nothing sent.
    let requests = env.stats().requests;
    for (extra, says) in [
        (
            &["--watermark", "https://e.com/l.png"][..],
            "--watermark is for v2 exports only; add --api v2",
        ),
        (
            &["--api", "v2", "--resolution", "720"][..],
            "--resolution is for v3 exports only",
        ),
    ] {
        let o = export_v3(&data, &env.dir.path().join("x"), &base, extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
    let v2_csv = write(&env, "v2.csv", "project_id,folder_id\np1,f1\n");
    let o = export_v3(&v2_csv, &env.dir.path().join("y"), &base, &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("folder_id that only v2 exports take; add --api v2"),
        "{stderr}"
    );
    assert_eq!(env.stats().requests, requests);
}

#[test]
fn lost_and_dropped_export_answers_are_looked_up_and_never_paid_twice() {
    // One sandbox with its faults on from the start; the drafts are made by hand through them.
    let env = Env::start(
        config()
            .seed(7)
            .lost_probability(0.25)
            .drop_probability(0.1)
            .fail_probability(0.1),
    );
    let c = client(&env.sandbox().base_url());
    let ids: Vec<String> = rt().block_on(async {
        let mut ids = Vec::new();
        for i in 0..12 {
            let body = PROJECT
                .replacen('{', r#"{"isExport":false,"#, 1)
                .replace("NAME", &format!("faulty draft {i}"));
            // Made by hand under faults: a create whose answer is lost is found by its name
            // (drafts are never listed, so the test keeps only answered creates).
            loop {
                if let Ok(id) = c.create_project(body.as_bytes()).await {
                    ids.push(id.as_str().to_owned());
                    break;
                }
            }
        }
        ids
    });
    let data = write(
        &env,
        "drafts.csv",
        &format!("project_id\n{}\n", ids.join("\n")),
    );
    let before = env.stats();
    let out = export_v3(
        &data,
        &env.out(),
        &env.sandbox().base_url(),
        &[
            "--rate",
            "100",
            "--max-attempts",
            "12",
            "--summary-json",
            env.dir.path().join("summary.json").to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (_, rows) = manifest(&env.out());
    assert_eq!(column(&rows, "status"), ["ready"; 12], "{stderr}");
    let stats = env.stats();
    assert!(
        stats.faults_lost > before.faults_lost,
        "some answers were lost"
    );
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 12);
    assert_eq!(
        stats.repeat_exports, 0,
        "no project rendered twice: {stats:?}"
    );
    assert_eq!(stats.project_exports, 12, "{stats:?}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join("summary.json")).unwrap(),
    )
    .unwrap();
    let progress = &summary["progress"];
    assert!(
        progress["recovered"].as_u64().unwrap() >= 1,
        "a lost export answer was adopted by its lookup: {progress}"
    );
    assert!(
        progress["creates"].as_u64().unwrap() > 12,
        "some exports were sent again after a lookup showed a draft: {progress}"
    );
}

#[test]
fn v3_exports_end_by_webhook_without_polls() {
    let env = Env::start(config());
    let ids = drafts(&env, 5);
    let data = write(
        &env,
        "drafts.csv",
        &format!("project_id\n{}\n", ids.join("\n")),
    );
    let path = env.dir.path().join("summary.json");
    let out = export_v3(
        &data,
        &env.out(),
        &env.sandbox().base_url(),
        &[
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
    assert!(stderr.contains("webhooks: receiving on"), "{stderr}");
    let (_, rows) = manifest(&env.out());
    assert_eq!(column(&rows, "status"), ["ready"; 5]);
    let stats = env.stats();
    assert_eq!(
        stats.polls, 0,
        "the callbacks ended every render: {stats:?}"
    );
    assert_eq!(stats.project_exports, 5);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(s["webhooks"]["accepted"], 5, "{s}");
    // v2 exports have no webhook.
    let o = export_v3(
        &data,
        &env.dir.path().join("v2"),
        &env.sandbox().base_url(),
        &["--api", "v2", "--webhook-listen", "127.0.0.1:0"],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--webhook-listen is for v3 exports only"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
