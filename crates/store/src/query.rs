//! Reading: arbitrary read-only SQL, the per-source aggregate, totals and IMAP cursors.

use crate::classify::Classification;
use crate::ingest::ImapCursor;
use crate::{Store, StoreError};
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

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

/// The filter of [`Store::sources`] as SQL over `rep` (reports) with parameters ?1..?3.
pub(crate) const SOURCE_FILTER: &str = "(?1 IS NULL OR rep.policy_domain = ?1)
    AND (?2 IS NULL OR rep.begin_utc >= ?2) AND (?3 IS NULL OR rep.begin_utc < ?3)";

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

    /// Aggregates records per (policy_domain, source_ip), most messages first.
    pub fn sources(&self, filter: &SourceFilter) -> Result<Vec<SourceRow>, StoreError> {
        let filter_params = params![filter.domain, filter.since, filter.until];
        let mut rows = Vec::new();
        let mut index: HashMap<(String, String), usize> = HashMap::new();
        let mut statement = self.connection.prepare(&format!(
            "SELECT rep.policy_domain, rec.source_ip, SUM(rec.message_count),
                SUM(CASE WHEN rec.dmarc_pass THEN rec.message_count ELSE 0 END),
                SUM(CASE WHEN rec.spf_aligned THEN rec.message_count ELSE 0 END),
                SUM(CASE WHEN rec.dkim_aligned THEN rec.message_count ELSE 0 END),
                MIN(rep.begin_utc), MAX(rep.end_utc)
             FROM records AS rec JOIN reports AS rep ON rep.id = rec.report
             WHERE {SOURCE_FILTER}
             GROUP BY rep.policy_domain, rec.source_ip
             ORDER BY 3 DESC, 1, 2"
        ))?;
        let mut query = statement.query(filter_params)?;
        while let Some(row) = query.next()? {
            let policy_domain: String = row.get(0)?;
            let source_ip: String = row.get(1)?;
            index.insert((policy_domain.clone(), source_ip.clone()), rows.len());
            rows.push(SourceRow {
                policy_domain,
                source_ip,
                messages: row.get::<_, i64>(2)?.max(0) as u64,
                dmarc_pass: row.get::<_, i64>(3)?.max(0) as u64,
                spf_aligned: row.get::<_, i64>(4)?.max(0) as u64,
                dkim_aligned: row.get::<_, i64>(5)?.max(0) as u64,
                dkim_domains: Vec::new(),
                spf_domains: Vec::new(),
                reporters: Vec::new(),
                first_seen: row.get(6)?,
                last_seen: row.get(7)?,
                // Every row has records, so `source_classes` below sets the real class.
                classification: Classification::Unauthenticated,
            });
        }
        // The lists are gathered into sets first, then sorted into the rows.
        let mut sets: Vec<[BTreeSet<String>; 3]> = vec![Default::default(); rows.len()];
        let lists = [
            "SELECT DISTINCT rep.policy_domain, rec.source_ip,
                CASE WHEN d.selector IS NULL OR d.selector = '' THEN d.domain
                     ELSE d.domain || ':' || d.selector END
             FROM dkim_results AS d JOIN records AS rec ON rec.id = d.record
             JOIN reports AS rep ON rep.id = rec.report WHERE d.domain <> '' AND ",
            "SELECT DISTINCT rep.policy_domain, rec.source_ip, s.domain
             FROM spf_results AS s JOIN records AS rec ON rec.id = s.record
             JOIN reports AS rep ON rep.id = rec.report WHERE s.domain <> '' AND ",
            "SELECT DISTINCT rep.policy_domain, rec.source_ip, rep.org_name
             FROM records AS rec JOIN reports AS rep ON rep.id = rec.report WHERE ",
        ];
        for (list, sql) in lists.iter().enumerate() {
            let mut statement = self.connection.prepare(&format!("{sql}{SOURCE_FILTER}"))?;
            let mut query = statement.query(filter_params)?;
            while let Some(row) = query.next()? {
                let key = (row.get::<_, String>(0)?, row.get::<_, String>(1)?);
                if let Some(&position) = index.get(&key) {
                    sets[position][list].insert(row.get(2)?);
                }
            }
        }
        for (row, [dkim, spf, reporters]) in rows.iter_mut().zip(sets) {
            row.dkim_domains = dkim.into_iter().collect();
            row.spf_domains = spf.into_iter().collect();
            row.reporters = reporters.into_iter().collect();
        }
        let classes = self.source_classes(filter)?;
        for row in &mut rows {
            let key = (row.policy_domain.clone(), row.source_ip.clone());
            if let Some(class) = classes.get(&key) {
                row.classification = *class;
            }
        }
        Ok(rows)
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
