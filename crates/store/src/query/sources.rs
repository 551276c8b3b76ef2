//! `ruadb sources`: every sending source (policy domain, source IP) of the selected days, in
//! one pass over the source-day rollups ([`Store::read_source_days`]), kept as counts and
//! interned names until a row is read. Its cost grows with sources × days, not with records.

use super::rollup::{DayFilter, SourceDayRow};
use crate::SourceIdentity;
use crate::classify::{ClassTally, Classification};
use crate::sorted_set::SortedSet;
use crate::{Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;
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

impl Store {
    /// Aggregates records per (policy_domain, source_ip), most messages first (then by
    /// domain and IP).
    pub fn sources(&self, filter: &SourceFilter) -> Result<Vec<SourceRow>, StoreError> {
        Ok(self.source_table(filter)?.rows().collect())
    }

    /// The same sources as [`Store::sources`], kept compact: [`SourceTable::rows`] makes each
    /// row when it is read, so output can be written row by row in little memory.
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
        self.read_source_days(&selection, &mut |row| builder.add(row))?;
        let mut table = builder.finish();
        table.identities = self.source_identities()?;
        Ok(table)
    }
}

/// Every sending source of [`Store::sources`], most messages first (then by domain and IP),
/// kept compact: a row with its strings and lists is made only when it is read, so a caller
/// that writes rows as they come needs memory for the counts alone.
#[derive(Default)]
pub struct SourceTable {
    domains: Vec<String>,
    names: Interned,
    sources: Vec<SourceCounts>,
    /// The DKIM `domain:selector`s, SPF domains and reporters of each source (by its position
    /// in `sources`), as interned numbers tagged with [`DKIM`], [`SPF`] or [`REPORTER`].
    source_names: Vec<Box<[u32]>>,
    /// The IP of each source, by its position in `sources`. Ingest stores every IP in the
    /// canonical form the address prints as, so the address (no heap memory) is kept...
    ips: Vec<IpAddr>,
    /// ...except for a source IP that is not an address (a database edited by hand).
    texts: HashMap<u32, Box<str>>,
    /// Positions in `sources`, in output order.
    order: Vec<u32>,
    /// Who each source IP is, by IP text.
    identities: HashMap<String, SourceIdentity>,
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
        self.order
            .iter()
            .filter_map(|&number| self.row(number as usize))
    }

    /// The source IP of source `number` as text.
    fn ip(&self, number: usize) -> String {
        let text = u32::try_from(number)
            .ok()
            .and_then(|number| self.texts.get(&number));
        match (text, self.ips.get(number)) {
            (Some(text), _) => text.to_string(),
            (None, Some(address)) => address.to_string(),
            (None, None) => String::new(),
        }
    }

    fn domain(&self, number: u32) -> &str {
        self.domains.get(number as usize).map_or("", String::as_str)
    }

    fn row(&self, number: usize) -> Option<SourceRow> {
        let counts = self.sources.get(number)?;
        let names = self.source_names.get(number).map_or(&[][..], |names| names);
        let listed = |kind: u32| -> Vec<String> {
            let mut listed: Vec<String> = names
                .iter()
                .filter(|number| *number & KIND == kind)
                .map(|number| self.names.name(number & !KIND))
                .collect();
            listed.sort();
            listed
        };
        let source_ip = self.ip(number);
        let identity = self.identities.get(&source_ip).cloned().unwrap_or_default();
        Some(SourceRow {
            policy_domain: self.domain(counts.domain).to_owned(),
            source_ip,
            messages: counts.messages(),
            dmarc_pass: counts.tally.messages(Classification::Aligned),
            spf_aligned: counts.spf_aligned,
            dkim_aligned: counts.dkim_aligned,
            dkim_domains: listed(DKIM),
            spf_domains: listed(SPF),
            reporters: listed(REPORTER),
            first_seen: counts.first_seen,
            last_seen: counts.last_seen,
            classification: counts.tally.winner()?,
            service: identity.service,
            ptr: identity.ptr,
            asn: identity.asn,
            as_org: identity.as_org,
            country: identity.country,
        })
    }
}

/// The sources of one domain while reading, by address and (for a source IP that is not an
/// address) by text, to their positions in [`SourceTable::sources`].
type SourceIndex = (HashMap<IpAddr, u32>, HashMap<Box<str>, u32>);

/// Folds the source-day rows of [`Store::source_table`] into a [`SourceTable`].
#[derive(Default)]
struct TableBuilder {
    table: SourceTable,
    /// Policy domains by name, to their positions in [`SourceTable::domains`].
    domain_numbers: HashMap<String, u32>,
    /// Per policy domain (by position), its sources.
    index: Vec<SourceIndex>,
    /// Per source, its names while they are collected.
    names: Vec<SortedSet<u32>>,
    /// Scratch space for a `domain:selector`.
    dkim_name: String,
}

impl TableBuilder {
    fn add(&mut self, row: &SourceDayRow) {
        let domain = match self.domain_numbers.get(&row.policy_domain) {
            Some(&number) => number,
            None => {
                // Four billion policy domains cannot be in memory at once; the last number
                // is shared rather than wrapping.
                let number = u32::try_from(self.table.domains.len()).unwrap_or(u32::MAX);
                self.table.domains.push(row.policy_domain.clone());
                self.domain_numbers
                    .insert(row.policy_domain.clone(), number);
                number
            }
        };
        let table = &mut self.table;
        if self.index.len() <= domain as usize {
            self.index
                .resize_with(domain as usize + 1, Default::default);
        }
        let (by_address, by_text) = &mut self.index[domain as usize];
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
                    }
                }
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
        for org in &row.reporters {
            names.insert(table.names.number(org) | REPORTER);
        }
        for dkim in row.dkim.iter().filter(|dkim| !dkim.domain.is_empty()) {
            let dkim_name = &mut self.dkim_name;
            dkim_name.clear();
            dkim_name.push_str(&dkim.domain);
            if let Some(selector) = &dkim.selector {
                dkim_name.push(':');
                dkim_name.push_str(selector);
            }
            names.insert(table.names.number(dkim_name) | DKIM);
        }
        let spf = row.spf.iter().map(|spf| spf.domain.as_str());
        let helo = row.helo_domains.iter().map(String::as_str);
        for domain in spf.chain(helo).filter(|domain| !domain.is_empty()) {
            names.insert(table.names.number(domain) | SPF);
        }
    }

    fn finish(self) -> SourceTable {
        let mut table = self.table;
        table.source_names = self
            .names
            .into_iter()
            .map(|names| names.into_sorted().into_boxed_slice())
            .collect();
        table.ips = vec![IpAddr::from([0u8; 4]); table.sources.len()];
        for (by_address, by_text) in self.index {
            for (address, number) in by_address {
                if let Some(slot) = table.ips.get_mut(number as usize) {
                    *slot = address;
                }
            }
            table
                .texts
                .extend(by_text.into_iter().map(|(text, number)| (number, text)));
        }
        // Most messages first, then by domain name, then by the IP's text. The text is made
        // only to order sources that tie on the first two, one run of ties at a time.
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
                    .map(|&number| (table.ip(number as usize), number))
                    .collect();
                named.sort_unstable();
                for (slot, (_, number)) in run.iter_mut().zip(named) {
                    *slot = number;
                }
            }
        }
        table.order = order;
        table
    }
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
        Classification::ALL
            .into_iter()
            .map(|class| self.tally.messages(class))
            .fold(0, u64::saturating_add)
    }
}

/// The two top bits of an interned number in [`SourceTable::source_names`]: which list it is
/// in.
const KIND: u32 = 0b11 << 30;
const DKIM: u32 = 0b01 << 30;
const SPF: u32 = 0b10 << 30;
const REPORTER: u32 = 0b11 << 30;

/// Names stored once, numbered from 0 (below [`KIND`]).
#[derive(Default)]
struct Interned {
    numbers: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interned {
    fn number(&mut self, name: &str) -> u32 {
        if let Some(&number) = self.numbers.get(name) {
            return number;
        }
        // A billion distinct names cannot come from one database's reports in memory; the
        // last number is shared rather than spilling into the tag bits.
        let number = u32::try_from(self.names.len()).unwrap_or(!KIND).min(!KIND);
        self.names.push(name.into());
        self.numbers.insert(name.into(), number);
        number
    }

    fn name(&self, number: u32) -> String {
        self.names
            .get(number as usize)
            .map(|name| name.to_string())
            .unwrap_or_default()
    }
}

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
