//! Ingest throughput into a fresh SQLite file: parsing, alignment, dedupe lookups and every
//! insert, in one batch as `ruadb ingest` does it. Run with
//! `cargo bench -p ruadb-store --bench ingest`; divan prints reports/s (items) and bytes/s.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmarks (helpers included) fail loudly on a broken setup"
)]

use divan::Bencher;
use divan::counter::ItemsCount;
use ruadb_store::{Input, MessageSource, Store, StoreOptions};
use ruadb_testgen::Rng;
use std::fmt::Write;
use std::ops::ControlFlow;

fn main() {
    divan::main();
}

/// Reports in one benchmark run.
const REPORTS: usize = 2_000;

/// Record count of one report: most have 1–5 records, a tail has hundreds (as real
/// mailboxes do: many small reporters, a few large ones).
fn skewed_records(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=69 => 1 + rng.below(5) as usize,
        70..=94 => 10 + rng.below(40) as usize,
        _ => 200 + rng.below(400) as usize,
    }
}

/// `REPORTS` distinct reports from 20 reporters for 3 domains, as XML documents.
fn corpus() -> (Vec<Vec<u8>>, u64) {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut reports = Vec::with_capacity(REPORTS);
    let mut records_total = 0u64;
    for index in 0..REPORTS {
        let org = format!("reporter{}.example.net", rng.below(20));
        let domain = ["example.com", "example.org", "shop.example.co.uk"][index % 3];
        let begin = 1_700_006_400 + 86_400 * rng.below(60) as i64;
        let mut xml = String::with_capacity(4096);
        let _ = write!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n<report_metadata>\
             <org_name>{org}</org_name><email>dmarc@{org}</email><report_id>{index}-{}</report_id>\
             <date_range><begin>{begin}</begin><end>{}</end></date_range></report_metadata>\n\
             <policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf>\
             <p>quarantine</p><sp>none</sp><pct>100</pct></policy_published>\n",
            rng.next_u64(),
            begin + 86_399
        );
        let records = skewed_records(&mut rng);
        records_total += records as u64;
        for _ in 0..records {
            let ip = if rng.below(5) == 0 {
                format!("2001:db8:{:x}::{:x}", rng.below(4096), rng.below(65536))
            } else {
                let net = ["192.0.2", "198.51.100", "203.0.113"][rng.below(3) as usize];
                format!("{net}.{}", rng.below(256))
            };
            let (dkim_domain, spf_domain) = match rng.below(4) {
                0 => ("esp.example.net", "bounce.esp.example.net"),
                1 => (domain, "example.net"),
                _ => (domain, domain),
            };
            let verdict = if rng.below(4) == 0 { "fail" } else { "pass" };
            let _ = writeln!(
                xml,
                "<record><row><source_ip>{ip}</source_ip><count>{}</count><policy_evaluated>\
                 <disposition>none</disposition><dkim>{verdict}</dkim><spf>pass</spf>\
                 </policy_evaluated></row><identifiers><header_from>{domain}</header_from>\
                 <envelope_from>{spf_domain}</envelope_from></identifiers><auth_results>\
                 <dkim><domain>{dkim_domain}</domain><selector>s{}</selector><result>{verdict}</result></dkim>\
                 <spf><domain>{spf_domain}</domain><scope>mfrom</scope><result>pass</result></spf>\
                 </auth_results></record>",
                1 + rng.below(50),
                rng.below(3)
            );
        }
        xml.push_str("</feedback>\n");
        reports.push(xml.into_bytes());
    }
    (reports, records_total)
}

/// Counts what the parser yields and stores nothing.
#[derive(Default)]
struct CountingSink {
    reports: usize,
}

impl ruadb_report::Sink for CountingSink {
    fn begin_report(&mut self, _: Option<&str>, _: &ruadb_report::ReportHeader) -> ControlFlow<()> {
        self.reports += 1;
        ControlFlow::Continue(())
    }
    fn record(&mut self, record: ruadb_report::Record) -> ControlFlow<()> {
        divan::black_box(record);
        ControlFlow::Continue(())
    }
    fn end_report(&mut self, _: ruadb_report::ReportTrailer) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    fn report_failed(&mut self, _: Option<&str>, _: ruadb_report::Error) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// The parser alone on the same corpus: the part of ingest that is not the store's.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn parse_only(bencher: Bencher) {
    let (reports, _) = corpus();
    let limits = ruadb_report::Limits::default();
    bencher.counter(ItemsCount::new(REPORTS)).bench_local(|| {
        let mut sink = CountingSink::default();
        for report in &reports {
            ruadb_report::read_reports(report, &limits, &mut sink);
        }
        assert_eq!(sink.reports, REPORTS);
    });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn ingest_fresh_database(bencher: Bencher) {
    let (reports, records) = corpus();
    eprintln!("corpus: {REPORTS} reports, {records} records");
    bencher
        .counter(ItemsCount::new(REPORTS))
        .with_inputs(|| {
            let dir = tempfile::tempdir().unwrap();
            let store =
                Store::open(&dir.path().join("bench.sqlite"), StoreOptions::default()).unwrap();
            (dir, store)
        })
        .bench_local_values(|(dir, mut store)| {
            let mut batch = store.begin_batch().unwrap();
            for (index, report) in reports.iter().enumerate() {
                let source = MessageSource::File {
                    path: format!("report-{index}.xml"),
                };
                let outcome = batch.ingest_bytes(report, &source).unwrap();
                assert_eq!(outcome.reports_new, 1);
            }
            batch.commit().unwrap();
            (dir, store)
        });
}

/// The same, with all inputs in one call (`Batch::ingest`): the next inputs are parsed while
/// the current one is written.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn ingest_fresh_database_queued(bencher: Bencher) {
    let (reports, _) = corpus();
    bencher
        .counter(ItemsCount::new(REPORTS))
        .with_inputs(|| {
            let dir = tempfile::tempdir().unwrap();
            let store =
                Store::open(&dir.path().join("bench.sqlite"), StoreOptions::default()).unwrap();
            (dir, store, reports.clone())
        })
        .bench_local_values(|(dir, mut store, reports)| {
            let mut batch = store.begin_batch().unwrap();
            let inputs = reports.into_iter().enumerate().map(|(index, report)| {
                let source = MessageSource::File {
                    path: format!("report-{index}.xml"),
                };
                ((), source, Input::Bytes(report))
            });
            let mut stored = 0;
            for ((), outcome) in batch.ingest(inputs) {
                stored += outcome.unwrap().reports_new;
            }
            assert_eq!(stored, REPORTS as u64);
            batch.commit().unwrap();
            (dir, store)
        });
}
