//! The weekly summary: what a domain owner reads on Monday morning.
//!
//! [`summarise`] reads the reports of a period (and the weeks around it, for comparisons)
//! through `ruadb-store`'s typed read API ([`Store::read_reports`]) and folds them into a
//! [`Summary`]: a pure function of the data and the [`Period`], with no clock, so it is
//! snapshot-tested. Rendering is separate: [`render_text`], [`render_markdown`],
//! [`render_html`], [`render_email`] (both as one mail), and serde for JSON. This crate has no SQL: a store that implements the same reads can be summarised.
//!
//! # Layout
//! - `period.rs`: ISO weeks, date ranges and the rule that puts a report in a period.
//! - `load.rs`: which reports and records to read, through the store's read API.
//! - `compute.rs`: the fold of reports and records into a [`Summary`], one record at a time.
//! - `identity.rs`: each source's identity, the "By service" groups and the service advice.
//! - `advice.rs`: the plain-words advice per source and the enforcement readiness.
//! - `alerts.rs`: what deserves attention (stable codes, severities) for `--alerts`.
//! - `tls.rs`: the TLS part of a domain, from its SMTP TLS reports (RFC 8460).
//! - `numbers.rs`: counts, rates and changes as text, for the advice and the renderers.
//! - `render.rs`: what a rendering shows and in which order (one walk over the summary),
//!   and the lines every rendering says the same way.
//! - `text.rs`, `markdown.rs`, `html.rs`: the writers the walk drives: how each section
//!   looks; `html.rs` lays its views out with a minijinja template (`templates/summary.html`)
//!   and draws the charts with its own SVG writer (`html/svg.rs`).
//! - `email.rs`: the text and HTML summaries as one ready-to-send mail.
//! - `stream.rs`: [`DomainByDomain`], the summary computed and written one domain at a time,
//!   so that a thousand domains take the memory of one (text, Markdown and JSON).
//!
//! A source's class comes from the store's [`classify`](ruadb_store::classify) rule, the one
//! `ruadb sources` uses.
//!
//! # Which period a report belongs to
//! A report is attributed, with all its records, to the period that contains the midpoint of
//! its date range ([`Period::contains_report`]). A report is therefore never counted twice
//! nor lost between two adjacent periods; a report spanning Sunday 12:00 to Monday 12:00
//! belongs to the week starting that Monday. Daily volumes use the same rule per day.

mod advice;
pub mod alerts;
mod compute;
mod dns;
pub mod email;
mod html;
mod identity;
mod load;
mod markdown;
mod numbers;
pub mod period;
mod render;
mod stream;
mod text;
mod tls;

pub use advice::READY_THRESHOLD;
pub use alerts::{Alert, AlertCode, AlertThresholds, Severity, alerts};
pub use dns::{DnsFinding, DnsSummary, UncoveredSource};
pub use email::{EmailError, Envelope, render_email};
pub use html::render_html;
pub use load::summarise;
pub use markdown::{escape as escape_markdown, render_markdown};
pub use period::{Period, PeriodError};
pub use stream::{DomainByDomain, WriteError};

pub use ruadb_store::classify::Classification;
pub use text::render_text;
pub use tls::{TlsFailureCount, TlsSummary, TlsTotals};

pub(crate) use compute::SourceAggregate;
use ruadb_report::Policy;
pub use ruadb_store::PublishedPolicy;
pub use ruadb_store::SourceIdentity;
#[cfg(doc)]
use ruadb_store::Store;
use serde::Serialize;
use std::sync::Arc;

/// How many weeks before the period count as "seen before" (new sources, silent reporters).
pub const BASELINE_WEEKS: u32 = 4;
/// How many weeks, ending with the period, the weekly DMARC pass trend covers.
pub const TREND_WEEKS: u32 = 12;
/// How many failing sources the summary lists.
pub const TOP_FAILING: usize = 5;

/// The summary of one period for every policy domain (or one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// What deserves attention, most urgent first: computed on request ([`alerts()`], `ruadb
    /// summary --alerts`); absent otherwise, so the output without alerts is unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Vec<Alert>>,
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
    /// Reports, messages, DMARC pass, alignment and dispositions of the period (flattened
    /// into the domain object in JSON).
    #[serde(flatten)]
    pub totals: PeriodTotals,
    /// The same totals for the previous period.
    pub previous: PeriodTotals,
    /// Messages per UTC day of the period.
    pub daily: Vec<DailyVolume>,
    /// Messages per UTC day of the previous period, for comparison.
    pub previous_daily: Vec<DailyVolume>,
    /// DMARC pass per week over the [`TREND_WEEKS`] weeks ending with the period, oldest
    /// first (weeks without reports have no rate).
    pub weekly: Vec<WeeklyPass>,
    /// Sending sources, grouped by class (aligned, forwarded, misaligned, unauthenticated),
    /// most messages first within a class.
    pub sources: Vec<SourceSummary>,
    /// The sources grouped by service, then unknown ones by AS organisation ("By service");
    /// empty when no source is identified.
    pub services: Vec<ServiceSummary>,
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
    /// SMTP TLS reports about the domain in the period; absent (not null) when there were
    /// none, so a domain without them shows nothing extra.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSummary>,
    /// DMARC failure reports that arrived in the period; absent (not in JSON) when none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_samples: Option<FailureSamples>,
    /// The latest `ruadb dns-check` of the domain; absent when it was never checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsSummary>,
}

/// The DMARC failure reports (RFC 6591) about one domain that arrived in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureSamples {
    /// Failure reports that arrived in the period.
    pub reports: u64,
    /// Counted by source IP and failure type, most reports first.
    pub by_source: Vec<FailureSampleGroup>,
}

/// Failure reports from one source IP with one failure type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureSampleGroup {
    /// The source IP, canonical text form; null when the reports gave none.
    pub source_ip: Option<String>,
    /// `Auth-Failure` (`dmarc`, `spf`, `bodyhash`, …); null when the reports did not say.
    pub auth_failure: Option<String>,
    /// The class of this source in the period's aggregate reports; null when no aggregate
    /// report of the period names it.
    pub classification: Option<Classification>,
    /// Failure reports.
    pub reports: u64,
}

/// Totals of a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PeriodTotals {
    /// Reports received.
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
    /// The same messages by the class of their record.
    pub classes: ClassMessages,
}

/// Messages per class (of each record, by [`classify_record`](ruadb_store::classify)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassMessages {
    /// Passing DMARC.
    pub aligned: u64,
    /// Relayed by a forwarder or a list.
    pub forwarded: u64,
    /// Authenticated for another domain.
    pub misaligned: u64,
    /// No SPF or DKIM pass.
    pub unauthenticated: u64,
}

impl ClassMessages {
    /// The messages of `class`.
    pub fn get(&self, class: Classification) -> u64 {
        match class {
            Classification::Aligned => self.aligned,
            Classification::Forwarded => self.forwarded,
            Classification::Misaligned => self.misaligned,
            Classification::Unauthenticated => self.unauthenticated,
        }
    }

    /// Adds `messages` to `class` (saturating: counts come from reports).
    pub fn add(&mut self, class: Classification, messages: u64) {
        let slot = match class {
            Classification::Aligned => &mut self.aligned,
            Classification::Forwarded => &mut self.forwarded,
            Classification::Misaligned => &mut self.misaligned,
            Classification::Unauthenticated => &mut self.unauthenticated,
        };
        *slot = slot.saturating_add(messages);
    }
}

/// DMARC pass over one week of the trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeeklyPass {
    /// The week's first day (`2026-11-16`).
    pub start: String,
    /// `2026-W47` when the week is an ISO week.
    pub week: Option<String>,
    /// Messages reported.
    pub messages: u64,
    /// Of which passing DMARC.
    pub dmarc_pass: u64,
    /// `dmarc_pass / messages`; null for a week without reports.
    pub dmarc_pass_rate: Option<f64>,
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
    /// Reporting organisations that saw this source (shared text: most sources name the
    /// same few).
    pub reporters: Vec<Arc<str>>,
    /// Who the source is (service, reverse DNS, network); nulls when unknown.
    pub identity: SourceIdentity,
}

/// The sources of one service (or, for unknown sources, of one AS organisation) in a domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSummary {
    /// The catalogue service; null for a group of unknown sources.
    pub service: Option<String>,
    /// Its kind (`mailbox`, `esp`, …).
    pub service_kind: Option<String>,
    /// For unknown sources: the AS organisation they share (null when that is unknown too).
    pub as_org: Option<String>,
    /// Source IPs.
    pub sources: u64,
    /// Messages reported.
    pub messages: u64,
    /// Messages passing DMARC.
    pub dmarc_pass: u64,
    /// `dmarc_pass / messages`.
    pub dmarc_pass_rate: Option<f64>,
    /// The class carrying most of the group's messages.
    pub classification: Classification,
}

/// A DKIM result seen for a source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DkimSeen {
    /// `d=`.
    pub domain: Arc<str>,
    /// `s=`, when reported.
    pub selector: Option<Arc<str>>,
    /// `pass`, `fail`, …
    pub result: Arc<str>,
}

/// An SPF result seen for a source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SpfSeen {
    /// The domain checked (the envelope sender's).
    pub domain: Arc<str>,
    /// `pass`, `fail`, `softfail`, …
    pub result: Arc<str>,
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
    pub current_policy: Option<Policy>,
    /// The next policy step when the own traffic is at least [`READY_THRESHOLD`] aligned.
    pub ready_for: Option<Policy>,
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
    /// Reporters showed policies that disagree on a tag both reported, this period or against
    /// the last report before it.
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

/// The sum of message counts; saturating, because counts come from reports and a hostile one
/// may claim `u64::MAX` messages.
pub(crate) fn total(counts: impl Iterator<Item = u64>) -> u64 {
    counts.fold(0, u64::saturating_add)
}

/// `numerator / denominator` rounded to four decimals, so that JSON and snapshots are stable.
pub(crate) fn rate(numerator: u64, denominator: u64) -> Option<f64> {
    if denominator == 0 {
        return None;
    }
    let exact = numerator as f64 / denominator as f64;
    Some((exact * 10_000.0).round() / 10_000.0)
}

#[cfg(test)]
mod tests;
