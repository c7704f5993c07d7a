//! The rows of `batchgen export` through v3 (`POST /editor/project/export`): any CSV with a
//! `project_id` column, or a run's own `manifest.csv`, checked before anything is sent.
//!
//! A batchgen manifest (its header starts `row,key,status` and names `project_id`) is read
//! as the review-before-you-pay flow needs it: the row keys are its `key` column (so the
//! videos are named as the run named them), only the rows whose `status` is `draft` are
//! exported — the others were rendered once already (or have no project), and are skipped and
//! listed unless `--include-non-drafts` — and the manifest's own columns are not carried into
//! the export's manifest: the run's input columns are.
//!
//! A project named by two rows is exported once: the later row is invalid, naming the earlier
//! one (a second export would restart the first one's render and be paid again).

use std::collections::HashMap;
use std::path::Path;

use batchgen_aistudios::ProjectId;
use batchgen_core::{Header, KeySource, Row, file_stem};
use batchgen_dispatch::manifest::Layout;
use batchgen_dispatch::{JobInput, ProjectExportRow};

use super::rows::check_id;
use crate::error::Error;

/// The manifest status whose rows are exported by default.
const DRAFT: &str = "draft";

/// Where the columns of a v3 export's input are.
pub(super) struct V3Columns {
    pub(super) key: KeySource,
    project: usize,
    /// The `status` column of a batchgen manifest: rows not `draft` are skipped.
    status: Option<usize>,
    /// The first of the columns carried into the manifest (after a batchgen manifest's own).
    first_input: usize,
    include_non_drafts: bool,
}

/// What becomes of one row.
pub(super) enum Taken {
    /// The row's input to the engine (valid or invalid).
    Input(JobInput),
    /// A manifest row not exported: its status.
    Skipped(String),
}

/// The projects already taken by earlier rows of one pass: project id → row number.
pub(super) type Seen = HashMap<String, u64>;

/// The columns a batchgen manifest starts with, in any layout this version writes.
fn is_fixed_column(name: &str) -> bool {
    Layout::Projects.columns().contains(&name) || Layout::Exports.columns().contains(&name)
}

impl V3Columns {
    /// Finds the columns; a missing `project_id` column, or columns only v2 exports take,
    /// are refused (exit 2) naming what would fix it.
    pub(super) fn find(
        header: &Header,
        key: Option<&str>,
        data: &Path,
        include_non_drafts: bool,
    ) -> crate::error::Result<V3Columns> {
        let names = header.names();
        let manifest = names.len() >= 3
            && names[..3] == ["row", "key", "status"]
            && header.position("project_id").is_some();
        let first_input = if manifest {
            names.iter().take_while(|n| is_fixed_column(n)).count()
        } else {
            0
        };
        let v2_only: Vec<&str> = names[first_input..]
            .iter()
            .map(String::as_str)
            .filter(|n| *n == "folder_id" || n.starts_with("watermark_"))
            .collect();
        if !v2_only.is_empty() {
            return Err(Error::Usage(format!(
                "failed to read the exports to make: {} has column(s) {} that only v2 exports take; add --api v2 to export through the v2 endpoints (v3 exports have no folders and no watermark), or remove the column(s)",
                data.display(),
                v2_only.join(", ")
            )));
        }
        let key = match (key, manifest) {
            (Some(k), _) => KeySource::for_header(header, Some(k))?,
            // A run's manifest: its rows keep the keys the run gave them.
            (None, true) => KeySource::for_header(header, Some("key"))?,
            (None, false) => KeySource::for_header(header, None)?,
        };
        let project = header.position("project_id").ok_or_else(|| {
            Error::Usage(format!(
                "failed to read the exports to make: {} has no project_id column{}; its header must name the project to export in a column project_id (a run's manifest.csv has one)",
                data.display(),
                header
                    .closest("project_id")
                    .map(|c| format!(" (is {c:?} meant?)"))
                    .unwrap_or_default()
            ))
        })?;
        Ok(V3Columns {
            key,
            project,
            status: manifest.then(|| header.position("status")).flatten(),
            first_input,
            include_non_drafts,
        })
    }

    /// The columns carried into the export's manifest.
    pub(super) fn carried<'a>(&self, names: &'a [String]) -> &'a [String] {
        &names[self.first_input.min(names.len())..]
    }

    /// Whether the input is a batchgen manifest.
    pub(super) fn is_manifest(&self) -> bool {
        self.status.is_some()
    }

    /// What becomes of `row`; `seen` holds the projects of the earlier rows of this pass.
    pub(super) fn take(&self, row: &Row, seen: &mut Seen) -> Taken {
        if let Some(i) = self.status {
            let status = row.cell(i).trim();
            if status != DRAFT && !self.include_non_drafts {
                return Taken::Skipped(status.to_owned());
            }
        }
        let key = self.key.key_of(row);
        let inputs: Vec<String> = (self.first_input..row.fields.len())
            .map(|i| row.cell(i).to_owned())
            .collect();
        Taken::Input(match self.check(row, seen) {
            Ok(project_id) => JobInput::ProjectExport(ProjectExportRow {
                row: row.number,
                file_stem: file_stem(&key),
                key,
                project_id,
                inputs,
            }),
            Err(error) => JobInput::Invalid {
                row: row.number,
                key,
                error,
                inputs,
            },
        })
    }

    fn check(&self, row: &Row, seen: &mut Seen) -> Result<ProjectId, String> {
        let line = row.line;
        if let Some(defect) = &row.defect {
            return Err(format!("line {line}: {defect}"));
        }
        let id = check_id("project id", row.cell(self.project)).map_err(|e| {
            format!(
                "line {line}, column project_id: {e}; every row needs the id of the project to export{}",
                if self.is_manifest() {
                    " (a row the run could not create has none)"
                } else {
                    ""
                }
            )
        })?;
        if let Some(first) = seen.get(&id) {
            return Err(format!(
                "line {line}, column project_id: project {id} is already exported by row {first}; a project renders one video at a time, and exporting it again would restart that render and be paid again"
            ));
        }
        seen.insert(id.clone(), row.number);
        ProjectId::new(id).map_err(|e| format!("line {line}, column project_id: {e}"))
    }
}

/// The manifest rows skipped for their status, for the listing before the run.
#[derive(Default)]
pub(super) struct Skipped {
    /// How many rows.
    pub(super) count: u64,
    /// The first few: (row, key, status).
    pub(super) shown: Vec<(u64, String, String)>,
}

/// Rows listed by name before the count.
const SHOWN: usize = 10;

impl Skipped {
    pub(super) fn add(&mut self, row: u64, key: String, status: String) {
        self.count += 1;
        if self.shown.len() < SHOWN {
            self.shown.push((row, key, status));
        }
    }

    /// The listing, or `None` when nothing was skipped.
    pub(super) fn message(&self, data: &Path) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let mut s = format!(
            "skipped {} row(s) of {} whose status is not draft: they were rendered once already (or have no project), and exporting them renders and charges again; --include-non-drafts exports them too",
            self.count,
            data.display()
        );
        for (row, key, status) in &self.shown {
            let status = if status.is_empty() { "(empty)" } else { status };
            s.push_str(&format!("\n  row {row} ({key}): {status}"));
        }
        if self.count > self.shown.len() as u64 {
            s.push_str(&format!(
                "\n  … and {} more",
                self.count - self.shown.len() as u64
            ));
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use batchgen_core::RowReader;

    fn take_all(csv: &str, include: bool) -> Vec<Taken> {
        let reader = RowReader::from_reader(csv.as_bytes(), "m.csv").unwrap();
        let cols = V3Columns::find(reader.header(), None, Path::new("m.csv"), include).unwrap();
        let mut seen = Seen::new();
        reader.map(|r| cols.take(&r.unwrap(), &mut seen)).collect()
    }

    fn describe(t: &Taken) -> String {
        match t {
            Taken::Skipped(s) => format!("skipped {s}"),
            Taken::Input(JobInput::ProjectExport(e)) => {
                format!("{} {} {:?}", e.key, e.project_id, e.inputs)
            }
            Taken::Input(JobInput::Invalid { key, error, .. }) => format!("{key} invalid: {error}"),
            Taken::Input(other) => panic!("unexpected {other:?}"),
        }
    }

    /// A manifest as this version writes it (DESIGN.md's order: `error` after `attempts`).
    const MANIFEST: &str = "row,key,status,project_id,download_url,file,attempts,error,credits,changed,project_name,submitted_at,ended_at,failure_class,name,city\n\
        1,ann,draft,p1,,,1,,,,P [ann],2026-12-01T09:30:00Z,2026-12-01T09:30:01Z,,Ann,Oslo\n\
        2,bob,ready,p2,https://v/2.mp4,,1,,2,,P [bob],2026-12-01T09:30:00Z,2026-12-01T09:31:00Z,,Bob,Rome\n\
        3,cy,invalid,,,,0,bad,,,,,2026-12-01T09:30:00Z,invalid,Cy,\n\
        4,dee,draft,p1,,,1,,,,P [dee],2026-12-01T09:30:00Z,2026-12-01T09:30:01Z,,Dee,Bonn\n";

    /// The same rows as an earlier build wrote them: `credits` before `error`, and none of the
    /// columns added after `changed`.
    const OLD_MANIFEST: &str = "row,key,status,project_id,download_url,file,attempts,credits,error,changed,name,city\n\
        1,ann,draft,p1,,,1,,,,Ann,Oslo\n\
        2,bob,ready,p2,https://v/2.mp4,,1,2,,,Bob,Rome\n\
        3,cy,invalid,,,,0,,bad,,Cy,\n\
        4,dee,draft,p1,,,1,,,,Dee,Bonn\n";

    #[test]
    fn a_manifest_exports_its_drafts_by_their_keys_and_skips_the_rest() {
        let v: Vec<String> = take_all(MANIFEST, false).iter().map(describe).collect();
        assert_eq!(v[0], r#"ann p1 ["Ann", "Oslo"]"#);
        assert_eq!(v[1], "skipped ready");
        assert_eq!(v[2], "skipped invalid");
        assert_eq!(
            v[3],
            "dee invalid: line 5, column project_id: project p1 is already exported by row 1; a project renders one video at a time, and exporting it again would restart that render and be paid again"
        );
    }

    #[test]
    fn a_manifest_in_the_old_column_order_reads_as_one_in_the_new() {
        for include in [false, true] {
            let new: Vec<String> = take_all(MANIFEST, include).iter().map(describe).collect();
            let old: Vec<String> = take_all(OLD_MANIFEST, include)
                .iter()
                .map(describe)
                .collect();
            assert_eq!(old, new, "include_non_drafts: {include}");
        }
        for text in [MANIFEST, OLD_MANIFEST] {
            let reader = RowReader::from_reader(text.as_bytes(), "m.csv").unwrap();
            let cols = V3Columns::find(reader.header(), None, Path::new("m.csv"), false).unwrap();
            assert!(cols.is_manifest());
            assert_eq!(cols.carried(reader.header().names()), ["name", "city"]);
        }
    }

    #[test]
    fn include_non_drafts_sends_them_and_rows_without_a_project_are_invalid() {
        let v: Vec<String> = take_all(MANIFEST, true).iter().map(describe).collect();
        assert_eq!(v[1], r#"bob p2 ["Bob", "Rome"]"#);
        assert_eq!(
            v[2],
            "cy invalid: line 4, column project_id: the project id is empty; every row needs the id of the project to export (a row the run could not create has none)"
        );
    }

    #[test]
    fn any_csv_with_project_id_works_and_v2_columns_are_refused() {
        let v: Vec<String> = take_all("project_id,note\np1,a\n p2 ,b\n", false)
            .iter()
            .map(describe)
            .collect();
        assert_eq!(v, [r#"row-1 p1 ["p1", "a"]"#, r#"row-2 p2 [" p2 ", "b"]"#]);
        for header in ["project_id,folder_id", "project_id,watermark_src_url"] {
            let text = format!("{header}\n");
            let reader = RowReader::from_reader(text.as_bytes(), "x.csv").unwrap();
            let e = V3Columns::find(reader.header(), None, Path::new("x.csv"), false)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("that only v2 exports take; add --api v2"), "{e}");
        }
    }

    #[test]
    fn the_listing_names_the_first_rows_and_counts_the_rest() {
        let mut s = Skipped::default();
        assert!(s.message(Path::new("m.csv")).is_none());
        for i in 0..12 {
            s.add(i, format!("k{i}"), "ready".into());
        }
        let m = s.message(Path::new("m.csv")).unwrap();
        assert!(m.starts_with("skipped 12 row(s) of m.csv whose status is not draft"));
        assert!(m.contains("\n  row 0 (k0): ready"));
        assert!(m.ends_with("… and 2 more"), "{m}");
    }
}
