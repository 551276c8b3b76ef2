//! The plain-text summary: 80 columns, meant to be mailed by cron.

use super::numbers::{percent, point_change, relative_change, thousands};
use super::period::DAY;
use super::{
    BASELINE_WEEKS, DailyVolume, DomainSummary, Period, PeriodTotals, SourceSummary, Summary, total,
};
use crate::Classification;
use std::fmt::Write as _;

/// The widest line the text summary writes.
pub const WIDTH: usize = 80;
/// How many lines of each list a mail shows; the JSON output has them all. A domain with
/// thousands of sources must still get a readable mail.
pub(crate) const SHOWN: usize = 10;
/// How many DKIM or SPF results a source line shows.
pub(crate) const SHOWN_RESULTS: usize = 4;
/// The sparkline never gets wider than this; longer periods are bucketed.
const SPARKLINE_MAX: usize = 56;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Renders the summary as plain text, no line longer than 80 characters (`WIDTH`).
pub fn render_text(summary: &Summary) -> String {
    let mut out = Text::default();
    out.line(&format!("DMARC summary for {}", summary.period));
    out.wrap("", "", &comparison_line(summary));
    if summary.domains.is_empty() {
        out.blank();
        out.wrap("", "", &no_reports_line("any domain"));
    }
    for domain in &summary.domains {
        out.blank();
        render_domain(&mut out, summary, domain);
    }
    out.finish()
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

/// The line shown when nothing arrived, so that a broken pipeline is noticed.
pub(crate) fn no_reports_line(what: &str) -> String {
    format!(
        "No reports received for {what} in this period. If mail was sent, check that the \
         rua= mailbox still receives reports and that `ruadb fetch` runs."
    )
}

fn render_domain(out: &mut Text, summary: &Summary, domain: &DomainSummary) {
    let name = clean(&domain.domain);
    out.line(&name);
    out.line(&"=".repeat(name.chars().count().min(WIDTH)));
    if domain.totals.reports == 0 {
        out.wrap("", "", &no_reports_line(&name));
    } else {
        render_totals(out, summary, domain);
    }
    if !domain.advice.is_empty() {
        out.blank();
        out.line("What to do");
        // The readiness line (first) plus SHOWN source lines.
        let shown = SHOWN + 1;
        for advice in domain.advice.iter().take(shown) {
            out.wrap("  - ", "    ", advice);
        }
        if let Some(more) = more_line(domain.advice.len(), shown, "lines of advice") {
            out.wrap("  - ", "    ", &more);
        }
    }
    if !domain.sources.is_empty() {
        render_sources(out, domain);
    }
    if domain.totals.reports > 0 {
        render_new_and_failing(out, domain);
    }
    if !domain.reporters.is_empty() {
        out.blank();
        out.line("Reporters");
        let width = column_width(domain.reporters.iter().map(|r| display_org(&r.org)), 12, 40);
        for reporter in domain.reporters.iter().take(SHOWN) {
            out.line(&format!(
                "  {:<width$} {:>6} {:<7} {:>11} messages",
                fit(&display_org(&reporter.org), width),
                thousands(reporter.reports),
                plural(reporter.reports, "report", "reports"),
                thousands(reporter.messages),
            ));
        }
        if let Some(more) = more_line(domain.reporters.len(), SHOWN, "reporters") {
            out.wrap("  ", "    ", &more);
        }
    }
    if !domain.silent_reporters.is_empty() {
        out.blank();
        out.wrap(
            "",
            "",
            &format!(
                "Silent reporters (sent reports in the {BASELINE_WEEKS} weeks before, none in \
                 this period)"
            ),
        );
        let width = column_width(
            domain.silent_reporters.iter().map(|r| display_org(&r.org)),
            12,
            40,
        );
        for reporter in domain.silent_reporters.iter().take(SHOWN) {
            out.line(&format!(
                "  {:<width$} {:>6} {:<7} last report {}",
                fit(&display_org(&reporter.org), width),
                thousands(reporter.reports),
                plural(reporter.reports, "report", "reports"),
                reporter.last_seen
            ));
        }
        if let Some(more) = more_line(domain.silent_reporters.len(), SHOWN, "silent reporters") {
            out.wrap("  ", "    ", &more);
        }
    }
}

/// `… and 1,234 more sources; --format json lists them all`, when not all `total` are shown.
pub(crate) fn more_line(total: usize, shown: usize, what: &str) -> Option<String> {
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
            if let Some(before) = policy.before.as_ref().filter(|before| {
                policy
                    .seen
                    .first()
                    .is_none_or(|first| first.policy != **before)
            }) {
                out.wrap("    before:     ", "                ", &before.tags());
            }
            for seen in &policy.seen {
                out.wrap(
                    "    seen:       ",
                    "                ",
                    &format!(
                        "{} ({} to {}, {} {})",
                        seen.policy.tags(),
                        seen.first_seen,
                        seen.last_seen,
                        seen.reports,
                        plural(seen.reports, "report", "reports")
                    ),
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

fn render_sources(out: &mut Text, domain: &DomainSummary) {
    out.blank();
    out.line("Sources");
    let width = column_width(domain.sources.iter().map(|s| s.source_ip.clone()), 15, 39);
    for class in Classification::ALL {
        let sources: Vec<_> = domain
            .sources
            .iter()
            .filter(|s| s.classification == class)
            .collect();
        if sources.is_empty() {
            continue;
        }
        let messages = total(sources.iter().map(|s| s.messages));
        out.line(&format!(
            "  {class}: {} {}, {} messages",
            sources.len(),
            plural(sources.len() as u64, "source", "sources"),
            thousands(messages)
        ));
        let hidden = &sources[sources.len().min(SHOWN)..];
        for source in sources.iter().take(SHOWN) {
            out.line(&format!(
                "    {:<width$} {:>9} msgs {:>7} pass{}",
                fit(&source.source_ip, width),
                thousands(source.messages),
                source
                    .dmarc_pass_rate
                    .map(percent)
                    .unwrap_or_else(|| "-".to_owned()),
                if source.new { "  NEW" } else { "" }
            ));
            let mut details = Vec::new();
            if !source.dkim.is_empty() {
                details.push(format!("DKIM {}", some_of(&dkim_results(source))));
            }
            if !source.spf.is_empty() {
                details.push(format!("SPF {}", some_of(&spf_results(source))));
            }
            if details.is_empty() {
                details.push("no DKIM or SPF results reported".to_owned());
            }
            out.wrap("      ", "      ", &clean(&details.join("; ")));
        }
        if !hidden.is_empty() {
            let messages = total(hidden.iter().map(|s| s.messages));
            let what = format!("{class} sources ({} messages)", thousands(messages));
            if let Some(more) = more_line(sources.len(), SHOWN, &what) {
                out.wrap("    ", "      ", &more);
            }
        }
    }
}

fn render_new_and_failing(out: &mut Text, domain: &DomainSummary) {
    out.blank();
    out.line(&format!(
        "New sources (not seen in the {BASELINE_WEEKS} weeks before)"
    ));
    if domain.baseline_reports == 0 {
        out.line("  (no reports in those weeks to compare with)");
    } else if domain.new_sources.is_empty() {
        out.line("  none");
    }
    let width = column_width(
        domain.new_sources.iter().map(|s| s.source_ip.clone()),
        15,
        39,
    );
    for source in domain.new_sources.iter().take(SHOWN) {
        out.line(&format!(
            "  {:<width$} {:<15} {:>9} messages",
            fit(&source.source_ip, width),
            source.classification.as_str(),
            thousands(source.messages)
        ));
    }
    if let Some(more) = more_line(domain.new_sources.len(), SHOWN, "new sources") {
        out.wrap("  ", "    ", &more);
    }
    out.blank();
    out.line("Top failing sources");
    if domain.top_failing.is_empty() {
        out.line("  none: every message passed DMARC");
    }
    let width = column_width(
        domain.top_failing.iter().map(|s| s.source_ip.clone()),
        15,
        39,
    );
    for source in &domain.top_failing {
        out.line(&format!(
            "  {:<width$} {:<15} {:>9} of {} fail",
            fit(&source.source_ip, width),
            source.classification.as_str(),
            thousands(source.failing),
            thousands(source.messages)
        ));
    }
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
pub(crate) fn sparkline(values: &[u64]) -> String {
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

/// Replaces control characters (from reporter-supplied text) so they cannot disturb a terminal
/// or a mail.
pub(crate) fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
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
struct Text {
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
    fn wrapping_keeps_every_line_within_80_columns() {
        let mut text = Text::default();
        let long_word = "x".repeat(200);
        text.wrap(
            "  - ",
            "    ",
            &format!("short words then {long_word} and more words after it"),
        );
        text.line(&"y".repeat(120));
        text.wrap("", "", "a\u{7}bell");
        let out = text.finish();
        for line in out.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?}");
        }
        let joined: String = out.split_whitespace().collect::<Vec<_>>().join("");
        assert!(joined.contains(&long_word), "no characters lost");
        assert!(out.contains("a?bell"), "control characters replaced");
        assert!(out.starts_with("  - short words then"));
    }
}
