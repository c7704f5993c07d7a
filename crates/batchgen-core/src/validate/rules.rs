//! Semantic rules the schema cannot express.
//!
//! - clip ids are unique within a scene;
//! - every live (`isDelete` not `true`) `aiModel` clip has a script to say;
//! - URL fields hold an absolute `http(s)` URL or a root-relative path (`/images/...`); `webhookUrl`
//!   must be absolute.

use super::Violation;
use serde_json::Value;
use std::collections::HashMap;

/// What a URL field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRule {
    /// `http://host/...`, `https://host/...` or a root-relative `/path` (the vendor's own assets).
    AbsoluteOrRootRelative,
    /// Only `http://host/...` or `https://host/...` (a URL the vendor calls back).
    Absolute,
}

impl UrlRule {
    /// The rule for an object member named `key`, `None` when the member is not a URL field.
    /// URL fields are those named `webhookUrl` (absolute only) and any `*_url`, `*Url` or `*_src`.
    pub fn for_key(key: &str) -> Option<UrlRule> {
        if key == "webhookUrl" {
            Some(UrlRule::Absolute)
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
/// assert!(check_url("https://cdn.example.com/a.png", UrlRule::Absolute).is_ok());
/// assert!(check_url("/images/bg.png", UrlRule::AbsoluteOrRootRelative).is_ok());
/// assert!(check_url("images/bg.png", UrlRule::AbsoluteOrRootRelative).is_err());
/// ```
pub fn check_url(url: &str, rule: UrlRule) -> Result<(), String> {
    let wanted = match rule {
        UrlRule::Absolute => "an absolute URL (https://host/path)",
        UrlRule::AbsoluteOrRootRelative => {
            "an absolute URL (https://host/path) or a root-relative path (/images/...)"
        }
    };
    if url.is_empty() {
        return Err(format!("empty URL: give {wanted}"));
    }
    if url.trim() != url {
        return Err(format!("URL {url:?} has leading or trailing spaces"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
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
            UrlRule::Absolute => Err(format!("URL {url:?} is relative: give {wanted}")),
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

/// `true` when a script text says nothing: empty once HTML tags, `&nbsp;` and whitespace are taken out.
///
/// ```
/// use batchgen_core::validate::script_text_is_empty;
/// assert!(script_text_is_empty("<p> &nbsp;</p>"));
/// assert!(!script_text_is_empty("<p>Hello</p>"));
/// ```
pub fn script_text_is_empty(text: &str) -> bool {
    let mut in_tag = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_tag {
            if c == '>' {
                in_tag = false;
            }
        } else if c == '<' {
            in_tag = true;
        } else if rest.starts_with("&nbsp;") {
            rest = &rest["&nbsp;".len()..];
            continue;
        } else if !c.is_whitespace() {
            return false;
        }
        rest = &rest[c.len_utf8()..];
    }
    true
}

/// Runs every semantic rule over a whole project, appending violations in document order.
pub(crate) fn check_project(project: &Value, out: &mut Vec<Violation>) {
    // Clip ids are unique per scene: (scene, id) -> the clip that had it first.
    let mut first_at: HashMap<(usize, &str), usize> = HashMap::new();
    for (i, j, clip) in crate::project::clips(project) {
        let base = format!("/scenes/{i}/clips/{j}");
        if let Some(id) = clip.get("id").and_then(Value::as_str) {
            if let Some(k) = first_at.get(&(i, id)) {
                out.push(Violation::new(
                    format!("{base}/id"),
                    format!(
                        "clip id {id:?} is used twice in scene {i} (first by /scenes/{i}/clips/{k}): give every clip of a scene its own id"
                    ),
                ));
            } else {
                first_at.insert((i, id), j);
            }
        }
        check_clip_script(clip, &base, out);
    }
    check_urls(project, &mut String::new(), out);
}

/// The script rule for one clip at `base`.
pub(crate) fn check_clip_script(clip: &Value, base: &str, out: &mut Vec<Violation>) {
    if clip.get("type").and_then(Value::as_str) != Some("aiModel") {
        return;
    }
    if clip.get("isDelete").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let script = clip
        .get("script")
        .and_then(|s| s.get("org"))
        .and_then(Value::as_str);
    let says_something = |s: Option<&str>| s.is_some_and(|t| !script_text_is_empty(t));
    if says_something(script) {
        return;
    }
    if let Some(scripts) = clip.get("scripts").and_then(Value::as_array) {
        if scripts
            .iter()
            .any(|s| says_something(s.get("org").and_then(Value::as_str)))
        {
            return;
        }
    }
    let pointer = if clip.get("script").is_some_and(Value::is_object) {
        format!("{base}/script/org")
    } else {
        base.to_string()
    };
    out.push(Violation::new(
        pointer,
        "an AI model clip needs a script: script.org is empty; give it text, or mark the clip \"isDelete\": true",
    ));
}

fn check_urls(value: &Value, pointer: &mut String, out: &mut Vec<Violation>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let len = pointer.len();
                crate::pointer::push_token(pointer, key);
                if let (Some(rule), Value::String(s)) = (UrlRule::for_key(key), v) {
                    if let Err(message) = check_url(s, rule) {
                        out.push(Violation::new(pointer.clone(), message));
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
