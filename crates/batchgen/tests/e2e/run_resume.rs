//! Journal and resume end to end: `kill -9` then `--resume` finishes with no duplicate; Ctrl-C
//! exits 130 and prints the command that resumes; an existing journal needs `--resume`; a
//! journal from other inputs is refused; `batchgen status` reads it.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{
    Env, batchgen, expect_exit, journal_events, kill_once_submitted, manifest, submitted_count,
    wait_for,
};
use batchgen_sandbox::SandboxConfig;

fn slow_renders() -> SandboxConfig {
    SandboxConfig::default()
        .rate_limit(40)
        // Lookups of lost answers still expect renders in progress in the list (the
        // vendor lists exported projects only): until issue 10 item 4, a laxer list.
        .list_unexported(true)
        .render_time(Duration::from_millis(400)..Duration::from_millis(900))
        .seed(11)
}

#[test]
fn kill_9_mid_run_then_resume_finishes_with_no_duplicate() {
    let env = Env::start(slow_renders().lost_probability(0.05));
    let csv = env.csv(60);
    // SIGKILL once 20 rows are submitted: no cleanup at all.
    kill_once_submitted(
        &mut env.run_cmd(&csv, &["--rate", "40", "--max-in-flight", "60", "-q"]),
        &env.out(),
        20,
    );
    let before = env.stats().submissions;
    assert!(
        (20..60).contains(&before),
        "{before} submitted before the kill"
    );

    let out = env
        .run_cmd(&csv, &["--rate", "40", "--max-in-flight", "60", "--resume"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stats = env.stats();
    assert_eq!(stats.duplicate_names, 0, "{stats:?}");
    assert_eq!(stats.submissions, 60, "{stats:?}");
    let (_, rows) = manifest(&env.out());
    assert_eq!(rows.len(), 60);
    assert!(rows.iter().all(|r| r["status"] == "ready"), "{rows:?}");
    assert!(
        journal_events(&env.out())
            .iter()
            .any(|e| e["event"] == "resumed")
    );

    // Resuming a finished run sends nothing.
    let requests = env.stats().requests;
    let out = env.run_cmd(&csv, &["--resume"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(env.stats().requests, requests);
}

#[test]
fn ctrl_c_exits_130_prints_the_resume_command_and_the_journal_resumes() {
    let env = Env::start(slow_renders());
    let csv = env.csv(60);
    let child = env
        .run_cmd(&csv, &["--rate", "20", "--max-in-flight", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(20), || submitted_count(
        &env.out()
    ) >= 10));
    let rc = send_signal(child.id(), libc::SIGINT);
    assert_eq!(rc, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let hint = stderr
        .lines()
        .find(|l| l.starts_with("resume with: "))
        .unwrap_or_else(|| panic!("no resume command in {stderr}"));
    assert!(
        hint.ends_with("--resume") && hint.contains("--out"),
        "{hint}"
    );
    let events = journal_events(&env.out());
    assert_eq!(events.last().unwrap()["event"], "interrupted");
    // The manifest lists every row, finished or not.
    let (_, rows) = manifest(&env.out());
    assert_eq!(rows.len(), 60);
    assert!(rows.iter().any(|r| r["status"] == "pending"));

    // Run exactly the printed command (minus the program, which is the same binary).
    let words = shell_words(hint.trim_start_matches("resume with: "));
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", crate::support::KEY)
        .args(&words[1..])
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let stats = env.stats();
    assert_eq!(
        (stats.submissions, stats.duplicate_names),
        (60, 0),
        "{stats:?}"
    );
}

#[test]
fn a_second_ctrl_c_exits_at_once_and_the_journal_still_resumes() {
    // Slow answers, so the graceful stop after the first Ctrl-C is still waiting for requests
    // in flight when the second one comes.
    let env =
        Env::start(slow_renders().latency(Duration::from_millis(600)..Duration::from_millis(900)));
    let csv = env.csv(60);
    let child = env
        .run_cmd(&csv, &["--rate", "20", "--max-in-flight", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(20), || submitted_count(
        &env.out()
    ) >= 5));
    // The second Ctrl-C goes once the first has been handled (the binary says so), not
    // "100 ms later": the requests in flight (600-900 ms answers) hold the graceful stop open.
    let mut child = child;
    let lines = {
        use std::io::BufRead;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in stderr.lines().map_while(Result::ok) {
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        assert_eq!(send_signal(child.id(), libc::SIGINT), 0);
        let handled = std::iter::from_fn(|| rx.recv_timeout(crate::support::HANG_GUARD).ok())
            .any(|line| line.contains("interrupted: finishing the requests in flight"));
        assert!(handled, "the first Ctrl-C was never acknowledged");
        assert_eq!(send_signal(child.id(), libc::SIGINT), 0);
        reader
    };
    let out = child.wait_with_output().unwrap();
    let stderr = lines.join().unwrap();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("exiting at once") && stderr.contains("--resume"),
        "{stderr}"
    );

    // The journal reads back, and the run resumes to the end without a duplicate.
    let status = batchgen().arg("status").arg(env.out()).output().unwrap();
    expect_exit(&status, 0);
    let out = env
        .run_cmd(&csv, &["--rate", "40", "--resume"])
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let stats = env.stats();
    assert_eq!(
        (stats.submissions, stats.duplicate_names),
        (60, 0),
        "{stats:?}"
    );
}

#[test]
fn the_same_command_continues_and_another_api_is_refused() {
    let env = Env::start(
        SandboxConfig::default().render_time(Duration::from_millis(50)..Duration::from_millis(100)),
    );
    let csv = env.csv(4);
    let out = env.run_cmd(&csv, &["--rate", "50"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let requests = env.stats().requests;

    // The same command again: it continues the run, and nothing is left to do.
    let out = env.run_cmd(&csv, &["--rate", "50"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        env.stats().requests,
        requests,
        "an unchanged run sent requests"
    );

    // Another API: refused, with why and what to do.
    let cmd = env.run_cmd(&csv, &["--resume"]);
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let at = args.iter().position(|a| a == "--base-url").unwrap();
    let mut args = args;
    args[at + 1] = "http://127.0.0.1:9".into();
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", crate::support::KEY)
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another API (base_url changed)") && stderr.contains("new --out"),
        "{stderr}"
    );
    assert_eq!(
        env.stats().requests,
        requests,
        "a refused run sent requests"
    );
}

#[test]
fn status_reports_counts_and_failed_rows() {
    let env = Env::start(
        SandboxConfig::default().render_time(Duration::from_millis(50)..Duration::from_millis(100)),
    );
    let repo = crate::support::repo();
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", crate::support::KEY)
        .arg("run")
        .arg(repo.join("samples/promo-with-errors.csv"))
        .arg(repo.join("templates/two-scene-promo.json"))
        .args(["--key", "customer_id", "--out"])
        .arg(env.out())
        .args([
            "--base-url",
            &env.sandbox().base_url(),
            "--rate",
            "50",
            "--poll-interval",
            "100ms",
        ])
        .output()
        .unwrap();
    expect_exit(&out, 3);
    let (_, rows) = manifest(&env.out());
    let invalid = rows.iter().filter(|r| r["status"] == "invalid").count();
    let ready = rows.iter().filter(|r| r["status"] == "ready").count();
    assert!(invalid > 0 && ready > 0, "{rows:?}");

    let out = batchgen().arg("status").arg(env.out()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "rows failed or are invalid: {text}"
    );
    assert!(text.starts_with("run "), "{text}");
    assert!(text.contains(&format!("ready       {ready}")), "{text}");
    assert!(text.contains(&format!("invalid     {invalid}")), "{text}");
    assert!(text.contains("pending     0"), "{text}");
    assert!(
        text.contains("failed and invalid rows:") && text.contains("row 2 (C2) invalid"),
        "{text}"
    );

    let out = batchgen()
        .arg("status")
        .arg(env.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn send_signal(pid: u32, sig: i32) -> i32 {
    let out = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    if out.success() { 0 } else { 1 }
}

/// Splits a line the way a POSIX shell would for the quoting `batchgen` prints ('…' and '\'').
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ' ' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// The same `--sandbox` command run again continues its directory, as for a real account:
/// a finished run sends nothing and exits 0; one interrupted while its renders were in progress
/// (their emulator ended with that process) makes those rows again with the new emulator and
/// finishes. Nothing there is paid for, so nothing is looked up.
#[test]
fn the_same_sandbox_command_again_continues_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let command = |out: &std::path::Path, renders: &str| {
        let mut cmd = crate::support::batchgen();
        cmd.arg("run")
            .arg(crate::support::repo().join("samples/welcome.csv"))
            .arg(crate::support::repo().join("templates/welcome.json"))
            .arg("--out")
            .arg(out)
            .args([
                "--sandbox",
                "--sandbox-render-time",
                renders,
                "--poll-interval",
                "100ms",
            ])
            .env_remove("AISTUDIOS_API_KEY");
        cmd
    };
    let out = dir.path().join("demo");
    let run = |renders: &str| command(&out, renders);
    let first = run("50ms..100ms").output().unwrap();
    expect_exit(&first, 0);
    let again = run("50ms..100ms").output().unwrap();
    expect_exit(&again, 0);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("6 of 6 rows done"), "{stderr}");
    assert!(stderr.contains("; 0 requests"), "{stderr}");
    assert!(!stderr.contains("made again"), "{stderr}");

    // Interrupted with every render in progress: the next process's emulator never had them.
    let out = dir.path().join("interrupted");
    let run = |renders: &str| command(&out, renders);
    let child = run("60s..60s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(20), || submitted_count(&out) >= 6));
    assert_eq!(send_signal(child.id(), libc::SIGINT), 0);
    let stopped = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("resume with: "), "{stderr}");
    let before: Vec<String> = journal_events(&out)
        .iter()
        .filter(|e| e["event"] == "submitted")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(before.len(), 6, "{before:?}");

    let finished = run("50ms..100ms").output().unwrap();
    expect_exit(&finished, 0);
    let stderr = String::from_utf8_lossy(&finished.stderr);
    assert!(
        stderr.contains("rows it had in progress (or whose videos it held) are made again"),
        "{stderr}"
    );
    let (_, rows) = manifest(&out);
    assert_eq!(rows.len(), 6);
    for r in &rows {
        assert_eq!(r["status"], "ready", "{r:?}");
        assert!(!before.iter().any(|id| id == &r["project_id"]), "{r:?}");
    }
    let events = journal_events(&out);
    let submitted: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "submitted")
        .collect();
    assert_eq!(submitted.len(), 12, "{submitted:?}");
    assert!(submitted.iter().all(|e| e.get("recovered").is_none()));
}

/// A `--sandbox` run into a directory that holds a run against another API is refused (exit
/// 2) and says what to do: its rows' projects are not in any sandbox.
#[test]
fn a_sandbox_run_does_not_continue_a_run_against_another_api() {
    let env = Env::start(
        SandboxConfig::default().render_time(Duration::from_millis(50)..Duration::from_millis(100)),
    );
    let csv = env.csv(3);
    expect_exit(&env.run_cmd(&csv, &["-q"]).output().unwrap(), 0);
    let out = batchgen()
        .arg("run")
        .arg(&csv)
        .arg(crate::support::repo().join("templates/welcome.json"))
        .args(["--key", "email", "--sandbox", "--out"])
        .arg(env.out())
        .env_remove("AISTUDIOS_API_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("a --sandbox run continues only the directory of a --sandbox run")
            && stderr.contains("choose another --out"),
        "{stderr}"
    );
}
