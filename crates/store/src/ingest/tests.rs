//! Ingest tests that need the private connection.

use super::{Input, MessageSource};
use crate::{Store, StoreError, StoreOptions};
use std::path::{Path, PathBuf};

fn fixture_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            fixture_files(&path, found);
        } else {
            found.push(path);
        }
    }
}

/// Foreign keys are not enforced on the writing connection, so the ingest code must keep
/// every reference valid itself: through good inputs, failing reports, duplicates and a
/// reparse.
#[test]
fn every_reference_stays_valid_without_enforcement() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = Vec::new();
    fixture_files(&fixtures, &mut files);
    files.sort();
    assert!(
        files.len() > 20,
        "fixtures missing under {}",
        fixtures.display()
    );
    let mut store = Store::open_in_memory(StoreOptions {
        domains: Some(vec!["example.com".into()]),
        ..StoreOptions::default()
    })
    .unwrap();
    for round in 0..2 {
        let mut batch = store.begin_batch().unwrap();
        let inputs = files.iter().map(|file| {
            let source = MessageSource::File {
                path: format!("{round}/{}", file.display()),
            };
            ((), source, Input::Bytes(std::fs::read(file).unwrap()))
        });
        for ((), outcome) in batch.ingest(inputs) {
            outcome.unwrap();
        }
        batch.commit().unwrap();
    }
    let violations = |store: &Store| -> i64 {
        store
            .connection
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |row| {
                row.get(0)
            })
            .unwrap()
    };
    let records: i64 = store
        .connection
        .query_row("SELECT COUNT(*) FROM records", [], |row| row.get(0))
        .unwrap();
    assert!(records > 0);
    assert_eq!(violations(&store), 0);
    store.reparse().unwrap();
    assert_eq!(violations(&store), 0);
}

fn report(report_id: &str, header_from: &str) -> Vec<u8> {
    format!(
        "<feedback><report_metadata><org_name>example.net</org_name>
         <email>dmarc@example.net</email><report_id>{report_id}</report_id>
         <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
         </report_metadata><policy_published><domain>example.com</domain><p>none</p>
         </policy_published><record><row><source_ip>192.0.2.1</source_ip><count>3</count>
         <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>
         </policy_evaluated></row><identifiers><header_from>{header_from}</header_from>
         </identifiers><auth_results><dkim><domain>example.com</domain><result>pass</result>
         </dkim></auth_results></record></feedback>"
    )
    .into_bytes()
}

/// Reparse checks the references before committing: a dangling row rolls everything
/// back.
#[test]
fn a_reparse_that_would_leave_a_dangling_reference_changes_nothing() {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let mut batch = store.begin_batch().unwrap();
    batch
        .ingest_bytes(&report("1", "example.com"), &MessageSource::Stdin)
        .unwrap();
    batch.commit().unwrap();
    let totals = store.totals().unwrap();
    store
        .connection
        .execute_batch(
            "CREATE TRIGGER dangle AFTER INSERT ON records
             BEGIN INSERT INTO report_warnings (report, warning) VALUES (-1, 'x'); END;",
        )
        .unwrap();
    assert!(matches!(
        store.reparse(),
        Err(StoreError::DanglingReferences(1))
    ));
    assert_eq!(store.totals().unwrap(), totals);
}

/// Queued inputs have no savepoint: a database error half-way through one must keep the
/// whole batch from committing, so that no input is stored in part.
#[test]
fn a_database_error_half_way_through_an_input_commits_nothing() {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    store
        .connection
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON records
             WHEN NEW.header_from = 'refused.example'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    let inputs = || {
        [("1", "example.com"), ("2", "refused.example")]
            .map(|(id, from)| (id, MessageSource::Stdin, Input::Bytes(report(id, from))))
    };
    let mut batch = store.begin_batch().unwrap();
    let outcomes: Vec<_> = batch
        .ingest(inputs())
        .map(|(id, outcome)| (id, outcome.is_ok()))
        .collect();
    // The first is stored and handed back; the error names the second and ends the batch.
    assert_eq!(outcomes, [("1", true), ("2", false)]);
    assert!(matches!(batch.commit(), Err(StoreError::BatchBroken)));
    let stored: i64 = store
        .connection
        .query_row("SELECT COUNT(*) FROM messages", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, 0);

    // The same inputs without the failure are stored.
    store
        .connection
        .execute_batch("DROP TRIGGER refuse")
        .unwrap();
    let mut batch = store.begin_batch().unwrap();
    assert_eq!(
        batch
            .ingest(inputs())
            .filter(|(_, outcome)| outcome.is_ok())
            .count(),
        2
    );
    batch.commit().unwrap();
    assert_eq!(store.totals().unwrap().message_count, 6);
}
