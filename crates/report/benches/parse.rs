//! Parser throughput on a generated report: full field extraction, records dropped by a
//! counting sink. Run with `cargo bench -p ruadb-report --bench parse`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmarks (helpers included) fail loudly on a broken setup"
)]

use divan::Bencher;
use divan::counter::BytesCount;
use ruadb_report::{Error, Limits, Record, ReportHeader, ReportTrailer, Sink};
use std::fmt::Write;
use std::ops::ControlFlow;

fn main() {
    divan::main();
}

/// A realistic large report: `records` rows with 2 DKIM and 1 SPF result each, a mix of v4
/// and v6 sources, passes and failures, some override reasons and envelope identifiers.
fn generate(records: usize) -> Vec<u8> {
    let mut xml = String::with_capacity(records * 1100);
    xml.push_str(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>Example Receiver</org_name>
    <email>noreply-dmarc-support@example.net</email>
    <extra_contact_info>https://example.net/dmarc</extra_contact_info>
    <report_id>12345678901234567890</report_id>
    <date_range>
      <begin>1700006400</begin>
      <end>1700092799</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>example.com</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>quarantine</p>
    <sp>quarantine</sp>
    <pct>100</pct>
    <fo>1</fo>
  </policy_published>
"#,
    );
    for i in 0..records {
        let ip = if i % 5 == 0 {
            format!("2001:db8:{:x}::{:x}", i / 256, i % 256)
        } else {
            let net = ["192.0.2", "198.51.100", "203.0.113"][i % 3];
            format!("{net}.{}", i % 256)
        };
        let pass = i % 4 != 0;
        let verdict = if pass { "pass" } else { "fail" };
        let _ = write!(
            xml,
            r#"  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated>
        <disposition>{disposition}</disposition>
        <dkim>{verdict}</dkim>
        <spf>{verdict}</spf>{reason}
      </policy_evaluated>
    </row>
    <identifiers>
      <envelope_to>example.org</envelope_to>
      <envelope_from>bounce{n}.example.com</envelope_from>
      <header_from>example.com</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>example.com</domain>
        <selector>s{n}</selector>
        <result>{verdict}</result>
      </dkim>
      <dkim>
        <domain>esp{n}.example.net</domain>
        <selector>esp2024</selector>
        <result>pass</result>
      </dkim>
      <spf>
        <domain>bounce{n}.example.com</domain>
        <scope>mfrom</scope>
        <result>{spf}</result>
      </spf>
    </auth_results>
  </record>
"#,
            count = 1 + i % 17,
            disposition = if pass { "none" } else { "quarantine" },
            reason = if i % 10 == 0 {
                "\n        <reason>\n          <type>forwarded</type>\n          <comment>list</comment>\n        </reason>"
            } else {
                ""
            },
            n = i % 7,
            spf = if pass { "pass" } else { "softfail" },
        );
    }
    xml.push_str("</feedback>\n");
    xml.into_bytes()
}

/// Counts what the parser hands over and drops it.
#[derive(Default)]
struct Count {
    records: u64,
    failed: bool,
}

impl Sink for Count {
    fn begin_report(&mut self, _: Option<&str>, _: &ReportHeader) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    fn record(&mut self, record: Record) -> ControlFlow<()> {
        self.records += record.dkim_results.len() as u64 / 2;
        ControlFlow::Continue(())
    }
    fn end_report(&mut self, _: ReportTrailer) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    fn report_failed(&mut self, _: Option<&str>, _: Error) -> ControlFlow<()> {
        self.failed = true;
        ControlFlow::Continue(())
    }
}

#[divan::bench(args = [1_000, 20_000], sample_count = 20)]
fn plain_xml(bencher: Bencher, records: usize) {
    let xml = generate(records);
    let limits = Limits::default();
    bencher.counter(BytesCount::of_slice(&xml)).bench(|| {
        let mut sink = Count::default();
        ruadb_report::read_reports(divan::black_box(&xml), &limits, &mut sink);
        assert!(!sink.failed && sink.records == records as u64);
        sink.records
    });
}

/// The same document through bare quick-xml events (no decoding layer, no values): the
/// ceiling the parser is measured against.
#[divan::bench(sample_count = 20)]
fn quick_xml_events_only(bencher: Bencher) {
    let xml = generate(20_000);
    bencher.counter(BytesCount::of_slice(&xml)).bench(|| {
        let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(&xml[..]));
        let mut buf = Vec::new();
        let mut n = 0u64;
        loop {
            buf.clear();
            match reader.read_event_into(&mut buf) {
                Ok(quick_xml::events::Event::Eof) | Err(_) => break,
                Ok(_) => n += 1,
            }
        }
        n
    });
}
