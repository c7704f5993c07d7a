//! URL fields: an absolute `http(s)` URL or a root-relative path (`/images/...`); `webhookUrl`
//! must be absolute, or `""` (the vendor's "no webhook").

use super::{Violation, ViolationKind};
use serde_json::Value;

/// What a URL field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRule {
    /// `http://host/...`, `https://host/...` or a root-relative `/path` (the vendor's own assets).
    AbsoluteOrRootRelative,
    /// `http://host/...` or `https://host/...` (a URL the vendor calls back), or `""`: the
    /// vendor's pages print `"webhookUrl": ""` for "no webhook", and the field is optional.
    Webhook,
}

impl UrlRule {
    /// The rule for an object member named `key`, `None` when the member is not a URL field.
    /// URL fields are those named `webhookUrl` (absolute or empty) and any `*_url`, `*Url` or `*_src`.
    pub fn for_key(key: &str) -> Option<UrlRule> {
        if key == "webhookUrl" {
            Some(UrlRule::Webhook)
        } else if key.ends_with("_url") || key.ends_with("Url") || key.ends_with("_src") {
            Some(UrlRule::AbsoluteOrRootRelative)
        } else {
            None
        }
    }
}

/// Checks one URL value; the error says what is wrong and what would fix it.
///
/// ```
/// use batchgen_core::validate::{check_url, UrlRule};
/// assert!(check_url("https://cdn.example.com/a.png", UrlRule::Webhook).is_ok());
/// assert!(check_url("", UrlRule::Webhook).is_ok());
/// assert!(check_url("/images/bg.png", UrlRule::AbsoluteOrRootRelative).is_ok());
/// assert!(check_url("images/bg.png", UrlRule::AbsoluteOrRootRelative).is_err());
/// ```
pub fn check_url(url: &str, rule: UrlRule) -> Result<(), String> {
    let wanted = match rule {
        UrlRule::Webhook => "an absolute URL (https://host/path), or \"\" for no webhook",
        UrlRule::AbsoluteOrRootRelative => {
            "an absolute URL (https://host/path) or a root-relative path (/images/...)"
        }
    };
    if url.is_empty() {
        if rule == UrlRule::Webhook {
            return Ok(());
        }
        return Err(format!("empty URL: give {wanted}"));
    }
    // ASCII's whitespace and control characters are the bytes up to the space, and DEL.
    let plain = url.bytes().all(|b| b > b' ' && b < 0x7f);
    if plain {
        // The common case, decided without searching: http(s)://host...
        let scheme_len = if starts_with_ignore_case(url, "https://") {
            8
        } else if starts_with_ignore_case(url, "http://") {
            7
        } else {
            0
        };
        if scheme_len > 0 {
            let rest = &url.as_bytes()[scheme_len..];
            let host = rest
                .iter()
                .position(|b| matches!(b, b'/' | b'?' | b'#'))
                .map_or(rest, |end| &rest[..end]);
            if !host.is_empty() && host[0] != b':' && host[0] != b'@' {
                return Ok(());
            }
        }
    }
    if !plain && url.trim() != url {
        return Err(format!("URL {url:?} has leading or trailing spaces"));
    }
    if !plain && url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "URL {url:?} contains spaces or control characters: percent-encode them (%20)"
        ));
    }
    if let Some(rest) = url.strip_prefix('/') {
        if rest.starts_with('/') {
            return Err(format!(
                "URL {url:?} is protocol-relative: write https:{url}"
            ));
        }
        return match rule {
            UrlRule::AbsoluteOrRootRelative => Ok(()),
            UrlRule::Webhook => Err(format!("URL {url:?} is relative: give {wanted}")),
        };
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "URL {url:?} is neither absolute nor root-relative: give {wanted}"
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("URL {url:?} has scheme {scheme:?}: give {wanted}"));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') || host.starts_with('@') {
        return Err(format!("URL {url:?} has no host: give {wanted}"));
    }
    Ok(())
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

pub(crate) fn check_urls(value: &Value, pointer: &mut String, out: &mut Vec<Violation>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let len = pointer.len();
                crate::pointer::push_token(pointer, key);
                if let (Some(rule), Value::String(s)) = (UrlRule::for_key(key), v) {
                    if let Err(message) = check_url(s, rule) {
                        out.push(
                            Violation::new(pointer.clone(), message).with_kind(ViolationKind::Url),
                        );
                    }
                } else {
                    check_urls(v, pointer, out);
                }
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                check_urls(v, pointer, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}
