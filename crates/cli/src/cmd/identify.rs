//! `ruadb identify`: name the service behind each sending source from the evidence in its
//! records (passed DKIM signatures, SPF passes) and the service catalogue, look up each new
//! source's network owner and country in the local IP databases (`ip_database`, offline),
//! then look up the forward-confirmed reverse DNS of the sources not asked recently (unless
//! `dns = false`), within a time budget. `ingest` and `fetch` run the same steps after they
//! commit, unless `--no-identify`.

use std::io::{Read as _, Write as _};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use ruadb_dns::{Resolver, Reverse};
use ruadb_identify::{Catalogue, IpDatabase, IpDatabases, OwnerCache};
use ruadb_report::escape_for_terminal;
use ruadb_store::{Identifier, NetworkLookup, OfflineTally, ReverseDns, Store};
use serde::Serialize;

use crate::Outcome;
use crate::cmd::ingest;
use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Identify every source again, not only those in records stored since the last run
    /// (after changing `services_file`, for instance), look every source up again in the IP
    /// databases, and ask reverse DNS again for every source, however recent its answer.
    #[arg(long)]
    pub refresh: bool,
    /// Print the tally as one JSON object on stdout (keys: sources, new, named, ip_database
    /// when IP databases are configured, and dns unless `dns = false`).
    #[arg(long)]
    pub json: bool,
    /// If another ruadb is writing to the database, wait for it (up to an hour) instead of
    /// giving up after 5 seconds.
    #[arg(long)]
    pub wait: bool,
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    // A bad catalogue or IP database is the one error, before the store says anything.
    let catalogue = catalogue(context)?;
    let databases = ip_databases(context)?;
    let mut store = ingest::open_store(context, args.wait, None)?;
    let tally = identify(&mut store, context, &catalogue, &databases, args.refresh)?;
    print_tally(&tally, args.json)?;
    Ok(Outcome::Success)
}

/// What one run of identification did.
#[derive(Debug, Serialize)]
struct Tally {
    #[serde(flatten)]
    offline: OfflineTally,
    /// IP databases, absent when none is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_database: Option<NetworkTally>,
    /// Reverse DNS, absent with `dns = false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<DnsTally>,
}

/// What one run of reverse DNS did.
#[derive(Debug, Default, Serialize)]
struct DnsTally {
    /// Sources whose answer was recorded.
    looked_up: u64,
    /// Of those, with a forward-confirmed PTR.
    confirmed: u64,
    /// With a PTR that is not forward-confirmed.
    unconfirmed: u64,
    /// Without a PTR.
    no_ptr: u64,
    /// Whose server answered with an error (kept as "no PTR" for the negative cache time).
    failed: u64,
    /// Whose query timed out (asked again next run).
    timed_out: u64,
    /// Not asked within the budget (asked next run).
    pending: u64,
}

/// What one run of the IP database step did.
#[derive(Debug, Default, Serialize)]
struct NetworkTally {
    /// Sources looked up (new ones, those looked up in other files or builds before, or all
    /// with `--refresh`).
    looked_up: u64,
    /// Of those, with an ASN, an AS organisation or a country.
    found: u64,
    /// The files asked, with their build dates.
    databases: String,
}

/// Sources resolved per transaction: a run killed mid-way keeps the pages it finished.
const DNS_PAGE: usize = 256;

/// Sources looked up in the IP databases per transaction.
const IP_DATABASE_PAGE: usize = 1024;

/// The catalogue step, the IP databases (when configured), then reverse DNS unless
/// `dns = false`. A damaged IP database does not keep reverse DNS from its run: its error
/// is returned after it.
fn identify(
    store: &mut Store,
    context: &Context,
    catalogue: &Catalogue,
    databases: &IpDatabases,
    refresh: bool,
) -> anyhow::Result<Tally> {
    // New sources are looked up in the IP databases as they are added; with `refresh`
    // every source is, below.
    let look_up_new = Some(databases).filter(|_| !refresh);
    let mut offline = store
        .identify_from_reports_with(catalogue, look_up_new, refresh)
        .context("cannot identify the sources")?;
    let networks = if databases.is_empty() {
        Ok(None)
    } else {
        network_owners(store, databases, refresh)
            .map(|mut tally| {
                tally.looked_up += offline.ip_looked_up;
                tally.found += offline.ip_found;
                tally
            })
            .map(Some)
    };
    let mut dns = None;
    if context.config.identify.dns {
        dns = Some(reverse_dns(store, context, catalogue, refresh)?);
        offline.named = store
            .named_sources()
            .context("cannot count the named sources")?;
    }
    Ok(Tally {
        offline,
        ip_database: networks?,
        dns,
    })
}

/// Looks up, in the IP databases, every source not yet looked up in these files and builds
/// (every source with `refresh`), a page per transaction.
fn network_owners(
    store: &mut Store,
    databases: &IpDatabases,
    refresh: bool,
) -> anyhow::Result<NetworkTally> {
    let signature = databases.signature();
    let mut tally = NetworkTally {
        databases: signature.to_owned(),
        ..NetworkTally::default()
    };
    let mut after = String::new();
    let mut owners = OwnerCache::default();
    loop {
        let page = store
            .sources_to_look_up(signature, refresh, &after, IP_DATABASE_PAGE)
            .context("cannot read the sources to look up in the IP databases")?;
        let Some(last) = page.last() else {
            return Ok(tally);
        };
        after.clone_from(last);
        let mut lookups = Vec::with_capacity(page.len());
        for source_ip in page {
            // Records hold canonical address text; anything else is recorded as not found,
            // so it is not asked again until the files change.
            let owner = match source_ip.parse::<IpAddr>() {
                Ok(ip) => Arc::unwrap_or_clone(databases.lookup_cached(ip, &mut owners)?),
                Err(_) => ruadb_identify::NetworkOwner::default(),
            };
            tally.looked_up += 1;
            if owner.ip_database.is_some() {
                tally.found += 1;
            }
            lookups.push(NetworkLookup { source_ip, owner });
        }
        store
            .record_network_owners(signature, &lookups)
            .context("cannot record the IP database answers")?;
    }
}

/// The largest IP database file read: the free City databases are around 100 MiB; a path
/// such as /dev/zero must not be read until memory runs out.
const MAX_IP_DATABASE_BYTES: u64 = 512 * 1024 * 1024;

/// `[identify] ip_database`, each file read and checked; the first that cannot be used is
/// one error naming it.
pub fn ip_databases(context: &Context) -> anyhow::Result<IpDatabases> {
    let files = context
        .config
        .identify
        .ip_databases
        .iter()
        .map(|path| read_ip_database(path))
        .collect::<anyhow::Result<_>>()?;
    Ok(IpDatabases::new(files))
}

fn read_ip_database(path: &Path) -> anyhow::Result<IpDatabase> {
    let origin = path.display().to_string();
    let cannot =
        |error: std::io::Error| anyhow::anyhow!("ip_database {origin}: cannot read it: {error}");
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_IP_DATABASE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_IP_DATABASE_BYTES {
        anyhow::bail!(
            "ip_database {origin}: larger than {} MiB, not an IP database",
            MAX_IP_DATABASE_BYTES >> 20
        );
    }
    Ok(IpDatabase::from_bytes(bytes, &origin)?)
}

/// Asks the forward-confirmed reverse DNS of every source whose answer is missing or
/// expired, a page at a time, until done or the budget is spent.
fn reverse_dns(
    store: &mut Store,
    context: &Context,
    catalogue: &Catalogue,
    refresh: bool,
) -> anyhow::Result<DnsTally> {
    let settings = &context.config.identify;
    let resolver = Resolver::new(&settings.resolver)?;
    let deadline = Instant::now() + settings.dns_budget;
    let mut tally = DnsTally::default();
    let mut after = String::new();
    loop {
        let page = store
            .sources_to_resolve(context.now, settings.cache, refresh, &after, DNS_PAGE)
            .context("cannot read the sources to look up")?;
        let Some(last) = page.last() else {
            return Ok(tally);
        };
        after.clone_from(last);
        if Instant::now() >= deadline {
            tally.pending += page.len() as u64;
            continue;
        }
        // Records hold canonical address text; anything else is not asked.
        let ips: Vec<IpAddr> = page.iter().filter_map(|ip| ip.parse().ok()).collect();
        let answers = resolver.reverse_confirmed(&ips, deadline);
        tally.pending += (ips.len() - answers.len()) as u64;
        let mut records = Vec::with_capacity(answers.len());
        for (ip, answer) in answers {
            let (ptr, confirmed) = match answer {
                Reverse::Name { name, confirmed } => {
                    if confirmed {
                        tally.confirmed += 1;
                    } else {
                        tally.unconfirmed += 1;
                    }
                    (Some(name), confirmed)
                }
                Reverse::NoName => {
                    tally.no_ptr += 1;
                    (None, false)
                }
                Reverse::Failed(_) => {
                    tally.failed += 1;
                    (None, false)
                }
                Reverse::TimedOut => {
                    tally.timed_out += 1;
                    continue;
                }
            };
            tally.looked_up += 1;
            records.push(ReverseDns {
                source_ip: ip.to_string(),
                ptr,
                confirmed,
            });
        }
        store
            .record_reverse_dns(catalogue, &records, context.now)
            .context("cannot record reverse DNS answers")?;
    }
}

/// The built-in catalogue merged with `[identify] services_file`, if set.
pub fn catalogue(context: &Context) -> anyhow::Result<Catalogue> {
    let builtin = Catalogue::builtin().context("the built-in service catalogue")?;
    let Some(path) = &context.config.identify.services_file else {
        return Ok(builtin);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read services_file {}", path.display()))?;
    let user = Catalogue::from_toml(&text, &path.display().to_string())?;
    Ok(builtin.merge(user))
}

/// Starts identification alongside an ingest (the catalogue and IP database steps, on a
/// thread of their own, fed with the records as they are stored). `None` when the catalogue
/// or an IP database cannot be loaded: [`after_ingest`] then names the problem and does
/// what it can after the ingest, as it always did.
pub fn alongside(context: &Context) -> Option<Identifier> {
    let catalogue = catalogue(context).ok()?;
    let databases = ip_databases(context).ok()?;
    Identifier::start(catalogue, databases)
}

/// After `ingest` or `fetch` committed: identify the new sources (what `alongside`, if
/// given, has not done already). A failure here is a warning, never a failed ingest: the
/// reports are stored, and the next run tries again. An IP database that cannot be read
/// leaves the other steps to run.
pub fn after_ingest(store: &mut Store, context: &Context, alongside: Option<Identifier>) {
    let warn = |error: &anyhow::Error| {
        let line = format!("warning: {error:#}; `ruadb identify` tries again");
        eprintln!("ruadb: {}", escape_for_terminal(&line));
    };
    if let Some(alongside) = &alongside {
        // What it holds of the last batches; left to the scan below if this fails.
        let _ = store.write_identified(alongside);
    }
    if let Some((catalogue, databases)) = alongside.and_then(Identifier::finish) {
        if let Err(error) = identify(store, context, &catalogue, &databases, false) {
            warn(&error);
        }
        return;
    }
    let databases = ip_databases(context).unwrap_or_else(|error| {
        warn(&error);
        IpDatabases::default()
    });
    let result = catalogue(context)
        .and_then(|catalogue| identify(store, context, &catalogue, &databases, false));
    if let Err(error) = result {
        warn(&error);
    }
}

fn print_tally(tally: &Tally, json: bool) -> anyhow::Result<()> {
    let offline = &tally.offline;
    eprintln!(
        "identify: {} sources ({} new): {} named by a service, {} unknown",
        offline.sources,
        offline.new,
        offline.named,
        offline.sources.saturating_sub(offline.named)
    );
    if let Some(networks) = &tally.ip_database {
        eprintln!(
            "IP database: {} looked up ({} found) in {}",
            networks.looked_up,
            networks.found,
            escape_for_terminal(&networks.databases)
        );
    }
    if let Some(dns) = &tally.dns {
        eprintln!(
            "reverse DNS: {} looked up ({} confirmed, {} not confirmed, {} without PTR, {} failed), {} timed out, {} left for the next run",
            dns.looked_up,
            dns.confirmed,
            dns.unconfirmed,
            dns.no_ptr,
            dns.failed,
            dns.timed_out,
            dns.pending
        );
    }
    if json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, tally)?;
        writeln!(stdout)?;
    }
    Ok(())
}
