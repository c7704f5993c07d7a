//! Bindings: CSV columns whose header names a place in the template.
//!
//! - `/scenes/0/clips/1/source_url`: an RFC 6901 JSON Pointer;
//! - `@image-1hgur0eiu11/source_url`: that field in every clip whose `id` is `image-1hgur0eiu11`;
//! - a suffix `:number`, `:int`, `:bool` or `:json` types the cell (default: string).
//!
//! An empty cell leaves the template's value alone. Cell values are data, never placeholders.

use crate::error::CompileError;
use crate::pointer;
use crate::row::Header;
use crate::value_type::ValueType;
use serde_json::Value;

/// One location a column sets.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    /// The header as written (for messages).
    pub column: String,
    /// The column's position.
    pub index: usize,
    /// Canonical pointer of the location in the template.
    pub pointer: String,
    /// The type the cell is turned into; `None` = a JSON string.
    pub ty: Option<ValueType>,
}

/// `true` when a header is a binding (starts with `/` or `@`).
pub(crate) fn is_binding(name: &str) -> bool {
    name.starts_with('/') || name.starts_with('@')
}

/// Resolves every binding column of `header` against `document`. A column whose location the
/// template lacks is pushed to `missing` (so that one report names every one) and skipped.
pub(crate) fn resolve_all(
    header: &Header,
    document: &Value,
    missing: &mut Vec<CompileError>,
) -> Result<Vec<Binding>, CompileError> {
    let mut out: Vec<Binding> = Vec::new();
    for (index, column) in header.names().iter().enumerate() {
        if !is_binding(column) {
            continue;
        }
        let (path, ty) = split_type(column);
        let resolved = if let Some(selector) = path.strip_prefix('@') {
            resolve_clip(column, selector, document)
        } else {
            resolve_pointer(column, path, document).map(|p| vec![p])
        };
        let pointers = match resolved {
            Ok(p) => p,
            Err(e @ (CompileError::BindingTarget { .. } | CompileError::UnknownClip { .. })) => {
                missing.push(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        for pointer in pointers {
            if let Some(other) = out.iter().find(|b| b.pointer == pointer) {
                return Err(CompileError::BindingConflict {
                    first: other.column.clone(),
                    second: column.clone(),
                    pointer,
                });
            }
            out.push(Binding {
                column: column.clone(),
                index,
                pointer,
                ty,
            });
        }
    }
    Ok(out)
}

/// Splits a `:type` suffix off a header.
fn split_type(column: &str) -> (&str, Option<ValueType>) {
    if let Some((path, suffix)) = column.rsplit_once(':') {
        if let Some(t) = ValueType::from_name(suffix) {
            return (path, Some(t));
        }
    }
    (column, None)
}

fn resolve_pointer(column: &str, path: &str, document: &Value) -> Result<String, CompileError> {
    let tokens = pointer::tokens(path).ok_or_else(|| CompileError::BadBinding {
        column: column.to_string(),
        message: "not a JSON Pointer: write /scenes/0/clips/1/source_url, with ~1 for a slash and ~0 for a tilde inside a name".into(),
    })?;
    if tokens.is_empty() {
        return Err(CompileError::BadBinding {
            column: column.to_string(),
            message: "binds the whole project: name a field inside it".into(),
        });
    }
    pointer::resolve(document, &tokens).map_err(|u| CompileError::BindingTarget {
        column: column.to_string(),
        pointer: path.to_string(),
        suggestion: u.suggestion.or(Some(u.parent).filter(|p| !p.is_empty())),
    })
}

fn resolve_clip(
    column: &str,
    selector: &str,
    document: &Value,
) -> Result<Vec<String>, CompileError> {
    let (id, rest) = match selector.find('/') {
        Some(i) => (&selector[..i], &selector[i..]),
        None => (selector, ""),
    };
    if id.is_empty() {
        return Err(CompileError::BadBinding {
            column: column.to_string(),
            message:
                "no clip id after @: write @<clip id>/<field>, e.g. @image-1hgur0eiu11/source_url"
                    .into(),
        });
    }
    let rest_tokens = pointer::tokens(rest).ok_or_else(|| CompileError::BadBinding {
        column: column.to_string(),
        message: format!("{rest:?} is not a JSON Pointer inside the clip"),
    })?;
    let mut found = Vec::new();
    let mut all_ids = Vec::new();
    for (i, j, clip) in crate::project::clips(document) {
        let Some(clip_id) = clip.get("id").and_then(Value::as_str) else {
            continue;
        };
        all_ids.push(clip_id);
        if clip_id != id {
            continue;
        }
        let mut tokens = vec![
            "scenes".to_string(),
            i.to_string(),
            "clips".to_string(),
            j.to_string(),
        ];
        tokens.extend(rest_tokens.iter().cloned());
        let p = pointer::resolve(document, &tokens).map_err(|u| CompileError::BindingTarget {
            column: column.to_string(),
            pointer: format!("/scenes/{i}/clips/{j}{rest}"),
            suggestion: u.suggestion,
        })?;
        found.push(p);
    }
    if found.is_empty() {
        return Err(CompileError::UnknownClip {
            column: column.to_string(),
            clip_id: id.to_string(),
            suggestion: crate::row::closest(id, all_ids.into_iter()).map(str::to_string),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header(names: &[&str]) -> Header {
        Header::new(names.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    /// The bindings, or the first error (malformed, or missing).
    fn resolve(header: &Header, document: &Value) -> Result<Vec<Binding>, CompileError> {
        let mut missing = Vec::new();
        let b = resolve_all(header, document, &mut missing)?;
        match missing.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(b),
        }
    }

    fn doc() -> Value {
        json!({"scenes": [
            {"clips": [{"id": "img-1", "source_url": "a", "scaleX": 1}, {"id": "m", "script": {"org": ""}}]},
            {"clips": [{"id": "img-1", "source_url": "b", "scaleX": 1}]}
        ]})
    }

    #[test]
    fn pointers_and_clip_selectors() {
        let h = header(&[
            "name",
            "/scenes/0/clips/1/script/org",
            "@img-1/scaleX:number",
            "@m:json",
        ]);
        let b = resolve(&h, &doc()).unwrap();
        let got: Vec<(&str, &str, Option<ValueType>)> = b
            .iter()
            .map(|b| (b.column.as_str(), b.pointer.as_str(), b.ty))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "/scenes/0/clips/1/script/org",
                    "/scenes/0/clips/1/script/org",
                    None
                ),
                (
                    "@img-1/scaleX:number",
                    "/scenes/0/clips/0/scaleX",
                    Some(ValueType::Number)
                ),
                (
                    "@img-1/scaleX:number",
                    "/scenes/1/clips/0/scaleX",
                    Some(ValueType::Number)
                ),
                ("@m:json", "/scenes/0/clips/1", Some(ValueType::Json)),
            ]
        );
    }

    #[test]
    fn missing_targets_are_named_with_a_suggestion() {
        let e = resolve(&header(&["/scenes/0/clips/0/sorce_url"]), &doc()).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("/scenes/0/clips/0/source_url"), "{text}");
        let e = resolve(&header(&["@img-2/scaleX"]), &doc()).unwrap_err();
        assert!(e.to_string().contains("closest clip id: \"img-1\""), "{e}");
        let e = resolve(&header(&["@img-1/scaleZ"]), &doc()).unwrap_err();
        assert!(e.to_string().contains("scaleX"), "{e}");
        assert!(resolve(&header(&["/a~2"]), &doc()).is_err());
    }

    #[test]
    fn two_columns_on_one_place_conflict() {
        let e = resolve(
            &header(&["/scenes/0/clips/0/scaleX", "@img-1/scaleX"]),
            &doc(),
        )
        .unwrap_err();
        assert!(matches!(e, CompileError::BindingConflict { .. }), "{e}");
    }

    #[test]
    fn every_missing_target_is_reported() {
        let mut missing = Vec::new();
        let h = header(&[
            "/scenes/0/clips/0/sorce_url",
            "@img-2/scaleX",
            "@img-1/scaleX",
        ]);
        let b = resolve_all(&h, &doc(), &mut missing).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(missing.len(), 2);
    }
}
