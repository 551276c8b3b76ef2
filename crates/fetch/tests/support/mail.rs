//! Report mail built in memory for the IMAP tests: real aggregate-report XML, attached as plain
//! XML, gzip or zip, in a few MIME shapes reporters actually send, plus mail that is no report.
//!
//! The gzip and zip containers use stored (uncompressed) deflate blocks, written here by hand so
//! the helpers need no compression crate; every reader must accept them.

#![allow(dead_code)]

/// A minimal valid aggregate report for `domain` with one record of `count` messages.
pub fn report_xml(org: &str, report_id: &str, domain: &str, source_ip: &str, count: u32) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<feedback><report_metadata><org_name>{org}</org_name>\
<email>dmarc@{org}</email><report_id>{report_id}</report_id>\
<date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>\
<policy_published><domain>{domain}</domain><p>none</p></policy_published>\
<record><row><source_ip>{source_ip}</source_ip><count>{count}</count>\
<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>\
<identifiers><header_from>{domain}</header_from></identifiers>\
<auth_results><dkim><domain>{domain}</domain><result>pass</result></dkim>\
<spf><domain>{domain}</domain><result>fail</result></spf></auth_results></record></feedback>\r\n"
    )
}

/// How the report travels.
#[derive(Clone, Copy, Debug)]
pub enum Packing {
    /// `application/gzip` attachment, base64.
    Gzip,
    /// `application/zip` attachment, base64.
    Zip,
    /// `text/xml` attachment, base64.
    Xml,
    /// The gzip is the whole message body (single-part `application/gzip`), no multipart.
    BareGzip,
    /// Nested multipart, `application/octet-stream` with only a `name=` parameter and a
    /// folded, quoted-printable-free header set: shapes from real reporters.
    OddMime,
}

/// A complete RFC 5322 message carrying one report, with CRLF line ends throughout (so what
/// the server returns is byte-identical to what was appended).
pub fn report_message(
    packing: Packing,
    org: &str,
    report_id: &str,
    domain: &str,
    source_ip: &str,
    count: u32,
) -> Vec<u8> {
    let xml = report_xml(org, report_id, domain, source_ip, count);
    let file_stem = format!("{org}!{domain}!1700000000!1700086399");
    let headers = format!(
        "From: noreply-dmarc@{org}\r\nTo: dmarc@{domain}\r\nSubject: Report Domain: {domain}\r\n \
Submitter: {org} Report-ID: <{report_id}>\r\nMessage-ID: <{report_id}@{org}>\r\n\
Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMIME-Version: 1.0\r\n"
    );
    let boundary = format!("b-{report_id}");
    let text_part = format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
This is an aggregate report from {org}.\r\n\r\n"
    );
    let attachment = |content_type: &str, name: &str, data: &[u8]| {
        format!(
            "--{boundary}\r\nContent-Type: {content_type}; name=\"{name}\"\r\n\
Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--{boundary}--\r\n",
            base64_lines(data)
        )
    };
    let message = match packing {
        Packing::Gzip => format!(
            "{headers}Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n{text_part}{}",
            attachment(
                "application/gzip",
                &format!("{file_stem}.xml.gz"),
                &gzip_stored(xml.as_bytes())
            )
        ),
        Packing::Zip => format!(
            "{headers}Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n{text_part}{}",
            attachment(
                "application/zip",
                &format!("{file_stem}.zip"),
                &zip_stored(&format!("{file_stem}.xml"), xml.as_bytes())
            )
        ),
        Packing::Xml => format!(
            "{headers}Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n{text_part}{}",
            attachment("text/xml", &format!("{file_stem}.xml"), xml.as_bytes())
        ),
        Packing::BareGzip => format!(
            "{headers}Content-Type: application/gzip;\r\n name=\"{file_stem}.xml.gz\"\r\n\
Content-Disposition: attachment;\r\n filename=\"{file_stem}.xml.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64_lines(&gzip_stored(xml.as_bytes()))
        ),
        Packing::OddMime => {
            let outer = format!("outer-{report_id}");
            format!(
                "{headers}Content-Type: multipart/mixed;\r\n\tboundary={outer}\r\n\r\n\
preamble that readers must skip\r\n--{outer}\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
{text_part}--{boundary}--\r\n--{outer}\r\nContent-Type: APPLICATION/OCTET-STREAM;\r\n name=\"{file_stem}.xml.gz\"\r\n\
Content-Transfer-Encoding: BASE64\r\n\r\n{}\r\n--{outer}--\r\nepilogue\r\n",
                base64_lines(&gzip_stored(xml.as_bytes()))
            )
        }
    };
    message.into_bytes()
}

/// Ordinary mail that lands in the rua= mailbox too: no report in it.
pub fn non_report_message(subject: &str) -> Vec<u8> {
    format!(
        "From: someone@example.org\r\nTo: dmarc@example.com\r\nSubject: {subject}\r\n\
Message-ID: <{subject}@example.org>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\r\nHello, is this address monitored?\r\n"
    )
    .into_bytes()
}

fn base64_lines(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = Vec::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let group = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for index in 0..4 {
            if index <= chunk.len() {
                encoded.push(ALPHABET[((group >> (18 - 6 * index)) & 63) as usize]);
            } else {
                encoded.push(b'=');
            }
        }
    }
    encoded
        .chunks(76)
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Raw deflate made of stored blocks.
fn deflate_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let length = chunk.len() as u16;
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&(!length).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255];
    out.extend(deflate_stored(data));
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// A one-member zip archive, method deflate (stored blocks).
pub fn zip_stored(name: &str, data: &[u8]) -> Vec<u8> {
    let compressed = deflate_stored(data);
    let crc = crc32(data);
    let mut local = Vec::new();
    local.extend_from_slice(&0x0403_4B50u32.to_le_bytes());
    local.extend_from_slice(&20u16.to_le_bytes()); // version needed
    local.extend_from_slice(&0u16.to_le_bytes()); // flags
    local.extend_from_slice(&8u16.to_le_bytes()); // deflate
    local.extend_from_slice(&[0, 0, 0x21, 0]); // time, date (1980-01-01)
    local.extend_from_slice(&crc.to_le_bytes());
    local.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    local.extend_from_slice(&(data.len() as u32).to_le_bytes());
    local.extend_from_slice(&(name.len() as u16).to_le_bytes());
    local.extend_from_slice(&0u16.to_le_bytes());
    local.extend_from_slice(name.as_bytes());
    local.extend_from_slice(&compressed);

    let mut central = Vec::new();
    central.extend_from_slice(&0x0201_4B50u32.to_le_bytes());
    central.extend_from_slice(&20u16.to_le_bytes()); // made by
    central.extend_from_slice(&20u16.to_le_bytes()); // needed
    central.extend_from_slice(&0u16.to_le_bytes());
    central.extend_from_slice(&8u16.to_le_bytes());
    central.extend_from_slice(&[0, 0, 0x21, 0]);
    central.extend_from_slice(&crc.to_le_bytes());
    central.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    central.extend_from_slice(&(data.len() as u32).to_le_bytes());
    central.extend_from_slice(&(name.len() as u16).to_le_bytes());
    central.extend_from_slice(&[0; 12]); // extra, comment, disk, internal and external attributes
    central.extend_from_slice(&0u32.to_le_bytes()); // offset of the local header
    central.extend_from_slice(name.as_bytes());

    let mut out = local;
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4B50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}
