//! `ruadb identify`: name the service behind each sending source from the evidence in its
//! records (passed DKIM signatures, SPF passes) and the service catalogue. `ingest` and
//! `fetch` run the same step after they commit, unless `--no-identify`.

use std::io::Write as _;

use anyhow::Context as _;
use ruadb_identify::Catalogue;
use ruadb_report::escape_for_terminal;
use ruadb_store::{OfflineTally, Store};

use crate::Outcome;
use crate::cmd::ingest;
use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Identify every source again, not only those in records stored since the last run
    /// (after changing `services_file`, for instance).
    #[arg(long)]
    pub refresh: bool,
    /// Print the tally as one JSON object on stdout (keys: sources, new, named).
    #[arg(long)]
    pub json: bool,
    /// If another ruadb is writing to the database, wait for it (up to an hour) instead of
    /// giving up after 5 seconds.
    #[arg(long)]
    pub wait: bool,
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    let catalogue = catalogue(context)?;
    let mut store = ingest::open_store(context, args.wait)?;
    let tally = store
        .identify_from_reports(&catalogue, args.refresh)
        .context("cannot identify the sources")?;
    print_tally(&tally, args.json)?;
    Ok(Outcome::Success)
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
    let result = catalogue(context).and_then(|catalogue| {
        store
            .identify_from_reports(&catalogue, false)
            .context("cannot identify the new sources")
    });
    if let Err(error) = result {
        let line = format!("warning: {error:#}; `ruadb identify` tries again");
        eprintln!("ruadb: {}", escape_for_terminal(&line));
    }
}

fn print_tally(tally: &OfflineTally, json: bool) -> anyhow::Result<()> {
    eprintln!(
        "identify: {} sources ({} new): {} named by a service, {} unknown",
        tally.sources,
        tally.new,
        tally.named,
        tally.sources.saturating_sub(tally.named)
    );
    if json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, tally)?;
        writeln!(stdout)?;
    }
    Ok(())
}
