//! A mail service provider's database: 5,000 policy domains with a few records each. Every
//! domain's answers from `summary` (all domains at once, and one domain) and `sources` equal
//! the truth counted here from what the generator wrote, to the message.

use crate::util::TestEnv;
use ruadb_testgen::{MspSpec, generate_msp, msp::domain_name};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const DOMAINS: u32 = 5_000;

/// What one domain received, counted from the generator's records.
#[derive(Debug, Default, PartialEq, Eq)]
struct Truth {
    /// (begin, slot) of each report.
    reports: BTreeSet<(i64, u32)>,
    messages: u64,
    dmarc_pass: u64,
    /// Source IP → (messages, passing DMARC).
    sources: BTreeMap<String, (u64, u64)>,
    /// Reporter → ((begin, slot) of its reports, messages).
    reporters: BTreeMap<String, (BTreeSet<(i64, u32)>, u64)>,
}

/// What the database says about one domain, in the same shape.
#[derive(Debug, Default, PartialEq, Eq)]
struct Answer {
    reports: u64,
    messages: u64,
    dmarc_pass: u64,
    sources: BTreeMap<String, (u64, u64)>,
    reporters: BTreeMap<String, (u64, u64)>,
}

impl Truth {
    fn answer(&self) -> Answer {
        Answer {
            reports: self.reports.len() as u64,
            messages: self.messages,
            dmarc_pass: self.dmarc_pass,
            sources: self.sources.clone(),
            reporters: self
                .reporters
                .iter()
                .map(|(org, (reports, messages))| (org.clone(), (reports.len() as u64, *messages)))
                .collect(),
        }
    }
}

fn count(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {value}"))
}

fn text(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
        .to_owned()
}

/// A domain of `summary --format json`, as an [`Answer`].
fn summary_answer(domain: &Value) -> Answer {
    let pairs = |list: &str, key: &str, first: &str, second: &str| {
        domain[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| (text(item, key), (count(item, first), count(item, second))))
            .collect::<BTreeMap<_, _>>()
    };
    Answer {
        reports: count(domain, "reports"),
        messages: count(domain, "messages"),
        dmarc_pass: count(domain, "dmarc_pass"),
        sources: pairs("sources", "source_ip", "messages", "dmarc_pass"),
        reporters: pairs("reporters", "org", "reports", "messages"),
    }
}

#[test]
fn five_thousand_domains_each_get_their_own_exact_answers() {
    let env = TestEnv::new();
    let reports_dir = env.path("reports");
    let mut spec = MspSpec::new(DOMAINS, 10_000, 18);
    spec.days = 1;
    spec.reporters_per_domain = 1..2;
    spec.spoofers_per_domain = 50;
    let mut truth: BTreeMap<String, Truth> = BTreeMap::new();
    let mut names: Vec<String> = (0..DOMAINS).map(domain_name).collect();
    let stats = generate_msp(&reports_dir, &spec, 0..1, &mut |written| {
        let domain = truth
            .entry(names[written.domain as usize].clone())
            .or_default();
        let record = written.record;
        let pass = if record.dmarc_pass {
            record.messages
        } else {
            0
        };
        domain.reports.insert((written.begin, written.slot));
        domain.messages += record.messages;
        domain.dmarc_pass += pass;
        let source = domain
            .sources
            .entry(record.source_ip.to_string())
            .or_default();
        source.0 += record.messages;
        source.1 += pass;
        let reporter = domain.reporters.entry(written.org.to_owned()).or_default();
        reporter.0.insert((written.begin, written.slot));
        reporter.1 += record.messages;
    })
    .unwrap();
    assert_eq!(truth.len(), DOMAINS as usize);
    assert_eq!(stats.records, 10_000);
    names.sort();

    let ingest = env.run(&["ingest", "--json", reports_dir.to_str().unwrap()]);
    assert_eq!(ingest.code, 0, "{}", ingest.stderr);
    let outcome: Value = serde_json::from_str(&ingest.stdout).unwrap();
    assert_eq!(count(&outcome, "reports_new"), stats.reports);
    assert_eq!(count(&outcome, "records"), stats.records);

    // The week's summary of every domain, streamed: every domain, in order, exact.
    let week = env.run(&["summary", "--week", "2025-W02", "--format", "json"]);
    assert_eq!(week.code, 0, "{}", week.stderr);
    let summary: Value = serde_json::from_str(&week.stdout).unwrap();
    let domains = summary["domains"].as_array().unwrap();
    let listed: Vec<String> = domains
        .iter()
        .map(|domain| text(domain, "domain"))
        .collect();
    assert_eq!(listed, names);
    for domain in domains {
        let name = text(domain, "domain");
        assert_eq!(summary_answer(domain), truth[&name].answer(), "{name}");
    }

    // `sources` of every domain over the period: one row per (domain, source), exact.
    let sources = env.run(&["sources", "--format", "json"]);
    assert_eq!(sources.code, 0, "{}", sources.stderr);
    let rows: Value = serde_json::from_str(&sources.stdout).unwrap();
    let mut by_domain: BTreeMap<String, BTreeMap<String, (u64, u64)>> = BTreeMap::new();
    for row in rows.as_array().unwrap() {
        let previous = by_domain
            .entry(text(row, "policy_domain"))
            .or_default()
            .insert(
                text(row, "source_ip"),
                (count(row, "messages"), count(row, "dmarc_pass")),
            );
        assert!(previous.is_none(), "one row per source: {row}");
    }
    assert_eq!(by_domain.len(), DOMAINS as usize);
    for (name, sources) in &by_domain {
        assert_eq!(sources, &truth[name].sources, "{name}");
    }

    // One domain at a time, from both ends and the middle of the name order.
    for name in [&names[0], &names[2_500], &names[4_999]] {
        let one = env.run(&[
            "summary", "--week", "2025-W02", "--format", "json", "--domain", name,
        ]);
        assert_eq!(one.code, 0, "{}", one.stderr);
        let summary: Value = serde_json::from_str(&one.stdout).unwrap();
        let domains = summary["domains"].as_array().unwrap();
        assert_eq!(domains.len(), 1);
        assert_eq!(summary_answer(&domains[0]), truth[name].answer(), "{name}");
        let sources = env.run(&["sources", "--format", "json", "--domain", name]);
        let rows: Value = serde_json::from_str(&sources.stdout).unwrap();
        let rows: BTreeMap<String, (u64, u64)> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                assert_eq!(&text(row, "policy_domain"), name);
                let counts = (count(row, "messages"), count(row, "dmarc_pass"));
                (text(row, "source_ip"), counts)
            })
            .collect();
        assert_eq!(rows, truth[name].sources, "{name}");
    }
}
