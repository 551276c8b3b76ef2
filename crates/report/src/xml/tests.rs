//! Unit tests of the XML layer: one rule per test, on small documents, plus robustness
//! checks over every fixture (truncations, byte flips, tiny read buffers).

use super::*;
use crate::{AggregateReport, Collector, Failure, Format, Record, ReportHeader, ReportTrailer};
use std::cell::Cell;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

fn parse_with(reader: impl BufRead, limits: &Limits) -> Vec<Result<AggregateReport, Failure>> {
    let mut collector = Collector::default();
    let _ = parse_document(reader, Some("member.xml"), limits, &mut collector);
    collector.results
}

fn parse(xml: &[u8]) -> Vec<Result<AggregateReport, Failure>> {
    parse_with(xml, &Limits::default())
}

fn report(xml: &str) -> AggregateReport {
    match parse(xml.as_bytes()).pop() {
        Some(Ok(report)) => report,
        other => panic!("expected a report, got {other:?}"),
    }
}

fn error(xml: &[u8]) -> String {
    match parse(xml).pop() {
        Some(Err(failure)) => failure.error.to_string(),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn warnings(report: &AggregateReport) -> Vec<&str> {
    report
        .trailer
        .warnings
        .iter()
        .map(|w| w.0.as_str())
        .collect()
}

const METADATA: &str = "<report_metadata><org_name>example.net</org_name>\
    <email>d@example.net</email><report_id>r1</report_id>\
    <date_range><begin>1700006400</begin><end>1700092799</end></date_range></report_metadata>";
const POLICY: &str = "<policy_published><domain>example.com</domain><p>none</p></policy_published>";

fn record(ip: &str, count: &str) -> String {
    format!(
        "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
         <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>\
         <identifiers><header_from>example.com</header_from></identifiers><auth_results>\
         <dkim><domain>example.com</domain><result>pass</result></dkim></auth_results></record>"
    )
}

/// A report with the standard metadata and policy around `body`.
fn with_records(body: &str) -> String {
    format!("<feedback>{METADATA}{POLICY}{body}</feedback>")
}

fn fixtures() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/reports");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "xml"))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(files.len() > 30, "fixtures not found in {}", dir.display());
    files
}

/// Parses `bytes` and checks that exactly one outcome was reported (and nothing panicked).
fn assert_one_outcome(bytes: &[u8], what: &str) {
    let mut sink = crate::protocol_check::ProtocolCheck::default();
    let flow = parse_document(bytes, None, &Limits::default(), &mut sink);
    assert_eq!(flow, ControlFlow::Continue(()), "{what}");
    assert_eq!(sink.outcomes, 1, "{what}");
    assert!(!sink.open, "{what}");
}

#[test]
fn every_prefix_of_every_fixture_yields_one_outcome() {
    for (path, bytes) in fixtures() {
        let step = if bytes.len() > 1500 { 3 } else { 1 };
        for end in (0..bytes.len()).step_by(step) {
            assert_one_outcome(&bytes[..end], &format!("{} cut at {end}", path.display()));
        }
    }
}

#[test]
fn random_byte_flips_yield_one_outcome() {
    let mut rng = ruadb_testgen::Rng::new(0x9E37_79B9_7F4A_7C15);
    const INTERESTING: &[u8] = b"<>/&;#x\"'=!?-[] \n\x00\x80\xC3\xE9\xEF\xFF";
    for (path, bytes) in fixtures() {
        for round in 0..150 {
            let mut mutated = bytes.clone();
            for _ in 0..1 + rng.index(4) {
                let at = rng.index(mutated.len().max(1));
                let value = if rng.index(2) == 0 {
                    INTERESTING[rng.index(INTERESTING.len())]
                } else {
                    rng.next_u64() as u8
                };
                if let Some(byte) = mutated.get_mut(at) {
                    *byte = value;
                }
            }
            assert_one_outcome(&mutated, &format!("{} round {round}", path.display()));
        }
    }
}

#[test]
fn tiny_read_buffers_give_the_same_result() {
    for (path, bytes) in fixtures() {
        let whole = format!("{:?}", parse(&bytes));
        for capacity in [1, 2, 3, 5, 7, 64] {
            let chunked = parse_with(
                BufReader::with_capacity(capacity, &bytes[..]),
                &Limits::default(),
            );
            assert_eq!(
                format!("{chunked:?}"),
                whole,
                "{} capacity {capacity}",
                path.display()
            );
        }
    }
}

#[test]
fn corpus_plain_xml_matches_expected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let Ok(expected) = std::fs::read(root.join("expected.json")) else {
        eprintln!("SKIPPED: corpus not found at {}", root.display());
        return;
    };
    let expected: serde_json::Value = serde_json::from_slice(&expected).unwrap();
    let mut checked = 0;
    for entry in expected.as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        if !file.ends_with(".xml") {
            continue;
        }
        let bytes = std::fs::read(root.join(file)).unwrap();
        let results = parse(&bytes);
        assert_eq!(results.len(), 1, "{file}");
        let lenient = entry["reports"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["lenient"].is_array()));
        match &results[0] {
            Ok(report) => {
                if entry["expected_error"] == true && !lenient {
                    panic!("{file}: expected an error, parsed {report:#?}");
                }
                if entry["expected_error"] == true {
                    eprintln!("{file}: lenient parse: {:?}", report.trailer.warnings);
                    continue;
                }
                let h = &report.header;
                assert_eq!(
                    h.metadata.report_id,
                    entry["report_id"].as_str().unwrap(),
                    "{file}"
                );
                assert_eq!(
                    h.metadata.org_name,
                    entry["org_name"].as_str().unwrap(),
                    "{file}"
                );
                assert_eq!(
                    h.policy.domain,
                    entry["policy_domain"].as_str().unwrap().to_lowercase(),
                    "{file}"
                );
                assert_eq!(h.metadata.begin, entry["begin"].as_i64().unwrap(), "{file}");
                assert_eq!(h.metadata.end, entry["end"].as_i64().unwrap(), "{file}");
                let sum: u64 = report.records.iter().map(|r| r.count).sum();
                assert_eq!(sum, entry["count_sum"].as_u64().unwrap(), "{file}");
                let records = entry["records"].as_u64().unwrap() as usize;
                // The oracle counts placeholder records, which the parser drops.
                let placeholders = report
                    .trailer
                    .warnings
                    .iter()
                    .any(|w| w.0.contains("placeholder"));
                if placeholders {
                    assert!(report.records.len() < records, "{file}");
                } else {
                    assert_eq!(report.records.len(), records, "{file}");
                }
            }
            Err(failure) => {
                assert!(entry["expected_error"] == true, "{file}: {}", failure.error);
                eprintln!("{file}: error as expected: {}", failure.error);
            }
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} files checked");
}

#[test]
fn integers_accept_float_looking_epochs() {
    use super::report::integer;
    assert_eq!(integer("1361404799"), Some(1_361_404_799));
    assert_eq!(integer("1361404799.0"), Some(1_361_404_799));
    assert_eq!(integer("1361404799.999"), Some(1_361_404_799));
    assert_eq!(integer("-5"), Some(-5));
    assert_eq!(integer("1.5e3"), None);
    assert_eq!(integer(".5"), None);
    assert_eq!(integer("5."), Some(5));
    assert_eq!(integer(""), None);
    assert_eq!(integer("2023-11-15"), None);
}

#[test]
fn windows_1252_bytes_are_decoded_with_the_c1_table() {
    let mut xml = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?>".to_vec();
    xml.extend_from_slice(with_records(&record("192.0.2.1", "1")).as_bytes());
    let at = xml.windows(11).position(|w| w == b"example.net").unwrap();
    xml.splice(at..at + 11, *b"\x80\x92\x9F\xE9\xFF");
    assert_eq!(
        parse(&xml)[0].as_ref().unwrap().header.metadata.org_name,
        "€’Ÿéÿ"
    );
}

#[test]
fn unsupported_declared_encoding_is_read_as_utf8_with_a_warning() {
    let xml = format!(
        "<?xml version='1.0' encoding='Shift_JIS'?>{}",
        with_records(&record("192.0.2.1", "1"))
    );
    let report = report(&xml);
    assert_eq!(
        warnings(&report),
        ["declared encoding \"shift_jis\" is not supported; read as UTF-8"]
    );
}

#[test]
fn format_is_rfc9990_by_namespace_or_by_element() {
    let plain = report(&with_records(&record("192.0.2.1", "1")));
    assert_eq!(plain.header.format, Format::Rfc7489);

    let namespaced = with_records(&record("192.0.2.1", "1")).replacen(
        "<feedback>",
        "<d:feedback xmlns:d=\"urn:ietf:params:xml:ns:dmarc-2.0\">",
        1,
    );
    let namespaced = namespaced.replace("</feedback>", "</d:feedback>");
    assert_eq!(report(&namespaced).header.format, Format::Rfc9990);

    let generator = with_records(&record("192.0.2.1", "1"))
        .replace("</report_id>", "</report_id><generator>x 1.0</generator>");
    let generator = report(&generator);
    assert_eq!(generator.header.format, Format::Rfc9990);
    assert_eq!(
        generator.header.metadata.generator.as_deref(),
        Some("x 1.0")
    );
}

#[test]
fn records_before_the_header_are_held_back_within_a_bound() {
    let early = record("192.0.2.1", "1");
    let ok = format!("<feedback>{early}{METADATA}{early}{POLICY}{early}</feedback>");
    assert_eq!(report(&ok).records.len(), 3);

    let many = early.repeat(5_001);
    let too_many = format!("<feedback>{many}{METADATA}{POLICY}</feedback>");
    assert_eq!(
        error(too_many.as_bytes()),
        "records before <report_metadata> and <policy_published> exceeds the limit of 5000"
    );
}

#[test]
fn records_are_streamed_before_the_document_is_read_to_the_end() {
    /// Counts the bytes handed to the parser.
    struct Counting<'a> {
        inner: &'a [u8],
        consumed: Rc<Cell<usize>>,
    }
    impl Read for Counting<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(out)?;
            self.consumed.set(self.consumed.get() + n);
            Ok(n)
        }
    }
    struct Watch {
        consumed: Rc<Cell<usize>>,
        at_begin: usize,
        at_records: Vec<usize>,
    }
    impl Sink for Watch {
        fn begin_report(&mut self, _: Option<&str>, _: &ReportHeader) -> ControlFlow<()> {
            self.at_begin = self.consumed.get();
            ControlFlow::Continue(())
        }
        fn record(&mut self, _: Record) -> ControlFlow<()> {
            self.at_records.push(self.consumed.get());
            ControlFlow::Continue(())
        }
        fn end_report(&mut self, _: ReportTrailer) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
        fn report_failed(&mut self, _: Option<&str>, error: Error) -> ControlFlow<()> {
            panic!("{error}")
        }
    }
    let xml = with_records(&record("192.0.2.1", "1").repeat(2_000));
    let consumed = Rc::new(Cell::new(0));
    let reader = BufReader::with_capacity(
        4096,
        Counting {
            inner: xml.as_bytes(),
            consumed: consumed.clone(),
        },
    );
    let mut watch = Watch {
        consumed,
        at_begin: 0,
        at_records: Vec::new(),
    };
    let _ = parse_document(reader, None, &Limits::default(), &mut watch);
    assert_eq!(watch.at_records.len(), 2_000);
    assert!(
        watch.at_begin < 8192,
        "begin_report after {} bytes",
        watch.at_begin
    );
    assert!(watch.at_records[0] < 8192);
    assert!(watch.at_records[1_000] < xml.len() / 2 + 8192);
}

#[test]
fn a_break_from_the_sink_stops_reading() {
    #[derive(Default)]
    struct StopAtFirstRecord {
        calls: Vec<&'static str>,
    }
    impl Sink for StopAtFirstRecord {
        fn begin_report(&mut self, _: Option<&str>, _: &ReportHeader) -> ControlFlow<()> {
            self.calls.push("begin");
            ControlFlow::Continue(())
        }
        fn record(&mut self, _: Record) -> ControlFlow<()> {
            self.calls.push("record");
            ControlFlow::Break(())
        }
        fn end_report(&mut self, _: ReportTrailer) -> ControlFlow<()> {
            self.calls.push("end");
            ControlFlow::Continue(())
        }
        fn report_failed(&mut self, _: Option<&str>, _: Error) -> ControlFlow<()> {
            self.calls.push("failed");
            ControlFlow::Continue(())
        }
    }
    let xml = with_records(&record("192.0.2.1", "1").repeat(3));
    let mut sink = StopAtFirstRecord::default();
    let flow = parse_document(xml.as_bytes(), None, &Limits::default(), &mut sink);
    assert_eq!(flow, ControlFlow::Break(()));
    assert_eq!(sink.calls, ["begin", "record"]);
}

#[test]
fn io_errors_carrying_a_crate_error_are_unwrapped() {
    let error = error_from_io(io::Error::other(Error::TooLarge { limit: 10 }));
    assert!(matches!(error, Error::TooLarge { limit: 10 }), "{error:?}");
    let error = error_from_io(io::Error::new(io::ErrorKind::UnexpectedEof, "short"));
    assert!(matches!(error, Error::Io(_)), "{error:?}");
}

#[test]
fn a_reader_failing_mid_document_fails_the_report_with_its_error() {
    /// Hands out `data`, then fails as the decompression cap does.
    struct Capped<'a>(&'a [u8]);
    impl Read for Capped<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other(Error::TooLarge { limit: 100 }));
            }
            self.0.read(out)
        }
    }
    let xml = with_records(&record("192.0.2.1", "1").repeat(50));
    let half = &xml.as_bytes()[..xml.len() / 2];
    let results = parse_with(BufReader::new(Capped(half)), &Limits::default());
    match &results[..] {
        [Err(failure)] => assert!(
            matches!(failure.error, Error::TooLarge { limit: 100 }),
            "{:?}",
            failure.error
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn depth_is_capped_by_the_limit() {
    let xml = with_records(&record("192.0.2.1", "1"));
    // feedback > record > auth_results > dkim > result: 5 levels.
    let five = Limits {
        max_xml_depth: 5,
        ..Limits::default()
    };
    assert!(parse_with(xml.as_bytes(), &five)[0].is_ok());
    let four = Limits {
        max_xml_depth: 4,
        ..Limits::default()
    };
    match &parse_with(xml.as_bytes(), &four)[0] {
        Err(failure) => assert!(matches!(failure.error, Error::Limit { limit: 4, .. })),
        Ok(_) => panic!("parsed beyond the depth limit"),
    }
}

#[test]
fn a_huge_value_or_token_is_refused_without_reading_it_whole() {
    let long_name = "x".repeat(70_000);
    let xml =
        with_records(&record("192.0.2.1", "1")).replace("example.net<", &format!("{long_name}<"));
    assert_eq!(
        error(xml.as_bytes()),
        "bytes in one XML value exceeds the limit of 65536"
    );

    let comment = format!("<!--{}-->", "y".repeat(2 << 20));
    let xml =
        with_records(&record("192.0.2.1", "1")).replace(METADATA, &format!("{comment}{METADATA}"));
    assert_eq!(
        error(xml.as_bytes()),
        "bytes in one XML tag, text or comment exceeds the limit of 1048576"
    );
}

#[test]
fn elements_nested_in_a_value_are_skipped_with_a_warning() {
    let xml = with_records(&record("192.0.2.1", "1")).replace(
        "<org_name>example.net</org_name>",
        "<org_name>exa<b>bold</b>mple</org_name>",
    );
    let report = report(&xml);
    assert_eq!(report.header.metadata.org_name, "example");
    assert_eq!(warnings(&report), ["elements inside <org_name> ignored"]);
}

#[test]
fn repeated_singletons_fail_but_repeatable_elements_do_not() {
    let twice_begin = with_records("").replace(
        "<begin>1700006400</begin>",
        "<begin>1</begin><begin>2</begin>",
    );
    assert!(error(twice_begin.as_bytes()).starts_with("invalid <begin> value \"2\""));
    let twice_policy = with_records("").replace(POLICY, &POLICY.repeat(2));
    assert!(error(twice_policy.as_bytes()).starts_with("invalid <policy_published>"));
    let twice_ip =
        record("192.0.2.1", "1").replace("<count>", "<source_ip>192.0.2.2</source_ip><count>");
    assert!(error(with_records(&twice_ip).as_bytes()).starts_with("invalid <source_ip>"));

    let repeated_results = record("192.0.2.1", "1").replace(
        "</auth_results>",
        "<dkim><domain>example.org</domain><result>fail</result></dkim>\
         <spf><domain>example.org</domain><result>pass</result></spf>\
         <spf><domain>example.net</domain><result>fail</result></spf></auth_results>",
    );
    let record = &report(&with_records(&repeated_results)).records[0];
    assert_eq!(record.dkim_results.len(), 2);
    assert_eq!(record.spf_results.len(), 2);
}

#[test]
fn documents_without_a_report_say_why() {
    assert_eq!(
        error(b"<feedback/>"),
        "required element <report_metadata> is missing or empty"
    );
    assert_eq!(
        error(format!("<feedback>{METADATA}</feedback>").as_bytes()),
        "required element <policy_published> is missing or empty"
    );
    assert_eq!(
        error(b"  \n\t "),
        "XML error at byte 0: no XML element found: empty or not an XML document"
    );
    assert!(error(b"{\"organization-name\": \"x\"}").contains("not an XML document"));
    assert!(error(b"<html><body>hello</body></html>").contains("root element is <html>"));
}

#[test]
fn values_are_trimmed_lowercased_and_canonical() {
    let xml = with_records(
        &record(" 2001:DB8::0:1 ", " 7 ")
            .replace(
                "<header_from>example.com",
                "<header_from> Mail.Example.COM ",
            )
            .replace(
                "<domain>example.com</domain>",
                "<domain>\n  Example.Com\n</domain>",
            ),
    );
    let record = &report(&xml).records[0];
    assert_eq!(record.source_ip.to_string(), "2001:db8::1");
    assert_eq!(record.count, 7);
    assert_eq!(record.header_from, "mail.example.com");
    assert_eq!(record.dkim_results[0].domain, "example.com");
}

#[test]
fn unknown_record_children_are_kept_as_extensions_and_misplaced_ones_skipped() {
    let body = record("192.0.2.1", "1").replace(
        "</auth_results>",
        "</auth_results><x:note a=\"1\">k &amp; v<y/></x:note><count>9</count>",
    );
    let report = report(&with_records(&body));
    assert_eq!(
        report.records[0].extensions,
        ["<x:note a=\"1\">k &amp; v<y/></x:note>"]
    );
    assert_eq!(report.records[0].count, 1);
    assert_eq!(
        warnings(&report),
        ["1 record with unknown element <count> in <record> skipped"]
    );
}

#[test]
fn policy_and_record_domains_lose_their_trailing_dot() {
    let body = "<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>\
         <disposition>none</disposition></policy_evaluated></row>\
         <identifiers><header_from>Example.COM.</header_from><envelope_from>b.example.com.</envelope_from>\
         </identifiers><auth_results><dkim><domain>example.com.</domain><result>pass</result></dkim>\
         <spf><domain>B.example.com.</domain><result>pass</result></spf></auth_results></record>";
    let xml = format!(
        "<feedback>{METADATA}<policy_published><domain>Example.com.</domain><p>none</p></policy_published>{body}</feedback>"
    );
    let report = report(&xml);
    assert_eq!(report.header.policy.domain, "example.com");
    let record = &report.records[0];
    assert_eq!(record.header_from, "example.com");
    assert_eq!(record.envelope_from.as_deref(), Some("b.example.com"));
    assert_eq!(record.dkim_results[0].domain, "example.com");
    assert_eq!(record.spf_results[0].domain, "b.example.com");
}

#[test]
fn auth_results_beyond_the_cap_are_counted_not_kept() {
    let dkim = "<dkim><domain>example.com</domain><result>pass</result></dkim>";
    let spf = "<spf><domain>example.com</domain><result>pass</result></spf>";
    let many = |n: usize| {
        format!(
            "<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>\
             <disposition>none</disposition></policy_evaluated></row>\
             <identifiers><header_from>example.com</header_from></identifiers>\
             <auth_results>{}{}</auth_results></record>",
            dkim.repeat(n),
            spf.repeat(n)
        )
    };
    let report = report(&with_records(&format!(
        "{}{}{}",
        many(MAX_AUTH_RESULTS + 5),
        many(2),
        many(MAX_AUTH_RESULTS + 1)
    )));
    let kept: Vec<(usize, usize)> = report
        .records
        .iter()
        .map(|r| (r.dkim_results.len(), r.spf_results.len()))
        .collect();
    assert_eq!(
        kept,
        [
            (MAX_AUTH_RESULTS, MAX_AUTH_RESULTS),
            (2, 2),
            (MAX_AUTH_RESULTS, MAX_AUTH_RESULTS)
        ]
    );
    assert_eq!(
        warnings(&report),
        [
            "2 records with more than 100 <dkim> or <spf> results: the first 100 of each kept, 12 more not kept"
        ]
    );
}

#[test]
fn other_lists_a_reporter_controls_are_capped_too() {
    let reasons = "<reason><type>forwarded</type></reason>".repeat(150);
    let extensions = "<custom>x</custom>".repeat(20);
    let body = format!(
        "<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>\
         <disposition>none</disposition>{reasons}</policy_evaluated></row>\
         <identifiers><header_from>example.com</header_from></identifiers>{extensions}</record>"
    );
    let errors = "<error>e</error>".repeat(120);
    let xml = with_records(&body).replace("<report_id>", &format!("{errors}<report_id>"));
    let report = report(&xml);
    assert_eq!(report.records[0].reasons.len(), 100);
    assert_eq!(report.records[0].extensions.len(), 16);
    assert_eq!(report.header.metadata.errors.len(), 100);
    let warnings = warnings(&report);
    assert!(
        warnings.contains(&"1 record with more than 100 <reason> elements: the first 100 of each kept, 50 more not kept"),
        "{warnings:?}"
    );
    assert!(
        warnings.contains(&"1 record with more than 16 extension elements: the first 16 of each kept, 4 more not kept"),
        "{warnings:?}"
    );
    assert!(
        warnings.contains(&"more than 100 <extension> or <error> elements: 20 not kept"),
        "{warnings:?}"
    );
}

#[test]
fn many_different_warnings_are_listed_up_to_a_bound() {
    // Each record has an unknown element of its own name inside <row>: 300 different warnings.
    let body: String = (0..300)
        .map(|n| {
            record("192.0.2.1", "1").replace(
                "<policy_evaluated>",
                &format!("<odd{n}/><policy_evaluated>"),
            )
        })
        .collect();
    let report = report(&with_records(&body));
    assert_eq!(report.records.len(), 300);
    let warnings = warnings(&report);
    assert_eq!(warnings.len(), 101, "{warnings:?}");
    assert_eq!(
        warnings.last().copied(),
        Some("200 more warnings of other kinds not listed")
    );
}

#[test]
fn counts_above_2_to_the_40_drop_their_record() {
    let body = [
        record("192.0.2.1", "1099511627776"),
        record("192.0.2.2", "1099511627777"),
        record("192.0.2.3", "18446744073709551615"),
        record("192.0.2.4", "18446744073709551616"),
        record("192.0.2.5", "99999999999999999999999999"),
    ]
    .concat();
    let report = report(&with_records(&body));
    let counts: Vec<u64> = report.records.iter().map(|r| r.count).collect();
    assert_eq!(counts, [MAX_COUNT]);
    assert_eq!(
        warnings(&report),
        [
            "4 records dropped: <count> above 2^40, more mail than any real source sends (first: \"1099511627777\")"
        ]
    );
}

#[test]
fn a_nul_byte_is_not_xml() {
    for xml in [
        with_records(&record("192.0.2.1", "1"))
            .replace("example.net</org_name>", "exa\0mple.net</org_name>"),
        format!("\0{}", with_records("")),
        with_records("") + "\0",
    ] {
        let message = error(xml.as_bytes());
        assert!(message.contains("a NUL byte"), "{message}");
    }
    let at = with_records("").find("</org_name>").unwrap();
    let mut xml = with_records("").into_bytes();
    xml[at] = 0;
    assert!(
        error(&xml).starts_with(&format!("XML error at byte {at}: a NUL byte")),
        "{}",
        error(&xml)
    );
}

#[test]
fn a_second_document_after_the_root_is_a_second_report() {
    let first = with_records(&record("192.0.2.1", "1"));
    let second = with_records(&record("192.0.2.2", "2")).replace(">r1<", ">r2<");
    let xml = format!(
        "<?xml version=\"1.0\"?>\n{first}\n<?xml version=\"1.0\"?>\n<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">{}",
        &second["<feedback>".len()..]
    );
    let results = parse(xml.as_bytes());
    let reports: Vec<(String, u64, Format)> = results
        .iter()
        .map(|r| {
            let r = r.as_ref().unwrap();
            (
                r.header.metadata.report_id.clone(),
                r.records[0].count,
                r.header.format,
            )
        })
        .collect();
    assert_eq!(
        reports,
        [
            ("r1".to_owned(), 1, Format::Rfc7489),
            ("r2".to_owned(), 2, Format::Rfc9990)
        ]
    );
}

#[test]
fn other_content_after_the_root_is_ignored_with_a_warning() {
    for (tail, said) in [
        ("<other/>", "an element after the end of <feedback>"),
        ("garbage", "text outside the root element"),
    ] {
        let xml = with_records(&record("192.0.2.1", "1")) + tail;
        let results = parse(xml.as_bytes());
        let [Ok(report)] = results.as_slice() else {
            panic!("{tail}: {results:?}");
        };
        assert_eq!(report.records.len(), 1);
        let warnings = warnings(report);
        assert!(
            warnings.iter().any(|w| w
                .starts_with("the rest of the document ignored after the end of the report")
                && w.contains(said)),
            "{tail}: {warnings:?}"
        );
    }
    // A second document cut short fails on its own; the first report stands.
    let xml = with_records(&record("192.0.2.1", "1")) + "<feedback><report_metadata>";
    let results = parse(xml.as_bytes());
    assert!(
        matches!(results.as_slice(), [Ok(_), Err(failure)] if failure.error.to_string().contains("unexpected end")),
        "{results:?}"
    );
    // Whitespace and comments after the root are normal.
    let xml = with_records(&record("192.0.2.1", "1")) + "\n<!-- end -->\n";
    assert!(warnings(&report(&xml)).is_empty());
}

#[test]
fn a_record_with_more_text_than_a_record_holds_is_dropped() {
    let human = "h".repeat(1_000);
    let dkim = format!(
        "<dkim><domain>example.com</domain><result>fail</result><human_result>{human}</human_result></dkim>"
    );
    let big = record("192.0.2.1", "1").replace(
        "</auth_results>",
        &format!("{}</auth_results>", dkim.repeat(40)),
    );
    let report = report(&with_records(&format!("{big}{}", record("192.0.2.2", "2"))));
    let kept: Vec<u64> = report.records.iter().map(|r| r.count).collect();
    assert_eq!(kept, [2]);
    assert_eq!(
        warnings(&report),
        ["1 record dropped: more than 32 KiB of text in one record"]
    );
    // Just under the budget, the record stays.
    let fits = record("192.0.2.1", "1").replace(
        "</auth_results>",
        &format!("{}</auth_results>", dkim.repeat(25)),
    );
    assert_eq!(report_of(&fits).records.len(), 1);
}

fn report_of(body: &str) -> AggregateReport {
    report(&with_records(body))
}

#[test]
fn results_beyond_the_list_cap_do_not_count_against_the_record_text() {
    let dkim = "<dkim><domain>example.com</domain><result>pass</result></dkim>";
    let many = record("192.0.2.1", "1").replace(
        "</auth_results>",
        &format!("{}</auth_results>", dkim.repeat(10_000)),
    );
    let report = report_of(&many);
    assert_eq!(report.records.len(), 1);
    assert_eq!(report.records[0].dkim_results.len(), MAX_AUTH_RESULTS);
}
