//! The typed read of the rollups kept at ingest ([`crate::rollup`]): per policy domain, day
//! and source IP ([`Store::read_source_days`]) and per policy domain, day and reporter
//! ([`Store::read_reporter_days`]). A day is the UTC day of the reports' midpoints.

use super::read::{DkimRow, SpfRow};
use crate::classify::{ClassTally, Classification};
use crate::rollup::{NameSets, read_counts};
use crate::sql_value::count;
use crate::{Store, StoreError};
use ruadb_report::{DkimResult, SpfResult};
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Which rollup rows a read covers: days starting in `[since, until)` (unix seconds; a day
/// is the UTC day of its reports' midpoints), of one policy domain or all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFilter {
    /// Only this policy domain (as stored: lowercase, no trailing dot).
    pub policy_domain: Option<String>,
    /// Only days starting at or after this time.
    pub since: Option<i64>,
    /// Only days starting before this time.
    pub until: Option<i64>,
}

impl DayFilter {
    /// The selected day numbers (days since 1970-01-01), end excluded.
    fn days(&self) -> (i64, i64) {
        let first = |at: i64| at.div_euclid(DAY) + i64::from(at.rem_euclid(DAY) != 0);
        (
            self.since.map_or(i64::MIN, first),
            self.until.map_or(i64::MAX, first),
        )
    }
}

/// Messages by what the receiver did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispositionCounts {
    /// Delivered (`none`; also a non-standard `pass` or unknown value).
    pub none: u64,
    /// `quarantine`.
    pub quarantine: u64,
    /// `reject`.
    pub reject: u64,
}

/// What the records of one source IP of one policy domain say on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceDayRow {
    /// The policy domain.
    pub policy_domain: String,
    /// The day: unix seconds of its start (00:00 UTC).
    pub day: i64,
    /// The source IP, in the canonical text form ingest stores.
    pub source_ip: String,
    /// Records.
    pub records: u64,
    /// Messages per class, each record classified by [`crate::classify`]; the aligned class
    /// is DMARC pass.
    pub classes: ClassTally,
    /// Messages with aligned SPF (recomputed).
    pub spf_aligned: u64,
    /// Messages with aligned DKIM (recomputed).
    pub dkim_aligned: u64,
    /// Messages by disposition.
    pub dispositions: DispositionCounts,
    /// The earliest begin of the reports (unix seconds).
    pub first_begin: i64,
    /// The latest end of the reports (unix seconds).
    pub last_end: i64,
    /// Reporting organisations, sorted.
    pub reporters: Vec<String>,
    /// Distinct DKIM results (`s=` `None` when absent or empty).
    pub dkim: Vec<DkimRow>,
    /// Distinct SPF results of scope mfrom or unstated.
    pub spf: Vec<SpfRow>,
    /// Domains of SPF results of scope HELO.
    pub helo_domains: Vec<String>,
    /// DKIM domains that passed in records of the misaligned class.
    pub misaligned_dkim_pass: Vec<String>,
    /// SPF domains that passed in records of the misaligned class.
    pub misaligned_spf_pass: Vec<String>,
}

impl SourceDayRow {
    /// Messages.
    pub fn messages(&self) -> u64 {
        Classification::ALL
            .into_iter()
            .map(|class| self.classes.messages(class))
            .fold(0, u64::saturating_add)
    }

    /// Messages passing DMARC (recomputed).
    pub fn dmarc_pass(&self) -> u64 {
        self.classes.messages(Classification::Aligned)
    }
}

/// Reports and messages of one reporter for one policy domain on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReporterDayRow {
    /// The policy domain.
    pub policy_domain: String,
    /// The day: unix seconds of its start (00:00 UTC).
    pub day: i64,
    /// `<org_name>` as written.
    pub org: String,
    /// Reports stored.
    pub reports: u64,
    /// Messages in their records.
    pub messages: u64,
    /// Of which passing DMARC (recomputed).
    pub dmarc_pass: u64,
}

/// `rollup_names` read back by id, kept while a read runs (bounded).
struct Names<'c> {
    connection: &'c Connection,
    cached: HashMap<u64, Box<str>>,
}

/// Names kept before the cache starts over.
const CACHED_NAMES: usize = 1 << 16;

impl Names<'_> {
    fn name(&mut self, id: u64) -> Result<&str, StoreError> {
        if !self.cached.contains_key(&id) {
            let name: Option<String> = self
                .connection
                .prepare_cached("SELECT name FROM rollup_names WHERE id = ?1")?
                .query_row([i64::try_from(id).unwrap_or(-1)], |row| row.get(0))
                .optional()?;
            if self.cached.len() >= CACHED_NAMES {
                self.cached.clear();
            }
            self.cached
                .insert(id, name.ok_or(StoreError::DamagedRollup)?.into());
        }
        Ok(self.cached.get(&id).map_or("", |name| name))
    }

    /// Replaces `target` with the names of `ids`.
    fn fill(&mut self, target: &mut Vec<String>, ids: &[u64]) -> Result<(), StoreError> {
        target.clear();
        for &id in ids {
            target.push(self.name(id)?.to_owned());
        }
        Ok(())
    }
}

impl Store {
    /// Streams the source-day rollup rows `filter` selects to `visit`, by policy domain (in
    /// the order it was first stored), day and source IP. One row is reused.
    pub fn read_source_days(
        &self,
        filter: &DayFilter,
        visit: &mut dyn FnMut(&SourceDayRow),
    ) -> Result<(), StoreError> {
        let _snapshot = self.connection.unchecked_transaction()?;
        let (first, last) = filter.days();
        let columns = "n.name, s.day, s.source_ip, s.records, s.aligned, s.forwarded,
                s.misaligned, s.unauthenticated, s.classes_seen, s.spf_aligned, s.dkim_aligned,
                s.quarantined, s.rejected, s.begin_offset, s.end_offset, s.names";
        // With a domain, its name is found first and its days are one range of the key.
        let sql = match filter.policy_domain {
            Some(_) => format!(
                "SELECT {columns} FROM rollup_names AS n CROSS JOIN source_days AS s
                 ON s.domain = n.id WHERE n.name = ?1 AND s.day >= ?2 AND s.day < ?3
                 ORDER BY s.domain, s.day, s.source_ip"
            ),
            None => format!(
                "SELECT {columns} FROM source_days AS s CROSS JOIN rollup_names AS n
                 ON n.id = s.domain WHERE ?1 IS NULL AND s.day >= ?2 AND s.day < ?3
                 ORDER BY s.domain, s.day, s.source_ip"
            ),
        };
        let mut statement = self.connection.prepare(&sql)?;
        let mut rows = statement.query(rusqlite::params![filter.policy_domain, first, last])?;
        let mut names = Names {
            connection: &self.connection,
            cached: HashMap::new(),
        };
        let mut out = SourceDayRow::default();
        while let Some(row) = rows.next()? {
            let text = |index| -> rusqlite::Result<String> {
                Ok(row.get::<_, Option<String>>(index)?.unwrap_or_default())
            };
            out.policy_domain = text(0)?;
            let day: i64 = row.get(1)?;
            out.day = day.saturating_mul(DAY);
            out.source_ip = text(2)?;
            let counts = read_counts(row, 3, day)?;
            out.records = counts.records;
            out.classes = ClassTally::default();
            for class in Classification::ALL {
                if counts.classes_seen & (1 << class as usize) != 0 {
                    out.classes.add(class, counts.classes[class as usize]);
                }
            }
            out.spf_aligned = counts.spf_aligned;
            out.dkim_aligned = counts.dkim_aligned;
            let messages = counts
                .classes
                .iter()
                .fold(0u64, |a, b| a.saturating_add(*b));
            out.dispositions = DispositionCounts {
                none: messages
                    .saturating_sub(counts.quarantined)
                    .saturating_sub(counts.rejected),
                quarantine: counts.quarantined,
                reject: counts.rejected,
            };
            out.first_begin = counts.first_begin;
            out.last_end = counts.last_end;
            let blob = row
                .get_ref(15)?
                .as_blob()
                .map_err(|_| StoreError::DamagedRollup)?;
            let sets = NameSets::decode(blob).ok_or(StoreError::DamagedRollup)?;
            names.fill(&mut out.reporters, &sets.reporters)?;
            out.dkim.clear();
            for &[domain, selector, result] in &sets.dkim {
                out.dkim.push(DkimRow {
                    domain: names.name(domain)?.to_owned(),
                    selector: match selector {
                        0 => None,
                        id => Some(names.name(id)?.to_owned()),
                    },
                    result: DkimResult::from_xml(names.name(result)?),
                });
            }
            out.spf.clear();
            for &[domain, result] in &sets.spf {
                out.spf.push(SpfRow {
                    domain: names.name(domain)?.to_owned(),
                    result: SpfResult::from_xml(names.name(result)?),
                });
            }
            names.fill(&mut out.helo_domains, &sets.helo)?;
            names.fill(&mut out.misaligned_dkim_pass, &sets.misaligned_dkim_pass)?;
            names.fill(&mut out.misaligned_spf_pass, &sets.misaligned_spf_pass)?;
            visit(&out);
        }
        Ok(())
    }

    /// Streams the reporter-day rollup rows `filter` selects to `visit`, by policy domain,
    /// day and reporter.
    pub fn read_reporter_days(
        &self,
        filter: &DayFilter,
        visit: &mut dyn FnMut(&ReporterDayRow),
    ) -> Result<(), StoreError> {
        let _snapshot = self.connection.unchecked_transaction()?;
        let (first, last) = filter.days();
        let mut statement = self.connection.prepare(
            "SELECT n.name, r.day, o.name, r.reports, r.messages, r.dmarc_pass
             FROM reporter_days AS r
             JOIN rollup_names AS n ON n.id = r.domain
             JOIN rollup_names AS o ON o.id = r.org
             WHERE (?1 IS NULL OR n.name = ?1) AND r.day >= ?2 AND r.day < ?3
             ORDER BY r.domain, r.day, r.org",
        )?;
        let mut rows = statement.query(rusqlite::params![filter.policy_domain, first, last])?;
        while let Some(row) = rows.next()? {
            visit(&ReporterDayRow {
                policy_domain: row.get(0)?,
                day: row.get::<_, i64>(1)?.saturating_mul(DAY),
                org: row.get(2)?,
                reports: count(row, 3)?,
                messages: count(row, 4)?,
                dmarc_pass: count(row, 5)?,
            });
        }
        Ok(())
    }
}
