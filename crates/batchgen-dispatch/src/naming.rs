//! The two rules a project body carries for the engine: its unique name (what lookups after a
//! lost create answer go by) and, with webhooks, the row's callback URL (what callbacks are
//! verified by).
//!
//! A project is named `"<its name or "batchgen"> [<row key>] #<run tag>"`, the run tag being
//! the first 6 hex characters of the run id in the journal header: no other project has that
//! name, and a project of another run with the same key is never adopted. With webhooks its
//! `webhookUrl` becomes the row's URL (replacing the template's).
//!
//! The run's flags that apply to every project are set the same way: `--resolution`
//! (`resolution`), `--workspace` (`workspaceId`) and `--draft` (`isExport: false`, a project
//! created and not rendered). [`Named::draft`] says whether the project sent is a draft, from the
//! flag or from the template's own `isExport: false`.
//!
//! With `--name TEMPLATE` ([`BodyEdits::name_as_given`]) the name is the body's own, as the CLI
//! rendered it from the row, with [`RUN_PLACEHOLDER`] (what `{{@run}}` renders to) replaced by
//! the run tag: the CLI has checked that no two rows share one, so lookups stay correct within
//! the run.
//!
//! All are top-level members, so the edit is top-level only: the body's members are found by
//! skipping each value with serde_json (strings, escapes and nesting are its business) and
//! copied as they are; the scenes are never deserialised.

use std::ops::Range;

use serde::de::DeserializeOwned;
use serde::de::IgnoredAny;

/// What `{{@run}}` in a `--name` template renders to before the engine knows the run tag; the
/// engine replaces it with the tag.
pub const RUN_PLACEHOLDER: &str = "\u{1}batchgen-run\u{1}";

/// A body that is not one JSON object; the message reads after "failed to".
#[derive(Debug, thiserror::Error)]
#[error("read the rendered project as a JSON object: {what} at byte {at}")]
pub struct BodyError {
    what: &'static str,
    at: usize,
}

/// The project's unique name and its body with that name (and `webhook_url`, when given) set.
pub fn name_project(
    body: &[u8],
    key: &str,
    tag: &str,
    webhook_url: Option<&str>,
) -> Result<(String, Vec<u8>), BodyError> {
    let edits = BodyEdits {
        webhook_url,
        ..BodyEdits::default()
    };
    edit_project(body, key, tag, &edits).map(|n| (n.name, n.body))
}

/// What the run sets in every project besides its name.
#[derive(Clone, Copy, Debug, Default)]
pub struct BodyEdits<'a> {
    /// The row's callback URL (`webhookUrl`), with webhooks.
    pub webhook_url: Option<&'a str>,
    /// `resolution` (`--resolution`: `4k`, `1080`, `720` or `480`).
    pub resolution: Option<&'a str>,
    /// `workspaceId` (`--workspace`).
    pub workspace_id: Option<&'a str>,
    /// Set `isExport: false` (`--draft`): create the project without rendering it.
    pub draft: bool,
    /// The body's `name` is the project's name as it is (`--name`), [`RUN_PLACEHOLDER`]
    /// replaced by the run tag; blank, the default name is made.
    pub name_as_given: bool,
}

/// A project body made ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The project's unique name.
    pub name: String,
    /// The body, with the name and the edits set.
    pub body: Vec<u8>,
    /// The project is created and not rendered (`isExport` is `false` in the body sent).
    pub draft: bool,
}

/// The project's unique name and its body with that name and `edits` set (see the module doc).
pub fn edit_project(
    body: &[u8],
    key: &str,
    tag: &str,
    edits: &BodyEdits<'_>,
) -> Result<Named, BodyError> {
    let members = members(body)?;
    let raw = |r: &Range<usize>| &body[r.clone()];
    let base = members
        .iter()
        .find(|m| m.key == "name")
        .and_then(|m| serde_json::from_slice::<String>(raw(&m.value)).ok());
    let own = base.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let name = match own {
        Some(n) if edits.name_as_given => n.replace(RUN_PLACEHOLDER, tag),
        _ => format!(
            "{} [{key}] #{tag}",
            own.unwrap_or("batchgen").replace(RUN_PLACEHOLDER, tag)
        ),
    };
    let quoted = |s: &str| serde_json::to_vec(s).expect("a string always serialises");

    let template_draft = members
        .iter()
        .rev()
        .find(|m| m.key == "isExport")
        .is_some_and(|m| raw(&m.value) == b"false");
    let mut replaced: [(&str, Option<Vec<u8>>, bool); 5] = [
        ("name", Some(quoted(&name)), false),
        ("webhookUrl", edits.webhook_url.map(quoted), false),
        ("resolution", edits.resolution.map(quoted), false),
        ("workspaceId", edits.workspace_id.map(quoted), false),
        ("isExport", edits.draft.then(|| b"false".to_vec()), false),
    ];
    let mut out = Vec::with_capacity(body.len() + name.len() + 64);
    out.push(b'{');
    let mut first = true;
    let mut member = |out: &mut Vec<u8>, key: &[u8], value: &[u8]| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(key);
        out.push(b':');
        out.extend_from_slice(value);
    };
    for m in &members {
        match replaced
            .iter_mut()
            .find(|(k, new, _)| *k == m.key && new.is_some())
        {
            // A repeated member of the ones set is dropped, as a JSON map would.
            Some((_, _, true)) => {}
            Some((_, new, done)) => {
                *done = true;
                member(
                    &mut out,
                    raw(&m.raw_key),
                    new.as_deref().unwrap_or_default(),
                );
            }
            None => member(&mut out, raw(&m.raw_key), raw(&m.value)),
        }
    }
    for (k, new, done) in &replaced {
        if let (Some(new), false) = (new, done) {
            member(&mut out, &quoted(k), new);
        }
    }
    out.push(b'}');
    Ok(Named {
        name,
        body: out,
        draft: edits.draft || template_draft,
    })
}

/// One top-level member: its key (decoded), and where its key and value are in the body.
struct Member {
    key: String,
    raw_key: Range<usize>,
    value: Range<usize>,
}

/// The top-level members of the JSON object `body`, in order.
fn members(body: &[u8]) -> Result<Vec<Member>, BodyError> {
    let mut at = skip_space(body, 0);
    expect(body, at, b'{', "expected `{`")?;
    at = skip_space(body, at + 1);
    let mut out = Vec::new();
    if body.get(at) == Some(&b'}') {
        return end(body, at, out);
    }
    loop {
        if body.get(at) != Some(&b'"') {
            return Err(BodyError {
                what: "expected a member name",
                at,
            });
        }
        let (key, raw_key) = value::<String>(body, at, "a member name is not a string")?;
        at = skip_space(body, raw_key.end);
        expect(body, at, b':', "expected `:`")?;
        at = skip_space(body, at + 1);
        let (IgnoredAny, value) = value::<IgnoredAny>(body, at, "a member's value is not JSON")?;
        at = skip_space(body, value.end);
        out.push(Member {
            key,
            raw_key,
            value,
        });
        match body.get(at) {
            Some(b',') => at = skip_space(body, at + 1),
            Some(b'}') => return end(body, at, out),
            _ => {
                return Err(BodyError {
                    what: "expected `,` or `}`",
                    at,
                });
            }
        }
    }
}

/// The object closed at `at`: only space may follow.
fn end(body: &[u8], at: usize, members: Vec<Member>) -> Result<Vec<Member>, BodyError> {
    let after = skip_space(body, at + 1);
    if after != body.len() {
        return Err(BodyError {
            what: "trailing characters",
            at: after,
        });
    }
    Ok(members)
}

/// One JSON value starting at `at`, read by serde_json, and the bytes it spans.
fn value<T: DeserializeOwned>(
    body: &[u8],
    at: usize,
    what: &'static str,
) -> Result<(T, Range<usize>), BodyError> {
    let mut stream = serde_json::Deserializer::from_slice(&body[at..]).into_iter::<T>();
    match stream.next() {
        Some(Ok(v)) => Ok((v, at..at + stream.byte_offset())),
        _ => Err(BodyError { what, at }),
    }
}

fn expect(body: &[u8], at: usize, byte: u8, what: &'static str) -> Result<(), BodyError> {
    if body.get(at) == Some(&byte) {
        Ok(())
    } else {
        Err(BodyError { what, at })
    }
}

fn skip_space(body: &[u8], mut at: usize) -> usize {
    while matches!(body.get(at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(body: &str, url: Option<&str>) -> (String, String) {
        let (name, body) = name_project(body.as_bytes(), "C1", "abc123", url).unwrap();
        (name, String::from_utf8(body).unwrap())
    }

    #[test]
    fn run_flags_set_resolution_workspace_and_draft() {
        let edits = BodyEdits {
            webhook_url: None,
            resolution: Some("4k"),
            workspace_id: Some("w1"),
            draft: true,
            name_as_given: false,
        };
        let n = edit_project(
            br#"{"resolution":"1080","scenes":[],"isExport":true}"#,
            "k",
            "t",
            &edits,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(n.body).unwrap(),
            r#"{"resolution":"4k","scenes":[],"isExport":false,"name":"batchgen [k] #t","workspaceId":"w1"}"#
        );
        assert!(n.draft);
        // A template's own isExport: false is a draft too; without flags nothing else changes.
        let n = edit_project(
            br#"{"isExport" : false,"scenes":[]}"#,
            "k",
            "t",
            &BodyEdits::default(),
        )
        .unwrap();
        assert!(n.draft);
        assert_eq!(
            String::from_utf8(n.body).unwrap(),
            r#"{"isExport":false,"scenes":[],"name":"batchgen [k] #t"}"#
        );
        let n = edit_project(br#"{"scenes":[]}"#, "k", "t", &BodyEdits::default()).unwrap();
        assert!(!n.draft);
    }

    #[test]
    fn names_as_given_get_the_run_tag_for_the_placeholder() {
        let edits = BodyEdits {
            name_as_given: true,
            ..BodyEdits::default()
        };
        let body =
            serde_json::json!({"name": format!("Spring {RUN_PLACEHOLDER} Ann"), "scenes": []})
                .to_string();
        let n = edit_project(body.as_bytes(), "C1", "abc123", &edits).unwrap();
        assert_eq!(n.name, "Spring abc123 Ann");
        assert_eq!(
            String::from_utf8(n.body).unwrap(),
            r#"{"name":"Spring abc123 Ann","scenes":[]}"#
        );
        let n = edit_project(br#"{"name":"Ann"}"#, "C1", "t", &edits).unwrap();
        assert_eq!(n.name, "Ann", "no key, no tag: as given");
        // Blank: the default name.
        let n = edit_project(br#"{"name":" "}"#, "C1", "t", &edits).unwrap();
        assert_eq!(n.name, "batchgen [C1] #t");
    }

    #[test]
    fn names_carry_key_and_run_tag() {
        assert_eq!(
            named(r#"{"name":"Promo","scenes":[]}"#, None),
            (
                "Promo [C1] #abc123".into(),
                r#"{"name":"Promo [C1] #abc123","scenes":[]}"#.into()
            )
        );
        let (name, body) = named(r#"{"scenes":[]}"#, None);
        assert_eq!(name, "batchgen [C1] #abc123");
        assert_eq!(body, r#"{"scenes":[],"name":"batchgen [C1] #abc123"}"#);
        // Blank or not a string: the default base.
        assert_eq!(named(r#"{"name":"  "}"#, None).0, "batchgen [C1] #abc123");
        assert_eq!(named(r#"{"name":7}"#, None).0, "batchgen [C1] #abc123");
        // Escapes in the name are decoded, and the new name is escaped.
        let (name, body) = named(r#"{"name":"A \"B\" \u00e9"}"#, None);
        assert_eq!(name, "A \"B\" é [C1] #abc123");
        assert_eq!(body, r#"{"name":"A \"B\" é [C1] #abc123"}"#);
    }

    #[test]
    fn webhooks_replace_the_templates_webhook_url() {
        let url = "http://127.0.0.1:9/batchgen/v1/abc123/1?token=t";
        assert_eq!(
            named(
                r#"{"name":"P","webhookUrl":"https://old.example.com/h","scenes":[]}"#,
                Some(url)
            )
            .1,
            format!(r#"{{"name":"P [C1] #abc123","webhookUrl":"{url}","scenes":[]}}"#)
        );
        assert_eq!(
            named(r#"{"name":"P"}"#, Some(url)).1,
            format!(r#"{{"name":"P [C1] #abc123","webhookUrl":"{url}"}}"#)
        );
        // Without webhooks the template's URL stays.
        assert_eq!(
            named(r#"{"webhookUrl":"https://x.example"}"#, None).1,
            r#"{"webhookUrl":"https://x.example","name":"batchgen [C1] #abc123"}"#
        );
    }

    #[test]
    fn nested_values_are_copied_as_they_are() {
        let body = r#" { "scenes" : [ {"name":"inner","s":"},{\"name\":1"} ], "n": -1.50e3 , "name":"P" } "#;
        let (_, out) = named(body, None);
        assert_eq!(
            out,
            r#"{"scenes":[ {"name":"inner","s":"},{\"name\":1"} ],"n":-1.50e3,"name":"P [C1] #abc123"}"#
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap()["scenes"][0]["name"],
            "inner"
        );
    }

    #[test]
    fn repeated_members_of_the_ones_set_are_dropped() {
        assert_eq!(
            named(r#"{"name":"A","x":1,"name":"B"}"#, None).1,
            r#"{"name":"A [C1] #abc123","x":1}"#
        );
    }

    #[test]
    fn what_is_not_one_object_is_refused() {
        for bad in [
            "[1]",
            "",
            "{",
            r#"{"a":1"#,
            r#"{"a" 1}"#,
            r#"{"a":}"#,
            r#"{a:1}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
        ] {
            assert!(
                name_project(bad.as_bytes(), "k", "t", None).is_err(),
                "{bad}"
            );
        }
        let e = name_project(b"[1]", "k", "t", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "read the rendered project as a JSON object: expected `{` at byte 0"
        );
    }
}
