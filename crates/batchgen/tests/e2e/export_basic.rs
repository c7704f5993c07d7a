//! `batchgen export` end to end against the sandbox: projects in folders and direct ones,
//! watermarks from flags and from cells, invalid rows reported and never sent, downloads.

use std::time::Duration;

use crate::support::export::{Recorder, direct_projects, export_cmd_to, write};
use crate::support::{Env, manifest};
use batchgen_sandbox::SandboxConfig;

fn quick() -> SandboxConfig {
    SandboxConfig::default().render_time(Duration::from_millis(100)..Duration::from_millis(300))
}

#[test]
fn folders_direct_watermarks_invalid_rows_and_downloads() {
    let env = Env::start(quick().seed_projects(3));
    let s = env.sandbox().seeded_projects().to_vec();
    let d = direct_projects(&env, 2);
    let proxy = Recorder::start(env.sandbox().base_url());
    let csv = write(
        &env,
        "exports.csv",
        &format!(
            "key,project_id,folder_id,watermark_src_url,watermark_pos_x,watermark_pos_y,watermark_scale,note\n\
             a,{s0},{f0},,,,,folder + flag watermark\n\
             b,{s1},{f1},https://example.com/b.png,0.1,0.9,0.25,per-row watermark\n\
             c,{d0},,,,,,direct + flag watermark\n\
             d,{d1},,,0.75,,,\"direct, x from the cell\"\n\
             e,,{f0},,,,,missing project id\n\
             f,a/b,,,,,,malformed project id\n\
             g,{s2},{f2},,2,,,bad watermark cell\n\
             h,{s2},{f2},,,,1,scale from the cell\n",
            s0 = s[0].project_id,
            f0 = s[0].folder_id,
            s1 = s[1].project_id,
            f1 = s[1].folder_id,
            s2 = s[2].project_id,
            f2 = s[2].folder_id,
            d0 = d[0],
            d1 = d[1],
        ),
    );
    let before = env.stats().requests;
    let out = export_cmd_to(
        &env,
        &csv,
        &proxy.base,
        &[
            "--key",
            "key",
            "--rate",
            "50",
            "--watermark",
            "https://example.com/a.png",
            "--watermark-scale",
            "0.5",
            "--download",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("3 of 8 rows are invalid and will not be sent"),
        "{stderr}"
    );
    assert!(
        stderr.contains("invalid: row 5 (e): line 6, column project_id: the project id is empty"),
        "{stderr}"
    );

    let (header, rows) = manifest(&env.out());
    assert_eq!(
        &header[..15],
        [
            "row",
            "key",
            "status",
            "project_id",
            "export_id",
            "download_url",
            "file",
            "attempts",
            "error",
            "credits",
            "changed",
            "project_name",
            "submitted_at",
            "ended_at",
            "failure_class"
        ]
    );
    assert_eq!(
        header[15..],
        [
            "key",
            "project_id",
            "folder_id",
            "watermark_src_url",
            "watermark_pos_x",
            "watermark_pos_y",
            "watermark_scale",
            "note"
        ]
    );
    let status: Vec<&str> = rows.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(
        status,
        [
            "ready", "ready", "ready", "ready", "invalid", "invalid", "invalid", "ready"
        ],
        "{rows:?}"
    );
    for r in rows.iter().filter(|r| r["status"] == "ready") {
        assert!(r["export_id"].starts_with("export_"), "{r:?}");
        assert_eq!(
            r["project_id"],
            *r.last("project_id"),
            "project_id is the project exported: {r:?}"
        );
        assert_eq!(r["file"], format!("videos/{}.mp4", r["key"]));
        let video = std::fs::read(env.out().join(&r["file"])).unwrap();
        assert_eq!(video, batchgen_sandbox::sample_video(), "{r:?}");
    }
    assert!(
        rows[5]["error"].starts_with("line 7, column project_id: project id \"a/b\" contains '/'"),
        "{:?}",
        rows[5]
    );
    assert_eq!(
        rows[6]["error"],
        "line 8, column watermark_pos_x: 2 is outside 0..1; give a position from 0 to 1"
    );

    // What reached the server: one create per valid row, none for the invalid ones.
    let creates = proxy.creates();
    assert_eq!(creates.len(), 5, "{creates:?}");
    let body_of = |path: String| {
        creates
            .iter()
            .find(|(p, _)| *p == path)
            .unwrap_or_else(|| panic!("no create at {path}: {creates:?}"))
            .1
            .clone()
    };
    assert_eq!(
        body_of(format!(
            "/v2/projects/{}/{}/exports",
            s[0].folder_id, s[0].project_id
        )),
        r#"{"watermark":{"src_url":"https://example.com/a.png","pos_x":0.5,"pos_y":0.5,"scale":0.5}}"#
    );
    assert_eq!(
        body_of(format!(
            "/v2/projects/{}/{}/exports",
            s[1].folder_id, s[1].project_id
        )),
        r#"{"watermark":{"src_url":"https://example.com/b.png","pos_x":0.1,"pos_y":0.9,"scale":0.25}}"#
    );
    assert_eq!(
        body_of(format!("/v2/projects/{}/exports", d[0])),
        r#"{"watermark":{"src_url":"https://example.com/a.png","pos_x":0.5,"pos_y":0.5,"scale":0.5}}"#
    );
    assert_eq!(
        body_of(format!("/v2/projects/{}/exports", d[1])),
        r#"{"watermark":{"src_url":"https://example.com/a.png","pos_x":0.75,"pos_y":0.5,"scale":0.5}}"#
    );
    assert_eq!(
        body_of(format!(
            "/v2/projects/{}/{}/exports",
            s[2].folder_id, s[2].project_id
        )),
        r#"{"watermark":{"src_url":"https://example.com/a.png","pos_x":0.5,"pos_y":0.5,"scale":1.0}}"#
    );
    let stats = env.stats();
    assert_eq!(stats.exports, 5, "{stats:?}");
    // Every request went through the proxy: creates and status polls only, v2 only.
    let seen = proxy.seen.lock().unwrap().clone();
    assert_eq!(stats.requests - before, seen.len() as u64);
    assert!(
        seen.iter().all(|(_, p, _)| p.starts_with("/v2/projects/")),
        "{seen:?}"
    );
}

#[test]
fn without_a_watermark_image_cells_are_invalid_and_bad_flags_stop_before_anything() {
    let env = Env::start(quick().seed_projects(2));
    let s = env.sandbox().seeded_projects().to_vec();
    let csv = write(
        &env,
        "exports.csv",
        &format!(
            "project_id,folder_id,watermark_pos_x\n{},{},\n{},{},0.2\n",
            s[0].project_id, s[0].folder_id, s[1].project_id, s[1].folder_id
        ),
    );
    let proxy = Recorder::start(env.sandbox().base_url());
    let out = export_cmd_to(&env, &csv, &proxy.base, &["--rate", "50"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let (_, rows) = manifest(&env.out());
    assert_eq!(
        (rows[0]["key"].as_str(), rows[0]["status"].as_str()),
        ("row-1", "ready")
    );
    assert_eq!(rows[1]["status"], "invalid");
    assert_eq!(
        rows[1]["error"],
        "line 3, column watermark_pos_x: is set but there is no watermark image: fill watermark_src_url or pass --watermark URL"
    );
    let creates = proxy.creates();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].1, "{}", "no watermark sent");

    // Bad flags, a CSV without project_id: exit 2, nothing sent, no journal.
    let requests = env.stats().requests;
    let fresh = env.dir.path().join("fresh");
    let no_project = write(&env, "bad.csv", "projectid\np1\n");
    for (csv, extra, says) in [
        (&csv, &["--watermark-x", "1.5"][..], "1.5 is outside 0..1"),
        (&csv, &["--watermark-scale", "0"][..], "0 is outside (0, 1]"),
        (
            &csv,
            &["--watermark", "logo.png"][..],
            "is not an absolute http(s) URL",
        ),
        (
            &no_project,
            &[][..],
            "has no project_id column (is \"projectid\" meant?)",
        ),
    ] {
        let out = crate::support::batchgen()
            .env("AISTUDIOS_API_KEY", crate::support::KEY)
            .args(["export", "--api", "v2"])
            .arg(csv)
            .arg("--out")
            .arg(&fresh)
            .args(["--base-url", &env.sandbox().base_url()])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
    assert_eq!(env.stats().requests, requests);
    assert!(!fresh.join("journal.jsonl").exists());
}
