//! `Store::reparse`: every report rebuilt from the stored raw inputs.

use super::IngestTally;
use super::batch::parse_into;
use crate::digest::Digesting;
use crate::raw::{RawEncoding, RawReader, SeekableRaw};
use crate::rollup::RollupWriter;
use crate::{Store, StoreError};
use rusqlite::TransactionBehavior;
use std::io::{self, Read};

impl Store {
    /// Re-parses every stored input with the current parser and domain list, rebuilding all
    /// reports, records, errors and rejections in one transaction. Messages and IMAP cursors
    /// are kept. Inputs up to 8 MiB are decompressed into memory, larger ones streamed.
    ///
    /// Foreign keys are not enforced while writing (see `Store::set_up`); a rebuild of the
    /// whole database is rare enough to check every reference before it commits (about 8% of
    /// its time), and a dangling one rolls it back.
    pub fn reparse(&mut self) -> Result<IngestTally, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        transaction.execute_batch(
            "DELETE FROM dkim_results; DELETE FROM spf_results; DELETE FROM reasons;
             DELETE FROM report_warnings; DELETE FROM records; DELETE FROM report_conflicts;
             DELETE FROM report_duplicates; DELETE FROM tls_failure_details;
             DELETE FROM tls_policies; DELETE FROM tls_report_warnings;
             DELETE FROM tls_report_repeats; DELETE FROM tls_reports;
             DELETE FROM failure_report_duplicates; DELETE FROM failure_reports;
             DELETE FROM reports; DELETE FROM ingest_errors; DELETE FROM rejected_reports;
             DELETE FROM source_days; DELETE FROM reporter_days; DELETE FROM rollup_names;
             DELETE FROM domain_days;",
        )?;
        let messages = transaction
            .prepare("SELECT id, raw_encoding, size FROM messages ORDER BY id")?
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    RawEncoding::from_db(&row.get::<_, String>(1)?),
                    row.get::<_, i64>(2)?.max(0) as u64,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut tally = IngestTally::default();
        let mut bytes = Vec::new();
        let mut rollups = RollupWriter::default();
        for (message_id, encoding, size) in messages {
            let outcome = if size > REPARSE_IN_MEMORY_MAX_BYTES {
                // Large: streamed from the stored chunks, as `ingest_reader` read it.
                let raw = SeekableRaw::new(&transaction, message_id, encoding, size);
                parse_into(
                    &transaction,
                    &self.options,
                    message_id,
                    &mut rollups,
                    None,
                    |sink, limits| {
                        ruadb_report::read_reports_from(raw, limits, &mut Digesting::new(sink));
                        Ok(())
                    },
                )?
            } else {
                bytes.clear();
                RawReader::new(&transaction, message_id, encoding)
                    .read_to_end(&mut bytes)
                    .map_err(|error| unreadable_raw(message_id, &error))?;
                parse_into(
                    &transaction,
                    &self.options,
                    message_id,
                    &mut rollups,
                    None,
                    |sink, limits| {
                        ruadb_report::read_reports(&bytes, limits, &mut Digesting::new(sink));
                        Ok(())
                    },
                )?
            };
            tally.add(&outcome);
        }
        rollups.flush(&transaction)?;
        let dangling: i64 =
            transaction.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
                row.get(0)
            })?;
        if dangling > 0 {
            return Err(StoreError::DanglingReferences(dangling));
        }
        transaction.commit()?;
        Ok(tally)
    }
}

/// Inputs up to this size are decompressed into memory for `reparse`; larger ones are streamed.
const REPARSE_IN_MEMORY_MAX_BYTES: u64 = 8 << 20;

fn unreadable_raw(message_id: i64, error: &io::Error) -> StoreError {
    StoreError::RawInputUnreadable {
        message_id,
        reason: error.to_string(),
    }
}
