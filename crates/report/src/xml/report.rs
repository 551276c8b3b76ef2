//! The report grammar: [`Events`] in, [`Sink`] calls out.
//!
//! Rules (each one chosen from what real reporters send; see the crate's fixtures):
//! - Elements are matched by local name, in any order; unknown ones are skipped (report
//!   level: one warning per name; inside records: counted warnings, never one per record).
//! - Values are trimmed; enums are case-insensitive and unknown values are kept as written.
//! - Required: `report_id`, a date range with integer (or float-looking) `begin`/`end`,
//!   the policy `domain`, and some reporter identity (`org_name` *or* `email`: a few real
//!   reporters send an empty `<org_name/>`). Missing → the document fails.
//! - An element the schema allows once that appears twice (`report_metadata`, `email`,
//!   `row`, …) fails the document: which copy is right cannot be told.
//! - A record with no usable `source_ip` or `count` is dropped with a warning; the rest of
//!   the report is kept. Placeholder records (no IP, count 0) are dropped the same way.
//! - Zero records is a valid report (with a warning).
//! - A `<count>` above [`MAX_COUNT`] cannot be real: the record is dropped with a warning, so
//!   that no sum of stored counts can come near the range of a 64-bit integer.
//! - Lists a reporter controls are capped ([`MAX_AUTH_RESULTS`] and the constants below): the
//!   first entries are kept, the rest counted in one warning, so that one hostile record
//!   cannot hold the memory of millions. A record with more than [`MAX_RECORD_BYTES`] of text
//!   is dropped with a warning.
//! - After the root element ends, another `<feedback>` (two documents concatenated, e.g. in
//!   a gzip stream of two members) is read as a further report; anything else after the root
//!   is ignored with a warning.

use super::{Ev, Events, Tag};
use crate::model::*;
use crate::{Error, Sink};
use std::io::BufRead;
use std::net::IpAddr;
use std::ops::ControlFlow;

/// Records held back because they came before `<report_metadata>` or `<policy_published>`.
const MAX_EARLY_RECORDS: usize = 5_000;

/// The largest `<count>` accepted: 2^40, about a trillion messages from one address in one
/// report, far above any real one. Bigger counts are refused with their record, so a sum of
/// up to 2^23 records at the cap still fits in a signed 64-bit integer.
pub const MAX_COUNT: u64 = 1 << 40;

/// `<auth_results>` entries kept per record, for `<dkim>` and for `<spf>` each. A real record
/// carries a few (one per signature or checked identity); the rest are counted, not kept.
pub const MAX_AUTH_RESULTS: usize = 100;

/// `<reason>` entries kept per record.
const MAX_REASONS: usize = 100;

/// Record-level extension elements kept per record.
const MAX_RECORD_EXTENSIONS: usize = 16;

/// Report-level `<extension>` elements and `<error>` values kept per report.
const MAX_REPORT_ITEMS: usize = 100;

/// Different warnings listed for one report; further ones are counted in a last warning.
const MAX_NOTES: usize = 100;

/// Text kept from one record: its values, results, reasons and extensions together. A real
/// record holds a few hundred bytes; each value alone may hold 64 KiB, so without this a record
/// at the list caps could hold tens of MiB, and a store holds many records in flight.
pub const MAX_RECORD_BYTES: usize = 32 * 1024;

/// Why reading stopped early.
enum Halt {
    /// The document yielded no report.
    Failed(Error),
    /// The sink asked to stop.
    Stopped,
}

impl From<Error> for Halt {
    fn from(error: Error) -> Self {
        Halt::Failed(error)
    }
}

fn flow(flow: ControlFlow<()>) -> Result<(), Halt> {
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(Halt::Stopped),
    }
}

/// What follows a report's root element.
enum After {
    /// The end of the input (or content that was ignored with a warning).
    End,
    /// The start tag of another `<feedback>`: a further report in the same stream.
    Another,
}

/// Reads the document behind `events` into `sink`: one report, or several when whole
/// documents follow each other.
pub(super) fn read<R: BufRead>(
    mut events: Events<R>,
    member: Option<&str>,
    sink: &mut dyn Sink,
) -> ControlFlow<()> {
    let mut root_open = false;
    loop {
        let mut reader = ReportReader {
            ev: events,
            sink: &mut *sink,
            member,
            version: None,
            metadata: None,
            policy: None,
            rfc9990_element: false,
            begun: false,
            early: Vec::new(),
            records: 0,
            extensions: Vec::new(),
            notes: Notes::default(),
            excess: Excess::default(),
            record_text: RecordText::default(),
        };
        let result = if root_open {
            reader.feedback()
        } else {
            reader.document()
        };
        match result {
            Ok(After::End) => return ControlFlow::Continue(()),
            Ok(After::Another) => {
                events = reader.ev;
                events.next_document();
                root_open = true;
            }
            Err(Halt::Stopped) => return ControlFlow::Break(()),
            Err(Halt::Failed(error)) => return sink.report_failed(member, error),
        }
    }
}

struct ReportReader<'s, R> {
    ev: Events<R>,
    sink: &'s mut dyn Sink,
    member: Option<&'s str>,
    version: Option<String>,
    metadata: Option<MetadataDraft>,
    policy: Option<PolicyPublished>,
    /// An element only RFC 9990 defines was seen.
    rfc9990_element: bool,
    begun: bool,
    early: Vec<Record>,
    /// Records handed to the sink.
    records: u64,
    extensions: Vec<String>,
    notes: Notes,
    excess: Excess,
    /// Text kept so far from the record being read.
    record_text: RecordText,
}

/// Entries beyond the caps on lists, counted for the report's warnings.
#[derive(Default)]
struct Excess {
    /// `<dkim>`/`<spf>` results beyond [`MAX_AUTH_RESULTS`]: in how many records, how many.
    results: Beyond,
    /// `<reason>`s beyond [`MAX_REASONS`].
    reasons: Beyond,
    /// Record-level extensions beyond [`MAX_RECORD_EXTENSIONS`].
    record_extensions: Beyond,
    /// Report-level `<extension>`s and `<error>`s beyond [`MAX_REPORT_ITEMS`].
    report_items: u64,
}

/// Entries dropped by a per-record cap.
#[derive(Default, Clone, Copy)]
struct Beyond {
    records: u64,
    entries: u64,
}

impl Beyond {
    fn warning(self, what: &str, cap: usize) -> Option<String> {
        (self.entries > 0).then(|| {
            let noun = if self.records == 1 { "record" } else { "records" };
            format!(
                "{} {noun} with more than {cap} {what}: the first {cap} of each kept, {} more not kept",
                self.records, self.entries
            )
        })
    }
}

/// The bytes of the texts present.
fn text_bytes(texts: &[Option<&str>]) -> usize {
    texts.iter().flatten().map(|text| text.len()).sum()
}

/// Pushes `item` unless `list` already holds `cap` entries; counts it in `dropped` then.
fn push_capped<T>(list: &mut Vec<T>, item: T, cap: usize, dropped: &mut u64) {
    if list.len() < cap {
        list.push(item);
    } else {
        *dropped += 1;
    }
}

/// Text kept so far from the record being read, against [`MAX_RECORD_BYTES`].
#[derive(Default)]
struct RecordText {
    bytes: usize,
}

impl RecordText {
    /// Counts `bytes` more; false once the record is over [`MAX_RECORD_BYTES`] (it is then
    /// dropped, and nothing more is kept from it).
    fn keep(&mut self, bytes: usize) -> bool {
        self.bytes = self.bytes.saturating_add(bytes);
        self.bytes <= MAX_RECORD_BYTES
    }

    fn over(&self) -> bool {
        self.bytes > MAX_RECORD_BYTES
    }
}

/// [`push_capped`] inside a record: an entry within the cap also counts against the
/// record's text (entries beyond the cap are only counted, so they cost nothing).
fn push_in_record<T>(
    list: &mut Vec<T>,
    item: T,
    bytes: usize,
    cap: usize,
    dropped: &mut u64,
    text: &mut RecordText,
) {
    if list.len() >= cap {
        *dropped += 1;
    } else if text.keep(bytes) {
        list.push(item);
    }
}

#[derive(Default)]
struct MetadataDraft {
    org_name: String,
    email: String,
    extra_contact_info: Option<String>,
    report_id: String,
    date_range: Option<(Option<String>, Option<String>)>,
    errors: Vec<String>,
    generator: Option<String>,
}

/// A value as found in a record, before deciding whether the record is usable.
enum Found<T> {
    Absent,
    Empty,
    Bad(String),
    /// A number too large for the type.
    TooLarge(String),
    Good(T),
}

struct RecordDraft {
    source_ip: Found<IpAddr>,
    count: Found<u64>,
    disposition: Option<Disposition>,
    record: Record,
}

impl RecordDraft {
    fn new() -> Self {
        RecordDraft {
            source_ip: Found::Absent,
            count: Found::Absent,
            disposition: None,
            record: Record {
                source_ip: IpAddr::from([0, 0, 0, 0]),
                count: 0,
                disposition: Disposition::None,
                dkim: None,
                spf: None,
                reasons: Vec::new(),
                header_from: DomainName::default(),
                envelope_from: None,
                envelope_to: None,
                dkim_results: Vec::new(),
                spf_results: Vec::new(),
                extensions: Vec::new(),
            },
        }
    }
}

/// The error for an element that appears twice where the schema allows it once.
fn repeated(tag: Tag, value: &str) -> Error {
    Error::Invalid {
        element: tag.name(),
        value: shorten(value),
        reason: "the element appears more than once; which copy is right cannot be told",
    }
}

/// Values quoted in errors and warnings are cut to a readable length.
fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

/// Marks `tag` as seen in `seen`; an error if it already was.
fn once(seen: &mut u64, tag: Tag, value: &str) -> Result<(), Error> {
    if *seen & tag.bit() != 0 {
        return Err(repeated(tag, value));
    }
    *seen |= tag.bit();
    Ok(())
}

fn optional(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// An integer, also accepted as a float with a fraction (`1361404799.0`, truncated).
pub(super) fn integer(value: &str) -> Option<i64> {
    if let Ok(n) = value.parse::<i64>() {
        return Some(n);
    }
    let (whole, fraction) = value.split_once('.')?;
    let digits = whole.strip_prefix(['-', '+']).unwrap_or(whole);
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if digits.is_empty() || !all_digits(digits) || !all_digits(fraction) {
        return None;
    }
    whole.parse().ok()
}

/// Reads an enum value; empty means absent.
fn enum_value<T>(value: &str, from_xml: fn(&str) -> T) -> Option<T> {
    (!value.is_empty()).then(|| from_xml(value))
}

impl<R: BufRead> ReportReader<'_, R> {
    /// The trimmed text of the element just opened.
    fn text(&mut self, tag: Tag, empty: bool) -> Result<&str, Error> {
        let nested = self.ev.value(empty)?;
        if nested {
            self.notes
                .report(format!("elements inside <{}> ignored", tag.name()));
        }
        Ok(self.ev.value_text())
    }

    /// Like [`Self::text`], for values inside records (warnings are counted, not repeated).
    fn record_text(&mut self, tag: Tag, empty: bool) -> Result<&str, Error> {
        let nested = self.ev.value(empty)?;
        if nested {
            self.notes
                .record(&format!("with elements inside <{}> ignored", tag.name()));
        }
        Ok(self.ev.value_text())
    }

    fn document(&mut self) -> Result<After, Halt> {
        loop {
            match self.ev.next()? {
                Ev::Start(Tag::Feedback) => return self.feedback(),
                Ev::Empty(Tag::Feedback) => return Err(Error::Missing("report_metadata").into()),
                // A stray, unclosed `<xs:schema …>` before `<feedback>` (seen from IKEA's
                // generator): read through it.
                Ev::Start(Tag::Other) | Ev::Empty(Tag::Other) if self.ev.seen.other == "schema" => {
                }
                Ev::Start(tag) | Ev::Empty(tag) => {
                    let name = match tag {
                        Tag::Other => self.ev.seen.other.clone(),
                        tag => tag.name().to_owned(),
                    };
                    return Err(Error::NotFeedback(name).into());
                }
                Ev::Text | Ev::End => {}
                Ev::Eof => {
                    return Err(if self.ev.depth == 0 {
                        self.ev
                            .error("no XML element found: empty or not an XML document")
                    } else {
                        self.ev.truncated()
                    }
                    .into());
                }
            }
        }
    }

    /// Reads a `<feedback>` whose start tag was just read, and looks at what follows it.
    fn feedback(&mut self) -> Result<After, Halt> {
        let mut seen = 0u64;
        loop {
            let (tag, empty) = match self.ev.next()? {
                Ev::Start(tag) => (tag, false),
                Ev::Empty(tag) => (tag, true),
                Ev::Text => continue,
                Ev::End => break,
                Ev::Eof => return Err(self.ev.truncated().into()),
            };
            match tag {
                Tag::Version => {
                    let version = optional(self.text(tag, empty)?);
                    once(&mut seen, tag, version.as_deref().unwrap_or(""))?;
                    self.version = version;
                }
                Tag::ReportMetadata => {
                    once(&mut seen, tag, "")?;
                    let metadata = self.metadata(empty)?;
                    self.metadata = Some(metadata);
                }
                Tag::PolicyPublished => {
                    once(&mut seen, tag, "")?;
                    let policy = self.policy(empty)?;
                    self.policy = Some(policy);
                }
                Tag::Record => {
                    if let Some(record) = self.record(empty)? {
                        self.emit(record)?;
                    }
                }
                Tag::Extension | Tag::Extensions => match self.ev.capture(empty)? {
                    Some(xml) => push_capped(
                        &mut self.extensions,
                        xml,
                        MAX_REPORT_ITEMS,
                        &mut self.excess.report_items,
                    ),
                    None => self
                        .notes
                        .report(format!("<{}> larger than 64 KiB dropped", tag.name())),
                },
                _ => self.unknown(tag, empty, "feedback")?,
            }
        }
        let after = self.after_root();
        self.finish()?;
        Ok(after)
    }

    /// Reads on after the root element: whitespace and the end of the input are expected;
    /// another `<feedback>` is a further report; anything else is ignored with a warning (the
    /// report before it is complete).
    fn after_root(&mut self) -> After {
        loop {
            let ignored = match self.ev.next() {
                Ok(Ev::Eof) => return After::End,
                Ok(Ev::Text) => continue,
                Ok(Ev::Start(Tag::Feedback)) => return After::Another,
                Ok(Ev::Start(_) | Ev::Empty(_) | Ev::End) => {
                    "an element after the end of <feedback>".to_owned()
                }
                Err(error) => error.to_string(),
            };
            self.notes.report(format!(
                "the rest of the document ignored after the end of the report: {ignored}"
            ));
            return After::End;
        }
    }

    /// Skips an element the grammar does not expect here, with a warning (once per name).
    fn unknown(&mut self, tag: Tag, empty: bool, parent: &str) -> Result<(), Error> {
        let name = match tag {
            Tag::Other => &self.ev.seen.other,
            tag => tag.name(),
        };
        self.notes
            .report(format!("unknown element <{name}> in <{parent}> skipped"));
        if !empty {
            self.ev.skip()?;
        }
        Ok(())
    }

    /// Like [`Self::unknown`], inside a record.
    fn unknown_in_record(&mut self, tag: Tag, empty: bool, parent: &str) -> Result<(), Error> {
        let name = match tag {
            Tag::Other => &self.ev.seen.other,
            tag => tag.name(),
        };
        self.notes.record(&format!(
            "with unknown element <{name}> in <{parent}> skipped"
        ));
        if !empty {
            self.ev.skip()?;
        }
        Ok(())
    }

    /// The next child of the current element: `Some((tag, empty))`, or `None` at its end.
    fn child(&mut self) -> Result<Option<(Tag, bool)>, Error> {
        loop {
            match self.ev.next()? {
                Ev::Start(tag) => return Ok(Some((tag, false))),
                Ev::Empty(tag) => return Ok(Some((tag, true))),
                Ev::Text => {}
                Ev::End => return Ok(None),
                Ev::Eof => return Err(self.ev.truncated()),
            }
        }
    }

    fn metadata(&mut self, empty: bool) -> Result<MetadataDraft, Error> {
        let mut metadata = MetadataDraft::default();
        let mut seen = 0u64;
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            match tag {
                Tag::OrgName
                | Tag::Email
                | Tag::ReportId
                | Tag::ExtraContactInfo
                | Tag::Generator => {
                    let value = self.text(tag, empty)?.to_owned();
                    once(&mut seen, tag, &value)?;
                    match tag {
                        Tag::OrgName => metadata.org_name = value,
                        Tag::Email => metadata.email = value,
                        Tag::ReportId => metadata.report_id = value,
                        Tag::ExtraContactInfo => metadata.extra_contact_info = optional(&value),
                        _ => {
                            self.rfc9990_element = true;
                            metadata.generator = optional(&value);
                        }
                    }
                }
                Tag::Error => {
                    let value = self.text(tag, empty)?;
                    if !value.is_empty() {
                        let value = value.to_owned();
                        push_capped(
                            &mut metadata.errors,
                            value,
                            MAX_REPORT_ITEMS,
                            &mut self.excess.report_items,
                        );
                    }
                }
                Tag::DateRange | Tag::DataRange => {
                    once(&mut seen, Tag::DateRange, "")?;
                    if tag == Tag::DataRange {
                        self.notes
                            .report("misspelled <data_range> read as <date_range>".into());
                    }
                    metadata.date_range = Some(self.date_range(empty)?);
                }
                _ => self.unknown(tag, empty, "report_metadata")?,
            }
        }
        Ok(metadata)
    }

    fn date_range(&mut self, empty: bool) -> Result<(Option<String>, Option<String>), Error> {
        let (mut begin, mut end) = (None, None);
        let mut seen = 0u64;
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            match tag {
                Tag::Begin | Tag::End => {
                    let value = self.text(tag, empty)?.to_owned();
                    once(&mut seen, tag, &value)?;
                    *(if tag == Tag::Begin {
                        &mut begin
                    } else {
                        &mut end
                    }) = Some(value);
                }
                _ => self.unknown(tag, empty, "date_range")?,
            }
        }
        Ok((begin, end))
    }

    fn policy(&mut self, empty: bool) -> Result<PolicyPublished, Error> {
        let mut policy = PolicyPublished {
            domain: DomainName::default(),
            dkim_alignment: None,
            spf_alignment: None,
            policy: None,
            subdomain_policy: None,
            nonexistent_subdomain_policy: None,
            percent: None,
            failure_options: None,
            testing: None,
            discovery_method: None,
        };
        let mut seen = 0u64;
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            if tag == Tag::Other {
                self.unknown(tag, empty, "policy_published")?;
                continue;
            }
            let value = self.text(tag, empty)?.to_owned();
            once(&mut seen, tag, &value)?;
            let unknown = match tag {
                Tag::Domain => {
                    policy.domain = DomainName::new(&value);
                    false
                }
                Tag::Adkim | Tag::Aspf => {
                    let mode = enum_value(&value, AlignmentMode::from_xml);
                    let unknown = mode.as_ref().is_some_and(AlignmentMode::is_unknown);
                    *(if tag == Tag::Adkim {
                        &mut policy.dkim_alignment
                    } else {
                        &mut policy.spf_alignment
                    }) = mode;
                    unknown
                }
                Tag::P | Tag::Sp | Tag::Np => {
                    let value = enum_value(&value, Policy::from_xml);
                    let unknown = value.as_ref().is_some_and(Policy::is_unknown);
                    match tag {
                        Tag::P => policy.policy = value,
                        Tag::Sp => policy.subdomain_policy = value,
                        _ => {
                            self.rfc9990_element = true;
                            policy.nonexistent_subdomain_policy = value;
                        }
                    }
                    unknown
                }
                Tag::Pct => {
                    policy.percent = integer(&value)
                        .and_then(|n| u8::try_from(n).ok())
                        .filter(|n| *n <= 100);
                    if policy.percent.is_none() && !value.is_empty() {
                        self.notes.report(format!(
                            "<pct> value {:?} is not a percentage; ignored",
                            shorten(&value)
                        ));
                    }
                    false
                }
                Tag::Fo => {
                    policy.failure_options = optional(&value);
                    false
                }
                Tag::Testing => {
                    self.rfc9990_element = true;
                    policy.testing = enum_value(&value, Testing::from_xml);
                    policy.testing.as_ref().is_some_and(Testing::is_unknown)
                }
                Tag::DiscoveryMethod => {
                    self.rfc9990_element = true;
                    policy.discovery_method = enum_value(&value, DiscoveryMethod::from_xml);
                    policy
                        .discovery_method
                        .as_ref()
                        .is_some_and(DiscoveryMethod::is_unknown)
                }
                _ => {
                    self.notes.report(format!(
                        "unexpected element <{}> in <policy_published> skipped",
                        tag.name()
                    ));
                    false
                }
            };
            if unknown {
                self.notes.report(format!(
                    "unknown <{}> value {:?} kept as written",
                    tag.name(),
                    shorten(&value.to_ascii_lowercase())
                ));
            }
        }
        Ok(policy)
    }

    /// Reads one `<record>`; `None` when it was dropped (with a warning).
    fn record(&mut self, empty: bool) -> Result<Option<Record>, Error> {
        let before = (
            self.excess.results.entries,
            self.excess.reasons.entries,
            self.excess.record_extensions.entries,
        );
        let record = self.record_fields(empty)?;
        let excess = &mut self.excess;
        for (beyond, entries_before) in [
            (&mut excess.results, before.0),
            (&mut excess.reasons, before.1),
            (&mut excess.record_extensions, before.2),
        ] {
            if beyond.entries > entries_before {
                beyond.records += 1;
            }
        }
        Ok(record)
    }

    fn record_fields(&mut self, empty: bool) -> Result<Option<Record>, Error> {
        self.record_text = RecordText::default();
        let mut draft = RecordDraft::new();
        let mut seen = 0u64;
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            match tag {
                Tag::Row => {
                    once(&mut seen, tag, "")?;
                    self.row(&mut draft, empty)?;
                }
                Tag::Identifiers | Tag::Identities => {
                    once(&mut seen, Tag::Identifiers, "")?;
                    if tag == Tag::Identities {
                        self.notes.record("with <identities> read as <identifiers>");
                    }
                    self.identifiers(&mut draft.record, empty)?;
                }
                Tag::AuthResults => {
                    once(&mut seen, tag, "")?;
                    self.auth_results(&mut draft.record, empty)?;
                }
                // RFC 9990 allows any element after the results: record-level extensions.
                Tag::Other | Tag::Extension | Tag::Extensions => match self.ev.capture(empty)? {
                    Some(xml) => {
                        let bytes = xml.len();
                        push_in_record(
                            &mut draft.record.extensions,
                            xml,
                            bytes,
                            MAX_RECORD_EXTENSIONS,
                            &mut self.excess.record_extensions.entries,
                            &mut self.record_text,
                        );
                    }
                    None => self
                        .notes
                        .record("with an extension larger than 64 KiB dropped"),
                },
                // A known element in the wrong place.
                _ => self.unknown_in_record(tag, empty, "record")?,
            }
        }
        if self.record_text.over() {
            self.notes
                .record("dropped: more than 32 KiB of text in one record");
            return Ok(None);
        }
        Ok(self.check_record(draft))
    }

    fn check_record(&mut self, draft: RecordDraft) -> Option<Record> {
        let RecordDraft {
            source_ip,
            count,
            disposition,
            mut record,
        } = draft;
        let no_ip = matches!(source_ip, Found::Absent | Found::Empty);
        let no_count = matches!(count, Found::Absent | Found::Empty | Found::Good(0));
        if no_ip && no_count {
            self.notes
                .record("dropped: placeholder without <source_ip>, <count> 0 or missing");
            return None;
        }
        match source_ip {
            Found::Good(ip) => record.source_ip = ip,
            Found::Absent | Found::Empty => {
                self.notes.record("dropped: no <source_ip>");
                return None;
            }
            Found::Bad(raw) | Found::TooLarge(raw) => {
                self.notes
                    .record_example("dropped: <source_ip> is not an IP address", &raw);
                return None;
            }
        }
        match count {
            Found::Good(count) if count > MAX_COUNT => {
                self.notes.record_example(
                    "dropped: <count> above 2^40, more mail than any real source sends",
                    &count.to_string(),
                );
                return None;
            }
            Found::TooLarge(raw) => {
                self.notes.record_example(
                    "dropped: <count> above 2^40, more mail than any real source sends",
                    &raw,
                );
                return None;
            }
            Found::Good(count) => record.count = count,
            Found::Absent | Found::Empty => {
                self.notes.record("dropped: no <count>");
                return None;
            }
            Found::Bad(raw) => {
                self.notes
                    .record_example("dropped: <count> is not a whole number", &raw);
                return None;
            }
        }
        record.disposition = disposition.unwrap_or_else(|| {
            self.notes
                .record("without <disposition> (kept, disposition empty)");
            Disposition::Unknown(String::new())
        });
        Some(record)
    }

    fn row(&mut self, draft: &mut RecordDraft, empty: bool) -> Result<(), Error> {
        let mut seen = 0u64;
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            match tag {
                Tag::SourceIp => {
                    let value = self.record_text(tag, empty)?;
                    let found = if value.is_empty() {
                        Found::Empty
                    } else {
                        match value.parse::<IpAddr>() {
                            Ok(ip) => Found::Good(ip.to_canonical()),
                            Err(_) => Found::Bad(shorten(value)),
                        }
                    };
                    once(&mut seen, tag, "")?;
                    draft.source_ip = found;
                }
                Tag::Count => {
                    let value = self.record_text(tag, empty)?;
                    let found = if value.is_empty() {
                        Found::Empty
                    } else {
                        match value.parse::<u64>() {
                            Ok(n) => Found::Good(n),
                            // Digits only, yet no u64: beyond 18446744073709551615.
                            Err(_) if value.bytes().all(|b| b.is_ascii_digit()) => {
                                Found::TooLarge(shorten(value))
                            }
                            Err(_) => Found::Bad(shorten(value)),
                        }
                    };
                    once(&mut seen, tag, "")?;
                    draft.count = found;
                }
                Tag::PolicyEvaluated => {
                    once(&mut seen, tag, "")?;
                    self.policy_evaluated(draft, empty)?;
                }
                _ => self.unknown_in_record(tag, empty, "row")?,
            }
        }
        Ok(())
    }

    fn policy_evaluated(&mut self, draft: &mut RecordDraft, empty: bool) -> Result<(), Error> {
        let mut seen = 0u64;
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            match tag {
                Tag::Disposition => {
                    let value = enum_value(self.record_text(tag, empty)?, Disposition::from_xml);
                    once(&mut seen, tag, "")?;
                    if let Some(Disposition::Unknown(raw)) = &value {
                        self.notes
                            .record_example("with an unknown <disposition> kept as written", raw);
                    }
                    draft.disposition = value;
                }
                Tag::Dkim | Tag::Spf => {
                    let value = enum_value(self.record_text(tag, empty)?, Verdict::from_xml);
                    once(&mut seen, tag, "")?;
                    if let Some(Verdict::Unknown(raw)) = &value {
                        let message = if tag == Tag::Dkim {
                            "with an unknown <policy_evaluated><dkim> kept as written"
                        } else {
                            "with an unknown <policy_evaluated><spf> kept as written"
                        };
                        self.notes.record_example(message, raw);
                    }
                    if tag == Tag::Dkim {
                        draft.record.dkim = value;
                    } else {
                        draft.record.spf = value;
                    }
                }
                Tag::Reason => self.reason(&mut draft.record, empty)?,
                _ => self.unknown_in_record(tag, empty, "policy_evaluated")?,
            }
        }
        Ok(())
    }

    fn reason(&mut self, record: &mut Record, empty: bool) -> Result<(), Error> {
        let mut seen = 0u64;
        let (mut kind, mut comment) = (String::new(), None);
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            match tag {
                Tag::Type => {
                    let value = self.record_text(tag, empty)?.to_owned();
                    once(&mut seen, tag, &value)?;
                    kind = value;
                }
                Tag::Comment => {
                    let value = optional(self.record_text(tag, empty)?);
                    once(&mut seen, tag, comment.as_deref().unwrap_or(""))?;
                    comment = value;
                }
                _ => self.unknown_in_record(tag, empty, "reason")?,
            }
        }
        if kind.is_empty() && comment.is_none() {
            // `<reason><type/><comment/></reason>` says nothing.
            return Ok(());
        }
        let kind = PolicyOverride::from_xml(&kind);
        if let PolicyOverride::Unknown(raw) = &kind {
            self.notes
                .record_example("with an unknown override reason kept as written", raw);
        }
        let bytes = kind.as_str().len() + comment.as_ref().map_or(0, String::len);
        push_in_record(
            &mut record.reasons,
            PolicyOverrideReason { kind, comment },
            bytes,
            MAX_REASONS,
            &mut self.excess.reasons.entries,
            &mut self.record_text,
        );
        Ok(())
    }

    fn identifiers(&mut self, record: &mut Record, empty: bool) -> Result<(), Error> {
        let mut seen = 0u64;
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            match tag {
                Tag::HeaderFrom | Tag::EnvelopeFrom | Tag::EnvelopeTo => {
                    let value = DomainName::new(self.record_text(tag, empty)?);
                    once(&mut seen, tag, &value)?;
                    if !self.record_text.keep(value.len()) {
                        continue;
                    }
                    let value = Some(value).filter(|v| !v.is_empty());
                    match tag {
                        Tag::HeaderFrom => record.header_from = value.unwrap_or_default(),
                        Tag::EnvelopeFrom => record.envelope_from = value,
                        _ => record.envelope_to = value,
                    }
                }
                _ => self.unknown_in_record(tag, empty, "identifiers")?,
            }
        }
        Ok(())
    }

    fn auth_results(&mut self, record: &mut Record, empty: bool) -> Result<(), Error> {
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            match tag {
                Tag::Dkim => {
                    let result = self.dkim_result(empty)?;
                    let bytes = text_bytes(&[
                        Some(result.domain.as_str()),
                        result.selector.as_deref(),
                        Some(result.result.as_str()),
                        result.human_result.as_deref(),
                        result.human_result_lang.as_deref(),
                    ]);
                    push_in_record(
                        &mut record.dkim_results,
                        result,
                        bytes,
                        MAX_AUTH_RESULTS,
                        &mut self.excess.results.entries,
                        &mut self.record_text,
                    );
                }
                Tag::Spf => {
                    let result = self.spf_result(empty)?;
                    let bytes = text_bytes(&[
                        Some(result.domain.as_str()),
                        Some(result.result.as_str()),
                        result.human_result.as_deref(),
                        result.human_result_lang.as_deref(),
                    ]);
                    push_in_record(
                        &mut record.spf_results,
                        result,
                        bytes,
                        MAX_AUTH_RESULTS,
                        &mut self.excess.results.entries,
                        &mut self.record_text,
                    );
                }
                _ => self.unknown_in_record(tag, empty, "auth_results")?,
            }
        }
        Ok(())
    }

    /// `<human_result>` with its `lang` attribute.
    fn human_result(&mut self, empty: bool) -> Result<(Option<String>, Option<String>), Error> {
        let lang = self.ev.seen.lang.take();
        let text = optional(self.record_text(Tag::HumanResult, empty)?);
        Ok((text, lang))
    }

    fn dkim_result(&mut self, empty: bool) -> Result<DkimAuthResult, Error> {
        let mut seen = 0u64;
        let mut dkim = DkimAuthResult {
            domain: DomainName::default(),
            selector: None,
            result: DkimResult::Unknown(String::new()),
            human_result: None,
            human_result_lang: None,
        };
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            match tag {
                Tag::Domain => {
                    let value = DomainName::new(self.record_text(tag, empty)?);
                    once(&mut seen, tag, &value)?;
                    dkim.domain = value;
                }
                Tag::Selector => {
                    let value = optional(self.record_text(tag, empty)?);
                    once(&mut seen, tag, value.as_deref().unwrap_or(""))?;
                    dkim.selector = value;
                }
                Tag::Result => {
                    let result = DkimResult::from_xml(self.record_text(tag, empty)?);
                    once(&mut seen, tag, result.as_str())?;
                    if let DkimResult::Unknown(raw) = &result
                        && !raw.is_empty()
                    {
                        self.notes
                            .record_example("with an unknown DKIM result kept as written", raw);
                    }
                    dkim.result = result;
                }
                Tag::HumanResult => {
                    once(&mut seen, tag, "")?;
                    (dkim.human_result, dkim.human_result_lang) = self.human_result(empty)?;
                }
                _ => self.unknown_in_record(tag, empty, "dkim")?,
            }
        }
        Ok(dkim)
    }

    fn spf_result(&mut self, empty: bool) -> Result<SpfAuthResult, Error> {
        let mut seen = 0u64;
        let mut spf = SpfAuthResult {
            domain: DomainName::default(),
            scope: None,
            result: SpfResult::Unknown(String::new()),
            human_result: None,
            human_result_lang: None,
        };
        while let Some((tag, empty)) = if empty { None } else { self.child()? } {
            match tag {
                Tag::Domain => {
                    let value = DomainName::new(self.record_text(tag, empty)?);
                    once(&mut seen, tag, &value)?;
                    spf.domain = value;
                }
                Tag::Scope => {
                    let scope = enum_value(self.record_text(tag, empty)?, SpfScope::from_xml);
                    once(&mut seen, tag, "")?;
                    if let Some(SpfScope::Unknown(raw)) = &scope {
                        self.notes
                            .record_example("with an unknown SPF scope kept as written", raw);
                    }
                    spf.scope = scope;
                }
                Tag::Result => {
                    let value = self.record_text(tag, empty)?;
                    let hardfail = value.eq_ignore_ascii_case("hardfail");
                    let result = if hardfail {
                        SpfResult::Fail
                    } else {
                        SpfResult::from_xml(value)
                    };
                    once(&mut seen, tag, result.as_str())?;
                    if hardfail {
                        self.notes
                            .record("with SPF result \"hardfail\" read as \"fail\"");
                    } else if let SpfResult::Unknown(raw) = &result
                        && !raw.is_empty()
                    {
                        self.notes
                            .record_example("with an unknown SPF result kept as written", raw);
                    }
                    spf.result = result;
                }
                Tag::HumanResult => {
                    once(&mut seen, tag, "")?;
                    (spf.human_result, spf.human_result_lang) = self.human_result(empty)?;
                }
                _ => self.unknown_in_record(tag, empty, "spf")?,
            }
        }
        Ok(spf)
    }

    /// Hands a record on, or holds it back until the header is complete.
    fn emit(&mut self, record: Record) -> Result<(), Halt> {
        if !self.begun && self.metadata.is_some() && self.policy.is_some() {
            self.begin()?;
        }
        if self.begun {
            self.records += 1;
            return flow(self.sink.record(record));
        }
        if self.early.len() >= MAX_EARLY_RECORDS {
            return Err(Error::Limit {
                what: "records before <report_metadata> and <policy_published>",
                limit: MAX_EARLY_RECORDS as u64,
            }
            .into());
        }
        self.early.push(record);
        Ok(())
    }

    /// Checks the header and starts the report in the sink, then flushes held-back records.
    fn begin(&mut self) -> Result<(), Halt> {
        let header = self.header()?;
        flow(self.sink.begin_report(self.member, &header))?;
        self.begun = true;
        for record in std::mem::take(&mut self.early) {
            self.records += 1;
            flow(self.sink.record(record))?;
        }
        Ok(())
    }

    fn header(&mut self) -> Result<ReportHeader, Error> {
        let metadata = self
            .metadata
            .take()
            .ok_or(Error::Missing("report_metadata"))?;
        let policy = self
            .policy
            .take()
            .ok_or(Error::Missing("policy_published"))?;
        if metadata.report_id.is_empty() {
            return Err(Error::Missing("report_id"));
        }
        if metadata.org_name.is_empty() && metadata.email.is_empty() {
            return Err(Error::Missing("org_name"));
        }
        if metadata.org_name.is_empty() {
            self.notes
                .report("empty <org_name>; the reporter is known by <email> only".into());
        }
        let (begin, end) = metadata.date_range.ok_or(Error::Missing("date_range"))?;
        let begin = timestamp("begin", begin)?;
        let end = timestamp("end", end)?;
        if end < begin {
            return Err(Error::Invalid {
                element: "end",
                value: end.to_string(),
                reason: "the date range ends before it begins",
            });
        }
        if policy.domain.is_empty() {
            return Err(Error::Missing("domain"));
        }
        let format = if self.ev.seen.dmarc_2_namespace || self.rfc9990_element {
            Format::Rfc9990
        } else {
            Format::Rfc7489
        };
        Ok(ReportHeader {
            format,
            version: self.version.take(),
            metadata: ReportMetadata {
                org_name: metadata.org_name,
                email: metadata.email,
                extra_contact_info: metadata.extra_contact_info,
                report_id: metadata.report_id,
                begin,
                end,
                errors: metadata.errors,
                generator: metadata.generator,
            },
            policy,
        })
    }

    fn finish(&mut self) -> Result<(), Halt> {
        if !self.begun {
            self.begin()?;
        }
        if self.records == 0 {
            self.notes.report("the report has no usable records".into());
        }
        let mut warnings: Vec<Warning> = self.ev.input_warnings().map(Warning::from).collect();
        let excess = &self.excess;
        warnings.extend(
            [
                excess
                    .results
                    .warning("<dkim> or <spf> results", MAX_AUTH_RESULTS),
                excess.reasons.warning("<reason> elements", MAX_REASONS),
                excess
                    .record_extensions
                    .warning("extension elements", MAX_RECORD_EXTENSIONS),
                (excess.report_items > 0).then(|| {
                    format!(
                        "more than {MAX_REPORT_ITEMS} <extension> or <error> elements: {} not kept",
                        excess.report_items
                    )
                }),
            ]
            .into_iter()
            .flatten()
            .map(Warning),
        );
        warnings.extend(std::mem::take(&mut self.notes).into_warnings());
        let trailer = ReportTrailer {
            extensions: std::mem::take(&mut self.extensions),
            warnings,
        };
        flow(self.sink.end_report(trailer))
    }
}

fn timestamp(element: &'static str, value: Option<String>) -> Result<i64, Error> {
    let value = value
        .filter(|v| !v.is_empty())
        .ok_or(Error::Missing(element))?;
    integer(&value).ok_or_else(|| Error::Invalid {
        element,
        value: shorten(&value),
        reason: "not a unix timestamp (seconds since 1970)",
    })
}

/// Warnings, in the order first seen. Record-level ones are counted instead of repeated;
/// beyond [`MAX_NOTES`] different ones, the rest are only counted (each is looked up in the
/// list, so the list must stay short).
#[derive(Default)]
struct Notes {
    entries: Vec<Note>,
    unlisted: u64,
}

struct Note {
    message: String,
    /// `Some` for record-level notes: how many records.
    records: Option<u64>,
    example: Option<String>,
}

impl Notes {
    /// A report-level warning; repeats of the same text are dropped.
    fn report(&mut self, message: String) {
        if !self
            .entries
            .iter()
            .any(|n| n.records.is_none() && n.message == message)
        {
            if self.entries.len() >= MAX_NOTES {
                self.unlisted += 1;
                return;
            }
            self.entries.push(Note {
                message,
                records: None,
                example: None,
            });
        }
    }

    /// A record-level warning, phrased to follow "N records".
    fn record(&mut self, message: &str) {
        self.count(message, None);
    }

    /// Like [`Self::record`], quoting the first offending value.
    fn record_example(&mut self, message: &str, example: &str) {
        self.count(message, Some(example));
    }

    fn count(&mut self, message: &str, example: Option<&str>) {
        if let Some(note) = self
            .entries
            .iter_mut()
            .find(|n| n.records.is_some() && n.message == message)
        {
            note.records = note.records.map(|n| n + 1);
        } else if self.entries.len() >= MAX_NOTES {
            self.unlisted += 1;
        } else {
            self.entries.push(Note {
                message: message.to_owned(),
                records: Some(1),
                example: example.map(shorten),
            });
        }
    }

    fn into_warnings(self) -> impl Iterator<Item = Warning> {
        let unlisted = (self.unlisted > 0).then(|| {
            Warning(format!(
                "{} more warnings of other kinds not listed",
                self.unlisted
            ))
        });
        self.entries
            .into_iter()
            .map(|note| {
                let Some(records) = note.records else {
                    return Warning(note.message);
                };
                let noun = if records == 1 { "record" } else { "records" };
                match note.example {
                    Some(example) => Warning(format!(
                        "{records} {noun} {} (first: {example:?})",
                        note.message
                    )),
                    None => Warning(format!("{records} {noun} {}", note.message)),
                }
            })
            .chain(unlisted)
    }
}
