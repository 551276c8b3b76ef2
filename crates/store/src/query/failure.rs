//! The typed read of DMARC failure reports: what the summary counts.

use crate::{Store, StoreError};
use rusqlite::params;
use std::net::IpAddr;

/// One stored failure report, as the summary reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureSampleRow {
    /// When the reported message arrived, unix seconds.
    pub arrival: i64,
    /// `Reported-Domain`, normalised.
    pub reported_domain: String,
    /// `Source-IP`, if the report gave one.
    pub source_ip: Option<IpAddr>,
    /// `Auth-Failure`, lowercase, if the report gave one.
    pub auth_failure: Option<String>,
}

impl Store {
    /// Hands `visit` every failure report that arrived in `[start, end)`, for
    /// `reported_domain` only (normalised text) when given, oldest first. Reports without an
    /// arrival time are left out. Streams: memory does not grow with the reports read.
    pub fn read_failure_samples(
        &self,
        reported_domain: Option<&str>,
        start: i64,
        end: i64,
        visit: &mut dyn FnMut(FailureSampleRow),
    ) -> Result<(), StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT arrival_utc, reported_domain, source_ip, auth_failure FROM failure_reports
             WHERE arrival_utc >= ?1 AND arrival_utc < ?2
               AND (?3 IS NULL OR reported_domain = ?3)
             ORDER BY arrival_utc, id",
        )?;
        let mut rows = statement.query(params![start, end, reported_domain])?;
        while let Some(row) = rows.next()? {
            let source_ip: Option<String> = row.get(2)?;
            visit(FailureSampleRow {
                arrival: row.get(0)?,
                reported_domain: row.get(1)?,
                source_ip: source_ip.and_then(|ip| ip.parse().ok()),
                auth_failure: row.get(3)?,
            });
        }
        Ok(())
    }
}
