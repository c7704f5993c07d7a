//! `--shard K/N` and `batchgen manifest merge` end to end: three shard processes over one CSV
//! against one sandbox take every row exactly once; the merge lists all of them in row order and
//! refuses a missing shard (naming its rows) and a shard given twice; appending rows keeps every
//! earlier row in its shard; a shard's directory refuses another K/N.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::{Env, KEY, batchgen, expect_exit, manifest, repo};
use batchgen_sandbox::SandboxConfig;

fn fast() -> Env {
    Env::start(fast_config())
}

fn fast_config() -> SandboxConfig {
    SandboxConfig::default()
        .rate_limit(100)
        .render_time(Duration::from_millis(20)..Duration::from_millis(120))
        .seed(13)
}

/// `batchgen run CSV welcome.json --key email --out DIR` against the test's sandbox.
fn shard_cmd(env: &Env, csv: &Path, out: &Path, shard: &[&str]) -> Command {
    let mut cmd = batchgen();
    cmd.env("AISTUDIOS_API_KEY", KEY)
        .arg("run")
        .arg(csv)
        .arg(repo().join("templates/welcome.json"))
        .args(["--key", "email", "--out"])
        .arg(out)
        .args(["--base-url", &env.sandbox().base_url()])
        .args(["--rate", "90", "--max-in-flight", "40"])
        .args(["--poll-interval", "100ms", "--poll-cap", "500ms"])
        .args(shard);
    cmd
}

/// Runs shards 1/3, 2/3, 3/3 at once (three processes), into `DIR/<prefix>K`; every one exits 0.
fn run_three(env: &Env, csv: &Path, prefix: &str) -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = (1..=3)
        .map(|k| env.dir.path().join(format!("{prefix}{k}")))
        .collect();
    let children: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let child = shard_cmd(env, csv, d, &["--shard", &format!("{}/3", i + 1)])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (i, child)
        })
        .collect();
    for (i, child) in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "shard {}/3: {stderr}", i + 1);
        assert!(
            stderr.contains(&format!("shard {}/3: ", i + 1)) && stderr.contains("of the input's"),
            "{stderr}"
        );
    }
    dirs
}

/// key → (row, shard 1-based) over the shards' manifests; panics on a row listed twice.
fn shard_of_keys(dirs: &[PathBuf]) -> BTreeMap<String, (u64, usize)> {
    let mut keys = BTreeMap::new();
    for (i, d) in dirs.iter().enumerate() {
        let (_, rows) = manifest(d);
        for r in rows {
            assert_eq!(r["status"], "ready", "{r:?}");
            let row: u64 = r["row"].parse().unwrap();
            assert!(
                keys.insert(r["key"].clone(), (row, i + 1)).is_none(),
                "{} is in two shards",
                r["key"]
            );
        }
    }
    keys
}

fn merge(dirs: &[&Path], out: Option<&Path>) -> Output {
    let mut cmd = batchgen();
    cmd.args(["manifest", "merge"]).args(dirs);
    if let Some(o) = out {
        cmd.arg("--out").arg(o);
    }
    cmd.output().unwrap()
}

#[test]
fn three_shards_take_every_row_once_and_merge_in_row_order() {
    let env = fast();
    let csv = env.csv(30);
    let dirs = run_three(&env, &csv, "s");
    let keys = shard_of_keys(&dirs);
    assert_eq!(keys.len(), 30, "{keys:?}");
    let stats = env.stats();
    assert_eq!(stats.submissions, 30, "{stats:?}");
    assert_eq!(stats.duplicate_names, 0, "{stats:?}");
    // Each shard took some rows (30 keys over 3 shards by a hash), and says how many.
    for (i, d) in dirs.iter().enumerate() {
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("shard.json")).unwrap()).unwrap();
        let mine = keys.values().filter(|(_, s)| *s == i + 1).count() as u64;
        assert!(mine > 0, "shard {} took nothing", i + 1);
        assert_eq!(record["rows"], mine);
        assert_eq!(record["input_rows"], 30);
        assert_eq!(record["shard"], format!("{}/3", i + 1));
    }
    // The journal records the shard too.
    let header = std::fs::read_to_string(dirs[1].join("journal.jsonl")).unwrap();
    assert!(header.lines().next().unwrap().contains("\"shard\":\"2/3\""));

    // The merge: 30 rows, in row order, in both files.
    let merged = env.dir.path().join("merged");
    let d: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let out = merge(&[d[2], d[0], d[1]], Some(&merged));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("30 rows (30 ready)"), "{stderr}");
    let (header, rows) = manifest(&merged);
    assert_eq!(header, manifest(&dirs[0]).0);
    let numbers: Vec<String> = rows.iter().map(|r| r["row"].clone()).collect();
    let expected: Vec<String> = (1..=30).map(|n| n.to_string()).collect();
    assert_eq!(numbers, expected);
    for r in &rows {
        assert_eq!(keys[&r["key"]].0.to_string(), r["row"], "{r:?}");
    }
    let jsonl = std::fs::read_to_string(merged.join("manifest.jsonl")).unwrap();
    let json_rows: Vec<u64> = jsonl
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["row"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(json_rows, (1..=30).collect::<Vec<u64>>());
    // Without --out: the JSONL on stdout.
    let out = merge(&d, None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), jsonl);

    // A missing shard: exit 2, naming its rows and the shard.
    let out = merge(&[d[0], d[2]], Some(&env.dir.path().join("partial")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let missing: BTreeSet<u64> = keys
        .values()
        .filter(|(_, s)| *s == 2)
        .map(|(r, _)| *r)
        .collect();
    assert!(
        stderr.contains(&format!(
            "{} of the input's 30 rows are in no manifest",
            missing.len()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("shard 2/3"), "{stderr}");
    let first = missing.iter().next().unwrap();
    assert!(
        stderr.contains(&format!("rows {first}")) || stderr.contains(&format!("row {first}")),
        "{stderr}"
    );
    assert!(!env.dir.path().join("partial/manifest.csv").exists());

    // A shard's directory given twice, or copied: exit 2, naming both.
    let copy = env.dir.path().join("s2-copy");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["shard.json", "manifest.csv", "manifest.jsonl"] {
        std::fs::copy(dirs[1].join(f), copy.join(f)).unwrap();
    }
    let out = merge(&[d[0], d[1], d[2], &copy], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("shard 2/3 is in both")
            && stderr.contains(&dirs[1].display().to_string())
            && stderr.contains(&copy.display().to_string()),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let out = merge(&[d[0], d[1], d[2], d[1]], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is given twice"), "{stderr}");

    // A shard's directory refuses another K/N, and an unsharded continuation.
    let requests = env.stats().requests;
    for flags in [&["--shard", "1/3", "--resume"][..], &["--resume"][..]] {
        let out = shard_cmd(&env, &csv, &dirs[1], flags).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("it holds shard 2/3"), "{stderr}");
        assert!(stderr.contains("--shard 2/3"), "{stderr}");
    }
    assert_eq!(
        env.stats().requests,
        requests,
        "a refused run sent something"
    );
}

#[test]
fn appending_rows_keeps_every_earlier_row_in_its_shard() {
    let env = fast();
    let csv = env.csv(30);
    let thirty = env.dir.path().join("people-30.csv");
    std::fs::copy(&csv, &thirty).unwrap();
    let dirs = run_three(&env, &csv, "a");
    let before = shard_of_keys(&dirs);
    assert_eq!(env.stats().submissions, 30);
    // The same 30 rows and 5 more; each shard runs again in its own directory (the same
    // command continues), this time its index from JOB_COMPLETION_INDEX.
    let csv = env.csv(35);
    for (i, d) in dirs.iter().enumerate() {
        let out = shard_cmd(
            &env,
            &csv,
            d,
            &[
                "--shard-index-env",
                "JOB_COMPLETION_INDEX",
                "--shard-count",
                "3",
            ],
        )
        .env("JOB_COMPLETION_INDEX", i.to_string())
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains(&format!("shard {}/3: ", i + 1)), "{stderr}");
        assert!(stderr.contains("of the input's 35 rows"), "{stderr}");
    }
    let after = shard_of_keys(&dirs);
    assert_eq!(after.len(), 35);
    for (key, was) in &before {
        assert_eq!(after[key], *was, "{key} moved");
    }
    // Only the 5 new rows were sent.
    let stats = env.stats();
    assert_eq!(stats.submissions, 35, "{stats:?}");
    assert_eq!(stats.duplicate_names, 0, "{stats:?}");
    let d: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let merged = env.dir.path().join("all.csv");
    let out = merge(&d, Some(&merged));
    expect_exit(&out, 0);
    let rows = csv::Reader::from_path(&merged).unwrap().records().count();
    assert_eq!(rows, 35);
    // A shard of the 30-row input and shards of the 35-row one are not one run.
    let old = env.dir.path().join("old1");
    let out = shard_cmd(&env, &thirty, &old, &["--shard", "1/3"])
        .output()
        .unwrap();
    expect_exit(&out, 0);
    let out = merge(&[&old, d[1], d[2]], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("are not shards of one run"), "{stderr}");
}

#[test]
fn export_shards_split_the_exports_and_merge() {
    let env = Env::start(fast_config().seed_projects(12));
    let csv = crate::support::export::seeded_csv(&env);
    let total = env.sandbox().seeded_projects().len();
    assert!(total >= 2, "{total} seeded projects");
    let dirs: Vec<PathBuf> = (1..=2)
        .map(|k| env.dir.path().join(format!("x{k}")))
        .collect();
    for (i, d) in dirs.iter().enumerate() {
        let out = batchgen()
            .env("AISTUDIOS_API_KEY", KEY)
            .args(["export", "--api", "v2"])
            .arg(&csv)
            .args(["--key", "key", "--out"])
            .arg(d)
            .args(["--base-url", &env.sandbox().base_url()])
            .args([
                "--rate",
                "90",
                "--poll-interval",
                "100ms",
                "--poll-cap",
                "500ms",
            ])
            .args(["--shard", &format!("{}/2", i + 1)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains(&format!("shard {}/2: ", i + 1)), "{stderr}");
    }
    let keys = shard_of_keys(&dirs);
    assert_eq!(keys.len(), total);
    let merged = env.dir.path().join("exports-merged");
    let d: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let out = merge(&d, Some(&merged));
    expect_exit(&out, 0);
    let (header, rows) = manifest(&merged);
    assert!(header.iter().any(|h| h == "export_id"), "{header:?}");
    assert_eq!(rows.len(), total);
}

#[test]
fn shards_without_out_each_get_a_directory_of_their_own() {
    let env = fast();
    let csv = env.csv(8);
    for k in ["1/2", "2/2"] {
        let out = batchgen()
            .current_dir(env.dir.path())
            .env("AISTUDIOS_API_KEY", KEY)
            .arg("run")
            .arg(&csv)
            .arg(repo().join("templates/welcome.json"))
            .args(["--key", "email", "--shard", k])
            .args(["--base-url", &env.sandbox().base_url()])
            .args(["--poll-interval", "100ms"])
            .output()
            .unwrap();
        expect_exit(&out, 0);
    }
    let total: usize = ["people-shard-1-of-2", "people-shard-2-of-2"]
        .iter()
        .map(|d| manifest(&env.dir.path().join("out").join(d)).1.len())
        .sum();
    assert_eq!(total, 8, "each shard in out/<csv stem>-shard-K-of-N/");
}
