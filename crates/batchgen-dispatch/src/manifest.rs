//! The manifest: what became of every row, as `DIR/manifest.csv` and `DIR/manifest.jsonl`.
//!
//! Columns ([`Layout::Projects`], `batchgen run`):
//! `row,key,status,project_id,download_url,file,attempts,error,credits,changed,project_name,submitted_at,ended_at,failure_class`,
//! then the input's own columns: DESIGN.md's `row,…,attempts,error` first, then the extras in the
//! order they were added. Read a manifest by the header's names, never by position: earlier
//! builds wrote `credits` before `error`. `credits` is what the vendor said the render cost (its
//! webhook's `credit`), empty where it did not say. `changed` is `yes` for a row that kept what an
//! earlier run of the directory made from inputs that have changed since; status `removed` is a
//! row gone from the CSV.
//! `project_name` is the project's name as sent (what lookups go by; `--name` chooses it), empty for
//! exports and for rows never sent; `submitted_at` is when the project was created, `ended_at`
//! when the row ended (ready, failed, unknown, invalid, or created as a draft), both RFC 3339
//! UTC with milliseconds; `failure_class` says what kind of end a row that is not ready had:
//! `rejected` (the API refused it for good), `render_failed`, `render_timeout`,
//! `retries_exhausted`, `download`, `unknown` (a lost answer no lookup could settle) or
//! `invalid`; the first three need `--retry-failed` to be tried again, the others a rerun.
//! [`Layout::Exports`] (`batchgen export`) adds `export_id` after `project_id`, which then
//! names the project exported. `status` is `ready`, `failed`, `invalid` or `pending`; `file` is
//! relative to the output directory; `attempts` counts the create requests sent for the row.
//! The JSONL file has the same fields plus `input`, the row's cells as an object keyed by
//! column name.
//!
//! The CSV file is written as the input was ([`CsvStyle`]): with its separator (`;` for a file
//! from a European Excel) and, when the input had a byte order mark or was not UTF-8, a UTF-8 BOM,
//! so that Excel opens it with the right columns and characters. The JSONL file is always plain
//! UTF-8 JSON.
//!
//! Both files are written atomically: to a temporary file in the same directory, synced, then
//! renamed over the old one, so a reader (or a crash) never sees half a manifest.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde::ser::SerializeMap as _;
use std::sync::Arc;

/// The CSV manifest's file name.
pub const MANIFEST_CSV: &str = "manifest.csv";
/// The JSONL manifest's file name.
pub const MANIFEST_JSONL: &str = "manifest.jsonl";

/// Which fixed columns a manifest has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// `batchgen run`: [`COLUMNS`]; `project_id` is the project each row created.
    #[default]
    Projects,
    /// `batchgen export`: [`EXPORT_COLUMNS`]; `project_id` is the project exported and
    /// `export_id` the export made of it.
    Exports,
}

impl Layout {
    /// The fixed columns, before the input's own.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Layout::Projects => &COLUMNS,
            Layout::Exports => &EXPORT_COLUMNS,
        }
    }
}

/// The fixed columns of `batchgen run`'s manifest, before the input's own.
pub const COLUMNS: [&str; 14] = [
    "row",
    "key",
    "status",
    "project_id",
    "download_url",
    "file",
    "attempts",
    "error",
    "credits",
    "changed",
    "project_name",
    "submitted_at",
    "ended_at",
    "failure_class",
];

/// The fixed columns of `batchgen export`'s manifest, before the input's own.
pub const EXPORT_COLUMNS: [&str; 15] = [
    "row",
    "key",
    "status",
    "project_id",
    "export_id",
    "download_url",
    "file",
    "attempts",
    "error",
    "credits",
    "changed",
    "project_name",
    "submitted_at",
    "ended_at",
    "failure_class",
];

/// A row's status in the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The video is ready (and downloaded, with `--download`).
    Ready,
    /// The row failed; `error` says why.
    Failed,
    /// The row did not render to a valid project.
    Invalid,
    /// Not finished (yet): queued, submitting or rendering.
    Pending,
    /// Gone from the CSV since an earlier run of the directory; kept as it was, untouched.
    Removed,
    /// Created as a draft (`isExport: false`): the project exists and is not rendered.
    Draft,
    /// A create whose answer was lost may have made a project, and no lookup could find it or
    /// rule it out; `error` says why and how to check. Not sent again unless asked
    /// (`--resubmit-unknown`).
    Unknown,
}

impl Status {
    /// The word written in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::Pending => "pending",
            Status::Removed => "removed",
            Status::Draft => "draft",
            Status::Unknown => "unknown",
        }
    }
}

/// One row of the manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Row number (1-based).
    pub row: u64,
    /// Row key.
    pub key: String,
    /// Status.
    pub status: Status,
    /// The project id: the project created (once known), or the project exported.
    pub project_id: Option<String>,
    /// The export id, once known ([`Layout::Exports`] only).
    pub export_id: Option<String>,
    /// The video's URL, once ready.
    pub download_url: Option<String>,
    /// The downloaded file, relative to the output directory.
    pub file: Option<String>,
    /// Create requests sent for the row.
    pub attempts: u32,
    /// Why the row failed or is invalid.
    pub error: Option<String>,
    /// Credits the vendor said the render cost, when it said.
    pub credits: Option<u64>,
    /// The row's input cells, in the input's column order (shared with the job).
    pub inputs: Arc<[String]>,
    /// The row's project (or export request) differs from what an earlier run of the
    /// directory sent, and the row kept what that made (no `--rerender-changed`).
    pub changed: bool,
    /// The project's name as sent (projects only).
    pub name: Option<String>,
    /// When the project (or export) was created, ms since the epoch.
    pub submitted_at: Option<u64>,
    /// When the row ended, ms since the epoch.
    pub ended_at: Option<u64>,
    /// What kind of end a row that is not ready had (see the module doc).
    pub failure_class: Option<&'static str>,
}

/// An instant (ms since the epoch) as the manifest writes it: RFC 3339 UTC, to the
/// millisecond (`2026-12-01T09:30:00.25Z`).
pub fn timestamp(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[derive(Serialize)]
struct JsonEntry<'a> {
    row: u64,
    key: &'a str,
    status: Status,
    project_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    export_id: Option<Option<&'a str>>,
    download_url: Option<&'a str>,
    file: Option<&'a str>,
    attempts: u32,
    error: Option<&'a str>,
    credits: Option<u64>,
    changed: bool,
    project_name: Option<&'a str>,
    submitted_at: Option<String>,
    ended_at: Option<String>,
    failure_class: Option<&'a str>,
    input: Input<'a>,
}

/// The input cells as an object keyed by column name, serialized without building a map.
struct Input<'a> {
    columns: &'a [String],
    cells: &'a [String],
}

impl Serialize for Input<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.columns.len()))?;
        for (i, c) in self.columns.iter().enumerate() {
            map.serialize_entry(c, self.cells.get(i).map_or("", String::as_str))?;
        }
        map.end()
    }
}

/// How the CSV manifest is written: its cell separator and whether it starts with a UTF-8 byte
/// order mark. Default: `,` without a BOM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvStyle {
    /// The cell separator (the input's: `,`, `;`, tab or `|`).
    pub delimiter: u8,
    /// Start with a UTF-8 BOM (the input had one, or was decoded from another encoding).
    pub bom: bool,
}

impl Default for CsvStyle {
    fn default() -> CsvStyle {
        CsvStyle {
            delimiter: b',',
            bom: false,
        }
    }
}

/// Writes both manifest files into `dir` atomically, with the fixed columns of `layout`.
/// `columns` names the input's columns.
pub fn write(dir: &Path, layout: Layout, columns: &[String], entries: &[Entry]) -> io::Result<()> {
    write_with(dir, layout, CsvStyle::default(), columns, entries)
}

/// [`write()`], the CSV file in `style`.
pub fn write_with(
    dir: &Path,
    layout: Layout,
    style: CsvStyle,
    columns: &[String],
    entries: &[Entry],
) -> io::Result<()> {
    write_atomic(&dir.join(MANIFEST_CSV), |out| {
        if style.bom {
            out.write_all("\u{feff}".as_bytes())?;
        }
        write_csv(out, layout, style.delimiter, columns, entries)
    })?;
    write_atomic(&dir.join(MANIFEST_JSONL), |out| {
        write_jsonl(out, layout, columns, entries)
    })
}

fn write_csv(
    out: &mut dyn Write,
    layout: Layout,
    delimiter: u8,
    columns: &[String],
    entries: &[Entry],
) -> io::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(out);
    let header = layout
        .columns()
        .iter()
        .copied()
        .chain(columns.iter().map(String::as_str));
    w.write_record(header)?;
    let mut row_buf = itoa_buf();
    let mut att_buf = itoa_buf();
    for e in entries {
        let export_id = match layout {
            Layout::Projects => None,
            Layout::Exports => Some(e.export_id.as_deref().unwrap_or("")),
        };
        let credits = e.credits.map(|c| c.to_string()).unwrap_or_default();
        let submitted = e.submitted_at.map(timestamp).unwrap_or_default();
        let ended = e.ended_at.map(timestamp).unwrap_or_default();
        let fixed = [
            Some(fmt_u64(&mut row_buf, e.row)),
            Some(e.key.as_str()),
            Some(e.status.as_str()),
            Some(e.project_id.as_deref().unwrap_or("")),
            export_id,
            Some(e.download_url.as_deref().unwrap_or("")),
            Some(e.file.as_deref().unwrap_or("")),
            Some(fmt_u64(&mut att_buf, u64::from(e.attempts))),
            Some(e.error.as_deref().unwrap_or("")),
            Some(credits.as_str()),
            Some(if e.changed { "yes" } else { "" }),
            Some(e.name.as_deref().unwrap_or("")),
            Some(submitted.as_str()),
            Some(ended.as_str()),
            Some(e.failure_class.unwrap_or("")),
        ];
        let cells = (0..columns.len()).map(|i| e.inputs.get(i).map_or("", String::as_str));
        w.write_record(fixed.into_iter().flatten().chain(cells))?;
    }
    w.flush()?;
    Ok(())
}

fn itoa_buf() -> String {
    String::with_capacity(20)
}

fn fmt_u64(buf: &mut String, n: u64) -> &str {
    use std::fmt::Write as _;
    buf.clear();
    let _ = write!(buf, "{n}");
    buf.as_str()
}

fn write_jsonl(
    out: &mut dyn Write,
    layout: Layout,
    columns: &[String],
    entries: &[Entry],
) -> io::Result<()> {
    for e in entries {
        let input = Input {
            columns,
            cells: &e.inputs,
        };
        let j = JsonEntry {
            row: e.row,
            key: &e.key,
            status: e.status,
            project_id: e.project_id.as_deref(),
            export_id: (layout == Layout::Exports).then_some(e.export_id.as_deref()),
            download_url: e.download_url.as_deref(),
            file: e.file.as_deref(),
            attempts: e.attempts,
            error: e.error.as_deref(),
            credits: e.credits,
            changed: e.changed,
            project_name: e.name.as_deref(),
            submitted_at: e.submitted_at.map(timestamp),
            ended_at: e.ended_at.map(timestamp),
            failure_class: e.failure_class,
            input,
        };
        serde_json::to_writer(&mut *out, &j)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes `path` through a temporary file beside it: write, sync, rename.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let file = File::create(&tmp)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let result = fill(&mut out).and_then(|()| out.flush());
    match result {
        Ok(()) => {
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_data()?;
            drop(file);
            std::fs::rename(&tmp, path)
        }
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(row: u64, status: Status) -> Entry {
        Entry {
            row,
            key: format!("k{row}"),
            status,
            project_id: Some("p".into()),
            export_id: None,
            download_url: None,
            file: Some("videos/k1.mp4".into()),
            attempts: 2,
            credits: (status == Status::Ready).then_some(3),
            error: (status == Status::Failed)
                .then(|| "create project: server answered 400, \"bad\"".into()),
            inputs: vec!["Ann".to_string(), "a,b".to_string()].into(),
            changed: false,
            name: Some(format!("P [k{row}] #abc123")),
            submitted_at: Some(1_764_581_400_250),
            ended_at: (status != Status::Pending).then_some(1_764_581_460_000),
            failure_class: (status == Status::Failed).then_some("rejected"),
        }
    }

    /// The CSV's rows as (header, rows); [`cell`] reads a row's cell by column name.
    fn read_csv(text: &str, delimiter: u8) -> (Vec<String>, Vec<csv::StringRecord>) {
        let mut r = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_reader(text.as_bytes());
        let header = r.headers().unwrap().iter().map(String::from).collect();
        (header, r.records().map(Result::unwrap).collect())
    }

    /// The cell of `row` in the (first) column named `name`; panics naming it when there is none.
    fn cell<'a>(header: &[String], row: &'a csv::StringRecord, name: &str) -> &'a str {
        let i = header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {header:?}"));
        &row[i]
    }

    /// DESIGN.md's order: `row,key,status,project_id,download_url,file,attempts,error`, then the
    /// extras in the order they were added; `export` has `export_id` after `project_id`.
    /// Written out here, not taken from [`COLUMNS`], so that a reorder there fails this test.
    const DESIGN_PROJECTS: [&str; 14] = [
        "row",
        "key",
        "status",
        "project_id",
        "download_url",
        "file",
        "attempts",
        "error",
        "credits",
        "changed",
        "project_name",
        "submitted_at",
        "ended_at",
        "failure_class",
    ];
    const DESIGN_EXPORTS: [&str; 15] = [
        "row",
        "key",
        "status",
        "project_id",
        "export_id",
        "download_url",
        "file",
        "attempts",
        "error",
        "credits",
        "changed",
        "project_name",
        "submitted_at",
        "ended_at",
        "failure_class",
    ];

    #[test]
    fn the_header_is_the_design_order_in_both_layouts_csv_and_jsonl() {
        for (layout, design) in [
            (Layout::Projects, &DESIGN_PROJECTS[..]),
            (Layout::Exports, &DESIGN_EXPORTS[..]),
        ] {
            assert_eq!(layout.columns(), design, "{layout:?}");
            let dir = tempfile::tempdir().unwrap();
            let cols = vec!["name".to_string(), "note".to_string()];
            let mut e = entry(1, Status::Failed);
            e.export_id = Some("export_1".into());
            write(dir.path(), layout, &cols, &[e]).unwrap();
            let csv = std::fs::read_to_string(dir.path().join(MANIFEST_CSV)).unwrap();
            let (header, _) = read_csv(&csv, b',');
            let expected: Vec<&str> = design.iter().copied().chain(["name", "note"]).collect();
            assert_eq!(header, expected, "{layout:?}");
            // The JSONL object has the same fields in the same order, then `input`.
            let jsonl = std::fs::read_to_string(dir.path().join(MANIFEST_JSONL)).unwrap();
            let v: serde_json::Value = serde_json::from_str(jsonl.trim_end()).unwrap();
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            let expected: Vec<&str> = design.iter().copied().chain(["input"]).collect();
            assert_eq!(keys, expected, "{layout:?}");
        }
    }

    #[test]
    fn csv_and_jsonl_hold_every_field_and_the_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let cols = vec!["name".to_string(), "note".to_string()];
        write(
            dir.path(),
            Layout::Projects,
            &cols,
            &[entry(1, Status::Ready), entry(2, Status::Failed)],
        )
        .unwrap();
        let csv = std::fs::read_to_string(dir.path().join(MANIFEST_CSV)).unwrap();
        let (h, rows) = read_csv(&csv, b',');
        assert_eq!(rows.len(), 2);
        let (ready, failed) = (&rows[0], &rows[1]);
        assert_eq!(cell(&h, ready, "row"), "1");
        assert_eq!(cell(&h, ready, "key"), "k1");
        assert_eq!(cell(&h, ready, "status"), "ready");
        assert_eq!(cell(&h, ready, "project_id"), "p");
        assert_eq!(cell(&h, ready, "download_url"), "");
        assert_eq!(cell(&h, ready, "file"), "videos/k1.mp4");
        assert_eq!(cell(&h, ready, "attempts"), "2");
        assert_eq!(cell(&h, ready, "error"), "");
        assert_eq!(cell(&h, ready, "credits"), "3");
        assert_eq!(cell(&h, failed, "credits"), "");
        assert_eq!(
            cell(&h, failed, "error"),
            "create project: server answered 400, \"bad\""
        );
        assert_eq!(cell(&h, ready, "changed"), "");
        assert_eq!(cell(&h, ready, "project_name"), "P [k1] #abc123");
        assert_eq!(cell(&h, ready, "submitted_at"), "2025-12-01T09:30:00.25Z");
        assert_eq!(cell(&h, ready, "ended_at"), "2025-12-01T09:31:00Z");
        assert_eq!(cell(&h, ready, "failure_class"), "");
        assert_eq!(cell(&h, failed, "failure_class"), "rejected");
        assert_eq!(cell(&h, failed, "name"), "Ann");
        assert_eq!(cell(&h, failed, "note"), "a,b");
        let jsonl = std::fs::read_to_string(dir.path().join(MANIFEST_JSONL)).unwrap();
        let v: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v.len(), 2);
        let first = &v[0];
        assert_eq!(first["status"], "ready");
        assert_eq!(first["attempts"], 2);
        assert_eq!(first["download_url"], serde_json::Value::Null);
        assert_eq!(first["error"], serde_json::Value::Null);
        assert_eq!(first["credits"], 3);
        assert_eq!(first["input"]["note"], "a,b");
        assert_eq!(first["project_name"], "P [k1] #abc123");
        assert_eq!(first["submitted_at"], "2025-12-01T09:30:00.25Z");
        assert_eq!(first["ended_at"], "2025-12-01T09:31:00Z");
        assert_eq!(first["failure_class"], serde_json::Value::Null);
        assert_eq!(
            v[1]["error"],
            "create project: server answered 400, \"bad\""
        );
        assert_eq!(v[1]["credits"], serde_json::Value::Null);
        assert!(first.get("export_id").is_none(), "{first}");
    }

    #[test]
    fn the_export_layout_adds_export_id_after_project_id() {
        let dir = tempfile::tempdir().unwrap();
        let cols = vec!["project_id".to_string()];
        let mut e = entry(1, Status::Ready);
        e.export_id = Some("export_007".into());
        e.name = None;
        let mut pending = entry(2, Status::Pending);
        pending.export_id = None;
        pending.name = None;
        pending.submitted_at = None;
        let mut failed = entry(3, Status::Failed);
        failed.export_id = Some("export_008".into());
        failed.name = None;
        failed.error = Some("export failed".into());
        write(dir.path(), Layout::Exports, &cols, &[e, pending, failed]).unwrap();
        let csv = std::fs::read_to_string(dir.path().join(MANIFEST_CSV)).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next().unwrap(),
            "row,key,status,project_id,export_id,download_url,file,attempts,error,credits,changed,project_name,submitted_at,ended_at,failure_class,project_id"
        );
        assert_eq!(
            lines.next().unwrap(),
            "1,k1,ready,p,export_007,,videos/k1.mp4,2,,3,,,2025-12-01T09:30:00.25Z,2025-12-01T09:31:00Z,,Ann"
        );
        assert_eq!(
            lines.next().unwrap(),
            "2,k2,pending,p,,,videos/k1.mp4,2,,,,,,,,Ann"
        );
        assert_eq!(
            lines.next().unwrap(),
            "3,k3,failed,p,export_008,,videos/k1.mp4,2,export failed,,,,2025-12-01T09:30:00.25Z,2025-12-01T09:31:00Z,rejected,Ann"
        );
        let jsonl = std::fs::read_to_string(dir.path().join(MANIFEST_JSONL)).unwrap();
        let v: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["export_id"], "export_007");
        assert_eq!(v[1]["export_id"], serde_json::Value::Null);
        assert!(v[1].as_object().unwrap().contains_key("export_id"));
    }

    #[test]
    fn the_csv_keeps_the_inputs_separator_and_bom_and_the_jsonl_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let columns = vec!["name".to_string(), "price".to_string()];
        let mut e = entry(1, Status::Invalid);
        e.inputs = vec!["Zoë; \"Z\"".to_string(), "0,12".to_string()].into();
        e.error = Some("a; b".into());
        e.name = None;
        e.submitted_at = None;
        e.ended_at = None;
        e.failure_class = Some("invalid");
        write(
            dir.path(),
            Layout::Projects,
            &columns,
            std::slice::from_ref(&e),
        )
        .unwrap();
        let plain_jsonl = std::fs::read(dir.path().join(MANIFEST_JSONL)).unwrap();
        let style = CsvStyle {
            delimiter: b';',
            bom: true,
        };
        write_with(dir.path(), Layout::Projects, style, &columns, &[e]).unwrap();
        let csv = std::fs::read(dir.path().join(MANIFEST_CSV)).unwrap();
        assert!(csv.starts_with(b"\xEF\xBB\xBFrow;key;status;"), "{csv:?}");
        let text = String::from_utf8(csv[3..].to_vec()).unwrap();
        let second = text.lines().nth(1).unwrap();
        assert_eq!(
            second,
            "1;k1;invalid;p;;videos/k1.mp4;2;\"a; b\";;;;;;invalid;\"Zoë; \"\"Z\"\"\";0,12"
        );
        let (h, rows) = read_csv(&text, b';');
        assert_eq!(cell(&h, &rows[0], "error"), "a; b");
        assert_eq!(cell(&h, &rows[0], "name"), "Zoë; \"Z\"");
        assert_eq!(cell(&h, &rows[0], "price"), "0,12");
        assert_eq!(
            std::fs::read(dir.path().join(MANIFEST_JSONL)).unwrap(),
            plain_jsonl
        );
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        write_atomic(&path, |o| o.write_all(b"old complete\n")).unwrap();
        let e = write_atomic(&path, |o| {
            o.write_all(b"new half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(e.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old complete\n");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["m.csv"]);
    }
}
