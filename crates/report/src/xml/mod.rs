//! The streaming aggregate-report parser.
//!
//! One XML document in, calls on a [`Sink`] out: `begin_report` as soon as the metadata and
//! the published policy are known, each `record` as it is read, then `end_report` — or
//! `report_failed`. Memory is bounded by the largest single record, not by the report.
//!
//! # Layout
//! - [`input`]: bytes → valid UTF-8 (BOM, declared encodings, bad bytes, token size cap).
//! - this module: the XML events, reduced to what the grammar needs ([`Events`]): element
//!   names matched by local name, so any namespace or prefix reads the same; values
//!   collected with the five predefined entities and character references resolved; no DTD.
//! - [`report`]: the report grammar — lenient where reporters are sloppy, strict where data
//!   would be wrong.

mod input;
mod report;
#[cfg(test)]
mod tests;

use crate::{Error, Limits, Sink};
use input::Input;
use quick_xml::events::{BytesStart, Event};
pub use report::{MAX_AUTH_RESULTS, MAX_COUNT, MAX_RECORD_BYTES};
use std::io::{self, BufRead};
use std::ops::ControlFlow;

/// Parses one XML document (already decompressed) and feeds `sink`.
pub(crate) fn parse_document(
    reader: impl BufRead,
    member: Option<&str>,
    limits: &Limits,
    sink: &mut dyn Sink,
) -> ControlFlow<()> {
    let events = Events::new(reader, limits);
    report::read(events, member, sink)
}

/// The [`Error`] behind an `io::Error` from a reader below the parser.
///
/// Readers that enforce a [`Limits`] cap (decompression) report it as
/// `io::Error::other(Error::TooLarge { .. })`; this unwraps such an error back into the
/// crate's own, and wraps any other I/O error in [`Error::Io`].
pub(crate) fn error_from_io(error: io::Error) -> Error {
    if error.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(Ok(inner)) = error.into_inner().map(|inner| inner.downcast::<Error>()) {
            return *inner;
        }
        // Unreachable in practice: the check above saw an `Error` inside.
        return Error::Xml {
            offset: 0,
            reason: "read error".into(),
        };
    }
    Error::Io(error)
}

/// Longest value kept from one element (a report's values are a few hundred bytes at most).
const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Largest `<extension>` kept as raw XML; larger ones are dropped with a warning.
const MAX_EXTENSION_BYTES: usize = 64 * 1024;

/// The RFC 9990 namespace.
const DMARC_2_NAMESPACE: &str = "urn:ietf:params:xml:ns:dmarc-2.0";

macro_rules! tags {
    ($( $variant:ident = $name:literal, )+) => {
        /// The elements the grammar knows, by local name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub(super) enum Tag {
            $( $variant, )+
            /// Any other element; its local name is in [`Events::other`].
            Other,
        }

        impl Tag {
            fn from_local_name(name: &[u8]) -> Tag {
                match name {
                    $( $name => Tag::$variant, )+
                    _ => Tag::Other,
                }
            }

            /// The element's name as written in the specifications.
            pub(super) fn name(self) -> &'static str {
                match self {
                    $( Tag::$variant => {
                        // The byte-string literal is ASCII; spell it again as text.
                        const NAME: &str = match std::str::from_utf8($name) {
                            Ok(name) => name,
                            Err(_) => "",
                        };
                        NAME
                    } )+
                    Tag::Other => "(other)",
                }
            }

            /// A bit for sets of seen elements (every tag fits in a `u64`).
            pub(super) fn bit(self) -> u64 {
                1 << (self as u8)
            }
        }
    };
}

tags! {
    Feedback = b"feedback",
    Version = b"version",
    ReportMetadata = b"report_metadata",
    OrgName = b"org_name",
    Email = b"email",
    ExtraContactInfo = b"extra_contact_info",
    ReportId = b"report_id",
    DateRange = b"date_range",
    DataRange = b"data_range",
    Begin = b"begin",
    End = b"end",
    Error = b"error",
    Generator = b"generator",
    PolicyPublished = b"policy_published",
    Domain = b"domain",
    Adkim = b"adkim",
    Aspf = b"aspf",
    P = b"p",
    Sp = b"sp",
    Np = b"np",
    Pct = b"pct",
    Fo = b"fo",
    Testing = b"testing",
    DiscoveryMethod = b"discovery_method",
    Extension = b"extension",
    Extensions = b"extensions",
    Record = b"record",
    Row = b"row",
    SourceIp = b"source_ip",
    Count = b"count",
    PolicyEvaluated = b"policy_evaluated",
    Disposition = b"disposition",
    Dkim = b"dkim",
    Spf = b"spf",
    Reason = b"reason",
    Type = b"type",
    Comment = b"comment",
    Identifiers = b"identifiers",
    Identities = b"identities",
    HeaderFrom = b"header_from",
    EnvelopeFrom = b"envelope_from",
    EnvelopeTo = b"envelope_to",
    AuthResults = b"auth_results",
    Selector = b"selector",
    Result = b"result",
    HumanResult = b"human_result",
    Scope = b"scope",
}

/// One XML event, reduced to what the grammar needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ev {
    /// `<tag>`.
    Start(Tag),
    /// `<tag/>`.
    Empty(Tag),
    /// `</tag>` (the reader checks that it matches its start tag).
    End,
    /// Character data; collected into [`Events::text`] while collecting.
    Text,
    /// The end of the input.
    Eof,
}

/// An `<extension>` being copied as raw XML.
struct Capture {
    xml: String,
    overflow: bool,
}

/// The XML event stream of one document.
pub(super) struct Events<R> {
    reader: quick_xml::Reader<Input<R>>,
    buf: Vec<u8>,
    max_depth: usize,
    /// Elements currently open.
    pub(super) depth: usize,
    /// The value being read, while `collecting`.
    text: String,
    collecting: bool,
    /// What start tags said beyond their names.
    pub(super) seen: Seen,
    capture: Option<Capture>,
}

/// What start tags said beyond their names, kept for the grammar.
#[derive(Default)]
pub(super) struct Seen {
    /// The local name of the last [`Tag::Other`] element.
    pub(super) other: String,
    /// The `lang` attribute of the last `<human_result>`.
    pub(super) lang: Option<String>,
    /// Whether a `<feedback>` start tag declared the RFC 9990 namespace.
    pub(super) dmarc_2_namespace: bool,
    /// Whether the last `<feedback>` start tag did.
    dmarc_2_namespace_now: bool,
    /// The last start tag that may be kept as raw XML (an extension or unknown element).
    opening: String,
}

impl<R: BufRead> Events<R> {
    fn new(reader: R, limits: &Limits) -> Self {
        let mut reader = quick_xml::Reader::from_reader(Input::new(reader));
        let config = reader.config_mut();
        config.check_end_names = true;
        // A bare `&` (as in `AT&T`) is kept as text: the meaning is clear and nothing is lost.
        config.allow_dangling_amp = true;
        Events {
            reader,
            buf: Vec::with_capacity(512),
            max_depth: limits.max_xml_depth,
            depth: 0,
            text: String::new(),
            collecting: false,
            seen: Seen::default(),
            capture: None,
        }
    }

    /// Forgets what the last document's start tags declared, when another document follows
    /// in the same stream (its `<feedback>` start tag was just read, so that one counts).
    pub(super) fn next_document(&mut self) {
        let namespace = self.seen.dmarc_2_namespace_now;
        self.seen.dmarc_2_namespace = namespace;
    }

    /// Warnings from decoding the bytes.
    pub(super) fn input_warnings(&self) -> impl Iterator<Item = String> + '_ {
        self.reader.get_ref().warnings()
    }

    /// An XML error at the current position.
    pub(super) fn error(&self, reason: impl Into<String>) -> Error {
        error_at(&self.reader, reason)
    }

    /// The next event.
    pub(super) fn next(&mut self) -> Result<Ev, Error> {
        loop {
            self.buf.clear();
            self.reader.get_mut().start_token();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(quick_xml::Error::Io(io)) => {
                    let failure = self.reader.get_mut().take_failure();
                    return Err(failure.unwrap_or_else(|| Error::Xml {
                        offset: self.reader.error_position(),
                        reason: io.to_string(),
                    }));
                }
                Err(e) => {
                    return Err(Error::Xml {
                        offset: self.reader.error_position(),
                        reason: e.to_string(),
                    });
                }
            };
            match event {
                Event::Start(start) => {
                    let tag = self.seen.tag(&start);
                    self.depth += 1;
                    if self.depth > self.max_depth {
                        return Err(Error::Limit {
                            what: "XML element nesting depth",
                            limit: self.max_depth as u64,
                        });
                    }
                    if let Some(capture) = &mut self.capture {
                        capture.push(&["<", &*start, ">"]);
                    }
                    return Ok(Ev::Start(tag));
                }
                Event::Empty(start) => {
                    let tag = self.seen.tag(&start);
                    if let Some(capture) = &mut self.capture {
                        capture.push(&["<", &*start, "/>"]);
                    }
                    return Ok(Ev::Empty(tag));
                }
                Event::End(end) => {
                    self.depth = self.depth.saturating_sub(1);
                    if let Some(capture) = &mut self.capture {
                        capture.push(&["</", end.name().as_ref(), ">"]);
                    }
                    return Ok(Ev::End);
                }
                Event::Text(text) => {
                    if self.depth == 0 && !text.trim().is_empty() {
                        return Err(error_at(
                            &self.reader,
                            "text outside the root element: this is not an XML document",
                        ));
                    }
                    if let Some(capture) = &mut self.capture {
                        // A dangling `&` is kept as text; escape it so the copy stays XML.
                        capture.push(&[&text.replace('&', "&amp;")]);
                    }
                    if self.collecting {
                        self.text.push_str(&text);
                        check_value_length(&self.text)?;
                    } else if self.capture.is_none() {
                        // Whitespace between elements: nobody is waiting for it.
                        continue;
                    }
                    return Ok(Ev::Text);
                }
                Event::CData(data) => {
                    if let Some(capture) = &mut self.capture {
                        capture.push(&["<![CDATA[", &*data, "]]>"]);
                    }
                    if self.collecting {
                        self.text.push_str(&data);
                        check_value_length(&self.text)?;
                    }
                    return Ok(Ev::Text);
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        Ok(None) => match &*reference {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            name => {
                                return Err(error_at(
                                    &self.reader,
                                    format!(
                                        "undefined entity &{name}; (only the five predefined XML \
                                     entities are read; DTDs are not processed)"
                                    ),
                                ));
                            }
                        },
                        Err(e) => return Err(error_at(&self.reader, e.to_string())),
                    };
                    if let Some(capture) = &mut self.capture {
                        capture.push(&["&", &*reference, ";"]);
                    }
                    if self.collecting {
                        self.text.push(resolved);
                        check_value_length(&self.text)?;
                    }
                    return Ok(Ev::Text);
                }
                Event::DocType(doctype) => {
                    if doctype.to_ascii_uppercase().contains("<!ENTITY") {
                        return Err(error_at(
                            &self.reader,
                            "the document type declaration defines entities; entity \
                             expansion is refused",
                        ));
                    }
                }
                Event::Eof => return Ok(Ev::Eof),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            }
        }
    }

    /// Reads the value of an element whose start tag was just read (`empty`: it was `<x/>`),
    /// through its end tag, into [`Self::value_text`]. Nested elements are skipped; the
    /// result says whether there were any.
    pub(super) fn value(&mut self, empty: bool) -> Result<bool, Error> {
        self.text.clear();
        let mut nested = false;
        if !empty {
            self.collecting = true;
            let result = self.collect(&mut nested);
            self.collecting = false;
            result?;
        }
        Ok(nested)
    }

    /// The value read by [`Self::value`], trimmed.
    pub(super) fn value_text(&self) -> &str {
        self.text.trim()
    }

    fn collect(&mut self, nested: &mut bool) -> Result<(), Error> {
        loop {
            match self.next()? {
                Ev::End => return Ok(()),
                Ev::Text => {}
                Ev::Start(_) => {
                    *nested = true;
                    self.collecting = false;
                    self.skip()?;
                    self.collecting = true;
                }
                Ev::Empty(_) => *nested = true,
                Ev::Eof => return Err(self.truncated()),
            }
        }
    }

    /// Skips the rest of an element whose start tag was just read.
    pub(super) fn skip(&mut self) -> Result<(), Error> {
        let mut open = 1usize;
        while open > 0 {
            match self.next()? {
                Ev::Start(_) => open += 1,
                Ev::End => open -= 1,
                Ev::Empty(_) | Ev::Text => {}
                Ev::Eof => return Err(self.truncated()),
            }
        }
        Ok(())
    }

    /// Copies an element whose start tag (in `opening`) was just read, as raw XML. `None`
    /// when it is larger than [`MAX_EXTENSION_BYTES`].
    pub(super) fn capture(&mut self, empty: bool) -> Result<Option<String>, Error> {
        let mut capture = Capture {
            xml: String::new(),
            overflow: false,
        };
        if empty {
            capture.push(&["<", &self.seen.opening, "/>"]);
            return Ok(Some(capture.xml));
        }
        capture.push(&["<", &self.seen.opening, ">"]);
        self.capture = Some(capture);
        let skipped = self.skip();
        let capture = self.capture.take();
        skipped?;
        Ok(capture.filter(|c| !c.overflow).map(|c| c.xml))
    }

    /// The error for a document that ends inside an element.
    pub(super) fn truncated(&self) -> Error {
        self.error("unexpected end of the document: an element is not closed (truncated file?)")
    }
}

impl Seen {
    fn tag(&mut self, start: &BytesStart<'_>) -> Tag {
        let tag = Tag::from_local_name(start.local_name().as_ref().as_bytes());
        match tag {
            Tag::Other => {
                self.other.clear();
                self.other.push_str(start.local_name().as_ref());
            }
            Tag::HumanResult => {
                self.lang = start
                    .attributes()
                    .with_checks(false)
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == "lang")
                    .map(|a| a.value.trim().to_owned())
                    .filter(|lang| !lang.is_empty());
            }
            Tag::Feedback => {
                self.dmarc_2_namespace_now =
                    start.attributes().with_checks(false).flatten().any(|a| {
                        let key = a.key.as_ref();
                        (key == "xmlns" || key.starts_with("xmlns:"))
                            && a.value.trim() == DMARC_2_NAMESPACE
                    });
                self.dmarc_2_namespace |= self.dmarc_2_namespace_now;
            }
            _ => {}
        }
        if matches!(tag, Tag::Other | Tag::Extension | Tag::Extensions) {
            self.opening.clear();
            self.opening.push_str(start);
        }
        tag
    }
}

/// An XML error at the reader's current position.
fn error_at<R>(reader: &quick_xml::Reader<R>, reason: impl Into<String>) -> Error {
    Error::Xml {
        offset: reader.buffer_position(),
        reason: reason.into(),
    }
}

fn check_value_length(text: &str) -> Result<(), Error> {
    if text.len() > MAX_VALUE_BYTES {
        return Err(Error::Limit {
            what: "bytes in one XML value",
            limit: MAX_VALUE_BYTES as u64,
        });
    }
    Ok(())
}

impl Capture {
    fn push(&mut self, parts: &[&str]) {
        if self.overflow {
            return;
        }
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if self.xml.len() + len > MAX_EXTENSION_BYTES {
            self.overflow = true;
            self.xml = String::new();
            return;
        }
        for part in parts {
            self.xml.push_str(part);
        }
    }
}
