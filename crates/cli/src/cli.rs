//! The command line: global options and the subcommand list.
//!
//! Adding a subcommand: a variant here, a `mod` line and a match arm in `cmd/mod.rs`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::cmd;

/// Turn DMARC aggregate reports into SQLite and answers.
#[derive(Debug, Parser)]
#[command(name = "ruadb", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Configuration file (TOML). Default: $XDG_CONFIG_HOME/ruadb/config.toml when it exists.
    #[arg(long, global = true, env = "RUADB_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// SQLite database. Default: `db` from the configuration, else
    /// $XDG_DATA_HOME/ruadb/ruadb.sqlite.
    #[arg(long, global = true, env = "RUADB_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the reports found in files without storing anything.
    Parse(cmd::parse::Args),
    /// Store reports from files, directories, mbox files, Maildirs or stdin.
    Ingest(cmd::ingest::Args),
    /// Fetch new report mail from the IMAP mailbox(es) in `[imap]` and store it.
    Fetch(cmd::fetch::Args),
    /// OAuth 2.0 accounts: authorise ruadb once (`login`), show the tokens' state (`status`).
    Auth(cmd::auth::Args),
    /// Run a read-only SQL query against the database.
    Sql(cmd::sql::Args),
    /// Per sending source (IP): volume, DMARC pass and alignment rates, what it signs with.
    Sources(cmd::sources::Args),
    /// Rebuild every stored report from its raw input (after an upgrade).
    Reparse(cmd::reparse::Args),
    /// The summary of a week (default: the last complete ISO week) for a mail from cron.
    Summary(cmd::summary::Args),
    /// Name the service behind each sending source from its DKIM and SPF results.
    Identify(cmd::identify::Args),
    /// Check the DMARC, SPF, DKIM and MX records of your domains live; store and print the
    /// findings, errors first (exit status 1 when there is an error).
    DnsCheck(cmd::dns_check::Args),
}
