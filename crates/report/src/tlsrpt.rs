//! SMTP TLS reports (RFC 8460 §4): JSON in, a typed [`TlsReport`] out.
//!
//! Built like the aggregate parser: streaming, bounded, lenient where real reporters are
//! sloppy, and never panicking. The document is never held whole: serde_json reads it from
//! the layers below (at most [`MAX_TLS_REPORT_BYTES`]; real ones are a few kilobytes) and each
//! `policies[]` entry and each of its `failure-details` is turned into its typed value as it
//! goes by, so what is in memory is the typed report (capped) and one JSON string at a time.
//! Loose shapes accept what reporters actually send — `null` for absent values, numbers
//! written as strings, `mx-host` as one string instead of a list — each tolerated with a
//! warning. Nesting cannot exhaust the stack: the typed shapes go five levels deep, values
//! under unknown keys are skipped by serde_json without recursion, and anything else deeper
//! meets its recursion limit (128). Every list a reporter controls is capped: the first
//! entries are kept and the rest counted in one warning.
//!
//! Refused, with one line naming why: invalid JSON or UTF-8, a document over the size cap, a
//! document that is not an object with `organization-name`, `report-id`, `date-range` and
//! `policies`, a date that is not RFC 3339, and a session count above [`crate::MAX_COUNT`]
//! (it cannot be real, and sums of stored counts must stay far from the range of a 64-bit
//! integer).

use crate::model::{DomainName, TlsFailureDetail, TlsPolicy, TlsPolicyType, TlsReport, Warning};
use crate::{Error, MAX_COUNT};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::io::{self, BufRead, Read};
use std::net::IpAddr;

/// The largest TLS report document read: 1 MiB. The real samples are 1 to 4 KB; a report at
/// the cap would hold thousands of failure details, more than a report keeps
/// ([`MAX_TLS_FAILURE_DETAILS`]).
pub const MAX_TLS_REPORT_BYTES: u64 = 1024 * 1024;

/// Policies kept per report (a real report has one to three).
pub const MAX_TLS_POLICIES: usize = 100;

/// `failure-details` entries kept per report, over all its policies (a real report has a
/// handful per policy).
pub const MAX_TLS_FAILURE_DETAILS: usize = 1_000;

/// `policy-string` and `mx-host` entries kept per policy.
const MAX_STRINGS: usize = 100;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Whether a document starts like a JSON object (`{` after an optional BOM and whitespace):
/// the only JSON the reports come in.
pub(crate) fn looks_like_json(head: &[u8]) -> bool {
    let head = head.strip_prefix(BOM).unwrap_or(head);
    head.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|first| *first == b'{')
}

/// Parses one TLS report document, streamed from `input` (read to its end: the layers
/// below are checked to theirs, and only whitespace may follow the object).
pub(crate) fn parse(input: &mut dyn BufRead) -> Result<TlsReport, Error> {
    let mut input = Bounded {
        inner: input,
        left: MAX_TLS_REPORT_BYTES,
    };
    if !input
        .starts_with_object()
        .map_err(crate::xml::error_from_io)?
    {
        return Err(Error::TlsReport(
            "the document is not a JSON object".to_owned(),
        ));
    }
    let mut state = State {
        notes: Notes::default(),
        details_left: MAX_TLS_FAILURE_DETAILS,
        refusal: None,
    };
    let mut json = serde_json::Deserializer::from_reader(&mut input);
    let raw = ReportSeed(&mut state)
        .deserialize(&mut json)
        .and_then(|raw| json.end().map(|()| raw));
    let raw = match raw {
        Ok(raw) => raw,
        Err(error) => return Err(state.refusal.unwrap_or_else(|| from_json(error))),
    };
    raw.into_report(state.notes)
}

/// A serde_json error as the parser's: an I/O error is the layers' below (or the size cap),
/// anything else names its place in the document.
fn from_json(error: serde_json::Error) -> Error {
    if error.is_io() {
        return crate::xml::error_from_io(io::Error::from(error));
    }
    Error::TlsReport(format!(
        "invalid JSON at line {} column {}: {}",
        error.line(),
        error.column(),
        json_reason(&error)
    ))
}

/// serde_json's message without its trailing position (given separately).
fn json_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The document as serde_json reads it: at most [`MAX_TLS_REPORT_BYTES`], then an error
/// (carrying [`Error::Limit`], which `error_from_io` unwraps).
struct Bounded<'a> {
    inner: &'a mut dyn BufRead,
    left: u64,
}

impl Bounded<'_> {
    /// Skips a BOM and leading whitespace; whether a `{` follows.
    fn starts_with_object(&mut self) -> io::Result<bool> {
        if self.fill_buf()?.starts_with(BOM) {
            self.consume(BOM.len());
        }
        loop {
            let buffer = self.fill_buf()?;
            let Some(&first) = buffer.first() else {
                return Ok(false);
            };
            let blank = buffer
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            if blank == 0 {
                return Ok(first == b'{');
            }
            self.consume(blank);
        }
    }
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Bounded<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let left = self.left;
        let buffer = self.inner.fill_buf()?;
        if !buffer.is_empty() && left == 0 {
            return Err(io::Error::other(Error::Limit {
                what: "bytes of an SMTP TLS report",
                limit: MAX_TLS_REPORT_BYTES,
            }));
        }
        let n = usize::try_from(left).map_or(buffer.len(), |left| buffer.len().min(left));
        Ok(&buffer[..n])
    }

    fn consume(&mut self, n: usize) {
        self.left = self.left.saturating_sub(n as u64);
        self.inner.consume(n);
    }
}

#[derive(Default)]
struct Notes(Vec<Warning>);

impl Notes {
    fn push(&mut self, warning: String) {
        self.0.push(Warning(warning));
    }
}

/// What is gathered while the document streams by.
struct State {
    /// Warnings about the policies, in document order.
    notes: Notes,
    /// `failure-details` entries the report may still keep.
    details_left: usize,
    /// Why the report is refused, found inside the document (a count too large): serde
    /// errors only carry text, so the error waits here while serde unwinds.
    refusal: Option<Error>,
}

impl State {
    /// Records a refusal; the error makes serde stop.
    fn refuse<E: de::Error>(&mut self, error: Error) -> E {
        let message = error.to_string();
        self.refusal = Some(error);
        E::custom(message)
    }
}

/// The top-level object, read as it streams by.
#[derive(Default)]
struct RawReport {
    organization_name: Text,
    date_range: Option<RawDateRange>,
    contact_info: Text,
    report_id: Text,
    policies: Option<Policies>,
}

/// `policies[]`, already typed.
struct Policies {
    kept: Vec<TlsPolicy>,
    /// Entries beyond [`MAX_TLS_POLICIES`], skipped.
    dropped: u64,
}

#[derive(Deserialize)]
struct RawDateRange {
    #[serde(rename = "start-datetime", default)]
    start: Text,
    #[serde(rename = "end-datetime", default)]
    end: Text,
}

#[derive(Deserialize)]
struct RawPolicy {
    #[serde(rename = "policy-type", default)]
    policy_type: Text,
    #[serde(rename = "policy-string", default)]
    policy_string: Strings,
    #[serde(rename = "policy-domain", default)]
    policy_domain: Text,
    #[serde(rename = "mx-host", default)]
    mx_host: Strings,
}

#[derive(Deserialize)]
struct RawSummary {
    #[serde(rename = "total-successful-session-count", default)]
    successful: Count,
    #[serde(rename = "total-failure-session-count", default)]
    failed: Count,
}

#[derive(Deserialize)]
struct RawFailureDetail {
    #[serde(rename = "result-type", default)]
    result_type: Text,
    #[serde(rename = "sending-mta-ip", default)]
    sending_mta_ip: Text,
    #[serde(rename = "receiving-mx-hostname", default)]
    receiving_mx_hostname: Text,
    #[serde(rename = "receiving-mx-helo", default)]
    receiving_mx_helo: Text,
    #[serde(rename = "receiving-ip", default)]
    receiving_ip: Text,
    #[serde(rename = "failed-session-count", default)]
    failed_session_count: Count,
    #[serde(rename = "additional-information", default)]
    additional_information: Text,
    #[serde(rename = "failure-reason-code", default)]
    failure_reason_code: Text,
}

/// Reads the top-level object into a [`RawReport`], typing `policies[]` as it goes.
struct ReportSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for ReportSeed<'_> {
    type Value = RawReport;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawReport, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ReportSeed<'_> {
    type Value = RawReport;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an SMTP TLS report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawReport, A::Error> {
        let mut raw = RawReport::default();
        let mut seen = Seen::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "organization-name" => {
                    seen.once("organization-name")?;
                    raw.organization_name = map.next_value()?;
                }
                "date-range" => {
                    seen.once("date-range")?;
                    raw.date_range = map.next_value()?;
                }
                "contact-info" => {
                    seen.once("contact-info")?;
                    raw.contact_info = map.next_value()?;
                }
                "report-id" => {
                    seen.once("report-id")?;
                    raw.report_id = map.next_value()?;
                }
                "policies" => {
                    seen.once("policies")?;
                    raw.policies = map.next_value_seed(PoliciesSeed(&mut *self.0))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }
}

/// The keys of one object already read: a key given twice is refused, as serde's derived
/// readers do.
#[derive(Default)]
struct Seen(Vec<&'static str>);

impl Seen {
    fn once<E: de::Error>(&mut self, key: &'static str) -> Result<(), E> {
        if self.0.contains(&key) {
            return Err(E::duplicate_field(key));
        }
        self.0.push(key);
        Ok(())
    }
}

/// `policies`: a list (or `null`, taken as absent), each entry typed as it is read.
struct PoliciesSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for PoliciesSeed<'_> {
    type Value = Option<Policies>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<Policies>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PoliciesSeed<'_> {
    type Value = Option<Policies>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of policies")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Policies>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Policies>, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Policies>, A::Error> {
        let mut kept = Vec::new();
        let mut dropped = 0u64;
        let mut number = 0;
        loop {
            if number >= MAX_TLS_POLICIES {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    break;
                }
                dropped += 1;
                continue;
            }
            number += 1;
            let entry = EntrySeed {
                state: &mut *self.0,
                number,
            };
            match seq.next_element_seed(entry)? {
                Some(Some(policy)) => kept.push(policy),
                Some(None) => {}
                None => break,
            }
        }
        Ok(Some(Policies { kept, dropped }))
    }
}

/// One entry of `policies[]`, typed once read (`None` if it is dropped).
struct EntrySeed<'s> {
    state: &'s mut State,
    /// Its place in the list, from 1, for warnings.
    number: usize,
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = Option<TlsPolicy>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<TlsPolicy>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = Option<TlsPolicy>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a policy object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<TlsPolicy>, A::Error> {
        let where_ = format!("policy {}", self.number);
        let mut policy = None;
        let mut summary = None;
        let mut details = Details::default();
        let mut seen = Seen::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "policy" => {
                    seen.once("policy")?;
                    policy = map.next_value::<Option<RawPolicy>>()?;
                }
                "summary" => {
                    seen.once("summary")?;
                    summary = map.next_value::<Option<RawSummary>>()?;
                }
                "failure-details" => {
                    seen.once("failure-details")?;
                    details = map.next_value_seed(DetailsSeed {
                        state: &mut *self.state,
                        where_: &where_,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let mut notes = Notes::default();
        let typed = into_policy(policy, summary, details, &where_, &mut notes)
            .map_err(|error| self.state.refuse(error))?;
        self.state.notes.0.append(&mut notes.0);
        Ok(typed)
    }
}

/// The typed `failure-details` of one policy, with the warnings about them.
#[derive(Default)]
struct Details {
    kept: Vec<TlsFailureDetail>,
    /// Entries beyond the report's [`MAX_TLS_FAILURE_DETAILS`], skipped.
    dropped: u64,
    notes: Notes,
}

/// `failure-details`: each entry typed as it is read, while the report may keep more.
struct DetailsSeed<'s, 'w> {
    state: &'s mut State,
    where_: &'w str,
}

impl<'de> DeserializeSeed<'de> for DetailsSeed<'_, '_> {
    type Value = Details;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Details, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DetailsSeed<'_, '_> {
    type Value = Details;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of failure details")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Details, E> {
        Ok(Details::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<Details, E> {
        Ok(Details::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Details, A::Error> {
        let mut details = Details::default();
        loop {
            if self.state.details_left == 0 {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    break;
                }
                details.dropped += 1;
                continue;
            }
            let Some(raw) = seq.next_element::<RawFailureDetail>()? else {
                break;
            };
            match raw.into_detail(self.where_, &mut details.notes) {
                Ok(Some(detail)) => {
                    details.kept.push(detail);
                    self.state.details_left -= 1;
                }
                Ok(None) => {}
                Err(error) => return Err(self.state.refuse(error)),
            }
        }
        Ok(details)
    }
}

impl RawReport {
    /// The typed report; `policy_notes` are the warnings gathered while its policies were
    /// read, which follow the report's own.
    fn into_report(self, policy_notes: Notes) -> Result<TlsReport, Error> {
        let mut notes = Notes::default();
        let organization_name = required(self.organization_name, "organization-name", &mut notes)?;
        let report_id = required(self.report_id, "report-id", &mut notes)?;
        let range = self.date_range.ok_or_else(|| missing("date-range"))?;
        let begin = datetime(range.start, "start-datetime", &mut notes)?;
        let end = datetime(range.end, "end-datetime", &mut notes)?;
        if end < begin {
            notes.push(format!(
                "date-range ends ({end}) before it starts ({begin})"
            ));
        }
        let contact_info = optional(self.contact_info, "contact-info", &mut notes);
        if contact_info.is_none() {
            notes.push("no contact-info".to_owned());
        }
        let policies = self.policies.ok_or_else(|| missing("policies"))?;
        if policies.dropped > 0 {
            notes.push(format!(
                "policies: {} entries beyond the first {MAX_TLS_POLICIES} not kept",
                policies.dropped
            ));
        }
        notes.0.extend(policy_notes.0);
        if policies.kept.is_empty() {
            notes.push("the report holds no policy".to_owned());
        }
        Ok(TlsReport {
            organization_name,
            contact_info,
            report_id,
            begin,
            end,
            policies: policies.kept,
            warnings: notes.0,
        })
    }
}

/// One `policies[]` entry, typed: `None` (with a warning) if it has no `policy` object.
fn into_policy(
    policy: Option<RawPolicy>,
    summary: Option<RawSummary>,
    details: Details,
    where_: &str,
    notes: &mut Notes,
) -> Result<Option<TlsPolicy>, Error> {
    let Some(policy) = policy else {
        notes.push(format!("{where_} dropped: it has no \"policy\" object"));
        return Ok(None);
    };
    let policy_type = match optional(policy.policy_type, "policy-type", notes) {
        Some(raw) => {
            let policy_type = TlsPolicyType::from_json(&raw);
            if let TlsPolicyType::Other(other) = &policy_type {
                notes.push(format!("{where_}: unknown policy-type {other:?}"));
            }
            policy_type
        }
        None => {
            notes.push(format!("{where_}: no policy-type"));
            TlsPolicyType::Other(String::new())
        }
    };
    let policy_domain = match optional(policy.policy_domain, "policy-domain", notes) {
        Some(raw) => match DomainName::parse(&raw) {
            Ok(domain) => Some(domain),
            Err(error) => {
                notes.push(format!("{where_}: policy-domain {raw:?} ignored: {error}"));
                None
            }
        },
        None => {
            notes.push(format!("{where_}: no policy-domain"));
            None
        }
    };
    let policy_strings = policy.policy_string.into_strings("policy-string", notes);
    let mx_hosts = policy.mx_host.into_strings("mx-host", notes);
    let (successful_sessions, failed_sessions) = match summary {
        Some(summary) => (
            count(
                summary.successful,
                "total-successful-session-count",
                where_,
                notes,
            )?,
            count(summary.failed, "total-failure-session-count", where_, notes)?,
        ),
        None => {
            notes.push(format!("{where_}: no summary; counted as 0 sessions"));
            (0, 0)
        }
    };
    if details.dropped > 0 {
        notes.push(format!(
            "{where_}: failure-details: {} entries not kept (a report keeps at most \
             {MAX_TLS_FAILURE_DETAILS})",
            details.dropped
        ));
    }
    notes.0.extend(details.notes.0);
    Ok(Some(TlsPolicy {
        policy_type,
        policy_domain,
        policy_strings,
        mx_hosts,
        successful_sessions,
        failed_sessions,
        failure_details: details.kept,
    }))
}

impl RawFailureDetail {
    fn into_detail(
        self,
        where_: &str,
        notes: &mut Notes,
    ) -> Result<Option<TlsFailureDetail>, Error> {
        let failed_sessions = count(
            self.failed_session_count,
            "failed-session-count",
            where_,
            notes,
        )?;
        let Some(result_type) = optional(self.result_type, "result-type", notes) else {
            notes.push(format!(
                "{where_}: a failure detail without result-type dropped ({failed_sessions} sessions)"
            ));
            return Ok(None);
        };
        Ok(Some(TlsFailureDetail {
            result_type,
            sending_mta_ip: ip(self.sending_mta_ip, "sending-mta-ip", where_, notes),
            receiving_mx_hostname: optional(
                self.receiving_mx_hostname,
                "receiving-mx-hostname",
                notes,
            ),
            receiving_mx_helo: optional(self.receiving_mx_helo, "receiving-mx-helo", notes),
            receiving_ip: ip(self.receiving_ip, "receiving-ip", where_, notes),
            failed_sessions,
            additional_information: optional(
                self.additional_information,
                "additional-information",
                notes,
            ),
            failure_reason_code: optional(self.failure_reason_code, "failure-reason-code", notes),
        }))
    }
}

fn missing(field: &str) -> Error {
    Error::TlsReport(format!("required field \"{field}\" is missing or empty"))
}

/// A text field that must be present and non-empty.
fn required(text: Text, field: &'static str, notes: &mut Notes) -> Result<String, Error> {
    optional(text, field, notes).ok_or_else(|| missing(field))
}

/// A text field: `None` when absent, `null` or blank; a number or boolean is taken as its
/// text with a warning; an object or list is ignored with a warning.
fn optional(text: Text, field: &str, notes: &mut Notes) -> Option<String> {
    match text {
        Text::Absent => None,
        Text::Str(text) => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                None
            } else if trimmed.len() == text.len() {
                Some(text)
            } else {
                Some(trimmed.to_owned())
            }
        }
        Text::Scalar(text) => {
            notes.push(format!("{field} is not a string: {text} taken as text"));
            Some(text)
        }
        Text::Structure => {
            notes.push(format!("{field} is an object or list, not text: ignored"));
            None
        }
    }
}

fn datetime(text: Text, field: &'static str, notes: &mut Notes) -> Result<i64, Error> {
    let raw = required(text, field, notes)?;
    chrono::DateTime::parse_from_rfc3339(&raw)
        .map(|time| time.timestamp())
        .map_err(|error| {
            Error::TlsReport(format!(
                "\"{field}\" {:?} is not an RFC 3339 date-time: {error}",
                shorten(&raw)
            ))
        })
}

fn ip(text: Text, field: &str, where_: &str, notes: &mut Notes) -> Option<IpAddr> {
    let raw = optional(text, field, notes)?;
    match raw.parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            notes.push(format!(
                "{where_}: {field} {:?} is not an IP address: ignored",
                shorten(&raw)
            ));
            None
        }
    }
}

fn count(count: Count, field: &str, where_: &str, notes: &mut Notes) -> Result<u64, Error> {
    match count {
        Count::Absent => {
            notes.push(format!("{where_}: no {field}; counted as 0"));
            Ok(0)
        }
        Count::Number(n) if n <= MAX_COUNT => Ok(n),
        Count::Text(text) => match text.trim().parse::<u64>() {
            Ok(n) if n <= MAX_COUNT => {
                notes.push(format!("{where_}: {field} written as a string"));
                Ok(n)
            }
            Ok(_) => Err(too_big(field, &text)),
            Err(_) => Err(Error::TlsReport(format!(
                "{where_}: {field} {:?} is not a count",
                shorten(&text)
            ))),
        },
        Count::Number(n) => Err(too_big(field, &n.to_string())),
        Count::Huge(text) => Err(too_big(field, &text)),
        Count::Invalid(text) => Err(Error::TlsReport(format!(
            "{where_}: {field} {} is not a count",
            shorten(&text)
        ))),
    }
}

fn too_big(field: &str, value: &str) -> Error {
    Error::TlsReport(format!(
        "{field} {} is above 2^40, more sessions than any real sender has",
        shorten(value)
    ))
}

/// At most 64 characters of a value, for a message.
fn shorten(value: &str) -> String {
    let mut chars = value.chars();
    let short: String = chars.by_ref().take(64).collect();
    if chars.next().is_some() {
        format!("{short}…")
    } else {
        short
    }
}

/// A JSON value where text is expected, as it was written.
#[derive(Default)]
enum Text {
    #[default]
    Absent,
    Str(String),
    /// A number or boolean, as text.
    Scalar(String),
    Structure,
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text::Str(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text::Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text::Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text::Scalar(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text::Absent)
            }
            fn visit_none<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text::Absent)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text::Structure)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text::Structure)
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// A session count as written.
#[derive(Default)]
enum Count {
    #[default]
    Absent,
    Number(u64),
    /// Written as a string.
    Text(String),
    /// A number beyond 64 bits (serde_json reads it as a float).
    Huge(String),
    /// Negative, fractional, or not a number at all.
    Invalid(String),
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count::Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(u64::try_from(v).map_or_else(|_| Count::Invalid(v.to_string()), Count::Number))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                if v.fract() == 0.0 && v >= u64::MAX as f64 {
                    Ok(Count::Huge(format!("{v:e}")))
                } else {
                    Ok(Count::Invalid(v.to_string()))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
                Ok(Count::Text(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Count, E> {
                Ok(Count::Invalid(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count::Absent)
            }
            fn visit_none<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count::Absent)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Count::Invalid("a list".to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Count::Invalid("an object".to_owned()))
            }
        }
        deserializer.deserialize_any(CountVisitor)
    }
}

/// A list of strings (`policy-string`, `mx-host`); one string alone is taken as a list of one.
#[derive(Default)]
struct Strings {
    kept: Vec<Text>,
    dropped: u64,
    /// Written as one string rather than a list.
    single: bool,
}

impl Strings {
    fn into_strings(self, field: &str, notes: &mut Notes) -> Vec<String> {
        if self.single {
            notes.push(format!("{field} is one string, not a list"));
        }
        if self.dropped > 0 {
            notes.push(format!(
                "{field}: {} entries beyond the first {MAX_STRINGS} not kept",
                self.dropped
            ));
        }
        self.kept
            .into_iter()
            .filter_map(|text| optional(text, field, notes))
            .collect()
    }
}

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringsVisitor;
        impl<'de> Visitor<'de> for StringsVisitor {
            type Value = Strings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Strings, E> {
                Ok(Strings {
                    kept: vec![Text::Str(v.to_owned())],
                    dropped: 0,
                    single: true,
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Strings, E> {
                Ok(Strings::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Strings, E> {
                Ok(Strings::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Strings, A::Error> {
                let capped = capped_seq::<Text, MAX_STRINGS, A>(seq)?;
                Ok(Strings {
                    kept: capped.kept,
                    dropped: capped.dropped,
                    single: false,
                })
            }
        }
        deserializer.deserialize_any(StringsVisitor)
    }
}

/// A list of which the first `N` entries are kept and the rest only counted.
struct Capped<T, const N: usize> {
    kept: Vec<T>,
    dropped: u64,
}

fn capped_seq<'de, T: Deserialize<'de>, const N: usize, A: SeqAccess<'de>>(
    mut seq: A,
) -> Result<Capped<T, N>, A::Error> {
    let mut kept = Vec::new();
    let mut dropped = 0u64;
    while kept.len() < N {
        match seq.next_element::<T>()? {
            Some(item) => kept.push(item),
            None => return Ok(Capped { kept, dropped }),
        }
    }
    while seq.next_element::<IgnoredAny>()?.is_some() {
        dropped += 1;
    }
    Ok(Capped { kept, dropped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(json: &str) -> TlsReport {
        parse(&mut json.as_bytes()).unwrap()
    }

    fn refusal(mut json: &[u8]) -> String {
        parse(&mut json).unwrap_err().to_string()
    }

    const MINIMAL: &str = r#"{"organization-name":"Example","report-id":"r1",
        "date-range":{"start-datetime":"2024-01-09T00:00:00Z","end-datetime":"2024-01-09T23:59:59Z"},
        "contact-info":"tls@example.net",
        "policies":[{"policy":{"policy-type":"sts","policy-domain":"Example.COM.","mx-host":["mx.example.com"]},
          "summary":{"total-successful-session-count":7,"total-failure-session-count":2},
          "failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1",
            "receiving-mx-hostname":"mx.example.com","receiving-ip":"2001:db8::1","failed-session-count":2}]}]}"#;

    #[test]
    fn every_field_is_read() {
        let report = report(MINIMAL);
        assert_eq!(report.organization_name, "Example");
        assert_eq!((report.begin, report.end), (1_704_758_400, 1_704_844_799));
        let policy = &report.policies[0];
        assert_eq!(policy.policy_type, TlsPolicyType::Sts);
        assert_eq!(
            policy.policy_domain.as_ref().unwrap().as_str(),
            "example.com"
        );
        assert_eq!((policy.successful_sessions, policy.failed_sessions), (7, 2));
        let detail = &policy.failure_details[0];
        assert_eq!(detail.result_type, "certificate-expired");
        assert_eq!(detail.receiving_ip, Some("2001:db8::1".parse().unwrap()));
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }

    #[test]
    fn lenient_where_reporters_are_sloppy() {
        let json = MINIMAL
            .replace("\"tls@example.net\"", "null")
            .replace(":7,", ":\"7\",")
            .replace("[\"mx.example.com\"]", "\"mx.example.com\"")
            .replace("\"192.0.2.1\"", "\"not an ip\"");
        let report = report(&json);
        assert_eq!(report.contact_info, None);
        assert_eq!(report.policies[0].successful_sessions, 7);
        assert_eq!(report.policies[0].mx_hosts, ["mx.example.com"]);
        assert_eq!(report.policies[0].failure_details[0].sending_mta_ip, None);
        assert_eq!(
            report
                .warnings
                .iter()
                .map(|w| w.0.as_str())
                .collect::<Vec<_>>(),
            [
                "no contact-info",
                "mx-host is one string, not a list",
                "policy 1: total-successful-session-count written as a string",
                "policy 1: sending-mta-ip \"not an ip\" is not an IP address: ignored",
            ]
        );
    }

    #[test]
    fn hostile_documents_are_refused_with_one_line() {
        let huge = MINIMAL.replace(":7,", ":1180591620717411303424,");
        assert_eq!(
            refusal(huge.as_bytes()),
            "invalid SMTP TLS report: total-successful-session-count 1.1805916207174113e21 is above 2^40, more sessions than any real sender has"
        );
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            refusal(deep.as_bytes()),
            "invalid SMTP TLS report: the document is not a JSON object"
        );
        let nested = format!(
            "{{\"organization-name\":{}1{}}}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(
            refusal(nested.as_bytes()),
            "invalid SMTP TLS report: required field \"organization-name\" is missing or empty"
        );
        let deep_objects = "{\"a\":".repeat(10_000) + &"}".repeat(10_000);
        let deep_objects = refusal(deep_objects.as_bytes());
        assert!(
            deep_objects.starts_with("invalid SMTP TLS report: "),
            "{deep_objects}"
        );
        // Deep nesting under a key nobody reads is skipped without recursion.
        let ignored = MINIMAL.replacen(
            '{',
            &format!("{{\"x\":{}{},", "[".repeat(10_000), "]".repeat(10_000)),
            1,
        );
        assert_eq!(report(&ignored).organization_name, "Example");
        let mut invalid = MINIMAL.as_bytes().to_vec();
        let at = MINIMAL.find("Example").unwrap();
        invalid[at] = 0xFF;
        assert!(refusal(&invalid).contains("invalid unicode code point"));
        assert_eq!(
            refusal(br#"{"organization-name":"x"}"#),
            "invalid SMTP TLS report: required field \"report-id\" is missing or empty"
        );
        let bad_date = MINIMAL.replace("2024-01-09T00:00:00Z", "yesterday");
        assert!(refusal(bad_date.as_bytes()).contains("is not an RFC 3339 date-time"));
    }

    #[test]
    fn lists_are_capped() {
        let detail = r#"{"result-type":"validation-failure","failed-session-count":1},"#;
        let details = detail.repeat(MAX_TLS_FAILURE_DETAILS + 5);
        let json = MINIMAL.replace(
            r#""failure-details":["#,
            &format!(r#""failure-details":[{details}"#),
        );
        let report = report(&json);
        assert_eq!(
            report.policies[0].failure_details.len(),
            MAX_TLS_FAILURE_DETAILS
        );
        assert_eq!(
            report.warnings[0].0,
            "policy 1: failure-details: 6 entries not kept (a report keeps at most 1000)"
        );
    }

    #[test]
    fn the_failure_details_cap_is_per_report() {
        let detail = r#"{"result-type":"validation-failure","failed-session-count":1},"#;
        let policy = |n: usize| {
            format!(
                r#"{{"policy":{{"policy-type":"sts","policy-domain":"example.com"}},
                "summary":{{"total-successful-session-count":0,"total-failure-session-count":{n}}},
                "failure-details":[{}{{"result-type":"last","failed-session-count":1}}]}}"#,
                detail.repeat(n - 1)
            )
        };
        let json = MINIMAL.replace(
            r#""policies":["#,
            &format!(r#""policies":[{},{},"#, policy(600), policy(600)),
        );
        let report = report(&json);
        let kept: Vec<usize> = report
            .policies
            .iter()
            .map(|policy| policy.failure_details.len())
            .collect();
        assert_eq!(kept, [600, 400, 0]);
        assert_eq!(
            report
                .warnings
                .iter()
                .map(|w| w.0.as_str())
                .collect::<Vec<_>>(),
            [
                "policy 2: failure-details: 200 entries not kept (a report keeps at most 1000)",
                "policy 3: failure-details: 1 entries not kept (a report keeps at most 1000)",
            ]
        );
    }

    #[test]
    fn a_document_over_the_cap_is_refused_without_being_held() {
        let padding = " ".repeat(MAX_TLS_REPORT_BYTES as usize);
        let json = MINIMAL.replacen('{', &format!("{{{padding}"), 1);
        assert_eq!(
            refusal(json.as_bytes()),
            "bytes of an SMTP TLS report exceeds the limit of 1048576"
        );
        // Up to the cap, whitespace is only whitespace.
        let json = MINIMAL.replacen('{', &format!("{{{}", &padding[MINIMAL.len()..]), 1);
        assert_eq!(json.len() as u64, MAX_TLS_REPORT_BYTES);
        assert_eq!(report(&json).report_id, "r1");
        // Trailing text after the object is refused.
        assert!(
            refusal(format!("{MINIMAL} x").as_bytes()).contains("trailing characters"),
            "{}",
            refusal(format!("{MINIMAL} x").as_bytes())
        );
    }
}
