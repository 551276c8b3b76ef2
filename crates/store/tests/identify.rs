//! Source identity in the store: the evidence rules (a passed DKIM signature, then an SPF
//! pass, then a forward-confirmed PTR; an unconfirmed PTR never names a service), and the
//! reverse DNS cache (positive and negative answers expire after their own times).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_identify::Catalogue;
use ruadb_store::{DnsCachePolicy, MessageSource, ReverseDns, Store, StoreOptions, Value};

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
