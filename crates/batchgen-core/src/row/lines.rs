//! The decoded text on its way to the CSV parser: where its newlines are (so a record's byte
//! offset becomes the line a person sees in an editor) and where its quotes open and close (so a
//! quote that is never closed, or closed lines later and followed by more text, is caught and
//! named by the line where it opened instead of silently swallowing the rows after it).
//!
//! The quote rules are the CSV parser's (RFC 4180 as the csv crate reads it): a `"` opens a
//! quoted cell only at the start of a cell; inside one, `""` is a quote and a lone `"` closes it.

use std::collections::VecDeque;
use std::io::Read;

/// A quote the parser would read past the rows it was meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadQuote {
    /// Byte offset (in the decoded text) of the opening quote.
    pub at: u64,
    /// 1-based line where the quote opens.
    pub line: u64,
    /// 1-based cell of its record.
    pub column: usize,
    /// `Some(line)` when the cell closes on that later line and more text follows the closing
    /// quote; `None` when it is never closed.
    pub closes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    CellStart,
    Unquoted,
    Quoted,
    QuoteSeen,
}

/// Follows the quoting of the text as the parser will.
#[derive(Debug)]
struct Quotes {
    delimiter: u8,
    state: State,
    line: u64,
    column: usize,
    open: (u64, u64, usize),
    bad: Option<BadQuote>,
}

impl Quotes {
    fn feed(&mut self, offset: u64, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() && self.bad.is_none() {
            if self.state == State::Quoted {
                // Fast path: skip to the next quote or newline.
                match memchr::memchr2(b'"', b'\n', &bytes[i..]) {
                    None => return,
                    Some(j) => i += j,
                }
            } else if self.state == State::Unquoted {
                // Fast path: inside an unquoted cell only a line end or a delimiter matters (a
                // quote there is text, as the parser reads it).
                match memchr::memchr3(b'\n', b'\r', self.delimiter, &bytes[i..]) {
                    None => return,
                    Some(j) => i += j,
                }
            }
            let b = bytes[i];
            match (self.state, b) {
                (State::Quoted, b'"') => self.state = State::QuoteSeen,
                (State::Quoted, b'\n') => self.line += 1,
                (State::QuoteSeen, b'"') => self.state = State::Quoted,
                (State::CellStart, b'"') => {
                    self.state = State::Quoted;
                    self.open = (offset + i as u64, self.line, self.column + 1);
                }
                (_, b'\n') => {
                    self.line += 1;
                    self.column = 0;
                    self.state = State::CellStart;
                }
                (_, b'\r') => {
                    self.column = 0;
                    self.state = State::CellStart;
                }
                (_, d) if d == self.delimiter => {
                    self.column += 1;
                    self.state = State::CellStart;
                }
                (State::QuoteSeen, _) => {
                    let (at, line, column) = self.open;
                    if line != self.line {
                        self.bad = Some(BadQuote {
                            at,
                            line,
                            column,
                            closes: Some(self.line),
                        });
                    }
                    self.state = State::Unquoted;
                }
                _ => self.state = State::Unquoted,
            }
            i += 1;
        }
    }

    fn end(&mut self) {
        if self.state == State::Quoted && self.bad.is_none() {
            let (at, line, column) = self.open;
            self.bad = Some(BadQuote {
                at,
                line,
                column,
                closes: None,
            });
        }
    }
}

/// A reader that remembers where its newlines are and follows its quotes. Only the newline
/// offsets not yet passed are kept.
pub(crate) struct Lines<R> {
    inner: R,
    offset: u64,
    newlines: VecDeque<u64>,
    before: u64,
    quotes: Quotes,
}

impl<R> Lines<R> {
    /// Wraps `inner`, whose cells are separated by `delimiter`.
    pub fn new(inner: R, delimiter: u8) -> Lines<R> {
        Lines {
            inner,
            offset: 0,
            newlines: VecDeque::new(),
            before: 0,
            quotes: Quotes {
                delimiter,
                state: State::CellStart,
                line: 1,
                column: 0,
                open: (0, 0, 0),
                bad: None,
            },
        }
    }

    /// The 1-based line of byte `offset`; offsets must not go backwards.
    pub fn line_at(&mut self, offset: u64) -> u64 {
        while self.newlines.front().is_some_and(|&n| n < offset) {
            self.newlines.pop_front();
            self.before += 1;
        }
        self.before + 1
    }

    /// The first bad quote seen so far, if it opens before byte `before`.
    pub fn bad_quote(&self, before: u64) -> Option<BadQuote> {
        self.quotes.bad.filter(|b| b.at < before)
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.quotes.end();
        }
        for i in memchr::memchr_iter(b'\n', &buf[..n]) {
            self.newlines.push_back(self.offset + i as u64);
        }
        self.quotes.feed(self.offset, &buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(text: &str) -> Option<BadQuote> {
        let mut lines = Lines::new(text.as_bytes(), b',');
        let mut buf = [0u8; 3]; // small reads: state must carry across them
        while lines.read(&mut buf).unwrap() > 0 {}
        lines.bad_quote(u64::MAX)
    }

    #[test]
    fn well_formed_quoting_is_not_flagged() {
        assert_eq!(bad("a,b\n\"x,\"\"y\"\"\",2\n\"multi\nline\",3\n"), None);
        assert_eq!(bad("a,b\r\n5\" screen,\"ok\"\r\n"), None);
        // A stray text after a closing quote on the same line is read leniently, as before.
        assert_eq!(bad("a,b\n\"x\"y,2\n"), None);
    }

    #[test]
    fn an_unclosed_quote_is_named_by_where_it_opened() {
        let b = bad("a,b\n1,2\n3,\"never\n4,5\n").unwrap();
        assert_eq!((b.line, b.column, b.closes), (3, 2, None));
        assert_eq!(b.at, 10);
    }

    #[test]
    fn a_quote_closed_lines_later_and_followed_by_text_is_flagged() {
        let b = bad("a,b,c\nAnn,\"5 inch,3\nBob,\"x\",4\n").unwrap();
        assert_eq!((b.line, b.column, b.closes), (2, 2, Some(3)));
    }

    #[test]
    fn newlines_map_offsets_to_lines() {
        let mut lines = Lines::new(&b"a\nb\r\nc"[..], b',');
        std::io::copy(&mut lines, &mut std::io::sink()).unwrap();
        assert_eq!(lines.line_at(0), 1);
        assert_eq!(lines.line_at(2), 2);
        assert_eq!(lines.line_at(5), 3);
    }
}
