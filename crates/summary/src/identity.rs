//! Who the sources are: each source's identity from the store, the per-service totals of a
//! domain ("By service"), and advice that uses a known service's setup hint.

use std::collections::{BTreeMap, HashMap, HashSet};

use std::sync::Arc;

use rustc_hash::FxHashMap;

use ruadb_store::classify::ClassTally;
use ruadb_store::{SourceIdentity, Store, StoreError};

use super::{Classification, DomainSummary, ServiceSummary, Summary, rate, total};

/// Identities looked up for the domains of one summary, kept for the domains after them: the
/// addresses of shared services (an ESP, a forwarder) are sources of many domains, a domain's
/// own addresses of one. An address is kept once a second domain asks for it, so what is kept
/// is mostly the shared ones; both sets are bounded (emptied when full).
#[derive(Debug, Default)]
pub(crate) struct IdentityCache {
    /// Addresses asked for once.
    asked: HashSet<Box<str>>,
    /// Addresses asked for again, with what the store knows of them.
    kept: HashMap<Box<str>, Option<SourceIdentity>>,
    /// Every identity the store knows, when read at once ([`IdentityCache::read_all`]).
    all: Option<Arc<IdentityMap>>,
}

/// Addresses [`IdentityCache`] remembers having been asked for.
const ASKED: usize = 1 << 16;
/// Identities [`IdentityCache`] keeps.
const KEPT: usize = 1 << 14;

impl IdentityCache {
    /// Reads every identity the store knows, when they are at most as many as the cache
    /// keeps ([`Store::source_identities_up_to`]): then no address needs a lookup of its own.
    pub(crate) fn read_all(&mut self, store: &Store) -> Result<(), StoreError> {
        if self.all.is_none() {
            self.all = store
                .source_identities_up_to(KEPT)?
                .map(|all| Arc::new(all.into_iter().collect()));
        }
        Ok(())
    }

    /// What the store knows of each of `source_ips`, as [`Store::source_identities_of`]
    /// gives it; every identity it knows when they were read at once (then `source_ips` is
    /// not even looked at: the summary looks its sources up itself, on whichever thread makes
    /// it).
    pub(crate) fn identities_of<'a>(
        &mut self,
        store: &Store,
        source_ips: impl IntoIterator<Item = &'a str>,
    ) -> Result<Identities, StoreError> {
        if let Some(all) = &self.all {
            return Ok(Identities::All(Arc::clone(all)));
        }
        let mut found = IdentityMap::default();
        let mut missing = Vec::new();
        for source_ip in source_ips {
            match self.kept.get(source_ip) {
                Some(Some(identity)) => {
                    found.insert(source_ip.to_owned(), identity.clone());
                }
                Some(None) => {}
                None => missing.push(source_ip),
            }
        }
        let looked_up = store.source_identities_of(missing.iter().copied())?;
        for source_ip in missing {
            if self.asked.contains(source_ip) {
                if self.kept.len() >= KEPT {
                    self.kept.clear();
                }
                self.kept
                    .insert(source_ip.into(), looked_up.get(source_ip).cloned());
            } else {
                if self.asked.len() >= ASKED {
                    self.asked.clear();
                }
                self.asked.insert(source_ip.into());
            }
        }
        found.extend(looked_up);
        Ok(Identities::Found(found))
    }
}

/// Identities by address.
pub(crate) type IdentityMap = FxHashMap<String, SourceIdentity>;

/// The identities a summary gives its sources.
#[derive(Debug)]
pub(crate) enum Identities {
    /// Those of the sources shown, looked up for them.
    Found(IdentityMap),
    /// Every identity the store knows, read once for the summaries of many domains.
    All(Arc<IdentityMap>),
}

impl Identities {
    /// The identities by address.
    fn map(&self) -> &IdentityMap {
        match self {
            Identities::Found(map) => map,
            Identities::All(map) => map,
        }
    }

    /// The identity of `source_ip`, taken out when it is the summary's own to take.
    fn take(&mut self, source_ip: &str) -> Option<SourceIdentity> {
        match self {
            Identities::Found(map) => map.remove(source_ip),
            Identities::All(map) => map.get(source_ip).cloned(),
        }
    }
}

/// Fills `sources[].identity`, `services` and the service advice of every domain. The last
/// domain takes the identities looked up for it out of `identities` rather than copying them.
pub(crate) fn apply(summary: &mut Summary, mut identities: Identities) {
    let last = summary.domains.len().saturating_sub(1);
    for (index, domain) in summary.domains.iter_mut().enumerate() {
        for source in &mut domain.sources {
            // A domain's sources are distinct addresses: each is taken once.
            let identity = match index == last {
                true => identities.take(&source.source_ip),
                false => identities.map().get(&source.source_ip).cloned(),
            };
            if let Some(identity) = identity {
                source.identity = identity;
            }
        }
        domain.services = services(domain);
        service_advice(domain);
    }
}

/// The domain's sources grouped by service, then the unknown ones by AS organisation, most
/// messages first. Empty when no source of the domain is identified at all.
fn services(domain: &DomainSummary) -> Vec<ServiceSummary> {
    let identified = domain
        .sources
        .iter()
        .any(|source| source.identity.service.is_some() || source.identity.as_org.is_some());
    if !identified {
        return Vec::new();
    }
    #[derive(Default)]
    struct Group<'a> {
        service_kind: Option<&'a str>,
        sources: u64,
        messages: u64,
        dmarc_pass: u64,
        tally: ClassTally,
    }
    // Keyed by (service, AS organisation): a named service ignores the AS.
    let mut groups: BTreeMap<(Option<&str>, Option<&str>), Group<'_>> = BTreeMap::new();
    for source in &domain.sources {
        let identity = &source.identity;
        let key = match &identity.service {
            Some(service) => (Some(service.as_str()), None),
            None => (None, identity.as_org.as_deref()),
        };
        let group = groups.entry(key).or_default();
        group.service_kind = identity.service_kind.as_deref();
        group.sources += 1;
        group.messages = group.messages.saturating_add(source.messages);
        group.dmarc_pass = group.dmarc_pass.saturating_add(source.dmarc_pass);
        group.tally.add(source.classification, source.messages);
    }
    let mut services: Vec<ServiceSummary> = groups
        .into_iter()
        .map(|((service, as_org), group)| ServiceSummary {
            service: service.map(str::to_owned),
            service_kind: group.service_kind.map(str::to_owned),
            as_org: as_org.map(str::to_owned),
            sources: group.sources,
            messages: group.messages,
            dmarc_pass: group.dmarc_pass,
            dmarc_pass_rate: rate(group.dmarc_pass, group.messages),
            classification: group
                .tally
                .winner()
                .unwrap_or(Classification::Unauthenticated),
        })
        .collect();
    // Named services first, then unknown sources; most messages first within each.
    services.sort_by(|a, b| {
        (a.service.is_none(), std::cmp::Reverse(a.messages))
            .cmp(&(b.service.is_none(), std::cmp::Reverse(b.messages)))
    });
    debug_assert_eq!(
        total(services.iter().map(|service| service.messages)),
        total(domain.sources.iter().map(|source| source.messages))
    );
    services
}

/// For a misaligned source of a known service with a setup hint: advice in the service's
/// own terms, replacing the generic line (in the source and in the domain's list).
fn service_advice(domain: &mut DomainSummary) {
    let name = domain.domain.clone();
    // The generic lines replaced, with their replacements: the domain's list is rewritten in
    // one pass afterwards (a large domain has thousands of lines and of such sources).
    let mut replaced: FxHashMap<String, String> = FxHashMap::default();
    for source in &mut domain.sources {
        if source.classification != Classification::Misaligned {
            continue;
        }
        let identity = &source.identity;
        let (Some(service), Some(setup)) = (&identity.service, &identity.setup) else {
            continue;
        };
        let line = format!(
            "{} — {service} sends as {name} without alignment: {}",
            source.source_ip,
            setup.replace("{domain}", &name)
        );
        if let Some(old) = source.advice.replace(line.clone()) {
            // Each line names its source's address: no two sources share one.
            replaced.entry(old).or_insert(line);
        }
    }
    if replaced.is_empty() {
        return;
    }
    for advice in &mut domain.advice {
        if let Some(line) = replaced.get(advice.as_str()) {
            advice.clone_from(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruadb_store::{MessageSource, StoreOptions};

    /// The summary fixtures, ingested and identified, one source with a reverse DNS name.
    fn fixture_store() -> Store {
        let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/summary");
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        paths.sort();
        let mut batch = store.begin_batch().unwrap();
        for path in paths {
            let source = MessageSource::File {
                path: path.display().to_string(),
            };
            batch
                .ingest_bytes(&std::fs::read(&path).unwrap(), &source)
                .unwrap();
        }
        batch.commit().unwrap();
        let catalogue = ruadb_identify::Catalogue::builtin().unwrap();
        store.identify_from_reports(&catalogue, false).unwrap();
        let answer = ruadb_store::ReverseDns {
            source_ip: "192.0.2.30".to_owned(),
            ptr: Some("mx1.example.org".to_owned()),
            confirmed: true,
        };
        store.record_reverse_dns(&catalogue, &[answer], 0).unwrap();
        store
    }

    #[test]
    fn identities_read_at_once_answer_as_the_lookups() {
        let store = fixture_store();
        let known = store.source_identities().unwrap();
        assert!(!known.is_empty());
        let mut asked: Vec<&str> = known.keys().map(String::as_str).collect();
        asked.push("192.0.2.254");
        let looked_up = IdentityCache::default()
            .identities_of(&store, asked.iter().copied())
            .unwrap();
        let mut cache = IdentityCache::default();
        cache.read_all(&store).unwrap();
        let known_map: IdentityMap = known.clone().into_iter().collect();
        assert_eq!(cache.all.as_deref(), Some(&known_map));
        // Now answered without the store.
        let empty = Store::open_in_memory(StoreOptions::default()).unwrap();
        let read = cache.identities_of(&empty, asked.iter().copied()).unwrap();
        assert_eq!(read.map(), looked_up.map());
        assert_eq!(read.map(), &known_map);
        // More identities than the cache keeps: none read, each looked up.
        assert_eq!(
            store.source_identities_up_to(known.len() - 1).unwrap(),
            None
        );
        assert_eq!(
            store.source_identities_up_to(known.len()).unwrap(),
            Some(known)
        );
    }

    #[test]
    fn an_address_asked_for_by_a_second_domain_is_kept_for_the_next() {
        let store = fixture_store();
        let known = store.source_identities().unwrap();
        let (ip, identity) = known.iter().next().expect("an identified fixture source");
        let mut cache = IdentityCache::default();
        let unknown = "192.0.2.254";
        let first = cache.identities_of(&store, [ip.as_str(), unknown]).unwrap();
        assert_eq!(first.map().get(ip), Some(identity));
        assert!(!first.map().contains_key(unknown));
        assert!(cache.kept.is_empty(), "asked for once: not kept");
        let second = cache.identities_of(&store, [ip.as_str(), unknown]).unwrap();
        assert_eq!(second.map(), first.map());
        assert_eq!(cache.kept.len(), 2, "asked for again: kept, known or not");
        // Now answered from what was kept, without the store.
        let empty = Store::open_in_memory(StoreOptions::default()).unwrap();
        let third = cache.identities_of(&empty, [ip.as_str(), unknown]).unwrap();
        assert_eq!(third.map(), first.map());
    }
}
