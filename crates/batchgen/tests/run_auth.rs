//! A wrong key stops the run at the first refusal: exit 4, a clear message, no more requests,
//! and the key (right or wrong) is never shown.

mod run_support;

use std::time::{Duration, Instant};

use batchgen_sandbox::SandboxConfig;
use run_support::{Env, KEY};

#[test]
fn a_wrong_key_stops_at_once_with_exit_4() {
    let env = Env::start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(100)..Duration::from_millis(200)),
    );
    let csv = env.csv(50);
    let wrong = "wrong-key-0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a";
    let t0 = Instant::now();
    let out = env
        .run_cmd(&csv, &["--rate", "50"])
        .env("AISTUDIOS_API_KEY", wrong)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(
        stderr.contains("401") && stderr.contains("check the api key"),
        "{stderr}"
    );
    let stats = env.stats();
    assert!(
        stats.requests <= 3,
        "{} requests after a refusal",
        stats.requests
    );
    assert_eq!(stats.submissions, 0);
    for text in [
        stderr.to_string(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ] {
        assert!(!text.contains(wrong) && !text.contains(KEY), "{text}");
    }
    for (path, text) in env.output_texts() {
        assert!(
            !text.contains(wrong),
            "the key leaked into {}",
            path.display()
        );
    }
    // Nothing became of the rows: they are pending, and the journal can be resumed.
    let (_, rows) = run_support::manifest(&env.out());
    assert!(rows.iter().all(|r| r[2] == "pending"), "{rows:?}");
}

#[test]
fn a_key_file_works_and_a_missing_key_is_explained() {
    let env = Env::start(
        SandboxConfig::default().render_time(Duration::from_millis(50)..Duration::from_millis(100)),
    );
    let csv = env.csv(3);
    let key_file = env.dir.path().join("key.txt");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let out = env
        .run_cmd(&csv, &["--rate", "50", "--api-key-file"])
        .arg(&key_file)
        .env_remove("AISTUDIOS_API_KEY")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = env
        .run_cmd(&csv, &[])
        .env_remove("AISTUDIOS_API_KEY")
        .arg("--resume")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AISTUDIOS_API_KEY"), "{stderr}");
}
