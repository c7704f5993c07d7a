//! The store's address, kept so that its password never shows: [`StoreUrl`] prints (and
//! debug-prints) the URL with the password replaced by `***`, and [`StoreUrl::scrub`] takes
//! the password out of any text (a driver's error message) before it is shown.

use std::fmt;

/// A `postgres://user:password@host:port/db` URL. `Display` and `Debug` never show the
/// password.
#[derive(Clone)]
pub struct StoreUrl {
    raw: String,
    redacted: String,
    secrets: Vec<String>,
}

impl StoreUrl {
    /// Reads `text`: a `postgres://` or `postgresql://` URL. The error never holds the password.
    pub fn parse(text: &str) -> Result<StoreUrl, String> {
        let url = url::Url::parse(text).map_err(|e| {
            format!(
                "read the store URL {}: {e}; expected postgres://user:password@host:port/database",
                redact(text)
            )
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "read the store URL {}: the scheme is {:?}; batchgen keeps runs in PostgreSQL: postgres://user:password@host:port/database",
                redact(text),
                url.scheme()
            ));
        }
        let mut secrets = Vec::new();
        if let Some(p) = url.password().filter(|p| !p.is_empty()) {
            secrets.push(p.to_owned());
            if let Ok(decoded) = percent_decode(p)
                && decoded != p
            {
                secrets.push(decoded);
            }
        }
        Ok(StoreUrl {
            raw: text.to_owned(),
            redacted: redact(text),
            secrets,
        })
    }

    /// The URL with its password, for the driver only.
    pub(crate) fn expose(&self) -> &str {
        &self.raw
    }

    /// `text` with every occurrence of the password replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "***");
        }
        out
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({})", self.redacted)
    }
}

/// `text` with the password of any URL in it replaced by `***` (a word that is not a URL
/// with a password is returned as is). Used on command lines before they are recorded.
///
/// ```
/// assert_eq!(
///     batchgen_store::redact("postgres://bob:s3cret@db:5432/runs"),
///     "postgres://bob:***@db:5432/runs"
/// );
/// assert_eq!(batchgen_store::redact("--store=postgres://bob:s3cret@db/r"), "--store=postgres://bob:***@db/r");
/// assert_eq!(batchgen_store::redact("data.csv"), "data.csv");
/// ```
pub fn redact(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_owned();
    };
    let rest_start = scheme_end + 3;
    let rest = &text[rest_start..];
    // The authority ends at the first '/', '?' or '#'; the userinfo at its last '@'.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return text.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return text.to_owned();
    };
    format!(
        "{}{}:***{}",
        &text[..rest_start],
        &userinfo[..colon],
        &text[rest_start + at..]
    )
}

fn percent_decode(s: &str) -> Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let u = StoreUrl::parse("postgres://bob:p%40ss-w0rd@127.0.0.1:5432/runs").unwrap();
        assert_eq!(u.to_string(), "postgres://bob:***@127.0.0.1:5432/runs");
        assert!(!format!("{u:?}").contains("w0rd"));
        assert_eq!(
            u.scrub("auth failed for p%40ss-w0rd and p@ss-w0rd"),
            "auth failed for *** and ***"
        );
        let e = StoreUrl::parse("redis://bob:hunter2@h/0").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = StoreUrl::parse("postgres://bob:hunter2@h:notaport/0").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert_eq!(redact("postgres://bob@h/db"), "postgres://bob@h/db");
        assert_eq!(redact("postgres://h/db?x=a:b@c"), "postgres://h/db?x=a:b@c");
    }
}
