//! Hostile failure reports: a huge header block, an endless folded line and 10,000 MIME parts
//! are each refused or read within the caps, quickly, without a panic, and the whole set in
//! under 64 MiB peak RSS. One test in its own binary, so the peak is this test's own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_report::{Collector, Error, Limits, MAX_FIELD_BYTES, MAX_HEADER_FIELDS, read_reports};
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

/// Everything a hostile input may take, on a debug build of a shared 2-core machine.
const QUICK: Duration = Duration::from_secs(20);

/// An ARF message whose feedback part is `feedback` and whose original header is
/// `original`, the two written straight into the message (allocated once: building the input
/// must not put the peak in the test rather than the parser).
fn arf(feedback: impl FnOnce(&mut Vec<u8>), original: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut message = Vec::with_capacity(25 * MIB);
    message.extend_from_slice(
        b"From: ruf@receiver.example\r\nDate: Wed, 15 Nov 2023 06:00:05 +0000\r\n\
        Content-Type: multipart/report; report-type=feedback-report; boundary=\"h\"\r\n\r\n\
        --h\r\nContent-Type: message/feedback-report\r\n\r\n",
    );
    message.extend_from_slice(FEEDBACK);
    feedback(&mut message);
    message.extend_from_slice(b"\r\n--h\r\nContent-Type: text/rfc822-headers\r\n\r\n");
    message.extend_from_slice(b"From: someone@example.com\r\nSubject: hello\r\n");
    original(&mut message);
    message.extend_from_slice(b"\r\n--h--\r\n");
    message
}

const FEEDBACK: &[u8] = b"Feedback-Type: auth-failure\r\nSource-IP: 192.0.2.1\r\n\
    Reported-Domain: example.com\r\nAuth-Failure: dmarc\r\n";

fn read(input: &[u8]) -> Collector {
    let started = Instant::now();
    let mut collector = Collector::default();
    read_reports(input, &Limits::default(), &mut collector);
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    collector
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn hostile_failure_reports_are_bounded() {
    // A 24 MiB original header of one-line fields: the first MAX_HEADER_FIELDS are kept.
    let input = arf(
        |_| {},
        |message| {
            let mut index = 0u64;
            while message.len() < 24 * MIB {
                message.extend_from_slice(format!("X-Field-{index}: value {index}\r\n").as_bytes());
                index += 1;
            }
        },
    );
    let collector = read(&input);
    drop(input);
    let [(_, report)] = collector.failure_reports.as_slice() else {
        panic!("{:?}", collector.results);
    };
    assert_eq!(report.from_domain.as_deref(), Some("example.com"));
    let warning = format!("header fields beyond the first {MAX_HEADER_FIELDS} ignored");
    assert!(
        report.warnings.iter().any(|w| w.0.contains(&warning)),
        "{:?}",
        report.warnings
    );

    // One Authentication-Results field folded over 24 MiB: cut at MAX_FIELD_BYTES.
    let input = arf(
        |message| {
            message.extend_from_slice(b"Authentication-Results: mx.receiver.example;\r\n");
            while message.len() < 24 * MIB {
                message.extend_from_slice(b"\tdkim=fail header.d=example.com\r\n");
            }
        },
        |_| {},
    );
    let collector = read(&input);
    drop(input);
    let [(_, report)] = collector.failure_reports.as_slice() else {
        panic!("{:?}", collector.results);
    };
    let results = report.authentication_results.as_deref().unwrap();
    assert!(results.len() <= MAX_FIELD_BYTES, "{}", results.len());
    assert!(report.warnings.iter().any(|w| w.0.contains("cut short")));

    // 10,000 MIME parts, the feedback part last: refused at the part cap.
    let mut many = b"From: ruf@receiver.example\r\n\
        Content-Type: multipart/report; report-type=feedback-report; boundary=\"m\"\r\n\r\n"
        .to_vec();
    for _ in 0..9_999 {
        many.extend_from_slice(b"--m\r\nContent-Type: text/plain\r\n\r\nfiller\r\n");
    }
    many.extend_from_slice(b"--m\r\nContent-Type: message/feedback-report\r\n\r\n");
    many.extend_from_slice(FEEDBACK);
    many.extend_from_slice(b"--m--\r\n");
    let collector = read(&many);
    assert!(collector.failure_reports.is_empty());
    let [Err(failure)] = collector.results.as_slice() else {
        panic!("{:?}", collector.results);
    };
    assert!(
        matches!(
            failure.error,
            Error::Limit {
                what: "MIME parts in one message",
                ..
            }
        ),
        "{}",
        failure.error
    );

    let peak = peak_rss_kib();
    eprintln!("peak RSS of the hostile failure reports: {peak} KiB");
    assert!(peak <= 64 * 1024, "peak RSS {peak} KiB");
}
