//! The rollups kept at ingest (`source_days`, `reporter_days`) against a full scan of the
//! stored records through the read API: equal to the message, on the fixtures, a generated
//! corpus, reports straddling days and weeks, duplicates and conflicts, a report failing after
//! part of its rollup was written, `reparse` and the migration that builds them.

mod common;

use ruadb_report::Disposition;
use ruadb_store::classify::{ClassTally, Classification, classify_record};
use ruadb_store::{
    DayFilter, MessageSource, RecordRow, ReportFilter, ReportRow, ReportVisitor, ResultsWanted,
    Store, StoreOptions, report_midpoint,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const DAY: i64 = 86_400;

/// What one (policy domain, day, source IP) holds, from either side.
#[derive(Debug, Default, PartialEq, Eq)]
struct Cell {
    records: u64,
    classes: ClassTally,
    spf_aligned: u64,
    dkim_aligned: u64,
    /// none, quarantine, reject.
    dispositions: [u64; 3],
    first_begin: i64,
    last_end: i64,
    reporters: BTreeSet<String>,
    dkim: BTreeSet<(String, Option<String>, String)>,
    spf: BTreeSet<(String, String)>,
    helo: BTreeSet<String>,
    misaligned_dkim_pass: BTreeSet<String>,
    misaligned_spf_pass: BTreeSet<String>,
}

type SourceKey = (String, i64, String);
type ReporterKey = (String, i64, String);

/// (reports, messages, dmarc pass).
type ReporterCell = (u64, u64, u64);

/// The rollups as a full scan of the records computes them.
#[derive(Default)]
struct Scan {
    sources: BTreeMap<SourceKey, Cell>,
    reporters: BTreeMap<ReporterKey, ReporterCell>,
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
fn scan(store: &Store) -> Scan {
    let mut scan = Scan::default();
    store
        .read_reports(&ReportFilter::default(), &ResultsWanted::All, &mut scan)
        .unwrap();
    scan
}

/// The rollups as stored.
fn rollups(store: &Store, filter: &DayFilter) -> Scan {
    let mut read = Scan::default();
    store
        .read_source_days(filter, &mut |row| {
            let key = (row.policy_domain.clone(), row.day, row.source_ip.clone());
            let cell = Cell {
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
            };
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

/// Asserts that the rollups equal the full scan; returns the number of source-days.
fn assert_rollups_match(store: &Store) -> usize {
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
    expected.sources.len()
}

fn source(name: &str) -> MessageSource {
    MessageSource::File {
        path: name.to_owned(),
    }
}

fn ingest(store: &mut Store, inputs: &[(String, Vec<u8>)]) {
    let mut batch = store.begin_batch().unwrap();
    for (name, bytes) in inputs {
        batch.ingest_bytes(bytes, &source(name)).unwrap();
    }
    batch.commit().unwrap();
}

/// Every file under `dir`, recursively, sorted by path.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path.display().to_string(), bytes));
            }
        }
    }
    files.sort();
    files
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A report of `domain` by `org` over `[begin, end]` with `records` of (ip, count, disposition,
/// dkim domain, dkim result, spf domain, spf result).
fn report(
    org: &str,
    id: &str,
    domain: &str,
    (begin, end): (i64, i64),
    records: &[(&str, u64, &str, &str, &str, &str, &str)],
) -> String {
    let mut xml = format!(
        "<feedback><report_metadata><org_name>{org}</org_name><email>r@{org}</email>\
         <report_id>{id}</report_id><date_range><begin>{begin}</begin><end>{end}</end>\
         </date_range></report_metadata><policy_published><domain>{domain}</domain>\
         <p>none</p></policy_published>"
    );
    for (ip, count, disposition, dkim, dkim_result, spf, spf_result) in records {
        xml.push_str(&format!(
            "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
             <disposition>{disposition}</disposition><dkim>fail</dkim><spf>fail</spf>\
             </policy_evaluated></row><identifiers><header_from>{domain}</header_from>\
             </identifiers><auth_results><dkim><domain>{dkim}</domain><selector>s</selector>\
             <result>{dkim_result}</result></dkim><spf><domain>{spf}</domain>\
             <result>{spf_result}</result></spf><spf><domain>helo.{spf}</domain><scope>helo</scope>\
             <result>pass</result></spf></auth_results></record>"
        ));
    }
    xml.push_str("</feedback>");
    xml
}

/// Sunday 2025-01-12 00:00 UTC.
const SUNDAY: i64 = 1_736_640_000;

#[test]
fn the_fixtures_rollups_equal_a_full_scan() {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    ingest(&mut store, &files_under(&fixtures_dir()));
    let cells = assert_rollups_match(&store);
    assert!(cells > 20, "{cells} source-days");
}

#[test]
fn reports_straddling_days_and_weeks_duplicates_and_conflicts_count_as_the_records_do() {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let own = ("example.com", "pass", "example.com", "pass");
    let esp = ("esp.example", "pass", "bounce.esp.example", "pass");
    let spoof = ("spoof.example", "fail", "spoof.example", "softfail");
    let rows =
        |ip,
         count,
         disposition,
         (dkim, dr, spf, sr): (&'static str, &'static str, &'static str, &'static str)| {
            (ip, count, disposition, dkim, dr, spf, sr)
        };
    // Sunday 20:00 to Monday 20:00: begins in one ISO week, counts on Monday (the next week).
    let straddling_week = report(
        "google.com",
        "w1",
        "example.com",
        (SUNDAY + 20 * 3600, SUNDAY + DAY + 20 * 3600),
        &[
            rows("192.0.2.1", 10, "none", own),
            rows("192.0.2.2", 3, "quarantine", esp),
            rows("192.0.2.2", 0, "none", own),
        ],
    );
    // Saturday 06:00 to Sunday 02:00: midpoint Saturday 16:00.
    let straddling_day = report(
        "Microsoft Corporation",
        "d1",
        "example.com",
        (SUNDAY - DAY + 6 * 3600, SUNDAY + 2 * 3600),
        &[
            rows("192.0.2.2", 4, "reject", spoof),
            rows("198.51.100.7", 7, "none", esp),
        ],
    );
    // The same source, same Monday, from another reporter and in another domain.
    let monday = report(
        "yahoo.com",
        "m1",
        "example.com",
        (SUNDAY + DAY, SUNDAY + 2 * DAY - 1),
        &[
            rows("192.0.2.1", 5, "none", spoof),
            rows("2001:db8::1", 2, "none", own),
        ],
    );
    let other_domain = report(
        "yahoo.com",
        "m2",
        "example.org",
        (SUNDAY + DAY, SUNDAY + 2 * DAY - 1),
        &[rows("192.0.2.1", 9, "none", own)],
    );
    // A duplicate (same content, other bytes) and a conflict (same key, other content).
    let duplicate = straddling_week.replace("<feedback>", "<feedback>\n");
    let conflict = monday.replace("<count>5</count>", "<count>500</count>");
    let inputs: Vec<(String, Vec<u8>)> = [
        straddling_week,
        straddling_day,
        monday,
        other_domain,
        duplicate,
        conflict,
    ]
    .into_iter()
    .enumerate()
    .map(|(index, xml)| (format!("input-{index}.xml"), xml.into_bytes()))
    .collect();
    ingest(&mut store, &inputs[..3]);
    ingest(&mut store, &inputs[3..]);
    assert_rollups_match(&store);

    let stored = rollups(&store, &DayFilter::default());
    let monday_day = SUNDAY + DAY;
    let cell = &stored.sources[&("example.com".to_owned(), monday_day, "192.0.2.1".to_owned())];
    assert_eq!(
        (cell.records, cell.classes.messages(Classification::Aligned)),
        (2, 10)
    );
    assert_eq!(
        cell.classes.messages(Classification::Unauthenticated),
        5,
        "not 500"
    );
    assert_eq!(
        cell.reporters,
        BTreeSet::from(["google.com".to_owned(), "yahoo.com".to_owned()])
    );
    let saturday = &stored.sources[&(
        "example.com".to_owned(),
        SUNDAY - DAY,
        "192.0.2.2".to_owned(),
    )];
    assert_eq!(saturday.dispositions, [0, 0, 4]);
    assert_eq!(
        stored.reporters[&(
            "example.com".to_owned(),
            monday_day,
            "google.com".to_owned()
        )],
        (1, 13, 10),
        "the duplicate is not counted"
    );
    // A filter on days and a domain reads only those.
    let monday_only = rollups(
        &store,
        &DayFilter {
            policy_domain: Some("example.com".to_owned()),
            since: Some(monday_day),
            until: Some(monday_day + DAY),
        },
    );
    assert_eq!(
        monday_only.sources.len(),
        3,
        "{:?}",
        monday_only.sources.keys()
    );
    assert_eq!(monday_only.reporters.len(), 2);

    store.reparse().unwrap();
    assert_rollups_match(&store);
    assert_eq!(
        rollups(&store, &DayFilter::default()).sources,
        stored.sources
    );
}

#[test]
fn a_report_failing_after_part_of_its_rollup_was_written_leaves_its_day_as_the_records_say() {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let own = ("example.com", "pass", "example.com", "pass");
    let day = (SUNDAY + DAY, SUNDAY + 2 * DAY - 1);
    let kept = report(
        "google.com",
        "kept",
        "example.com",
        day,
        &[("10.0.0.1", 6, "none", own.0, own.1, own.2, own.3)],
    );
    // Many distinct sources, so that part of the rollup is written before the report ends
    // in broken XML.
    let ips: Vec<String> = (0..12_000)
        .map(|n| format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255))
        .collect();
    let records: Vec<_> = ips
        .iter()
        .map(|ip| (ip.as_str(), 1, "none", own.0, own.1, own.2, own.3))
        .collect();
    let broken = report("yahoo.com", "broken", "example.com", day, &records)
        .replace("</feedback>", "<record><row><source_ip>");
    let after = report(
        "yahoo.com",
        "after",
        "example.com",
        day,
        &[("10.0.0.1", 1, "none", own.0, own.1, own.2, own.3)],
    );
    let inputs = vec![
        ("kept.xml".to_owned(), kept.into_bytes()),
        ("broken.xml".to_owned(), broken.into_bytes()),
        ("after.xml".to_owned(), after.into_bytes()),
    ];
    ingest(&mut store, &inputs);
    let cells = assert_rollups_match(&store);
    assert_eq!(cells, 1, "only 10.0.0.1 is stored");
    let stored = rollups(&store, &DayFilter::default());
    let cell = stored.sources.values().next().unwrap();
    assert_eq!(
        (cell.records, cell.classes.messages(Classification::Aligned)),
        (2, 7)
    );
}

#[test]
fn a_generated_corpus_rollups_equal_a_full_scan_also_after_reparse_and_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    ruadb_testgen::generate_corpus(&corpus, &ruadb_testgen::CorpusSpec::new(400, 18)).unwrap();
    let path = dir.path().join("db.sqlite");
    let mut store = Store::open(&path, StoreOptions::default()).unwrap();
    ingest(&mut store, &files_under(&corpus));
    let cells = assert_rollups_match(&store);
    assert!(cells > 1_000, "{cells} source-days");
    let before = rollups(&store, &DayFilter::default());

    store.reparse().unwrap();
    assert_rollups_match(&store);
    assert_eq!(
        rollups(&store, &DayFilter::default()).sources,
        before.sources
    );
    drop(store);

    // A database from before the rollups: the migration builds them from the records.
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "DROP TABLE source_days; DROP TABLE reporter_days; DROP TABLE rollup_names;
                 PRAGMA user_version = 9;",
            )
            .unwrap();
    }
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert_rollups_match(&store);
    let migrated = rollups(&store, &DayFilter::default());
    assert_eq!(migrated.sources, before.sources);
    assert_eq!(migrated.reporters, before.reporters);
}
