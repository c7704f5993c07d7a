//! The client's debug events: one per request, naming method, path and status, and never a
//! secret, even when the server echoes one back.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use batchgen_aistudios::{Client, ClientConfig, Credentials, ProjectId, Secret};
use common::{Action, Scripted};

const KEY: &str = "log-test-key-0123456789";
const USER_KEY: &str = "log-user-key-0123456789";
const TOKEN: &str = "log-token-0123456789";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn debug_events_carry_method_path_status_and_no_secret() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = Scripted::start(|r| {
        let echo = format!(
            "{} {}",
            r.header("authorization").unwrap_or(""),
            String::from_utf8_lossy(&r.body).replace('"', "'")
        );
        match r.path() {
            "/api/odin/v3/auth/token" => Action::json(
                200,
                format!(r#"{{"success":true,"data":{{"token":"{TOKEN}"}}}}"#),
            ),
            "/api/odin/v3/editor/progress/ok" => {
                Action::json(200, r#"{"success":true,"data":{"progress":5}}"#)
            }
            _ => Action::json(
                400,
                format!(r#"{{"success":false,"error":{{"code":"BAD","msg":"echo {echo}"}}}}"#),
            ),
        }
    })
    .await;
    let key = Client::new(
        ClientConfig::new(Credentials::ApiKey(Secret::new(KEY))).base_url(server.base_url()),
    )
    .unwrap();
    let app = Client::new(
        ClientConfig::new(Credentials::App {
            app_id: "log-app".into(),
            user_key: Secret::new(USER_KEY),
        })
        .base_url(server.base_url()),
    )
    .unwrap();
    key.progress(&ProjectId::new("ok").unwrap()).await.unwrap();
    let e1 = key.create_project(b"{}").await.unwrap_err();
    let e2 = app.create_project(b"{}").await.unwrap_err();
    app.progress(&ProjectId::new("ok").unwrap()).await.unwrap();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let everything = format!("{logs}\n{e1}\n{e1:?}\n{e2}\n{e2:?}");
    for secret in [KEY, USER_KEY, TOKEN] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked:\n{everything}"
        );
    }
    assert!(logs.contains("aistudios request"), "{logs}");
    assert!(
        logs.contains("path=\"/api/odin/v3/editor/progress/ok\""),
        "{logs}"
    );
    assert!(logs.contains("status=200"), "{logs}");
    assert!(logs.contains("status=400"), "{logs}");
    assert!(logs.contains("call=\"fetch access token\""), "{logs}");
    assert!(logs.contains("method=POST"), "{logs}");
    // One event per request: 2 (key) + token + create + progress (app) = 5.
    assert_eq!(logs.matches("aistudios request").count(), 5, "{logs}");
}
