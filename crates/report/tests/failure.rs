//! DMARC failure reports (RFC 6591 ARF, and Exim's text-only notice).
//!
//! - every fixture in `fixtures/failure/` through both public entry points, with a snapshot of
//!   the report read (all fields, before privacy); `err-*` fixtures yield an error and no
//!   report;
//! - conformance over every file in `../shared/corpus/forensic/` (beside the repository; the
//!   environment variable `RUADB_CORPUS_DIR` may name another place), with the expected
//!   values written here, checked by hand against the files; without the corpus the test says
//!   so and passes;
//! - privacy, the original body never kept, and detection inside archives and forwarded mail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_report::{
    Collector, FailurePrivacy, FailureReport, Limits, read_reports, read_reports_from,
};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/failure")
        .join(name)
}

fn corpus_dir() -> PathBuf {
    match std::env::var_os("RUADB_CORPUS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

/// What one input yields: failure reports (with member names) and errors.
fn read(bytes: &[u8]) -> (Vec<(Option<String>, FailureReport)>, Vec<String>) {
    let mut collector = Collector::default();
    read_reports(bytes, &Limits::default(), &mut collector);
    let errors = collector
        .results
        .iter()
        .map(|result| match result {
            Ok(report) => panic!("an aggregate report: {:?}", report.header.metadata),
            Err(failure) => format!("{:?}: {}", failure.member, failure.error),
        })
        .collect();
    (collector.failure_reports, errors)
}

/// [`read`] from the bytes and streaming from the file; both must agree.
fn read_both_ways(path: &Path) -> (Vec<(Option<String>, FailureReport)>, Vec<String>) {
    let in_memory = read(&std::fs::read(path).unwrap());
    let mut streamed = Collector::default();
    read_reports_from(
        std::fs::File::open(path).unwrap(),
        &Limits::default(),
        &mut streamed,
    );
    assert_eq!(
        in_memory.0,
        streamed.failure_reports,
        "{}: bytes and stream disagree",
        path.display()
    );
    in_memory
}

fn only_report(path: &Path) -> FailureReport {
    let (mut reports, errors) = read_both_ways(path);
    assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    assert_eq!(reports.len(), 1, "{}", path.display());
    reports.remove(0).1
}

#[test]
fn fixtures() {
    insta::glob!("../../../fixtures", "failure/*.eml", |path| {
        let name = path.file_name().unwrap().to_string_lossy();
        let (reports, errors) = read_both_ways(path);
        if name.starts_with("err-") {
            assert!(
                reports.is_empty() && !errors.is_empty(),
                "{name}: {reports:?}"
            );
            insta::assert_yaml_snapshot!(errors);
        } else {
            assert!(
                errors.is_empty() && reports.len() == 1,
                "{name}: {errors:?}"
            );
            insta::assert_yaml_snapshot!(reports);
        }
    });
}

#[test]
fn the_original_body_is_never_read_into_a_report() {
    for name in ["arf-dmarc-all-fields.eml", "forwarded-failure-report.eml"] {
        let report = only_report(&fixture(name));
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("SECRET-BODY-TEXT"), "{name}: {json}");
        assert_eq!(report.subject.as_deref(), Some("Your invoice 4711"));
    }
}

#[test]
fn privacy_keeps_domains_and_drops_local_parts_and_subjects_unless_asked() {
    let parsed = only_report(&fixture("arf-dmarc-all-fields.eml"));

    let mut private = parsed.clone();
    private.apply_privacy(FailurePrivacy::default());
    assert_eq!(private.original_mail_from, None);
    assert!(private.original_rcpt_to.is_empty());
    assert_eq!(private.from, None);
    assert_eq!(private.subject, None);
    assert_eq!(private.from_domain.as_deref(), Some("example.com"));
    assert_eq!(private.mail_from_domain.as_deref(), Some("example.com"));
    let rcpt: Vec<&str> = private.rcpt_to_domains.iter().map(|d| d.as_str()).collect();
    assert_eq!(rcpt, ["receiver.example", "other.example"]);
    assert_eq!(
        private.authentication_results.as_deref(),
        Some(
            "mx.receiver.example; dmarc=fail header.from=example.com; spf=fail \
             smtp.mailfrom=example.com; dkim=fail header.d=example.com header.s=sel2023"
        )
    );
    let json = serde_json::to_string(&private).unwrap();
    for private_text in ["billing.alice", "bob@", "carol@", "invoice 4711", "Alice"] {
        assert!(!json.contains(private_text), "{private_text} in {json}");
    }
    for absent_key in [
        "original_mail_from",
        "original_rcpt_to",
        "\"from\"",
        "subject",
    ] {
        assert!(!json.contains(absent_key), "{absent_key} in {json}");
    }

    let mut addresses = parsed.clone();
    addresses.apply_privacy(FailurePrivacy {
        keep_addresses: true,
        keep_subjects: false,
    });
    assert_eq!(
        addresses.original_mail_from.as_deref(),
        Some("billing.alice@example.com")
    );
    assert_eq!(
        addresses.original_rcpt_to,
        ["bob@receiver.example", "carol@other.example"]
    );
    assert_eq!(addresses.from.as_deref(), Some("billing.alice@example.com"));
    assert_eq!(addresses.subject, None);
    assert_eq!(
        addresses.authentication_results,
        parsed.authentication_results
    );

    let mut everything = parsed.clone();
    everything.apply_privacy(FailurePrivacy {
        keep_addresses: true,
        keep_subjects: true,
    });
    assert_eq!(everything, parsed);
}

#[test]
fn found_inside_gzip_zip_mbox_and_forwarded_mail() {
    let message = std::fs::read(fixture("arf-dmarc-all-fields.eml")).unwrap();
    let expected = only_report(&fixture("arf-dmarc-all-fields.eml"));

    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&message).unwrap();
    let gzip = gzip.finish().unwrap();

    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("failure.eml", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&message).unwrap();
    let zip = zip.finish().unwrap().into_inner();

    let mut mbox = b"From ruf@receiver.example Wed Nov 15 06:00:05 2023\n".to_vec();
    mbox.extend_from_slice(&message);

    for (what, input, member) in [
        ("gzip", gzip, None),
        ("zip", zip, Some("failure.eml")),
        ("mbox", mbox, None),
    ] {
        let (reports, errors) = read(&input);
        assert!(errors.is_empty(), "{what}: {errors:?}");
        assert_eq!(reports.len(), 1, "{what}");
        assert_eq!(reports[0].0.as_deref(), member, "{what}");
        assert_eq!(reports[0].1, expected, "{what}");
    }

    let forwarded = only_report(&fixture("forwarded-failure-report.eml"));
    assert_eq!(forwarded, expected);
    let (reports, _) = read_both_ways(&fixture("forwarded-failure-report.eml"));
    assert_eq!(reports[0].0.as_deref(), Some("failure.eml"));
}

/// What the conformance test checks of each corpus file, written by hand from the file.
struct Expected {
    file: &'static str,
    reporter: &'static str,
    arrival: i64,
    source_ip: &'static str,
    reported_domain: &'static str,
    auth_failure: Option<&'static str>,
    from_domain: &'static str,
    dkim_domain: Option<&'static str>,
    dkim_selector: Option<&'static str>,
    delivery_result: Option<&'static str>,
    identity_alignment: Option<&'static str>,
    mail_from_domain: Option<&'static str>,
    message_id: Option<&'static str>,
    date: i64,
    subject: &'static str,
    warnings: &'static [&'static str],
}

const CORPUS: &[Expected] = &[
    Expected {
        file: "mail-auth/003.eml",
        reporter: "example.com",
        // Received-Date: Wed, 14 Apr 2010 12:15:31 -0700 (PDT)
        arrival: 1271272531,
        source_ip: "192.0.2.1",
        reported_domain: "example.net",
        auth_failure: Some("bodyhash"),
        from_domain: "example.net",
        dkim_domain: Some("example.net"),
        dkim_selector: None,
        delivery_result: None,
        identity_alignment: None,
        mail_from_domain: Some("example.net"),
        message_id: None,
        // Date: Wed, 14 Apr 2010 12:12:09 -0700 (PDT)
        date: 1271272329,
        subject: "This is a test",
        warnings: &["no Arrival-Date; Received-Date read instead"],
    },
    Expected {
        file: "mail-auth/004.eml",
        reporter: "box.mydomain.name",
        // No Arrival-Date: the report's Date, Tue,  5 Oct 2021 17:37:02 +1300 (NZDT).
        arrival: 1633408622,
        source_ip: "148.163.85.135",
        reported_domain: "interpublication.org",
        auth_failure: Some("dmarc"),
        from_domain: "interpublication.org",
        dkim_domain: None,
        dkim_selector: None,
        delivery_result: None,
        identity_alignment: None,
        mail_from_domain: Some("interpublication.org"),
        message_id: None,
        // Date: Tue, 5 Oct 2021 06:36:51 +0200
        date: 1633408611,
        subject: "Wir kaufen dein Auto!",
        warnings: &[
            "Source-IP \"148.163.85.135 (sainay.interpublication.org)\" read as 148.163.85.135",
            "no usable Arrival-Date; the report mail's own Date is used",
        ],
    },
    Expected {
        file: "mail-auth/005.eml",
        reporter: "mail.receiver.example",
        // Arrival-Date: 8 Oct 2011 20:15:58 +0000 (GMT)
        arrival: 1318104958,
        source_ip: "192.0.2.1",
        reported_domain: "a.sender.example",
        auth_failure: Some("bodyhash"),
        from_domain: "a.sender.example",
        dkim_domain: Some("sender.example"),
        dkim_selector: Some("testkey"),
        delivery_result: None,
        identity_alignment: None,
        mail_from_domain: Some("a.sender.example"),
        message_id: Some("<87913910.1318094604546@out.sender.example>"),
        // Date: Sat, 8 Oct 2011 16:15:24 -0400 (EDT)
        date: 1318104924,
        subject: "You have a new bill from your bank",
        warnings: &[],
    },
    Expected {
        file: "parsedmarc/DMARC Failure Report for domain.de (mail-from=sharepoint@domain.de, ip=10.10.10.10).eml",
        reporter: "domain.de",
        // Arrival-Date: Mon, 01 Oct 2018 11:20:27 +0200
        arrival: 1538385627,
        source_ip: "10.10.10.10",
        reported_domain: "domain.de",
        auth_failure: Some("dmarc"),
        from_domain: "domain.de",
        dkim_domain: None,
        dkim_selector: None,
        delivery_result: Some("smg-policy-action"),
        identity_alignment: None,
        mail_from_domain: Some("domain.de"),
        message_id: Some("<38.E7.30937.BD6E1BB5@ mailrelay.de>"),
        // Date: 01 Oct 2018 11:20:27 +0200
        date: 1538385627,
        subject: "Subject",
        warnings: &[],
    },
    Expected {
        // The feedback part is base64 with CRLF line ends, and has no Auth-Failure.
        file: "parsedmarc/[Netease DMARC Failure Report] Rent Reminder.eml",
        reporter: "163.com",
        // Arrival-Date: Fri, 28 Sep 2018 16:48:42 +0800
        arrival: 1538124522,
        source_ip: "167.89.69.24",
        reported_domain: "cardinal.com",
        auth_failure: None,
        from_domain: "cardinal.com",
        dkim_domain: Some("entrata.com"),
        dkim_selector: None,
        delivery_result: Some("delivered"),
        identity_alignment: Some("spf,dkim"),
        mail_from_domain: Some("email.entrata.com"),
        message_id: Some("<oguVx1AxQayV5Sv2nYK-rA@ismtpd0007p1las1.sendgrid.net>"),
        // Date: Fri, 28 Sep 2018 04:48:39 -0400
        date: 1538124519,
        subject: "Rent Reminder",
        warnings: &["no Auth-Failure: the kind of failure is not stated"],
    },
    Expected {
        file: "parsedmarc/dmarc_ruf_report_linkedin.eml",
        reporter: "linkedin.com",
        // Arrival-Date: Tue, 30 Apr 2019 02:09:00 +0000
        arrival: 1556590140,
        source_ip: "10.10.10.10",
        reported_domain: "example.com",
        auth_failure: Some("dmarc"),
        from_domain: "example.com",
        dkim_domain: None,
        dkim_selector: None,
        delivery_result: Some("delivered"),
        identity_alignment: None,
        // `Original-Mail-From:` is empty (a null sender).
        mail_from_domain: None,
        message_id: Some("<01010101010101010101010101010101@ABAB01MS0016.someserver.loc>"),
        // Date: Tue, 30 Apr 2019 02:09:09 +0000
        date: 1556590149,
        subject: "Subject line, could be UTF8 encoded",
        warnings: &[],
    },
    Expected {
        file: "parsedmarc/dmarc_ruf_report_linkedin.crlf.eml",
        reporter: "linkedin.com",
        arrival: 1556590140,
        source_ip: "10.10.10.10",
        reported_domain: "example.com",
        auth_failure: Some("dmarc"),
        from_domain: "example.com",
        dkim_domain: None,
        dkim_selector: None,
        delivery_result: Some("delivered"),
        identity_alignment: None,
        mail_from_domain: None,
        message_id: Some("<01010101010101010101010101010101@ABAB01MS0016.someserver.loc>"),
        date: 1556590149,
        subject: "Subject line, could be UTF8 encoded",
        warnings: &[],
    },
    Expected {
        // Exim: no ARF part, the fields in the text and the header pasted below it.
        file: "parsedmarc/exim_plain_text_only_no_arf_part.eml",
        reporter: "node01.mailgate.example.net",
        // Received date: Mon, 07 Apr 2025 23:16:09 +0200
        arrival: 1744060569,
        source_ip: "203.0.113.68",
        reported_domain: "example.com",
        auth_failure: Some("dmarc"),
        from_domain: "example.com",
        dkim_domain: None,
        dkim_selector: None,
        delivery_result: None,
        // SPF Alignment: no, DKIM Alignment: no
        identity_alignment: Some("none"),
        mail_from_domain: None,
        message_id: Some("<134117F8-2145-AECE-9CCA-25FC98731341@example.com>"),
        // Date: Mon, 7 Apr 2025 10:10:06 -0600
        date: 1744042206,
        subject: "Payment from your account.",
        warnings: &[],
    },
];

#[test]
fn corpus_conformance() {
    let dir = corpus_dir().join("forensic");
    if !dir.is_dir() {
        eprintln!(
            "skipped: no failure report corpus at {} (set RUADB_CORPUS_DIR to the corpus)",
            dir.display()
        );
        return;
    }
    let mut files: Vec<String> = Vec::new();
    for source in std::fs::read_dir(&dir).unwrap() {
        let source = source.unwrap();
        for file in std::fs::read_dir(source.path()).unwrap() {
            let file = file.unwrap();
            files.push(format!(
                "{}/{}",
                source.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            ));
        }
    }
    files.sort();
    let mut listed: Vec<String> = CORPUS.iter().map(|e| e.file.to_owned()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "every corpus file has its expected values here"
    );

    for expected in CORPUS {
        let path = dir.join(expected.file);
        let report = only_report(&path);
        let name = expected.file;
        assert_eq!(
            report.reporter.as_deref(),
            Some(expected.reporter),
            "{name}"
        );
        assert_eq!(report.arrival, Some(expected.arrival), "{name}");
        assert_eq!(
            report.source_ip.map(|ip| ip.to_string()).as_deref(),
            Some(expected.source_ip),
            "{name}"
        );
        assert_eq!(
            report.reported_domain.as_str(),
            expected.reported_domain,
            "{name}"
        );
        assert_eq!(
            report.auth_failure.as_deref(),
            expected.auth_failure,
            "{name}"
        );
        assert_eq!(
            report.from_domain.as_deref(),
            Some(expected.from_domain),
            "{name}"
        );
        assert_eq!(
            report.dkim_domain.as_deref(),
            expected.dkim_domain,
            "{name}"
        );
        assert_eq!(
            report.dkim_selector.as_deref(),
            expected.dkim_selector,
            "{name}"
        );
        assert_eq!(
            report.delivery_result.as_deref(),
            expected.delivery_result,
            "{name}"
        );
        assert_eq!(
            report.identity_alignment.as_deref(),
            expected.identity_alignment,
            "{name}"
        );
        assert_eq!(
            report.mail_from_domain.as_deref(),
            expected.mail_from_domain,
            "{name}"
        );
        assert_eq!(report.message_id.as_deref(), expected.message_id, "{name}");
        assert_eq!(report.date, Some(expected.date), "{name}");
        assert_eq!(report.subject.as_deref(), Some(expected.subject), "{name}");
        let warnings: Vec<&str> = report.warnings.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(warnings, expected.warnings, "{name}");
        // The body of the original message never reaches the report.
        let json = serde_json::to_string(&report).unwrap();
        for body_text in ["Hi, just making sure", "HTML Text", "MS Exchange Server"] {
            assert!(!json.contains(body_text), "{name}: {body_text}");
        }
    }
}

/// What the store keeps of a failure report, [`FailureReport::render`], reads back into the
/// same report (warnings aside), private or not: for every fixture and corpus file.
#[test]
fn a_rendered_report_reads_back_the_same() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("err-")
        })
        .collect();
    let corpus = corpus_dir().join("forensic");
    paths.extend(
        CORPUS
            .iter()
            .map(|expected| corpus.join(expected.file))
            .filter(|p| p.is_file()),
    );
    let everything = FailurePrivacy {
        keep_addresses: true,
        keep_subjects: true,
    };
    for path in &paths {
        for privacy in [FailurePrivacy::default(), everything] {
            let mut kept = only_report(path);
            kept.apply_privacy(privacy);
            let rendered = kept.render();
            let (mut again, errors) = read(&rendered);
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            assert_eq!(again.len(), 1, "{}", path.display());
            let mut again = again.remove(0).1;
            again.apply_privacy(privacy);
            kept.warnings.clear();
            again.warnings.clear();
            assert_eq!(
                again,
                kept,
                "{} ({privacy:?}) rendered as\n{}",
                path.display(),
                String::from_utf8_lossy(&rendered)
            );
        }
    }
    assert!(paths.len() >= 6, "{paths:?}");
}
