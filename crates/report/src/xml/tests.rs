//! Unit tests of the XML layer: one rule per test, on small documents.

use super::*;
use crate::{AggregateReport, Collector, Failure};
use std::path::Path;

fn parse(xml: &[u8]) -> Vec<Result<AggregateReport, Failure>> {
    let mut collector = Collector::default();
    let _ = parse_document(xml, Some("member.xml"), &Limits::default(), &mut collector);
    collector.results
}

#[test]
fn corpus_plain_xml_matches_expected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let Ok(expected) = std::fs::read(root.join("expected.json")) else {
        eprintln!("SKIPPED: corpus not found at {}", root.display());
        return;
    };
    let expected: serde_json::Value = serde_json::from_slice(&expected).unwrap();
    let mut checked = 0;
    for entry in expected.as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        if !file.ends_with(".xml") {
            continue;
        }
        let bytes = std::fs::read(root.join(file)).unwrap();
        let results = parse(&bytes);
        assert_eq!(results.len(), 1, "{file}");
        let lenient = entry["reports"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["lenient"].is_array()));
        match &results[0] {
            Ok(report) => {
                if entry["expected_error"] == true && !lenient {
                    panic!("{file}: expected an error, parsed {report:#?}");
                }
                if entry["expected_error"] == true {
                    eprintln!("{file}: lenient parse: {:?}", report.trailer.warnings);
                    continue;
                }
                let h = &report.header;
                assert_eq!(
                    h.metadata.report_id,
                    entry["report_id"].as_str().unwrap(),
                    "{file}"
                );
                assert_eq!(
                    h.metadata.org_name,
                    entry["org_name"].as_str().unwrap(),
                    "{file}"
                );
                assert_eq!(
                    h.policy.domain,
                    entry["policy_domain"].as_str().unwrap().to_lowercase(),
                    "{file}"
                );
                assert_eq!(h.metadata.begin, entry["begin"].as_i64().unwrap(), "{file}");
                assert_eq!(h.metadata.end, entry["end"].as_i64().unwrap(), "{file}");
                let sum: u64 = report.records.iter().map(|r| r.count).sum();
                assert_eq!(sum, entry["count_sum"].as_u64().unwrap(), "{file}");
                let records = entry["records"].as_u64().unwrap() as usize;
                // The oracle counts placeholder records, which the parser drops.
                let placeholders = report
                    .trailer
                    .warnings
                    .iter()
                    .any(|w| w.0.contains("placeholder"));
                if placeholders {
                    assert!(report.records.len() < records, "{file}");
                } else {
                    assert_eq!(report.records.len(), records, "{file}");
                }
            }
            Err(failure) => {
                assert!(entry["expected_error"] == true, "{file}: {}", failure.error);
                eprintln!("{file}: error as expected: {}", failure.error);
            }
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} files checked");
}
