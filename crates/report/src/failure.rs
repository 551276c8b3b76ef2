//! DMARC failure reports (RFC 6591) in a message: recognised by content, read into a
//! [`FailureReport`].
//!
//! The rules, in the order they apply:
//! - A message is a failure report when one of its leaf parts is `message/feedback-report`
//!   (ARF, RFC 5965), or else when a plain-text part holds both the `Sender Domain:` and the
//!   `Sender IP Address:` line of Exim's text-only notice. The message's own content type
//!   (`multipart/report`, `multipart/mixed`, single part) does not matter.
//! - ARF: `Feedback-Type` must be `auth-failure`. Another type (`abuse`, `fraud`, …) is
//!   another kind of report and refused by name; a missing one is read as `auth-failure`
//!   with a warning. Several feedback parts: the first counts, with a warning.
//! - The fields come from the feedback part (or the notice's lines); `From`, `Subject`,
//!   `Message-ID` and `Date` from the header of the copy of the original message
//!   (`message/rfc822`, `text/rfc822-headers`; in the notice, the header pasted below it).
//!   The body of the original message is never read.
//! - Lenient, with a warning: `Received-Date` for a missing `Arrival-Date`, and the report
//!   mail's own `Date` when neither is there or usable; a `Source-IP`
//!   followed by a host name or in brackets; a date that is no RFC 5322 date (ignored); no
//!   `Reported-Domain` (the domain of the original `From` instead); several
//!   `Reported-Domain` fields (the first); no `Auth-Failure`; no copy of the original header;
//!   fields beyond the caps.
//! - An error: another `Feedback-Type`; no domain to attribute the report to at all.
//! - Bounded: each header block keeps at most [`MAX_HEADER_FIELDS`] fields of at most
//!   [`MAX_FIELD_BYTES`] bytes, and at most [`MAX_RECIPIENTS`] recipients; the message itself
//!   is capped by [`crate::Limits::max_message_bytes`] before it gets here.
//!
//! Privacy is not decided here: the parser reads what the report says, and
//! [`FailureReport::apply_privacy`] removes what may not be kept.

use crate::mime::{self, HeaderFields, Part};
use crate::{DomainName, Error, FailureFormat, FailureReport, Warning};
use chrono::DateTime;
use std::net::IpAddr;

/// Fields kept from one header block (the feedback part, the original header, the report
/// mail's header); the rest are dropped with a warning. Real ones hold a few dozen.
pub const MAX_HEADER_FIELDS: usize = 500;

/// Bytes kept of one unfolded field value; a longer one is cut with a warning.
pub const MAX_FIELD_BYTES: usize = 16 * 1024;

/// `Original-Rcpt-To` fields read from one report.
pub const MAX_RECIPIENTS: usize = 100;

/// Characters of an outside value quoted in a warning.
const QUOTED_CHARS: usize = 80;

/// The failure report in `message` (whose leaf parts are `parts`), if it is one: `None` when
/// the message is no failure report at all, `Some(Err)` when it is one that cannot be used.
pub(crate) fn from_message(
    message: &[u8],
    parts: &[Part<'_>],
) -> Option<Result<FailureReport, Error>> {
    let outer = fields(mime::split_header(message).0);
    let feedback: Vec<&Part<'_>> = parts
        .iter()
        .filter(|part| part.is_feedback_report())
        .collect();
    if let Some(first) = feedback.first() {
        let mut reading = Reading::new(FailureFormat::Arf);
        if feedback.len() > 1 {
            reading.warn(format!(
                "{} feedback-report parts; only the first is read",
                feedback.len()
            ));
        }
        let body = first.decoded();
        let arf = fields(&body);
        reading.note_caps("the feedback report", &arf);
        if let Err(error) = reading.arf(&arf) {
            return Some(Err(error));
        }
        match parts.iter().find(|part| part.is_original_message()) {
            Some(part) => {
                let copy = part.decoded();
                reading.original(&fields(mime::split_header(&copy).0));
            }
            None => reading.warn("no copy of the original message's header".to_owned()),
        }
        return Some(reading.finish(&outer));
    }
    for part in parts.iter().filter(|part| part.is_plain_text()) {
        let body = part.decoded();
        if let Some(notice) = TextNotice::find(&body) {
            let mut reading = Reading::new(FailureFormat::Text);
            reading.text_notice(&notice);
            return Some(reading.finish(&outer));
        }
    }
    None
}

/// A header block's fields within the caps.
fn fields(block: &[u8]) -> HeaderFields {
    mime::header_fields(block, MAX_HEADER_FIELDS, MAX_FIELD_BYTES)
}

/// A report being read: the fields found so far.
struct Reading {
    format: FailureFormat,
    arrival: Option<i64>,
    source_ip: Option<IpAddr>,
    reported_domain: Option<DomainName>,
    auth_failure: Option<String>,
    authentication_results: Option<String>,
    original_mail_from: Option<String>,
    mail_from_domain: Option<DomainName>,
    original_rcpt_to: Vec<String>,
    rcpt_to_domains: Vec<DomainName>,
    dkim_domain: Option<DomainName>,
    dkim_selector: Option<String>,
    identity_alignment: Option<String>,
    delivery_result: Option<String>,
    user_agent: Option<String>,
    reporting_mta: Option<String>,
    from: Option<String>,
    from_domain: Option<DomainName>,
    subject: Option<String>,
    message_id: Option<String>,
    date: Option<i64>,
    warnings: Vec<Warning>,
}

impl Reading {
    fn new(format: FailureFormat) -> Reading {
        Reading {
            format,
            arrival: None,
            source_ip: None,
            reported_domain: None,
            auth_failure: None,
            authentication_results: None,
            original_mail_from: None,
            mail_from_domain: None,
            original_rcpt_to: Vec::new(),
            rcpt_to_domains: Vec::new(),
            dkim_domain: None,
            dkim_selector: None,
            identity_alignment: None,
            delivery_result: None,
            user_agent: None,
            reporting_mta: None,
            from: None,
            from_domain: None,
            subject: None,
            message_id: None,
            date: None,
            warnings: Vec::new(),
        }
    }

    fn warn(&mut self, warning: String) {
        self.warnings.push(Warning(warning));
    }

    /// Warns when a header block went over the caps.
    fn note_caps(&mut self, block: &str, header: &HeaderFields) {
        if header.dropped > 0 {
            self.warn(format!(
                "{block}: {} header fields beyond the first {MAX_HEADER_FIELDS} ignored",
                header.dropped
            ));
        }
        if header.cut > 0 {
            self.warn(format!(
                "{block}: {} header field(s) longer than {MAX_FIELD_BYTES} bytes cut short",
                header.cut
            ));
        }
    }

    /// The fields of a `message/feedback-report` part.
    fn arf(&mut self, arf: &HeaderFields) -> Result<(), Error> {
        match arf.first("feedback-type").map(str::trim) {
            Some(kind) if kind.eq_ignore_ascii_case("auth-failure") => {}
            Some(kind) => {
                return Err(Error::NoReport(format!(
                    "this is an ARF report of type {:?}, not a DMARC failure (auth-failure) report",
                    quoted(kind)
                )));
            }
            None => self.warn("no Feedback-Type; read as auth-failure".to_owned()),
        }
        self.user_agent = arf.first("user-agent").and_then(nonempty);
        self.reporting_mta = arf.first("reporting-mta").and_then(nonempty);
        self.arrival = match (arf.first("arrival-date"), arf.first("received-date")) {
            (Some(arrival), _) => self.date_field("Arrival-Date", arrival),
            (None, Some(received)) => {
                self.warn("no Arrival-Date; Received-Date read instead".to_owned());
                self.date_field("Received-Date", received)
            }
            (None, None) => None,
        };
        self.source_ip = arf
            .first("source-ip")
            .and_then(|raw| self.ip_field("Source-IP", raw));
        let mut domains = arf.all("reported-domain").filter_map(domain_field);
        self.reported_domain = domains.next();
        let more = domains.count();
        if more > 0 {
            self.warn(format!(
                "{more} more Reported-Domain field(s); only the first is used"
            ));
        }
        self.auth_failure = arf.first("auth-failure").and_then(lowercase);
        if self.auth_failure.is_none() {
            self.warn("no Auth-Failure: the kind of failure is not stated".to_owned());
        }
        self.authentication_results = arf.first("authentication-results").and_then(nonempty);
        if let Some((whole, domain)) = arf.first("original-mail-from").and_then(address) {
            self.original_mail_from = whole;
            self.mail_from_domain = Some(domain);
        }
        let recipients: Vec<&str> = arf.all("original-rcpt-to").collect();
        if recipients.len() > MAX_RECIPIENTS {
            self.warn(format!(
                "{} Original-Rcpt-To fields; only the first {MAX_RECIPIENTS} are read",
                recipients.len()
            ));
        }
        for (whole, domain) in recipients
            .into_iter()
            .take(MAX_RECIPIENTS)
            .filter_map(address)
        {
            self.original_rcpt_to.extend(whole);
            if !self.rcpt_to_domains.contains(&domain) {
                self.rcpt_to_domains.push(domain);
            }
        }
        self.dkim_domain = arf.first("dkim-domain").and_then(domain_field);
        self.dkim_selector = arf.first("dkim-selector").and_then(nonempty);
        self.identity_alignment = arf.first("identity-alignment").and_then(lowercase);
        self.delivery_result = arf.first("delivery-result").and_then(lowercase);
        Ok(())
    }

    /// From, Subject, Message-ID and Date of the original message's header.
    fn original(&mut self, header: &HeaderFields) {
        self.note_caps("the original message's header", header);
        if let Some((whole, domain)) = header.first("from").and_then(address) {
            self.from = whole;
            self.from_domain = Some(domain);
        }
        self.subject = header
            .first("subject")
            .map(mime::decode_encoded_words)
            .and_then(|subject| nonempty(&subject));
        self.message_id = header.first("message-id").and_then(nonempty);
        self.date = header
            .first("date")
            .and_then(|raw| self.date_field("the original Date", raw));
    }

    /// Exim's text-only notice.
    fn text_notice(&mut self, notice: &TextNotice<'_>) {
        self.auth_failure = Some("dmarc".to_owned());
        self.reported_domain = notice.value("sender domain").and_then(domain_field);
        self.source_ip = notice
            .value("sender ip address")
            .and_then(|raw| self.ip_field("Sender IP Address", raw));
        self.arrival = notice
            .value("received date")
            .and_then(|raw| self.date_field("Received date", raw));
        let aligned = |name| {
            notice
                .value(name)
                .is_some_and(|value| value.trim().eq_ignore_ascii_case("yes"))
        };
        if notice.value("spf alignment").is_some() || notice.value("dkim alignment").is_some() {
            let mut aligned_ids = Vec::new();
            if aligned("spf alignment") {
                aligned_ids.push("spf");
            }
            if aligned("dkim alignment") {
                aligned_ids.push("dkim");
            }
            self.identity_alignment = Some(if aligned_ids.is_empty() {
                "none".to_owned()
            } else {
                aligned_ids.join(",")
            });
        }
        match notice.header {
            Some(header) => self.original(&fields(header)),
            None => self.warn("no copy of the original message's header".to_owned()),
        }
    }

    fn date_field(&mut self, name: &str, raw: &str) -> Option<i64> {
        let parsed = parse_date(raw);
        if parsed.is_none() {
            self.warn(format!(
                "{name} {:?} is not an RFC 5322 date; ignored",
                quoted(raw)
            ));
        }
        parsed
    }

    fn ip_field(&mut self, name: &str, raw: &str) -> Option<IpAddr> {
        let raw = raw.trim();
        if let Ok(ip) = raw.parse() {
            return Some(ip);
        }
        let first = raw
            .split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .unwrap_or_default()
            .trim_matches(|c| c == '[' || c == ']');
        let first = first
            .get(..5)
            .filter(|prefix| prefix.eq_ignore_ascii_case("ipv6:"))
            .map_or(first, |_| &first[5..]);
        match first.parse() {
            Ok(ip) => {
                self.warn(format!("{name} {:?} read as {ip}", quoted(raw)));
                Some(ip)
            }
            Err(_) => {
                self.warn(format!(
                    "{name} {:?} is not an IP address; ignored",
                    quoted(raw)
                ));
                None
            }
        }
    }

    /// The report, once every source is read; `outer` is the report mail's own header.
    fn finish(mut self, outer: &HeaderFields) -> Result<FailureReport, Error> {
        let reporter = outer
            .first("from")
            .and_then(address)
            .map(|(_, domain)| domain)
            .or_else(|| {
                self.reporting_mta
                    .as_deref()
                    .and_then(|mta| domain_field(mta.rsplit(';').next().unwrap_or(mta)))
            });
        if self.arrival.is_none()
            && let Some(sent) = outer.first("date").and_then(parse_date)
        {
            // The summary places a report by its arrival; the report mail is written soon
            // after the message arrived.
            self.warn("no usable Arrival-Date; the report mail's own Date is used".to_owned());
            self.arrival = Some(sent);
        }
        let reported_domain = match (self.reported_domain.take(), self.from_domain.clone()) {
            (Some(domain), _) => domain,
            (None, Some(from)) => {
                self.warn(format!(
                    "no Reported-Domain; the original From domain {from} is used"
                ));
                from
            }
            (None, None) => {
                return Err(Error::FailureReport(
                    "it names no domain (no Reported-Domain, and no From in a copy of the original header)"
                        .to_owned(),
                ));
            }
        };
        Ok(FailureReport {
            reporter,
            arrival: self.arrival,
            source_ip: self.source_ip,
            reported_domain,
            auth_failure: self.auth_failure,
            from_domain: self.from_domain,
            dkim_domain: self.dkim_domain,
            dkim_selector: self.dkim_selector,
            delivery_result: self.delivery_result,
            format: self.format,
            user_agent: self.user_agent,
            identity_alignment: self.identity_alignment,
            authentication_results: self.authentication_results,
            mail_from_domain: self.mail_from_domain,
            rcpt_to_domains: self.rcpt_to_domains,
            message_id: self.message_id,
            date: self.date,
            warnings: self.warnings,
            original_mail_from: self.original_mail_from,
            original_rcpt_to: self.original_rcpt_to,
            from: self.from,
            subject: self.subject,
        })
    }
}

/// Exim's notice: `Name: value` lines above the line that introduces the copied header.
struct TextNotice<'a> {
    /// `(name, value)`, the name lowercase.
    lines: Vec<(String, String)>,
    /// The copied header block, if the notice has one.
    header: Option<&'a [u8]>,
}

impl<'a> TextNotice<'a> {
    /// Lines of the notice read before giving up on finding its fields.
    const MAX_LINES: usize = 64;

    fn find(body: &'a [u8]) -> Option<TextNotice<'a>> {
        let mut lines = Vec::new();
        let mut offset = 0;
        let mut header = None;
        for line in body.split_inclusive(|&b| b == b'\n').take(Self::MAX_LINES) {
            offset += line.len();
            let text = String::from_utf8_lossy(line);
            let text = text.trim();
            if text.starts_with("------") && text.to_ascii_lowercase().contains("copy of the") {
                let rest = &body[offset..];
                let start = rest
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(rest.len());
                // Back to the start of the first non-blank line.
                let start = rest[..start]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |at| at + 1);
                header = Some(mime::split_header(&rest[start..]).0);
                break;
            }
            if let Some((name, value)) = text.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                if name.len() <= 32 && !name.is_empty() {
                    lines.push((name, value.trim().to_owned()));
                }
            }
        }
        let notice = TextNotice { lines, header };
        (notice.value("sender domain").is_some() && notice.value("sender ip address").is_some())
            .then_some(notice)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(line, _)| line == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The boundary of a rendered ARF report.
const RENDER_BOUNDARY: &str = "ruadb-failure-report";

impl FailureReport {
    /// A minimal message holding exactly what this report holds, in its own layout (ARF, or
    /// the text-only notice), which reads back into the same report, warnings aside.
    ///
    /// The store keeps this instead of the mail the report came in, so that `reparse` can
    /// rebuild the report while neither the original message's body nor what
    /// [`FailureReport::apply_privacy`] removed is ever stored. An address whose local part
    /// was removed is written as `<@domain>`.
    pub fn render(&self) -> Vec<u8> {
        let mut out = String::new();
        let field = |out: &mut String, name: &str, value: &str| {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        };
        let address = |whole: Option<&String>, domain: &DomainName| match whole {
            Some(whole) => format!("<{whole}>"),
            None => format!("<@{domain}>"),
        };
        if let Some(reporter) = &self.reporter {
            field(&mut out, "From", &format!("<@{reporter}>"));
        }
        if let Some(arrival) = self.arrival.and_then(rfc5322) {
            field(&mut out, "Date", &arrival);
        }
        field(&mut out, "MIME-Version", "1.0");
        let mut original = String::new();
        if let Some(domain) = &self.from_domain {
            field(&mut original, "From", &address(self.from.as_ref(), domain));
        }
        for (name, value) in [
            ("Subject", self.subject.clone()),
            ("Message-ID", self.message_id.clone()),
            ("Date", self.date.and_then(rfc5322)),
        ] {
            if let Some(value) = value {
                field(&mut original, name, &value);
            }
        }
        match self.format {
            FailureFormat::Text => {
                field(&mut out, "Content-Type", "text/plain; charset=utf-8");
                out.push_str("\r\nA message claiming to be from you has failed the published DMARC policy for your domain.\r\n\r\n");
                field(&mut out, "  Sender Domain", &self.reported_domain);
                let ip = self
                    .source_ip
                    .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
                field(&mut out, "  Sender IP Address", &ip);
                if let Some(arrival) = self.arrival.and_then(rfc5322) {
                    field(&mut out, "  Received date", &arrival);
                }
                if let Some(alignment) = &self.identity_alignment {
                    let aligned = |id| {
                        if alignment.split(',').any(|a| a.trim() == id) {
                            "yes"
                        } else {
                            "no"
                        }
                    };
                    field(&mut out, "  SPF Alignment", aligned("spf"));
                    field(&mut out, "  DKIM Alignment", aligned("dkim"));
                }
                out.push_str("\r\n------ This is a copy of the headers that were received before the error was detected.\r\n\r\n");
                out.push_str(&original);
            }
            FailureFormat::Arf => {
                field(
                    &mut out,
                    "Content-Type",
                    &format!(
                        "multipart/report; report-type=feedback-report; boundary=\"{RENDER_BOUNDARY}\""
                    ),
                );
                out.push_str(&format!(
                    "\r\n--{RENDER_BOUNDARY}\r\nContent-Type: message/feedback-report\r\n\r\n"
                ));
                field(&mut out, "Feedback-Type", "auth-failure");
                field(&mut out, "Version", "1");
                let optional = [
                    ("User-Agent", self.user_agent.clone()),
                    ("Arrival-Date", self.arrival.and_then(rfc5322)),
                    ("Source-IP", self.source_ip.map(|ip| ip.to_string())),
                    ("Reported-Domain", Some(self.reported_domain.to_string())),
                    ("Auth-Failure", self.auth_failure.clone()),
                    (
                        "Authentication-Results",
                        self.authentication_results.clone(),
                    ),
                    (
                        "Original-Mail-From",
                        self.mail_from_domain
                            .as_ref()
                            .map(|domain| address(self.original_mail_from.as_ref(), domain)),
                    ),
                    (
                        "DKIM-Domain",
                        self.dkim_domain.as_ref().map(ToString::to_string),
                    ),
                    ("DKIM-Selector", self.dkim_selector.clone()),
                    ("Identity-Alignment", self.identity_alignment.clone()),
                    ("Delivery-Result", self.delivery_result.clone()),
                ];
                for (name, value) in optional {
                    if let Some(value) = value {
                        field(&mut out, name, &value);
                    }
                }
                // Whole recipients when kept, else one `<@domain>` per domain.
                if self.original_rcpt_to.is_empty() {
                    for domain in &self.rcpt_to_domains {
                        field(&mut out, "Original-Rcpt-To", &format!("<@{domain}>"));
                    }
                } else {
                    for whole in &self.original_rcpt_to {
                        field(&mut out, "Original-Rcpt-To", &format!("<{whole}>"));
                    }
                }
                out.push_str(&format!(
                    "\r\n--{RENDER_BOUNDARY}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
                ));
                out.push_str(&original);
                out.push_str(&format!("\r\n--{RENDER_BOUNDARY}--\r\n"));
            }
        }
        out.into_bytes()
    }
}

/// Unix seconds as an RFC 5322 date in UTC.
fn rfc5322(seconds: i64) -> Option<String> {
    DateTime::from_timestamp(seconds, 0).map(|time| time.to_rfc2822())
}

/// A date as mail writes it (RFC 5322, with the usual comments and stray spaces).
fn parse_date(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(date) = DateTime::parse_from_rfc2822(raw) {
        return Some(date.timestamp());
    }
    // `… +0200 (CEST)`, and runs of spaces such as `Tue,  5 Oct`.
    let without_comment = match raw.find('(') {
        Some(at) => &raw[..at],
        None => raw,
    };
    let collapsed = without_comment
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    DateTime::parse_from_rfc2822(&collapsed)
        .ok()
        .map(|date| date.timestamp())
}

/// The address in a header value (`Name <local@domain>`, `<local@domain>`, `local@domain`,
/// and `<@domain>`, which the store's own rendering writes when only the domain is kept): the
/// whole address (`None` without a local part) and its domain. `None` for the null path `<>`
/// and for anything without a domain.
fn address(value: &str) -> Option<(Option<String>, DomainName)> {
    let inner = match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value
            .split_whitespace()
            .find(|token| token.contains('@'))
            .unwrap_or_default(),
    };
    let inner = inner
        .trim()
        .trim_matches(|c| c == '"' || c == '<' || c == '>');
    let (local, domain) = inner.rsplit_once('@')?;
    let domain = domain_field(domain)?;
    let whole = (!local.is_empty()).then(|| inner.to_owned());
    Some((whole, domain))
}

/// A domain from a field, `None` when empty or when it cannot be a name.
fn domain_field(raw: &str) -> Option<DomainName> {
    let raw = raw
        .trim()
        .trim_matches(|c| c == '<' || c == '>' || c == '[' || c == ']');
    DomainName::parse(raw).ok()
}

fn nonempty(raw: &str) -> Option<String> {
    let raw = raw.trim();
    (!raw.is_empty()).then(|| raw.to_owned())
}

fn lowercase(raw: &str) -> Option<String> {
    nonempty(raw).map(|value| value.to_lowercase())
}

/// An outside value shortened for a warning.
fn quoted(raw: &str) -> String {
    match raw.char_indices().nth(QUOTED_CHARS) {
        Some((at, _)) => format!("{}…", &raw[..at]),
        None => raw.to_owned(),
    }
}

/// `text` with the local part of every address removed (`smtp.mailfrom=user@example.com`
/// becomes `smtp.mailfrom=example.com`): for `Authentication-Results`, whose properties
/// carry addresses. A local part runs back from `@` to whitespace, `;`, `(`, `<`, `"` or `,`,
/// and, inside a `property=value`, to the first `=`.
pub(crate) fn without_local_parts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let before = &rest[..at];
        let start = before
            .rfind(|c: char| c.is_whitespace() || matches!(c, ';' | '(' | ')' | '<' | '"' | ','))
            .map_or(0, |at| at + 1);
        let word = &before[start..];
        let local_start = start + word.find('=').map_or(0, |at| at + 1);
        if local_start == at {
            // `header.i=@example.com`: no local part.
            out.push_str(&rest[..=at]);
        } else {
            out.push_str(&rest[..local_start]);
        }
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_with_comments_spaces_and_no_weekday() {
        assert_eq!(
            parse_date("Mon, 01 Oct 2018 11:20:27 +0200"),
            Some(1538385627)
        );
        assert_eq!(parse_date("01 Oct 2018 11:20:27 +0200"), Some(1538385627));
        assert_eq!(
            parse_date("Tue,  5 Oct 2021 17:37:02 +1300 (NZDT)"),
            Some(1633408622)
        );
        assert_eq!(
            parse_date("8 Oct 2011 20:15:58 +0000 (GMT)"),
            Some(1318104958)
        );
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date(""), None);
    }

    #[test]
    fn addresses_in_their_usual_spellings() {
        let domain = |value: &str| address(value).map(|(_, domain)| domain.into_string());
        assert_eq!(
            address("\"=?utf-8?B?SW50?=\" <sharepoint@Domain.DE>"),
            Some((
                Some("sharepoint@Domain.DE".to_owned()),
                DomainName::new("domain.de")
            ))
        );
        assert_eq!(
            address("<@example.net>"),
            Some((None, DomainName::new("example.net")))
        );
        assert_eq!(
            domain("700 on Washington <info@cardinal.com>").as_deref(),
            Some("cardinal.com")
        );
        assert_eq!(
            domain("randomuser@example.net").as_deref(),
            Some("example.net")
        );
        assert_eq!(domain("<>"), None);
        assert_eq!(domain(""), None);
        assert_eq!(domain("no address here"), None);
    }

    #[test]
    fn local_parts_leave_authentication_results() {
        assert_eq!(
            without_local_parts(
                "163.com; spf=pass smtp.mailfrom=bounces+1137616-c1ad-xsj399=163.com@email.entrata.com"
            ),
            "163.com; spf=pass smtp.mailfrom=email.entrata.com"
        );
        assert_eq!(
            without_local_parts("x; dkim=pass header.i=@example.org; spf=fail (user@a.example)"),
            "x; dkim=pass header.i=@example.org; spf=fail (a.example)"
        );
        assert_eq!(without_local_parts("no addresses"), "no addresses");
        assert_eq!(without_local_parts("@@ a@"), "@@ ");
    }

    #[test]
    fn warnings_quote_at_most_a_few_characters() {
        let long = "x".repeat(1000);
        assert_eq!(quoted(&long).chars().count(), QUOTED_CHARS + 1);
        assert_eq!(quoted("é"), "é");
    }
}
