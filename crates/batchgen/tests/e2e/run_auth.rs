//! A wrong key stops the run at the first refusal: exit 4, a clear message, no more requests,
//! and the key (right or wrong) is never shown.

use std::time::Duration;

use crate::support::{Env, KEY, expect_exit, output_unless_hung};
use batchgen_sandbox::SandboxConfig;

#[test]
fn a_wrong_key_stops_at_once_with_exit_4() {
    let env = Env::start(
        SandboxConfig::default()
            .render_time(Duration::from_millis(100)..Duration::from_millis(200)),
    );
    let csv = env.csv(50);
    let wrong = "wrong-key-0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a";
    // Under a hang guard only: how fast it stops is not the point, that it stops is (counted
    // below: a run that went on would send the other 49 creates). At 5/s the second create's
    // cell is 208 ms after the first, and the refusal is back within a millisecond or two on
    // loopback: one create is sent.
    let out = output_unless_hung(
        env.run_cmd(&csv, &["--rate", "5"])
            .env("AISTUDIOS_API_KEY", wrong),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
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
    // One create was sent (journaled before it went) and none after the refusal. It is the
    // first row's as a rule, but rows start concurrently, so on a loaded machine another row
    // may take the first cell. Nothing became of the rows: they are pending, and the journal
    // can be resumed.
    let events = crate::support::journal_events(&env.out());
    let creates: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "submitting")
        .collect();
    assert_eq!(creates.len(), 1, "{events:?}");
    let sent = creates[0]["row"].as_u64().unwrap();
    let (_, rows) = crate::support::manifest(&env.out());
    assert_eq!(rows.len(), 50);
    assert!(rows.iter().all(|r| r["status"] == "pending"), "{rows:?}");
    for r in &rows {
        let want = if r["row"] == sent.to_string() {
            "1"
        } else {
            "0"
        };
        assert_eq!(r["attempts"], want, "{rows:?}");
    }
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
    expect_exit(&out, 0);

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

/// An API that nothing reaches (a closed port) stops the run after the first row runs out of
/// attempts, instead of failing every row the same way: exit 3, every row still pending, the
/// resume command printed, nothing journaled as submitted.
#[test]
fn an_unreachable_api_stops_the_run_with_rows_pending() {
    let env = Env::start(SandboxConfig::default());
    let csv = env.csv(40);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // dropped: nothing listens there now
    let out = output_unless_hung(
        crate::support::batchgen()
            .arg("run")
            .arg(&csv)
            .arg(crate::support::repo().join("templates/welcome.json"))
            .arg("--out")
            .arg(env.out())
            .args([
                "--base-url",
                &format!("http://{closed}"),
                "--rate",
                "50",
                "--max-attempts",
                "2",
            ])
            .env("AISTUDIOS_API_KEY", KEY),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("could not connect"), "{stderr}");
    assert!(
        stderr.contains("no request of this run ever reached the API"),
        "{stderr}"
    );
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(!stderr.contains(KEY), "{stderr}");
    let (_, rows) = crate::support::manifest(&env.out());
    assert_eq!(rows.len(), 40);
    // It did not retry forever, counted: no row was tried more than --max-attempts times, the
    // row that ran out was, and every attempt is in the journal (a `submitting` before each).
    let attempts: Vec<u32> = rows
        .iter()
        .map(|r| r["attempts"].parse().unwrap())
        .collect();
    assert!(attempts.iter().all(|&a| a <= 2), "{attempts:?}");
    assert!(attempts.contains(&2), "{attempts:?}");
    let journaled = crate::support::journal_events(&env.out())
        .iter()
        .filter(|e| e["event"] == "submitting")
        .count();
    assert_eq!(
        journaled,
        attempts.iter().sum::<u32>() as usize,
        "{attempts:?}"
    );
    assert!(rows.iter().all(|r| r["status"] == "pending"), "{rows:?}");
    let events = crate::support::journal_events(&env.out());
    assert!(
        !events
            .iter()
            .any(|e| e["event"] == "submitted" || e["event"] == "failed"),
        "{events:?}"
    );
}

/// `--app-id` with `--user-key-file`: the binary fetches a token (POST /auth/token), uses it for
/// every v3 call, and neither the user key nor the token shows in any output or file.
#[test]
fn app_credentials_fetch_a_token_and_stay_secret() {
    let user_key = "user-key-5f4e3d2c1b0a99887766";
    let env = Env::start(
        SandboxConfig::default()
            .app_credentials("app-123", user_key)
            .render_time(Duration::from_millis(50)..Duration::from_millis(150)),
    );
    let csv = env.csv(5);
    let key_file = env.dir.path().join("user-key.txt");
    std::fs::write(&key_file, format!("{user_key}\n")).unwrap();
    let out = env
        .run_cmd(
            &csv,
            &["--rate", "50", "--app-id", "app-123", "--user-key-file"],
        )
        .arg(&key_file)
        .env_remove("AISTUDIOS_API_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stats = env.stats();
    assert_eq!(stats.tokens_issued, 1, "{stats:?}");
    assert_eq!(stats.submissions, 5);
    assert!(!stderr.contains(user_key));
    for (path, text) in env.output_texts() {
        assert!(
            !text.contains(user_key),
            "the user key leaked into {}",
            path.display()
        );
    }
    // A wrong user key is a refused credential: exit 4, nothing created.
    let env = Env::start(SandboxConfig::default().app_credentials("app-123", user_key));
    let csv = env.csv(5);
    let wrong = env.dir.path().join("wrong.txt");
    std::fs::write(&wrong, "not-the-user-key-123456").unwrap();
    let out = env
        .run_cmd(&csv, &["--app-id", "app-123", "--user-key-file"])
        .arg(&wrong)
        .env_remove("AISTUDIOS_API_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(!stderr.contains("not-the-user-key-123456"), "{stderr}");
    assert_eq!(env.stats().submissions, 0);
}
