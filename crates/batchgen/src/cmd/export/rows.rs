//! The rows of `batchgen export`: where each known column is, and every check of a row (ids,
//! watermark cells) and of the `--watermark*` flags, before anything is sent. A row that fails
//! a check becomes an invalid input naming its line and column.

use std::path::Path;

use batchgen_aistudios::{ExportRequest, Watermark, check_segment};
use batchgen_core::{Header, KeySource, Row, file_stem};
use batchgen_dispatch::{ExportRow, JobInput};
use clap::Args;

use crate::error::Error;

/// The watermark every row gets unless its own `watermark_*` cells say otherwise.
#[derive(Debug, Clone, Args)]
pub struct WatermarkArgs {
    /// Watermark image URL for every export (a row's watermark_src_url overrides it).
    #[arg(long, value_name = "URL", value_parser = parse_image_url)]
    pub watermark: Option<String>,
    /// Watermark horizontal position, 0 (left) to 1 (right).
    #[arg(long, value_name = "F", default_value = "0.5", value_parser = parse_position)]
    pub watermark_x: f64,
    /// Watermark vertical position, 0 (top) to 1 (bottom).
    #[arg(long, value_name = "F", default_value = "0.5", value_parser = parse_position)]
    pub watermark_y: f64,
    /// Watermark size factor, above 0 and at most 1.
    #[arg(long, value_name = "F", default_value = "1", value_parser = parse_scale)]
    pub watermark_scale: f64,
}

fn parse_image_url(s: &str) -> Result<String, String> {
    check_image_url(s)
}

fn parse_position(s: &str) -> Result<f64, String> {
    check_position(s)
}

fn parse_scale(s: &str) -> Result<f64, String> {
    check_scale(s)
}

/// An absolute http(s) URL, as the vendor's watermark `src_url` needs.
fn check_image_url(s: &str) -> Result<String, String> {
    let t = s.trim();
    match url::Url::parse(t) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(t.to_owned()),
        _ => Err(format!(
            "{s:?} is not an absolute http(s) URL; give the watermark image's URL, e.g. https://example.com/logo.png"
        )),
    }
}

fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{s:?} is not a number"))
}

/// A position: 0 to 1.
fn check_position(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0..1; give a position from 0 to 1"))
    }
}

/// A scale: above 0, at most 1.
fn check_scale(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} is outside (0, 1]; give a scale above 0 and at most 1"
        ))
    }
}

/// Longest id accepted.
const MAX_ID: usize = 128;

/// Checks an id cell: not empty, at most 128 characters, no `/`, no whitespace, no control
/// characters. Surrounding spaces are ignored.
pub(super) fn check_id(what: &'static str, cell: &str) -> Result<String, String> {
    let id = cell.trim();
    if id.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if id.chars().count() > MAX_ID {
        return Err(format!(
            "the {what} is {} characters long; ids are at most {MAX_ID}",
            id.chars().count()
        ));
    }
    if id.chars().any(char::is_whitespace) {
        return Err(format!("the {what} {id:?} contains whitespace"));
    }
    check_segment(what, id).map_err(|e| e.to_string())?;
    Ok(id.to_owned())
}

/// Where each known column is, if the CSV has it.
pub(super) struct Columns {
    pub(super) key: KeySource,
    project: usize,
    folder: Option<usize>,
    src: Option<usize>,
    x: Option<usize>,
    y: Option<usize>,
    scale: Option<usize>,
}

impl Columns {
    pub(super) fn find(
        header: &Header,
        key: Option<&str>,
        data: &Path,
    ) -> crate::error::Result<Columns> {
        let key = KeySource::for_header(header, key)?;
        let project = header.position("project_id").ok_or_else(|| Error::Usage(format!(
                "failed to read the exports to make: {} has no project_id column{}; its header must name the project to export in a column project_id (folder_id and watermark_* are optional)",
                data.display(),
                header
                    .closest("project_id")
                    .map(|c| format!(" (is {c:?} meant?)"))
                    .unwrap_or_default()
            )))?;
        Ok(Columns {
            key,
            project,
            folder: header.position("folder_id"),
            src: header.position("watermark_src_url"),
            x: header.position("watermark_pos_x"),
            y: header.position("watermark_pos_y"),
            scale: header.position("watermark_scale"),
        })
    }

    /// A row's job, or why it is invalid (naming the line and the column).
    pub(super) fn input(&self, row: &Row, flags: &WatermarkArgs) -> JobInput {
        let key = self.key.key_of(row);
        let inputs: Vec<String> = row.fields.iter().map(str::to_owned).collect();
        match self.check(row, flags) {
            Ok((folder_id, project_id, request)) => JobInput::Export(ExportRow {
                row: row.number,
                file_stem: file_stem(&key),
                key,
                folder_id,
                project_id,
                request,
                inputs,
            }),
            Err(error) => JobInput::Invalid {
                row: row.number,
                key,
                error,
                inputs,
            },
        }
    }

    fn check(
        &self,
        row: &Row,
        flags: &WatermarkArgs,
    ) -> Result<(Option<String>, String, ExportRequest), String> {
        let line = row.line;
        if let Some(defect) = &row.defect {
            return Err(format!("line {line}: {defect}"));
        }
        let at = |column: &str, e: String| format!("line {line}, column {column}: {e}");
        let project = check_id("project id", row.cell(self.project)).map_err(|e| {
            at(
                "project_id",
                format!("{e}; every row needs the id of the project to export"),
            )
        })?;
        let folder = match self.folder.map(|i| row.cell(i).trim()) {
            None | Some("") => None,
            Some(cell) => Some(check_id("folder id", cell).map_err(|e| {
                at(
                    "folder_id",
                    format!("{e}; leave it empty for a project outside any folder"),
                )
            })?),
        };
        let cell = |i: Option<usize>| i.map(|i| row.cell(i).trim()).filter(|c| !c.is_empty());
        let src = match cell(self.src) {
            Some(c) => Some(check_image_url(c).map_err(|e| at("watermark_src_url", e))?),
            None => flags.watermark.clone(),
        };
        let x = match cell(self.x) {
            Some(c) => check_position(c).map_err(|e| at("watermark_pos_x", e))?,
            None => flags.watermark_x,
        };
        let y = match cell(self.y) {
            Some(c) => check_position(c).map_err(|e| at("watermark_pos_y", e))?,
            None => flags.watermark_y,
        };
        let scale = match cell(self.scale) {
            Some(c) => check_scale(c).map_err(|e| at("watermark_scale", e))?,
            None => flags.watermark_scale,
        };
        let request = match src {
            Some(src) => {
                ExportRequest::with_watermark(Watermark::new(src).position(x, y).scale(scale))
            }
            None => {
                let set = [
                    (self.x, "watermark_pos_x"),
                    (self.y, "watermark_pos_y"),
                    (self.scale, "watermark_scale"),
                ]
                .into_iter()
                .find(|(i, _)| cell(*i).is_some());
                if let Some((_, column)) = set {
                    return Err(at(
                        column,
                        "is set but there is no watermark image: fill watermark_src_url or pass --watermark URL".into(),
                    ));
                }
                ExportRequest::default()
            }
        };
        Ok((folder, project, request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use batchgen_core::RowReader;

    fn flags(src: Option<&str>) -> WatermarkArgs {
        WatermarkArgs {
            watermark: src.map(str::to_owned),
            watermark_x: 0.5,
            watermark_y: 0.5,
            watermark_scale: 1.0,
        }
    }

    fn inputs(csv: &str, w: &WatermarkArgs) -> Vec<JobInput> {
        let reader = RowReader::from_reader(csv.as_bytes(), "t.csv").unwrap();
        let cols = Columns::find(reader.header(), None, Path::new("t.csv")).unwrap();
        reader.map(|r| cols.input(&r.unwrap(), w)).collect()
    }

    fn error(i: &JobInput) -> &str {
        match i {
            JobInput::Invalid { error, .. } => error,
            valid => panic!("row {} is valid: {valid:?}", valid.row()),
        }
    }

    fn request(i: &JobInput) -> (Option<String>, String, String) {
        match i {
            JobInput::Export(e) => (
                e.folder_id.clone(),
                e.project_id.clone(),
                serde_json::to_string(&e.request).unwrap(),
            ),
            other => panic!("not an export: {other:?}"),
        }
    }

    #[test]
    fn ids_are_checked_and_named_by_line_and_column() {
        let long = "p".repeat(129);
        let csv = format!(
            "project_id,folder_id\np1,\n,f\na/b,f\n{long},\np 2,\n p3 ,folder_001\np4,f 1\np5,a/b\n"
        );
        let v = inputs(&csv, &flags(None));
        assert_eq!(request(&v[0]), (None, "p1".into(), "{}".into()));
        assert_eq!(
            error(&v[1]),
            "line 3, column project_id: the project id is empty; every row needs the id of the project to export"
        );
        assert!(
            error(&v[2]).starts_with("line 4, column project_id: project id \"a/b\" contains '/'"),
            "{}",
            error(&v[2])
        );
        assert!(error(&v[3]).contains("129 characters long; ids are at most 128"));
        assert!(error(&v[4]).contains("\"p 2\" contains whitespace"));
        assert_eq!(
            request(&v[5]),
            (Some("folder_001".into()), "p3".into(), "{}".into())
        );
        assert!(error(&v[6]).starts_with("line 8, column folder_id:"));
        assert!(error(&v[7]).contains("leave it empty for a project outside any folder"));
    }

    #[test]
    fn watermarks_from_flags_and_cells() {
        let csv = "project_id,watermark_src_url,watermark_pos_x,watermark_pos_y,watermark_scale\n\
                   p1,,,,\n\
                   p2,https://e.com/b.png,0.1,,0.25\n\
                   p3,,0.9,,\n\
                   p4,logo.png,,,\n\
                   p5,,1.5,,\n\
                   p6,,,,0\n";
        let with_flag = inputs(csv, &flags(Some("https://e.com/a.png")));
        assert_eq!(
            request(&with_flag[0]).2,
            r#"{"watermark":{"src_url":"https://e.com/a.png","pos_x":0.5,"pos_y":0.5,"scale":1.0}}"#
        );
        assert_eq!(
            request(&with_flag[1]).2,
            r#"{"watermark":{"src_url":"https://e.com/b.png","pos_x":0.1,"pos_y":0.5,"scale":0.25}}"#
        );
        assert_eq!(
            request(&with_flag[2]).2,
            r#"{"watermark":{"src_url":"https://e.com/a.png","pos_x":0.9,"pos_y":0.5,"scale":1.0}}"#
        );
        assert!(
            error(&with_flag[3]).starts_with(
                "line 5, column watermark_src_url: \"logo.png\" is not an absolute http(s) URL"
            ),
            "{}",
            error(&with_flag[3])
        );
        assert_eq!(
            error(&with_flag[4]),
            "line 6, column watermark_pos_x: 1.5 is outside 0..1; give a position from 0 to 1"
        );
        assert!(
            error(&with_flag[5]).starts_with("line 7, column watermark_scale: 0 is outside (0, 1]")
        );

        // Without --watermark: no watermark, and a position with no image is invalid.
        let without = inputs(csv, &flags(None));
        assert_eq!(request(&without[0]).2, "{}");
        assert!(request(&without[1]).2.contains("b.png"));
        assert_eq!(
            error(&without[2]),
            "line 4, column watermark_pos_x: is set but there is no watermark image: fill watermark_src_url or pass --watermark URL"
        );
    }

    #[test]
    fn ragged_rows_are_invalid_and_a_missing_project_column_is_refused() {
        let v = inputs("project_id,folder_id\np1\n", &flags(None));
        assert!(error(&v[0]).starts_with("line 2: the row has 1 fields but the header has 2"));
        let reader = RowReader::from_reader("projectid\np1\n".as_bytes(), "t.csv").unwrap();
        let e = Columns::find(reader.header(), None, Path::new("t.csv"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("has no project_id column (is \"projectid\" meant?)"),
            "{e}"
        );
    }

    #[test]
    fn flag_values_are_checked() {
        assert_eq!(check_position("0"), Ok(0.0));
        assert_eq!(check_position("1"), Ok(1.0));
        assert!(check_position("1.01").is_err());
        assert!(check_position("-0.1").is_err());
        assert!(check_position("NaN").is_err());
        assert!(check_scale("0").is_err());
        assert_eq!(check_scale("1"), Ok(1.0));
        assert!(check_scale("1.5").is_err());
        assert!(check_image_url("https://e.com/l.png").is_ok());
        assert!(check_image_url("/l.png").is_err());
    }
}
