//! Typed errors of the core. Two tiers: errors that make the whole input unusable (a template that
//! does not parse, a placeholder naming a column the CSV lacks, a CSV that cannot be read), and
//! [`RowError`]s that make one row invalid while the others go on.
//!
//! The first tier's messages read after "failed to" (`failed to read template t.json`), and an
//! underlying error is a `source`, never repeated in the message.

use crate::validate::Violation;
use std::fmt;
use std::path::PathBuf;

/// The template file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read.
    #[error("read template {}", path.display())]
    Read {
        /// The template path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error(
        "parse template {}:{line}:{column}: {message}\n  {line} | {line_text}\n{}{}",
        path.display(),
        caret(*line, *column),
        hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default()
    )]
    Syntax {
        /// The template path.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
        /// The offending line, quoted in the message.
        line_text: String,
        /// A suggestion for a known mistake.
        hint: Option<String>,
    },
    /// The document parsed but is not a JSON object.
    #[error("use template {}: a template must be a JSON object (an AI Studios project with \"scenes\")", path.display())]
    NotAnObject {
        /// The template path.
        path: PathBuf,
    },
}

fn caret(line: usize, column: usize) -> String {
    let gutter = line.to_string().len() + 5;
    format!("{}^", " ".repeat(gutter + column.saturating_sub(1)))
}

/// The template does not fit the CSV: found before any row is rendered.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A placeholder string is not a valid Handlebars template.
    #[error(
        "compile the placeholder at template {pointer}: {text:?} is not a valid Handlebars template: {message}"
    )]
    BadPlaceholder {
        /// Where the string is in the template.
        pointer: String,
        /// The string.
        text: String,
        /// The Handlebars parser's complaint.
        message: String,
    },
    /// A placeholder names a column the CSV does not have.
    #[error(
        "fill the placeholder at template {pointer}: {placeholder:?} names column {name:?}, which the CSV does not have ({})",
        hint.as_deref().unwrap_or("add the column to the CSV or fix the name")
    )]
    UnknownColumn {
        /// Where the placeholder is (template pointer, or the patch file and pointer).
        pointer: String,
        /// The string holding the placeholder, as written.
        placeholder: String,
        /// The column name it asks for.
        name: String,
        /// What would fix it: the closest existing column, or how to write the name.
        hint: Option<String>,
    },
    /// A binding header is malformed.
    #[error("read CSV column {column:?} as a binding: {message}")]
    BadBinding {
        /// The header.
        column: String,
        /// What is wrong with it.
        message: String,
    },
    /// A binding's JSON Pointer does not exist in the template.
    #[error(
        "bind CSV column {column:?}: it binds {pointer}, which the template does not have{}",
        suggestion.as_ref().map(|s| format!(" (closest existing path: {s})")).unwrap_or_default()
    )]
    BindingTarget {
        /// The header.
        column: String,
        /// The pointer that does not resolve.
        pointer: String,
        /// The closest pointer that exists.
        suggestion: Option<String>,
    },
    /// A clip-id binding names a clip id no clip has.
    #[error(
        "bind CSV column {column:?}: it names clip id {clip_id:?}, which no clip in the template has{}",
        suggestion.as_ref().map(|s| format!(" (closest clip id: {s:?})")).unwrap_or_default()
    )]
    UnknownClip {
        /// The header.
        column: String,
        /// The clip id asked for.
        clip_id: String,
        /// The closest clip id.
        suggestion: Option<String>,
    },
    /// Two binding columns set the same location.
    #[error("bind {pointer}: CSV columns {first:?} and {second:?} both set it; keep one of them")]
    BindingConflict {
        /// The first header.
        first: String,
        /// The second header.
        second: String,
        /// The location both set.
        pointer: String,
    },
    /// The patch file cannot be used.
    #[error("use patch {}: {message}", path.display())]
    Patch {
        /// The patch file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The template's fixed parts (those no placeholder, binding or patch touches) break the
    /// project schema or rules, so every row would be invalid.
    #[error(
        "use the template: the template is invalid whatever the CSV holds:{}",
        list(violations)
    )]
    InvalidTemplate {
        /// The violations, with template pointers.
        violations: Vec<Violation>,
    },
    /// Several placeholders, bindings or the key name what the CSV or the template lacks: each
    /// one, with what is closest ([`UnknownColumn`](Self::UnknownColumn),
    /// [`BindingTarget`](Self::BindingTarget), [`UnknownClip`](Self::UnknownClip),
    /// [`KeyColumn`](Self::KeyColumn)).
    #[error("find what the template names: {} names are missing:{}", missing.len(), list_errors(missing))]
    Missing {
        /// Each missing name, in the order found (key, bindings, template, patch).
        missing: Vec<CompileError>,
    },
    /// The key column is not in the CSV.
    #[error(
        "key rows by --key {name:?}: the CSV has no such column{}",
        suggestion.as_ref().map(|s| format!(" (closest column: {s:?})")).unwrap_or_default()
    )]
    KeyColumn {
        /// The column asked for.
        name: String,
        /// The closest existing column.
        suggestion: Option<String>,
    },
}

impl CompileError {
    /// One error for names found missing: the error itself when there is one, else
    /// [`CompileError::Missing`] listing them all.
    pub fn missing(mut all: Vec<CompileError>) -> CompileError {
        if all.len() == 1 {
            all.remove(0)
        } else {
            CompileError::Missing { missing: all }
        }
    }
}

fn list_errors(errors: &[CompileError]) -> String {
    errors.iter().map(|e| format!("\n  {e}")).collect()
}

fn list(violations: &[Violation]) -> String {
    violations.iter().map(|v| format!("\n  {v}")).collect()
}

/// The CSV cannot be used as a whole.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("read {}", path.display())]
    Read {
        /// The CSV path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CSV is malformed at a place that stops reading (bad UTF-8 in the header, I/O).
    #[error("read {}:{line}: {message}", path.display())]
    Csv {
        /// The CSV path.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The CSV holds bytes that are not text in its encoding.
    #[error(
        "read {}:{line}: this line is not valid {encoding}: save the file as UTF-8 (in Excel: \"CSV UTF-8\"), or give its encoding",
        path.display()
    )]
    Encoding {
        /// The CSV path.
        path: PathBuf,
        /// 1-based line of the first bad bytes.
        line: u64,
        /// The encoding the file was read in.
        encoding: &'static str,
    },
    /// A quoted cell is never closed, or is closed lines later with text after its closing
    /// quote: the rows after it would silently become part of one cell.
    #[error(
        "read {}:{line}: the quote that opens column {column}{} on this line {}: close the quote, or write a quote inside a cell as two (\"\")",
        path.display(),
        name.as_ref().map(|n| format!(" ({n:?})")).unwrap_or_default(),
        match closes {
            None => "is never closed, so everything after it would be one cell".to_string(),
            Some(end) => format!("is only closed on line {end} and text follows it there, so the lines between would be one cell"),
        }
    )]
    UnclosedQuote {
        /// The CSV path.
        path: PathBuf,
        /// 1-based line where the quote opens.
        line: u64,
        /// 1-based column of the cell.
        column: usize,
        /// The column's name, when the header names it.
        name: Option<String>,
        /// The line where the cell closes with text after it; `None` when never closed.
        closes: Option<u64>,
    },
    /// Two header cells before the last named column are empty.
    #[error("read the header of {}: columns {first} and {second} have no name: name them, or delete them if they are empty", path.display())]
    UnnamedColumns {
        /// The CSV path.
        path: PathBuf,
        /// 1-based position of the first.
        first: usize,
        /// 1-based position of the second.
        second: usize,
    },
    /// The CSV has no header row.
    #[error("read {}: the CSV is empty: the first line must name the columns", path.display())]
    Empty {
        /// The CSV path.
        path: PathBuf,
    },
    /// Two header cells have the same name.
    #[error("read the header of {}: column {name:?} appears twice (columns {first} and {second}): rename one", path.display())]
    DuplicateColumn {
        /// The CSV path.
        path: PathBuf,
        /// The repeated name.
        name: String,
        /// 1-based position of the first.
        first: usize,
        /// 1-based position of the second.
        second: usize,
    },
    /// The key column holds the same key twice.
    #[error("key the rows of {}: key {key:?} of column {column:?} appears on line {first_line} and again on line {line}: keys must be unique", path.display())]
    DuplicateKey {
        /// The CSV path.
        path: PathBuf,
        /// The key column.
        column: String,
        /// The repeated key.
        key: String,
        /// Line of the first occurrence.
        first_line: u64,
        /// Line of the second.
        line: u64,
    },
    /// Two keys differ but name the same output file once sanitised.
    #[error("name the output files of {}: keys {first:?} (line {first_line}) and {second:?} (line {line}) give the same file name {file:?}: make them differ in letters or digits", path.display())]
    KeyCollision {
        /// The CSV path.
        path: PathBuf,
        /// The first key.
        first: String,
        /// Its line.
        first_line: u64,
        /// The second key.
        second: String,
        /// Its line.
        line: u64,
        /// The shared file name.
        file: String,
    },
    /// A row has an empty key cell.
    #[error("key the row at {}:{line}: the key column {column:?} is empty: every row needs a key", path.display())]
    EmptyKey {
        /// The CSV path.
        path: PathBuf,
        /// The key column.
        column: String,
        /// The row's line.
        line: u64,
    },
}

/// Where a bad value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A CSV column (a data column, a binding column, `patch` or `merge`).
    Column(String),
    /// A placeholder string of the template.
    Placeholder(String),
    /// The `--patch` file.
    PatchFile,
    /// The template's fixed content.
    Template,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Column(c) => write!(f, "column {c:?}"),
            Origin::Placeholder(p) => write!(f, "placeholder {p:?}"),
            Origin::PatchFile => f.write_str("the patch file"),
            Origin::Template => f.write_str("the template"),
        }
    }
}

/// One problem of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON Pointer in the rendered project, when the problem has a place there.
    pub pointer: Option<String>,
    /// The columns, placeholders or files the bad value came from.
    pub origins: Vec<Origin>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.pointer {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.message)?;
        if !self.origins.is_empty() {
            let from: Vec<String> = self.origins.iter().map(ToString::to_string).collect();
            write!(f, " (from {})", from.join(", "))?;
        }
        Ok(())
    }
}

/// Why one row is invalid. The other rows are not affected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based data row number (the header is row 0).
    pub row: u64,
    /// 1-based line of the CSV where the row starts.
    pub line: u64,
    /// Every problem found, in the order found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {} (line {}): ", self.row, self.line)?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RowError {}

impl RowError {
    /// The problems joined into one line, without the row prefix (for a manifest's `error` column).
    pub fn summary(&self) -> String {
        self.problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}
