//! Source identity in the store: the evidence rules (a passed DKIM signature, then an SPF
//! pass, then a forward-confirmed PTR; an unconfirmed PTR never names a service), and the
//! reverse DNS cache (positive and negative answers expire after their own times), and
//! identification alongside an ingest, which must leave the table as the scan of the stored
//! records would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_identify::{Catalogue, IpDatabases};
use ruadb_store::{
    DnsCachePolicy, Identifier, MessageSource, ReverseDns, Store, StoreOptions, Value,
};

mod common;
use common::report_xml;

const DAY: i64 = 86_400;
const T0: i64 = 1_800_000_000;

/// A store holding one report: 192.0.2.1 signed by Amazon SES with a Postmark return path,
/// 192.0.2.2 with a Postmark return path only, 192.0.2.3 and 192.0.2.4 with nothing a
/// catalogue knows.
fn store() -> Store {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let xml = report_xml(
        "receiver.example",
        "r1",
        "example.com",
        &[
            (
                "192.0.2.1",
                10,
                "eu-west-1.amazonses.com",
                "pm-bounces.mtasv.net",
            ),
            ("192.0.2.2", 5, "example.com", "pm-bounces.mtasv.net"),
            ("192.0.2.3", 3, "example.com", "example.com"),
            ("192.0.2.4", 1, "example.com", "example.com"),
        ],
    );
    let mut batch = store.begin_batch().unwrap();
    batch
        .ingest_bytes(
            xml.as_bytes(),
            &MessageSource::File {
                path: "r1.xml".into(),
            },
        )
        .unwrap();
    batch.commit().unwrap();
    store
}

/// `source_ip, service, evidence, ptr, ptr_confirmed, ptr_base_domain` of every source.
fn identities(store: &Store) -> Vec<String> {
    let mut rows = Vec::new();
    store
        .query(
            "SELECT source_ip, service, evidence, ptr, ptr_confirmed, ptr_base_domain \
             FROM source_identity ORDER BY source_ip",
            &mut |row| {
                let cells: Vec<String> = row
                    .iter()
                    .map(|value| match value {
                        Value::Text(text) => text.clone(),
                        Value::Integer(number) => number.to_string(),
                        _ => "-".to_owned(),
                    })
                    .collect();
                rows.push(cells.join(","));
                Ok(())
            },
        )
        .unwrap();
    rows
}

fn answer(ip: &str, ptr: Option<&str>, confirmed: bool) -> ReverseDns {
    ReverseDns {
        source_ip: ip.to_owned(),
        ptr: ptr.map(str::to_owned),
        confirmed,
    }
}

#[test]
fn the_strongest_evidence_names_the_service_and_an_unconfirmed_ptr_never_does() {
    let catalogue = Catalogue::builtin().unwrap();
    let mut store = store();
    let tally = store.identify_from_reports(&catalogue, false).unwrap();
    assert_eq!((tally.sources, tally.new, tally.named), (4, 4, 2));
    let named = store
        .record_reverse_dns(
            &catalogue,
            &[
                // A confirmed SendGrid PTR does not override a passed SES signature.
                answer("192.0.2.1", Some("o1.ptr1234.sendgrid.net"), true),
                // Nor an SPF pass.
                answer("192.0.2.2", Some("o2.ptr1234.sendgrid.net"), true),
                // A confirmed PTR names an otherwise unknown source, case aside.
                answer("192.0.2.3", Some("O3.PTR1234.SendGrid.NET"), true),
                // Anyone can write this PTR: not confirmed, it names nothing.
                answer("192.0.2.4", Some("a1.smtp-out.amazonses.com"), false),
            ],
            T0,
        )
        .unwrap();
    assert_eq!(named, 1);
    assert_eq!(
        identities(&store),
        [
            "192.0.2.1,Amazon SES,dkim,o1.ptr1234.sendgrid.net,1,sendgrid.net",
            "192.0.2.2,Postmark,spf,o2.ptr1234.sendgrid.net,1,sendgrid.net",
            "192.0.2.3,SendGrid,ptr,O3.PTR1234.SendGrid.NET,1,sendgrid.net",
            "192.0.2.4,-,-,a1.smtp-out.amazonses.com,0,amazonses.com",
        ]
    );
    assert_eq!(store.named_sources().unwrap(), 3);

    // --refresh forgets the services and names them again, the PTR one included.
    let tally = store.identify_from_reports(&catalogue, true).unwrap();
    assert_eq!((tally.sources, tally.new, tally.named), (4, 0, 3));

    // The PTR is no longer confirmed: the service it named is forgotten.
    store
        .record_reverse_dns(
            &catalogue,
            &[answer("192.0.2.3", Some("o3.ptr1234.sendgrid.net"), false)],
            T0 + DAY,
        )
        .unwrap();
    assert_eq!(
        identities(&store)[2],
        "192.0.2.3,-,-,o3.ptr1234.sendgrid.net,0,sendgrid.net"
    );
}

#[test]
fn answers_expire_after_their_cache_time() {
    let catalogue = Catalogue::builtin().unwrap();
    let mut store = store();
    store.identify_from_reports(&catalogue, false).unwrap();
    let policy = DnsCachePolicy::default();
    let due = |store: &Store, now: i64, refresh: bool| {
        store
            .sources_to_resolve(now, policy, refresh, "", 100)
            .unwrap()
    };
    assert_eq!(
        due(&store, T0, false),
        ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
    );
    // Paging: after a source, at most `limit`.
    assert_eq!(
        store
            .sources_to_resolve(T0, policy, false, "192.0.2.1", 2)
            .unwrap(),
        ["192.0.2.2", "192.0.2.3"]
    );
    store
        .record_reverse_dns(
            &catalogue,
            &[
                answer("192.0.2.1", Some("mail.example.net"), true),
                answer("192.0.2.2", None, false),
            ],
            T0,
        )
        .unwrap();
    // Not asked yet: due at once. A name: kept 7 days. No name: kept 1 day.
    assert_eq!(due(&store, T0, false), ["192.0.2.3", "192.0.2.4"]);
    assert_eq!(due(&store, T0 + DAY - 1, false), ["192.0.2.3", "192.0.2.4"]);
    assert_eq!(
        due(&store, T0 + DAY, false),
        ["192.0.2.2", "192.0.2.3", "192.0.2.4"]
    );
    assert_eq!(
        due(&store, T0 + 7 * DAY, false),
        ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
    );
    // Configurable: a 2-day positive time.
    let short = DnsCachePolicy {
        positive_secs: 2 * DAY,
        negative_secs: DAY,
    };
    assert_eq!(
        store
            .sources_to_resolve(T0 + 2 * DAY, short, false, "", 100)
            .unwrap(),
        ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
    );
    // --refresh: everything, however fresh, even within the second of the last answer.
    assert_eq!(
        due(&store, T0, true),
        ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
    );
}

/// Three batches of reports: sources named by DKIM (Amazon SES) and SPF (Postmark), one
/// named by SPF first and by DKIM in a later batch, IPv6, a duplicate, and in the second
/// batch a report that breaks after its records (its records are taken back).
fn batches() -> Vec<Vec<(String, Vec<u8>)>> {
    let ses = "eu-west-1.amazonses.com";
    let postmark = "pm-bounces.mtasv.net";
    let own = "example.com";
    let report = |id: &str, records: &[(&str, u64, &str, &str)]| {
        (
            format!("{id}.xml"),
            report_xml(&format!("{id}.example"), id, own, records).into_bytes(),
        )
    };
    let first = vec![
        report(
            "a",
            &[
                ("192.0.2.1", 3, ses, postmark),
                ("192.0.2.2", 2, own, postmark),
            ],
        ),
        report(
            "b",
            &[
                ("192.0.2.3", 1, own, own),
                ("2001:db8::7", 4, own, postmark),
            ],
        ),
    ];
    let broken = report(
        "c",
        &[("192.0.2.9", 1, ses, own), ("192.0.2.2", 1, ses, own)],
    );
    let broken = (
        broken.0,
        String::from_utf8(broken.1)
            .unwrap()
            .replace("</feedback>", "<record><row><source_ip>")
            .into_bytes(),
    );
    let second = vec![
        report(
            "d",
            &[("192.0.2.2", 5, ses, own), ("192.0.2.4", 1, own, own)],
        ),
        broken,
        first[0].clone(),
    ];
    let third = vec![report(
        "e",
        &[
            ("192.0.2.3", 2, own, postmark),
            ("192.0.2.5", 1, ses, postmark),
        ],
    )];
    vec![first, second, third]
}

/// Stores each batch in a transaction, identifying alongside with `identifier` if given,
/// and writes what it found.
fn ingest_batches(
    store: &mut Store,
    batches: &[Vec<(String, Vec<u8>)>],
    identifier: Option<&Identifier>,
) {
    ingest_held(store, batches, identifier);
    if let Some(identifier) = identifier {
        store.write_identified(identifier).unwrap();
    }
}

/// [`ingest_batches`], leaving what `identifier` found held.
fn ingest_held(
    store: &mut Store,
    batches: &[Vec<(String, Vec<u8>)>],
    identifier: Option<&Identifier>,
) {
    for inputs in batches {
        let mut batch = store.begin_batch().unwrap();
        if let Some(identifier) = identifier {
            batch.identify_alongside(identifier).unwrap();
        }
        for (name, bytes) in inputs {
            let source = MessageSource::File { path: name.clone() };
            batch.ingest_bytes(bytes, &source).unwrap();
        }
        batch.commit().unwrap();
        if let Some(identifier) = identifier {
            store.record_identified(identifier).unwrap();
        }
    }
}

/// `identify_progress.last_record` and the greatest record id.
fn progress(store: &Store) -> Vec<String> {
    let mut rows = Vec::new();
    store
        .query(
            "SELECT (SELECT COALESCE(MAX(last_record), 0) FROM identify_progress), \
                    (SELECT COALESCE(MAX(id), 0) FROM records)",
            &mut |row| {
                rows.push(format!("{row:?}"));
                Ok(())
            },
        )
        .unwrap();
    rows
}

/// The rows of `identify_progress` (none until identification first writes).
fn identify_progress_rows(store: &Store) -> usize {
    let mut rows = 0;
    store
        .query("SELECT * FROM identify_progress", &mut |_| {
            rows += 1;
            Ok(())
        })
        .unwrap();
    rows
}

/// What the scan of the stored records gives for `batches`.
fn scanned(batches: &[Vec<(String, Vec<u8>)>]) -> (Vec<String>, Vec<String>) {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    ingest_batches(&mut store, batches, None);
    store
        .identify_from_reports(&Catalogue::builtin().unwrap(), false)
        .unwrap();
    (identities(&store), progress(&store))
}

/// `store`'s identities and progress are those of the scan of the stored records, in which
/// 192.0.2.2, named by an SPF pass first, is named by a later DKIM signature.
fn assert_as_scanned(store: &Store, batches: &[Vec<(String, Vec<u8>)>]) {
    let (expected, expected_progress) = scanned(batches);
    assert_eq!(identities(store), expected);
    assert_eq!(progress(store), expected_progress);
    assert!(
        expected.contains(&"192.0.2.2,Amazon SES,dkim,-,-,-".to_owned()),
        "{expected:?}"
    );
}

#[test]
fn identification_alongside_the_ingest_leaves_the_table_as_the_scan_of_the_records_does() {
    let batches = batches();
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let identifier =
        Identifier::start(Catalogue::builtin().unwrap(), IpDatabases::default()).expect("a thread");
    ingest_batches(&mut store, &batches[..1], Some(&identifier));
    // Written after the commit, without any scan: named by the strongest evidence.
    assert_eq!(
        identities(&store),
        [
            "192.0.2.1,Amazon SES,dkim,-,-,-",
            "192.0.2.2,Postmark,spf,-,-,-",
            "192.0.2.3,-,-,-,-,-",
            "2001:db8::7,Postmark,spf,-,-,-",
        ]
    );
    assert_eq!(progress(&store), scanned(&batches[..1]).1);

    // The second batch took back a report's records: it is left to the scan, and so is the
    // third, which began while identification lagged.
    ingest_batches(&mut store, &batches[1..], Some(&identifier));
    assert_eq!(identities(&store).len(), 4, "{:?}", identities(&store));
    let (catalogue, _) = identifier.finish().expect("the thread ended normally");
    store.identify_from_reports(&catalogue, false).unwrap();
    assert_as_scanned(&store, &batches);
}

/// [`batches`] without the report that breaks half-way.
fn batches_without_the_broken_report() -> Vec<Vec<(String, Vec<u8>)>> {
    batches()
        .into_iter()
        .map(|batch| {
            batch
                .into_iter()
                .filter(|(name, _)| name != "c.xml")
                .collect()
        })
        .collect()
}

#[test]
fn batches_without_a_broken_report_are_written_alongside_and_equal_the_scan() {
    let batches = batches_without_the_broken_report();
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let identifier =
        Identifier::start(Catalogue::builtin().unwrap(), IpDatabases::default()).expect("a thread");
    ingest_batches(&mut store, &batches, Some(&identifier));
    // No scan: every batch was written alongside, a source named by SPF first and by DKIM
    // in a later batch included.
    assert_as_scanned(&store, &batches);
}

#[test]
fn what_consecutive_batches_found_is_written_together_or_left_to_the_scan() {
    let batches = batches_without_the_broken_report();
    let start = || {
        Identifier::start(Catalogue::builtin().unwrap(), IpDatabases::default()).expect("a thread")
    };
    // Held after each commit, written at the end in one transaction: the scan's table.
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let identifier = start();
    ingest_held(&mut store, &batches, Some(&identifier));
    assert!(identities(&store).is_empty(), "{:?}", identities(&store));
    assert_eq!(identify_progress_rows(&store), 0);
    store.write_identified(&identifier).unwrap();
    assert_as_scanned(&store, &batches);

    // Never written (the process ended first): progress stays where it was, and the scan
    // of the stored records does every batch.
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let identifier = start();
    ingest_held(&mut store, &batches, Some(&identifier));
    drop(identifier);
    assert!(identities(&store).is_empty(), "{:?}", identities(&store));
    assert_eq!(identify_progress_rows(&store), 0);
    store
        .identify_from_reports(&Catalogue::builtin().unwrap(), false)
        .unwrap();
    assert_as_scanned(&store, &batches);
}

#[test]
fn a_batch_begun_while_identification_lagged_writes_nothing_alongside() {
    let batches = batches();
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    ingest_batches(&mut store, &batches[..1], None);
    let identifier =
        Identifier::start(Catalogue::builtin().unwrap(), IpDatabases::default()).expect("a thread");
    ingest_batches(&mut store, &batches[2..], Some(&identifier));
    assert!(identities(&store).is_empty(), "{:?}", identities(&store));
    drop(identifier);
    store
        .identify_from_reports(&Catalogue::builtin().unwrap(), false)
        .unwrap();
    let mut reference = Store::open_in_memory(StoreOptions::default()).unwrap();
    ingest_batches(&mut reference, &batches[..1], None);
    ingest_batches(&mut reference, &batches[2..], None);
    reference
        .identify_from_reports(&Catalogue::builtin().unwrap(), false)
        .unwrap();
    assert_eq!(identities(&store), identities(&reference));
}
