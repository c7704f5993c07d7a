//! [`ClientConfig`]: where the client talks to, as whom, and how patiently.

use std::time::Duration;

use url::Url;

use crate::Credentials;

/// The global host.
pub const GLOBAL_BASE_URL: &str = "https://app.aistudios.com";
/// The China host.
pub const CHINA_BASE_URL: &str = "https://app.aistudios.cn";
/// The default `User-Agent`: `batchgen/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("batchgen/", env!("CARGO_PKG_VERSION"));

/// Client settings, built with chained setters and checked once by [`crate::Client::new`].
///
/// ```
/// use std::time::Duration;
/// use batchgen_aistudios::{ClientConfig, Credentials, Secret};
/// let config = ClientConfig::new(Credentials::ApiKey(Secret::new("key")))
///     .base_url("http://127.0.0.1:8787")
///     .request_timeout(Duration::from_secs(5));
/// assert!(!format!("{config:?}").contains("\"key\""));
/// ```
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub(crate) base_url: String,
    pub(crate) v2_base_url: Option<String>,
    pub(crate) credentials: Credentials,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) user_agent: String,
    pub(crate) token_refresh_after: Duration,
}

impl ClientConfig {
    /// Settings for these credentials with every default: the global host, 10 s to connect,
    /// 60 s per request in total, `User-Agent: batchgen/<version>`, tokens renewed after 23 h.
    pub fn new(credentials: Credentials) -> ClientConfig {
        ClientConfig {
            base_url: GLOBAL_BASE_URL.to_owned(),
            v2_base_url: None,
            credentials,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            token_refresh_after: Duration::from_secs(23 * 60 * 60),
        }
    }

    /// The v3 host: [`GLOBAL_BASE_URL`] (default), [`CHINA_BASE_URL`], or a sandbox's
    /// `http://127.0.0.1:PORT`. A path prefix is kept; a trailing `/` is ignored. It must not
    /// carry credentials, a query or a fragment.
    pub fn base_url(mut self, url: impl Into<String>) -> ClientConfig {
        self.base_url = url.into();
        self
    }

    /// The v2 (exports) base; default `{base_url}/v2`.
    pub fn v2_base_url(mut self, url: impl Into<String>) -> ClientConfig {
        self.v2_base_url = Some(url.into());
        self
    }

    /// The credentials.
    pub fn credentials(mut self, credentials: Credentials) -> ClientConfig {
        self.credentials = credentials;
        self
    }

    /// How long to wait for a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request may take in total, connecting and reading the answer included
    /// (default 60 s).
    pub fn request_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.request_timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `batchgen/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> ClientConfig {
        self.user_agent = user_agent.into();
        self
    }

    /// How old an access token may get before the client fetches a new one ahead of use
    /// (default 23 h; the vendor's tokens last 24 h). Only used with [`Credentials::App`].
    pub fn token_refresh_after(mut self, age: Duration) -> ClientConfig {
        self.token_refresh_after = age;
        self
    }
}

/// Why a client could not be built. Nothing was sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A base URL is malformed or unsuitable.
    #[error("use {which} {url}: {reason}")]
    InvalidBaseUrl {
        /// "base url" or "v2 base url".
        which: &'static str,
        /// The URL as given, or a placeholder when it carries credentials.
        url: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The credentials cannot be sent.
    #[error("use the credentials: {0}")]
    InvalidCredentials(&'static str),
    /// A setting is out of range.
    #[error("use the client settings: {0}")]
    InvalidSetting(String),
    /// The HTTP client could not be initialised (TLS roots, resolver...).
    #[error("start the http client: {0}")]
    Http(String),
}

/// Parses and checks a base URL; the result has no trailing `/`.
pub(crate) fn parse_base_url(which: &'static str, raw: &str) -> Result<Url, ClientError> {
    let shown = if raw.contains('@') {
        "<url with credentials>".to_owned()
    } else {
        raw.to_owned()
    };
    let bad = |reason: &str| ClientError::InvalidBaseUrl {
        which,
        url: shown.clone(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        bad(&format!(
            "{e}; give an absolute url such as {GLOBAL_BASE_URL}"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "it carries credentials; remove them and pass the key through the credentials",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "it has a query or fragment; give the bare host (and path prefix)",
        ));
    }
    if url.cannot_be_a_base() {
        return Err(bad("it cannot be a base url"));
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn defaults() {
        let c = ClientConfig::new(Credentials::ApiKey(Secret::new("secret-key-1")));
        assert_eq!(c.base_url, "https://app.aistudios.com");
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.request_timeout, Duration::from_secs(60));
        assert!(c.user_agent.starts_with("batchgen/"));
        assert!(!format!("{c:?}").contains("secret-key-1"));
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base_url("base url", "https://app.aistudios.cn")
                .unwrap()
                .as_str(),
            "https://app.aistudios.cn/"
        );
        assert_eq!(
            parse_base_url("base url", "http://127.0.0.1:8787/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8787/"
        );
        assert_eq!(
            parse_base_url("base url", "http://h/prefix/")
                .unwrap()
                .path(),
            "/prefix"
        );
        for bad in [
            "app.aistudios.com",
            "ftp://h",
            "http://h/?x=1",
            "http://h/#f",
            "not a url",
        ] {
            assert!(parse_base_url("base url", bad).is_err(), "{bad}");
        }
        let e = parse_base_url("base url", "https://user:pa55word@h")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pa55word"), "{e}");
        assert!(e.contains("carries credentials"), "{e}");
    }
}
