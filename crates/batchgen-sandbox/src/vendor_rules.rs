//! Rules the vendor may enforce and the client cannot know: a switch that makes the sandbox
//! refuse projects that batchgen's own validation accepts, so that the client's path for
//! "batchgen says valid, the vendor says 400" is testable end to end.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::error::ParseError;

/// One extra vendor-side rule for creates (`POST /api/odin/v3/editor/project`). A body that
/// breaks it is a 400 `INVALID_PARAMETER` naming the JSON Pointer, as the vendor's own
/// checks are.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum VendorRule {
    /// Any script or text (a string under a key `org` or `text`, anywhere in the body)
    /// longer than this many characters.
    TextLongerThan(usize),
    /// The value at `pointer` (RFC 6901) equal to `value`.
    Value {
        /// Where, e.g. `/scenes/0/clips/1/text`.
        pointer: String,
        /// The refused value.
        value: Value,
    },
}

impl VendorRule {
    /// Problems (pointer, message) this rule finds in `project`.
    pub(crate) fn check(&self, project: &Value, problems: &mut Vec<(String, String)>) {
        match self {
            VendorRule::TextLongerThan(max) => texts(project, String::new(), &mut |ptr, s| {
                let n = s.chars().count();
                if n > *max {
                    problems.push((
                        ptr.to_owned(),
                        format!(
                            "the text is {n} characters long; this account allows at most {max}"
                        ),
                    ));
                }
            }),
            VendorRule::Value { pointer, value } => {
                if project.pointer(pointer) == Some(value) {
                    problems.push((
                        pointer.clone(),
                        format!("the value {value} is not accepted here"),
                    ));
                }
            }
        }
    }
}

/// Calls `f` with the pointer and text of every string under a key `org` or `text`.
fn texts(v: &Value, ptr: String, f: &mut dyn FnMut(&str, &str)) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let p = format!("{ptr}/{}", k.replace('~', "~0").replace('/', "~1"));
                match child {
                    Value::String(s) if k == "org" || k == "text" => f(&p, s),
                    _ => texts(child, p, f),
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                texts(child, format!("{ptr}/{i}"), f);
            }
        }
        _ => {}
    }
}

impl fmt::Display for VendorRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VendorRule::TextLongerThan(n) => write!(f, "texts longer than {n} characters"),
            VendorRule::Value { pointer, value } => write!(f, "{pointer} = {value}"),
        }
    }
}

/// Parses `POINTER=JSON`, the form of `--refuse-value`: `/scenes/0/clips/1/text="Hi"` or
/// `/orientation="portrait"`; a value that is not JSON is taken as a string.
impl FromStr for VendorRule {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let (pointer, value) = s.split_once('=').ok_or_else(|| {
            ParseError::new(
                s,
                "expected POINTER=VALUE, like /scenes/0/clips/1/text=\"Hi\"",
            )
        })?;
        let pointer = pointer.trim();
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(ParseError::new(
                s,
                "the pointer must start with '/', like /scenes/0/clips/1/text",
            ));
        }
        let value = serde_json::from_str(value.trim())
            .unwrap_or_else(|_| Value::String(value.trim().to_owned()));
        Ok(VendorRule::Value {
            pointer: pointer.to_owned(),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(rule: &VendorRule, v: &Value) -> Vec<(String, String)> {
        let mut p = Vec::new();
        rule.check(v, &mut p);
        p
    }

    #[test]
    fn long_texts_are_found_wherever_they_are() {
        let body = json!({"scenes": [
            {"scripts": [{"org": "abcdef"}], "clips": [{"type": "textImage", "text": "abc"}]},
            {"clips": [{"script": {"org": "ab"}}, {"a/b": {"text": "abcdefgh"}}]}
        ]});
        let p = problems(&VendorRule::TextLongerThan(4), &body);
        let ptrs: Vec<&str> = p.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            ptrs,
            ["/scenes/0/scripts/0/org", "/scenes/1/clips/1/a~1b/text"]
        );
        assert!(p[0].1.contains("6 characters long") && p[0].1.contains("at most 4"));
        assert!(problems(&VendorRule::TextLongerThan(8), &body).is_empty());
    }

    #[test]
    fn values_are_refused_at_their_pointer() {
        let rule: VendorRule = "/scenes/0/clips/0/text=\"Hi\"".parse().unwrap();
        let body = json!({"scenes": [{"clips": [{"text": "Hi"}]}]});
        assert_eq!(problems(&rule, &body)[0].0, "/scenes/0/clips/0/text");
        assert!(problems(&rule, &json!({"scenes": []})).is_empty());
        let bare: VendorRule = "/orientation=portrait".parse().unwrap();
        assert_eq!(
            bare,
            VendorRule::Value {
                pointer: "/orientation".into(),
                value: json!("portrait")
            }
        );
        let number: VendorRule = "/scenes/0/clips/0/width=0".parse().unwrap();
        assert_eq!(number.to_string(), "/scenes/0/clips/0/width = 0");
        assert!("no-equals".parse::<VendorRule>().is_err());
        assert!("scenes=1".parse::<VendorRule>().is_err());
    }
}
