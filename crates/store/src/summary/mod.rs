//! The weekly summary: what a domain owner reads on Monday morning.
//!
//! [`crate::Store::summary`] loads the reports of a period (and the weeks around it, for
//! comparisons) and [`compute`] turns them into a [`Summary`]: a pure function of the data
//! and the [`Period`], with no clock, so it is snapshot-tested. Rendering is separate:
//! [`render_text`], [`render_markdown`], and serde for JSON.
//!
//! # Layout
//! - `period.rs`: ISO weeks, date ranges and the rule that puts a report in a period.
//! - `load.rs`: the SQL that reads the reports, records and authentication results.
//! - `advice.rs`: the plain-words advice per source and the enforcement readiness.
//! - `text.rs`, `markdown.rs`: the renderers.
//!
//! # Which period a report belongs to
//! A report is attributed, with all its records, to the period that contains the midpoint of
//! its date range ([`Period::contains_report`]). A report is therefore never counted twice
//! nor lost between two adjacent periods; a report spanning Sunday 12:00 to Monday 12:00
//! belongs to the week starting that Monday. Daily volumes use the same rule per day.

mod advice;
mod load;
mod markdown;
pub mod period;
mod text;

pub use advice::READY_THRESHOLD;
pub use markdown::render_markdown;
pub use period::{Period, PeriodError};
pub use text::render_text;

use crate::classify::{ClassTally, Classification, RecordFacts, classify_record};
use period::{format_day, report_midpoint};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many weeks before the period count as "seen before" (new sources, silent reporters).
pub const BASELINE_WEEKS: u32 = 4;
/// How many failing sources the summary lists.
pub const TOP_FAILING: usize = 5;

/// The summary of one period for every policy domain (or one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The period summarised.
    pub period: Period,
    /// The period of the same length just before, for the changes.
    pub previous_period: Period,
    /// The weeks before the period that new sources and silent reporters are judged against.
    pub baseline: Period,
    /// One entry per policy domain with reports in the period or the baseline, by name.
    pub domains: Vec<DomainSummary>,
}

/// Everything about one policy domain in the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainSummary {
    /// The policy domain.
    pub domain: String,
    /// Reports received for the period.
    pub reports: u64,
    /// Messages reported.
    pub messages: u64,
    /// Messages passing DMARC (recomputed: SPF-aligned or DKIM-aligned).
    pub dmarc_pass: u64,
    /// `dmarc_pass / messages`, 0 to 1, four decimals; null without messages.
    pub dmarc_pass_rate: Option<f64>,
    /// Messages with an aligned SPF pass.
    pub spf_aligned: u64,
    /// `spf_aligned / messages`.
    pub spf_aligned_rate: Option<f64>,
    /// Messages with an aligned DKIM pass.
    pub dkim_aligned: u64,
    /// `dkim_aligned / messages`.
    pub dkim_aligned_rate: Option<f64>,
    /// What receivers did with the messages.
    pub dispositions: Dispositions,
    /// The same totals for the previous period.
    pub previous: PeriodTotals,
    /// Messages per UTC day of the period.
    pub daily: Vec<DailyVolume>,
    /// Sending sources, grouped by class (aligned, forwarded, misaligned, unauthenticated),
    /// most messages first within a class.
    pub sources: Vec<SourceSummary>,
    /// Sources not seen in the baseline weeks (empty when the baseline has no reports).
    pub new_sources: Vec<NewSource>,
    /// Sources with the most messages failing DMARC.
    pub top_failing: Vec<FailingSource>,
    /// What to do, in plain words, most important first: readiness, then one line per
    /// misaligned or unauthenticated source with mail.
    pub advice: Vec<String>,
    /// Whether the domain can tighten its policy (over the trailing four weeks).
    pub readiness: Option<Readiness>,
    /// Who sent reports this period.
    pub reporters: Vec<ReporterSummary>,
    /// Reporters that sent reports in the baseline weeks but none this period.
    pub silent_reporters: Vec<SilentReporter>,
    /// Reports in the baseline weeks (0: nothing to compare new sources with).
    pub baseline_reports: u64,
    /// The DMARC policy the reporters saw published; null when no report arrived.
    pub policy: Option<PolicySummary>,
}

/// Totals of a period, for comparisons.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PeriodTotals {
    /// Reports received.
    pub reports: u64,
    /// Messages reported.
    pub messages: u64,
    /// Messages passing DMARC.
    pub dmarc_pass: u64,
    /// `dmarc_pass / messages`.
    pub dmarc_pass_rate: Option<f64>,
    /// Messages with an aligned SPF pass.
    pub spf_aligned: u64,
    /// `spf_aligned / messages`.
    pub spf_aligned_rate: Option<f64>,
    /// Messages with an aligned DKIM pass.
    pub dkim_aligned: u64,
    /// `dkim_aligned / messages`.
    pub dkim_aligned_rate: Option<f64>,
    /// What receivers did with the messages.
    pub dispositions: Dispositions,
}

/// Messages per disposition. RFC 9990's `pass` ("no action, passed") counts as `none`, as does
/// any value outside the specifications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Dispositions {
    /// Delivered normally.
    pub none: u64,
    /// Delivered to spam.
    pub quarantine: u64,
    /// Refused.
    pub reject: u64,
}

/// Messages on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyVolume {
    /// `2026-11-16`.
    pub day: String,
    /// Messages in reports whose midpoint falls on this day.
    pub messages: u64,
    /// Of which passing DMARC.
    pub dmarc_pass: u64,
}

/// One sending source (policy domain, source IP) over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceSummary {
    /// The source IP, canonical text form.
    pub source_ip: String,
    /// Messages reported.
    pub messages: u64,
    /// Messages passing DMARC.
    pub dmarc_pass: u64,
    /// `dmarc_pass / messages`.
    pub dmarc_pass_rate: Option<f64>,
    /// Messages with an aligned SPF pass.
    pub spf_aligned: u64,
    /// Messages with an aligned DKIM pass.
    pub dkim_aligned: u64,
    /// The class carrying most of the source's messages.
    pub classification: Classification,
    /// What to do about this source, for misaligned and unauthenticated sources with mail.
    pub advice: Option<String>,
    /// Not seen in the baseline weeks.
    pub new: bool,
    /// DKIM results seen (signing domain, selector, result).
    pub dkim: Vec<DkimSeen>,
    /// SPF results seen (scope mfrom or unstated).
    pub spf: Vec<SpfSeen>,
    /// Reporting organisations that saw this source.
    pub reporters: Vec<String>,
}

/// A DKIM result seen for a source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DkimSeen {
    /// `d=`.
    pub domain: String,
    /// `s=`, when reported.
    pub selector: Option<String>,
    /// `pass`, `fail`, …
    pub result: String,
}

/// An SPF result seen for a source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SpfSeen {
    /// The domain checked (the envelope sender's).
    pub domain: String,
    /// `pass`, `fail`, `softfail`, …
    pub result: String,
}

/// A source not seen in the baseline weeks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewSource {
    /// The source IP.
    pub source_ip: String,
    /// Messages this period.
    pub messages: u64,
    /// Its class this period.
    pub classification: Classification,
}

/// A source with messages failing DMARC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailingSource {
    /// The source IP.
    pub source_ip: String,
    /// Messages this period.
    pub messages: u64,
    /// Of which failing DMARC.
    pub failing: u64,
    /// Its class this period.
    pub classification: Classification,
}

/// Whether the domain's own mail is aligned enough to tighten the policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// The window judged: the four weeks ending with the period (or the period, if longer).
    pub window: Period,
    /// Messages from the domain's own sources (classified aligned or misaligned over the
    /// window; forwarded and unauthenticated sources are not the domain's own).
    pub own_messages: u64,
    /// Of which passing DMARC.
    pub own_aligned: u64,
    /// `own_aligned / own_messages`.
    pub own_aligned_rate: Option<f64>,
    /// All messages in the window.
    pub messages: u64,
    /// Messages failing DMARC outside forwarded sources: what `p=reject` would have rejected.
    pub would_reject: u64,
    /// `would_reject / messages`.
    pub would_reject_rate: Option<f64>,
    /// The policy published at the end of the window (`none`, `quarantine`, `reject`).
    pub current_policy: Option<String>,
    /// The next policy step when the own traffic is at least [`READY_THRESHOLD`] aligned.
    pub ready_for: Option<String>,
}

/// One reporting organisation this period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReporterSummary {
    /// `<org_name>` (empty when the reporter sent none).
    pub org: String,
    /// Reports received.
    pub reports: u64,
    /// Messages in them.
    pub messages: u64,
}

/// A reporter that went quiet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SilentReporter {
    /// `<org_name>`.
    pub org: String,
    /// Reports it sent in the baseline weeks.
    pub reports: u64,
    /// The last day its reports covered, `2026-11-10`.
    pub last_seen: String,
}

/// The policy reporters saw published, and whether it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    /// The policy in the most recent report of the period.
    #[serde(flatten)]
    pub current: PublishedPolicy,
    /// More than one policy seen this period, or another one before it.
    pub changed: bool,
    /// The policy in the last report before the period, if any.
    pub before: Option<PublishedPolicy>,
    /// Each distinct policy seen this period, in order of first appearance.
    pub seen: Vec<PolicySeen>,
}

/// One distinct published policy and where it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySeen {
    /// The policy.
    #[serde(flatten)]
    pub policy: PublishedPolicy,
    /// Reports that showed it.
    pub reports: u64,
    /// First day seen (`2026-11-16`).
    pub first_seen: String,
    /// Last day seen.
    pub last_seen: String,
}

/// The DMARC record as a reporter saw it (`<policy_published>`). Absent tags are null.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PublishedPolicy {
    /// `p=`.
    pub p: Option<String>,
    /// `sp=`.
    pub sp: Option<String>,
    /// `np=` (RFC 9990).
    pub np: Option<String>,
    /// `pct=` (RFC 7489).
    pub pct: Option<u32>,
    /// `t=` (RFC 9990 testing): `y` or `n`.
    pub testing: Option<String>,
    /// `adkim=`.
    pub adkim: Option<String>,
    /// `aspf=`.
    pub aspf: Option<String>,
}

impl PublishedPolicy {
    /// `p=none sp=reject pct=100`: the tags present, in DNS order.
    pub fn tags(&self) -> String {
        let mut tags = Vec::new();
        let text = [("p", &self.p), ("sp", &self.sp), ("np", &self.np)];
        for (name, value) in text {
            if let Some(value) = value {
                tags.push(format!("{name}={value}"));
            }
        }
        if let Some(pct) = self.pct {
            tags.push(format!("pct={pct}"));
        }
        let text = [
            ("t", &self.testing),
            ("adkim", &self.adkim),
            ("aspf", &self.aspf),
        ];
        for (name, value) in text {
            if let Some(value) = value {
                tags.push(format!("{name}={value}"));
            }
        }
        if tags.is_empty() {
            "(no policy reported)".to_owned()
        } else {
            tags.join(" ")
        }
    }
}

/// One report, as loaded from the database.
#[derive(Debug, Clone)]
pub(crate) struct ReportRow {
    pub org: String,
    pub domain: String,
    pub begin: i64,
    pub end: i64,
    pub policy: PublishedPolicy,
}

/// One record with its authentication results, as loaded from the database.
#[derive(Debug, Clone)]
pub(crate) struct RecordRow {
    /// Index into [`Dataset::reports`].
    pub report: usize,
    pub source_ip: String,
    pub messages: u64,
    pub disposition: String,
    pub dmarc_pass: bool,
    pub spf_aligned: bool,
    pub dkim_aligned: bool,
    pub facts: RecordFacts,
    pub dkim: Vec<DkimSeen>,
    pub spf: Vec<SpfSeen>,
}

/// Reports and records around a period: the input of [`compute`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Dataset {
    pub reports: Vec<ReportRow>,
    pub records: Vec<RecordRow>,
}

/// All the periods a summary looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Windows {
    pub current: Period,
    pub previous: Period,
    pub baseline: Period,
    pub readiness: Period,
}

impl Windows {
    pub fn new(period: Period) -> Windows {
        let trailing = period.trailing_weeks(advice::READINESS_WEEKS);
        Windows {
            current: period,
            previous: period.previous(),
            baseline: period.preceding_weeks(BASELINE_WEEKS),
            // A period longer than the readiness window is judged as a whole.
            readiness: if period.len() > trailing.len() {
                period
            } else {
                trailing
            },
        }
    }

    /// Every report needed lies in this period.
    pub fn all(&self) -> Period {
        self.current
            .union(&self.previous)
            .union(&self.baseline)
            .union(&self.readiness)
    }
}

/// Computes the summary of `period` from `data`, for `domain` only when given (then it is
/// listed even without reports, so a broken pipeline shows as "no reports received").
pub(crate) fn compute(period: Period, domain: Option<&str>, data: &Dataset) -> Summary {
    let windows = Windows::new(period);
    let mut domains: BTreeSet<&str> = BTreeSet::new();
    match domain {
        Some(domain) => {
            domains.insert(domain);
        }
        None => {
            for report in &data.reports {
                let midpoint = report_midpoint(report.begin, report.end);
                if windows.current.contains(midpoint) || windows.baseline.contains(midpoint) {
                    domains.insert(&report.domain);
                }
            }
        }
    }
    let mut by_domain: HashMap<&str, DomainData<'_>> = HashMap::new();
    for report in &data.reports {
        by_domain
            .entry(&report.domain)
            .or_default()
            .reports
            .push(report);
    }
    for record in &data.records {
        if let Some(report) = data.reports.get(record.report) {
            let domain = by_domain.entry(&report.domain).or_default();
            domain.records.push((report, record));
        }
    }
    let nothing = DomainData::default();
    Summary {
        period,
        previous_period: windows.previous,
        baseline: windows.baseline,
        domains: domains
            .into_iter()
            .map(|name| summarise_domain(name, &windows, by_domain.get(name).unwrap_or(&nothing)))
            .collect(),
    }
}

/// The reports and records of one policy domain, found once so that each of the many
/// passes of a summary only walks its own domain.
#[derive(Default)]
struct DomainData<'a> {
    reports: Vec<&'a ReportRow>,
    records: Vec<(&'a ReportRow, &'a RecordRow)>,
}

impl<'a> DomainData<'a> {
    /// The records whose report lies in `period`.
    fn records_in(
        &self,
        period: Period,
    ) -> impl Iterator<Item = (&'a ReportRow, &'a RecordRow)> + '_ {
        self.records
            .iter()
            .copied()
            .filter(move |(report, _)| period.contains_report(report.begin, report.end))
    }

    /// The reports that lie in `period`.
    fn reports_in(&self, period: Period) -> impl Iterator<Item = &'a ReportRow> + '_ {
        self.reports
            .iter()
            .copied()
            .filter(move |report| period.contains_report(report.begin, report.end))
    }
}

fn summarise_domain(domain: &str, windows: &Windows, data: &DomainData<'_>) -> DomainSummary {
    let current = totals(data, windows.current);
    let previous = totals(data, windows.previous);
    let baseline_reports = data.reports_in(windows.baseline).count() as u64;
    let baseline_sources: BTreeSet<&str> = data
        .records_in(windows.baseline)
        .map(|(_, record)| record.source_ip.as_str())
        .collect();

    let policy = policy_summary(data, windows);
    let published = policy
        .as_ref()
        .and_then(|policy| policy.current.p.as_deref());
    let mut sources = aggregate_sources(data.records_in(windows.current));
    for source in &mut sources {
        let ip = source.summary.source_ip.as_str();
        source.summary.new = baseline_reports > 0 && !baseline_sources.contains(ip);
        source.summary.advice = advice::for_source(domain, source, published);
    }
    let new_sources = sources
        .iter()
        .filter(|source| source.summary.new)
        .map(|source| NewSource {
            source_ip: source.summary.source_ip.clone(),
            messages: source.summary.messages,
            classification: source.summary.classification,
        })
        .collect::<Vec<_>>();
    let mut top_failing: Vec<FailingSource> = sources
        .iter()
        .map(|source| FailingSource {
            source_ip: source.summary.source_ip.clone(),
            messages: source.summary.messages,
            failing: source
                .summary
                .messages
                .saturating_sub(source.summary.dmarc_pass),
            classification: source.summary.classification,
        })
        .filter(|source| source.failing > 0)
        .collect();
    top_failing.sort_by(|a, b| {
        b.failing
            .cmp(&a.failing)
            .then_with(|| a.source_ip.cmp(&b.source_ip))
    });
    top_failing.truncate(TOP_FAILING);

    let readiness_sources = aggregate_sources(data.records_in(windows.readiness));
    let latest_policy =
        latest_report(data.reports_in(windows.readiness)).map(|report| &report.policy);
    let readiness = advice::readiness(windows.readiness, &readiness_sources, latest_policy);

    let mut advice_lines = Vec::new();
    if let Some(line) = readiness.as_ref().and_then(advice::for_readiness) {
        advice_lines.push(line);
    }
    let mut by_volume: Vec<&SourceAggregate> = sources.iter().collect();
    by_volume.sort_by_key(|source| std::cmp::Reverse(source.summary.messages));
    advice_lines.extend(
        by_volume
            .iter()
            .filter_map(|source| source.summary.advice.clone()),
    );

    let (reporters, silent_reporters) = reporters(data, windows);
    DomainSummary {
        domain: domain.to_owned(),
        reports: current.reports,
        messages: current.messages,
        dmarc_pass: current.dmarc_pass,
        dmarc_pass_rate: current.dmarc_pass_rate,
        spf_aligned: current.spf_aligned,
        spf_aligned_rate: current.spf_aligned_rate,
        dkim_aligned: current.dkim_aligned,
        dkim_aligned_rate: current.dkim_aligned_rate,
        dispositions: current.dispositions,
        previous,
        daily: daily(data, windows.current),
        sources: sources.into_iter().map(|source| source.summary).collect(),
        new_sources,
        top_failing,
        advice: advice_lines,
        readiness,
        reporters,
        silent_reporters,
        baseline_reports,
        policy,
    }
}

/// `numerator / denominator` rounded to four decimals, so that JSON and snapshots are stable.
pub(crate) fn rate(numerator: u64, denominator: u64) -> Option<f64> {
    if denominator == 0 {
        return None;
    }
    let exact = numerator as f64 / denominator as f64;
    Some((exact * 10_000.0).round() / 10_000.0)
}

fn totals(data: &DomainData<'_>, period: Period) -> PeriodTotals {
    let mut totals = PeriodTotals {
        reports: data.reports_in(period).count() as u64,
        ..PeriodTotals::default()
    };
    for (_, record) in data.records_in(period) {
        totals.messages += record.messages;
        if record.dmarc_pass {
            totals.dmarc_pass += record.messages;
        }
        if record.spf_aligned {
            totals.spf_aligned += record.messages;
        }
        if record.dkim_aligned {
            totals.dkim_aligned += record.messages;
        }
        match record.disposition.as_str() {
            "quarantine" => totals.dispositions.quarantine += record.messages,
            "reject" => totals.dispositions.reject += record.messages,
            _ => totals.dispositions.none += record.messages,
        }
    }
    totals.dmarc_pass_rate = rate(totals.dmarc_pass, totals.messages);
    totals.spf_aligned_rate = rate(totals.spf_aligned, totals.messages);
    totals.dkim_aligned_rate = rate(totals.dkim_aligned, totals.messages);
    totals
}

fn daily(data: &DomainData<'_>, period: Period) -> Vec<DailyVolume> {
    let mut days: BTreeMap<i64, DailyVolume> = period
        .days()
        .into_iter()
        .map(|day| {
            let volume = DailyVolume {
                day: format_day(day),
                messages: 0,
                dmarc_pass: 0,
            };
            (day, volume)
        })
        .collect();
    for (report, record) in data.records_in(period) {
        let day = report_midpoint(report.begin, report.end).div_euclid(period::DAY) * period::DAY;
        if let Some(volume) = days.get_mut(&day) {
            volume.messages += record.messages;
            if record.dmarc_pass {
                volume.dmarc_pass += record.messages;
            }
        }
    }
    days.into_values().collect()
}

/// A source's summary plus the facts the advice needs.
#[derive(Debug, Clone)]
pub(crate) struct SourceAggregate {
    pub summary: SourceSummary,
    /// Domains with an SPF pass (scope mfrom) in misaligned records, for the advice.
    pub spf_pass_domains: BTreeSet<String>,
    /// Domains with a DKIM pass in misaligned records, for the advice.
    pub dkim_pass_domains: BTreeSet<String>,
}

/// Groups records by source IP, classifies each source, and orders them by class, then by
/// messages (most first), then by IP.
fn aggregate_sources<'a>(
    records: impl Iterator<Item = (&'a ReportRow, &'a RecordRow)>,
) -> Vec<SourceAggregate> {
    struct Building {
        messages: u64,
        dmarc_pass: u64,
        spf_aligned: u64,
        dkim_aligned: u64,
        tally: ClassTally,
        dkim: BTreeSet<DkimSeen>,
        spf: BTreeSet<SpfSeen>,
        reporters: BTreeSet<String>,
        spf_pass_domains: BTreeSet<String>,
        dkim_pass_domains: BTreeSet<String>,
    }
    let mut by_ip: HashMap<&str, Building> = HashMap::new();
    for (report, record) in records {
        let source = by_ip.entry(&record.source_ip).or_insert_with(|| Building {
            messages: 0,
            dmarc_pass: 0,
            spf_aligned: 0,
            dkim_aligned: 0,
            tally: ClassTally::default(),
            dkim: BTreeSet::new(),
            spf: BTreeSet::new(),
            reporters: BTreeSet::new(),
            spf_pass_domains: BTreeSet::new(),
            dkim_pass_domains: BTreeSet::new(),
        });
        source.messages += record.messages;
        if record.dmarc_pass {
            source.dmarc_pass += record.messages;
        }
        if record.spf_aligned {
            source.spf_aligned += record.messages;
        }
        if record.dkim_aligned {
            source.dkim_aligned += record.messages;
        }
        let class = classify_record(&record.facts);
        source.tally.add(class, record.messages);
        source.dkim.extend(record.dkim.iter().cloned());
        source.spf.extend(record.spf.iter().cloned());
        source.reporters.insert(report.org.clone());
        // The advice names what passed in the misaligned mail only: a pass in the source's
        // aligned mail is aligned by definition.
        if class != Classification::Misaligned {
            continue;
        }
        for spf in record.spf.iter().filter(|spf| spf.result == "pass") {
            source.spf_pass_domains.insert(spf.domain.clone());
        }
        for dkim in record.dkim.iter().filter(|dkim| dkim.result == "pass") {
            source.dkim_pass_domains.insert(dkim.domain.clone());
        }
    }
    let mut sources: Vec<SourceAggregate> = by_ip
        .into_iter()
        .filter_map(|(ip, source)| {
            let classification = source.tally.winner()?;
            Some(SourceAggregate {
                summary: SourceSummary {
                    source_ip: ip.to_owned(),
                    messages: source.messages,
                    dmarc_pass: source.dmarc_pass,
                    dmarc_pass_rate: rate(source.dmarc_pass, source.messages),
                    spf_aligned: source.spf_aligned,
                    dkim_aligned: source.dkim_aligned,
                    classification,
                    advice: None,
                    new: false,
                    dkim: source.dkim.into_iter().collect(),
                    spf: source.spf.into_iter().collect(),
                    reporters: source.reporters.into_iter().collect(),
                },
                spf_pass_domains: source.spf_pass_domains,
                dkim_pass_domains: source.dkim_pass_domains,
            })
        })
        .collect();
    sources.sort_by(|a, b| {
        let (a, b) = (&a.summary, &b.summary);
        a.classification
            .cmp(&b.classification)
            .then_with(|| b.messages.cmp(&a.messages))
            .then_with(|| a.source_ip.cmp(&b.source_ip))
    });
    sources
}

/// The report covering the latest time (ties: the later-starting one), for "the policy now".
fn latest_report<'a>(reports: impl Iterator<Item = &'a ReportRow>) -> Option<&'a ReportRow> {
    reports.max_by(|a, b| {
        (a.end, a.begin, &a.org, &a.policy).cmp(&(b.end, b.begin, &b.org, &b.policy))
    })
}

fn policy_summary(data: &DomainData<'_>, windows: &Windows) -> Option<PolicySummary> {
    let mut reports: Vec<&ReportRow> = data.reports_in(windows.current).collect();
    let current = latest_report(reports.iter().copied())?.policy.clone();
    reports.sort_by(|a, b| (a.begin, a.end, &a.org).cmp(&(b.begin, b.end, &b.org)));
    let mut seen: Vec<PolicySeen> = Vec::new();
    for report in reports {
        let (first, last) = (
            format_day(report.begin),
            format_day(report.end.max(report.begin)),
        );
        match seen.iter_mut().find(|seen| seen.policy == report.policy) {
            Some(entry) => {
                entry.reports += 1;
                entry.last_seen = entry.last_seen.clone().max(last);
            }
            None => seen.push(PolicySeen {
                policy: report.policy.clone(),
                reports: 1,
                first_seen: first,
                last_seen: last,
            }),
        }
    }
    let earlier = Period {
        start: windows.all().start,
        end: windows.current.start,
    };
    let before = latest_report(data.reports_in(earlier)).map(|report| report.policy.clone());
    let changed = seen.len() > 1 || before.as_ref().is_some_and(|before| *before != current);
    Some(PolicySummary {
        current,
        changed,
        before,
        seen,
    })
}

fn reporters(
    data: &DomainData<'_>,
    windows: &Windows,
) -> (Vec<ReporterSummary>, Vec<SilentReporter>) {
    let mut current: BTreeMap<&str, ReporterSummary> = BTreeMap::new();
    for report in data.reports_in(windows.current) {
        current
            .entry(&report.org)
            .or_insert_with(|| ReporterSummary {
                org: report.org.clone(),
                reports: 0,
                messages: 0,
            })
            .reports += 1;
    }
    for (report, record) in data.records_in(windows.current) {
        if let Some(reporter) = current.get_mut(report.org.as_str()) {
            reporter.messages += record.messages;
        }
    }
    let mut silent: BTreeMap<&str, SilentReporter> = BTreeMap::new();
    for report in data.reports_in(windows.baseline) {
        if current.contains_key(report.org.as_str()) {
            continue;
        }
        let last_seen = format_day(report.end.max(report.begin));
        let entry = silent.entry(&report.org).or_insert_with(|| SilentReporter {
            org: report.org.clone(),
            reports: 0,
            last_seen: last_seen.clone(),
        });
        entry.reports += 1;
        entry.last_seen = entry.last_seen.clone().max(last_seen);
    }
    let mut reporters: Vec<ReporterSummary> = current.into_values().collect();
    reporters.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.org.cmp(&b.org)));
    let mut silent: Vec<SilentReporter> = silent.into_values().collect();
    silent.sort_by(|a, b| b.reports.cmp(&a.reports).then_with(|| a.org.cmp(&b.org)));
    (reporters, silent)
}

#[cfg(test)]
mod tests;
