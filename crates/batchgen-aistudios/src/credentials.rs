//! [`Credentials`]: how the client proves who it is, and where they come from.

use std::path::{Path, PathBuf};

use crate::Secret;

/// Environment variable holding a ready API key (sent raw to v3, as `Bearer` to v2).
pub const ENV_API_KEY: &str = "AISTUDIOS_API_KEY";
/// Environment variable holding the AppId issued with the API key pair.
pub const ENV_APP_ID: &str = "AISTUDIOS_APP_ID";
/// Environment variable holding the UserKey issued with the API key pair.
pub const ENV_USER_KEY: &str = "AISTUDIOS_USER_KEY";

/// What the client authenticates with.
///
/// `Debug` output shows the app id (an identifier, not a secret) but never the key or user key.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// A ready API key or access token: v3 calls send it raw as `Authorization: <key>`, v2 calls
    /// as `Authorization: Bearer <key>`.
    ApiKey(Secret),
    /// The `AppId` + `UserKey` pair from the vendor's profile page. The client exchanges it for an
    /// access token (`POST /api/odin/v3/auth/token`, valid 24 h), caches the token and refreshes it.
    App {
        /// The AppId.
        app_id: String,
        /// The UserKey.
        user_key: Secret,
    },
}

/// Why credentials could not be loaded. Messages name the variable or the file, never the value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// Neither an API key nor an app id + user key pair was found.
    #[error(
        "find credentials: set {ENV_API_KEY}, or both {ENV_APP_ID} and {ENV_USER_KEY}, or pass a key file"
    )]
    Missing,
    /// Only one half of the app id + user key pair was set.
    #[error(
        "find credentials: {present} is set but {missing} is not; set both, or set {ENV_API_KEY}"
    )]
    HalfPair {
        /// The variable that is set.
        present: &'static str,
        /// The variable that is missing.
        missing: &'static str,
    },
    /// The key file could not be read.
    #[error("read key file {}", path.display())]
    KeyFileRead {
        /// The file.
        path: PathBuf,
        /// The I/O error (it never contains the file's content).
        source: std::io::Error,
    },
    /// The key file holds nothing but whitespace.
    #[error("read key file {}: the file is empty; put the API key in it", path.display())]
    KeyFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds more than one word or line.
    #[error(
        "read key file {}: the file holds more than one line or word; put only the API key in it",
        path.display()
    )]
    KeyFileMalformed {
        /// The file.
        path: PathBuf,
    },
}

impl Credentials {
    /// Reads credentials from the process environment: `AISTUDIOS_API_KEY` if set and not blank,
    /// otherwise `AISTUDIOS_APP_ID` + `AISTUDIOS_USER_KEY`. Values are trimmed.
    pub fn from_env() -> Result<Credentials, CredentialsError> {
        Credentials::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Credentials::from_env`] but reads variables through `lookup`, so a caller (or a
    /// test) can supply its own environment.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CredentialsError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(key) = get(ENV_API_KEY) {
            return Ok(Credentials::ApiKey(Secret::new(key)));
        }
        match (get(ENV_APP_ID), get(ENV_USER_KEY)) {
            (Some(app_id), Some(user_key)) => Ok(Credentials::App {
                app_id,
                user_key: Secret::new(user_key),
            }),
            (Some(_), None) => Err(CredentialsError::HalfPair {
                present: ENV_APP_ID,
                missing: ENV_USER_KEY,
            }),
            (None, Some(_)) => Err(CredentialsError::HalfPair {
                present: ENV_USER_KEY,
                missing: ENV_APP_ID,
            }),
            (None, None) => Err(CredentialsError::Missing),
        }
    }

    /// Reads an API key from a file holding only the key; surrounding whitespace and the
    /// trailing newline are trimmed. Errors name the file, never its content.
    pub fn from_key_file(path: impl AsRef<Path>) -> Result<Credentials, CredentialsError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| {
            // `InvalidData` from read_to_string says "stream did not contain valid UTF-8",
            // which carries no content; every other io error names only the OS condition.
            CredentialsError::KeyFileRead {
                path: path.to_owned(),
                source,
            }
        })?;
        let key = text.trim();
        if key.is_empty() {
            return Err(CredentialsError::KeyFileEmpty {
                path: path.to_owned(),
            });
        }
        if key.chars().any(char::is_whitespace) {
            return Err(CredentialsError::KeyFileMalformed {
                path: path.to_owned(),
            });
        }
        Ok(Credentials::ApiKey(Secret::new(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn api_key_wins_and_is_trimmed() {
        let c = Credentials::from_lookup(env(&[
            (ENV_API_KEY, "  key-1\n"),
            (ENV_APP_ID, "app"),
            (ENV_USER_KEY, "uk"),
        ]))
        .unwrap();
        match c {
            Credentials::ApiKey(k) => assert_eq!(k.expose(), "key-1"),
            other => panic!("expected an api key, got {other:?}"),
        }
    }

    #[test]
    fn blank_api_key_falls_back_to_app_pair() {
        let c = Credentials::from_lookup(env(&[
            (ENV_API_KEY, "  "),
            (ENV_APP_ID, "app-7"),
            (ENV_USER_KEY, "user-key-7"),
        ]))
        .unwrap();
        match &c {
            Credentials::App { app_id, user_key } => {
                assert_eq!(app_id, "app-7");
                assert_eq!(user_key.expose(), "user-key-7");
            }
            other => panic!("expected app credentials, got {other:?}"),
        }
        assert!(!format!("{c:?}").contains("user-key-7"));
    }

    #[test]
    fn missing_and_half_pairs_are_named() {
        let e = Credentials::from_lookup(env(&[])).unwrap_err();
        assert!(matches!(e, CredentialsError::Missing));
        assert!(e.to_string().contains(ENV_API_KEY));
        let e = Credentials::from_lookup(env(&[(ENV_APP_ID, "a")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "find credentials: AISTUDIOS_APP_ID is set but AISTUDIOS_USER_KEY is not; set both, or set AISTUDIOS_API_KEY"
        );
        let e = Credentials::from_lookup(env(&[(ENV_USER_KEY, "secret-uk")])).unwrap_err();
        assert!(
            e.to_string()
                .contains("AISTUDIOS_USER_KEY is set but AISTUDIOS_APP_ID")
        );
        assert!(!e.to_string().contains("secret-uk"));
    }

    #[test]
    fn key_file_is_trimmed_and_errors_never_show_content() {
        let dir =
            std::env::temp_dir().join(format!("batchgen-aistudios-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let good = dir.join("good.key");
        std::fs::write(&good, "  file-key-123\r\n").unwrap();
        match Credentials::from_key_file(&good).unwrap() {
            Credentials::ApiKey(k) => assert_eq!(k.expose(), "file-key-123"),
            other => panic!("{other:?}"),
        }

        let empty = dir.join("empty.key");
        std::fs::write(&empty, "\n \n").unwrap();
        let e = Credentials::from_key_file(&empty).unwrap_err();
        assert!(matches!(e, CredentialsError::KeyFileEmpty { .. }));
        assert!(e.to_string().contains("empty.key"), "{e}");

        let two = dir.join("two.key");
        std::fs::write(&two, "first-secret\nsecond-secret\n").unwrap();
        let e = Credentials::from_key_file(&two).unwrap_err();
        let msg = format!("{e} {e:?}");
        assert!(msg.contains("two.key"), "{msg}");
        assert!(
            !msg.contains("first-secret") && !msg.contains("second-secret"),
            "{msg}"
        );

        let missing = dir.join("nope.key");
        let e = Credentials::from_key_file(&missing).unwrap_err();
        assert!(matches!(e, CredentialsError::KeyFileRead { .. }));
        assert!(e.to_string().starts_with("read key file "), "{e}");
        assert!(e.to_string().contains("nope.key"), "{e}");

        std::fs::remove_dir_all(&dir).unwrap();
    }
}
