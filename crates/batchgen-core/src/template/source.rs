//! Reading a template file: any JSON document, forgiving the trailing commas the vendor's own
//! examples carry, precise about everything else.

use crate::error::TemplateError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Something worth telling the user about a template that still loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line in the template file.
    pub line: usize,
    /// What was found and what batchgen did about it.
    pub message: String,
}

/// A template as read from its file: the parsed document, its name for messages, and warnings.
///
/// ```
/// use batchgen_core::TemplateSource;
/// let source = TemplateSource::parse("inline.json", r#"{"scenes": [1, 2,]}"#).unwrap();
/// assert_eq!(source.warnings()[0].line, 1);
/// assert_eq!(source.document()["scenes"][1], 2);
/// ```
#[derive(Debug, Clone)]
pub struct TemplateSource {
    origin: PathBuf,
    document: Value,
    warnings: Vec<Warning>,
}

impl TemplateSource {
    /// Reads and parses the template at `path`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses template text; `origin` names it in messages (a file path, or any label).
    ///
    /// A comma after the last element of an array or object (as in the vendor's own examples) is
    /// dropped with a [`Warning`] naming its line. Any other syntax error is a
    /// [`TemplateError::Syntax`] naming the line and column and quoting the line.
    pub fn parse(origin: impl AsRef<Path>, text: &str) -> Result<Self, TemplateError> {
        let origin = origin.as_ref().to_path_buf();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut warnings = Vec::new();
        let mut owned: Option<String> = None;
        loop {
            let current = owned.as_deref().unwrap_or(text);
            match serde_json::from_str::<Value>(current) {
                Ok(document) => {
                    if !document.is_object() {
                        return Err(TemplateError::NotAnObject { path: origin });
                    }
                    return Ok(TemplateSource {
                        origin,
                        document,
                        warnings,
                    });
                }
                Err(e) if e.to_string().starts_with("trailing comma") => {
                    let at = offset_of(current, e.line(), e.column());
                    let Some(comma) = current[..at].rfind(|c: char| !c.is_whitespace()) else {
                        return Err(syntax_error(&origin, current, &e));
                    };
                    if current.as_bytes()[comma] != b',' {
                        return Err(syntax_error(&origin, current, &e));
                    }
                    let line = current[..comma].matches('\n').count() + 1;
                    warnings.push(Warning {
                        line,
                        message: format!(
                            "{}:{line}: trailing comma after the last element ignored (JSON does not allow it; remove it to silence this warning)",
                            origin.display()
                        ),
                    });
                    let mut next = current.to_string();
                    next.replace_range(comma..=comma, " ");
                    owned = Some(next);
                }
                Err(e) => return Err(syntax_error(&origin, current, &e)),
            }
        }
    }

    /// Wraps an already-parsed document (it must be a JSON object).
    pub fn from_value(origin: impl AsRef<Path>, document: Value) -> Result<Self, TemplateError> {
        let origin = origin.as_ref().to_path_buf();
        if !document.is_object() {
            return Err(TemplateError::NotAnObject { path: origin });
        }
        Ok(TemplateSource {
            origin,
            document,
            warnings: Vec::new(),
        })
    }

    /// The parsed document.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Where the template came from, as given.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// What was forgiven while parsing, in file order.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The project name the template sets (`name`), if any.
    pub fn project_name(&self) -> Option<&str> {
        self.document.get("name").and_then(Value::as_str)
    }
}

/// Byte offset of a serde_json (line, column) position; column 0 means "before the line".
pub(crate) fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let mut col_bytes = 0;
            for (n, (b, _)) in l.char_indices().enumerate() {
                if n + 1 == column {
                    col_bytes = b;
                    break;
                }
                col_bytes = b + 1;
            }
            return (offset + col_bytes).min(text.len());
        }
        offset += l.len();
    }
    text.len()
}

fn syntax_error(origin: &Path, text: &str, e: &serde_json::Error) -> TemplateError {
    let line_no = e.line().max(1);
    let line_text = text
        .lines()
        .nth(line_no - 1)
        .unwrap_or_default()
        .to_string();
    let mut message = e.to_string();
    // serde_json appends " at line L column C": the error carries those separately.
    if let Some(cut) = message.find(" at line ") {
        message.truncate(cut);
    }
    let hint = hint_for(&line_text, e.column());
    TemplateError::Syntax {
        path: origin.to_path_buf(),
        line: line_no,
        column: e.column(),
        message,
        line_text,
        hint,
    }
}

/// A suggestion for well-known mistakes made when pasting the vendor's examples.
fn hint_for(line: &str, column: usize) -> Option<String> {
    let from = line
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(0, |(b, _)| b);
    let rest = &line[from.min(line.len())..];
    if rest.trim_start().starts_with("${") || line.contains("${") {
        return Some(
            "`${...}` is a JavaScript placeholder from the vendor's example: write a JSON string instead, e.g. \"{{webhook_url}}\" with a webhook_url column"
                .into(),
        );
    }
    if rest.trim_start().starts_with('\'') {
        return Some("JSON strings use double quotes".into());
    }
    if rest.trim_start().starts_with("//") || rest.trim_start().starts_with("/*") {
        return Some("JSON has no comments: remove them".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_commas_are_dropped_with_a_warning_per_comma() {
        let text = "{\n  \"a\": [\n    1,\n    2,\n  ],\n  \"b\": {\"c\": 1,},\n}";
        let source = TemplateSource::parse("t.json", text).unwrap();
        let lines: Vec<usize> = source.warnings().iter().map(|w| w.line).collect();
        assert_eq!(lines, vec![4, 6, 6]);
        assert_eq!(source.document()["a"], serde_json::json!([1, 2]));
        assert!(source.warnings()[0].message.contains("t.json:4"));
    }

    #[test]
    fn other_syntax_errors_name_line_column_and_quote_the_line() {
        let text = "{\n  \"a\": 1\n  \"b\": 2\n}";
        let err = TemplateSource::parse("t.json", text).unwrap_err();
        match err {
            TemplateError::Syntax {
                line,
                column,
                line_text,
                ..
            } => {
                assert_eq!(line, 3);
                assert_eq!(column, 3);
                assert_eq!(line_text, "  \"b\": 2");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn js_placeholder_gets_a_hint() {
        let err = TemplateSource::parse("t.json", "{\"webhookUrl\": ${webhook_delivery_address}}")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("parse template t.json:1:16:"), "{text}");
        assert!(text.contains("JavaScript placeholder"), "{text}");
    }

    #[test]
    fn a_document_that_is_not_an_object_is_refused() {
        assert!(matches!(
            TemplateSource::parse("t.json", "[1]"),
            Err(TemplateError::NotAnObject { .. })
        ));
    }

    #[test]
    fn bom_is_ignored() {
        let source = TemplateSource::parse("t.json", "\u{feff}{\"a\":1}").unwrap();
        assert_eq!(source.document()["a"], 1);
    }

    #[test]
    fn vendor_example_with_its_trailing_comma_loads() {
        let text = include_str!("../../tests/fixtures/vendor-export-project.raw.json").replace(
            "${webhook_delivery_address}",
            "\"https://example.com/hook\"",
        );
        let source = TemplateSource::parse("vendor.json", &text).unwrap();
        assert_eq!(source.warnings().len(), 1);
        assert_eq!(source.warnings()[0].line, 118);
    }
}
