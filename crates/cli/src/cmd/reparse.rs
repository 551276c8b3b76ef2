//! `ruadb reparse`: rebuild every report from the stored raw inputs with this version's
//! parser and the configured `domains`, in one transaction.

use crate::Outcome;
use crate::cmd::ingest;
use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the tally as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// If another ruadb is writing to the database, wait for it (up to an hour).
    #[arg(long)]
    pub wait: bool,
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    context.existing_db_path()?;
    let mut store = ingest::open_store(context, args.wait, None)?;
    let tally = store.reparse()?;
    ingest::print_tally("reparsed", &tally, args.json)?;
    Ok(Outcome::from_failures(tally.errors > 0))
}
