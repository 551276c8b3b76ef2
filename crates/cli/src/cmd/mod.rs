//! One module per subcommand: `Args` (clap) and `run(&Args, &Context) -> Result<Outcome>`.

pub mod parse;

use crate::Outcome;
use crate::cli::{Cli, Command};
use crate::context::Context;

/// Builds the context (clock, environment, configuration) and runs the subcommand.
pub fn run(cli: &Cli) -> anyhow::Result<Outcome> {
    let context = Context::from_environment(&cli.global)?;
    match &cli.command {
        Command::Parse(args) => parse::run(args, &context),
    }
}
