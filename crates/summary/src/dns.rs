//! The "DNS" section: the latest `ruadb dns-check` findings of each domain, errors first, what
//! changed since the check before, and the sources the domain's SPF does not cover.

use std::collections::BTreeSet;

use ruadb_store::{DnsCheckRow, StoredFinding, StoredSource};
use serde::Serialize;

use super::Summary;

/// The latest DNS check of a domain (`domains[].dns` in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsSummary {
    /// When the latest check ran (ISO 8601, UTC).
    pub checked_utc: String,
    /// Its findings, errors first, then warnings, then ok.
    pub findings: Vec<DnsFinding>,
    /// When the check before it ran; null when this is the first.
    pub previous_checked_utc: Option<String>,
    /// What changed since the check before, in words (a record published, removed or
    /// edited; an error that appeared or went away; a source evaluated by both checks that
    /// its SPF no longer or now covers).
    pub changes: Vec<String>,
    /// The sources of the check whose SPF `check_host()` against the domain itself is not
    /// `pass`, busiest first.
    pub uncovered_sources: Vec<UncoveredSource>,
}

/// A source the domain's SPF does not cover, as the latest check evaluated it (the keys of
/// `ruadb dns-check --format json`'s `sources[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UncoveredSource {
    /// The source's address.
    pub source_ip: String,
    /// Its messages in the 4 weeks before the check.
    pub messages: u64,
    /// Its class (`aligned`, `forwarded`, `misaligned`, `unauthenticated`).
    pub class: String,
    /// The domain evaluated: the checked domain.
    pub return_path_domain: String,
    /// The SPF result against the domain (`fail`, `softfail`, `neutral`, `none`,
    /// `permerror`, `temperror`).
    pub spf_result: String,
    /// The mechanism that decided, if one matched (`-all`).
    pub matched: Option<String>,
    /// For a misaligned or unauthenticated source, the change that would fix it.
    pub fix: Option<String>,
}

/// One finding of a DNS check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsFinding {
    /// The stable code (`spf.too_many_lookups`…; README lists them).
    pub code: String,
    /// `error`, `warn` or `ok`.
    pub severity: String,
    /// The sentence for people.
    pub message: String,
    /// The DNS record the finding is about.
    pub record: Option<String>,
}

impl DnsSummary {
    /// How many findings have `severity`.
    pub fn count(&self, severity: &str) -> usize {
        self.findings
            .iter()
            .filter(|finding| finding.severity == severity)
            .count()
    }
}

/// Attaches each domain's latest check (with the one before) to the summary's domains.
pub(crate) fn apply(summary: &mut Summary, checks: &[(DnsCheckRow, Option<DnsCheckRow>)]) {
    for domain in &mut summary.domains {
        if let Some((latest, previous)) = checks
            .iter()
            .find(|(latest, _)| latest.domain.eq_ignore_ascii_case(&domain.domain))
        {
            domain.dns = Some(summarise(latest, previous.as_ref()));
        }
    }
}

fn summarise(latest: &DnsCheckRow, previous: Option<&DnsCheckRow>) -> DnsSummary {
    let mut findings: Vec<DnsFinding> = latest.findings.iter().map(finding).collect();
    findings.sort_by_key(|finding| severity_rank(&finding.severity));
    DnsSummary {
        checked_utc: utc(latest.checked_utc),
        findings,
        previous_checked_utc: previous.map(|previous| utc(previous.checked_utc)),
        changes: previous.map_or_else(Vec::new, |previous| changes(latest, previous)),
        uncovered_sources: latest
            .sources
            .iter()
            .filter(|source| is_uncovered(latest, source))
            .map(uncovered)
            .collect(),
    }
}

fn uncovered(stored: &StoredSource) -> UncoveredSource {
    UncoveredSource {
        source_ip: stored.source_ip.clone(),
        messages: stored.messages,
        class: stored.class.clone(),
        return_path_domain: stored.return_path_domain.clone(),
        spf_result: stored.spf_result.clone(),
        matched: stored.matched.clone(),
        fix: stored.fix.clone(),
    }
}

fn finding(stored: &StoredFinding) -> DnsFinding {
    DnsFinding {
        code: stored.code.clone(),
        severity: stored.severity.clone(),
        message: stored.message.clone(),
        record: stored.record.clone(),
    }
}

fn severity_rank(severity: &str) -> u8 {
    match severity {
        "error" => 0,
        "warn" => 1,
        _ => 2,
    }
}

/// The record kinds, by code prefix, and how the change lines name them.
const KINDS: [(&str, &str); 3] = [
    ("dmarc.", "DMARC record"),
    ("spf.", "SPF record"),
    ("dkim.", "DKIM key record"),
];

/// What differs between two checks: the records each kind's findings quote, and the errors.
fn changes(latest: &DnsCheckRow, previous: &DnsCheckRow) -> Vec<String> {
    let mut lines = Vec::new();
    for (prefix, name) in KINDS {
        let records = |check: &DnsCheckRow| -> BTreeSet<String> {
            check
                .findings
                .iter()
                .filter(|finding| finding.code.starts_with(prefix))
                .filter_map(|finding| finding.record.clone())
                .collect()
        };
        let (now, before) = (records(latest), records(previous));
        if now == before {
            continue;
        }
        let added: Vec<&String> = now.difference(&before).collect();
        let removed: Vec<&String> = before.difference(&now).collect();
        let line = match (added.is_empty(), removed.is_empty()) {
            (false, true) => format!("{name} published: {}", join(&added)),
            (true, false) => format!("{name} no longer published: {}", join(&removed)),
            _ => format!(
                "{name} changed: now {} (was {})",
                join(&added),
                join(&removed)
            ),
        };
        lines.push(line);
    }
    let errors = |check: &DnsCheckRow| -> BTreeSet<String> {
        check
            .findings
            .iter()
            .filter(|finding| finding.severity == "error")
            .map(|finding| finding.code.clone())
            .collect()
    };
    let (now, before) = (errors(latest), errors(previous));
    for code in now.difference(&before) {
        lines.push(format!("new error: {code}"));
    }
    for code in before.difference(&now) {
        lines.push(format!("fixed: {code}"));
    }
    // A check that evaluated no source (none reported, or stored before coverage was kept)
    // says nothing about which sources were covered.
    if !previous.sources.is_empty() && !latest.sources.is_empty() {
        let (now, before) = (uncovered_ips(latest), uncovered_ips(previous));
        let evaluated = |check: &DnsCheckRow, ip: &str| {
            check.sources.iter().any(|source| source.source_ip == ip)
        };
        let newly: Vec<&str> = now
            .difference(&before)
            .filter(|ip| evaluated(previous, ip))
            .copied()
            .collect();
        let fixed: Vec<&str> = before
            .difference(&now)
            .filter(|ip| evaluated(latest, ip))
            .copied()
            .collect();
        if !newly.is_empty() {
            lines.push(format!("no longer covered by SPF: {}", newly.join(", ")));
        }
        if !fixed.is_empty() {
            lines.push(format!("now covered by SPF: {}", fixed.join(", ")));
        }
    }
    lines
}

/// The addresses of the sources `check` found not covered by the domain's SPF.
fn uncovered_ips(check: &DnsCheckRow) -> BTreeSet<&str> {
    check
        .sources
        .iter()
        .filter(|source| is_uncovered(check, source))
        .map(|source| source.source_ip.as_str())
        .collect()
}

/// Whether `source` is the evaluation against the checked domain itself, and not a pass.
fn is_uncovered(check: &DnsCheckRow, source: &StoredSource) -> bool {
    source
        .return_path_domain
        .eq_ignore_ascii_case(&check.domain)
        && source.spf_result != "pass"
}

fn join(records: &[&String]) -> String {
    records
        .iter()
        .map(|record| format!("\"{}\"", record.replace('\n', "\" \"")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn utc(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0).map_or_else(
        || seconds.to_string(),
        |time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(code: &str, severity: &str, record: Option<&str>) -> StoredFinding {
        StoredFinding {
            code: code.to_owned(),
            severity: severity.to_owned(),
            message: format!("{code} message"),
            record: record.map(str::to_owned),
        }
    }

    fn source(ip: &str, evaluated: &str, result: &str) -> StoredSource {
        StoredSource {
            source_ip: ip.to_owned(),
            messages: 7,
            class: "misaligned".to_owned(),
            return_path_domain: evaluated.to_owned(),
            spf_result: result.to_owned(),
            matched: None,
            fix: None,
        }
    }

    #[test]
    fn errors_first_and_what_changed() {
        let previous = DnsCheckRow {
            domain: "example.com".to_owned(),
            checked_utc: 1_764_547_200,
            findings: vec![
                stored("spf.present", "ok", Some("v=spf1 -all")),
                stored("dmarc.missing", "error", None),
            ],
            sources: vec![
                source("192.0.2.10", "example.com", "fail"),
                source("192.0.2.200", "example.com", "pass"),
                source("203.0.113.1", "example.com", "fail"),
            ],
        };
        let latest = DnsCheckRow {
            domain: "example.com".to_owned(),
            checked_utc: 1_765_065_600,
            findings: vec![
                stored("mx.present", "ok", None),
                stored(
                    "spf.too_many_lookups",
                    "error",
                    Some("v=spf1 include:a -all"),
                ),
                stored("dmarc.policy", "warn", Some("v=DMARC1; p=none")),
            ],
            sources: vec![
                source("192.0.2.10", "example.com", "pass"),
                source("192.0.2.200", "example.com", "fail"),
                source("192.0.2.200", "bounce.esp.test", "pass"),
                source("198.51.100.7", "bounce.esp.test", "fail"),
            ],
        };
        let summary = summarise(&latest, Some(&previous));
        let order: Vec<&str> = summary.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(
            order,
            ["spf.too_many_lookups", "dmarc.policy", "mx.present"]
        );
        assert_eq!(summary.checked_utc, "2025-12-07T00:00:00Z");
        assert_eq!(
            summary.previous_checked_utc.as_deref(),
            Some("2025-12-01T00:00:00Z")
        );
        assert_eq!(
            summary.changes,
            [
                "DMARC record published: \"v=DMARC1; p=none\"",
                "SPF record changed: now \"v=spf1 include:a -all\" (was \"v=spf1 -all\")",
                "new error: spf.too_many_lookups",
                "fixed: dmarc.missing",
                "no longer covered by SPF: 192.0.2.200",
                "now covered by SPF: 192.0.2.10",
            ]
        );
        // 203.0.113.1 was not evaluated this time: neither covered nor not.
        assert!(summarise(&latest, None).changes.is_empty());
        // Uncovered: evaluated against the domain itself and not passing.
        let uncovered: Vec<(&str, &str)> = summary
            .uncovered_sources
            .iter()
            .map(|source| (source.source_ip.as_str(), source.spf_result.as_str()))
            .collect();
        assert_eq!(uncovered, [("192.0.2.200", "fail")]);
    }
}
