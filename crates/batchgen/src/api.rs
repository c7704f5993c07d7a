//! Where the API is and as whom batchgen calls it: the flags every command that talks to AI
//! Studios shares (`run`, `export`, `exports list`), and the in-process sandbox of `--sandbox`.
//!
//! No flag takes a secret on the command line: the key comes from `AISTUDIOS_API_KEY` or
//! `--api-key-file`, the user key from `AISTUDIOS_USER_KEY` or `--user-key-file`. So neither a
//! journal header (which records the command) nor a printed resume command can hold one.

use std::path::PathBuf;

use crate::error::Error;
use batchgen_aistudios::{Client, ClientConfig, Credentials, GLOBAL_BASE_URL, Secret};
use batchgen_sandbox::{Sandbox, SandboxConfig};
use clap::Args;

/// Credentials and base URLs.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The API host (https://app.aistudios.cn for China, or a sandbox's URL).
    #[arg(long, value_name = "URL", default_value = GLOBAL_BASE_URL)]
    pub base_url: String,
    /// The v2 (exports) API base. Default: {--base-url}/v2.
    #[arg(long, value_name = "URL")]
    pub v2_base_url: Option<String>,
    /// Read the API key from this file instead of AISTUDIOS_API_KEY.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Authenticate with an AppId (and --user-key-file or AISTUDIOS_USER_KEY) for a 24 h token.
    #[arg(
        long,
        value_name = "ID",
        env = "AISTUDIOS_APP_ID",
        hide_env_values = true
    )]
    pub app_id: Option<String>,
    /// File holding the UserKey that goes with --app-id.
    #[arg(long, value_name = "FILE")]
    pub user_key_file: Option<PathBuf>,
}

/// The arg ids `--sandbox` conflicts with (a sandbox brings its own URL and key).
pub const SANDBOX_CONFLICTS: [&str; 5] = [
    "base_url",
    "v2_base_url",
    "api_key_file",
    "app_id",
    "user_key_file",
];

impl ApiArgs {
    /// The credentials: `--api-key-file`, else `--app-id` with its user key, else
    /// `AISTUDIOS_API_KEY`.
    pub fn credentials(&self) -> crate::error::Result<Credentials> {
        if let Some(file) = &self.api_key_file {
            return Ok(Credentials::from_key_file(file)?);
        }
        if let Some(app_id) = &self.app_id {
            let user_key = match &self.user_key_file {
                Some(f) => match Credentials::from_key_file(f)? {
                    Credentials::ApiKey(k) => k,
                    Credentials::App { user_key, .. } => user_key,
                },
                None => Secret::new(
                    std::env::var(batchgen_aistudios::ENV_USER_KEY)
                        .ok()
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| {
                            Error::Usage(format!(
                                "failed to find the user key: --app-id needs --user-key-file or {}",
                                batchgen_aistudios::ENV_USER_KEY
                            ))
                        })?,
                ),
            };
            return Ok(Credentials::App {
                app_id: app_id.clone(),
                user_key,
            });
        }
        Ok(Credentials::from_env()?)
    }

    /// The v2 base as the client will use it: `--v2-base-url`, or `{--base-url}/v2`.
    pub fn v2_base(&self) -> String {
        match &self.v2_base_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("{}/v2", self.base_url.trim_end_matches('/')),
        }
    }

    /// Who the run acts as, without the secret: see [`account_tag`]. For `sandbox`, its key.
    pub fn account(&self, sandbox: Option<&Sandbox>) -> crate::error::Result<String> {
        match sandbox {
            Some(sb) => Ok(account_tag(&Credentials::ApiKey(Secret::new(
                sb.api_key().to_owned(),
            )))),
            None => Ok(account_tag(&self.credentials()?)),
        }
    }

    /// A client for these flags, or for `sandbox` when one runs in-process.
    pub fn client(&self, sandbox: Option<&Sandbox>) -> crate::error::Result<Client> {
        if let Some(sb) = sandbox {
            return sandbox_client(sb);
        }
        let mut config = ClientConfig::new(self.credentials()?).base_url(self.base_url.as_str());
        if let Some(v2) = &self.v2_base_url {
            config = config.v2_base_url(v2.as_str());
        }
        Ok(Client::new(config)?)
    }
}

/// Whose request budget a run spends, for `--shared-budget`: the API origin and the credential
/// (the API key; or the app id and user key). Two workers share a budget exactly when these are
/// the same. Hashed into the Redis key (never stored); a sandbox in this process gives its own.
pub fn account(
    api: &ApiArgs,
    client: &Client,
    sandbox: Option<&Sandbox>,
) -> crate::error::Result<Secret> {
    let credential = match sandbox {
        Some(sb) => sb.api_key().to_owned(),
        None => match api.credentials()? {
            Credentials::ApiKey(k) => k.expose().to_owned(),
            Credentials::App { app_id, user_key } => format!("{app_id}\n{}", user_key.expose()),
        },
    };
    Ok(Secret::new(format!(
        "{}\n{credential}",
        origin(client.base_url())
    )))
}

/// A client for a sandbox running in this process.
pub fn sandbox_client(sb: &Sandbox) -> crate::error::Result<Client> {
    let config = ClientConfig::new(Credentials::ApiKey(Secret::new(sb.api_key().to_owned())))
        .base_url(sb.base_url());
    Ok(Client::new(config)?)
}

/// An identity of the account that cannot give the secret away, for a run's fingerprint:
/// `app-id:<AppId>` (an identifier the vendor shows on the profile page, not a secret), or
/// `api-key:<12 hex>`, the start of the SHA-256 of a domain-separated key: 48 bits of a hash of
/// a high-entropy key, enough to tell two keys apart and useless to find one. The API offers no
/// call that names the account behind a key (`GET /auth` answers only `isAuthenticated`), so a
/// new key of the same account reads as another account.
pub fn account_tag(credentials: &Credentials) -> String {
    use sha2::{Digest, Sha256};
    match credentials {
        Credentials::App { app_id, .. } => format!("app-id:{app_id}"),
        Credentials::ApiKey(key) => {
            let mut h = Sha256::new();
            h.update(b"batchgen account\0");
            h.update(key.expose().as_bytes());
            format!("api-key:{}", &hex::encode(h.finalize())[..12])
        }
    }
}

/// `scheme://host:port` of `url` (the port spelled out), for fingerprints.
pub fn origin(url: &url::Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default()
            .map(|p| format!(":{p}"))
            .unwrap_or_default()
    )
}

/// Whether `url` points at this machine (127.0.0.0/8, ::1 or `localhost`).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Starts `config` on a loopback port with a generated key (unguessable for this process's
/// lifetime) and says so unless `quiet`.
pub async fn start_sandbox(config: SandboxConfig, quiet: bool) -> crate::error::Result<Sandbox> {
    let key = hex::encode(rand::random::<[u8; 16]>());
    let sb = config
        .api_key(format!("sbx-{key}"))
        .start("127.0.0.1:0".parse().expect("a valid address"))
        .await?;
    if !quiet {
        crate::output::say!(
            "sandbox: running against a local AI Studios emulator at {} with a generated key (nothing leaves this machine)",
            sb.base_url()
        );
    }
    Ok(sb)
}

/// Calls `call`, retrying what is retryable (429, 5xx, dropped connections) a few times; refused
/// credentials exit 4.
pub(crate) async fn with_retries<
    T,
    F: std::future::Future<Output = Result<T, batchgen_aistudios::ApiError>>,
>(
    what: &str,
    mut call: impl FnMut() -> F,
) -> crate::error::Result<T> {
    use batchgen_dispatch::retry::{Action, Backoff, decide};
    let backoff = Backoff {
        max_attempts: 4,
        ..Backoff::default()
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let e = match call().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        match decide(&e, attempt, &backoff) {
            Action::Retry { after, .. } => {
                tracing::debug!(error = %e, attempt, "retrying: {what}");
                tokio::time::sleep(after).await;
            }
            Action::StopRun => {
                return Err(Error::AuthRefused(e));
            }
            Action::GiveUp | Action::FailRow => return Err(Error::Api(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_loopback() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            origin(&u("https://app.aistudios.com/x")),
            "https://app.aistudios.com:443"
        );
        assert_eq!(origin(&u("http://127.0.0.1:8787")), "http://127.0.0.1:8787");
        assert!(is_loopback(&u("http://127.0.0.1:1")));
        assert!(is_loopback(&u("http://127.9.9.9:1")));
        assert!(is_loopback(&u("http://[::1]:1")));
        assert!(is_loopback(&u("http://LOCALHOST:1")));
        assert!(!is_loopback(&u("https://app.aistudios.com")));
        assert!(!is_loopback(&u("http://10.0.0.1")));
    }

    #[test]
    fn account_tags_never_hold_the_key() {
        let key = "sk-live-0123456789abcdef";
        let tag = account_tag(&Credentials::ApiKey(Secret::new(key)));
        assert!(
            tag.starts_with("api-key:") && tag.len() == "api-key:".len() + 12,
            "{tag}"
        );
        assert!(
            !tag.contains(key) && !tag.contains("0123456789abcdef"),
            "{tag}"
        );
        assert_eq!(tag, account_tag(&Credentials::ApiKey(Secret::new(key))));
        assert_ne!(
            tag,
            account_tag(&Credentials::ApiKey(Secret::new("sk-live-other")))
        );
        let app = Credentials::App {
            app_id: "app-7".into(),
            user_key: Secret::new("uk-secret"),
        };
        assert_eq!(account_tag(&app), "app-id:app-7");
    }

    #[test]
    fn v2_base_defaults_under_the_base() {
        let a = ApiArgs {
            base_url: "http://127.0.0.1:9/".into(),
            v2_base_url: None,
            api_key_file: None,
            app_id: None,
            user_key_file: None,
        };
        assert_eq!(a.v2_base(), "http://127.0.0.1:9/v2");
        let a = ApiArgs {
            v2_base_url: Some("https://v2.example.com/api/".into()),
            ..a
        };
        assert_eq!(a.v2_base(), "https://v2.example.com/api");
    }
}
