//! `ruadb sources`: every sending source (policy domain, source IP) of the selected days, in
//! one pass over the source-day rollups ([`Store::read_source_days`]), kept as counts and
//! interned names until a row is read. Its cost grows with sources × days, not with records.

use super::rollup::{DayFilter, SourceDayRow};
use crate::SourceIdentity;
use crate::classify::{ClassTally, Classification};
use crate::rollup::NameSets;
use crate::sorted_set::SortedSet;
use crate::{Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Which records [`Store::sources`] aggregates: those of reports whose midpoint falls on a
/// UTC day in `[since, until)` (the summary's rule; a day counts when it starts in the range).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFilter {
    /// Only this policy domain.
    pub domain: Option<String>,
    /// Only days starting at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Only days starting before this time (unix seconds).
    pub until: Option<i64>,
}

/// What the reports say about one sending source (IP) of one policy domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRow {
    /// The policy domain.
    pub policy_domain: String,
    /// The source IP, canonical text form.
    pub source_ip: String,
    /// Messages reported.
    pub messages: u64,
    /// Messages that pass DMARC (recomputed).
    pub dmarc_pass: u64,
    /// Messages with aligned SPF (recomputed).
    pub spf_aligned: u64,
    /// Messages with aligned DKIM (recomputed).
    pub dkim_aligned: u64,
    /// DKIM signatures seen, as `domain:selector` (`domain` alone when no selector), sorted.
    pub dkim_domains: Vec<String>,
    /// SPF domains seen, sorted.
    pub spf_domains: Vec<String>,
    /// Reporting organisations, sorted.
    pub reporters: Vec<String>,
    /// Earliest report begin (unix seconds).
    pub first_seen: i64,
    /// Latest report end (unix seconds).
    pub last_seen: i64,
    /// The class carrying most of the source's messages (see [`crate::classify`]).
    pub classification: Classification,
    /// The catalogue service that sends from this IP (see `source_identity`).
    pub service: Option<String>,
    /// The IP's reverse DNS name, as received.
    pub ptr: Option<String>,
    /// The autonomous system number of the IP.
    pub asn: Option<i64>,
    /// The autonomous system's organisation.
    pub as_org: Option<String>,
    /// ISO 3166-1 alpha-2 country code of the IP.
    pub country: Option<String>,
}

/// SQLite page cache, in KiB, while `ruadb sources` streams the records.
const STREAMING_CACHE_KIB: i64 = 2 * 1024;

/// Up to this many sources, their identities are looked up one by one (by primary key);
/// beyond it every known identity is read in one pass. The pass reads an identity table of
/// every source of the database and holds every known identity: on the 10-million-record
/// benchmark 610,000 rows, 60 ms, where the 12,600 lookups of its largest domain take about
/// 40 ms. Lookups cost about 3 µs each but keep only the identities of the sources shown;
/// for all the sources of such a database the pass is the cheaper.
const LOOKUP_SOURCES: usize = 50_000;

impl Store {
    /// Aggregates records per (policy_domain, source_ip), most messages first (then by
    /// domain and IP).
    pub fn sources(&self, filter: &SourceFilter) -> Result<Vec<SourceRow>, StoreError> {
        Ok(self.source_table(filter)?.rows().collect())
    }

    /// The same sources as [`Store::sources`], kept compact: [`SourceTable::rows`] makes each
    /// row when it is read, and [`SourceTable::views`] lends it without making one, so output
    /// can be written row by row in little memory.
    pub fn sources_compact(&self, filter: &SourceFilter) -> Result<SourceTable, StoreError> {
        self.source_table(filter)
    }

    /// Every (policy domain, source IP) among the records `filter` selects, in one pass over
    /// the source-day rollups.
    fn source_table(&self, filter: &SourceFilter) -> Result<SourceTable, StoreError> {
        let selection = DayFilter {
            policy_domain: filter.domain.clone(),
            since: filter.since,
            until: filter.until,
        };
        // The rollups are read once, in order: a small page cache does, and leaves the
        // memory budget to the sources.
        self.connection
            .pragma_update(None, "cache_size", -STREAMING_CACHE_KIB)?;
        let mut builder = TableBuilder::default();
        self.read_source_day_ids(&selection, &mut |row, sets| builder.add(row, sets))?;
        let mut table = builder.finish(self)?;
        self.attach_identities(&mut table)?;
        Ok(table)
    }

    /// Sets who each source of `table` is.
    fn attach_identities(&self, table: &mut SourceTable) -> Result<(), StoreError> {
        let known = if table.sources.len() <= LOOKUP_SOURCES {
            let mut ips: Vec<String> = (0..table.sources.len())
                .map(|number| table.source_ip(number).to_string())
                .collect();
            // In key order, each lookup starts where the one before ended in the table.
            ips.sort_unstable();
            ips.dedup();
            self.source_identities_of(ips.iter().map(String::as_str))?
        } else {
            self.source_identities()?
        };
        // Identities are kept once each: a service's address may send for many domains.
        let mut positions: HashMap<String, u32> = HashMap::with_capacity(known.len());
        for (ip, identity) in known {
            let position = u32::try_from(table.identities.len()).unwrap_or(NO_IDENTITY);
            table.identities.push(identity);
            positions.insert(ip, position);
        }
        let mut ip = String::new();
        table.identity_of = (0..table.sources.len())
            .map(|number| {
                ip.clear();
                // Writing to a String cannot fail.
                let _ = write!(ip, "{}", table.source_ip(number));
                positions.get(ip.as_str()).copied().unwrap_or(NO_IDENTITY)
            })
            .collect();
        Ok(())
    }
}

/// In [`SourceTable::identity_of`]: nothing is known about the source.
const NO_IDENTITY: u32 = u32::MAX;

/// Every sending source of [`Store::sources`], most messages first (then by domain and IP),
/// kept compact: a row with its strings and lists is made only when it is read, so a caller
/// that writes rows as they come needs memory for the counts alone.
#[derive(Default)]
pub struct SourceTable {
    domains: Vec<String>,
    /// Every DKIM `domain:selector`, SPF domain and reporter the sources show, once each, in
    /// byte order (the order of each source's lists).
    names: Vec<Box<str>>,
    sources: Vec<SourceCounts>,
    /// The DKIM `domain:selector`s, SPF domains and reporters of each source (by its position
    /// in `sources`), as positions in `names` tagged with [`DKIM`], [`SPF`] or [`REPORTER`],
    /// sorted: by list, then by name.
    source_names: Vec<Box<[u32]>>,
    /// The IP of each source, by its position in `sources`. Ingest stores every IP in the
    /// canonical form the address prints as, so the address (no heap memory) is kept...
    ips: Vec<IpAddr>,
    /// ...except for a source IP that is not an address (a database edited by hand).
    texts: HashMap<u32, Box<str>>,
    /// Positions in `sources`, in output order.
    order: Vec<u32>,
    /// Who each source is, by its position in `sources`: a position in `identities`, or
    /// [`NO_IDENTITY`].
    identity_of: Vec<u32>,
    /// The identities of the sources about which something is known.
    identities: Vec<SourceIdentity>,
}

impl SourceTable {
    /// The number of sources.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no record was selected.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The rows, most messages first; each call starts over.
    pub fn rows(&self) -> impl Iterator<Item = SourceRow> + '_ {
        self.views().map(|view| view.to_row())
    }

    /// The rows as views that borrow from the table (no row is made), most messages first;
    /// each call starts over.
    pub fn views(&self) -> impl Iterator<Item = SourceView<'_>> {
        self.order
            .iter()
            .filter_map(|&number| self.view(number as usize))
    }

    /// The source IP of source `number`, to print.
    fn source_ip(&self, number: usize) -> SourceIp<'_> {
        let text = u32::try_from(number)
            .ok()
            .and_then(|number| self.texts.get(&number));
        match (text, self.ips.get(number)) {
            (Some(text), _) => SourceIp::Text(text),
            (None, Some(&address)) => SourceIp::Address(address),
            (None, None) => SourceIp::Text(""),
        }
    }

    fn domain(&self, number: u32) -> &str {
        self.domains.get(number as usize).map_or("", String::as_str)
    }

    fn view(&self, number: usize) -> Option<SourceView<'_>> {
        let counts = self.sources.get(number)?;
        Some(SourceView {
            table: self,
            number,
            counts,
            classification: counts.tally.winner()?,
        })
    }
}

/// One row of a [`SourceTable`], borrowed: what [`SourceRow`] holds, without copying it out.
#[derive(Clone, Copy)]
pub struct SourceView<'a> {
    table: &'a SourceTable,
    number: usize,
    counts: &'a SourceCounts,
    classification: Classification,
}

impl<'a> SourceView<'a> {
    /// The policy domain.
    pub fn policy_domain(&self) -> &'a str {
        self.table.domain(self.counts.domain)
    }

    /// The source IP, in the canonical text form it prints as.
    pub fn source_ip(&self) -> impl std::fmt::Display + 'a {
        self.table.source_ip(self.number)
    }

    /// Messages reported.
    pub fn messages(&self) -> u64 {
        self.counts.messages()
    }

    /// Messages that pass DMARC (recomputed).
    pub fn dmarc_pass(&self) -> u64 {
        self.counts.tally.dmarc_pass()
    }

    /// Messages with aligned SPF (recomputed).
    pub fn spf_aligned(&self) -> u64 {
        self.counts.spf_aligned
    }

    /// Messages with aligned DKIM (recomputed).
    pub fn dkim_aligned(&self) -> u64 {
        self.counts.dkim_aligned
    }

    /// DKIM signatures seen, as `domain:selector` (`domain` alone when no selector), sorted.
    pub fn dkim_domains(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.listed(DKIM)
    }

    /// SPF domains seen, sorted.
    pub fn spf_domains(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.listed(SPF)
    }

    /// Reporting organisations, sorted.
    pub fn reporters(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.listed(REPORTER)
    }

    /// Earliest report begin (unix seconds).
    pub fn first_seen(&self) -> i64 {
        self.counts.first_seen
    }

    /// Latest report end (unix seconds).
    pub fn last_seen(&self) -> i64 {
        self.counts.last_seen
    }

    /// The class carrying most of the source's messages (see [`crate::classify`]).
    pub fn classification(&self) -> Classification {
        self.classification
    }

    /// Who the source is, when something is known about it (see `source_identity`).
    pub fn identity(&self) -> Option<&'a SourceIdentity> {
        let position = *self.table.identity_of.get(self.number)?;
        self.table.identities.get(position as usize)
    }

    /// The names of one list, in order.
    fn listed(&self, kind: u32) -> impl Iterator<Item = &'a str> + 'a {
        let table = self.table;
        let names = table
            .source_names
            .get(self.number)
            .map_or(&[][..], |names| names);
        names
            .iter()
            .filter(move |number| *number & KIND == kind)
            .map(move |number| {
                table
                    .names
                    .get((number & !KIND) as usize)
                    .map_or("", |name| name)
            })
    }

    /// The row, copied out.
    pub fn to_row(&self) -> SourceRow {
        let identity = self.identity();
        let identity_text =
            |field: fn(&SourceIdentity) -> &Option<String>| identity.and_then(|i| field(i).clone());
        let owned = |names: &mut dyn Iterator<Item = &str>| names.map(str::to_owned).collect();
        SourceRow {
            policy_domain: self.policy_domain().to_owned(),
            source_ip: self.source_ip().to_string(),
            messages: self.messages(),
            dmarc_pass: self.dmarc_pass(),
            spf_aligned: self.spf_aligned(),
            dkim_aligned: self.dkim_aligned(),
            dkim_domains: owned(&mut self.dkim_domains()),
            spf_domains: owned(&mut self.spf_domains()),
            reporters: owned(&mut self.reporters()),
            first_seen: self.first_seen(),
            last_seen: self.last_seen(),
            classification: self.classification,
            service: identity_text(|identity| &identity.service),
            ptr: identity_text(|identity| &identity.ptr),
            asn: identity.and_then(|identity| identity.asn),
            as_org: identity_text(|identity| &identity.as_org),
            country: identity_text(|identity| &identity.country),
        }
    }
}

/// A source IP to print: an address, or text that is not one.
enum SourceIp<'a> {
    Address(IpAddr),
    Text(&'a str),
}

impl std::fmt::Display for SourceIp<'_> {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceIp::Address(address) => address.fmt(out),
            SourceIp::Text(text) => out.write_str(text),
        }
    }
}

/// The sources of one domain while reading, by address and (for a source IP that is not an
/// address) by text, to their positions in [`SourceTable::sources`].
type SourceIndex = (HashMap<IpAddr, u32>, HashMap<Box<str>, u32>);

/// What a source lists, as `rollup_names` ids: a name (a reporter, an SPF domain), or a DKIM
/// signature's domain and selector (0 for none), shown as `domain:selector`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum NameKey {
    Name(u64),
    Dkim { domain: u64, selector: u64 },
}

/// Folds the source-day rows of [`Store::source_table`] into a [`SourceTable`].
#[derive(Default)]
struct TableBuilder {
    table: SourceTable,
    /// Policy domains by name, to their positions in [`SourceTable::domains`].
    domain_numbers: HashMap<String, u32>,
    /// The position of the policy domain of the row before: rows come by domain.
    last_domain: Option<u32>,
    /// The sources of the policy domain being read. Rows come by domain, so a domain's
    /// sources are all found when the next domain begins, and the index starts over: it
    /// holds one domain's sources, not the database's.
    index: SourceIndex,
    /// The position of the policy domain `index` holds.
    index_domain: Option<u32>,
    /// Per source, its names while they are collected: positions in `keys`, tagged.
    names: Vec<SortedSet<u32>>,
    /// Every name a source lists, numbered in the order first seen; names are looked up
    /// once each when the table is finished, not once per row.
    keys: KeyNumbers,
}

/// [`NameKey`]s numbered in the order first seen. The ids of `rollup_names` are dense (a
/// database holds thousands of names), so a name's number is found by its id in a vector; a
/// DKIM signature, or an id from [`DIRECT_IDS`] on, by hashing.
#[derive(Default)]
struct KeyNumbers {
    /// By id, a name's number, or `u32::MAX` while it has none.
    by_id: Vec<u32>,
    hashed: HashMap<NameKey, u32>,
    /// The keys, by number.
    keys: Vec<NameKey>,
}

/// Ids below this are numbered through [`KeyNumbers::by_id`] (at most 4 MiB).
const DIRECT_IDS: u64 = 1 << 20;

impl KeyNumbers {
    fn number(&mut self, key: NameKey) -> u32 {
        if let NameKey::Name(id) = key
            && id < DIRECT_IDS
        {
            let slot = id as usize;
            if self.by_id.len() <= slot {
                self.by_id.resize(slot + 1, u32::MAX);
            }
            let number = match self.by_id.get(slot) {
                Some(&number) if number != u32::MAX => number,
                _ => self.push(key),
            };
            if let Some(known) = self.by_id.get_mut(slot) {
                *known = number;
            }
            return number;
        }
        if let Some(&number) = self.hashed.get(&key) {
            return number;
        }
        let number = self.push(key);
        self.hashed.insert(key, number);
        number
    }

    fn push(&mut self, key: NameKey) -> u32 {
        // A billion distinct names cannot come from one database's reports in memory; the
        // last number is shared rather than spilling into the tag bits.
        let number = u32::try_from(self.keys.len()).unwrap_or(!KIND).min(!KIND);
        self.keys.push(key);
        number
    }
}

impl TableBuilder {
    fn add(&mut self, row: &SourceDayRow, sets: &NameSets) {
        let domain = self.domain_number(&row.policy_domain);
        let table = &mut self.table;
        let (by_address, by_text) = &mut self.index;
        if self.index_domain != Some(domain) {
            by_address.clear();
            by_text.clear();
            self.index_domain = Some(domain);
        }
        let address = row.source_ip.parse::<IpAddr>().ok();
        let known = match address {
            Some(address) => by_address.get(&address),
            None => by_text.get(row.source_ip.as_str()),
        };
        let number = match known {
            Some(&number) => number,
            None => {
                let number = u32::try_from(table.sources.len()).unwrap_or(u32::MAX);
                match address {
                    Some(address) => {
                        by_address.insert(address, number);
                    }
                    None => {
                        by_text.insert(row.source_ip.as_str().into(), number);
                        table.texts.insert(number, row.source_ip.as_str().into());
                    }
                }
                table.ips.push(address.unwrap_or(IpAddr::from([0u8; 4])));
                table.sources.push(SourceCounts {
                    domain,
                    first_seen: row.first_begin,
                    last_seen: row.last_end,
                    ..SourceCounts::default()
                });
                self.names.push(SortedSet::default());
                number
            }
        };
        let (Some(source), Some(names)) = (
            table.sources.get_mut(number as usize),
            self.names.get_mut(number as usize),
        ) else {
            return;
        };
        source.spf_aligned = source.spf_aligned.saturating_add(row.spf_aligned);
        source.dkim_aligned = source.dkim_aligned.saturating_add(row.dkim_aligned);
        source.first_seen = source.first_seen.min(row.first_begin);
        source.last_seen = source.last_seen.max(row.last_end);
        source.tally.merge(&row.classes);
        let mut key_number = |key: NameKey| self.keys.number(key);
        for &org in &sets.reporters {
            names.insert(key_number(NameKey::Name(org)) | REPORTER);
        }
        for &[domain, selector, _result] in &sets.dkim {
            names.insert(key_number(NameKey::Dkim { domain, selector }) | DKIM);
        }
        let spf = sets.spf.iter().map(|&[domain, _result]| domain);
        for domain in spf.chain(sets.helo.iter().copied()) {
            names.insert(key_number(NameKey::Name(domain)) | SPF);
        }
    }

    /// The position of `name` in [`SourceTable::domains`], added if new.
    fn domain_number(&mut self, name: &str) -> u32 {
        if let Some(last) = self.last_domain
            && self.table.domain(last) == name
        {
            return last;
        }
        let number = match self.domain_numbers.get(name) {
            Some(&number) => number,
            None => {
                // Four billion policy domains cannot be in memory at once; the last number
                // is shared rather than wrapping.
                let number = u32::try_from(self.table.domains.len()).unwrap_or(u32::MAX);
                self.table.domains.push(name.to_owned());
                self.domain_numbers.insert(name.to_owned(), number);
                number
            }
        };
        self.last_domain = Some(number);
        number
    }

    /// Looks up the names (each once), sorts each source's lists and the sources.
    fn finish(self, store: &Store) -> Result<SourceTable, StoreError> {
        drop(self.index);
        let mut table = self.table;
        // The text of every key, or None for a DKIM signature or SPF domain without a
        // domain (not listed; a reporter is listed whatever its name).
        let mut looked_up: HashMap<u64, Box<str>> = HashMap::new();
        let mut name = |id: u64| -> Result<Box<str>, StoreError> {
            if let Some(name) = looked_up.get(&id) {
                return Ok(name.clone());
            }
            let name: Box<str> = store.rollup_name(id)?.into();
            looked_up.insert(id, name.clone());
            Ok(name)
        };
        let mut texts: Vec<Option<Box<str>>> = Vec::with_capacity(self.keys.keys.len());
        for key in &self.keys.keys {
            texts.push(match *key {
                NameKey::Name(id) => Some(name(id)?),
                NameKey::Dkim { domain, selector } => {
                    let domain = name(domain)?;
                    match selector {
                        _ if domain.is_empty() => None,
                        0 => Some(domain),
                        selector => Some(format!("{domain}:{}", name(selector)?).into()),
                    }
                }
            });
        }
        // Names in byte order, once each (two signatures may read the same).
        let mut sorted: Vec<&str> = texts.iter().flatten().map(|text| &**text).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let rank = |text: &str| {
            let position = sorted.binary_search(&text).unwrap_or(0);
            u32::try_from(position).unwrap_or(!KIND).min(!KIND)
        };
        let ranks: Vec<Option<u32>> = texts.iter().map(|text| text.as_deref().map(rank)).collect();
        table.source_names = self
            .names
            .into_iter()
            .map(|names| {
                let mut listed: Vec<u32> = names
                    .into_sorted()
                    .into_iter()
                    .filter_map(|tagged| {
                        let kind = tagged & KIND;
                        let position = (tagged & !KIND) as usize;
                        let text = texts.get(position)?.as_deref()?;
                        // An SPF result without a domain is not listed.
                        if kind == SPF && text.is_empty() {
                            return None;
                        }
                        Some(kind | (*ranks.get(position)?)?)
                    })
                    .collect();
                listed.sort_unstable();
                listed.dedup();
                listed.into_boxed_slice()
            })
            .collect();
        table.names = sorted.into_iter().map(Box::from).collect();
        table.order = output_order(&table);
        Ok(table)
    }
}

/// The positions of the sources of `table`: most messages first, then by domain name, then
/// by the IP's text. The text is made only to order sources that tie on the first two, one
/// run of ties at a time.
fn output_order(table: &SourceTable) -> Vec<u32> {
    let mut by_name: Vec<u32> = (0..table.domains.len())
        .filter_map(|number| u32::try_from(number).ok())
        .collect();
    by_name.sort_by_key(|&number| table.domain(number));
    let mut rank = vec![0u32; table.domains.len()];
    for (position, &number) in by_name.iter().enumerate() {
        rank[number as usize] = u32::try_from(position).unwrap_or(u32::MAX);
    }
    let key = |number: u32| {
        let source = &table.sources[number as usize];
        (
            std::cmp::Reverse(source.messages()),
            rank.get(source.domain as usize)
                .copied()
                .unwrap_or(u32::MAX),
        )
    };
    let mut order: Vec<u32> = (0..table.sources.len())
        .filter_map(|number| u32::try_from(number).ok())
        .collect();
    order.sort_by_key(|&number| key(number));
    for run in order.chunk_by_mut(|&a, &b| key(a) == key(b)) {
        if run.len() > 1 {
            let mut named: Vec<(String, u32)> = run
                .iter()
                .map(|&number| (table.source_ip(number as usize).to_string(), number))
                .collect();
            named.sort_unstable();
            for (slot, (_, number)) in run.iter_mut().zip(named) {
                *slot = number;
            }
        }
    }
    order
}

/// What [`SourceTable`] keeps per source. Messages and DMARC passes are not counted apart:
/// every message is in the class tally, and DMARC pass is exactly the aligned class.
#[derive(Default)]
struct SourceCounts {
    domain: u32,
    spf_aligned: u64,
    dkim_aligned: u64,
    first_seen: i64,
    last_seen: i64,
    tally: ClassTally,
}

impl SourceCounts {
    fn messages(&self) -> u64 {
        self.tally.total()
    }
}

/// The two top bits of a number in [`SourceTable::source_names`] (and of a key number while
/// building): which list it is in.
const KIND: u32 = 0b11 << 30;
const DKIM: u32 = 0b01 << 30;
const SPF: u32 = 0b10 << 30;
const REPORTER: u32 = 0b11 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_database_has_no_sources() {
        let store = Store::open_in_memory(crate::StoreOptions::default()).unwrap();
        assert!(
            store
                .source_table(&SourceFilter::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_source_ip_that_is_not_an_address_is_kept_as_text() {
        let mut store = Store::open_in_memory(crate::StoreOptions::default()).unwrap();
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/summary/2026-11-18-mail.example.org-example.org.xml"
        );
        let mut batch = store.begin_batch().unwrap();
        let source = crate::MessageSource::File {
            path: fixture.to_owned(),
        };
        batch
            .ingest_bytes(&std::fs::read(fixture).unwrap(), &source)
            .unwrap();
        batch.commit().unwrap();
        let before = store.sources(&SourceFilter::default()).unwrap();
        store
            .connection
            .execute_batch(
                "UPDATE source_days SET source_ip = 'relay-7'
                 WHERE source_ip = (SELECT MIN(source_ip) FROM source_days);",
            )
            .unwrap();
        let after = store.sources(&SourceFilter::default()).unwrap();
        assert!(
            after.iter().any(|row| row.source_ip == "relay-7"),
            "{after:?}"
        );
        let messages = |rows: &[SourceRow]| rows.iter().map(|row| row.messages).sum::<u64>();
        assert_eq!(messages(&after), messages(&before));
        let ordered = after.windows(2).all(|pair| {
            (
                std::cmp::Reverse(pair[0].messages),
                &pair[0].policy_domain,
                &pair[0].source_ip,
            ) <= (
                std::cmp::Reverse(pair[1].messages),
                &pair[1].policy_domain,
                &pair[1].source_ip,
            )
        });
        assert!(
            ordered,
            "most messages first, then domain and IP text: {after:?}"
        );
    }
}
