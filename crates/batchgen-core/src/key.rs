//! Row keys: the identity of a row in file names, the manifest and resume.
//!
//! A key is the value of the `--key` column, or `row-N` (N the 1-based data row number). Keys name
//! output files once sanitised ([`file_stem`]); keys that are unique but sanitise to the same file
//! name are refused by [`check_unique`].

use crate::error::InputError;
use crate::row::{Header, ReadOptions, Row, RowReader};
use std::collections::HashMap;
use std::path::Path;

/// Where a row's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `row-N`.
    RowNumber,
    /// The named column (its 0-based position and name).
    Column {
        /// 0-based position in the header.
        index: usize,
        /// The header name.
        name: String,
    },
}

impl KeySource {
    /// The key source for `--key NAME` (or `row-N` when `None`), checked against the header.
    pub fn for_header(
        header: &Header,
        column: Option<&str>,
    ) -> Result<KeySource, crate::CompileError> {
        match column {
            None => Ok(KeySource::RowNumber),
            Some(name) => header
                .position(name)
                .map(|index| KeySource::Column {
                    index,
                    name: name.to_string(),
                })
                .ok_or_else(|| crate::CompileError::KeyColumn {
                    name: name.to_string(),
                    suggestion: header.closest(name).map(str::to_string),
                }),
        }
    }

    /// The key of `row`: the trimmed cell, or `row-N`.
    pub fn key_of(&self, row: &Row) -> String {
        match self {
            KeySource::RowNumber => format!("row-{}", row.number),
            KeySource::Column { index, .. } => row.cell(*index).trim().to_string(),
        }
    }
}

/// A file-name-safe form of `key`: letters, digits, `-`, `_` and `.` are kept, anything else
/// becomes `_`; no leading dot; at most 100 bytes; never empty.
///
/// ```
/// use batchgen_core::file_stem;
/// assert_eq!(file_stem("ann@example.com"), "ann_example.com");
/// assert_eq!(file_stem("../etc/passwd"), "_._etc_passwd");
/// assert_eq!(file_stem("Zoë 李"), "Zoë_李");
/// ```
pub fn file_stem(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        let keep = c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
        let c = if keep { c } else { '_' };
        if out.len() + c.len_utf8() > 100 {
            break;
        }
        out.push(c);
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Reads the CSV at `path` and checks the keys of column `column`: none empty, none repeated, no
/// two that give the same [`file_stem`] (compared case-insensitively, as file systems may).
///
/// Memory: one 64-bit hash and a line number per distinct key (about 30 bytes a row); the keys
/// themselves are not kept. When two hashes meet, the file is read again to find the first row and
/// tell a real repeat from a hash collision.
pub fn check_unique(path: &Path, column: &str) -> Result<(), InputError> {
    check_unique_with(path, ReadOptions::default(), column)
}

/// [`check_unique`] for a file read as `options` say.
pub fn check_unique_with(
    path: &Path,
    options: ReadOptions,
    column: &str,
) -> Result<(), InputError> {
    let mut rows = RowReader::with_options(path, options)?;
    let Some(index) = rows.header().position(column) else {
        return Ok(());
    };
    let mut seen: HashMap<u64, u64> = HashMap::new();
    while let Some(row) = rows.next_row() {
        let row = row?;
        if row.defect.is_some() {
            continue;
        }
        let key = row.cell(index).trim();
        if key.is_empty() {
            return Err(InputError::EmptyKey {
                path: path.to_path_buf(),
                column: column.to_string(),
                line: row.line,
            });
        }
        let stem = file_stem(key).to_lowercase();
        let hash = stem_hash(&stem);
        if let Some(&first_line) = seen.get(&hash) {
            let first = key_on_line(path, options, index, first_line)?;
            if file_stem(&first).to_lowercase() == stem {
                return Err(if first == key {
                    InputError::DuplicateKey {
                        path: path.to_path_buf(),
                        column: column.to_string(),
                        key: key.to_string(),
                        first_line,
                        line: row.line,
                    }
                } else {
                    InputError::KeyCollision {
                        path: path.to_path_buf(),
                        first,
                        first_line,
                        second: key.to_string(),
                        line: row.line,
                        file: file_stem(key),
                    }
                });
            }
            // A 64-bit hash collision of two different stems: nothing wrong with the data.
            continue;
        }
        seen.insert(hash, row.line);
    }
    Ok(())
}

fn stem_hash(stem: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(stem)
}

/// The trimmed key of the row starting on `line`.
fn key_on_line(
    path: &Path,
    options: ReadOptions,
    index: usize,
    line: u64,
) -> Result<String, InputError> {
    let mut rows = RowReader::with_options(path, options)?;
    while let Some(row) = rows.next_row() {
        let row = row?;
        if row.line == line {
            return Ok(row.cell(index).trim().to_string());
        }
    }
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(data: &str) -> Result<(), InputError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        std::fs::write(&path, data).unwrap();
        check_unique(&path, "id")
    }

    #[test]
    fn duplicates_name_both_lines() {
        let e = check("id,x\na,1\nb,2\n\"multi\nline\",3\na,4\n").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("line 2 and again on line 6"), "{text}");
    }

    #[test]
    fn sanitised_collisions_and_empty_keys() {
        assert!(matches!(
            check("id\na b\na_b\n"),
            Err(InputError::KeyCollision { .. })
        ));
        assert!(matches!(
            check("id\nAnn\nann\n"),
            Err(InputError::KeyCollision { .. })
        ));
        assert!(matches!(
            check("id,x\na,1\n ,2\n"),
            Err(InputError::EmptyKey { line: 3, .. })
        ));
        assert!(check("id\na\nb\n").is_ok());
    }
}
