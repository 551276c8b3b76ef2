//! Finding the parts of an RFC 5322 message that may hold a report.
//!
//! A small, bounded MIME walker: it splits a message into its leaf parts (multipart at any
//! depth up to [`Limits::max_mime_depth`], at most [`Limits::max_mime_parts`] parts), and
//! for each leaf knows its content type, file name and transfer encoding. Which leaves are
//! reports is decided by their decoded bytes, not by these headers (see `container`).
//!
//! Written for what report mail really looks like rather than for the letter of the RFCs:
//! CRLF or LF, unquoted parameters with `!` or spaces, a `;` after the last parameter,
//! RFC 2231 (`filename*=`, continuations) and RFC 2047 (`=?utf-8?B?…?=`) file names, base64
//! with stray characters, a missing closing boundary.

use crate::{Error, Limits};
use std::borrow::Cow;

/// One leaf part of a message.
#[derive(Debug)]
pub(crate) struct Part<'a> {
    /// The MIME part number (`1`, `2.1`, …); empty for a single-part message.
    path: String,
    /// `type/subtype`, lowercase; `text/plain` when absent.
    content_type: String,
    /// From `Content-Disposition: …; filename=` or else `Content-Type: …; name=`.
    filename: Option<String>,
    encoding: TransferEncoding,
    body: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransferEncoding {
    Identity,
    Base64,
    QuotedPrintable,
}

impl Part<'_> {
    /// The body with its transfer encoding undone.
    pub(crate) fn decoded(&self) -> Cow<'_, [u8]> {
        match self.encoding {
            TransferEncoding::Identity => Cow::Borrowed(self.body),
            TransferEncoding::Base64 => Cow::Owned(decode_base64(self.body)),
            TransferEncoding::QuotedPrintable => Cow::Owned(decode_quoted_printable(self.body)),
        }
    }

    /// The file name, or `part N` (`message body` for a single-part message).
    pub(crate) fn display_name(&self) -> String {
        match &self.filename {
            Some(name) => name.clone(),
            None if self.path.is_empty() => "message body".into(),
            None => format!("part {}", self.path),
        }
    }

    /// `type/subtype`, lowercase.
    pub(crate) fn content_type(&self) -> &str {
        &self.content_type
    }

    pub(crate) fn is_html(&self) -> bool {
        self.content_type == "text/html"
    }

    /// The machine-readable part of an ARF report (RFC 5965): `message/feedback-report`.
    pub(crate) fn is_feedback_report(&self) -> bool {
        self.content_type == "message/feedback-report"
    }

    /// A copy of a message, or of its header only, as an ARF report attaches the message it
    /// is about (`message/rfc822`, `text/rfc822-headers`, and the rarer spellings).
    pub(crate) fn is_original_message(&self) -> bool {
        self.is_message()
            || matches!(
                self.content_type.as_str(),
                "text/rfc822-headers" | "message/rfc822-headers" | "text/rfc822"
            )
    }

    /// Text meant to be read by a person (`text/plain`, also the default type).
    pub(crate) fn is_plain_text(&self) -> bool {
        self.content_type == "text/plain"
    }

    /// A message attached to this one (e.g. a forwarded report mail).
    pub(crate) fn is_message(&self) -> bool {
        matches!(
            self.content_type.as_str(),
            "message/rfc822" | "message/global"
        )
    }

    /// `text/plain (212 bytes)` or `application/pdf "x.pdf" (12345 bytes)`.
    pub(crate) fn describe(&self, decoded_len: usize) -> String {
        match &self.filename {
            Some(name) => format!("{} {name:?} ({decoded_len} bytes)", self.content_type),
            None => format!("{} ({decoded_len} bytes)", self.content_type),
        }
    }
}

/// Splits `message` into its leaf parts.
pub(crate) fn leaf_parts<'a>(message: &'a [u8], limits: &Limits) -> Result<Vec<Part<'a>>, Error> {
    let mut walk = Walk {
        limits,
        parts: 0,
        leaves: Vec::new(),
    };
    walk.entity(message, String::new(), 0)?;
    Ok(walk.leaves)
}

struct Walk<'a, 'l> {
    limits: &'l Limits,
    parts: usize,
    leaves: Vec<Part<'a>>,
}

impl<'a> Walk<'a, '_> {
    fn entity(&mut self, entity: &'a [u8], path: String, depth: usize) -> Result<(), Error> {
        self.parts += 1;
        if self.parts > self.limits.max_mime_parts {
            return Err(Error::Limit {
                what: "MIME parts in one message",
                limit: self.limits.max_mime_parts as u64,
            });
        }
        let (header, body) = split_header(entity);
        let fields = Fields::parse(header);
        let (content_type, params) = fields
            .content_type
            .as_deref()
            .map(parse_header_value)
            .unwrap_or_else(|| ("text/plain".into(), Vec::new()));
        if content_type.starts_with("multipart/")
            && let Some(boundary) = param(&params, "boundary").filter(|b| !b.is_empty())
        {
            let children = split_multipart(body, boundary.as_bytes());
            // A multipart whose boundary never appears is read as one opaque part below.
            if !children.is_empty() {
                if depth >= self.limits.max_mime_depth {
                    return Err(Error::Limit {
                        what: "MIME multipart nesting depth",
                        limit: self.limits.max_mime_depth as u64,
                    });
                }
                for (index, child) in children.into_iter().enumerate() {
                    let child_path = if path.is_empty() {
                        (index + 1).to_string()
                    } else {
                        format!("{path}.{}", index + 1)
                    };
                    self.entity(child, child_path, depth + 1)?;
                }
                return Ok(());
            }
        }
        let disposition_params = fields
            .content_disposition
            .as_deref()
            .map(|value| parse_header_value(value).1)
            .unwrap_or_default();
        let filename = param(&disposition_params, "filename")
            .or_else(|| param(&params, "name"))
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty());
        let encoding = match fields
            .transfer_encoding
            .as_deref()
            .map(|value| value.trim().to_ascii_lowercase())
            .as_deref()
        {
            Some("base64") => TransferEncoding::Base64,
            Some("quoted-printable") => TransferEncoding::QuotedPrintable,
            _ => TransferEncoding::Identity,
        };
        self.leaves.push(Part {
            path,
            content_type,
            filename,
            encoding,
            body,
        });
        Ok(())
    }
}

/// Splits an entity at the first empty line into header and body. An entity that starts
/// with an empty line has no header; one without an empty line is all header.
pub(crate) fn split_header(entity: &[u8]) -> (&[u8], &[u8]) {
    let mut start = 0;
    for line in Lines::new(entity) {
        if trim_eol(line).is_empty() {
            return (&entity[..start], &entity[start + line.len()..]);
        }
        start += line.len();
    }
    (entity, &[])
}

/// The header fields the walker needs, unfolded.
#[derive(Default)]
struct Fields {
    content_type: Option<String>,
    content_disposition: Option<String>,
    transfer_encoding: Option<String>,
}

impl Fields {
    fn parse(header: &[u8]) -> Fields {
        let mut fields = Fields::default();
        let mut current: Option<&mut String> = None;
        for line in Lines::new(header) {
            let line = String::from_utf8_lossy(trim_eol(line));
            if line.starts_with([' ', '\t']) {
                // A folded continuation of the previous field.
                if let Some(value) = current.as_deref_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                current = None;
                continue;
            };
            let slot = match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => &mut fields.content_type,
                "content-disposition" => &mut fields.content_disposition,
                "content-transfer-encoding" => &mut fields.transfer_encoding,
                _ => {
                    current = None;
                    continue;
                }
            };
            // The first occurrence wins, as in most mail readers.
            if slot.is_some() {
                current = None;
                continue;
            }
            current = Some(slot.insert(value.trim().to_owned()));
        }
        fields
    }
}

/// A header block's fields, unfolded, in order, within caps.
#[derive(Debug, Default)]
pub(crate) struct HeaderFields {
    /// `(name, value)`: the name lowercase, the value unfolded (each line break and the
    /// whitespace around it become one space), trimmed, and read as UTF-8 with replacement
    /// characters.
    pub(crate) fields: Vec<(String, String)>,
    /// Fields left out because the block held more than the cap.
    pub(crate) dropped: usize,
    /// Values cut short at the cap (an endless folded line, a huge field).
    pub(crate) cut: usize,
}

impl HeaderFields {
    /// The first value of the field `name` (lowercase).
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of the field `name` (lowercase), in order.
    pub(crate) fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.fields
            .iter()
            .filter(move |(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Reads every field of a header block (as [`split_header`] returns it), keeping at most
/// `max_fields` fields of at most `max_value_bytes` bytes each, so a hostile block costs
/// memory in proportion to the caps, not to its size. Lines that are neither a field nor a
/// continuation (an mbox `From ` line, garbage) are skipped.
pub(crate) fn header_fields(
    block: &[u8],
    max_fields: usize,
    max_value_bytes: usize,
) -> HeaderFields {
    let mut header = HeaderFields::default();
    // Whether continuation lines belong to a field that is kept (and not yet cut).
    let mut open = false;
    for line in Lines::new(block) {
        let line = trim_eol(line);
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if !open {
                continue;
            }
            if let Some((_, value)) = header.fields.last_mut() {
                let text = String::from_utf8_lossy(line);
                let text = text.trim();
                if !text.is_empty() {
                    open = push_capped(value, " ", max_value_bytes)
                        && push_capped(value, text, max_value_bytes);
                    if !open {
                        header.cut += 1;
                    }
                }
            }
            continue;
        }
        open = false;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| b.is_ascii_graphic()) {
            continue;
        }
        if header.fields.len() >= max_fields {
            header.dropped += 1;
            continue;
        }
        let mut value = String::new();
        let text = String::from_utf8_lossy(&line[colon + 1..]);
        open = push_capped(&mut value, text.trim(), max_value_bytes);
        if !open {
            header.cut += 1;
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        header.fields.push((name, value));
    }
    header
}

/// Appends `text` to `value` up to `cap` bytes (on a character boundary); whether all of it
/// fitted.
fn push_capped(value: &mut String, text: &str, cap: usize) -> bool {
    let room = cap.saturating_sub(value.len());
    if text.len() <= room {
        value.push_str(text);
        return true;
    }
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    value.push_str(&text[..end]);
    false
}

/// Lines including their line ending (LF or CRLF; a lone CR is not a line break).
struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    fn new(data: &'a [u8]) -> Self {
        Lines { rest: data }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self
            .rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.rest.len(), |at| at + 1);
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(line)
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The parts of a multipart body: what lies between `--boundary` lines, up to
/// `--boundary--` or, when that is missing, the end of the body. The line break before a
/// delimiter belongs to the delimiter.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut part_start: Option<usize> = None;
    let mut offset = 0;
    for line in Lines::new(body) {
        let line_start = offset;
        offset += line.len();
        let Some(after) = trim_eol(line)
            .strip_prefix(b"--")
            .and_then(|rest| rest.strip_prefix(boundary))
        else {
            continue;
        };
        let closing = after.starts_with(b"--");
        if !closing && !after.iter().all(|b| b.is_ascii_whitespace()) {
            // `--boundary-other`: a longer boundary of a nested multipart.
            continue;
        }
        if let Some(start) = part_start.take() {
            parts.push(strip_final_eol(&body[start..line_start]));
        }
        if closing {
            return parts;
        }
        part_start = Some(offset);
    }
    // No closing delimiter: the last part runs to the end.
    if let Some(start) = part_start {
        parts.push(&body[start..]);
    }
    parts
}

fn strip_final_eol(part: &[u8]) -> &[u8] {
    let part = part.strip_suffix(b"\n").unwrap_or(part);
    part.strip_suffix(b"\r").unwrap_or(part)
}

type Params = Vec<(String, String)>;

/// `type/subtype; key=value; key="quoted"` → the lowercase value before the first `;`, and
/// the parameters with RFC 2231 continuations joined and encoded words decoded.
fn parse_header_value(value: &str) -> (String, Params) {
    let (main, mut rest) = match value.find(';') {
        Some(at) => (&value[..at], &value[at + 1..]),
        None => (value, ""),
    };
    let mut raw: Params = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c.is_whitespace());
        if rest.is_empty() {
            break;
        }
        let key_end = rest.find(['=', ';']).unwrap_or(rest.len());
        let key = rest[..key_end].trim().to_ascii_lowercase();
        rest = &rest[key_end..];
        let Some(after_equals) = rest.strip_prefix('=') else {
            continue;
        };
        let after_equals = after_equals.trim_start();
        let value;
        (value, rest) = match after_equals.strip_prefix('"') {
            Some(quoted) => read_quoted(quoted),
            None => {
                let end = after_equals.find(';').unwrap_or(after_equals.len());
                (after_equals[..end].trim().to_owned(), &after_equals[end..])
            }
        };
        if !key.is_empty() {
            raw.push((key, value));
        }
    }
    (main.trim().to_ascii_lowercase(), join_rfc2231(raw))
}

/// A quoted string (after its opening quote) with `\` escapes; unterminated runs to the end.
fn read_quoted(input: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = input.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return (value, &input[at + 1..]),
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            c => value.push(c),
        }
    }
    (value, "")
}

/// Joins RFC 2231 parameters (`name*=charset'lang'%XX`, `name*0=`, `name*1*=`) into one value
/// per name, preferred over a plain `name=`; then decodes RFC 2047 encoded words.
fn join_rfc2231(raw: Params) -> Params {
    struct Segment {
        index: u32,
        extended: bool,
        value: String,
    }
    let mut plain: Params = Vec::new();
    let mut extended: Vec<(String, Vec<Segment>)> = Vec::new();
    for (key, value) in raw {
        let Some((name, section)) = key.split_once('*') else {
            plain.push((key, value));
            continue;
        };
        let (index, is_extended) = match section {
            "" => (0, true),
            _ => match section.strip_suffix('*') {
                Some(number) => (number.parse().unwrap_or(u32::MAX), true),
                None => (section.parse().unwrap_or(u32::MAX), false),
            },
        };
        let segment = Segment {
            index,
            extended: is_extended,
            value,
        };
        match extended.iter_mut().find(|(known, _)| known == name) {
            Some((_, segments)) => segments.push(segment),
            None => extended.push((name.to_owned(), vec![segment])),
        }
    }
    for (name, mut segments) in extended {
        segments.sort_by_key(|segment| segment.index);
        let mut charset = String::new();
        let mut bytes = Vec::new();
        for (position, segment) in segments.iter().enumerate() {
            if !segment.extended {
                bytes.extend_from_slice(segment.value.as_bytes());
                continue;
            }
            let mut value = segment.value.as_str();
            if position == 0 {
                // charset'language'value
                let mut pieces = value.splitn(3, '\'');
                if let (Some(set), Some(_language), Some(text)) =
                    (pieces.next(), pieces.next(), pieces.next())
                {
                    charset = set.to_ascii_lowercase();
                    value = text;
                }
            }
            bytes.extend(percent_decode(value.as_bytes()));
        }
        plain.retain(|(key, _)| *key != name);
        plain.push((name, decode_charset(&charset, &bytes)));
    }
    for (_, value) in &mut plain {
        if value.contains("=?") {
            *value = decode_encoded_words(value);
        }
    }
    plain
}

fn param<'p>(params: &'p Params, name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut at = 0;
    while at < input.len() {
        if input[at] == b'%'
            && let Some(byte) = input
                .get(at + 1..at + 3)
                .and_then(|hex| hex_pair(hex[0], hex[1]))
        {
            out.push(byte);
            at += 3;
            continue;
        }
        out.push(input[at]);
        at += 1;
    }
    out
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |c: u8| char::from(c).to_digit(16);
    Some((digit(high)? * 16 + digit(low)?) as u8)
}

/// Bytes in a named charset → text. UTF-8 and the Latin-1 family are read exactly; any other
/// charset is read as UTF-8 with replacement characters.
fn decode_charset(charset: &str, bytes: &[u8]) -> String {
    match charset.trim().to_ascii_lowercase().as_str() {
        "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "windows-1252" | "cp1252"
        | "us-ascii" | "ascii" => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Decodes RFC 2047 encoded words (`=?charset?B?…?=`, `=?charset?Q?…?=`); whitespace
/// between two encoded words is dropped, as the RFC says. Anything malformed stays as is.
pub(crate) fn decode_encoded_words(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        let Some((decoded, consumed)) = encoded_word(candidate) else {
            out.push_str(before);
            out.push_str("=?");
            rest = &candidate[2..];
            after_word = false;
            continue;
        };
        if !(after_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        out.push_str(&decoded);
        rest = &candidate[consumed..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `input`: its text and its length.
fn encoded_word(input: &str) -> Option<(String, usize)> {
    let inner = input.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    if text.contains(char::is_whitespace) {
        return None;
    }
    // An RFC 2231 language suffix: `utf-8*en`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let bytes = match encoding {
        "B" | "b" => decode_base64(text.as_bytes()),
        "Q" | "q" => decode_q(text.as_bytes()),
        _ => return None,
    };
    // `inner` is a suffix of `input`; the word ends with the `?=` after the text.
    let consumed = input.len() - inner.len() + end + 2;
    Some((decode_charset(charset, &bytes), consumed))
}

/// The `Q` encoding of RFC 2047: `_` is a space, `=XX` a byte.
fn decode_q(input: &[u8]) -> Vec<u8> {
    let underscores: Vec<u8> = input
        .iter()
        .map(|&b| if b == b'_' { b' ' } else { b })
        .collect();
    decode_quoted_printable(&underscores)
}

/// Base64, tolerant of line breaks and any stray character: everything outside the alphabet
/// is skipped; `=` ends a quantum (so concatenated encodings decode too).
pub(crate) fn decode_base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut quantum = 0u32;
    let mut sextets = 0u8;
    let flush = |out: &mut Vec<u8>, quantum: u32, sextets: u8| {
        let bytes = quantum.to_be_bytes();
        match sextets {
            2 => out.push((quantum >> 4) as u8),
            3 => out.extend_from_slice(&((quantum >> 2) as u16).to_be_bytes()),
            4 => out.extend_from_slice(&bytes[1..]),
            _ => {}
        }
    };
    for &byte in input {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                flush(&mut out, quantum, sextets);
                quantum = 0;
                sextets = 0;
                continue;
            }
            _ => continue,
        };
        quantum = quantum << 6 | u32::from(value);
        sextets += 1;
        if sextets == 4 {
            flush(&mut out, quantum, sextets);
            quantum = 0;
            sextets = 0;
        }
    }
    flush(&mut out, quantum, sextets);
    out
}

/// Quoted-printable: `=XX` is a byte, `=` at the end of a line joins it to the next; an `=`
/// that is neither stays as it is.
pub(crate) fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut at = 0;
    while at < input.len() {
        let byte = input[at];
        if byte != b'=' {
            out.push(byte);
            at += 1;
            continue;
        }
        let rest = &input[at + 1..];
        if let Some(after) = rest.strip_prefix(b"\r\n") {
            at = input.len() - after.len();
        } else if let Some(after) = rest.strip_prefix(b"\n") {
            at = input.len() - after.len();
        } else if let Some(decoded) = rest.get(..2).and_then(|hex| hex_pair(hex[0], hex[1])) {
            out.push(decoded);
            at += 3;
        } else {
            out.push(b'=');
            at += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_skips_noise_and_handles_padding() {
        assert_eq!(decode_base64(b"aGVs\r\nbG8=\n"), b"hello");
        assert_eq!(decode_base64(b"aGVs bG8*!"), b"hello");
        // Two encodings one after the other.
        assert_eq!(decode_base64(b"aGk=aGk="), b"hihi");
        assert_eq!(decode_base64(b"aA"), b"h");
    }

    #[test]
    fn quoted_printable_soft_breaks_and_bad_escapes() {
        assert_eq!(decode_quoted_printable(b"a=3Db=\r\nc=\nd"), b"a=bcd");
        assert_eq!(decode_quoted_printable(b"x=ZZ="), b"x=ZZ=");
    }

    #[test]
    fn parameters_quoted_unquoted_and_trailing_semicolon() {
        let (main, params) = parse_header_value(
            "Application/Zip; name=google.com!example.com!1!2.zip; x=\"a;\\\"b\";",
        );
        assert_eq!(main, "application/zip");
        assert_eq!(
            param(&params, "name"),
            Some("google.com!example.com!1!2.zip")
        );
        assert_eq!(param(&params, "x"), Some("a;\"b"));
    }

    #[test]
    fn rfc2231_continuations_and_charset() {
        let (_, params) = parse_header_value(
            "attachment; filename*0*=utf-8''r%C3%A9port; filename*1=\".xml\"; filename=fallback",
        );
        assert_eq!(param(&params, "filename"), Some("réport.xml"));
        let (_, params) = parse_header_value("attachment; filename*=iso-8859-1'en'%E9.gz");
        assert_eq!(param(&params, "filename"), Some("é.gz"));
    }

    #[test]
    fn rfc2047_words_joined_without_the_space_between() {
        assert_eq!(
            decode_encoded_words("=?utf-8?B?cmVw?= =?utf-8?Q?ort=5F1.xml?= tail"),
            "report_1.xml tail"
        );
        assert_eq!(decode_encoded_words("=?broken"), "=?broken");
    }

    #[test]
    fn multipart_nested_unterminated_and_longer_boundaries() {
        let message = b"Content-Type: multipart/mixed; boundary=b\n\npreamble\n--b\n\
            Content-Type: text/plain\n\nhello\n--b\nContent-Type: multipart/alternative; boundary=b-x\n\n\
            --b-x\nContent-Type: text/html\n\n<p>x</p>\n--b-x--\n--b\n\
            Content-Type: application/gzip; name=r.gz\nContent-Transfer-Encoding: base64\n\naGk=\n";
        let parts = leaf_parts(message, &Limits::default()).unwrap();
        let names: Vec<String> = parts.iter().map(Part::display_name).collect();
        assert_eq!(names, ["part 1", "part 2.1", "r.gz"]);
        assert_eq!(parts[0].decoded().as_ref(), b"hello");
        assert_eq!(parts[2].decoded().as_ref(), b"hi");
    }

    #[test]
    fn part_and_depth_caps() {
        let mut message = b"Content-Type: multipart/mixed; boundary=b\n\n".to_vec();
        for _ in 0..20 {
            message.extend_from_slice(b"--b\n\nx\n");
        }
        let limits = Limits {
            max_mime_parts: 10,
            ..Limits::default()
        };
        assert!(matches!(
            leaf_parts(&message, &limits),
            Err(Error::Limit { limit: 10, .. })
        ));
        let mut nested = Vec::new();
        for level in 0..20 {
            nested.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=l{level}\n\n--l{level}\n")
                    .as_bytes(),
            );
        }
        assert!(matches!(
            leaf_parts(&nested, &Limits::default()),
            Err(Error::Limit { limit: 16, .. })
        ));
    }
}
