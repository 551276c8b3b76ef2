//! `ruadb parse`: print the reports found in inputs, store nothing.
//!
//! JSON Lines (`--format json`) is the stable contract: one object per report, one error
//! object per document that yielded none. Each report object says its `kind`: `aggregate`
//! (DMARC), `tlsrpt` (SMTP TLS, RFC 8460) or `failure` (a DMARC failure report). Each
//! report is written as soon as it ends, so a directory of any size is processed in bounded
//! memory.
//!
//! A failure report is shown as it would be stored: `[failure_reports]` decides whether
//! addresses and the subject appear, as it decides whether the database keeps them. Output is
//! often saved or shared, and what the store would not keep should not leak this way.
//!
//! A report may still fail after some of its records (truncated XML), and then nothing of it
//! may be printed, so a report's JSON is held until it ends. For a large file (streamed from
//! disk) that buffer could grow with the report, so such a file is read twice instead: a
//! first pass learns which of its reports complete, the second writes those straight out.

use std::io::{self, Seek, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;

use ruadb_report::{
    FailurePrivacy, FailureReport, Limits, PolicyPublished, Record, ReportHeader, ReportTrailer,
    Sink, TlsReport, Warning, escape_for_terminal,
};

use crate::Outcome;
use crate::context::Context;
use crate::inputs::{self, Opened};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: `text` (one summary line per report) or `json` (JSON Lines).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Files or directories (searched recursively); `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    let stdout = io::stdout().lock();
    let mut printer = Printer {
        out: io::BufWriter::new(stdout),
        format: args.format,
        failed: false,
        privacy: context.config.failure_privacy,
    };
    let limits = &context.config.limits;
    inputs::for_each_input(&args.paths, limits.max_message_bytes, &mut |input| {
        match input {
            Ok(input) => printer.input(&input.name, input.open(), limits)?,
            Err(failure) => printer.failure(
                &failure.name,
                None,
                &format!("cannot read: {}", failure.error),
            )?,
        }
        // Flushed per input so that output keeps pace with a slow walk.
        printer.out.flush().context("cannot write to stdout")
    })?;
    printer.out.flush().context("cannot write to stdout")?;
    Ok(Outcome::from_failures(printer.failed))
}

struct Printer<W: Write> {
    out: W,
    format: Format,
    failed: bool,
    privacy: FailurePrivacy,
}

impl<W: Write> Printer<W> {
    fn input(
        &mut self,
        name: &str,
        opened: io::Result<Opened<'_>>,
        limits: &Limits,
    ) -> anyhow::Result<()> {
        let opened = match opened {
            Ok(opened) => opened,
            Err(error) => return self.failure(name, None, &format!("cannot read: {error}")),
        };
        let mut sink = ReportWriter {
            source: name,
            format: self.format,
            out: &mut self.out,
            current: None,
            known_complete: None,
            report_index: 0,
            seen_anything: false,
            failed: false,
            write_error: None,
            privacy: self.privacy,
        };
        match opened {
            Opened::Bytes(bytes) => ruadb_report::read_reports(&bytes, limits, &mut sink),
            Opened::Stream(mut reader) if self.format == Format::Json => {
                let mut scan = CompletionScan::default();
                ruadb_report::read_reports_from(&mut reader, limits, &mut scan);
                if let Err(error) = reader.rewind() {
                    return self.failure(name, None, &format!("cannot read: {error}"));
                }
                sink.known_complete = Some(scan.complete);
                ruadb_report::read_reports_from(reader, limits, &mut sink);
            }
            Opened::Stream(reader) => ruadb_report::read_reports_from(reader, limits, &mut sink),
        }
        if let Some(error) = sink.write_error {
            return Err(error).context("cannot write to stdout");
        }
        self.failed |= sink.failed;
        if !sink.seen_anything {
            self.failure(name, None, "no DMARC aggregate or SMTP TLS report found")?;
        }
        Ok(())
    }

    fn failure(&mut self, source: &str, member: Option<&str>, error: &str) -> anyhow::Result<()> {
        self.failed = true;
        write_failure(&mut self.out, self.format, source, member, error)
            .context("cannot write to stdout")
    }
}

/// JSON: an error object on stdout (part of the contract). Text: a line on stderr, so that
/// stdout holds only reports.
fn write_failure(
    out: &mut impl Write,
    format: Format,
    source: &str,
    member: Option<&str>,
    error: &str,
) -> io::Result<()> {
    match format {
        Format::Json => {
            let object = ErrorObject {
                source,
                member,
                error,
            };
            serde_json::to_writer(&mut *out, &object)?;
            writeln!(out)
        }
        Format::Text => {
            let (source, error) = (escape_for_terminal(source), escape_for_terminal(error));
            match member.map(escape_for_terminal) {
                Some(member) => eprintln!("{source}: {member}: {error}"),
                None => eprintln!("{source}: {error}"),
            }
            Ok(())
        }
    }
}

/// `{"source","member","error"}` of the `ruadb parse` contract.
#[derive(Serialize)]
struct ErrorObject<'a> {
    source: &'a str,
    member: Option<&'a str>,
    error: &'a str,
}

/// The part of a report object before `records`, in contract key order.
#[derive(Serialize)]
struct ReportHead<'a> {
    source: &'a str,
    member: Option<&'a str>,
    kind: &'static str,
    format: &'a str,
    org_name: &'a str,
    email: &'a str,
    report_id: &'a str,
    begin: i64,
    end: i64,
    policy: &'a PolicyPublished,
}

/// A `"kind": "tlsrpt"` object of the `ruadb parse` contract: the report's own fields
/// follow `source, member, kind`.
#[derive(Serialize)]
struct TlsObject<'a> {
    source: &'a str,
    member: Option<&'a str>,
    kind: &'static str,
    #[serde(flatten)]
    report: &'a TlsReport,
}

/// A `"kind": "failure"` object of the `ruadb parse` contract: the report's own fields
/// follow `source, member, kind`.
#[derive(Serialize)]
struct FailureObject<'a> {
    source: &'a str,
    member: Option<&'a str>,
    kind: &'static str,
    #[serde(flatten)]
    report: &'a FailureReport,
}

/// Where a report's JSON goes while it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Emit {
    /// Held in `CurrentReport::json` until the report ends (or is dropped if it fails).
    Buffer,
    /// Written straight to the output: a first pass showed that this report completes.
    Direct,
    /// Not written: a first pass showed that this report fails.
    Discard,
}

/// The report being read: where its JSON goes, and the tallies of the text format.
struct CurrentReport {
    emit: Emit,
    json: Vec<u8>,
    records: u64,
    messages: u64,
    header: ReportHeader,
    member: Option<String>,
}

/// A [`Sink`] printing each report when it ends.
struct ReportWriter<'a, W: Write> {
    source: &'a str,
    format: Format,
    out: &'a mut W,
    current: Option<CurrentReport>,
    /// From a first pass over a large input: whether each of its reports (in order) completes.
    known_complete: Option<Vec<bool>>,
    /// Reports begun so far in this input.
    report_index: usize,
    /// Whether a report or a failure was seen: an input that yields neither is a failure.
    seen_anything: bool,
    failed: bool,
    write_error: Option<io::Error>,
    /// What of a failure report is shown.
    privacy: FailurePrivacy,
}

impl<W: Write> ReportWriter<'_, W> {
    /// Keeps the first write error and stops reading: the output is gone (e.g. a closed pipe).
    fn stop_on_error(&mut self, result: io::Result<()>) -> ControlFlow<()> {
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                self.write_error = Some(error);
                ControlFlow::Break(())
            }
        }
    }

    fn begin_json(&self, member: Option<&str>, header: &ReportHeader) -> io::Result<Vec<u8>> {
        let head = ReportHead {
            source: self.source,
            member,
            kind: "aggregate",
            format: header.format.as_str(),
            org_name: &header.metadata.org_name,
            email: &header.metadata.email,
            report_id: &header.metadata.report_id,
            begin: header.metadata.begin,
            end: header.metadata.end,
            policy: &header.policy,
        };
        let mut json = serde_json::to_vec(&head)?;
        // Reopen the object (drop its `}`) to stream the records into it.
        json.pop();
        json.extend_from_slice(br#","records":["#);
        Ok(json)
    }

    /// One line per report, its warnings below; everything from the input escaped, since this
    /// is read on a terminal.
    fn write_text(&mut self, report: &CurrentReport, trailer: &ReportTrailer) -> io::Result<()> {
        let metadata = &report.header.metadata;
        let source = self.label(report.member.as_deref());
        let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        writeln!(
            self.out,
            "{source}: {org} report {id} for {domain}, {begin} to {end}, {records}, {messages} ({format})",
            org = if metadata.org_name.is_empty() {
                "(no org_name)".into()
            } else {
                escape_for_terminal(&metadata.org_name)
            },
            id = escape_for_terminal(&metadata.report_id),
            domain = escape_for_terminal(&report.header.policy.domain),
            begin = utc(metadata.begin),
            end = utc(metadata.end),
            records = plural(report.records, "record"),
            messages = plural(report.messages, "message"),
            format = report.header.format.as_str(),
        )?;
        self.write_warnings(&trailer.warnings)
    }

    /// A failure report, whole: JSON, or one line with its warnings below.
    fn write_failure_report(
        &mut self,
        member: Option<&str>,
        report: &FailureReport,
    ) -> io::Result<()> {
        if self.format == Format::Json {
            let object = FailureObject {
                source: self.source,
                member,
                kind: "failure",
                report,
            };
            serde_json::to_writer(&mut *self.out, &object)?;
            return writeln!(self.out);
        }
        let source = self.label(member);
        let or_unknown = |value: Option<String>| value.unwrap_or_else(|| "unknown".to_owned());
        writeln!(
            self.out,
            "{source}: {reporter} failure report for {domain}: {failure} failure from {ip}, arrived {arrival} ({format})",
            reporter = escape_for_terminal(&or_unknown(
                report.reporter.as_ref().map(ToString::to_string)
            )),
            domain = escape_for_terminal(&report.reported_domain),
            failure = escape_for_terminal(report.auth_failure.as_deref().unwrap_or("unstated")),
            ip = or_unknown(report.source_ip.map(|ip| ip.to_string())),
            arrival = or_unknown(report.arrival.map(utc)),
            format = report.format.as_str(),
        )?;
        self.write_warnings(&report.warnings)
    }

    /// A report's warnings, one indented line each, below its line.
    fn write_warnings(&mut self, warnings: &[Warning]) -> io::Result<()> {
        for warning in warnings {
            writeln!(
                self.out,
                "  warning: {}",
                escape_for_terminal(&warning.to_string())
            )?;
        }
        Ok(())
    }

    fn write_tls(&mut self, member: Option<&str>, report: &TlsReport) -> io::Result<()> {
        if self.format == Format::Json {
            let object = TlsObject {
                source: self.source,
                member,
                kind: "tlsrpt",
                report,
            };
            serde_json::to_writer(&mut *self.out, &object)?;
            return writeln!(self.out);
        }
        let source = self.label(member);
        let (successful, failed) = report.policies.iter().fold((0u64, 0u64), |sum, p| {
            (
                sum.0.saturating_add(p.successful_sessions),
                sum.1.saturating_add(p.failed_sessions),
            )
        });
        let mut domains: Vec<&str> = report
            .policies
            .iter()
            .filter_map(|policy| policy.policy_domain.as_deref())
            .collect();
        domains.dedup();
        writeln!(
            self.out,
            "{source}: {org} TLS report {id} for {domains}, {begin} to {end}, {successful} successful and {failed} failed sessions (tlsrpt)",
            org = escape_for_terminal(&report.organization_name),
            id = escape_for_terminal(&report.report_id),
            domains = if domains.is_empty() {
                "(no policy-domain)".to_owned()
            } else {
                escape_for_terminal(&domains.join(", ")).into_owned()
            },
            begin = utc(report.begin),
            end = utc(report.end),
        )?;
        self.write_warnings(&report.warnings)
    }

    /// The input, and the member inside it, as a text line names them.
    fn label(&self, member: Option<&str>) -> String {
        let mut source = escape_for_terminal(self.source).into_owned();
        if let Some(member) = member {
            source = format!("{source} [{}]", escape_for_terminal(member));
        }
        source
    }

    fn finish(&mut self, report: CurrentReport, trailer: &ReportTrailer) -> io::Result<()> {
        match self.format {
            Format::Json => {
                let mut json = report.json;
                json.extend_from_slice(br#"],"warnings":"#);
                serde_json::to_writer(&mut json, &trailer.warnings)?;
                json.extend_from_slice(b"}\n");
                match report.emit {
                    Emit::Discard => Ok(()),
                    Emit::Buffer | Emit::Direct => self.out.write_all(&json),
                }
            }
            Format::Text => self.write_text(&report, trailer),
        }
    }
}

fn utc(seconds: i64) -> String {
    match chrono::DateTime::from_timestamp(seconds, 0) {
        Some(time) => time.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        None => seconds.to_string(),
    }
}

impl<W: Write> Sink for ReportWriter<'_, W> {
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()> {
        let emit = match &self.known_complete {
            None => Emit::Buffer,
            Some(complete) if complete.get(self.report_index) == Some(&true) => Emit::Direct,
            Some(_) => Emit::Discard,
        };
        self.report_index += 1;
        let mut json = Vec::new();
        if self.format == Format::Json && emit != Emit::Discard {
            json = match self.begin_json(member, header) {
                Ok(json) => json,
                Err(error) => return self.stop_on_error(Err(error)),
            };
            if emit == Emit::Direct {
                let written = self.out.write_all(&json);
                json.clear();
                if written.is_err() {
                    return self.stop_on_error(written);
                }
            }
        }
        self.current = Some(CurrentReport {
            emit,
            json,
            records: 0,
            messages: 0,
            header: header.clone(),
            member: member.map(str::to_owned),
        });
        ControlFlow::Continue(())
    }

    fn record(&mut self, record: Record) -> ControlFlow<()> {
        let Some(report) = &mut self.current else {
            return ControlFlow::Continue(());
        };
        if self.format == Format::Json {
            let separator: &[u8] = if report.records > 0 { b"," } else { b"" };
            let written = match report.emit {
                Emit::Buffer => {
                    report.json.extend_from_slice(separator);
                    serde_json::to_writer(&mut report.json, &record).map_err(io::Error::from)
                }
                Emit::Direct => self
                    .out
                    .write_all(separator)
                    .and_then(|()| Ok(serde_json::to_writer(&mut *self.out, &record)?)),
                Emit::Discard => Ok(()),
            };
            if written.is_err() {
                return self.stop_on_error(written);
            }
        }
        report.records += 1;
        report.messages = report.messages.saturating_add(record.count);
        ControlFlow::Continue(())
    }

    fn end_report(&mut self, trailer: ReportTrailer) -> ControlFlow<()> {
        let Some(report) = self.current.take() else {
            return ControlFlow::Continue(());
        };
        self.seen_anything = true;
        let written = self.finish(report, &trailer);
        self.stop_on_error(written)
    }

    fn tls_report(&mut self, member: Option<&str>, report: TlsReport) -> ControlFlow<()> {
        self.seen_anything = true;
        let written = self.write_tls(member, &report);
        self.stop_on_error(written)
    }

    fn failure_report(
        &mut self,
        member: Option<&str>,
        mut report: FailureReport,
    ) -> ControlFlow<()> {
        self.seen_anything = true;
        report.apply_privacy(self.privacy);
        let written = self.write_failure_report(member, &report);
        self.stop_on_error(written)
    }

    fn report_failed(
        &mut self,
        member: Option<&str>,
        error: ruadb_report::Error,
    ) -> ControlFlow<()> {
        self.current = None;
        self.seen_anything = true;
        self.failed = true;
        let written = write_failure(
            self.out,
            self.format,
            self.source,
            member,
            &error.to_string(),
        );
        self.stop_on_error(written)
    }
}

/// The first pass over a large input: which of its reports complete.
#[derive(Default)]
struct CompletionScan {
    in_report: bool,
    complete: Vec<bool>,
}

impl Sink for CompletionScan {
    fn begin_report(&mut self, _member: Option<&str>, _header: &ReportHeader) -> ControlFlow<()> {
        self.in_report = true;
        ControlFlow::Continue(())
    }

    fn record(&mut self, _record: Record) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    fn end_report(&mut self, _trailer: ReportTrailer) -> ControlFlow<()> {
        if std::mem::take(&mut self.in_report) {
            self.complete.push(true);
        }
        ControlFlow::Continue(())
    }

    fn tls_report(&mut self, _member: Option<&str>, _report: TlsReport) -> ControlFlow<()> {
        // Written whole when it arrives, so the second pass needs to know nothing of it.
        ControlFlow::Continue(())
    }

    fn failure_report(&mut self, _member: Option<&str>, _report: FailureReport) -> ControlFlow<()> {
        // Written whole when it arrives, so the second pass needs to know nothing of it.
        ControlFlow::Continue(())
    }

    fn report_failed(
        &mut self,
        _member: Option<&str>,
        _error: ruadb_report::Error,
    ) -> ControlFlow<()> {
        if std::mem::take(&mut self.in_report) {
            self.complete.push(false);
        }
        ControlFlow::Continue(())
    }
}
