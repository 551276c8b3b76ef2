//! Unit tests of the advice rules and of `compute` on hand-built data. The end-to-end tests
//! over a real database are in `crates/store/tests/summary.rs`.

use super::compute::{ClassRowsFolded, Dataset, compute, compute_with};
use super::*;
use ruadb_report::{AlignmentMode, Disposition, Testing};
use ruadb_store::classify::RecordFacts;
use ruadb_store::{RecordRow, ReportRow};
use std::collections::BTreeSet;

fn source(ip: &str, class: Classification, messages: u64, dmarc_pass: u64) -> SourceAggregate {
    SourceAggregate {
        summary: SourceSummary {
            identity: Default::default(),
            source_ip: ip.to_owned(),
            messages,
            dmarc_pass,
            dmarc_pass_rate: rate(dmarc_pass, messages),
            spf_aligned: 0,
            dkim_aligned: dmarc_pass,
            classification: class,
            advice: None,
            new: false,
            dkim: Vec::new(),
            spf: Vec::new(),
            reporters: Vec::new(),
        },
        spf_pass_domains: BTreeSet::new(),
        dkim_pass_domains: BTreeSet::new(),
    }
}

fn names(names: &[&str]) -> BTreeSet<std::sync::Arc<str>> {
    names.iter().map(|&name| name.into()).collect()
}

fn policy(p: &str) -> PublishedPolicy {
    PublishedPolicy {
        p: Some(Policy::from_xml(p)),
        ..PublishedPolicy::default()
    }
}

fn week() -> Period {
    Period::iso_week(2026, 47).unwrap()
}

#[test]
fn misaligned_advice_names_what_passed() {
    let mut esp = source("203.0.113.7", Classification::Misaligned, 10, 0);
    esp.spf_pass_domains = names(&["bounce.esp.example.net"]);
    esp.dkim_pass_domains = names(&["esp.example.net"]);
    assert_eq!(
        advice::for_source("example.com", &esp, Some(&Policy::None)).unwrap(),
        "203.0.113.7 — SPF passes for bounce.esp.example.net and DKIM passes for \
         esp.example.net, neither aligned with example.com: set a custom return-path under \
         example.com or sign with d=example.com"
    );

    esp.dkim_pass_domains.clear();
    assert_eq!(
        advice::for_source("example.com", &esp, None).unwrap(),
        "203.0.113.7 — SPF passes for bounce.esp.example.net, not aligned with example.com, \
         and no DKIM signature passes: set a custom return-path under example.com or sign \
         with d=example.com"
    );

    esp.spf_pass_domains.clear();
    esp.dkim_pass_domains = names(&[
        "a.example.net",
        "b.example.net",
        "c.example.net",
        "d.example.net",
    ]);
    assert_eq!(
        advice::for_source("example.com", &esp, None).unwrap(),
        "203.0.113.7 — DKIM passes for a.example.net, b.example.net, c.example.net and 1 \
         more, not aligned with example.com, and SPF does not pass: sign with d=example.com, \
         or set a custom return-path under example.com and add this sender to its SPF record"
    );
}

#[test]
fn unauthenticated_advice_depends_on_the_policy() {
    let spoofer = source("198.51.100.9", Classification::Unauthenticated, 3, 0);
    assert_eq!(
        advice::for_source("example.com", &spoofer, Some(&Policy::None)).unwrap(),
        "198.51.100.9 — no SPF or DKIM pass: if this is yours, add it to SPF or sign it with \
         DKIM; if not, it is spoofing that p=reject would stop"
    );
    assert!(
        advice::for_source("example.com", &spoofer, Some(&Policy::Reject))
            .unwrap()
            .ends_with("your p=reject already asks receivers to refuse it")
    );
}

#[test]
fn no_advice_for_aligned_forwarded_or_silent_sources() {
    for class in [Classification::Aligned, Classification::Forwarded] {
        assert_eq!(
            advice::for_source("example.com", &source("192.0.2.1", class, 9, 0), None),
            None
        );
    }
    let empty = source("192.0.2.1", Classification::Unauthenticated, 0, 0);
    assert_eq!(advice::for_source("example.com", &empty, None), None);
}

#[test]
fn readiness_needs_98_percent_of_own_mail() {
    let window = week().trailing_weeks(4);
    // 98 of 100 own messages aligned: exactly the threshold.
    let sources = [
        (Classification::Aligned, 98, 98),
        (Classification::Misaligned, 2, 0),
        (Classification::Forwarded, 500, 0),
        (Classification::Unauthenticated, 10, 0),
    ];
    let readiness = advice::readiness(window, &sources, Some(&policy("none"))).unwrap();
    assert_eq!((readiness.own_messages, readiness.own_aligned), (100, 98));
    assert_eq!(readiness.ready_for, Some(Policy::Quarantine));
    // Forwarded mail is not what p=reject would reject; the spoofing is.
    assert_eq!(readiness.would_reject, 12);
    assert_eq!(readiness.messages, 610);
    assert!(
        advice::for_readiness(&readiness)
            .unwrap()
            .starts_with("Ready for p=quarantine: 98.0%")
    );

    // Under p=quarantine the next step is p=reject.
    let readiness = advice::readiness(window, &sources, Some(&policy("quarantine"))).unwrap();
    assert_eq!(readiness.ready_for, Some(Policy::Reject));

    // 97 of 100 is not enough.
    let sources = [
        (Classification::Aligned, 97, 97),
        (Classification::Misaligned, 3, 0),
    ];
    let readiness = advice::readiness(window, &sources, Some(&policy("none"))).unwrap();
    assert_eq!(readiness.ready_for, None);
    assert!(
        advice::for_readiness(&readiness)
            .unwrap()
            .starts_with("Not ready to go beyond p=none: 97.0%")
    );
    // Already at p=reject but misaligned: say that receivers refuse real mail.
    let readiness = advice::readiness(window, &sources, Some(&policy("reject"))).unwrap();
    assert!(
        advice::for_readiness(&readiness)
            .unwrap()
            .starts_with("p=reject is published but")
    );
}

#[test]
fn readiness_says_nothing_without_own_mail_or_at_a_healthy_reject() {
    let window = week().trailing_weeks(4);
    let spoofing = [(Classification::Unauthenticated, 10, 0)];
    let readiness = advice::readiness(window, &spoofing, Some(&policy("none"))).unwrap();
    assert_eq!(readiness.own_aligned_rate, None);
    assert_eq!(advice::for_readiness(&readiness), None);
    let healthy = [(Classification::Aligned, 10, 10)];
    let readiness = advice::readiness(window, &healthy, Some(&policy("reject"))).unwrap();
    assert_eq!(readiness.ready_for, None);
    assert_eq!(advice::for_readiness(&readiness), None);
    assert_eq!(advice::readiness(window, &[], None), None);
}

fn report(org: &str, domain: &str, begin: i64, p: &str) -> ReportRow {
    ReportRow {
        org: org.to_owned(),
        policy_domain: domain.to_owned(),
        begin,
        end: begin + period::DAY - 1,
        policy: PublishedPolicy {
            p: Some(Policy::from_xml(p)),
            ..PublishedPolicy::default()
        },
    }
}

fn record(report: usize, ip: &str, messages: u64, facts: RecordFacts) -> (usize, RecordRow) {
    let record = RecordRow {
        source_ip: ip.to_owned(),
        messages,
        disposition: Disposition::None,
        dmarc_pass: facts.dmarc_pass,
        spf_aligned: false,
        dkim_aligned: facts.dmarc_pass,
        facts,
        dkim: Vec::new(),
        spf: Vec::new(),
        helo_domains: Vec::new(),
    };
    (report, record)
}

#[test]
fn new_sources_need_a_baseline() {
    let aligned = RecordFacts {
        dmarc_pass: true,
        ..RecordFacts::default()
    };
    let start = week().start;
    let mut data = Dataset {
        reports: vec![report("r.example", "example.com", start, "none")],
        records: vec![record(0, "192.0.2.1", 5, aligned)],
    };
    // First week in the database: nothing is "new", there is nothing to compare with.
    let summary = compute(week(), None, &data);
    assert_eq!(summary.domains[0].baseline_reports, 0);
    assert!(summary.domains[0].new_sources.is_empty());
    assert!(render_text(&summary).contains("(no reports in those weeks to compare with)"));

    data.reports.push(report(
        "r.example",
        "example.com",
        start - 3 * period::DAY,
        "none",
    ));
    data.records.push(record(1, "192.0.2.2", 5, aligned));
    let summary = compute(week(), None, &data);
    let new: Vec<&str> = summary.domains[0]
        .new_sources
        .iter()
        .map(|s| s.source_ip.as_str())
        .collect();
    assert_eq!(new, ["192.0.2.1"]);
    assert_eq!(summary.domains[0].previous.messages, 5);
}

#[test]
fn rows_of_the_weeks_before_give_the_same_summary_however_they_are_folded() {
    let aligned = RecordFacts {
        dmarc_pass: true,
        ..RecordFacts::default()
    };
    let unauthenticated = RecordFacts::default();
    let start = week().start;
    let mut data = Dataset::default();
    // Addresses seen in the period and before, before only, in the period only; a long IPv6
    // address (not packed); classes that differ from day to day, so the readiness window's
    // winner of an address is a sum over its days; two domains.
    let addresses = [
        "192.0.2.1",
        "192.0.2.2",
        "2001:db8:ffff:ffff:ffff:ffff:ffff:1",
        "2001:db8::2",
    ];
    for (day, domain) in (-27..7).flat_map(|day| [(day, "example.com"), (day, "example.org")]) {
        let index = data.reports.len();
        data.reports.push(report(
            "r.example",
            domain,
            start + day * period::DAY,
            "none",
        ));
        for (place, address) in addresses.iter().enumerate() {
            let skip = (day + place as i64).rem_euclid(3) == 0 || (place == 3 && day < 0);
            if skip {
                continue;
            }
            let facts = if (day + place as i64) % 2 == 0 {
                aligned
            } else {
                unauthenticated
            };
            let messages = 1 + (day.unsigned_abs() + place as u64) % 5;
            data.records.push(record(index, address, messages, facts));
        }
    }
    let at_the_end = compute_with(week(), None, &data, ClassRowsFolded::AtTheEnd);
    let domain = &at_the_end.domains[0];
    assert!(domain.readiness.is_some());
    assert!(domain.baseline_reports > 0);
    let new: Vec<&str> = domain
        .new_sources
        .iter()
        .map(|source| source.source_ip.as_str())
        .collect();
    assert_eq!(new, ["2001:db8::2"]);
    for folded in [ClassRowsFolded::EachAsItComes, ClassRowsFolded::ReadWhole] {
        assert_eq!(
            compute_with(week(), None, &data, folded),
            at_the_end,
            "{folded:?}"
        );
    }
}

#[test]
fn domains_are_those_with_reports_now_or_in_the_baseline() {
    let start = week().start;
    let data = Dataset {
        reports: vec![
            report("r.example", "b.example", start, "none"),
            report("r.example", "a.example", start - 20 * period::DAY, "none"),
            report("r.example", "old.example", start - 60 * period::DAY, "none"),
        ],
        records: Vec::new(),
    };
    let summary = compute(week(), None, &data);
    let domains: Vec<&str> = summary.domains.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(domains, ["a.example", "b.example"]);
    let a = &summary.domains[0];
    assert_eq!(a.totals.reports, 0);
    assert_eq!(a.silent_reporters.len(), 1);
    assert!(render_markdown(&summary).contains("No reports received for a.example"));
}

#[test]
fn policy_changes_ignore_tags_one_format_lacks() {
    let legacy = PublishedPolicy {
        p: Some(Policy::None),
        pct: Some(100),
        ..PublishedPolicy::default()
    };
    let bis = PublishedPolicy {
        p: Some(Policy::None),
        sp: Some(Policy::None),
        np: Some(Policy::Reject),
        testing: Some(Testing::No),
        adkim: Some(AlignmentMode::Relaxed),
        ..PublishedPolicy::default()
    };
    assert!(!legacy.conflicts_with(&bis));
    assert!(!bis.conflicts_with(&legacy));
    let stricter = PublishedPolicy {
        sp: Some(Policy::Quarantine),
        ..legacy.clone()
    };
    assert!(legacy.conflicts_with(&stricter), "sp added: no longer as p");
    let strict_dkim = PublishedPolicy {
        adkim: Some(AlignmentMode::Strict),
        ..legacy.clone()
    };
    assert!(legacy.conflicts_with(&strict_dkim));
    let half = PublishedPolicy {
        pct: Some(50),
        ..legacy.clone()
    };
    assert!(legacy.conflicts_with(&half));
    assert!(!half.conflicts_with(&bis), "RFC 9990 has no pct to compare");
}

#[test]
fn long_lists_are_cut_in_text_and_markdown_but_not_in_json() {
    let start = week().start;
    let mut data = Dataset {
        reports: vec![report("r.example", "example.com", start, "none")],
        records: Vec::new(),
    };
    for index in 0..25u64 {
        let ip = format!("203.0.113.{index}");
        data.records
            .push(record(0, &ip, 100 + index, RecordFacts::default()));
    }
    let aligned = RecordFacts {
        dmarc_pass: true,
        ..RecordFacts::default()
    };
    data.records.push(record(0, "192.0.2.1", 100_000, aligned));
    let summary = compute(week(), None, &data);
    let domain = &summary.domains[0];
    assert_eq!(domain.sources.len(), 26);
    assert_eq!(domain.advice.len(), 26, "readiness line and one per source");
    let text = render_text(&summary);
    assert!(text.contains("203.0.113.24"), "largest shown");
    assert!(!text.contains("203.0.113.0 "), "smallest cut");
    assert!(
        text.contains("… and 15 more unauthenticated sources (1,605 messages); --format json"),
        "{text}"
    );
    assert!(text.contains("… and 15 more lines of advice"), "{text}");
    let markdown = render_markdown(&summary);
    assert!(markdown.contains("… and 15 more unauthenticated sources (1,605 messages)"));
    assert!(markdown.contains("… and 15 more lines of advice"));
}

#[test]
fn absurd_counts_saturate_instead_of_overflowing() {
    let start = week().start;
    let data = Dataset {
        reports: vec![report("r.example", "example.com", start, "none")],
        records: vec![
            record(0, "203.0.113.1", u64::MAX, RecordFacts::default()),
            record(0, "203.0.113.2", u64::MAX, RecordFacts::default()),
        ],
    };
    let summary = compute(week(), None, &data);
    assert_eq!(summary.domains[0].totals.messages, u64::MAX);
    assert!(render_text(&summary).contains("18,446,744,073,709,551,615"));
    render_markdown(&summary);
}

#[test]
fn many_distinct_policies_are_summarised_in_linear_time() {
    // Hostile reporters can show a different policy in every report; each report used to be
    // compared with every distinct policy seen, and every policy with every other.
    let start = week().start;
    let reports = 20_000;
    let data = Dataset {
        reports: (0..reports)
            .map(|index| {
                report(
                    "r.example",
                    "example.com",
                    start + index,
                    &format!("p{index}"),
                )
            })
            .collect(),
        records: Vec::new(),
    };
    let started = std::time::Instant::now();
    let summary = compute(week(), None, &data);
    let took = started.elapsed();
    let policy = summary.domains[0].policy.as_ref().unwrap();
    assert_eq!(policy.seen.len(), reports as usize);
    assert!(policy.changed);
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}
