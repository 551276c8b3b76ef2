//! Reading the reports, records and authentication results a summary or a classification
//! needs. All SQL of the summary is here; everything else works on the loaded [`Dataset`].

use super::compute::SortedSet;
use super::compute::{RecordRow, ReportRow, SummaryBuilder, Windows};
use super::period::report_midpoint;
use super::{DkimSeen, Period, PublishedPolicy, SpfSeen, Summary};
use crate::alignment::domains_aligned;
use crate::classify::{ClassTally, Classification, RecordFacts, classify_record};
use crate::{SourceFilter, SourceRow, Store, StoreError};
use rusqlite::ToSql;
use std::collections::HashMap;
use std::net::IpAddr;

/// The reporter override reasons that mean "forwarded" (RFC 7489 section 6.6.3 values).
const FORWARDING_REASONS: &str = "('forwarded', 'trusted_forwarder', 'mailing_list')";

/// How far before a window a report may begin and still have its midpoint inside it. Real
/// reports cover a day; this only bounds the index scan.
const LONGEST_REPORT: i64 = 400 * super::period::DAY;

/// Which reports to load, as a condition on `rep` (the `reports` table) and its parameters.
/// Only the conditions that apply are written, so that SQLite sees a plain
/// `policy_domain = ?` or `begin_utc >= ?` and uses the index on it.
#[derive(Default)]
pub(crate) struct Selection<'a> {
    clauses: Vec<String>,
    params: Vec<&'a dyn ToSql>,
}

impl<'a> Selection<'a> {
    /// Adds `clause`, whose one `?` is bound to `value`.
    fn and(mut self, clause: &str, value: &'a dyn ToSql) -> Selection<'a> {
        self.params.push(value);
        self.clauses
            .push(clause.replace('?', &format!("?{}", self.params.len())));
        self
    }

    /// Adds `clause` when `value` is given.
    fn and_some<T: ToSql>(self, clause: &str, value: &'a Option<T>) -> Selection<'a> {
        match value {
            Some(value) => self.and(clause, value),
            None => self,
        }
    }

    /// The records [`Store::sources`] aggregates.
    pub(crate) fn of_sources(filter: &'a SourceFilter) -> Selection<'a> {
        Selection::default()
            .and_some("rep.policy_domain = ?", &filter.domain)
            .and_some("rep.begin_utc >= ?", &filter.since)
            .and_some("rep.begin_utc < ?", &filter.until)
    }

    /// The `WHERE` clause, empty when everything is selected.
    fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// SQLite page cache, in KiB, while `ruadb sources` streams the records.
const STREAMING_CACHE_KIB: i64 = 2 * 1024;

/// Which records [`Store::each_record`] reads the DKIM and SPF results of.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Details {
    /// Every record's.
    All,
    /// Those of records failing DMARC (whose class depends on them) and of records in reports
    /// that overlap this period (whose sources are shown in full); a passing record elsewhere
    /// is classified aligned without them.
    FailingOr(Period),
}

impl Store {
    /// The summary of `period`, for every policy domain with reports in it or in the four
    /// weeks before, or for `domain` only. A pure function of the database and the period.
    pub fn summary(&self, period: Period, domain: Option<&str>) -> Result<Summary, StoreError> {
        let domain = domain.map(|domain| domain.trim().trim_end_matches('.').to_ascii_lowercase());
        let window = Windows::new(period).all();
        let earliest = window.start.saturating_sub(LONGEST_REPORT);
        // The midpoint rule itself is applied in Rust (`Period::contains_report`); this
        // condition only has to keep every report whose midpoint can lie in the window.
        let selection = Selection::default()
            .and_some("rep.policy_domain = ?", &domain)
            .and("rep.begin_utc >= ?", &earliest)
            .and("rep.begin_utc < ?", &window.end)
            .and("rep.end_utc >= ?", &window.start);
        let mut builder = SummaryBuilder::new(period, domain.as_deref());
        // The begin times of the reports that count, to narrow the record streams: the
        // slack above is walked once here, not once per stream.
        let mut begins: Option<(i64, i64)> = None;
        let handles = self.each_report(&selection, |report| {
            if !window.contains(report_midpoint(report.begin, report.end)) {
                return None;
            }
            let (first, last) = begins.get_or_insert((report.begin, report.begin));
            *first = (*first).min(report.begin);
            *last = (*last).max(report.begin);
            Some(builder.add_report(report))
        })?;
        let Some((first_begin, last_begin)) = begins else {
            return Ok(builder.finish());
        };
        let records = Selection::default()
            .and_some("rep.policy_domain = ?", &domain)
            .and("rep.begin_utc >= ?", &first_begin)
            .and("rep.begin_utc <= ?", &last_begin)
            .and("rep.end_utc >= ?", &window.start);
        let details = Details::FailingOr(period);
        self.each_record(&records, details, &handles, |handle, record| {
            builder.add_record(handle, record);
        })?;
        Ok(builder.finish())
    }

    /// The sources of [`Store::sources`]: every (policy domain, source IP) among the records
    /// `filter` selects, in one pass over the records. Each source is kept as counts and
    /// numbers of interned names; rows are made one at a time by [`SourceTable::rows`].
    pub(crate) fn source_table(&self, filter: &SourceFilter) -> Result<SourceTable, StoreError> {
        let selection = Selection::of_sources(filter);
        // The record streams read each page about once, in order: a small page cache does,
        // and leaves the memory budget to the sources.
        self.connection
            .pragma_update(None, "cache_size", -STREAMING_CACHE_KIB)?;
        let mut table = SourceTable::default();
        let mut reports: Vec<(u8, u32, i64, i64)> = Vec::new();
        let handles = self.each_report(&selection, |report| {
            let domain = match table.domains.iter().position(|name| *name == report.domain) {
                Some(position) => position,
                None => {
                    table.domains.push(report.domain);
                    table.domains.len() - 1
                }
            };
            // More than 255 policy domains share the last number: the configuration lists a
            // handful, and reports for others are refused at ingest.
            let domain = u8::try_from(domain).unwrap_or(u8::MAX);
            let org = table.names.number(&report.org) | REPORTER;
            reports.push((domain, org, report.begin, report.end));
            Some(reports.len() - 1)
        })?;
        // Per domain: the sources by address, and (for a database edited by hand) by text.
        let mut index: Vec<SourceIndex> = Vec::new();
        let mut dkim_name = String::new();
        self.each_record(&selection, Details::All, &handles, |handle, record| {
            let Some(&(domain, org, begin, end)) = reports.get(handle) else {
                return;
            };
            if index.len() <= usize::from(domain) {
                index.resize_with(usize::from(domain) + 1, Default::default);
            }
            let (by_address, by_text) = &mut index[usize::from(domain)];
            let address = record.source_ip.parse::<IpAddr>().ok();
            let known = match address {
                Some(address) => by_address.get(&address),
                None => by_text.get(record.source_ip.as_str()),
            };
            let number = match known {
                Some(&number) => number,
                None => {
                    let number = u32::try_from(table.sources.len()).unwrap_or(u32::MAX);
                    match address {
                        Some(address) => {
                            by_address.insert(address, number);
                        }
                        None => {
                            by_text.insert(record.source_ip.as_str().into(), number);
                        }
                    }
                    table.sources.push(SourceCounts {
                        domain,
                        first_seen: begin,
                        last_seen: end,
                        ..SourceCounts::default()
                    });
                    number
                }
            };
            let Some(source) = table.sources.get_mut(number as usize) else {
                return;
            };
            let messages = record.messages;
            let add = |total: &mut u64, yes: bool| {
                if yes {
                    *total = total.saturating_add(messages);
                }
            };
            add(&mut source.spf_aligned, record.spf_aligned);
            add(&mut source.dkim_aligned, record.dkim_aligned);
            source.first_seen = source.first_seen.min(begin);
            source.last_seen = source.last_seen.max(end);
            source.tally.add(classify_record(&record.facts), messages);
            source.names.insert(org);
            for dkim in record.dkim.iter().filter(|dkim| !dkim.domain.is_empty()) {
                dkim_name.clear();
                dkim_name.push_str(&dkim.domain);
                if let Some(selector) = &dkim.selector {
                    dkim_name.push(':');
                    dkim_name.push_str(selector);
                }
                source.names.insert(table.names.number(&dkim_name) | DKIM);
            }
            let spf = record.spf.iter().map(|spf| spf.domain.as_str());
            let helo = record.helo_domains.iter().map(String::as_str);
            for domain in spf.chain(helo).filter(|domain| !domain.is_empty()) {
                source.names.insert(table.names.number(domain) | SPF);
            }
        })?;
        table.ips = vec![IpAddr::from([0u8; 4]); table.sources.len()];
        for (by_address, by_text) in index {
            for (address, number) in by_address {
                if let Some(slot) = table.ips.get_mut(number as usize) {
                    *slot = address;
                }
            }
            table
                .texts
                .extend(by_text.into_iter().map(|(text, number)| (number, text)));
        }
        // Most messages first, then by domain name, then by the IP's text. The text is made
        // only to order sources that tie on the first two, one run of ties at a time.
        let mut by_name: Vec<u8> = (0..=u8::MAX).collect();
        by_name.sort_by_key(|&number| table.domain(number));
        let mut rank = [0u8; 256];
        for (position, &number) in by_name.iter().enumerate() {
            rank[usize::from(number)] = u8::try_from(position).unwrap_or(u8::MAX);
        }
        let key = |number: u32| {
            let source = &table.sources[number as usize];
            (
                std::cmp::Reverse(source.messages()),
                rank[usize::from(source.domain)],
            )
        };
        let mut order: Vec<u32> = (0..table.sources.len())
            .filter_map(|number| u32::try_from(number).ok())
            .collect();
        order.sort_by_key(|&number| key(number));
        for run in order.chunk_by_mut(|&a, &b| key(a) == key(b)) {
            if run.len() > 1 {
                let mut named: Vec<(String, u32)> = run
                    .iter()
                    .map(|&number| (table.ip(number as usize), number))
                    .collect();
                named.sort_unstable();
                for (slot, (_, number)) in run.iter_mut().zip(named) {
                    *slot = number;
                }
            }
        }
        table.order = order;
        Ok(table)
    }

    /// Hands each selected report to `on_report`; returns the handles it gave back (none for
    /// a report it passed over), by report row id.
    fn each_report(
        &self,
        selection: &Selection<'_>,
        mut on_report: impl FnMut(ReportRow) -> Option<usize>,
    ) -> Result<HashMap<i64, usize>, StoreError> {
        let mut handles = HashMap::new();
        let mut statement = self.connection.prepare(&format!(
            "SELECT rep.id, rep.org_name, rep.policy_domain, rep.begin_utc, rep.end_utc,
                    rep.p, rep.sp, rep.np, rep.pct, rep.testing, rep.adkim, rep.aspf
             FROM reports AS rep {} ORDER BY rep.id",
            selection.where_clause()
        ))?;
        let mut rows = statement.query(selection.params.as_slice())?;
        while let Some(row) = rows.next()? {
            let report = ReportRow {
                org: row.get(1)?,
                domain: row.get(2)?,
                begin: row.get(3)?,
                end: row.get(4)?,
                policy: PublishedPolicy {
                    p: row.get(5)?,
                    sp: row.get(6)?,
                    np: row.get(7)?,
                    pct: row
                        .get::<_, Option<i64>>(8)?
                        .and_then(|pct| u32::try_from(pct).ok()),
                    testing: row.get(9)?,
                    adkim: row.get(10)?,
                    aspf: row.get(11)?,
                },
            };
            if let Some(handle) = on_report(report) {
                handles.insert(row.get(0)?, handle);
            }
        }
        Ok(handles)
    }

    /// Streams each selected record, with its DKIM and SPF results (as `details` asks) and
    /// the facts its class depends on, to `on_record` with its report's handle. Nothing is
    /// collected: a summary over millions of records needs memory for its sources only.
    ///
    /// One query walks the reports by the index on their begin, each report's records by
    /// `records_by_report`, and each record's results by their clustered keys (a record with
    /// two DKIM and two SPF results gives four rows); forwarding reasons are looked up only for
    /// records failing DMARC. One [`RecordRow`] is refilled in place, so reading allocates
    /// only for strings longer than any seen before.
    pub(crate) fn each_record(
        &self,
        selection: &Selection<'_>,
        details: Details,
        handles: &HashMap<i64, usize>,
        mut on_record: impl FnMut(usize, &RecordRow),
    ) -> Result<(), StoreError> {
        let wanted = match details {
            Details::All => String::new(),
            Details::FailingOr(period) => format!(
                " AND (NOT rec.dmarc_pass OR (rep.begin_utc < {} AND rep.end_utc >= {}))",
                period.end, period.start
            ),
        };
        // `CROSS JOIN` keeps SQLite from starting at a results table; the `ORDER BY` is met by
        // the nested loops without sorting and guarantees a record's rows are adjacent.
        let mut statement = self.connection.prepare(&format!(
            "SELECT rec.report, rec.id, rec.source_ip, rec.message_count, rec.disposition,
                    rec.header_from, rec.dmarc_pass, rec.spf_aligned, rec.dkim_aligned,
                    CASE WHEN rec.dmarc_pass THEN 0 ELSE EXISTS (
                        SELECT 1 FROM reasons AS r
                        WHERE r.record = rec.id AND r.type IN {FORWARDING_REASONS}) END,
                    d.seq, d.domain, d.selector, d.result,
                    s.seq, s.domain, s.result, s.scope = 'helo'
             FROM reports AS rep CROSS JOIN records AS rec ON rec.report = rep.id
             LEFT JOIN dkim_results AS d ON d.record = rec.id{wanted}
             LEFT JOIN spf_results AS s ON s.record = rec.id{wanted}
             {} ORDER BY rep.begin_utc, rep.id, rec.id, d.seq, s.seq",
            selection.where_clause()
        ))?;
        let mut rows = statement.query(selection.params.as_slice())?;
        let mut record = RecordRow::default();
        let mut header_from = String::new();
        let mut current: Option<(i64, usize)> = None;
        let mut dkim_seqs: Vec<i64> = Vec::new();
        let mut spf_seqs: Vec<i64> = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(1)?;
            if current.is_none_or(|(current, _)| current != id) {
                if let Some((_, handle)) = current.take() {
                    finish_facts(&mut record, &header_from);
                    on_record(handle, &record);
                }
                let Some(&handle) = handles.get(&row.get::<_, i64>(0)?) else {
                    continue;
                };
                current = Some((id, handle));
                refill(&mut record.source_ip, text(row, 2)?);
                record.messages = u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0);
                refill(&mut record.disposition, text(row, 4)?);
                refill(&mut header_from, text(row, 5)?);
                record.dmarc_pass = row.get(6)?;
                record.spf_aligned = row.get(7)?;
                record.dkim_aligned = row.get(8)?;
                record.facts = RecordFacts {
                    dmarc_pass: record.dmarc_pass,
                    forwarding_reason: row.get(9)?,
                    ..RecordFacts::default()
                };
                record.dkim.clear();
                record.spf.clear();
                record.helo_domains.clear();
                dkim_seqs.clear();
                spf_seqs.clear();
            }
            if let Some(seq) = row.get::<_, Option<i64>>(10)?
                && !dkim_seqs.contains(&seq)
            {
                dkim_seqs.push(seq);
                record.dkim.push(DkimSeen {
                    domain: text(row, 11)?.to_owned(),
                    selector: optional_text(row, 12)?
                        .filter(|selector| !selector.is_empty())
                        .map(str::to_owned),
                    result: text(row, 13)?.to_owned(),
                });
            }
            if let Some(seq) = row.get::<_, Option<i64>>(14)?
                && !spf_seqs.contains(&seq)
            {
                spf_seqs.push(seq);
                // HELO results do not count for DMARC and name the forwarder's host, not a
                // sender, so the summary leaves them out; `ruadb sources` lists their domains.
                if row.get::<_, Option<bool>>(17)?.unwrap_or(false) {
                    record.helo_domains.push(text(row, 15)?.to_owned());
                } else {
                    record.spf.push(SpfSeen {
                        domain: text(row, 15)?.to_owned(),
                        result: text(row, 16)?.to_owned(),
                    });
                }
            }
        }
        if let Some((_, handle)) = current {
            finish_facts(&mut record, &header_from);
            on_record(handle, &record);
        }
        Ok(())
    }
}

/// Sets the facts of `record` that its DKIM and SPF results decide.
fn finish_facts(record: &mut RecordRow, header_from: &str) {
    for result in &record.dkim {
        if result.result == "pass" {
            record.facts.dkim_passed = true;
        } else if result.result != "none" && domains_aligned(&result.domain, header_from, false) {
            // `none` means no signature was there to break; any other failure of a signature
            // by the From domain (relaxed) is our own mail damaged in transit.
            record.facts.aligned_signature_failed = true;
        }
    }
    record.facts.spf_passed = record.spf.iter().any(|result| result.result == "pass");
}

/// Replaces the text of `target` with `value`, keeping its allocation.
fn refill(target: &mut String, value: &str) {
    target.clear();
    target.push_str(value);
}

/// Column `index` as text; NULL reads as empty.
fn text<'row>(row: &'row rusqlite::Row<'_>, index: usize) -> Result<&'row str, StoreError> {
    Ok(optional_text(row, index)?.unwrap_or_default())
}

/// Column `index` as text, borrowed from SQLite's buffer.
fn optional_text<'row>(
    row: &'row rusqlite::Row<'_>,
    index: usize,
) -> Result<Option<&'row str>, StoreError> {
    row.get_ref(index)?
        .as_str_or_null()
        .map_err(|error| match error {
            rusqlite::types::FromSqlError::InvalidType => rusqlite::Error::InvalidColumnType(
                index,
                String::new(),
                rusqlite::types::Type::Blob,
            ),
            other => rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(other),
            ),
        })
        .map_err(StoreError::from)
}

/// Every sending source of [`Store::sources`], most messages first (then by domain and IP),
/// kept compact: a row with its strings and lists is made only when it is read, so a caller
/// that writes rows as they come needs memory for the counts alone.
#[derive(Default)]
pub struct SourceTable {
    domains: Vec<String>,
    names: Interned,
    sources: Vec<SourceCounts>,
    /// The IP of each source, by its position in `sources`. Ingest stores every IP in the
    /// canonical form the address prints as, so the address (no heap memory) is kept...
    ips: Vec<IpAddr>,
    /// ...except for a source IP that is not an address (a database edited by hand).
    texts: HashMap<u32, Box<str>>,
    /// Positions in `sources`, in output order.
    order: Vec<u32>,
}

impl SourceTable {
    /// The number of sources.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no record was selected.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The rows, most messages first; each call starts over.
    pub fn rows(&self) -> impl Iterator<Item = SourceRow> + '_ {
        self.order
            .iter()
            .filter_map(|&number| self.row(number as usize))
    }

    /// The source IP of source `number` as text.
    fn ip(&self, number: usize) -> String {
        let text = u32::try_from(number)
            .ok()
            .and_then(|number| self.texts.get(&number));
        match (text, self.ips.get(number)) {
            (Some(text), _) => text.to_string(),
            (None, Some(address)) => address.to_string(),
            (None, None) => String::new(),
        }
    }

    fn domain(&self, number: u8) -> &str {
        self.domains
            .get(usize::from(number))
            .map_or("", String::as_str)
    }

    fn row(&self, number: usize) -> Option<SourceRow> {
        let counts = self.sources.get(number)?;
        let listed = |kind: u32| -> Vec<String> {
            let mut listed: Vec<String> = counts
                .names
                .iter()
                .filter(|number| *number & KIND == kind)
                .map(|number| self.names.name(number & !KIND))
                .collect();
            listed.sort();
            listed
        };
        Some(SourceRow {
            policy_domain: self.domain(counts.domain).to_owned(),
            source_ip: self.ip(number),
            messages: counts.messages(),
            dmarc_pass: counts.tally.messages(Classification::Aligned),
            spf_aligned: counts.spf_aligned,
            dkim_aligned: counts.dkim_aligned,
            dkim_domains: listed(DKIM),
            spf_domains: listed(SPF),
            reporters: listed(REPORTER),
            first_seen: counts.first_seen,
            last_seen: counts.last_seen,
            classification: counts.tally.winner()?,
        })
    }
}

/// The sources of one domain while reading, by address and (for a source IP that is not an
/// address) by text, to their positions in [`SourceTable::sources`].
type SourceIndex = (HashMap<IpAddr, u32>, HashMap<Box<str>, u32>);

/// What [`Store::source_table`] keeps per source. Messages and DMARC passes are not counted
/// apart: every message is in the class tally, and DMARC pass is exactly the aligned class.
#[derive(Default)]
struct SourceCounts {
    domain: u8,
    spf_aligned: u64,
    dkim_aligned: u64,
    first_seen: i64,
    last_seen: i64,
    tally: ClassTally,
    /// DKIM `domain:selector`s, SPF domains and reporters, as interned numbers tagged with
    /// [`DKIM`], [`SPF`] or [`REPORTER`]: one small vector per source.
    names: SortedSet<u32>,
}

impl SourceCounts {
    fn messages(&self) -> u64 {
        Classification::ALL
            .into_iter()
            .map(|class| self.tally.messages(class))
            .fold(0, u64::saturating_add)
    }
}

/// The two top bits of an interned number in [`SourceCounts::names`]: which list it is in.
const KIND: u32 = 0b11 << 30;
const DKIM: u32 = 0b01 << 30;
const SPF: u32 = 0b10 << 30;
const REPORTER: u32 = 0b11 << 30;

/// Names stored once, numbered from 0 (below [`KIND`]).
#[derive(Default)]
struct Interned {
    numbers: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interned {
    fn number(&mut self, name: &str) -> u32 {
        if let Some(&number) = self.numbers.get(name) {
            return number;
        }
        // A billion distinct names cannot come from one database's reports in memory; the
        // last number is shared rather than spilling into the tag bits.
        let number = u32::try_from(self.names.len()).unwrap_or(!KIND).min(!KIND);
        self.names.push(name.into());
        self.numbers.insert(name.into(), number);
        number
    }

    fn name(&self, number: u32) -> String {
        self.names
            .get(number as usize)
            .map(|name| name.to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_of_an_empty_database_says_no_reports() {
        let store = Store::open_in_memory(crate::StoreOptions::default()).unwrap();
        let week = Period::iso_week(2026, 47).unwrap();
        let summary = store.summary(week, None).unwrap();
        assert!(summary.domains.is_empty());
        let summary = store.summary(week, Some("Example.COM.")).unwrap();
        assert_eq!(summary.domains.len(), 1);
        assert_eq!(summary.domains[0].domain, "example.com");
        assert_eq!(summary.domains[0].totals.reports, 0);
        assert!(
            store
                .source_table(&SourceFilter::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_source_ip_that_is_not_an_address_is_kept_as_text() {
        let mut store = Store::open_in_memory(crate::StoreOptions::default()).unwrap();
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/summary/2026-11-18-mail.example.org-example.org.xml"
        );
        let mut batch = store.begin_batch().unwrap();
        let source = crate::MessageSource::File {
            path: fixture.to_owned(),
        };
        batch
            .ingest_bytes(&std::fs::read(fixture).unwrap(), &source)
            .unwrap();
        batch.commit().unwrap();
        let before = store.sources(&SourceFilter::default()).unwrap();
        store
            .connection
            .execute(
                "UPDATE records SET source_ip = 'relay-7' WHERE id = (SELECT MIN(id) FROM records)",
                [],
            )
            .unwrap();
        let after = store.sources(&SourceFilter::default()).unwrap();
        assert!(
            after.iter().any(|row| row.source_ip == "relay-7"),
            "{after:?}"
        );
        let messages = |rows: &[SourceRow]| rows.iter().map(|row| row.messages).sum::<u64>();
        assert_eq!(messages(&after), messages(&before));
        let ordered = after.windows(2).all(|pair| {
            (
                std::cmp::Reverse(pair[0].messages),
                &pair[0].policy_domain,
                &pair[0].source_ip,
            ) <= (
                std::cmp::Reverse(pair[1].messages),
                &pair[1].policy_domain,
                &pair[1].source_ip,
            )
        });
        assert!(
            ordered,
            "most messages first, then domain and IP text: {after:?}"
        );
    }
}
