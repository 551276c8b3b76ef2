//! `Store::sources` against a full scan of the database: many policy domains, and a record
//! with many DKIM and SPF results.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_store::{MessageSource, SourceFilter, Store, StoreOptions, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod common;
use common::report_xml;

fn ingest(store: &mut Store, documents: impl IntoIterator<Item = (String, String)>) {
    let mut batch = store.begin_batch().unwrap();
    for (name, xml) in documents {
        let outcome = batch
            .ingest_bytes(xml.as_bytes(), &MessageSource::File { path: name.clone() })
            .unwrap();
        assert!(outcome.errors.is_empty(), "{name}: {:?}", outcome.errors);
    }
    batch.commit().unwrap();
}

/// The rows of one SQL query, as text.
fn select(store: &Store, sql: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    store
        .query(sql, &mut |row| {
            rows.push(
                row.iter()
                    .map(|value| match value {
                        Value::Text(text) => text.clone(),
                        Value::Integer(number) => number.to_string(),
                        other => format!("{other:?}"),
                    })
                    .collect(),
            );
            Ok(())
        })
        .unwrap();
    rows
}

#[test]
fn a_thousand_policy_domains_keep_their_own_totals() {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    // The same two sources report for every domain, with counts that differ per domain.
    let documents = (0..1_200u64).map(|number| {
        let domain = format!("d{number:04}.example");
        let records = [
            ("192.0.2.1", number + 1, domain.as_str(), domain.as_str()),
            (
                "2001:db8::1",
                2 * number + 3,
                "esp.example.net",
                "esp.example.net",
            ),
        ];
        (
            format!("{domain}.xml"),
            report_xml("reporter.example", &format!("r{number}"), &domain, &records),
        )
    });
    ingest(&mut store, documents.collect::<Vec<_>>());

    let scan: BTreeMap<(String, String), u64> = select(
        &store,
        "SELECT rep.policy_domain, rec.source_ip, SUM(rec.message_count)
         FROM reports AS rep JOIN records AS rec ON rec.report = rep.id
         GROUP BY rep.policy_domain, rec.source_ip",
    )
    .into_iter()
    .map(|row| ((row[0].clone(), row[1].clone()), row[2].parse().unwrap()))
    .collect();
    assert_eq!(scan.len(), 2_400);
    let sources = store.sources(&SourceFilter::default()).unwrap();
    let listed: BTreeMap<(String, String), u64> = sources
        .iter()
        .map(|row| {
            (
                (row.policy_domain.clone(), row.source_ip.clone()),
                row.messages,
            )
        })
        .collect();
    assert_eq!(sources.len(), listed.len(), "each source once");
    assert_eq!(listed, scan);
    let ordered = sources.windows(2).all(|pair| {
        (std::cmp::Reverse(pair[0].messages), &pair[0].policy_domain)
            <= (std::cmp::Reverse(pair[1].messages), &pair[1].policy_domain)
    });
    assert!(ordered, "most messages first, then by domain name");
    let one = SourceFilter {
        domain: Some("d1100.example".to_owned()),
        ..SourceFilter::default()
    };
    let rows = store.sources(&one).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|row| row.policy_domain == "d1100.example"));
    assert_eq!(rows[0].messages, 2 * 1_100 + 3);
}

/// A report whose records carry, each, the DKIM results `s{n}.example.net` and the SPF
/// results `b{n}.example.net` for the numbers given (with `repeats`, every tenth DKIM result
/// twice: listed once).
fn report_with_results(records: &[(&str, Vec<usize>)], repeats: bool) -> String {
    let mut xml = String::from(
        "<feedback><report_metadata><org_name>big.example</org_name>\
         <email>noreply@big.example</email><report_id>many</report_id>\
         <date_range><begin>1700006400</begin><end>1700092799</end></date_range>\
         </report_metadata><policy_published><domain>example.com</domain><p>none</p>\
         </policy_published>",
    );
    for (ip, numbers) in records {
        xml.push_str(&format!(
            "<record><row><source_ip>{ip}</source_ip><count>5</count>\
             <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>\
             </policy_evaluated></row><identifiers><header_from>example.com</header_from>\
             </identifiers><auth_results>"
        ));
        for &number in numbers {
            let result = if number % 2 == 0 { "pass" } else { "fail" };
            let signature = format!(
                "<dkim><domain>s{number}.example.net</domain><selector>k</selector>\
                 <result>{result}</result></dkim>"
            );
            xml.push_str(&signature);
            if repeats && number % 10 == 0 {
                xml.push_str(&signature);
            }
        }
        for number in numbers {
            xml.push_str(&format!(
                "<spf><domain>b{number}.example.net</domain><result>softfail</result></spf>"
            ));
        }
        xml.push_str("</auth_results></record>");
    }
    xml.push_str("</feedback>");
    xml
}

/// The distinct values of one column of the stored results, sorted.
fn stored(store: &Store, sql: &str) -> Vec<String> {
    let mut names: Vec<String> = select(store, sql)
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    names.sort();
    names
}

#[test]
fn a_record_with_many_results_lists_each_once() {
    // The parser keeps a bounded number of results per record; whatever it kept is listed,
    // each once.
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let record = ("192.0.2.7", (0..20_000).collect());
    let xml = report_with_results(&[record], true);
    ingest(&mut store, [("many.xml".to_owned(), xml)]);
    let dkim = stored(
        &store,
        "SELECT DISTINCT domain || ':' || selector FROM dkim_results",
    );
    let spf = stored(&store, "SELECT DISTINCT domain FROM spf_results");
    assert!(
        dkim.len() > 1 && spf.len() > 1,
        "{} and {}",
        dkim.len(),
        spf.len()
    );
    let sources = store.sources(&SourceFilter::default()).unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].dkim_domains, dkim);
    assert_eq!(sources[0].spf_domains, spf);
    assert_eq!(sources[0].messages, 5);
}

#[test]
fn a_source_with_many_distinct_results_lists_each_once() {
    // Two sources see the same 40,000 signing domains over 400 records each, one in the
    // order the names were first seen, the other in reverse: each new name is then the
    // smallest of its set so far, the worst case for a set kept sorted on every insert
    // (`SortedSet`'s own test measures that case at 200,000 values).
    const PER_RECORD: usize = 100;
    const NAMES: usize = 40_000;
    let forward = (0..NAMES / PER_RECORD).map(|chunk| {
        (
            "192.0.2.7",
            (chunk * PER_RECORD..(chunk + 1) * PER_RECORD).collect(),
        )
    });
    let backward = (0..NAMES / PER_RECORD).map(|chunk| {
        let last = NAMES - chunk * PER_RECORD;
        ("192.0.2.8", (last - PER_RECORD..last).rev().collect())
    });
    let records: Vec<(&str, Vec<usize>)> = forward.chain(backward).collect();
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    ingest(
        &mut store,
        [("many.xml".to_owned(), report_with_results(&records, false))],
    );
    let dkim = stored(
        &store,
        "SELECT DISTINCT domain || ':' || selector FROM dkim_results",
    );
    let spf = stored(&store, "SELECT DISTINCT domain FROM spf_results");
    assert_eq!((dkim.len(), spf.len()), (NAMES, NAMES));

    let started = Instant::now();
    let sources = store.sources(&SourceFilter::default()).unwrap();
    let took = started.elapsed();
    assert_eq!(sources.len(), 2);
    for source in &sources {
        assert_eq!(source.dkim_domains, dkim, "{}", source.source_ip);
        assert_eq!(source.spf_domains, spf, "{}", source.source_ip);
        assert_eq!(source.messages, 5 * (NAMES / PER_RECORD) as u64);
    }
    assert!(took < Duration::from_secs(20), "{took:?}");
}
