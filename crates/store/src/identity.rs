//! Who each sending source is: the `source_identities` table behind the `source_identity`
//! view. [`Store::identify_from_reports`] names services from the evidence in the records
//! (passed DKIM signatures, SPF passes) with a [`Catalogue`]; [`Store::source_identities`]
//! reads the table back for `sources` and the summary.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ruadb_identify::{Catalogue, Evidence, IpDatabases, NetworkOwner, Service};
use rusqlite::{OptionalExtension, named_params, params};
use serde::Serialize;

use crate::alignment::organizational_domain;
use crate::{Store, StoreError};

/// What is known about one source IP. Every field is `None` when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceIdentity {
    /// The catalogue service.
    pub service: Option<String>,
    /// Its kind (`mailbox`, `esp`, `crm`, `helpdesk`, `gateway`, `forwarder`, `hosting`).
    pub service_kind: Option<String>,
    /// What named it: `dkim`, `spf` or `ptr`.
    pub evidence: Option<String>,
    /// The reverse DNS name, as received (outside text: escape before printing).
    pub ptr: Option<String>,
    /// Whether the PTR name's A/AAAA records contain the IP.
    pub ptr_confirmed: Option<bool>,
    /// The autonomous system number.
    pub asn: Option<i64>,
    /// The autonomous system's organisation.
    pub as_org: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// The service's alignment hint, with `{domain}` for the customer's domain.
    #[serde(skip)]
    pub setup: Option<String>,
}

impl SourceIdentity {
    /// What to call the source in one short phrase: the service, else the confirmed PTR
    /// name, else the AS organisation.
    pub fn label(&self) -> Option<&str> {
        let confirmed_ptr = self
            .ptr
            .as_deref()
            .filter(|_| self.ptr_confirmed == Some(true));
        self.service
            .as_deref()
            .or(confirmed_ptr)
            .or(self.as_org.as_deref())
    }
}

/// What [`Store::identify_from_reports`] did, and where the table stands after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OfflineTally {
    /// Source IPs known (every IP of every record read so far).
    pub sources: u64,
    /// Of those, the IPs first seen in this run.
    pub new: u64,
    /// Of the known sources, those with a service.
    pub named: u64,
    /// Of the new sources, those looked up in the IP databases as they were added (the
    /// rest are left to [`Store::sources_to_look_up`]).
    #[serde(skip)]
    pub ip_looked_up: u64,
    /// Of those, with an ASN, an AS organisation or a country.
    #[serde(skip)]
    pub ip_found: u64,
}

/// The rank SQL compares to keep the strongest evidence: lower is stronger.
const RANK_SQL: &str = "CASE %s WHEN 'dkim' THEN 0 WHEN 'spf' THEN 1 WHEN 'ptr' THEN 2 ELSE 3 END";

/// How many sources [`Namer`] remembers to skip writes that would change nothing; past it
/// the memory is dropped (and the database's own rank rule still decides), so a run over
/// millions of sources stays within the memory budget.
const NAMER_MEMORY: usize = 4096;

/// Records the strongest evidence naming each source, one matching result at a time.
struct Namer<'a> {
    /// Names `source_ip` unless it holds evidence at least as strong.
    update: rusqlite::Statement<'a>,
    /// The strongest evidence written this run, per source (bounded by [`NAMER_MEMORY`]).
    written: HashMap<String, Evidence>,
}

impl Namer<'_> {
    fn name(
        &mut self,
        source_ip: &str,
        service: &Service,
        evidence: Evidence,
        domain: &str,
    ) -> Result<(), StoreError> {
        if self
            .written
            .get(source_ip)
            .is_some_and(|&written| written <= evidence)
        {
            return Ok(());
        }
        self.update.execute(named_params![
            ":source_ip": source_ip,
            ":service": service.name,
            ":service_kind": service.kind.as_str(),
            ":evidence": evidence.as_str(),
            ":evidence_domain": domain,
            ":setup": service.setup,
        ])?;
        if self.written.len() >= NAMER_MEMORY {
            self.written.clear();
        }
        self.written.insert(source_ip.to_owned(), evidence);
        Ok(())
    }
}

/// Names a source (`:source_ip`, `:service`, `:service_kind`, `:evidence`,
/// `:evidence_domain`, `:setup`) unless it holds evidence at least as strong.
pub(crate) fn name_sql() -> String {
    format!(
        "UPDATE source_identities SET service = :service, service_kind = :service_kind, \
           evidence = :evidence, evidence_domain = :evidence_domain, setup = :setup \
         WHERE source_ip = :source_ip AND {} > {}",
        RANK_SQL.replace("%s", "evidence"),
        RANK_SQL.replace("%s", ":evidence")
    )
}

/// Passed DKIM signatures and SPF passes (MAIL FROM) of the records after `?1`, in the
/// result tables' own (record, seq) order: no sort, no temporary table, so memory does not
/// grow with the records read. The record's source is read only for a domain the catalogue
/// knows, which most are not.
const EVIDENCE_SQL: [(Evidence, &str); 2] = [
    (
        Evidence::Dkim,
        "SELECT record, domain FROM dkim_results WHERE record > ?1 AND result = 'pass'",
    ),
    (
        Evidence::Spf,
        "SELECT record, domain FROM spf_results \
         WHERE record > ?1 AND result = 'pass' AND COALESCE(scope, 'mfrom') = 'mfrom'",
    ),
];

/// How many domains [`EvidenceDomains`] remembers before it starts over: reports name few
/// domains, but a hostile batch could name millions.
const DOMAIN_MEMORY: usize = 4096;

/// The catalogue's answer for each domain met, so a domain seen in thousands of records is
/// matched once.
struct EvidenceDomains<'c> {
    catalogue: &'c Catalogue,
    evidence: Evidence,
    known: HashMap<String, Option<&'c Service>>,
}

impl<'c> EvidenceDomains<'c> {
    fn service_for(&mut self, domain: &str) -> Option<&'c Service> {
        if let Some(&service) = self.known.get(domain) {
            return service;
        }
        let service = self.catalogue.service_for(self.evidence, domain);
        if self.known.len() >= DOMAIN_MEMORY {
            self.known.clear();
        }
        self.known.insert(domain.to_owned(), service);
        service
    }
}

/// Sources read per page when naming from confirmed PTRs (primary-key order, no sort).
const PTR_PAGE: i64 = 512;

impl Store {
    /// Names the service of every source IP in the records stored since the last run (all
    /// records with `refresh`, which also forgets the services named before), from the
    /// strongest evidence: a passed DKIM signature, an SPF pass (MAIL FROM), or a confirmed
    /// PTR recorded earlier. A service named before is replaced only by stronger evidence;
    /// among matches of equal strength the first stored wins. One transaction: an
    /// interrupted run leaves the table as it was. Memory stays bounded whatever the number
    /// of records or sources.
    pub fn identify_from_reports(
        &mut self,
        catalogue: &Catalogue,
        refresh: bool,
    ) -> Result<OfflineTally, StoreError> {
        self.identify_from_reports_with(catalogue, None, refresh)
    }

    /// [`Store::identify_from_reports`], which also looks each new source up in `databases`
    /// as it adds it (one write per source instead of two): what
    /// [`Store::record_network_owners`] would have recorded for it, with the databases'
    /// signature. A source the databases cannot answer (a damaged file) is left to
    /// [`Store::sources_to_look_up`], whose caller reports the error.
    pub fn identify_from_reports_with(
        &mut self,
        catalogue: &Catalogue,
        databases: Option<&IpDatabases>,
        refresh: bool,
    ) -> Result<OfflineTally, StoreError> {
        let transaction = self.connection.transaction()?;
        let max_record: i64 =
            transaction.query_row("SELECT COALESCE(MAX(id), 0) FROM records", [], |row| {
                row.get(0)
            })?;
        let stored: Option<i64> = transaction
            .query_row(
                "SELECT last_record FROM identify_progress WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .optional()?;
        // Record ids restart after `ruadb reparse` rebuilt the records: then start over too.
        let after = match stored {
            Some(last) if !refresh && last <= max_record => last,
            _ => 0,
        };
        if refresh {
            transaction.execute(
                "UPDATE source_identities SET service = NULL, service_kind = NULL, \
                 evidence = NULL, evidence_domain = NULL, setup = NULL",
                [],
            )?;
        }
        // Every source gets its row, so the reverse DNS and IP database steps know which
        // addresses to look up.
        let added = add_sources(&transaction, after, databases)?;
        {
            let mut namer = Namer {
                update: transaction.prepare(&name_sql())?,
                written: HashMap::new(),
            };
            let mut source_of =
                transaction.prepare("SELECT source_ip FROM records WHERE id = ?1")?;
            for (evidence, sql) in EVIDENCE_SQL {
                let mut domains = EvidenceDomains {
                    catalogue,
                    evidence,
                    known: HashMap::new(),
                };
                let mut statement = transaction.prepare(sql)?;
                let mut rows = statement.query([after])?;
                while let Some(row) = rows.next()? {
                    let domain = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
                    if let Some(service) = domains.service_for(domain) {
                        let record: i64 = row.get(0)?;
                        let source_ip: String = source_of.query_row([record], |row| row.get(0))?;
                        namer.name(&source_ip, service, evidence, domain)?;
                    }
                }
            }
            name_from_confirmed_ptrs(&transaction, catalogue, &mut namer)?;
        }
        transaction.execute(
            "INSERT INTO identify_progress (id, last_record) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET last_record = excluded.last_record",
            [max_record],
        )?;
        let (sources, named) = transaction.query_row(
            "SELECT COUNT(*), COUNT(service) FROM source_identities",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
        )?;
        transaction.commit()?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(OfflineTally {
            sources: count(sources),
            new: added.new,
            named: count(named),
            ip_looked_up: added.looked_up,
            ip_found: added.found,
        })
    }

    /// The identity of every source IP about which something is known, by IP text (a source
    /// missing from the map is unknown): on a database of many unknown sources the map stays
    /// small, which keeps `sources` and the summary within their memory budget.
    pub fn source_identities(&self) -> Result<HashMap<String, SourceIdentity>, StoreError> {
        Ok(self
            .source_identities_up_to(usize::MAX)?
            .unwrap_or_default())
    }

    /// [`Store::source_identities`] when there are at most `limit` (`None` when there are
    /// more): a summary of many domains asks about most known sources, and one read of them
    /// all costs less than a lookup for each source it shows.
    pub fn source_identities_up_to(
        &self,
        limit: usize,
    ) -> Result<Option<HashMap<String, SourceIdentity>>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached(&format!("{IDENTITY_SELECT} WHERE {IDENTITY_KNOWN}"))?;
        let mut rows = statement.query([])?;
        let mut identities = HashMap::new();
        while let Some(row) = rows.next()? {
            if identities.len() == limit {
                return Ok(None);
            }
            identities.insert(row.get::<_, String>(0)?, identity_of(row)?);
        }
        Ok(Some(identities))
    }

    /// The identities of `source_ips` about which something is known, as
    /// [`Store::source_identities`] gives them: one lookup by primary key each, so the cost
    /// and the memory follow the addresses asked about, not the size of the table (a
    /// one-domain summary of a database with millions of sources reads only its own).
    pub fn source_identities_of<'a>(
        &self,
        source_ips: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, SourceIdentity>, StoreError> {
        // One snapshot for all the lookups: a statement outside a transaction takes and
        // drops the database's read lock each time.
        let _snapshot = self.read_transaction()?;
        let mut statement = self.connection.prepare_cached(&format!(
            "{IDENTITY_SELECT} WHERE source_ip = ?1 AND ({IDENTITY_KNOWN})"
        ))?;
        let mut identities = HashMap::new();
        for source_ip in source_ips {
            let mut rows = statement.query([source_ip])?;
            if let Some(row) = rows.next()? {
                identities.insert(source_ip.to_owned(), identity_of(row)?);
            }
        }
        Ok(identities)
    }
}

/// The columns [`identity_of`] reads, in its order.
const IDENTITY_SELECT: &str = "SELECT source_ip, service, service_kind, evidence, ptr, \
     ptr_confirmed, asn, as_org, country, setup FROM source_identities";
/// A source about which something is known; the condition of the partial index
/// `source_identities_known` (migration 0014), word for word, so that SQLite reads that index.
const IDENTITY_KNOWN: &str = "service IS NOT NULL OR ptr IS NOT NULL OR asn IS NOT NULL \
     OR as_org IS NOT NULL OR country IS NOT NULL";

/// A row of [`IDENTITY_SELECT`] as a [`SourceIdentity`].
fn identity_of(row: &rusqlite::Row<'_>) -> Result<SourceIdentity, StoreError> {
    Ok(SourceIdentity {
        service: row.get(1)?,
        service_kind: row.get(2)?,
        evidence: row.get(3)?,
        ptr: row.get(4)?,
        ptr_confirmed: row.get(5)?,
        asn: row.get(6)?,
        as_org: row.get(7)?,
        country: row.get(8)?,
        setup: row.get(9)?,
    })
}

/// How many distinct addresses [`add_sources`] holds before it writes them: about 3 MiB.
const NEW_SOURCES_CHUNK: usize = 32_768;

/// What [`add_sources`] did.
#[derive(Debug, Default)]
struct AddedSources {
    /// Rows added.
    new: u64,
    /// Of those, looked up in the IP databases.
    looked_up: u64,
    /// Of those, with an answer.
    found: u64,
}

/// Adds a row for every source IP of the records after `after` that has none, with its
/// network owner when `databases` are given. A source sends many records: deduplicating
/// them in memory first, then writing each address once in key order, costs a fraction of
/// asking the table's index once per record (which was most of the time identification
/// added to an ingest).
fn add_sources(
    transaction: &rusqlite::Transaction<'_>,
    after: i64,
    databases: Option<&IpDatabases>,
) -> Result<AddedSources, StoreError> {
    let mut read = transaction.prepare("SELECT source_ip FROM records WHERE id > ?1")?;
    let mut insert = transaction.prepare(
        "INSERT OR IGNORE INTO source_identities \
           (source_ip, asn, as_org, country, ip_database, ip_lookup) \
         VALUES (:source_ip, :asn, :as_org, :country, :ip_database, :signature)",
    )?;
    let mut writer = SourceWriter {
        insert: &mut insert,
        databases: databases.filter(|databases| !databases.is_empty()),
        added: AddedSources::default(),
    };
    let mut pending: HashSet<String> = HashSet::new();
    let mut rows = read.query([after])?;
    while let Some(row) = rows.next()? {
        let source_ip = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        if !pending.contains(source_ip) {
            if pending.len() >= NEW_SOURCES_CHUNK {
                writer.write(&mut pending)?;
            }
            pending.insert(source_ip.to_owned());
        }
    }
    writer.write(&mut pending)?;
    Ok(writer.added)
}

/// Writes the rows of new sources for [`add_sources`].
struct SourceWriter<'a, 'conn> {
    insert: &'a mut rusqlite::Statement<'conn>,
    databases: Option<&'a IpDatabases>,
    added: AddedSources,
}

impl SourceWriter<'_, '_> {
    /// Inserts `pending` (emptied) in key order, so the table's B-tree is appended to rather
    /// than split at random.
    fn write(&mut self, pending: &mut HashSet<String>) -> Result<(), StoreError> {
        let mut addresses: Vec<String> = pending.drain().collect();
        addresses.sort_unstable();
        for source_ip in &addresses {
            // As `ruadb identify` records them: text that is not an address is "not found"
            // (not asked again until the files change); a file that fails leaves the row to
            // the IP database step, which reports it.
            let owner = self.databases.and_then(|databases| {
                match source_ip.parse::<IpAddr>() {
                    Ok(ip) => databases.lookup(ip).ok(),
                    Err(_) => Some(NetworkOwner::default()),
                }
                .map(|owner| (databases.signature(), owner))
            });
            let (signature, owner) = match &owner {
                Some((signature, owner)) => (Some(*signature), Some(owner)),
                None => (None, None),
            };
            let inserted = self.insert.execute(named_params![
                ":source_ip": source_ip,
                ":asn": owner.and_then(|owner| owner.asn),
                ":as_org": owner.and_then(|owner| owner.as_org.as_deref()),
                ":country": owner.and_then(|owner| owner.country.as_deref()),
                ":ip_database": owner.and_then(|owner| owner.ip_database.as_deref()),
                ":signature": signature,
            ])?;
            if inserted == 0 {
                continue;
            }
            self.added.new += 1;
            if let Some(owner) = owner {
                self.added.looked_up += 1;
                if owner.ip_database.is_some() {
                    self.added.found += 1;
                }
            }
        }
        Ok(())
    }
}

/// Names, from their confirmed PTR, the sources that have no stronger evidence: a page of
/// sources at a time in primary-key order, so the table is never scanned while it is written.
fn name_from_confirmed_ptrs(
    transaction: &rusqlite::Transaction<'_>,
    catalogue: &Catalogue,
    namer: &mut Namer<'_>,
) -> Result<(), StoreError> {
    let mut page = transaction.prepare(
        "SELECT source_ip, ptr_base_domain FROM source_identities \
         WHERE source_ip > ?1 AND ptr_confirmed = 1 AND ptr_base_domain IS NOT NULL \
           AND (evidence IS NULL OR evidence = 'ptr') \
         ORDER BY source_ip LIMIT ?2",
    )?;
    let mut last = String::new();
    loop {
        let found = page
            .query_map(params![last, PTR_PAGE], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (source_ip, base) in &found {
            if let Some(service) = catalogue.service_for(Evidence::Ptr, base) {
                namer.name(source_ip, service, Evidence::Ptr, base)?;
            }
        }
        match found.into_iter().next_back() {
            Some((source_ip, _)) => last = source_ip,
            None => return Ok(()),
        }
    }
}

/// One reverse DNS answer to record ([`Store::record_reverse_dns`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseDns {
    /// The source, as in the records.
    pub source_ip: String,
    /// The PTR name (outside text), or `None` when there is none or the server failed.
    pub ptr: Option<String>,
    /// Whether the name's A/AAAA records contain the address.
    pub confirmed: bool,
}

/// How long reverse DNS answers are kept before they are asked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsCachePolicy {
    /// A PTR name, in seconds (default 7 days).
    pub positive_secs: i64,
    /// No name, or a server failure, in seconds (default 1 day).
    pub negative_secs: i64,
}

impl Default for DnsCachePolicy {
    fn default() -> DnsCachePolicy {
        DnsCachePolicy {
            positive_secs: 7 * 86_400,
            negative_secs: 86_400,
        }
    }
}

impl Store {
    /// How many sources have a service.
    pub fn named_sources(&self) -> Result<u64, StoreError> {
        let named: i64 = self.connection.query_row(
            "SELECT COUNT(service) FROM source_identities",
            [],
            |row| row.get(0),
        )?;
        Ok(u64::try_from(named).unwrap_or(0))
    }

    /// Up to `limit` sources, in IP text order after `after`, whose reverse DNS was never
    /// asked or has expired by `policy` at `now_utc` (with `refresh`, every source: a run pages
    /// through them once, so none is asked twice). Pages in primary-key order: no sort,
    /// bounded memory.
    pub fn sources_to_resolve(
        &self,
        now_utc: i64,
        policy: DnsCachePolicy,
        refresh: bool,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT source_ip FROM source_identities \
             WHERE source_ip > :after AND (resolved_utc IS NULL OR CASE WHEN :refresh \
               THEN 1 \
               ELSE resolved_utc <= :now - CASE WHEN ptr IS NULL THEN :negative ELSE :positive END \
             END) \
             ORDER BY source_ip LIMIT :limit",
        )?;
        let rows = statement.query_map(
            named_params![
                ":after": after,
                ":refresh": refresh,
                ":now": now_utc,
                ":negative": policy.negative_secs,
                ":positive": policy.positive_secs,
                ":limit": i64::try_from(limit).unwrap_or(i64::MAX),
            ],
            |row| row.get::<_, String>(0),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records reverse DNS answers asked at `now_utc`, in one transaction, and names each
    /// source whose confirmed PTR's organisational domain is a catalogue service's (unless
    /// stronger evidence named it). A service named by a PTR that is no longer confirmed,
    /// or now names another service, is forgotten first. Returns how many sources a PTR
    /// named.
    pub fn record_reverse_dns(
        &mut self,
        catalogue: &Catalogue,
        answers: &[ReverseDns],
        now_utc: i64,
    ) -> Result<u64, StoreError> {
        let transaction = self.connection.transaction()?;
        let mut named = 0;
        {
            let mut record = transaction.prepare(
                "UPDATE source_identities SET ptr = :ptr, ptr_confirmed = :confirmed, \
                   ptr_base_domain = :base, resolved_utc = :now \
                 WHERE source_ip = :source_ip",
            )?;
            let mut forget = transaction.prepare(
                "UPDATE source_identities SET service = NULL, service_kind = NULL, \
                   evidence = NULL, evidence_domain = NULL, setup = NULL \
                 WHERE source_ip = ?1 AND evidence = 'ptr'",
            )?;
            let mut name = transaction.prepare(&name_sql())?;
            for answer in answers {
                let base = answer.ptr.as_deref().map(|ptr| {
                    let ptr = ptr.to_ascii_lowercase();
                    organizational_domain(&ptr).to_owned()
                });
                record.execute(named_params![
                    ":ptr": answer.ptr,
                    ":confirmed": answer.ptr.as_ref().map(|_| answer.confirmed),
                    ":base": base,
                    ":now": now_utc,
                    ":source_ip": answer.source_ip,
                ])?;
                forget.execute([&answer.source_ip])?;
                let service = base
                    .as_deref()
                    .filter(|_| answer.confirmed)
                    .and_then(|base| Some((base, catalogue.service_for(Evidence::Ptr, base)?)));
                if let Some((base, service)) = service {
                    named += name.execute(named_params![
                        ":source_ip": answer.source_ip,
                        ":service": service.name,
                        ":service_kind": service.kind.as_str(),
                        ":evidence": Evidence::Ptr.as_str(),
                        ":evidence_domain": base,
                        ":setup": service.setup,
                    ])?;
                }
            }
        }
        transaction.commit()?;
        Ok(u64::try_from(named).unwrap_or(u64::MAX))
    }
}

/// What the IP databases said about one source ([`Store::record_network_owners`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkLookup {
    /// The source, as in the records.
    pub source_ip: String,
    /// Its network owner and country (all `None` when no file knew it).
    pub owner: NetworkOwner,
}

impl Store {
    /// Up to `limit` sources, in IP text order after `after`, not yet looked up in the IP
    /// databases named by `signature` ([`ruadb_identify::IpDatabases::signature`]): never
    /// looked up, or looked up in other files or other builds (with `refresh`, every source:
    /// a run pages through them once). Pages in primary-key order: no sort, bounded memory.
    pub fn sources_to_look_up(
        &self,
        signature: &str,
        refresh: bool,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT source_ip FROM source_identities \
             WHERE source_ip > :after AND (:refresh OR ip_lookup IS NOT :signature) \
             ORDER BY source_ip LIMIT :limit",
        )?;
        let rows = statement.query_map(
            named_params![
                ":after": after,
                ":refresh": refresh,
                ":signature": signature,
                ":limit": i64::try_from(limit).unwrap_or(i64::MAX),
            ],
            |row| row.get::<_, String>(0),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records what the IP databases named by `signature` said about each source, in one
    /// transaction: the ASN, AS organisation, country and the files that answered replace
    /// what an earlier lookup stored (an answer no file gives any more becomes NULL).
    pub fn record_network_owners(
        &mut self,
        signature: &str,
        lookups: &[NetworkLookup],
    ) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        {
            let mut record = transaction.prepare(
                "UPDATE source_identities SET asn = :asn, as_org = :as_org, country = :country, \
                   ip_database = :ip_database, ip_lookup = :signature \
                 WHERE source_ip = :source_ip",
            )?;
            for lookup in lookups {
                let owner = &lookup.owner;
                record.execute(named_params![
                    ":asn": owner.asn,
                    ":as_org": owner.as_org,
                    ":country": owner.country,
                    ":ip_database": owner.ip_database,
                    ":signature": signature,
                    ":source_ip": lookup.source_ip,
                ])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }
}
