//! Reading: arbitrary read-only SQL, the per-source aggregate, totals and IMAP cursors.

use crate::classify::Classification;
use crate::ingest::ImapCursor;
pub use crate::summary::SourceTable;
use crate::{Store, StoreError};
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// One SQL value of a query result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// Text (invalid UTF-8 replaced).
    Text(String),
    /// A blob.
    Blob(Vec<u8>),
}

/// One result row, in column order.
pub type QueryRow = [Value];

/// Which records [`Store::sources`] aggregates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFilter {
    /// Only this policy domain.
    pub domain: Option<String>,
    /// Only reports beginning at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Only reports beginning before this time (unix seconds).
    pub until: Option<i64>,
}

/// What the reports say about one sending source (IP) of one policy domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRow {
    /// The policy domain.
    pub policy_domain: String,
    /// The source IP, canonical text form.
    pub source_ip: String,
    /// Messages reported.
    pub messages: u64,
    /// Messages that pass DMARC (recomputed).
    pub dmarc_pass: u64,
    /// Messages with aligned SPF (recomputed).
    pub spf_aligned: u64,
    /// Messages with aligned DKIM (recomputed).
    pub dkim_aligned: u64,
    /// DKIM signatures seen, as `domain:selector` (`domain` alone when no selector), sorted.
    pub dkim_domains: Vec<String>,
    /// SPF domains seen, sorted.
    pub spf_domains: Vec<String>,
    /// Reporting organisations, sorted.
    pub reporters: Vec<String>,
    /// Earliest report begin (unix seconds).
    pub first_seen: i64,
    /// Latest report end (unix seconds).
    pub last_seen: i64,
    /// The class carrying most of the source's messages (see [`crate::classify`]).
    pub classification: Classification,
}

/// Row counts of the main tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Stored inputs.
    pub messages: u64,
    /// Stored reports.
    pub reports: u64,
    /// Stored records.
    pub records: u64,
    /// Sum of the records' message counts.
    pub message_count: u64,
    /// Conflicting reports noted (not counted in the above).
    pub conflicts: u64,
    /// Documents that yielded no report.
    pub ingest_errors: u64,
    /// Reports refused for their policy domain.
    pub rejected: u64,
}

impl Store {
    /// Runs one read-only SQL statement, handing each row to `on_row`. Returns the column
    /// names. A statement that would write is refused with [`StoreError::NotReadOnly`].
    pub fn query(
        &self,
        sql: &str,
        on_row: &mut dyn FnMut(&QueryRow) -> Result<(), StoreError>,
    ) -> Result<Vec<String>, StoreError> {
        self.query_streaming(sql, &mut |_| Ok(()), on_row)
    }

    /// Like [`Store::query`], but hands the column names to `on_columns` once the statement
    /// is prepared, before the first row, so that a caller can write a header and then each
    /// row as it comes: nothing is buffered, whatever the size of the result.
    pub fn query_streaming(
        &self,
        sql: &str,
        on_columns: &mut dyn FnMut(&[String]) -> Result<(), StoreError>,
        on_row: &mut dyn FnMut(&QueryRow) -> Result<(), StoreError>,
    ) -> Result<Vec<String>, StoreError> {
        let mut statement = self.connection.prepare(sql)?;
        if !statement.readonly() {
            return Err(StoreError::NotReadOnly);
        }
        let columns: Vec<String> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        on_columns(&columns)?;
        let mut values = Vec::with_capacity(columns.len());
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            values.clear();
            for index in 0..columns.len() {
                values.push(match row.get_ref(index)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(value) => Value::Integer(value),
                    ValueRef::Real(value) => Value::Real(value),
                    ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
                    ValueRef::Blob(blob) => Value::Blob(blob.to_vec()),
                });
            }
            on_row(&values)?;
        }
        Ok(columns)
    }

    /// Aggregates records per (policy_domain, source_ip), most messages first (then by
    /// domain and IP).
    pub fn sources(&self, filter: &SourceFilter) -> Result<Vec<SourceRow>, StoreError> {
        Ok(self.source_table(filter)?.rows().collect())
    }

    /// The same sources as [`Store::sources`], kept compact: [`SourceTable::rows`] makes each
    /// row when it is read, so output can be written row by row in little memory.
    pub fn sources_compact(&self, filter: &SourceFilter) -> Result<SourceTable, StoreError> {
        self.source_table(filter)
    }

    /// Row counts, for tests, the crash test and `ruadb` status output.
    pub fn totals(&self) -> Result<Totals, StoreError> {
        let count = |sql: &str| -> Result<u64, StoreError> {
            let value: i64 = self.connection.query_row(sql, [], |row| row.get(0))?;
            Ok(value.max(0) as u64)
        };
        Ok(Totals {
            messages: count("SELECT COUNT(*) FROM messages")?,
            reports: count("SELECT COUNT(*) FROM reports")?,
            records: count("SELECT COUNT(*) FROM records")?,
            message_count: count("SELECT COALESCE(SUM(message_count), 0) FROM records")?,
            conflicts: count("SELECT COUNT(*) FROM report_conflicts")?,
            ingest_errors: count("SELECT COUNT(*) FROM ingest_errors")?,
            rejected: count("SELECT COUNT(*) FROM rejected_reports")?,
        })
    }

    /// Where `ruadb fetch` stopped in (account, mailbox), if it ran before.
    pub fn imap_cursor(
        &self,
        account: &str,
        mailbox: &str,
    ) -> Result<Option<ImapCursor>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT uidvalidity, last_uid FROM imap_cursors WHERE account = ?1 AND mailbox = ?2",
                params![account, mailbox],
                |row| {
                    Ok(ImapCursor {
                        uidvalidity: row.get(0)?,
                        last_uid: row.get(1)?,
                    })
                },
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_hands_over_the_columns_before_the_first_row() {
        let store = Store::open_in_memory(crate::StoreOptions::default()).unwrap();
        let mut events = Vec::new();
        let events_cell = std::cell::RefCell::new(&mut events);
        let columns = store
            .query_streaming(
                "SELECT 1 AS n UNION ALL SELECT 2",
                &mut |columns| {
                    events_cell
                        .borrow_mut()
                        .push(format!("columns {columns:?}"));
                    Ok(())
                },
                &mut |row| {
                    events_cell.borrow_mut().push(format!("row {row:?}"));
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(columns, ["n"]);
        assert_eq!(
            events,
            ["columns [\"n\"]", "row [Integer(1)]", "row [Integer(2)]"]
        );
        let mut seen = None;
        store
            .query_streaming(
                "SELECT 1 AS a, 2 AS b WHERE 0",
                &mut |columns| {
                    seen = Some(columns.to_vec());
                    Ok(())
                },
                &mut |_| panic!("no rows"),
            )
            .unwrap();
        assert_eq!(seen.unwrap(), ["a", "b"], "columns of an empty result too");
    }
}
