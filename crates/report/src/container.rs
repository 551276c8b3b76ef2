//! Container detection and bounded decompression.
//!
//! Every document is recognised by its first bytes, never by a name: gzip (`1f 8b`), zlib
//! (`78` with a valid header checksum), zip (`PK\3\4`, or `PK\5\6` for an empty archive), an
//! RFC 5322 message (the first line is a header field), or XML (`<` after an optional BOM and
//! whitespace). Containers nest — a message holding a zip holding a gzip — up to
//! [`Limits::max_container_nesting`].
//!
//! Decompressed data flows through readers into the XML parser; nothing holds a whole
//! document. Every decompressor's output is counted against one budget per input
//! ([`Limits::max_decompressed_bytes`]), so a zip or gzip bomb stops with
//! [`Error::TooLarge`] after reading no more than the cap. Only messages (they must be decoded
//! as a whole) and a zip found inside a stream (a zip needs to seek; e.g. a gzip of a zip) are
//! held in memory, up to [`Limits::max_message_bytes`].
//!
//! Member names: a zip member or a message attachment is named by its file name; nested names
//! are joined with `/` (`report.zip/report.xml`, or `outer.zip/inner.zip/report.xml`). A zip
//! member with an empty name is called `member N`, an attachment without a file name
//! `part N` (its MIME part number, e.g. `part 1.2`). gzip and zlib layers add no name.

use crate::error::Container;
use crate::tlsrpt;
use crate::{Error, Limits, Record, ReportHeader, ReportTrailer, Sink, TlsReport, Warning};
use crate::{FailureReport, failure, mime};
use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::ops::ControlFlow;

/// Bytes looked at to recognise a document.
const PEEK_BYTES: usize = 1024;

/// Buffer between a decompressor and the next layer.
const BUFFER_BYTES: usize = 64 * 1024;

/// Trailing bytes after a gzip stream that are counted for the warning; beyond that the
/// warning says "at least".
const MAX_TRAILING_COUNTED: u64 = 1024 * 1024;

/// The end of a zip archive holds the end-of-central-directory record within this many bytes
/// (22 bytes of record plus a comment of at most 65,535).
const ZIP_TAIL_BYTES: u64 = 22 + 65_535;

/// Reads every report in `input`, held in memory.
pub(crate) fn read_bytes(input: &[u8], limits: &Limits, sink: &mut dyn Sink) {
    let limits = limits.bounded();
    let shared = Shared::new(&limits);
    let mut reader = Reader {
        shared: &shared,
        sink,
        within: None,
    };
    let _ = reader.slice(input, None, 0);
}

/// Reads every report in a seekable `input`: a zip is read through `Seek`, a message into
/// memory (bounded), anything else is streamed.
pub(crate) fn read_seekable<R: Read + Seek>(mut input: R, limits: &Limits, sink: &mut dyn Sink) {
    let limits = &limits.bounded();
    let shared = Shared::new(limits);
    let mut reader = Reader {
        shared: &shared,
        sink,
        within: None,
    };
    let head = match peek_seekable(&mut input) {
        Ok(head) => head,
        Err(error) => {
            let _ = reader.fail(None, Error::Io(error));
            return;
        }
    };
    let _ = match detect(&head) {
        Some(Container::Zip) => reader.zip(BufReader::new(input), None, 0),
        Some(Container::Message) => {
            match read_rest_bounded(&mut input, limits.max_message_bytes, "bytes of a message") {
                Ok(message) => reader.message(&message, None, 0),
                Err(error) => reader.fail(None, error),
            }
        }
        _ => reader.stream(&mut BufReader::with_capacity(BUFFER_BYTES, input), None, 0),
    };
}

/// Reads the first bytes of `input` and seeks back to where it started.
fn peek_seekable<R: Read + Seek>(input: &mut R) -> io::Result<Vec<u8>> {
    let start = input.stream_position()?;
    let mut head = Vec::with_capacity(PEEK_BYTES);
    input
        .by_ref()
        .take(PEEK_BYTES as u64)
        .read_to_end(&mut head)?;
    input.seek(SeekFrom::Start(start))?;
    Ok(head)
}

/// What the first bytes of a document say it is; `None` for none of the known formats.
/// Only the first [`PEEK_BYTES`] count, so a document in memory and the same document read
/// from a stream are recognised alike.
pub(crate) fn detect(head: &[u8]) -> Option<Container> {
    let head = &head[..head.len().min(PEEK_BYTES)];
    match head {
        [0x1f, 0x8b, ..] => Some(Container::Gzip),
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Some(Container::Zip),
        // zlib: deflate with a 32 KiB window (`78`), no preset dictionary, and the header
        // checksum RFC 1950 requires — text starting with `x` almost never passes it.
        [cmf @ 0x78, flg, ..]
            if (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 && flg & 0x20 == 0 =>
        {
            Some(Container::Zlib)
        }
        _ if looks_like_xml(head) => Some(Container::Xml),
        _ if tlsrpt::looks_like_json(head) => Some(Container::Json),
        _ if looks_like_message(head) => Some(Container::Message),
        _ => None,
    }
}

/// `<` after an optional BOM and whitespace. A UTF-16 BOM counts too, so that the XML
/// parser can say clearly why it refuses the document.
fn looks_like_xml(head: &[u8]) -> bool {
    if head.starts_with(b"\xFE\xFF") || head.starts_with(b"\xFF\xFE") {
        return true;
    }
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(first) => *first == b'<',
        // Only whitespace as far as detection looks: let the XML reader look further.
        None => head.len() >= PEEK_BYTES - 3,
    }
}

/// The first line is a header field (`Name: value`), after an optional mbox `From ` line.
fn looks_like_message(head: &[u8]) -> bool {
    let mut lines = head.split(|&b| b == b'\n');
    let mut first = lines.next().unwrap_or_default();
    if first.starts_with(b"From ") {
        first = lines.next().unwrap_or_default();
    }
    let Some(colon) = first.iter().position(|&b| b == b':') else {
        return false;
    };
    // RFC 5322 allows any printable ASCII in a field name; real ones are words joined by `-`
    // (being stricter keeps JSON such as `{"organization-name":…}` from passing).
    let name = &first[..colon];
    name.first().is_some_and(u8::is_ascii_alphabetic)
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a document is none of the known formats: what it is (`within` says what held it) and
/// what it starts with.
fn describe_unknown(head: &[u8], within: Option<Container>) -> String {
    let subject = match within {
        Some(Container::Gzip) => "the content of the gzip stream",
        Some(Container::Zlib) => "the content of the zlib stream",
        Some(Container::Zip) => "the zip member",
        _ => "the data",
    };
    if head.is_empty() {
        return format!("{subject} is empty");
    }
    let shown: String = head
        .iter()
        .take(16)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    let hint = match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => "; JSON, as in SMTP TLS reports (RFC 8460)",
        _ => "",
    };
    format!(
        "{subject} is neither XML, a message, nor a gzip, zlib or zip archive (it starts with \"{shown}\"{hint})"
    )
}

/// State shared by every layer of one input: the decompression budget and the warnings of
/// the document being read.
struct Shared<'l> {
    limits: &'l Limits,
    decompressed: Cell<u64>,
    warnings: RefCell<Vec<String>>,
}

impl<'l> Shared<'l> {
    fn new(limits: &'l Limits) -> Self {
        Shared {
            limits,
            decompressed: Cell::new(0),
            warnings: RefCell::new(Vec::new()),
        }
    }

    fn warn(&self, warning: String) {
        self.warnings.borrow_mut().push(warning);
    }

    fn too_large(&self) -> Error {
        Error::TooLarge {
            limit: self.limits.max_decompressed_bytes,
        }
    }

    /// Whether `more` bytes still fit the budget.
    fn fits(&self, more: u64) -> bool {
        self.decompressed.get().saturating_add(more) <= self.limits.max_decompressed_bytes
    }
}

/// Walks one input and feeds the sink.
struct Reader<'s, 'l> {
    shared: &'s Shared<'l>,
    sink: &'s mut dyn Sink,
    /// The container whose content is being read, for error messages.
    within: Option<Container>,
}

impl Reader<'_, '_> {
    fn fail(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()> {
        // Warnings gathered for this document go with it.
        self.shared.warnings.take();
        self.sink.report_failed(member, error)
    }

    /// Fails when entering one more container would exceed the nesting cap.
    fn enter(&self, depth: usize) -> Result<usize, Error> {
        let limit = self.shared.limits.max_container_nesting;
        if depth >= limit {
            return Err(Error::Limit {
                what: "containers nested in each other",
                limit: limit as u64,
            });
        }
        Ok(depth + 1)
    }

    /// A document held in memory.
    fn slice(&mut self, data: &[u8], member: Option<&str>, depth: usize) -> ControlFlow<()> {
        match detect(data) {
            Some(Container::Zip) => self.zip(Cursor::new(data), member, depth),
            Some(Container::Message) => self.message(data, member, depth),
            _ => self.stream(&mut &*data, member, depth),
        }
    }

    /// A document read from a stream.
    fn stream(
        &mut self,
        input: &mut dyn BufRead,
        member: Option<&str>,
        depth: usize,
    ) -> ControlFlow<()> {
        let mut head = Vec::with_capacity(PEEK_BYTES);
        if let Err(error) = input.take(PEEK_BYTES as u64).read_to_end(&mut head) {
            return self.fail(member, from_io(error, None));
        }
        let Some(kind) = detect(&head) else {
            return self.fail(
                member,
                Error::UnknownContent(describe_unknown(&head, self.within)),
            );
        };
        let mut input = Cursor::new(head).chain(input);
        let shared = self.shared;
        match kind {
            Container::Xml => self.xml(&mut input, member, depth),
            Container::Json => self.json(&mut input, member),
            Container::Gzip | Container::Zlib => {
                let depth = match self.enter(depth) {
                    Ok(depth) => depth,
                    Err(error) => return self.fail(member, error),
                };
                let decoder: Box<dyn Read + '_> = if kind == Container::Gzip {
                    Box::new(GzipMembers::new(&mut input, shared))
                } else {
                    let zlib = flate2::bufread::ZlibDecoder::new(&mut input);
                    Box::new(Labelled::new(zlib, Container::Zlib))
                };
                let data = Decompressed::new(decoder, shared);
                let outer = self.within.replace(kind);
                let flow = self.stream(
                    &mut BufReader::with_capacity(BUFFER_BYTES, data),
                    member,
                    depth,
                );
                self.within = outer;
                flow
            }
            // A zip needs to seek, a message to be decoded whole: hold them in memory.
            Container::Zip => match read_bounded(
                &mut input,
                shared.limits.max_message_bytes,
                "bytes of a zip archive inside another container",
            ) {
                Ok(data) => self.zip(Cursor::new(data), member, depth),
                Err(error) => self.fail(member, error),
            },
            Container::Message => match read_bounded(
                &mut input,
                shared.limits.max_message_bytes,
                "bytes of a message",
            ) {
                Ok(data) => self.message(&data, member, depth),
                Err(error) => self.fail(member, error),
            },
        }
    }

    /// One XML document. Container warnings (e.g. trailing data after a gzip stream) are
    /// added to the report's warnings, so `end_report` waits until the document's layers
    /// have been read to their end.
    fn xml(
        &mut self,
        input: &mut dyn BufRead,
        member: Option<&str>,
        depth: usize,
    ) -> ControlFlow<()> {
        let mut deferred = DeferredEnd {
            sink: &mut *self.sink,
            trailer: None,
        };
        let flow =
            crate::xml::parse_document(&mut *input, member, self.shared.limits, &mut deferred);
        let trailer = deferred.trailer.take();
        let Some(mut trailer) = trailer.filter(|_| flow.is_continue()) else {
            self.shared.warnings.take();
            return flow;
        };
        if depth > 0 {
            // Read the layers below to their end: that checks the gzip/zip checksums and
            // finds trailing data. The report itself is complete, so a problem here is only
            // worth a warning.
            if let Err(error) = io::copy(input, &mut io::sink()) {
                self.shared.warn(format!(
                    "after the end of the report: {}",
                    from_io(error, None)
                ));
            }
        }
        let warnings = self.shared.warnings.take();
        trailer.warnings.extend(warnings.into_iter().map(Warning));
        self.sink.end_report(trailer)
    }

    /// One JSON document: an SMTP TLS report, streamed. It is read to its end, and so are
    /// the layers below, so their warnings go with the report.
    fn json(&mut self, input: &mut dyn BufRead, member: Option<&str>) -> ControlFlow<()> {
        match tlsrpt::parse(input) {
            Ok(mut report) => {
                let warnings = self.shared.warnings.take();
                report.warnings.extend(warnings.into_iter().map(Warning));
                self.sink.tls_report(member, report)
            }
            Err(error) => self.fail(member, error),
        }
    }

    fn zip<R: Read + Seek>(
        &mut self,
        mut input: R,
        member: Option<&str>,
        depth: usize,
    ) -> ControlFlow<()> {
        let depth = match self.enter(depth) {
            Ok(depth) => depth,
            Err(error) => return self.fail(member, error),
        };
        let limit = self.shared.limits.max_zip_members;
        // Refuse an archive with too many members before the zip reader builds its index.
        if let Some(members) = zip_member_count(&mut input)
            && members > limit as u64
        {
            return self.fail(member, zip_limit(limit));
        }
        let mut archive = match zip::ZipArchive::new(input) {
            Ok(archive) => archive,
            Err(error) => return self.fail(member, corrupt(Container::Zip, &error)),
        };
        if archive.len() > limit {
            return self.fail(member, zip_limit(limit));
        }
        let mut documents = 0usize;
        let mut skipped = 0usize;
        let shared = self.shared;
        for index in 0..archive.len() {
            let listed_name = archive
                .name_for_index(index)
                .and_then(Result::ok)
                .map(|name| name.into_owned())
                .unwrap_or_default();
            if listed_name.ends_with('/') || is_metadata(&listed_name) {
                skipped += 1;
                continue;
            }
            let mut file = match archive.by_index(index) {
                Ok(file) => file,
                Err(error) => {
                    let name = join(member, &zip_member_name(&listed_name, index));
                    documents += 1;
                    self.fail(Some(&name), corrupt(Container::Zip, &error))?;
                    continue;
                }
            };
            let raw_name = String::from_utf8_lossy(file.name_raw()).into_owned();
            if file.is_dir() || is_metadata(&raw_name) {
                skipped += 1;
                continue;
            }
            documents += 1;
            let name = join(member, &zip_member_name(&raw_name, index));
            // The declared size can lie, but when it is already over the budget there is no
            // point in starting.
            if !shared.fits(file.size()) {
                self.fail(Some(&name), shared.too_large())?;
                continue;
            }
            let data = Decompressed::new(Labelled::new(&mut file, Container::Zip), shared);
            let outer = self.within.replace(Container::Zip);
            let flow = self.stream(
                &mut BufReader::with_capacity(BUFFER_BYTES, data),
                Some(&name),
                depth,
            );
            self.within = outer;
            flow?;
        }
        if documents == 0 {
            let what = if skipped == 0 {
                "the zip archive is empty".to_owned()
            } else {
                format!(
                    "the zip archive holds only directories and macOS metadata ({skipped} entries)"
                )
            };
            return self.fail(member, Error::NoReport(what));
        }
        ControlFlow::Continue(())
    }

    /// A message: every attachment that holds an archive or XML is read; a message without
    /// any fails with [`Error::NoReport`], naming what it holds.
    fn message(&mut self, data: &[u8], member: Option<&str>, depth: usize) -> ControlFlow<()> {
        match self.attachments(data, member, depth)? {
            Ok(_) => ControlFlow::Continue(()),
            Err(error) => self.fail(member, error),
        }
    }

    /// Reads the report candidates of a message. `Ok(n)` with n > 0 when some were read,
    /// `Err` when none were found (naming what was there) or the message is malformed.
    fn attachments(
        &mut self,
        data: &[u8],
        member: Option<&str>,
        depth: usize,
    ) -> ControlFlow<(), Result<usize, Error>> {
        let depth = match self.enter(depth) {
            Ok(depth) => depth,
            Err(error) => return ControlFlow::Continue(Err(error)),
        };
        let parts = match mime::leaf_parts(data, self.shared.limits) {
            Ok(parts) => parts,
            Err(error) => return ControlFlow::Continue(Err(error)),
        };
        // A failure report is one report about one message: the copy of that message it
        // carries is a sample, never searched for reports.
        if let Some(found) = failure::from_message(data, &parts) {
            return match found {
                Ok(mut report) => {
                    let warnings = self.shared.warnings.take();
                    report.warnings.extend(warnings.into_iter().map(Warning));
                    self.sink.failure_report(member, report)?;
                    ControlFlow::Continue(Ok(1))
                }
                Err(error) => ControlFlow::Continue(Err(error)),
            };
        }
        let mut candidates = 0usize;
        let mut seen = Vec::new();
        for part in &parts {
            let body = part.decoded();
            let name = join(member, &part.display_name());
            let kind = detect(&body);
            let candidate = match kind {
                Some(Container::Gzip | Container::Zlib | Container::Zip | Container::Json) => true,
                Some(Container::Xml) => !part.is_html() && !looks_like_html(&body),
                Some(Container::Message) => part.is_message(),
                None => false,
            };
            if !candidate {
                seen.push(part.describe(body.len()));
                continue;
            }
            if kind == Some(Container::Message) {
                // A forwarded message: its reports count, its lack of them does not.
                match self.attachments(&body, Some(&name), depth)? {
                    Ok(count) => candidates += count,
                    Err(error) => seen.push(format!("{} ({error})", part.describe(body.len()))),
                }
                continue;
            }
            candidates += 1;
            let outer = self.within.take();
            let flow = self.slice(&body, Some(&name), depth);
            self.within = outer;
            flow?;
        }
        if candidates == 0 {
            let kind = parts
                .iter()
                .find_map(|part| other_report_kind(part.content_type()));
            let what = match (kind, seen.is_empty()) {
                (_, true) => "the message has no parts".to_owned(),
                (Some(kind), false) => format!("{kind}; it has {}", seen.join(", ")),
                (None, false) => format!(
                    "the message holds no archive or XML attachment; it has {}",
                    seen.join(", ")
                ),
            };
            return ControlFlow::Continue(Err(Error::NoReport(what)));
        }
        ControlFlow::Continue(Ok(candidates))
    }
}

/// The other kinds of report mail, recognised by a part's content type, so that the error
/// says what the message is.
fn other_report_kind(content_type: &str) -> Option<&'static str> {
    if content_type.starts_with("application/tlsrpt") {
        Some("this is an SMTP TLS report (RFC 8460), not a DMARC aggregate report")
    } else {
        None
    }
}

/// `<!doctype html` or `<html` at the start: a mail body, not a report.
fn looks_like_html(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let head: Vec<u8> = body[start..]
        .iter()
        .take(14)
        .map(u8::to_ascii_lowercase)
        .collect();
    head.starts_with(b"<!doctype html") || head.starts_with(b"<html")
}

/// Joins a nested member name to its parent's.
fn join(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(parent) => format!("{parent}/{name}"),
        None => name.to_owned(),
    }
}

fn zip_member_name(name: &str, index: usize) -> String {
    if name.is_empty() {
        format!("member {}", index + 1)
    } else {
        name.to_owned()
    }
}

/// macOS archive metadata: the `__MACOSX/` folder and AppleDouble `._name` files.
fn is_metadata(name: &str) -> bool {
    name.starts_with("__MACOSX/")
        || name.contains("/__MACOSX/")
        || name
            .rsplit('/')
            .next()
            .is_some_and(|base| base.starts_with("._"))
}

fn zip_limit(limit: usize) -> Error {
    Error::Limit {
        what: "members in one zip archive",
        limit: limit as u64,
    }
}

fn corrupt(format: Container, error: &dyn std::fmt::Display) -> Error {
    Error::Corrupt {
        format,
        reason: error.to_string(),
    }
}

/// The member count in a zip archive's end-of-central-directory record, if it can be found.
/// A ZIP64 archive with more than 65,534 members says `0xFFFF` here, which is over any
/// sensible cap anyway.
fn zip_member_count<R: Read + Seek>(input: &mut R) -> Option<u64> {
    let start = input.stream_position().ok()?;
    let end = input.seek(SeekFrom::End(0)).ok()?;
    let tail_start = end.saturating_sub(ZIP_TAIL_BYTES).max(start);
    input.seek(SeekFrom::Start(tail_start)).ok()?;
    let mut tail = Vec::new();
    let read = input.by_ref().take(end - tail_start).read_to_end(&mut tail);
    input.seek(SeekFrom::Start(start)).ok()?;
    read.ok()?;
    // The last signature whose comment length reaches exactly to the end.
    (0..tail.len().saturating_sub(21)).rev().find_map(|at| {
        let record = &tail[at..];
        let comment = u16::from_le_bytes([record[20], record[21]]) as usize;
        (record.starts_with(b"PK\x05\x06") && record.len() == 22 + comment)
            .then(|| u64::from(u16::from_le_bytes([record[10], record[11]])))
    })
}

/// Reads `input` to its end into memory, refusing more than `limit` bytes.
fn read_bounded(input: &mut dyn Read, limit: u64, what: &'static str) -> Result<Vec<u8>, Error> {
    read_bounded_into(Vec::new(), input, limit, what)
}

/// [`read_bounded`] into `data`, whose capacity may already fit the expected length.
fn read_bounded_into(
    mut data: Vec<u8>,
    input: &mut dyn Read,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|error| from_io(error, None))?;
    if data.len() as u64 > limit {
        return Err(Error::Limit { what, limit });
    }
    Ok(data)
}

/// Reads the rest of a seekable `input` into memory. Its length is known up front, so an input
/// over `limit` is refused without reading a byte of it, and the buffer is allocated once
/// (growing a `Vec` by doubling would briefly hold two copies of a large message).
fn read_rest_bounded<R: Read + Seek>(
    input: &mut R,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    let start = input.stream_position()?;
    let end = input.seek(SeekFrom::End(0))?;
    input.seek(SeekFrom::Start(start))?;
    let length = end.saturating_sub(start);
    if length > limit {
        return Err(Error::Limit { what, limit });
    }
    // The input may still have grown since its length was taken: the limit is checked again.
    let data = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    read_bounded_into(data, input, limit, what)
}

/// The crate's [`Error`] behind an I/O error: one raised by a layer below (a cap, a corrupt
/// stream) is passed on unchanged; any other is a corrupt `format` if known, else I/O.
fn from_io(error: io::Error, format: Option<Container>) -> Error {
    match crate::xml::error_from_io(error) {
        Error::Io(error) => match format {
            Some(format) => corrupt(format, &error),
            None => Error::Io(error),
        },
        error => error,
    }
}

/// Turns the I/O errors of a decoder into [`Error::Corrupt`] for its format (errors from
/// the layers below pass unchanged).
struct Labelled<R> {
    inner: R,
    format: Container,
}

impl<R> Labelled<R> {
    fn new(inner: R, format: Container) -> Self {
        Labelled { inner, format }
    }
}

impl<R: Read> Read for Labelled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|error| io::Error::other(from_io(error, Some(self.format))))
    }
}

/// Counts decompressed bytes against the input's budget and fails with
/// [`Error::TooLarge`] once it is spent.
struct Decompressed<'s, 'l, R> {
    inner: R,
    shared: &'s Shared<'l>,
}

impl<'s, 'l, R> Decompressed<'s, 'l, R> {
    fn new(inner: R, shared: &'s Shared<'l>) -> Self {
        Decompressed { inner, shared }
    }
}

impl<R: Read> Read for Decompressed<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Never ask for more than the budget allows (plus one byte, to notice going over),
        // so even a single huge read cannot overshoot.
        let left = self
            .shared
            .limits
            .max_decompressed_bytes
            .saturating_sub(self.shared.decompressed.get())
            .saturating_add(1);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..want])?;
        let total = self.shared.decompressed.get().saturating_add(read as u64);
        self.shared.decompressed.set(total);
        if total > self.shared.limits.max_decompressed_bytes {
            return Err(io::Error::other(self.shared.too_large()));
        }
        Ok(read)
    }
}

/// A gzip stream of one or more members. Data after the last member that is not another
/// member (seen in real mail: a stray CRLF) ends the stream with a warning.
struct GzipMembers<'a, 's, 'l> {
    decoder: Option<flate2::bufread::GzDecoder<Box<dyn BufRead + 'a>>>,
    shared: &'s Shared<'l>,
}

impl<'a, 's, 'l> GzipMembers<'a, 's, 'l> {
    fn new(input: impl BufRead + 'a, shared: &'s Shared<'l>) -> Self {
        GzipMembers {
            decoder: Some(flate2::bufread::GzDecoder::new(Box::new(input))),
            shared,
        }
    }

    /// After a member: starts the next one, or notes what trails the stream.
    fn next_member(&mut self, mut input: Box<dyn BufRead + 'a>) -> io::Result<()> {
        let mut magic = [0u8; 2];
        let got = read_up_to(&mut input, &mut magic)?;
        if got == 0 {
            return Ok(());
        }
        let input: Box<dyn BufRead + 'a> =
            Box::new(Cursor::new(magic[..got].to_vec()).chain(input));
        if magic[..got] == [0x1f, 0x8b] {
            self.decoder = Some(flate2::bufread::GzDecoder::new(input));
            return Ok(());
        }
        let trailing = io::copy(&mut input.take(MAX_TRAILING_COUNTED), &mut io::sink())?;
        let amount = if trailing >= MAX_TRAILING_COUNTED {
            format!("at least {trailing}")
        } else {
            trailing.to_string()
        };
        self.shared.warn(format!(
            "{amount} byte{} of trailing data after the gzip stream ignored",
            if trailing == 1 { "" } else { "s" }
        ));
        Ok(())
    }
}

impl Read for GzipMembers<'_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(decoder) = &mut self.decoder else {
                return Ok(0);
            };
            let read = decoder
                .read(buf)
                .map_err(|error| io::Error::other(from_io(error, Some(Container::Gzip))))?;
            if read > 0 || buf.is_empty() {
                return Ok(read);
            }
            if let Some(decoder) = self.decoder.take() {
                self.next_member(decoder.into_inner())
                    .map_err(|error| io::Error::other(from_io(error, Some(Container::Gzip))))?;
            }
        }
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_up_to(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Passes everything to the sink but holds `end_report` back, so that warnings found after
/// the document's end can still be added.
struct DeferredEnd<'a> {
    sink: &'a mut dyn Sink,
    trailer: Option<ReportTrailer>,
}

impl Sink for DeferredEnd<'_> {
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()> {
        // A further report in the same document: the one before it is complete, and the
        // warnings of the layers below go with the last one.
        if let Some(trailer) = self.trailer.take() {
            self.sink.end_report(trailer)?;
        }
        self.sink.begin_report(member, header)
    }

    fn record(&mut self, record: Record) -> ControlFlow<()> {
        self.sink.record(record)
    }

    fn end_report(&mut self, trailer: ReportTrailer) -> ControlFlow<()> {
        self.trailer = Some(trailer);
        ControlFlow::Continue(())
    }

    fn tls_report(&mut self, member: Option<&str>, report: TlsReport) -> ControlFlow<()> {
        self.sink.tls_report(member, report)
    }

    fn failure_report(&mut self, member: Option<&str>, report: FailureReport) -> ControlFlow<()> {
        self.sink.failure_report(member, report)
    }

    fn report_failed(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()> {
        self.trailer = None;
        self.sink.report_failed(member, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seekable reader that counts the bytes read from it.
    struct Counting<R> {
        inner: R,
        read: u64,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n as u64;
            Ok(n)
        }
    }

    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
            self.inner.seek(position)
        }
    }

    #[test]
    fn an_oversized_message_is_refused_before_it_is_read() {
        let mut message = b"From: reports@example.net\r\nSubject: report\r\n\r\n".to_vec();
        message.resize(4 * 1024 * 1024, b'A');
        let mut input = Counting {
            inner: io::Cursor::new(message),
            read: 0,
        };
        let limits = Limits {
            max_message_bytes: 1024 * 1024,
            ..Limits::default()
        };
        let mut collector = crate::Collector::default();
        read_seekable(&mut input, &limits, &mut collector);
        let [Err(failure)] = collector.results.as_slice() else {
            panic!("expected one failure, got {:?}", collector.results);
        };
        assert!(
            matches!(failure.error, Error::Limit { what: "bytes of a message", limit } if limit == 1024 * 1024),
            "{:?}",
            failure.error
        );
        // Only the detection peek was read.
        assert!(input.read <= PEEK_BYTES as u64, "read {} bytes", input.read);
    }

    #[test]
    fn detection_by_first_bytes() {
        assert_eq!(detect(b"\x1f\x8b\x08\x00"), Some(Container::Gzip));
        assert_eq!(detect(b"PK\x03\x04"), Some(Container::Zip));
        assert_eq!(detect(b"PK\x05\x06"), Some(Container::Zip));
        for zlib in [b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"] {
            assert_eq!(detect(zlib), Some(Container::Zlib));
        }
        // `x` followed by a byte that fails the zlib header checksum is text.
        assert_eq!(detect(b"x-header"), None);
        assert_eq!(detect(b"\xEF\xBB\xBF \r\n<?xml"), Some(Container::Xml));
        assert_eq!(detect(b"\xFF\xFE<\x00"), Some(Container::Xml));
        assert_eq!(
            detect(b"Received: from x\r\nFrom: a@example.net\r\n"),
            Some(Container::Message)
        );
        assert_eq!(
            detect(b"From a@example.net Mon Jan  1 00:00:00 2024\nSubject: x\n"),
            Some(Container::Message)
        );
        assert_eq!(detect(b"Hello world: this is text"), None);
        assert_eq!(
            detect(b" {\"organization-name\":\"Example\"}"),
            Some(Container::Json)
        );
        assert_eq!(detect(b""), None);
        assert_eq!(detect(&[b' '; PEEK_BYTES]), Some(Container::Xml));
    }

    #[test]
    fn macos_metadata_names() {
        assert!(is_metadata("__MACOSX/._report.xml"));
        assert!(is_metadata("reports/__MACOSX/x"));
        assert!(is_metadata("._report.xml"));
        assert!(is_metadata("reports/._report.xml"));
        assert!(!is_metadata("report._xml"));
        assert!(!is_metadata(""));
    }

    #[test]
    fn member_count_from_the_end_of_central_directory() {
        let mut empty = Cursor::new(b"PK\x05\x06\0\0\0\0\x07\0\x07\0\0\0\0\0\0\0\0\0\0\0".to_vec());
        assert_eq!(zip_member_count(&mut empty), Some(7));
        let mut none = Cursor::new(b"not a zip".to_vec());
        assert_eq!(zip_member_count(&mut none), None);
    }
}
