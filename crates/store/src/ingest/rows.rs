//! Row inserts: the message and report rows, and records with their DKIM, SPF and reason rows
//! in multi-row statements. Every value is written beside the name of its column.

use super::MessageSource;
use crate::raw::RawEncoding;
use crate::sql_value::{IpText, Sql};
use crate::{StoreError, StoreOptions, alignment};
use ruadb_report::{Record, ReportHeader, Verdict};
use rusqlite::types::ToSql;
use rusqlite::{CachedStatement, Connection, named_params};
use std::sync::OnceLock;

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
             VALUES (:sha256, :size, :source_kind, :path, :imap_account, :imap_mailbox,
                     :imap_uidvalidity, :imap_uid, :ingested_at, :raw_encoding)",
        )?
        .execute(named_params! {
            ":sha256": sha256.as_ref(),
            ":size": i64::try_from(size).unwrap_or(i64::MAX),
            ":source_kind": kind,
            ":path": path,
            ":imap_account": account,
            ":imap_mailbox": mailbox,
            ":imap_uidvalidity": uidvalidity,
            ":imap_uid": uid,
            ":ingested_at": options.now,
            ":raw_encoding": encoding.as_str(),
        })?;
    Ok(connection.last_insert_rowid())
}

/// Records a report that was not stored because the `domains` list does not accept its policy
/// domain (aggregate, TLS and failure reports alike), so the tally and the `rejected_domains`
/// view can say what was turned away.
pub(super) fn insert_rejected(
    connection: &Connection,
    message_id: i64,
    member: Option<&str>,
    org_name: &str,
    report_id: &str,
    policy_domain: &str,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO rejected_reports (message_id, member, org_name, report_id, policy_domain)
             VALUES (:message_id, :member, :org_name, :report_id, :policy_domain)",
        )?
        .execute(named_params! {
            ":message_id": message_id,
            ":member": member,
            ":org_name": org_name,
            ":report_id": report_id,
            ":policy_domain": policy_domain,
        })?;
    Ok(())
}

/// Inserts the `reports` row of a new report (its content hash and totals are set at its
/// end); returns its id.
pub(super) fn insert_report(
    connection: &Connection,
    message_id: i64,
    member: Option<&str>,
    header: &ReportHeader,
) -> Result<i64, StoreError> {
    let metadata = &header.metadata;
    let policy = &header.policy;
    let errors = (!metadata.errors.is_empty())
        .then(|| serde_json::to_string(&metadata.errors).unwrap_or_default());
    connection
        .prepare_cached(
            "INSERT INTO reports (message_id, member, org_name, email, extra_contact_info,
                report_id, policy_domain, begin_utc, end_utc, format, version, generator,
                errors, adkim, aspf, p, sp, np, pct, fo, testing, discovery_method,
                content_hash)
             VALUES (:message_id, :member, :org_name, :email, :extra_contact_info,
                :report_id, :policy_domain, :begin_utc, :end_utc, :format, :version, :generator,
                :errors, :adkim, :aspf, :p, :sp, :np, :pct, :fo, :testing, :discovery_method,
                x'')",
        )?
        .execute(named_params! {
            ":message_id": message_id,
            ":member": member,
            ":org_name": metadata.org_name,
            ":email": metadata.email,
            ":extra_contact_info": metadata.extra_contact_info,
            ":report_id": metadata.report_id,
            ":policy_domain": policy.domain.as_str(),
            ":begin_utc": metadata.begin,
            ":end_utc": metadata.end,
            ":format": header.format.as_str(),
            ":version": header.version,
            ":generator": metadata.generator,
            ":errors": errors,
            ":adkim": policy.dkim_alignment.as_ref().map(Sql),
            ":aspf": policy.spf_alignment.as_ref().map(Sql),
            ":p": policy.policy.as_ref().map(Sql),
            ":sp": policy.subdomain_policy.as_ref().map(Sql),
            ":np": policy.nonexistent_subdomain_policy.as_ref().map(Sql),
            ":pct": policy.percent,
            ":fo": policy.failure_options,
            ":testing": policy.testing.as_ref().map(Sql),
            ":discovery_method": policy.discovery_method.as_ref().map(Sql),
        })?;
    Ok(connection.last_insert_rowid())
}

/// Rows per multi-row `INSERT`, largest first: a flush of n rows runs as few statements as
/// these sizes allow (26 rows: 16 + 4 + 4 + 1 + 1). Running a statement costs more than adding
/// a row to one (binding, cursors, reset), and records are the bulk of the work.
const ROWS_PER_INSERT: [usize; 3] = [16, 4, 1];

/// Records buffered before they are written (a report's records are also written at its end).
pub(super) const RECORDS_PER_FLUSH: usize = 64;

/// One row's values, each with its column's name, in the order of the `INSERT`'s columns.
pub(super) type NamedValues<'v> = [(&'static str, &'v dyn ToSql)];

/// Hands one row's named values to `bind` (values often borrow locals of the caller, so they
/// are passed down rather than returned).
pub(super) type RowValues<'f, T> = dyn FnMut(&T, &mut dyn FnMut(&NamedValues<'_>) -> rusqlite::Result<()>) -> rusqlite::Result<()>
    + 'f;

/// One table's multi-row `INSERT`: `INSERT OR … INTO table (columns) VALUES (?,…),(?,…)…`,
/// its columns taken from the names of the values of the first row it writes.
pub(super) struct MultiRowInsert {
    table: &'static str,
    /// The conflict resolution: `FAIL` (records) or `IGNORE`.
    or: &'static str,
    /// The SQL for each size in [`ROWS_PER_INSERT`].
    sql: OnceLock<[String; ROWS_PER_INSERT.len()]>,
}

impl MultiRowInsert {
    /// `INSERT OR FAIL`: a failing row keeps the rows before it instead of undoing the
    /// statement, so SQLite needs no statement journal; a failure breaks the whole batch
    /// anyway.
    const fn new(table: &'static str) -> MultiRowInsert {
        MultiRowInsert {
            table,
            or: "FAIL",
            sql: OnceLock::new(),
        }
    }

    /// `INSERT OR IGNORE`: a row whose key is stored already is left as it is.
    pub(super) const fn or_ignore(table: &'static str) -> MultiRowInsert {
        MultiRowInsert {
            table,
            or: "IGNORE",
            sql: OnceLock::new(),
        }
    }

    /// The statements for rows with these columns.
    fn statements(&self, columns: &NamedValues<'_>) -> [String; ROWS_PER_INSERT.len()] {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let row = format!("({})", vec!["?"; names.len()].join(", "));
        ROWS_PER_INSERT.map(|rows| {
            format!(
                "INSERT OR {} INTO {} ({}) VALUES {}",
                self.or,
                self.table,
                names.join(", "),
                vec![row.as_str(); rows].join(", ")
            )
        })
    }

    /// Inserts `rows`, each with the named values `values` gives for it.
    pub(super) fn insert<T>(
        &self,
        connection: &Connection,
        rows: &[T],
        values: &mut RowValues<'_, T>,
    ) -> Result<(), StoreError> {
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let sql = match self.sql.get() {
            Some(sql) => sql,
            None => {
                let mut statements = None;
                values(first, &mut |columns| {
                    statements = Some(self.statements(columns));
                    Ok(())
                })?;
                match statements {
                    Some(statements) => self.sql.get_or_init(|| statements),
                    None => return Ok(()),
                }
            }
        };
        let mut rest = rows;
        for (size, sql) in ROWS_PER_INSERT.iter().zip(sql) {
            if rest.len() < *size {
                continue;
            }
            // Taken from the cache once per size: finding it hashes the whole SQL text.
            let mut statement = connection.prepare_cached(sql)?;
            while rest.len() >= *size {
                let (chunk, tail) = rest.split_at(*size);
                let mut index = 1;
                for row in chunk {
                    values(row, &mut |columns| {
                        bind(&mut statement, &mut index, columns)
                    })?;
                }
                statement.raw_execute()?;
                rest = tail;
            }
        }
        Ok(())
    }
}

/// Binds `columns`' values from parameter `index` on, advancing it.
fn bind(
    statement: &mut CachedStatement<'_>,
    index: &mut usize,
    columns: &NamedValues<'_>,
) -> rusqlite::Result<()> {
    for (_, value) in columns {
        statement.raw_bind_parameter(*index, value)?;
        *index += 1;
    }
    Ok(())
}

/// The multi-row inserts of records and their results.
static RECORDS: MultiRowInsert = MultiRowInsert::new("records");
static DKIM_RESULTS: MultiRowInsert = MultiRowInsert::new("dkim_results");
static SPF_RESULTS: MultiRowInsert = MultiRowInsert::new("spf_results");
static REASONS: MultiRowInsert = MultiRowInsert::new("reasons");

/// A record waiting to be written, with the id it will have.
pub(super) struct PendingRecord {
    pub(super) id: i64,
    pub(super) report_row: i64,
    pub(super) record: Record,
    pub(super) alignment: alignment::Alignment,
    /// The record's source IP as `records.source_ip` holds it.
    pub(super) source_ip: IpText,
}

/// Writes `pending` records and their DKIM, SPF and reason rows (the caller empties it).
pub(super) fn write_records(
    connection: &Connection,
    pending: &[PendingRecord],
) -> Result<(), StoreError> {
    if pending.is_empty() {
        return Ok(());
    }
    RECORDS.insert(connection, pending, &mut |pending, bind| {
        record_values(pending, bind)
    })?;
    let dkim = numbered(pending, |record| &record.dkim_results);
    DKIM_RESULTS.insert(connection, &dkim, &mut |(record, seq, dkim), bind| {
        bind(&[
            ("record", record),
            ("seq", seq),
            ("domain", &dkim.domain.as_str()),
            ("selector", &dkim.selector),
            ("result", &Sql(&dkim.result)),
            ("human_result", &dkim.human_result),
        ])
    })?;
    let spf = numbered(pending, |record| &record.spf_results);
    SPF_RESULTS.insert(connection, &spf, &mut |(record, seq, spf), bind| {
        bind(&[
            ("record", record),
            ("seq", seq),
            ("domain", &spf.domain.as_str()),
            ("scope", &spf.scope.as_ref().map(Sql)),
            ("result", &Sql(&spf.result)),
            ("human_result", &spf.human_result),
        ])
    })?;
    let reasons = numbered(pending, |record| &record.reasons);
    REASONS.insert(connection, &reasons, &mut |(record, seq, reason), bind| {
        bind(&[
            ("record", record),
            ("seq", seq),
            ("type", &Sql(&reason.kind)),
            ("comment", &reason.comment),
        ])
    })?;
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

/// The `records` row of a pending record.
fn record_values(
    pending: &PendingRecord,
    bind: &mut dyn FnMut(&NamedValues<'_>) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let PendingRecord {
        id,
        report_row,
        record,
        alignment,
        source_ip,
    } = pending;
    let source_ip = source_ip.as_str();
    let passes = |verdict: &Verdict| *verdict == Verdict::Pass;
    let disagrees = record
        .dkim
        .as_ref()
        .is_some_and(|verdict| passes(verdict) != alignment.dkim)
        || record
            .spf
            .as_ref()
            .is_some_and(|verdict| passes(verdict) != alignment.spf);
    let extensions = (!record.extensions.is_empty())
        .then(|| serde_json::to_string(&record.extensions).unwrap_or_default());
    bind(&[
        ("id", id),
        ("report", report_row),
        ("source_ip", &source_ip),
        (
            "message_count",
            &i64::try_from(record.count).unwrap_or(i64::MAX),
        ),
        ("disposition", &Sql(&record.disposition)),
        ("dkim_evaluated", &record.dkim.as_ref().map(Sql)),
        ("spf_evaluated", &record.spf.as_ref().map(Sql)),
        ("header_from", &record.header_from.as_str()),
        ("envelope_from", &record.envelope_from.as_deref()),
        ("envelope_to", &record.envelope_to.as_deref()),
        ("dkim_aligned", &alignment.dkim),
        ("spf_aligned", &alignment.spf),
        ("dmarc_pass", &alignment.dmarc_pass()),
        ("reporter_disagrees", &disagrees),
        ("extensions", &extensions),
    ])
}
