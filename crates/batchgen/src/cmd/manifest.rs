//! `batchgen manifest merge DIR… [--out FILE|DIR]`: joins the manifests of the shards of one
//! `--shard K/N` run into one, in row order.
//!
//! Each DIR is a shard's output directory: its `shard.json` (see [`crate::shard`]) says which
//! shard it holds and what the whole input's rows are; its `manifest.jsonl` and `manifest.csv`
//! list the shard's rows. The merge refuses (exit 2, naming them) a directory given twice, two
//! directories of the same shard, shards of different inputs or shard counts, a row listed
//! twice, a row listed by a shard it does not belong to, and rows of the input that no
//! manifest lists (a shard missing, or one that has not finished writing its manifest).
//!
//! Output: `--out DIR` writes `DIR/manifest.csv` and `DIR/manifest.jsonl`; `--out FILE.csv` or
//! `--out FILE.jsonl` writes that one; without `--out`, the JSONL goes to stdout.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::IoAction as _;
use batchgen_dispatch::manifest::{MANIFEST_CSV, MANIFEST_JSONL, write_atomic};
use clap::{Args, Subcommand};

use crate::error::Error;
use crate::exit::Outcome;
use crate::shard::{Record, SHARD_FILE, Shard};

/// `batchgen manifest`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    #[command(subcommand)]
    pub command: ManifestCommand,
}

/// The `manifest` subcommands.
#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Join the manifests of every shard of a `--shard K/N` run into one, in row order; refuses
    /// (exit 2) duplicate or missing rows.
    Merge(MergeArgs),
}

/// `batchgen manifest merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' output directories (each with shard.json, manifest.csv, manifest.jsonl).
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write: a directory (manifest.csv and manifest.jsonl in it), or a FILE ending
    /// in .csv or .jsonl. Default: the JSONL to stdout.
    #[arg(long, value_name = "FILE|DIR")]
    pub out: Option<PathBuf>,
}

/// Runs `batchgen manifest …`.
pub fn run(args: ManifestArgs, quiet: bool) -> crate::error::Result<Outcome> {
    match args.command {
        ManifestCommand::Merge(m) => merge(&m, quiet),
    }
}

/// Rows listed in a refusal before "and N more".
const SHOW: usize = 20;

fn refuse(message: String) -> Error {
    Error::Usage(format!("failed to merge the manifests: {message}"))
}

/// A shard's file that cannot be read: "failed to merge the manifests: {action}: {cause}".
fn merging(
    action: String,
    cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    hint: Option<&str>,
) -> Error {
    Error::unusable(format!("merge the manifests: {action}"), cause, hint)
}

/// One shard's output directory, read.
struct ShardDir {
    dir: PathBuf,
    record: Record,
    /// (row, key, line) of manifest.jsonl.
    jsonl: Vec<(u64, String, String)>,
    csv: CsvManifest,
}

/// A manifest.csv: its style, header and rows.
struct CsvManifest {
    bom: bool,
    delimiter: u8,
    header: csv::ByteRecord,
    rows: Vec<(u64, csv::ByteRecord)>,
}

impl CsvManifest {
    /// Puts the columns in `header`'s order when this manifest has the same columns in another
    /// order (shards written by builds before and after the columns moved: `credits` came
    /// before `error` until December 2026). Nothing changes when the names differ, or repeat
    /// (an input column named like a fixed one): [`check`] then refuses the pair.
    fn align_to(&mut self, header: &csv::ByteRecord) {
        if self.header == *header || self.header.len() != header.len() {
            return;
        }
        let unique = |h: &csv::ByteRecord| {
            h.iter().collect::<std::collections::HashSet<_>>().len() == h.len()
        };
        if !unique(header) || !unique(&self.header) {
            return;
        }
        let Some(from): Option<Vec<usize>> = header
            .iter()
            .map(|name| self.header.iter().position(|n| n == name))
            .collect()
        else {
            return;
        };
        for (_, row) in &mut self.rows {
            *row = from
                .iter()
                .map(|&i| row.get(i).unwrap_or_default())
                .collect();
        }
        self.header = header.clone();
    }
}

fn read_dir(dir: &Path) -> crate::error::Result<ShardDir> {
    let record = Record::read(dir)?.ok_or_else(|| {
        refuse(format!(
            "{} has no {SHARD_FILE}: it is not the --out of a `batchgen run --shard K/N` (or `export --shard`); give each shard's output directory",
            dir.display()
        ))
    })?;
    let path = dir.join(MANIFEST_JSONL);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        merging(
            format!("read {}", path.display()),
            e,
            Some("the shard has not written its manifest yet: run it (again) to the end"),
        )
    })?;
    let mut jsonl = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| merging(format!("read {} line {}", path.display(), i + 1), e, None))?;
        let (Some(row), Some(key)) = (v["row"].as_u64(), v["key"].as_str()) else {
            return Err(refuse(format!(
                "{} line {}: no \"row\" number or \"key\"; it is not a batchgen manifest",
                path.display(),
                i + 1
            )));
        };
        jsonl.push((row, key.to_owned(), line.to_owned()));
    }
    let csv = read_csv(&dir.join(MANIFEST_CSV))?;
    let a: Vec<u64> = jsonl.iter().map(|r| r.0).collect();
    let b: Vec<u64> = csv.rows.iter().map(|r| r.0).collect();
    if a != b {
        return Err(refuse(format!(
            "{}'s {MANIFEST_CSV} and {MANIFEST_JSONL} list different rows; run the shard again to rewrite them",
            dir.display()
        )));
    }
    Ok(ShardDir {
        dir: dir.to_owned(),
        record,
        jsonl,
        csv,
    })
}

/// Reads a manifest.csv as batchgen wrote it: an optional UTF-8 BOM, then a header starting
/// `row` and the separator.
fn read_csv(path: &Path) -> crate::error::Result<CsvManifest> {
    let bytes =
        std::fs::read(path).map_err(|e| merging(format!("read {}", path.display()), e, None))?;
    let (bom, body) = match bytes.strip_prefix("\u{feff}".as_bytes()) {
        Some(rest) => (true, rest),
        None => (false, &bytes[..]),
    };
    let delimiter = match body.strip_prefix(b"row") {
        Some([d, ..]) if b",;\t|".contains(d) => *d,
        _ => {
            return Err(refuse(format!(
                "{} does not start with a `row` column; it is not a batchgen manifest",
                path.display()
            )));
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(body);
    let header = reader
        .byte_headers()
        .map_err(|e| merging(format!("read {}", path.display()), e, None))?
        .clone();
    let mut rows = Vec::new();
    for rec in reader.byte_records() {
        let rec = rec.map_err(|e| merging(format!("read {}", path.display()), e, None))?;
        let row = std::str::from_utf8(rec.get(0).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| {
                refuse(format!(
                    "{} line {}: the row column is not a number",
                    path.display(),
                    rec.position().map_or(0, csv::Position::line)
                ))
            })?;
        rows.push((row, rec));
    }
    Ok(CsvManifest {
        bom,
        delimiter,
        header,
        rows,
    })
}

/// Row numbers as `3, 7-9, 12`, at most [`SHOW`] of them, then "and N more".
fn ranges(rows: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut shown = 0;
    let mut i = 0;
    while i < rows.len() && shown < SHOW {
        let mut j = i;
        while j + 1 < rows.len() && rows[j + 1] == rows[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            rows[i].to_string()
        } else {
            format!("{}-{}", rows[i], rows[j])
        });
        shown += j - i + 1;
        i = j + 1;
    }
    let mut text = parts.join(", ");
    if i < rows.len() {
        text.push_str(&format!(" and {} more", rows.len() - i));
    }
    text
}

/// Checks that `dirs` are the shards of one run, each once, with every row exactly once;
/// returns, in row order, the index of the directory each row comes from.
fn check(dirs: &[ShardDir]) -> crate::error::Result<Vec<usize>> {
    let first = &dirs[0];
    // The same directory twice, or two directories of one shard.
    let mut by_shard: HashMap<Shard, &Path> = HashMap::new();
    let mut by_path: HashMap<PathBuf, &Path> = HashMap::new();
    for d in dirs {
        let real = std::fs::canonicalize(&d.dir).unwrap_or_else(|_| d.dir.clone());
        if let Some(other) = by_path.insert(real, &d.dir) {
            let also = if other == d.dir {
                String::new()
            } else {
                format!(" (also as {})", other.display())
            };
            return Err(refuse(format!(
                "{} is given twice{also}; give each shard's directory once",
                d.dir.display()
            )));
        }
        let r = &d.record;
        if (r.count, r.input_rows, &r.input_row_numbers, &r.hash)
            != (
                first.record.count,
                first.record.input_rows,
                &first.record.input_row_numbers,
                &first.record.hash,
            )
        {
            return Err(refuse(format!(
                "{} (shard {}, of an input of {} rows) and {} (shard {}, of an input of {} rows) are not shards of one run; merge the shards of one input and one N",
                first.dir.display(),
                first.record.shard,
                first.record.input_rows,
                d.dir.display(),
                r.shard,
                r.input_rows
            )));
        }
        if let Some(other) = by_shard.insert(d.record.spec(), &d.dir) {
            return Err(refuse(format!(
                "shard {} is in both {} and {}: its rows would be listed twice; give each shard's directory once",
                d.record.shard,
                other.display(),
                d.dir.display()
            )));
        }
        if d.csv.header != first.csv.header {
            return Err(refuse(format!(
                "{} and {} have different manifest columns; merge the shards of one command and input",
                first.dir.display(),
                d.dir.display()
            )));
        }
    }
    // Every row once, in the shard its key belongs to.
    let mut seen: HashMap<u64, (usize, &str)> = HashMap::new();
    let mut keys: HashMap<&str, usize> = HashMap::new();
    let mut duplicates = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let spec = d.record.spec();
        for (row, key, _) in &d.jsonl {
            if !spec.takes(key) {
                return Err(refuse(format!(
                    "{} (shard {}) lists row {row} ({key}), which belongs to shard {}; the directory holds rows of another run: run the shard again into a new --out",
                    d.dir.display(),
                    spec,
                    Shard {
                        index: Shard::of_key(key, spec.count),
                        count: spec.count
                    }
                )));
            }
            let dup_row = seen.insert(*row, (i, key)).map(|(j, _)| j);
            let dup_key = keys.insert(key, i);
            if let Some(j) = dup_row.or(dup_key) {
                duplicates.push(format!(
                    "row {row} ({key}) is in {} and {}",
                    dirs[j].dir.display(),
                    d.dir.display()
                ));
            }
        }
    }
    if !duplicates.is_empty() {
        let more = duplicates.len().saturating_sub(SHOW);
        duplicates.truncate(SHOW);
        return Err(refuse(format!(
            "rows are listed twice: {}{}",
            duplicates.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )));
    }
    let mut missing: Vec<u64> = first
        .record
        .input_row_numbers
        .iter()
        .flat_map(|[a, b]| *a..=*b)
        .filter(|n| !seen.contains_key(n))
        .collect();
    missing.sort_unstable();
    if !missing.is_empty() {
        let n = first.record.count;
        let absent: Vec<String> = (0..n)
            .map(|index| Shard { index, count: n })
            .filter(|s| !by_shard.contains_key(s))
            .map(|s| s.to_string())
            .collect();
        let short: Vec<String> = dirs
            .iter()
            .filter(|d| (d.jsonl.len() as u64) < d.record.rows)
            .map(|d| {
                format!(
                    "{} (shard {}) lists {} of its {} rows: it has not finished; run it again to the end",
                    d.dir.display(),
                    d.record.shard,
                    d.jsonl.len(),
                    d.record.rows
                )
            })
            .collect();
        let mut why = Vec::new();
        if !absent.is_empty() {
            why.push(format!(
                "no directory was given for shard{} {}: run {} and give {} too",
                if absent.len() > 1 { "s" } else { "" },
                absent.join(", "),
                if absent.len() > 1 { "them" } else { "it" },
                if absent.len() > 1 {
                    "their --out"
                } else {
                    "its --out"
                },
            ));
        }
        why.extend(short);
        return Err(refuse(format!(
            "{} of the input's {} rows are in no manifest given: row{} {}; {}",
            missing.len(),
            first.record.input_rows,
            if missing.len() > 1 { "s" } else { "" },
            ranges(&missing),
            why.join("; ")
        )));
    }
    // Row order: which directory each row comes from.
    let mut order: Vec<(u64, usize)> = seen.into_iter().map(|(row, (i, _))| (row, i)).collect();
    order.sort_unstable();
    Ok(order.into_iter().map(|(_, i)| i).collect())
}

fn merge(args: &MergeArgs, quiet: bool) -> crate::error::Result<Outcome> {
    let mut dirs = args
        .dirs
        .iter()
        .map(|d| read_dir(d))
        .collect::<crate::error::Result<Vec<_>>>()?;
    let (first, rest) = dirs.split_first_mut().expect("clap requires a directory");
    for d in rest {
        d.csv.align_to(&first.csv.header);
    }
    let from = check(&dirs)?;
    // Rows in row order: the next row of the shard it comes from (each manifest is in row
    // order already; sort within each in case).
    let mut jsonl: Vec<Vec<&(u64, String, String)>> =
        dirs.iter().map(|d| d.jsonl.iter().collect()).collect();
    let mut csv_rows: Vec<Vec<&(u64, csv::ByteRecord)>> =
        dirs.iter().map(|d| d.csv.rows.iter().collect()).collect();
    for v in &mut jsonl {
        v.sort_by_key(|r| r.0);
        v.reverse();
    }
    for v in &mut csv_rows {
        v.sort_by_key(|r| r.0);
        v.reverse();
    }
    let mut lines = Vec::with_capacity(from.len());
    let mut records = Vec::with_capacity(from.len());
    for &i in &from {
        lines.push(&jsonl[i].pop().expect("counted").2);
        records.push(&csv_rows[i].pop().expect("counted").1);
    }
    let write_jsonl = |w: &mut dyn std::io::Write| -> std::io::Result<()> {
        for l in &lines {
            w.write_all(l.as_bytes())?;
            w.write_all(b"\n")?;
        }
        Ok(())
    };
    let style = &dirs[0].csv;
    let write_csv = |w: &mut dyn std::io::Write| -> std::io::Result<()> {
        if style.bom {
            w.write_all("\u{feff}".as_bytes())?;
        }
        let mut out = csv::WriterBuilder::new()
            .delimiter(style.delimiter)
            .from_writer(w);
        out.write_byte_record(&style.header)?;
        for r in &records {
            out.write_byte_record(r)?;
        }
        out.flush()
    };
    let written = match &args.out {
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            write_jsonl(&mut lock).action(|| "write to stdout".into())?;
            lock.flush().action(|| "write to stdout".into())?;
            "stdout".to_owned()
        }
        Some(out) => {
            let ext = out
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            let files: Vec<PathBuf> = match ext.as_deref() {
                Some("csv") | Some("jsonl") if !out.is_dir() => vec![out.clone()],
                _ => {
                    if dirs.iter().any(|d| same_dir(&d.dir, out)) {
                        return Err(refuse(format!(
                            "--out {} is one of the shards' directories, whose manifest it would overwrite; choose another",
                            out.display()
                        )));
                    }
                    std::fs::create_dir_all(out).action(|| format!("create {}", out.display()))?;
                    vec![out.join(MANIFEST_CSV), out.join(MANIFEST_JSONL)]
                }
            };
            for f in &files {
                let csv = f.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
                let result = if csv {
                    write_atomic(f, write_csv)
                } else {
                    write_atomic(f, write_jsonl)
                };
                result.action(|| format!("write {}", f.display()))?;
            }
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        }
    };
    if !quiet {
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for l in &lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            *counts
                .entry(v["status"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
        let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        eprintln!(
            "merged {} shards of {}: {} rows ({}) to {written}",
            dirs.len(),
            dirs[0].record.count,
            lines.len(),
            counts.join(", ")
        );
    }
    Ok(Outcome::Success)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard directory of shard `k`/2 of a 2-row input listing `rows` as (row, key).
    fn shard_dir(root: &Path, name: &str, k: u32, rows: &[(u64, &str)]) -> ShardDir {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let record = Record {
            batchgen_shard: 1,
            shard: format!("{k}/2"),
            index: k - 1,
            count: 2,
            hash: crate::shard::HASH.into(),
            input_rows: 2,
            input_row_numbers: vec![[1, 2]],
            rows: rows.len() as u64,
        };
        std::fs::write(dir.join(SHARD_FILE), serde_json::to_vec(&record).unwrap()).unwrap();
        let mut csv = String::from("row;key;status\n");
        let mut jsonl = String::new();
        for (row, key) in rows {
            csv.push_str(&format!("{row};{key};ready\n"));
            jsonl.push_str(&format!(
                "{{\"row\":{row},\"key\":\"{key}\",\"status\":\"ready\"}}\n"
            ));
        }
        std::fs::write(dir.join(MANIFEST_CSV), format!("\u{feff}{csv}")).unwrap();
        std::fs::write(dir.join(MANIFEST_JSONL), jsonl).unwrap();
        read_dir(&dir).unwrap()
    }

    // Of 2 shards, "a" hashes to 1/2 and "d" to 2/2 (`printf %s d | sha256sum`).

    #[test]
    fn the_same_row_in_two_shards_is_refused_by_name() {
        let t = tempfile::tempdir().unwrap();
        let dirs = [
            shard_dir(t.path(), "one", 1, &[(1, "a")]),
            shard_dir(t.path(), "two", 2, &[(1, "d")]),
        ];
        let e = check(&dirs).unwrap_err().to_string();
        assert!(e.contains("rows are listed twice: row 1 (d) is in"), "{e}");
        assert!(e.contains("one") && e.contains("two"), "{e}");
    }

    #[test]
    fn a_row_in_the_wrong_shard_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let dirs = [
            shard_dir(t.path(), "one", 1, &[(1, "a"), (2, "d")]),
            shard_dir(t.path(), "two", 2, &[]),
        ];
        let e = check(&dirs).unwrap_err().to_string();
        assert!(
            e.contains("lists row 2 (d), which belongs to shard 2/2"),
            "{e}"
        );
    }

    #[test]
    fn the_csv_keeps_its_separator_and_bom_and_rows_come_in_order() {
        let t = tempfile::tempdir().unwrap();
        let dirs = [
            shard_dir(t.path(), "two", 2, &[(2, "d")]),
            shard_dir(t.path(), "one", 1, &[(1, "a")]),
        ];
        assert_eq!(check(&dirs).unwrap(), [1, 0]);
        let out = t.path().join("all");
        let args = MergeArgs {
            dirs: vec![t.path().join("two"), t.path().join("one")],
            out: Some(out.clone()),
        };
        merge(&args, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join(MANIFEST_CSV)).unwrap(),
            "\u{feff}row;key;status\n1;a;ready\n2;d;ready\n"
        );
        let jsonl = std::fs::read_to_string(out.join(MANIFEST_JSONL)).unwrap();
        assert!(jsonl.starts_with("{\"row\":1,"), "{jsonl}");
    }

    /// A shard whose manifest has the same columns in another order (an older build's) is
    /// merged in the first shard's order; one with other columns is refused.
    #[test]
    fn shards_with_the_columns_in_another_order_merge_by_name() {
        let t = tempfile::tempdir().unwrap();
        shard_dir(t.path(), "one", 1, &[(1, "a")]);
        shard_dir(t.path(), "two", 2, &[(2, "d")]);
        let csv = t.path().join("two").join(MANIFEST_CSV);
        std::fs::write(&csv, "\u{feff}row;status;key\n2;ready;d\n").unwrap();
        let out = t.path().join("all");
        let args = MergeArgs {
            dirs: vec![t.path().join("one"), t.path().join("two")],
            out: Some(out.clone()),
        };
        merge(&args, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join(MANIFEST_CSV)).unwrap(),
            "\u{feff}row;key;status\n1;a;ready\n2;d;ready\n"
        );
        std::fs::write(&csv, "\u{feff}row;key;state\n2;d;ready\n").unwrap();
        let e = merge(&args, true).unwrap_err().to_string();
        assert!(e.contains("have different manifest columns"), "{e}");
    }

    #[test]
    fn missing_rows_read_as_ranges() {
        assert_eq!(ranges(&[3, 7, 8, 9, 12]), "3, 7-9, 12");
        let many: Vec<u64> = (1..=50).filter(|n| n % 2 == 0).collect();
        assert_eq!(
            ranges(&many),
            "2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40 and 5 more"
        );
    }
}
