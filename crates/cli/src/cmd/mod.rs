//! One module per subcommand: `Args` (clap) and `run(&Args, &Context) -> Result<Outcome>`.

pub mod auth;
pub mod dns_check;
pub mod fetch;
pub mod identify;
pub mod ingest;
pub mod parse;
pub mod reparse;
pub mod sources;
pub mod sql;
pub mod summary;

use crate::Outcome;
use crate::cli::{Cli, Command};
use crate::context::Context;

/// Builds the context (clock, environment, configuration) and runs the subcommand.
pub fn run(cli: &Cli) -> anyhow::Result<Outcome> {
    let context = Context::from_environment(&cli.global)?;
    match &cli.command {
        Command::Parse(args) => parse::run(args, &context),
        Command::Ingest(args) => ingest::run(args, &context),
        Command::Fetch(args) => fetch::run(args, &context),
        Command::Auth(args) => auth::run(args, &context),
        Command::Sql(args) => sql::run(args, &context),
        Command::Sources(args) => sources::run(args, &context),
        Command::Reparse(args) => reparse::run(args, &context),
        Command::Summary(args) => summary::run(args, &context),
        Command::Identify(args) => identify::run(args, &context),
        Command::DnsCheck(args) => dns_check::run(args, &context),
    }
}
