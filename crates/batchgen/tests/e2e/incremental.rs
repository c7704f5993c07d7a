//! The same command continues: running again into a directory that holds a run pays only for
//! what changed (issue 9, item 1). Creates and polls are counted by the sandbox.

use std::path::Path;
use std::time::Duration;

use batchgen_sandbox::SandboxConfig;

use crate::support::{Env, KEY, batchgen, expect_exit, manifest, repo};

/// `batchgen run CSV templates/welcome.json --out OUT` with `args` (key column and base URL
/// chosen by the test).
fn run_with(env: &Env, csv: &Path, args: &[&str]) -> std::process::Output {
    batchgen()
        .env("AISTUDIOS_API_KEY", KEY)
        .arg("run")
        .arg(csv)
        .arg(repo().join("templates/welcome.json"))
        .arg("--out")
        .arg(env.out())
        .args([
            "--rate",
            "50",
            "--poll-interval",
            "150ms",
            "--poll-cap",
            "1s",
        ])
        .args(args)
        .output()
        .unwrap()
}

fn quick() -> SandboxConfig {
    SandboxConfig::default().render_time(Duration::from_millis(50)..Duration::from_millis(150))
}

/// Writes `people.csv`: rows `(email, first_name)` for `templates/welcome.json`.
fn write_csv(env: &Env, rows: &[(String, String)]) -> std::path::PathBuf {
    let path = env.dir.path().join("people.csv");
    let mut text = String::from("email,first_name,company,manager\n");
    for (email, first) in rows {
        text.push_str(&format!("{email},{first},Co,Alex\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Status and `changed` of every manifest row, by key.
fn by_key(out: &Path) -> std::collections::BTreeMap<String, (String, String)> {
    let (_, rows) = manifest(out);
    rows.iter()
        .map(|r| {
            let cell = |n: &str| r[n].clone();
            (cell("key"), (cell("status"), cell("changed")))
        })
        .collect()
}

#[test]
fn the_same_command_pays_only_for_what_changed() {
    let env = Env::start(quick());
    let mut rows: Vec<(String, String)> = (0..50)
        .map(|i| (format!("p{i}@example.com"), format!("Person {i}")))
        .collect();
    // Two rows without a first name: invalid with --require-cells, never sent.
    rows[3].1.clear();
    rows[7].1.clear();
    let csv = write_csv(&env, &rows);
    let args = ["--rate", "50", "--max-in-flight", "50", "--require-cells"];

    let out = env.run_cmd(&csv, &args).output().unwrap();
    expect_exit(&out, 3);
    let first = env.stats();
    assert_eq!(first.submissions, 48);
    let m = by_key(&env.out());
    assert_eq!(m.values().filter(|(s, _)| s == "ready").count(), 48);
    assert_eq!(m.values().filter(|(s, _)| s == "invalid").count(), 2);

    // Fix the 2, edit 2 ready rows, append 10, remove 1.
    rows[3].1 = "Fixed Three".into();
    rows[7].1 = "Fixed Seven".into();
    rows[10].1 = "Edited Ten".into();
    rows[11].1 = "Edited Eleven".into();
    for i in 50..60 {
        rows.push((format!("p{i}@example.com"), format!("Person {i}")));
    }
    let removed = rows.remove(20).0;
    let csv = write_csv(&env, &rows);

    let out = env.run_cmd(&csv, &args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let second = env.stats();
    assert_eq!(
        second.submissions - first.submissions,
        12,
        "the 2 fixed and the 10 appended, nothing else"
    );
    let m = by_key(&env.out());
    assert_eq!(m[&removed].0, "removed");
    for k in ["p10@example.com", "p11@example.com"] {
        assert_eq!(m[k], ("ready".to_owned(), "yes".to_owned()), "{k}");
    }
    for k in ["p3@example.com", "p7@example.com", "p55@example.com"] {
        assert_eq!(m[k], ("ready".to_owned(), String::new()), "{k}");
    }
    assert_eq!(m.values().filter(|(s, _)| s == "ready").count(), 59);
    assert!(
        stderr.contains("1 removed") && stderr.contains("2 changed"),
        "{stderr}"
    );

    // A third time: nothing to send, nothing to poll.
    let out = env.run_cmd(&csv, &args).output().unwrap();
    expect_exit(&out, 0);
    let third = env.stats();
    assert_eq!(third.submissions, second.submissions, "no create");
    assert_eq!(third.polls, second.polls, "no poll");
    assert_eq!(third.requests, second.requests, "no request at all");

    // --rerender-changed makes the 2 edited rows again: one new project each.
    let out = env
        .run_cmd(&csv, &[&args[..], &["--rerender-changed"]].concat())
        .output()
        .unwrap();
    expect_exit(&out, 0);
    assert_eq!(env.stats().submissions - third.submissions, 2);
    let m = by_key(&env.out());
    assert_eq!(m["p10@example.com"], ("ready".to_owned(), String::new()));
}

#[test]
fn what_cannot_change_in_a_run_directory_is_refused_with_the_why() {
    let env = Env::start(quick());
    let csv = env.csv(3);
    let base = env.sandbox().base_url();
    let out = run_with(&env, &csv, &["--key", "email", "--base-url", &base]);
    expect_exit(&out, 0);
    let before = env.stats().requests;

    // Another key column: every row would look new.
    let out = run_with(&env, &csv, &["--key", "first_name", "--base-url", &base]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another key column") && stderr.contains("use a new --out"),
        "{stderr}"
    );

    // Another API.
    let out = run_with(
        &env,
        &csv,
        &["--key", "email", "--base-url", "http://127.0.0.1:9"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("made against another API (base_url changed)"),
        "{stderr}"
    );

    // Another account: refused before anything is sent, naming both accounts by a tag that
    // holds neither key.
    let other = "other-key-0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a";
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", other)
        .arg("run")
        .arg(&csv)
        .arg(repo().join("templates/welcome.json"))
        .arg("--out")
        .arg(env.out())
        .args(["--key", "email", "--base-url", &base])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("it was started as api-key:")
            && stderr.contains("these credentials are api-key:")
            && stderr.contains("choose another --out for this account"),
        "{stderr}"
    );
    let journal = std::fs::read_to_string(env.out().join("journal.jsonl")).unwrap();
    for secret in [KEY, other, &KEY[9..], &other[10..]] {
        assert!(!stderr.contains(secret), "the key leaked: {stderr}");
        assert!(!journal.contains(secret), "the key is in the journal");
    }
    assert!(
        journal
            .lines()
            .next()
            .unwrap()
            .contains(r#""account":"api-key:"#)
    );
    assert_eq!(env.stats().requests, before, "nothing was sent");

    // A journal of an earlier version, which did not record the account, continues.
    let path = env.out().join("journal.jsonl");
    let mut lines: Vec<String> = journal.lines().map(str::to_owned).collect();
    let mut header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    header["fingerprint"]
        .as_object_mut()
        .unwrap()
        .remove("account");
    lines[0] = header.to_string();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = run_with(&env, &csv, &["--key", "email", "--base-url", &base]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.stats().submissions, 3, "nothing paid again");
}

#[test]
fn run_data_template_works_as_typed_and_the_same_command_finds_its_run() {
    let env = Env::start(quick());
    let csv = env.csv(3);
    let run = || {
        batchgen()
            .current_dir(env.dir.path())
            .env("AISTUDIOS_API_KEY", KEY)
            .arg("run")
            .arg("people.csv")
            .arg(repo().join("templates/welcome.json"))
            .args(["--base-url", &env.sandbox().base_url()])
            .args([
                "--rate",
                "50",
                "--poll-interval",
                "150ms",
                "--poll-cap",
                "1s",
            ])
            .output()
            .unwrap()
    };
    assert!(csv.ends_with("people.csv"));
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("output: out/people/"), "{stderr}");
    assert!(
        stderr.contains("manifest: out/people/manifest.csv"),
        "{stderr}"
    );
    let dir = env.dir.path().join("out/people");
    assert_eq!(manifest(&dir).1.len(), 3);
    let creates = env.stats().submissions;
    assert_eq!(creates, 3);
    let out = run();
    expect_exit(&out, 0);
    assert_eq!(
        env.stats().submissions,
        creates,
        "the same command sent a create"
    );
}

/// Results a scheduler can read on every exit (issue 9, item 4).
#[test]
fn every_exit_writes_the_summary_and_status_says_what_failed() {
    let env = Env::start(quick());
    let base = env.sandbox().base_url();
    let summary = env.dir.path().join("summary.json");
    let read = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap()
    };
    let mut rows: Vec<(String, String)> = (0..4)
        .map(|i| (format!("p{i}@example.com"), format!("Person {i}")))
        .collect();
    rows[1].1.clear();
    let csv = write_csv(&env, &rows);
    let s = summary.to_str().unwrap();

    // Exit 3 with -q: the summary says so, and the final line is still printed.
    let out = run_with(
        &env,
        &csv,
        &[
            "--key",
            "email",
            "--base-url",
            &base,
            "--require-cells",
            "-q",
            "--summary-json",
            s,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("3 ready, 0 failed, 1 invalid"), "{stderr}");
    let v = read();
    assert_eq!(
        (v["exit_code"].as_u64(), v["outcome"].as_str()),
        (Some(3), Some("finished"))
    );

    // status: exit 3 on an invalid row, and --json.
    let st = batchgen()
        .args(["status", "--json"])
        .arg(env.out())
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(3));
    let j: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(
        (j["ready"].as_u64(), j["invalid"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(j["failures"][0]["key"], "p1@example.com");

    // A refusal (exit 2) replaces the earlier summary with its own.
    let out = run_with(
        &env,
        &csv,
        &[
            "--key",
            "first_name",
            "--base-url",
            &base,
            "--summary-json",
            s,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let v = read();
    assert_eq!(
        (v["exit_code"].as_u64(), v["outcome"].as_str()),
        (Some(2), Some("error"))
    );
    assert!(v["error"].as_str().unwrap().contains("first_name"), "{v}");
}
