//! SMTP TLS reports (RFC 8460 §4): JSON in, a typed [`TlsReport`] out.
//!
//! Built like the aggregate parser: bounded, lenient where real reporters are sloppy, and never
//! panicking. The document is held in memory (it is capped at [`MAX_TLS_REPORT_BYTES`]; real
//! ones are a few kilobytes) and read by serde into loose shapes that accept what reporters
//! actually send — `null` for absent values, numbers written as strings, `mx-host` as one
//! string instead of a list — each tolerated with a warning. Nesting cannot exhaust the stack:
//! the typed shapes go five levels deep, values under unknown keys are skipped by serde_json
//! without recursion, and anything else deeper meets its recursion limit (128). Every list a reporter
//! controls is capped: the first entries are kept and the rest counted in one warning.
//!
//! Refused, with one line naming why: invalid JSON or UTF-8, a document that is not an object
//! with `organization-name`, `report-id`, `date-range` and `policies`, a date that is not RFC
//! 3339, and a session count above [`crate::MAX_COUNT`] (it cannot be real, and sums of stored
//! counts must stay far from the range of a 64-bit integer).

use crate::model::{DomainName, TlsFailureDetail, TlsPolicy, TlsPolicyType, TlsReport, Warning};
use crate::{Error, MAX_COUNT};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

/// The largest TLS report document read (16 MiB; real ones are a few kilobytes).
pub const MAX_TLS_REPORT_BYTES: u64 = 16 * 1024 * 1024;

/// Policies kept per report (a real report has one to three).
pub const MAX_TLS_POLICIES: usize = 100;

/// `failure-details` entries kept per policy.
pub const MAX_TLS_FAILURE_DETAILS: usize = 1_000;

/// `policy-string` and `mx-host` entries kept per policy.
const MAX_STRINGS: usize = 100;

/// Whether a document starts like a JSON object (`{` after an optional BOM and whitespace):
/// the only JSON the reports come in.
pub(crate) fn looks_like_json(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    head.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|first| *first == b'{')
}

/// Parses one TLS report document.
pub(crate) fn parse(document: &[u8]) -> Result<TlsReport, Error> {
    let document = document.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(document);
    if !looks_like_json(document) {
        return Err(Error::TlsReport(
            "the document is not a JSON object".to_owned(),
        ));
    }
    let raw: RawReport = serde_json::from_slice(document).map_err(|error| {
        Error::TlsReport(format!(
            "invalid JSON at line {} column {}: {}",
            error.line(),
            error.column(),
            json_reason(&error)
        ))
    })?;
    let mut warnings = Notes::default();
    let report = raw.into_report(&mut warnings)?;
    Ok(TlsReport {
        warnings: warnings.0,
        ..report
    })
}

/// serde_json's message without its trailing position (given separately).
fn json_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[derive(Default)]
struct Notes(Vec<Warning>);

impl Notes {
    fn push(&mut self, warning: String) {
        self.0.push(Warning(warning));
    }
}

#[derive(Deserialize)]
struct RawReport {
    #[serde(rename = "organization-name", default)]
    organization_name: Text,
    #[serde(rename = "date-range", default)]
    date_range: Option<RawDateRange>,
    #[serde(rename = "contact-info", default)]
    contact_info: Text,
    #[serde(rename = "report-id", default)]
    report_id: Text,
    #[serde(default)]
    policies: Option<Capped<RawPolicyEntry, MAX_TLS_POLICIES>>,
}

#[derive(Deserialize)]
struct RawDateRange {
    #[serde(rename = "start-datetime", default)]
    start: Text,
    #[serde(rename = "end-datetime", default)]
    end: Text,
}

#[derive(Deserialize)]
struct RawPolicyEntry {
    #[serde(default)]
    policy: Option<RawPolicy>,
    #[serde(default)]
    summary: Option<RawSummary>,
    #[serde(rename = "failure-details", default)]
    failure_details: Option<Capped<RawFailureDetail, MAX_TLS_FAILURE_DETAILS>>,
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

impl RawReport {
    fn into_report(self, notes: &mut Notes) -> Result<TlsReport, Error> {
        let organization_name = required(self.organization_name, "organization-name", notes)?;
        let report_id = required(self.report_id, "report-id", notes)?;
        let range = self.date_range.ok_or_else(|| missing("date-range"))?;
        let begin = datetime(range.start, "start-datetime", notes)?;
        let end = datetime(range.end, "end-datetime", notes)?;
        if end < begin {
            notes.push(format!(
                "date-range ends ({end}) before it starts ({begin})"
            ));
        }
        let contact_info = optional(self.contact_info, "contact-info", notes);
        if contact_info.is_none() {
            notes.push("no contact-info".to_owned());
        }
        let entries = self.policies.ok_or_else(|| missing("policies"))?;
        entries.note_dropped("policies", notes);
        let mut policies = Vec::with_capacity(entries.kept.len());
        for (index, entry) in entries.kept.into_iter().enumerate() {
            if let Some(policy) = entry.into_policy(index + 1, notes)? {
                policies.push(policy);
            }
        }
        if policies.is_empty() {
            notes.push("the report holds no policy".to_owned());
        }
        Ok(TlsReport {
            organization_name,
            contact_info,
            report_id,
            begin,
            end,
            policies,
            warnings: Vec::new(),
        })
    }
}

impl RawPolicyEntry {
    fn into_policy(self, number: usize, notes: &mut Notes) -> Result<Option<TlsPolicy>, Error> {
        let Some(policy) = self.policy else {
            notes.push(format!(
                "policy {number} dropped: it has no \"policy\" object"
            ));
            return Ok(None);
        };
        let where_ = format!("policy {number}");
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
        let (successful_sessions, failed_sessions) = match self.summary {
            Some(summary) => (
                count(
                    summary.successful,
                    "total-successful-session-count",
                    &where_,
                    notes,
                )?,
                count(
                    summary.failed,
                    "total-failure-session-count",
                    &where_,
                    notes,
                )?,
            ),
            None => {
                notes.push(format!("{where_}: no summary; counted as 0 sessions"));
                (0, 0)
            }
        };
        let mut failure_details = Vec::new();
        if let Some(details) = self.failure_details {
            details.note_dropped(&format!("{where_}: failure-details"), notes);
            failure_details.reserve(details.kept.len());
            for detail in details.kept {
                if let Some(detail) = detail.into_detail(&where_, notes)? {
                    failure_details.push(detail);
                }
            }
        }
        Ok(Some(TlsPolicy {
            policy_type,
            policy_domain,
            policy_strings,
            mx_hosts,
            successful_sessions,
            failed_sessions,
            failure_details,
        }))
    }
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

impl<T, const N: usize> Capped<T, N> {
    fn note_dropped(&self, what: &str, notes: &mut Notes) {
        if self.dropped > 0 {
            notes.push(format!(
                "{what}: {} entries beyond the first {N} not kept",
                self.dropped
            ));
        }
    }
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

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Capped<T, N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CappedVisitor<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for CappedVisitor<T, N> {
            type Value = Capped<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Capped<T, N>, A::Error> {
                capped_seq(seq)
            }
        }
        deserializer.deserialize_seq(CappedVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(json: &str) -> TlsReport {
        parse(json.as_bytes()).unwrap()
    }

    fn refusal(json: &[u8]) -> String {
        parse(json).unwrap_err().to_string()
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
            "policy 1: failure-details: 6 entries beyond the first 1000 not kept"
        );
    }
}
