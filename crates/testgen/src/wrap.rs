//! Containers around the XML: gzip, zip, and the e-mail a reporter sends.

use crate::reporters::{Archive, MailStyle, Reporter};
use crate::rng::Rng;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::{self, Cursor, Seek, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// gzip of `data`, with the header fields zeroed so the bytes depend on the data only.
pub fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 8), Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

/// A zip archive holding `data` as the single member `name`, deflated.
pub fn zip_single(name: &str, data: &[u8]) -> Result<Vec<u8>, zip::result::ZipError> {
    zip_members(&[(name, data)])
}

/// A zip archive holding each `(name, data)` as a member, in order, deflated.
pub fn zip_members(members: &[(&str, &[u8])]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in members {
        writer.start_file(*name, deflated())?;
        writer.write_all(data)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// Deflate with a fixed timestamp (the zip default), so archives are reproducible.
pub fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

/// Finishes a zip writer, mapping its error to I/O.
pub fn finish_zip<W: Write + Seek>(writer: ZipWriter<W>) -> io::Result<W> {
    writer.finish().map_err(io::Error::other)
}

/// The archive a reporter attaches: the bytes and the attachment name.
pub fn archive(
    reporter: &Reporter,
    base_name: &str,
    xml: &[u8],
) -> Result<(Vec<u8>, String), zip::result::ZipError> {
    Ok(match reporter.archive {
        Archive::Zip => (
            zip_single(&format!("{base_name}.xml"), xml)?,
            format!("{base_name}.zip"),
        ),
        Archive::Gzip => (gzip(xml)?, format!("{base_name}.xml.gz")),
    })
}

/// Base64 with 76-character lines, as MIME writers produce it.
pub fn write_base64(out: &mut impl Write, data: &[u8], newline: &str) -> io::Result<()> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // 57 input bytes make one 76-character line.
    let mut line = [0u8; 76];
    for chunk in data.chunks(57) {
        let mut used = 0;
        for triple in chunk.chunks(3) {
            let b = [
                triple[0],
                triple.get(1).copied().unwrap_or(0),
                triple.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let symbols = [
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                if triple.len() > 1 {
                    ALPHABET[(n >> 6) as usize & 63]
                } else {
                    b'='
                },
                if triple.len() > 2 {
                    ALPHABET[n as usize & 63]
                } else {
                    b'='
                },
            ];
            line[used..used + 4].copy_from_slice(&symbols);
            used += 4;
        }
        out.write_all(&line[..used])?;
        out.write_all(newline.as_bytes())?;
    }
    Ok(())
}

/// What a message carries besides its attachment.
pub struct Envelope<'a> {
    /// The sender.
    pub reporter: &'a Reporter,
    /// The policy domain (the `To:` address is `dmarc@` it).
    pub policy_domain: &'a str,
    /// Report ID, for the subject.
    pub report_id: &'a str,
    /// When the message was sent (unix seconds).
    pub sent: i64,
}

/// Writes the message a reporter sends: headers, text part and the base64 attachment.
pub fn write_message(
    out: &mut impl Write,
    envelope: &Envelope<'_>,
    attachment: &[u8],
    attachment_name: &str,
    rng: &mut Rng,
) -> io::Result<()> {
    let reporter = envelope.reporter;
    let nl = if reporter.mail == MailStyle::Nested {
        "\r\n"
    } else {
        "\n"
    };
    let boundary = format!("{:016x}{:012x}", rng.next_u64(), rng.below(1 << 48));
    let domain = envelope.policy_domain;
    let subject = format!(
        "Report domain: {domain} Submitter: {} Report-ID: {}",
        reporter.file_domain, envelope.report_id
    );
    let mime_type = match reporter.archive {
        Archive::Zip => "application/zip",
        Archive::Gzip => "application/gzip",
    };
    let sent = rfc5322_date(envelope.sent);
    write!(
        out,
        "Return-Path: <{from}>{nl}\
         Received: from mail-out{relay}.{file} (mail-out{relay}.{file} [192.0.2.{relay}]){nl}\
         \tby mx.{domain} with ESMTPS id {queue:x}{nl}\
         \tfor <dmarc@{domain}>; {sent}{nl}\
         Date: {sent}{nl}\
         From: {from}{nl}\
         To: dmarc@{domain}{nl}\
         Message-ID: <{queue:x}.{id}@{file}>{nl}",
        from = reporter.email,
        file = reporter.file_domain,
        relay = rng.between(1, 254),
        queue = rng.next_u64(),
        id = envelope.report_id,
    )?;
    match reporter.mail {
        MailStyle::Nested => {
            write!(out, "Subject: =?utf-8?B?")?;
            let mut encoded = Vec::new();
            write_base64(&mut encoded, subject.as_bytes(), "")?;
            out.write_all(&encoded)?;
            write!(out, "?={nl}")?;
        }
        _ => write!(out, "Subject: {subject}{nl}")?,
    }
    match reporter.mail {
        MailStyle::SinglePart => {
            write!(
                out,
                "MIME-Version: 1.0{nl}\
                 Content-Type: {mime_type}; name=\"{attachment_name}\"{nl}\
                 Content-Disposition: attachment; filename=\"{attachment_name}\"{nl}\
                 Content-Transfer-Encoding: base64{nl}{nl}"
            )?;
            write_base64(out, attachment, nl)?;
        }
        MailStyle::TextThenAttachment | MailStyle::OctetStreamUnquoted => {
            let (part_type, name) = if reporter.mail == MailStyle::OctetStreamUnquoted {
                ("application/octet-stream", attachment_name.to_owned())
            } else {
                (mime_type, format!("\"{attachment_name}\""))
            };
            write!(
                out,
                "MIME-Version: 1.0{nl}\
                 Content-Type: multipart/mixed; boundary=\"{boundary}\"{nl}{nl}\
                 --{boundary}{nl}\
                 Content-Type: text/plain; charset=\"UTF-8\"{nl}\
                 Content-Transfer-Encoding: 7bit{nl}{nl}\
                 This is an aggregate report from {}.{nl}{nl}\
                 --{boundary}{nl}\
                 Content-Type: {part_type}; name={name}{nl}\
                 Content-Disposition: attachment; filename={name}{nl}\
                 Content-Transfer-Encoding: base64{nl}{nl}",
                reporter.org_name
            )?;
            write_base64(out, attachment, nl)?;
            write!(out, "{nl}--{boundary}--{nl}")?;
        }
        MailStyle::Nested => {
            write!(
                out,
                "Content-Type: multipart/mixed; boundary=\"_004_{boundary}_\"{nl}\
                 MIME-Version: 1.0{nl}{nl}\
                 --_004_{boundary}_{nl}\
                 Content-Type: multipart/alternative; boundary=\"_000_{boundary}_\"{nl}{nl}\
                 --_000_{boundary}_{nl}\
                 Content-Type: text/plain; charset=\"us-ascii\"{nl}{nl}\
                 This is a DMARC aggregate report from Microsoft.{nl}{nl}\
                 --_000_{boundary}_{nl}\
                 Content-Type: text/html; charset=\"us-ascii\"{nl}{nl}\
                 <p>This is a DMARC aggregate report from Microsoft.</p>{nl}{nl}\
                 --_000_{boundary}_--{nl}{nl}\
                 --_004_{boundary}_{nl}\
                 Content-Type: {mime_type}; name=\"{attachment_name}\"{nl}\
                 Content-Disposition: attachment; filename=\"{attachment_name}\";{nl}\
                 Content-Transfer-Encoding: base64{nl}{nl}"
            )?;
            write_base64(out, attachment, nl)?;
            write!(out, "{nl}--_004_{boundary}_--{nl}")?;
        }
    }
    Ok(())
}

/// `Wed, 15 Nov 2023 00:12:34 +0000`.
pub fn rfc5322_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg==\n"),
            ("fo", "Zm8=\n"),
            ("foo", "Zm9v\n"),
            ("foob", "Zm9vYg==\n"),
            ("fooba", "Zm9vYmE=\n"),
            ("foobar", "Zm9vYmFy\n"),
        ] {
            let mut out = Vec::new();
            write_base64(&mut out, input.as_bytes(), "\n").unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{input:?}");
        }
    }

    #[test]
    fn base64_wraps_at_76_columns() {
        let mut out = Vec::new();
        write_base64(&mut out, &[0xff; 100], "\r\n").unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), 76);
        // 43 bytes left: 14 full groups, then one byte padded with "==".
        assert_eq!(lines[1], format!("{}/w==", "/".repeat(56)));
    }

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_700_000_000),
            "Tue, 14 Nov 2023 22:13:20 +0000"
        );
        assert_eq!(
            rfc5322_date(1_709_164_800),
            "Thu, 29 Feb 2024 00:00:00 +0000"
        );
    }
}
