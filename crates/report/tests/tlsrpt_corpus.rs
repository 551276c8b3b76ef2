//! Conformance over the real SMTP TLS reports in `../shared/corpus/smtp-tls/` (beside the
//! repository; `RUADB_CORPUS` names another place). The expected values below were read off
//! each file by hand. Without the corpus the test says so and passes.

use ruadb_report::{Collector, Limits, TlsPolicyType, TlsReport, read_reports, read_reports_from};
use std::path::PathBuf;

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("RUADB_CORPUS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
        PathBuf::from,
    );
    dir.join("smtp-tls").is_dir().then_some(dir)
}

/// One policy: type, domain, successful and failed sessions, failure details, and the sum of
/// their failed sessions.
type PolicyFacts = (&'static str, Option<&'static str>, u64, u64, usize, u64);

/// One file's report: org, id, begin, end, its policies, and the number of warnings.
struct Expected {
    file: &'static str,
    org: &'static str,
    report_id: &'static str,
    begin: i64,
    end: i64,
    policies: &'static [PolicyFacts],
    warnings: usize,
}

const RFC_EXAMPLE: &[PolicyFacts] = &[("sts", Some("company-y.example"), 5326, 303, 3, 303)];

const EXPECTED: &[Expected] = &[
    Expected {
        file: "dmarc-report-viewer/google.json",
        org: "Google Inc.",
        report_id: "2025-05-22T00:00:00Z_foo-bar.io",
        begin: 1_747_872_000,
        end: 1_747_958_399,
        policies: &[("sts", Some("foo-bar.io"), 1, 0, 0, 0)],
        warnings: 0,
    },
    Expected {
        file: "dmarc-report-viewer/microsoft.json",
        org: "Microsoft Corporation",
        report_id: "133925885310113267+random.net",
        begin: 1_747_958_400,
        end: 1_748_044_799,
        policies: &[
            ("sts", Some("random.net"), 2, 0, 0, 0),
            ("tlsa", Some("random.net"), 2, 0, 0, 0),
        ],
        warnings: 0,
    },
    Expected {
        file: "dmarc-report-viewer/no-contact.json",
        org: "server.com",
        report_id: "123_456",
        begin: 1_768_089_600,
        end: 1_768_176_000,
        policies: &[("sts", Some("server.com"), 1, 0, 0, 0)],
        // contact-info is null.
        warnings: 1,
    },
    Expected {
        file: "dmarc-report-viewer/no-policy.json",
        org: "Google Inc.",
        report_id: "2025-03-27T00:00:00Z_foo-bar.io",
        begin: 1_743_033_600,
        end: 1_743_119_999,
        policies: &[("no-policy-found", Some("foo-bar.io"), 1, 0, 0, 0)],
        warnings: 0,
    },
    Expected {
        file: "dmarc-report-viewer/no_ip_and_mx.json",
        org: "Microsoft Corporation",
        report_id: "1234567890+",
        begin: 1_749_859_200,
        end: 1_749_945_599,
        policies: &[("sts", Some("xxxxxxxx.xx"), 0, 3, 1, 3)],
        warnings: 0,
    },
    Expected {
        file: "dmarc-report-viewer/rfc-example.json",
        org: "Company-X",
        report_id: "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
        begin: 1_459_468_800,
        end: 1_459_555_199,
        policies: RFC_EXAMPLE,
        warnings: 0,
    },
    Expected {
        file: "mail-auth/rpt01.eml",
        org: "Company-X",
        report_id: "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
        begin: 1_459_468_800,
        end: 1_459_555_199,
        policies: RFC_EXAMPLE,
        warnings: 0,
    },
    Expected {
        file: "mail-auth/rpt01.json",
        org: "Company-X",
        report_id: "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
        begin: 1_459_468_800,
        end: 1_459_555_199,
        policies: RFC_EXAMPLE,
        warnings: 0,
    },
    Expected {
        file: "mail-auth/rpt02.eml",
        org: "Google Inc.",
        report_id: "2020-01-01T00:00:00Z_example.com",
        begin: 1_577_836_800,
        end: 1_578_441_599,
        policies: &[("sts", Some("example.com"), 23, 1, 1, 1)],
        warnings: 0,
    },
    Expected {
        file: "mail-auth/rpt02.json",
        org: "Google Inc.",
        report_id: "2020-01-01T00:00:00Z_example.com",
        begin: 1_577_836_800,
        end: 1_578_441_599,
        policies: &[("sts", Some("example.com"), 23, 1, 1, 1)],
        warnings: 0,
    },
    Expected {
        file: "mail-auth/rpt03.json",
        org: "Google Inc.",
        report_id: "2019-04-14T00:00:00Z_example.org",
        begin: 1_555_200_000,
        end: 1_555_286_399,
        // Neither policy names its domain nor its failure count; the second's type is bogus.
        policies: &[
            ("no-policy-found", None, 1, 0, 0, 0),
            ("invalid-policy-type", None, 1, 0, 0, 0),
        ],
        warnings: 5,
    },
    Expected {
        file: "parsedmarc/google.com_smtp_tls_report.eml",
        org: "Google Inc.",
        report_id: "2024-09-03T00:00:00Z_cardinalhealth.ca",
        begin: 1_725_321_600,
        end: 1_725_407_999,
        policies: &[("no-policy-found", Some("cardinalhealth.ca"), 48, 0, 0, 0)],
        warnings: 0,
    },
    Expected {
        file: "parsedmarc/mail.ru.json",
        org: "Mail.ru",
        report_id: "b28254de-7b2e-be36-bb5c-4c3b92da8b25@mail.ru",
        begin: 1_708_560_000,
        end: 1_708_646_400,
        // Two details of 1 session each under a total of 1: kept as reported.
        policies: &[("sts", Some("example.com"), 0, 1, 2, 2)],
        warnings: 0,
    },
    Expected {
        file: "parsedmarc/rfc8460.json",
        org: "Company-X",
        report_id: "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
        begin: 1_459_468_800,
        end: 1_459_555_199,
        policies: RFC_EXAMPLE,
        // mx-host is one string, not a list.
        warnings: 1,
    },
    Expected {
        file: "parsedmarc/smtp_tls.json",
        org: "Example Inc.",
        report_id: "2024-01-09T00:00:00Z_example.com",
        begin: 1_704_758_400,
        end: 1_704_844_799,
        policies: &[("sts", Some("example.com"), 0, 3, 2, 3)],
        warnings: 0,
    },
];

fn only_report(collector: Collector, file: &str) -> TlsReport {
    assert!(
        collector.results.is_empty(),
        "{file}: {:?}",
        collector.results
    );
    let mut reports = collector.tls_reports;
    assert_eq!(reports.len(), 1, "{file}");
    reports.remove(0).1
}

#[test]
fn every_smtp_tls_corpus_file_yields_its_report() {
    let Some(dir) = corpus_dir() else {
        println!("SKIPPED SMTP TLS corpus conformance: the corpus is not beside the repository");
        return;
    };
    let mut files: Vec<String> = Vec::new();
    for source in std::fs::read_dir(dir.join("smtp-tls")).unwrap() {
        let source = source.unwrap().path();
        for file in std::fs::read_dir(&source).unwrap() {
            let file = file.unwrap().path();
            files.push(
                file.strip_prefix(dir.join("smtp-tls"))
                    .unwrap()
                    .display()
                    .to_string(),
            );
        }
    }
    files.sort();
    let mut listed: Vec<&str> = EXPECTED.iter().map(|e| e.file).collect();
    listed.sort();
    assert_eq!(files, listed, "every corpus file has its expected values");

    for expected in EXPECTED {
        let path = dir.join("smtp-tls").join(expected.file);
        let bytes = std::fs::read(&path).unwrap();
        let mut in_memory = Collector::default();
        read_reports(&bytes, &Limits::default(), &mut in_memory);
        let mut streamed = Collector::default();
        read_reports_from(
            std::fs::File::open(&path).unwrap(),
            &Limits::default(),
            &mut streamed,
        );
        let report = only_report(in_memory, expected.file);
        assert_eq!(
            report,
            only_report(streamed, expected.file),
            "{}",
            expected.file
        );

        assert_eq!(report.organization_name, expected.org, "{}", expected.file);
        assert_eq!(report.report_id, expected.report_id, "{}", expected.file);
        assert_eq!(
            (report.begin, report.end),
            (expected.begin, expected.end),
            "{}",
            expected.file
        );
        let policies: Vec<(String, Option<String>, u64, u64, usize, u64)> = report
            .policies
            .iter()
            .map(|p| {
                (
                    p.policy_type.as_str().to_owned(),
                    p.policy_domain.as_ref().map(|d| d.to_string()),
                    p.successful_sessions,
                    p.failed_sessions,
                    p.failure_details.len(),
                    p.failure_details.iter().map(|d| d.failed_sessions).sum(),
                )
            })
            .collect();
        let want: Vec<(String, Option<String>, u64, u64, usize, u64)> = expected
            .policies
            .iter()
            .map(|(t, d, s, f, n, sum)| ((*t).to_owned(), d.map(str::to_owned), *s, *f, *n, *sum))
            .collect();
        assert_eq!(policies, want, "{}", expected.file);
        assert_eq!(
            report.warnings.len(),
            expected.warnings,
            "{}: {:?}",
            expected.file,
            report.warnings
        );
    }

    // Field by field, one report with every kind of failure detail (RFC 8460's example).
    let rfc = {
        let bytes = std::fs::read(dir.join("smtp-tls/parsedmarc/rfc8460.json")).unwrap();
        let mut collector = Collector::default();
        read_reports(&bytes, &Limits::default(), &mut collector);
        only_report(collector, "rfc8460.json")
    };
    assert_eq!(
        rfc.contact_info.as_deref(),
        Some("sts-reporting@company-x.example")
    );
    let policy = &rfc.policies[0];
    assert_eq!(policy.policy_type, TlsPolicyType::Sts);
    assert_eq!(policy.mx_hosts, ["*.mail.company-y.example"]);
    assert_eq!(policy.policy_strings.len(), 4);
    let second = &policy.failure_details[1];
    assert_eq!(second.result_type, "starttls-not-supported");
    assert_eq!(
        second.sending_mta_ip,
        Some("2001:db8:abcd:13::1".parse().unwrap())
    );
    assert_eq!(
        second.receiving_mx_hostname.as_deref(),
        Some("mx2.mail.company-y.example")
    );
    assert_eq!(second.receiving_ip, Some("203.0.113.56".parse().unwrap()));
    assert_eq!(second.failed_sessions, 200);
    assert_eq!(
        second.additional_information.as_deref(),
        Some("https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported")
    );
    assert_eq!(
        policy.failure_details[2].failure_reason_code.as_deref(),
        Some("X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED")
    );
    println!("SMTP TLS corpus conformance: {} files pass", EXPECTED.len());
}
