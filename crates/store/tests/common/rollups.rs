//! The rollups (`source_days`, `reporter_days`, `domain_days`) against a full scan of the
//! stored records through the read API. Shared by the store's rollup tests and the CLI's crash test.

#![allow(
    dead_code,
    reason = "not every test that includes this module uses all of it"
)]

use ruadb_report::Disposition;
use ruadb_store::classify::{ClassTally, Classification, classify_record};
use ruadb_store::{
    DayFilter, RecordRow, ReportFilter, ReportRow, ReportVisitor, ResultsWanted, SourceDayRow,
    Store, report_midpoint,
};
use std::collections::{BTreeMap, BTreeSet};

pub const DAY: i64 = 86_400;

/// What one (policy domain, day, source IP) holds, from either side.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cell {
    pub records: u64,
    pub classes: ClassTally,
    pub spf_aligned: u64,
    pub dkim_aligned: u64,
    /// none, quarantine, reject.
    pub dispositions: [u64; 3],
    pub first_begin: i64,
    pub last_end: i64,
    pub reporters: BTreeSet<String>,
    pub dkim: BTreeSet<(String, Option<String>, String)>,
    pub spf: BTreeSet<(String, String)>,
    pub helo: BTreeSet<String>,
    pub misaligned_dkim_pass: BTreeSet<String>,
    pub misaligned_spf_pass: BTreeSet<String>,
}

pub type SourceKey = (String, i64, String);
pub type ReporterKey = (String, i64, String);

/// (reports, messages, dmarc pass).
pub type ReporterCell = (u64, u64, u64);

/// The rollups as a full scan of the records computes them.
#[derive(Default)]
pub struct Scan {
    pub sources: BTreeMap<SourceKey, Cell>,
    pub reporters: BTreeMap<ReporterKey, ReporterCell>,
}

impl ReportVisitor for Scan {
    type Handle = ReportRow;

    fn report(&mut self, report: ReportRow) -> Option<ReportRow> {
        let day = report_midpoint(report.begin, report.end).div_euclid(DAY) * DAY;
        let key = (report.policy_domain.clone(), day, report.org.clone());
        self.reporters.entry(key).or_default().0 += 1;
        Some(report)
    }

    fn record(&mut self, report: &ReportRow, record: &RecordRow) {
        let day = report_midpoint(report.begin, report.end).div_euclid(DAY) * DAY;
        let reporter = self
            .reporters
            .entry((report.policy_domain.clone(), day, report.org.clone()))
            .or_default();
        reporter.1 += record.messages;
        if record.dmarc_pass {
            reporter.2 += record.messages;
        }
        let key = (report.policy_domain.clone(), day, record.source_ip.clone());
        let cell = self.sources.entry(key).or_insert_with(|| Cell {
            first_begin: report.begin,
            last_end: report.end,
            ..Cell::default()
        });
        let class = classify_record(&record.facts);
        let messages = record.messages;
        cell.records += 1;
        cell.classes.add(class, messages);
        if record.spf_aligned {
            cell.spf_aligned += messages;
        }
        if record.dkim_aligned {
            cell.dkim_aligned += messages;
        }
        let disposition = match record.disposition {
            Disposition::Quarantine => 1,
            Disposition::Reject => 2,
            _ => 0,
        };
        cell.dispositions[disposition] += messages;
        cell.first_begin = cell.first_begin.min(report.begin);
        cell.last_end = cell.last_end.max(report.end);
        cell.reporters.insert(report.org.clone());
        let misaligned = class == Classification::Misaligned;
        for dkim in &record.dkim {
            let result = dkim.result.as_str().to_owned();
            cell.dkim
                .insert((dkim.domain.clone(), dkim.selector.clone(), result));
            if misaligned && dkim.result == ruadb_report::DkimResult::Pass {
                cell.misaligned_dkim_pass.insert(dkim.domain.clone());
            }
        }
        for spf in &record.spf {
            cell.spf
                .insert((spf.domain.clone(), spf.result.as_str().to_owned()));
            if misaligned && spf.result == ruadb_report::SpfResult::Pass {
                cell.misaligned_spf_pass.insert(spf.domain.clone());
            }
        }
        cell.helo.extend(record.helo_domains.iter().cloned());
    }
}

/// The full scan.
pub fn scan(store: &Store) -> Scan {
    let mut scan = Scan::default();
    store
        .read_reports(&ReportFilter::default(), &ResultsWanted::All, &mut scan)
        .unwrap();
    scan
}

/// A stored source row as a [`Cell`].
fn cell_of(row: &SourceDayRow) -> Cell {
    Cell {
        records: row.records,
        classes: row.classes,
        spf_aligned: row.spf_aligned,
        dkim_aligned: row.dkim_aligned,
        dispositions: [
            row.dispositions.none,
            row.dispositions.quarantine,
            row.dispositions.reject,
        ],
        first_begin: row.first_begin,
        last_end: row.last_end,
        reporters: row.reporters.iter().cloned().collect(),
        dkim: row
            .dkim
            .iter()
            .map(|dkim| {
                let result = dkim.result.as_str().to_owned();
                (dkim.domain.clone(), dkim.selector.clone(), result)
            })
            .collect(),
        spf: row
            .spf
            .iter()
            .map(|spf| (spf.domain.clone(), spf.result.as_str().to_owned()))
            .collect(),
        helo: row.helo_domains.iter().cloned().collect(),
        misaligned_dkim_pass: row.misaligned_dkim_pass.iter().cloned().collect(),
        misaligned_spf_pass: row.misaligned_spf_pass.iter().cloned().collect(),
    }
}

/// The rollups as stored.
pub fn rollups(store: &Store, filter: &DayFilter) -> Scan {
    let mut read = Scan::default();
    store
        .read_source_days(filter, &mut |row| {
            let key = (row.policy_domain.clone(), row.day, row.source_ip.clone());
            let cell = cell_of(row);
            assert_eq!(row.messages(), cell.dispositions.iter().sum::<u64>());
            assert!(read.sources.insert(key, cell).is_none(), "one row per key");
        })
        .unwrap();
    store
        .read_reporter_days(filter, &mut |row| {
            let key = (row.policy_domain.clone(), row.day, row.org.clone());
            let cell = (row.reports, row.messages, row.dmarc_pass);
            assert!(
                read.reporters.insert(key, cell).is_none(),
                "one row per key"
            );
        })
        .unwrap();
    read
}

/// Asserts that `domain_days` equals the full scan `expected` folded per domain and day, and
/// that the source-days read by their counts alone equal them without their names.
pub fn assert_domain_days_match(store: &Store, expected: &Scan) {
    let mut domain_days: BTreeMap<(String, i64), DomainCell> = BTreeMap::new();
    for ((domain, day, _), cell) in &expected.sources {
        let totals = domain_days.entry((domain.clone(), *day)).or_default();
        totals.0 += cell.records;
        for class in Classification::ALL {
            totals.1[class as usize] += cell.classes.messages(class);
        }
        totals.2 += cell.spf_aligned;
        totals.3 += cell.dkim_aligned;
        for (sum, add) in totals.4.iter_mut().zip(cell.dispositions) {
            *sum += add;
        }
    }
    let mut stored_days = BTreeMap::new();
    store
        .read_domain_days(&DayFilter::default(), &mut |row| {
            let cell = (
                row.records,
                Classification::ALL.map(|class| row.classes.messages(class)),
                row.spf_aligned,
                row.dkim_aligned,
                [
                    row.dispositions.none,
                    row.dispositions.quarantine,
                    row.dispositions.reject,
                ],
            );
            let key = (row.policy_domain.clone(), row.day);
            assert!(stored_days.insert(key, cell).is_none(), "one row per key");
        })
        .unwrap();
    assert_eq!(stored_days, domain_days, "domain days");

    let mut classes = BTreeMap::new();
    store
        .read_source_classes(&DayFilter::default(), &mut |row| {
            let key = (row.policy_domain.clone(), row.day, row.source_ip.clone());
            let only = ruadb_store::SourceDayRow {
                policy_domain: row.policy_domain.clone(),
                day: row.day,
                source_ip: row.source_ip.clone(),
                classes: row.classes,
                ..Default::default()
            };
            assert_eq!(row, &only, "the classes alone");
            assert!(
                classes.insert(key, row.classes).is_none(),
                "one row per key"
            );
        })
        .unwrap();
    let scanned_classes: BTreeMap<SourceKey, ClassTally> = expected
        .sources
        .iter()
        .map(|(key, cell)| (key.clone(), cell.classes))
        .collect();
    assert!(classes == scanned_classes, "source-days by their classes");
}

/// (records, messages per class, SPF aligned, DKIM aligned, dispositions) of a domain's day.
type DomainCell = (u64, [u64; 4], u64, u64, [u64; 3]);

/// Asserts that the rollups equal the full scan; returns the number of source-days.
pub fn assert_rollups_match(store: &Store) -> usize {
    let expected = scan(store);
    let stored = rollups(store, &DayFilter::default());
    assert_eq!(stored.reporters, expected.reporters, "reporter days");
    if stored.sources != expected.sources {
        for (key, cell) in &expected.sources {
            assert_eq!(stored.sources.get(key), Some(cell), "source day {key:?}");
        }
        assert_eq!(
            stored.sources.keys().collect::<Vec<_>>(),
            expected.sources.keys().collect::<Vec<_>>()
        );
    }
    assert_domain_days_match(store, &expected);
    expected.sources.len()
}

/// Asserts that `Store::sources` over every day equals the full scan folded per (policy
/// domain, source IP).
pub fn assert_sources_match(store: &Store) {
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Source {
        messages: u64,
        dmarc_pass: u64,
        spf_aligned: u64,
        dkim_aligned: u64,
        classes: ClassTally,
        dkim: BTreeSet<String>,
        spf: BTreeSet<String>,
        reporters: BTreeSet<String>,
        first_seen: i64,
        last_seen: i64,
    }
    let mut expected: BTreeMap<(String, String), Source> = BTreeMap::new();
    for ((domain, _, ip), cell) in scan(store).sources {
        let source = expected.entry((domain, ip)).or_insert_with(|| Source {
            first_seen: cell.first_begin,
            last_seen: cell.last_end,
            ..Source::default()
        });
        source.classes.merge(&cell.classes);
        source.messages += cell.dispositions.iter().sum::<u64>();
        source.dmarc_pass += cell.classes.messages(Classification::Aligned);
        source.spf_aligned += cell.spf_aligned;
        source.dkim_aligned += cell.dkim_aligned;
        source.first_seen = source.first_seen.min(cell.first_begin);
        source.last_seen = source.last_seen.max(cell.last_end);
        source.reporters.extend(cell.reporters);
        for (domain, selector, _) in cell.dkim.into_iter().filter(|d| !d.0.is_empty()) {
            source.dkim.insert(match selector {
                Some(selector) => format!("{domain}:{selector}"),
                None => domain,
            });
        }
        let spf = cell.spf.into_iter().map(|(domain, _)| domain);
        source
            .spf
            .extend(spf.chain(cell.helo).filter(|domain| !domain.is_empty()));
    }
    let rows = store
        .sources(&ruadb_store::SourceFilter::default())
        .unwrap();
    assert_eq!(rows.len(), expected.len());
    for row in rows {
        let source = &expected[&(row.policy_domain.clone(), row.source_ip.clone())];
        let context = format!("{} {}", row.policy_domain, row.source_ip);
        assert_eq!(
            (
                row.messages,
                row.dmarc_pass,
                row.spf_aligned,
                row.dkim_aligned
            ),
            (
                source.messages,
                source.dmarc_pass,
                source.spf_aligned,
                source.dkim_aligned
            ),
            "{context}"
        );
        assert_eq!(
            Some(row.classification),
            source.classes.winner(),
            "{context}"
        );
        assert_eq!(
            row.dkim_domains,
            source.dkim.iter().cloned().collect::<Vec<_>>()
        );
        assert_eq!(
            row.spf_domains,
            source.spf.iter().cloned().collect::<Vec<_>>()
        );
        assert_eq!(
            row.reporters,
            source.reporters.iter().cloned().collect::<Vec<_>>()
        );
        assert_eq!(
            (row.first_seen, row.last_seen),
            (source.first_seen, source.last_seen),
            "{context}"
        );
    }
}
