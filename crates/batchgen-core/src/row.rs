//! CSV rows, streamed: one record buffer per read, positions kept for messages.
//!
//! UTF-8 with or without a BOM, CRLF or LF, quoted fields holding commas, quotes and newlines. A
//! ragged row or a row that is not UTF-8 is not an error of the file: it becomes an invalid row
//! (see [`Row::defect`]) and the others go on.

use crate::error::InputError;
use csv::{ByteRecord, StringRecord};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The CSV header: the column names in order.
#[derive(Debug, Clone)]
pub struct Header {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Header {
    /// A header from column names; names must be unique (the error gives the two positions).
    pub fn new(names: Vec<String>) -> Result<Header, (String, usize, usize)> {
        let mut index = HashMap::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            if let Some(first) = index.insert(n.clone(), i) {
                return Err((n.clone(), first + 1, i + 1));
            }
        }
        Ok(Header { names, index })
    }

    /// The column names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// `true` when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The 0-based position of column `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The existing column closest to `name` (for "did you mean" messages), if any is close.
    pub fn closest(&self, name: &str) -> Option<&str> {
        closest(name, self.names.iter().map(String::as_str))
    }
}

/// The candidate closest to `name` by edit distance (case-insensitive), if it is close enough to
/// be a plausible typo.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .map(|c| (strsim::levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (name.chars().count().max(c.chars().count()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// What is wrong with a row as read, before any templating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowDefect {
    /// The row has another number of fields than the header.
    Ragged {
        /// Fields found.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// A field is not valid UTF-8.
    NotUtf8 {
        /// 1-based column of the first bad field.
        column: usize,
    },
}

impl std::fmt::Display for RowDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowDefect::Ragged { found, expected } => write!(
                f,
                "the row has {found} fields but the header has {expected}: check for a missing or extra comma, or quote cells that contain commas"
            ),
            RowDefect::NotUtf8 { column } => write!(
                f,
                "column {column} is not valid UTF-8: save the CSV as UTF-8"
            ),
        }
    }
}

/// One data row of the CSV.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based data row number (the header is not counted).
    pub number: u64,
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// The cells. For a [`RowDefect::NotUtf8`] row the bad bytes are replaced by U+FFFD.
    pub fields: StringRecord,
    /// What is wrong with the row as read, if anything.
    pub defect: Option<RowDefect>,
}

impl Row {
    /// A row built in memory (for embedding and tests): `number` is also used as its line + 1.
    pub fn new(number: u64, fields: impl IntoIterator<Item = impl AsRef<str>>) -> Row {
        let fields: StringRecord = fields.into_iter().collect();
        Row {
            number,
            line: number + 1,
            fields,
            defect: None,
        }
    }

    /// The cell of column `index`, `""` when the row is short.
    pub fn cell(&self, index: usize) -> &str {
        self.fields.get(index).unwrap_or_default()
    }
}

/// Streams the rows of a CSV, reusing one record buffer.
///
/// ```
/// use batchgen_core::RowReader;
/// let data = "name,zoom\r\n\u{feff}Ann,1\r\n\"B, \"\"Bo\"\"\",2\r\n";
/// let mut rows = RowReader::from_reader(data.as_bytes(), "inline.csv").unwrap();
/// assert_eq!(rows.header().names(), ["name", "zoom"]);
/// let first = rows.next_row().unwrap().unwrap();
/// let second = rows.next_row().unwrap().unwrap();
/// assert_eq!(&second.fields[0], "B, \"Bo\"");
/// assert_eq!((second.number, second.line), (2, 3));
/// assert!(rows.next_row().is_none());
/// ```
pub struct RowReader<R> {
    reader: csv::Reader<Lines<R>>,
    delimiter: u8,
    header: Header,
    origin: PathBuf,
    record: ByteRecord,
    number: u64,
}

impl RowReader<std::io::BufReader<std::fs::File>> {
    /// Opens the CSV at `path` and reads its header.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, InputError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(file, path)
    }
}

impl<R: Read> RowReader<std::io::BufReader<R>> {
    /// Reads CSV from any reader; `origin` names it in messages.
    ///
    /// The separator is `,` unless the header line has no comma but has `;`, a tab or `|` (as
    /// spreadsheets write CSV in many locales): then that one. [`delimiter`](Self::delimiter) tells
    /// which was used.
    pub fn from_reader(reader: R, origin: impl AsRef<Path>) -> Result<Self, InputError> {
        let origin = origin.as_ref().to_path_buf();
        let mut reader = std::io::BufReader::with_capacity(64 * 1024, reader);
        let peek = std::io::BufRead::fill_buf(&mut reader).map_err(|source| InputError::Read {
            path: origin.clone(),
            source,
        })?;
        let delimiter = sniff_delimiter(peek);
        Self::open(reader, origin, delimiter)
    }
}

/// The separator a header line uses: `,` if it has any comma outside quotes, otherwise the most
/// frequent of `;`, tab and `|`, otherwise `,`.
fn sniff_delimiter(start: &[u8]) -> u8 {
    let line = start.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut counts = [0usize; 4];
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            b'|' if !quoted => counts[3] += 1,
            _ => {}
        }
    }
    if counts[0] > 0 {
        return b',';
    }
    let candidates = [(counts[1], b';'), (counts[2], b'\t'), (counts[3], b'|')];
    candidates
        .iter()
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, _)| *n)
        .map_or(b',', |(_, d)| *d)
}

impl<R: Read> RowReader<R> {
    fn open(reader: R, origin: PathBuf, delimiter: u8) -> Result<Self, InputError> {
        let lines = Lines {
            inner: reader,
            offset: 0,
            newlines: std::collections::VecDeque::new(),
            before: 0,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .delimiter(delimiter)
            .from_reader(lines);
        let header_record = reader
            .byte_headers()
            .map_err(|e| csv_error(&origin, &e))?
            .clone();
        if header_record.is_empty() || (header_record.len() == 1 && header_record[0].is_empty()) {
            return Err(InputError::Empty { path: origin });
        }
        let mut names = Vec::with_capacity(header_record.len());
        for (i, field) in header_record.iter().enumerate() {
            let name = std::str::from_utf8(field).map_err(|_| InputError::Csv {
                path: origin.clone(),
                line: 1,
                message: format!(
                    "header column {} is not valid UTF-8: save the CSV as UTF-8",
                    i + 1
                ),
            })?;
            let name = if i == 0 {
                name.trim_start_matches('\u{feff}')
            } else {
                name
            };
            names.push(name.trim().to_string());
        }
        let header =
            Header::new(names).map_err(|(name, first, second)| InputError::DuplicateColumn {
                path: origin.clone(),
                name,
                first,
                second,
            })?;
        Ok(RowReader {
            reader,
            delimiter,
            header,
            origin,
            record: ByteRecord::new(),
            number: 0,
        })
    }

    /// The field separator in use (`b','` unless the header showed another).
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Where the rows come from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The next row, `None` at the end. An `Err` means the file cannot be read further (I/O);
    /// malformed rows come back as rows with a [`Row::defect`].
    pub fn next_row(&mut self) -> Option<Result<Row, InputError>> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => None,
            Err(e) => Some(Err(csv_error(&self.origin, &e))),
            Ok(true) => {
                self.number += 1;
                // csv's own line count skips newlines inside quoted fields: count them ourselves.
                // After a CRLF, csv's record offset points at the LF ending the previous line.
                let byte = self.record.position().map_or(0, csv::Position::byte);
                let line = self.reader.get_mut().line_at(byte + 1);
                let mut defect = None;
                let fields = match StringRecord::from_byte_record(self.record.clone()) {
                    Ok(r) => r,
                    Err(e) => {
                        let column = e.utf8_error().field() + 1;
                        defect = Some(RowDefect::NotUtf8 { column });
                        self.record
                            .iter()
                            .map(|f| String::from_utf8_lossy(f).into_owned())
                            .collect()
                    }
                };
                if defect.is_none() && fields.len() != self.header.len() {
                    defect = Some(RowDefect::Ragged {
                        found: fields.len(),
                        expected: self.header.len(),
                    });
                }
                Some(Ok(Row {
                    number: self.number,
                    line,
                    fields,
                    defect,
                }))
            }
        }
    }
}

impl<R: Read> Iterator for RowReader<R> {
    type Item = Result<Row, InputError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
    }
}

/// A reader that remembers where its newlines are, so that a record's byte offset can be turned
/// into the line a person sees in an editor. Only the offsets not yet passed are kept.
struct Lines<R> {
    inner: R,
    offset: u64,
    newlines: std::collections::VecDeque<u64>,
    before: u64,
}

impl<R> Lines<R> {
    /// The 1-based line of byte `offset`; offsets must not go backwards.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.newlines.front().is_some_and(|&n| n < offset) {
            self.newlines.pop_front();
            self.before += 1;
        }
        self.before + 1
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for i in memchr::memchr_iter(b'\n', &buf[..n]) {
            self.newlines.push_back(self.offset + i as u64);
        }
        self.offset += n as u64;
        Ok(n)
    }
}

fn csv_error(origin: &Path, e: &csv::Error) -> InputError {
    match e.kind() {
        csv::ErrorKind::Io(io) => InputError::Read {
            path: origin.to_path_buf(),
            source: std::io::Error::new(io.kind(), io.to_string()),
        },
        _ => InputError::Csv {
            path: origin.to_path_buf(),
            line: e.position().map_or(0, csv::Position::line),
            message: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &[u8]) -> (Header, Vec<Row>) {
        let mut r = RowReader::from_reader(data, "t.csv").unwrap();
        let header = r.header().clone();
        let rows = r.by_ref().map(Result::unwrap).collect();
        (header, rows)
    }

    #[test]
    fn crlf_bom_quotes_and_newlines() {
        let (h, rows) = rows("\u{feff}a,b\r\n1,\"x\r\ny\"\r\n\"q,\"\"\",2\r\n".as_bytes());
        assert_eq!(h.names(), ["a", "b"]);
        assert_eq!(&rows[0].fields[1], "x\r\ny");
        assert_eq!(&rows[1].fields[0], "q,\"");
        assert_eq!(rows[1].line, 4);
        assert!(rows.iter().all(|r| r.defect.is_none()));
    }

    #[test]
    fn ragged_and_non_utf8_rows_are_defects_not_errors() {
        let (_, rows) = rows(b"a,b\n1,2,3\n1\n\xff\xfe,2\nok,ok\n");
        assert_eq!(
            rows[0].defect,
            Some(RowDefect::Ragged {
                found: 3,
                expected: 2
            })
        );
        assert_eq!(
            rows[1].defect,
            Some(RowDefect::Ragged {
                found: 1,
                expected: 2
            })
        );
        assert_eq!(rows[2].defect, Some(RowDefect::NotUtf8 { column: 1 }));
        assert_eq!(rows[3].defect, None);
        assert_eq!(
            rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            [2, 3, 4, 5]
        );
    }

    #[test]
    fn duplicate_header_names_are_refused() {
        let err = RowReader::from_reader(&b"a,b,a\n"[..], "t.csv")
            .err()
            .unwrap();
        assert!(err.to_string().contains("columns 1 and 3"), "{err}");
    }

    #[test]
    fn semicolon_and_tab_separated_files_are_recognised() {
        let (h, read) = rows(b"name;zoom\nAnn;1,5\n\"B;o\";2\n");
        assert_eq!(h.names(), ["name", "zoom"]);
        assert_eq!(&read[0].fields[1], "1,5");
        assert_eq!(&read[1].fields[0], "B;o");
        let (h, _) = rows(b"a\tb\n1\t2\n");
        assert_eq!(h.names(), ["a", "b"]);
        let (h, _) = rows(b"\"a;b\",c\n1,2\n");
        assert_eq!(h.names(), ["a;b", "c"]);
        let (h, _) = rows(b"single\nx\n");
        assert_eq!(h.names(), ["single"]);
    }

    #[test]
    fn empty_file_is_refused() {
        assert!(matches!(
            RowReader::from_reader(&b""[..], "t.csv"),
            Err(InputError::Empty { .. })
        ));
    }

    #[test]
    fn closest_finds_typos_only() {
        let h = Header::new(vec!["first_name".into(), "email".into()]).unwrap();
        assert_eq!(h.closest("frist_name"), Some("first_name"));
        assert_eq!(h.closest("Email"), Some("email"));
        assert_eq!(h.closest("zzzzzz"), None);
    }
}
