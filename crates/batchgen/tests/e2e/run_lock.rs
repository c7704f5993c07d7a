//! One run per directory (issue 9, item 2): two runs started together on one directory — one
//! works, the other exits 2 at once naming the holder and sends nothing; the journal reads.

use std::process::Stdio;
use std::time::Duration;

use batchgen_sandbox::SandboxConfig;

use crate::support::{Env, batchgen, expect_exit, manifest};

#[test]
fn two_runs_started_together_one_works_the_other_exits_2_and_sends_nothing() {
    let env = Env::start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(300)..Duration::from_millis(600)),
    );
    let csv = env.csv(40);
    let args = ["--rate", "50", "--max-in-flight", "40", "--resume"];
    let spawn = || {
        env.run_cmd(&csv, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(2)],
        "{}\n---\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let refused = if a.status.code() == Some(2) { &a } else { &b };
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("is in use by another batchgen (pid ") && stderr.contains("batchgen"),
        "{stderr}"
    );
    // Exactly one create per row: the refused run sent nothing.
    let stats = env.stats();
    assert_eq!(stats.submissions, 40, "{stats:?}");
    assert_eq!(stats.duplicate_names, 0, "{stats:?}");
    let (_, rows) = manifest(&env.out());
    assert!(rows.iter().all(|r| r["status"] == "ready"), "{rows:?}");
    // The journal reads.
    let status = batchgen().arg("status").arg(env.out()).output().unwrap();
    expect_exit(&status, 0);
}

#[test]
fn status_reads_a_journal_that_a_run_is_writing() {
    let env = Env::start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(500)..Duration::from_millis(900)),
    );
    let csv = env.csv(30);
    let mut child = env
        .run_cmd(&csv, &["--rate", "50", "--max-in-flight", "30", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reads = 0;
    while child.try_wait().unwrap().is_none() {
        if env.out().join("journal.jsonl").exists() {
            let out = batchgen().arg("status").arg(env.out()).output().unwrap();
            expect_exit(&out, 0);
            reads += 1;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(child.wait().unwrap().success());
    assert!(reads > 0, "status never ran while the run was writing");
}
