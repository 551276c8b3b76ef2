//! Containers and messages: every fixture in `fixtures/archives/` and `fixtures/messages/`
//! (written by `fixtures/generate-containers.py`) through both public entry points, with a
//! snapshot of what each yields.
//!
//! `err-*` fixtures must yield no report and at least one error, `mixed-*` fixtures both
//! reports and errors; every other fixture must yield at least one report and no error. Reading from bytes and streaming from the file
//! must agree.

use ruadb_report::{AggregateReport, Collector, Failure, Limits, read_reports, read_reports_from};
use serde::Serialize;
use std::path::Path;

/// What one document yields, in a form that snapshots well.
#[derive(Serialize, Debug, PartialEq)]
#[serde(untagged)]
enum Outcome {
    Report {
        member: Option<String>,
        org_name: String,
        report_id: String,
        domain: String,
        records: usize,
        messages: u64,
        warnings: Vec<String>,
    },
    Failed {
        member: Option<String>,
        error: String,
    },
}

fn summarize(result: &Result<AggregateReport, Failure>) -> Outcome {
    match result {
        Ok(report) => Outcome::Report {
            member: report.member.clone(),
            org_name: report.header.metadata.org_name.clone(),
            report_id: report.header.metadata.report_id.clone(),
            domain: report.header.policy.domain.clone(),
            records: report.records.len(),
            messages: report.records.iter().map(|record| record.count).sum(),
            warnings: report
                .trailer
                .warnings
                .iter()
                .map(|w| w.0.clone())
                .collect(),
        },
        Err(failure) => Outcome::Failed {
            member: failure.member.clone(),
            error: failure.error.to_string(),
        },
    }
}

/// Reads `path` from its bytes and streaming from the file; both must agree.
fn read_both_ways(path: &Path) -> Vec<Outcome> {
    let limits = Limits::default();
    let bytes = std::fs::read(path).unwrap();
    let mut in_memory = Collector::default();
    read_reports(&bytes, &limits, &mut in_memory);
    let mut streamed = Collector::default();
    read_reports_from(std::fs::File::open(path).unwrap(), &limits, &mut streamed);
    let in_memory: Vec<Outcome> = in_memory.results.iter().map(summarize).collect();
    let streamed: Vec<Outcome> = streamed.results.iter().map(summarize).collect();
    assert_eq!(
        in_memory,
        streamed,
        "{}: bytes and stream disagree",
        path.display()
    );
    in_memory
}

/// Checks the outcomes of one fixture against its name's promise.
fn check(path: &Path) -> Vec<Outcome> {
    let outcomes = read_both_ways(path);
    let name = path.file_name().unwrap().to_string_lossy();
    let reports = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Outcome::Report { .. }))
        .count();
    let errors = outcomes.len() - reports;
    let expected = if name.starts_with("err-") {
        reports == 0 && errors > 0
    } else if name.starts_with("mixed-") {
        reports > 0 && errors > 0
    } else {
        reports > 0 && errors == 0
    };
    assert!(expected, "{name}: {outcomes:#?}");
    outcomes
}

#[test]
fn archives() {
    insta::glob!("../../../fixtures", "archives/*.{gz,zip,zlib}", |path| {
        insta::assert_yaml_snapshot!(check(path));
    });
}

#[test]
fn messages() {
    insta::glob!("../../../fixtures", "messages/*.eml", |path| {
        insta::assert_yaml_snapshot!(check(path));
    });
}
