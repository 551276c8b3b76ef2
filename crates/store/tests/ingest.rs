//! Ingest on real SQLite files: idempotence, dedupe, conflicts, rejected domains, atomicity,
//! reparse, the view contract, locking, and the real-world corpus when present.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_store::{
    ImapCursor, Input, InputFailure, MessageOutcome, MessageSource, SourceFilter, Store,
    StoreError, StoreOptions, StoredReports, Totals, Value,
};
use std::path::{Path, PathBuf};

mod common;
use common::{report_xml, rows};
use std::time::Duration;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/reports")
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

fn source(name: &str) -> MessageSource {
    MessageSource::File {
        path: name.to_owned(),
    }
}

fn ingest_one(store: &mut Store, bytes: &[u8], name: &str) -> MessageOutcome {
    let mut batch = store.begin_batch().unwrap();
    let outcome = batch.ingest_bytes(bytes, &source(name)).unwrap();
    batch.commit().unwrap();
    outcome
}

/// Every fixture, sorted by name, as (name, bytes).
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn scalar(store: &Store, sql: &str) -> Value {
    let mut value = Value::Null;
    store
        .query(sql, &mut |row| {
            value = row[0].clone();
            Ok(())
        })
        .unwrap();
    value
}

#[test]
fn fixtures_ingested_twice_change_no_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/ruadb.sqlite");
    let mut store = Store::open(&path, StoreOptions::default()).unwrap();
    let files = fixtures();
    let mut first = ruadb_store::IngestTally::default();
    let mut first_outcomes = Vec::new();
    let mut batch = store.begin_batch().unwrap();
    for (name, bytes) in &files {
        let outcome = batch.ingest_bytes(bytes, &source(name)).unwrap();
        first_outcomes.push(outcome.clone());
        assert!(!outcome.already_stored, "{name}");
        // Fixtures named err-* are the ones that yield no report.
        assert_eq!(
            outcome.has_report(),
            outcome.errors.is_empty(),
            "{name}: {outcome:?}"
        );
        if name.starts_with("err-") {
            assert!(!outcome.errors.is_empty(), "{name} should fail");
        }
        first.add(&outcome);
    }
    batch.commit().unwrap();
    let totals = store.totals().unwrap();
    assert_eq!(totals.messages, files.len() as u64);
    assert_eq!(totals.reports, first.reports_new);
    assert_eq!(totals.records, first.records);
    assert_eq!(totals.ingest_errors, first.errors);
    assert!(first.reports_new > 10 && first.records > 10, "{first:?}");
    drop(store);

    // A second run on a reopened file: every input is known, nothing changes, the failed
    // inputs are named again, and each outcome says what the input held.
    let mut store = Store::open(&path, StoreOptions::default()).unwrap();
    let mut second = ruadb_store::IngestTally::default();
    let mut batch = store.begin_batch().unwrap();
    for ((name, bytes), first) in files.iter().zip(&first_outcomes) {
        let outcome = batch.ingest_bytes(bytes, &source(name)).unwrap();
        assert!(outcome.already_stored, "{name}");
        assert_eq!(outcome.stored_before, Some(held(first)), "{name}");
        assert_eq!(outcome.has_report(), first.has_report(), "{name}");
        assert_eq!(
            (&outcome.errors, &outcome.rejected_domains),
            (&first.errors, &first.rejected_domains),
            "{name}"
        );
        second.add(&outcome);
    }
    batch.commit().unwrap();
    assert_eq!(store.totals().unwrap(), totals);
    assert_eq!(
        (second.reports_new, second.records, second.errors),
        (0, 0, first.errors)
    );
}

/// What an input's first storing says it held, as `stored_before` says it on a later run.
fn held(first: &MessageOutcome) -> StoredReports {
    StoredReports {
        reports: first.reports_new,
        records: first.records,
        duplicates: first.duplicates,
        conflicts: first.conflicts,
        tls_reports: first.tls_reports_new + first.tls_duplicates + first.tls_conflicts,
        failure_reports: first.failure_reports_new + first.failure_duplicates,
    }
}

/// An input seen again tells what it held: its stored reports, duplicates, conflicts and
/// rejections, also after a reparse, whatever else it held.
#[test]
fn an_input_seen_again_says_what_it_held() {
    let records = [("192.0.2.1", 3, "example.com", "example.com")];
    let kept = report_xml("example.net", "kept", "example.com", &records);
    let rejected = report_xml("example.net", "other", "example.org", &records);
    let other_content = report_xml(
        "example.net",
        "kept",
        "example.com",
        &[("192.0.2.9", 1, "example.com", "example.com")],
    );
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut zipped);
        let options = zip::write::SimpleFileOptions::default();
        for (name, xml) in [("kept.xml", &kept), ("rejected.xml", &rejected)] {
            writer.start_file(name, options).unwrap();
            std::io::Write::write_all(&mut writer, xml.as_bytes()).unwrap();
        }
        writer.finish().unwrap();
    }
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("stored and rejected", zipped.into_inner()),
        ("duplicate", format!("{kept}\n").into_bytes()),
        ("conflict", other_content.into_bytes()),
        ("no report", b"not a report".to_vec()),
    ];
    let mut store = Store::open_in_memory(StoreOptions {
        domains: Some(vec!["example.com".into()]),
        ..StoreOptions::default()
    })
    .unwrap();
    let run = |store: &mut Store| -> Vec<MessageOutcome> {
        let mut batch = store.begin_batch().unwrap();
        let outcomes = inputs
            .iter()
            .map(|(name, bytes)| batch.ingest_bytes(bytes, &source(name)).unwrap())
            .collect();
        batch.commit().unwrap();
        outcomes
    };
    let first = run(&mut store);
    let shape = |outcome: &MessageOutcome| {
        (
            outcome.reports_new,
            outcome.duplicates,
            outcome.conflicts,
            outcome.rejected_domains.len(),
            outcome.has_report(),
        )
    };
    assert_eq!(
        first.iter().map(shape).collect::<Vec<_>>(),
        [
            (1, 0, 0, 1, true),
            (0, 1, 0, 0, true),
            (0, 0, 1, 0, true),
            (0, 0, 0, 0, false)
        ]
    );
    let again = run(&mut store);
    store.reparse().unwrap();
    let after_reparse = run(&mut store);
    for outcomes in [again, after_reparse] {
        for ((name, _), (first, again)) in inputs.iter().zip(first.iter().zip(&outcomes)) {
            assert!(again.already_stored, "{name}");
            assert_eq!(again.stored_before, Some(held(first)), "{name}");
            assert_eq!(again.has_report(), first.has_report(), "{name}");
            assert_eq!(again.rejected_domains, first.rejected_domains, "{name}");
            assert_eq!(again.errors, first.errors, "{name}");
        }
    }
}

#[test]
fn same_report_in_other_bytes_is_a_duplicate_and_other_content_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db"), StoreOptions::default()).unwrap();
    let original = report_xml(
        "example.net",
        "r1",
        "example.com",
        &[("192.0.2.1", 5, "example.com", "example.com")],
    );
    let outcome = ingest_one(&mut store, original.as_bytes(), "a.xml");
    assert_eq!((outcome.reports_new, outcome.records), (1, 1));
    let before = store.totals().unwrap();

    // Same report, different bytes (reformatted): a duplicate, nothing stored.
    let reformatted = original.replace("><", ">\n<");
    let outcome = ingest_one(&mut store, reformatted.as_bytes(), "b.xml");
    assert_eq!(
        (outcome.reports_new, outcome.duplicates, outcome.conflicts),
        (0, 1, 0)
    );
    let after = store.totals().unwrap();
    assert_eq!(
        (after.reports, after.records, after.message_count),
        (before.reports, before.records, 5)
    );

    // Same key, different count: a conflict; the first report is kept and nothing is added.
    let changed = report_xml(
        "example.net",
        "r1",
        "example.com",
        &[("192.0.2.1", 7, "example.com", "example.com")],
    );
    let outcome = ingest_one(&mut store, changed.as_bytes(), "c.xml");
    assert_eq!(
        (outcome.reports_new, outcome.duplicates, outcome.conflicts),
        (0, 0, 1)
    );
    let after = store.totals().unwrap();
    assert_eq!(
        (
            after.reports,
            after.records,
            after.message_count,
            after.conflicts
        ),
        (1, 1, 5, 1)
    );
    assert_eq!(
        rows(
            &store,
            "SELECT c.record_count, c.message_total, r.report_id FROM report_conflicts c JOIN reports r ON r.id = c.kept_report"
        ),
        vec![vec![
            Value::Integer(1),
            Value::Integer(7),
            Value::Text("r1".into())
        ]]
    );

    // Another reporter may reuse the report id: a different key, stored.
    let other_org = report_xml(
        "example.org",
        "r1",
        "example.com",
        &[("192.0.2.1", 2, "example.com", "example.com")],
    );
    assert_eq!(
        ingest_one(&mut store, other_org.as_bytes(), "d.xml").reports_new,
        1
    );
    assert_eq!(store.totals().unwrap().message_count, 7);
}

#[test]
fn unlisted_policy_domains_are_rejected_and_counted() {
    let options = StoreOptions {
        domains: Some(vec!["Example.com.".into()]),
        ..StoreOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db"), options).unwrap();
    let listed = report_xml(
        "example.net",
        "1",
        "example.com",
        &[("192.0.2.1", 1, "example.com", "example.com")],
    );
    let subdomain = report_xml(
        "example.net",
        "2",
        "mail.example.com",
        &[("192.0.2.1", 1, "example.com", "example.com")],
    );
    let unlisted = report_xml(
        "example.net",
        "3",
        "example.org",
        &[("192.0.2.1", 4, "example.org", "example.org")],
    );
    let lookalike = report_xml(
        "example.net",
        "4",
        "badexample.com",
        &[("192.0.2.1", 4, "example.org", "example.org")],
    );
    assert_eq!(
        ingest_one(&mut store, listed.as_bytes(), "1").reports_new,
        1
    );
    assert_eq!(
        ingest_one(&mut store, subdomain.as_bytes(), "2").reports_new,
        1
    );
    let outcome = ingest_one(&mut store, unlisted.as_bytes(), "3");
    assert_eq!((outcome.reports_new, outcome.records), (0, 0));
    assert_eq!(outcome.rejected_domains, vec!["example.org".to_owned()]);
    let outcome = ingest_one(&mut store, lookalike.as_bytes(), "4");
    assert_eq!(outcome.rejected_domains, vec!["badexample.com".to_owned()]);
    let mut tally = ruadb_store::IngestTally::default();
    tally.add(&outcome);
    assert_eq!((tally.errors, tally.rejected), (1, 1));

    let totals = store.totals().unwrap();
    assert_eq!(
        (totals.reports, totals.message_count, totals.rejected),
        (2, 2, 2)
    );
    assert_eq!(
        rows(
            &store,
            "SELECT policy_domain, reports FROM rejected_domains ORDER BY 1"
        ),
        vec![
            vec![Value::Text("badexample.com".into()), Value::Integer(1)],
            vec![Value::Text("example.org".into()), Value::Integer(1)],
        ]
    );
    // The same input again is named again.
    assert_eq!(
        ingest_one(&mut store, unlisted.as_bytes(), "3").rejected_domains,
        vec!["example.org".to_owned()]
    );
}

#[test]
fn a_report_failing_mid_stream_leaves_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db"), StoreOptions::default()).unwrap();
    // Two complete records, then the document breaks off: the parser has already streamed
    // records to the store when it finds out.
    let full = report_xml(
        "example.net",
        "cut",
        "example.com",
        &[
            ("192.0.2.1", 1, "example.com", "example.com"),
            ("192.0.2.2", 2, "example.com", "example.com"),
            ("192.0.2.3", 3, "example.com", "example.com"),
        ],
    );
    let cut = &full[..full.rfind("<record>").unwrap() + "<record><row><source_ip>19".len()];
    let outcome = ingest_one(&mut store, cut.as_bytes(), "cut.xml");
    assert_eq!(
        (outcome.reports_new, outcome.records),
        (0, 0),
        "{outcome:?}"
    );
    assert_eq!(outcome.errors.len(), 1, "{outcome:?}");
    let totals = store.totals().unwrap();
    assert_eq!(
        totals,
        Totals {
            messages: 1,
            ingest_errors: 1,
            ..Totals::default()
        },
    );
    for table in [
        "reports",
        "records",
        "dkim_results",
        "spf_results",
        "reasons",
        "report_warnings",
    ] {
        assert_eq!(
            scalar(&store, &format!("SELECT COUNT(*) FROM {table}")),
            Value::Integer(0),
            "{table}"
        );
    }
    // The raw bytes are kept, so a later parser can retry; the whole report still ingests.
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM raw_inputs"),
        Value::Integer(1)
    );
    let outcome = ingest_one(&mut store, full.as_bytes(), "full.xml");
    assert_eq!((outcome.reports_new, outcome.records), (1, 3));
}

#[test]
fn a_dropped_batch_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut store = Store::open(&path, StoreOptions::default()).unwrap();
    let xml = report_xml(
        "example.net",
        "1",
        "example.com",
        &[("192.0.2.1", 1, "example.com", "example.com")],
    );
    {
        let mut batch = store.begin_batch().unwrap();
        batch.ingest_bytes(xml.as_bytes(), &source("x")).unwrap();
        batch
            .set_imap_cursor(
                "a@example.com",
                "INBOX",
                ImapCursor {
                    uidvalidity: 9,
                    last_uid: 42,
                },
            )
            .unwrap();
        // Dropped without commit, as after a crash.
    }
    assert_eq!(store.totals().unwrap(), Totals::default());
    assert_eq!(store.imap_cursor("a@example.com", "INBOX").unwrap(), None);

    let mut batch = store.begin_batch().unwrap();
    batch
        .set_imap_cursor(
            "a@example.com",
            "INBOX",
            ImapCursor {
                uidvalidity: 9,
                last_uid: 42,
            },
        )
        .unwrap();
    batch
        .set_imap_cursor(
            "a@example.com",
            "INBOX",
            ImapCursor {
                uidvalidity: 9,
                last_uid: 43,
            },
        )
        .unwrap();
    batch.commit().unwrap();
    assert_eq!(
        Store::open_read_only(&path)
            .unwrap()
            .imap_cursor("a@example.com", "INBOX")
            .unwrap(),
        Some(ImapCursor {
            uidvalidity: 9,
            last_uid: 43
        })
    );
}

#[test]
fn alignment_is_recomputed_and_disagreement_flagged() {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    // adkim=r, aspf=s. Record 1: all aligned. Record 2: DKIM d= is a subdomain (aligned under
    // r), SPF a subdomain (not aligned under s). Record 3: third-party DKIM and SPF: fails,
    // though the reporter says pass.
    let xml = report_xml(
        "example.net",
        "align",
        "example.com",
        &[
            ("192.0.2.1", 1, "example.com", "example.com"),
            ("192.0.2.2", 2, "mail.example.com", "bounce.example.com"),
            ("2001:db8::1", 4, "esp.example.org", "esp.example.org"),
        ],
    );
    ingest_one(&mut store, xml.as_bytes(), "align.xml");
    assert_eq!(
        rows(
            &store,
            "SELECT source_ip, dkim_aligned, spf_aligned, dmarc_pass, reporter_disagrees FROM record_outcomes ORDER BY message_count"
        ),
        vec![
            vec![
                Value::Text("192.0.2.1".into()),
                Value::Integer(1),
                Value::Integer(1),
                Value::Integer(1),
                Value::Integer(0)
            ],
            vec![
                Value::Text("192.0.2.2".into()),
                Value::Integer(1),
                Value::Integer(0),
                Value::Integer(1),
                Value::Integer(1)
            ],
            vec![
                Value::Text("2001:db8::1".into()),
                Value::Integer(0),
                Value::Integer(0),
                Value::Integer(0),
                Value::Integer(1)
            ],
        ]
    );
    let sources = store.sources(&SourceFilter::default()).unwrap();
    assert_eq!(sources.len(), 3);
    assert_eq!(sources[0].source_ip, "2001:db8::1");
    assert_eq!(
        sources[0].dkim_domains,
        vec!["esp.example.org:s1".to_owned()]
    );
    assert_eq!(sources[0].spf_domains, vec!["esp.example.org".to_owned()]);
    assert_eq!(sources[0].reporters, vec!["example.net".to_owned()]);
    assert_eq!((sources[0].messages, sources[0].dmarc_pass), (4, 0));
    assert_eq!(
        (
            sources[1].messages,
            sources[1].dkim_aligned,
            sources[1].spf_aligned
        ),
        (2, 2, 0)
    );
    assert_eq!(
        (sources[0].first_seen, sources[0].last_seen),
        (1700006400, 1700092799)
    );
    let filtered = |domain: Option<&str>, since: Option<i64>, until: Option<i64>| {
        store
            .sources(&SourceFilter {
                domain: domain.map(str::to_owned),
                since,
                until,
            })
            .unwrap()
            .len()
    };
    assert_eq!(filtered(Some("example.com"), None, None), 3);
    assert_eq!(filtered(Some("example.org"), None, None), 0);
    assert_eq!(filtered(None, Some(1700006400), Some(1700006401)), 3);
    assert_eq!(filtered(None, Some(1700006401), None), 0);
    assert_eq!(filtered(None, None, Some(1700006400)), 0);

    assert_eq!(
        rows(
            &store,
            "SELECT day, source_ip, messages, dmarc_pass, dkim_aligned, spf_aligned FROM source_daily ORDER BY source_ip"
        ),
        vec![
            vec![
                Value::Text("2023-11-15".into()),
                Value::Text("192.0.2.1".into()),
                Value::Integer(1),
                Value::Integer(1),
                Value::Integer(1),
                Value::Integer(1)
            ],
            vec![
                Value::Text("2023-11-15".into()),
                Value::Text("192.0.2.2".into()),
                Value::Integer(2),
                Value::Integer(2),
                Value::Integer(2),
                Value::Integer(0)
            ],
            vec![
                Value::Text("2023-11-15".into()),
                Value::Text("2001:db8::1".into()),
                Value::Integer(4),
                Value::Integer(0),
                Value::Integer(0),
                Value::Integer(0)
            ],
        ]
    );
    assert_eq!(
        rows(
            &store,
            "SELECT policy_domain, day, report_org, reports, messages, dmarc_pass FROM reporter_daily"
        ),
        vec![vec![
            Value::Text("example.com".into()),
            Value::Text("2023-11-15".into()),
            Value::Text("example.net".into()),
            Value::Integer(1),
            Value::Integer(7),
            Value::Integer(3),
        ]]
    );
}

/// The documented view columns are a contract: this fails if one is renamed or dropped.
#[test]
fn view_columns_are_stable() {
    let store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let expected: &[(&str, &[&str])] = &[
        (
            "record_outcomes",
            &[
                "report_org",
                "report_id",
                "policy_domain",
                "begin_utc",
                "end_utc",
                "source_ip",
                "message_count",
                "disposition",
                "dkim_evaluated",
                "spf_evaluated",
                "header_from",
                "envelope_from",
                "dkim_aligned",
                "spf_aligned",
                "dmarc_pass",
            ],
        ),
        (
            "source_daily",
            &[
                "policy_domain",
                "day",
                "source_ip",
                "messages",
                "dmarc_pass",
                "dkim_aligned",
                "spf_aligned",
            ],
        ),
        (
            "reporter_daily",
            &[
                "policy_domain",
                "day",
                "report_org",
                "reports",
                "messages",
                "dmarc_pass",
            ],
        ),
        (
            "dkim_outcomes",
            &[
                "report_org",
                "policy_domain",
                "begin_utc",
                "source_ip",
                "message_count",
                "dkim_domain",
                "dkim_selector",
                "dkim_result",
            ],
        ),
        (
            "spf_outcomes",
            &[
                "report_org",
                "policy_domain",
                "begin_utc",
                "source_ip",
                "message_count",
                "spf_domain",
                "spf_scope",
                "spf_result",
            ],
        ),
    ];
    for (view, columns) in expected {
        let actual = store
            .query(&format!("SELECT * FROM {view}"), &mut |_| Ok(()))
            .unwrap();
        // The contract columns come first, in this order, for the three documented views.
        if ["record_outcomes", "source_daily", "reporter_daily"].contains(view) {
            assert_eq!(&actual[..columns.len()], *columns, "{view}");
        }
        for column in *columns {
            assert!(
                actual.iter().any(|name| name == column),
                "{view} lacks {column}: {actual:?}"
            );
        }
    }
}

#[test]
fn reparse_rebuilds_the_same_data_and_applies_the_current_domain_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let only_example_com = StoreOptions {
        domains: Some(vec!["example.com".into()]),
        ..StoreOptions::default()
    };
    let mut store = Store::open(&path, only_example_com).unwrap();
    let mut batch = store.begin_batch().unwrap();
    for (name, bytes) in fixtures() {
        batch.ingest_bytes(&bytes, &source(&name)).unwrap();
    }
    let other = report_xml(
        "example.net",
        "o",
        "example.org",
        &[("192.0.2.9", 9, "example.org", "example.org")],
    );
    batch
        .ingest_bytes(other.as_bytes(), &source("other"))
        .unwrap();
    batch
        .set_imap_cursor(
            "a",
            "INBOX",
            ImapCursor {
                uidvalidity: 1,
                last_uid: 5,
            },
        )
        .unwrap();
    batch.commit().unwrap();

    let snapshot = |store: &Store| {
        rows(store, "SELECT * FROM record_outcomes ORDER BY report_org, report_id, policy_domain, record_rowid")
            .into_iter()
            .map(|mut row| {
                row.truncate(17); // without the row ids, which reparse renumbers
                row
            })
            .collect::<Vec<_>>()
    };
    let before_rows = snapshot(&store);
    let before = store.totals().unwrap();
    let tally = store.reparse().unwrap();
    assert_eq!(snapshot(&store), before_rows);
    assert_eq!(store.totals().unwrap(), before);
    assert_eq!(
        (tally.reports_new, tally.records),
        (before.reports, before.records)
    );
    assert_eq!(tally.rejected, 1);
    drop(store);

    // With example.org now accepted, its report appears; messages and cursors are untouched.
    let mut store = Store::open(&path, StoreOptions::default()).unwrap();
    store.reparse().unwrap();
    let after = store.totals().unwrap();
    assert_eq!(
        (after.messages, after.reports, after.rejected),
        (before.messages, before.reports + 1, 0)
    );
    assert_eq!(after.message_count, before.message_count + 9);
    assert_eq!(
        store.imap_cursor("a", "INBOX").unwrap(),
        Some(ImapCursor {
            uidvalidity: 1,
            last_uid: 5
        })
    );
}

#[test]
fn a_second_writer_gets_busy_and_readers_are_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StoreError::NotFound(_))
    ));
    let mut first = Store::open(&path, StoreOptions::default()).unwrap();
    let mut second = Store::open(
        &path,
        StoreOptions {
            busy_timeout: Duration::from_millis(50),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let batch = first.begin_batch().unwrap();
    let error = second.begin_batch().map(|_| ()).unwrap_err();
    assert!(error.is_busy(), "{error:?}");
    assert!(
        error.to_string().contains("another ruadb is writing"),
        "{error}"
    );
    batch.commit().unwrap();
    second.begin_batch().unwrap().commit().unwrap();

    let reader = Store::open_read_only(&path).unwrap();
    assert!(matches!(
        reader.query("DELETE FROM messages", &mut |_| Ok(())),
        Err(StoreError::NotReadOnly)
    ));
    assert!(matches!(
        first.query(
            "INSERT INTO imap_cursors VALUES ('a', 'b', 1, 2)",
            &mut |_| Ok(())
        ),
        Err(StoreError::NotReadOnly)
    ));
    let columns = reader.query("SELECT 1 AS one, 'x' AS two, NULL AS three", &mut |row| {
        assert_eq!(
            row,
            [Value::Integer(1), Value::Text("x".into()), Value::Null]
        );
        Ok(())
    });
    assert_eq!(columns.unwrap(), ["one", "two", "three"]);
}

#[test]
fn ingest_reader_matches_ingest_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let xml = report_xml(
        "example.net",
        "reader",
        "example.com",
        &[
            ("192.0.2.1", 1, "example.com", "example.com"),
            ("192.0.2.2", 2, "example.com", "example.com"),
        ],
    );
    let file = dir.path().join("report.xml");
    std::fs::write(&file, &xml).unwrap();
    let mut store = Store::open(&dir.path().join("db"), StoreOptions::default()).unwrap();
    let mut batch = store.begin_batch().unwrap();
    let outcome = batch
        .ingest_reader(std::fs::File::open(&file).unwrap(), &source("report.xml"))
        .unwrap();
    assert_eq!(
        (outcome.reports_new, outcome.records),
        (1, 2),
        "{outcome:?}"
    );
    // The same bytes through the other entry point are the same message.
    assert!(
        batch
            .ingest_bytes(xml.as_bytes(), &source("again"))
            .unwrap()
            .already_stored
    );
    batch.commit().unwrap();
    // The stored raw bytes reparse to the same report.
    let tally = store.reparse().unwrap();
    assert_eq!((tally.reports_new, tally.records), (1, 2));
}

/// `record_outcomes` totals equal the sums in the corpus's `expected.json` for every valid
/// file, and a second ingest changes nothing.
#[test]
fn corpus_totals_match_expected() {
    let corpus = corpus_dir();
    let Ok(expected) = std::fs::read(corpus.join("expected.json")) else {
        eprintln!("skipped: no corpus at {}", corpus.display());
        return;
    };
    let expected: serde_json::Value = serde_json::from_slice(&expected).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db"), StoreOptions::default()).unwrap();

    // Expected sums per report key. The same report may come in several files (e.g. .xml and
    // .xml.gz) and must be counted once; a key arriving again with other sums is a conflict,
    // and the first one ingested is kept.
    let mut keys = std::collections::BTreeMap::new();
    let (mut repeats, mut differing, mut tally) = (0, 0, ruadb_store::IngestTally::default());
    let mut batch = store.begin_batch().unwrap();
    for entry in expected.as_array().unwrap() {
        if entry["expected_error"].as_bool() != Some(false) {
            continue;
        }
        let file = entry["file"].as_str().unwrap();
        let bytes = std::fs::read(corpus.join(file)).unwrap();
        let outcome = batch.ingest_bytes(&bytes, &source(file)).unwrap();
        tally.add(&outcome);
        let reports = entry["reports"].as_array().unwrap();
        assert_eq!(
            (outcome.reports_new + outcome.duplicates + outcome.conflicts) as usize,
            reports.len(),
            "{file}: {outcome:?}"
        );
        for report in reports {
            let key = (
                report["org_name"].as_str().unwrap().to_owned(),
                report["report_id"].as_str().unwrap().to_owned(),
                report["policy_domain"].as_str().unwrap().to_lowercase(),
            );
            let sums = (
                report["records"].as_u64().unwrap(),
                report["count_sum"].as_u64().unwrap(),
            );
            match keys.get(&key) {
                None => {
                    keys.insert(key, sums);
                }
                Some(first) => {
                    repeats += 1;
                    differing += u64::from(*first != sums);
                }
            }
        }
    }
    batch.commit().unwrap();
    let expected_records: u64 = keys.values().map(|(records, _)| records).sum();
    let expected_count: u64 = keys.values().map(|(_, count)| count).sum();
    let totals = store.totals().unwrap();
    assert_eq!(totals.reports, keys.len() as u64);
    assert_eq!(tally.duplicates + tally.conflicts, repeats);
    assert!(
        totals.conflicts >= differing,
        "{totals:?}, {differing} differing"
    );
    // The oracle counts placeholder records (no source_ip, count 0), which the parser drops
    // with a warning.
    assert_eq!(
        (
            scalar(
                &store,
                "SELECT (SELECT COUNT(*) FROM record_outcomes) + (SELECT COUNT(*) \
                 FROM report_warnings WHERE warning LIKE '%placeholder%')"
            ),
            scalar(&store, "SELECT SUM(message_count) FROM record_outcomes")
        ),
        (
            Value::Integer(expected_records as i64),
            Value::Integer(expected_count as i64)
        )
    );

    let mut batch = store.begin_batch().unwrap();
    for entry in expected.as_array().unwrap() {
        if entry["expected_error"].as_bool() != Some(false) {
            continue;
        }
        let file = entry["file"].as_str().unwrap();
        let bytes = std::fs::read(corpus.join(file)).unwrap();
        assert!(
            batch
                .ingest_bytes(&bytes, &source(file))
                .unwrap()
                .already_stored
        );
    }
    batch.commit().unwrap();
    let again = store.totals().unwrap();
    assert_eq!(
        (again.reports, again.records, again.message_count),
        (totals.reports, totals.records, totals.message_count)
    );
}

/// Inputs above 8 MiB are re-parsed from the stored chunks as a stream: a plain XML file
/// (compressed when stored) and a zip archive (stored as received, read with seeks).
#[test]
fn large_inputs_reparse_from_stored_chunks() {
    let ips: Vec<String> = (0..20_000)
        .map(|i| format!("198.51.100.{}", i % 256))
        .collect();
    let records: Vec<(&str, u64, &str, &str)> = ips
        .iter()
        .map(|ip| (ip.as_str(), 1, "example.com", "example.com"))
        .collect();
    let xml = report_xml("example.net", "large-xml", "example.com", &records);
    assert!(xml.len() > 8 << 20, "{}", xml.len());
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut zipped);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        writer.start_file("large.xml", options).unwrap();
        let inner = report_xml("example.net", "large-zip", "example.com", &records);
        std::io::Write::write_all(&mut writer, inner.as_bytes()).unwrap();
        writer.finish().unwrap();
    }
    let zipped = zipped.into_inner();

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db"), StoreOptions::default()).unwrap();
    let mut batch = store.begin_batch().unwrap();
    for (name, bytes) in [("large.xml", xml.as_bytes()), ("large.zip", &zipped[..])] {
        let outcome = batch.ingest_bytes(bytes, &source(name)).unwrap();
        assert_eq!(
            (outcome.reports_new, outcome.records),
            (1, 20_000),
            "{name}: {outcome:?}"
        );
    }
    batch.commit().unwrap();
    assert_eq!(
        rows(
            &store,
            "SELECT raw_encoding, COUNT(DISTINCT r.seq) > 8 FROM messages m JOIN raw_inputs r ON r.message_id = m.id GROUP BY m.id ORDER BY m.id"
        ),
        vec![
            vec![Value::Text("zlib".into()), Value::Integer(0)],
            vec![Value::Text("identity".into()), Value::Integer(1)],
        ]
    );
    let before = store.totals().unwrap();
    let tally = store.reparse().unwrap();
    assert_eq!(
        (tally.reports_new, tally.records, tally.errors),
        (2, 40_000, 0)
    );
    assert_eq!(store.totals().unwrap(), before);
}

/// In an archive with a good and a broken report, the good one is stored and nothing of the
/// broken one remains, though its first records had been written.
#[test]
fn a_failing_report_leaves_its_neighbour_in_the_same_input() {
    let good = report_xml(
        "example.net",
        "good",
        "example.com",
        &[("192.0.2.1", 2, "example.com", "example.com")],
    );
    let full = report_xml(
        "example.net",
        "broken",
        "example.com",
        &[
            ("192.0.2.5", 5, "example.com", "example.com"),
            ("192.0.2.6", 6, "example.com", "example.com"),
        ],
    );
    let broken = &full[..full.rfind("</record>").unwrap()];
    let mut zipped = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut zipped);
        let options = zip::write::SimpleFileOptions::default();
        for (name, xml) in [("broken.xml", broken), ("good.xml", good.as_str())] {
            writer.start_file(name, options).unwrap();
            std::io::Write::write_all(&mut writer, xml.as_bytes()).unwrap();
        }
        writer.finish().unwrap();
    }
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let outcome = ingest_one(&mut store, zipped.get_ref(), "two.zip");
    assert_eq!(
        (outcome.reports_new, outcome.records, outcome.errors.len()),
        (1, 1, 1),
        "{outcome:?}"
    );
    assert_eq!(outcome.errors[0].member.as_deref(), Some("broken.xml"));
    assert_eq!(
        rows(
            &store,
            "SELECT report_id, source_ip, message_count FROM record_outcomes"
        ),
        vec![vec![
            Value::Text("good".into()),
            Value::Text("192.0.2.1".into()),
            Value::Integer(2)
        ]]
    );
    for table in ["dkim_results", "spf_results"] {
        assert_eq!(
            scalar(&store, &format!("SELECT COUNT(*) FROM {table}")),
            Value::Integer(1),
            "{table}"
        );
    }
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM reports"),
        Value::Integer(1)
    );
}

/// Queued inputs give the same outcomes, in order, and the same database as one at a time,
/// including the same bytes queued twice in a row and bytes stored before.
#[test]
fn queued_inputs_match_one_at_a_time() {
    let files = fixtures();
    let mut one_by_one = Store::open_in_memory(StoreOptions::default()).unwrap();
    let mut expected = Vec::new();
    let mut batch = one_by_one.begin_batch().unwrap();
    for (name, bytes) in &files {
        expected.push((
            name.clone(),
            batch.ingest_bytes(bytes, &source(name)).unwrap(),
        ));
    }
    batch.commit().unwrap();

    let mut queued = Store::open_in_memory(StoreOptions::default()).unwrap();
    let (first_name, first_bytes) = &files[0];
    ingest_one(&mut queued, first_bytes, first_name);
    let mut batch = queued.begin_batch().unwrap();
    // The last file again, straight after itself.
    let inputs = files
        .iter()
        .chain(files.last())
        .map(|(name, bytes)| (source(name), source(name), Input::Bytes(bytes.clone())));
    let outcomes: Vec<_> = batch
        .ingest(inputs)
        .map(|(source, outcome)| (source, outcome.unwrap()))
        .collect();
    batch.commit().unwrap();

    assert_eq!(outcomes.len(), files.len() + 1);
    for (index, ((source_seen, outcome), (name, expected))) in
        outcomes.iter().zip(&expected).enumerate()
    {
        assert_eq!(source_seen, &source(name), "order");
        if index == 0 {
            assert!(outcome.already_stored, "{name}");
        } else {
            assert_eq!(outcome, expected, "{name}");
        }
    }
    assert!(outcomes.last().unwrap().1.already_stored);
    assert_eq!(queued.totals().unwrap(), one_by_one.totals().unwrap());
    let snapshot = |store: &Store| {
        rows(
            store,
            "SELECT * FROM record_outcomes ORDER BY report_org, report_id, source_ip, message_count",
        )
    };
    assert_eq!(snapshot(&queued), snapshot(&one_by_one));
}

/// One report sent again with its policy domain written absolutely (`example.com.`), the
/// reporter's name in another case and its records in another order: the same report, a
/// duplicate, stored once under the normalised domain.
#[test]
fn the_same_report_written_differently_is_a_duplicate() {
    let options = StoreOptions {
        domains: Some(vec!["example.com".into()]),
        ..StoreOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db"), options).unwrap();
    let records = [
        ("192.0.2.1", 1, "example.com", "example.com"),
        ("192.0.2.2", 2, "example.com", "example.com"),
    ];
    let reversed = [records[1], records[0]];
    // Only <org_name> in another case (<email> is built from the name too).
    let org_case = |xml: String, org: &str| {
        xml.replace(
            "<org_name>Example.NET</org_name>",
            &format!("<org_name>{org}</org_name>"),
        )
    };
    let dotted = report_xml("Example.NET", "r1", "Example.com.", &records);
    let outcome = ingest_one(&mut store, dotted.as_bytes(), "a.xml");
    assert_eq!((outcome.reports_new, outcome.records), (1, 2));
    for (name, xml) in [
        (
            "b.xml",
            report_xml("Example.NET", "r1", "example.com", &records),
        ),
        (
            "c.xml",
            org_case(
                report_xml("Example.NET", "r1", "example.com", &records),
                "example.net",
            ),
        ),
        (
            "d.xml",
            org_case(
                report_xml("Example.NET", "r1", "example.com.", &reversed),
                "EXAMPLE.net",
            ),
        ),
    ] {
        let outcome = ingest_one(&mut store, xml.as_bytes(), name);
        assert_eq!(
            (outcome.reports_new, outcome.duplicates, outcome.conflicts),
            (0, 1, 0),
            "{name}"
        );
    }
    assert_eq!(
        rows(&store, "SELECT policy_domain, org_name FROM reports"),
        [vec![
            Value::Text("example.com".into()),
            Value::Text("Example.NET".into())
        ]]
    );
    assert_eq!(store.totals().unwrap().message_count, 3);
    // Other content under the same key (in another case) is a conflict, not a new report.
    let other = report_xml(
        "example.net",
        "r1",
        "example.com",
        &[("192.0.2.9", 5, "example.com", "example.com")],
    );
    let outcome = ingest_one(&mut store, other.as_bytes(), "e.xml");
    assert_eq!((outcome.reports_new, outcome.conflicts), (0, 1));
}

/// A database written before counts were capped may hold counts up to 2^63 - 1; the daily
/// views sum them without failing ("integer overflow" before schema version 2).
#[test]
fn daily_views_do_not_overflow_on_huge_stored_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut store = Store::open(&path, StoreOptions::default()).unwrap();
    let xml = report_xml(
        "example.net",
        "r1",
        "example.com",
        &[
            ("192.0.2.1", 1, "example.com", "example.com"),
            ("192.0.2.1", 2, "example.com", "example.com"),
        ],
    );
    ingest_one(&mut store, xml.as_bytes(), "a.xml");
    let xml = xml.replace(">r1<", ">r2<");
    ingest_one(&mut store, xml.as_bytes(), "b.xml");
    drop(store);
    // Such a database is older than the rollups too: the migration that adds them sums the
    // stored counts, saturating.
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute_batch(&format!(
            "UPDATE records SET message_count = {max};
             UPDATE reports SET message_total = {max};
             DROP TABLE source_days; DROP TABLE reporter_days; DROP TABLE rollup_names;
             DROP TABLE domain_days;
             PRAGMA user_version = 9;",
            max = i64::MAX
        ))
        .unwrap();
    drop(connection);
    drop(Store::open(&path, StoreOptions::default()).unwrap());
    let store = Store::open_read_only(&path).unwrap();
    let max = Value::Integer(i64::MAX);
    assert_eq!(
        rows(
            &store,
            "SELECT messages, dmarc_pass, dkim_aligned, spf_aligned, records FROM source_daily"
        ),
        [vec![
            max.clone(),
            max.clone(),
            max.clone(),
            max.clone(),
            Value::Integer(4)
        ]]
    );
    assert_eq!(
        rows(
            &store,
            "SELECT reports, messages, dmarc_pass FROM reporter_daily"
        ),
        [vec![Value::Integer(2), max.clone(), max]]
    );
    // Below 2^53 the sums are exact.
    let exact = Store::open(&dir.path().join("exact"), StoreOptions::default()).unwrap();
    let mut exact = exact;
    let big = 1u64 << 40;
    let xml = report_xml(
        "example.net",
        "r1",
        "example.com",
        &[
            ("192.0.2.1", big, "example.com", "example.com"),
            ("192.0.2.1", 3, "example.com", "example.com"),
        ],
    );
    ingest_one(&mut exact, xml.as_bytes(), "a.xml");
    assert_eq!(
        scalar(&exact, "SELECT messages FROM source_daily"),
        Value::Integer((1i64 << 40) + 3)
    );
}

/// A distinct small report with `records` records (counts 1 each).
fn numbered_report(id: usize, records: usize) -> String {
    let ips: Vec<String> = (0..records)
        .map(|i| format!("192.0.2.{}", i % 256))
        .collect();
    let rows: Vec<(&str, u64, &str, &str)> = ips
        .iter()
        .map(|ip| (ip.as_str(), 1, "example.com", "example.com"))
        .collect();
    report_xml("example.net", &format!("n{id}"), "example.com", &rows)
}

/// `Batch::ingest` hands outcomes back in input order and stores inputs in that order, whatever
/// the mix: inputs parsed on the parser thread, large ones parsed inline, files, unreadable
/// inputs, and repeats of each.
#[test]
fn ingest_hands_back_outcomes_in_input_order_across_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let small = numbered_report(0, 2);
    let large = numbered_report(1, 12_000);
    assert!(large.len() > 4 << 20, "{}", large.len());
    let on_disk = numbered_report(2, 3);
    let file = dir.path().join("on-disk.xml");
    std::fs::write(&file, &on_disk).unwrap();
    let bytes = |text: &str| Input::Bytes(text.as_bytes().to_vec());
    let mut inputs = vec![
        bytes(&small),
        Input::Unreadable(std::io::Error::other("gone")),
        bytes(&large),
        // Other bytes, same report: a duplicate only if the first was stored before.
        bytes(&format!("{small}\n")),
        Input::File(std::fs::File::open(&file).unwrap()),
        bytes(&on_disk),
        bytes(&format!("{large}\n")),
    ];
    // More than the parser thread takes at once.
    inputs.extend((10..30).map(|id| bytes(&numbered_report(id, id % 7 + 1))));
    inputs.push(bytes(&small));
    let count = inputs.len();

    let mut store = Store::open(&dir.path().join("db"), StoreOptions::default()).unwrap();
    let mut batch = store.begin_batch().unwrap();
    let tagged = inputs
        .into_iter()
        .enumerate()
        .map(|(index, input)| (index, source(&index.to_string()), input));
    let outcomes: Vec<(usize, MessageOutcome)> = batch
        .ingest(tagged)
        .map(|(index, outcome)| (index, outcome.unwrap()))
        .collect();
    batch.commit().unwrap();

    let order: Vec<usize> = outcomes.iter().map(|(index, _)| *index).collect();
    assert_eq!(order, (0..count).collect::<Vec<_>>());
    let outcome = |index: usize| &outcomes[index].1;
    let summary = |index: usize| {
        let o = outcome(index);
        (o.already_stored, o.reports_new, o.duplicates, o.records)
    };
    assert_eq!(summary(0), (false, 1, 0, 2));
    assert_eq!(
        outcome(1).errors,
        [InputFailure {
            member: None,
            message: "cannot read: gone".to_owned()
        }]
    );
    assert_eq!(summary(2), (false, 1, 0, 12_000));
    assert_eq!(summary(3), (false, 0, 1, 0));
    assert_eq!(summary(4), (false, 1, 0, 3));
    assert!(outcome(5).already_stored);
    assert_eq!(summary(6), (false, 0, 1, 0));
    for (offset, id) in (10..30).enumerate() {
        assert_eq!(
            summary(7 + offset),
            (false, 1, 0, (id % 7 + 1) as u64),
            "{id}"
        );
    }
    assert!(outcome(count - 1).already_stored);
    // Every input but the unreadable one and the two stored before is a message.
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM messages"),
        Value::Integer(count as i64 - 3)
    );
}

/// Stopping early stores only the inputs whose outcome was handed back, and the batch goes on
/// with the next call as if the rest had never been handed over.
#[test]
fn ingest_stopped_early_stores_only_what_it_handed_back() {
    let reports: Vec<String> = (0..20).map(|id| numbered_report(id, id + 1)).collect();
    let inputs = |range: std::ops::Range<usize>| {
        range.map(|id| {
            (
                id,
                source(&id.to_string()),
                Input::Bytes(reports[id].clone().into_bytes()),
            )
        })
    };
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let mut batch = store.begin_batch().unwrap();
    let first: Vec<usize> = batch
        .ingest(inputs(0..20))
        .take(3)
        .map(|(id, outcome)| {
            assert_eq!(outcome.unwrap().records, id as u64 + 1);
            id
        })
        .collect();
    assert_eq!(first, [0, 1, 2]);
    for (id, outcome) in batch.ingest(inputs(3..20)) {
        let outcome = outcome.unwrap();
        assert_eq!(
            (outcome.reports_new, outcome.records),
            (1, id as u64 + 1),
            "{id}"
        );
    }
    batch.commit().unwrap();
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM messages"),
        Value::Integer(20)
    );
    assert_eq!(store.totals().unwrap().message_count, (1..=20).sum::<u64>());
}

/// A database of another program is refused with one line before anything in it changes:
/// not switched to WAL, no ruadb table added, whatever its tables or schema version.
#[test]
fn a_foreign_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let ruadb_named_tables = "CREATE TABLE messages (id INTEGER PRIMARY KEY);
        CREATE TABLE raw_inputs (id INTEGER); CREATE TABLE reports (id INTEGER);
        CREATE TABLE records (id INTEGER); CREATE TABLE ingest_errors (id INTEGER);";
    let cases = [
        (
            "notes",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO notes (body) VALUES ('keep me');",
        ),
        (
            "versioned",
            "CREATE TABLE notes (body TEXT); PRAGMA user_version = 1;",
        ),
        ("ruadb names without a version", ruadb_named_tables),
        (
            "an index only",
            "CREATE TABLE t (x); CREATE INDEX i ON t (x);",
        ),
    ];
    for (name, sql) in cases {
        let path = dir.path().join(format!("{name}.sqlite"));
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        for error in [
            Store::open(&path, StoreOptions::default()).unwrap_err(),
            Store::open_read_only(&path).unwrap_err(),
        ] {
            assert!(
                matches!(error, StoreError::ForeignDatabase),
                "{name}: {error}"
            );
            assert!(!error.to_string().contains('\n'), "{name}: {error}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), before, "{name}");
        assert!(!dir.path().join(format!("{name}.sqlite-wal")).exists());
    }
    // Not a database at all: refused, unchanged.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "Dear diary, ".repeat(100)).unwrap();
    let error = Store::open(&text, StoreOptions::default()).unwrap_err();
    assert!(matches!(error, StoreError::NotADatabase), "{error}");
    assert_eq!(
        std::fs::read(&text).unwrap(),
        "Dear diary, ".repeat(100).as_bytes()
    );
    // An empty file is a new database.
    let empty = dir.path().join("empty.sqlite");
    std::fs::write(&empty, "").unwrap();
    Store::open(&empty, StoreOptions::default()).unwrap();
}

/// A migration that fails says so in one line: SQLite's message, not the migration's SQL.
#[test]
fn a_failing_migration_is_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute_batch(include_str!("../../../sql/migrations/0001_initial.sql"))
        .unwrap();
    // A version-1 database in which migration 0003 cannot create its table.
    connection
        .execute_batch("PRAGMA user_version = 1; CREATE TABLE report_duplicates (x);")
        .unwrap();
    drop(connection);
    let error = Store::open(&path, StoreOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            StoreError::MigrationFailed {
                name: "0003_report_duplicates",
                ..
            }
        ),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.contains("report_duplicates already exists"),
        "{message}"
    );
    // Nothing of the migration was applied.
    let connection = rusqlite::Connection::open(&path).unwrap();
    let version: u32 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 1);
}

/// Every input kind the fixtures hold (reports good and bad, archives, messages, TLS and
/// failure reports), sorted by path, as (name, bytes).
fn every_fixture() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = Vec::new();
    for dir in ["reports", "archives", "messages", "tlsrpt", "failure"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            files.push((name, std::fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
}

/// Every row of every table, as text, sorted: equal dumps mean equal databases.
fn dump(store: &Store) -> Vec<String> {
    let tables: Vec<String> = rows(
        store,
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    )
    .into_iter()
    .map(|row| match &row[0] {
        Value::Text(name) => name.clone(),
        other => panic!("table name {other:?}"),
    })
    .collect();
    assert!(tables.len() > 10, "{tables:?}");
    let mut dump = Vec::new();
    for table in tables {
        let mut table_rows: Vec<String> = rows(store, &format!("SELECT * FROM \"{table}\""))
            .into_iter()
            .map(|row| format!("{table}: {row:?}"))
            .collect();
        table_rows.sort();
        dump.extend(table_rows);
    }
    dump
}

/// The inputs of the parser-thread tests: every fixture kind, interleaved with reports of
/// very different sizes (so that the parser threads finish out of order), the same report in
/// other bytes (a duplicate), the same key with other content (a conflict), the same bytes
/// twice in a row and again later, and an unreadable input.
fn mixed_inputs() -> Vec<(String, Input)> {
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let conflicting = report_xml(
        "example.net",
        "n5",
        "example.com",
        &[("198.51.100.7", 3, "example.com", "example.com")],
    );
    for (index, fixture) in every_fixture().into_iter().enumerate() {
        if index % 20 == 0 {
            let large = numbered_report(1_000 + index, 2_000).into_bytes();
            inputs.push((format!("large-{index}"), large.clone()));
            inputs.push((format!("large-dup-{index}"), [&large[..], b"\n"].concat()));
        }
        let id = 100 + index;
        inputs.push((
            format!("small-{id}"),
            numbered_report(id, index % 5 + 1).into_bytes(),
        ));
        if index == 20 {
            inputs.push(("small-5".to_owned(), numbered_report(5, 2).into_bytes()));
            inputs.push(("conflict".to_owned(), conflicting.clone().into_bytes()));
        }
        inputs.push(fixture.clone());
        if index % 7 == 0 {
            // The same bytes straight after themselves.
            inputs.push((format!("again-{}", fixture.0), fixture.1));
        }
    }
    let mut inputs: Vec<(String, Input)> = inputs
        .into_iter()
        .map(|(name, bytes)| (name, Input::Bytes(bytes)))
        .collect();
    inputs.insert(
        3,
        (
            "unreadable".to_owned(),
            Input::Unreadable(std::io::Error::other("gone")),
        ),
    );
    inputs
}

/// Ingests `inputs` with `threads` parser threads into a new database file; the outcomes
/// by input name, in the order handed back.
fn ingest_with_threads(
    dir: &Path,
    threads: usize,
    inputs: Vec<(String, Input)>,
) -> (Store, Vec<(String, MessageOutcome)>) {
    let options = StoreOptions {
        parse_threads: std::num::NonZeroUsize::new(threads),
        ..StoreOptions::default()
    };
    let mut store = Store::open(&dir.join(format!("threads-{threads}.sqlite")), options).unwrap();
    let mut batch = store.begin_batch().unwrap();
    let outcomes: Vec<(String, MessageOutcome)> = batch
        .ingest(
            inputs
                .into_iter()
                .map(|(name, input)| (name.clone(), source(&name), input)),
        )
        .map(|(name, outcome)| (name, outcome.unwrap()))
        .collect();
    batch.commit().unwrap();
    (store, outcomes)
}

/// With several parser threads, outcomes come back in input order for a mix of good, bad,
/// duplicate, conflicting and repeated inputs, each the same as with one thread, and the
/// database is the same, row for row.
#[test]
fn parser_threads_keep_input_order_and_write_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = mixed_inputs().into_iter().map(|(name, _)| name).collect();
    let (one_store, one) = ingest_with_threads(dir.path(), 1, mixed_inputs());
    let handed_back: Vec<&String> = one.iter().map(|(name, _)| name).collect();
    assert_eq!(handed_back, names.iter().collect::<Vec<_>>());
    // The mix holds every kind of outcome.
    let count = |test: &dyn Fn(&MessageOutcome) -> bool| {
        one.iter().filter(|(_, outcome)| test(outcome)).count()
    };
    assert!(count(&|o| o.already_stored) >= 8, "repeats");
    assert!(count(&|o| o.duplicates > 0) >= 4, "duplicates");
    assert_eq!(count(&|o| o.conflicts > 0), 1, "conflict");
    assert!(count(&|o| !o.errors.is_empty()) >= 30, "failures");
    assert!(count(&|o| o.tls_reports_new > 0) >= 2, "TLS reports");
    assert!(
        count(&|o| o.failure_reports_new > 0) >= 2,
        "failure reports"
    );
    assert!(count(&|o| o.records >= 2_000) >= 3, "large inputs");
    let one_dump = dump(&one_store);
    for threads in [2, 3, 8] {
        let (store, outcomes) = ingest_with_threads(dir.path(), threads, mixed_inputs());
        assert_eq!(outcomes.len(), one.len(), "{threads} threads");
        for ((name, outcome), (one_name, one_outcome)) in outcomes.iter().zip(&one) {
            assert_eq!(name, one_name, "{threads} threads: order");
            assert_eq!(outcome, one_outcome, "{threads} threads: {name}");
        }
        assert!(
            dump(&store) == one_dump,
            "{threads} threads: the databases differ"
        );
    }
}
