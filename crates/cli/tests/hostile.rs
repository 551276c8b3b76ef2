//! Hostile inputs through `ruadb ingest`: each is rejected or processed within the limits,
//! the process stays under 64 MiB peak RSS and never panics, and the good reports of the
//! same batch are stored. A report for a domain not in `domains` is counted, never stored.
//!
//! Run with `--nocapture` to see one line per input (the README's limits table).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

mod proof;

use proof::{describe, query_integers, query_texts, ruadb, run_measured, totals, write_config};
use ruadb_report::{Limits, MAX_AUTH_RESULTS, parse_reports};
use ruadb_testgen::{
    CorpusSpec, DEEP_MULTIPART_LEVELS, DomainPolicy, HUGE_COUNT, HUGE_COUNT_RECORDS, Hostile,
    HostileFile, generate_corpus,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

const PEAK_RSS_LIMIT_KIB: u64 = 64 * 1024;

/// The longest one input alone may take to ingest. The largest (a 100 MiB report, 120 MB of
/// DKIM results) take a few seconds in a release build; an unoptimised one is ten times slower.
const INGEST_TIME_LIMIT: Duration =
    Duration::from_secs(if cfg!(debug_assertions) { 180 } else { 30 });

/// The longest `sources` or `summary` may take on what a hostile input left in the database.
const QUERY_TIME_LIMIT: Duration = Duration::from_secs(if cfg!(debug_assertions) { 20 } else { 5 });

/// The week the hostile reports fall in (they begin on Monday 2025-01-06).
const HOSTILE_WEEK: &str = "2025-W02";

/// The report IDs in every file under `dir`, read with the library (not the binary under test).
fn report_ids(dir: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for report in parse_reports(&bytes, &Limits::default())
            .into_iter()
            .flatten()
        {
            ids.insert(report.header.metadata.report_id);
        }
    }
    ids
}

fn tally(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|error| panic!("not a JSON tally ({error}): {text}"))
}

/// Problems with one run: a panic, an unexpected exit code, too much memory.
fn check_run(label: &str, output: &std::process::Output, rss: Option<u64>) -> Vec<String> {
    let mut problems = Vec::new();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        problems.push(format!("{label}: panic: {stderr}"));
    }
    if !matches!(output.status.code(), Some(0 | 1)) {
        problems.push(format!("{label}: {}", describe(output)));
    }
    if let Some(rss) = rss.filter(|&rss| rss > PEAK_RSS_LIMIT_KIB) {
        problems.push(format!(
            "{label}: peak RSS {rss} KiB > {PEAK_RSS_LIMIT_KIB} KiB"
        ));
    }
    problems
}

#[test]
fn hostile_inputs_are_rejected_or_bounded_and_good_reports_survive() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let batch = dir.path().join("batch");
    let hostile: Vec<(Hostile, HostileFile)> = Hostile::ALL
        .iter()
        .map(|&kind| {
            (
                kind,
                kind.write(&batch.join("hostile"))
                    .unwrap_or_else(|e| panic!("{kind:?}: {e}")),
            )
        })
        .collect();
    let good = batch.join("good");
    let good_stats = generate_corpus(&good, &CorpusSpec::new(40, 5)).unwrap();
    let foreign = batch.join("foreign");
    let mut foreign_spec = CorpusSpec::new(3, 6);
    foreign_spec.domains = vec![DomainPolicy::new("other.example", "reject")];
    generate_corpus(&foreign, &foreign_spec).unwrap();

    // One batch: every hostile input next to good reports.
    let db = dir.path().join("batch.sqlite");
    let mut command = ruadb(&config, &db);
    command.arg("ingest").arg("--json").arg(&batch);
    let started = Instant::now();
    let (output, rss) = run_measured(&command);
    let elapsed = started.elapsed();
    let mut problems = check_run("whole batch", &output, rss);
    assert_eq!(
        output.status.code(),
        Some(1),
        "failures must show in the exit code"
    );
    let batch_tally = tally(&output.stdout);
    eprintln!("whole batch: {elapsed:.1?}, peak RSS {rss:?} KiB, tally {batch_tally}");

    let stored: BTreeSet<String> = query_texts(&db, "SELECT report_id FROM reports")
        .into_iter()
        .collect();
    let good_ids = report_ids(&good);
    assert_eq!(good_ids.len() as u64, good_stats.reports);
    let missing: Vec<&String> = good_ids.difference(&stored).collect();
    assert!(missing.is_empty(), "good reports not stored: {missing:?}");
    let good_records = query_integers(
        &db,
        "SELECT COUNT(*) FROM record_outcomes WHERE policy_domain IN ('example.com', 'example.org', 'example.net') \
         AND report_id NOT LIKE 'big-report-%' AND report_id NOT LIKE 'member-%' \
         AND report_id NOT IN ('nested-gzip', 'unterminated-boundary', 'many-mime-parts', 'deep-nesting') \
         AND report_id NOT LIKE 'hostile-%'",
    );
    assert_eq!(good_records[0] as u64, good_stats.records);

    // The foreign domain: counted as rejected, never stored.
    assert_eq!(
        query_integers(
            &db,
            "SELECT COUNT(*) FROM reports WHERE policy_domain = 'other.example'"
        ),
        vec![0]
    );
    assert!(totals(&db).rejected >= 3, "{:?}", totals(&db));
    assert!(
        batch_tally["rejected"].as_u64().unwrap_or(0) >= 3,
        "{batch_tally}"
    );

    // No entity was expanded into stored data.
    let orgs = query_texts(&db, "SELECT DISTINCT report_org FROM record_outcomes");
    assert!(
        orgs.iter()
            .all(|org| !org.contains("lol") && !org.contains("root:")),
        "{orgs:?}"
    );

    // Each input alone: what happens to it, measured.
    eprintln!(
        "| input | exit | reports stored | records stored | errors | peak RSS MiB | wall s |"
    );
    eprintln!("|---|---:|---:|---:|---:|---:|---:|");
    for (kind, file) in &hostile {
        let db = dir.path().join(format!("{}.sqlite", kind.file_name()));
        let mut command = ruadb(&config, &db);
        command.arg("ingest").arg("--json").arg(&file.path);
        let started = Instant::now();
        let (output, rss) = run_measured(&command);
        let elapsed = started.elapsed();
        let label = kind.file_name();
        problems.extend(check_run(label, &output, rss));
        if elapsed > INGEST_TIME_LIMIT {
            problems.push(format!(
                "{label}: ingest took {elapsed:.1?} > {INGEST_TIME_LIMIT:?}"
            ));
        }
        let result = tally(&output.stdout);
        let reports = result["reports_new"].as_u64().unwrap_or(0);
        let records = result["records"].as_u64().unwrap_or(0);
        eprintln!(
            "| {label} | {} | {reports} | {records} | {} | {:.1} | {:.1} |",
            output.status.code().unwrap_or(-1),
            result["errors"],
            rss.unwrap_or(0) as f64 / 1024.0,
            elapsed.as_secs_f64()
        );
        for line in String::from_utf8_lossy(&output.stderr).lines().take(3) {
            eprintln!("    {line}");
        }
        match kind {
            // Nothing of value inside: must be refused, with the failure in the exit code.
            Hostile::ZipBomb
            | Hostile::GzipBomb
            | Hostile::BillionLaughs
            | Hostile::ExternalEntity
            | Hostile::RandomAttachment
            | Hostile::NulInText
            | Hostile::TlsGzipBomb
            | Hostile::TlsBigJson
            | Hostile::TlsDeepNesting
            | Hostile::TlsHugeCounts
            | Hostile::TlsInvalidUtf8 => {
                assert_eq!(reports, 0, "{label}: {result}");
                assert_eq!(result["tls_reports_new"], 0, "{label}: {result}");
                assert_eq!(output.status.code(), Some(1), "{label}");
            }
            // Beyond the default depth of 16: refused as a whole.
            Hostile::DeepMultipart => {
                assert_eq!(reports, 0, "{label}: {result}");
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(
                    stderr.contains("MIME multipart nesting depth exceeds the limit of 16"),
                    "{label}: {stderr}"
                );
            }
            // The record is kept with the first results; the rest only counted.
            Hostile::ManyDkimResults => {
                assert_eq!((reports, records), (1, 1), "{label}: {result}");
                assert_eq!(
                    query_integers(&db, "SELECT COUNT(*) FROM dkim_results"),
                    vec![MAX_AUTH_RESULTS as i64]
                );
            }
            // Counts above 2^40 drop their records; the sums over the rest stay exact.
            Hostile::HugeCounts => {
                assert_eq!(
                    (reports, records),
                    (1, HUGE_COUNT_RECORDS),
                    "{label}: {result}"
                );
                let messages = (HUGE_COUNT * HUGE_COUNT_RECORDS) as i64;
                assert_eq!(
                    query_integers(&db, "SELECT messages FROM source_daily"),
                    vec![messages]
                );
                assert_eq!(
                    query_integers(&db, "SELECT messages, dmarc_pass FROM reporter_daily"),
                    vec![messages, messages]
                );
            }
            // Both reports of the two gzip members are read.
            Hostile::ConcatenatedGzip => {
                let written = file.embedded_report.unwrap();
                assert_eq!(
                    (reports, records),
                    (2, written.records),
                    "{label}: {result}"
                );
            }
            // A large but valid report within the default limits is stored whole.
            Hostile::BigValidReport | Hostile::BigRecords => {
                let written = file.embedded_report.unwrap();
                assert_eq!((reports, records), (1, written.records), "{label}");
            }
            // Stored or refused as a whole, never in part.
            _ => {
                if let Some(written) = file.embedded_report
                    && reports > 0
                {
                    assert_eq!(records, written.records, "{label}: partial report");
                }
            }
        }
        problems.extend(check_queries(label, &config, &db));
    }
    problems.extend(check_queries(
        "whole batch",
        &config,
        &dir.path().join("batch.sqlite"),
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `sources` (CSV and JSON, which must agree) and `summary` on what hostile input left in
/// `db`: each finishes within [`QUERY_TIME_LIMIT`] and the memory limit.
fn check_queries(label: &str, config: &Path, db: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut run = |what: &str, args: &[&str]| {
        let mut command = ruadb(config, db);
        command.args(args);
        let started = Instant::now();
        let (output, rss) = run_measured(&command);
        let elapsed = started.elapsed();
        let label = format!("{label}: {what}");
        problems.extend(check_run(&label, &output, rss));
        if output.status.code() != Some(0) {
            problems.push(format!("{label}: {}", describe(&output)));
        }
        if elapsed > QUERY_TIME_LIMIT {
            problems.push(format!(
                "{label}: took {elapsed:.1?} > {QUERY_TIME_LIMIT:?}"
            ));
        }
        output.stdout
    };
    let csv = run("sources csv", &["sources", "--format", "csv"]);
    let json = run("sources json", &["sources", "--format", "json"]);
    run("summary", &["summary", "--week", HOSTILE_WEEK]);
    run(
        "summary json",
        &["summary", "--week", HOSTILE_WEEK, "--format", "json"],
    );
    let csv_messages = sources_messages_from_csv(&csv);
    let json_messages = sources_messages_from_json(&json);
    if csv_messages != json_messages {
        problems.push(format!(
            "{label}: sources CSV and JSON disagree: {csv_messages:?} against {json_messages:?}"
        ));
    }
    problems
}

/// (domain, source IP, messages) of every row of `ruadb sources --format csv`.
fn sources_messages_from_csv(stdout: &[u8]) -> Vec<(String, String, String)> {
    let text = String::from_utf8_lossy(stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name);
    let (Some(domain), Some(ip), Some(messages)) =
        (column("domain"), column("source_ip"), column("messages"))
    else {
        return vec![("no such columns".into(), text.into_owned(), String::new())];
    };
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let field = |at: usize| fields.get(at).copied().unwrap_or_default().to_owned();
            (field(domain), field(ip), field(messages))
        })
        .collect()
}

/// The same from `ruadb sources --format json`.
fn sources_messages_from_json(stdout: &[u8]) -> Vec<(String, String, String)> {
    let rows: Vec<serde_json::Value> = serde_json::from_slice(stdout).unwrap_or_default();
    rows.iter()
        .map(|row| {
            let text = |key: &str| match &row[key] {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (text("policy_domain"), text("source_ip"), text("messages"))
        })
        .collect()
}

/// `[limits]` values beyond the hard bounds are refused with a message naming the key; at the
/// bound, a 5,000-deep multipart is refused as too deep, without a stack overflow.
#[test]
fn limits_beyond_their_bounds_are_refused_and_the_bounds_hold() {
    let dir = tempfile::tempdir().unwrap();
    let input = Hostile::DeepMultipart
        .write(&dir.path().join("in"))
        .unwrap();
    const { assert!(DEEP_MULTIPART_LEVELS > 100) };
    let config = dir.path().join("absurd.toml");
    std::fs::write(&config, "[limits]\nmax_mime_depth = 100000000\n").unwrap();
    let db = dir.path().join("db.sqlite");
    let mut command = ruadb(&config, &db);
    command.arg("ingest").arg(&input.path);
    let (output, _) = run_measured(&command);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("limits.max_mime_depth is 100000000; it must be between 1 and 100"),
        "{stderr}"
    );
    std::fs::write(&config, "[limits]\nmax_mime_depth = 100\n").unwrap();
    let mut command = ruadb(&config, &db);
    command.arg("ingest").arg(&input.path);
    let (output, rss) = run_measured(&command);
    let problems = check_run("deep multipart at the hard bound", &output, rss);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MIME multipart nesting depth exceeds the limit of 100"),
        "{stderr}"
    );
}
