//! Spreadsheets as they come (issue 11): the real binary on CSVs made byte for byte as Excel and
//! Google Sheets save them (`tests/fixtures/spreadsheets/`, written by its `make.py`), against
//! the real sandbox over loopback.

use std::path::{Path, PathBuf};

use crate::support::{Env, KEY, batchgen, repo};
use batchgen_sandbox::SandboxConfig;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/spreadsheets")
        .join(name)
}

fn welcome() -> PathBuf {
    repo().join("templates/welcome.json")
}

fn fast() -> SandboxConfig {
    SandboxConfig::default()
        .render_time(std::time::Duration::from_millis(50)..std::time::Duration::from_millis(150))
}

/// The manifest's rows as (status, first_name, company, manager, error), read with `delimiter`.
fn manifest_rows(out: &Path, delimiter: u8) -> Vec<Vec<String>> {
    let bytes = std::fs::read(out.join("manifest.csv")).unwrap();
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(&bytes[..]);
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (status, first, company, manager, error) = (
        col("status"),
        col("first_name"),
        col("company"),
        col("manager"),
        col("error"),
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            [status, first, company, manager, error]
                .iter()
                .map(|&i| rec[i].to_string())
                .collect()
        })
        .collect()
}

fn run(env: &Env, csv: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = env.run_cmd(csv, extra).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn item1_every_encoding_excel_saves_is_read_whole_and_right() {
    for name in [
        "excel-utf8-bom.csv",
        "excel-windows-1252.csv",
        "excel-unicode-text.txt",
    ] {
        let env = Env::start(fast());
        let (code, stderr) = run(&env, &fixture(name), &[]);
        assert_eq!(code, Some(0), "{name}: {stderr}");
        let guessed = stderr.contains("is not UTF-8 (line 2 is not): read it as windows-1252");
        assert_eq!(
            guessed,
            name == "excel-windows-1252.csv",
            "{name}: {stderr}"
        );
        let delimiter = if name.ends_with(".txt") { b'\t' } else { b',' };
        let rows = manifest_rows(&env.out(), delimiter);
        assert_eq!(rows.len(), 3, "{name}");
        assert!(rows.iter().all(|r| r[0] == "ready"), "{name}: {rows:?}");
        assert_eq!(&rows[0][1..4], ["Chloé", "Café Crème", "Zoë"], "{name}");
        assert_eq!(rows[1][2], "Müller & Söhne", "{name}");
        // The vendor got the names right too.
        let jsonl = std::fs::read_to_string(env.out().join("manifest.jsonl")).unwrap();
        assert!(!jsonl.contains('\u{fffd}'), "{name}: {jsonl}");
        assert_eq!(env.stats().submissions, 3, "{name}");
    }
}

#[test]
fn item1_a_declared_encoding_that_does_not_fit_refuses_the_whole_file_before_anything_is_sent() {
    let env = Env::start(fast());
    let (code, stderr) = run(
        &env,
        &fixture("excel-windows-1252.csv"),
        &["--encoding", "utf-8"],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("excel-windows-1252.csv:2: this line is not valid UTF-8"),
        "{stderr}"
    );
    assert_eq!(env.stats().requests, 0);
    assert!(!env.out().join("journal.jsonl").exists());
    // Declared as what it is, it is read without a warning.
    let (code, stderr) = run(
        &env,
        &fixture("excel-windows-1252.csv"),
        &["--encoding", "cp1252"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let out = batchgen()
        .args(["validate", "--encoding", "klingon"])
        .arg(fixture("excel-utf8-bom.csv"))
        .arg(welcome())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--encoding \"klingon\" is not an encoding name")
    );
}

#[test]
fn item2_blank_rows_and_empty_unnamed_columns_never_become_projects() {
    let env = Env::start(fast());
    let (code, stderr) = run(&env, &fixture("excel-trailing-blank.csv"), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("3 blank rows skipped"), "{stderr}");
    let rows = manifest_rows(&env.out(), b',');
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(env.stats().submissions, 3);
    // The journal's row count is the core reader's: blank rows are not rows.
    let journal = std::fs::read_to_string(env.out().join("journal.jsonl")).unwrap();
    let header: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    assert_eq!(header["rows"], 3, "{header}");
    let out = batchgen()
        .arg("validate")
        .arg(fixture("excel-trailing-blank.csv"))
        .arg(welcome())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("3 rows, 3 valid, 0 invalid; 3 blank rows skipped"),
        "{stdout}"
    );
}

#[test]
fn item3_an_unclosed_quote_names_its_line_and_nothing_is_sent() {
    let env = Env::start(fast());
    let (code, stderr) = run(&env, &fixture("sheets-unclosed-quote.csv"), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "sheets-unclosed-quote.csv:3: the quote that opens column 2 (\"first_name\") on this line is never closed"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("close the quote"), "{stderr}");
    assert_eq!(env.stats().requests, 0);
}

#[test]
fn item4_every_missing_column_is_named_at_once_with_its_closest() {
    let out = batchgen()
        .arg("validate")
        .arg(fixture("sheets-missing-columns.csv"))
        .arg(welcome())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for part in [
        "names are missing:",
        "names column \"first_name\", which the CSV does not have (closest column: \"firstname\")",
        "names column \"company\"",
        "names column \"manager\"",
        "names clip id \"aiModel-1h4ij5h8e8\", which no clip in the template has (closest clip id: \"aiModel-1h4ij5h8e87\")",
        "binds /scenes/0/clips/0/lefft, which the template does not have (closest existing path: /scenes/0/clips/0/left)",
    ] {
        assert!(stderr.contains(part), "{part}\n{stderr}");
    }
}

#[test]
fn item5_empty_cells_are_reported_given_a_default_or_required() {
    let csv = fixture("sheets-empty-cells.csv");
    // validate and render report them per column; the rows still render.
    let out = batchgen()
        .arg("validate")
        .arg(&csv)
        .arg(welcome())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("column \"manager\" is empty in 2 rows: 2, 4"),
        "{stdout}"
    );
    let out = batchgen()
        .arg("render")
        .arg(&csv)
        .arg(welcome())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("column \"manager\" is empty in 2 rows: 2, 4"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Your account manager, , will call you"),
        "{stdout}"
    );

    // run reports them before sending, and sends every row.
    let env = Env::start(fast());
    let (code, stderr) = run(&env, &csv, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("column \"manager\" is empty in 2 rows: 2, 4"),
        "{stderr}"
    );
    assert_eq!(env.stats().submissions, 4);

    // --require-cells makes those rows invalid; they are never sent.
    let env = Env::start(fast());
    let (code, stderr) = run(&env, &csv, &["--require-cells"]);
    assert_eq!(code, Some(3), "{stderr}");
    let rows = manifest_rows(&env.out(), b',');
    let statuses: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(statuses, ["ready", "invalid", "ready", "invalid"]);
    assert!(
        rows[1][4].contains("column \"manager\" is empty and cells are required"),
        "{rows:?}"
    );
    assert_eq!(env.stats().submissions, 2);

    // {{default manager "…"}} gives a fallback, and the report goes quiet.
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("t.json");
    let text = std::fs::read_to_string(welcome()).unwrap().replace(
        "{{manager}}",
        "{{default manager \\\"your account team\\\"}}",
    );
    std::fs::write(&template, text).unwrap();
    let out = batchgen()
        .arg("render")
        .arg(&csv)
        .arg(&template)
        .arg("--require-cells")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("is empty"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout
            .matches("Your account manager, your account team, will")
            .count(),
        2
    );
    assert!(
        stdout.contains("Your account manager, Alex, will"),
        "{stdout}"
    );
}

#[test]
fn item6_reasons_come_before_any_credit_and_strict_sends_nothing() {
    let csv = fixture("excel-de-semicolon.csv");
    let env = Env::start(fast());
    let (code, stderr) = run(&env, &csv, &["--strict"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("2 of 3 rows are invalid and will not be sent:\n  row 1 (line 2, key chloe@example.com): /scenes/0/clips/0/left: \"630,5\" is not a number: it has a decimal comma"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--strict refuses a batch with invalid rows; nothing was sent"),
        "{stderr}"
    );
    assert_eq!(env.stats().requests, 0);
    assert!(!env.out().join("journal.jsonl").exists());

    // Without --strict the reasons are printed before the run, and the valid row is sent.
    let (code, stderr) = run(&env, &csv, &[]);
    assert_eq!(code, Some(3), "{stderr}");
    let reasons = stderr
        .find("2 of 3 rows are invalid and will not be sent")
        .unwrap();
    let summary = stderr.find("1 ready, 0 failed, 2 invalid").unwrap();
    assert!(reasons < summary, "{stderr}");
    assert_eq!(env.stats().submissions, 1);
}

#[test]
fn item6_export_prints_reasons_first_and_strict_sends_nothing() {
    let env = Env::start(fast());
    let csv = env.dir.path().join("exports.csv");
    std::fs::write(&csv, "project_id;note\r\np-1;a\r\n;b\r\n;;\r\n").unwrap();
    let out = batchgen()
        .env("AISTUDIOS_API_KEY", KEY)
        .arg("export")
        .arg(&csv)
        .arg("--out")
        .arg(env.out())
        .args(["--base-url", &env.sandbox().base_url(), "--strict"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("1 of 2 rows are invalid and will not be sent:\n  row 2 (line 3, key row-2): line 3, column project_id: the project id is empty"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(env.stats().requests, 0);
}

#[test]
fn item7_decimal_commas_get_a_hint_and_are_read_with_the_flag() {
    let csv = fixture("excel-de-semicolon.csv");
    let out = batchgen()
        .arg("validate")
        .arg(&csv)
        .arg(welcome())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("\"12,25\" is not a number: it has a decimal comma (write 12.25, or have decimal commas read with --decimal-comma)"),
        "{stdout}"
    );
    let out = batchgen()
        .arg("render")
        .arg(&csv)
        .arg(welcome())
        .arg("--decimal-comma")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lefts: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["project"]["scenes"][0]["clips"][0]["left"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(lefts, [630.5, 12.25, 640.75]);
    let env = Env::start(fast());
    let (code, stderr) = run(&env, &csv, &["--decimal-comma", "--strict"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(env.stats().submissions, 3);
}

#[test]
fn item8_the_manifest_opens_in_excel_as_the_input_did() {
    let csv = fixture("excel-de-semicolon.csv");
    let env = Env::start(fast());
    let (code, stderr) = run(&env, &csv, &["--decimal-comma"]);
    assert_eq!(code, Some(0), "{stderr}");
    let bytes = std::fs::read(env.out().join("manifest.csv")).unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBFrow;key;status;project_id;"),
        "{bytes:?}"
    );
    let rows = manifest_rows(&env.out(), b';');
    assert_eq!(rows[0][1..4], ["Chloé", "Café Crème", "Zoë"]);
    // The cells round-trip, decimal commas included.
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .ends_with(";Chloé;Café Crème;Zoë;630,5"),
        "{text}"
    );
    // The JSONL manifest is plain JSON, unchanged.
    let jsonl = std::fs::read_to_string(env.out().join("manifest.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["input"]["company"], "Café Crème");
    assert_eq!(first["input"]["@aiModel-1h4ij5h8e87/left:number"], "630,5");
    // A Windows-1252 input gets a UTF-8 manifest with a BOM, so Excel reads it as UTF-8.
    let env = Env::start(fast());
    let (code, stderr) = run(&env, &fixture("excel-windows-1252.csv"), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let bytes = std::fs::read(env.out().join("manifest.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBFrow,key,"), "{bytes:?}");
    // render --out writes its manifest the same way.
    let dir = tempfile::tempdir().unwrap();
    let out = batchgen()
        .arg("render")
        .arg(&csv)
        .arg(welcome())
        .arg("--decimal-comma")
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let bytes = std::fs::read(dir.path().join("manifest.csv")).unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBFrow;key;status;error;email;"),
        "{bytes:?}"
    );
}
