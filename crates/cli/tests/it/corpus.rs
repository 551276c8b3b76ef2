//! The real-world corpus in `../shared/corpus` (beside the repository), through the binary:
//! every input found, every report printed with the values `expected.json` records, every
//! bad file named. Without the corpus the tests say so and pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::TestEnv;

fn corpus() -> Option<(PathBuf, Vec<Value>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let Ok(text) = std::fs::read_to_string(dir.join("expected.json")) else {
        eprintln!(
            "skipped: no corpus at {} (it lives beside the repository)",
            dir.display()
        );
        return None;
    };
    let entries: Vec<Value> = serde_json::from_str(&text).expect("expected.json");
    Some((dir, entries))
}

/// (report_id, org_name, policy domain, begin, end, records, sum of counts)
type Summary = (String, String, String, i64, i64, u64, u64);

fn expected(report: &Value) -> Summary {
    let text = |key: &str| report[key].as_str().unwrap_or_default().to_owned();
    let number = |key: &str| report[key].as_u64().unwrap_or_default();
    (
        text("report_id"),
        text("org_name"),
        text("policy_domain"),
        report["begin"].as_i64().unwrap_or_default(),
        report["end"].as_i64().unwrap_or_default(),
        number("records"),
        number("count_sum"),
    )
}

fn printed(report: &Value) -> Summary {
    let records = report["records"].as_array().expect("records");
    // The corpus oracle counts placeholder records (no source_ip, count 0) that the parser
    // drops with a warning.
    let placeholders = report["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|warning| {
            warning
                .as_str()
                .is_some_and(|text| text.contains("placeholder"))
        })
        .count();
    (
        report["report_id"].as_str().unwrap().to_owned(),
        report["org_name"].as_str().unwrap().to_owned(),
        report["policy"]["domain"].as_str().unwrap().to_owned(),
        report["begin"].as_i64().unwrap(),
        report["end"].as_i64().unwrap(),
        (records.len() + placeholders) as u64,
        records
            .iter()
            .map(|record| record["count"].as_u64().unwrap())
            .sum(),
    )
}

#[test]
fn parse_prints_every_expected_report() {
    let Some((dir, entries)) = corpus() else {
        return;
    };
    let env = TestEnv::new();
    let run = env.run(&[
        "parse",
        "--format",
        "json",
        dir.join("aggregate").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "the corpus holds bad files: {}", run.stderr);

    let prefix = format!("{}/", dir.display());
    let mut reports: BTreeMap<String, Vec<Summary>> = BTreeMap::new();
    let mut errors: BTreeSet<String> = BTreeSet::new();
    for line in run.stdout.lines() {
        let object: Value = serde_json::from_str(line).expect("JSON line");
        let source = object["source"].as_str().unwrap();
        let file = source.strip_prefix(&prefix).unwrap_or(source).to_owned();
        if object.get("error").is_some() {
            errors.insert(file);
        } else {
            reports.entry(file).or_default().push(printed(&object));
        }
    }
    for entry in &entries {
        let file = entry["file"].as_str().unwrap();
        let lenient = entry["reports"]
            .as_array()
            .is_some_and(|reports| reports.iter().any(|report| report.get("lenient").is_some()));
        if entry["expected_error"].as_bool() == Some(true) {
            // Values the oracle calls invalid but a lenient reader may accept.
            if lenient {
                continue;
            }
            assert!(errors.contains(file), "{file}: no error object");
            assert!(
                !reports.contains_key(file),
                "{file}: a report from a bad file"
            );
            continue;
        }
        let mut want: Vec<Summary> = entry["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(expected)
            .collect();
        let mut got = reports.get(file).cloned().unwrap_or_default();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{file}");
    }
    // Nothing was printed for files the oracle does not list.
    let listed: BTreeSet<&str> = entries
        .iter()
        .map(|entry| entry["file"].as_str().unwrap())
        .collect();
    for file in reports.keys().chain(errors.iter()) {
        assert!(
            listed.contains(file.as_str()),
            "{file} is not in expected.json"
        );
    }
}

#[test]
fn ingesting_the_corpus_twice_changes_no_count() {
    let Some((dir, _)) = corpus() else {
        return;
    };
    let env = TestEnv::new();
    let path = dir.join("aggregate");
    let first = env.run(&["ingest", "--json", path.to_str().unwrap()]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    let counts = "SELECT (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM reports) AS reports, (SELECT count(*) FROM record_outcomes) AS records";
    let before = env.sql(counts);
    let second = env.run(&["ingest", "--json", path.to_str().unwrap()]);
    assert_eq!(second.code, 1);
    assert_eq!(env.sql(counts), before);

    // Stored once per (reporter, report id, policy domain), as `parse` sees them.
    let parsed = env.run(&["parse", "--format", "json", path.to_str().unwrap()]);
    let keys: BTreeSet<(String, String, String)> = parsed
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON line"))
        .filter(|object| object.get("error").is_none())
        .map(|report| {
            let (id, org, domain, ..) = printed(&report);
            (org, id, domain)
        })
        .collect();
    assert!(keys.len() > 50, "{} reports", keys.len());
    let stored = env.sql("SELECT count(*) AS n FROM reports");
    assert_eq!(stored, format!("n\n{}\n", keys.len()));
}
