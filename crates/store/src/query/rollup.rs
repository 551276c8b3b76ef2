//! The typed read of the rollups kept at ingest ([`crate::rollup`]): per policy domain, day
//! and source IP ([`Store::read_source_days`]) and per policy domain, day and reporter
//! ([`Store::read_reporter_days`]). A day is the UTC day of the reports' midpoints.

use super::read::{DkimRow, SpfRow};
use crate::classify::{ClassTally, Classification};
use crate::rollup::{NameSets, read_counts};
use crate::sql_value::count;
use crate::{Store, StoreError};
use foldhash::{HashMap, HashMapExt as _};
use ruadb_report::{DkimResult, SpfResult};
use rusqlite::{Connection, OptionalExtension};

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
        self.classes.total()
    }

    /// Messages passing DMARC (recomputed).
    pub fn dmarc_pass(&self) -> u64 {
        self.classes.dmarc_pass()
    }
}

/// What the records of all sources of one policy domain say on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainDayRow {
    /// The policy domain.
    pub policy_domain: String,
    /// The day: unix seconds of its start (00:00 UTC).
    pub day: i64,
    /// Records.
    pub records: u64,
    /// Messages per class (every class counted, with 0 messages perhaps); the aligned class
    /// is DMARC pass.
    pub classes: ClassTally,
    /// Messages with aligned SPF (recomputed).
    pub spf_aligned: u64,
    /// Messages with aligned DKIM (recomputed).
    pub dkim_aligned: u64,
    /// Messages by disposition.
    pub dispositions: DispositionCounts,
}

impl DomainDayRow {
    /// Messages.
    pub fn messages(&self) -> u64 {
        self.classes.total()
    }

    /// Messages passing DMARC (recomputed).
    pub fn dmarc_pass(&self) -> u64 {
        self.classes.dmarc_pass()
    }
}

/// Messages by disposition, from all messages and those quarantined and rejected.
fn dispositions(messages: u64, quarantined: u64, rejected: u64) -> DispositionCounts {
    DispositionCounts {
        none: messages
            .saturating_sub(quarantined)
            .saturating_sub(rejected),
        quarantine: quarantined,
        reject: rejected,
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
            let name = lookup_name(self.connection, id)?;
            if self.cached.len() >= CACHED_NAMES {
                self.cached.clear();
            }
            self.cached.insert(id, name.into());
        }
        Ok(self.cached.get(&id).map_or("", |name| name))
    }

    /// Replaces `target` with the names of `ids`, in the strings already there when it has
    /// them (the row is reused: most rows allocate nothing).
    fn fill(&mut self, target: &mut Vec<String>, ids: &[u64]) -> Result<(), StoreError> {
        target.truncate(ids.len());
        for (index, &id) in ids.iter().enumerate() {
            let name = self.name(id)?;
            match target.get_mut(index) {
                Some(slot) => replace(slot, name),
                None => target.push(name.to_owned()),
            }
        }
        Ok(())
    }
}

/// The name `rollup_names` holds under `id`; a missing one is damage.
fn lookup_name(connection: &Connection, id: u64) -> Result<String, StoreError> {
    connection
        .prepare_cached("SELECT name FROM rollup_names WHERE id = ?1")?
        .query_row([i64::try_from(id).unwrap_or(-1)], |row| row.get(0))
        .optional()?
        .ok_or(StoreError::DamagedRollup)
}

/// Sets `slot` to `text`, in its own allocation when it fits.
fn replace(slot: &mut String, text: &str) {
    slot.clear();
    slot.push_str(text);
}

/// How much of each source row [`SourceRows`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceDetail {
    /// Everything.
    Names,
    /// The messages per class only: every other count is 0, the name lists empty.
    Classes,
    /// The counts, and the name lists as `rollup_names` ids only ([`NameSets`]): for a
    /// reader that looks each distinct name up once rather than once per row.
    Ids,
    /// As [`SourceDetail::Ids`], without the records, dispositions and report span (read
    /// as 0): what a summary's period needs, in five columns fewer.
    Results,
}

/// Reads source rollup rows into one reused [`SourceDayRow`] (and [`NameSets`]).
struct SourceRows<'c> {
    connection: &'c Connection,
    detail: SourceDetail,
    names: Names<'c>,
    out: SourceDayRow,
    sets: NameSets,
}

impl<'c> SourceRows<'c> {
    fn new(connection: &'c Connection, detail: SourceDetail) -> SourceRows<'c> {
        SourceRows {
            connection,
            detail,
            names: Names {
                connection,
                cached: HashMap::new(),
            },
            out: SourceDayRow::default(),
            sets: NameSets::default(),
        }
    }

    /// Streams the rows of days `[first, end)`, of one policy domain or all, by policy
    /// domain, day and source IP.
    fn read(
        &mut self,
        domain: Option<&str>,
        (first, end): (i64, i64),
        visit: &mut dyn FnMut(&SourceDayRow, &NameSets),
    ) -> Result<(), StoreError> {
        // The domain's name first (not read for one domain: it is the one asked for), then
        // the columns of the classes at the same places in every detail.
        let name = if domain.is_some() { "NULL" } else { "n.name" };
        let columns = match self.detail {
            SourceDetail::Classes => format!(
                "{name}, s.day, s.source_ip, NULL, s.aligned, s.forwarded, s.misaligned,
                s.unauthenticated, s.classes_seen"
            ),
            SourceDetail::Names | SourceDetail::Ids => format!(
                "{name}, s.day, s.source_ip, s.records, s.aligned, s.forwarded, s.misaligned,
                s.unauthenticated, s.classes_seen, s.spf_aligned, s.dkim_aligned, s.quarantined,
                s.rejected, s.begin_offset, s.end_offset, s.names"
            ),
            SourceDetail::Results => format!(
                "{name}, s.day, s.source_ip, NULL, s.aligned, s.forwarded, s.misaligned,
                s.unauthenticated, s.classes_seen, s.spf_aligned, s.dkim_aligned, NULL, NULL,
                NULL, NULL, s.names"
            ),
        };
        let key = Key {
            domain: "s.domain",
            span: "s.day",
            rest: ", s.source_ip",
            joins: "",
        };
        let mut statement = self.connection.prepare_cached(&by_domain(
            &columns,
            "source_days AS s",
            &key,
            domain.is_some(),
        ))?;
        let mut rows = statement.query(rusqlite::params![domain, first, end])?;
        let out = &mut self.out;
        // One domain's rows are all of it: its name is the one asked for, not read per row.
        if let Some(domain) = domain {
            out.policy_domain.clear();
            out.policy_domain.push_str(domain);
        }
        while let Some(row) = rows.next()? {
            if domain.is_none() {
                // Most rows repeat the domain of the one before.
                let name = row.get_ref(0)?.as_str().unwrap_or_default();
                if out.policy_domain != name {
                    out.policy_domain.clear();
                    out.policy_domain.push_str(name);
                }
            }
            let day: i64 = row.get(1)?;
            out.day = day.saturating_mul(DAY);
            out.source_ip.clear();
            out.source_ip
                .push_str(row.get_ref(2)?.as_str().unwrap_or_default());
            if matches!(self.detail, SourceDetail::Classes | SourceDetail::Results) {
                out.classes = class_tally(row.get::<_, i64>(8)? as u8, |class| {
                    count(row, 4 + class as usize)
                })?;
                if self.detail == SourceDetail::Results {
                    out.spf_aligned = count(row, 9)?;
                    out.dkim_aligned = count(row, 10)?;
                    decode_sets(&mut self.sets, row)?;
                }
                visit(out, &self.sets);
                continue;
            }
            let counts = read_counts(row, 3, day)?;
            out.records = counts.records;
            out.classes = class_tally(counts.classes_seen, |class| {
                Ok(counts.classes[class as usize])
            })?;
            out.spf_aligned = counts.spf_aligned;
            out.dkim_aligned = counts.dkim_aligned;
            out.dispositions =
                dispositions(out.classes.total(), counts.quarantined, counts.rejected);
            out.first_begin = counts.first_begin;
            out.last_end = counts.last_end;
            decode_sets(&mut self.sets, row)?;
            if self.detail == SourceDetail::Names {
                fill_names(&mut self.names, out, &self.sets)?;
            }
            visit(out, &self.sets);
        }
        Ok(())
    }
}

/// Reads the name lists of a source row (its column 15) into `sets`.
fn decode_sets(sets: &mut NameSets, row: &rusqlite::Row<'_>) -> Result<(), StoreError> {
    let blob = row
        .get_ref(15)?
        .as_blob()
        .map_err(|_| StoreError::DamagedRollup)?;
    if sets.decode_from(blob) {
        Ok(())
    } else {
        Err(StoreError::DamagedRollup)
    }
}

/// The tally of a source-day: the classes whose bit is set in `seen`, each with the messages
/// `messages` gives for it (a class with 0 messages but seen is kept, so it still counts).
fn class_tally(
    seen: u8,
    mut messages: impl FnMut(Classification) -> rusqlite::Result<u64>,
) -> rusqlite::Result<ClassTally> {
    let mut tally = ClassTally::default();
    for class in Classification::ALL {
        if seen & (1 << class as usize) != 0 {
            tally.add(class, messages(class)?);
        }
    }
    Ok(tally)
}

/// The key of a rollup table, for [`by_domain`]: its policy domain id column, its day column,
/// the rest of the key, and the joins of the other names its columns need.
struct Key<'a> {
    domain: &'a str,
    span: &'a str,
    rest: &'a str,
    joins: &'a str,
}

/// `SELECT columns FROM table` (joined to the policy domain's name as `n`), the rows of ?1 (a
/// domain's name; NULL for every domain when `one_domain` is false) whose day is in
/// `[?2, ?3)`, in key order. With a domain, its name is found first and its rows are one
/// range of the key; without, the table is read in order.
fn by_domain(columns: &str, table: &str, key: &Key<'_>, one_domain: bool) -> String {
    let Key {
        domain,
        span,
        rest,
        joins,
    } = key;
    if one_domain {
        format!(
            "SELECT {columns} FROM rollup_names AS n CROSS JOIN {table}
             ON {domain} = n.id {joins} WHERE n.name = ?1 AND {span} >= ?2 AND {span} < ?3
             ORDER BY {domain}, {span}{rest}"
        )
    } else {
        format!(
            "SELECT {columns} FROM {table} CROSS JOIN rollup_names AS n
             ON n.id = {domain} {joins} WHERE ?1 IS NULL AND {span} >= ?2 AND {span} < ?3
             ORDER BY {domain}, {span}{rest}"
        )
    }
}

/// Sets the name lists of `out` from the ids in `sets`.
fn fill_names(
    names: &mut Names<'_>,
    out: &mut SourceDayRow,
    sets: &NameSets,
) -> Result<(), StoreError> {
    names.fill(&mut out.reporters, &sets.reporters)?;
    out.dkim.resize_with(sets.dkim.len(), || DkimRow {
        domain: String::new(),
        selector: None,
        result: DkimResult::None,
    });
    for (row, &[domain, selector, result]) in out.dkim.iter_mut().zip(&sets.dkim) {
        replace(&mut row.domain, names.name(domain)?);
        match (selector, &mut row.selector) {
            (0, kept) => *kept = None,
            (id, Some(kept)) => replace(kept, names.name(id)?),
            (id, kept) => *kept = Some(names.name(id)?.to_owned()),
        }
        row.result = DkimResult::from_xml(names.name(result)?);
    }
    out.spf.resize_with(sets.spf.len(), || SpfRow {
        domain: String::new(),
        result: SpfResult::None,
    });
    for (row, &[domain, result]) in out.spf.iter_mut().zip(&sets.spf) {
        replace(&mut row.domain, names.name(domain)?);
        row.result = SpfResult::from_xml(names.name(result)?);
    }
    names.fill(&mut out.helo_domains, &sets.helo)?;
    names.fill(&mut out.misaligned_dkim_pass, &sets.misaligned_dkim_pass)?;
    names.fill(&mut out.misaligned_spf_pass, &sets.misaligned_spf_pass)?;
    Ok(())
}

impl Store {
    /// Streams the source-day rollup rows `filter` selects to `visit`, by policy domain (in
    /// the order it was first stored), day and source IP. One row is reused.
    pub fn read_source_days(
        &self,
        filter: &DayFilter,
        visit: &mut dyn FnMut(&SourceDayRow),
    ) -> Result<(), StoreError> {
        self.read_sources(filter, SourceDetail::Names, &mut |row, _| visit(row))
    }

    /// [`Store::read_source_days`] with the name lists left empty in the row and given as
    /// `rollup_names` ids instead (see [`Store::rollup_name`]): for a reader that looks
    /// each distinct name up once rather than copying it out of every row.
    pub fn read_source_day_ids(
        &self,
        filter: &DayFilter,
        visit: &mut dyn FnMut(&SourceDayRow, &NameSets),
    ) -> Result<(), StoreError> {
        self.read_sources(filter, SourceDetail::Ids, visit)
    }

    /// [`Store::read_source_day_ids`] without the records, dispositions and report span of
    /// each row (0 in the row): the messages by class, aligned SPF and DKIM, and the name
    /// lists as ids, which is what a summary reads of its period, at the cost of fewer
    /// columns.
    pub fn read_source_day_results(
        &self,
        filter: &DayFilter,
        visit: &mut dyn FnMut(&SourceDayRow, &NameSets),
    ) -> Result<(), StoreError> {
        self.read_sources(filter, SourceDetail::Results, visit)
    }

    /// The name `rollup_names` holds under `id` (an id of [`NameSets`]); a missing one is
    /// [`StoreError::DamagedRollup`].
    pub fn rollup_name(&self, id: u64) -> Result<String, StoreError> {
        lookup_name(&self.connection, id)
    }

    /// [`Store::read_source_days`] with the messages per class only (every other count 0,
    /// the name lists empty): what the weeks before a summary's period are read for (the
    /// sources seen, and their classes for the readiness), at the cost of fewer columns.
    pub fn read_source_classes(
        &self,
        filter: &DayFilter,
        visit: &mut dyn FnMut(&SourceDayRow),
    ) -> Result<(), StoreError> {
        self.read_sources(filter, SourceDetail::Classes, &mut |row, _| visit(row))
    }

    /// The reader behind [`Store::read_source_days`], [`Store::read_source_day_ids`],
    /// and [`Store::read_source_classes`].
    fn read_sources(
        &self,
        filter: &DayFilter,
        detail: SourceDetail,
        visit: &mut dyn FnMut(&SourceDayRow, &NameSets),
    ) -> Result<(), StoreError> {
        let _snapshot = self.read_transaction()?;
        let mut reader = SourceRows::new(&self.connection, detail);
        reader.read(filter.policy_domain.as_deref(), filter.days(), visit)
    }

    /// Streams the rows of `domain_days` `filter` selects to `visit`, by policy domain and
    /// day.
    pub fn read_domain_days(
        &self,
        filter: &DayFilter,
        visit: &mut dyn FnMut(&DomainDayRow),
    ) -> Result<(), StoreError> {
        let _snapshot = self.read_transaction()?;
        let (first, last) = filter.days();
        let columns = "n.name, d.day, d.records, d.aligned, d.forwarded, d.misaligned,
            d.unauthenticated, d.spf_aligned, d.dkim_aligned, d.quarantined, d.rejected";
        let key = Key {
            domain: "d.domain",
            span: "d.day",
            rest: "",
            joins: "",
        };
        let mut statement = self.connection.prepare_cached(&by_domain(
            columns,
            "domain_days AS d",
            &key,
            filter.policy_domain.is_some(),
        ))?;
        let mut rows = statement.query(rusqlite::params![filter.policy_domain, first, last])?;
        while let Some(row) = rows.next()? {
            let mut classes = ClassTally::default();
            for class in Classification::ALL {
                classes.add(class, count(row, 3 + class as usize)?);
            }
            let messages = classes.total();
            visit(&DomainDayRow {
                policy_domain: row.get(0)?,
                day: row.get::<_, i64>(1)?.saturating_mul(DAY),
                records: count(row, 2)?,
                classes,
                spf_aligned: count(row, 7)?,
                dkim_aligned: count(row, 8)?,
                dispositions: dispositions(messages, count(row, 9)?, count(row, 10)?),
            });
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
        let _snapshot = self.read_transaction()?;
        let (first, last) = filter.days();
        let key = Key {
            domain: "r.domain",
            span: "r.day",
            rest: ", r.org",
            joins: "JOIN rollup_names AS o ON o.id = r.org",
        };
        let mut statement = self.connection.prepare_cached(&by_domain(
            "n.name, r.day, o.name, r.reports, r.messages, r.dmarc_pass",
            "reporter_days AS r",
            &key,
            filter.policy_domain.is_some(),
        ))?;
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
