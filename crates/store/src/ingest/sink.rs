//! The storing sink: decides for each report whether it is new (stored), a duplicate, a
//! conflict or rejected, and writes it as the parser streams it.

use super::failure::{FailureStored, store_failure_report};
use super::identify::Handover;
use super::rows::{
    PendingRecord, RECORDS_PER_FLUSH, insert_rejected, insert_report, write_records,
};
use super::tls::{TlsStored, store_tls_report};
use super::{InputFailure, MessageOutcome};
use crate::alignment;
use crate::classify::is_forwarding_reason;
use crate::digest::DigestedSink;
use crate::rollup::{DkimFact, Interner, RecordFold, ReportRollup, RollupWriter, SpfFact};
use crate::sql_value::IpText;
use crate::{StoreError, StoreOptions};
use ruadb_report::{
    DomainName, FailureReport, Record, ReportHeader, ReportTrailer, SpfScope, TlsReport,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::ops::ControlFlow;

/// Record text ([`Record::text_bytes`]) held before the pending records are written, besides
/// [`RECORDS_PER_FLUSH`]: records of up to [`ruadb_report::MAX_RECORD_BYTES`] each are
/// written a few at a time.
const PENDING_TEXT_BYTES: usize = 64 * 1024;

/// Whether `options.domains` accepts `domain` (a listed domain accepts its subdomains).
pub(super) fn accepts(options: &StoreOptions, domain: &DomainName) -> bool {
    let Some(domains) = &options.domains else {
        return true;
    };
    domains.iter().any(|accepted| domain.is_within(accepted))
}

/// What happens to the report being read.
enum Target {
    /// New: its rows are being written (and are deleted again if it fails), its rollup
    /// folded.
    Store {
        report_row: i64,
        rollup: Box<ReportRollup>,
    },
    /// Its key is stored already: only hashed, to tell a duplicate from a conflict.
    Compare {
        kept_report: i64,
        kept_hash: Vec<u8>,
    },
    /// Its policy domain is not accepted.
    Reject {
        org_name: String,
        report_id: String,
        policy_domain: String,
    },
}

struct CurrentReport {
    target: Target,
    member: Option<String>,
    records: u64,
    messages: u64,
}

/// Writes one message's reports as the parser streams them.
pub(super) struct StoreSink<'c> {
    connection: &'c Connection,
    options: &'c StoreOptions,
    message_id: i64,
    /// Records of the current report not written yet, oldest first.
    pending: Vec<PendingRecord>,
    /// Their text ([`Record::text_bytes`]): large records are written in smaller groups.
    pending_text: usize,
    /// The id of the next record: ids are assigned here so that a record's results can be
    /// written in the same multi-row statements as other records' results.
    next_record_id: i64,
    /// The rollups of this transaction: names looked up, cells not written yet.
    rollups: &'c mut RollupWriter,
    /// Where records go once written, for identification alongside the ingest.
    identify: Option<&'c mut Handover>,
    current: Option<CurrentReport>,
    outcome: MessageOutcome,
    documents: u64,
    fatal: Option<StoreError>,
    /// Renderings of the failure reports read (what replaces the input's raw bytes).
    failure_renderings: Vec<Vec<u8>>,
}

impl<'c> StoreSink<'c> {
    pub(super) fn new(
        connection: &'c Connection,
        options: &'c StoreOptions,
        message_id: i64,
        rollups: &'c mut RollupWriter,
        identify: Option<&'c mut Handover>,
    ) -> Result<Self, StoreError> {
        Ok(StoreSink {
            connection,
            options,
            message_id,
            pending: Vec::with_capacity(RECORDS_PER_FLUSH),
            pending_text: 0,
            next_record_id: connection
                .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM records")?
                .query_row([], |row| row.get(0))?,
            rollups,
            identify,
            current: None,
            outcome: MessageOutcome::default(),
            documents: 0,
            fatal: None,
            failure_renderings: Vec::new(),
        })
    }

    /// The outcome, and the renderings of the failure reports read (empty if none).
    pub(super) fn finish(mut self) -> Result<(MessageOutcome, Vec<Vec<u8>>), StoreError> {
        if let Some(error) = self.fatal.take() {
            return Err(error);
        }
        if self.current.is_some() {
            // The parser promises end_report or report_failed after begin_report; if it broke
            // that promise, treat the unfinished report as failed rather than keep half of it.
            self.fail_current()?;
            self.record_failure(None, "the report ended unexpectedly".to_owned())?;
        }
        if self.documents == 0 {
            self.record_failure(None, "no DMARC aggregate report found".to_owned())?;
        }
        Ok((self.outcome, self.failure_renderings))
    }

    fn accepts(&self, policy_domain: &DomainName) -> bool {
        accepts(self.options, policy_domain)
    }

    fn tls(
        &mut self,
        member: Option<&str>,
        report: &TlsReport,
        content_hash: [u8; 32],
    ) -> Result<(), StoreError> {
        if self.current.is_some() {
            self.fail_current()?;
        }
        self.documents += 1;
        let stored = store_tls_report(
            self.connection,
            self.options,
            self.message_id,
            member,
            report,
            content_hash,
        )?;
        match stored {
            TlsStored::New => self.outcome.tls_reports_new += 1,
            TlsStored::Duplicate => self.outcome.tls_duplicates += 1,
            TlsStored::Conflict => self.outcome.tls_conflicts += 1,
            TlsStored::Rejected(domains) => self.outcome.rejected_domains.extend(domains),
        }
        Ok(())
    }

    fn failure(&mut self, member: Option<&str>, report: FailureReport) -> Result<(), StoreError> {
        if self.current.is_some() {
            self.fail_current()?;
        }
        self.documents += 1;
        let stored = store_failure_report(
            self.connection,
            self.options,
            self.message_id,
            member,
            report,
            &mut self.failure_renderings,
        )?;
        match stored {
            FailureStored::New => self.outcome.failure_reports_new += 1,
            FailureStored::Duplicate => self.outcome.failure_duplicates += 1,
            FailureStored::Rejected(domain) => self.outcome.rejected_domains.push(domain),
        }
        Ok(())
    }

    fn begin(&mut self, member: Option<&str>, header: &ReportHeader) -> Result<(), StoreError> {
        if self.current.is_some() {
            self.fail_current()?;
        }
        self.documents += 1;
        let metadata = &header.metadata;
        let policy = &header.policy;
        let target = if !self.accepts(&policy.domain) {
            Target::Reject {
                org_name: metadata.org_name.clone(),
                report_id: metadata.report_id.clone(),
                policy_domain: policy.domain.to_string(),
            }
        } else if let Some((kept_report, kept_hash)) = self
            .connection
            .prepare_cached(
                // The reporter's name in another case is the same reporter (migration
                // 0002 indexes the key this way).
                "SELECT id, content_hash FROM reports
                 WHERE report_id = ?2 AND policy_domain = ?3 AND org_name = ?1 COLLATE NOCASE",
            )?
            .query_row(
                params![
                    metadata.org_name,
                    metadata.report_id,
                    policy.domain.as_str()
                ],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?
        {
            Target::Compare {
                kept_report,
                kept_hash,
            }
        } else {
            Target::Store {
                report_row: insert_report(self.connection, self.message_id, member, header)?,
                rollup: Box::new(ReportRollup::new(
                    self.connection,
                    &mut self.rollups.names,
                    policy.domain.as_str(),
                    &metadata.org_name,
                    metadata.begin,
                    metadata.end,
                )?),
            }
        };
        self.current = Some(CurrentReport {
            target,
            member: member.map(str::to_owned),
            records: 0,
            messages: 0,
        });
        Ok(())
    }

    fn end(&mut self, trailer: &ReportTrailer, content_hash: [u8; 32]) -> Result<(), StoreError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        let record_count = i64::try_from(current.records).unwrap_or(i64::MAX);
        let message_total = i64::try_from(current.messages).unwrap_or(i64::MAX);
        match current.target {
            Target::Store { report_row, rollup } => {
                self.write_pending()?;
                self.rollups.add_report(self.connection, *rollup)?;
                let extensions = (!trailer.extensions.is_empty())
                    .then(|| serde_json::to_string(&trailer.extensions).unwrap_or_default());
                self.connection
                    .prepare_cached(
                        "UPDATE reports SET content_hash = ?2, record_count = ?3,
                         message_total = ?4, extensions = ?5 WHERE id = ?1",
                    )?
                    .execute(params![
                        report_row,
                        content_hash,
                        record_count,
                        message_total,
                        extensions
                    ])?;
                let mut insert_warning = self.connection.prepare_cached(
                    "INSERT INTO report_warnings (report, warning) VALUES (?1, ?2)",
                )?;
                for warning in &trailer.warnings {
                    insert_warning.execute(params![report_row, warning.0])?;
                }
                self.outcome.reports_new += 1;
                self.outcome.records += current.records;
            }
            Target::Compare {
                kept_report,
                kept_hash,
            } => {
                if kept_hash.as_slice() == content_hash.as_slice() {
                    self.connection
                        .prepare_cached(
                            "INSERT INTO report_duplicates (kept_report, message_id, member)
                             VALUES (?1, ?2, ?3)",
                        )?
                        .execute(params![kept_report, self.message_id, current.member])?;
                    self.outcome.duplicates += 1;
                } else {
                    self.connection
                        .prepare_cached(
                            "INSERT INTO report_conflicts (kept_report, message_id, member,
                                content_hash, record_count, message_total)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![
                            kept_report,
                            self.message_id,
                            current.member,
                            content_hash,
                            record_count,
                            message_total
                        ])?;
                    self.outcome.conflicts += 1;
                }
            }
            Target::Reject {
                org_name,
                report_id,
                policy_domain,
            } => {
                insert_rejected(
                    self.connection,
                    self.message_id,
                    current.member.as_deref(),
                    &org_name,
                    &report_id,
                    &policy_domain,
                )?;
                self.outcome.rejected_domains.push(policy_domain);
            }
        }
        Ok(())
    }

    /// Writes the pending records, then hands them to identification (or drops them).
    fn write_pending(&mut self) -> Result<(), StoreError> {
        self.pending_text = 0;
        write_records(self.connection, &self.pending)?;
        match &mut self.identify {
            Some(identify) => identify.hand(&mut self.pending),
            None => self.pending.clear(),
        }
        Ok(())
    }

    /// Drops the report being read and every row written for it.
    ///
    /// Deleted explicitly rather than with a savepoint per report: a savepoint makes SQLite
    /// copy every page the report touches, for every report, while failures are rare.
    fn fail_current(&mut self) -> Result<(), StoreError> {
        self.pending.clear();
        self.pending_text = 0;
        if let Some(CurrentReport {
            target: Target::Store { report_row, rollup },
            ..
        }) = self.current.take()
        {
            if let Some(identify) = &mut self.identify {
                // Some of its records may have been handed over.
                identify.undone();
            }
            for sql in [
                "DELETE FROM dkim_results WHERE record IN (SELECT id FROM records WHERE report = ?1)",
                "DELETE FROM spf_results WHERE record IN (SELECT id FROM records WHERE report = ?1)",
                "DELETE FROM reasons WHERE record IN (SELECT id FROM records WHERE report = ?1)",
                "DELETE FROM records WHERE report = ?1",
                "DELETE FROM reports WHERE id = ?1",
            ] {
                self.connection.prepare_cached(sql)?.execute([report_row])?;
            }
            if rollup.written_early() {
                // Some of its cells are merged into the day's rows already: the day is
                // counted again from the records left.
                let (domain, day) = rollup.place();
                self.rollups.rebuild_day(self.connection, domain, day)?;
            }
        }
        Ok(())
    }

    fn record_failure(&mut self, member: Option<&str>, message: String) -> Result<(), StoreError> {
        self.connection
            .prepare_cached(
                "INSERT INTO ingest_errors (message_id, member, error) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![self.message_id, member, message])?;
        self.outcome.errors.push(InputFailure {
            member: member.map(str::to_owned),
            message,
        });
        Ok(())
    }

    /// Turns a database error into a stop: kept for `finish`, which returns it.
    fn check(&mut self, result: Result<(), StoreError>) -> ControlFlow<()> {
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                self.fatal = Some(error);
                ControlFlow::Break(())
            }
        }
    }
}

impl DigestedSink for StoreSink<'_> {
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()> {
        let result = self.begin(member, header);
        self.check(result)
    }

    fn record(
        &mut self,
        record: Record,
        alignment: alignment::Alignment,
        source_ip: IpText,
    ) -> ControlFlow<()> {
        let Some(current) = &mut self.current else {
            return ControlFlow::Continue(());
        };
        current.records += 1;
        current.messages = current.messages.saturating_add(record.count);
        let Target::Store { report_row, rollup } = &mut current.target else {
            return ControlFlow::Continue(());
        };
        let report_row = *report_row;
        let folded = fold(
            self.connection,
            &mut self.rollups.names,
            rollup,
            &record,
            &alignment,
            source_ip.as_str(),
        );
        if self.check(folded).is_break() {
            return ControlFlow::Break(());
        }
        self.pending_text += record.text_bytes();
        self.pending.push(PendingRecord {
            id: self.next_record_id,
            report_row,
            record,
            alignment,
            source_ip,
        });
        self.next_record_id += 1;
        if self.pending.len() < RECORDS_PER_FLUSH && self.pending_text < PENDING_TEXT_BYTES {
            return ControlFlow::Continue(());
        }
        let result = self.write_pending();
        self.check(result)
    }

    fn end_report(&mut self, trailer: ReportTrailer, content_hash: [u8; 32]) -> ControlFlow<()> {
        let result = self.end(&trailer, content_hash);
        self.check(result)
    }

    fn tls_report(
        &mut self,
        member: Option<&str>,
        report: TlsReport,
        content_hash: [u8; 32],
    ) -> ControlFlow<()> {
        let result = self.tls(member, &report, content_hash);
        self.check(result)
    }

    fn failure_report(&mut self, member: Option<&str>, report: FailureReport) -> ControlFlow<()> {
        let result = self.failure(member, report);
        self.check(result)
    }

    fn report_failed(
        &mut self,
        member: Option<&str>,
        error: ruadb_report::Error,
    ) -> ControlFlow<()> {
        self.documents += 1;
        let result = self
            .fail_current()
            .and_then(|()| self.record_failure(member, error.to_string()));
        self.check(result)
    }
}

/// Folds a parsed record into its report's rollup.
fn fold(
    connection: &Connection,
    names: &mut Interner,
    rollup: &mut ReportRollup,
    record: &Record,
    alignment: &alignment::Alignment,
    source_ip: &str,
) -> Result<(), StoreError> {
    rollup.add(
        connection,
        names,
        RecordFold {
            source_ip,
            messages: record.count,
            disposition: &record.disposition,
            dmarc_pass: alignment.dmarc_pass(),
            spf_aligned: alignment.spf,
            dkim_aligned: alignment.dkim,
            forwarding_reason: record
                .reasons
                .iter()
                .any(|reason| is_forwarding_reason(&reason.kind)),
            header_from: record.header_from.as_str(),
            dkim: record.dkim_results.iter().map(|dkim| DkimFact {
                domain: dkim.domain.as_str(),
                selector: dkim
                    .selector
                    .as_deref()
                    .filter(|selector| !selector.is_empty()),
                result: &dkim.result,
            }),
            spf: record.spf_results.iter().map(|spf| SpfFact {
                domain: spf.domain.as_str(),
                helo: spf.scope == Some(SpfScope::Helo),
                result: &spf.result,
            }),
        },
    )
}
