//! Turn whatever a DMARC reporter sends into typed aggregate reports.
//!
//! Input is bytes (or a seekable reader for large files): an RFC 5322 message, a gzip, zlib
//! or zip archive, or plain XML — detected from the content, never from a name. Output goes
//! to a [`Sink`] as a stream: a [`ReportHeader`], then one [`Record`] at a time, then a
//! [`ReportTrailer`]. A store can insert while the decompressor is still running, so memory
//! stays bounded however large the report is.
//!
//! # Layout
//! - [`model`]: the report types, named after RFC 7489 / RFC 9990.
//! - `container`: recognises each document by its first bytes and unwraps it: gzip
//!   (multi-member, trailing junk, nested), zlib, zip (every member; macOS metadata and
//!   directories skipped), messages — all decompression counted against one cap per input.
//! - `mime`: splits a message into its leaf parts (any depth, base64/QP, RFC 2231/2047 file
//!   names, odd headers); `container` decides from the decoded bytes which parts are reports.
//! - `xml`: the streaming, namespace-agnostic, lenient-where-safe report parser.
//! - `escape`: [`escape_for_terminal`], the one escaping of outside text for human-facing
//!   output, here because every crate that prints depends on this one.
//!
//! # Member names
//! The `member` passed to the [`Sink`] names the document inside the input: a zip member's
//! or an attachment's file name, nested names joined with `/` (`report.zip/report.xml`; an
//! attachment without a file name is `part 1.2`, a zip member without a name `member 3`).
//! gzip and zlib add no name; a plain XML file has none (`None`).
//!
//! # Invariants
//! - No I/O of its own, no clock, no global state: bytes in, values out.
//! - Never panics, whatever the input; every size and depth is capped by [`Limits`].
//! - No DTD processing and no entity expansion beyond the five predefined XML entities.
//!
//! # Example
//! ```
//! let xml = br#"<feedback><report_metadata><org_name>example.net</org_name>
//!   <email>dmarc@example.net</email><report_id>42</report_id>
//!   <date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>
//!   <policy_published><domain>example.com</domain><p>none</p></policy_published>
//!   <record><row><source_ip>192.0.2.1</source_ip><count>3</count>
//!   <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>
//!   <identifiers><header_from>example.com</header_from></identifiers>
//!   <auth_results><dkim><domain>example.com</domain><result>pass</result></dkim></auth_results></record></feedback>"#;
//! let reports = ruadb_report::parse_reports(xml, &ruadb_report::Limits::default());
//! let report = reports[0].as_ref().unwrap();
//! assert_eq!(report.header.metadata.report_id, "42");
//! assert_eq!(report.records[0].count, 3);
//! ```

mod container;
mod domain;
mod error;
mod escape;
mod failure;
mod mime;
pub mod model;
#[cfg(any(test, feature = "fuzz"))]
mod protocol_check;
mod tlsrpt;
mod xml;

use std::io::{Read, Seek};
use std::ops::ControlFlow;

pub use error::{Container, Error};
pub use escape::escape_for_terminal;
pub use failure::{MAX_FIELD_BYTES, MAX_HEADER_FIELDS, MAX_RECIPIENTS};
pub use model::*;
pub use tlsrpt::{MAX_TLS_FAILURE_DETAILS, MAX_TLS_POLICIES, MAX_TLS_REPORT_BYTES};
pub use xml::{MAX_AUTH_RESULTS, MAX_COUNT, MAX_RECORD_BYTES};

/// Caps that keep hostile input from exhausting memory or time.
///
/// The defaults fit the largest real reports with a wide margin. Each cap has a hard upper
/// bound, [`Limits::HARD_MAX`]: the readers apply [`Limits::bounded`] to what they are given,
/// so no setting can make recursion overflow the stack or memory grow without bound, and a
/// configuration can refuse a value out of range with [`Limits::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes one input may expand to after decompression, all its members and nested
    /// layers together (default 256 MiB).
    pub max_decompressed_bytes: u64,
    /// Members read from one zip archive (default 1,000).
    pub max_zip_members: usize,
    /// Containers inside containers, e.g. gzip of gzip (default 4).
    pub max_container_nesting: usize,
    /// Element nesting depth in XML (default 64; a report needs 6).
    pub max_xml_depth: usize,
    /// MIME parts in one message (default 1,000).
    pub max_mime_parts: usize,
    /// Multipart nesting depth in one message (default 16).
    pub max_mime_depth: usize,
    /// Bytes of a message read into memory, and of a zip archive found inside another
    /// container (default 32 MiB; report mail is rarely above 1 MiB).
    pub max_message_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed_bytes: 256 * 1024 * 1024,
            max_zip_members: 1_000,
            max_container_nesting: 4,
            max_xml_depth: 64,
            max_mime_parts: 1_000,
            max_mime_depth: 16,
            max_message_bytes: 32 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The largest value each cap may take.
    ///
    /// - decompressed bytes: 4 GiB (time: a minute of decompression and parsing);
    /// - message bytes: 1 GiB (a message is held in memory, and decoded once more);
    /// - zip members and MIME parts: 100,000 (an index entry each is kept in memory);
    /// - container nesting: 16, MIME depth: 100, XML depth: 1,024 (containers and multiparts
    ///   are walked by recursion: 16 × 100 levels fit a 2 MiB thread stack with room to spare).
    pub const HARD_MAX: Limits = Limits {
        max_decompressed_bytes: 4 * 1024 * 1024 * 1024,
        max_zip_members: 100_000,
        max_container_nesting: 16,
        max_xml_depth: 1_024,
        max_mime_parts: 100_000,
        max_mime_depth: 100,
        max_message_bytes: 1024 * 1024 * 1024,
    };

    /// Each cap brought into `1..=HARD_MAX` (0 becomes 1). The readers apply this to the
    /// limits they are given.
    pub fn bounded(&self) -> Limits {
        let max = Limits::HARD_MAX;
        Limits {
            max_decompressed_bytes: self
                .max_decompressed_bytes
                .clamp(1, max.max_decompressed_bytes),
            max_zip_members: self.max_zip_members.clamp(1, max.max_zip_members),
            max_container_nesting: self
                .max_container_nesting
                .clamp(1, max.max_container_nesting),
            max_xml_depth: self.max_xml_depth.clamp(1, max.max_xml_depth),
            max_mime_parts: self.max_mime_parts.clamp(1, max.max_mime_parts),
            max_mime_depth: self.max_mime_depth.clamp(1, max.max_mime_depth),
            max_message_bytes: self.max_message_bytes.clamp(1, max.max_message_bytes),
        }
    }

    /// The first cap outside `1..=HARD_MAX`, if any.
    pub fn check(&self) -> Result<(), LimitOutOfRange> {
        let max = Limits::HARD_MAX;
        let caps = [
            (
                "max_decompressed_bytes",
                self.max_decompressed_bytes,
                max.max_decompressed_bytes,
            ),
            (
                "max_zip_members",
                self.max_zip_members as u64,
                max.max_zip_members as u64,
            ),
            (
                "max_container_nesting",
                self.max_container_nesting as u64,
                max.max_container_nesting as u64,
            ),
            (
                "max_xml_depth",
                self.max_xml_depth as u64,
                max.max_xml_depth as u64,
            ),
            (
                "max_mime_parts",
                self.max_mime_parts as u64,
                max.max_mime_parts as u64,
            ),
            (
                "max_mime_depth",
                self.max_mime_depth as u64,
                max.max_mime_depth as u64,
            ),
            (
                "max_message_bytes",
                self.max_message_bytes,
                max.max_message_bytes,
            ),
        ];
        for (name, value, max) in caps {
            if !(1..=max).contains(&value) {
                return Err(LimitOutOfRange { name, value, max });
            }
        }
        Ok(())
    }
}

/// A [`Limits`] field outside `1..=`[`Limits::HARD_MAX`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} is {value}; it must be between 1 and {max}")]
pub struct LimitOutOfRange {
    /// The field's name.
    pub name: &'static str,
    /// Its value.
    pub value: u64,
    /// Its hard upper bound.
    pub max: u64,
}

/// Receives reports as they are read.
///
/// For each document the reader calls either `begin_report`, `record`* and `end_report`, or
/// `report_failed`; `report_failed` may also follow `begin_report` and some records, in which
/// case everything since `begin_report` must be discarded. Returning [`ControlFlow::Break`]
/// stops reading the input (e.g. the store hit a fatal database error).
pub trait Sink {
    /// A report's metadata and policy were read; its records follow.
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()>;
    /// One record of the current report.
    fn record(&mut self, record: Record) -> ControlFlow<()>;
    /// The current report ended well.
    fn end_report(&mut self, trailer: ReportTrailer) -> ControlFlow<()>;
    /// A whole SMTP TLS report (RFC 8460) was read. Never inside an aggregate report's
    /// `begin_report` … `end_report`.
    ///
    /// A sink that only takes aggregate reports keeps the default, which turns the TLS report
    /// into a failed document, so that it is never dropped without a word.
    fn tls_report(&mut self, member: Option<&str>, report: TlsReport) -> ControlFlow<()> {
        let reason = format!(
            "SMTP TLS report {:?} from {:?}: only DMARC aggregate reports are taken here",
            report.report_id, report.organization_name
        );
        self.report_failed(member, Error::NoReport(reason))
    }

    /// A whole DMARC failure report (RFC 6591) was read. Never inside an aggregate report's
    /// `begin_report` … `end_report`. Its fields are what the report says: a sink that keeps
    /// or shows it applies [`FailureReport::apply_privacy`] first.
    ///
    /// A sink that only takes aggregate reports keeps the default, which turns the failure
    /// report into a failed document, so that it is never dropped without a word.
    fn failure_report(&mut self, member: Option<&str>, report: FailureReport) -> ControlFlow<()> {
        let reason = format!(
            "a DMARC failure report for {}: only DMARC aggregate reports are taken here",
            report.reported_domain
        );
        self.report_failed(member, Error::NoReport(reason))
    }
    /// A document (named by its member or attachment name, if any) yielded no report, or the
    /// whole input held none (`member` is then `None`).
    fn report_failed(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()>;
}

/// Reads every report in `input` (a message, archive or XML document) into `sink`.
pub fn read_reports(input: &[u8], limits: &Limits, sink: &mut dyn Sink) {
    container::read_bytes(input, limits, sink);
}

/// Like [`read_reports`], for a seekable reader such as a file: archives and XML are streamed
/// from it, so a large input is never held in memory whole. Only a message (which must be
/// decoded as a whole) is read into memory, up to [`Limits::max_message_bytes`].
pub fn read_reports_from<R: Read + Seek>(input: R, limits: &Limits, sink: &mut dyn Sink) {
    container::read_seekable(input, limits, sink);
}

/// A failed document: the member or attachment name, if any, and why.
#[derive(Debug)]
pub struct Failure {
    /// The archive member or attachment name.
    pub member: Option<String>,
    /// What is wrong.
    pub error: Error,
}

/// Collects every report in `input` in memory. For callers that need neither streaming nor
/// bounded memory (tests, small tools).
pub fn parse_reports(input: &[u8], limits: &Limits) -> Vec<Result<AggregateReport, Failure>> {
    let mut collector = Collector::default();
    read_reports(input, limits, &mut collector);
    collector.results
}

/// A [`Sink`] that keeps whole reports in memory.
#[derive(Debug, Default)]
pub struct Collector {
    /// Reports and failures in input order.
    pub results: Vec<Result<AggregateReport, Failure>>,
    /// SMTP TLS reports in input order, with their member names.
    pub tls_reports: Vec<(Option<String>, TlsReport)>,
    /// DMARC failure reports in input order, with their member names, as the parser read
    /// them (no privacy applied).
    pub failure_reports: Vec<(Option<String>, FailureReport)>,
    current: Option<AggregateReport>,
}

impl Sink for Collector {
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()> {
        self.current = Some(AggregateReport {
            member: member.map(str::to_owned),
            header: header.clone(),
            records: Vec::new(),
            trailer: ReportTrailer::default(),
        });
        ControlFlow::Continue(())
    }

    fn record(&mut self, record: Record) -> ControlFlow<()> {
        if let Some(report) = &mut self.current {
            report.records.push(record);
        }
        ControlFlow::Continue(())
    }

    fn end_report(&mut self, trailer: ReportTrailer) -> ControlFlow<()> {
        if let Some(mut report) = self.current.take() {
            report.trailer = trailer;
            self.results.push(Ok(report));
        }
        ControlFlow::Continue(())
    }

    fn tls_report(&mut self, member: Option<&str>, report: TlsReport) -> ControlFlow<()> {
        self.tls_reports.push((member.map(str::to_owned), report));
        ControlFlow::Continue(())
    }

    fn failure_report(&mut self, member: Option<&str>, report: FailureReport) -> ControlFlow<()> {
        self.failure_reports
            .push((member.map(str::to_owned), report));
        ControlFlow::Continue(())
    }

    fn report_failed(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()> {
        self.current = None;
        self.results.push(Err(Failure {
            member: member.map(str::to_owned),
            error,
        }));
        ControlFlow::Continue(())
    }
}

/// Entry points for the fuzz targets in `fuzz/` and the mutation tests: each runs one stage
/// on arbitrary bytes and checks the [`Sink`] protocol. Not part of the API: only built with
/// the `fuzz` feature, which `fuzz/Cargo.toml` and this crate's own tests turn on.
#[cfg(feature = "fuzz")]
#[doc(hidden)]
pub mod fuzz {
    use super::*;
    use crate::protocol_check::ProtocolCheck;
    use std::io::Cursor;

    /// Smaller caps than the defaults, so a fuzzer spends its time on structure, not volume.
    fn limits() -> Limits {
        Limits {
            max_decompressed_bytes: 8 * 1024 * 1024,
            max_message_bytes: 8 * 1024 * 1024,
            ..Limits::default()
        }
    }

    /// The whole path from bytes in memory: [`read_reports`].
    pub fn whole(data: &[u8]) {
        let mut sink = ProtocolCheck::default();
        read_reports(data, &limits(), &mut sink);
        sink.finish();
    }

    /// The streaming path: [`read_reports_from`] on a seekable reader, which must yield
    /// exactly what [`read_reports`] yields from the same bytes.
    pub fn container(data: &[u8]) {
        let mut sink = ProtocolCheck::default();
        read_reports_from(Cursor::new(data), &limits(), &mut sink);
        sink.finish();
        let mut streamed = Collector::default();
        read_reports_from(Cursor::new(data), &limits(), &mut streamed);
        let mut in_memory = Collector::default();
        read_reports(data, &limits(), &mut in_memory);
        assert_eq!(
            outcomes(&streamed),
            outcomes(&in_memory),
            "streaming and in-memory reading disagree"
        );
    }

    /// What a collector holds, in a form two collectors can be compared in: aggregate
    /// reports or failures, then the TLS reports, then the failure reports.
    type Outcomes<'c> = (
        Vec<Result<&'c AggregateReport, String>>,
        &'c [(Option<String>, TlsReport)],
        &'c [(Option<String>, FailureReport)],
    );

    fn outcomes(collector: &Collector) -> Outcomes<'_> {
        let aggregate = collector
            .results
            .iter()
            .map(|result| match result {
                Ok(report) => Ok(report),
                Err(failure) => Err(format!("{:?}: {}", failure.member, failure.error)),
            })
            .collect();
        (
            aggregate,
            &collector.tls_reports,
            &collector.failure_reports,
        )
    }

    /// The TLS report parser alone, on one JSON document.
    pub fn tlsrpt(data: &[u8]) {
        if let Ok(report) = crate::tlsrpt::parse(&mut &data[..]) {
            assert!(!report.organization_name.is_empty() && !report.report_id.is_empty());
            assert!(report.policies.len() <= MAX_TLS_POLICIES);
        }
    }

    /// The failure report reader alone, on one message; privacy applied to what it read must
    /// leave no local part of an address behind.
    pub fn failure(data: &[u8]) {
        let Ok(parts) = crate::mime::leaf_parts(data, &limits()) else {
            return;
        };
        if let Some(Ok(mut report)) = crate::failure::from_message(data, &parts) {
            assert!(
                !report.reported_domain.is_empty(),
                "a report without a domain"
            );
            assert!(report.original_rcpt_to.len() <= MAX_RECIPIENTS);
            report.apply_privacy(FailurePrivacy::default());
            assert!(report.original_mail_from.is_none() && report.from.is_none());
            assert!(report.original_rcpt_to.is_empty() && report.subject.is_none());
        }
    }

    /// The MIME walker alone: split, decode every part, name and describe it.
    pub fn mime(data: &[u8]) {
        if let Ok(parts) = crate::mime::leaf_parts(data, &limits()) {
            for part in parts {
                let decoded = part.decoded();
                let _ = (part.display_name(), part.describe(decoded.len()));
            }
        }
    }

    /// The XML parser alone, on one document.
    pub fn xml(data: &[u8]) {
        let mut sink = ProtocolCheck::default();
        let _ = crate::xml::parse_document(data, None, &limits(), &mut sink);
        sink.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_bounded_against_the_hard_maximum() {
        assert_eq!(Limits::default().check(), Ok(()));
        assert_eq!(Limits::HARD_MAX.check(), Ok(()));
        assert_eq!(Limits::default().bounded(), Limits::default());
        let absurd = Limits {
            max_mime_depth: 100_000_000,
            max_zip_members: 0,
            ..Limits::default()
        };
        assert_eq!(
            absurd.check().unwrap_err().to_string(),
            "max_zip_members is 0; it must be between 1 and 100000"
        );
        let bounded = absurd.bounded();
        assert_eq!((bounded.max_mime_depth, bounded.max_zip_members), (100, 1));
        assert_eq!(bounded.check(), Ok(()));
    }
}
