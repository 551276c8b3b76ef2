//! The generator's output: reproducible, and read back by the real parser to the numbers it
//! claims to have written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_report::{Limits, parse_reports};
use ruadb_testgen::{CorpusSpec, Hostile, generate_corpus};
use std::collections::BTreeMap;
use std::path::Path;

fn read_dir_sorted(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn same_seed_writes_the_same_bytes_and_another_seed_does_not() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let stats_a = generate_corpus(a.path(), &CorpusSpec::new(150, 42)).unwrap();
    let stats_b = generate_corpus(b.path(), &CorpusSpec::new(150, 42)).unwrap();
    generate_corpus(c.path(), &CorpusSpec::new(150, 43)).unwrap();
    assert_eq!(stats_a, stats_b);
    assert_eq!(read_dir_sorted(a.path()), read_dir_sorted(b.path()));
    assert_ne!(read_dir_sorted(a.path()), read_dir_sorted(c.path()));
    assert_eq!(stats_a.files, 150);
    assert_eq!(read_dir_sorted(a.path()).len(), 150);
}

#[test]
fn writing_into_a_directory_with_the_same_files_fails_instead_of_mixing() {
    let dir = tempfile::tempdir().unwrap();
    generate_corpus(dir.path(), &CorpusSpec::new(5, 1)).unwrap();
    assert!(generate_corpus(dir.path(), &CorpusSpec::new(5, 1)).is_err());
}

#[test]
fn corpus_has_the_intended_shape() {
    let dir = tempfile::tempdir().unwrap();
    let stats = generate_corpus(dir.path(), &CorpusSpec::new(2_000, 7)).unwrap();
    let mean = stats.records as f64 / stats.reports as f64;
    assert!(
        (15.0..40.0).contains(&mean),
        "mean records per report {mean}"
    );
    assert!(
        stats.max_records >= 500,
        "long tail missing: {}",
        stats.max_records
    );
    let c = stats.containers;
    assert_eq!(c.xml + c.xml_gz + c.zip + c.eml, 2_000);
    for (kind, count) in [
        ("xml", c.xml),
        ("gz", c.xml_gz),
        ("zip", c.zip),
        ("eml", c.eml),
    ] {
        assert!(count >= 150, "{kind}: only {count} files");
    }
    assert!(stats.rfc9990_reports >= 40, "{}", stats.rfc9990_reports);
    assert!(stats.messages > stats.records);
}

/// Every file, whatever its container, parses to exactly one report, and the totals match
/// what the generator says it wrote.
#[test]
fn every_generated_file_parses_to_the_written_totals() {
    let dir = tempfile::tempdir().unwrap();
    let stats = generate_corpus(dir.path(), &CorpusSpec::new(400, 11)).unwrap();
    let (mut reports, mut records, mut messages) = (0u64, 0u64, 0u64);
    let mut formats = BTreeMap::new();
    for (name, bytes) in read_dir_sorted(dir.path()) {
        let results = parse_reports(&bytes, &Limits::default());
        assert_eq!(results.len(), 1, "{name}: {results:?}");
        let report = match &results[0] {
            Ok(report) => report,
            Err(failure) => panic!("{name}: {:?}", failure.error),
        };
        assert!(
            report.trailer.warnings.is_empty() || name.starts_with("yahoo"),
            "{name}: {:?}",
            report.trailer.warnings
        );
        reports += 1;
        records += report.records.len() as u64;
        messages += report.records.iter().map(|r| r.count).sum::<u64>();
        *formats.entry(report.header.format.as_str()).or_insert(0) += 1;
    }
    assert_eq!(
        (reports, records, messages),
        (stats.reports, stats.records, stats.messages)
    );
    assert!(
        formats.contains_key("rfc9990") && formats.contains_key("rfc7489"),
        "{formats:?}"
    );
}

#[test]
fn small_hostile_inputs_are_written() {
    let dir = tempfile::tempdir().unwrap();
    for kind in [
        Hostile::NestedGzip,
        Hostile::BillionLaughs,
        Hostile::ExternalEntity,
        Hostile::DeepNesting,
        Hostile::UnterminatedBoundary,
    ] {
        let file = kind.write(dir.path()).unwrap();
        let bytes = std::fs::read(&file.path).unwrap();
        assert!(!bytes.is_empty(), "{kind:?}");
        // Whatever they are, the parser must not accept them as well-formed reports with
        // entity-expanded content.
        for report in parse_reports(&bytes, &Limits::default())
            .into_iter()
            .flatten()
        {
            let org_name = &report.header.metadata.org_name;
            assert!(
                !org_name.contains("lol") && !org_name.contains("root:"),
                "{kind:?}"
            );
        }
    }
}

#[test]
fn big_report_reaches_the_requested_size_and_parses() {
    let mut xml = Vec::new();
    let written = ruadb_testgen::big_report(&mut xml, 2, 3).unwrap();
    assert!(written.bytes >= 2 * 1024 * 1024);
    assert_eq!(written.bytes, xml.len() as u64);
    let results = parse_reports(&xml, &Limits::default());
    let report = results[0].as_ref().unwrap();
    assert_eq!(report.records.len() as u64, written.records);
    assert_eq!(
        report.records.iter().map(|r| r.count).sum::<u64>(),
        written.messages
    );
}

#[test]
fn msp_parts_add_up_to_the_whole_and_to_the_records_asked_for() {
    use ruadb_testgen::{MspSpec, generate_msp};
    use std::collections::{BTreeSet, HashSet};
    let mut spec = MspSpec::new(20, 3_000, 5);
    spec.days = 7;
    spec.spoofers_per_domain = 200;
    let (whole, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut seen_domains = BTreeSet::new();
    let mut spoofers_by_domain: BTreeMap<u32, HashSet<std::net::IpAddr>> = BTreeMap::new();
    let stats = generate_msp(whole.path(), &spec, 0..7, &mut |record| {
        seen_domains.insert(record.domain);
        assert!(record.end > record.begin && !record.org.is_empty());
        if !record.record.dmarc_pass && record.record.messages > 0 {
            spoofers_by_domain
                .entry(record.domain)
                .or_default()
                .insert(record.record.source_ip);
        }
    })
    .unwrap();
    assert_eq!(stats.records, 3_000, "{stats:?}");
    assert_eq!(seen_domains.len(), 20);
    let first = generate_msp(parts.path(), &spec, 0..3, &mut |_| {}).unwrap();
    let second = generate_msp(parts.path(), &spec, 3..7, &mut |_| {}).unwrap();
    assert_eq!(first.records + second.records, stats.records);
    assert_eq!(first.reports + second.reports, stats.reports);
    assert_eq!(read_dir_sorted(whole.path()), read_dir_sorted(parts.path()));

    // Each file parses to what was written; failing sources are mostly each domain's own.
    let (mut records, mut messages) = (0u64, 0u64);
    for (name, bytes) in read_dir_sorted(whole.path()) {
        let results = parse_reports(&bytes, &Limits::default());
        let report = match &results[..] {
            [Ok(report)] => report,
            other => panic!("{name}: {other:?}"),
        };
        assert!(
            name.contains(report.header.policy.domain.as_str()),
            "{name}"
        );
        records += report.records.len() as u64;
        messages += report.records.iter().map(|r| r.count).sum::<u64>();
    }
    assert_eq!((records, messages), (stats.records, stats.messages));
    let all: Vec<&HashSet<_>> = spoofers_by_domain.values().collect();
    let shared = all[0].intersection(all[1]).count();
    assert!(shared * 4 < all[0].len().min(all[1].len()), "{shared}");
}
