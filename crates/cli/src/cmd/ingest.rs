//! `ruadb ingest`: store the reports in files, directories, mbox files, Maildirs or stdin.
//!
//! Inputs are stored in batches of [`BATCH_INPUTS`] (one transaction each; each input inside
//! it is stored whole or not at all), so a crash loses at most the batch in flight and one bad
//! input never rolls back another. Overlapping runs: a second writer waits up to 5 s for the lock and
//! then stops with a message (exit 2); `--wait` makes it wait up to [`WAIT_TIMEOUT`].

use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use ruadb_report::escape_for_terminal;
use ruadb_store::{
    self as store, Identifier, IngestTally, MessageOutcome, MessageSource, Store, StoreOptions,
};

use crate::Outcome;
use crate::context::Context;
use crate::inputs::{self, Content, Input, InputError, Opened};
use crate::progress::Progress;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories (searched recursively), mbox files, Maildirs; `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print the tally as one JSON object on stdout (keys: messages, reports_new, duplicates,
    /// conflicts, records, tls_reports_new, tls_repeats, errors, rejected).
    #[arg(long)]
    pub json: bool,
    /// If another ruadb is writing to the database, wait for it (up to an hour) instead of
    /// giving up after 5 seconds.
    #[arg(long)]
    pub wait: bool,
    /// Do not name the services of the new sources after storing (`ruadb identify` does it
    /// later).
    #[arg(long)]
    pub no_identify: bool,
    #[command(flatten)]
    pub parsing: ParseThreads,
}

/// How many threads parse inputs while one writes (`ingest`, `fetch`).
#[derive(Debug, clap::Args)]
pub struct ParseThreads {
    /// Threads parsing inputs while one thread writes the database (1 to 8). Default: one per
    /// core. Fewer leave cores to other work; the database written is the same.
    #[arg(long, env = "RUADB_PARSE_THREADS", value_name = "N", value_parser = parse_thread_count)]
    pub parse_threads: Option<NonZeroUsize>,
}

/// `--parse-threads`: a whole number from 1 to [`ruadb_store::MAX_PARSE_THREADS`].
fn parse_thread_count(text: &str) -> Result<NonZeroUsize, String> {
    text.trim()
        .parse::<NonZeroUsize>()
        .ok()
        .filter(|threads| threads.get() <= ruadb_store::MAX_PARSE_THREADS)
        .ok_or_else(|| {
            format!(
                "expected a whole number of threads from 1 to {}",
                ruadb_store::MAX_PARSE_THREADS
            )
        })
}

/// Inputs stored per transaction: large enough to amortise the commit (a typical batch takes
/// about half a second), small enough that a concurrent writer gets a turn within its busy
/// timeout and a crash loses little.
const BATCH_INPUTS: usize = 2000;
/// In-memory input bytes (mbox messages, stdin) collected before a batch is written.
const BATCH_BYTES: usize = 16 * 1024 * 1024;
/// How long `--wait` waits for another writer.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(60 * 60);

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    let mut store = open_store(context, args.wait, args.parsing.parse_threads)?;
    // The bar needs the total up front: a walk that only reads directories and sizes.
    let progress = context
        .progress_on_stderr
        .then(|| Progress::new(inputs::total_bytes(&args.paths)));
    let mut report = Reporter::new(progress);
    // The catalogue and IP database steps run alongside, fed with the records as they are
    // stored; only what they found is written after each commit.
    let identifier = if args.no_identify {
        None
    } else {
        super::identify::alongside(context)
    };
    let mut pending: Vec<Result<Input, InputError>> = Vec::new();
    let mut pending_bytes = 0usize;
    let max_message_bytes = context.config.limits.max_message_bytes;
    let walked = inputs::for_each_input(&args.paths, max_message_bytes, &mut |input| {
        if let Ok(Input {
            content: Content::Bytes(bytes),
            ..
        }) = &input
        {
            pending_bytes += bytes.len();
        }
        pending.push(input);
        if pending.len() >= BATCH_INPUTS || pending_bytes >= BATCH_BYTES {
            pending_bytes = 0;
            store_batch(&mut store, &mut pending, &mut report, identifier.as_ref())?;
        }
        Ok(())
    });
    let result = walked
        .and_then(|()| store_batch(&mut store, &mut pending, &mut report, identifier.as_ref()));
    if !args.no_identify && report.tally.reports_new > 0 {
        super::identify::after_ingest(&mut store, context, identifier);
    }
    report.finish(args.json)?;
    result?;
    Ok(Outcome::from_failures(report.tally.errors > 0))
}

/// The store options of a writing command: domains, limits and the clock from the context;
/// the lock wait from `--wait`, the parser threads from `--parse-threads` (`None`: one per
/// core). Warns once when `domains` is not configured.
pub fn store_options(
    context: &Context,
    wait: bool,
    parse_threads: Option<NonZeroUsize>,
) -> StoreOptions {
    if context.config.domains.is_none() {
        eprintln!(
            "ruadb: warning: `domains` is not set in the configuration, so reports for any policy domain are accepted"
        );
    }
    let mut options = StoreOptions {
        domains: context.config.domains.clone(),
        limits: context.config.limits.clone(),
        now: Some(context.now),
        failure_privacy: context.config.failure_privacy,
        parse_threads,
        ..StoreOptions::default()
    };
    if wait {
        options.busy_timeout = WAIT_TIMEOUT;
    }
    options
}

/// Opens (creating if needed) the database for writing.
pub fn open_store(
    context: &Context,
    wait: bool,
    parse_threads: Option<NonZeroUsize>,
) -> anyhow::Result<Store> {
    let path = context.db_path()?;
    Store::open(path, store_options(context, wait, parse_threads))
        .with_context(|| format!("cannot open database {}", path.display()))
}

/// Stores `pending` in one transaction and empties it, then writes what `identifier` found in
/// it. Database errors are fatal, except in identification (which the next run does again).
///
/// The store parses the next inputs while it writes the current one and hands the outcomes
/// back in input order.
fn store_batch(
    store: &mut Store,
    pending: &mut Vec<Result<Input, InputError>>,
    report: &mut Reporter,
    identifier: Option<&Identifier>,
) -> anyhow::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut batch = store.begin_batch().context("cannot start writing")?;
    let identifier = match identifier {
        Some(identifier) => batch
            .identify_alongside(identifier)
            .is_ok()
            .then_some(identifier),
        None => None,
    };
    // Opened as the store takes them, so that only the inputs it is working on are in memory.
    let inputs = pending.drain(..).map(|input| match input {
        Ok(input) => {
            let source = if input.stdin {
                MessageSource::Stdin
            } else {
                MessageSource::File {
                    path: input.name.clone(),
                }
            };
            let content = match input.open() {
                Ok(Opened::Bytes(bytes)) => store::Input::Bytes(bytes.into_owned()),
                Ok(Opened::Stream(reader)) => store::Input::File(reader.into_inner()),
                Err(error) => store::Input::Unreadable(error),
            };
            ((input.name, input.walked_bytes), source, content)
        }
        Err(InputError {
            name,
            error,
            walked_bytes,
        }) => {
            let source = MessageSource::File { path: name.clone() };
            (
                (name, walked_bytes),
                source,
                store::Input::Unreadable(error),
            )
        }
    });
    let mut tally = IngestTally::default();
    for ((name, walked_bytes), outcome) in batch.ingest(inputs) {
        let outcome = outcome.with_context(|| format!("{name}: cannot store"))?;
        report.input(&name, walked_bytes, &outcome);
        tally.add(&outcome);
    }
    batch.commit().context("cannot commit")?;
    report.committed(&tally);
    if let Some(identifier) = identifier {
        // Not written now, it is found again from the stored records after the ingest.
        let _ = store.record_identified(identifier);
    }
    Ok(())
}

/// Names failed inputs on stderr, shows progress (on a terminal), and prints the final tally.
struct Reporter {
    /// What has been committed.
    tally: IngestTally,
    /// Inputs handled so far, committed or not; `None` when stderr is not a terminal.
    progress: Option<Progress>,
}

impl Reporter {
    fn new(progress: Option<Progress>) -> Reporter {
        Reporter {
            tally: IngestTally::default(),
            progress,
        }
    }

    /// Names what went wrong with one input (`NAME: MEMBER: reason`) and moves the progress
    /// display on by its `walked_bytes`.
    fn input(&mut self, name: &str, walked_bytes: u64, outcome: &MessageOutcome) {
        if !outcome.errors.is_empty() || !outcome.rejected_domains.is_empty() {
            self.clear_progress();
        }
        name_problems(&escape_for_terminal(name), outcome);
        if let Some(progress) = &mut self.progress {
            progress.advance(walked_bytes, outcome.reports_new);
        }
    }

    /// Adds a committed batch to the tally.
    fn committed(&mut self, batch: &IngestTally) {
        self.tally.merge(batch);
    }

    fn clear_progress(&mut self) {
        if let Some(progress) = &mut self.progress {
            progress.clear();
        }
    }

    /// Prints the tally line on stderr and, with `json`, the tally object on stdout.
    fn finish(&mut self, json: bool) -> anyhow::Result<()> {
        self.clear_progress();
        print_tally("ingested", &self.tally, json)
    }
}

/// `VERB N messages: R new reports, D duplicates, C conflicts, K records, E errors` on
/// stderr (with `, F new failure reports` when there were failure reports, and `T new TLS
/// reports, S seen before` before the errors when there were TLS reports); with `json` also
/// the tally as one JSON object on stdout.
pub fn print_tally(verb: &str, tally: &IngestTally, json: bool) -> anyhow::Result<()> {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let tls = if tally.tls_reports_new + tally.tls_repeats > 0 {
        format!(
            "{}, {} seen before, ",
            plural(tally.tls_reports_new, "new TLS report", "new TLS reports"),
            tally.tls_repeats
        )
    } else {
        String::new()
    };
    let failure_reports = if tally.failure_reports_new + tally.failure_duplicates > 0 {
        format!(
            ", {}",
            plural(
                tally.failure_reports_new,
                "new failure report",
                "new failure reports"
            )
        )
    } else {
        String::new()
    };
    eprintln!(
        "{verb} {}: {}, {}, {}, {}{failure_reports}, {tls}{}",
        plural(tally.messages, "message", "messages"),
        plural(tally.reports_new, "new report", "new reports"),
        plural(tally.duplicates, "duplicate", "duplicates"),
        plural(tally.conflicts, "conflict", "conflicts"),
        plural(tally.records, "record", "records"),
        plural(tally.errors, "error", "errors"),
    );
    if json {
        let mut stdout = io::stdout().lock();
        serde_json::to_writer(&mut stdout, tally)?;
        writeln!(stdout).context("cannot write to stdout")?;
    }
    Ok(())
}

/// Writes to stderr, one line each, what went wrong with one input: its failures
/// (`PREFIX: MEMBER: reason`) and its reports refused for a domain not in `domains`. `prefix`
/// names the input and is already escaped; everything from the input is escaped here.
pub(crate) fn name_problems(prefix: &str, outcome: &MessageOutcome) {
    for failure in &outcome.errors {
        let message = escape_for_terminal(&failure.message);
        match failure.member.as_deref().map(escape_for_terminal) {
            Some(member) => eprintln!("{prefix}: {member}: {message}"),
            None => eprintln!("{prefix}: {message}"),
        }
    }
    for domain in &outcome.rejected_domains {
        eprintln!(
            "{prefix}: report for policy domain {} rejected: not listed in `domains`",
            escape_for_terminal(domain)
        );
    }
}
