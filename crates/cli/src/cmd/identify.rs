//! `ruadb identify`: name the service behind each sending source from the evidence in its
//! records (passed DKIM signatures, SPF passes) and the service catalogue, then look up the
//! forward-confirmed reverse DNS of the sources not asked recently (unless `dns = false`),
//! within a time budget. `ingest` and `fetch` run the same steps after they commit, unless
//! `--no-identify`.

use std::io::Write as _;
use std::net::IpAddr;
use std::time::Instant;

use anyhow::Context as _;
use ruadb_dns::{Resolver, Reverse};
use ruadb_identify::Catalogue;
use ruadb_report::escape_for_terminal;
use ruadb_store::{OfflineTally, ReverseDns, Store};
use serde::Serialize;

use crate::Outcome;
use crate::cmd::ingest;
use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Identify every source again, not only those in records stored since the last run
    /// (after changing `services_file`, for instance), and ask reverse DNS again for every
    /// source, however recent its answer.
    #[arg(long)]
    pub refresh: bool,
    /// Print the tally as one JSON object on stdout (keys: sources, new, named, and dns
    /// unless `dns = false`).
    #[arg(long)]
    pub json: bool,
    /// If another ruadb is writing to the database, wait for it (up to an hour) instead of
    /// giving up after 5 seconds.
    #[arg(long)]
    pub wait: bool,
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    // A bad catalogue is the one error, before the store says anything.
    let catalogue = catalogue(context)?;
    let mut store = ingest::open_store(context, args.wait)?;
    let tally = identify(&mut store, context, &catalogue, args.refresh)?;
    print_tally(&tally, args.json)?;
    Ok(Outcome::Success)
}

/// What one run of identification did.
#[derive(Debug, Serialize)]
struct Tally {
    #[serde(flatten)]
    offline: OfflineTally,
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

/// Sources resolved per transaction: a run killed mid-way keeps the pages it finished.
const DNS_PAGE: usize = 256;

/// The catalogue step, then reverse DNS unless `dns = false`.
fn identify(
    store: &mut Store,
    context: &Context,
    catalogue: &Catalogue,
    refresh: bool,
) -> anyhow::Result<Tally> {
    let mut offline = store
        .identify_from_reports(catalogue, refresh)
        .context("cannot identify the sources")?;
    let mut tally = Tally { offline, dns: None };
    if context.config.identify.dns {
        let dns = reverse_dns(store, context, catalogue, refresh)?;
        offline.named = store
            .named_sources()
            .context("cannot count the named sources")?;
        tally = Tally {
            offline,
            dns: Some(dns),
        };
    }
    Ok(tally)
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

/// After `ingest` or `fetch` committed: identify the new sources. A failure here is a
/// warning, never a failed ingest: the reports are stored, and the next run tries again.
pub fn after_ingest(store: &mut Store, context: &Context) {
    let result =
        catalogue(context).and_then(|catalogue| identify(store, context, &catalogue, false));
    if let Err(error) = result {
        let line = format!("warning: {error:#}; `ruadb identify` tries again");
        eprintln!("ruadb: {}", escape_for_terminal(&line));
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
