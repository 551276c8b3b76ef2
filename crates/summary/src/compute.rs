//! Folding reports and the store's rollups into a [`Summary`]: cost and memory grow with the
//! number of reports and of sources × days, never with the number of records.
//!
//! Every report is placed in the windows it belongs to (by the midpoint rule) for what is
//! counted per report (reports, policies, reporters); each domain-day rollup row gives the
//! domain's totals and days in the period and the previous period and its trend weeks; each
//! source-day rollup row then updates only what the windows containing its day need: full
//! per-source detail for the period,
//! the set of source IPs for the baseline, and per-source class tallies for the readiness
//! window; each reporter-day row adds its messages to its reporter in the period.

use super::period::{WEEK, format_day, report_midpoint};
use super::{
    BASELINE_WEEKS, ClassMessages, DailyVolume, DkimSeen, DomainSummary, FailingSource, NewSource,
    Period, PeriodTotals, PolicySeen, PolicySummary, PublishedPolicy, ReporterSummary,
    SilentReporter, SourceSummary, SpfSeen, Summary, TOP_FAILING, TREND_WEEKS, WeeklyPass, advice,
    rate,
};
use hashbrown::HashTable;
use ruadb_report::{DkimResult, SpfResult};
use ruadb_store::SourceIdentity;
use ruadb_store::classify::{ClassTally, Classification};
use ruadb_store::{
    DomainDayRow, NameSets, ReportRow, ReporterDayRow, SortedSet, SourceDayRow, StoreError,
};
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

/// All the periods a summary looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Windows {
    pub current: Period,
    pub previous: Period,
    pub baseline: Period,
    pub readiness: Period,
    /// The weeks of the DMARC pass trend.
    pub trend: Period,
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
            trend: period.trailing_weeks(TREND_WEEKS),
        }
    }

    /// Every report read lies in this period: [`Windows::all`] and the trend.
    pub fn read(&self) -> Period {
        self.all().union(&self.trend)
    }

    /// Every report needed lies in this period.
    pub fn all(&self) -> Period {
        self.current
            .union(&self.previous)
            .union(&self.baseline)
            .union(&self.readiness)
    }

    /// The windows a report with its midpoint at `at` belongs to (and, the periods being whole
    /// days, a rollup row of the day starting at `at`).
    fn membership(&self, at: i64) -> Membership {
        Membership {
            current: self.current.contains(at),
            previous: self.previous.contains(at),
            baseline: self.baseline.contains(at),
            readiness: self.readiness.contains(at),
            before: self.all().start <= at && at < self.current.start,
            trend_week: self
                .trend
                .contains(at)
                .then(|| usize::try_from((at - self.trend.start) / WEEK).ok())
                .flatten(),
        }
    }
}

/// The windows one report belongs to.
#[derive(Debug, Clone, Copy)]
struct Membership {
    current: bool,
    previous: bool,
    baseline: bool,
    readiness: bool,
    /// Before the period (for "the policy before").
    before: bool,
    /// The week of the trend it counts in.
    trend_week: Option<usize>,
}

/// Strings that repeat across millions of records (IPs, domains, selectors, results,
/// reporters), stored once; the fold keeps their numbers. The text of every name lives in one
/// buffer and the table holds only numbers: a new name allocates nothing of its own, and the
/// whole is freed in a few blocks (hundreds of thousands of names a summary of many domains
/// would otherwise free one by one, on another thread than the one that made them).
#[derive(Default)]
struct Names {
    /// The numbers of the names of at most [`SHORT`] bytes (an IPv4 address, most reporters
    /// and results), by their bytes packed in a key ([`packed`]): found without reading the
    /// text.
    short: FxHashMap<u128, u32>,
    /// The numbers of longer names, hashed by the text they stand for.
    numbers: HashTable<u32>,
    /// Every name's text, one after the other.
    text: String,
    /// Where each name's text ends in `text`, by number (it starts where the one before ends).
    ends: Vec<usize>,
}

impl std::fmt::Debug for Names {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Names")
            .field("names", &self.ends.len())
            .finish()
    }
}

/// The number [`Names`] gives to "no selector".
const NO_SELECTOR: u32 = u32::MAX;

impl Names {
    fn number(&mut self, name: &str) -> u32 {
        if let Some(key) = packed(name) {
            if let Some(&number) = self.short.get(&key) {
                return number;
            }
            let number = self.push(name);
            self.short.insert(key, number);
            return number;
        }
        let hash = FxBuildHasher.hash_one(name);
        let Names {
            numbers,
            text,
            ends,
            ..
        } = self;
        let text_of = |number: u32| name_text(text, ends, number);
        if let Some(&number) = numbers.find(hash, |&number| text_of(number) == name) {
            return number;
        }
        let number = self.push(name);
        let Names {
            numbers,
            text,
            ends,
            ..
        } = self;
        numbers.insert_unique(hash, number, |&number| {
            FxBuildHasher.hash_one(name_text(text, ends, number))
        });
        number
    }

    /// Adds `name`'s text (not yet numbered) and gives it the next number.
    fn push(&mut self, name: &str) -> u32 {
        // More than four billion distinct names cannot come from one SQLite query's worth
        // of reports; saturating keeps this total rather than wrapping.
        let number = u32::try_from(self.ends.len()).unwrap_or(NO_SELECTOR - 1);
        self.text.push_str(name);
        self.ends.push(self.text.len());
        number
    }

    fn name(&self, number: u32) -> String {
        self.text(number).to_owned()
    }

    fn text(&self, number: u32) -> &str {
        name_text(&self.text, &self.ends, number)
    }
}

/// The names of [`Names`] as shared text, each made on first use: the names many sources list
/// (reporters, signing domains, results) are made once each, not once per source (a large
/// domain has thousands of sources naming the same few).
struct SharedNames<'n> {
    names: &'n Names,
    made: Vec<Option<Arc<str>>>,
}

impl<'n> SharedNames<'n> {
    fn new(names: &'n Names) -> SharedNames<'n> {
        SharedNames {
            names,
            made: Vec::new(),
        }
    }

    fn name(&mut self, number: u32) -> Arc<str> {
        let index = number as usize;
        if index >= self.made.len() {
            self.made.resize(index + 1, None);
        }
        Arc::clone(self.made[index].get_or_insert_with(|| self.names.text(number).into()))
    }
}

/// The longest name [`packed`] packs: its bytes and their count fill a `u128`.
const SHORT: usize = 15;

/// `name`'s bytes and their count as one number, when it has at most [`SHORT`] bytes: two
/// names have the same key exactly when they are the same.
fn packed(name: &str) -> Option<u128> {
    let bytes = name.as_bytes();
    if bytes.len() > SHORT {
        return None;
    }
    let mut key = [0u8; 16];
    key[..bytes.len()].copy_from_slice(bytes);
    key[SHORT] = bytes.len() as u8;
    Some(u128::from_le_bytes(key))
}

/// The key of a source address in [`DomainBuilder::cells`]: its text [`packed`] when short
/// (every IPv4 address, short IPv6 ones), else its number in `names` with a length byte no
/// packed text has. Most addresses of the weeks before a period are never shown, and are
/// not named for being counted.
fn address_key(names: &mut Names, address: &str) -> u128 {
    packed(address).unwrap_or_else(|| LONG_ADDRESS | u128::from(names.number(address)))
}

/// The length byte of an [`address_key`] made of a number (a packed text's is at most
/// [`SHORT`]).
const LONG_ADDRESS: u128 = 0xff << 120;

/// The text of name `number` in [`Names`]' buffer `text` with the ends `ends`.
fn name_text<'t>(text: &'t str, ends: &[usize], number: u32) -> &'t str {
    let index = number as usize;
    let Some(&end) = ends.get(index) else {
        return "";
    };
    let start = match index {
        0 => 0,
        _ => ends.get(index - 1).copied().unwrap_or(0),
    };
    text.get(start..end).unwrap_or("")
}

/// Builds a [`Summary`] from reports, source-day and reporter-day rollup rows, in any order.
pub(crate) struct SummaryBuilder {
    windows: Windows,
    only: Option<String>,
    domain_index: FxHashMap<String, usize>,
    domains: Vec<DomainBuilder>,
    names: Names,
    ids: IdNumbers,
    /// The windows of the last day asked for ([`SummaryBuilder::day_membership`]): rollup
    /// rows come by domain and day, so most rows repeat the day of the row before.
    last_day: Option<(i64, Membership)>,
    /// Rows read with their classes alone and not folded yet
    /// ([`SummaryBuilder::add_source_classes`]).
    class_rows: ClassRows,
}

/// Source-day rows of the weeks around the period with their classes alone, kept as they
/// were read: folding them into the addresses' cells (a hash table of every address of four
/// weeks) is left to whoever finishes the summary. Reading is the slower half of a
/// many-domain summary ([`crate::DomainByDomain`]): it reads while another thread finishes,
/// and a row kept costs it a copy where a row folded costs a probe of a large table.
#[derive(Debug, Default)]
struct ClassRows {
    rows: Vec<ClassRow>,
    /// The rows' addresses, one after the other.
    addresses: String,
}

#[derive(Debug)]
struct ClassRow {
    /// Its place in [`SummaryBuilder::domains`].
    domain: usize,
    day: i64,
    classes: ClassTally,
    /// Where its address ends in [`ClassRows::addresses`] (it starts where the one before
    /// ends).
    address_end: usize,
}

/// How many kept rows [`SummaryBuilder::entries`] counts as one source.
const ROWS_PER_ENTRY: usize = 4;

/// How many rows [`ClassRows`] keeps before they are folded where they are read: as many as
/// a few large domains' four weeks, a few megabytes. A domain with more has its cells made
/// as its rows come (they hold each address once, the rows each address once a day).
const KEPT_CLASS_ROWS: usize = 1 << 16;

impl ClassRows {
    fn push(&mut self, domain: usize, row: &SourceDayRow) {
        self.addresses.push_str(&row.source_ip);
        self.rows.push(ClassRow {
            domain,
            day: row.day,
            classes: row.classes,
            address_end: self.addresses.len(),
        });
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    /// The rows with their addresses, in the order they came.
    fn iter(&self) -> impl Iterator<Item = (&ClassRow, &str)> {
        let mut start = 0;
        self.rows.iter().map(move |row| {
            let address = self.addresses.get(start..row.address_end).unwrap_or("");
            start = row.address_end;
            (row, address)
        })
    }
}

/// The names of `rollup_names` ids, for [`SummaryBuilder::add_source_day_ids`].
pub(crate) trait RollupNames {
    /// The name the store holds under `id`.
    fn name(&mut self, id: u64) -> Result<&str, StoreError>;
}

/// The [`Names`] numbers of the `rollup_names` ids seen: each distinct id is looked up and
/// numbered once, and every row after that names it by a probe of a `u64`.
#[derive(Debug, Default)]
struct IdNumbers {
    /// Names as written (reporters, domains, selectors).
    names: FxHashMap<u64, u32>,
    /// DKIM results, numbered by their canonical spelling (as the store reads them).
    dkim_results: FxHashMap<u64, u32>,
    /// SPF results, numbered by their canonical spelling.
    spf_results: FxHashMap<u64, u32>,
}

/// The number in `names` of the name `texts` holds under `id`, made by `number` from its
/// text the first time `id` comes (`numbers` keeps it).
fn numbered(
    numbers: &mut FxHashMap<u64, u32>,
    names: &mut Names,
    texts: &mut dyn RollupNames,
    id: u64,
    number: fn(&mut Names, &str) -> u32,
) -> Result<u32, StoreError> {
    if let Some(&known) = numbers.get(&id) {
        return Ok(known);
    }
    let known = number(names, texts.name(id)?);
    numbers.insert(id, known);
    Ok(known)
}

/// A report seen for the policy: when it ran, who sent it, what it showed. Ordered by time
/// covered (end, then begin), then reporter, then policy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PolicyReport {
    end: i64,
    begin: i64,
    org: String,
    policy: PublishedPolicy,
}

impl Ord for PolicyReport {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.end, self.begin, &self.org)
            .cmp(&(other.end, other.begin, &other.org))
            .then_with(|| self.policy.cmp_tags(&other.policy))
    }
}

impl PartialOrd for PolicyReport {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Default)]
struct DomainBuilder {
    name: String,
    /// Has a report in the period or the baseline.
    listed: bool,
    current: PeriodTotals,
    previous: PeriodTotals,
    daily: BTreeMap<i64, DayCell>,
    previous_daily: BTreeMap<i64, DayCell>,
    weekly: BTreeMap<usize, (u64, u64)>,
    /// What each address did in the windows, by its [`address_key`]: one probe a row, and
    /// no name for the addresses of the weeks before the period alone. Emptied by
    /// [`DomainBuilder::settle`] once every row is in.
    cells: FxHashMap<u128, SourceCells>,
    /// The sources of the period, where [`SourceCells::current`] says.
    sources: Vec<SourceBuilding>,
    /// The messages and DMARC passes of the readiness window by each address's class there,
    /// summed over the addresses by [`DomainBuilder::settle`]: all the readiness needs.
    readiness_by_class: Vec<(Classification, u64, u64)>,
    baseline_reports: u64,
    readiness_latest: Option<PolicyReport>,
    before_latest: Option<PolicyReport>,
    policy_reports: Vec<PolicyReport>,
    reporters: FxHashMap<u32, (u64, u64)>,
    baseline_reporters: FxHashMap<u32, (u64, i64)>,
}

/// One day's messages: all, passing DMARC, and by class.
#[derive(Debug, Default, Clone, Copy)]
struct DayCell {
    messages: u64,
    dmarc_pass: u64,
    classes: ClassMessages,
}

impl DayCell {
    fn add(&mut self, row: &DomainDayRow) {
        self.messages = self.messages.saturating_add(row.messages());
        self.dmarc_pass = self.dmarc_pass.saturating_add(row.dmarc_pass());
        for class in Classification::ALL {
            self.classes.add(class, row.classes.messages(class));
        }
    }
}

#[derive(Debug, Default)]
struct SourceBuilding {
    /// Its address, numbered.
    ip: u32,
    /// Seen in the baseline weeks (known once every row is in: [`DomainBuilder::settle`]).
    in_baseline: bool,
    messages: u64,
    dmarc_pass: u64,
    spf_aligned: u64,
    dkim_aligned: u64,
    tally: ClassTally,
    /// (domain, selector or [`NO_SELECTOR`], result).
    dkim: SortedSet<(u32, u32, u32), SMALL_SET>,
    /// (domain, result).
    spf: SortedSet<(u32, u32), SMALL_SET>,
    reporters: SortedSet<u32, SMALL_SET>,
    spf_pass_domains: SortedSet<u32, SMALL_SET>,
    dkim_pass_domains: SortedSet<u32, SMALL_SET>,
}

/// The values each of a source's sets holds without an allocation of its own: most sources
/// show one signature, one SPF domain and one to three reporters in a week.
const SMALL_SET: usize = 2;

/// What [`SummaryBuilder::add_counts`] adds of a source-day row.
struct RowCounts<'r> {
    /// The day's start.
    day: i64,
    address: &'r str,
    classes: &'r ClassTally,
    spf_aligned: u64,
    dkim_aligned: u64,
}

/// One address of a domain in the windows around the period.
#[derive(Debug)]
struct SourceCells {
    /// Seen in the baseline weeks.
    in_baseline: bool,
    /// Seen in the readiness window, with what it sent there in `readiness`.
    in_readiness: bool,
    readiness: ReadinessCell,
    /// Its place in [`DomainBuilder::sources`] when seen in the period, [`NOT_CURRENT`]
    /// otherwise (most addresses of the weeks before are not: a place, not a source, each).
    current: u32,
}

/// [`SourceCells::current`] of an address not seen in the period.
const NOT_CURRENT: u32 = u32::MAX;

impl Default for SourceCells {
    fn default() -> SourceCells {
        SourceCells {
            in_baseline: false,
            in_readiness: false,
            readiness: ReadinessCell::default(),
            current: NOT_CURRENT,
        }
    }
}

#[derive(Debug, Default)]
struct ReadinessCell {
    messages: u64,
    dmarc_pass: u64,
    tally: ClassTally,
}

/// A source of the period with the facts its advice needs.
#[derive(Debug, Clone)]
pub(crate) struct SourceAggregate {
    pub summary: SourceSummary,
    /// Domains with an SPF pass (scope mfrom) in misaligned records, for the advice.
    pub spf_pass_domains: BTreeSet<Arc<str>>,
    /// Domains with a DKIM pass in misaligned records, for the advice.
    pub dkim_pass_domains: BTreeSet<Arc<str>>,
}

impl PeriodTotals {
    fn add(&mut self, row: &DomainDayRow) {
        self.messages = self.messages.saturating_add(row.messages());
        self.dmarc_pass = self.dmarc_pass.saturating_add(row.dmarc_pass());
        self.spf_aligned = self.spf_aligned.saturating_add(row.spf_aligned);
        self.dkim_aligned = self.dkim_aligned.saturating_add(row.dkim_aligned);
        // `pass` and unknown dispositions count as `none` in the store's rollup too.
        let dispositions = &mut self.dispositions;
        let counts = &row.dispositions;
        dispositions.none = dispositions.none.saturating_add(counts.none);
        dispositions.quarantine = dispositions.quarantine.saturating_add(counts.quarantine);
        dispositions.reject = dispositions.reject.saturating_add(counts.reject);
    }

    fn finish(mut self) -> PeriodTotals {
        self.dmarc_pass_rate = rate(self.dmarc_pass, self.messages);
        self.spf_aligned_rate = rate(self.spf_aligned, self.messages);
        self.dkim_aligned_rate = rate(self.dkim_aligned, self.messages);
        self
    }
}

impl SummaryBuilder {
    /// A summary of `period`; of `only` that domain when given (then it is listed even
    /// without reports, so a broken pipeline shows as "no reports received").
    pub fn new(period: Period, only: Option<&str>) -> SummaryBuilder {
        let mut builder = SummaryBuilder {
            windows: Windows::new(period),
            only: only.map(str::to_owned),
            domain_index: FxHashMap::default(),
            domains: Vec::new(),
            names: Names::default(),
            ids: IdNumbers::default(),
            last_day: None,
            class_rows: ClassRows::default(),
        };
        if let Some(name) = only {
            builder.list(name);
        }
        builder
    }

    /// How much it holds, in sources: what its memory grows with. An address of the weeks
    /// around the period counts as one, and so do [`ROWS_PER_ENTRY`] rows kept (a kept row is
    /// a few dozen bytes, a source or an address's cells a few hundred with its sets).
    pub fn entries(&self) -> usize {
        self.domains
            .iter()
            .map(|domain| domain.cells.len() + domain.sources.len())
            .sum::<usize>()
            + self.class_rows.len().div_ceil(ROWS_PER_ENTRY)
    }

    fn domain(&mut self, name: &str) -> usize {
        // Rows come by domain: most are of the domain of the row before.
        if let Some(last) = self.domains.last()
            && last.name == name
        {
            return self.domains.len() - 1;
        }
        if let Some(&index) = self.domain_index.get(name) {
            return index;
        }
        self.domains.push(DomainBuilder {
            name: name.to_owned(),
            ..DomainBuilder::default()
        });
        self.domain_index
            .insert(name.to_owned(), self.domains.len() - 1);
        self.domains.len() - 1
    }

    /// Adds a report: what is counted per report (reports, reporters, policies).
    pub fn add_report(&mut self, report: ReportRow) {
        let membership = self
            .windows
            .membership(report_midpoint(report.begin, report.end));
        let index = self.domain(&report.policy_domain);
        let org = self.names.number(&report.org);
        let domain = &mut self.domains[index];
        domain.listed |= membership.current || membership.baseline;
        let policy_report = PolicyReport {
            end: report.end,
            begin: report.begin,
            org: report.org.clone(),
            policy: report.policy,
        };
        if membership.current {
            domain.current.reports += 1;
            domain.reporters.entry(org).or_default().0 += 1;
            domain.policy_reports.push(policy_report.clone());
        }
        if membership.previous {
            domain.previous.reports += 1;
        }
        if membership.baseline {
            domain.baseline_reports += 1;
            let entry = domain
                .baseline_reporters
                .entry(org)
                .or_insert((0, report.end));
            entry.0 += 1;
            entry.1 = entry.1.max(report.end.max(report.begin));
        }
        if membership.readiness {
            latest(&mut domain.readiness_latest, &policy_report);
        }
        if membership.before {
            latest(&mut domain.before_latest, &policy_report);
        }
    }

    /// Adds what all sources of a domain said on one day (the day of their reports'
    /// midpoints): the domain's totals and days in the period and the one before, and the
    /// weeks of the trend.
    pub fn add_domain_day(&mut self, row: &DomainDayRow) {
        let windows = self.day_membership(row.day);
        let index = self.domain(&row.policy_domain);
        let domain = &mut self.domains[index];
        if windows.previous {
            domain.previous.add(row);
            domain.previous_daily.entry(row.day).or_default().add(row);
        }
        if let Some(week) = windows.trend_week {
            let cell = domain.weekly.entry(week).or_default();
            cell.0 = cell.0.saturating_add(row.messages());
            cell.1 = cell.1.saturating_add(row.dmarc_pass());
        }
        if windows.current {
            domain.current.add(row);
            domain.daily.entry(row.day).or_default().add(row);
        }
    }

    /// Adds a source-day row of the weeks before or after the period, read with its messages
    /// per class alone ([`ruadb_store::Store::read_source_classes`]): the address in the
    /// baseline, its classes in the readiness window. The period's rows come with their
    /// names, through [`SummaryBuilder::add_source_day_ids`].
    ///
    /// The row is kept as read and folded later ([`ClassRows`]) by [`SummaryBuilder::finish`],
    /// or here once [`KEPT_CLASS_ROWS`] are waiting.
    pub fn add_source_classes(&mut self, row: &SourceDayRow) {
        if self.class_rows.len() >= KEPT_CLASS_ROWS {
            self.fold_class_rows();
        }
        let domain = self.domain(&row.policy_domain);
        self.class_rows.push(domain, row);
    }

    /// Folds the rows [`SummaryBuilder::add_source_classes`] kept into their addresses'
    /// cells, as [`SummaryBuilder::add_source_counts`] folds a row.
    fn fold_class_rows(&mut self) {
        let rows = std::mem::take(&mut self.class_rows);
        for (row, address) in rows.iter() {
            let counts = RowCounts {
                day: row.day,
                address,
                classes: &row.classes,
                spf_aligned: 0,
                dkim_aligned: 0,
            };
            let _ = self.add_counts(row.domain, &counts);
        }
    }

    /// Adds what one source IP's records said on one day (of their reports' midpoints), its
    /// names as text: the sources of the period in full, the addresses of the baseline, the
    /// classes of the readiness window. For the records [`compute`] folds; the store's rows
    /// come through [`SummaryBuilder::add_source_day_ids`].
    #[cfg(test)]
    pub fn add_source_day(&mut self, row: &SourceDayRow) {
        let Some((source, names, _)) = self.add_source_counts(row) else {
            return;
        };
        for org in &row.reporters {
            source.reporters.insert(names.number(org));
        }
        for dkim in &row.dkim {
            let selector = match &dkim.selector {
                Some(selector) => names.number(selector),
                None => NO_SELECTOR,
            };
            let result = names.number(dkim.result.as_str());
            source
                .dkim
                .insert((names.number(&dkim.domain), selector, result));
        }
        for spf in &row.spf {
            let result = names.number(spf.result.as_str());
            source.spf.insert((names.number(&spf.domain), result));
        }
        // The advice names what passed in the misaligned mail only (the store keeps these
        // apart): a pass in the source's aligned mail is aligned by definition.
        for passed in &row.misaligned_dkim_pass {
            source.dkim_pass_domains.insert(names.number(passed));
        }
        for passed in &row.misaligned_spf_pass {
            source.spf_pass_domains.insert(names.number(passed));
        }
    }

    /// Adds what one source IP's records said on one day (of their reports' midpoints): the
    /// sources of the period in full, the addresses of the baseline, the classes of the
    /// readiness window. The row's name lists come as `rollup_names` ids
    /// ([`ruadb_store::Store::read_source_day_results`]), their names looked up in `texts` the
    /// first time each id comes.
    pub fn add_source_day_ids(
        &mut self,
        row: &SourceDayRow,
        sets: &NameSets,
        texts: &mut dyn RollupNames,
    ) -> Result<(), StoreError> {
        let Some((source, names, ids)) = self.add_source_counts(row) else {
            return Ok(());
        };
        let IdNumbers {
            names: plain,
            dkim_results,
            spf_results,
        } = ids;
        for &org in &sets.reporters {
            let org = numbered(plain, names, texts, org, Names::number)?;
            source.reporters.insert(org);
        }
        for &[domain, selector, result] in &sets.dkim {
            let domain = numbered(plain, names, texts, domain, Names::number)?;
            // Id 0 is "no selector" (absent or empty).
            let selector = match selector {
                0 => NO_SELECTOR,
                id => numbered(plain, names, texts, id, Names::number)?,
            };
            let result = numbered(dkim_results, names, texts, result, |names, text| {
                names.number(DkimResult::from_xml(text).as_str())
            })?;
            source.dkim.insert((domain, selector, result));
        }
        for &[domain, result] in &sets.spf {
            let domain = numbered(plain, names, texts, domain, Names::number)?;
            let result = numbered(spf_results, names, texts, result, |names, text| {
                names.number(SpfResult::from_xml(text).as_str())
            })?;
            source.spf.insert((domain, result));
        }
        // The advice names what passed in the misaligned mail only (the store keeps these
        // apart): a pass in the source's aligned mail is aligned by definition.
        for &passed in &sets.misaligned_dkim_pass {
            let passed = numbered(plain, names, texts, passed, Names::number)?;
            source.dkim_pass_domains.insert(passed);
        }
        for &passed in &sets.misaligned_spf_pass {
            let passed = numbered(plain, names, texts, passed, Names::number)?;
            source.spf_pass_domains.insert(passed);
        }
        Ok(())
    }

    /// Adds the counts of a source-day row to the address's baseline, readiness and period;
    /// the source of the period its names go to, with the numbers of names, when the row's
    /// day is in the period.
    fn add_source_counts(
        &mut self,
        row: &SourceDayRow,
    ) -> Option<(&mut SourceBuilding, &mut Names, &mut IdNumbers)> {
        let index = self.domain(&row.policy_domain);
        let counts = RowCounts {
            day: row.day,
            address: &row.source_ip,
            classes: &row.classes,
            spf_aligned: row.spf_aligned,
            dkim_aligned: row.dkim_aligned,
        };
        self.add_counts(index, &counts)
    }

    /// [`SummaryBuilder::add_source_counts`] of a row of the domain at `index`.
    fn add_counts(
        &mut self,
        index: usize,
        row: &RowCounts<'_>,
    ) -> Option<(&mut SourceBuilding, &mut Names, &mut IdNumbers)> {
        let windows = self.day_membership(row.day);
        let names = &mut self.names;
        let domain = &mut self.domains[index];
        let messages = row.classes.total();
        let dmarc_pass = row.classes.dmarc_pass();
        let cells = domain
            .cells
            .entry(address_key(names, row.address))
            .or_default();
        cells.in_baseline |= windows.baseline;
        if windows.readiness {
            cells.in_readiness = true;
            let cell = &mut cells.readiness;
            cell.messages = cell.messages.saturating_add(messages);
            cell.dmarc_pass = cell.dmarc_pass.saturating_add(dmarc_pass);
            cell.tally.merge(row.classes);
        }
        if !windows.current {
            return None;
        }
        if cells.current == NOT_CURRENT {
            // Saturating: past four billion sources they share the last place (not reached:
            // each is a row of the rollups).
            cells.current = u32::try_from(domain.sources.len()).unwrap_or(NOT_CURRENT - 1);
            domain.sources.push(SourceBuilding {
                ip: names.number(row.address),
                ..SourceBuilding::default()
            });
        }
        let last = domain.sources.len() - 1;
        let source = &mut domain.sources[(cells.current as usize).min(last)];
        source.messages = source.messages.saturating_add(messages);
        source.dmarc_pass = source.dmarc_pass.saturating_add(dmarc_pass);
        source.spf_aligned = source.spf_aligned.saturating_add(row.spf_aligned);
        source.dkim_aligned = source.dkim_aligned.saturating_add(row.dkim_aligned);
        source.tally.merge(row.classes);
        Some((source, names, &mut self.ids))
    }

    /// The windows a rollup row of the day starting at `day` belongs to.
    fn day_membership(&mut self, day: i64) -> Membership {
        match self.last_day {
            Some((last, membership)) if last == day => membership,
            _ => {
                let membership = self.windows.membership(day);
                self.last_day = Some((day, membership));
                membership
            }
        }
    }

    /// Adds the messages one reporter sent about one day, when the day is in the period.
    pub fn add_reporter_day(&mut self, row: &ReporterDayRow) {
        if !self.windows.current.contains(row.day) {
            return;
        }
        let index = self.domain(&row.policy_domain);
        let org = self.names.number(&row.org);
        let reporter = self.domains[index].reporters.entry(org).or_default();
        reporter.1 = reporter.1.saturating_add(row.messages);
    }

    /// Lists `name` (e.g. a domain with only TLS reports), as if it had DMARC reports.
    pub fn list(&mut self, name: &str) {
        let index = self.domain(name);
        self.domains[index].listed = true;
    }

    /// The names of the domains the summary shows, in no order.
    pub fn shown_domains(&self) -> impl Iterator<Item = &str> {
        self.domains
            .iter()
            .filter(|domain| shows(self.only.as_deref(), domain))
            .map(|domain| domain.name.as_str())
    }

    /// The addresses of the period's sources of the domains shown, in no order.
    pub fn shown_source_ips(&self) -> impl Iterator<Item = &str> {
        self.domains
            .iter()
            .filter(|domain| shows(self.only.as_deref(), domain))
            .flat_map(|domain| domain.sources.iter().map(|source| source.ip))
            .map(|ip| self.names.text(ip))
    }

    /// The summary.
    pub fn finish(mut self) -> Summary {
        self.fold_class_rows();
        let windows = self.windows;
        let only = self.only;
        // One for all the domains: the names are the builder's, and a summary of every domain
        // in one builder numbers millions of them.
        let mut shared = SharedNames::new(&self.names);
        let mut domains: Vec<DomainSummary> = self
            .domains
            .into_iter()
            .filter(|domain| shows(only.as_deref(), domain))
            .map(|domain| domain.finish(&windows, &mut shared))
            .collect();
        domains.sort_by(|a, b| a.domain.cmp(&b.domain));
        Summary {
            alerts: None,
            period: windows.current,
            previous_period: windows.previous,
            baseline: windows.baseline,
            domains,
        }
    }
}

/// Whether a summary of `only` (that domain) or of every listed domain shows `domain`.
fn shows(only: Option<&str>, domain: &DomainBuilder) -> bool {
    match only {
        Some(only) => domain.name == only,
        None => domain.listed,
    }
}

/// Keeps in `slot` the report covering the latest time (ties: the later-starting one).
fn latest(slot: &mut Option<PolicyReport>, report: &PolicyReport) {
    if slot.as_ref().is_none_or(|kept| report > kept) {
        *slot = Some(report.clone());
    }
}

impl DomainBuilder {
    /// Once every row is in: sums the readiness window by class, notes which sources of the
    /// period were seen in the baseline, and frees the table of addresses (for a large domain,
    /// the addresses of the weeks around the period are most of its memory) before the
    /// period's sources are finished.
    fn settle(&mut self) {
        if self.cells.is_empty() {
            return;
        }
        let mut by_class = [(0u64, 0u64); Classification::ALL.len()];
        for cells in self.cells.values() {
            if let Some(source) = self.sources.get_mut(cells.current as usize) {
                source.in_baseline |= cells.in_baseline;
            }
            let cell = &cells.readiness;
            if let Some(class) = cells.in_readiness.then(|| cell.tally.winner()).flatten() {
                let sums = &mut by_class[class as usize];
                sums.0 = sums.0.saturating_add(cell.messages);
                sums.1 = sums.1.saturating_add(cell.dmarc_pass);
            }
        }
        self.readiness_by_class = Classification::ALL
            .into_iter()
            .zip(by_class)
            .map(|(class, (messages, dmarc_pass))| (class, messages, dmarc_pass))
            .collect();
        self.cells = FxHashMap::default();
    }

    fn finish(mut self, windows: &Windows, shared: &mut SharedNames<'_>) -> DomainSummary {
        let names = shared.names;
        self.settle();
        let domain = self.name;
        let policy = policy_summary(self.policy_reports, self.before_latest);
        let published = policy.as_ref().and_then(|policy| policy.current.p.clone());
        let baseline_reports = self.baseline_reports;

        // The sources with a class, ordered by class, then most messages first, then IP, as
        // small keys: a domain may have many thousands of sources, each far larger than its key
        // (and sorting moves what it sorts). Each key holds its source's place in
        // `self.sources`.
        let mut order: Vec<(Classification, u64, u32, usize)> = Vec::new();
        for (place, source) in self.sources.iter().enumerate() {
            if let Some(classification) = source.tally.winner() {
                order.push((classification, source.messages, source.ip, place));
            }
        }
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| b.1.cmp(&a.1))
                .then_with(|| names.text(a.2).cmp(names.text(b.2)))
        });
        let mut sources: Vec<SourceAggregate> = Vec::with_capacity(order.len());
        for &(classification, _, ip, place) in &order {
            // Each place is in `order` once: taken, it leaves an empty source behind.
            let Some(source) = self.sources.get_mut(place).map(std::mem::take) else {
                continue;
            };
            let new = baseline_reports > 0 && !source.in_baseline;
            let mut dkim: Vec<DkimSeen> = source
                .dkim
                .into_sorted_iter()
                .map(|(domain, selector, result)| DkimSeen {
                    domain: shared.name(domain),
                    selector: (selector != NO_SELECTOR).then(|| shared.name(selector)),
                    result: shared.name(result),
                })
                .collect();
            dkim.sort();
            let mut spf: Vec<SpfSeen> = source
                .spf
                .into_sorted_iter()
                .map(|(domain, result)| SpfSeen {
                    domain: shared.name(domain),
                    result: shared.name(result),
                })
                .collect();
            spf.sort();
            let mut named = |numbers: SortedSet<u32, SMALL_SET>| -> BTreeSet<Arc<str>> {
                numbers
                    .into_sorted_iter()
                    .map(|number| shared.name(number))
                    .collect()
            };
            let spf_pass_domains = named(source.spf_pass_domains);
            let dkim_pass_domains = named(source.dkim_pass_domains);
            sources.push(SourceAggregate {
                summary: SourceSummary {
                    source_ip: names.name(ip),
                    messages: source.messages,
                    dmarc_pass: source.dmarc_pass,
                    dmarc_pass_rate: rate(source.dmarc_pass, source.messages),
                    spf_aligned: source.spf_aligned,
                    dkim_aligned: source.dkim_aligned,
                    classification,
                    advice: None,
                    new,
                    dkim,
                    spf,
                    reporters: {
                        // Distinct numbers are distinct names: sorted, they are the set.
                        let mut reporters: Vec<Arc<str>> = source
                            .reporters
                            .into_sorted_iter()
                            .map(|number| shared.name(number))
                            .collect();
                        reporters.sort_unstable();
                        reporters
                    },
                    identity: SourceIdentity::default(),
                },
                spf_pass_domains,
                dkim_pass_domains,
            });
        }
        self.sources = Vec::new();
        for source in &mut sources {
            source.summary.advice = advice::for_source(&domain, source, published.as_ref());
        }

        let mut by_volume: Vec<&SourceSummary> = sources.iter().map(|s| &s.summary).collect();
        by_volume.sort_by(|a, b| {
            b.messages
                .cmp(&a.messages)
                .then_with(|| a.source_ip.cmp(&b.source_ip))
        });
        let new_sources = by_volume
            .iter()
            .filter(|source| source.new)
            .map(|source| NewSource {
                source_ip: source.source_ip.clone(),
                messages: source.messages,
                classification: source.classification,
            })
            .collect();
        let failing = |source: &SourceSummary| source.messages.saturating_sub(source.dmarc_pass);
        // Chosen before their addresses are copied: a domain may have many thousands.
        let mut most_failing: Vec<&SourceSummary> = sources
            .iter()
            .map(|source| &source.summary)
            .filter(|source| failing(source) > 0)
            .collect();
        most_failing.sort_by(|a, b| {
            failing(b)
                .cmp(&failing(a))
                .then_with(|| a.source_ip.cmp(&b.source_ip))
        });
        most_failing.truncate(TOP_FAILING);
        let top_failing: Vec<FailingSource> = most_failing
            .into_iter()
            .map(|source| FailingSource {
                source_ip: source.source_ip.clone(),
                messages: source.messages,
                failing: failing(source),
                classification: source.classification,
            })
            .collect();

        let readiness = advice::readiness(
            windows.readiness,
            &self.readiness_by_class,
            self.readiness_latest.as_ref().map(|report| &report.policy),
        );
        let mut advice_lines = Vec::new();
        if let Some(line) = readiness.as_ref().and_then(advice::for_readiness) {
            advice_lines.push(line);
        }
        advice_lines.extend(by_volume.iter().filter_map(|source| source.advice.clone()));

        let mut reporters: Vec<ReporterSummary> = self
            .reporters
            .iter()
            .map(|(&org, &(reports, messages))| ReporterSummary {
                org: names.name(org),
                reports,
                messages,
            })
            .collect();
        reporters.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.org.cmp(&b.org)));
        let mut silent_reporters: Vec<SilentReporter> = self
            .baseline_reporters
            .iter()
            .filter(|(org, _)| !self.reporters.contains_key(org))
            .map(|(&org, &(reports, last))| SilentReporter {
                org: names.name(org),
                reports,
                last_seen: format_day(last),
            })
            .collect();
        silent_reporters.sort_by(|a, b| b.reports.cmp(&a.reports).then_with(|| a.org.cmp(&b.org)));

        let daily = daily_volumes(&windows.current, &self.daily);
        let previous_daily = daily_volumes(&windows.previous, &self.previous_daily);
        let weekly = (0..TREND_WEEKS as usize)
            .map(|index| {
                let start = windows.trend.start + index as i64 * WEEK;
                let (messages, dmarc_pass) = self.weekly.get(&index).copied().unwrap_or_default();
                WeeklyPass {
                    start: format_day(start),
                    week: Period::new(start, start + WEEK).and_then(|week| week.iso_week_label()),
                    messages,
                    dmarc_pass,
                    dmarc_pass_rate: rate(dmarc_pass, messages),
                }
            })
            .collect();
        DomainSummary {
            domain,
            services: Vec::new(),
            totals: self.current.finish(),
            previous: self.previous.finish(),
            daily,
            previous_daily,
            weekly,
            sources: sources.into_iter().map(|source| source.summary).collect(),
            new_sources,
            top_failing,
            advice: advice_lines,
            readiness,
            reporters,
            silent_reporters,
            baseline_reports,
            policy,
            tls: None,
            // Added by `load` from the failure reports, after the aggregate reports.
            failure_samples: None,
            dns: None,
        }
    }
}

/// One entry per day of `period`, zero where nothing was reported.
fn daily_volumes(period: &Period, cells: &BTreeMap<i64, DayCell>) -> Vec<DailyVolume> {
    period
        .days()
        .into_iter()
        .map(|day| {
            let cell = cells.get(&day).copied().unwrap_or_default();
            DailyVolume {
                day: format_day(day),
                messages: cell.messages,
                dmarc_pass: cell.dmarc_pass,
                classes: cell.classes,
            }
        })
        .collect()
}

/// The policy of the latest report, each distinct policy in order of first appearance, and
/// whether it changed (reporters disagreeing on a tag both reported, or a difference from the
/// last report before the period).
fn policy_summary(
    mut reports: Vec<PolicyReport>,
    before: Option<PolicyReport>,
) -> Option<PolicySummary> {
    let current = reports.iter().max()?.policy.clone();
    reports.sort_by(|a, b| (a.begin, a.end, &a.org).cmp(&(b.begin, b.end, &b.org)));
    let mut seen: Vec<PolicySeen> = Vec::new();
    // Each distinct policy's position in `seen`: a report adds to its entry in constant time,
    // however many distinct policies hostile reports show.
    let mut positions: HashMap<PublishedPolicy, usize> = HashMap::new();
    for report in reports {
        let last = format_day(report.end.max(report.begin));
        match positions.get(&report.policy) {
            Some(&position) => {
                let entry = &mut seen[position];
                entry.reports += 1;
                entry.last_seen = entry.last_seen.clone().max(last);
            }
            None => {
                positions.insert(report.policy.clone(), seen.len());
                seen.push(PolicySeen {
                    first_seen: format_day(report.begin),
                    last_seen: last,
                    policy: report.policy,
                    reports: 1,
                });
            }
        }
    }
    let before = before.map(|report| report.policy);
    let policies = seen.iter().map(|seen| &seen.policy);
    let changed = PublishedPolicy::any_conflict(policies.chain(before.as_ref()));
    Some(PolicySummary {
        current,
        changed,
        before,
        seen,
    })
}

/// Reports and records in memory, for tests of the fold.
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct Dataset {
    pub reports: Vec<ReportRow>,
    /// (index into `reports`, record).
    pub records: Vec<(usize, ruadb_store::RecordRow)>,
}

/// Folds `data` into the summary of `period`, each record handed over as the source-day,
/// domain-day and reporter-day rollup rows of its own (the fold adds up rows of the same day
/// and source); the source-day rows outside the period with their classes alone, as the
/// store's are read.
#[cfg(test)]
pub(crate) fn compute(period: Period, domain: Option<&str>, data: &Dataset) -> Summary {
    compute_with(period, domain, data, ClassRowsFolded::AtTheEnd)
}

/// When [`compute_with`] folds the source-day rows read with their classes alone.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ClassRowsFolded {
    /// Kept until the summary is finished, as a many-domain summary does.
    AtTheEnd,
    /// Each as it comes, as when more than [`KEPT_CLASS_ROWS`] are waiting.
    EachAsItComes,
    /// Not kept apart: read whole, with their names, like the period's.
    ReadWhole,
}

/// [`compute`], the rows outside the period folded as `folded` says.
#[cfg(test)]
pub(crate) fn compute_with(
    period: Period,
    domain: Option<&str>,
    data: &Dataset,
    folded: ClassRowsFolded,
) -> Summary {
    use ruadb_report::{Disposition, DkimResult, SpfResult};
    use ruadb_store::classify::classify_record;
    let mut builder = SummaryBuilder::new(period, domain);
    for report in &data.reports {
        builder.add_report(report.clone());
    }
    for (index, record) in &data.records {
        let report = &data.reports[*index];
        let day = report_midpoint(report.begin, report.end).div_euclid(super::period::DAY)
            * super::period::DAY;
        let class = classify_record(&record.facts);
        let mut classes = ClassTally::default();
        classes.add(class, record.messages);
        let counted = |yes: bool| if yes { record.messages } else { 0 };
        let misaligned = class == Classification::Misaligned;
        let row = SourceDayRow {
            policy_domain: report.policy_domain.clone(),
            day,
            source_ip: record.source_ip.clone(),
            records: 1,
            classes,
            spf_aligned: counted(record.spf_aligned),
            dkim_aligned: counted(record.dkim_aligned),
            dispositions: ruadb_store::DispositionCounts {
                none: counted(!matches!(
                    record.disposition,
                    Disposition::Quarantine | Disposition::Reject
                )),
                quarantine: counted(record.disposition == Disposition::Quarantine),
                reject: counted(record.disposition == Disposition::Reject),
            },
            first_begin: report.begin,
            last_end: report.end,
            reporters: vec![report.org.clone()],
            dkim: record.dkim.clone(),
            spf: record.spf.clone(),
            helo_domains: record.helo_domains.clone(),
            misaligned_dkim_pass: record
                .dkim
                .iter()
                .filter(|dkim| misaligned && dkim.result == DkimResult::Pass)
                .map(|dkim| dkim.domain.clone())
                .collect(),
            misaligned_spf_pass: record
                .spf
                .iter()
                .filter(|spf| misaligned && spf.result == SpfResult::Pass)
                .map(|spf| spf.domain.clone())
                .collect(),
        };
        if period.contains(day) || folded == ClassRowsFolded::ReadWhole {
            builder.add_source_day(&row);
        } else {
            builder.add_source_classes(&row);
            if folded == ClassRowsFolded::EachAsItComes {
                builder.fold_class_rows();
            }
        }
        builder.add_domain_day(&DomainDayRow {
            policy_domain: row.policy_domain.clone(),
            day,
            records: 1,
            classes: row.classes,
            spf_aligned: row.spf_aligned,
            dkim_aligned: row.dkim_aligned,
            dispositions: row.dispositions,
        });
        builder.add_reporter_day(&ReporterDayRow {
            policy_domain: report.policy_domain.clone(),
            day,
            org: report.org.clone(),
            reports: 0,
            messages: record.messages,
            dmarc_pass: counted(record.dmarc_pass),
        });
    }
    builder.finish()
}

#[cfg(test)]
mod names_tests {
    use super::Names;

    #[test]
    fn a_name_keeps_one_number_and_its_exact_text() {
        // Short and long, IPv4 and IPv6 text, empty, names equal but for trailing NULs,
        // and a name of exactly the packed length and one byte more.
        let texts = [
            "192.0.2.1",
            "",
            "2001:db8::1",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            "a",
            "a\0",
            "a\0\0",
            "123456789012345",
            "1234567890123456",
            "google.com",
            "pass",
            "Ünïcode.example",
        ];
        let mut names = Names::default();
        let numbers: Vec<u32> = texts.iter().map(|text| names.number(text)).collect();
        for (text, &number) in texts.iter().zip(&numbers) {
            assert_eq!(names.text(number), *text);
            assert_eq!(names.number(text), number, "asked again: {text:?}");
        }
        let mut distinct = numbers.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), texts.len());
        assert_eq!(names.text(u32::MAX), "");
    }
}
