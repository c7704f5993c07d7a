//! `--store postgres://…` end to end: two `batchgen run` processes on one store and one
//! sandbox (faults on) take every row exactly once; a worker killed with `kill -9` leaves its
//! rows to the other, which looks up the ones it left in `submitting`; the same command again
//! sends nothing; `batchgen status --store` agrees with the manifest; the store's password is
//! never shown or stored.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::store::TestDb;
use crate::support::{Env, KEY, batchgen, manifest, repo, wait_for};
use batchgen_sandbox::SandboxConfig;

fn faulty() -> SandboxConfig {
    SandboxConfig::default()
        .rate_limit(40)
        // Lookups of lost answers find renders in progress (as in the resume tests).
        .list_unexported(true)
        .render_time(Duration::from_millis(400)..Duration::from_millis(900))
        .lost_probability(0.05)
        .fail_probability(0.05)
        .seed(13)
}

/// `batchgen run` as worker `name` (its own --out) of run `people` in `db`.
fn worker(env: &Env, db: &TestDb, csv: &Path, name: &str, extra: &[&str]) -> Command {
    let mut cmd = batchgen();
    cmd.env("AISTUDIOS_API_KEY", KEY)
        .env("BATCHGEN_STORE", &db.url)
        .arg("run")
        .arg(csv)
        .arg(repo().join("templates/welcome.json"))
        .args(["--key", "email", "--out"])
        .arg(out(env, name))
        .args(["--run", "people", "--lease", "2s"])
        .args(["--base-url", &env.sandbox().base_url()])
        .args(["--poll-interval", "150ms", "--poll-cap", "1s"])
        .args(["--rate", "40", "--max-in-flight", "8"])
        .args(extra);
    cmd
}

fn out(env: &Env, name: &str) -> PathBuf {
    env.dir.path().join(name)
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `batchgen status --store … --run people --json`.
fn status(db: &TestDb) -> (Option<i32>, serde_json::Value, String) {
    let o = batchgen()
        .env("BATCHGEN_STORE", &db.url)
        .args(["status", "--run", "people", "--json"])
        .output()
        .unwrap();
    let json = serde_json::from_slice(&o.stdout).unwrap_or_default();
    (o.status.code(), json, text(&o))
}

fn all_ready(out: &Path, n: usize) {
    let (_, rows) = manifest(out);
    assert_eq!(rows.len(), n, "{}: {rows:?}", out.display());
    assert!(
        rows.iter().all(|r| r["status"] == "ready"),
        "{}: {rows:?}",
        out.display()
    );
}

#[test]
fn two_workers_share_one_run_and_take_every_row_once() {
    let Some(db) = TestDb::create() else { return };
    let env = Env::start(faulty());
    let csv = env.csv(60);
    let summary = env.dir.path().join("summary.json");
    let a = spawn(worker(&env, &db, &csv, "w1", &["--summary-json"]).arg(&summary));
    let b = spawn(&mut worker(&env, &db, &csv, "w2", &[]));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (ta, tb) = (text(&a), text(&b));
    assert_eq!(a.status.code(), Some(0), "{ta}");
    assert_eq!(b.status.code(), Some(0), "{tb}");
    let stats = env.stats();
    assert_eq!(stats.duplicate_names, 0, "{stats:?}");
    assert_eq!(
        stats.submissions, 60,
        "every row created exactly once: {stats:?}"
    );
    assert_eq!(db.workers(), 2, "both workers sent creates");
    // Each worker's manifest covers every row of the run.
    all_ready(&out(&env, "w1"), 60);
    all_ready(&out(&env, "w2"), 60);
    assert!(
        !out(&env, "w1").join("journal.jsonl").exists(),
        "the state is in the store"
    );

    let (code, json, st) = status(&db);
    assert_eq!(code, Some(0), "{st}");
    assert_eq!(
        (json["rows"].as_u64(), json["ready"].as_u64()),
        (Some(60), Some(60)),
        "{json}"
    );

    // The directory says where its run is; with the store, DIR names the run (its store.json).
    let o = batchgen()
        .arg("status")
        .arg(out(&env, "w2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("as run \"people\"") && text(&o).contains(":***@"),
        "{}",
        text(&o)
    );
    let o = batchgen()
        .env("BATCHGEN_STORE", &db.url)
        .arg("status")
        .arg(out(&env, "w2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("ready       60"), "{}", text(&o));

    // The same command again sends no create.
    let again = worker(&env, &db, &csv, "w1", &[]).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(env.stats().submissions, 60);
    all_ready(&out(&env, "w1"), 60);

    // The password is nowhere: output, files, summary, the store itself.
    let summary_text = std::fs::read_to_string(&summary).unwrap();
    assert!(summary_text.contains(":***@"), "{summary_text}");
    let mut texts = vec![ta, tb, text(&again), st, summary_text, db.dump()];
    texts.extend(env.output_texts().into_iter().map(|(_, t)| t));
    for t in texts {
        assert!(
            !t.contains(&db.password),
            "the store's password leaked: {t}"
        );
    }
}

#[test]
fn a_worker_killed_with_kill_9_leaves_its_rows_to_the_other() {
    let Some(db) = TestDb::create() else { return };
    let env = Env::start(faulty().seed(17));
    let csv = env.csv(60);
    let mut a = spawn(&mut worker(&env, &db, &csv, "w1", &[]));
    assert!(
        wait_for(Duration::from_secs(30), || env.stats().submissions >= 8),
        "the first worker did not get going"
    );
    let b = spawn(&mut worker(&env, &db, &csv, "w2", &[]));
    assert!(
        wait_for(Duration::from_secs(30), || env.stats().submissions >= 25),
        "the run did not get going"
    );
    a.kill().unwrap(); // SIGKILL: no cleanup, its leases simply stop being renewed
    a.wait().unwrap();
    let b = b.wait_with_output().unwrap();
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    let stats = env.stats();
    assert_eq!(stats.duplicate_names, 0, "{stats:?}");
    assert_eq!(stats.submissions, 60, "{stats:?}");
    all_ready(&out(&env, "w2"), 60);
    let (code, json, st) = status(&db);
    assert_eq!(code, Some(0), "{st}");
    assert_eq!(json["ready"].as_u64(), Some(60), "{json}");

    // The killed worker's command again: nothing left to send.
    let again = worker(&env, &db, &csv, "w1", &[]).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(env.stats().submissions, 60);
    all_ready(&out(&env, "w1"), 60);
}

#[test]
fn a_wrong_password_or_store_is_refused_without_showing_it() {
    let Some(db) = TestDb::create() else { return };
    let env = Env::start(SandboxConfig::default());
    let csv = env.csv(3);
    let wrong = db.url.replace(&db.password, "Wr0ngPassw0rdXyz");
    let o = batchgen()
        .env("AISTUDIOS_API_KEY", KEY)
        .env("BATCHGEN_STORE", &wrong)
        .arg("run")
        .arg(&csv)
        .arg(repo().join("templates/welcome.json"))
        .args(["--key", "email", "--out"])
        .arg(out(&env, "w1"))
        .args(["--base-url", &env.sandbox().base_url()])
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains(":***@") && !t.contains("Wr0ngPassw0rdXyz"),
        "{t}"
    );
    assert_eq!(env.stats().submissions, 0);
    // On the command line too, and a status of a run the store does not have.
    let o = batchgen()
        .args(["status", "--run", "nope", "--store", &db.url])
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("no run of that name") && !t.contains(&db.password),
        "{t}"
    );
    let o = batchgen()
        .args(["status", "--run", "x", "--store", "mysql://u:Secr3tPw@h/db"])
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(!t.contains("Secr3tPw"), "{t}");
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
fn the_same_command_continues_a_stored_run_after_the_csv_changes() {
    let Some(db) = TestDb::create() else { return };
    let env = Env::start(
        SandboxConfig::default().render_time(Duration::from_millis(50)..Duration::from_millis(150)),
    );
    let write = |rows: &[(String, String)]| {
        let path = env.dir.path().join("people.csv");
        let mut text = String::from("email,first_name,company,manager\n");
        for (email, first) in rows {
            text.push_str(&format!("{email},{first},Co,Alex\n"));
        }
        std::fs::write(&path, text).unwrap();
        path
    };
    let mut rows: Vec<(String, String)> = (0..20)
        .map(|i| (format!("p{i}@example.com"), format!("Person {i}")))
        .collect();
    let csv = write(&rows);
    let o = worker(&env, &db, &csv, "w1", &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(env.stats().submissions, 20);

    // Edit one ready row, append 5, remove 1; two workers continue the run.
    rows[4].1 = "Edited Four".into();
    for i in 20..25 {
        rows.push((format!("p{i}@example.com"), format!("Person {i}")));
    }
    let removed = rows.remove(9).0;
    let csv = write(&rows);
    let a = spawn(&mut worker(&env, &db, &csv, "w1", &[]));
    let b = spawn(&mut worker(&env, &db, &csv, "w2", &[]));
    for o in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    assert_eq!(
        env.stats().submissions,
        25,
        "only the 5 appended rows were sent"
    );
    assert_eq!(env.stats().duplicate_names, 0);
    for w in ["w1", "w2"] {
        let m = by_key(&out(&env, w));
        assert_eq!(m.len(), 25, "{w}: 24 rows and the removed one");
        assert_eq!(m[&removed].0, "removed", "{w}");
        assert_eq!(m["p4@example.com"], ("ready".into(), "yes".into()), "{w}");
        assert_eq!(m.values().filter(|(s, _)| s == "ready").count(), 24, "{w}");
    }
}
