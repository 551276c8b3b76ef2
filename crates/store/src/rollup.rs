//! Rollups kept at ingest: what the records of a policy domain say per UTC day and source IP
//! (`source_days`), per day over all sources (`domain_days`) and per day and reporter
//! (`reporter_days`), so that `sources`, the summary and the daily views read sources × days
//! instead of every record.
//!
//! Rules:
//! - A report counts on the UTC day of its midpoint ([`report_midpoint`]), the summary's
//!   attribution rule: a whole report lands on one (policy domain, day).
//! - A rollup counts exactly the records `record_outcomes` shows: those of stored reports
//!   (duplicates and conflicts are never counted, a report that fails mid-stream is not).
//! - They are written in the transaction of the records they summarise. A report's cells are
//!   merged in memory when it ends ([`RollupWriter`]), across the reports of the transaction,
//!   and each source-day is written once, in key order, when the transaction
//!   commits (or earlier, by size, and before any savepoint, so that a rollback takes back
//!   exactly the cells of what it undoes). A report with very many sources writes its cells
//!   before it ends; if it then fails, its day is rebuilt from the records left.
//! - Names (policy domains, reporters, DKIM domains, selectors, results, SPF domains) are
//!   interned in `rollup_names`; a source-day's sets are one BLOB of varints ([`NameSets`]).
//! - The migration that adds them and `reparse` build them from the stored records
//!   ([`rebuild_all`]) with the same fold as ingest.

use crate::StoreError;
use crate::classify::{Classification, RecordFacts, classify_record, is_forwarding_reason};
use crate::sorted_set::SortedSet;
use crate::sql_value::{Sql, optional_enum, report_enum};
use foldhash::{HashMap, HashMapExt as _};
use ruadb_report::{Disposition, DkimResult, PolicyOverride, SpfResult, SpfScope};
use rusqlite::{CachedStatement, Connection, OptionalExtension, named_params, params};
use std::collections::hash_map::Entry;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// The midpoint of a report's date range (rounded down): the moment a report is attributed
/// to. A range given backwards is taken as written at its begin.
pub fn report_midpoint(begin: i64, end: i64) -> i64 {
    if end <= begin {
        return begin;
    }
    // In i128: a hostile report may put `begin` and `end` anywhere in i64. The floor of the
    // mean lies between them, so it fits back.
    let mean = (i128::from(begin) + i128::from(end)).div_euclid(2);
    i64::try_from(mean).unwrap_or(begin)
}

/// The rollup day of a report: days since 1970-01-01 of its midpoint (UTC).
pub(crate) fn report_day(begin: i64, end: i64) -> i64 {
    report_midpoint(begin, end).div_euclid(DAY)
}

/// Rollup cells of one report held before they are merged into `source_days` (a report with
/// more distinct source IPs is written in parts, so a hostile report with a million IPs costs
/// a bounded amount of memory). Each cell costs about this much plus its sets.
const CELL_BYTES: usize = 160;
/// Memory for the cells of one report before they are written.
const REPORT_ROLLUP_BYTES: usize = 1 << 20;

/// The sets of one source-day, as `rollup_names` ids, each sorted without repeats. Stored as
/// one BLOB: per set (in field order) its length, then its values, as LEB128 varints; a DKIM
/// result is (domain, selector or 0, result), an SPF result (domain, result). A reader
/// looks an id's name up with [`Store::rollup_name`](crate::Store::rollup_name).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NameSets {
    /// Reporting organisations.
    pub reporters: Vec<u64>,
    /// DKIM results: (d=, s= or 0, result).
    pub dkim: Vec<[u64; 3]>,
    /// SPF results of scope mfrom or unstated: (domain, result).
    pub spf: Vec<[u64; 2]>,
    /// Domains of SPF results of scope HELO.
    pub helo: Vec<u64>,
    /// DKIM domains that passed in misaligned records.
    pub misaligned_dkim_pass: Vec<u64>,
    /// SPF domains that passed in misaligned records.
    pub misaligned_spf_pass: Vec<u64>,
}

/// [`NameSets`] while a report is folded.
#[derive(Debug, Default)]
struct BuildingSets {
    reporters: SortedSet<u64>,
    dkim: SortedSet<[u64; 3]>,
    spf: SortedSet<[u64; 2]>,
    helo: SortedSet<u64>,
    misaligned_dkim_pass: SortedSet<u64>,
    misaligned_spf_pass: SortedSet<u64>,
}

/// Values kept per set of one source-day. Real sources show a handful; a hostile input can
/// give one source millions of distinct DKIM domains, which would make the row (read and
/// written whole) and its merge unbounded. Past the cap the smallest ids are kept (the names
/// seen first); the counts stay exact.
pub(crate) const MAX_SET_VALUES: usize = 100_000;

impl BuildingSets {
    /// Adds the values of `sets` (a stored row's, folded into a coarser one).
    fn extend(&mut self, sets: NameSets) {
        fn add<T: Ord>(building: &mut SortedSet<T>, values: Vec<T>) {
            for value in values {
                building.insert(value);
            }
        }
        add(&mut self.reporters, sets.reporters);
        add(&mut self.dkim, sets.dkim);
        add(&mut self.spf, sets.spf);
        add(&mut self.helo, sets.helo);
        add(&mut self.misaligned_dkim_pass, sets.misaligned_dkim_pass);
        add(&mut self.misaligned_spf_pass, sets.misaligned_spf_pass);
    }

    /// The stored form of the sets (see [`NameSets`]), each cut to [`MAX_SET_VALUES`],
    /// written from the sets themselves rather than through a [`NameSets`] of vectors that
    /// would be dropped at once.
    fn encode(self) -> Vec<u8> {
        fn capped<T: Ord>(set: SortedSet<T>) -> impl ExactSizeIterator<Item = T> {
            set.into_sorted_iter().take(MAX_SET_VALUES)
        }
        let flat = |set| capped(set).map(|value| [value]);
        let mut out = Vec::new();
        put_list(&mut out, flat(self.reporters));
        put_list(&mut out, capped(self.dkim));
        put_list(&mut out, capped(self.spf));
        put_list(&mut out, flat(self.helo));
        put_list(&mut out, flat(self.misaligned_dkim_pass));
        put_list(&mut out, flat(self.misaligned_spf_pass));
        out
    }
}

impl From<NameSets> for BuildingSets {
    fn from(sets: NameSets) -> BuildingSets {
        let mut building = BuildingSets::default();
        building.extend(sets);
        building
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// Writes one set of the stored form: its length, then its values (an entry of a set of
/// tuples is its parts in order).
fn put_list<const N: usize>(out: &mut Vec<u8>, entries: impl ExactSizeIterator<Item = [u64; N]>) {
    put_varint(out, entries.len() as u64);
    for entry in entries {
        for value in entry {
            put_varint(out, value);
        }
    }
}

impl NameSets {
    /// Reads the stored form; `None` if it is damaged.
    pub(crate) fn decode(bytes: &[u8]) -> Option<NameSets> {
        let mut sets = NameSets::default();
        sets.decode_from(bytes).then_some(sets)
    }

    /// Replaces the sets with those of the stored form `bytes`, reusing their memory (a
    /// reader of many rows decodes each into the same sets); false if it is damaged, and
    /// then the sets are left partly filled.
    pub(crate) fn decode_from(&mut self, mut bytes: &[u8]) -> bool {
        fn list<const N: usize>(bytes: &mut &[u8], values: &mut Vec<[u64; N]>) -> Option<()> {
            values.clear();
            let len = usize::try_from(take_varint(bytes)?).ok()?;
            // Every value takes at least a byte: a damaged length cannot reserve more.
            values.reserve(len.min(bytes.len()));
            for _ in 0..len {
                let mut value = [0; N];
                for part in &mut value {
                    *part = take_varint(bytes)?;
                }
                values.push(value);
            }
            Some(())
        }
        fn flat(bytes: &mut &[u8], values: &mut Vec<u64>) -> Option<()> {
            values.clear();
            let len = usize::try_from(take_varint(bytes)?).ok()?;
            values.reserve(len.min(bytes.len()));
            for _ in 0..len {
                values.push(take_varint(bytes)?);
            }
            Some(())
        }
        let decoded = (|| {
            flat(&mut bytes, &mut self.reporters)?;
            list(&mut bytes, &mut self.dkim)?;
            list(&mut bytes, &mut self.spf)?;
            flat(&mut bytes, &mut self.helo)?;
            flat(&mut bytes, &mut self.misaligned_dkim_pass)?;
            flat(&mut bytes, &mut self.misaligned_spf_pass)
        })();
        decoded.is_some() && bytes.is_empty()
    }
}

/// The counts of one source-day.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceCounts {
    pub records: u64,
    /// Messages per [`Classification`], in [`Classification::ALL`] order.
    pub classes: [u64; 4],
    /// Bit `1 << class` for each class some record had (records with a count of 0 included).
    pub classes_seen: u8,
    pub spf_aligned: u64,
    pub dkim_aligned: u64,
    pub quarantined: u64,
    pub rejected: u64,
    pub first_begin: i64,
    pub last_end: i64,
}

impl SourceCounts {
    /// Counts one record of `class` with `messages` messages.
    fn count(&mut self, class: Classification, messages: u64, record: Counted) {
        self.records += 1;
        let index = class as usize;
        self.classes[index] = self.classes[index].saturating_add(messages);
        self.classes_seen |= 1 << index;
        let add = |total: &mut u64, yes: bool| {
            if yes {
                *total = total.saturating_add(messages);
            }
        };
        add(&mut self.spf_aligned, record.spf_aligned);
        add(&mut self.dkim_aligned, record.dkim_aligned);
        add(&mut self.quarantined, record.quarantined);
        add(&mut self.rejected, record.rejected);
    }

    fn merge(&mut self, other: &SourceCounts) {
        self.records = self.records.saturating_add(other.records);
        for (mine, theirs) in self.classes.iter_mut().zip(other.classes) {
            *mine = mine.saturating_add(theirs);
        }
        self.classes_seen |= other.classes_seen;
        self.spf_aligned = self.spf_aligned.saturating_add(other.spf_aligned);
        self.dkim_aligned = self.dkim_aligned.saturating_add(other.dkim_aligned);
        self.quarantined = self.quarantined.saturating_add(other.quarantined);
        self.rejected = self.rejected.saturating_add(other.rejected);
        self.first_begin = self.first_begin.min(other.first_begin);
        self.last_end = self.last_end.max(other.last_end);
    }
}

/// What a record adds besides its class and messages.
#[derive(Debug, Clone, Copy)]
struct Counted {
    spf_aligned: bool,
    dkim_aligned: bool,
    quarantined: bool,
    rejected: bool,
}

/// One source IP of the report being folded.
#[derive(Debug, Default)]
struct Cell {
    counts: SourceCounts,
    sets: BuildingSets,
}

/// `rollup_names` ids by name, kept for a whole write transaction (most inputs repeat the
/// names of the ones before them). A cache must not outlive the rows it names: whoever rolls
/// back to a savepoint drops it (see `Batch`), and an input that fails hands none back.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<Box<str>, u64>,
    /// Bytes of the names held.
    bytes: usize,
}

/// Names cached before the cache starts over (hostile inputs bring many, and long ones).
const INTERNER_NAMES: usize = 16_384;
/// Bytes of names cached before the cache starts over.
const INTERNER_BYTES: usize = 1 << 20;

impl Interner {
    /// The id of `name`, added to `rollup_names` if new.
    pub fn id(&mut self, connection: &Connection, name: &str) -> Result<u64, StoreError> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        let found: Option<i64> = connection
            .prepare_cached("SELECT id FROM rollup_names WHERE name = ?1")?
            .query_row([name], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                connection
                    .prepare_cached("INSERT INTO rollup_names (name) VALUES (?1)")?
                    .execute([name])?;
                connection.last_insert_rowid()
            }
        };
        // Rowids start at 1 and only grow.
        let id = u64::try_from(id).unwrap_or_default();
        if self.ids.len() >= INTERNER_NAMES || self.bytes + name.len() > INTERNER_BYTES {
            self.ids.clear();
            self.bytes = 0;
        }
        self.bytes += name.len();
        self.ids.insert(name.into(), id);
        Ok(id)
    }
}

/// One DKIM result as the fold sees it.
pub(crate) struct DkimFact<'a> {
    pub domain: &'a str,
    /// `s=`, `None` when absent or empty.
    pub selector: Option<&'a str>,
    pub result: &'a DkimResult,
}

/// One SPF result as the fold sees it.
pub(crate) struct SpfFact<'a> {
    pub domain: &'a str,
    pub helo: bool,
    pub result: &'a SpfResult,
}

/// One record as the fold sees it (parsed at ingest, or read back for a rebuild).
pub(crate) struct RecordFold<'a, D, S> {
    pub source_ip: &'a str,
    pub messages: u64,
    pub disposition: &'a Disposition,
    pub dmarc_pass: bool,
    pub spf_aligned: bool,
    pub dkim_aligned: bool,
    pub forwarding_reason: bool,
    pub header_from: &'a str,
    pub dkim: D,
    pub spf: S,
}

/// The rollup of one stored report, folded record by record.
pub(crate) struct ReportRollup {
    domain: u64,
    day: i64,
    org: u64,
    begin: i64,
    end: i64,
    cells: HashMap<Box<str>, Cell>,
    /// Approximate memory of `cells`.
    bytes: usize,
    /// Some cells were written before the report ended.
    written_early: bool,
    messages: u64,
    dmarc_pass: u64,
    /// Every record's counts, for `domain_days`.
    totals: SourceCounts,
}

impl ReportRollup {
    /// The rollup of a report of `policy_domain` by `org` over `[begin, end]`.
    pub fn new(
        connection: &Connection,
        names: &mut Interner,
        policy_domain: &str,
        org: &str,
        begin: i64,
        end: i64,
    ) -> Result<ReportRollup, StoreError> {
        Ok(ReportRollup {
            domain: names.id(connection, policy_domain)?,
            day: report_day(begin, end),
            org: names.id(connection, org)?,
            begin,
            end,
            cells: HashMap::new(),
            bytes: 0,
            written_early: false,
            messages: 0,
            dmarc_pass: 0,
            totals: SourceCounts::default(),
        })
    }

    /// The policy domain's id and the day.
    pub fn place(&self) -> (u64, i64) {
        (self.domain, self.day)
    }

    /// Whether some of the report's cells are in the table already.
    pub fn written_early(&self) -> bool {
        self.written_early
    }

    /// Adds one record.
    pub fn add<'a, D, S>(
        &mut self,
        connection: &Connection,
        names: &mut Interner,
        record: RecordFold<'a, D, S>,
    ) -> Result<(), StoreError>
    where
        D: Iterator<Item = DkimFact<'a>> + Clone,
        S: Iterator<Item = SpfFact<'a>> + Clone,
    {
        let messages = record.messages;
        let facts = RecordFacts::from_parts(
            record.dmarc_pass,
            record.forwarding_reason,
            record.header_from,
            record.dkim.clone().map(|dkim| (dkim.domain, dkim.result)),
            record
                .spf
                .clone()
                .filter(|spf| !spf.helo)
                .map(|spf| spf.result),
        );
        let class = classify_record(&facts);
        self.messages = self.messages.saturating_add(messages);
        if record.dmarc_pass {
            self.dmarc_pass = self.dmarc_pass.saturating_add(messages);
        }
        if !self.cells.contains_key(record.source_ip) {
            self.bytes += CELL_BYTES + record.source_ip.len();
            self.cells.insert(
                record.source_ip.into(),
                Cell {
                    counts: SourceCounts {
                        first_begin: self.begin,
                        last_end: self.end,
                        ..SourceCounts::default()
                    },
                    sets: BuildingSets::default(),
                },
            );
        }
        let org = self.org;
        let Some(cell) = self.cells.get_mut(record.source_ip) else {
            return Ok(());
        };
        let counted = Counted {
            spf_aligned: record.spf_aligned,
            dkim_aligned: record.dkim_aligned,
            quarantined: *record.disposition == Disposition::Quarantine,
            rejected: *record.disposition == Disposition::Reject,
        };
        cell.counts.count(class, messages, counted);
        self.totals.count(class, messages, counted);
        let sets = &mut cell.sets;
        sets.reporters.insert(org);
        let mut added = 0;
        let misaligned = class == Classification::Misaligned;
        for dkim in record.dkim {
            let domain = names.id(connection, dkim.domain)?;
            let selector = match dkim.selector {
                Some(selector) => names.id(connection, selector)?,
                None => 0,
            };
            let result = names.id(connection, dkim.result.as_str())?;
            sets.dkim.insert([domain, selector, result]);
            // The advice names what passed in misaligned mail only: a pass in aligned mail is
            // aligned by definition.
            if misaligned && *dkim.result == DkimResult::Pass {
                sets.misaligned_dkim_pass.insert(domain);
            }
            added += 1;
        }
        for spf in record.spf {
            let domain = names.id(connection, spf.domain)?;
            if spf.helo {
                sets.helo.insert(domain);
            } else {
                let result = names.id(connection, spf.result.as_str())?;
                sets.spf.insert([domain, result]);
                if misaligned && *spf.result == SpfResult::Pass {
                    sets.misaligned_spf_pass.insert(domain);
                }
            }
            added += 1;
        }
        self.bytes += added * 32;
        if self.bytes > REPORT_ROLLUP_BYTES {
            self.write_cells(connection)?;
            self.written_early = true;
        }
        Ok(())
    }

    /// Merges the cells held into `source_days` and empties them (a report with very many
    /// sources, before it ends).
    fn write_cells(&mut self, connection: &Connection) -> Result<(), StoreError> {
        let mut source_days = SourceDays::new(connection)?;
        for (source_ip, Cell { counts, sets }) in self.cells.drain() {
            // Sorted and cut to their cap whether or not a row exists; the stored sets are
            // merged in only when it does.
            let names = sets.encode();
            source_days.merge((self.domain, self.day, &source_ip), counts, &names)?;
        }
        self.bytes = 0;
        Ok(())
    }
}

/// Where a source cell goes: (policy domain id, day, source IP).
type CellKey = (u64, i64, Box<str>);

/// A source cell held by a [`RollupWriter`]: its counts and its sets as stored
/// ([`BuildingSets::encode`]), a few dozen bytes where the sets being built take hundreds.
#[derive(Debug)]
struct HeldCell {
    counts: SourceCounts,
    names: Vec<u8>,
}

/// Memory of a held cell besides its source IP and its sets: the map's entry, the boxed
/// key and the blob's allocation.
const HELD_CELL_BYTES: usize = 224;

/// The reports and counts of one reporter-day, before they are merged into `reporter_days`.
#[derive(Debug, Default, Clone, Copy)]
struct ReporterDay {
    reports: u64,
    messages: u64,
    dmarc_pass: u64,
}

/// Memory for what a [`RollupWriter`] holds before it is written.
const PENDING_ROLLUP_BYTES: usize = 2 << 20;

/// The rollups' side of one write transaction: the names looked up in it, and the source
/// cells, reporter-days and domain-days of the reports that ended and are not written yet,
/// merged in memory.
///
/// Most sources send in several reports of a transaction (one per reporter), so a
/// source-day is written once instead of once per report, in
/// key order (appending to the tables' B-trees rather than splitting them at random), and a
/// row already in a table is read and merged only once. Whoever commits calls
/// [`RollupWriter::flush`] first; whoever rolls back to a savepoint flushes before taking it
/// and drops the writer after the rollback.
#[derive(Debug, Default)]
pub(crate) struct RollupWriter {
    /// The names looked up in this transaction.
    pub names: Interner,
    days: HashMap<CellKey, HeldCell>,
    reporters: HashMap<(u64, i64, u64), ReporterDay>,
    domain_days: HashMap<(u64, i64), SourceCounts>,
    /// Approximate memory of what is held.
    bytes: usize,
}

impl RollupWriter {
    /// Takes in a report that ended; written at the next flush (now, if what is held
    /// outgrows its memory).
    pub fn add_report(
        &mut self,
        connection: &Connection,
        report: ReportRollup,
    ) -> Result<(), StoreError> {
        let ReportRollup {
            domain,
            day,
            org,
            cells,
            messages,
            dmarc_pass,
            totals,
            ..
        } = report;
        for (source_ip, cell) in cells {
            self.bytes += hold(
                &mut self.days,
                (domain, day, source_ip),
                &cell.counts,
                cell.sets,
            )?;
        }
        let reporter = self.reporters.entry((domain, day, org)).or_default();
        reporter.reports = reporter.reports.saturating_add(1);
        reporter.messages = reporter.messages.saturating_add(messages);
        reporter.dmarc_pass = reporter.dmarc_pass.saturating_add(dmarc_pass);
        // Only the counts of a domain-day are written, not its times.
        self.domain_days
            .entry((domain, day))
            .or_default()
            .merge(&totals);
        self.bytes += 2 * HELD_CELL_BYTES;
        if self.bytes > PENDING_ROLLUP_BYTES {
            self.flush(connection)?;
        }
        Ok(())
    }

    /// Writes what is held, source rows in key order.
    pub fn flush(&mut self, connection: &Connection) -> Result<(), StoreError> {
        // The keys are sorted by reference: a second copy of the cells would double the
        // memory they take.
        if !self.days.is_empty() {
            let mut keys: Vec<&CellKey> = self.days.keys().collect();
            keys.sort_unstable();
            let mut source_days = SourceDays::new(connection)?;
            for key in keys {
                if let Some(held) = self.days.get(key) {
                    let (domain, day, source_ip) = key;
                    source_days.merge((*domain, *day, source_ip), held.counts, &held.names)?;
                }
            }
            self.days.clear();
        }
        if !self.reporters.is_empty() {
            let mut reporters: Vec<((u64, i64, u64), ReporterDay)> =
                self.reporters.drain().collect();
            reporters.sort_unstable_by_key(|(key, _)| *key);
            // An integer sum past 2^63 - 1 is a REAL in SQLite, which the `CAST`s turn back
            // into the largest integer: sums saturate, as in Rust.
            let mut upsert = connection.prepare_cached(
                "INSERT INTO reporter_days (domain, day, org, reports, messages, dmarc_pass)
                 VALUES (:domain, :day, :org, :reports, :messages, :dmarc_pass)
                 ON CONFLICT (domain, day, org) DO UPDATE SET
                    reports = CAST(reports + excluded.reports AS INTEGER),
                    messages = CAST(messages + excluded.messages AS INTEGER),
                    dmarc_pass = CAST(dmarc_pass + excluded.dmarc_pass AS INTEGER)",
            )?;
            for ((domain, day, org), reporter) in reporters {
                upsert.execute(named_params! {
                    ":domain": stored(domain),
                    ":day": day,
                    ":org": stored(org),
                    ":reports": stored(reporter.reports),
                    ":messages": stored(reporter.messages),
                    ":dmarc_pass": stored(reporter.dmarc_pass),
                })?;
            }
        }
        if !self.domain_days.is_empty() {
            let mut domain_days: Vec<((u64, i64), SourceCounts)> =
                self.domain_days.drain().collect();
            domain_days.sort_unstable_by_key(|(key, _)| *key);
            for ((domain, day), totals) in domain_days {
                add_domain_day(connection, domain, day, &totals)?;
            }
        }
        self.bytes = 0;
        Ok(())
    }

    /// Builds the rollups of one policy domain and day again from the stored records (after
    /// a report that had written some of its cells failed and its records were deleted).
    /// What is held is written first: the rebuild starts from the tables.
    pub fn rebuild_day(
        &mut self,
        connection: &Connection,
        domain: u64,
        day: i64,
    ) -> Result<(), StoreError> {
        self.flush(connection)?;
        rebuild_day(connection, domain, day)
    }
}

/// Merges one cell into `cells`; the memory it added.
fn hold(
    cells: &mut HashMap<CellKey, HeldCell>,
    key: CellKey,
    counts: &SourceCounts,
    mut sets: BuildingSets,
) -> Result<usize, StoreError> {
    let ip_bytes = key.2.len();
    match cells.entry(key) {
        Entry::Occupied(mut held) => {
            let held = held.get_mut();
            held.counts.merge(counts);
            sets.extend(NameSets::decode(&held.names).ok_or(StoreError::DamagedRollup)?);
            let names = sets.encode();
            let grown = names.len().saturating_sub(held.names.len());
            held.names = names;
            Ok(grown)
        }
        Entry::Vacant(slot) => {
            let names = sets.encode();
            let added = HELD_CELL_BYTES + ip_bytes + names.len();
            slot.insert(HeldCell {
                counts: *counts,
                names,
            });
            Ok(added)
        }
    }
}

/// `verb INTO source_days … tail` writing one row of every column, for
/// [`write_source_day`].
macro_rules! source_day_sql {
    ($verb:literal, $tail:literal) => {
        concat!(
            $verb,
            " INTO source_days (domain, day, source_ip, records, aligned, forwarded, misaligned,
            unauthenticated, classes_seen, spf_aligned, dkim_aligned, quarantined, rejected,
            begin_offset, end_offset, names)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) ",
            $tail
        )
    };
}

/// Merges cells into `source_days`, with its statements taken from the cache once for all the
/// cells of a flush: taking a statement from the cache and handing it back hashes its whole
/// SQL text each time, which cost about a tenth of each cell's merge.
struct SourceDays<'c> {
    connection: &'c Connection,
    insert: CachedStatement<'c>,
    /// Reading and replacing a row that exists; taken when a cell first needs them.
    merge: Option<(CachedStatement<'c>, CachedStatement<'c>)>,
}

impl<'c> SourceDays<'c> {
    fn new(connection: &'c Connection) -> Result<SourceDays<'c>, StoreError> {
        Ok(SourceDays {
            connection,
            insert: connection
                .prepare_cached(source_day_sql!("INSERT", "ON CONFLICT DO NOTHING"))?,
            merge: None,
        })
    }

    /// Merges one source's counts and sets into its row at (policy domain id, day, source
    /// IP).
    ///
    /// Most cells are a source's first on its day: they are inserted as they are, and only
    /// when the row exists is it read and merged (a read first for every cell cost a
    /// lookup each).
    fn merge(
        &mut self,
        place: (u64, i64, &str),
        mut counts: SourceCounts,
        names: &[u8],
    ) -> Result<(), StoreError> {
        if write_source_day(&mut self.insert, place, &counts, names)? == 1 {
            return Ok(());
        }
        let (read, replace) = match &mut self.merge {
            Some(statements) => statements,
            None => {
                let read = self.connection.prepare_cached(
                    "SELECT records, aligned, forwarded, misaligned, unauthenticated, classes_seen,
                            spf_aligned, dkim_aligned, quarantined, rejected, begin_offset,
                            end_offset, names
                     FROM source_days WHERE domain = ?1 AND day = ?2 AND source_ip = ?3",
                )?;
                let replace = self
                    .connection
                    .prepare_cached(source_day_sql!("INSERT OR REPLACE", ""))?;
                self.merge.insert((read, replace))
            }
        };
        let (domain, day, source_ip) = place;
        let (stored_counts, stored_names) = read
            .query_row(params![stored(domain), day, source_ip], |row| {
                Ok((read_counts(row, 0, day)?, row.get::<_, Vec<u8>>(12)?))
            })?;
        counts.merge(&stored_counts);
        let damaged = || StoreError::DamagedRollup;
        let mut building = BuildingSets::from(NameSets::decode(&stored_names).ok_or_else(damaged)?);
        building.extend(NameSets::decode(names).ok_or_else(damaged)?);
        write_source_day(replace, place, &counts, &building.encode())?;
        Ok(())
    }
}

/// Runs a [`source_day_sql`] statement for the row at (policy domain id, day, source IP);
/// the number of rows it changed.
fn write_source_day(
    statement: &mut CachedStatement<'_>,
    (domain, day, source_ip): (u64, i64, &str),
    counts: &SourceCounts,
    names: &[u8],
) -> Result<usize, StoreError> {
    let [aligned, forwarded, misaligned, unauthenticated] = counts.classes.map(stored);
    // From the day's start: most reports begin and end within a day of it, so the offsets
    // take a few bytes where the times take six.
    let day_start = day.saturating_mul(DAY);
    Ok(statement.execute(params![
        stored(domain),
        day,
        source_ip,
        stored(counts.records),
        aligned,
        forwarded,
        misaligned,
        unauthenticated,
        counts.classes_seen,
        stored(counts.spf_aligned),
        stored(counts.dkim_aligned),
        stored(counts.quarantined),
        stored(counts.rejected),
        counts.first_begin.saturating_sub(day_start),
        counts.last_end.saturating_sub(day_start),
        names,
    ])?)
}

/// Adds `counts` to the policy domain's row of `day` in `domain_days`. An integer sum past
/// 2^63 - 1 is a REAL in SQLite, which the `CAST`s turn back into the largest integer: sums
/// saturate, as in Rust.
fn add_domain_day(
    connection: &Connection,
    domain: u64,
    day: i64,
    counts: &SourceCounts,
) -> Result<(), StoreError> {
    let [aligned, forwarded, misaligned, unauthenticated] = counts.classes.map(stored);
    connection
        .prepare_cached(
            "INSERT INTO domain_days (domain, day, records, aligned, forwarded, misaligned,
                unauthenticated, spf_aligned, dkim_aligned, quarantined, rejected)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (domain, day) DO UPDATE SET
                records = CAST(records + excluded.records AS INTEGER),
                aligned = CAST(aligned + excluded.aligned AS INTEGER),
                forwarded = CAST(forwarded + excluded.forwarded AS INTEGER),
                misaligned = CAST(misaligned + excluded.misaligned AS INTEGER),
                unauthenticated = CAST(unauthenticated + excluded.unauthenticated AS INTEGER),
                spf_aligned = CAST(spf_aligned + excluded.spf_aligned AS INTEGER),
                dkim_aligned = CAST(dkim_aligned + excluded.dkim_aligned AS INTEGER),
                quarantined = CAST(quarantined + excluded.quarantined AS INTEGER),
                rejected = CAST(rejected + excluded.rejected AS INTEGER)",
        )?
        .execute(params![
            stored(domain),
            day,
            stored(counts.records),
            aligned,
            forwarded,
            misaligned,
            unauthenticated,
            stored(counts.spf_aligned),
            stored(counts.dkim_aligned),
            stored(counts.quarantined),
            stored(counts.rejected),
        ])?;
    Ok(())
}

/// A count as SQLite's signed integer (saturating).
fn stored(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The counts of a `source_days` row of day `day` whose columns from `at` on are those of
/// [`SourceCounts`], in table order (`records` to `end_offset`).
pub(crate) fn read_counts(
    row: &rusqlite::Row<'_>,
    at: usize,
    day: i64,
) -> rusqlite::Result<SourceCounts> {
    let day_start = day.saturating_mul(DAY);
    let count = |index| crate::sql_value::count(row, at + index);
    Ok(SourceCounts {
        records: count(0)?,
        classes: [count(1)?, count(2)?, count(3)?, count(4)?],
        classes_seen: row.get::<_, i64>(at + 5)? as u8,
        spf_aligned: count(6)?,
        dkim_aligned: count(7)?,
        quarantined: count(8)?,
        rejected: count(9)?,
        first_begin: day_start.saturating_add(row.get(at + 10)?),
        last_end: day_start.saturating_add(row.get(at + 11)?),
    })
}

/// Builds every rollup again from the stored reports and records (after the migration that
/// adds them, and after `reparse`).
pub(crate) fn rebuild_all(connection: &Connection) -> Result<(), StoreError> {
    connection.execute_batch(
        "DELETE FROM source_days; DELETE FROM reporter_days; DELETE FROM rollup_names;
         DELETE FROM domain_days;",
    )?;
    let mut rollups = RollupWriter::default();
    let mut reports = connection.prepare(
        "SELECT id, org_name, policy_domain, begin_utc, end_utc FROM reports ORDER BY id",
    )?;
    let mut rows = reports.query([])?;
    while let Some(row) = rows.next()? {
        let (id, org, domain): (i64, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let rollup = ReportRollup::new(
            connection,
            &mut rollups.names,
            &domain,
            &org,
            row.get(3)?,
            row.get(4)?,
        )?;
        fold_stored_records(connection, &mut rollups, id, rollup)?;
    }
    rollups.flush(connection)
}

/// Builds the rollups of one policy domain and day again from the stored records (after a
/// report that had written some of its cells failed and its records were deleted), and the
/// domain's row of that day in `domain_days` from its `source_days` (see
/// [`RollupWriter::rebuild_day`]).
fn rebuild_day(connection: &Connection, domain: u64, day: i64) -> Result<(), StoreError> {
    let domain_id = stored(domain);
    connection
        .prepare_cached("DELETE FROM source_days WHERE domain = ?1 AND day = ?2")?
        .execute(params![domain_id, day])?;
    connection
        .prepare_cached("DELETE FROM reporter_days WHERE domain = ?1 AND day = ?2")?
        .execute(params![domain_id, day])?;
    let mut rollups = RollupWriter::default();
    let reports = connection
        .prepare_cached(
            "SELECT rep.id, rep.org_name, rep.policy_domain, rep.begin_utc, rep.end_utc
             FROM reports AS rep JOIN rollup_names AS n ON n.name = rep.policy_domain
             WHERE n.id = ?1 ORDER BY rep.id",
        )?
        .query_map([domain_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, i64>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (id, org, policy_domain, begin, end) in reports {
        if report_day(begin, end) != day {
            continue;
        }
        let rollup = ReportRollup::new(
            connection,
            &mut rollups.names,
            &policy_domain,
            &org,
            begin,
            end,
        )?;
        fold_stored_records(connection, &mut rollups, id, rollup)?;
    }
    rollups.flush(connection)?;
    // The refold above added the day's counts to the domain's day again: it is summed anew.
    rebuild_domain_days(connection, Some((domain, day)))
}

/// Builds `domain_days` from `source_days`: all of it (after the migration that adds it), or
/// the row of one policy domain id and day.
pub(crate) fn rebuild_domain_days(
    connection: &Connection,
    scope: Option<(u64, i64)>,
) -> Result<(), StoreError> {
    let (domain, first, end) = match scope {
        Some((domain, day)) => (Some(stored(domain)), day, day.saturating_add(1)),
        None => (None, i64::MIN, i64::MAX),
    };
    connection
        .prepare_cached(
            "DELETE FROM domain_days WHERE (?1 IS NULL OR domain = ?1) AND day >= ?2 AND day < ?3",
        )?
        .execute(params![domain, first, end])?;
    let mut rows = connection.prepare_cached(
        "SELECT domain, day, records, aligned, forwarded, misaligned, unauthenticated,
                classes_seen, spf_aligned, dkim_aligned, quarantined, rejected, begin_offset,
                end_offset
         FROM source_days WHERE (?1 IS NULL OR domain = ?1) AND day >= ?2 AND day < ?3
         ORDER BY domain, day",
    )?;
    let mut rows = rows.query(params![domain, first, end])?;
    let mut day_totals: Option<((u64, i64), SourceCounts)> = None;
    while let Some(row) = rows.next()? {
        let domain = u64::try_from(row.get::<_, i64>(0)?).unwrap_or_default();
        let day: i64 = row.get(1)?;
        let counts = read_counts(row, 2, day)?;
        match &mut day_totals {
            Some((place, totals)) if *place == (domain, day) => totals.merge(&counts),
            _ => {
                if let Some(((domain, day), totals)) = day_totals.take() {
                    add_domain_day(connection, domain, day, &totals)?;
                }
                day_totals = Some(((domain, day), counts));
            }
        }
    }
    if let Some(((domain, day), totals)) = day_totals {
        add_domain_day(connection, domain, day, &totals)?;
    }
    Ok(())
}

/// Folds the stored records of report `report` into `rollup` and hands it to `rollups`.
fn fold_stored_records(
    connection: &Connection,
    rollups: &mut RollupWriter,
    report: i64,
    mut rollup: ReportRollup,
) -> Result<(), StoreError> {
    let mut records = connection.prepare_cached(
        "SELECT id, source_ip, message_count, disposition, header_from, dmarc_pass,
                spf_aligned, dkim_aligned
         FROM records WHERE report = ?1 ORDER BY id",
    )?;
    let mut dkim_rows = connection.prepare_cached(
        "SELECT domain, selector, result FROM dkim_results WHERE record = ?1 ORDER BY seq",
    )?;
    let mut spf_rows = connection.prepare_cached(
        "SELECT domain, scope, result FROM spf_results WHERE record = ?1 ORDER BY seq",
    )?;
    let mut reasons = connection.prepare_cached("SELECT type FROM reasons WHERE record = ?1")?;
    let mut rows = records.query([report])?;
    while let Some(row) = rows.next()? {
        let record: i64 = row.get(0)?;
        let source_ip: String = row.get(1)?;
        let messages = crate::sql_value::count(row, 2)?;
        let disposition: Disposition = report_enum(row, 3)?;
        let header_from: String = row.get::<_, Option<String>>(4)?.unwrap_or_default();
        let dkim: Vec<(String, Option<String>, DkimResult)> = dkim_rows
            .query_map([record], |row| {
                Ok((
                    row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    row.get::<_, Option<String>>(1)?
                        .filter(|selector| !selector.is_empty()),
                    report_enum(row, 2)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let spf: Vec<(String, bool, SpfResult)> = spf_rows
            .query_map([record], |row| {
                Ok((
                    row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    optional_enum::<SpfScope>(row, 1)? == Some(SpfScope::Helo),
                    report_enum(row, 2)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let forwarding_reason = reasons
            .query_map([record], |row| Ok(row.get::<_, Sql<PolicyOverride>>(0)?.0))?
            .collect::<Result<Vec<_>, _>>()?
            .iter()
            .any(is_forwarding_reason);
        rollup.add(
            connection,
            &mut rollups.names,
            RecordFold {
                source_ip: &source_ip,
                messages,
                disposition: &disposition,
                dmarc_pass: row.get(5)?,
                spf_aligned: row.get(6)?,
                dkim_aligned: row.get(7)?,
                forwarding_reason,
                header_from: &header_from,
                dkim: dkim.iter().map(|(domain, selector, result)| DkimFact {
                    domain,
                    selector: selector.as_deref(),
                    result,
                }),
                spf: spf.iter().map(|(domain, helo, result)| SpfFact {
                    domain,
                    helo: *helo,
                    result,
                }),
            },
        )?;
    }
    rollups.add_report(connection, rollup)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored form of `sets`, as the writer makes it.
    fn encode(sets: &NameSets) -> Vec<u8> {
        BuildingSets::from(sets.clone()).encode()
    }

    #[test]
    fn name_sets_round_trip() {
        let sets = NameSets {
            reporters: vec![1, 300, 70_000],
            dkim: vec![[2, 0, 3], [2, 5, 3]],
            spf: vec![[9, 3]],
            helo: vec![],
            misaligned_dkim_pass: vec![2],
            misaligned_spf_pass: vec![u64::MAX],
        };
        let bytes = encode(&sets);
        assert_eq!(NameSets::decode(&bytes), Some(sets));
        assert_eq!(NameSets::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(
            encode(&NameSets::default()),
            vec![0; 6],
            "an empty set is a byte"
        );
        let mut longer = encode(&NameSets::default());
        longer.push(1);
        assert_eq!(NameSets::decode(&longer), None, "trailing bytes are damage");
    }

    #[test]
    fn a_set_keeps_at_most_its_cap_the_smallest_ids_first() {
        let mut building = BuildingSets::default();
        for id in (0..MAX_SET_VALUES as u64 + 500).rev() {
            building.dkim.insert([id, 0, 1]);
        }
        let stored = NameSets {
            reporters: vec![7],
            dkim: vec![[3, 1, 1]],
            ..NameSets::default()
        };
        building.extend(stored);
        let merged = NameSets::decode(&building.encode()).unwrap();
        assert_eq!(merged.dkim.len(), MAX_SET_VALUES);
        assert_eq!(
            merged.dkim[..4],
            [[0, 0, 1], [1, 0, 1], [2, 0, 1], [3, 0, 1]]
        );
        assert!(merged.dkim.contains(&[3, 1, 1]));
        assert_eq!(merged.reporters, vec![7]);
    }

    #[test]
    fn a_report_counts_on_the_day_of_its_midpoint() {
        // 2025-11-16 22:00 to 2025-11-17 22:00: midpoint 2025-11-17 10:00.
        let begin = 1_763_330_400;
        assert_eq!(report_day(begin, begin + DAY), (begin + DAY) / DAY);
        assert_eq!(report_day(begin, begin - 5), begin.div_euclid(DAY));
        assert_eq!(report_midpoint(i64::MIN, i64::MAX), -1);
    }
}
