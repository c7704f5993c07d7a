//! Snapshots (insta) of what a person reads: the `--help` of the main commands, a run's
//! summary, and error reports. The real binary, run in a temporary directory on relative
//! paths; what changes from run to run (the temporary directory, the sandbox's port, timings
//! and request counts) is redacted. `cargo insta review` (or `INSTA_UPDATE=always`) accepts a
//! changed text once it reads right.

use std::path::Path;
use std::process::Output;

use crate::support::{batchgen, repo};

/// `batchgen ARGS` in `dir`, templates and samples reachable as `templates/…`, `samples/…`.
fn in_dir(dir: &Path, args: &[&str]) -> Output {
    for sub in ["templates", "samples"] {
        let link = dir.join(sub);
        if !link.exists() {
            std::os::unix::fs::symlink(repo().join(sub), link).unwrap();
        }
    }
    batchgen()
        .current_dir(dir)
        .env("COLUMNS", "100")
        .env("BATCHGEN_PROGRESS_EVERY", "1h")
        .args(args)
        .output()
        .unwrap()
}

/// The exit code, then stderr and stdout, redacted.
fn shown(dir: &Path, out: &Output) -> String {
    let text = format!(
        "exit: {:?}\n--- stderr\n{}--- stdout\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    text.replace(&dir.display().to_string(), "[TMP]")
}

fn redacted(f: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(
        r"\d+ requests \([\d.]+/s\) in [\d.]+m?s",
        "[N] requests ([RATE]/s) in [TIME]",
    );
    settings.bind(f);
}

#[test]
fn help_of_the_main_commands() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["run", "export", "render", "validate", "status"] {
        let out = in_dir(dir.path(), &[command, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        insta::assert_snapshot!(
            format!("help_{command}"),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = in_dir(dir.path(), &["--help"]);
    insta::assert_snapshot!("help", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_run_with_invalid_rows_lists_them_then_sums_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = in_dir(
        dir.path(),
        &[
            "run",
            "samples/promo-with-errors.csv",
            "templates/two-scene-promo.json",
            "--key",
            "customer_id",
            "--out",
            "out",
            "--sandbox",
            "--sandbox-render-time",
            "100ms..200ms",
        ],
    );
    redacted(|| insta::assert_snapshot!(shown(dir.path(), &out)));
}

#[test]
fn error_reports() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.json"), "{\n  \"scenes\": [\n}\n").unwrap();
    std::fs::write(
        dir.path().join("people.csv"),
        "email,first_name,company,manager\nann@example.com,Ann,Acme,Bo\n",
    )
    .unwrap();
    let cases: [(&str, &[&str]); 5] = [
        ("no_template", &["render", "people.csv", "nope.json"]),
        ("broken_template", &["render", "people.csv", "broken.json"]),
        (
            "template_does_not_fit",
            &["render", "people.csv", "templates/two-scene-promo.json"],
        ),
        (
            "no_credentials",
            &[
                "run",
                "people.csv",
                "templates/welcome.json",
                "--out",
                "out",
            ],
        ),
        (
            "strict_with_invalid_rows",
            &[
                "run",
                "samples/promo-with-errors.csv",
                "templates/two-scene-promo.json",
                "--key",
                "customer_id",
                "--strict",
                "--sandbox",
                "-q",
            ],
        ),
    ];
    for (name, args) in cases {
        let out = in_dir(dir.path(), args);
        redacted(|| insta::assert_snapshot!(format!("error_{name}"), shown(dir.path(), &out)));
    }
}
