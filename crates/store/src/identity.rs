//! Who each sending source is: the `source_identities` table behind the `source_identity`
//! view. [`Store::identify_from_reports`] names services from the evidence in the records
//! (passed DKIM signatures, SPF passes) with a [`Catalogue`]; [`Store::source_identities`]
//! reads the table back for `sources` and the summary.

use std::collections::HashMap;

use ruadb_identify::{Catalogue, Evidence, SourceEvidence};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

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

/// What [`Store::identify_from_reports`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OfflineTally {
    /// Source IPs whose new records were examined.
    pub sources: u64,
    /// Of those, sources that now have a service (named now or before).
    pub named: u64,
}

/// The rank SQL compares to keep the strongest evidence: lower is stronger.
const RANK_SQL: &str = "CASE %s WHEN 'dkim' THEN 0 WHEN 'spf' THEN 1 WHEN 'ptr' THEN 2 ELSE 3 END";

/// The statements that name one source and record it.
struct Namer<'a> {
    catalogue: &'a Catalogue,
    confirmed_ptr: rusqlite::Statement<'a>,
    upsert: rusqlite::Statement<'a>,
    named: rusqlite::Statement<'a>,
}

impl Namer<'_> {
    /// Names `source_ip` from `found` (and a confirmed PTR recorded earlier) and records it.
    fn name(
        &mut self,
        source_ip: &str,
        mut found: SourceEvidence,
        tally: &mut OfflineTally,
    ) -> Result<(), StoreError> {
        found.confirmed_ptr_base = self
            .confirmed_ptr
            .query_row([source_ip], |row| row.get::<_, Option<String>>(0))
            .optional()?
            .flatten();
        let catalogue = self.catalogue;
        let identification = catalogue.identify(&found);
        let matched_domain = identification.and_then(|named| {
            let domains = match named.evidence {
                Evidence::Dkim => &found.dkim_pass,
                Evidence::Spf => &found.spf_pass,
                Evidence::Ptr => return found.confirmed_ptr_base.clone(),
            };
            domains
                .iter()
                .find(|domain| {
                    catalogue
                        .service_for(named.evidence, domain)
                        .is_some_and(|service| service.name == named.service.name)
                })
                .cloned()
        });
        self.upsert.execute(params![
            source_ip,
            identification.map(|named| named.service.name.as_str()),
            identification.map(|named| named.service.kind.as_str()),
            identification.map(|named| named.evidence.as_str()),
            matched_domain,
            identification.map(|named| named.service.setup.as_str()),
        ])?;
        tally.sources += 1;
        if self
            .named
            .query_row([source_ip], |row| row.get::<_, bool>(0))?
        {
            tally.named += 1;
        }
        Ok(())
    }
}

impl Store {
    /// Names the service of every source IP in the records stored since the last run (all
    /// records with `refresh`, which also forgets the services named before), from the
    /// strongest evidence: a passed DKIM signature, an SPF pass (MAIL FROM), or a confirmed
    /// PTR recorded earlier. A service named before is replaced only by stronger evidence.
    /// One transaction: an interrupted run leaves the table as it was.
    pub fn identify_from_reports(
        &mut self,
        catalogue: &Catalogue,
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
        let mut tally = OfflineTally::default();
        {
            // Sorted by IP, so each source's evidence is complete when the next IP starts:
            // memory holds one source at a time, however many the records name.
            let mut evidence = transaction.prepare(
                "SELECT r.source_ip, 'dkim', d.domain FROM records AS r \
                   JOIN dkim_results AS d ON d.record = r.id \
                   WHERE r.id > ?1 AND d.result = 'pass' \
                 UNION \
                 SELECT r.source_ip, 'spf', s.domain FROM records AS r \
                   JOIN spf_results AS s ON s.record = r.id \
                   WHERE r.id > ?1 AND s.result = 'pass' AND COALESCE(s.scope, 'mfrom') = 'mfrom' \
                 UNION \
                 SELECT source_ip, '', '' FROM records WHERE id > ?1 \
                 ORDER BY 1, 2, 3",
            )?;
            let mut namer = Namer {
                catalogue,
                confirmed_ptr: transaction.prepare(
                    "SELECT ptr_base_domain FROM source_identities \
                     WHERE source_ip = ?1 AND ptr_confirmed = 1",
                )?,
                upsert: transaction.prepare(&format!(
                    "INSERT INTO source_identities \
                       (source_ip, service, service_kind, evidence, evidence_domain, setup) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (source_ip) DO UPDATE SET \
                       service = excluded.service, service_kind = excluded.service_kind, \
                       evidence = excluded.evidence, evidence_domain = excluded.evidence_domain, \
                       setup = excluded.setup \
                     WHERE excluded.service IS NOT NULL AND {} < {}",
                    RANK_SQL.replace("%s", "excluded.evidence"),
                    RANK_SQL.replace("%s", "source_identities.evidence")
                ))?,
                named: transaction.prepare(
                    "SELECT service IS NOT NULL FROM source_identities WHERE source_ip = ?1",
                )?,
            };
            let mut rows = evidence.query([after])?;
            let mut current: Option<(String, SourceEvidence)> = None;
            while let Some(row) = rows.next()? {
                let source_ip: String = row.get(0)?;
                let kind: String = row.get(1)?;
                let domain: String = row.get(2)?;
                if current.as_ref().is_none_or(|(ip, _)| *ip != source_ip) {
                    if let Some((ip, found)) = current.take() {
                        namer.name(&ip, found, &mut tally)?;
                    }
                    current = Some((source_ip, SourceEvidence::default()));
                }
                if let Some((_, found)) = current.as_mut() {
                    match kind.as_str() {
                        "dkim" => found.dkim_pass.push(domain),
                        "spf" => found.spf_pass.push(domain),
                        _ => {}
                    }
                }
            }
            if let Some((ip, found)) = current.take() {
                namer.name(&ip, found, &mut tally)?;
            }
        }
        transaction.execute(
            "INSERT INTO identify_progress (id, last_record) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET last_record = excluded.last_record",
            [max_record],
        )?;
        transaction.commit()?;
        Ok(tally)
    }

    /// The identity of every source IP about which something is known, by IP text (a source
    /// missing from the map is unknown): on a database of many unknown sources the map stays
    /// small, which keeps `sources` and the summary within their memory budget.
    pub fn source_identities(&self) -> Result<HashMap<String, SourceIdentity>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT source_ip, service, service_kind, evidence, ptr, ptr_confirmed, asn, as_org, \
             country, setup FROM source_identities \
             WHERE service IS NOT NULL OR ptr IS NOT NULL OR asn IS NOT NULL \
                OR as_org IS NOT NULL OR country IS NOT NULL",
        )?;
        let mut rows = statement.query([])?;
        let mut identities = HashMap::new();
        while let Some(row) = rows.next()? {
            let identity = SourceIdentity {
                service: row.get(1)?,
                service_kind: row.get(2)?,
                evidence: row.get(3)?,
                ptr: row.get(4)?,
                ptr_confirmed: row.get(5)?,
                asn: row.get(6)?,
                as_org: row.get(7)?,
                country: row.get(8)?,
                setup: row.get(9)?,
            };
            identities.insert(row.get::<_, String>(0)?, identity);
        }
        Ok(identities)
    }
}
