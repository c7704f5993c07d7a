//! Redis for the `--shared-budget` tests: the one `.ci/redis.sh` started
//! (`BATCHGEN_TEST_REDIS_URL`), or a server of a test's own that it can stop. Without Redis a
//! test fails under `BATCHGEN_CI=1` and says SKIPPED otherwise.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_for;

fn skip_or_fail(test: &str, why: &str) {
    let ci = std::env::var("BATCHGEN_CI").is_ok_and(|v| v == "1");
    assert!(
        !ci,
        "{test}: {why} (BATCHGEN_CI=1: .ci/redis.sh should have started one)"
    );
    eprintln!("SKIPPED: {test}: {why}, run source .ci/redis.sh");
}

fn answers(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// The shared test server's URL, or `None` (skipped) outside CI when there is none.
pub fn test_redis(test: &str) -> Option<String> {
    match std::env::var("BATCHGEN_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            if answers(&url) {
                return Some(url);
            }
            skip_or_fail(
                test,
                &format!("BATCHGEN_TEST_REDIS_URL={url} does not answer"),
            );
        }
        _ => skip_or_fail(test, "BATCHGEN_TEST_REDIS_URL is not set"),
    }
    None
}

/// A `redis-server` of the test's own on a free loopback port, no persistence; stopped
/// (killed) on drop or by [`OwnRedis::stop`].
pub struct OwnRedis {
    child: Option<Child>,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl OwnRedis {
    /// Starts one, or `None` (skipped) outside CI when `redis-server` cannot run.
    pub fn start(test: &str) -> Option<OwnRedis> {
        // Redis takes no port 0: ask the kernel for a free one and hand it over.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                skip_or_fail(test, &format!("redis-server cannot be started: {e}"));
                return None;
            }
        };
        let url = format!("redis://127.0.0.1:{port}/0");
        let mut own = OwnRedis {
            child: Some(child),
            url,
            _dir: dir,
        };
        if !wait_for(Duration::from_secs(10), || answers(&own.url)) {
            own.stop();
            skip_or_fail(test, "redis-server did not answer within 10 s");
            return None;
        }
        Some(own)
    }

    /// Kills the server (as a crash would) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every key of the server with, for hashes, its fields and values, as text.
pub fn dump(url: &str) -> Vec<String> {
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    let mut out = Vec::new();
    for k in keys {
        let kind: String = redis::cmd("TYPE").arg(&k).query(&mut c).unwrap();
        out.push(k.clone());
        if kind == "hash" {
            let fields: Vec<(String, String)> =
                redis::cmd("HGETALL").arg(&k).query(&mut c).unwrap();
            out.extend(fields.into_iter().map(|(f, v)| format!("{k} {f}={v}")));
        }
    }
    out
}
