//! The byte layer under the XML reader: whatever the reporter wrote, quick-xml sees UTF-8.
//!
//! quick-xml (0.42) requires UTF-8 and rejects a whole document for one bad byte, while real
//! reports come with a BOM, whitespace before the declaration, a declared `windows-1252`, or
//! a stray Latin-1 byte in a value. [`Input`] sits between the decompressed bytes and the XML
//! reader and fixes all of that while streaming:
//!
//! - strips a UTF-8 BOM and whitespace before the first `<`; refuses UTF-16 (BOM) clearly;
//! - reads the `encoding` of the XML declaration: the labels that mean windows-1252 to every
//!   mail client (`windows-1252`, `iso-8859-1`, `latin1`, `us-ascii`, … as in the WHATWG
//!   encoding standard) are transcoded; everything else is read as UTF-8;
//! - replaces invalid UTF-8 sequences with U+FFFD and counts them;
//! - caps the bytes of a single XML token, so one endless text node or comment cannot grow
//!   the reader's buffer without bound;
//! - refuses a NUL byte: no XML document can hold one (quick-xml would pass it on as text),
//!   so the data is binary or UTF-16 read as 8-bit;
//! - turns errors of the reader below (such as the decompression cap) into [`Error`]s the
//!   parser can hand on unchanged.
//!
//! Bytes are copied once, in chunks, into an internal buffer where they are checked (and
//! rewritten where needed), so the XML reader's many small `fill_buf` calls stay trivial.

use crate::Error;
use std::io::{self, BufRead, Read};

/// Bytes taken from the reader below per refill.
const CHUNK: usize = 64 * 1024;

/// Largest XML token (tag, text run, comment, DTD) read into memory. Real tokens are a few
/// hundred bytes; a report value is capped much lower by the parser.
pub(super) const MAX_TOKEN_BYTES: u64 = 1024 * 1024;

/// Longest XML declaration looked at for an `encoding` attribute.
const MAX_DECLARATION: usize = 1024;

/// How bytes at or above 0x80 are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoding {
    Utf8,
    Windows1252,
}

/// A [`BufRead`] that yields valid UTF-8 for any input. See the module documentation.
pub(super) struct Input<R> {
    inner: R,
    decoding: Decoding,
    /// Checked bytes; `buf[pos..]` is not consumed yet.
    buf: Vec<u8>,
    pos: usize,
    /// The start of a UTF-8 sequence cut by the end of the last chunk.
    carry: Vec<u8>,
    /// Reused for chunks that need rewriting.
    scratch: Vec<u8>,
    started: bool,
    /// Bytes consumed since the parser started the current token.
    token_bytes: u64,
    /// Checked bytes handed out before `buf`'s current contents.
    delivered: u64,
    replaced: u64,
    failure: Option<Error>,
    note: Option<String>,
}

impl<R: BufRead> Input<R> {
    pub(super) fn new(inner: R) -> Self {
        Input {
            inner,
            decoding: Decoding::Utf8,
            buf: Vec::with_capacity(CHUNK + 8),
            pos: 0,
            carry: Vec::new(),
            scratch: Vec::new(),
            started: false,
            token_bytes: 0,
            delivered: 0,
            replaced: 0,
            failure: None,
            note: None,
        }
    }

    /// Called by the parser before each token, so the cap applies per token.
    pub(super) fn start_token(&mut self) {
        self.token_bytes = 0;
    }

    /// The error behind the last `io::Error` this reader returned, if it made one.
    pub(super) fn take_failure(&mut self) -> Option<Error> {
        self.failure.take()
    }

    /// What was tolerated while decoding: replaced bytes, an unsupported encoding label.
    pub(super) fn warnings(&self) -> impl Iterator<Item = String> + '_ {
        let replaced = (self.replaced > 0).then(|| {
            format!(
                "{} invalid UTF-8 byte sequence{} replaced with U+FFFD",
                self.replaced,
                if self.replaced == 1 { "" } else { "s" }
            )
        });
        self.note.iter().cloned().chain(replaced)
    }

    fn fail(&mut self, error: Error) -> io::Error {
        fail(&mut self.failure, error)
    }

    fn fill_inner(&mut self) -> io::Result<&[u8]> {
        fill(&mut self.inner, &mut self.failure)
    }

    /// Handles what comes before the first markup: BOM, whitespace, the declaration. Reads
    /// byte by byte where needed, so it works whatever piece sizes the reader below hands out.
    fn start(&mut self) -> io::Result<()> {
        const OPEN: &[u8] = b"<?xml";
        self.started = true;
        let mut head = Vec::new();
        self.take(&mut head, 4)?;
        if head.starts_with(b"\xEF\xBB\xBF") {
            head.drain(..3);
        } else if head.starts_with(b"\xFE\xFF") || head.starts_with(b"\xFF\xFE") {
            return Err(self.fail(Error::Xml {
                offset: 0,
                reason: "the document is UTF-16 encoded; DMARC reports are read as UTF-8 or \
                         an 8-bit encoding"
                    .into(),
            }));
        }
        let spaces = head.iter().take_while(|b| b.is_ascii_whitespace()).count();
        head.drain(..spaces);
        while head.is_empty() {
            let available = self.fill_inner()?;
            let spaces = available
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            let end = available.is_empty() || spaces < available.len();
            self.inner.consume(spaces);
            if end {
                break;
            }
        }
        // Read on while this may be, or is, an XML declaration, up to its `>`.
        loop {
            let more = if head.len() < OPEN.len() {
                OPEN.starts_with(&head)
            } else {
                head.starts_with(OPEN) && !head.contains(&b'>') && head.len() < MAX_DECLARATION
            };
            if !more || self.take(&mut head, 1)? == 0 {
                break;
            }
        }
        if head.starts_with(OPEN) {
            self.choose_decoding(&head);
        }
        self.decode(&head);
        Ok(())
    }

    /// Moves up to `n` bytes from the reader below to `out`; returns how many.
    fn take(&mut self, out: &mut Vec<u8>, n: usize) -> io::Result<usize> {
        let mut taken = 0;
        while taken < n {
            let available = self.fill_inner()?;
            if available.is_empty() {
                break;
            }
            let k = available.len().min(n - taken);
            out.extend_from_slice(&available[..k]);
            self.inner.consume(k);
            taken += k;
        }
        Ok(taken)
    }

    fn choose_decoding(&mut self, declaration: &[u8]) {
        let Some(label) = encoding_label(declaration) else {
            return;
        };
        let label = label.trim().to_ascii_lowercase();
        match label.as_str() {
            "utf-8" | "utf8" | "unicode-1-1-utf-8" => {}
            "windows-1252" | "cp1252" | "x-cp1252" | "iso-8859-1" | "iso8859-1" | "iso88591"
            | "iso_8859-1" | "iso-ir-100" | "latin1" | "latin-1" | "l1" | "ibm819" | "cp819"
            | "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso-8859-15" | "iso8859-15" | "latin9" => {
                // WHATWG maps all of these to windows-1252; ISO-8859-15 differs in 8 rarely
                // used code points, which is closer than reading the bytes as UTF-8.
                self.decoding = Decoding::Windows1252;
            }
            "utf-16" | "utf-16le" | "utf-16be" | "ucs-2" => {
                self.note = Some(format!(
                    "declared encoding {label:?} does not match the 8-bit content; read as UTF-8"
                ));
            }
            _ => {
                self.note = Some(format!(
                    "declared encoding {label:?} is not supported; read as UTF-8"
                ));
            }
        }
    }

    /// Appends `raw` to `buf` as valid UTF-8. A UTF-8 sequence cut at the end of `raw` is
    /// kept in `carry` for the next chunk.
    fn decode(&mut self, raw: &[u8]) {
        match self.decoding {
            Decoding::Windows1252 => {
                if raw.is_ascii() {
                    self.buf.extend_from_slice(raw);
                } else {
                    for &byte in raw {
                        push_windows_1252(&mut self.buf, byte);
                    }
                }
            }
            Decoding::Utf8 => {
                let cut = incomplete_tail(raw);
                let (whole, rest) = raw.split_at(raw.len() - cut);
                self.push_utf8(whole);
                self.carry.extend_from_slice(rest);
            }
        }
    }

    /// Appends `bytes` to `buf`, replacing invalid sequences with U+FFFD.
    fn push_utf8(&mut self, bytes: &[u8]) {
        if std::str::from_utf8(bytes).is_ok() {
            self.buf.extend_from_slice(bytes);
            return;
        }
        for chunk in bytes.utf8_chunks() {
            self.buf.extend_from_slice(chunk.valid().as_bytes());
            if !chunk.invalid().is_empty() {
                self.buf.extend_from_slice("\u{FFFD}".as_bytes());
                self.replaced += 1;
            }
        }
    }

    /// Takes the next chunk from the reader below into `buf`.
    fn refill(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.pos = 0;
        while self.buf.is_empty() {
            let available = fill(&mut self.inner, &mut self.failure)?;
            if available.is_empty() {
                // A sequence cut by the end of the input can never be completed.
                if !self.carry.is_empty() {
                    self.carry.clear();
                    self.buf.extend_from_slice("\u{FFFD}".as_bytes());
                    self.replaced += 1;
                }
                return Ok(());
            }
            let k = available.len().min(CHUNK);
            if self.carry.is_empty() && self.decoding == Decoding::Utf8 {
                // The common case: valid UTF-8, copied once.
                let chunk = &available[..k];
                let (whole, rest) = chunk.split_at(k - incomplete_tail(chunk));
                if std::str::from_utf8(whole).is_ok() {
                    self.buf.extend_from_slice(whole);
                    self.carry.extend_from_slice(rest);
                    self.inner.consume(k);
                    continue;
                }
            }
            let mut raw = std::mem::take(&mut self.scratch);
            raw.clear();
            raw.append(&mut self.carry);
            raw.extend_from_slice(&available[..k]);
            self.inner.consume(k);
            self.decode(&raw);
            self.scratch = raw;
        }
        Ok(())
    }
}

/// The length of a UTF-8 sequence cut off at the end of `bytes` (0 when none is).
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xC0 == 0x80 {
            continue;
        }
        let width = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 1,
        };
        return if width > back { back } else { 0 };
    }
    0
}

/// Records `error` as the reason for the `io::Error` handed to the XML reader.
fn fail(failure: &mut Option<Error>, error: Error) -> io::Error {
    let message = error.to_string();
    *failure = Some(error);
    io::Error::other(message)
}

/// `inner.fill_buf()`, retrying interruptions and keeping the reason of a failure.
fn fill<'a, R: BufRead>(inner: &'a mut R, failure: &mut Option<Error>) -> io::Result<&'a [u8]> {
    loop {
        match inner.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(failure, super::error_from_io(e))),
        }
    }
    inner.fill_buf()
}

/// The value of `encoding="…"` in an XML declaration.
fn encoding_label(declaration: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(declaration);
    let at = text.find("encoding")?;
    let rest = text[at + "encoding".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let end = value.find(quote)?;
    Some(value[..end].to_owned())
}

/// windows-1252 code points for 0x80–0x9F; the rest of 0x80–0xFF is Latin-1.
const WINDOWS_1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

fn push_windows_1252(out: &mut Vec<u8>, byte: u8) {
    if byte.is_ascii() {
        out.push(byte);
        return;
    }
    let c = match byte {
        0x80..=0x9F => WINDOWS_1252_HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    };
    let mut utf8 = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
}

impl<R: BufRead> Read for Input<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Input<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            self.fill_slow()?;
        }
        Ok(&self.buf[self.pos..])
    }

    #[inline]
    fn consume(&mut self, amount: usize) {
        self.token_bytes = self.token_bytes.saturating_add(amount as u64);
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}

impl<R: BufRead> Input<R> {
    /// The buffer is used up: check the token cap, then take the next chunk.
    #[cold]
    fn fill_slow(&mut self) -> io::Result<()> {
        if self.failure.is_some() {
            return Err(io::Error::other("input already failed"));
        }
        // Checked per chunk: a token never holds more than the cap plus one chunk.
        if self.token_bytes > MAX_TOKEN_BYTES {
            return Err(self.fail(Error::Limit {
                what: "bytes in one XML tag, text or comment",
                limit: MAX_TOKEN_BYTES,
            }));
        }
        self.delivered += self.buf.len() as u64;
        self.buf.clear();
        self.pos = 0;
        if !self.started {
            self.start()?;
        }
        if self.buf.is_empty() {
            self.refill()?;
        }
        // `contains` is the vectorised search; the position is only needed for the error.
        if self.buf.contains(&0) {
            let at = self.buf.iter().position(|&b| b == 0).unwrap_or(0);
            let offset = self.delivered + at as u64;
            return Err(self.fail(Error::Xml {
                offset,
                reason: "a NUL byte, which no XML document can hold: this is binary data, \
                         not a report"
                    .into(),
            }));
        }
        Ok(())
    }
}
