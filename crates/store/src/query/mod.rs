//! Reading: arbitrary read-only SQL (`ruadb sql`), totals and IMAP cursors here; the typed
//! read API in `read` (and of SMTP TLS reports in `tls`, of failure reports in `failure`),
//! `ruadb sources` in `sources`, and the `WHERE` clause they share in `sql`.

mod failure;
mod read;
mod rollup;
mod sources;
mod sql;
mod tls;

pub use failure::FailureSampleRow;
pub use read::{
    DkimRow, PublishedPolicy, RecordRow, ReportFilter, ReportRow, ReportVisitor, ResultsWanted,
    SpfRow,
};
pub use rollup::{DayFilter, DispositionCounts, DomainDayRow, ReporterDayRow, SourceDayRow};
pub use sources::{SourceFilter, SourceRow, SourceTable, SourceView};
pub use tls::{TlsFailureRow, TlsPolicyRow};

use crate::ingest::ImapCursor;
use crate::{Store, StoreError};
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A read snapshot of the database: while it lives, every read through its [`Store`] sees the
/// database as of the first of them, whatever another connection commits meanwhile. A
/// summary of a thousand domains reads each domain on its own; inside one snapshot it is
/// still a function of one database state while an ingest runs beside it.
#[must_use = "the snapshot ends when this is dropped"]
pub struct Snapshot<'s> {
    _transaction: Option<rusqlite::Transaction<'s>>,
}

impl std::fmt::Debug for Snapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Store {
    /// Starts a [`Snapshot`] (nothing new when one is already open).
    pub fn snapshot(&self) -> Result<Snapshot<'_>, StoreError> {
        Ok(Snapshot {
            _transaction: self.read_transaction()?,
        })
    }

    /// The read transaction of one read: a statement outside a transaction takes and drops
    /// the database's read lock at each step, and the several statements of one read must
    /// see one state. None when a transaction is already open (a [`Snapshot`]): the read
    /// belongs to it.
    pub(crate) fn read_transaction(&self) -> Result<Option<rusqlite::Transaction<'_>>, StoreError> {
        if !self.connection.is_autocommit() {
            return Ok(None);
        }
        Ok(Some(self.connection.unchecked_transaction()?))
    }
}

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

/// The largest string, blob or row a statement from [`Store::open_for_queries`] may build
/// (SQLite's `SQLITE_LIMIT_LENGTH`). Nothing ruadb stores comes near it (raw input is kept in
/// chunks of 1 MiB); without it `printf('%.*c', …)` or `zeroblob` build values of gigabytes.
pub const QUERY_VALUE_BYTES: i32 = 8 << 20;
/// The longest SQL text [`Store::open_for_queries`] accepts (`SQLITE_LIMIT_SQL_LENGTH`).
pub const QUERY_SQL_BYTES: i32 = 1 << 20;
/// SQLite's hard heap limit under [`Store::open_for_queries`]: the page cache (16 MiB) and
/// sorting (which spills to temporary files beyond the cache) fit, and with one value of
/// [`QUERY_VALUE_BYTES`] copied out, the process stays within its 64 MiB.
pub const QUERY_HEAP_BYTES: i64 = 32 << 20;

/// Sets the limits of [`Store::open_for_queries`] on `connection`.
pub(crate) fn limit_connection(connection: &rusqlite::Connection) -> Result<(), StoreError> {
    use rusqlite::limits::Limit;
    connection.set_limit(Limit::SQLITE_LIMIT_LENGTH, QUERY_VALUE_BYTES)?;
    connection.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, QUERY_SQL_BYTES)?;
    // The pragma can only lower the limit, so a statement cannot raise it again.
    connection.pragma_update(None, "hard_heap_limit", QUERY_HEAP_BYTES)?;
    Ok(())
}

/// Whether `sql` holds no statement: only whitespace, comments and `;`. SQLite prepares such
/// text into no statement at all, which cannot be run.
fn is_blank(sql: &str) -> bool {
    without_comments(sql).all(|c| c.is_whitespace() || c == ';')
}

/// Whether `sql` is the query form of `PRAGMA journal_mode` (no value), which only reports
/// the mode. SQLite counts every `journal_mode` pragma as a possible write, since the same
/// instruction also sets the mode; the form with a value is still refused.
fn is_journal_mode_query(sql: &str) -> bool {
    let words: String = without_comments(sql)
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let words = words.trim_end_matches(';');
    words.starts_with("pragma")
        && words.ends_with("journal_mode")
        && !words.contains(['=', '(', ';'])
}

/// The characters of `sql` outside `-- …` and `/* … */` comments. String literals are not
/// recognised, so this only serves to look at statements that hold none.
fn without_comments(sql: &str) -> impl Iterator<Item = char> + '_ {
    let mut rest = sql;
    std::iter::from_fn(move || {
        loop {
            if let Some(after) = rest.strip_prefix("--") {
                rest = after.find('\n').map_or("", |end| &after[end..]);
            } else if let Some(after) = rest.strip_prefix("/*") {
                rest = after.find("*/").map_or("", |end| &after[end + 2..]);
            } else {
                let next = rest.chars().next()?;
                rest = &rest[next.len_utf8()..];
                return Some(next);
            }
        }
    })
}

/// A limit of [`Store::open_for_queries`] said as such; other errors unchanged.
fn query_error(error: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match error.sqlite_error_code() {
        Some(ErrorCode::TooBig | ErrorCode::OutOfMemory) => {
            StoreError::QueryLimit(error.to_string())
        }
        _ => StoreError::from(error),
    }
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
    /// names. A statement that would write is refused with [`StoreError::NotReadOnly`], text
    /// without a statement with [`StoreError::EmptyStatement`].
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
        if is_blank(sql) {
            return Err(StoreError::EmptyStatement);
        }
        let mut statement = self.connection.prepare(sql).map_err(query_error)?;
        if !statement.readonly() && !is_journal_mode_query(sql) {
            return Err(StoreError::NotReadOnly);
        }
        let columns: Vec<String> = statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        on_columns(&columns)?;
        let mut values = Vec::with_capacity(columns.len());
        let mut rows = statement.query([]).map_err(query_error)?;
        while let Some(row) = rows.next().map_err(query_error)? {
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
    fn blank_text_is_no_statement() {
        let store = Store::open_in_memory(crate::StoreOptions::default()).unwrap();
        for blank in ["", " \n", "-- only a comment", "/* c */ ; -- c\n;"] {
            assert!(is_blank(blank), "{blank:?}");
            assert!(
                matches!(
                    store.query(blank, &mut |_| Ok(())),
                    Err(StoreError::EmptyStatement)
                ),
                "{blank:?}"
            );
        }
        for statement in ["SELECT 1", "/* c */ SELECT '--'", "-- c\nSELECT 1"] {
            assert!(!is_blank(statement), "{statement:?}");
        }
    }

    #[test]
    fn only_the_query_form_of_journal_mode_passes_as_read_only() {
        for query in [
            "PRAGMA journal_mode",
            "pragma Main . JOURNAL_MODE ;",
            "/* mode? */ PRAGMA journal_mode -- = wal",
        ] {
            assert!(is_journal_mode_query(query), "{query:?}");
        }
        for other in [
            "PRAGMA journal_mode = DELETE",
            "PRAGMA journal_mode(wal)",
            "PRAGMA journal_size_limit",
            "PRAGMA wal_checkpoint",
            "SELECT journal_mode",
            "PRAGMA journal_mode; PRAGMA journal_mode",
        ] {
            assert!(!is_journal_mode_query(other), "{other:?}");
        }
        let store = Store::open_in_memory(crate::StoreOptions::default()).unwrap();
        let mut mode = Vec::new();
        store
            .query("PRAGMA journal_mode", &mut |row| {
                mode.extend_from_slice(row);
                Ok(())
            })
            .unwrap();
        assert_eq!(mode, [Value::Text("memory".to_owned())]);
        assert!(matches!(
            store.query("PRAGMA journal_mode = OFF", &mut |_| Ok(())),
            Err(StoreError::NotReadOnly)
        ));
    }

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
