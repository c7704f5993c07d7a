//! `run` reads the account's model list once, before its first create, and makes rows whose
//! avatar (or its clothes) the account lacks invalid, naming the closest known id; a list that
//! cannot be read is said once and the run goes on. Also `batchgen models` / `workspaces`.

use std::time::Duration;

use batchgen_sandbox::SandboxConfig;

use crate::support::export::Recorder;
use crate::support::{Env, KEY, batchgen, column, manifest, repo};

/// `templates/welcome.json` with its avatar and clothes taken from the columns `avatar`, `cloth`.
fn template(env: &Env) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("templates/welcome.json"))
        .unwrap()
        .replacen(
            r#""ai_name": "M000045058""#,
            r#""ai_name": "{{avatar}}""#,
            1,
        )
        .replacen(r#""emotion": "BG00002320""#, r#""emotion": "{{cloth}}""#, 1);
    assert!(text.contains("{{avatar}}") && text.contains("{{cloth}}"));
    let path = env.dir.path().join("avatars.json");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(env: &Env, base: &str, csv: &std::path::Path) -> std::process::Output {
    batchgen()
        .env("AISTUDIOS_API_KEY", KEY)
        .arg("run")
        .arg(csv)
        .arg(template(env))
        .args(["--key", "email", "--out"])
        .arg(env.out())
        .args([
            "--base-url",
            base,
            "--poll-interval",
            "150ms",
            "--poll-cap",
            "1s",
        ])
        .output()
        .unwrap()
}

fn people(env: &Env, rows: &[(&str, &str)]) -> std::path::PathBuf {
    let mut text = String::from("email,first_name,company,manager,avatar,cloth\n");
    for (i, (avatar, cloth)) in rows.iter().enumerate() {
        text.push_str(&format!("p{i}@example.com,P{i},Co,Alex,{avatar},{cloth}\n"));
    }
    let path = env.dir.path().join("people.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn rows_with_an_avatar_the_account_lacks_are_invalid_before_any_create() {
    let env = Env::start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(100)..Duration::from_millis(200)),
    );
    let proxy = Recorder::start(env.sandbox().base_url());
    let csv = people(
        &env,
        &[
            ("M000045058", "BG00002320"),
            ("M000045085", "BG00002320"),
            ("M000004017", "BG00002320"),
        ],
    );
    let out = run(&env, &proxy.base, &csv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("models: projects are checked against the account's avatars"),
        "{stderr}"
    );
    assert!(
        stderr.contains(r#"invalid: row 2 (p1@example.com): /scenes/0/clips/0/model/ai_name: the account has no avatar "M000045085": the closest it has is "M000045058""#),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            r#"/scenes/0/clips/0/model/emotion: avatar "M000004017" has no clothes "BG00002320""#
        ),
        "{stderr}"
    );
    let (_, rows) = manifest(&env.out());
    assert_eq!(column(&rows, "status"), ["ready", "invalid", "invalid"]);
    assert_eq!(env.stats().submissions, 1, "the bad rows were never sent");
    let seen = proxy.seen.lock().unwrap().clone();
    let models: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, (m, p, _))| m == "GET" && p == "/api/odin/v3/model")
        .map(|(i, _)| i)
        .collect();
    let first_create = seen
        .iter()
        .position(|(m, p, _)| m == "POST" && p == "/api/odin/v3/editor/project")
        .unwrap();
    assert_eq!(models.len(), 1, "the list is read once");
    assert!(models[0] < first_create, "before the first create");
}

#[test]
fn a_model_list_that_cannot_be_read_is_said_once_and_the_run_goes_on() {
    let env = Env::start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(100)..Duration::from_millis(200)),
    );
    let proxy = Recorder::refusing(env.sandbox().base_url(), Some("/api/odin/v3/model"));
    let csv = people(
        &env,
        &[("M000045058", "BG00002320"), ("M000045058", "BG00002321")],
    );
    let out = run(&env, &proxy.base, &csv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr
            .matches("projects are not checked against the account's avatars")
            .count(),
        1,
        "{stderr}"
    );
    assert_eq!(env.stats().submissions, 2);
}

#[test]
fn models_and_workspaces_list_what_the_account_has() {
    let env = Env::start(SandboxConfig::default());
    let base = env.sandbox().base_url();
    let list = |what: &str, extra: &[&str]| {
        let o = batchgen()
            .env("AISTUDIOS_API_KEY", KEY)
            .args([what, "--base-url", &base])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let table = list("models", &[]);
    assert!(table.starts_with("AI_NAME (modelId)"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("M000045058") && l.contains("BG00002320")),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&list("models", &["--json"])).unwrap();
    assert!(json.as_array().unwrap().iter().any(|m| {
        m["id"] == "M000045058"
            && m["clothes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == "BG00002320")
    }));
    let spaces = list("workspaces", &[]);
    assert!(spaces.contains("65a1f0c2e4b0a1b2c3d4e5f6"), "{spaces}");
    let json: serde_json::Value = serde_json::from_str(&list("workspaces", &["--json"])).unwrap();
    assert_eq!(json[1]["workspaceName"], "Marketing", "{json}");
    // A refused key: exit 4.
    let o = batchgen()
        .env("AISTUDIOS_API_KEY", "wrong")
        .args(["models", "--base-url", &base])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
