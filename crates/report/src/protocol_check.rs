//! A [`Sink`] that checks the call protocol (`begin_report`, `record`*, then `end_report` or
//! `report_failed`, once per report; `tls_report` and `failure_report` outside a report),
//! shared by the fuzz entry points and the unit tests.

use crate::{Error, FailureReport, Record, ReportHeader, ReportTrailer, Sink, TlsReport};
use std::ops::ControlFlow;

/// Panics when the calls break the [`Sink`] contract.
#[derive(Default)]
pub(crate) struct ProtocolCheck {
    /// Inside a report: begun, not yet ended nor failed.
    pub(crate) open: bool,
    /// Reports ended or failed so far.
    pub(crate) outcomes: usize,
}

impl ProtocolCheck {
    /// Panics unless the input ended cleanly with at least one outcome.
    pub(crate) fn finish(&self) {
        assert!(!self.open, "a report was begun and never ended nor failed");
        assert!(self.outcomes > 0, "an input ended without any outcome");
    }
}

impl Sink for ProtocolCheck {
    fn begin_report(&mut self, _: Option<&str>, header: &ReportHeader) -> ControlFlow<()> {
        assert!(!self.open, "begin_report inside a report");
        assert!(
            !header.metadata.report_id.is_empty(),
            "report without an id"
        );
        self.open = true;
        ControlFlow::Continue(())
    }

    fn record(&mut self, _: Record) -> ControlFlow<()> {
        assert!(self.open, "record outside a report");
        ControlFlow::Continue(())
    }

    fn end_report(&mut self, _: ReportTrailer) -> ControlFlow<()> {
        assert!(self.open, "end_report without begin_report");
        self.open = false;
        self.outcomes += 1;
        ControlFlow::Continue(())
    }

    fn tls_report(&mut self, _: Option<&str>, report: TlsReport) -> ControlFlow<()> {
        assert!(!self.open, "tls_report inside an aggregate report");
        assert!(!report.report_id.is_empty(), "TLS report without an id");
        self.outcomes += 1;
        ControlFlow::Continue(())
    }

    fn failure_report(&mut self, _: Option<&str>, report: FailureReport) -> ControlFlow<()> {
        assert!(!self.open, "failure_report inside an aggregate report");
        assert!(
            !report.reported_domain.is_empty(),
            "failure report without a domain"
        );
        self.outcomes += 1;
        ControlFlow::Continue(())
    }

    fn report_failed(&mut self, _: Option<&str>, _: Error) -> ControlFlow<()> {
        self.open = false;
        self.outcomes += 1;
        ControlFlow::Continue(())
    }
}
