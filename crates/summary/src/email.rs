//! The summary as a ready-to-send mail: an RFC 5322 message with a `multipart/alternative`
//! body (the text summary, then the HTML one), built by `mail-builder` (headers encoded,
//! quoted-printable or base64 chosen per part), for `ruadb summary --format email | sendmail -t`.
//!
//! Nothing here reads the clock or picks a random value: the `Date`, the `Message-ID` and
//! therefore the MIME boundary come from the [`Envelope`], so a mail is a pure function of
//! the summary and its envelope (and snapshot-tested).

use super::alerts::{Severity, worst};
use super::numbers::percent;
use super::{Summary, render_html, render_text};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::mime::MimePart;

/// Who a summary mail is from and to, and when it is sent.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// `From:`, an address checked by [`check_address`].
    pub from: String,
    /// `To:`, at least one address.
    pub to: Vec<String>,
    /// `Date:`, seconds since the epoch.
    pub date: i64,
    /// `Message-ID:` without the angle brackets, e.g. `ruadb.2026-W47.1795417200@example.com`
    /// ([`message_id`] makes one).
    pub message_id: String,
}

/// A `Message-ID` (without angle brackets) unique to one run: the period, the time and the
/// process, at the sender's domain, e.g. `ruadb.2026-W47.1795417200.4242@example.com`.
pub fn message_id(summary: &Summary, from: &str, date: i64, process: u32) -> String {
    let period = summary
        .period
        .iso_week_label()
        .unwrap_or_else(|| format!("{}", summary.period.start));
    let domain = from.rsplit_once('@').map_or(from, |(_, domain)| domain);
    format!("ruadb.{period}.{date}.{process}@{domain}")
}

/// Why a mail cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// An address given for `From:` or `To:` is not a plain `local@domain` address.
    /// The text is cleaned of control characters (spelled out), so it shows on one line.
    #[error("\"{0}\" is not a mail address (expected local@domain, without a display name)")]
    Address(String),
    /// No recipient.
    #[error("no recipient: give at least one address with --to")]
    NoRecipient,
    /// Writing the message failed.
    #[error("cannot write the mail: {0}")]
    Write(#[from] std::io::Error),
}

/// Checks that `address` is a plain `local@domain` address: one `@`, both sides non-empty,
/// printable ASCII only and none of the characters that would end or
/// change a header's address list (spaces, quotes, angle brackets, commas, semicolons, colons,
/// parentheses, brackets, backslashes). Display names are not taken: `sendmail -t` needs only
/// the address.
pub fn check_address(address: &str) -> Result<(), EmailError> {
    let plain = address.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && address.len() <= 254
        && address
            .chars()
            .all(|c| c.is_ascii_graphic() && !"<>\",;:()[]\\".contains(c));
    if plain {
        Ok(())
    } else {
        Err(EmailError::Address(super::render::clean(address)))
    }
}

/// The subject: the period, each domain's DMARC pass and new sources, and whether action is
/// needed when alerts were computed; e.g. `DMARC 2026-W47 example.com: 98.7% pass, 2 new
/// sources, action needed`.
pub fn subject(summary: &Summary) -> String {
    let period = summary
        .period
        .iso_week_label()
        .unwrap_or_else(|| summary.period.to_string());
    let mut parts = Vec::new();
    for domain in &summary.domains {
        let mut part = format!("{}: ", domain.domain);
        match domain.totals.dmarc_pass_rate {
            Some(rate) if domain.totals.reports > 0 => {
                part.push_str(&format!("{} pass", percent(rate)));
            }
            _ => part.push_str("no reports"),
        }
        match domain.new_sources.len() {
            0 => {}
            1 => part.push_str(", 1 new source"),
            count => part.push_str(&format!(", {count} new sources")),
        }
        parts.push(part);
    }
    if parts.is_empty() {
        parts.push("no reports".to_owned());
    }
    let news = match summary.alerts.as_deref().and_then(worst) {
        Some(Severity::Action) => ", action needed",
        Some(Severity::Notice) => ", worth a look",
        None => "",
    };
    // Control characters cannot reach a header; mail-builder encodes the rest.
    super::render::clean(&format!("DMARC {period} {}{news}", parts.join("; ")))
}

/// The summary as a complete mail message (CRLF line ends), `multipart/alternative` with the
/// text and the HTML renderings.
pub fn render_email(summary: &Summary, envelope: &Envelope) -> Result<String, EmailError> {
    check_address(&envelope.from)?;
    if envelope.to.is_empty() {
        return Err(EmailError::NoRecipient);
    }
    for address in &envelope.to {
        check_address(address)?;
    }
    let to: Vec<Address<'_>> = envelope
        .to
        .iter()
        .map(|address| Address::new_address(None::<&str>, address.as_str()))
        .collect();
    let text = render_text(summary);
    let html = render_html(summary);
    // mail-builder would pick a boundary from the clock; one from a counter, checked against
    // both bodies, keeps the mail reproducible.
    let boundary = (0u32..)
        .map(|attempt| format!("ruadb-alternative-{attempt}"))
        .find(|boundary| !text.contains(boundary.as_str()) && !html.contains(boundary.as_str()))
        .unwrap_or_default();
    let body = MimePart::new(
        ContentType::new("multipart/alternative").attribute("boundary", boundary),
        vec![
            MimePart::new("text/plain", text),
            MimePart::new("text/html", html),
        ],
    );
    let message = MessageBuilder::new()
        .from(Address::new_address(None::<&str>, envelope.from.as_str()))
        .to(Address::new_list(to))
        .subject(subject(summary))
        .date(Date::new(envelope.date))
        .message_id(envelope.message_id.as_str())
        .body(body);
    Ok(message.write_to_string()?)
}
