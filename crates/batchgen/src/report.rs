//! What the CLI says about a CSV's rows before and after it renders them: the encoding it was read
//! in, the blank rows skipped, the invalid rows with their reasons (the first ones and a count),
//! and the columns left empty under plain placeholders ("column offer is empty in 12 rows: 3, 7,
//! 9, …"). `validate`, `render`, `run` and `export` share it, so they say the same things the
//! same way. `run` and `export` check every row with it before they send anything
//! ([`check_rows`]), so that the reasons come before any credit is spent and `--strict` can
//! refuse a batch in which some rows are invalid.

use std::io::Write;
use std::path::Path;

use batchgen_core::{
    EncodingSource, FileEncoding, ReadOptions, RenderedRow, RowReader, Template, render_stream,
};
use batchgen_dispatch::manifest::CsvStyle;

use crate::error::Error;

/// Invalid rows listed in full; the others are counted (all are in the manifest).
pub const SHOW_INVALID: usize = 10;
/// Row numbers listed per empty column.
const SHOW_ROWS: usize = 8;

/// The reading options of `--encoding NAME`; an unknown name is bad usage (exit 2).
pub fn read_options(encoding: Option<&str>) -> crate::error::Result<ReadOptions> {
    let Some(name) = encoding else {
        return Ok(ReadOptions::default());
    };
    ReadOptions::default().encoding(name).ok_or_else(|| {
        Error::Usage(format!(
                "failed to read the CSV: --encoding {name:?} is not an encoding name; give one such as utf-8, utf-16le, windows-1252, iso-8859-15, shift_jis or gbk"
            ))
    })
}

/// The warning to print when the encoding was guessed.
pub fn encoding_warning(data: &Path, encoding: FileEncoding) -> Option<String> {
    match encoding.source {
        EncodingSource::Guessed { line } => Some(format!(
            "warning: {} is not UTF-8 (line {line} is not): read it as {} (as Excel saves \"CSV\" on Windows); if it is another encoding, pass --encoding NAME",
            data.display(),
            encoding.name()
        )),
        _ => None,
    }
}

/// The CSV manifest's style for an input: its separator, and a UTF-8 BOM when the input had a
/// BOM or was not UTF-8 (so that Excel reads the UTF-8 manifest as UTF-8).
pub fn manifest_style(delimiter: u8, encoding: FileEncoding) -> CsvStyle {
    CsvStyle {
        delimiter,
        bom: encoding.bom || !encoding.is_utf8(),
    }
}

/// One invalid row: its number, line, key and every reason.
#[derive(Debug, Clone)]
pub struct Invalid {
    /// Data row number.
    pub row: u64,
    /// Line of the CSV where it starts.
    pub line: u64,
    /// Its key.
    pub key: String,
    /// Why it is invalid (all problems, joined).
    pub reason: String,
}

/// A column left empty under a plain placeholder.
#[derive(Debug, Clone, Default)]
struct Empty {
    count: u64,
    rows: Vec<u64>,
}

/// Counts and the first examples of what rows are like.
#[derive(Debug, Clone)]
pub struct RowReport {
    columns: Vec<String>,
    /// Rows read (blank rows excluded).
    pub rows: u64,
    /// Blank rows skipped.
    pub blank: u64,
    /// Rows invalid.
    pub invalid: u64,
    /// The first [`SHOW_INVALID`] invalid rows.
    pub first_invalid: Vec<Invalid>,
    empty: Vec<Empty>,
    /// Every row's key and whether it is valid, in input order, when kept
    /// ([`check_rows_where`] keeps them: a continued run says what is done and what remains).
    keys: Option<Vec<(String, bool)>>,
}

impl RowReport {
    /// An empty report for a CSV with these columns.
    pub fn new(columns: &[String]) -> RowReport {
        RowReport {
            columns: columns.to_vec(),
            rows: 0,
            blank: 0,
            invalid: 0,
            first_invalid: Vec::new(),
            empty: vec![Empty::default(); columns.len()],
            keys: None,
        }
    }

    /// Takes one rendered row into account.
    pub fn add(&mut self, r: &RenderedRow) {
        self.rows += 1;
        if let Some(keys) = &mut self.keys {
            keys.push((r.key.clone(), r.outcome.is_ok()));
        }
        if let Err(e) = &r.outcome {
            self.add_invalid(Invalid {
                row: r.row.number,
                line: r.row.line,
                key: r.key.clone(),
                reason: e.summary(),
            });
        }
        for &c in &r.empty {
            let e = &mut self.empty[c];
            e.count += 1;
            if e.rows.len() < SHOW_ROWS {
                e.rows.push(r.row.number);
            }
        }
    }

    /// Counts an invalid row (kept when among the first [`SHOW_INVALID`]).
    pub fn add_invalid(&mut self, invalid: Invalid) {
        self.invalid += 1;
        if self.first_invalid.len() < SHOW_INVALID {
            self.first_invalid.push(invalid);
        }
    }

    /// One line per column left empty under a plain placeholder, in column order:
    /// `column "offer" is empty in 12 rows: 3, 7, 9, …`, with what to do.
    pub fn empty_lines(&self) -> Vec<String> {
        self.columns
            .iter()
            .zip(&self.empty)
            .filter(|(_, e)| e.count > 0)
            .map(|(name, e)| {
                let mut rows: Vec<String> = e.rows.iter().map(u64::to_string).collect();
                if e.count > e.rows.len() as u64 {
                    rows.push("…".into());
                }
                let written = if name.contains(' ') || name.contains('.') {
                    format!("[{name}]")
                } else {
                    name.clone()
                };
                format!(
                    "column {name:?} is empty in {} {}: {} (the text has a gap there: fill the cells, write {{{{default {written} \"…\"}}}} for a fallback, or pass --require-cells to make such rows invalid)",
                    e.count,
                    if e.count == 1 { "row" } else { "rows" },
                    rows.join(", ")
                )
            })
            .collect()
    }

    /// Prints the empty-column lines and the blank rows skipped as warnings on stderr.
    pub fn warn_cells(&self, data: &Path) {
        for line in self.empty_lines() {
            crate::output::say!("warning: {}: {line}", data.display());
        }
        if self.blank > 0 {
            crate::output::say!(
                "{}: {} blank {} skipped (every cell empty)",
                data.display(),
                self.blank,
                if self.blank == 1 { "row" } else { "rows" }
            );
        }
    }

    /// Prints the invalid rows' reasons, the first ones and a count, before anything is sent.
    pub fn print_invalid(&self, out: &mut impl Write) -> std::io::Result<()> {
        if self.invalid == 0 {
            return Ok(());
        }
        writeln!(
            out,
            "{} of {} rows are invalid and will not be sent:",
            self.invalid, self.rows
        )?;
        for i in &self.first_invalid {
            writeln!(
                out,
                "  row {} (line {}, key {}): {}",
                i.row, i.line, i.key, i.reason
            )?;
        }
        let more = self.invalid - self.first_invalid.len() as u64;
        if more > 0 {
            writeln!(
                out,
                "  … and {more} more (every one is in the manifest; batchgen validate lists them all)"
            )?;
        }
        Ok(())
    }

    /// [`RowReport::print_invalid`] on stderr; with `--log-format json`, one line per row
    /// listed (`kind: "row"`, with `row`, `key`, `line` and `error`) after the count.
    pub fn report_invalid(&self) -> std::io::Result<()> {
        if !crate::output::json() {
            return self.print_invalid(&mut std::io::stderr().lock());
        }
        if self.invalid == 0 {
            return Ok(());
        }
        crate::output::say!(
            "warning: {} of {} rows are invalid and will not be sent",
            self.invalid,
            self.rows
        );
        for i in &self.first_invalid {
            crate::output::say_row(
                crate::output::Level::Warn,
                "invalid",
                i.row,
                &i.key,
                &i.reason,
                &format!("row {} (line {}) is invalid", i.row, i.line),
            );
        }
        Ok(())
    }

    /// Every row's key and whether it is valid, in input order (empty unless kept).
    pub fn take_keys(&mut self) -> Vec<(String, bool)> {
        self.keys.take().unwrap_or_default()
    }

    /// The invalid rows as the end-of-run summary lists them: (row, key, reason).
    pub fn shown(&self) -> Vec<(u64, String, String)> {
        self.first_invalid
            .iter()
            .map(|i| (i.row, i.key.clone(), i.reason.clone()))
            .collect()
    }

    /// With `--strict`: the error that refuses to send anything when a row is invalid (exit 3).
    pub fn refuse_if_strict(&self, strict: bool, data: &Path) -> crate::error::Result<()> {
        if !strict || self.invalid == 0 {
            return Ok(());
        }
        Err(Error::RowsInvalid(format!(
            "failed to start: {} of {} rows of {} are invalid and --strict refuses a batch with invalid rows; nothing was sent. Fix them (the reasons are above), or run without --strict to send the valid rows only",
            self.invalid,
            self.rows,
            data.display()
        )))
    }
}

/// Renders and validates every row of `data` (nothing is kept but the report), read as
/// `options` say: the check `run` makes before it sends anything. A file that cannot be read to
/// its end (a quote never closed, …) fails here, before anything is sent.
///
/// Only the rows `keep` takes are counted (a shard's: every row is shown to it, in input order;
/// `|_| true` for all); blank rows are counted all the same.
pub fn check_rows_where(
    template: &Template,
    data: &Path,
    options: ReadOptions,
    keep: &mut dyn FnMut(&RenderedRow) -> bool,
) -> crate::error::Result<RowReport> {
    let rows = RowReader::with_options(data, options)?;
    let mut report = RowReport::new(template.header().names());
    report.keys = Some(Vec::new());
    let stats = render_stream(template, rows, &mut |r: RenderedRow| -> Result<
        (),
        std::convert::Infallible,
    > {
        if keep(&r) {
            report.add(&r);
        }
        Ok(())
    })
    .map_err(|e| match e {
        batchgen_core::RenderError::Input(e) => e,
        batchgen_core::RenderError::Sink(never) => match never {},
    })?;
    report.blank = stats.blank;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use batchgen_core::{Header, Row, RowError};

    fn rendered(number: u64, empty: Vec<usize>, invalid: bool) -> RenderedRow {
        RenderedRow {
            row: Row::new(number, ["a", "b"]),
            key: format!("row-{number}"),
            outcome: if invalid {
                Err(RowError {
                    row: number,
                    line: number + 1,
                    problems: vec![batchgen_core::Problem {
                        pointer: Some("/x".into()),
                        origins: Vec::new(),
                        message: "bad".into(),
                    }],
                })
            } else {
                Ok(b"{}".to_vec())
            },
            empty,
        }
    }

    #[test]
    fn empty_columns_are_counted_per_column_with_the_first_rows() {
        let h = Header::new(vec!["name".into(), "offer".into()]).unwrap();
        let mut r = RowReport::new(h.names());
        for n in 1..=12 {
            r.add(&rendered(
                n,
                if n % 2 == 1 { vec![1] } else { vec![] },
                false,
            ));
        }
        let lines = r.empty_lines();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with(
                "column \"offer\" is empty in 6 rows: 1, 3, 5, 7, 9, 11 (the text has a gap there"
            ),
            "{}",
            lines[0]
        );
        for n in 13..=30 {
            r.add(&rendered(n, vec![1], false));
        }
        assert!(r.empty_lines()[0].contains("in 24 rows: 1, 3, 5, 7, 9, 11, 13, 14, …"));
    }

    #[test]
    fn invalid_rows_first_ones_and_a_count_and_strict_refuses() {
        let h = Header::new(vec!["a".into(), "b".into()]).unwrap();
        let mut r = RowReport::new(h.names());
        for n in 1..=14 {
            r.add(&rendered(n, vec![], n > 2));
        }
        let mut out = Vec::new();
        r.print_invalid(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("12 of 14 rows are invalid and will not be sent:\n  row 3 (line 4, key row-3): /x: bad\n"),
            "{text}"
        );
        assert!(text.contains("… and 2 more"), "{text}");
        assert!(r.refuse_if_strict(false, Path::new("d.csv")).is_ok());
        let e = r.refuse_if_strict(true, Path::new("d.csv")).unwrap_err();
        assert_eq!(e.exit_code(), 3);
    }

    #[test]
    fn unknown_encodings_are_bad_usage() {
        assert!(read_options(Some("windows-1252")).is_ok());
        let e = read_options(Some("klingon")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
