//! Inputs built to hurt a parser: bombs, entity tricks, deep nesting, huge and broken mail.
//!
//! Each is small on disk (except the 100 MB report and the 50 MB attachment, which are large
//! on purpose) and is generated, never committed.

use crate::Error;
use crate::reporters::reporters;
use crate::rng::Rng;
use crate::sources::{IpSpace, SourcePool};
use crate::tlsrpt::{tls_report, write_tls_message};
use crate::wrap::{self, write_base64};
use crate::xml::{DomainPolicy, RecordBudget, ReportPlan, Written, write_report};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use zip::ZipWriter;

const MIB: u64 = 1024 * 1024;

/// One kind of hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// A zip whose one member inflates to 1 GiB of zeros (about 1 MiB on disk).
    ZipBomb,
    /// A gzip holding an XML start tag followed by 1 GiB of spaces: it looks like a report
    /// until the decompression cap.
    GzipBomb,
    /// A valid report inside 12 layers of gzip.
    NestedGzip,
    /// A zip with 100,000 members, each a small valid report.
    ManyZipMembers,
    /// Nested internal entities that expand to 3 GB ("billion laughs").
    BillionLaughs,
    /// An external entity pointing at `/etc/passwd`.
    ExternalEntity,
    /// A record holding elements nested 1,000 deep.
    DeepNesting,
    /// A valid 100 MiB report (about 150,000 records), plain XML.
    BigValidReport,
    /// A message with a 50 MB attachment of random bytes named like a report.
    RandomAttachment,
    /// A multipart message whose closing boundary never comes (the report part is complete).
    UnterminatedBoundary,
    /// A message with 10,000 MIME parts; the last holds a valid report.
    ManyMimeParts,
    /// One record with 2,000,000 `<dkim>` results (about 120 MB of XML, 600 KB gzipped).
    ManyDkimResults,
    /// Counts at and past the 64-bit limits (dropped), and 20,000 records at 2^40 each, the
    /// largest count accepted, whose sum passes 2^54.
    HugeCounts,
    /// A report with a NUL byte inside `<org_name>`.
    NulInText,
    /// Two whole reports, each in a gzip member of its own, in one `.gz` file.
    ConcatenatedGzip,
    /// A message whose multiparts are nested 5,000 deep, a valid report at the bottom.
    DeepMultipart,
    /// 1,500 records of 28 KB each (28 DKIM results with a 1,000-byte `<human_result>`), just
    /// under the text a record may hold: 43 MB of XML in a small gzip.
    BigRecords,
    /// A TLS report mail whose `application/tlsrpt+gzip` part inflates to 1 GiB of JSON.
    TlsGzipBomb,
    /// A 100 MiB JSON document that starts like a TLS report.
    TlsBigJson,
    /// A TLS report whose `policies` are lists nested 10,000 deep.
    TlsDeepNesting,
    /// A TLS report with session counts of 2^70.
    TlsHugeCounts,
    /// A TLS report with invalid UTF-8 in a string.
    TlsInvalidUtf8,
}

/// A written hostile input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostileFile {
    /// Where it was written.
    pub path: PathBuf,
    /// The valid report buried inside, if there is one: what a parser that gets through finds.
    pub embedded_report: Option<Written>,
}

impl Hostile {
    /// Every kind, in a fixed order.
    pub const ALL: [Hostile; 22] = [
        Hostile::ZipBomb,
        Hostile::GzipBomb,
        Hostile::NestedGzip,
        Hostile::ManyZipMembers,
        Hostile::BillionLaughs,
        Hostile::ExternalEntity,
        Hostile::DeepNesting,
        Hostile::BigValidReport,
        Hostile::RandomAttachment,
        Hostile::UnterminatedBoundary,
        Hostile::ManyMimeParts,
        Hostile::ManyDkimResults,
        Hostile::HugeCounts,
        Hostile::NulInText,
        Hostile::ConcatenatedGzip,
        Hostile::DeepMultipart,
        Hostile::BigRecords,
        Hostile::TlsGzipBomb,
        Hostile::TlsBigJson,
        Hostile::TlsDeepNesting,
        Hostile::TlsHugeCounts,
        Hostile::TlsInvalidUtf8,
    ];

    /// The file name it is written under.
    pub fn file_name(self) -> &'static str {
        match self {
            Hostile::ZipBomb => "zip-bomb.zip",
            Hostile::GzipBomb => "gzip-bomb.xml.gz",
            Hostile::NestedGzip => "nested-gzip.xml.gz",
            Hostile::ManyZipMembers => "many-members.zip",
            Hostile::BillionLaughs => "billion-laughs.xml",
            Hostile::ExternalEntity => "external-entity.xml",
            Hostile::DeepNesting => "deep-nesting.xml",
            Hostile::BigValidReport => "big-valid-report.xml",
            Hostile::RandomAttachment => "random-attachment.eml",
            Hostile::UnterminatedBoundary => "unterminated-boundary.eml",
            Hostile::ManyMimeParts => "many-mime-parts.eml",
            Hostile::ManyDkimResults => "many-dkim-results.xml.gz",
            Hostile::HugeCounts => "huge-counts.xml",
            Hostile::NulInText => "nul-in-text.xml",
            Hostile::ConcatenatedGzip => "two-gzip-members.xml.gz",
            Hostile::DeepMultipart => "deep-multipart.eml",
            Hostile::BigRecords => "big-records.xml.gz",
            Hostile::TlsGzipBomb => "tlsrpt-gzip-bomb.eml",
            Hostile::TlsBigJson => "tlsrpt-big.json",
            Hostile::TlsDeepNesting => "tlsrpt-deep-nesting.json",
            Hostile::TlsHugeCounts => "tlsrpt-huge-counts.json",
            Hostile::TlsInvalidUtf8 => "tlsrpt-invalid-utf8.json",
        }
    }

    /// Writes it into `dir` (created if missing).
    pub fn write(self, dir: &Path) -> Result<HostileFile, Error> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(self.file_name());
        let mut out = BufWriter::new(File::create(&path)?);
        let embedded_report = match self {
            Hostile::ZipBomb => {
                let mut writer = ZipWriter::new(out);
                writer.start_file("report.xml", wrap::deflated())?;
                write_repeated(&mut writer, 0, 1024 * MIB)?;
                out = wrap::finish_zip(writer)?;
                None
            }
            Hostile::GzipBomb => {
                let mut encoder = GzEncoder::new(out, Compression::default());
                encoder.write_all(b"<?xml version=\"1.0\"?>\n<feedback>")?;
                write_repeated(&mut encoder, b' ', 1024 * MIB)?;
                out = encoder.finish()?;
                None
            }
            Hostile::NestedGzip => {
                let (mut bytes, written) = small_report("nested-gzip")?;
                for _ in 0..12 {
                    bytes = wrap::gzip(&bytes)?;
                }
                out.write_all(&bytes)?;
                Some(written)
            }
            Hostile::ManyZipMembers => {
                let mut writer = ZipWriter::new(out);
                for member in 0..100_000 {
                    let xml = template_report(&format!("member-{member}"), "example.org", "");
                    writer.start_file(format!("report-{member:06}.xml"), wrap::deflated())?;
                    writer.write_all(xml.as_bytes())?;
                }
                out = wrap::finish_zip(writer)?;
                None
            }
            Hostile::BillionLaughs => {
                out.write_all(
                    b"<?xml version=\"1.0\"?>\n<!DOCTYPE feedback [\n  <!ENTITY lol \"lol\">\n",
                )?;
                for level in 1..=9 {
                    let previous = if level == 1 {
                        "lol".to_owned()
                    } else {
                        format!("lol{}", level - 1)
                    };
                    let body = format!("&{previous};").repeat(10);
                    writeln!(out, "  <!ENTITY lol{level} \"{body}\">")?;
                }
                out.write_all(b"]>\n")?;
                out.write_all(
                    template_report("billion-laughs", "example.org", "")
                        .replace(
                            "<org_name>example.net</org_name>",
                            "<org_name>&lol9;</org_name>",
                        )
                        .as_bytes(),
                )?;
                None
            }
            Hostile::ExternalEntity => {
                out.write_all(
                    b"<?xml version=\"1.0\"?>\n<!DOCTYPE feedback [\n  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n]>\n",
                )?;
                out.write_all(
                    template_report("external-entity", "example.org", "")
                        .replace(
                            "<org_name>example.net</org_name>",
                            "<org_name>&xxe;</org_name>",
                        )
                        .as_bytes(),
                )?;
                None
            }
            Hostile::DeepNesting => {
                let nested = format!("{}{}", "<deep>".repeat(1_000), "</deep>".repeat(1_000));
                out.write_all(template_report("deep-nesting", "example.org", &nested).as_bytes())?;
                None
            }
            Hostile::BigValidReport => Some(big_report(&mut out, 100, 1)?),
            Hostile::RandomAttachment => {
                write_message_head(&mut out, "random-attachment")?;
                writeln!(
                    out,
                    "Content-Type: application/gzip; name=\"google.com!example.org!1736121600!1736207999.xml.gz\"\n\
                     Content-Disposition: attachment; filename=\"google.com!example.org!1736121600!1736207999.xml.gz\"\n\
                     Content-Transfer-Encoding: base64\n"
                )?;
                let mut rng = Rng::new(50);
                // A multiple of 57 bytes, so every chunk ends on a whole base64 line.
                let mut chunk = vec![0u8; 57 * 4096];
                let mut left = 50_000_000usize;
                while left > 0 {
                    let take = left.min(chunk.len());
                    rng.fill(&mut chunk[..take]);
                    write_base64(&mut out, &chunk[..take], "\n")?;
                    left -= take;
                }
                writeln!(out, "\n--{BOUNDARY}--")?;
                None
            }
            Hostile::UnterminatedBoundary => {
                let (xml, written) = small_report("unterminated-boundary")?;
                write_message_head(&mut out, "unterminated-boundary")?;
                write_gzip_part(&mut out, &xml)?;
                // No closing "--boundary--": the message simply ends.
                Some(written)
            }
            Hostile::ManyMimeParts => {
                let (xml, written) = small_report("many-mime-parts")?;
                write_message_head(&mut out, "many-mime-parts")?;
                for part in 0..9_999 {
                    writeln!(out, "Content-Type: text/plain\n\npart {part}\n--{BOUNDARY}")?;
                }
                write_gzip_part(&mut out, &xml)?;
                writeln!(out, "--{BOUNDARY}--")?;
                Some(written)
            }
            Hostile::BigRecords => {
                let dkim = format!(
                    "<dkim><domain>example.org</domain><result>fail</result>\
                     <human_result>{}</human_result></dkim>",
                    "h".repeat(1_000)
                )
                .repeat(28);
                let (head, record) = template_head_and_record("hostile-big-records");
                let record = record.replace("</auth_results>", &format!("{dkim}</auth_results>"));
                let mut encoder = GzEncoder::new(out, Compression::default());
                encoder.write_all(head.as_bytes())?;
                for _ in 0..BIG_RECORDS {
                    encoder.write_all(record.as_bytes())?;
                }
                encoder.write_all(b"</feedback>\n")?;
                out = encoder.finish()?;
                Some(Written {
                    records: BIG_RECORDS,
                    messages: BIG_RECORDS,
                    bytes: 0,
                })
            }
            Hostile::ManyDkimResults => {
                let dkim = "<dkim><domain>a.example</domain><result>fail</result></dkim>";
                let xml = template_report("hostile-many-dkim-results", "example.org", "");
                let (head, tail) = xml
                    .split_once("</auth_results>")
                    .ok_or_else(|| std::io::Error::other("template without </auth_results>"))?;
                let mut encoder = GzEncoder::new(out, Compression::default());
                encoder.write_all(head.as_bytes())?;
                let block = dkim.repeat(10_000);
                for _ in 0..200 {
                    encoder.write_all(block.as_bytes())?;
                }
                encoder.write_all(b"</auth_results>")?;
                encoder.write_all(tail.as_bytes())?;
                out = encoder.finish()?;
                Some(Written {
                    records: 1,
                    messages: 1,
                    bytes: 0,
                })
            }
            Hostile::HugeCounts => {
                let (head, record) = template_head_and_record("hostile-huge-counts");
                out.write_all(head.as_bytes())?;
                for refused in [
                    "18446744073709551616",
                    "18446744073709551615",
                    "9223372036854775807",
                    "1099511627777",
                ] {
                    out.write_all(
                        record
                            .replace("<count>1</count>", &format!("<count>{refused}</count>"))
                            .as_bytes(),
                    )?;
                }
                let kept =
                    record.replace("<count>1</count>", &format!("<count>{HUGE_COUNT}</count>"));
                for _ in 0..HUGE_COUNT_RECORDS {
                    out.write_all(kept.as_bytes())?;
                }
                out.write_all(b"</feedback>\n")?;
                Some(Written {
                    records: HUGE_COUNT_RECORDS,
                    messages: HUGE_COUNT * HUGE_COUNT_RECORDS,
                    bytes: 0,
                })
            }
            Hostile::NulInText => {
                out.write_all(
                    template_report("hostile-nul-in-text", "example.org", "")
                        .replace(
                            "<org_name>example.net</org_name>",
                            "<org_name>example\0.net</org_name>",
                        )
                        .as_bytes(),
                )?;
                None
            }
            Hostile::ConcatenatedGzip => {
                let (first, one) = small_report("hostile-gzip-member-1")?;
                let (second, two) = small_report("hostile-gzip-member-2")?;
                out.write_all(&wrap::gzip(&first)?)?;
                out.write_all(&wrap::gzip(&second)?)?;
                Some(Written {
                    records: one.records + two.records,
                    messages: one.messages + two.messages,
                    bytes: one.bytes + two.bytes,
                })
            }
            Hostile::DeepMultipart => {
                let (xml, written) = small_report("hostile-deep-multipart")?;
                write_message_head(&mut out, "hostile-deep-multipart")?;
                for level in 0..DEEP_MULTIPART_LEVELS {
                    writeln!(
                        out,
                        "Content-Type: multipart/mixed; boundary=\"level-{level}\"\n\n--level-{level}"
                    )?;
                }
                write_gzip_part(&mut out, &xml)?;
                for level in (0..DEEP_MULTIPART_LEVELS).rev() {
                    writeln!(out, "--level-{level}--")?;
                }
                writeln!(out, "--{BOUNDARY}--")?;
                Some(written)
            }
            Hostile::TlsGzipBomb => {
                let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
                encoder.write_all(br#"{"organization-name":""#)?;
                write_repeated(&mut encoder, b'a', 1024 * MIB)?;
                write_tls_message(&mut out, "tlsrpt-gzip-bomb", &encoder.finish()?)?;
                None
            }
            Hostile::TlsBigJson => {
                out.write_all(br#"{"organization-name":"big","report-id":"tlsrpt-big","pad":""#)?;
                write_repeated(&mut out, b'a', 100 * MIB)?;
                out.write_all(br#""}"#)?;
                None
            }
            Hostile::TlsDeepNesting => {
                let (mut report, _) = tls_report(0, &mut Rng::new(1));
                report["policies"] = serde_json::Value::Null;
                let text = serde_json::to_string(&report).map_err(std::io::Error::other)?;
                let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
                out.write_all(text.replace("null", &nested).as_bytes())?;
                None
            }
            Hostile::TlsHugeCounts => {
                let (report, _) = tls_report(0, &mut Rng::new(1));
                let text = serde_json::to_string(&report).map_err(std::io::Error::other)?;
                let huge = text.replace(
                    "\"total-successful-session-count\":",
                    "\"total-successful-session-count\":1180591620717411303424",
                );
                // The old value follows the new digits: still one (even larger) number.
                out.write_all(huge.as_bytes())?;
                None
            }
            Hostile::TlsInvalidUtf8 => {
                let (report, _) = tls_report(0, &mut Rng::new(1));
                let text = serde_json::to_string(&report).map_err(std::io::Error::other)?;
                let mut bytes = text.into_bytes();
                if let Some(at) = bytes.windows(6).position(|w| w == b"Google") {
                    bytes[at + 1] = 0xC3;
                    bytes[at + 2] = 0x28;
                }
                out.write_all(&bytes)?;
                None
            }
        };
        out.into_inner().map_err(|e| e.into_error())?;
        Ok(HostileFile {
            path,
            embedded_report,
        })
    }
}

/// Writes every hostile input into `dir`.
pub fn write_all(dir: &Path) -> Result<Vec<HostileFile>, Error> {
    Hostile::ALL.iter().map(|kind| kind.write(dir)).collect()
}

/// Writes a valid google.com report about example.com of at least `mib` MiB, streaming.
pub fn big_report(out: &mut impl Write, mib: u64, seed: u64) -> Result<Written, Error> {
    let mut rng = Rng::new(seed);
    let all = reporters(&mut rng, 0);
    let sources = SourcePool::new(IpSpace::Documentation, &mut rng);
    let policy = DomainPolicy::new("example.com", "reject");
    let plan = ReportPlan {
        reporter: &all[0],
        report_id: format!("big-report-{mib}-mib-{seed}"),
        policy: &policy,
        begin: 1_736_121_600,
        end: 1_736_207_999,
        records: RecordBudget::Bytes(mib * MIB),
    };
    Ok(write_report(out, &plan, &sources, &mut rng)?)
}

const BOUNDARY: &str = "hostile-boundary-0001";

/// The count of each kept record of [`Hostile::HugeCounts`]: 2^40, the largest accepted.
pub const HUGE_COUNT: u64 = 1 << 40;

/// How many records of [`Hostile::HugeCounts`] carry [`HUGE_COUNT`].
pub const HUGE_COUNT_RECORDS: u64 = 20_000;

/// How many records [`Hostile::BigRecords`] holds.
const BIG_RECORDS: u64 = 1_500;

/// How deep [`Hostile::DeepMultipart`] nests its multiparts.
pub const DEEP_MULTIPART_LEVELS: usize = 5_000;

fn write_message_head(out: &mut impl Write, id: &str) -> std::io::Result<()> {
    write!(
        out,
        "From: noreply-dmarc-support@google.com\n\
         To: dmarc@example.org\n\
         Subject: Report domain: example.org Submitter: google.com Report-ID: {id}\n\
         Date: Tue, 7 Jan 2025 01:00:00 +0000\n\
         Message-ID: <{id}@google.com>\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\n\n\
         --{BOUNDARY}\n"
    )
}

fn write_gzip_part(out: &mut impl Write, xml: &[u8]) -> std::io::Result<()> {
    writeln!(
        out,
        "Content-Type: application/gzip; name=\"report.xml.gz\"\n\
         Content-Disposition: attachment; filename=\"report.xml.gz\"\n\
         Content-Transfer-Encoding: base64\n"
    )?;
    write_base64(out, &wrap::gzip(xml)?, "\n")
}

/// A small valid report about example.org, generated like corpus reports.
fn small_report(report_id: &str) -> Result<(Vec<u8>, Written), Error> {
    let mut rng = Rng::new(7);
    let all = reporters(&mut rng, 0);
    let sources = SourcePool::new(IpSpace::Documentation, &mut rng);
    let policy = DomainPolicy::new("example.org", "quarantine");
    let plan = ReportPlan {
        reporter: &all[0],
        report_id: report_id.to_owned(),
        policy: &policy,
        begin: 1_736_121_600,
        end: 1_736_207_999,
        records: RecordBudget::Count(3),
    };
    let mut xml = Vec::new();
    let written = write_report(&mut xml, &plan, &sources, &mut rng)?;
    Ok((xml, written))
}

/// A one-record report with `inside_record` spliced into its record.
fn template_report(report_id: &str, domain: &str, inside_record: &str) -> String {
    format!(
        "<feedback><report_metadata><org_name>example.net</org_name>\
         <email>dmarc@example.net</email><report_id>{report_id}</report_id>\
         <date_range><begin>1736121600</begin><end>1736207999</end></date_range></report_metadata>\
         <policy_published><domain>{domain}</domain><p>none</p></policy_published>\
         <record><row><source_ip>192.0.2.1</source_ip><count>1</count>\
         <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>\
         <identifiers><header_from>{domain}</header_from></identifiers>\
         <auth_results><dkim><domain>{domain}</domain><result>pass</result></dkim>\
         <spf><domain>{domain}</domain><result>pass</result></spf></auth_results>{inside_record}</record></feedback>\n"
    )
}

/// [`template_report`] about example.org cut in two: everything before its `<record>`, and the
/// record, so that a report of many records can be written as head, records, `</feedback>`.
fn template_head_and_record(report_id: &str) -> (String, String) {
    let xml = template_report(report_id, "example.org", "");
    let at = xml.find("<record>").unwrap_or(xml.len());
    let (head, rest) = xml.split_at(at);
    let record = rest.trim_end().trim_end_matches("</feedback>").to_owned();
    (head.to_owned(), record)
}

fn write_repeated(out: &mut impl Write, byte: u8, total: u64) -> std::io::Result<()> {
    let block = vec![byte; MIB as usize];
    for _ in 0..total / MIB {
        out.write_all(&block)?;
    }
    Ok(())
}
