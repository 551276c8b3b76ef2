//! What every rendering of a summary shows, in which order, and how much of each list: one
//! walk ([`render`]) over a [`Summary`] that hands each section to a [`SummaryWriter`]. The
//! text and Markdown renderers are writers; they decide only how a section looks. The lines
//! both say (the comparison, "no reports", "… and N more") are written here once.

use super::numbers::{percent, point_change, thousands};
use super::period::DAY;
use super::{
    BASELINE_WEEKS, DailyVolume, DomainSummary, Period, PeriodTotals, PolicySeen, PolicySummary,
    PublishedPolicy, SourceSummary, Summary, TlsFailureCount, TlsSummary, total,
};
use crate::{Alert, Classification, DnsFinding, DnsSummary, UncoveredSource};

/// How many lines of each list a rendering shows; the JSON output has them all. A domain with
/// thousands of sources must still get a readable mail.
pub(crate) const SHOWN: usize = 10;
/// How many DKIM or SPF results a source line shows.
pub(crate) const SHOWN_RESULTS: usize = 4;
/// The sparkline never gets wider than this; longer periods are bucketed.
const SPARKLINE_MAX: usize = 56;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One rendering of a summary, section by section, in the order [`render`] calls them.
pub(crate) trait SummaryWriter {
    /// The title, and what the changes are measured against ([`comparison_line`]).
    fn heading(&mut self, summary: &Summary);
    /// The alerts, when they were asked for (an empty list says "none").
    fn alerts(&mut self, alerts: &[Alert]);
    /// No domain to show: nothing was received at all ([`no_reports_line`]).
    fn nothing_received(&mut self);
    /// The start of a domain's part.
    fn domain_heading(&mut self, domain: &DomainSummary);
    /// A domain without reports in the period.
    fn no_reports(&mut self, domain: &DomainSummary);
    /// A domain's totals, rates, dispositions, daily volume and policy.
    fn totals(&mut self, summary: &Summary, domain: &DomainSummary);
    /// What to do: the readiness line, then one line per source.
    fn advice(&mut self, advice: &Shown<'_, String>);
    /// The sources, one group per class that has any.
    fn sources(&mut self, domain: &DomainSummary, groups: &[ClassGroup<'_>]);
    /// Sources not seen in the baseline weeks.
    /// The sources by service, then unknown ones by AS organisation.
    fn services(&mut self, services: &Shown<'_, super::ServiceSummary>);
    fn new_sources(&mut self, domain: &DomainSummary, new: &Shown<'_, super::NewSource>);
    /// The sources with most messages failing DMARC.
    fn top_failing(&mut self, domain: &DomainSummary);
    /// The SMTP TLS reports of the domain: the sessions line ([`tls_sessions_line`]), then
    /// the policy types, failures by result type and by MX, and the advice.
    fn tls(&mut self, summary: &Summary, tls: &TlsSections<'_>);
    /// The DMARC failure reports of the period, by source and failure type.
    fn failure_samples(
        &mut self,
        samples: &super::FailureSamples,
        groups: &Shown<'_, super::FailureSampleGroup>,
    );
    /// The latest DNS check: its status line ([`dns_status_line`]), the findings that are not
    /// ok (errors first), what changed since the check before, and the sources the domain's
    /// SPF does not cover ([`uncovered_title`], [`uncovered_source_line`]).
    fn dns(
        &mut self,
        dns: &DnsSummary,
        problems: &Shown<'_, DnsFinding>,
        uncovered: &Shown<'_, UncoveredSource>,
    );
    /// Who sent reports.
    fn reporters(&mut self, reporters: &Shown<'_, super::ReporterSummary>);
    /// Who sent reports before but none in the period.
    fn silent_reporters(&mut self, silent: &Shown<'_, super::SilentReporter>);
}

/// A [`SummaryWriter`] whose output can be taken a part at a time (the start, then each
/// domain): the parts, one after the other, are what the whole summary renders to.
pub(crate) trait PartWriter: SummaryWriter + Default {
    /// What was written into this writer.
    fn into_part(self) -> String;
}

/// The TLS part of a domain, with its lists cut to what a rendering shows.
pub(crate) struct TlsSections<'a> {
    pub tls: &'a TlsSummary,
    pub by_result_type: Shown<'a, TlsFailureCount>,
    pub by_receiving_mx: Shown<'a, TlsFailureCount>,
    pub advice: Shown<'a, String>,
}

/// `5,629 TLS sessions in 3 reports, 303 failed (5.4%); previous week: 1.2% (+4.2 pts)`.
pub(crate) fn tls_sessions_line(summary: &Summary, tls: &TlsSummary) -> String {
    let now = &tls.totals;
    let sessions = now.successful_sessions.saturating_add(now.failed_sessions);
    let rate = now
        .failure_rate
        .map(|rate| format!(" ({})", percent(rate)))
        .unwrap_or_default();
    let previous_name = previous_name(&summary.period);
    let before = &tls.previous;
    let comparison = match before.failure_rate {
        _ if before.reports == 0 => format!("no TLS reports in the {previous_name}"),
        Some(rate) => format!(
            "{previous_name}: {} ({})",
            percent(rate),
            point_change(now.failure_rate, before.failure_rate)
        ),
        None => format!("no sessions in the {previous_name}"),
    };
    format!(
        "{} TLS {} in {} {}, {} failed{rate}; {comparison}.",
        thousands(sessions),
        plural(sessions, "session", "sessions"),
        thousands(now.reports),
        plural(now.reports, "report", "reports"),
        thousands(now.failed_sessions),
    )
}

/// Walks `summary`, handing `out` each section that has something to show.
pub(crate) fn render(summary: &Summary, out: &mut impl SummaryWriter) {
    render_start(summary, !summary.domains.is_empty(), out);
    for domain in &summary.domains {
        render_domain(summary, domain, out);
    }
}

/// What comes before the domains: the heading, the alerts, and "nothing received" when
/// there is no domain to show. `summary`'s own domains are not looked at, so a summary
/// written one domain at a time ([`render_domain`]) starts the same way.
pub(crate) fn render_start(summary: &Summary, any_domain: bool, out: &mut impl SummaryWriter) {
    out.heading(summary);
    if let Some(alerts) = &summary.alerts {
        out.alerts(alerts);
    }
    if !any_domain {
        out.nothing_received();
    }
}

/// One domain's part of `summary`, whose periods it is measured in.
pub(crate) fn render_domain(
    summary: &Summary,
    domain: &DomainSummary,
    out: &mut impl SummaryWriter,
) {
    out.domain_heading(domain);
    if domain.totals.reports == 0 {
        out.no_reports(domain);
    } else {
        out.totals(summary, domain);
    }
    if !domain.advice.is_empty() {
        // The readiness line (first) plus SHOWN source lines.
        out.advice(&Shown::first(&domain.advice, SHOWN + 1, "lines of advice"));
    }
    if let Some(dns) = &domain.dns {
        let problems = dns
            .findings
            .iter()
            .position(|finding| finding.severity == "ok")
            .unwrap_or(dns.findings.len());
        out.dns(
            dns,
            &Shown::first(&dns.findings[..problems], SHOWN, "DNS findings"),
            &Shown::first(&dns.uncovered_sources, SHOWN, "sources not covered by SPF"),
        );
    }
    if !domain.sources.is_empty() {
        out.sources(domain, &class_groups(domain));
    }
    if !domain.services.is_empty() {
        out.services(&Shown::first(&domain.services, SHOWN, "services"));
    }
    if domain.totals.reports > 0 {
        out.new_sources(
            domain,
            &Shown::first(&domain.new_sources, SHOWN, "new sources"),
        );
        out.top_failing(domain);
    }
    if let Some(tls) = &domain.tls {
        out.tls(
            summary,
            &TlsSections {
                tls,
                by_result_type: Shown::first(&tls.by_result_type, SHOWN, "result types"),
                by_receiving_mx: Shown::first(&tls.by_receiving_mx, SHOWN, "MX hosts"),
                advice: Shown::first(&tls.advice, SHOWN, "lines of TLS advice"),
            },
        );
    }
    if let Some(samples) = &domain.failure_samples {
        let groups = Shown::first(&samples.by_source, SHOWN, "sources of failure reports");
        out.failure_samples(samples, &groups);
    }
    if !domain.reporters.is_empty() {
        out.reporters(&Shown::first(&domain.reporters, SHOWN, "reporters"));
    }
    if !domain.silent_reporters.is_empty() {
        let silent = &domain.silent_reporters;
        out.silent_reporters(&Shown::first(silent, SHOWN, "silent reporters"));
    }
}

/// A list and how much of it a rendering shows.
pub(crate) struct Shown<'a, T> {
    /// The whole list (column widths are measured on all of it).
    pub all: &'a [T],
    /// The items shown.
    pub shown: &'a [T],
    /// `… and N more …` when not all are shown.
    pub more: Option<String>,
}

impl<'a, T> Shown<'a, T> {
    /// The first `count` of `all`; `what` names the rest in [`Shown::more`].
    fn first(all: &'a [T], count: usize, what: &str) -> Shown<'a, T> {
        Shown {
            all,
            shown: &all[..all.len().min(count)],
            more: more_line(all.len(), count, what),
        }
    }
}

/// The sources of one class.
pub(crate) struct ClassGroup<'a> {
    /// The class.
    pub class: Classification,
    /// How many sources it has.
    pub count: usize,
    /// Their messages.
    pub messages: u64,
    /// The sources shown, most messages first.
    pub shown: Vec<&'a SourceSummary>,
    /// `… and N more misaligned sources (M messages) …` when not all are shown.
    pub more: Option<String>,
}

/// The sources of `domain` by class, in class order, classes without sources left out.
fn class_groups(domain: &DomainSummary) -> Vec<ClassGroup<'_>> {
    Classification::ALL
        .into_iter()
        .filter_map(|class| {
            let sources: Vec<&SourceSummary> = domain
                .sources
                .iter()
                .filter(|source| source.classification == class)
                .collect();
            if sources.is_empty() {
                return None;
            }
            let hidden = &sources[sources.len().min(SHOWN)..];
            let more = (!hidden.is_empty())
                .then(|| {
                    let messages = total(hidden.iter().map(|source| source.messages));
                    let what = format!("{class} sources ({} messages)", thousands(messages));
                    more_line(sources.len(), SHOWN, &what)
                })
                .flatten();
            Some(ClassGroup {
                class,
                count: sources.len(),
                messages: total(sources.iter().map(|source| source.messages)),
                shown: sources.iter().take(SHOWN).copied().collect(),
                more,
            })
        })
        .collect()
}

/// What the changes and "new"/"silent" are measured against.
pub(crate) fn comparison_line(summary: &Summary) -> String {
    let previous = &summary.previous_period;
    let previous = previous
        .iso_week_label()
        .unwrap_or_else(|| previous.to_string());
    format!(
        "Changes are against {previous}; new sources and silent reporters against the {} \
         weeks before, {}.",
        BASELINE_WEEKS, summary.baseline
    )
}

/// `ACTION` or `NOTICE`: how an alert's severity reads in a rendering.
pub(crate) fn alert_label(alert: &Alert) -> &'static str {
    match alert.severity {
        crate::Severity::Action => "ACTION",
        crate::Severity::Notice => "NOTICE",
    }
}

/// The DNS section's first line: when the check ran and how many findings of each severity.
pub(crate) fn dns_status_line(dns: &DnsSummary) -> String {
    let day = |time: &str| time.get(..10).unwrap_or(time).to_owned();
    let (errors, warnings, ok) = (dns.count("error"), dns.count("warn"), dns.count("ok"));
    let since = match &dns.previous_checked_utc {
        None => String::new(),
        Some(previous) if dns.changes.is_empty() => {
            format!("; nothing changed since {}", day(previous))
        }
        Some(previous) => format!("; changes since {}:", day(previous)),
    };
    format!(
        "Checked {} UTC: {errors} {}, {warnings} {}, {ok} ok{since}",
        dns.checked_utc.replace('T', " ").trim_end_matches('Z'),
        plural(errors as u64, "error", "errors"),
        plural(warnings as u64, "warning", "warnings"),
    )
}

/// The heading of the sources a domain's SPF does not cover.
pub(crate) fn uncovered_title(dns: &DnsSummary) -> String {
    let count = dns.uncovered_sources.len();
    format!(
        "Not covered by SPF at the check: {count} {}",
        plural(count as u64, "source", "sources")
    )
}

/// One source the domain's SPF does not cover: `192.0.2.9 (unauthenticated, 1,200 messages):
/// SPF fail (-all)`.
pub(crate) fn uncovered_source_line(source: &UncoveredSource) -> String {
    format!(
        "{} ({}, {} {}): SPF {}{}",
        source.source_ip,
        source.class,
        thousands(source.messages),
        plural(source.messages, "message", "messages"),
        source.spf_result,
        source
            .matched
            .as_deref()
            .map(|matched| format!(" ({matched})"))
            .unwrap_or_default()
    )
}

/// The line shown when nothing arrived, so that a broken pipeline is noticed.
pub(crate) fn no_reports_line(what: &str) -> String {
    format!(
        "No reports received for {what} in this period. If mail was sent, check that the \
         rua= mailbox still receives reports and that `ruadb fetch` runs."
    )
}

/// `… and 1,234 more sources; --format json lists them all`, when not all `total` are shown.
fn more_line(total: usize, shown: usize, what: &str) -> Option<String> {
    (total > shown).then(|| {
        format!(
            "… and {} more {what}; --format json lists them all",
            thousands((total - shown) as u64)
        )
    })
}

/// `d=example.com s=sel1 pass`, one per DKIM result seen.
pub(crate) fn dkim_results(source: &SourceSummary) -> Vec<String> {
    source
        .dkim
        .iter()
        .map(|dkim| match &dkim.selector {
            Some(selector) => format!("d={} s={selector} {}", dkim.domain, dkim.result),
            None => format!("d={} {}", dkim.domain, dkim.result),
        })
        .collect()
}

/// `example.com pass`, one per SPF result seen.
pub(crate) fn spf_results(source: &SourceSummary) -> Vec<String> {
    source
        .spf
        .iter()
        .map(|spf| format!("{} {}", spf.domain, spf.result))
        .collect()
}

/// What a source line says about the source: who it is ([`source_label`]), then its
/// authentication, `DKIM d=… pass; SPF … fail`, at most [`SHOWN_RESULTS`] of each, cleaned
/// for a terminal or a mail.
pub(crate) fn source_results(source: &SourceSummary) -> String {
    let mut details = Vec::new();
    if let Some(label) = source_label(source) {
        details.push(label);
    }
    if !source.dkim.is_empty() {
        details.push(format!("DKIM {}", some_of(&dkim_results(source))));
    }
    if !source.spf.is_empty() {
        details.push(format!("SPF {}", some_of(&spf_results(source))));
    }
    if details.is_empty() {
        details.push("no DKIM or SPF results reported".to_owned());
    }
    clean(&details.join("; "))
}

/// `a, b, c, d and 3 more`: at most [`SHOWN_RESULTS`] items.
pub(crate) fn some_of(items: &[String]) -> String {
    if items.len() <= SHOWN_RESULTS {
        return items.join(", ");
    }
    format!(
        "{} and {} more",
        items[..SHOWN_RESULTS].join(", "),
        items.len() - SHOWN_RESULTS
    )
}

/// The daily volumes as a sparkline: one mark per day, or per `n` days (returned) when the
/// period has more days than fit in a line.
pub(crate) fn daily_sparkline(daily: &[DailyVolume]) -> (String, usize) {
    let bucket = daily.len().div_ceil(SPARKLINE_MAX).max(1);
    let volumes: Vec<u64> = daily
        .chunks(bucket)
        .map(|chunk| total(chunk.iter().map(|day| day.messages)))
        .collect();
    (sparkline(&volumes), bucket)
}

/// `▁▃█·`: one bar per value, scaled to the largest; `·` for zero.
fn sparkline(values: &[u64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&value| {
            if value == 0 || max == 0 {
                return '·';
            }
            // Any non-zero value gets at least the lowest bar.
            let level = (value as u128 * BARS.len() as u128).div_ceil(max as u128) as usize;
            BARS[level.clamp(1, BARS.len()) - 1]
        })
        .collect()
}

/// The policy before the period, when a changed policy is shown and it differs from the first
/// one seen in the period (otherwise the list of policies seen says it already).
pub(crate) fn policy_before(policy: &PolicySummary) -> Option<&PublishedPolicy> {
    policy.before.as_ref().filter(|before| {
        policy
            .seen
            .first()
            .is_none_or(|first| first.policy != **before)
    })
}

/// `p=none … (2026-11-16 to 2026-11-18, 3 reports)`: one policy seen and where.
pub(crate) fn policy_seen_line(seen: &PolicySeen) -> String {
    format!(
        "{} ({} to {}, {} {})",
        seen.policy.tags(),
        seen.first_seen,
        seen.last_seen,
        seen.reports,
        plural(seen.reports, "report", "reports")
    )
}

/// "previous week" for a week, "previous period" otherwise.
pub(crate) fn previous_name(period: &Period) -> &'static str {
    if period.len() == 7 * DAY && period.iso_week_label().is_some() {
        "previous week"
    } else {
        "previous period"
    }
}

/// The rates shown with their change: (label, this period, the previous one).
pub(crate) fn rate_rows(
    now: &PeriodTotals,
    before: &PeriodTotals,
) -> [(&'static str, Option<f64>, Option<f64>); 3] {
    [
        ("DMARC pass", now.dmarc_pass_rate, before.dmarc_pass_rate),
        ("SPF aligned", now.spf_aligned_rate, before.spf_aligned_rate),
        (
            "DKIM aligned",
            now.dkim_aligned_rate,
            before.dkim_aligned_rate,
        ),
    ]
}

/// The title of the failure samples section.
pub(crate) fn failure_samples_title(samples: &super::FailureSamples) -> String {
    format!(
        "Failure samples ({} {})",
        thousands(samples.reports),
        plural(samples.reports, "failure report", "failure reports")
    )
}

/// One group of failure reports as every rendering shows it: source, failure type, reports,
/// and the source's class in the aggregate reports.
pub(crate) fn failure_sample_cells(group: &super::FailureSampleGroup) -> [String; 4] {
    [
        group
            .source_ip
            .clone()
            .unwrap_or_else(|| "(no source IP)".to_owned()),
        group
            .auth_failure
            .as_deref()
            .map_or_else(|| "(not stated)".to_owned(), clean),
        thousands(group.reports),
        group.classification.map_or_else(
            || "not in aggregate reports".to_owned(),
            |class| class.to_string(),
        ),
    ]
}

/// `one` for 1, `many` otherwise.
pub(crate) fn plural(count: u64, one: &'static str, many: &'static str) -> &'static str {
    if count == 1 { one } else { many }
}

/// The org name, or a stand-in for reporters that send an empty `<org_name/>`.
pub(crate) fn display_org(org: &str) -> String {
    if org.trim().is_empty() {
        "(no org_name)".to_owned()
    } else {
        clean(org)
    }
}

/// What to call a source besides its IP: the service (with its kind and the evidence that
/// named it), else its confirmed reverse DNS name or its AS organisation followed by the AS
/// number and country when an IP database gave them ("Example Net (AS64500, DE)"); cleaned.
pub(crate) fn source_label(source: &SourceSummary) -> Option<String> {
    let identity = &source.identity;
    if let Some(service) = &identity.service {
        let why: Vec<&str> = [
            identity.service_kind.as_deref(),
            identity.evidence.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        return Some(clean(&if why.is_empty() {
            service.clone()
        } else {
            format!("{service} ({})", why.join(", by "))
        }));
    }
    let network = [
        identity.asn.map(|asn| format!("AS{asn}")),
        identity.country.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let label = match (identity.label(), network.is_empty()) {
        (Some(name), true) => name.to_owned(),
        (Some(name), false) => format!("{name} ({network})"),
        (None, false) => network,
        (None, true) => return None,
    };
    Some(clean(&label))
}

/// The name of a "By service" group: the service, or `unknown (AS organisation)`; cleaned.
pub(crate) fn service_group_name(group: &super::ServiceSummary) -> String {
    match (&group.service, &group.as_org) {
        (Some(service), _) => clean(service),
        (None, Some(as_org)) => clean(&format!("unknown ({as_org})")),
        (None, None) => "unknown".to_owned(),
    }
}

/// Spells out control characters and bidi overrides (from reporter-supplied text) so they
/// cannot disturb a terminal or a mail, nor make a name read differently. The escape is
/// idempotent, so text cleaned twice reads the same.
pub(crate) fn clean(text: &str) -> String {
    ruadb_report::escape_for_terminal(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_peak() {
        assert_eq!(sparkline(&[0, 1, 4, 8]), "·▁▄█");
        assert_eq!(sparkline(&[1, 1000]), "▁█");
        assert_eq!(sparkline(&[0, 0]), "··");
        assert_eq!(sparkline(&[5]), "█");
    }

    #[test]
    fn long_periods_are_bucketed_to_fit_a_line() {
        let daily: Vec<DailyVolume> = (0..120)
            .map(|index| DailyVolume {
                day: format!("day {index}"),
                messages: index,
                dmarc_pass: 0,
                classes: crate::ClassMessages::default(),
            })
            .collect();
        let (marks, bucket) = daily_sparkline(&daily);
        assert_eq!(bucket, 3);
        assert_eq!(marks.chars().count(), 40);
        assert!(marks.starts_with('▁') && marks.ends_with('█'), "{marks}");
        let (marks, bucket) = daily_sparkline(&daily[..7]);
        assert_eq!((marks.chars().count(), bucket), (7, 1));
    }

    #[test]
    fn lists_are_cut_with_a_line_saying_how_many_more() {
        let items: Vec<u32> = (0..13).collect();
        let shown = Shown::first(&items, SHOWN, "things");
        assert_eq!(shown.shown.len(), SHOWN);
        assert_eq!(
            shown.more.as_deref(),
            Some("… and 3 more things; --format json lists them all")
        );
        assert!(Shown::first(&items[..4], SHOWN, "things").more.is_none());
    }
}
