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
    /// Not in a quoted cell.
    Outside,
    /// In a quoted cell.
    Quoted,
    /// In a quoted cell, just after a `"`: the next byte says whether it was `""` or the end.
    QuoteSeen,
}

/// Follows the quoting of the text as the parser will. Outside quoted cells it looks only for
/// the next `"` (a memchr over the text); lines and cells are counted over the stretches it
/// skips, and only when they are needed: where a quote opens, and at the end of each read.
#[derive(Debug)]
struct Quotes {
    delimiter: u8,
    state: State,
    /// The byte before the next one fed; `None` at the start of the text.
    prev: Option<u8>,
    /// The line of the next byte fed (1-based).
    line: u64,
    /// Cells of the current record's line ended before the next byte fed (outside quotes).
    column: usize,
    open: (u64, u64, usize),
    bad: Option<BadQuote>,
}

impl Quotes {
    fn new(delimiter: u8) -> Quotes {
        Quotes {
            delimiter,
            state: State::Outside,
            prev: None,
            line: 1,
            column: 0,
            open: (0, 0, 0),
            bad: None,
        }
    }

    fn feed(&mut self, offset: u64, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() && self.bad.is_none() {
            match self.state {
                State::Outside => {
                    let Some(j) = memchr::memchr(b'"', &bytes[i..]) else {
                        self.skip(&bytes[i..]);
                        return;
                    };
                    let q = i + j;
                    self.skip(&bytes[i..q]);
                    // A quote opens a quoted cell only at the start of a cell.
                    let d = self.delimiter;
                    if self.prev.is_none_or(|p| p == b'\n' || p == b'\r' || p == d) {
                        self.state = State::Quoted;
                        self.open = (offset + q as u64, self.line, self.column + 1);
                    }
                    self.prev = Some(b'"');
                    i = q + 1;
                }
                State::Quoted => {
                    let Some(j) = memchr::memchr2(b'"', b'\n', &bytes[i..]) else {
                        self.prev = bytes.last().copied();
                        return;
                    };
                    let k = i + j;
                    if bytes[k] == b'\n' {
                        self.line += 1;
                    } else {
                        self.state = State::QuoteSeen;
                    }
                    self.prev = Some(bytes[k]);
                    i = k + 1;
                }
                State::QuoteSeen => {
                    let b = bytes[i];
                    if b == b'"' {
                        // `""`: a quote inside the cell.
                        self.state = State::Quoted;
                        self.prev = Some(b);
                        i += 1;
                        continue;
                    }
                    // The cell is closed; text other than a cell or line end follows it here.
                    let ends_cell = b == b'\n' || b == b'\r' || b == self.delimiter;
                    let (at, line, column) = self.open;
                    if !ends_cell && line != self.line {
                        self.bad = Some(BadQuote {
                            at,
                            line,
                            column,
                            closes: Some(self.line),
                        });
                    }
                    self.state = State::Outside;
                }
            }
        }
    }

    /// Counts the lines and cells of `text`, outside quoted cells and holding no quote.
    fn skip(&mut self, text: &[u8]) {
        let Some(&last) = text.last() else {
            return;
        };
        self.line += memchr::memchr_iter(b'\n', text).count() as u64;
        let delimiters = |t: &[u8]| memchr::memchr_iter(self.delimiter, t).count();
        match memchr::memrchr2(b'\n', b'\r', text) {
            Some(p) => self.column = delimiters(&text[p + 1..]),
            None => self.column += delimiters(text),
        }
        self.prev = Some(last);
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
            quotes: Quotes::new(delimiter),
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
    use proptest::prelude::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum RefState {
        CellStart,
        Unquoted,
        Quoted,
        QuoteSeen,
    }

    /// The tracker as first written, byte by byte: the reference the fast one must agree with.
    #[derive(Debug)]
    struct RefQuotes {
        delimiter: u8,
        state: RefState,
        line: u64,
        column: usize,
        open: (u64, u64, usize),
        bad: Option<BadQuote>,
    }

    impl RefQuotes {
        fn feed(&mut self, offset: u64, bytes: &[u8]) {
            let mut i = 0;
            while i < bytes.len() && self.bad.is_none() {
                if self.state == RefState::Quoted {
                    // Fast path: skip to the next quote or newline.
                    match memchr::memchr2(b'"', b'\n', &bytes[i..]) {
                        None => return,
                        Some(j) => i += j,
                    }
                } else if self.state == RefState::Unquoted {
                    // Fast path: inside an unquoted cell only a line end or a delimiter matters (a
                    // quote there is text, as the parser reads it).
                    match memchr::memchr3(b'\n', b'\r', self.delimiter, &bytes[i..]) {
                        None => return,
                        Some(j) => i += j,
                    }
                }
                let b = bytes[i];
                match (self.state, b) {
                    (RefState::Quoted, b'"') => self.state = RefState::QuoteSeen,
                    (RefState::Quoted, b'\n') => self.line += 1,
                    (RefState::QuoteSeen, b'"') => self.state = RefState::Quoted,
                    (RefState::CellStart, b'"') => {
                        self.state = RefState::Quoted;
                        self.open = (offset + i as u64, self.line, self.column + 1);
                    }
                    (_, b'\n') => {
                        self.line += 1;
                        self.column = 0;
                        self.state = RefState::CellStart;
                    }
                    (_, b'\r') => {
                        self.column = 0;
                        self.state = RefState::CellStart;
                    }
                    (_, d) if d == self.delimiter => {
                        self.column += 1;
                        self.state = RefState::CellStart;
                    }
                    (RefState::QuoteSeen, _) => {
                        let (at, line, column) = self.open;
                        if line != self.line {
                            self.bad = Some(BadQuote {
                                at,
                                line,
                                column,
                                closes: Some(self.line),
                            });
                        }
                        self.state = RefState::Unquoted;
                    }
                    _ => self.state = RefState::Unquoted,
                }
                i += 1;
            }
        }

        fn end(&mut self) {
            if self.state == RefState::Quoted && self.bad.is_none() {
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

    /// Both trackers over `text` fed in pieces of `piece` bytes.
    fn both(text: &[u8], piece: usize) -> (Option<BadQuote>, Option<BadQuote>) {
        let mut fast = Quotes::new(b',');
        let mut slow = RefQuotes {
            delimiter: b',',
            state: RefState::CellStart,
            line: 1,
            column: 0,
            open: (0, 0, 0),
            bad: None,
        };
        let mut offset = 0;
        for chunk in text.chunks(piece.max(1)) {
            fast.feed(offset, chunk);
            slow.feed(offset, chunk);
            offset += chunk.len() as u64;
        }
        fast.end();
        slow.end();
        (fast.bad, slow.bad)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// The fast tracker finds the same bad quote (or none) as the byte-by-byte one, however
        /// the text is split into reads.
        #[test]
        fn the_fast_tracker_agrees_with_the_byte_by_byte_one(
            text in proptest::collection::vec(prop_oneof![
                Just(b'"'), Just(b','), Just(b'\n'), Just(b'\r'), Just(b'a'), Just(b' ')
            ], 0..60),
            piece in 1usize..9,
        ) {
            let (fast, slow) = both(&text, piece);
            prop_assert_eq!(fast, slow, "{:?}", String::from_utf8_lossy(&text));
        }
    }

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
