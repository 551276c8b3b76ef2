//! Reading what a summary needs through the store's typed read API: the reports whose
//! midpoint falls in the windows around the period (their records are not read), then the
//! rollups of those days: per domain and day, per source and day (the names only for the
//! period), per reporter and day.

use super::compute::{RollupNames, SummaryBuilder, Windows};
use super::identity::{Identities, IdentityCache};
use super::period::DAY;
use super::tls::TlsBuilder;
use super::{FailureSampleGroup, FailureSamples, Period, Summary};
use ruadb_report::DomainName;
use ruadb_store::{
    DayFilter, DnsCheckRow, FailureSampleRow, RecordRow, ReportFilter, ReportRow, ReportVisitor,
    ResultsWanted, SourceDayRow, Store, StoreError,
};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};

/// How far before a window a report may begin and still have its midpoint inside it. Real
/// reports cover a day; this only bounds the index scan.
const LONGEST_REPORT: i64 = 400 * DAY;

/// The summary of `period`, for every policy domain with reports in it or in the four weeks
/// before, or for `domain` only (listed even without reports). A pure function of the
/// database and the period.
pub fn summarise(
    store: &Store,
    period: Period,
    domain: Option<&DomainName>,
) -> Result<Summary, StoreError> {
    summarise_with(
        store,
        period,
        domain,
        &mut IdentityCache::default(),
        &mut NameCache::default(),
    )
}

/// [`summarise`], the sources' identities looked up through `identities` and the names of
/// the rollups through `names` (both kept from one domain's summary to the next).
pub(crate) fn summarise_with(
    store: &Store,
    period: Period,
    domain: Option<&DomainName>,
    identities: &mut IdentityCache,
    names: &mut NameCache,
) -> Result<Summary, StoreError> {
    Ok(load(store, period, domain, identities, names)?.finish())
}

/// The names of `rollup_names` ids, looked up once for all the domains summarised in one
/// state of the database (rebuilding the rollups numbers the names anew: a cache must not
/// outlive the snapshot it was filled in). Bounded: emptied when full.
#[derive(Debug, Default)]
pub(crate) struct NameCache {
    texts: FxHashMap<u64, Box<str>>,
}

/// Names [`NameCache`] keeps before it starts over.
const CACHED_NAMES: usize = 1 << 16;

/// A [`NameCache`] filled from `store`.
struct CachedNames<'a> {
    store: &'a Store,
    cache: &'a mut NameCache,
}

impl RollupNames for CachedNames<'_> {
    fn name(&mut self, id: u64) -> Result<&str, StoreError> {
        let texts = &mut self.cache.texts;
        if !texts.contains_key(&id) {
            let name = self.store.rollup_name(id)?;
            if texts.len() >= CACHED_NAMES {
                texts.clear();
            }
            texts.insert(id, name.into());
        }
        Ok(texts.get(&id).map_or("", |name| name))
    }
}

/// What a summary needs from the store, read; [`Loaded::finish`] makes the summary of it
/// without the store (on another thread, when many domains are summarised).
pub(crate) struct Loaded {
    builder: SummaryBuilder,
    tls: TlsBuilder,
    identities: Identities,
    /// Failure reports by shown domain, then (source IP, failure type).
    failures: BTreeMap<String, BTreeMap<FailureKey, u64>>,
    checks: Vec<(DnsCheckRow, Option<DnsCheckRow>)>,
}

/// The source IP and failure type a failure report is counted under.
type FailureKey = (Option<String>, Option<String>);

/// Reads what the summary of `period` (of `domain`, or of all domains) needs from `store`:
/// the reports and rollups folded as they come, the TLS reports, the identities of the
/// period's sources, the failure reports and the DNS checks of the domains shown.
pub(crate) fn load(
    store: &Store,
    period: Period,
    domain: Option<&DomainName>,
    identities: &mut IdentityCache,
    names: &mut NameCache,
) -> Result<Loaded, StoreError> {
    // One state of the database for all the reads below.
    let _snapshot = store.snapshot()?;
    let domain_filter = domain.map(DomainName::to_string);
    let window = Windows::new(period).read();
    // The midpoint rule itself is applied as the reports come ([`Period::contains_report`]);
    // the filter only has to keep every report whose midpoint can lie in the window.
    let filter = ReportFilter {
        policy_domain: domain_filter.clone(),
        begin_at_or_after: Some(window.start.saturating_sub(LONGEST_REPORT)),
        begin_before: Some(window.end),
        end_at_or_after: Some(window.start),
    };
    let mut reader = WindowReader {
        window,
        builder: SummaryBuilder::new(period, domain.map(DomainName::as_str)),
    };
    // The visitor keeps no report, so no record is read.
    store.read_reports(&filter, &ResultsWanted::All, &mut reader)?;
    let mut builder = reader.builder;
    // The windows are whole days, so the days of the rollups in them are exactly the
    // midpoint days of the reports above.
    let days = |window: Period| DayFilter {
        policy_domain: domain_filter.clone(),
        since: Some(window.start),
        until: Some(window.end),
    };
    store.read_domain_days(&days(window), &mut |row| builder.add_domain_day(row))?;
    // Sources: those of the period with everything they say, those of the weeks before it
    // (baseline: the addresses; readiness: their classes) by their classes alone.
    let windows = Windows::new(period);
    let sources = windows
        .current
        .union(&windows.baseline)
        .union(&windows.readiness);
    // The period's rows with their names as ids: each distinct name is looked up once.
    let mut names = CachedNames {
        store,
        cache: names,
    };
    let mut added = Ok(());
    store.read_source_day_results(&days(period), &mut |row, sets| {
        if added.is_ok() {
            added = builder.add_source_day_ids(row, sets, &mut names);
        }
    })?;
    added?;
    let mut add = |row: &SourceDayRow| builder.add_source_classes(row);
    for (since, until) in [(sources.start, period.start), (period.end, sources.end)] {
        if since < until {
            store.read_source_classes(
                &days(Period {
                    start: since,
                    end: until,
                }),
                &mut add,
            )?;
        }
    }
    store.read_reporter_days(&days(period), &mut |row| builder.add_reporter_day(row))?;

    let tls_window = windows.current.union(&windows.previous);
    let tls_filter = ReportFilter {
        policy_domain: domain_filter,
        begin_at_or_after: Some(tls_window.start.saturating_sub(LONGEST_REPORT)),
        begin_before: Some(tls_window.end),
        end_at_or_after: Some(tls_window.start),
    };
    let mut tls = TlsBuilder::default();
    store.read_tls_policies(&tls_filter, &mut |policy| {
        tls.add(&policy, &windows.current, &windows.previous);
    })?;
    for name in tls.domains() {
        builder.list(name);
    }
    // Only the identities, failure reports and DNS checks of what the summary shows: one
    // domain's summary reads its own, however many sources and domains the database holds.
    let identities = identities.identities_of(store, builder.shown_source_ips())?;
    let shown: BTreeSet<&str> = builder.shown_domains().collect();
    let failures = failure_samples(store, period, domain, &shown)?;
    let checks = match domain {
        Some(domain) => Vec::from_iter(store.latest_dns_checks_of(domain.as_str())?),
        None => store.latest_dns_checks()?,
    };
    Ok(Loaded {
        builder,
        tls,
        identities,
        failures,
        checks,
    })
}

impl Loaded {
    /// How much it holds, in sources: what its memory grows with.
    pub(crate) fn entries(&self) -> usize {
        self.builder.entries()
    }

    /// The summary of what was read.
    pub(crate) fn finish(self) -> Summary {
        let Loaded {
            builder,
            mut tls,
            identities,
            failures,
            checks,
        } = self;
        let mut summary = builder.finish();
        for domain in &mut summary.domains {
            domain.tls = tls.summary(&domain.domain);
        }
        super::identity::apply(&mut summary, identities);
        add_failure_samples(failures, &mut summary);
        super::dns::apply(&mut summary, &checks);
        summary
    }
}

/// Counts the failure reports that arrived in `period` by domain, source IP and failure
/// type, for the domains in `shown` only; memory grows with the distinct (IP, failure) pairs.
fn failure_samples(
    store: &Store,
    period: Period,
    domain: Option<&DomainName>,
    shown: &BTreeSet<&str>,
) -> Result<BTreeMap<String, BTreeMap<FailureKey, u64>>, StoreError> {
    let mut counts: BTreeMap<String, BTreeMap<FailureKey, u64>> = BTreeMap::new();
    store.read_failure_samples(
        domain.map(DomainName::as_str),
        period.start,
        period.end,
        &mut |row: FailureSampleRow| {
            if !shown.contains(row.reported_domain.as_str()) {
                return;
            }
            let key = (row.source_ip.map(|ip| ip.to_string()), row.auth_failure);
            *counts
                .entry(row.reported_domain)
                .or_default()
                .entry(key)
                .or_default() += 1;
        },
    )?;
    Ok(counts)
}

/// Adds the failure report counts to the domains they belong to, each group linked to the
/// source's class in the domain's aggregate reports.
fn add_failure_samples(counts: BTreeMap<String, BTreeMap<FailureKey, u64>>, summary: &mut Summary) {
    let shown: BTreeMap<String, usize> = summary
        .domains
        .iter()
        .enumerate()
        .map(|(index, shown)| (shown.domain.clone(), index))
        .collect();
    for (name, groups) in counts {
        let Some(&index) = shown.get(&name) else {
            continue;
        };
        let shown_domain = &mut summary.domains[index];
        let class_of = |ip: &Option<String>| {
            ip.as_ref().and_then(|ip| {
                shown_domain
                    .sources
                    .iter()
                    .find(|source| &source.source_ip == ip)
                    .map(|source| source.classification)
            })
        };
        let mut by_source: Vec<FailureSampleGroup> = groups
            .into_iter()
            .map(|((source_ip, auth_failure), reports)| FailureSampleGroup {
                classification: class_of(&source_ip),
                source_ip,
                auth_failure,
                reports,
            })
            .collect();
        // Most reports first; the order of the keys breaks ties (the sort is stable).
        by_source.sort_by_key(|group| std::cmp::Reverse(group.reports));
        shown_domain.failure_samples = Some(FailureSamples {
            reports: by_source.iter().map(|group| group.reports).sum(),
            by_source,
        });
    }
}

/// Hands the reports whose midpoint lies in `window` to the builder, and keeps none (their
/// records are counted in the rollups).
struct WindowReader {
    window: Period,
    builder: SummaryBuilder,
}

impl ReportVisitor for WindowReader {
    type Handle = ();

    fn report(&mut self, report: ReportRow) -> Option<()> {
        if self.window.contains_report(report.begin, report.end) {
            self.builder.add_report(report);
        }
        None
    }

    fn record(&mut self, _report: &(), _record: &RecordRow) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_of_an_empty_database_says_no_reports() {
        let store = Store::open_in_memory(ruadb_store::StoreOptions::default()).unwrap();
        let week = Period::iso_week(2026, 47).unwrap();
        let summary = summarise(&store, week, None).unwrap();
        assert!(summary.domains.is_empty());
        let domain = DomainName::new("Example.COM.");
        let summary = summarise(&store, week, Some(&domain)).unwrap();
        assert_eq!(summary.domains.len(), 1);
        assert_eq!(summary.domains[0].domain, "example.com");
        assert_eq!(summary.domains[0].totals.reports, 0);
    }
}
