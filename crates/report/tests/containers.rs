//! Containers and messages: every fixture in `fixtures/archives/` and `fixtures/messages/`
//! (written by `fixtures/generate-containers.py`) through both public entry points, with a
//! snapshot of what each yields.
//!
//! `err-*` fixtures must yield no report and at least one error, `mixed-*` fixtures both
//! reports and errors; every other fixture must yield at least one report (aggregate or
//! failure) and no error. Reading from bytes and streaming from the file
//! must agree.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_report::{
    AggregateReport, Collector, Failure, FailureReport, Limits, TlsReport, read_reports,
    read_reports_from,
};
use serde::Serialize;
use std::path::Path;

/// What one document yields, in a form that snapshots well.
#[derive(Serialize, Debug, PartialEq)]
#[serde(untagged)]
enum Outcome {
    Report {
        member: Option<String>,
        org_name: String,
        report_id: String,
        domain: String,
        records: usize,
        messages: u64,
        warnings: Vec<String>,
    },
    Failed {
        member: Option<String>,
        error: String,
    },
    TlsReport {
        member: Option<String>,
        organization_name: String,
        report_id: String,
        policies: usize,
        warnings: Vec<String>,
    },
    FailureReport {
        member: Option<String>,
        reported_domain: String,
        source_ip: Option<String>,
        auth_failure: Option<String>,
        warnings: Vec<String>,
    },
}

fn summarize_tls_report((member, report): &(Option<String>, TlsReport)) -> Outcome {
    Outcome::TlsReport {
        member: member.clone(),
        organization_name: report.organization_name.clone(),
        report_id: report.report_id.clone(),
        policies: report.policies.len(),
        warnings: report.warnings.iter().map(|w| w.0.clone()).collect(),
    }
}

fn summarize_failure_report((member, report): &(Option<String>, FailureReport)) -> Outcome {
    Outcome::FailureReport {
        member: member.clone(),
        reported_domain: report.reported_domain.to_string(),
        source_ip: report.source_ip.map(|ip| ip.to_string()),
        auth_failure: report.auth_failure.clone(),
        warnings: report.warnings.iter().map(|w| w.0.clone()).collect(),
    }
}

/// Everything a collector holds: aggregate reports and failures in input order, then TLS
/// reports, then failure reports.
fn outcomes_of(collector: &Collector) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = collector.results.iter().map(summarize).collect();
    outcomes.extend(collector.tls_reports.iter().map(summarize_tls_report));
    outcomes.extend(
        collector
            .failure_reports
            .iter()
            .map(summarize_failure_report),
    );
    outcomes
}

fn summarize(result: &Result<AggregateReport, Failure>) -> Outcome {
    match result {
        Ok(report) => Outcome::Report {
            member: report.member.clone(),
            org_name: report.header.metadata.org_name.clone(),
            report_id: report.header.metadata.report_id.clone(),
            domain: report.header.policy.domain.to_string(),
            records: report.records.len(),
            messages: report.records.iter().map(|record| record.count).sum(),
            warnings: report
                .trailer
                .warnings
                .iter()
                .map(|w| w.0.clone())
                .collect(),
        },
        Err(failure) => Outcome::Failed {
            member: failure.member.clone(),
            error: failure.error.to_string(),
        },
    }
}

/// Reads `path` from its bytes and streaming from the file; both must agree.
fn read_both_ways(path: &Path) -> Vec<Outcome> {
    let limits = Limits::default();
    let bytes = std::fs::read(path).unwrap();
    let mut in_memory = Collector::default();
    read_reports(&bytes, &limits, &mut in_memory);
    let mut streamed = Collector::default();
    read_reports_from(std::fs::File::open(path).unwrap(), &limits, &mut streamed);
    let in_memory = outcomes_of(&in_memory);
    let streamed = outcomes_of(&streamed);
    assert_eq!(
        in_memory,
        streamed,
        "{}: bytes and stream disagree",
        path.display()
    );
    in_memory
}

/// Checks the outcomes of one fixture against its name's promise.
fn check(path: &Path) -> Vec<Outcome> {
    let outcomes = read_both_ways(path);
    let name = path.file_name().unwrap().to_string_lossy();
    let reports = outcomes
        .iter()
        .filter(|outcome| {
            matches!(
                outcome,
                Outcome::Report { .. } | Outcome::TlsReport { .. } | Outcome::FailureReport { .. }
            )
        })
        .count();
    let errors = outcomes.len() - reports;
    let expected = if name.starts_with("err-") {
        reports == 0 && errors > 0
    } else if name.starts_with("mixed-") {
        reports > 0 && errors > 0
    } else {
        reports > 0 && errors == 0
    };
    assert!(expected, "{name}: {outcomes:#?}");
    outcomes
}

#[test]
fn archives() {
    insta::glob!("../../../fixtures", "archives/*.{gz,zip,zlib}", |path| {
        insta::assert_yaml_snapshot!(check(path));
    });
}

#[test]
fn messages() {
    insta::glob!("../../../fixtures", "messages/*.eml", |path| {
        insta::assert_yaml_snapshot!(check(path));
    });
}

/// Hostile inputs, generated here rather than committed: each must be refused or read within
/// [`Limits`], quickly and without a panic.
mod hostile {
    use super::*;
    use flate2::{Compress, Compression, Crc, FlushCompress};
    use ruadb_report::{Error, Sink};
    use std::io::{Cursor, Write};
    use std::ops::ControlFlow;
    use std::time::{Duration, Instant};

    const MIB: usize = 1 << 20;

    /// Everything a hostile input may take, on a debug build of a shared 2-core machine.
    const QUICK: Duration = Duration::from_secs(20);

    fn errors_of(input: &[u8], limits: &Limits) -> Vec<Error> {
        let started = Instant::now();
        let results = ruadb_report::parse_reports(input, limits);
        assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
        results
            .into_iter()
            .map(|result| match result {
                Ok(report) => panic!("a hostile input yielded a report: {:?}", report.member),
                Err(failure) => failure.error,
            })
            .collect()
    }

    /// A raw deflate stream of `prefix`, then `chunk` `repeats` times, then `suffix` —
    /// built without compressing all of it: once the window holds only `chunk`, each further
    /// copy compresses to the same block, which is simply repeated.
    fn deflate_repeated(prefix: &[u8], chunk: &[u8], repeats: usize, suffix: &[u8]) -> Vec<u8> {
        assert!(repeats >= 2 && chunk.len() >= 32 * 1024);
        let mut compress = Compress::new(Compression::best(), false);
        let mut piece = |input: &[u8], flush| {
            let mut out = Vec::with_capacity(input.len() + 1024);
            compress.compress_vec(input, &mut out, flush).unwrap();
            out
        };
        let mut out = piece(prefix, FlushCompress::Sync);
        out.extend(piece(chunk, FlushCompress::Sync));
        let block = piece(chunk, FlushCompress::Sync);
        for _ in 1..repeats {
            out.extend_from_slice(&block);
        }
        out.extend(piece(suffix, FlushCompress::Finish));
        out
    }

    /// The bytes `deflate_repeated` expands to, checksummed without holding them.
    fn crc_repeated(prefix: &[u8], chunk: &[u8], repeats: usize, suffix: &[u8]) -> (u32, u64) {
        let mut crc = Crc::new();
        crc.update(prefix);
        for _ in 0..repeats {
            crc.update(chunk);
        }
        crc.update(suffix);
        (crc.sum(), crc.amount() as u64)
    }

    fn gzip_wrap(deflated: &[u8], crc: u32, size: u64) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        out.extend_from_slice(deflated);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(size as u32).to_le_bytes());
        out
    }

    /// A one-member zip archive of deflated data, declaring `declared_size`.
    fn zip_wrap(name: &str, deflated: &[u8], crc: u32, declared_size: u32) -> Vec<u8> {
        let header = |signature: u32, central: bool| {
            let mut h = signature.to_le_bytes().to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            for field in [20u16, 0, 8, 0, 0x21] {
                h.extend_from_slice(&field.to_le_bytes()); // needed, flags, deflate, time, date
            }
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(deflated.len() as u32).to_le_bytes());
            h.extend_from_slice(&declared_size.to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                h.extend_from_slice(&[0; 8]); // comment, disk, internal, external attributes
                h.extend_from_slice(&[0; 4]);
                h.extend_from_slice(&0u32.to_le_bytes()); // local header offset
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        let mut out = header(0x0403_4b50, false);
        out.extend_from_slice(deflated);
        let central_offset = out.len() as u32;
        let central = header(0x0201_4b50, true);
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&central_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    const OPEN: &[u8] = b"<?xml version=\"1.0\"?>\n<feedback>\n";

    /// 1 MiB of empty unknown elements: well-formed, so only the size cap can stop it.
    fn filler() -> Vec<u8> {
        b"<x/>".repeat(MIB / 4)
    }

    fn is_too_large(errors: &[Error]) -> bool {
        matches!(errors, [Error::TooLarge { .. }])
    }

    #[test]
    fn zip_bomb_of_a_gibibyte_of_zeros_is_refused() {
        let zeros = vec![0u8; MIB];
        let deflated = deflate_repeated(&[], &zeros, 1024, &[]);
        let (crc, size) = crc_repeated(&[], &zeros, 1024, &[]);
        assert_eq!(size, 1 << 30);
        let bomb = zip_wrap("report.xml", &deflated, crc, size as u32);
        assert!(bomb.len() < 4 * MIB, "{} bytes", bomb.len());
        // Refused from the declared size, before inflating anything.
        assert!(is_too_large(&errors_of(&bomb, &Limits::default())));
    }

    #[test]
    fn zip_bomb_of_well_formed_xml_is_refused_whatever_size_it_declares() {
        let deflated = deflate_repeated(OPEN, &filler(), 1024, b"</feedback>");
        let (crc, size) = crc_repeated(OPEN, &filler(), 1024, b"</feedback>");
        // Declaring its true size: refused before inflating.
        let honest = zip_wrap("report.xml", &deflated, crc, size as u32);
        assert!(is_too_large(&errors_of(&honest, &Limits::default())));
        // Declaring a small size: the zip reader stops at the declared size.
        let liar = zip_wrap("report.xml", &deflated, crc, 1000);
        let errors = errors_of(&liar, &Limits::default());
        assert!(matches!(errors[..], [Error::Corrupt { .. }]), "{errors:?}");
    }

    #[test]
    fn gzip_bombs_stop_at_the_cap() {
        let zeros = vec![0u8; MIB];
        let deflated = deflate_repeated(&[], &zeros, 1024, &[]);
        let (crc, size) = crc_repeated(&[], &zeros, 1024, &[]);
        let bomb = gzip_wrap(&deflated, crc, size);
        // Zeros are not a report: refused after looking at the first bytes.
        assert!(matches!(
            errors_of(&bomb, &Limits::default())[..],
            [Error::UnknownContent(_)]
        ));
        let deflated = deflate_repeated(OPEN, &filler(), 1024, b"</feedback>");
        let (crc, size) = crc_repeated(OPEN, &filler(), 1024, b"</feedback>");
        let bomb = gzip_wrap(&deflated, crc, size);
        let limits = Limits {
            max_decompressed_bytes: 2 * MIB as u64,
            ..Limits::default()
        };
        assert!(is_too_large(&errors_of(&bomb, &limits)));
        // The same through the streaming entry point.
        let mut collector = Collector::default();
        read_reports_from(Cursor::new(&bomb), &limits, &mut collector);
        assert!(matches!(
            collector.results[..],
            [Err(Failure {
                error: Error::TooLarge { .. },
                ..
            })]
        ));
    }

    #[test]
    fn nested_gzip_is_read_up_to_the_nesting_cap() {
        let report = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/reports/rfc7489-minimal.xml"),
        )
        .unwrap();
        let limits = Limits::default();
        let mut nested = report;
        for _ in 0..limits.max_container_nesting {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(&nested).unwrap();
            nested = encoder.finish().unwrap();
        }
        let results = ruadb_report::parse_reports(&nested, &limits);
        assert!(matches!(results[..], [Ok(_)]), "{results:?}");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(&nested).unwrap();
        let too_deep = encoder.finish().unwrap();
        assert!(matches!(
            errors_of(&too_deep, &limits)[..],
            [Error::Limit {
                what: "containers nested in each other",
                ..
            }]
        ));
    }

    /// `[limits]` accept any number, so the readers bound them: a multipart 5,000 deep under
    /// a depth limit of 100,000,000 stops at the hard bound (100) instead of recursing 5,000
    /// times. Run on a thread with the default 2 MiB stack, as the store's parser thread is.
    #[test]
    fn absurd_limits_are_bounded_so_deep_multiparts_cannot_overflow_the_stack() {
        let limits = Limits {
            max_mime_depth: 100_000_000,
            max_mime_parts: 100_000_000,
            max_container_nesting: 100_000_000,
            ..Limits::default()
        };
        let mut deep = Vec::new();
        for level in 0..5_000 {
            deep.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=l{level}\n\n--l{level}\n")
                    .as_bytes(),
            );
        }
        // The worst case the bounds allow: messages nested as deep as containers may be,
        // each holding multiparts nested as deep as they may be.
        let max = Limits::HARD_MAX;
        let mut nested = b"Content-Type: text/plain\n\nno report here\n".to_vec();
        for message in 0..max.max_container_nesting {
            let mut outer = Vec::new();
            for level in 0..max.max_mime_depth {
                outer.extend_from_slice(
                    format!("Content-Type: multipart/mixed; boundary=m{message}l{level}\n\n--m{message}l{level}\n")
                        .as_bytes(),
                );
            }
            outer.extend_from_slice(b"Content-Type: message/rfc822\n\n");
            outer.extend_from_slice(&nested);
            nested = outer;
        }
        let thread = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || (errors_of(&deep, &limits), errors_of(&nested, &limits)))
            .unwrap();
        let (deep_errors, nested_errors) = thread.join().expect("the reader overflowed its stack");
        assert!(
            matches!(
                deep_errors[..],
                [Error::Limit {
                    what: "MIME multipart nesting depth",
                    limit: 100
                }]
            ),
            "{deep_errors:?}"
        );
        assert_eq!(nested_errors.len(), 1, "{nested_errors:?}");
    }

    /// Two whole reports, each in its own gzip member, one after the other: both are read,
    /// in memory and streamed, and the trailing-data warning still reaches the last one.
    #[test]
    fn concatenated_gzip_members_with_two_reports_yield_both() {
        let gzip = |data: &[u8]| {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        };
        let first = [HEADER, RECORD, b"</feedback>\n"].concat();
        let second = [HEADER, RECORD, RECORD, b"</feedback>\n"]
            .concat()
            .replace_slice(b">big<", b">second<");
        let mut data = [gzip(&first), gzip(&second)].concat();
        data.extend_from_slice(b"\r\n");
        let limits = Limits::default();
        let mut streamed = Collector::default();
        read_reports_from(Cursor::new(&data), &limits, &mut streamed);
        let mut in_memory = Collector::default();
        read_reports(&data, &limits, &mut in_memory);
        for collector in [streamed, in_memory] {
            let reports: Vec<(String, usize, Vec<String>)> = collector
                .results
                .iter()
                .map(|result| {
                    let report = result.as_ref().unwrap();
                    (
                        report.header.metadata.report_id.clone(),
                        report.records.len(),
                        report
                            .trailer
                            .warnings
                            .iter()
                            .map(|w| w.0.clone())
                            .collect(),
                    )
                })
                .collect();
            assert_eq!(
                reports,
                [
                    ("big".to_owned(), 1, vec![]),
                    (
                        "second".to_owned(),
                        2,
                        vec!["2 bytes of trailing data after the gzip stream ignored".to_owned()]
                    )
                ]
            );
        }
    }

    trait ReplaceSlice {
        fn replace_slice(self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }

    impl ReplaceSlice for Vec<u8> {
        fn replace_slice(self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let at = self
                .windows(from.len())
                .position(|window| window == from)
                .unwrap();
            [&self[..at], to, &self[at + from.len()..]].concat()
        }
    }

    #[test]
    fn zip_with_a_hundred_thousand_members_is_refused() {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for index in 0..100_000 {
            writer.start_file(format!("{index}.xml"), options).unwrap();
        }
        let archive = writer.finish().unwrap().into_inner();
        let started = Instant::now();
        let errors = errors_of(&archive, &Limits::default());
        assert!(
            matches!(
                errors[..],
                [Error::Limit {
                    what: "members in one zip archive",
                    limit: 1_000
                }]
            ),
            "{errors:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    fn many_parts(parts: usize) -> Vec<u8> {
        let mut message =
            b"From: a@example.net\nContent-Type: multipart/mixed; boundary=b\n\n".to_vec();
        for index in 0..parts {
            write!(message, "--b\nContent-Type: text/plain\n\npart {index}\n").unwrap();
        }
        message
    }

    #[test]
    fn message_with_ten_thousand_parts_is_refused_or_read_within_limits() {
        let message = many_parts(10_000);
        assert!(matches!(
            errors_of(&message, &Limits::default())[..],
            [Error::Limit {
                what: "MIME parts in one message",
                limit: 1_000
            }]
        ));
        // With the cap raised, the same message is walked to the end: it holds no report.
        let limits = Limits {
            max_mime_parts: 20_000,
            ..Limits::default()
        };
        assert!(matches!(
            errors_of(&message, &limits)[..],
            [Error::NoReport(_)]
        ));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut message = b"From: a@example.net\n".to_vec();
        for level in 0..1_000 {
            write!(
                message,
                "Content-Type: multipart/mixed; boundary=l{level}\n\n--l{level}\n"
            )
            .unwrap();
        }
        assert!(matches!(
            errors_of(&message, &Limits::default())[..],
            [Error::Limit {
                what: "MIME multipart nesting depth",
                ..
            }]
        ));
        let mut xml = b"<feedback>".to_vec();
        xml.extend(b"<a>".repeat(1_000));
        xml.extend(b"</a>".repeat(1_000));
        xml.extend(b"</feedback>");
        assert!(matches!(
            errors_of(&xml, &Limits::default())[..],
            [Error::Limit { .. }]
        ));
    }

    /// Deterministic pseudo-random bytes, starting with a byte no format starts with.
    fn random_bytes(len: usize) -> Vec<u8> {
        let mut rng = ruadb_testgen::Rng::new(0x9E37_79B9_7F4A_7C15);
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            out.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out[0] = 0;
        out
    }

    #[test]
    fn fifty_megabytes_of_random_bytes_are_refused() {
        let random = random_bytes(50 * 1_000_000);
        assert!(matches!(
            errors_of(&random, &Limits::default())[..],
            [Error::UnknownContent(_)]
        ));
        // As a message attachment: the message is over the in-memory cap (32 MiB).
        let mut message =
            b"From: a@example.net\nContent-Type: application/gzip; name=r.gz\nContent-Transfer-Encoding: base64\n\n"
                .to_vec();
        let encoded_len = random.len() / 3 * 4;
        message.reserve(encoded_len);
        for chunk in random.chunks(57) {
            message.extend_from_slice(base64_line(chunk).as_bytes());
        }
        let mut collector = Collector::default();
        read_reports_from(Cursor::new(&message), &Limits::default(), &mut collector);
        assert!(matches!(
            collector.results[..],
            [Err(Failure {
                error: Error::Limit { .. },
                ..
            })]
        ));
        // In memory the message is walked: the attachment is not an archive.
        assert!(matches!(
            errors_of(&message, &Limits::default())[..],
            [Error::NoReport(_)]
        ));
    }

    fn base64_line(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut line = String::with_capacity(80);
        for group in bytes.chunks(3) {
            let word = group.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b))
                << (8 * (3 - group.len()));
            for index in 0..=group.len() {
                line.push(char::from(
                    ALPHABET[(word >> (18 - 6 * index)) as usize & 63],
                ));
            }
            for _ in group.len()..3 {
                line.push('=');
            }
        }
        line.push('\n');
        line
    }

    /// Counts what a sink receives, keeping nothing.
    #[derive(Default)]
    struct Counter {
        reports: u64,
        records: u64,
        failures: Vec<String>,
    }

    impl Sink for Counter {
        fn begin_report(
            &mut self,
            _: Option<&str>,
            _: &ruadb_report::ReportHeader,
        ) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
        fn record(&mut self, _: ruadb_report::Record) -> ControlFlow<()> {
            self.records += 1;
            ControlFlow::Continue(())
        }
        fn end_report(&mut self, _: ruadb_report::ReportTrailer) -> ControlFlow<()> {
            self.reports += 1;
            ControlFlow::Continue(())
        }
        fn report_failed(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()> {
            self.failures.push(format!("{member:?}: {error}"));
            ControlFlow::Continue(())
        }
    }

    const RECORD: &[u8] = b"<record><row><source_ip>192.0.2.1</source_ip><count>1</count>\
        <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>\
        </policy_evaluated></row><identifiers><header_from>example.com</header_from>\
        </identifiers><auth_results><spf><domain>example.com</domain><result>pass</result>\
        </spf></auth_results></record>\n";

    const HEADER: &[u8] = b"<?xml version=\"1.0\"?>\n<feedback><report_metadata>\
        <org_name>example.net</org_name><email>a@example.net</email><report_id>big</report_id>\
        <date_range><begin>1700000000</begin><end>1700086399</end></date_range>\
        </report_metadata><policy_published><domain>example.com</domain><p>none</p>\
        </policy_published>\n";

    /// The peak resident set of this process, in KiB (Linux).
    fn peak_rss_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Size of the big report in MiB: 100 in an optimised build (`cargo test --release`);
    /// an unoptimised parser would take a minute, and memory does not grow with the size
    /// anyway, so debug builds read 16. `RUADB_BIG_REPORT_MIB` overrides both.
    fn big_report_mib() -> usize {
        std::env::var("RUADB_BIG_REPORT_MIB")
            .ok()
            .and_then(|mib| mib.parse().ok())
            .unwrap_or(if cfg!(debug_assertions) { 16 } else { 100 })
    }

    /// Run alone in a child process by `a_100_mb_gzip_report_streams_in_bounded_memory`, so
    /// that the peak it reports is its own.
    #[test]
    #[ignore = "run by a_100_mb_gzip_report_streams_in_bounded_memory in its own process"]
    fn stream_100_mb_report_child() {
        let chunk = RECORD.repeat(MIB / RECORD.len());
        let repeats = big_report_mib();
        let deflated = deflate_repeated(HEADER, &chunk, repeats, b"</feedback>\n");
        let (crc, size) = crc_repeated(HEADER, &chunk, repeats, b"</feedback>\n");
        assert!(size >= (repeats * MIB) as u64 * 99 / 100);
        let gzip = gzip_wrap(&deflated, crc, size);
        drop(deflated);
        let mut counter = Counter::default();
        read_reports_from(Cursor::new(&gzip), &Limits::default(), &mut counter);
        assert_eq!(counter.failures, Vec::<String>::new());
        assert_eq!(counter.reports, 1);
        assert_eq!(counter.records, (repeats * (MIB / RECORD.len())) as u64);
        println!("SIZE_BYTES={size}");
        println!("PEAK_RSS_KIB={}", peak_rss_kib().unwrap_or(0));
    }

    #[test]
    fn a_100_mb_gzip_report_streams_in_bounded_memory() {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "hostile::stream_100_mb_report_child",
                "--ignored",
                "--nocapture",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let Some(peak) = stdout
            .lines()
            .find_map(|line| line.strip_prefix("PEAK_RSS_KIB="))
            .and_then(|kib| kib.trim().parse::<u64>().ok())
        else {
            panic!("no peak reported: {stdout}");
        };
        let size = stdout
            .lines()
            .find_map(|line| line.strip_prefix("SIZE_BYTES="))
            .unwrap_or("?");
        println!("peak RSS streaming a gzip report of {size} bytes: {peak} KiB");
        if peak > 0 {
            assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
        }
    }
}

/// Every fixture, every kept fuzzing regression, and deterministic mutations of them (byte
/// flips, truncations, insertions, deletions, splices) through the same entry points as the
/// fuzz targets in `fuzz/`: nothing may panic or break the sink protocol.
///
/// The default run is a few thousand inputs per stage; `scripts/fuzz.sh` runs the ignored
/// `mutations::for_a_while` for as long as it is told (`RUADB_MUTATE_SECS`) when no nightly
/// toolchain is there for cargo-fuzz.
mod mutations {
    use super::*;
    use ruadb_report::fuzz;
    use ruadb_testgen::Rng;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::time::{Duration, Instant};

    type Stage = (&'static str, fn(&[u8]));

    const STAGES: [Stage; 6] = [
        ("whole", fuzz::whole),
        ("container", fuzz::container),
        ("mime", fuzz::mime),
        ("xml", fuzz::xml),
        ("tlsrpt", fuzz::tlsrpt),
        ("failure", fuzz::failure),
    ];

    /// Fixtures and regression inputs, in a stable order.
    fn seeds() -> Vec<(String, Vec<u8>)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut seeds = Vec::new();
        for dir in [
            "fixtures/reports",
            "fixtures/archives",
            "fixtures/messages",
            "fixtures/tlsrpt",
            "fixtures/failure",
            "fuzz/regressions",
        ] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            let mut paths: Vec<_> = entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.is_file() && !path.ends_with(".gitattributes"))
                .collect();
            paths.sort();
            for path in paths {
                let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
                seeds.push((name, std::fs::read(&path).unwrap()));
            }
        }
        assert!(
            seeds.len() > 80,
            "fixtures not found under {}",
            root.display()
        );
        seeds
    }

    /// Bytes that matter to some layer: magic numbers, markup, MIME and encoding syntax.
    const INTERESTING: &[&[u8]] = &[
        b"\x1f\x8b",
        b"PK\x03\x04",
        b"PK\x05\x06",
        b"\x78\x9c",
        b"<",
        b">",
        b"</",
        b"&",
        b"&#",
        b"\"",
        b"=",
        b"message/feedback-report",
        b"Feedback-Type: auth-failure\r\n",
        b"Sender Domain: ",
        b"@",
        b"=?utf-8?B?",
        b"\r\n",
        b"\n\n",
        b"--",
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\n",
        b"\x00",
        b"\xff",
        b"\xef\xbb\xbf",
        b"<![CDATA[",
        b"<!DOCTYPE x [",
    ];

    fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut data = input.to_vec();
        for _ in 0..=rng.index(3) {
            let len = data.len();
            let at = rng.index(len + 1);
            match rng.index(8) {
                0 if len > 0 => {
                    let at = rng.index(len);
                    data[at] ^= 1 << rng.index(8);
                }
                1 if len > 0 => {
                    let at = rng.index(len);
                    data[at] = rng.next_u64() as u8;
                }
                2 => data.truncate(at),
                3 => {
                    let end = (at + rng.index(64)).min(len);
                    data.drain(at..end);
                }
                4 => {
                    let token = INTERESTING[rng.index(INTERESTING.len())];
                    data.splice(at..at, token.iter().copied());
                }
                5 if !other.is_empty() => {
                    // Splice: this input's head, another's tail.
                    let from = rng.index(other.len());
                    data.truncate(at);
                    data.extend_from_slice(&other[from..]);
                }
                6 if len > 0 => {
                    let start = rng.index(len);
                    let end = (start + rng.index(256)).min(len);
                    let copy = data[start..end].to_vec();
                    data.splice(at..at, copy);
                }
                _ => data.insert(at, rng.next_u64() as u8),
            }
        }
        data
    }

    /// Runs one input through every stage; a panic is saved for replay and reported.
    fn run(label: &str, data: &[u8]) {
        for (stage, entry) in STAGES {
            if catch_unwind(AssertUnwindSafe(|| entry(data))).is_err() {
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mutation-crashes");
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join(format!("{stage}-{:016x}.bin", fingerprint(data)));
                std::fs::write(&path, data).unwrap();
                panic!(
                    "{stage} panicked on {label}; input saved to {}",
                    path.display()
                );
            }
        }
    }

    fn fingerprint(data: &[u8]) -> u64 {
        data.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &b| {
            (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }

    /// Mutates every seed `rounds` times (or until `deadline`); returns the inputs run.
    fn mutate_all(rounds: usize, deadline: Option<Instant>) -> u64 {
        let seeds = seeds();
        let mut rng = Rng::new(0x05EE_D0FD_3A2C);
        let mut runs = 0;
        for (name, data) in &seeds {
            run(name, data);
            runs += 1;
        }
        for round in 0..rounds {
            for (index, (name, data)) in seeds.iter().enumerate() {
                let other = &seeds[(index + 1 + rng.index(seeds.len())) % seeds.len()].1;
                let mutated = mutate(&mut rng, data, other);
                run(&format!("{name} (round {round})"), &mutated);
                runs += 1;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break;
            }
        }
        runs
    }

    #[test]
    fn fixtures_and_mutations_never_panic() {
        let runs = mutate_all(100, None);
        println!("mutation run: {runs} inputs x {} stages", STAGES.len());
        assert!(runs > 8_000);
    }

    #[test]
    #[ignore = "long-running; scripts/fuzz.sh runs it"]
    fn for_a_while() {
        let seconds: u64 = std::env::var("RUADB_MUTATE_SECS")
            .ok()
            .and_then(|secs| secs.parse().ok())
            .unwrap_or(60);
        let runs = mutate_all(
            usize::MAX,
            Some(Instant::now() + Duration::from_secs(seconds)),
        );
        println!(
            "mutation run: {runs} inputs x {} stages in {seconds} s, no panic",
            STAGES.len()
        );
    }
}
