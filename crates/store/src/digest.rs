//! What the store derives from a report stream before any SQL: the content hash of each
//! report, and the recomputed alignment and the source IP's text of each record. Computed by
//! [`Digesting`], which wraps a [`DigestedSink`]; it runs on the parser threads for the inputs
//! they parse (`worker`), and on the batch thread for inputs parsed there.

use crate::alignment::{self, Alignment};
use crate::content_hash::{ContentHasher, tls_content_hash};
use crate::sql_value::IpText;
use ruadb_report::{
    AlignmentMode, Error, FailureReport, Record, ReportHeader, ReportTrailer, Sink, TlsReport,
};
use std::ops::ControlFlow;

/// A report stream with each record's alignment and source IP text, and each report's
/// content hash.
pub(crate) trait DigestedSink {
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()>;
    fn record(
        &mut self,
        record: Record,
        alignment: Alignment,
        source_ip: IpText,
    ) -> ControlFlow<()>;
    fn end_report(&mut self, trailer: ReportTrailer, content_hash: [u8; 32]) -> ControlFlow<()>;
    fn failure_report(&mut self, member: Option<&str>, report: FailureReport) -> ControlFlow<()>;
    fn report_failed(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()>;
    fn tls_report(
        &mut self,
        member: Option<&str>,
        report: TlsReport,
        content_hash: [u8; 32],
    ) -> ControlFlow<()>;
}

/// Adapts a [`DigestedSink`] to the parser's [`Sink`].
pub(crate) struct Digesting<'a, S: ?Sized> {
    inner: &'a mut S,
    current: Option<Current>,
}

struct Current {
    hasher: ContentHasher,
    dkim_mode: Option<AlignmentMode>,
    spf_mode: Option<AlignmentMode>,
}

impl<'a, S: DigestedSink + ?Sized> Digesting<'a, S> {
    pub(crate) fn new(inner: &'a mut S) -> Self {
        Digesting {
            inner,
            current: None,
        }
    }
}

impl<S: DigestedSink + ?Sized> Sink for Digesting<'_, S> {
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()> {
        let mut hasher = ContentHasher::default();
        hasher.header(header);
        self.current = Some(Current {
            hasher,
            dkim_mode: header.policy.dkim_alignment.clone(),
            spf_mode: header.policy.spf_alignment.clone(),
        });
        self.inner.begin_report(member, header)
    }

    fn record(&mut self, record: Record) -> ControlFlow<()> {
        let Some(current) = &mut self.current else {
            return ControlFlow::Continue(());
        };
        current.hasher.record(&record);
        let alignment = alignment::evaluate(
            &record,
            current.dkim_mode.as_ref(),
            current.spf_mode.as_ref(),
        );
        let source_ip = IpText::new(record.source_ip);
        self.inner.record(record, alignment, source_ip)
    }

    fn end_report(&mut self, trailer: ReportTrailer) -> ControlFlow<()> {
        let Some(mut current) = self.current.take() else {
            return ControlFlow::Continue(());
        };
        current.hasher.strings(&trailer.extensions);
        self.inner.end_report(trailer, current.hasher.finish())
    }

    fn failure_report(&mut self, member: Option<&str>, report: FailureReport) -> ControlFlow<()> {
        self.inner.failure_report(member, report)
    }

    fn report_failed(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()> {
        self.current = None;
        self.inner.report_failed(member, error)
    }

    fn tls_report(&mut self, member: Option<&str>, report: TlsReport) -> ControlFlow<()> {
        let content_hash = tls_content_hash(&report);
        self.inner.tls_report(member, report, content_hash)
    }
}
