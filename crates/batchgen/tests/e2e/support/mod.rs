//! Shared by the end-to-end tests: a sandbox started in the test process (the real server, on
//! loopback), generated inputs, and the real binary; [`export`] adds what the export tests need.

pub mod export;
pub mod redis;
pub mod store;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use batchgen_sandbox::{Sandbox, SandboxConfig, Stats};

/// A sandbox and the runtime that serves it.
pub struct Env {
    pub sandbox: Option<Sandbox>,
    rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
}

/// The key the test sandboxes accept. Long and distinctive so a leak is easy to find.
pub const KEY: &str = "test-key-7f3a9c1e5b2d4f60a8e1c3b5d7f9a2c4";

impl Env {
    /// Starts `config` (with [`KEY`]) on 127.0.0.1:0.
    pub fn start(config: SandboxConfig) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = rt
            .block_on(config.api_key(KEY).start("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        Env {
            sandbox: Some(sandbox),
            rt,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().unwrap()
    }

    pub fn stats(&self) -> Stats {
        self.sandbox().stats()
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Writes a CSV of `n` rows for `templates/welcome.json`, keyed by `email`.
    pub fn csv(&self, n: usize) -> PathBuf {
        let path = self.dir.path().join("people.csv");
        let mut text = String::from("email,first_name,company,manager\n");
        for i in 0..n {
            text.push_str(&format!("p{i}@example.com,Person {i},Co {},Alex\n", i % 7));
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `batchgen run CSV templates/welcome.json --key email --out OUT --base-url … ` plus `extra`,
    /// with the key in the environment.
    pub fn run_cmd(&self, csv: &Path, extra: &[&str]) -> Command {
        let mut cmd = batchgen();
        cmd.env("AISTUDIOS_API_KEY", KEY)
            .arg("run")
            .arg(csv)
            .arg(repo().join("templates/welcome.json"))
            .args(["--key", "email", "--out"])
            .arg(self.out())
            .args(["--base-url", &self.sandbox().base_url()])
            .args(["--poll-interval", "150ms", "--poll-cap", "1s"])
            .args(extra);
        cmd
    }

    /// Every file under the output directory, read as text where it is text.
    pub fn output_texts(&self) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        let mut stack = vec![self.out()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let bytes = std::fs::read(&p).unwrap();
                    out.push((p, String::from_utf8_lossy(&bytes).into_owned()));
                }
            }
        }
        out
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(sb) = self.sandbox.take() {
            self.rt.block_on(sb.shutdown());
        }
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The real binary, with a clean environment for credentials.
pub fn batchgen() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_batchgen"));
    cmd.env_remove("AISTUDIOS_API_KEY")
        .env_remove("AISTUDIOS_APP_ID")
        .env_remove("AISTUDIOS_USER_KEY")
        .env_remove("BATCHGEN_LOG")
        .env("BATCHGEN_PROGRESS_EVERY", "500ms");
    cmd
}

/// The manifest (`out/manifest.csv`) as (header, rows); each row's cells are read by column
/// name (`r["status"]`), never by position, so a reorder of the columns breaks no test
/// silently: a name the header lacks panics, naming it.
pub fn manifest(out: &Path) -> (Vec<String>, Vec<ManifestRow>) {
    let mut r = csv::Reader::from_path(out.join("manifest.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let shared: std::sync::Arc<[String]> = header.clone().into();
    let rows = r
        .records()
        .map(|rec| ManifestRow {
            header: shared.clone(),
            cells: rec.unwrap().iter().map(String::from).collect(),
        })
        .collect();
    (header, rows)
}

/// One column of `rows`, by name, top to bottom.
#[track_caller]
pub fn column<'a>(rows: &'a [ManifestRow], name: &str) -> Vec<&'a str> {
    rows.iter().map(|r| r[name].as_str()).collect()
}

/// One row of a manifest, its cells indexed by column name: `r["error"]` is the first column
/// of that name (a fixed column where the input repeats its name); [`ManifestRow::last`]
/// reads the input's own.
#[derive(Clone, PartialEq, Eq)]
pub struct ManifestRow {
    header: std::sync::Arc<[String]>,
    cells: Vec<String>,
}

impl ManifestRow {
    #[track_caller]
    fn at(&self, i: Option<usize>, name: &str) -> &String {
        let Some(i) = i else {
            panic!(
                "the manifest has no column {name:?}; its header: {:?}",
                self.header
            )
        };
        &self.cells[i]
    }

    /// The cell of the last column named `name`: the input's own column where the input has
    /// one of the manifest's names (`project_id` in an export's input).
    #[track_caller]
    pub fn last(&self, name: &str) -> &String {
        self.at(self.header.iter().rposition(|h| h == name), name)
    }
}

impl std::ops::Index<&str> for ManifestRow {
    type Output = String;

    #[track_caller]
    fn index(&self, name: &str) -> &String {
        self.at(self.header.iter().position(|h| h == name), name)
    }
}

impl std::fmt::Debug for ManifestRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.header.iter().zip(&self.cells))
            .finish()
    }
}

/// The journal's events (header excluded) as JSON values.
pub fn journal_events(out: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("journal.jsonl")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until `f` holds, up to `limit`.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// How long an end-to-end test lets the binary run before calling it a hang: far beyond what
/// any run here takes (seconds), so only a hang trips it. A guard, not a margin.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// Runs `cmd` to the end like [`Command::output`], under [`HANG_GUARD`]: a binary still
/// running then is killed, and the test fails saying it hung, with what it had printed.
#[track_caller]
pub fn output_unless_hung(cmd: &mut Command) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained as it runs, so a full pipe never blocks the child.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t0.elapsed() > HANG_GUARD {
            child.kill().unwrap();
            child.wait().unwrap();
            let stderr = err.join().unwrap();
            panic!(
                "batchgen hung: still running after {HANG_GUARD:?}, killed; its stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// How many `submitted` events the journal holds.
pub fn submitted_count(out: &Path) -> usize {
    std::fs::read_to_string(out.join("journal.jsonl"))
        .map(|t| t.matches("\"event\":\"submitted\"").count())
        .unwrap_or(0)
}

/// Asserts that `out` exited with `code`, showing its stderr if not; returns the stderr.
#[track_caller]
pub fn expect_exit(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    stderr
}

/// Starts `cmd` with its output dropped, waits (up to 20 s) until the journal in `out` holds
/// `n` submissions, then kills it with SIGKILL: a crash mid-run, with no cleanup at all.
#[track_caller]
pub fn kill_once_submitted(cmd: &mut Command, out: &Path, n: usize) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = wait_for(Duration::from_secs(20), || submitted_count(out) >= n);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        started,
        "the command did not get going: fewer than {n} submitted in 20 s"
    );
}
