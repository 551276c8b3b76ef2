//! Row inserts: the message row, and records with their DKIM, SPF and reason rows in
//! multi-row statements.

use super::MessageSource;
use crate::raw::RawEncoding;
use crate::{StoreError, StoreOptions, alignment};
use ruadb_report::Record;
use rusqlite::{CachedStatement, Connection, params};
use std::fmt::Write as _;

/// Inserts the `messages` row of a new input; returns its id.
pub(super) fn insert_message(
    connection: &Connection,
    options: &StoreOptions,
    sha256: &impl AsRef<[u8]>,
    size: u64,
    encoding: RawEncoding,
    source: &MessageSource,
) -> Result<i64, StoreError> {
    let (kind, path, account, mailbox, uidvalidity, uid) = match source {
        MessageSource::File { path } => ("file", Some(path.as_str()), None, None, None, None),
        MessageSource::Stdin => ("stdin", None, None, None, None, None),
        MessageSource::Imap {
            account,
            mailbox,
            uidvalidity,
            uid,
        } => (
            "imap",
            None,
            Some(account.as_str()),
            Some(mailbox.as_str()),
            Some(*uidvalidity),
            Some(*uid),
        ),
    };
    connection
        .prepare_cached(
            "INSERT INTO messages (sha256, size, source_kind, path, imap_account, imap_mailbox,
                                   imap_uidvalidity, imap_uid, ingested_at, raw_encoding)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            sha256.as_ref(),
            i64::try_from(size).unwrap_or(i64::MAX),
            kind,
            path,
            account,
            mailbox,
            uidvalidity,
            uid,
            options.now,
            encoding.as_str()
        ])?;
    Ok(connection.last_insert_rowid())
}

/// Rows per multi-row `INSERT`, largest first: a flush of n rows runs as few statements as
/// these sizes allow (26 rows: 16 + 4 + 4 + 1 + 1). Running a statement costs more than adding
/// a row to one (binding, cursors, reset), and records are the bulk of the work.
const ROWS_PER_INSERT: [usize; 3] = [16, 4, 1];

/// Records buffered before they are written (a report's records are also written at its end).
pub(super) const RECORDS_PER_FLUSH: usize = 64;

/// One table's multi-row `INSERT`: `INSERT INTO table (columns) VALUES (?,…),(?,…)…`.
struct MultiRowInsert {
    /// The SQL for each size in [`ROWS_PER_INSERT`].
    sql: [String; ROWS_PER_INSERT.len()],
}

impl MultiRowInsert {
    fn new(table: &str, columns: &[&str]) -> MultiRowInsert {
        let row = format!("({})", vec!["?"; columns.len()].join(", "));
        MultiRowInsert {
            sql: ROWS_PER_INSERT.map(|rows| {
                // OR FAIL: a failing row keeps the rows before it instead of undoing the
                // statement, so SQLite needs no statement journal; a failure breaks the whole
                // batch anyway.
                format!(
                    "INSERT OR FAIL INTO {table} ({}) VALUES {}",
                    columns.join(", "),
                    vec![row.as_str(); rows].join(", ")
                )
            }),
        }
    }

    /// Inserts `rows`, binding each row's values with `bind` (from the given parameter index,
    /// which it advances).
    fn insert<T>(
        &self,
        connection: &Connection,
        rows: &[T],
        bind: &mut dyn FnMut(&mut CachedStatement<'_>, &mut usize, &T) -> rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        let mut rest = rows;
        for (size, sql) in ROWS_PER_INSERT.iter().zip(&self.sql) {
            while rest.len() >= *size {
                let (chunk, tail) = rest.split_at(*size);
                let mut statement = connection.prepare_cached(sql)?;
                let mut index = 1;
                for row in chunk {
                    bind(&mut statement, &mut index, row)?;
                }
                statement.raw_execute()?;
                rest = tail;
            }
        }
        Ok(())
    }
}

/// The multi-row inserts of records and their results, built once.
struct RecordInserts {
    record: MultiRowInsert,
    dkim: MultiRowInsert,
    spf: MultiRowInsert,
    reason: MultiRowInsert,
}

static RECORD_INSERTS: std::sync::LazyLock<RecordInserts> =
    std::sync::LazyLock::new(|| RecordInserts {
        record: MultiRowInsert::new(
            "records",
            &[
                "id",
                "report",
                "source_ip",
                "message_count",
                "disposition",
                "dkim_evaluated",
                "spf_evaluated",
                "header_from",
                "envelope_from",
                "envelope_to",
                "dkim_aligned",
                "spf_aligned",
                "dmarc_pass",
                "reporter_disagrees",
                "extensions",
            ],
        ),
        dkim: MultiRowInsert::new(
            "dkim_results",
            &[
                "record",
                "seq",
                "domain",
                "selector",
                "result",
                "human_result",
            ],
        ),
        spf: MultiRowInsert::new(
            "spf_results",
            &["record", "seq", "domain", "scope", "result", "human_result"],
        ),
        reason: MultiRowInsert::new("reasons", &["record", "seq", "type", "comment"]),
    });

/// A record waiting to be written, with the id it will have.
pub(super) struct PendingRecord {
    pub(super) id: i64,
    pub(super) report_row: i64,
    pub(super) record: Record,
    pub(super) alignment: alignment::Alignment,
}

/// Writes `pending` records and their DKIM, SPF and reason rows, and empties it. `ip_text` is
/// reused for the canonical text of each source IP.
pub(super) fn write_records(
    connection: &Connection,
    pending: &mut Vec<PendingRecord>,
    ip_text: &mut String,
) -> Result<(), StoreError> {
    if pending.is_empty() {
        return Ok(());
    }
    let inserts = &*RECORD_INSERTS;
    inserts
        .record
        .insert(connection, pending, &mut |statement, index, pending| {
            bind_record(statement, index, pending, ip_text)
        })?;
    let dkim = numbered(pending, |record| &record.dkim_results);
    inserts.dkim.insert(
        connection,
        &dkim,
        &mut |statement, index, (record, seq, dkim)| {
            bind_values(
                statement,
                index,
                params![
                    record,
                    seq,
                    dkim.domain.as_str(),
                    dkim.selector,
                    dkim.result.as_str(),
                    dkim.human_result
                ],
            )
        },
    )?;
    let spf = numbered(pending, |record| &record.spf_results);
    inserts.spf.insert(
        connection,
        &spf,
        &mut |statement, index, (record, seq, spf)| {
            bind_values(
                statement,
                index,
                params![
                    record,
                    seq,
                    spf.domain.as_str(),
                    spf.scope.as_ref().map(|scope| scope.as_str()),
                    spf.result.as_str(),
                    spf.human_result
                ],
            )
        },
    )?;
    let reasons = numbered(pending, |record| &record.reasons);
    inserts.reason.insert(
        connection,
        &reasons,
        &mut |statement, index, (record, seq, reason)| {
            bind_values(
                statement,
                index,
                params![record, seq, reason.kind.as_str(), reason.comment],
            )
        },
    )?;
    pending.clear();
    Ok(())
}

/// Each pending record's `items` (its DKIM results, …) as (record id, position, item).
fn numbered<'p, T>(
    pending: &'p [PendingRecord],
    items: impl Fn(&'p Record) -> &'p [T],
) -> Vec<(i64, i64, &'p T)> {
    pending
        .iter()
        .flat_map(|pending| {
            (0i64..)
                .zip(items(&pending.record))
                .map(move |(seq, item)| (pending.id, seq, item))
        })
        .collect()
}

/// Binds `values` from parameter `index` on, advancing it.
fn bind_values(
    statement: &mut CachedStatement<'_>,
    index: &mut usize,
    values: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    for value in values {
        statement.raw_bind_parameter(*index, value)?;
        *index += 1;
    }
    Ok(())
}

fn bind_record(
    statement: &mut CachedStatement<'_>,
    index: &mut usize,
    pending: &PendingRecord,
    ip_text: &mut String,
) -> rusqlite::Result<()> {
    let PendingRecord {
        id,
        report_row,
        record,
        alignment,
    } = pending;
    ip_text.clear();
    // Writing to a String cannot fail.
    let _ = write!(ip_text, "{}", record.source_ip);
    let source_ip: &str = ip_text;
    let dkim_evaluated = record.dkim.as_ref().map(|verdict| verdict.as_str());
    let spf_evaluated = record.spf.as_ref().map(|verdict| verdict.as_str());
    let disagrees = dkim_evaluated.is_some_and(|verdict| (verdict == "pass") != alignment.dkim)
        || spf_evaluated.is_some_and(|verdict| (verdict == "pass") != alignment.spf);
    let extensions = (!record.extensions.is_empty())
        .then(|| serde_json::to_string(&record.extensions).unwrap_or_default());
    bind_values(
        statement,
        index,
        params![
            id,
            report_row,
            source_ip,
            i64::try_from(record.count).unwrap_or(i64::MAX),
            record.disposition.as_str(),
            dkim_evaluated,
            spf_evaluated,
            record.header_from.as_str(),
            record.envelope_from.as_deref(),
            record.envelope_to.as_deref(),
            alignment.dkim,
            alignment.spf,
            alignment.dmarc_pass(),
            disagrees,
            extensions,
        ],
    )
}
