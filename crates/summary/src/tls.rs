//! The TLS part of a domain's summary, from its SMTP TLS reports (RFC 8460): sessions, the
//! failure rate and its change, failures by result type and by receiving MX, the policy types
//! seen, and advice for the common failures. Reports are placed by the midpoint of their date
//! range, like aggregate reports.

use super::Period;
use super::numbers::thousands;
use super::rate;
use ruadb_store::TlsPolicyRow;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A domain's SMTP TLS reports in the period (`domains[].tls` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsSummary {
    /// Reports, sessions and the failure rate of the period.
    #[serde(flatten)]
    pub totals: TlsTotals,
    /// The same for the previous period.
    pub previous: TlsTotals,
    /// `policy-type`s seen (`sts`, `tlsa`, `no-policy-found`, …), sorted.
    pub policy_types: Vec<String>,
    /// Failed sessions per `result-type`, most first.
    pub by_result_type: Vec<TlsFailureCount>,
    /// Failed sessions per receiving MX (hostname, else IP, else "unknown MX"), most first.
    pub by_receiving_mx: Vec<TlsFailureCount>,
    /// What to do about the failures, most sessions first.
    pub advice: Vec<String>,
}

/// Sessions of a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TlsTotals {
    /// TLS reports that named the domain.
    pub reports: u64,
    /// `total-successful-session-count`, summed.
    pub successful_sessions: u64,
    /// `total-failure-session-count`, summed.
    pub failed_sessions: u64,
    /// `failed / (successful + failed)`, four decimals; null without sessions.
    pub failure_rate: Option<f64>,
}

/// Failed sessions under one name (a result type or an MX).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFailureCount {
    /// The result type or MX.
    pub name: String,
    /// Failed sessions.
    pub sessions: u64,
}

/// Folds TLS policies into per-domain summaries.
#[derive(Default)]
pub(crate) struct TlsBuilder {
    domains: HashMap<String, DomainTls>,
}

#[derive(Default)]
struct DomainTls {
    current: Sums,
    previous: Sums,
    policy_types: BTreeSet<String>,
    by_result_type: BTreeMap<String, u64>,
    by_mx: BTreeMap<String, u64>,
    /// Per result type, the MXes that failed that way, for the advice.
    mx_by_result_type: BTreeMap<String, BTreeMap<String, u64>>,
}

#[derive(Default)]
struct Sums {
    reports: BTreeSet<(String, String)>,
    successful: u64,
    failed: u64,
}

impl Sums {
    fn add(&mut self, policy: &TlsPolicyRow) {
        self.reports
            .insert((policy.report_org.to_lowercase(), policy.report_id.clone()));
        self.successful = self.successful.saturating_add(policy.successful_sessions);
        self.failed = self.failed.saturating_add(policy.failed_sessions);
    }

    fn totals(&self) -> TlsTotals {
        TlsTotals {
            reports: self.reports.len() as u64,
            successful_sessions: self.successful,
            failed_sessions: self.failed,
            failure_rate: rate(self.failed, self.successful.saturating_add(self.failed)),
        }
    }
}

impl TlsBuilder {
    /// Adds one policy if its report's midpoint lies in `current` or `previous`.
    pub(crate) fn add(&mut self, policy: &TlsPolicyRow, current: &Period, previous: &Period) {
        let Some(domain) = &policy.policy_domain else {
            return;
        };
        if previous.contains_report(policy.begin, policy.end) {
            self.domains
                .entry(domain.clone())
                .or_default()
                .previous
                .add(policy);
            return;
        }
        if !current.contains_report(policy.begin, policy.end) {
            return;
        }
        let tls = self.domains.entry(domain.clone()).or_default();
        tls.current.add(policy);
        tls.policy_types.insert(policy.policy_type.clone());
        for failure in &policy.failures {
            let mx = failure
                .receiving_mx_hostname
                .clone()
                .or_else(|| failure.receiving_ip.clone())
                .unwrap_or_else(|| "unknown MX".to_owned());
            let sessions = failure.failed_sessions;
            add_to(&mut tls.by_result_type, &failure.result_type, sessions);
            add_to(&mut tls.by_mx, &mx, sessions);
            add_to(
                tls.mx_by_result_type
                    .entry(failure.result_type.clone())
                    .or_default(),
                &mx,
                sessions,
            );
        }
    }

    /// The domains with TLS reports in the period.
    pub(crate) fn domains(&self) -> impl Iterator<Item = &str> {
        self.domains
            .iter()
            .filter(|(_, tls)| !tls.current.reports.is_empty())
            .map(|(name, _)| name.as_str())
    }

    /// The summary of `domain`, if it had TLS reports in the period.
    pub(crate) fn summary(&mut self, domain: &str) -> Option<TlsSummary> {
        let tls = self.domains.remove(domain)?;
        if tls.current.reports.is_empty() {
            return None;
        }
        let advice = tls
            .mx_by_result_type
            .iter()
            .map(|(result_type, mxes)| {
                let sessions = mxes.values().fold(0u64, |sum, n| sum.saturating_add(*n));
                (sessions, advice(result_type, &most_first(mxes), domain))
            })
            .collect::<Vec<_>>();
        let mut advice = advice;
        advice.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        Some(TlsSummary {
            totals: tls.current.totals(),
            previous: tls.previous.totals(),
            policy_types: tls.policy_types.into_iter().collect(),
            by_result_type: most_first(&tls.by_result_type),
            by_receiving_mx: most_first(&tls.by_mx),
            advice: advice.into_iter().map(|(_, line)| line).collect(),
        })
    }
}

fn add_to(map: &mut BTreeMap<String, u64>, name: &str, sessions: u64) {
    match map.get_mut(name) {
        Some(total) => *total = total.saturating_add(sessions),
        None => {
            map.insert(name.to_owned(), sessions);
        }
    }
}

/// Most sessions first, then by name.
fn most_first(map: &BTreeMap<String, u64>) -> Vec<TlsFailureCount> {
    let mut counts: Vec<TlsFailureCount> = map
        .iter()
        .map(|(name, sessions)| TlsFailureCount {
            name: name.clone(),
            sessions: *sessions,
        })
        .collect();
    counts.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then_with(|| a.name.cmp(&b.name))
    });
    counts
}

/// One line of advice for the failures of one result type, naming up to three MXes.
fn advice(result_type: &str, mxes: &[TlsFailureCount], domain: &str) -> String {
    let sessions: u64 = mxes
        .iter()
        .fold(0, |sum, mx| sum.saturating_add(mx.sessions));
    let mut names: Vec<&str> = mxes.iter().take(3).map(|mx| mx.name.as_str()).collect();
    if mxes.len() > 3 {
        names.push("others");
    }
    let hosts = names.join(", ");
    let count = format!(
        "{} failed {}",
        thousands(sessions),
        if sessions == 1 { "session" } else { "sessions" }
    );
    match result_type {
        "certificate-expired" => {
            format!("Renew the certificate of {hosts}: senders found it expired ({count}).")
        }
        "certificate-host-mismatch" => format!(
            "The certificate of {hosts} does not name the host senders connect to: add the MX \
             name to the certificate ({count})."
        ),
        "certificate-not-trusted" | "validation-failure" => format!(
            "Senders could not validate the certificate of {hosts}: serve the full chain from a \
             public CA ({result_type}, {count})."
        ),
        "starttls-not-supported" => format!(
            "{hosts} did not offer STARTTLS: enable TLS on the server, or senders that require \
             it cannot deliver ({count})."
        ),
        "sts-policy-fetch-error" => format!(
            "Senders could not fetch the MTA-STS policy: check that \
             https://mta-sts.{domain}/.well-known/mta-sts.txt resolves, has a valid \
             certificate and answers 200 ({count})."
        ),
        "sts-policy-invalid" => format!(
            "The MTA-STS policy of {domain} is invalid: check its syntax and that its mx \
             lines match the MX records ({count})."
        ),
        "sts-webpki-invalid" => format!(
            "The certificate of mta-sts.{domain} is not valid for senders: renew it or fix \
             its chain ({count})."
        ),
        "tlsa-invalid" | "dnssec-invalid" | "dane-required" => format!(
            "DANE failed for {hosts}: make the TLSA records match the certificate served, \
             with DNSSEC valid ({result_type}, {count})."
        ),
        other => format!("TLS failures of type {other} reaching {hosts} ({count})."),
    }
}
