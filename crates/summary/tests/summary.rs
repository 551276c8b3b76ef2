//! The weekly summary on a database built from `fixtures/summary/`: synthetic reports for two
//! domains over 2026-W44 to 2026-W48; the summarised week is 2026-W47 (2026-11-16 to
//! 2026-11-22). Each fixture's first comment says what it is for.
//!
//! | Source        | Domain      | Class           | Why                                              |
//! |---------------|-------------|-----------------|--------------------------------------------------|
//! | 192.0.2.10    | example.com | aligned         | own server: SPF and DKIM pass for example.com    |
//! | 198.51.100.20 | example.com | forwarded       | a list: its SPF passes, our DKIM signature fails |
//! | 198.51.100.21 | example.com | forwarded       | reporter reason `mailing_list`, nothing passes   |
//! | 203.0.113.7   | example.com | misaligned      | an ESP: SPF and DKIM pass for mailer.example.net |
//! | 2001:db8::25  | example.com | misaligned      | 4 aligned + 4 misaligned messages: a tie         |
//! | 203.0.113.66  | example.com | unauthenticated | spoofing: SPF fails, no DKIM                     |
//! | 203.0.113.99  | example.com | unauthenticated | only in the report attributed to W48             |
//! | 192.0.2.30    | example.org | aligned         | > 98% of its own mail: ready for p=quarantine    |
//! | 198.51.100.40 | example.org | misaligned      | a helpdesk with its own return-path              |
//! | 203.0.113.80  | example.org | unauthenticated | spoofing                                         |
//!
//! Week boundaries: `2026-11-15-…` runs Sunday 18:00 to Monday 18:00 (midpoint in W47);
//! `2026-11-22-…` runs Sunday 12:00 to Monday 12:00 (midpoint Monday 00:00, so W48).
//! `silent.example.net` reports only in W45 (a silent reporter in W47). example.com publishes
//! `sp=quarantine` from 2026-11-19 (a policy change).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

use ruadb_report::DomainName;
use ruadb_store::{MessageSource, SourceFilter, Store, StoreOptions};
use ruadb_summary::{
    Classification, Period, Summary, render_html, render_markdown, render_text, summarise,
};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/summary")
}

fn ingest(store: &mut Store, name: &str, bytes: &[u8]) {
    let mut batch = store.begin_batch().unwrap();
    let outcome = batch
        .ingest_bytes(
            bytes,
            &MessageSource::File {
                path: name.to_owned(),
            },
        )
        .unwrap();
    batch.commit().unwrap();
    assert!(outcome.errors.is_empty(), "{name}: {:?}", outcome.errors);
    assert_eq!(outcome.reports_new, 1, "{name}");
}

fn fixture_store() -> Store {
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "xml"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 11);
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        ingest(&mut store, &name, &std::fs::read(&path).unwrap());
    }
    store
}

fn w47() -> Period {
    "2026-W47".parse().unwrap()
}

fn w47_summary() -> Summary {
    summarise(&fixture_store(), w47(), None).unwrap()
}

fn domain<'a>(summary: &'a Summary, name: &str) -> &'a ruadb_summary::DomainSummary {
    summary
        .domains
        .iter()
        .find(|domain| domain.domain == name)
        .unwrap()
}

fn class_of(summary: &Summary, domain_name: &str, ip: &str) -> Classification {
    let domain = domain(summary, domain_name);
    domain
        .sources
        .iter()
        .find(|source| source.source_ip == ip)
        .unwrap_or_else(|| panic!("{ip} not in {domain_name}"))
        .classification
}

#[test]
fn text_snapshot() {
    let text = render_text(&w47_summary());
    insta::assert_snapshot!("w47_text", text);
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!("w47_markdown", render_markdown(&w47_summary()));
}

#[test]
fn json_snapshot() {
    let json = serde_json::to_string_pretty(&w47_summary()).unwrap();
    insta::assert_snapshot!("w47_json", json);
}

#[test]
fn text_fits_80_columns() {
    let mut store = fixture_store();
    // Reporter-supplied names far wider than a line, and an IPv6 source.
    let long_org = format!("{}.example", "very-long-reporter-name".repeat(6));
    let long_domain = format!("{}.example.com", "sub".repeat(40));
    let xml = format!(
        r#"<feedback><report_metadata><org_name>{long_org}</org_name><email>x@example.net</email>
        <report_id>wide</report_id><date_range><begin>1795219200</begin><end>1795305599</end>
        </date_range></report_metadata><policy_published><domain>example.com</domain><p>none</p>
        </policy_published><record><row><source_ip>2001:db8:ffff:ffff:ffff:ffff:ffff:ffff</source_ip>
        <count>1234567</count><policy_evaluated><disposition>none</disposition></policy_evaluated></row>
        <identifiers><header_from>example.com</header_from></identifiers><auth_results>
        <dkim><domain>{long_domain}</domain><selector>{long_domain}</selector><result>pass</result></dkim>
        <spf><domain>{long_domain}</domain><result>pass</result></spf></auth_results></record></feedback>"#
    );
    ingest(&mut store, "wide.xml", xml.as_bytes());
    for period in [
        w47(),
        "2026-W44".parse().unwrap(),
        Period::iso_week(2026, 49).unwrap(),
    ] {
        let text = render_text(&summarise(&store, period, None).unwrap());
        assert!(text.contains("very-long-reporter-name") || period != w47());
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{} chars: {line:?}",
                line.chars().count()
            );
        }
    }
}

#[test]
fn each_fixture_source_gets_its_class() {
    use Classification::*;
    let summary = w47_summary();
    let expected = [
        ("example.com", "192.0.2.10", Aligned),
        // DKIM by example.com present but failing: our signature broken by a list.
        ("example.com", "198.51.100.20", Forwarded),
        // Reporter reason mailing_list.
        ("example.com", "198.51.100.21", Forwarded),
        ("example.com", "203.0.113.7", Misaligned),
        ("example.com", "203.0.113.66", Unauthenticated),
        // 4 aligned and 4 misaligned messages: the tie goes to the later class.
        ("example.com", "2001:db8::25", Misaligned),
        ("example.org", "198.51.100.40", Misaligned),
    ];
    for (domain, ip, class) in expected {
        assert_eq!(class_of(&summary, domain, ip), class, "{domain} {ip}");
    }
}

#[test]
fn totals_and_changes() {
    let summary = w47_summary();
    let com = domain(&summary, "example.com");
    // 80 (Sunday-Monday report) + 350+25+7+3+12+4 (Tuesday) + 300+2+20+8+4 (Thursday).
    assert_eq!(com.totals.messages, 815);
    assert_eq!(com.totals.dmarc_pass, 80 + 350 + 4 + 300);
    assert_eq!(com.totals.reports, 3);
    assert_eq!(com.previous.messages, 320 + 18 + 6 + 100 + 4);
    assert_eq!(com.previous.dispositions.quarantine, 4);
    assert_eq!(com.daily.len(), 7);
    assert_eq!(
        com.daily[0].messages, 80,
        "Monday holds the report whose midpoint is Monday"
    );
    assert_eq!(com.daily[1].messages, 401);
    assert_eq!(
        com.daily.iter().map(|day| day.messages).sum::<u64>(),
        com.totals.messages
    );
}

#[test]
fn a_report_spanning_two_weeks_is_counted_once_by_its_midpoint() {
    let store = fixture_store();
    let w47 = summarise(&store, w47(), Some(&DomainName::new("example.com"))).unwrap();
    let w48 = summarise(
        &store,
        "2026-W48".parse().unwrap(),
        Some(&DomainName::new("example.com")),
    )
    .unwrap();
    let w47 = &w47.domains[0];
    let w48 = &w48.domains[0];
    // Sunday 12:00 to Monday 12:00 belongs to W48 only.
    assert!(
        !w47.sources
            .iter()
            .any(|source| source.source_ip == "203.0.113.99")
    );
    assert_eq!(w48.totals.messages, 999 + 500);
    assert_eq!(w48.totals.reports, 1);
    // Sunday 18:00 to Monday 18:00 (W46/W47) belongs to W47 only.
    let w46 = summarise(
        &store,
        "2026-W46".parse().unwrap(),
        Some(&DomainName::new("example.com")),
    )
    .unwrap();
    assert_eq!(w46.domains[0].totals.messages, 320 + 18 + 6 + 100 + 4);
    assert_eq!(w47.previous.messages, w46.domains[0].totals.messages);
}

#[test]
fn advice_for_misaligned_and_unauthenticated_sources() {
    let summary = w47_summary();
    let com = domain(&summary, "example.com");
    let advice_of = |ip: &str| {
        com.sources
            .iter()
            .find(|source| source.source_ip == ip)
            .unwrap()
            .advice
            .clone()
    };
    assert_eq!(
        advice_of("203.0.113.7").as_deref(),
        Some(
            "203.0.113.7 — SPF passes for bounce.mailer.example.net and DKIM passes for \
             mailer.example.net, neither aligned with example.com: set a custom return-path \
             under example.com or sign with d=example.com"
        )
    );
    assert_eq!(
        advice_of("2001:db8::25").as_deref(),
        Some(
            "2001:db8::25 — SPF passes for crm.example.net, not aligned with example.com, \
             and no DKIM signature passes: set a custom return-path under example.com or sign \
             with d=example.com"
        )
    );
    assert_eq!(
        advice_of("203.0.113.66").as_deref(),
        Some(
            "203.0.113.66 — no SPF or DKIM pass: if this is yours, add it to SPF or sign it \
             with DKIM; if not, it is spoofing that p=reject would stop"
        )
    );
    assert_eq!(advice_of("192.0.2.10"), None);
    assert_eq!(advice_of("198.51.100.20"), None);
    // The advice list repeats the source advice after the readiness line, largest first.
    assert!(
        com.advice[0].starts_with("Not ready to go beyond p=none: "),
        "{}",
        com.advice[0]
    );
    assert_eq!(com.advice[1], advice_of("203.0.113.7").unwrap());
    assert_eq!(com.advice.len(), 4);
}

#[test]
fn readiness_for_quarantine() {
    let summary = w47_summary();
    let org = domain(&summary, "example.org");
    let readiness = org.readiness.as_ref().unwrap();
    // W44 to W47: 500 + 480 + 510 aligned, 2 + 3 misaligned own mail, 6 unauthenticated.
    assert_eq!(readiness.own_messages, 1495);
    assert_eq!(readiness.own_aligned, 1490);
    assert_eq!(readiness.would_reject, 2 + 3 + 6);
    assert_eq!(
        readiness.ready_for.as_ref().map(|p| p.as_str()),
        Some("quarantine")
    );
    assert_eq!(
        org.advice[0],
        "Ready for p=quarantine: 99.7% of your own mail was aligned over 2026-10-26 to \
         2026-11-22 (1,495 messages from your own sources); p=reject would have rejected 0.7% \
         of all mail (11 messages; forwarded mail excluded)."
    );
    let com = domain(&summary, "example.com");
    let readiness = com.readiness.as_ref().unwrap();
    assert_eq!(readiness.ready_for, None);
    assert!(readiness.own_aligned_rate.unwrap() < 0.98);
    // Forwarded mail (198.51.100.20/21) is not counted as what p=reject would reject.
    assert_eq!(
        readiness.would_reject,
        4 + 2 + 20 + 18 + 25 + 20 + 12 + 8 + 4
    );
}

#[test]
fn new_sources_silent_reporters_and_reporters() {
    let summary = w47_summary();
    let com = domain(&summary, "example.com");
    let new: Vec<&str> = com
        .new_sources
        .iter()
        .map(|source| source.source_ip.as_str())
        .collect();
    // Most messages first.
    assert_eq!(new, ["203.0.113.66", "2001:db8::25", "198.51.100.21"]);
    assert_eq!(com.silent_reporters.len(), 1);
    assert_eq!(com.silent_reporters[0].org, "silent.example.net");
    assert_eq!(com.silent_reporters[0].last_seen, "2026-11-04");
    let reporters: Vec<(&str, u64, u64)> = com
        .reporters
        .iter()
        .map(|reporter| (reporter.org.as_str(), reporter.reports, reporter.messages))
        .collect();
    assert_eq!(
        reporters,
        [("mail.example.org", 2, 735), ("inbox.example.net", 1, 80)]
    );
    let failing: Vec<(&str, u64)> = com
        .top_failing
        .iter()
        .map(|source| (source.source_ip.as_str(), source.failing))
        .collect();
    assert_eq!(
        failing,
        [
            ("203.0.113.7", 45),
            ("203.0.113.66", 20),
            ("198.51.100.20", 7),
            ("2001:db8::25", 4),
            ("198.51.100.21", 3)
        ]
    );
}

#[test]
fn published_policy_and_its_change() {
    let summary = w47_summary();
    let policy = domain(&summary, "example.com").policy.as_ref().unwrap();
    assert!(policy.changed);
    assert_eq!(
        policy.current.tags(),
        "p=none sp=quarantine pct=100 adkim=r aspf=r"
    );
    assert_eq!(
        policy.before.as_ref().unwrap().tags(),
        "p=none pct=100 adkim=r aspf=r"
    );
    let seen: Vec<(String, u64)> = policy
        .seen
        .iter()
        .map(|seen| (seen.policy.tags(), seen.reports))
        .collect();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].1, 2);
    assert!(
        !domain(&summary, "example.org")
            .policy
            .as_ref()
            .unwrap()
            .changed
    );
}

#[test]
fn a_week_without_reports_says_so() {
    let store = fixture_store();
    let summary = summarise(
        &store,
        Period::iso_week(2026, 50).unwrap(),
        Some(&DomainName::new("example.com")),
    )
    .unwrap();
    let com = &summary.domains[0];
    assert_eq!((com.totals.reports, com.totals.messages), (0, 0));
    assert_eq!(com.policy, None);
    let text = render_text(&summary);
    assert!(
        text.contains("No reports received for example.com in this period."),
        "{text}"
    );
    // W50's baseline (W46-W49) still has the reporters that went quiet.
    assert_eq!(com.silent_reporters.len(), 2);
    // Without --domain, a period far from any report lists no domain and says so too.
    let summary = summarise(&store, Period::iso_week(2027, 20).unwrap(), None).unwrap();
    assert!(summary.domains.is_empty());
    assert!(render_text(&summary).contains("No reports received for any domain"));
    assert!(render_markdown(&summary).contains("No reports received for any domain"));
}

#[test]
fn json_keys_follow_the_documented_schema() {
    let json = serde_json::to_value(w47_summary()).unwrap();
    assert_eq!(json["period"]["start"], "2026-11-16T00:00:00Z");
    assert_eq!(json["period"]["end"], "2026-11-23T00:00:00Z");
    let domain = &json["domains"][0];
    for key in [
        "domain",
        "messages",
        "dmarc_pass",
        "dmarc_pass_rate",
        "spf_aligned",
        "dkim_aligned",
        "sources",
        "new_sources",
        "reporters",
        "silent_reporters",
        "policy",
    ] {
        assert!(domain.get(key).is_some(), "missing {key}");
    }
    let source = &domain["sources"][0];
    for key in [
        "source_ip",
        "messages",
        "dmarc_pass",
        "classification",
        "advice",
    ] {
        assert!(source.get(key).is_some(), "missing sources[].{key}");
    }
    assert_eq!(domain["policy"]["p"], "none");
}

#[test]
fn sources_carry_their_class() {
    let store = fixture_store();
    let rows = store
        .sources(&SourceFilter {
            domain: Some("example.com".to_owned()),
            since: Some(w47().start),
            until: Some(w47().end),
        })
        .unwrap();
    let class = |ip: &str| {
        rows.iter()
            .find(|row| row.source_ip == ip)
            .unwrap()
            .classification
    };
    assert_eq!(class("192.0.2.10"), Classification::Aligned);
    assert_eq!(class("198.51.100.20"), Classification::Forwarded);
    assert_eq!(class("203.0.113.7"), Classification::Misaligned);
    assert_eq!(class("203.0.113.66"), Classification::Unauthenticated);
}

/// Every table row has as many cells as its header (pipes escaped as `\|` do not count).
fn assert_tables_are_rectangular(markdown: &str) {
    let mut columns = None;
    for line in markdown.lines() {
        if !line.starts_with('|') {
            columns = None;
            continue;
        }
        let cells = line.replace("\\|", "").matches('|').count();
        match columns {
            None => columns = Some(cells),
            Some(expected) => assert_eq!(cells, expected, "{line}"),
        }
    }
}

fn check_rendering(summary: &Summary) {
    for line in render_text(summary).lines() {
        assert!(
            line.chars().count() <= 80,
            "{} chars: {line:?}",
            line.chars().count()
        );
    }
    assert_tables_are_rectangular(&render_markdown(summary));
    serde_json::to_string(summary).unwrap();
    for domain in &summary.domains {
        let by_source: u64 = domain.sources.iter().map(|source| source.messages).sum();
        assert_eq!(by_source, domain.totals.messages, "{}", domain.domain);
        let by_day: u64 = domain.daily.iter().map(|day| day.messages).sum();
        assert_eq!(by_day, domain.totals.messages, "{}", domain.domain);
        let disposed = domain.totals.dispositions.none
            + domain.totals.dispositions.quarantine
            + domain.totals.dispositions.reject;
        assert_eq!(disposed, domain.totals.messages, "{}", domain.domain);
    }
}

#[test]
fn fixture_weeks_render_consistently() {
    let store = fixture_store();
    for week in 43..=50 {
        check_rendering(&summarise(&store, Period::iso_week(2026, week).unwrap(), None).unwrap());
    }
}

/// The summary written one domain at a time ([`DomainByDomain`]) is, byte for byte, the
/// whole summary rendered at once, in text, Markdown and JSON, with and without alerts.
fn assert_domain_by_domain_is_the_whole(store: &Store, period: Period) {
    use ruadb_summary::{AlertThresholds, DomainByDomain, alerts};
    let whole = summarise(store, period, None).unwrap();
    let mut parts = DomainByDomain::new(store, period, None, &[]).unwrap();
    let names: Vec<String> = parts.domains().iter().map(ToString::to_string).collect();
    let whole_names: Vec<&str> = whole.domains.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(names, whole_names, "{period}");
    let written = |parts: &DomainByDomain<'_>| {
        let (mut text, mut markdown, mut json) = (Vec::new(), Vec::new(), Vec::new());
        parts.write_text(&mut text).unwrap();
        parts.write_markdown(&mut markdown).unwrap();
        parts.write_json(&mut json).unwrap();
        [text, markdown, json].map(|bytes| String::from_utf8(bytes).unwrap())
    };
    let rendered = |summary: &Summary| {
        let json = serde_json::to_string_pretty(summary).unwrap() + "\n";
        [render_text(summary), render_markdown(summary), json]
    };
    assert_eq!(written(&parts), rendered(&whole), "{period}");
    // Low thresholds, so that several domains have alerts to order.
    let thresholds = AlertThresholds {
        pass_drop_points: 0.1,
        ..AlertThresholds::default()
    };
    let mut whole = whole;
    whole.alerts = Some(alerts(&whole, &thresholds));
    parts.add_alerts(&thresholds).unwrap();
    assert_eq!(written(&parts), rendered(&whole), "{period} with alerts");
    assert_eq!(parts.collect().unwrap(), whole);
}

#[test]
fn fixture_weeks_written_domain_by_domain_equal_the_whole() {
    let store = fixture_store();
    for week in 43..=50 {
        assert_domain_by_domain_is_the_whole(&store, Period::iso_week(2026, week).unwrap());
    }
    let month = Period::new(1_793_491_200, 1_796_083_200).unwrap();
    assert_domain_by_domain_is_the_whole(&store, month);
}

/// Real reports from `../shared/corpus` (when present): every week that has a report, and the
/// whole span at once, render within 80 columns with consistent totals.
#[test]
fn corpus_summaries_render_consistently() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/aggregate");
    if !corpus.is_dir() {
        println!("skipped: no corpus at {}", corpus.display());
        return;
    }
    let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let mut pending = vec![corpus];
    let mut batch = store.begin_batch().unwrap();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let source = MessageSource::File {
                    path: path.display().to_string(),
                };
                batch
                    .ingest_bytes(&std::fs::read(&path).unwrap(), &source)
                    .unwrap();
            }
        }
    }
    batch.commit().unwrap();
    let mut ranges = Vec::new();
    store
        .query("SELECT begin_utc, end_utc FROM reports", &mut |row| {
            if let [
                ruadb_store::Value::Integer(begin),
                ruadb_store::Value::Integer(end),
            ] = row
            {
                ranges.push((*begin, *end));
            }
            Ok(())
        })
        .unwrap();
    assert!(ranges.len() > 50, "{} reports", ranges.len());
    let mut weeks: Vec<Period> = ranges
        .iter()
        .map(|(begin, end)| {
            let midpoint = ruadb_summary::period::report_midpoint(*begin, *end);
            Period::last_complete_week(midpoint + 7 * 86_400)
        })
        .collect();
    weeks.sort_by_key(|week| week.start);
    weeks.dedup();
    let mut messages_in_weeks = 0;
    for week in &weeks {
        let summary = summarise(&store, *week, None).unwrap();
        check_rendering(&summary);
        assert_domain_by_domain_is_the_whole(&store, *week);
        messages_in_weeks += summary
            .domains
            .iter()
            .map(|domain| domain.totals.messages)
            .sum::<u64>();
    }
    // Every report lands in exactly one week, so the weeks add up to the whole.
    assert_eq!(messages_in_weeks, store.totals().unwrap().message_count);
    // A long period at once: the year up to the last report (some corpus reports are dated
    // decades apart, and a daily series over decades only measures the formatter).
    let last = weeks.last().unwrap().end;
    let year = Period::new(last - 366 * 86_400, last).unwrap();
    let summary = summarise(&store, year, None).unwrap();
    assert!(!summary.domains.is_empty());
    check_rendering(&summary);
}

#[test]
fn w47_alerts() {
    use ruadb_summary::{AlertCode, AlertThresholds, Severity, alerts};
    let mut summary = w47_summary();
    let found = alerts(&summary, &AlertThresholds::default());
    let codes: Vec<(AlertCode, Severity, Option<&str>)> = found
        .iter()
        .map(|alert| (alert.code, alert.severity, alert.domain.as_deref()))
        .collect();
    assert_eq!(
        codes,
        [
            (
                AlertCode::NewUnauthenticatedSource,
                Severity::Action,
                Some("example.com")
            ),
            (
                AlertCode::ReporterSilent,
                Severity::Notice,
                Some("example.com")
            ),
            (
                AlertCode::PolicyChanged,
                Severity::Notice,
                Some("example.com")
            ),
        ]
    );
    // A pass-rate drop of 3.7 points is below the default 5, above a threshold of 3.
    let lower = AlertThresholds {
        pass_drop_points: 3.0,
        ..AlertThresholds::default()
    };
    assert!(
        alerts(&summary, &lower)
            .iter()
            .any(|alert| alert.code == AlertCode::PassRateDrop)
    );
    summary.alerts = Some(found);
    insta::assert_snapshot!("w47_text_alerts", render_text(&summary));
}

fn with_alerts(mut summary: Summary) -> Summary {
    summary.alerts = Some(ruadb_summary::alerts(
        &summary,
        &ruadb_summary::AlertThresholds::default(),
    ));
    summary
}

#[test]
fn html_snapshot() {
    let html = render_html(&with_alerts(w47_summary()));
    check_html(&html);
    insta::assert_snapshot!("w47_html", html);
}

/// The fixture whose reporter-supplied names are markup and quotes.
fn hostile_names() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/hostile-names/2026-11-21-hostile-reporter-example.com.xml");
    std::fs::read(path).unwrap()
}

/// The HTML5 parser's view of `html`, which must parse without a single error.
fn parse_html(html: &str) -> scraper::Html {
    let document = scraper::Html::parse_document(html);
    assert!(
        document.errors.is_empty(),
        "HTML5 parse errors: {:?}",
        document.errors
    );
    document
}

fn select<'a>(document: &'a scraper::Html, selector: &str) -> Vec<scraper::ElementRef<'a>> {
    let selector = scraper::Selector::parse(selector).unwrap();
    document.select(&selector).collect()
}

/// What every HTML summary must be: an HTML5 document that parses without error, with no
/// script, no event handler, no external resource of any kind, one column of at most 640 px,
/// and every chart an image with a `<title>` equal to its `aria-label`. Returns the document.
fn check_html(html: &str) -> scraper::Html {
    assert!(html.starts_with("<!DOCTYPE html>\n"), "{html}");
    let document = parse_html(html);
    assert!(
        select(&document, "script, noscript").is_empty(),
        "no script"
    );
    assert!(
        select(
            &document,
            "link, img, iframe, object, embed, style, base, form, audio, video"
        )
        .is_empty(),
        "nothing that loads or submits"
    );
    for element in select(&document, "*") {
        for (name, value) in element.value().attrs() {
            assert!(!name.starts_with("on"), "event handler {name}={value}");
            let value = value.to_ascii_lowercase();
            if name == "xmlns" {
                assert_eq!(
                    value, "http://www.w3.org/2000/svg",
                    "a namespace, not a resource"
                );
                continue;
            }
            for resource in ["http:", "https:", "//", "url(", "javascript:", "data:"] {
                assert!(!value.contains(resource), "{resource} in {name}={value}");
            }
        }
    }
    for chart in select(&document, "svg") {
        let label = chart.value().attr("aria-label").unwrap_or_default();
        assert!(!label.is_empty(), "every chart has an aria-label");
        assert_eq!(chart.value().attr("role"), Some("img"));
        let title: String = chart
            .children()
            .filter_map(scraper::ElementRef::wrap)
            .find(|child| child.value().name() == "title")
            .map(|title| title.text().collect())
            .unwrap_or_default();
        assert_eq!(
            title, label,
            "every chart's <title> says what its label says"
        );
        let width: u32 = chart.value().attr("width").unwrap().parse().unwrap();
        assert!(width <= 640);
    }
    assert!(
        html.contains("max-width:640px"),
        "one column of at most 640 px"
    );
    document
}

/// The visible text of the document, whitespace collapsed.
fn visible_text(document: &scraper::Html) -> String {
    let text: String = document.root_element().text().collect::<Vec<_>>().join(" ");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn html_has_the_charts_their_numbers_and_the_text_summary_sections() {
    let summary = with_alerts(w47_summary());
    let html = render_html(&summary);
    let document = check_html(&html);
    // Two domains with reports, three charts each.
    let charts = select(&document, "svg");
    assert_eq!(charts.len(), 6);
    let labels: Vec<&str> = charts
        .iter()
        .map(|chart| chart.value().attr("aria-label").unwrap())
        .collect();
    assert_eq!(
        labels[..3],
        [
            "example.com: messages per day by class, previous period outlined",
            "example.com: DMARC pass per week, last 12 weeks",
            "example.com: top 6 sources by messages",
        ]
    );
    let text = visible_text(&document);
    // Alerts come first, before any domain.
    let alerts_at = text.find("Alerts").unwrap();
    assert!(alerts_at < text.find("example.com").unwrap(), "{text}");
    for alert in summary.alerts.as_deref().unwrap() {
        assert!(text.contains(&alert.message), "{}", alert.message);
    }
    // Each chart's numbers are also in a table: the days, the weeks, the sources.
    assert!(text.contains("2026-11-17"), "the daily table");
    assert!(
        text.contains("2026-W36") && text.contains("2026-W47"),
        "12 weeks"
    );
    assert!(text.contains("no reports"), "weeks without reports say so");
    // Classes are named in words, not only coloured.
    for class in Classification::ALL {
        assert!(text.contains(class.as_str()), "{class}");
    }
    // The same sections as the text summary.
    let plain = render_text(&summary);
    for heading in [
        "What to do",
        "Sources",
        "New sources",
        "Top failing sources",
        "Reporters",
        "Silent reporters",
    ] {
        assert!(text.contains(heading), "{heading}");
    }
    let example_com = domain(&summary, "example.com");
    for source in &example_com.sources {
        assert!(plain.contains(&source.source_ip));
        assert!(text.contains(&source.source_ip), "{}", source.source_ip);
    }
    for line in &example_com.advice {
        assert!(text.contains(line.as_str()), "{line}");
    }
}

#[test]
fn reporter_supplied_names_are_text_in_html() {
    let mut store = fixture_store();
    ingest(&mut store, "hostile-names.xml", &hostile_names());
    let summary = summarise(&store, w47(), None).unwrap();
    let html = render_html(&summary);
    let document = check_html(&html);
    let text = visible_text(&document);
    // Shown as written, as text: not a tag, not an attribute.
    for name in [
        r#"<script>alert("org")</script> & 'quoted' "reporter""#,
        r#"d="><img src="http://evil.example/x.png" onerror="alert(1)">"#,
        "s=</title><script>alert('sel')</script>",
        "<style>body{background:url(https://evil.example/)}</style>",
    ] {
        assert!(text.contains(name), "{name} in {text}");
    }
}

#[test]
fn html_without_any_report_says_so() {
    let store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let summary = with_alerts(summarise(&store, w47(), None).unwrap());
    let document = check_html(&render_html(&summary));
    assert!(select(&document, "svg").is_empty());
    let text = visible_text(&document);
    assert!(
        text.contains("No reports received for any domain"),
        "{text}"
    );
    assert!(text.contains("no_reports"), "{text}");
}

/// The envelope of the mail snapshots: a fixed date (Monday 2026-11-23 07:00 UTC) and
/// Message-ID, as the CLI passes its clock and process in.
fn envelope(summary: &Summary) -> ruadb_summary::Envelope {
    let date = 1_795_417_200;
    ruadb_summary::Envelope {
        from: "dmarc@example.com".to_owned(),
        to: vec![
            "postmaster@example.com".to_owned(),
            "hostmaster@example.org".to_owned(),
        ],
        date,
        message_id: ruadb_summary::email::message_id(summary, "dmarc@example.com", date, 4242),
    }
}

#[test]
fn email_snapshot() {
    let summary = with_alerts(w47_summary());
    let mail = ruadb_summary::render_email(&summary, &envelope(&summary)).unwrap();
    insta::assert_snapshot!("w47_email", mail);
}

#[test]
fn email_parses_back_into_the_text_and_the_html_summaries() {
    use mail_parser::{MessageParser, MimeHeaders};
    let mut store = fixture_store();
    ingest(&mut store, "hostile-names.xml", &hostile_names());
    let summary = with_alerts(summarise(&store, w47(), None).unwrap());
    let mail = ruadb_summary::render_email(&summary, &envelope(&summary)).unwrap();
    // Headers and body are 7-bit, lines CRLF-terminated and within RFC 5322's 998 octets.
    assert!(mail.is_ascii(), "transfer-encoded");
    assert!(
        mail.split("\r\n")
            .all(|line| line.len() <= 998 && !line.contains('\n'))
    );

    let message = MessageParser::default().parse(mail.as_bytes()).unwrap();
    let from = message.from().unwrap().first().unwrap();
    assert_eq!(from.address(), Some("dmarc@example.com"));
    let to: Vec<&str> = message
        .to()
        .unwrap()
        .iter()
        .filter_map(|address| address.address())
        .collect();
    assert_eq!(to, ["postmaster@example.com", "hostmaster@example.org"]);
    assert_eq!(
        message.subject(),
        Some(
            "DMARC 2026-W47 example.com: 88.8% pass, 4 new sources; example.org: 98.3% pass, 1 \
             new source, action needed"
        )
    );
    assert_eq!(message.date().unwrap().to_timestamp(), 1_795_417_200);
    assert_eq!(
        message.message_id(),
        Some("ruadb.2026-W47.1795417200.4242@example.com")
    );
    let content_type = message.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );

    // Exactly two parts, text then HTML, each UTF-8 and decoding to its rendering.
    let parts: Vec<_> = message.parts.iter().skip(1).collect();
    assert_eq!(parts.len(), 2);
    for (part, subtype) in parts.iter().zip(["plain", "html"]) {
        let content_type = part.content_type().unwrap();
        assert_eq!(content_type.subtype(), Some(subtype));
        assert_eq!(content_type.attribute("charset"), Some("utf-8"));
        assert!(part.content_transfer_encoding().is_some(), "encoded");
    }
    // Text in MIME is in canonical form, lines ending in CRLF (RFC 2046 4.1.1); otherwise the
    // parts decode byte for byte to the two renderings.
    let canonical = |text: String| text.replace('\n', "\r\n");
    assert_eq!(
        message.body_text(0).unwrap(),
        canonical(render_text(&summary))
    );
    assert_eq!(
        message.body_html(0).unwrap(),
        canonical(render_html(&summary))
    );
}

#[test]
fn the_subject_says_the_news() {
    use ruadb_summary::email::subject;
    let quiet = w47_summary();
    assert_eq!(
        subject(&quiet),
        "DMARC 2026-W47 example.com: 90.1% pass, 3 new sources; example.org: 98.3% pass, 1 new \
         source"
    );
    let store = Store::open_in_memory(StoreOptions::default()).unwrap();
    let nothing = with_alerts(summarise(&store, w47(), None).unwrap());
    assert_eq!(
        subject(&nothing),
        "DMARC 2026-W47 no reports, action needed"
    );
    let domain = DomainName::new("example.net");
    let one = summarise(&store, w47(), Some(&domain)).unwrap();
    assert_eq!(subject(&one), "DMARC 2026-W47 example.net: no reports");
}

#[test]
fn mail_addresses_are_checked() {
    use ruadb_summary::email::check_address;
    for good in [
        "dmarc@example.com",
        "a.b+tag@mail.example.org",
        "root@localhost",
    ] {
        assert!(check_address(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "example.com",
        "@example.com",
        "dmarc@",
        "a@b@c",
        "Dmarc <dmarc@example.com>",
        "dmarc@example.com, other@example.com",
        "dmarc@example.com\r\nBcc: victim@example.net",
        "dmärc@example.com",
        "dmarc@.example.com",
    ] {
        let error = check_address(bad).unwrap_err().to_string();
        assert!(error.contains("is not a mail address"), "{bad}: {error}");
        assert!(!error.contains('\n') && !error.contains('\r'), "{error}");
    }
    let summary = w47_summary();
    let mut envelope = envelope(&summary);
    envelope.to.clear();
    let error = ruadb_summary::render_email(&summary, &envelope).unwrap_err();
    assert!(error.to_string().contains("no recipient"), "{error}");
}

/// DMARC failure reports: a "Failure samples" section per domain in every format, counted by
/// source and failure type and linked to the source's class; nothing in a week without any.
#[test]
fn failure_samples_by_source_and_failure_type_in_every_format() {
    let mut store = fixture_store();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo-failure");
    let mut batch = store.begin_batch().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let source = MessageSource::File {
            path: path.display().to_string(),
        };
        let outcome = batch
            .ingest_bytes(&std::fs::read(&path).unwrap(), &source)
            .unwrap();
        assert_eq!(outcome.failure_reports_new, 1, "{}", path.display());
    }
    batch.commit().unwrap();

    let summary = summarise(&store, w47(), None).unwrap();
    let samples = domain(&summary, "example.com")
        .failure_samples
        .as_ref()
        .expect("failure samples for example.com");
    assert_eq!(samples.reports, 4);
    type Group<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<Classification>,
        u64,
    );
    let groups: Vec<Group<'_>> = samples
        .by_source
        .iter()
        .map(|group| {
            (
                group.source_ip.as_deref(),
                group.auth_failure.as_deref(),
                group.classification,
                group.reports,
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            (
                Some("203.0.113.66"),
                Some("dmarc"),
                Some(Classification::Unauthenticated),
                2
            ),
            (Some("192.0.2.99"), Some("spf"), None, 1),
            (
                Some("203.0.113.7"),
                Some("dmarc"),
                Some(Classification::Misaligned),
                1
            ),
        ]
    );
    assert!(domain(&summary, "example.org").failure_samples.is_none());

    let text = render_text(&summary);
    assert!(
        text.contains(
            "Failure samples (4 failure reports)\n  203.0.113.66    dmarc         2 reports unauthenticated\n"
        ),
        "{text}"
    );
    let markdown = render_markdown(&summary);
    assert!(
        markdown.contains("| 192.0.2.99 | spf | 1 | not in aggregate reports |"),
        "{markdown}"
    );
    let html = render_html(&summary);
    assert!(html.contains("Failure samples (4 failure reports)"));
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(
        json["domains"][0]["failure_samples"]["by_source"][0]["classification"],
        "unauthenticated"
    );

    // The week before has no failure report: no section, no key.
    let before = summarise(&store, "2026-W46".parse().unwrap(), None).unwrap();
    assert!(before.domains.iter().all(|d| d.failure_samples.is_none()));
    assert!(!render_text(&before).contains("Failure samples"));
    let json = serde_json::to_value(&before).unwrap();
    assert!(json["domains"][0].get("failure_samples").is_none());
}

#[test]
fn html_for_a_long_custom_period() {
    let since = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    let until = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let period = Period::from_dates(since, until).unwrap();
    let summary = summarise(&fixture_store(), period, None).unwrap();
    let html = render_html(&summary);
    let document = check_html(&html);
    assert_eq!(select(&document, "svg").len(), 6);
    let text = visible_text(&document);
    // Every day is in the table under the chart, and the trend ends with the period.
    assert!(
        text.contains("2026-09-01") && text.contains("2026-11-30"),
        "{text}"
    );
    assert!(text.contains("DMARC pass per week (last 12 weeks)"));
    // The subject names the dates when the period is not a week.
    let subject = ruadb_summary::email::subject(&summary);
    assert!(
        subject.starts_with("DMARC 2026-09-01 to 2026-11-30 example.com: "),
        "{subject}"
    );
}
