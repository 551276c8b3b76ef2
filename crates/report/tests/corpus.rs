//! Conformance over the real-world corpus in `../shared/corpus` (beside the repository),
//! described by its `expected.json`.
//!
//! Every file not marked `expected_error` must yield exactly the expected reports (report_id,
//! org_name, policy domain, begin, end, number of records, sum of counts); every
//! `expected_error` file must yield an error and no report, unless it lists `lenient`
//! values (then it may parse). Each file is read twice — streaming from the file and from
//! its bytes in memory — and both ways must agree.
//!
//! The corpus is not part of the repository; without it the test says so and passes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_report::{Collector, Error};
use ruadb_report::{Limits, Sink, read_reports, read_reports_from};
use serde_json::Value;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// What the corpus oracle records per report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Summary {
    report_id: String,
    org_name: String,
    policy_domain: String,
    begin: i64,
    end: i64,
    records: u64,
    count_sum: u64,
}

/// What one way of reading a file yielded.
#[derive(Debug, PartialEq)]
struct Outcome {
    reports: Vec<Summary>,
    errors: Vec<String>,
}

fn outcome(collector: Collector) -> Outcome {
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for result in collector.results {
        match result {
            Ok(report) => {
                // The oracle counts a placeholder record (no source_ip, count 0) that the
                // parser drops with a warning.
                let placeholders = report
                    .trailer
                    .warnings
                    .iter()
                    .filter(|warning| warning.0.contains("placeholder"))
                    .count() as u64;
                reports.push(Summary {
                    report_id: report.header.metadata.report_id.clone(),
                    org_name: report.header.metadata.org_name.clone(),
                    policy_domain: report.header.policy.domain.to_string(),
                    begin: report.header.metadata.begin,
                    end: report.header.metadata.end,
                    records: report.records.len() as u64 + placeholders,
                    count_sum: report.records.iter().map(|record| record.count).sum(),
                });
            }
            Err(failure) => errors.push(format!(
                "{}: {}",
                failure.member.as_deref().unwrap_or("-"),
                failure.error
            )),
        }
    }
    reports.sort();
    Outcome { reports, errors }
}

fn expected_summary(entry: &Value) -> Summary {
    let text = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
    Summary {
        report_id: text("report_id"),
        org_name: text("org_name"),
        policy_domain: text("policy_domain"),
        begin: entry["begin"].as_i64().unwrap_or(i64::MIN),
        end: entry["end"].as_i64().unwrap_or(i64::MIN),
        records: entry["records"].as_u64().unwrap_or(u64::MAX),
        count_sum: entry["count_sum"].as_u64().unwrap_or(u64::MAX),
    }
}

fn read_both_ways(path: &Path) -> Outcome {
    let limits = Limits::default();
    let bytes = std::fs::read(path).unwrap();
    let mut in_memory = Collector::default();
    read_reports(&bytes, &limits, &mut in_memory);
    let mut streamed = Collector::default();
    let file = File::open(path).unwrap();
    read_reports_from(
        BufReader::new(file),
        &limits,
        &mut streamed as &mut dyn Sink,
    );
    let in_memory = outcome(in_memory);
    let streamed = outcome(streamed);
    assert_eq!(
        in_memory,
        streamed,
        "{}: reading from bytes and streaming from the file disagree",
        path.display()
    );
    in_memory
}

#[test]
fn corpus_conformance() {
    let dir = corpus_dir();
    let expected_path = dir.join("expected.json");
    if !expected_path.exists() {
        println!(
            "SKIPPED corpus conformance: {} not found (the corpus lives beside the repository)",
            expected_path.display()
        );
        return;
    }
    let expected: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
    let mut failures = Vec::new();
    let mut passed = 0;
    for entry in &expected {
        let file = entry["file"].as_str().unwrap();
        let got = read_both_ways(&dir.join(file));
        let reports = entry["reports"].as_array().cloned().unwrap_or_default();
        let lenient = reports.iter().any(|report| report.get("lenient").is_some());
        let problem = if entry["expected_error"].as_bool().unwrap_or(false) {
            if got.errors.is_empty() && !lenient {
                Some(format!("expected an error, got {:?}", got.reports))
            } else if !got.reports.is_empty() && !lenient {
                Some(format!("expected no report, got {:?}", got.reports))
            } else {
                None
            }
        } else {
            let mut want: Vec<Summary> = reports.iter().map(expected_summary).collect();
            want.sort();
            if got.reports != want || !got.errors.is_empty() {
                Some(format!(
                    "expected {want:?}\n     got {:?}, errors {:?}",
                    got.reports, got.errors
                ))
            } else {
                None
            }
        };
        match problem {
            Some(problem) => failures.push(format!("{file}: {problem}")),
            None => passed += 1,
        }
    }
    println!("corpus conformance: {passed}/{} files pass", expected.len());
    assert!(
        failures.is_empty(),
        "{} of {} corpus files fail:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );
}

/// Errors in the corpus name what is wrong.
#[test]
fn corpus_errors_are_clear() {
    let dir = corpus_dir();
    let sample = dir.join("aggregate/dmarc-parser-scala/test.none.eml");
    if !sample.exists() {
        println!("SKIPPED: {} not found", sample.display());
        return;
    }
    let bytes = std::fs::read(&sample).unwrap();
    let results = ruadb_report::parse_reports(&bytes, &Limits::default());
    assert_eq!(results.len(), 1);
    let failure = results[0].as_ref().unwrap_err();
    assert!(matches!(failure.error, Error::NoReport(_)), "{failure:?}");
}
