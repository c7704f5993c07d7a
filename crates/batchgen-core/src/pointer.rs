//! RFC 6901 JSON Pointers: splitting, escaping, and the canonical spelling every module uses.

use serde_json::Value;

/// Appends `token` to `pointer` as one reference token, escaping `~` and `/`.
pub(crate) fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// The reference tokens of `pointer`, unescaped. `None` when it is not a pointer (must be empty or
/// start with `/`; `~` only as `~0` or `~1`).
pub(crate) fn tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/')
        .map(|t| {
            let mut out = String::with_capacity(t.len());
            let mut chars = t.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return None,
                    }
                } else {
                    out.push(c);
                }
            }
            Some(out)
        })
        .collect()
}

/// Where a pointer stops resolving in a document.
#[derive(Debug)]
pub(crate) struct Unresolved {
    /// The longest prefix that exists, canonical.
    pub parent: String,
    /// A sibling of the missing token that exists and is close to it, as a full pointer.
    pub suggestion: Option<String>,
}

/// Resolves `tokens` in `doc`, returning the canonical pointer of the location.
pub(crate) fn resolve(doc: &Value, tokens: &[String]) -> Result<String, Unresolved> {
    let mut at = doc;
    let mut canonical = String::new();
    for token in tokens {
        let next = match at {
            Value::Object(map) => map.get(token.as_str()),
            Value::Array(items) => canonical_index(token).and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(v) => {
                push_token(&mut canonical, token);
                at = v;
            }
            None => {
                let suggestion = match at {
                    Value::Object(map) => {
                        crate::row::closest(token, map.keys().map(String::as_str)).map(|k| {
                            let mut p = canonical.clone();
                            push_token(&mut p, k);
                            p
                        })
                    }
                    Value::Array(items) if !items.is_empty() => {
                        Some(format!("{canonical}/{}", items.len() - 1))
                    }
                    _ => None,
                };
                return Err(Unresolved {
                    parent: canonical,
                    suggestion,
                });
            }
        }
    }
    Ok(canonical)
}

/// An array index token in canonical form (`0`, `12`; not `01`, `-`, `+1`).
fn canonical_index(token: &str) -> Option<usize> {
    if token.is_empty()
        || (token.len() > 1 && token.starts_with('0'))
        || !token.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    token.parse().ok()
}

/// `true` when `ancestor` is `pointer` or one of its ancestors.
pub(crate) fn is_within(pointer: &str, ancestor: &str) -> bool {
    pointer == ancestor
        || (pointer.len() > ancestor.len()
            && pointer.starts_with(ancestor)
            && pointer.as_bytes()[ancestor.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_unescape() {
        assert_eq!(tokens("/a~1b/c~0d/0").unwrap(), ["a/b", "c~d", "0"]);
        assert_eq!(tokens("").unwrap(), Vec::<String>::new());
        assert!(tokens("a").is_none());
        assert!(tokens("/a~2").is_none());
    }

    #[test]
    fn resolve_is_canonical_and_suggests() {
        let doc = json!({"scenes": [{"clips": [{"source_url": "x"}]}], "a/b": 1});
        assert_eq!(
            resolve(&doc, &tokens("/scenes/0/clips/0/source_url").unwrap()).unwrap(),
            "/scenes/0/clips/0/source_url"
        );
        assert_eq!(resolve(&doc, &tokens("/a~1b").unwrap()).unwrap(), "/a~1b");
        let e = resolve(&doc, &tokens("/scenes/0/clips/0/sorce_url").unwrap()).unwrap_err();
        assert_eq!(
            e.suggestion.as_deref(),
            Some("/scenes/0/clips/0/source_url")
        );
        let e = resolve(&doc, &tokens("/scenes/3").unwrap()).unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("/scenes/0"));
        assert!(resolve(&doc, &tokens("/scenes/00").unwrap()).is_err());
    }

    #[test]
    fn within() {
        assert!(is_within("/a/b", "/a"));
        assert!(is_within("/a", "/a"));
        assert!(!is_within("/ab", "/a"));
        assert!(is_within("/a", ""));
    }
}
