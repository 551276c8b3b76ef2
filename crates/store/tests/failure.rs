//! DMARC failure reports in the store: the `failure_samples` view, privacy (columns and raw
//! input), dedupe by content, the `domains` allowlist, re-ingest and reparse.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use flate2::read::ZlibDecoder;
use ruadb_report::{DomainName, FailurePrivacy};
use ruadb_store::{IngestTally, MessageSource, Store, StoreOptions, Value};
use std::io::Read;
use std::path::Path;

mod common;
use common::rows;

/// Every fixture in `fixtures/failure/`, sorted by name, as (name, bytes).
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/failure");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
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

fn ingest_all(store: &mut Store) -> IngestTally {
    let mut tally = IngestTally::default();
    let mut batch = store.begin_batch().unwrap();
    for (name, bytes) in fixtures() {
        let source = MessageSource::File { path: name };
        tally.add(&batch.ingest_bytes(&bytes, &source).unwrap());
    }
    batch.commit().unwrap();
    tally
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::Text(text) => Some(text),
        Value::Null => None,
        other => panic!("not text: {other:?}"),
    }
}

/// Every stored raw input, decompressed, one after the other.
fn raw_inputs(store: &Store) -> Vec<u8> {
    let mut all = Vec::new();
    for row in rows(
        store,
        "SELECT m.raw_encoding, group_concat(hex(r.data), '') FROM messages m
         JOIN raw_inputs r ON r.message_id = m.id GROUP BY m.id ORDER BY m.id",
    ) {
        let hex = text(&row[1]).unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
            .collect();
        if text(&row[0]) == Some("zlib") {
            ZlibDecoder::new(bytes.as_slice())
                .read_to_end(&mut all)
                .unwrap();
        } else {
            all.extend_from_slice(&bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

const SAMPLES: &str = "SELECT arrival_utc, reporter, reported_domain, source_ip, auth_failure,
    from_domain, dkim_domain, dkim_selector, delivery_result FROM failure_samples
    ORDER BY arrival_utc";

#[test]
fn failure_samples_private_by_default_and_nothing_private_in_the_raw_inputs() {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let tally = ingest_all(&mut store);
    // Eight fixtures: two are refused; the forwarded one is the same report again.
    assert_eq!(
        (
            tally.messages,
            tally.failure_reports_new,
            tally.failure_duplicates,
            tally.errors
        ),
        (8, 5, 1, 2)
    );
    assert_eq!(tally.reports_new, 0);
    let samples = rows(&store, SAMPLES);
    let first: Vec<Option<&str>> = samples[0].iter().skip(1).map(text).collect();
    assert_eq!(samples[0][0], Value::Integer(1_700_027_998));
    assert_eq!(
        first,
        [
            Some("receiver.example"),
            Some("example.com"),
            Some("192.0.2.77"),
            Some("dmarc"),
            Some("example.com"),
            Some("example.com"),
            Some("sel2023"),
            Some("reject"),
        ]
    );
    assert_eq!(samples.len(), 5);
    let private = rows(
        &store,
        "SELECT count(*) FROM failure_reports WHERE original_mail_from IS NOT NULL
         OR original_rcpt_to IS NOT NULL OR original_from IS NOT NULL OR subject IS NOT NULL
         OR authentication_results LIKE '%alice%'",
    );
    assert_eq!(private, [[Value::Integer(0)]]);

    // The mails themselves are not kept: only ruadb's rendering of what was stored (and the
    // two refused inputs, which are no failure reports).
    let raw = raw_inputs(&store);
    for secret in [
        "SECRET-BODY-TEXT",
        "billing.alice",
        "bob@",
        "Your invoice",
        "Grüße",
    ] {
        assert!(!contains(&raw, secret), "{secret} kept in a raw input");
    }
    assert!(
        contains(&raw, "Feedback-Type: abuse"),
        "the refused input is kept"
    );

    // Ingesting again adds nothing, and says each input held a report.
    let mut batch = store.begin_batch().unwrap();
    for (name, bytes) in fixtures() {
        let outcome = batch
            .ingest_bytes(&bytes, &MessageSource::File { path: name.clone() })
            .unwrap();
        assert!(outcome.already_stored, "{name}");
        assert_eq!(outcome.has_report(), !name.starts_with("err-"), "{name}");
    }
    batch.commit().unwrap();
    assert_eq!(rows(&store, SAMPLES), samples);

    // reparse rebuilds the same rows from what was kept.
    let reparsed = store.reparse().unwrap();
    assert_eq!(
        (
            reparsed.failure_reports_new,
            reparsed.failure_duplicates,
            reparsed.errors
        ),
        (5, 1, 2)
    );
    assert_eq!(rows(&store, SAMPLES), samples);
}

#[test]
fn kept_addresses_and_subjects_when_configured() {
    let mut store = Store::open_in_memory(StoreOptions {
        failure_privacy: FailurePrivacy {
            keep_addresses: true,
            keep_subjects: true,
        },
        ..StoreOptions::default()
    })
    .unwrap();
    ingest_all(&mut store);
    let kept = rows(
        &store,
        "SELECT original_mail_from, original_rcpt_to, original_from, subject
         FROM failure_reports WHERE source_ip = '192.0.2.77'",
    );
    let kept: Vec<Option<&str>> = kept[0].iter().map(text).collect();
    assert_eq!(
        kept,
        [
            Some("billing.alice@example.com"),
            Some(r#"["bob@receiver.example","carol@other.example"]"#),
            Some("billing.alice@example.com"),
            Some("Your invoice 4711"),
        ]
    );
    // The original body is never kept, whatever the settings.
    assert!(!contains(&raw_inputs(&store), "SECRET-BODY-TEXT"));
    let reparsed_before = rows(&store, "SELECT subject FROM failure_reports ORDER BY id");
    store.reparse().unwrap();
    assert_eq!(
        rows(&store, "SELECT subject FROM failure_reports ORDER BY id"),
        reparsed_before
    );
}

#[test]
fn the_domains_allowlist_applies_to_the_reported_domain() {
    let mut store = Store::open_in_memory(StoreOptions {
        domains: Some(vec![DomainName::new("news.example.com")]),
        ..StoreOptions::default()
    })
    .unwrap();
    let tally = ingest_all(&mut store);
    assert_eq!(tally.failure_reports_new, 1);
    assert_eq!(tally.rejected, 5);
    let rejected = rows(
        &store,
        "SELECT policy_domain, count(*) FROM rejected_reports GROUP BY policy_domain",
    );
    assert_eq!(
        rejected,
        [[Value::Text("example.com".into()), Value::Integer(5)]]
    );
    assert_eq!(
        rows(&store, "SELECT reported_domain FROM failure_samples"),
        [[Value::Text("news.example.com".into())]]
    );
}
