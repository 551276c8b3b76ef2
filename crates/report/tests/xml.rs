//! Snapshot tests: every fixture in `fixtures/reports/` through the public entry point.
//!
//! `err-*.xml` fixtures must yield no report; every other fixture must yield exactly one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_report::{AggregateReport, Limits, parse_reports};
use serde::Serialize;

/// What one input yields, in a form that snapshots well.
#[derive(Serialize)]
#[serde(untagged)]
enum Outcome<'a> {
    Report(&'a AggregateReport),
    Failed {
        member: Option<&'a str>,
        error: String,
    },
}

#[test]
fn fixtures() {
    insta::glob!("../../../fixtures", "reports/*.xml", |path| {
        let bytes = std::fs::read(path).unwrap();
        let results = parse_reports(&bytes, &Limits::default());
        let name = path.file_name().unwrap().to_string_lossy();
        let expect_error = name.starts_with("err-");
        assert_eq!(results.len(), 1, "{name}: one outcome per document");
        assert_eq!(
            results[0].is_err(),
            expect_error,
            "{name}: {}",
            match &results[0] {
                Ok(_) => "parsed".to_owned(),
                Err(failure) => failure.error.to_string(),
            }
        );
        let outcomes: Vec<Outcome<'_>> = results
            .iter()
            .map(|result| match result {
                Ok(report) => Outcome::Report(report),
                Err(failure) => Outcome::Failed {
                    member: failure.member.as_deref(),
                    error: failure.error.to_string(),
                },
            })
            .collect();
        insta::assert_yaml_snapshot!(outcomes);
    });
}
