//! A PostgreSQL database of its own for a test, on the server `.ci/postgres.sh` starts.
//! Without one: the test fails in CI (`BATCHGEN_CI=1`) and is skipped, loudly, elsewhere.

/// A fresh database: its URL (with the password) and the password, or `None` (skipped).
pub struct TestDb {
    pub url: String,
    pub password: String,
    rt: tokio::runtime::Runtime,
}

impl TestDb {
    /// Makes a database of its own on the test server.
    pub fn create() -> Option<TestDb> {
        let ci = std::env::var("BATCHGEN_CI").is_ok_and(|v| v == "1");
        let Ok(admin) = std::env::var("BATCHGEN_TEST_POSTGRES_URL") else {
            assert!(
                !ci,
                "BATCHGEN_TEST_POSTGRES_URL is not set in CI: .ci/run sources .ci/postgres.sh"
            );
            eprintln!(
                "SKIPPED: no test PostgreSQL (BATCHGEN_TEST_POSTGRES_URL unset), run source .ci/postgres.sh"
            );
            return None;
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = match rt.block_on(sqlx::PgPool::connect(&admin)) {
            Ok(p) => p,
            Err(e) => {
                assert!(!ci, "the test PostgreSQL cannot be reached in CI: {e}");
                eprintln!(
                    "SKIPPED: the test PostgreSQL cannot be reached ({e}), run source .ci/postgres.sh"
                );
                return None;
            }
        };
        let name = format!("bge2e_{:016x}", rand_u64());
        rt.block_on(sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool))
            .unwrap();
        rt.block_on(pool.close());
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&format!("/{name}"));
        let password = url.password().unwrap_or_default().to_owned();
        Some(TestDb {
            url: url.to_string(),
            password,
            rt,
        })
    }

    /// Every text the store holds for batchgen: run headers, rows, events.
    pub fn dump(&self) -> String {
        self.rt.block_on(async {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let mut text = String::new();
            for q in [
                "SELECT coalesce(string_agg(name || kind || header::text, E'\\n'), '') FROM batchgen_runs",
                "SELECT coalesce(string_agg(key || coalesce(holder, ''), E'\\n'), '') FROM batchgen_rows",
                "SELECT coalesce(string_agg(coalesce(key, '') || body::text || worker, E'\\n'), '') FROM batchgen_events",
            ] {
                let part: String = sqlx::query_scalar(q).fetch_one(&pool).await.unwrap();
                text.push_str(&part);
                text.push('\n');
            }
            pool.close().await;
            text
        })
    }

    /// How many distinct workers recorded events.
    pub fn workers(&self) -> i64 {
        self.rt.block_on(async {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT count(DISTINCT worker) FROM batchgen_events WHERE body->>'event' = 'submitting'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            pool.close().await;
            n
        })
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}
