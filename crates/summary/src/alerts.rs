//! Alerts: what in a summary deserves a person's attention, so that a cron job can stay
//! silent on quiet weeks and its exit status can be the alarm.
//!
//! [`alerts()`] is a pure function of a [`Summary`] and the [`AlertThresholds`]; the codes are
//! stable (they are matched by scripts), the messages are for people.

use super::numbers::{percent, thousands};
use super::render::{clean, display_org};
use super::{Classification, DomainSummary, Summary, rate, total};
use serde::Serialize;
use std::fmt;

/// How much must change before an alert is raised. The defaults are documented in README
/// ("Alerts"); `[alerts]` in the configuration file overrides them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertThresholds {
    /// A new unauthenticated or misaligned source with at least this many messages is
    /// action needed.
    pub new_source_messages: u64,
    /// A DMARC pass rate down by at least this many percentage points against the previous
    /// period is worth a look.
    pub pass_drop_points: f64,
}

impl AlertThresholds {
    /// `new_source_messages`'s default.
    pub const DEFAULT_NEW_SOURCE_MESSAGES: u64 = 10;
    /// `pass_drop_points`'s default.
    pub const DEFAULT_PASS_DROP_POINTS: f64 = 5.0;
}

impl Default for AlertThresholds {
    fn default() -> Self {
        AlertThresholds {
            new_source_messages: Self::DEFAULT_NEW_SOURCE_MESSAGES,
            pass_drop_points: Self::DEFAULT_PASS_DROP_POINTS,
        }
    }
}

/// How urgent an alert is; ordered, so the most urgent of a list is its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something to look at (`ruadb summary --alerts` exits 1).
    Notice,
    /// Action needed (`ruadb summary --alerts` exits 2).
    Action,
}

impl Severity {
    /// `notice` or `action`, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Notice => "notice",
            Severity::Action => "action",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an alert is about: the stable code scripts match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertCode {
    /// A new source with no SPF or DKIM pass sent at least `new_source_messages` messages.
    NewUnauthenticatedSource,
    /// A new source authenticating as another domain sent at least `new_source_messages`.
    NewMisalignedSource,
    /// The DMARC pass rate fell by at least `pass_drop_points` against the previous period.
    PassRateDrop,
    /// A reporter that sent reports in the baseline weeks sent none this period.
    ReporterSilent,
    /// A domain received no report in the period (or nothing was received at all).
    NoReports,
    /// Reporters saw different published policies.
    PolicyChanged,
}

impl AlertCode {
    /// The code as in JSON: `new_unauthenticated_source`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            AlertCode::NewUnauthenticatedSource => "new_unauthenticated_source",
            AlertCode::NewMisalignedSource => "new_misaligned_source",
            AlertCode::PassRateDrop => "pass_rate_drop",
            AlertCode::ReporterSilent => "reporter_silent",
            AlertCode::NoReports => "no_reports",
            AlertCode::PolicyChanged => "policy_changed",
        }
    }
}

impl fmt::Display for AlertCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// What it is about.
    pub code: AlertCode,
    /// How urgent.
    pub severity: Severity,
    /// The policy domain; null only for "nothing received at all".
    pub domain: Option<String>,
    /// In plain words, for a person (reporter names cleaned of control characters).
    pub message: String,
}

/// The alerts of `summary`, most urgent first, then in domain order.
pub fn alerts(summary: &Summary, thresholds: &AlertThresholds) -> Vec<Alert> {
    let mut alerts = Vec::new();
    if summary.domains.is_empty() {
        alerts.push(Alert {
            code: AlertCode::NoReports,
            severity: Severity::Action,
            domain: None,
            message: format!("no reports received for any domain in {}", summary.period),
        });
    }
    for domain in &summary.domains {
        domain_alerts(domain, thresholds, &mut alerts);
    }
    // Stable: within a severity, the order of the domains and of the checks is kept.
    alerts.sort_by_key(|alert| std::cmp::Reverse(alert.severity));
    alerts
}

/// The most urgent severity among `alerts`, `None` when there are none.
pub fn worst(alerts: &[Alert]) -> Option<Severity> {
    alerts.iter().map(|alert| alert.severity).max()
}

fn domain_alerts(domain: &DomainSummary, thresholds: &AlertThresholds, out: &mut Vec<Alert>) {
    let name = &domain.domain;
    let mut push = |code, severity, message: String| {
        out.push(Alert {
            code,
            severity,
            domain: Some(name.clone()),
            message,
        });
    };
    if domain.totals.reports == 0 {
        push(
            AlertCode::NoReports,
            Severity::Action,
            format!("{name}: no reports received in this period"),
        );
    }
    for source in &domain.new_sources {
        let code = match source.classification {
            Classification::Unauthenticated => AlertCode::NewUnauthenticatedSource,
            Classification::Misaligned => AlertCode::NewMisalignedSource,
            Classification::Aligned | Classification::Forwarded => continue,
        };
        if source.messages < thresholds.new_source_messages {
            continue;
        }
        push(
            code,
            Severity::Action,
            format!(
                "{name}: new {} source {} sent {} messages",
                source.classification,
                source.source_ip,
                thousands(source.messages)
            ),
        );
    }
    if let Some(alert) = pass_rate_drop(domain, thresholds) {
        push(AlertCode::PassRateDrop, alert.0, alert.1);
    }
    for reporter in &domain.silent_reporters {
        push(
            AlertCode::ReporterSilent,
            Severity::Notice,
            format!(
                "{name}: {} sent no report this period (last report {})",
                display_org(&reporter.org),
                reporter.last_seen
            ),
        );
    }
    if let Some(policy) = domain.policy.as_ref().filter(|policy| policy.changed) {
        push(
            AlertCode::PolicyChanged,
            Severity::Notice,
            format!(
                "{name}: published policy changed, now {}",
                clean(&policy.current.tags())
            ),
        );
    }
}

/// A pass-rate drop of at least the threshold: a notice, or action needed when the domain's
/// own mail is affected — its own sources (classed aligned or misaligned) failed DMARC for at
/// least `pass_drop_points` percent of their messages — rather than only more spoofing.
fn pass_rate_drop(
    domain: &DomainSummary,
    thresholds: &AlertThresholds,
) -> Option<(Severity, String)> {
    let now = domain.totals.dmarc_pass_rate?;
    let before = domain.previous.dmarc_pass_rate?;
    let drop_points = (before - now) * 100.0;
    // The rates carry four decimals: compare what is shown, not float noise.
    if (drop_points * 10.0).round() / 10.0 < thresholds.pass_drop_points {
        return None;
    }
    let own = domain.sources.iter().filter(|source| {
        matches!(
            source.classification,
            Classification::Aligned | Classification::Misaligned
        )
    });
    let own_messages = total(own.clone().map(|source| source.messages));
    let own_failing = total(own.map(|source| source.messages.saturating_sub(source.dmarc_pass)));
    let own_failing_points = rate(own_failing, own_messages).unwrap_or(0.0) * 100.0;
    let own_affected = own_failing > 0 && own_failing_points >= thresholds.pass_drop_points;
    let severity = if own_affected {
        Severity::Action
    } else {
        Severity::Notice
    };
    let whose = if own_affected {
        format!(
            "; {} of your own mail failed ({} messages)",
            percent(own_failing_points / 100.0),
            thousands(own_failing)
        )
    } else {
        String::new()
    };
    Some((
        severity,
        format!(
            "{}: DMARC pass rate down {:.1} points to {} (was {}){whose}",
            domain.domain,
            drop_points,
            percent(now),
            percent(before)
        ),
    ))
}
