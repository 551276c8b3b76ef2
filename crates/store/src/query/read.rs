//! The typed, streaming read API: reports, then their records with DKIM and SPF results, as
//! [`ReportRow`]s and [`RecordRow`]s with the report model's enums, never SQL rows. `ruadb
//! sources` and the weekly summary (`ruadb-summary`) both read through it.
//!
//! Nothing is collected: a caller folds each row as it comes, so reading millions of records
//! needs memory for what the caller keeps.

use super::sql::Selection;
use crate::classify::{FORWARDING_REASONS, RecordFacts};
use crate::sql_value::{borrowed_text, columns, count, optional_enum, report_enum};
use crate::{Store, StoreError};
use ruadb_report::{AlignmentMode, Disposition, DkimResult, Policy, SpfResult, SpfScope, Testing};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Range;

/// Which reports a read covers. Every condition given must hold; the default selects every
/// report. Times are unix seconds; a report is selected by its date range as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// Only reports for this policy domain (as stored: lowercase, no trailing dot).
    pub policy_domain: Option<String>,
    /// Only reports beginning at or after this time.
    pub begin_at_or_after: Option<i64>,
    /// Only reports beginning before this time.
    pub begin_before: Option<i64>,
    /// Only reports ending at or after this time.
    pub end_at_or_after: Option<i64>,
}

/// Whose DKIM and SPF results a read fills in ([`RecordRow::dkim`], [`RecordRow::spf`],
/// [`RecordRow::helo_domains`]). [`RecordRow::facts`] are complete either way for records
/// failing DMARC; a passing record is classified aligned without its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsWanted {
    /// Every record's.
    All,
    /// Those of records failing DMARC and of records in reports overlapping this time range
    /// (unix seconds, end excluded).
    FailingOrOverlapping(Range<i64>),
}

/// One stored report, as a reader of the records needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// `<org_name>` (may be empty).
    pub org: String,
    /// The policy domain.
    pub policy_domain: String,
    /// Start of the report's date range (unix seconds).
    pub begin: i64,
    /// End of the report's date range (unix seconds).
    pub end: i64,
    /// The published policy the reporter saw.
    pub policy: PublishedPolicy,
}

/// The DMARC record as a reporter saw it (`<policy_published>`). Absent tags are null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PublishedPolicy {
    /// `p=`.
    pub p: Option<Policy>,
    /// `sp=`.
    pub sp: Option<Policy>,
    /// `np=` (RFC 9990).
    pub np: Option<Policy>,
    /// `pct=` (RFC 7489).
    pub pct: Option<u32>,
    /// `t=` (RFC 9990 testing): `y` or `n`.
    pub testing: Option<Testing>,
    /// `adkim=`.
    pub adkim: Option<AlignmentMode>,
    /// `aspf=`.
    pub aspf: Option<AlignmentMode>,
}

impl PublishedPolicy {
    /// Whether the two show different policies. Tags that only one report format has (`pct`
    /// in RFC 7489; `np` and `t` in RFC 9990) count only when both reports show them; an
    /// absent `sp` means "as `p`" and an absent `adkim`/`aspf` means relaxed (RFC 7489
    /// section 6.3), so `p=none` and `p=none sp=none adkim=r` are the same policy.
    pub fn conflicts_with(&self, other: &PublishedPolicy) -> bool {
        PublishedPolicy::any_conflict([self, other])
    }

    /// Whether any two of `policies` conflict ([`PublishedPolicy::conflicts_with`]), in one
    /// pass: two policies conflict exactly when some tag shows two different values among the
    /// policies that have it, so the first value of each tag is all there is to keep.
    pub fn any_conflict<'a>(policies: impl IntoIterator<Item = &'a PublishedPolicy>) -> bool {
        /// Notes `value` for a tag whose first value is `first`; true when they differ.
        fn differs<T: PartialEq>(first: &mut Option<T>, value: Option<T>) -> bool {
            match (first.as_ref(), value) {
                (_, None) => false,
                (None, value) => {
                    *first = value;
                    false
                }
                (Some(first), Some(value)) => *first != value,
            }
        }
        let relaxed = &AlignmentMode::Relaxed;
        let (mut p, mut subdomain, mut np, mut pct, mut testing) = (None, None, None, None, None);
        let (mut adkim, mut aspf) = (None, None);
        policies.into_iter().any(|policy| {
            differs(&mut p, policy.p.as_ref())
                || differs(&mut subdomain, policy.sp.as_ref().or(policy.p.as_ref()))
                || differs(&mut adkim, Some(policy.adkim.as_ref().unwrap_or(relaxed)))
                || differs(&mut aspf, Some(policy.aspf.as_ref().unwrap_or(relaxed)))
                || differs(&mut np, policy.np.as_ref())
                || differs(&mut pct, policy.pct)
                || differs(&mut testing, policy.testing.as_ref())
        })
    }

    /// `p=none sp=reject pct=100`: the tags present, in DNS order.
    pub fn tags(&self) -> String {
        let mut tags = Vec::new();
        let policies = [("p", &self.p), ("sp", &self.sp), ("np", &self.np)];
        for (name, value) in policies {
            if let Some(value) = value {
                tags.push(format!("{name}={value}"));
            }
        }
        if let Some(pct) = self.pct {
            tags.push(format!("pct={pct}"));
        }
        if let Some(testing) = &self.testing {
            tags.push(format!("t={testing}"));
        }
        let modes = [("adkim", &self.adkim), ("aspf", &self.aspf)];
        for (name, value) in modes {
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

impl PublishedPolicy {
    /// Compares two policies tag by tag, in DNS order, by their text: a total order for
    /// picking one report among reports that agree on everything else.
    pub fn cmp_tags(&self, other: &PublishedPolicy) -> Ordering {
        fn text<T: std::fmt::Display>(value: &Option<T>) -> Option<String> {
            value.as_ref().map(ToString::to_string)
        }
        let key = |policy: &PublishedPolicy| {
            (
                text(&policy.p),
                text(&policy.sp),
                text(&policy.np),
                policy.pct,
                text(&policy.testing),
                text(&policy.adkim),
                text(&policy.aspf),
            )
        };
        key(self).cmp(&key(other))
    }
}

/// One stored record with its authentication results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The source IP, in the canonical text form ingest stores.
    pub source_ip: String,
    /// Messages the record stands for.
    pub messages: u64,
    /// What the receiver did.
    pub disposition: Disposition,
    /// DMARC pass, recomputed at ingest (SPF-aligned or DKIM-aligned).
    pub dmarc_pass: bool,
    /// SPF passed for a domain aligned with `header_from` (recomputed).
    pub spf_aligned: bool,
    /// DKIM passed for a domain aligned with `header_from` (recomputed).
    pub dkim_aligned: bool,
    /// What the record's class depends on ([`crate::classify`]).
    pub facts: RecordFacts,
    /// DKIM results, in report order (see [`ResultsWanted`]).
    pub dkim: Vec<DkimRow>,
    /// SPF results of scope mfrom or unstated, in report order.
    pub spf: Vec<SpfRow>,
    /// Domains of SPF results of scope HELO: they do not count for DMARC and name a
    /// forwarder's host rather than a sender.
    pub helo_domains: Vec<String>,
}

impl Default for RecordRow {
    fn default() -> Self {
        RecordRow {
            source_ip: String::new(),
            messages: 0,
            disposition: Disposition::None,
            dmarc_pass: false,
            spf_aligned: false,
            dkim_aligned: false,
            facts: RecordFacts::default(),
            dkim: Vec::new(),
            spf: Vec::new(),
            helo_domains: Vec::new(),
        }
    }
}

/// One `<auth_results><dkim>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimRow {
    /// `d=`.
    pub domain: String,
    /// `s=`, when reported and not empty.
    pub selector: Option<String>,
    /// The result.
    pub result: DkimResult,
}

/// One `<auth_results><spf>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfRow {
    /// The domain checked.
    pub domain: String,
    /// The result.
    pub result: SpfResult,
}

/// What [`Store::read_reports`] hands the reports and records to.
pub trait ReportVisitor {
    /// What the visitor keeps to recognise a report's records (an index, usually).
    type Handle;

    /// A selected report: `Some(handle)` to be given its records, `None` to pass it over.
    fn report(&mut self, report: ReportRow) -> Option<Self::Handle>;

    /// A record of a report kept by [`ReportVisitor::report`].
    fn record(&mut self, report: &Self::Handle, record: &RecordRow);
}

impl Store {
    /// Hands `visit` the policy domain, begin and end of each report `filter` selects, in no
    /// particular order: what deciding which domains a period shows needs, read without the
    /// rest of the report or an ordering of them.
    pub fn read_report_spans(
        &self,
        filter: &ReportFilter,
        visit: &mut dyn FnMut(&str, i64, i64),
    ) -> Result<(), StoreError> {
        let _snapshot = self.read_transaction()?;
        let selection = Selection::of(filter);
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT rep.policy_domain, rep.begin_utc, rep.end_utc FROM reports AS rep {}",
            selection.where_clause()
        ))?;
        let mut rows = statement.query(selection.params())?;
        while let Some(row) = rows.next()? {
            let domain = borrowed_text(row, 0)?.unwrap_or_default();
            visit(domain, row.get(1)?, row.get(2)?);
        }
        Ok(())
    }

    /// Streams the reports `filter` selects to the visitor, in storage order, then the records
    /// of every report it kept, by report begin time. Records of reports it passed over are
    /// not decoded.
    ///
    /// One [`RecordRow`] is reused, so reading allocates little beyond the results
    /// themselves; each record is read in time linear in its results.
    pub fn read_reports<V: ReportVisitor>(
        &self,
        filter: &ReportFilter,
        results: &ResultsWanted,
        visitor: &mut V,
    ) -> Result<(), StoreError> {
        // One snapshot for the reports and the record streams, whatever an ingest commits
        // meanwhile; nothing is written, so it is rolled back.
        let _snapshot = self.read_transaction()?;
        let selection = Selection::of(filter);
        let mut handles = HashMap::new();
        // The begin times of the reports kept, to narrow the record streams.
        let mut begins: Option<(i64, i64)> = None;
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT rep.id, rep.org_name, rep.policy_domain, rep.begin_utc, rep.end_utc,
                    rep.p, rep.sp, rep.np, rep.pct, rep.testing, rep.adkim, rep.aspf
             FROM reports AS rep {} ORDER BY rep.id",
            selection.where_clause()
        ))?;
        let [
            id,
            org,
            domain,
            begin,
            end,
            p,
            sp,
            np,
            pct,
            testing,
            adkim,
            aspf,
        ] = columns(
            &statement,
            [
                "id",
                "org_name",
                "policy_domain",
                "begin_utc",
                "end_utc",
                "p",
                "sp",
                "np",
                "pct",
                "testing",
                "adkim",
                "aspf",
            ],
        )?;
        let mut rows = statement.query(selection.params())?;
        while let Some(row) = rows.next()? {
            let report = ReportRow {
                org: row.get(org)?,
                policy_domain: row.get(domain)?,
                begin: row.get(begin)?,
                end: row.get(end)?,
                policy: PublishedPolicy {
                    p: optional_enum(row, p)?,
                    sp: optional_enum(row, sp)?,
                    np: optional_enum(row, np)?,
                    pct: row
                        .get::<_, Option<i64>>(pct)?
                        .and_then(|pct| u32::try_from(pct).ok()),
                    testing: optional_enum(row, testing)?,
                    adkim: optional_enum(row, adkim)?,
                    aspf: optional_enum(row, aspf)?,
                },
            };
            let begin = report.begin;
            if let Some(handle) = visitor.report(report) {
                let (first, last) = begins.get_or_insert((begin, begin));
                *first = (*first).min(begin);
                *last = (*last).max(begin);
                handles.insert(row.get::<_, i64>(id)?, handle);
            }
        }
        let Some((first, last)) = begins else {
            return Ok(());
        };
        let mut narrowed = filter.clone();
        narrowed.begin_at_or_after = Some(first);
        narrowed.begin_before = Some(last.saturating_add(1));
        self.each_record(&narrowed, results, &handles, visitor)
    }

    /// The record stream of [`Store::read_reports`]. Three queries walk the same order (the
    /// reports by their begin, each report's records by `records_by_report`, each record's
    /// results by their clustered keys) and are merged: records, DKIM results, SPF results.
    /// A join of both result tables would give a record with n DKIM and m SPF results n×m
    /// rows; merged streams give n+m.
    fn each_record<V: ReportVisitor>(
        &self,
        filter: &ReportFilter,
        results: &ResultsWanted,
        handles: &HashMap<i64, V::Handle>,
        visitor: &mut V,
    ) -> Result<(), StoreError> {
        let selection = Selection::of(filter);
        let walk = "FROM reports AS rep CROSS JOIN records AS rec ON rec.report = rep.id";
        // `CROSS JOIN` keeps SQLite from starting at a results table; each `ORDER BY` is met
        // by the nested loops without sorting.
        let order = "ORDER BY rep.begin_utc, rep.id, rec.id";
        // The report's times are tested first: a record of an overlapping report then needs
        // no look at its own row.
        let wanted = match results {
            ResultsWanted::All => String::new(),
            ResultsWanted::FailingOrOverlapping(range) => format!(
                "AND ((rep.begin_utc < {} AND rep.end_utc >= {}) OR NOT rec.dmarc_pass)",
                range.end, range.start
            ),
        };
        let results_where = match selection.where_clause() {
            clause if clause.is_empty() => format!("WHERE 1 {wanted}"),
            clause => format!("{clause} {wanted}"),
        };
        let forwarding: Vec<String> = FORWARDING_REASONS
            .iter()
            .map(|reason| format!("'{}'", reason.as_str()))
            .collect();
        let mut records = self.connection.prepare_cached(&format!(
            "SELECT rep.begin_utc, rec.report, rec.id, rec.source_ip, rec.message_count, rec.disposition,
                    rec.header_from, rec.dmarc_pass, rec.spf_aligned, rec.dkim_aligned,
                    CASE WHEN rec.dmarc_pass THEN 0 ELSE EXISTS (
                        SELECT 1 FROM reasons AS r
                        WHERE r.record = rec.id AND r.type IN ({}))
                    END AS forwarding_reason
             {walk} {} {order}",
            forwarding.join(", "),
            selection.where_clause()
        ))?;
        let mut dkim = self.connection.prepare_cached(&format!(
            "SELECT rep.begin_utc, rep.id AS report, rec.id, d.domain, d.selector, d.result
             {walk} CROSS JOIN dkim_results AS d ON d.record = rec.id
             {results_where} {order}, d.seq"
        ))?;
        let mut spf = self.connection.prepare_cached(&format!(
            "SELECT rep.begin_utc, rep.id AS report, rec.id, s.domain, s.scope, s.result
             {walk} CROSS JOIN spf_results AS s ON s.record = rec.id
             {results_where} {order}, s.seq"
        ))?;
        let at = |statement: &rusqlite::Statement<'_>| -> rusqlite::Result<[usize; 3]> {
            columns(statement, ["begin_utc", "report", "id"])
        };
        let (record_at, dkim_at, spf_at) = (at(&records)?, at(&dkim)?, at(&spf)?);
        let [
            source_ip,
            messages,
            disposition,
            header_from_column,
            dmarc_pass,
        ] = columns(
            &records,
            [
                "source_ip",
                "message_count",
                "disposition",
                "header_from",
                "dmarc_pass",
            ],
        )?;
        let [spf_aligned, dkim_aligned, forwarding_reason] = columns(
            &records,
            ["spf_aligned", "dkim_aligned", "forwarding_reason"],
        )?;
        let [dkim_domain, selector, dkim_result] =
            columns(&dkim, ["domain", "selector", "result"])?;
        let [spf_domain, scope, spf_result] = columns(&spf, ["domain", "scope", "result"])?;
        let mut records = records.query(selection.params())?;
        let mut dkim = dkim
            .query_map(selection.params(), |row| {
                let result = DkimRow {
                    domain: text(row, dkim_domain)?.to_owned(),
                    selector: borrowed_text(row, selector)?
                        .filter(|selector| !selector.is_empty())
                        .map(str::to_owned),
                    result: report_enum(row, dkim_result)?,
                };
                Ok((position(row, dkim_at)?, result))
            })?
            .peekable();
        let mut spf = spf
            .query_map(selection.params(), |row| {
                let helo = optional_enum(row, scope)? == Some(SpfScope::Helo);
                let result = SpfRow {
                    domain: text(row, spf_domain)?.to_owned(),
                    result: report_enum(row, spf_result)?,
                };
                Ok((position(row, spf_at)?, helo, result))
            })?
            .peekable();
        let mut record = RecordRow::default();
        let mut header_from = String::new();
        while let Some(row) = records.next()? {
            let here = position(row, record_at)?;
            let handle = handles.get(&here.1);
            record.dkim.clear();
            record.spf.clear();
            record.helo_domains.clear();
            // The streams walk the same order in one snapshot, so every result belongs to this
            // record or a later one; one that sorts before it (none can) is dropped rather
            // than holding up the stream. An error is taken at once.
            let due = |next: &Position| *next <= here;
            while let Some(next) = dkim.next_if(|next| next.as_ref().map_or(true, |n| due(&n.0))) {
                let (at, result) = next?;
                if at == here {
                    record.dkim.push(result);
                }
            }
            while let Some(next) = spf.next_if(|next| next.as_ref().map_or(true, |n| due(&n.0))) {
                match next? {
                    (at, _, _) if at != here => {}
                    (_, true, helo) => record.helo_domains.push(helo.domain),
                    (_, false, result) => record.spf.push(result),
                }
            }
            let Some(handle) = handle else {
                continue;
            };
            refill(&mut record.source_ip, borrowed_text(row, source_ip)?);
            record.messages = count(row, messages)?;
            record.disposition = report_enum(row, disposition)?;
            refill(&mut header_from, borrowed_text(row, header_from_column)?);
            record.dmarc_pass = row.get(dmarc_pass)?;
            record.spf_aligned = row.get(spf_aligned)?;
            record.dkim_aligned = row.get(dkim_aligned)?;
            record.facts = RecordFacts::from_results(
                record.dmarc_pass,
                row.get(forwarding_reason)?,
                &header_from,
                &record.dkim,
                &record.spf,
            );
            visitor.record(handle, &record);
        }
        Ok(())
    }
}

/// Where a row of the record or result streams lies in their common order: (report begin,
/// report id, record id).
type Position = (i64, i64, i64);

/// The [`Position`] of `row`, whose columns (begin, report, record) are at `at`.
fn position(row: &rusqlite::Row<'_>, at: [usize; 3]) -> rusqlite::Result<Position> {
    Ok((row.get(at[0])?, row.get(at[1])?, row.get(at[2])?))
}

/// Replaces the text of `target` with `value` (NULL: empty), keeping its allocation.
fn refill(target: &mut String, value: Option<&str>) {
    target.clear();
    target.push_str(value.unwrap_or_default());
}

/// Column `index` as text; NULL reads as empty.
fn text<'row>(row: &'row rusqlite::Row<'_>, index: usize) -> rusqlite::Result<&'row str> {
    Ok(borrowed_text(row, index)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_finds_a_conflict_exactly_when_some_pair_has_one() {
        let policy = |p: Option<Policy>, sp: Option<Policy>, adkim, pct| PublishedPolicy {
            p,
            sp,
            adkim,
            pct,
            ..PublishedPolicy::default()
        };
        let policies = [
            policy(Some(Policy::None), None, None, None),
            policy(
                Some(Policy::None),
                Some(Policy::None),
                Some(AlignmentMode::Relaxed),
                None,
            ),
            policy(None, Some(Policy::Reject), None, Some(100)),
            policy(Some(Policy::Reject), None, None, None),
            policy(None, None, Some(AlignmentMode::Strict), None),
            policy(None, None, None, Some(50)),
            PublishedPolicy::default(),
        ];
        let mut checked = 0;
        for a in &policies {
            for b in &policies {
                for c in &policies {
                    let set = [a, b, c];
                    let pairwise = set
                        .iter()
                        .any(|x| set.iter().any(|y| PublishedPolicy::any_conflict([*x, *y])));
                    assert_eq!(PublishedPolicy::any_conflict(set), pairwise, "{set:?}");
                    checked += usize::from(pairwise);
                }
            }
        }
        assert!(checked > 0);
        assert!(
            !policies[0].conflicts_with(&policies[1]),
            "absent sp is p, adkim r"
        );
        assert!(
            policies[0].conflicts_with(&policies[2]),
            "sp none against reject"
        );
        assert!(
            !policies[0].conflicts_with(&policies[5]),
            "pct shown by one only"
        );
    }
}
