//! The plain-text summary: 80 columns, meant to be mailed by cron.

use super::numbers::{percent, point_change, relative_change, thousands};
use super::render::{
    ClassGroup, PartWriter, Shown, SummaryWriter, TlsSections, alert_label, clean, comparison_line,
    daily_sparkline, display_org, dns_status_line, failure_sample_cells, failure_samples_title,
    no_reports_line, plural, policy_before, policy_seen_line, previous_name, rate_rows, render,
    service_group_name, source_results, tls_sessions_line, uncovered_source_line, uncovered_title,
};
use super::{
    Alert, BASELINE_WEEKS, DailyVolume, DnsFinding, DnsSummary, DomainSummary, FailureSampleGroup,
    FailureSamples, NewSource, PeriodTotals, ReporterSummary, ServiceSummary, SilentReporter,
    Summary, UncoveredSource,
};
use std::fmt::Write as _;

/// The widest line the text summary writes.
pub const WIDTH: usize = 80;

/// Renders the summary as plain text, no line longer than 80 characters (`WIDTH`).
pub fn render_text(summary: &Summary) -> String {
    let mut out = Text::default();
    render(summary, &mut out);
    out.finish()
}

impl PartWriter for Text {
    /// Each line ending in a newline, so that the parts add up to [`render_text`]'s output.
    fn into_part(self) -> String {
        let mut part = String::new();
        for line in self.lines {
            part.push_str(&line);
            part.push('\n');
        }
        part
    }
}

impl SummaryWriter for Text {
    fn heading(&mut self, summary: &Summary) {
        self.line(&format!("DMARC summary for {}", summary.period));
        self.wrap("", "", &comparison_line(summary));
    }

    fn alerts(&mut self, alerts: &[Alert]) {
        self.blank();
        if alerts.is_empty() {
            self.line("Alerts: none");
            return;
        }
        self.line(&format!("Alerts ({})", alerts.len()));
        for alert in alerts {
            let label = alert_label(alert);
            self.wrap(
                &format!("  {label:<7} "),
                "          ",
                &clean(&alert.message),
            );
        }
    }

    fn nothing_received(&mut self) {
        self.blank();
        self.wrap("", "", &no_reports_line("any domain"));
    }

    fn domain_heading(&mut self, domain: &DomainSummary) {
        self.blank();
        let name = clean(&domain.domain);
        self.line(&name);
        self.line(&"=".repeat(name.chars().count().min(WIDTH)));
    }

    fn no_reports(&mut self, domain: &DomainSummary) {
        self.wrap("", "", &no_reports_line(&clean(&domain.domain)));
    }

    fn totals(&mut self, summary: &Summary, domain: &DomainSummary) {
        render_totals(self, summary, domain);
    }

    fn advice(&mut self, advice: &Shown<'_, String>) {
        self.blank();
        self.line("What to do");
        for advice in advice.shown {
            self.wrap("  - ", "    ", advice);
        }
        if let Some(more) = &advice.more {
            self.wrap("  - ", "    ", more);
        }
    }

    fn sources(&mut self, domain: &DomainSummary, groups: &[ClassGroup<'_>]) {
        self.blank();
        self.line("Sources");
        let width = column_width(domain.sources.iter().map(|s| s.source_ip.clone()), 15, 39);
        for group in groups {
            self.line(&format!(
                "  {}: {} {}, {} messages",
                group.class,
                group.count,
                plural(group.count as u64, "source", "sources"),
                thousands(group.messages)
            ));
            for source in &group.shown {
                self.line(&format!(
                    "    {:<width$} {:>9} msgs {:>7} pass{}",
                    fit(&source.source_ip, width),
                    thousands(source.messages),
                    source
                        .dmarc_pass_rate
                        .map(percent)
                        .unwrap_or_else(|| "-".to_owned()),
                    if source.new { "  NEW" } else { "" }
                ));
                self.wrap("      ", "      ", &source_results(source));
            }
            if let Some(more) = &group.more {
                self.wrap("    ", "      ", more);
            }
        }
    }

    fn services(&mut self, services: &Shown<'_, ServiceSummary>) {
        self.blank();
        self.line("By service");
        for group in services.shown {
            self.line(&format!(
                "  {:<24} {:>4} src {:>9} msgs {:>6} pass  {}",
                fit(&service_group_name(group), 24),
                thousands(group.sources),
                thousands(group.messages),
                group
                    .dmarc_pass_rate
                    .map(percent)
                    .unwrap_or_else(|| "-".to_owned()),
                group.classification
            ));
        }
        if let Some(more) = &services.more {
            self.wrap("  ", "    ", more);
        }
    }

    fn dns(
        &mut self,
        dns: &DnsSummary,
        problems: &Shown<'_, DnsFinding>,
        uncovered: &Shown<'_, UncoveredSource>,
    ) {
        self.blank();
        self.line("DNS");
        self.wrap("  ", "  ", &dns_status_line(dns));
        for change in &dns.changes {
            self.wrap("    ", "      ", change);
        }
        for finding in problems.shown {
            let label = format!("  {:<5} {} ", finding.severity, finding.code);
            self.wrap(&label, "        ", &finding.message);
        }
        if let Some(more) = &problems.more {
            self.wrap("  ", "    ", more);
        }
        if !uncovered.all.is_empty() {
            self.wrap("  ", "  ", &uncovered_title(dns));
            for source in uncovered.shown {
                self.wrap("    ", "      ", &uncovered_source_line(source));
                if let Some(fix) = &source.fix {
                    self.wrap("      fix: ", "        ", fix);
                }
            }
            if let Some(more) = &uncovered.more {
                self.wrap("    ", "      ", more);
            }
        }
    }

    fn new_sources(&mut self, domain: &DomainSummary, new: &Shown<'_, NewSource>) {
        self.blank();
        self.line(&format!(
            "New sources (not seen in the {BASELINE_WEEKS} weeks before)"
        ));
        if domain.baseline_reports == 0 {
            self.line("  (no reports in those weeks to compare with)");
        } else if new.all.is_empty() {
            self.line("  none");
        }
        let width = column_width(new.all.iter().map(|s| s.source_ip.clone()), 15, 39);
        for source in new.shown {
            self.line(&format!(
                "  {:<width$} {:<15} {:>9} messages",
                fit(&source.source_ip, width),
                source.classification.as_str(),
                thousands(source.messages)
            ));
        }
        if let Some(more) = &new.more {
            self.wrap("  ", "    ", more);
        }
    }

    fn top_failing(&mut self, domain: &DomainSummary) {
        self.blank();
        self.line("Top failing sources");
        if domain.top_failing.is_empty() {
            self.line("  none: every message passed DMARC");
        }
        let width = column_width(
            domain.top_failing.iter().map(|s| s.source_ip.clone()),
            15,
            39,
        );
        for source in &domain.top_failing {
            self.line(&format!(
                "  {:<width$} {:<15} {:>9} of {} fail",
                fit(&source.source_ip, width),
                source.classification.as_str(),
                thousands(source.failing),
                thousands(source.messages)
            ));
        }
    }

    fn tls(&mut self, summary: &Summary, sections: &TlsSections<'_>) {
        let tls = sections.tls;
        self.blank();
        self.line("TLS (SMTP TLS reports)");
        self.wrap("  ", "  ", &tls_sessions_line(summary, tls));
        self.wrap(
            "  ",
            "    ",
            &format!("Policy types: {}", clean(&tls.policy_types.join(", "))),
        );
        for (title, list) in [
            ("Failures by result type", &sections.by_result_type),
            ("Failures by receiving MX", &sections.by_receiving_mx),
        ] {
            if list.all.is_empty() {
                continue;
            }
            self.line(&format!("  {title}"));
            let width = column_width(list.all.iter().map(|c| clean(&c.name)), 12, 50);
            for count in list.shown {
                self.line(&format!(
                    "    {:<width$} {:>9} {}",
                    fit(&clean(&count.name), width),
                    thousands(count.sessions),
                    plural(count.sessions, "session", "sessions")
                ));
            }
            if let Some(more) = &list.more {
                self.wrap("    ", "      ", more);
            }
        }
        for advice in sections.advice.shown {
            self.wrap("  - ", "    ", &clean(advice));
        }
        if let Some(more) = &sections.advice.more {
            self.wrap("  - ", "    ", more);
        }
    }

    fn failure_samples(
        &mut self,
        samples: &FailureSamples,
        groups: &Shown<'_, FailureSampleGroup>,
    ) {
        self.blank();
        self.line(&failure_samples_title(samples));
        let cells: Vec<[String; 4]> = groups.shown.iter().map(failure_sample_cells).collect();
        let ip_width = column_width(cells.iter().map(|cell| cell[0].clone()), 15, 39);
        let failure_width = column_width(cells.iter().map(|cell| cell[1].clone()), 8, 14);
        for (group, [ip, failure, reports, class]) in groups.shown.iter().zip(&cells) {
            self.line(&format!(
                "  {:<ip_width$} {:<failure_width$} {reports:>6} {:<7} {class}",
                fit(ip, ip_width),
                fit(failure, failure_width),
                plural(group.reports, "report", "reports"),
            ));
        }
        if let Some(more) = &groups.more {
            self.wrap("  ", "    ", more);
        }
    }

    fn reporters(&mut self, reporters: &Shown<'_, ReporterSummary>) {
        self.blank();
        self.line("Reporters");
        let width = column_width(reporters.all.iter().map(|r| display_org(&r.org)), 12, 40);
        for reporter in reporters.shown {
            self.line(&format!(
                "  {:<width$} {:>6} {:<7} {:>11} messages",
                fit(&display_org(&reporter.org), width),
                thousands(reporter.reports),
                plural(reporter.reports, "report", "reports"),
                thousands(reporter.messages),
            ));
        }
        if let Some(more) = &reporters.more {
            self.wrap("  ", "    ", more);
        }
    }

    fn silent_reporters(&mut self, silent: &Shown<'_, SilentReporter>) {
        self.blank();
        self.wrap(
            "",
            "",
            &format!(
                "Silent reporters (sent reports in the {BASELINE_WEEKS} weeks before, none in \
                 this period)"
            ),
        );
        let width = column_width(silent.all.iter().map(|r| display_org(&r.org)), 12, 40);
        for reporter in silent.shown {
            self.line(&format!(
                "  {:<width$} {:>6} {:<7} last report {}",
                fit(&display_org(&reporter.org), width),
                thousands(reporter.reports),
                plural(reporter.reports, "report", "reports"),
                reporter.last_seen
            ));
        }
        if let Some(more) = &silent.more {
            self.wrap("  ", "    ", more);
        }
    }
}

fn render_totals(out: &mut Text, summary: &Summary, domain: &DomainSummary) {
    let previous = &domain.previous;
    let previous_name = previous_name(&summary.period);
    let messages_change = if previous.messages == 0 {
        format!("(no mail in the {previous_name})")
    } else {
        format!(
            "{} ({previous_name}: {})",
            relative_change(domain.totals.messages, previous.messages),
            thousands(previous.messages)
        )
    };
    out.line(&format!(
        "  Messages      {:>8}  {messages_change}",
        thousands(domain.totals.messages)
    ));
    let rates = rate_rows(&domain.totals, previous);
    for (label, now, before) in rates {
        out.line(&format!(
            "  {label:<13} {:>8}  {}",
            now.map(percent).unwrap_or_else(|| "-".to_owned()),
            point_change(now, before)
        ));
    }
    out.wrap(
        "  Dispositions  ",
        "                ",
        &dispositions(domain, previous, previous_name),
    );
    if let Some(line) = sparkline_line(&domain.daily) {
        out.wrap("  Daily         ", "                ", &line);
    }
    out.line(&format!(
        "  Reports       {:>8}  from {} {}",
        thousands(domain.totals.reports),
        domain.reporters.len(),
        plural(domain.reporters.len() as u64, "reporter", "reporters")
    ));
    if let Some(policy) = &domain.policy {
        let changed = if policy.changed { " (CHANGED)" } else { "" };
        out.wrap(
            "  Policy        ",
            "                ",
            &format!("{}{changed}", policy.current.tags()),
        );
        if policy.changed {
            if let Some(before) = policy_before(policy) {
                out.wrap("    before:     ", "                ", &before.tags());
            }
            for seen in &policy.seen {
                out.wrap(
                    "    seen:       ",
                    "                ",
                    &policy_seen_line(seen),
                );
            }
        }
    }
}

fn dispositions(domain: &DomainSummary, previous: &PeriodTotals, previous_name: &str) -> String {
    let now = &domain.totals.dispositions;
    let mut text = format!(
        "none {}, quarantine {}, reject {}",
        thousands(now.none),
        thousands(now.quarantine),
        thousands(now.reject)
    );
    if previous.messages > 0 {
        let before = &previous.dispositions;
        let _ = write!(
            text,
            " ({previous_name}: none {}, quarantine {}, reject {})",
            thousands(before.none),
            thousands(before.quarantine),
            thousands(before.reject)
        );
    }
    text
}

fn sparkline_line(daily: &[DailyVolume]) -> Option<String> {
    let first = daily.first()?;
    let last = daily.last()?;
    let (marks, bucket) = daily_sparkline(daily);
    let peak = daily.iter().max_by_key(|day| day.messages)?;
    let unit = if bucket == 1 {
        String::new()
    } else {
        format!(", one mark per {bucket} days")
    };
    // `Mon 16 Nov`: short enough for one line, unambiguous across months; with the year
    // when the period is longer than a few months.
    let format = if daily.len() > 92 {
        "%-d %b %Y"
    } else {
        "%a %-d %b"
    };
    let label = |day: &str| {
        chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map(|date| date.format(format).to_string())
            .unwrap_or_else(|_| day.to_owned())
    };
    Some(format!(
        "{marks}  {} to {}{unit}; peak {} on {}",
        label(&first.day),
        label(&last.day),
        thousands(peak.messages),
        label(&peak.day)
    ))
}

/// Cuts `text` to `width` characters, marking the cut with `…`.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn column_width(values: impl Iterator<Item = String>, min: usize, max: usize) -> usize {
    values
        .map(|value| value.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(min, max)
}

/// Lines being written, never wider than [`WIDTH`].
#[derive(Default)]
pub(crate) struct Text {
    lines: Vec<String>,
}

impl Text {
    fn line(&mut self, line: &str) {
        let line = clean(line);
        let trimmed = line.trim_end();
        if trimmed.chars().count() <= WIDTH {
            self.lines.push(trimmed.to_owned());
        } else {
            self.wrap("", "  ", trimmed);
        }
    }

    fn blank(&mut self) {
        self.lines.push(String::new());
    }

    /// Word-wraps `text` to [`WIDTH`]; a word longer than a whole line is split.
    fn wrap(&mut self, first_indent: &str, indent: &str, text: &str) {
        let indent_len = indent.chars().count();
        let mut current = first_indent.to_owned();
        let mut len = first_indent.chars().count();
        let mut empty = true;
        for word in clean(text).split_whitespace() {
            let mut word: Vec<char> = word.chars().collect();
            while !word.is_empty() {
                let needed = word.len() + usize::from(!empty);
                if len + needed <= WIDTH {
                    if !empty {
                        current.push(' ');
                    }
                    current.extend(word.drain(..));
                    len += needed;
                    empty = false;
                    continue;
                }
                if empty {
                    let room = WIDTH.saturating_sub(len).max(1).min(word.len());
                    current.extend(word.drain(..room));
                }
                self.lines
                    .push(std::mem::replace(&mut current, indent.to_owned()));
                len = indent_len;
                empty = true;
            }
        }
        if !empty {
            self.lines.push(current);
        }
    }

    fn finish(self) -> String {
        let mut out = self.lines.join("\n");
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_line_within_80_columns() {
        let mut text = Text::default();
        let long_word = "x".repeat(200);
        text.wrap(
            "  - ",
            "    ",
            &format!("short words then {long_word} and more words after it"),
        );
        text.line(&"y".repeat(120));
        text.wrap("", "", "a\u{7}bell\u{202e}lmx.exe");
        let out = text.finish();
        for line in out.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?}");
        }
        let joined: String = out.split_whitespace().collect::<Vec<_>>().join("");
        assert!(joined.contains(&long_word), "no characters lost");
        assert!(
            out.contains(r"a\x07bell\u{202e}lmx.exe"),
            "controls and bidi overrides spelt out"
        );
        assert!(out.starts_with("  - short words then"));
    }
}
