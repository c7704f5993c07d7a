//! What a run writes for a person and for a log collector (issue 9, items 4 and 5):
//! `--log-format json`, colours (`--color`, `NO_COLOR`), the progress lines with videos per
//! minute, and a continued run that says first what is done and what remains, and counts the
//! whole run in its summary.

use std::time::Duration;

use batchgen_sandbox::{SandboxConfig, VendorRule};
use serde_json::Value;

use crate::support::{Env, KEY};

fn quick() -> SandboxConfig {
    SandboxConfig::default().render_time(Duration::from_millis(600)..Duration::from_millis(900))
}

/// Writes `people.csv` for `templates/welcome.json`: `n` rows, row 2's first name empty
/// (invalid with --require-cells), row 3's name long (refused by the sandbox's vendor rule).
fn csv(env: &Env, n: usize) -> std::path::PathBuf {
    let path = env.dir.path().join("people.csv");
    let mut text = String::from("email,first_name,company,manager\n");
    for i in 1..=n {
        let name = match i {
            2 => String::new(),
            3 => "X".repeat(300),
            _ => format!("Person {i}"),
        };
        text.push_str(&format!("p{i}@example.com,{name},Co,Alex\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn has_ansi(text: &str) -> bool {
    text.contains("\u{1b}[")
}

#[test]
fn json_logs_are_one_object_a_line_and_every_row_line_names_row_and_key() {
    let env = Env::start(quick().refuse(VendorRule::TextLongerThan(200)));
    let data = csv(&env, 6);
    let out = env
        .run_cmd(
            &data,
            &[
                "--require-cells",
                "--log-format",
                "json",
                "-v",
                "--color",
                "always",
            ],
        )
        .env("BATCHGEN_PROGRESS_EVERY", "200ms")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty(), "stdout carries data only");
    assert!(!has_ansi(&stderr), "JSON is never coloured");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for l in &lines {
        assert!(l["timestamp"].is_string() && l["level"].is_string(), "{l}");
        assert!(l["message"].is_string(), "{l}");
        if l.get("row").is_some() && l.get("kind").and_then(Value::as_str) != Some("continuing") {
            assert!(l["key"].is_string(), "a row line without its key: {l}");
        }
    }
    let of_kind = |k: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["kind"].as_str() == Some(k))
            .collect()
    };
    // The API client's own lines, inside a row, carry the row and its key.
    let client: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"].as_str() == Some("batchgen_aistudios::client"))
        .filter(|l| l["path"].as_str().is_some_and(|p| p.contains("/project")))
        .collect();
    assert!(!client.is_empty(), "{stderr}");
    assert!(
        client
            .iter()
            .filter(|l| l.get("row").is_some())
            .all(|l| l["key"].as_str().unwrap().starts_with('p')),
        "{stderr}"
    );
    assert!(
        client
            .iter()
            .any(|l| l["row"] == 4 && l["key"] == "p4@example.com"),
        "{stderr}"
    );
    // The refused row: the engine's line, and the summary's list.
    assert!(
        lines.iter().any(|l| l["message"] == "row failed"
            && l["row"] == 3
            && l["key"] == "p3@example.com"
            && l["level"] == "warn"),
        "{stderr}"
    );
    let rows = of_kind("row");
    assert!(
        rows.iter()
            .any(|l| l["status"] == "failed" && l["row"] == 3),
        "{stderr}"
    );
    assert!(
        rows.iter()
            .any(|l| l["status"] == "invalid" && l["row"] == 2 && l["key"] == "p2@example.com"),
        "{stderr}"
    );
    // Progress lines and one summary, both with their counts as fields.
    let progress = of_kind("progress");
    assert!(!progress.is_empty(), "{stderr}");
    assert!(
        progress
            .iter()
            .all(|p| p["total"] == 6 && p["videos_per_minute"].is_number())
    );
    let summary = of_kind("summary");
    assert_eq!(summary.len(), 1, "{stderr}");
    assert_eq!(summary[0]["statuses"]["ready"], 4);
    assert_eq!(summary[0]["statuses"]["failed"], 1);
    assert_eq!(summary[0]["exit_code"], 3);
    assert!(!stderr.contains(KEY));
}

#[test]
fn plain_output_has_no_colour_unless_asked_and_shows_videos_per_minute() {
    let env = Env::start(quick());
    let data = env.csv(4);
    let out = env
        .run_cmd(&data, &[])
        .env("BATCHGEN_PROGRESS_EVERY", "200ms")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!has_ansi(&stderr), "{stderr}");
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(!progress.is_empty(), "{stderr}");
    assert!(
        progress.iter().all(|l| l.contains(" videos/min · ")),
        "{stderr}"
    );
    assert!(stderr.contains(": 4 ready, 0 failed"), "{stderr}");

    // --color always colours the counts even into a pipe; NO_COLOR does not override it.
    std::fs::remove_dir_all(env.out()).unwrap();
    let out = env
        .run_cmd(&data, &["--color", "always"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(has_ansi(&stderr), "{stderr}");
    assert!(stderr.contains("\u{1b}[32m4\u{1b}[0m ready"), "{stderr}");

    // NO_COLOR with --color auto: none (here stderr is no terminal either way).
    let out = env
        .run_cmd(&data, &["--color", "auto"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!has_ansi(&String::from_utf8_lossy(&out.stderr)));
}

#[test]
fn a_continued_run_says_first_what_is_done_and_counts_the_whole_run() {
    let env = Env::start(quick().refuse(VendorRule::TextLongerThan(200)));
    let data = csv(&env, 5);
    let out = env.run_cmd(&data, &["--require-cells"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));

    // Two rows appended: 3 ready, 1 failed for good, 1 invalid; 2 to send.
    let mut text = std::fs::read_to_string(&data).unwrap();
    text.push_str("p6@example.com,Six,Co,Alex\np7@example.com,Seven,Co,Alex\n");
    std::fs::write(&data, text).unwrap();
    let out = env
        .run_cmd(&data, &["--require-cells"])
        .env("BATCHGEN_PROGRESS_EVERY", "200ms")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let first = stderr
        .lines()
        .position(|l| l.starts_with("continuing the run in "))
        .unwrap_or_else(|| panic!("{stderr}"));
    let line = stderr.lines().nth(first).unwrap();
    assert!(
        line.contains(
            ": 4 of 7 rows done (3 ready, 1 failed for good), 2 to send or follow, 1 invalid"
        ),
        "{line}"
    );
    let progress = stderr.lines().position(|l| l.starts_with("progress: "));
    assert!(progress.is_none_or(|p| p > first), "{stderr}");
    // The summary counts the whole run, and says what this process made.
    assert!(
        stderr.contains(": 5 ready (2 made now, 3 from earlier runs), 1 failed, 1 invalid"),
        "{stderr}"
    );
}
