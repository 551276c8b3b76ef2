//! The HTML summary: one self-contained HTML5 document for a browser or a mail client —
//! inline styles, table layout at most 640 px wide, inline SVG charts ([`svg`]), no script
//! and no external resource.
//!
//! The walk in `render.rs` decides what is shown (the same sections and list lengths as the
//! text); [`Html`] collects each section into a serializable view, and a minijinja template
//! (`templates/summary.html`, auto-escaping every value) lays it out.

mod svg;

use super::numbers::{percent, point_change, relative_change, thousands};
use super::render::{
    ClassGroup, Shown, SummaryWriter, TlsSections, alert_label, clean, comparison_line,
    display_org, dns_status_line, failure_sample_cells, failure_samples_title, no_reports_line,
    plural, policy_before, policy_seen_line, previous_name, rate_rows, render, service_group_name,
    source_results, tls_sessions_line, uncovered_title,
};
use super::{
    Alert, BASELINE_WEEKS, Classification, DomainSummary, FailureSampleGroup, FailureSamples,
    NewSource, ReporterSummary, SilentReporter, Summary, TlsFailureCount,
};
use minijinja::value::Serde;
use minijinja::{Environment, Value};
use serde::Serialize;

/// The template, compiled into the binary.
const TEMPLATE: &str = include_str!("../templates/summary.html");

/// How many sources the top-sources chart shows.
const TOP_SOURCES: usize = 10;

/// Renders the summary as one self-contained HTML5 document.
pub fn render_html(summary: &Summary) -> String {
    let mut out = Html::default();
    render(summary, &mut out);
    let mut env = Environment::new();
    // The name ends in .html, so every value is HTML-escaped unless marked safe (the charts,
    // which escape their own text).
    let rendered = env
        .add_template("summary.html", TEMPLATE)
        .and_then(|()| env.get_template("summary.html"))
        .and_then(|template| template.render(Value::from(Serde(&out))));
    match rendered {
        Ok(mut html) => {
            html.push('\n');
            html
        }
        // The template is part of the binary and tested; should it fail anyway, say so in a
        // document rather than panic in the middle of a cron job.
        Err(error) => format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>DMARC \
             summary</title></head><body><p>The HTML summary could not be written: {}</p>\
             </body></html>\n",
            svg::escape(&error.to_string())
        ),
    }
}

/// Everything the template shows.
#[derive(Debug, Default, Serialize)]
struct Html {
    title: String,
    comparison: String,
    alerts: Option<Vec<AlertView>>,
    nothing_received: Option<String>,
    domains: Vec<DomainView>,
}

#[derive(Debug, Serialize)]
struct AlertView {
    label: &'static str,
    code: String,
    message: String,
}

#[derive(Debug, Default, Serialize)]
struct DomainView {
    name: String,
    no_reports: Option<String>,
    charts: Vec<Chart>,
    totals: Vec<[String; 4]>,
    previous_name: String,
    details: Vec<(String, String)>,
    policy_seen: Vec<String>,
    advice: Option<ListView<String>>,
    groups: Vec<GroupView>,
    /// The sections after the sources, in the walk's order, each a heading, a note and a
    /// table: a new section of the walk needs only a [`TableView`] here, no template change.
    tables: Vec<TableView>,
}

/// A chart and the table with its numbers.
#[derive(Debug, Serialize)]
struct Chart {
    heading: String,
    svg: Value,
    table: TableView,
}

#[derive(Debug, Serialize)]
struct ListView<T> {
    items: Vec<T>,
    more: Option<String>,
}

#[derive(Debug, Serialize)]
struct TableView {
    heading: String,
    note: Option<String>,
    columns: Vec<String>,
    /// Per column: numbers, right-aligned.
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
    more: Option<String>,
}

#[derive(Debug, Serialize)]
struct GroupView {
    heading: String,
    class: &'static str,
    colour: &'static str,
    rows: Vec<SourceRow>,
    more: Option<String>,
}

#[derive(Debug, Serialize)]
struct SourceRow {
    ip: String,
    messages: String,
    pass: String,
    new: bool,
    details: String,
}

impl Html {
    fn domain(&mut self) -> &mut DomainView {
        if self.domains.is_empty() {
            self.domains.push(DomainView::default());
        }
        let last = self.domains.len() - 1;
        &mut self.domains[last]
    }
}

/// Column names, and which hold numbers: `#` at the end of a name marks one.
fn columns<const N: usize>(names: [&str; N]) -> (Vec<String>, Vec<bool>) {
    names
        .iter()
        .map(|name| match name.strip_suffix('#') {
            Some(name) => (name.to_owned(), true),
            None => ((*name).to_owned(), false),
        })
        .unzip()
}

impl TableView {
    fn new<const N: usize>(heading: String, names: [&str; N], rows: Vec<Vec<String>>) -> Self {
        let (columns, numeric) = columns(names);
        TableView {
            heading,
            note: None,
            columns,
            numeric,
            rows,
            more: None,
        }
    }

    /// The table of the items of `list` shown, one row each, with its "… and N more" line.
    fn shown<const N: usize, T>(
        heading: String,
        names: [&str; N],
        list: &Shown<'_, T>,
        row: impl Fn(&T) -> Vec<String>,
    ) -> Self {
        let mut table = TableView::new(heading, names, list.shown.iter().map(row).collect());
        table.more = list.more.clone();
        table
    }
}

impl SummaryWriter for Html {
    fn heading(&mut self, summary: &Summary) {
        self.title = format!("DMARC summary for {}", summary.period);
        self.comparison = comparison_line(summary);
    }

    fn alerts(&mut self, alerts: &[Alert]) {
        self.alerts = Some(
            alerts
                .iter()
                .map(|alert| AlertView {
                    label: alert_label(alert),
                    code: alert.code.to_string(),
                    message: alert.message.clone(),
                })
                .collect(),
        );
    }

    fn nothing_received(&mut self) {
        self.nothing_received = Some(no_reports_line("any domain"));
    }

    fn domain_heading(&mut self, domain: &DomainSummary) {
        self.domains.push(DomainView {
            name: domain.domain.clone(),
            ..DomainView::default()
        });
    }

    fn no_reports(&mut self, domain: &DomainSummary) {
        self.domain().no_reports = Some(no_reports_line(&domain.domain));
    }

    fn totals(&mut self, summary: &Summary, domain: &DomainSummary) {
        let view = self.domain();
        view.charts = charts(domain);
        let previous = &domain.previous;
        view.previous_name = previous_name(&summary.period).to_owned();
        let change = if previous.messages == 0 {
            String::new()
        } else {
            relative_change(domain.totals.messages, previous.messages)
        };
        view.totals.push([
            "Messages".to_owned(),
            thousands(domain.totals.messages),
            thousands(previous.messages),
            change,
        ]);
        for (label, now, before) in rate_rows(&domain.totals, previous) {
            view.totals.push([
                label.to_owned(),
                now.map(percent).unwrap_or_default(),
                before.map(percent).unwrap_or_default(),
                point_change(now, before),
            ]);
        }
        let now = &domain.totals.dispositions;
        let before = &previous.dispositions;
        for (label, now, before) in [
            ("Disposition none", now.none, before.none),
            ("Disposition quarantine", now.quarantine, before.quarantine),
            ("Disposition reject", now.reject, before.reject),
            ("Reports", domain.totals.reports, previous.reports),
        ] {
            let change = if before == 0 {
                String::new()
            } else {
                relative_change(now, before)
            };
            view.totals
                .push([label.to_owned(), thousands(now), thousands(before), change]);
        }
        view.details.push((
            "Reporters".to_owned(),
            format!(
                "{} {}",
                domain.reporters.len(),
                plural(domain.reporters.len() as u64, "reporter", "reporters")
            ),
        ));
        if let Some(policy) = &domain.policy {
            let changed = if policy.changed { " (CHANGED)" } else { "" };
            view.details.push((
                "Policy".to_owned(),
                format!("{}{changed}", policy.current.tags()),
            ));
            if policy.changed {
                if let Some(before) = policy_before(policy) {
                    view.details.push(("Before".to_owned(), before.tags()));
                }
                view.policy_seen = policy.seen.iter().map(policy_seen_line).collect();
            }
        }
    }

    fn advice(&mut self, advice: &Shown<'_, String>) {
        self.domain().advice = Some(ListView {
            items: advice.shown.iter().map(|line| clean(line)).collect(),
            more: advice.more.clone(),
        });
    }

    fn sources(&mut self, _domain: &DomainSummary, groups: &[ClassGroup<'_>]) {
        self.domain().groups = groups
            .iter()
            .map(|group| GroupView {
                heading: format!(
                    "{}: {} {}, {} messages",
                    group.class,
                    group.count,
                    plural(group.count as u64, "source", "sources"),
                    thousands(group.messages)
                ),
                class: group.class.as_str(),
                colour: svg::class_colour(group.class),
                rows: group
                    .shown
                    .iter()
                    .map(|source| SourceRow {
                        ip: source.source_ip.clone(),
                        messages: thousands(source.messages),
                        pass: source.dmarc_pass_rate.map(percent).unwrap_or_default(),
                        new: source.new,
                        details: source_results(source),
                    })
                    .collect(),
                more: group.more.clone(),
            })
            .collect();
    }

    fn services(&mut self, services: &Shown<'_, super::ServiceSummary>) {
        let table = TableView::shown(
            "By service".to_owned(),
            ["Service", "Sources#", "Messages#", "DMARC pass#", "Class"],
            services,
            |group| {
                vec![
                    service_group_name(group),
                    thousands(group.sources),
                    thousands(group.messages),
                    group.dmarc_pass_rate.map(percent).unwrap_or_default(),
                    group.classification.to_string(),
                ]
            },
        );
        self.domain().tables.push(table);
    }

    fn dns(
        &mut self,
        dns: &super::DnsSummary,
        problems: &Shown<'_, super::DnsFinding>,
        uncovered: &Shown<'_, super::UncoveredSource>,
    ) {
        let mut note = dns_status_line(dns);
        for change in &dns.changes {
            note.push_str(&format!(" {change}."));
        }
        let mut table = TableView::shown(
            "DNS".to_owned(),
            ["Severity", "Code", "Finding"],
            problems,
            |finding| {
                vec![
                    finding.severity.clone(),
                    finding.code.clone(),
                    finding.message.clone(),
                ]
            },
        );
        table.note = Some(note);
        self.domain().tables.push(table);
        if !uncovered.all.is_empty() {
            let table = TableView::shown(
                format!("DNS: {}", uncovered_title(dns)),
                ["Source", "Class", "Messages#", "SPF", "Fix"],
                uncovered,
                |source| {
                    vec![
                        source.source_ip.clone(),
                        source.class.clone(),
                        thousands(source.messages),
                        match &source.matched {
                            Some(matched) => format!("{} ({matched})", source.spf_result),
                            None => source.spf_result.clone(),
                        },
                        source.fix.clone().unwrap_or_default(),
                    ]
                },
            );
            self.domain().tables.push(table);
        }
    }

    fn new_sources(&mut self, domain: &DomainSummary, new: &Shown<'_, NewSource>) {
        let note = if domain.baseline_reports == 0 {
            Some("No reports in those weeks to compare with.".to_owned())
        } else if new.all.is_empty() {
            Some("None.".to_owned())
        } else {
            None
        };
        let mut table = TableView::shown(
            format!("New sources (not seen in the {BASELINE_WEEKS} weeks before)"),
            ["Source", "Class", "Messages#"],
            new,
            |source| {
                vec![
                    source.source_ip.clone(),
                    source.classification.to_string(),
                    thousands(source.messages),
                ]
            },
        );
        table.note = note;
        self.domain().tables.push(table);
    }

    fn top_failing(&mut self, domain: &DomainSummary) {
        let rows = domain
            .top_failing
            .iter()
            .map(|source| {
                vec![
                    source.source_ip.clone(),
                    source.classification.to_string(),
                    thousands(source.failing),
                    thousands(source.messages),
                ]
            })
            .collect();
        let mut table = TableView::new(
            "Top failing sources".to_owned(),
            ["Source", "Class", "Failing#", "Messages#"],
            rows,
        );
        table.note = domain
            .top_failing
            .is_empty()
            .then(|| "None: every message passed DMARC.".to_owned());
        self.domain().tables.push(table);
    }

    fn tls(&mut self, summary: &Summary, sections: &TlsSections<'_>) {
        let tls = sections.tls;
        let count_row =
            |count: &TlsFailureCount| vec![clean(&count.name), thousands(count.sessions)];
        let mut overview = TableView::shown(
            "TLS (SMTP TLS reports)".to_owned(),
            ["Result type", "Failed sessions#"],
            &sections.by_result_type,
            count_row,
        );
        overview.note = Some(format!(
            "{} Policy types: {}.",
            tls_sessions_line(summary, tls),
            clean(&tls.policy_types.join(", "))
        ));
        let mut tables = vec![overview];
        if !sections.by_receiving_mx.all.is_empty() {
            tables.push(TableView::shown(
                "TLS failures by receiving MX".to_owned(),
                ["Receiving MX", "Failed sessions#"],
                &sections.by_receiving_mx,
                count_row,
            ));
        }
        if !sections.advice.shown.is_empty() {
            tables.push(TableView::shown(
                "TLS: what to do".to_owned(),
                ["Advice"],
                &sections.advice,
                |line| vec![clean(line)],
            ));
        }
        self.domain().tables.extend(tables);
    }

    fn failure_samples(
        &mut self,
        samples: &FailureSamples,
        groups: &Shown<'_, FailureSampleGroup>,
    ) {
        let table = TableView::shown(
            failure_samples_title(samples),
            ["Source", "Failure", "Reports#", "Class"],
            groups,
            |group| failure_sample_cells(group).to_vec(),
        );
        self.domain().tables.push(table);
    }

    fn reporters(&mut self, reporters: &Shown<'_, ReporterSummary>) {
        let table = TableView::shown(
            "Reporters".to_owned(),
            ["Reporter", "Reports#", "Messages#"],
            reporters,
            |reporter| {
                vec![
                    display_org(&reporter.org),
                    thousands(reporter.reports),
                    thousands(reporter.messages),
                ]
            },
        );
        self.domain().tables.push(table);
    }

    fn silent_reporters(&mut self, silent: &Shown<'_, SilentReporter>) {
        let table = TableView::shown(
            format!(
                "Silent reporters (sent reports in the {BASELINE_WEEKS} weeks before, none in \
                 this period)"
            ),
            ["Reporter", "Reports#", "Last report"],
            silent,
            |reporter| {
                vec![
                    display_org(&reporter.org),
                    thousands(reporter.reports),
                    reporter.last_seen.clone(),
                ]
            },
        );
        self.domain().tables.push(table);
    }
}

/// `Mon 16` from `2026-11-16`.
fn day_label(day: &str) -> String {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|date| date.format("%a %-d").to_string())
        .unwrap_or_else(|_| day.to_owned())
}

/// The three charts of a domain with reports, each with the table of its numbers.
fn charts(domain: &DomainSummary) -> Vec<Chart> {
    let name = &domain.domain;
    let days: Vec<svg::DayBar> = domain
        .daily
        .iter()
        .enumerate()
        .map(|(index, day)| svg::DayBar {
            label: day_label(&day.day),
            classes: Classification::ALL.map(|class| day.classes.get(class)),
            previous: domain.previous_daily.get(index).map(|day| day.messages),
        })
        .collect();
    let daily_title = format!("{name}: messages per day by class, previous period outlined");
    let daily = Chart {
        svg: Value::from_safe_string(svg::daily_chart(&daily_title, &days)),
        heading: "Messages per day".to_owned(),
        table: TableView::new(
            String::new(),
            [
                "Day",
                "Aligned#",
                "Forwarded#",
                "Misaligned#",
                "Unauthenticated#",
                "All#",
                "Previous period#",
            ],
            domain
                .daily
                .iter()
                .enumerate()
                .map(|(index, day)| {
                    let mut row = vec![day.day.clone()];
                    row.extend(Classification::ALL.map(|class| thousands(day.classes.get(class))));
                    row.push(thousands(day.messages));
                    row.push(
                        domain
                            .previous_daily
                            .get(index)
                            .map(|day| thousands(day.messages))
                            .unwrap_or_default(),
                    );
                    row
                })
                .collect(),
        ),
    };

    let weeks: Vec<svg::WeekPoint> = domain
        .weekly
        .iter()
        .map(|week| svg::WeekPoint {
            label: week
                .week
                .as_deref()
                .and_then(|label| label.split('-').nth(1))
                .map_or_else(|| day_label(&week.start), str::to_owned),
            rate: week.dmarc_pass_rate,
        })
        .collect();
    let weekly_title = format!("{name}: DMARC pass per week, last {} weeks", weeks.len());
    let weekly = Chart {
        svg: Value::from_safe_string(svg::weekly_chart(&weekly_title, &weeks)),
        heading: format!("DMARC pass per week (last {} weeks)", weeks.len()),
        table: TableView::new(
            String::new(),
            ["Week", "Messages#", "DMARC pass#"],
            domain
                .weekly
                .iter()
                .map(|week| {
                    vec![
                        week.week.clone().unwrap_or_else(|| week.start.clone()),
                        thousands(week.messages),
                        week.dmarc_pass_rate
                            .map(percent)
                            .unwrap_or_else(|| "no reports".to_owned()),
                    ]
                })
                .collect(),
        ),
    };

    let mut top: Vec<&super::SourceSummary> = domain.sources.iter().collect();
    top.sort_by(|a, b| {
        b.messages
            .cmp(&a.messages)
            .then_with(|| a.source_ip.cmp(&b.source_ip))
    });
    top.truncate(TOP_SOURCES);
    let bars: Vec<svg::SourceBar> = top
        .iter()
        .map(|source| svg::SourceBar {
            label: source.source_ip.clone(),
            messages: source.messages,
            class: source.classification,
        })
        .collect();
    let sources_title = format!("{name}: top {} sources by messages", bars.len());
    let sources = Chart {
        svg: Value::from_safe_string(svg::sources_chart(&sources_title, &bars)),
        heading: format!("Top {} sources by messages", bars.len()),
        table: TableView::new(
            String::new(),
            ["Source", "Class", "Messages#", "DMARC pass#"],
            top.iter()
                .map(|source| {
                    vec![
                        source.source_ip.clone(),
                        source.classification.to_string(),
                        thousands(source.messages),
                        source.dmarc_pass_rate.map(percent).unwrap_or_default(),
                    ]
                })
                .collect(),
        ),
    };
    vec![daily, weekly, sources]
}
