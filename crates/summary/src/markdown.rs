//! The Markdown summary: the same content as the text, with tables.

use super::numbers::{percent, point_change, relative_change, thousands};
use super::text::{
    SHOWN, comparison_line, daily_sparkline, display_org, dkim_results, more_line, no_reports_line,
    plural, previous_name, rate_rows, some_of, spf_results,
};
use super::{BASELINE_WEEKS, DomainSummary, Summary, total};
use crate::Classification;
use std::fmt::Write as _;

/// Renders the summary as GitHub-flavoured Markdown.
pub fn render_markdown(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# DMARC summary for {}\n", summary.period);
    let _ = writeln!(out, "{}", escape(&comparison_line(summary)));
    if summary.domains.is_empty() {
        let _ = writeln!(out, "\n**{}**", escape(&no_reports_line("any domain")));
    }
    for domain in &summary.domains {
        render_domain(&mut out, summary, domain);
    }
    out
}

fn render_domain(out: &mut String, summary: &Summary, domain: &DomainSummary) {
    let _ = writeln!(out, "\n## {}\n", escape(&domain.domain));
    if domain.totals.reports == 0 {
        let _ = writeln!(out, "**{}**", escape(&no_reports_line(&domain.domain)));
    } else {
        render_totals(out, summary, domain);
    }
    if !domain.advice.is_empty() {
        let _ = writeln!(out, "\n### What to do\n");
        let shown = SHOWN + 1;
        for advice in domain.advice.iter().take(shown) {
            let _ = writeln!(out, "- {}", escape(advice));
        }
        if let Some(more) = more_line(domain.advice.len(), shown, "lines of advice") {
            let _ = writeln!(out, "- {}", escape(&more));
        }
    }
    if !domain.sources.is_empty() {
        let _ = writeln!(out, "\n### Sources\n");
        let _ = writeln!(
            out,
            "| Class | Source IP | Messages | DMARC pass | DKIM | SPF | New |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---|---|---|");
        for class in Classification::ALL {
            let sources: Vec<_> = domain
                .sources
                .iter()
                .filter(|source| source.classification == class)
                .collect();
            for source in sources.iter().take(SHOWN) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    source.classification,
                    escape(&source.source_ip),
                    thousands(source.messages),
                    source.dmarc_pass_rate.map(percent).unwrap_or_default(),
                    escape(&some_of(&dkim_results(source))),
                    escape(&some_of(&spf_results(source))),
                    if source.new { "new" } else { "" }
                );
            }
            let hidden = &sources[sources.len().min(SHOWN)..];
            if !hidden.is_empty() {
                let messages = total(hidden.iter().map(|source| source.messages));
                let what = format!("{class} sources ({} messages)", thousands(messages));
                if let Some(more) = more_line(sources.len(), SHOWN, &what) {
                    let _ = writeln!(out, "| {class} | {} | | | | | |", escape(&more));
                }
            }
        }
    }
    if domain.totals.reports > 0 {
        let _ = writeln!(out, "\n### New sources\n");
        if domain.baseline_reports == 0 {
            let _ = writeln!(
                out,
                "No reports in the {BASELINE_WEEKS} weeks before to compare with."
            );
        } else if domain.new_sources.is_empty() {
            let _ = writeln!(
                out,
                "None: every source was seen in the {BASELINE_WEEKS} weeks before."
            );
        } else {
            let _ = writeln!(out, "| Source IP | Class | Messages |\n|---|---|---:|");
            for source in domain.new_sources.iter().take(SHOWN) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    escape(&source.source_ip),
                    source.classification,
                    thousands(source.messages)
                );
            }
            more_paragraph(out, domain.new_sources.len(), "new sources");
        }
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
    if !domain.reporters.is_empty() {
        let _ = writeln!(out, "\n### Reporters\n");
        let _ = writeln!(out, "| Reporter | Reports | Messages |\n|---|---:|---:|");
        for reporter in domain.reporters.iter().take(SHOWN) {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                escape(&display_org(&reporter.org)),
                thousands(reporter.reports),
                thousands(reporter.messages)
            );
        }
        more_paragraph(out, domain.reporters.len(), "reporters");
    }
    if !domain.silent_reporters.is_empty() {
        let _ = writeln!(
            out,
            "\n### Silent reporters\n\nSent reports in the {BASELINE_WEEKS} weeks before, none in \
             this period.\n"
        );
        let _ = writeln!(
            out,
            "| Reporter | Reports before | Last covering |\n|---|---:|---|"
        );
        for reporter in domain.silent_reporters.iter().take(SHOWN) {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                escape(&display_org(&reporter.org)),
                thousands(reporter.reports),
                reporter.last_seen
            );
        }
        more_paragraph(out, domain.silent_reporters.len(), "silent reporters");
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
            let differs = |before: &&super::PublishedPolicy| {
                policy
                    .seen
                    .first()
                    .is_none_or(|first| first.policy != **before)
            };
            if let Some(before) = policy.before.as_ref().filter(differs) {
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

/// The "… and N more" note after a table that shows only [`SHOWN`] rows.
fn more_paragraph(out: &mut String, total: usize, what: &str) {
    if let Some(more) = more_line(total, SHOWN, what) {
        let _ = writeln!(out, "\n{}", escape(&more));
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Text for a code span in a table: a backtick from a report would end the span, a pipe the
/// cell.
fn code(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '`' || c == '|' || c.is_control() {
                '\''
            } else {
                c
            }
        })
        .collect()
}

/// Escapes text from reports so that it cannot break a table or turn into markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
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
        assert_eq!(escape("line\nbreak"), "line break");
        assert_eq!(escape("example.com"), "example.com");
    }
}
