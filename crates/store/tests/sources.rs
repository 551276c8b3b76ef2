//! `Store::sources` against a full scan of the database: many policy domains, and a record
//! with many DKIM and SPF results.

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

/// A report whose one record carries `dkim` DKIM and `spf` SPF results for distinct domains,
/// every tenth one twice (listed once).
fn many_results_xml(dkim: usize, spf: usize) -> String {
    let mut xml = String::from(
        "<feedback><report_metadata><org_name>big.example</org_name>\
         <email>noreply@big.example</email><report_id>many</report_id>\
         <date_range><begin>1700006400</begin><end>1700092799</end></date_range>\
         </report_metadata><policy_published><domain>example.com</domain><p>none</p>\
         </policy_published><record><row><source_ip>192.0.2.7</source_ip><count>5</count>\
         <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>\
         </policy_evaluated></row><identifiers><header_from>example.com</header_from>\
         </identifiers><auth_results>",
    );
    for number in 0..dkim {
        let result = if number % 2 == 0 { "pass" } else { "fail" };
        let signature = format!(
            "<dkim><domain>s{number}.example.net</domain><selector>k</selector>\
             <result>{result}</result></dkim>"
        );
        xml.push_str(&signature);
        if number % 10 == 0 {
            xml.push_str(&signature);
        }
    }
    for number in 0..spf {
        xml.push_str(&format!(
            "<spf><domain>b{number}.example.net</domain><result>softfail</result></spf>"
        ));
    }
    xml.push_str("</auth_results></record></feedback>");
    xml
}

#[test]
fn a_record_with_many_results_lists_each_once_in_linear_time() {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    ingest(
        &mut store,
        [("many.xml".to_owned(), many_results_xml(60_000, 60_000))],
    );
    let stored = |sql: &str| -> Vec<String> {
        let mut names: Vec<String> = select(&store, sql)
            .into_iter()
            .map(|row| row[0].clone())
            .collect();
        names.sort();
        names
    };
    let dkim = stored("SELECT DISTINCT domain || ':' || selector FROM dkim_results");
    let spf = stored("SELECT DISTINCT domain FROM spf_results");
    assert!(
        dkim.len() > 1 && spf.len() > 1,
        "{} and {}",
        dkim.len(),
        spf.len()
    );

    let started = Instant::now();
    let sources = store.sources(&SourceFilter::default()).unwrap();
    let took = started.elapsed();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].dkim_domains, dkim);
    assert_eq!(sources[0].spf_domains, spf);
    assert_eq!(sources[0].messages, 5);
    // A join of both result tables read 60,000 × 60,000 rows; a list searched per result made
    // it quadratic again. Linear is well under a second, even unoptimised on a busy machine.
    assert!(took < Duration::from_secs(20), "{took:?}");
}
