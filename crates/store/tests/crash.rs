//! A writer killed (SIGKILL) at an arbitrary moment leaves a database in which every message
//! is either stored whole or absent, and every committed batch is still there.
//!
//! The test re-runs its own binary as the writer (selected by an environment variable), kills
//! it after a while, and checks the database; three rounds append to the same file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_store::{MessageSource, Store, StoreOptions, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::report_xml;

const CHILD_DB: &str = "RUADB_STORE_CRASH_TEST_DB";
const TEST_NAME: &str = "a_killed_writer_leaves_whole_messages_and_loses_no_commit";
const REPORTS_PER_BATCH: usize = 20;
const RECORDS_PER_REPORT: usize = 40;

/// The writer: batches of distinct reports until killed, printing each committed batch.
fn write_until_killed(db: &Path) {
    let mut store = Store::open(db, StoreOptions::default()).unwrap();
    let run = std::process::id();
    let ips: Vec<String> = (0..RECORDS_PER_REPORT)
        .map(|i| format!("192.0.2.{i}"))
        .collect();
    let records: Vec<(&str, u64, &str, &str)> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| (ip.as_str(), i as u64 + 1, "example.com", "example.com"))
        .collect();
    for batch_number in 0..5_000 {
        let mut batch = store.begin_batch().unwrap();
        for report in 0..REPORTS_PER_BATCH {
            let id = format!("{run}-{batch_number}-{report}");
            let xml = report_xml("example.net", &id, "example.com", &records);
            let outcome = batch
                .ingest_bytes(xml.as_bytes(), &MessageSource::File { path: id })
                .unwrap();
            assert_eq!(outcome.reports_new, 1);
        }
        batch.commit().unwrap();
        println!("committed {batch_number}");
    }
}

fn count(store: &Store, sql: &str) -> i64 {
    let mut value = 0;
    store
        .query(sql, &mut |row| {
            if let Value::Integer(n) = row[0] {
                value = n;
            }
            Ok(())
        })
        .unwrap();
    value
}

#[test]
fn a_killed_writer_leaves_whole_messages_and_loses_no_commit() {
    if let Some(db) = std::env::var_os(CHILD_DB) {
        write_until_killed(Path::new(&db));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.sqlite");
    let mut committed_reports = 0i64;
    for round in 0..3u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_DB, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Kill after a while that differs per round, and not before the writer has committed
        // once (on a loaded machine its first commit can take longer than that while).
        let (first_commit, first_committed) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut committed = 0i64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The first one shares its line with the test harness's "test … ... ".
                let commits = line.matches("committed ").count() as i64;
                if committed == 0 && commits > 0 {
                    let _ = first_commit.send(());
                }
                committed += commits;
            }
            committed
        });
        std::thread::sleep(Duration::from_millis(700 + 350 * round));
        let _ = first_committed.recv_timeout(Duration::from_secs(60));
        child.kill().unwrap();
        child.wait().unwrap();
        committed_reports += reader.join().unwrap() * REPORTS_PER_BATCH as i64;

        let store = Store::open_read_only(&db).unwrap();
        let mut integrity = String::new();
        store
            .query("PRAGMA integrity_check", &mut |row| {
                if let Value::Text(text) = &row[0] {
                    integrity.push_str(text);
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(integrity, "ok", "round {round}");
        let reports = count(&store, "SELECT COUNT(*) FROM reports");
        assert!(
            reports >= committed_reports,
            "round {round}: {reports} < {committed_reports} committed"
        );
        assert!(
            committed_reports > 0,
            "round {round}: the writer never committed"
        );
        // Whole messages only: every message has its report, every report all its records
        // and results, every record both results.
        let partial = [
            "SELECT COUNT(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.message_id = m.id)",
            "SELECT COUNT(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM raw_inputs w WHERE w.message_id = m.id)",
            "SELECT COUNT(*) FROM reports r WHERE r.record_count <> (SELECT COUNT(*) FROM records c WHERE c.report = r.id)",
            "SELECT COUNT(*) FROM reports r WHERE r.record_count <> 40 OR r.message_total <> 820",
            "SELECT COUNT(*) FROM records c WHERE (SELECT COUNT(*) FROM dkim_results d WHERE d.record = c.id) <> 1
                 OR (SELECT COUNT(*) FROM spf_results s WHERE s.record = c.id) <> 1",
        ];
        for sql in partial {
            assert_eq!(count(&store, sql), 0, "round {round}: {sql}");
        }
        assert_eq!(count(&store, "SELECT COUNT(*) FROM messages"), reports);
        // Only whole batches: the writer commits REPORTS_PER_BATCH messages at a time.
        assert_eq!(reports % REPORTS_PER_BATCH as i64, 0, "round {round}");
        committed_reports = reports;
    }
}
