//! `batchgen exports list`: a table and `--json` of the sandbox's exports, filters, refused
//! credentials, and the `--sandbox` demo.

use std::time::Duration;

use crate::support::export::{client, direct_projects, rt};
use crate::support::{Env, KEY, batchgen, expect_exit};
use batchgen_aistudios::{ExportRequest, Watermark};
use batchgen_sandbox::SandboxConfig;

fn list(env: &Env, extra: &[&str]) -> std::process::Output {
    batchgen()
        .env("AISTUDIOS_API_KEY", KEY)
        .args(["exports", "list", "--base-url", &env.sandbox().base_url()])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_table_json_and_filters() {
    // Exports finish at once, so every one is ready with its URL.
    let env = Env::start(
        SandboxConfig::default()
            .seed_projects(6)
            .render_time(Duration::ZERO..Duration::ZERO),
    );
    let s = env.sandbox().seeded_projects().to_vec();
    let d = direct_projects(&env, 1);
    let c = client(&env.sandbox().base_url());
    rt().block_on(async {
        let wm = ExportRequest::with_watermark(Watermark::new("https://example.com/l.png"));
        c.create_export(
            Some(&s[0].folder_id),
            &s[0].project_id,
            &ExportRequest::default(),
        )
        .await
        .unwrap();
        c.create_export(Some(&s[1].folder_id), &s[1].project_id, &wm)
            .await
            .unwrap();
        c.create_export(Some(&s[5].folder_id), &s[5].project_id, &wm)
            .await
            .unwrap();
        c.create_export(None, &d[0], &ExportRequest::default())
            .await
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(50));

    let out = list(&env, &[]);
    expect_exit(&out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    let head: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        head,
        [
            "ID", "STATUS", "PROJECT", "FOLDER", "CREATED", "FINISHED", "NAME", "SRC_URL"
        ]
    );
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &first[..4],
        ["export_001", "ready", &s[0].project_id, &s[0].folder_id]
    );
    assert!(
        first[4].ends_with('Z') && first[5].ends_with('Z'),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("Seeded Project 001"), "{}", lines[1]);
    let url = format!("{}/downloads/export_001.mp4", env.sandbox().base_url());
    assert!(lines[1].ends_with(&url), "{}", lines[1]);
    let direct: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!(&direct[..4], ["export_004", "ready", &d[0], "-"]);
    // Columns line up: every row's status starts where the header's does.
    let at = lines[0].find("STATUS").unwrap();
    assert!(
        lines[1..].iter().all(|l| l[at..].starts_with("ready")),
        "{text}"
    );

    let out = list(&env, &["--folder-id", &s[0].folder_id]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    let out = list(&env, &["--project-id", &s[5].project_id]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("export_003"), "{text}");

    let out = list(&env, &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), 4);
    let keys: Vec<&str> = a[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "status",
            "src_url",
            "project_id",
            "created_at",
            "finished_at",
            "name",
            "author_id",
            "folder_id",
            "descriptions"
        ]
    );
    assert_eq!(a[0]["status"], "ready");
    assert_eq!(
        a[0]["src_url"],
        format!("{}/downloads/export_001.mp4", env.sandbox().base_url())
    );
    assert_eq!(a[3]["folder_id"], serde_json::Value::Null);

    // Nothing matches: an empty table says so on stderr; JSON is [].
    let out = list(&env, &["--project-id", "nope"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no exports"));
    let out = list(&env, &["--project-id", "nope", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[test]
fn refused_or_missing_credentials() {
    let env = Env::start(SandboxConfig::default());
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", "wrong-key-0000")
        .args(["exports", "list", "--base-url", &env.sandbox().base_url()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("check the key") && !stderr.contains("wrong-key-0000"),
        "{stderr}"
    );
    let out = batchgen()
        .args(["exports", "list", "--base-url", &env.sandbox().base_url()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AISTUDIOS_API_KEY"), "{stderr}");
}

#[test]
fn the_sandbox_demo_lists_a_few_exports() {
    let out = batchgen()
        .args(["exports", "list", "--sandbox"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    expect_exit(&out, 0);
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(
        text.contains("folder_001") && text.contains("folder_002"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("sandbox: running"));
}
