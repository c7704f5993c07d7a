//! `batchgen export` journal and resume: `kill -9` then `--resume` exports no project twice;
//! Ctrl-C exits 130 with the command that resumes; a journal of `batchgen run` is refused by
//! `batchgen export` and the other way round.

use std::process::Stdio;
use std::time::Duration;

use crate::support::export::{export_cmd, exports_of, seeded_csv};
use crate::support::{
    Env, KEY, batchgen, expect_exit, journal_events, kill_once_submitted, manifest,
    submitted_count, wait_for,
};
use batchgen_sandbox::SandboxConfig;

fn slow_exports(n: usize) -> SandboxConfig {
    SandboxConfig::default()
        .seed_projects(n)
        .rate_limit(20)
        .render_time(Duration::from_millis(400)..Duration::from_millis(900))
        .seed(11)
}

#[test]
fn kill_9_mid_export_then_resume_exports_no_project_twice() {
    let env = Env::start(slow_exports(40).lost_probability(0.05));
    let csv = seeded_csv(&env);
    let args = ["--key", "key", "--rate", "20", "--max-in-flight", "40"];
    // SIGKILL once 15 rows are submitted: no cleanup at all.
    kill_once_submitted(export_cmd(&env, &csv, &args).arg("-q"), &env.out(), 15);
    let before = env.stats().exports;
    assert!(
        (15..40).contains(&before),
        "{before} exports before the kill"
    );

    let out = export_cmd(&env, &csv, &args)
        .arg("--resume")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (_, rows) = manifest(&env.out());
    assert_eq!(rows.len(), 40);
    assert!(rows.iter().all(|r| r["status"] == "ready"), "{rows:?}");
    for p in env.sandbox().seeded_projects() {
        assert_eq!(exports_of(&env, &p.project_id), 1, "{}", p.project_id);
    }
    assert_eq!(env.stats().exports, 40);
    assert!(
        journal_events(&env.out())
            .iter()
            .any(|e| e["event"] == "resumed")
    );

    // Resuming a finished export sends nothing.
    let requests = env.stats().requests;
    let out = export_cmd(&env, &csv, &args)
        .arg("--resume")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(env.stats().requests, requests);
}

#[test]
fn ctrl_c_exits_130_and_the_printed_command_finishes_the_export() {
    let env = Env::start(slow_exports(30));
    let csv = seeded_csv(&env);
    let child = export_cmd(
        &env,
        &csv,
        &["--key", "key", "--rate", "10", "--max-in-flight", "30"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    assert!(wait_for(Duration::from_secs(20), || submitted_count(
        &env.out()
    ) >= 5));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let hint = stderr
        .lines()
        .find(|l| l.starts_with("resume with: "))
        .unwrap_or_else(|| panic!("no resume command in {stderr}"));
    assert!(
        hint.contains(" export ") && hint.ends_with("--resume"),
        "{hint}"
    );
    let (_, rows) = manifest(&env.out());
    assert!(rows.iter().any(|r| r["status"] == "pending"), "{rows:?}");

    // The same arguments with --resume (the hint quotes nothing here: plain paths).
    let words: Vec<&str> = hint
        .trim_start_matches("resume with: ")
        .split(' ')
        .collect();
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", KEY)
        .args(&words[1..])
        .output()
        .unwrap();
    expect_exit(&out, 0);
    for p in env.sandbox().seeded_projects() {
        assert_eq!(exports_of(&env, &p.project_id), 1);
    }
}

#[test]
fn journals_of_run_and_export_are_not_mixed() {
    let env = Env::start(
        SandboxConfig::default()
            .seed_projects(2)
            .render_time(Duration::from_millis(50)..Duration::from_millis(100)),
    );
    // A `run` journal in OUT.
    let people = env.csv(2);
    let out = env.run_cmd(&people, &["--rate", "50"]).output().unwrap();
    expect_exit(&out, 0);
    let requests = env.stats().requests;
    let csv = seeded_csv(&env);
    let out = export_cmd(&env, &csv, &["--resume"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is the journal of a `batchgen run`, not of a `batchgen export --api v2`"),
        "{stderr}"
    );
    // Without --resume too: the same command continues, and this is not its run.
    let out = export_cmd(&env, &csv, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not of a `batchgen export --api v2`"));
    assert_eq!(
        env.stats().requests,
        requests,
        "a refused export sent requests"
    );

    // An `export` journal elsewhere, refused by `run --resume`.
    let other = env.dir.path().join("exports-out");
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", KEY)
        .args(["export", "--api", "v2"])
        .arg(&csv)
        .arg("--out")
        .arg(&other)
        .args([
            "--base-url",
            &env.sandbox().base_url(),
            "--poll-interval",
            "100ms",
        ])
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let requests = env.stats().requests;
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", KEY)
        .arg("run")
        .arg(&people)
        .arg(crate::support::repo().join("templates/welcome.json"))
        .args(["--key", "email", "--out"])
        .arg(&other)
        .args(["--base-url", &env.sandbox().base_url(), "--resume"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is the journal of a `batchgen export --api v2`, not of a `batchgen run`"),
        "{stderr}"
    );
    assert_eq!(env.stats().requests, requests);

    // An export journal reads back with `batchgen status`.
    let out = batchgen().arg("status").arg(&other).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("ready       2"), "{text}");
    assert!(text.starts_with("export "), "{text}");
}
