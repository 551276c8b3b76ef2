//! Source identification alongside an ingest ([`Identifier`]): the batch thread hands each
//! stored record over once it is written, and an identification thread names the services
//! (from passed DKIM signatures and SPF passes, with the catalogue) and looks up the network
//! owners (with the IP databases) of the sources it has not met in the batch, while the batch
//! thread writes on. What it found for a batch is written after the batch commits, in a
//! transaction of its own: never inside the ingest's, and a failure there never fails the
//! ingest. [`Store::record_identified`] takes it after each commit and holds it, so that the
//! findings of consecutive batches, up to [`HELD_SOURCES`] sources, are written together
//! (each page of `source_identities` once rather than once a batch);
//! [`Store::write_identified`] writes what is held at the end.
//!
//! It covers the records of a batch only if identification was up to date when the batch
//! began and every report the batch started was stored whole; otherwise it writes nothing and
//! `identify_progress` stays where it was, so the scan of the stored records
//! ([`Store::identify_from_reports`]) does that batch's records as before. Either way the
//! table ends the same.

use super::rows::{MultiRowInsert, PendingRecord};
use crate::identity::name_sql;
use crate::sql_value::ReportEnum;
use crate::{Store, StoreError};
use foldhash::HashMap;
use foldhash::HashMapExt as _;
use ruadb_identify::{Catalogue, Evidence, IpDatabases, NetworkOwner, OwnerCache, Service};
use rusqlite::{Connection, OptionalExtension, named_params};
use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Messages from the batch thread, in the order it stores.
pub(super) enum Fed {
    /// A batch began; identification had reached record `before` (its greatest id then).
    /// `previous_written`: what was found for the batch before was written.
    Begin { before: i64, previous_written: bool },
    /// Records stored (written; their report may still fail).
    Records(Vec<PendingRecord>),
    /// A report or an input whose records were handed over was taken back: this batch is
    /// left to the scan of the stored records.
    Undone,
    /// The batch committed; its records end at id `last`.
    Committed { last: i64 },
}

/// Handed-over messages waiting for the identification thread: enough to ride out its
/// pauses, few enough that the records they hold stay a few megabytes.
const FED_DEPTH: usize = 4;

/// Records per message: a message per report cost the thread a wake-up each.
const HANDOVER_RECORDS: usize = 256;

/// The batch thread's end of the channel: written records gathered into messages of
/// [`HANDOVER_RECORDS`].
pub(super) struct Handover {
    fed: SyncSender<Fed>,
    records: Vec<PendingRecord>,
}

impl Handover {
    /// Takes the records written (leaving `records` empty); a thread that is gone leaves
    /// its batches to the scan of the stored records.
    pub(super) fn hand(&mut self, records: &mut Vec<PendingRecord>) {
        self.records.append(records);
        if self.records.len() >= HANDOVER_RECORDS {
            self.send();
        }
    }

    fn send(&mut self) {
        if !self.records.is_empty() {
            let records =
                std::mem::replace(&mut self.records, Vec::with_capacity(HANDOVER_RECORDS));
            let _ = self.fed.send(Fed::Records(records));
        }
    }

    /// Records handed over were taken back (a report failed, a savepoint was rolled back).
    pub(super) fn undone(&mut self) {
        self.records.clear();
        let _ = self.fed.send(Fed::Undone);
    }

    /// The batch committed with its records ending at id `last`.
    pub(super) fn committed(&mut self, last: i64) {
        self.send();
        let _ = self.fed.send(Fed::Committed { last });
    }
}

/// Distinct sources held for one batch before the thread gives the batch up (it is then
/// scanned from the stored records, as a whole): a few megabytes.
const MAX_BATCH_SOURCES: usize = 16_384;

/// Sources the thread remembers as written by the batches before (with the strongest
/// evidence written for each), so that a source met again is neither looked up nor written
/// again unless it has stronger evidence: a few megabytes at most.
const KNOWN_SOURCES: usize = 16_384;

/// Sources found by consecutive batches that [`Store::record_identified`] holds before it
/// writes them. Holding more buys little: at 65,536 the 10,000-report bench corpus is written
/// at once, which saved 0.7% of the writer's instructions, and a 200,000-report ingest with
/// two IP databases peaked at 54.4 MiB instead of 47.9.
const HELD_SOURCES: usize = 8_192;

/// Identification run alongside an ingest: see the module documentation. Dropping it ends
/// its thread; what it holds unwritten is then left to the scan of the stored records.
pub struct Identifier {
    fed: Option<SyncSender<Fed>>,
    found: Receiver<Option<Found>>,
    thread: Option<JoinHandle<(Catalogue, IpDatabases)>>,
    /// Whether [`Store::record_identified`] took what was found for the last batch (to be
    /// written with what it holds).
    written: Cell<bool>,
    /// What was found for consecutive batches and is not written yet, oldest first.
    held: RefCell<Vec<Found>>,
}

/// What the thread found for one committed batch.
struct Found {
    before: i64,
    last: i64,
    /// The databases' signature, `None` when no file is configured.
    signature: Option<String>,
    /// The batch's sources in key order.
    sources: Vec<(String, FoundSource)>,
}

/// One source of a batch.
#[derive(Default)]
struct FoundSource {
    /// Not written by the batches before: its row is added if missing.
    new: bool,
    /// For a source written before, the strongest evidence written for it then.
    written: Option<Evidence>,
    /// The IP databases' answer; `None` without databases or when a file failed (the IP
    /// database step then asks again and reports the error). Shared: many sources have the
    /// same owner and country.
    owner: Option<Arc<NetworkOwner>>,
    /// The strongest evidence met first, as the scan of the stored records would find it.
    /// Boxed: few sources are named, and every source of a batch is held.
    name: Option<Box<Named>>,
}

/// A service named for a source, as `source_identities` stores it.
struct Named {
    evidence: Evidence,
    service: String,
    service_kind: &'static str,
    setup: String,
    domain: String,
}

impl Identifier {
    /// Starts the identification thread with the catalogue and the IP databases (handed
    /// back by [`Identifier::finish`]). `None` if the system refuses a thread: the scan of
    /// the stored records then does everything, as without it.
    pub fn start(catalogue: Catalogue, databases: IpDatabases) -> Option<Identifier> {
        let (fed, fed_queue) = sync_channel::<Fed>(FED_DEPTH);
        let (found_sender, found) = sync_channel::<Option<Found>>(1);
        let thread = std::thread::Builder::new()
            .name("ruadb-identify".to_owned())
            .spawn(move || {
                identify_fed(&catalogue, &databases, &fed_queue, &found_sender);
                (catalogue, databases)
            })
            .ok()?;
        Some(Identifier {
            fed: Some(fed),
            found,
            thread: Some(thread),
            written: Cell::new(false),
            held: RefCell::new(Vec::new()),
        })
    }

    /// The hand-over of a batch that begins with identification at record `before`:
    /// `None` if the thread is gone.
    pub(super) fn begin(&self, before: i64) -> Option<Handover> {
        let previous_written = self.written.replace(false);
        let fed = self.fed.clone()?;
        fed.send(Fed::Begin {
            before,
            previous_written,
        })
        .ok()?;
        Some(Handover {
            fed,
            records: Vec::with_capacity(HANDOVER_RECORDS),
        })
    }

    /// Ends the thread; the catalogue and the IP databases it was given (`None` if it
    /// stopped abnormally).
    pub fn finish(mut self) -> Option<(Catalogue, IpDatabases)> {
        self.fed = None;
        self.thread.take()?.join().ok()
    }
}

impl Drop for Identifier {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        self.fed = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread: one batch at a time, from `Begin` to `Committed`.
fn identify_fed(
    catalogue: &Catalogue,
    databases: &IpDatabases,
    fed: &Receiver<Fed>,
    found: &SyncSender<Option<Found>>,
) {
    let databases = Some(databases).filter(|databases| !databases.is_empty());
    // Kept from batch to batch: sources of the same networks, in every batch.
    let mut owners = OwnerCache::default();
    let mut domains = DomainServices {
        catalogue,
        dkim: HashMap::new(),
        spf: HashMap::new(),
    };
    let mut batch: Option<BatchSources> = None;
    // Sources written by the batches before, and those of the last batch until it is known
    // to be written.
    let mut known: HashMap<IpAddr, Option<Evidence>> = HashMap::new();
    let mut provisional: Vec<(IpAddr, Option<Evidence>)> = Vec::new();
    while let Ok(message) = fed.recv() {
        match message {
            Fed::Begin {
                before,
                previous_written,
            } => {
                if previous_written {
                    if known.len() + provisional.len() > KNOWN_SOURCES {
                        known.clear();
                    }
                    known.extend(provisional.drain(..));
                } else {
                    provisional.clear();
                }
                batch = Some(BatchSources {
                    before,
                    sources: HashMap::new(),
                });
            }
            Fed::Records(records) => {
                let Some(sources) = &mut batch else {
                    continue;
                };
                for pending in &records {
                    sources.add(
                        &pending.record,
                        databases,
                        &mut owners,
                        &mut domains,
                        &known,
                    );
                }
                if sources.sources.len() > MAX_BATCH_SOURCES {
                    batch = None;
                }
            }
            Fed::Undone => batch = None,
            Fed::Committed { last } => {
                let result = batch
                    .take()
                    .map(|batch| batch.finish(last, databases, &mut provisional));
                if found.send(result).is_err() {
                    return;
                }
            }
        }
    }
}

/// The catalogue's answer per domain, for DKIM and for SPF, so a domain seen in thousands
/// of records is matched once.
struct DomainServices<'c> {
    catalogue: &'c Catalogue,
    dkim: HashMap<Box<str>, Option<&'c Service>>,
    spf: HashMap<Box<str>, Option<&'c Service>>,
}

/// Domains remembered before [`DomainServices`] starts over: reports name few, a hostile
/// batch millions.
const DOMAIN_MEMORY: usize = 4096;

impl<'c> DomainServices<'c> {
    fn service_for(&mut self, evidence: Evidence, domain: &str) -> Option<&'c Service> {
        let known = match evidence {
            Evidence::Dkim => &mut self.dkim,
            _ => &mut self.spf,
        };
        if let Some(&service) = known.get(domain) {
            return service;
        }
        let service = self.catalogue.service_for(evidence, domain);
        if known.len() >= DOMAIN_MEMORY {
            known.clear();
        }
        known.insert(domain.into(), service);
        service
    }
}

/// The sources of the batch being stored.
struct BatchSources {
    before: i64,
    sources: HashMap<IpAddr, FoundSource>,
}

impl BatchSources {
    /// Adds one stored record: its source, and what names it (the first passed DKIM
    /// signature of a catalogue domain, else the first SPF pass of one, in storing order).
    fn add(
        &mut self,
        record: &ruadb_report::Record,
        databases: Option<&IpDatabases>,
        owners: &mut OwnerCache,
        domains: &mut DomainServices<'_>,
        known: &HashMap<IpAddr, Option<Evidence>>,
    ) {
        let source = self.sources.entry(record.source_ip).or_insert_with(|| {
            match known.get(&record.source_ip) {
                Some(&written) => FoundSource {
                    written,
                    ..FoundSource::default()
                },
                None => FoundSource {
                    new: true,
                    owner: databases.and_then(|databases| {
                        databases.lookup_cached(record.source_ip, owners).ok()
                    }),
                    ..FoundSource::default()
                },
            }
        });
        if source.strongest() == Some(Evidence::Dkim) {
            return;
        }
        let dkim = record
            .dkim_results
            .iter()
            .filter(|dkim| dkim.result.as_sql() == "pass")
            .map(|dkim| (Evidence::Dkim, dkim.domain.as_str()));
        let spf = record
            .spf_results
            .iter()
            .filter(|spf| {
                spf.result.as_sql() == "pass"
                    && spf
                        .scope
                        .as_ref()
                        .is_none_or(|scope| scope.as_sql() == "mfrom")
            })
            .map(|spf| (Evidence::Spf, spf.domain.as_str()));
        for (evidence, domain) in dkim.chain(spf) {
            if source
                .strongest()
                .is_some_and(|strongest| strongest <= evidence)
            {
                break;
            }
            if let Some(service) = domains.service_for(evidence, domain) {
                source.name = Some(Box::new(Named {
                    evidence,
                    service: service.name.clone(),
                    service_kind: service.kind.as_str(),
                    setup: service.setup.clone(),
                    domain: domain.to_owned(),
                }));
                break;
            }
        }
    }

    /// What is to be written for the batch: its new sources and those with stronger
    /// evidence than written before, also remembered in `provisional`.
    fn finish(
        self,
        last: i64,
        databases: Option<&IpDatabases>,
        provisional: &mut Vec<(IpAddr, Option<Evidence>)>,
    ) -> Found {
        let included: Vec<(IpAddr, FoundSource)> = self
            .sources
            .into_iter()
            .filter(|(_, source)| {
                source.new
                    || source.name.as_ref().is_some_and(|named| {
                        source
                            .written
                            .is_none_or(|written| named.evidence < written)
                    })
            })
            .collect();
        provisional.clear();
        provisional.extend(
            included
                .iter()
                .map(|(source_ip, source)| (*source_ip, source.strongest())),
        );
        // The text `records.source_ip` holds.
        let mut sources: Vec<(String, FoundSource)> = included
            .into_iter()
            .map(|(source_ip, source)| (source_ip.to_string(), source))
            .collect();
        // Key order: the table's B-tree is appended to rather than split at random.
        sources.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        Found {
            before: self.before,
            last,
            signature: databases.map(|databases| databases.signature().to_owned()),
            sources,
        }
    }
}

impl FoundSource {
    /// The strongest evidence written before or found in this batch.
    fn strongest(&self) -> Option<Evidence> {
        let found = self.name.as_ref().map(|named| named.evidence);
        match (found, self.written) {
            (Some(found), Some(written)) => Some(found.min(written)),
            (found, written) => found.or(written),
        }
    }
}

/// The greatest record id.
pub(super) fn last_record(connection: &Connection) -> Result<i64, StoreError> {
    Ok(connection
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM records")?
        .query_row([], |row| row.get(0))?)
}

/// The `source_identities` rows of new sources.
static NEW_SOURCES: MultiRowInsert = MultiRowInsert::or_ignore("source_identities");

impl Store {
    /// Takes what `identifier` found for the batch just committed (waiting for the thread to
    /// finish it) and holds it with what it found for the batches before, which it writes
    /// first if this batch does not follow them or would make too many to hold. A batch
    /// identification did not cover (begun while it lagged, or a report taken back) has
    /// nothing to hold: what is held is written then, and that batch is left to the scan of
    /// the stored records. [`Store::write_identified`] writes what is held at the end.
    pub fn record_identified(&mut self, identifier: &Identifier) -> Result<(), StoreError> {
        let Ok(Some(found)) = identifier.found.recv() else {
            return self.write_identified(identifier);
        };
        let follows = {
            let held = identifier.held.borrow();
            let sources: usize = held.iter().map(|found| found.sources.len()).sum();
            held.last().is_none_or(|last| {
                last.last == found.before
                    && last.signature == found.signature
                    && sources + found.sources.len() <= HELD_SOURCES
            })
        };
        if !follows {
            self.write_identified(identifier)?;
        }
        identifier.held.borrow_mut().push(found);
        identifier.written.set(true);
        Ok(())
    }

    /// Writes what [`Store::record_identified`] holds, in a transaction of its own, if
    /// identification was up to date when the first of its batches began (otherwise the scan
    /// of the stored records does them).
    pub fn write_identified(&mut self, identifier: &Identifier) -> Result<(), StoreError> {
        let held = std::mem::take(&mut *identifier.held.borrow_mut());
        let (Some(first), Some(last)) = (held.first(), held.last()) else {
            return Ok(());
        };
        let transaction = self.connection.transaction()?;
        let progress: i64 = transaction
            .query_row(
                "SELECT last_record FROM identify_progress WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if progress != first.before {
            return Ok(());
        }
        // Every source of every batch in key order; for a source met in several batches,
        // in batch order, so that it ends as if each batch had been written in turn.
        let mut sources: Vec<(&str, &FoundSource, Option<&str>)> = held
            .iter()
            .flat_map(|found| {
                found.sources.iter().map(|(source_ip, source)| {
                    (source_ip.as_str(), source, found.signature.as_deref())
                })
            })
            .collect();
        sources.sort_by_key(|(source_ip, ..)| *source_ip);
        let new: Vec<_> = sources.iter().filter(|(_, source, _)| source.new).collect();
        NEW_SOURCES.insert(
            &transaction,
            &new,
            &mut |(source_ip, source, signature), bind| {
                let owner = source.owner.as_deref();
                bind(&[
                    ("source_ip", source_ip),
                    ("asn", &owner.and_then(|owner| owner.asn)),
                    ("as_org", &owner.and_then(|owner| owner.as_org.as_deref())),
                    ("country", &owner.and_then(|owner| owner.country.as_deref())),
                    (
                        "ip_database",
                        &owner.and_then(|owner| owner.ip_database.as_deref()),
                    ),
                    ("ip_lookup", &owner.and(*signature)),
                ])
            },
        )?;
        {
            let mut name = transaction.prepare_cached(&name_sql())?;
            for (source_ip, source, _) in &sources {
                if let Some(named) = &source.name {
                    name.execute(named_params![
                        ":source_ip": source_ip,
                        ":service": named.service,
                        ":service_kind": named.service_kind,
                        ":evidence": named.evidence.as_str(),
                        ":evidence_domain": named.domain,
                        ":setup": named.setup,
                    ])?;
                }
            }
        }
        transaction.execute(
            "INSERT INTO identify_progress (id, last_record) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET last_record = excluded.last_record",
            [last.last],
        )?;
        transaction.commit()?;
        Ok(())
    }
}
