//! The rollups kept at ingest (`source_days`, `reporter_days`, `domain_days`) against a full
//! scan of the stored records through the read API: equal to the message, on the fixtures, a
//! generated corpus, reports straddling days and weeks, duplicates and conflicts, a report
//! failing after part of its rollup was written, `reparse` and the migrations that build them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

mod common;

use common::rollups::{DAY, assert_rollups_match, assert_sources_match, rollups};
use ruadb_store::classify::Classification;
use ruadb_store::{
    DayFilter, MessageSource, RecordRow, ReportFilter, ReportRow, ReportVisitor, ResultsWanted,
    Store, StoreOptions,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
    assert_sources_match(&store);
}

#[test]
fn the_source_rows_read_for_results_are_the_rows_read_as_ids_without_their_span() {
    use ruadb_store::{DispositionCounts, NameSets, SourceDayRow};
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    ingest(&mut store, &files_under(&fixtures_dir()));
    let read = |filter: &DayFilter, results: bool| {
        let mut rows: Vec<(SourceDayRow, NameSets)> = Vec::new();
        let mut push = |row: &SourceDayRow, sets: &NameSets| rows.push((row.clone(), sets.clone()));
        if results {
            store.read_source_day_results(filter, &mut push).unwrap();
        } else {
            store.read_source_day_ids(filter, &mut push).unwrap();
        }
        rows
    };
    let all = DayFilter::default();
    let by_ids = read(&all, false);
    let expected: Vec<(SourceDayRow, NameSets)> = by_ids
        .iter()
        .cloned()
        .map(|(row, sets)| {
            let row = SourceDayRow {
                records: 0,
                dispositions: DispositionCounts::default(),
                first_begin: 0,
                last_end: 0,
                ..row
            };
            (row, sets)
        })
        .collect();
    assert!(
        by_ids
            .iter()
            .any(|(row, _)| row.records > 0 && row.last_end > 0)
    );
    assert_eq!(read(&all, true), expected);
    // One domain's rows carry the name asked for, as when every domain is read.
    let mut domains: Vec<&str> = expected
        .iter()
        .map(|(row, _)| row.policy_domain.as_str())
        .collect();
    domains.dedup();
    assert!(domains.len() > 1, "{domains:?}");
    for domain in domains {
        let one = DayFilter {
            policy_domain: Some(domain.to_owned()),
            ..DayFilter::default()
        };
        let of_domain: Vec<_> = expected
            .iter()
            .filter(|(row, _)| row.policy_domain == domain)
            .cloned()
            .collect();
        assert_eq!(read(&one, true), of_domain, "{domain}");
    }
}

#[test]
fn the_source_rows_read_as_ids_name_what_the_rows_read_with_names_say() {
    use ruadb_report::{DkimResult, SpfResult};
    use ruadb_store::{DkimRow, SourceDayRow, SpfRow};
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    ingest(&mut store, &files_under(&fixtures_dir()));
    let mut named: Vec<SourceDayRow> = Vec::new();
    store
        .read_source_days(&DayFilter::default(), &mut |row| named.push(row.clone()))
        .unwrap();
    let mut by_ids: Vec<(SourceDayRow, ruadb_store::NameSets)> = Vec::new();
    store
        .read_source_day_ids(&DayFilter::default(), &mut |row, sets| {
            by_ids.push((row.clone(), sets.clone()));
        })
        .unwrap();
    let name = |id: u64| store.rollup_name(id).unwrap();
    let names = |ids: &[u64]| ids.iter().map(|&id| name(id)).collect::<Vec<_>>();
    let rebuilt: Vec<SourceDayRow> = by_ids
        .into_iter()
        .map(|(row, sets)| {
            // The lists are left empty: the ids stand for them.
            assert!(row.reporters.is_empty() && row.dkim.is_empty() && row.spf.is_empty());
            SourceDayRow {
                reporters: names(&sets.reporters),
                dkim: sets
                    .dkim
                    .iter()
                    .map(|&[domain, selector, result]| DkimRow {
                        domain: name(domain),
                        selector: (selector != 0).then(|| name(selector)),
                        result: DkimResult::from_xml(&name(result)),
                    })
                    .collect(),
                spf: sets
                    .spf
                    .iter()
                    .map(|&[domain, result]| SpfRow {
                        domain: name(domain),
                        result: SpfResult::from_xml(&name(result)),
                    })
                    .collect(),
                helo_domains: names(&sets.helo),
                misaligned_dkim_pass: names(&sets.misaligned_dkim_pass),
                misaligned_spf_pass: names(&sets.misaligned_spf_pass),
                ..row
            }
        })
        .collect();
    assert!(named.len() > 20, "{} source-days", named.len());
    assert!(
        named
            .iter()
            .any(|row| !row.dkim.is_empty() && !row.spf.is_empty())
    );
    assert_eq!(rebuilt, named);
    assert!(matches!(
        store.rollup_name(u64::MAX >> 1),
        Err(ruadb_store::StoreError::DamagedRollup)
    ));
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
    assert_sources_match(&store);

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
    assert_sources_match(&store);
    let before = rollups(&store, &DayFilter::default());

    store.reparse().unwrap();
    assert_rollups_match(&store);
    assert_eq!(
        rollups(&store, &DayFilter::default()).sources,
        before.sources
    );
    drop(store);

    // A database from before `domain_days`: the migration builds it from the source-days; one
    // from before any rollup: from the records.
    for (drop, version) in [
        ("DROP TABLE domain_days;", 11),
        (
            "DROP TABLE domain_days; DROP TABLE source_days; DROP TABLE reporter_days;
             DROP TABLE rollup_names;",
            9,
        ),
    ] {
        {
            let connection = rusqlite::Connection::open(&path).unwrap();
            connection
                .execute_batch(&format!("{drop} PRAGMA user_version = {version};"))
                .unwrap();
        }
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        assert_rollups_match(&store);
        let migrated = rollups(&store, &DayFilter::default());
        assert_eq!(migrated.sources, before.sources);
        assert_eq!(migrated.reporters, before.reporters);
    }
}

#[test]
fn the_report_spans_are_those_of_the_reports_a_filter_selects() {
    struct Spans(Vec<(String, i64, i64)>);
    impl ReportVisitor for Spans {
        type Handle = ();
        fn report(&mut self, report: ReportRow) -> Option<()> {
            self.0
                .push((report.policy_domain, report.begin, report.end));
            None
        }
        fn record(&mut self, _: &(), _: &RecordRow) {}
    }
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    ingest(&mut store, &files_under(&fixtures_dir()));
    let mut all = Spans(Vec::new());
    store
        .read_reports(&ReportFilter::default(), &ResultsWanted::All, &mut all)
        .unwrap();
    let (domain, begin, _) = all.0[all.0.len() / 2].clone();
    let filters = [
        ReportFilter::default(),
        ReportFilter {
            policy_domain: Some(domain),
            ..ReportFilter::default()
        },
        ReportFilter {
            begin_at_or_after: Some(begin),
            begin_before: Some(begin + 3 * DAY),
            end_at_or_after: Some(begin + 1),
            ..ReportFilter::default()
        },
    ];
    for filter in filters {
        let mut expected = Spans(Vec::new());
        store
            .read_reports(&filter, &ResultsWanted::All, &mut expected)
            .unwrap();
        let mut spans = Vec::new();
        store
            .read_report_spans(&filter, &mut |domain, begin, end| {
                spans.push((domain.to_owned(), begin, end));
            })
            .unwrap();
        expected.0.sort();
        spans.sort();
        assert!(!spans.is_empty(), "{filter:?}");
        assert_eq!(spans, expected.0, "{filter:?}");
    }
    assert!(all.0.len() > 10, "{} reports", all.0.len());
}

/// The messages of every source-day `store` reads.
fn messages_read(store: &Store) -> u64 {
    let mut messages = 0;
    store
        .read_source_days(&DayFilter::default(), &mut |row| messages += row.messages())
        .unwrap();
    messages
}

#[test]
fn reads_in_a_snapshot_see_one_state_while_another_connection_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ruadb.sqlite");
    let mut writer = Store::open(&path, StoreOptions::default()).unwrap();
    let one = |id: &str, ip: &str, count: u64| {
        let xml = report(
            "google.com",
            id,
            "example.com",
            (SUNDAY, SUNDAY + DAY),
            &[(
                ip,
                count,
                "none",
                "example.com",
                "pass",
                "example.com",
                "pass",
            )],
        );
        vec![(format!("{id}.xml"), xml.into_bytes())]
    };
    ingest(&mut writer, &one("first", "192.0.2.1", 5));
    let reader = Store::open_read_only(&path).unwrap();
    let snapshot = reader.snapshot().unwrap();
    assert_eq!(messages_read(&reader), 5);
    ingest(&mut writer, &one("second", "192.0.2.2", 7));
    // Every read of the snapshot, however many, sees the database as it was at the first.
    assert_eq!(messages_read(&reader), 5);
    let mut days = 0;
    reader
        .read_domain_days(&DayFilter::default(), &mut |row| {
            days += 1;
            assert_eq!(row.messages(), 5);
        })
        .unwrap();
    assert_eq!(days, 1);
    drop(snapshot);
    assert_eq!(messages_read(&reader), 12);
}
