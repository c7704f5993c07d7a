//! The text encoding of a CSV, decided for the whole file, and the decoding reader.
//!
//! Spreadsheets save "CSV" in several encodings: UTF-8 with or without a BOM (Sheets, Excel's
//! "CSV UTF-8"), UTF-16 with a BOM (Excel's "Unicode text"), Windows-1252 (Excel's plain "CSV" on
//! Windows in western locales). The choice is made once per file: a BOM decides; else a file that
//! is valid UTF-8 throughout is UTF-8; else it is read as Windows-1252 (every byte is a character
//! there, so it never fails) and the caller is told so. A declared encoding overrides the guess.
//! The decoding itself is `encoding_rs`'s; this module only wires it into `std::io::Read`.

use encoding_rs::{DecoderResult, Encoding, UTF_8, WINDOWS_1252};
use std::io::Read;

/// How the encoding of a file was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingSource {
    /// The file starts with a byte order mark.
    Bom,
    /// The caller declared it ([`ReadOptions::encoding`](super::ReadOptions::encoding)).
    Declared,
    /// No BOM, and the file is valid UTF-8.
    Utf8,
    /// No BOM, the file is not valid UTF-8 (first at `line`): read as Windows-1252.
    Guessed {
        /// 1-based line of the first byte that is not UTF-8.
        line: u64,
    },
}

/// The encoding a file is read in, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEncoding {
    /// The encoding (an `encoding_rs` encoding: UTF-8, UTF-16LE, windows-1252, …).
    pub encoding: &'static Encoding,
    /// How it was decided.
    pub source: EncodingSource,
    /// Whether the file starts with a byte order mark.
    pub bom: bool,
}

impl FileEncoding {
    /// The encoding's name (`UTF-8`, `UTF-16LE`, `windows-1252`, …).
    pub fn name(&self) -> &'static str {
        self.encoding.name()
    }

    /// `true` when the file is UTF-8 (with or without a BOM).
    pub fn is_utf8(&self) -> bool {
        self.encoding == UTF_8
    }

    /// `true` when the bytes need decoding (anything but UTF-8).
    pub(crate) fn decodes(&self) -> bool {
        !self.is_utf8()
    }
}

/// Bytes that are not text in the file's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line {line} is not valid {}", encoding.name())]
pub(crate) struct Malformed {
    /// 1-based line (of the decoded text) where the bad bytes are.
    pub line: u64,
    /// The encoding they were read in.
    pub encoding: &'static Encoding,
}

/// Decides the encoding from the file's first bytes and, where that is not enough, a whole pass
/// over it (`rest` reads the file from its start). `declared` wins over everything but a BOM of
/// the same encoding (which is then skipped).
pub(crate) fn decide(
    start: &[u8],
    declared: Option<&'static Encoding>,
    rest: Option<&mut dyn Read>,
) -> std::io::Result<Result<FileEncoding, Malformed>> {
    let bom = Encoding::for_bom(start);
    if let Some(encoding) = declared {
        let bom = bom.is_some_and(|(e, _)| e == encoding);
        let chosen = FileEncoding {
            encoding,
            source: EncodingSource::Declared,
            bom,
        };
        return match rest {
            Some(r) => Ok(scan(r, encoding)?.map(|()| chosen)),
            None => Ok(Ok(chosen)),
        };
    }
    if let Some((encoding, _)) = bom {
        let chosen = FileEncoding {
            encoding,
            source: EncodingSource::Bom,
            bom: true,
        };
        return match rest {
            Some(r) => Ok(scan(r, encoding)?.map(|()| chosen)),
            None => Ok(Ok(chosen)),
        };
    }
    let utf8 = FileEncoding {
        encoding: UTF_8,
        source: EncodingSource::Utf8,
        bom: false,
    };
    let bad_line = match rest {
        Some(r) => scan(r, UTF_8)?.err().map(|m| m.line),
        None => first_invalid_utf8_line(start),
    };
    Ok(Ok(match bad_line {
        None => utf8,
        Some(line) => FileEncoding {
            encoding: WINDOWS_1252,
            source: EncodingSource::Guessed { line },
            bom: false,
        },
    }))
}

/// The line of the first byte of `start` that is not UTF-8 (a character cut by the end of
/// `start` is not counted as bad).
fn first_invalid_utf8_line(start: &[u8]) -> Option<u64> {
    match std::str::from_utf8(start) {
        Ok(_) => None,
        Err(e) if e.error_len().is_none() => None,
        Err(e) => Some(memchr::memchr_iter(b'\n', &start[..e.valid_up_to()]).count() as u64 + 1),
    }
}

/// Decodes all of `reader` as `encoding`, keeping nothing: `Err` names the first bad line.
fn scan(
    reader: &mut dyn Read,
    encoding: &'static Encoding,
) -> std::io::Result<Result<(), Malformed>> {
    let mut decode = Decode::new(reader, encoding);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match decode.read(&mut buf) {
            Ok(0) => return Ok(Ok(())),
            Ok(_) => {}
            Err(e) => {
                if let Some(m) = e.get_ref().and_then(|e| e.downcast_ref::<Malformed>()) {
                    return Ok(Err(*m));
                }
                return Err(e);
            }
        }
    }
}

/// A reader that decodes its input to UTF-8 with `encoding_rs`, without replacement: bytes that
/// are not text in the encoding are an `InvalidData` error carrying a [`Malformed`].
pub(crate) struct Decode<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    encoding: &'static Encoding,
    raw: Box<[u8]>,
    raw_start: usize,
    raw_end: usize,
    eof: bool,
    /// The decoder has seen the end (`last`): it must not be called again.
    finished: bool,
    out: Vec<u8>,
    out_pos: usize,
    /// Newlines decoded so far (for the line of a [`Malformed`]).
    newlines: u64,
}

impl<R: Read> Decode<R> {
    /// Decodes `inner` as `encoding`, dropping a BOM of that encoding.
    pub fn new(inner: R, encoding: &'static Encoding) -> Decode<R> {
        Decode {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            encoding,
            raw: vec![0u8; 32 * 1024].into_boxed_slice(),
            raw_start: 0,
            raw_end: 0,
            eof: false,
            finished: false,
            out: Vec::new(),
            out_pos: 0,
            newlines: 0,
        }
    }

    /// Decodes the next piece of input into `out`; `false` at the end.
    fn refill(&mut self) -> std::io::Result<bool> {
        self.out.clear();
        self.out_pos = 0;
        loop {
            if self.finished {
                return Ok(false);
            }
            if self.raw_start == self.raw_end && !self.eof {
                self.raw_start = 0;
                self.raw_end = loop {
                    match self.inner.read(&mut self.raw) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                self.eof = self.raw_end == 0;
            }
            let src = &self.raw[self.raw_start..self.raw_end];
            let room = self
                .decoder
                .max_utf8_buffer_length_without_replacement(src.len())
                .unwrap_or(src.len() * 3 + 16)
                .max(16);
            self.out.resize(room, 0);
            let (result, read, written) =
                self.decoder
                    .decode_to_utf8_without_replacement(src, &mut self.out, self.eof);
            self.raw_start += read;
            self.out.truncate(written);
            let before = memchr::memchr_iter(b'\n', &self.out).count() as u64;
            match result {
                DecoderResult::Malformed(..) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        Malformed {
                            line: self.newlines + before + 1,
                            encoding: self.encoding,
                        },
                    ));
                }
                DecoderResult::InputEmpty | DecoderResult::OutputFull => {
                    self.newlines += before;
                    if self.eof && matches!(result, DecoderResult::InputEmpty) {
                        self.finished = true;
                    }
                    if !self.out.is_empty() {
                        return Ok(true);
                    }
                }
            }
        }
    }
}

impl<R: Read> Read for Decode<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.out_pos == self.out.len() && !self.refill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// The input as UTF-8: passed through when it already is, decoded otherwise.
pub(crate) enum Text<R> {
    /// UTF-8 bytes as they are (a BOM is left for the header reader to drop).
    Utf8(R),
    /// Decoded from another encoding.
    Decoded(Box<Decode<R>>),
}

impl<R: Read> Read for Text<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Text::Utf8(r) => r.read(buf),
            Text::Decoded(d) => d.read(buf),
        }
    }
}

/// Resolves an encoding name as the WHATWG Encoding Standard labels them (`utf-8`, `utf-16le`,
/// `windows-1252`, `latin1`, `shift_jis`, `gbk`, …), case-insensitively.
pub(crate) fn for_label(name: &str) -> Option<&'static Encoding> {
    Encoding::for_label_no_replacement(name.trim().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_all(
        bytes: &[u8],
        declared: Option<&'static Encoding>,
    ) -> Result<FileEncoding, Malformed> {
        decide(bytes, declared, Some(&mut &bytes[..])).unwrap()
    }

    fn decoded(bytes: &[u8], encoding: &'static Encoding) -> String {
        let mut s = String::new();
        Decode::new(bytes, encoding).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn boms_decide() {
        let e = decide_all(b"\xEF\xBB\xBFa\n", None).unwrap();
        assert_eq!(
            (e.name(), e.source, e.bom),
            ("UTF-8", EncodingSource::Bom, true)
        );
        let e = decide_all(b"\xFF\xFEa\x00\n\x00", None).unwrap();
        assert_eq!((e.name(), e.source), ("UTF-16LE", EncodingSource::Bom));
        let e = decide_all(b"\xFE\xFF\x00a\x00\n", None).unwrap();
        assert_eq!(e.name(), "UTF-16BE");
    }

    #[test]
    fn utf8_or_windows_1252_for_the_whole_file() {
        let e = decide_all("name\nZoë\n".as_bytes(), None).unwrap();
        assert_eq!(e.source, EncodingSource::Utf8);
        let e = decide_all(b"name\nAnn\nChlo\xe9\n", None).unwrap();
        assert_eq!(e.name(), "windows-1252");
        assert_eq!(e.source, EncodingSource::Guessed { line: 3 });
        // Without a whole pass, the start decides; a character cut at its end is not bad.
        let e = decide("a\nZ\u{f6}".as_bytes().split_last().unwrap().1, None, None)
            .unwrap()
            .unwrap();
        assert_eq!(e.source, EncodingSource::Utf8);
    }

    #[test]
    fn a_declared_encoding_is_checked_for_the_whole_file() {
        let e = decide_all(b"a\nChlo\xe9\n", Some(for_label("latin1").unwrap())).unwrap();
        assert_eq!(
            (e.name(), e.source),
            ("windows-1252", EncodingSource::Declared)
        );
        let m = decide_all(b"a\nok\nChlo\xe9\n", Some(UTF_8)).unwrap_err();
        assert_eq!(m.line, 3);
        // An odd number of bytes is not UTF-16.
        let m = decide_all(b"\xFF\xFEa\x00\n\x00b", None).unwrap_err();
        assert_eq!(m.line, 2);
    }

    #[test]
    fn decoding_drops_the_bom_and_keeps_the_text() {
        assert_eq!(
            decoded(b"\xFF\xFEZ\x00\xf6\x00\n\x00", encoding_rs::UTF_16LE),
            "Zö\n"
        );
        assert_eq!(decoded(b"Chlo\xe9 \x80", WINDOWS_1252), "Chloé €");
        // Larger than one buffer, with a character across the boundary.
        let text: String = "é".repeat(40_000);
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decoded(&utf16, encoding_rs::UTF_16LE), text);
    }

    #[test]
    fn labels() {
        assert_eq!(for_label("CP1252").unwrap().name(), "windows-1252");
        assert_eq!(for_label(" utf-16le ").unwrap().name(), "UTF-16LE");
        assert!(for_label("klingon").is_none());
    }
}
