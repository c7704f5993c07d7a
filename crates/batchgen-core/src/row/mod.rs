//! CSV rows, streamed: one record buffer per read, positions kept for messages.
//!
//! The file is read as spreadsheets save it: in its encoding, decided for the whole file
//! ([`encoding`]: UTF-8 with or without a BOM, UTF-16 with a BOM, else Windows-1252, or as
//! declared); CRLF or LF; `,`, `;`, tab or `|` between cells; quoted cells holding separators,
//! quotes and newlines. Rows whose cells are all empty (the `,,,` lines Excel leaves below the data)
//! are skipped and counted. Empty unnamed columns at the end of the header are dropped, and their
//! cells with them. A quote that is never closed stops the file with the line where it opened
//! ([`lines`]). A ragged row is not an error of the file: it becomes an invalid row
//! (see [`Row::defect`]) and the others go on.

mod encoding;
mod lines;

pub use encoding::{EncodingSource, FileEncoding};

use crate::error::InputError;
use csv::{ByteRecord, StringRecord};
use encoding::{Decode, Text};
use lines::Lines;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek};
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
    /// The row has a value under a column the header leaves unnamed (at its end).
    UnnamedColumn {
        /// 1-based column of the first such value.
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
            RowDefect::UnnamedColumn { column } => write!(
                f,
                "column {column} has a value but no name in the header: name the column or clear its cells"
            ),
        }
    }
}

/// One data row of the CSV.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based data row number (the header is not counted; skipped blank rows are, so that row
    /// N is the spreadsheet's row N + 1).
    pub number: u64,
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// The cells (without those of trailing unnamed columns).
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

/// How to read a CSV: see [`RowReader::with_options`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    encoding: Option<&'static encoding_rs::Encoding>,
}

impl ReadOptions {
    /// Reads the file in the encoding named `name` (a WHATWG label: `utf-8`, `utf-16le`,
    /// `windows-1252`, `latin1`, `iso-8859-15`, `shift_jis`, `gbk`, …) instead of deciding it.
    /// `None` when no encoding has that name.
    pub fn encoding(self, name: &str) -> Option<ReadOptions> {
        encoding::for_label(name).map(|e| ReadOptions { encoding: Some(e) })
    }
}

/// Streams the rows of a CSV, reusing one record buffer.
///
/// ```
/// use batchgen_core::RowReader;
/// let data = "name,zoom,,\r\n\u{feff}Ann,1,,\r\n,,,\r\n\"B, \"\"Bo\"\"\",2,,\r\n";
/// let mut rows = RowReader::from_reader(data.as_bytes(), "inline.csv").unwrap();
/// assert_eq!(rows.header().names(), ["name", "zoom"]);
/// let first = rows.next_row().unwrap().unwrap();
/// let second = rows.next_row().unwrap().unwrap();
/// assert_eq!(&second.fields[0], "B, \"Bo\"");
/// assert_eq!((second.number, second.line), (3, 4));
/// assert!(rows.next_row().is_none());
/// assert_eq!(rows.blank_rows(), 1);
/// ```
pub struct RowReader<R> {
    reader: csv::Reader<Lines<BufReader<Text<BufReader<R>>>>>,
    delimiter: u8,
    encoding: FileEncoding,
    header: Header,
    /// Cells in the header line, unnamed trailing ones included.
    width: usize,
    origin: PathBuf,
    record: ByteRecord,
    number: u64,
    blank: u64,
    /// An error ended the stream: nothing more is read.
    stopped: bool,
}

impl RowReader<std::fs::File> {
    /// Opens the CSV at `path` and reads its header; the encoding is decided for the whole file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, InputError> {
        Self::with_options(path, ReadOptions::default())
    }

    /// Opens the CSV at `path` as `options` say. The whole file is read once first to decide its
    /// encoding (and to check it holds only text of a declared one), so that a file is never
    /// half read: a byte that is not text fails here, before any row.
    pub fn with_options(path: impl AsRef<Path>, options: ReadOptions) -> Result<Self, InputError> {
        let path = path.as_ref();
        let read_error = |source| InputError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(read_error)?;
        let mut start = [0u8; 4];
        let n = read_up_to(&mut file, &mut start).map_err(read_error)?;
        file.rewind().map_err(read_error)?;
        let mut whole = BufReader::with_capacity(64 * 1024, &mut file);
        let encoding = encoding::decide(&start[..n], options.encoding, Some(&mut whole))
            .map_err(read_error)?
            .map_err(|m| malformed(path, m))?;
        drop(whole);
        file.rewind().map_err(read_error)?;
        Self::open(file, path.to_path_buf(), encoding)
    }
}

impl<R: Read> RowReader<R> {
    /// Reads CSV from any reader; `origin` names it in messages.
    ///
    /// A reader cannot be read twice, so its encoding is decided from its first 64 KiB: a later
    /// byte that is not text in it ends the stream with an error ([`from_path`](RowReader::from_path)
    /// decides for the whole file). The separator is `,` unless the header line has no comma but
    /// has `;`, a tab or `|` (as spreadsheets write CSV in many locales): then that one.
    /// [`delimiter`](Self::delimiter) tells which was used.
    pub fn from_reader(reader: R, origin: impl AsRef<Path>) -> Result<Self, InputError> {
        Self::from_reader_with(reader, origin, ReadOptions::default())
    }

    /// [`from_reader`](Self::from_reader) as `options` say.
    pub fn from_reader_with(
        reader: R,
        origin: impl AsRef<Path>,
        options: ReadOptions,
    ) -> Result<Self, InputError> {
        let origin = origin.as_ref().to_path_buf();
        let mut buffered = BufReader::with_capacity(64 * 1024, reader);
        let peek = buffered.fill_buf().map_err(|source| InputError::Read {
            path: origin.clone(),
            source,
        })?;
        let encoding = encoding::decide(peek, options.encoding, None)
            .map_err(|source| InputError::Read {
                path: origin.clone(),
                source,
            })?
            .map_err(|m| malformed(&origin, m))?;
        // The peeked bytes are in `buffered`: read through it.
        Self::open_buffered(buffered, origin, encoding)
    }

    fn open(reader: R, origin: PathBuf, encoding: FileEncoding) -> Result<Self, InputError> {
        Self::open_buffered(
            BufReader::with_capacity(64 * 1024, reader),
            origin,
            encoding,
        )
    }
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn malformed(origin: &Path, m: encoding::Malformed) -> InputError {
    InputError::Encoding {
        path: origin.to_path_buf(),
        line: m.line,
        encoding: m.encoding.name(),
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
    fn open_buffered(
        reader: BufReader<R>,
        origin: PathBuf,
        encoding: FileEncoding,
    ) -> Result<Self, InputError> {
        let read_error = |source| InputError::Read {
            path: origin.clone(),
            source,
        };
        // BufReader<R> is Read: the bytes it already holds come first.
        let text = if encoding.decodes() {
            Text::Decoded(Box::new(Decode::new(reader, encoding.encoding)))
        } else {
            Text::Utf8(reader)
        };
        let mut text = BufReader::with_capacity(64 * 1024, text);
        let delimiter = sniff_delimiter(text.fill_buf().map_err(read_error)?);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .delimiter(delimiter)
            .from_reader(Lines::new(text, delimiter));
        let header_record = match reader.byte_headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(csv_error(&origin, &e)),
        };
        let mut names = Vec::with_capacity(header_record.len());
        for (i, field) in header_record.iter().enumerate() {
            let name = std::str::from_utf8(field).map_err(|_| InputError::Encoding {
                path: origin.clone(),
                line: 1,
                encoding: encoding.name(),
            })?;
            let name = if i == 0 {
                name.trim_start_matches('\u{feff}')
            } else {
                name
            };
            names.push(name.trim().to_string());
        }
        let width = names.len();
        while names.last().is_some_and(String::is_empty) {
            names.pop();
        }
        if names.is_empty() {
            return Err(InputError::Empty { path: origin });
        }
        let header = Header::new(names).map_err(|(name, first, second)| {
            if name.is_empty() {
                InputError::UnnamedColumns {
                    path: origin.clone(),
                    first,
                    second,
                }
            } else {
                InputError::DuplicateColumn {
                    path: origin.clone(),
                    name,
                    first,
                    second,
                }
            }
        })?;
        Ok(RowReader {
            reader,
            delimiter,
            encoding,
            header,
            width,
            origin,
            record: ByteRecord::new(),
            number: 0,
            blank: 0,
            stopped: false,
        })
    }

    /// The field separator in use (`b','` unless the header showed another).
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The encoding the file is read in, and how it was decided.
    pub fn encoding(&self) -> FileEncoding {
        self.encoding
    }

    /// The header (without empty unnamed columns at its end).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Where the rows come from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// Blank rows (every cell empty or whitespace) skipped so far.
    pub fn blank_rows(&self) -> u64 {
        self.blank
    }

    /// The next row, `None` at the end. An `Err` means the file cannot be read further (I/O, a
    /// quote never closed, bytes that are not text); malformed rows come back as rows with a
    /// [`Row::defect`]. Blank rows are skipped (and counted: [`blank_rows`](Self::blank_rows)).
    pub fn next_row(&mut self) -> Option<Result<Row, InputError>> {
        if self.stopped {
            return None;
        }
        let next = self.read_row();
        self.stopped = matches!(next, Some(Err(_)));
        next
    }

    fn read_row(&mut self) -> Option<Result<Row, InputError>> {
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => return self.bad_quote(u64::MAX).map(Err),
                Err(e) => return Some(Err(csv_error(&self.origin, &e))),
                Ok(true) => {}
            }
            let next = self.reader.position().byte();
            if let Some(e) = self.bad_quote(next) {
                return Some(Err(e));
            }
            self.number += 1;
            // csv's own line count skips newlines inside quoted fields: count them ourselves.
            // After a CRLF, csv's record offset points at the LF ending the previous line.
            let byte = self.record.position().map_or(0, csv::Position::byte);
            let line = self.reader.get_mut().line_at(byte + 1);
            if self.record.iter().all(|f| f.trim_ascii().is_empty()) {
                self.blank += 1;
                continue;
            }
            let fields = match StringRecord::from_byte_record(self.record.clone()) {
                Ok(r) => r,
                Err(_) => {
                    // Only a reader whose encoding was decided from its start gets here.
                    return Some(Err(InputError::Encoding {
                        path: self.origin.clone(),
                        line,
                        encoding: self.encoding.name(),
                    }));
                }
            };
            let (fields, defect) = self.fit(fields);
            return Some(Ok(Row {
                number: self.number,
                line,
                fields,
                defect,
            }));
        }
    }

    /// Drops the empty cells past the header's named columns; a row that has values there, or
    /// too few cells, gets a defect.
    fn fit(&self, mut fields: StringRecord) -> (StringRecord, Option<RowDefect>) {
        let named = self.header.len();
        if fields.len() > named {
            match fields.iter().skip(named).position(|c| !c.trim().is_empty()) {
                None => fields.truncate(named),
                Some(i) if fields.len() <= self.width => {
                    return (
                        fields,
                        Some(RowDefect::UnnamedColumn {
                            column: named + i + 1,
                        }),
                    );
                }
                Some(_) => {}
            }
        }
        let defect = (fields.len() != named).then(|| RowDefect::Ragged {
            found: fields.len(),
            expected: named,
        });
        (fields, defect)
    }

    fn bad_quote(&self, before: u64) -> Option<InputError> {
        let bad = self.reader.get_ref().bad_quote(before)?;
        Some(InputError::UnclosedQuote {
            path: self.origin.clone(),
            line: bad.line,
            column: bad.column,
            name: self.header.names().get(bad.column - 1).cloned(),
            closes: bad.closes,
        })
    }
}

impl<R: Read> Iterator for RowReader<R> {
    type Item = Result<Row, InputError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
    }
}

fn csv_error(origin: &Path, e: &csv::Error) -> InputError {
    match e.kind() {
        csv::ErrorKind::Io(io) => {
            if let Some(m) = io
                .get_ref()
                .and_then(|e| e.downcast_ref::<encoding::Malformed>())
            {
                return malformed(origin, *m);
            }
            InputError::Read {
                path: origin.to_path_buf(),
                source: std::io::Error::new(io.kind(), io.to_string()),
            }
        }
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
    fn ragged_rows_are_defects_not_errors() {
        let (_, rows) = rows(b"a,b\n1,2,3\n1\nok,ok\n");
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
        assert_eq!(rows[2].defect, None);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn blank_rows_are_skipped_and_counted_but_keep_their_number() {
        let mut r = RowReader::from_reader(
            &b"a,b\r\n1,2\r\n,\r\n \t, \r\n3,4\r\n,\r\n,\r\n"[..],
            "t.csv",
        )
        .unwrap();
        let read: Vec<Row> = r.by_ref().map(Result::unwrap).collect();
        assert_eq!(
            read.iter().map(|r| (r.number, r.line)).collect::<Vec<_>>(),
            [(1, 2), (4, 5)]
        );
        assert_eq!(r.blank_rows(), 4);
    }

    #[test]
    fn trailing_unnamed_columns_are_dropped_with_their_empty_cells() {
        let (h, read) = rows(b"name,offer,,\nAnn,10%,,\nBo,5%,x,\nCy,1%\n");
        assert_eq!(h.names(), ["name", "offer"]);
        assert_eq!(read[0].fields.len(), 2);
        assert_eq!(read[0].defect, None);
        assert_eq!(read[1].defect, Some(RowDefect::UnnamedColumn { column: 3 }));
        assert_eq!(read[2].defect, None);
        // Extra empty cells are harmless even without unnamed header cells.
        let (_, read) = rows(b"a,b\n1,2,,\n");
        assert_eq!(read[0].defect, None);
        let e = RowReader::from_reader(&b"a,,b,,c\n"[..], "t.csv")
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("columns 2 and 4 have no name"),
            "{e}"
        );
        assert!(matches!(
            RowReader::from_reader(&b",,\n1,2,3\n"[..], "t.csv"),
            Err(InputError::Empty { .. })
        ));
    }

    #[test]
    fn an_unclosed_quote_stops_the_file_at_the_line_it_opened() {
        let mut r =
            RowReader::from_reader(&b"name,offer\nAnn,1\nBo,\"2\nCy,3\n"[..], "t.csv").unwrap();
        assert!(r.next_row().unwrap().is_ok());
        let e = r.next_row().unwrap().unwrap_err();
        assert!(
            matches!(
                e,
                InputError::UnclosedQuote {
                    line: 3,
                    column: 2,
                    closes: None,
                    ..
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.starts_with("read t.csv:3: the quote that opens column 2 (\"offer\")"),
            "{text}"
        );
        assert!(r.next_row().is_none());
        // Closed lines later with text after it: the row in between would vanish.
        let mut r =
            RowReader::from_reader(&b"a,b,c\nAnn,\"5 inch,3\nBob,\"x\",4\n"[..], "t.csv").unwrap();
        let e = r.next_row().unwrap().unwrap_err();
        assert!(e.to_string().contains("only closed on line 3"), "{e}");
    }

    #[test]
    fn encodings_are_decided_for_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        // Windows-1252, the bad byte far past the first buffer.
        let mut data = b"name;city\r\n".to_vec();
        for _ in 0..20_000 {
            data.extend_from_slice(b"Ann;Paris\r\n");
        }
        data.extend_from_slice(b"Chlo\xe9;K\xf6ln\r\n");
        std::fs::write(&path, &data).unwrap();
        let mut r = RowReader::from_path(&path).unwrap();
        assert_eq!(r.encoding().name(), "windows-1252");
        assert_eq!(
            r.encoding().source,
            EncodingSource::Guessed { line: 20_002 }
        );
        let last = r.by_ref().last().unwrap().unwrap();
        assert_eq!(&last.fields[0], "Chloé");
        assert_eq!(&last.fields[1], "Köln");
        // Declared UTF-8: refused before any row.
        let e = RowReader::with_options(&path, ReadOptions::default().encoding("utf-8").unwrap())
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains(":20002: this line is not valid UTF-8"),
            "{e}"
        );
        // UTF-16LE with a BOM, tab-separated (Excel's "Unicode text").
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(
            "name\tcity\r\nZoë\t東京\r\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        );
        std::fs::write(&path, &utf16).unwrap();
        let (h, read) = {
            let mut r = RowReader::from_path(&path).unwrap();
            assert_eq!((r.encoding().name(), r.encoding().bom), ("UTF-16LE", true));
            assert_eq!(r.delimiter(), b'\t');
            (
                r.header().clone(),
                r.by_ref().map(Result::unwrap).collect::<Vec<_>>(),
            )
        };
        assert_eq!(h.names(), ["name", "city"]);
        assert_eq!((&read[0].fields[0], &read[0].fields[1]), ("Zoë", "東京"));
        assert_eq!(read[0].line, 2);
        // From a reader, a bad byte past the start ends the stream instead of a half row.
        let mut r = RowReader::from_reader(std::io::Cursor::new(data), "d.csv").unwrap();
        assert_eq!(r.encoding().name(), "UTF-8");
        let e = r.find_map(Result::err).unwrap();
        assert!(
            matches!(e, InputError::Encoding { line: 20_002, .. }),
            "{e:?}"
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
