//! Tolerant readers for answer fields: "be liberal in what you accept".
//!
//! The vendor's answers are documented by example only, so ids may come as numbers, numbers
//! as strings, and a field may have a camelCase and a snake_case spelling.

use serde_json::{Map, Value};

/// The first of `names` present in `obj` with a non-null value.
pub(crate) fn field<'a>(obj: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names
        .iter()
        .filter_map(|n| obj.get(*n))
        .find(|v| !v.is_null())
}

/// A non-empty string, or an integer rendered as a string.
pub(crate) fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    }
}

/// A string; numbers and booleans rendered as strings too.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A finite number, or a string holding one (`"42.5"`).
pub(crate) fn number(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse::<f64>().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

/// A non-negative integer, or a string holding one.
pub(crate) fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean, or `"true"`/`"false"`, or 1/0.
pub(crate) fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::Number(n) if n.as_u64() == Some(1) => Some(true),
        Value::Number(n) if n.as_u64() == Some(0) => Some(false),
        _ => None,
    }
}

/// A non-empty string (URLs: an empty string means "not yet").
pub(crate) fn non_empty(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A short JSON type name for decode messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readers() {
        assert_eq!(id_string(&json!("abc")), Some("abc".into()));
        assert_eq!(id_string(&json!(42)), Some("42".into()));
        assert_eq!(id_string(&json!("")), None);
        assert_eq!(id_string(&json!(1.5)), None);
        assert_eq!(number(&json!(42.5)), Some(42.5));
        assert_eq!(number(&json!("42.5")), Some(42.5));
        assert_eq!(number(&json!(" 100 ")), Some(100.0));
        assert_eq!(number(&json!("55%")), Some(55.0));
        assert_eq!(number(&json!("NaN")), None);
        assert_eq!(number(&json!("abc")), None);
        assert_eq!(number(&json!(null)), None);
        assert_eq!(boolean(&json!("TRUE")), Some(true));
        assert_eq!(boolean(&json!(0)), Some(false));
        assert_eq!(count(&json!("12")), Some(12));
        let obj = json!({"a": null, "b": 1}).as_object().unwrap().clone();
        assert_eq!(field(&obj, &["a", "b"]), Some(&json!(1)));
        assert_eq!(field(&obj, &["c"]), None);
    }
}
