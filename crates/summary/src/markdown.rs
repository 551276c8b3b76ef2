//! The Markdown summary: the same content as the text, with tables.

use super::numbers::{percent, point_change, relative_change, thousands};
use super::render::{
    ClassGroup, PartWriter, Shown, SummaryWriter, TlsSections, alert_label, comparison_line,
    daily_sparkline, display_org, dkim_results, dns_status_line, failure_sample_cells,
    failure_samples_title, no_reports_line, plural, policy_before, previous_name, rate_rows,
    render, service_group_name, some_of, source_label, spf_results, tls_sessions_line,
    uncovered_title,
};
use super::{
    Alert, BASELINE_WEEKS, DnsFinding, DnsSummary, DomainSummary, FailureSampleGroup,
    FailureSamples, NewSource, ReporterSummary, ServiceSummary, SilentReporter, Summary,
    UncoveredSource,
};
use std::fmt::Write as _;

/// Renders the summary as GitHub-flavoured Markdown.
pub fn render_markdown(summary: &Summary) -> String {
    let mut out = Markdown::default();
    render(summary, &mut out);
    out.0
}

/// The Markdown being written.
#[derive(Default)]
pub(crate) struct Markdown(String);

impl PartWriter for Markdown {
    fn into_part(self) -> String {
        self.0
    }
}

impl SummaryWriter for Markdown {
    fn heading(&mut self, summary: &Summary) {
        let out = &mut self.0;
        let _ = writeln!(out, "# DMARC summary for {}\n", summary.period);
        let _ = writeln!(out, "{}", escape(&comparison_line(summary)));
    }

    fn alerts(&mut self, alerts: &[Alert]) {
        let out = &mut self.0;
        if alerts.is_empty() {
            let _ = writeln!(out, "\n**Alerts:** none");
            return;
        }
        let _ = writeln!(out, "\n## Alerts\n");
        for alert in alerts {
            let _ = writeln!(
                out,
                "- **{}** `{}` {}",
                alert_label(alert),
                alert.code,
                escape(&alert.message)
            );
        }
    }

    fn nothing_received(&mut self) {
        let _ = writeln!(self.0, "\n**{}**", escape(&no_reports_line("any domain")));
    }

    fn domain_heading(&mut self, domain: &DomainSummary) {
        let _ = writeln!(self.0, "\n## {}\n", escape(&domain.domain));
    }

    fn no_reports(&mut self, domain: &DomainSummary) {
        let _ = writeln!(self.0, "**{}**", escape(&no_reports_line(&domain.domain)));
    }

    fn totals(&mut self, summary: &Summary, domain: &DomainSummary) {
        render_totals(&mut self.0, summary, domain);
    }

    fn advice(&mut self, advice: &Shown<'_, String>) {
        let out = &mut self.0;
        let _ = writeln!(out, "\n### What to do\n");
        for advice in advice.shown {
            let _ = writeln!(out, "- {}", escape(advice));
        }
        if let Some(more) = &advice.more {
            let _ = writeln!(out, "- {}", escape(more));
        }
    }

    fn sources(&mut self, _domain: &DomainSummary, groups: &[ClassGroup<'_>]) {
        let out = &mut self.0;
        let _ = writeln!(out, "\n### Sources\n");
        let _ = writeln!(
            out,
            "| Class | Source IP | Messages | DMARC pass | DKIM | SPF | New |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---|---|---|");
        for group in groups {
            for source in &group.shown {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    source.classification,
                    escape(&match source_label(source) {
                        Some(label) => format!("{} ({label})", source.source_ip),
                        None => source.source_ip.clone(),
                    }),
                    thousands(source.messages),
                    source.dmarc_pass_rate.map(percent).unwrap_or_default(),
                    escape(&some_of(&dkim_results(source))),
                    escape(&some_of(&spf_results(source))),
                    if source.new { "new" } else { "" }
                );
            }
            if let Some(more) = &group.more {
                let _ = writeln!(out, "| {} | {} | | | | | |", group.class, escape(more));
            }
        }
    }

    fn services(&mut self, services: &Shown<'_, ServiceSummary>) {
        let out = &mut self.0;
        let _ = writeln!(out, "\n### By service\n");
        let _ = writeln!(
            out,
            "| Service | Kind | Sources | Messages | DMARC pass | Class |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---|");
        for group in services.shown {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                escape(&service_group_name(group)),
                escape(group.service_kind.as_deref().unwrap_or("")),
                thousands(group.sources),
                thousands(group.messages),
                group.dmarc_pass_rate.map(percent).unwrap_or_default(),
                group.classification
            );
        }
        if let Some(more) = &services.more {
            let _ = writeln!(out, "| {} | | | | | |", escape(more));
        }
    }

    fn dns(
        &mut self,
        dns: &DnsSummary,
        problems: &Shown<'_, DnsFinding>,
        uncovered: &Shown<'_, UncoveredSource>,
    ) {
        let out = &mut self.0;
        let _ = writeln!(out, "\n### DNS\n");
        let _ = writeln!(out, "{}", escape(&dns_status_line(dns)));
        if !dns.changes.is_empty() {
            let _ = writeln!(out);
            for change in &dns.changes {
                let _ = writeln!(out, "- {}", escape(change));
            }
        }
        if !problems.all.is_empty() {
            let _ = writeln!(out, "\n| Severity | Code | Finding |");
            let _ = writeln!(out, "|---|---|---|");
            for finding in problems.shown {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    escape(&finding.severity),
                    escape(&finding.code),
                    escape(&finding.message)
                );
            }
            if let Some(more) = &problems.more {
                let _ = writeln!(out, "| {} | | |", escape(more));
            }
        }
        if !uncovered.all.is_empty() {
            let _ = writeln!(out, "\n{}:\n", escape(&uncovered_title(dns)));
            let _ = writeln!(out, "| Source | Class | Messages | SPF | Fix |");
            let _ = writeln!(out, "|---|---|---:|---|---|");
            for source in uncovered.shown {
                let spf = match &source.matched {
                    Some(matched) => format!("{} ({matched})", source.spf_result),
                    None => source.spf_result.clone(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    escape(&source.source_ip),
                    escape(&source.class),
                    thousands(source.messages),
                    escape(&spf),
                    escape(source.fix.as_deref().unwrap_or_default())
                );
            }
            if let Some(more) = &uncovered.more {
                let _ = writeln!(out, "| {} | | | | |", escape(more));
            }
        }
    }

    fn new_sources(&mut self, domain: &DomainSummary, new: &Shown<'_, NewSource>) {
        let _ = writeln!(self.0, "\n### New sources\n");
        if domain.baseline_reports == 0 {
            let _ = writeln!(
                self.0,
                "No reports in the {BASELINE_WEEKS} weeks before to compare with."
            );
        } else if new.all.is_empty() {
            let _ = writeln!(
                self.0,
                "None: every source was seen in the {BASELINE_WEEKS} weeks before."
            );
        } else {
            let _ = writeln!(self.0, "| Source IP | Class | Messages |\n|---|---|---:|");
            for source in new.shown {
                let _ = writeln!(
                    self.0,
                    "| {} | {} | {} |",
                    escape(&source.source_ip),
                    source.classification,
                    thousands(source.messages)
                );
            }
            self.more_paragraph(new.more.as_deref());
        }
    }

    fn top_failing(&mut self, domain: &DomainSummary) {
        let out = &mut self.0;
        let _ = writeln!(out, "\n### Top failing sources\n");
        if domain.top_failing.is_empty() {
            let _ = writeln!(out, "None: every message passed DMARC.");
        } else {
            let _ = writeln!(
                out,
                "| Source IP | Class | Failing | Messages |\n|---|---|---:|---:|"
            );
            for source in &domain.top_failing {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    escape(&source.source_ip),
                    source.classification,
                    thousands(source.failing),
                    thousands(source.messages)
                );
            }
        }
    }

    fn tls(&mut self, summary: &Summary, sections: &TlsSections<'_>) {
        let tls = sections.tls;
        let _ = writeln!(self.0, "\n### TLS (SMTP TLS reports)\n");
        let _ = writeln!(self.0, "{}\n", escape(&tls_sessions_line(summary, tls)));
        let types: Vec<String> = tls.policy_types.iter().map(|t| code(t)).collect();
        let _ = writeln!(self.0, "Policy types: {}", types.join(", "));
        for (title, list) in [
            ("Result type", &sections.by_result_type),
            ("Receiving MX", &sections.by_receiving_mx),
        ] {
            if list.all.is_empty() {
                continue;
            }
            let _ = writeln!(self.0, "\n| {title} | Failed sessions |\n|---|---:|");
            for count in list.shown {
                let _ = writeln!(
                    self.0,
                    "| {} | {} |",
                    code(&count.name),
                    thousands(count.sessions)
                );
            }
            self.more_paragraph(list.more.as_deref());
        }
        if !sections.advice.shown.is_empty() {
            let _ = writeln!(self.0);
        }
        for advice in sections.advice.shown {
            let _ = writeln!(self.0, "- {}", escape(advice));
        }
        if let Some(more) = &sections.advice.more {
            let _ = writeln!(self.0, "- {}", escape(more));
        }
    }

    fn failure_samples(
        &mut self,
        samples: &FailureSamples,
        groups: &Shown<'_, FailureSampleGroup>,
    ) {
        let _ = writeln!(self.0, "\n### {}\n", failure_samples_title(samples));
        let _ = writeln!(
            self.0,
            "| Source | Failure | Reports | Class |\n|---|---|---:|---|"
        );
        for group in groups.shown {
            let [ip, failure, reports, class] = failure_sample_cells(group);
            let _ = writeln!(
                self.0,
                "| {} | {} | {reports} | {class} |",
                escape(&ip),
                escape(&failure)
            );
        }
        self.more_paragraph(groups.more.as_deref());
    }

    fn reporters(&mut self, reporters: &Shown<'_, ReporterSummary>) {
        let _ = writeln!(self.0, "\n### Reporters\n");
        let _ = writeln!(self.0, "| Reporter | Reports | Messages |\n|---|---:|---:|");
        for reporter in reporters.shown {
            let _ = writeln!(
                self.0,
                "| {} | {} | {} |",
                escape(&display_org(&reporter.org)),
                thousands(reporter.reports),
                thousands(reporter.messages)
            );
        }
        self.more_paragraph(reporters.more.as_deref());
    }

    fn silent_reporters(&mut self, silent: &Shown<'_, SilentReporter>) {
        let _ = writeln!(
            self.0,
            "\n### Silent reporters\n\nSent reports in the {BASELINE_WEEKS} weeks before, none in \
             this period.\n"
        );
        let _ = writeln!(
            self.0,
            "| Reporter | Reports before | Last covering |\n|---|---:|---|"
        );
        for reporter in silent.shown {
            let _ = writeln!(
                self.0,
                "| {} | {} | {} |",
                escape(&display_org(&reporter.org)),
                thousands(reporter.reports),
                reporter.last_seen
            );
        }
        self.more_paragraph(silent.more.as_deref());
    }
}

impl Markdown {
    /// The "… and N more" note after a table that shows only some rows.
    fn more_paragraph(&mut self, more: Option<&str>) {
        if let Some(more) = more {
            let _ = writeln!(self.0, "\n{}", escape(more));
        }
    }
}

fn render_totals(out: &mut String, summary: &Summary, domain: &DomainSummary) {
    let previous = &domain.previous;
    let _ = writeln!(
        out,
        "| | This period | {} | Change |",
        capitalised(previous_name(&summary.period))
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    let change = if previous.messages == 0 {
        String::new()
    } else {
        relative_change(domain.totals.messages, previous.messages)
    };
    let _ = writeln!(
        out,
        "| Messages | {} | {} | {change} |",
        thousands(domain.totals.messages),
        thousands(previous.messages)
    );
    let rates = rate_rows(&domain.totals, previous);
    for (label, now, before) in rates {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} |",
            now.map(percent).unwrap_or_default(),
            before.map(percent).unwrap_or_default(),
            point_change(now, before)
        );
    }
    let dispositions = [
        (
            "none",
            domain.totals.dispositions.none,
            previous.dispositions.none,
        ),
        (
            "quarantine",
            domain.totals.dispositions.quarantine,
            previous.dispositions.quarantine,
        ),
        (
            "reject",
            domain.totals.dispositions.reject,
            previous.dispositions.reject,
        ),
    ];
    let counts = dispositions
        .into_iter()
        .map(|(label, now, before)| (format!("Disposition {label}"), now, before))
        .chain([(
            "Reports".to_owned(),
            domain.totals.reports,
            previous.reports,
        )]);
    for (label, now, before) in counts {
        let change = if before == 0 {
            String::new()
        } else {
            relative_change(now, before)
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {change} |",
            thousands(now),
            thousands(before)
        );
    }
    if let (Some(first), Some(last)) = (domain.daily.first(), domain.daily.last()) {
        let (marks, bucket) = daily_sparkline(&domain.daily);
        let unit = if bucket == 1 {
            String::new()
        } else {
            format!(", one mark per {bucket} days")
        };
        let _ = writeln!(
            out,
            "\nDaily volume, {} to {}{unit}: `{marks}`",
            first.day, last.day
        );
    }
    if let Some(policy) = &domain.policy {
        let _ = write!(
            out,
            "\nPublished policy: `{}`",
            code(&policy.current.tags())
        );
        if policy.changed {
            let _ = write!(out, " **(changed)**");
        }
        let _ = writeln!(out);
        if policy.changed {
            let _ = writeln!(
                out,
                "\n| Policy seen | Reports | From | To |\n|---|---:|---|---|"
            );
            if let Some(before) = policy_before(policy) {
                let _ = writeln!(
                    out,
                    "| `{}` (before this period) | | | |",
                    code(&before.tags())
                );
            }
            for seen in &policy.seen {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} |",
                    code(&seen.policy.tags()),
                    seen.reports,
                    seen.first_seen,
                    seen.last_seen
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} {} from {} {}.",
        thousands(domain.totals.reports),
        plural(domain.totals.reports, "report", "reports"),
        domain.reporters.len(),
        plural(domain.reporters.len() as u64, "reporter", "reporters")
    );
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Text for a code span in a table: a backtick from a report would end the span, a pipe the
/// cell; controls and bidi overrides are spelt out as on a terminal.
fn code(text: &str) -> String {
    ruadb_report::escape_for_terminal(text)
        .chars()
        .map(|c| if c == '`' || c == '|' { '\'' } else { c })
        .collect()
}

/// Escapes text from reports so that it cannot break a table or turn into markup; controls
/// and bidi overrides are spelt out as on a terminal (and that backslash escaped again, so the
/// reader sees `\x1b`).
pub fn escape(text: &str) -> String {
    let text = ruadb_report::escape_for_terminal(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_tables_intact() {
        assert_eq!(escape("a|b"), "a\\|b");
        assert_eq!(escape("<script>"), "\\<script\\>");
        assert_eq!(escape("example.com"), "example.com");
    }

    #[test]
    fn controls_and_bidi_overrides_are_spelt_out() {
        // Rendered, `\\x1b` reads `\x1b`, as on a terminal.
        assert_eq!(escape("line\nbreak"), r"line\\nbreak");
        assert_eq!(
            escape("Evil\u{1b}[2J\u{202e}gpj.exe"),
            r"Evil\\x1b\[2J\\u{202e}gpj.exe"
        );
        // In a code span a backslash is literal.
        assert_eq!(code("s1\u{7}|`x\u{2066}"), r"s1\x07''x\u{2066}");
    }
}
