//! `ruadb`: the command-line glue over `ruadb-report`, `ruadb-store` and `ruadb-fetch`.
//!
//! # Layout
//! - `cli`: the clap types (the `--help` text lives in their doc comments).
//! - `config`: the TOML file and the resolved settings (database path, domains, limits, IMAP).
//! - `context`: the one place that reads the clock and the environment.
//! - `inputs`: files, directories, mbox, Maildir and stdin turned into named inputs.
//! - `cmd`: one module per subcommand, each with `Args` and `run`.
//! - `progress`: the progress line on a terminal.
//! - `render`: tables, CSV and JSON for query output.

mod cli;
mod cmd;
mod config;
mod context;
mod inputs;
mod progress;
mod render;

use std::process::ExitCode;

use clap::Parser;

/// How a command ended, beyond "it failed" (which is an `Err` and exit status 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked.
    Success,
    /// Some inputs failed; the others were handled.
    PartialFailure,
    /// `summary --alerts`: something to look at (exit status 1).
    Notice,
    /// `summary --alerts`: action needed (exit status 2).
    ActionNeeded,
}

impl Outcome {
    /// `PartialFailure` when `failed`, else `Success`.
    pub fn from_failures(failed: bool) -> Outcome {
        if failed {
            Outcome::PartialFailure
        } else {
            Outcome::Success
        }
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(&cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::PartialFailure | Outcome::Notice) => ExitCode::from(1),
        Ok(Outcome::ActionNeeded) => ExitCode::from(2),
        // A closed pipe (`ruadb parse … | head`) is how the reader says "enough".
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ruadb: {}", escaped_lines(&format!("{error:#}")));
            ExitCode::from(2)
        }
    }
}

/// `text` escaped for the terminal line by line: an error may carry text from outside (a file
/// or member name, a server's reply), and a few (a TOML syntax error) span lines on purpose.
fn escaped_lines(text: &str) -> String {
    text.split('\n')
        .map(ruadb_report::escape_for_terminal)
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
