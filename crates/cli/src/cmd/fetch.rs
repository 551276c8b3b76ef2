//! `ruadb fetch`: poll the `rua=` mailbox(es) from `[imap]` and store what arrived.
//!
//! Safe to run from cron every few minutes for years:
//! - one run at a time (a lock file next to the database; a second run exits cleanly or, with
//!   `--wait`, waits);
//! - messages are read with `BODY.PEEK[]` in batches of `batch_size`, fetched and committed in
//!   groups of at most 4 MiB (`ruadb_fetch::plan_groups`; mail announced over
//!   `limits.max_message_mib` is never fetched, mail that turns out larger is dropped as it
//!   arrives), and the cursor (UIDVALIDITY + last UID) advances in the same transaction as the
//!   data;
//! - the post-ingest action (seen / move / delete) runs only after that transaction commits,
//!   so a crash or a lost connection never loses a report; at worst a message is fetched again
//!   and recognised as already stored (sha256), never counted twice.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};

use ruadb_fetch::{Cursor, FetchError, Group, Resume, Session, TlsMode};
use ruadb_report::escape_for_terminal;
use ruadb_store::{ImapCursor, IngestTally, MessageOutcome, MessageSource, Store};

use crate::Outcome;
use crate::cmd::ingest;
use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fetch and parse, but store nothing and change nothing on the server.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the tally as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// If another `ruadb fetch` is running, wait for it instead of exiting.
    #[arg(long)]
    pub wait: bool,
    /// Do not name the services of the new sources after storing (`ruadb identify` does it
    /// later).
    #[arg(long)]
    pub no_identify: bool,
    #[command(flatten)]
    pub parsing: ingest::ParseThreads,
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    let accounts = &context.config.imap;
    if accounts.is_empty() {
        bail!(
            "no [imap] section in the configuration; `ruadb fetch` needs host, username and a password source"
        );
    }
    let db_path = context.db_path()?;
    // A dry run changes nothing in the database, so it needs no lock, unless it may refresh
    // an OAuth 2.0 token: that rewrites the token file, and a rotated refresh token must not
    // be lost to a concurrent run. Held (not just bound) until the run ends.
    let _lock = if args.dry_run && !accounts.iter().any(uses_token_file) {
        None
    } else {
        let allowed = allowed_lock_secs(accounts);
        match acquire_lock(db_path, args.wait, context.now, allowed)? {
            Lock::Held(file) => Some(file),
            Lock::Busy { path, holder } => return busy(&path, holder, allowed, context.now),
        }
    };
    let mut store = open_store(db_path, context, args)?;

    let mut run = Run {
        tally: IngestTally::default(),
        dry_run: args.dry_run,
    };
    // One failing account must not keep cron from polling the others: each failure is named
    // as it happens and the run ends with status 2.
    let mut result = Ok(());
    let mut failed = 0;
    for account in accounts {
        if let Err(error) = run.account(account, &mut store, context) {
            if accounts.len() == 1 {
                result = Err(error);
            } else {
                let line = format!("{}@{}: {error:#}", account.username, account.host);
                eprintln!("ruadb: {}", escape_for_terminal(&line));
                failed += 1;
            }
        }
    }
    if failed > 0 {
        result = Err(anyhow!(
            "{failed} of {} IMAP accounts failed",
            accounts.len()
        ));
    }
    // A run that failed before touching any message says so in one line, without a tally.
    if result.is_err() && run.tally.messages == 0 && accounts.len() == 1 {
        return result.map(|()| Outcome::Success);
    }
    if !args.dry_run && !args.no_identify && run.tally.reports_new > 0 {
        super::identify::after_ingest(&mut store, context, None);
    }
    let verb = if args.dry_run {
        "fetched (dry run, nothing stored)"
    } else {
        "fetched"
    };
    ingest::print_tally(verb, &run.tally, args.json)?;
    result?;
    Ok(Outcome::from_failures(run.tally.errors > 0))
}

/// Whether the account obtains its tokens with the built-in OAuth 2.0 client, which keeps them
/// in the token file.
pub(crate) fn uses_token_file(account: &ruadb_fetch::Config) -> bool {
    account.auth.is_oauth() && account.oauth2.is_some()
}

struct Run {
    tally: IngestTally,
    dry_run: bool,
}

impl Run {
    fn account(
        &mut self,
        account: &ruadb_fetch::Config,
        store: &mut Store,
        context: &Context,
    ) -> anyhow::Result<()> {
        let mut config = account.clone();
        for warning in config.resolve_password(&context.imap_password)? {
            eprintln!("ruadb: warning: {}", escape_for_terminal(&warning));
        }
        config.max_message_bytes = context.config.limits.max_message_bytes;
        let mailbox = account.mailbox.as_str();
        if account.tls == TlsMode::None {
            eprintln!(
                "ruadb: warning: {}@{} uses tls = \"none\": the password and the reports cross the network unencrypted",
                account.username, account.host
            );
        }
        // The built-in OAuth 2.0 client; the fetch lock is held, so no other run refreshes.
        let token_source = match &config.oauth2 {
            Some(settings) if config.auth.is_oauth() => Some(ruadb_oauth::TokenSource::new(
                settings,
                config.ca_file.as_deref(),
                config.timeout,
                ruadb_oauth::token_file_for(context.db_path()?),
                config.account(),
            )?),
            _ => None,
        };
        // The clock is read again: an earlier account may have taken most of an hour.
        if let Some(source) = &token_source {
            config.password = source.access_token(Context::clock(), false)?;
        }
        let mut session = match Session::connect(&config) {
            // An access token can expire (or be revoked) between being issued and being used:
            // one fresh token, one more try.
            Err(FetchError::Auth { .. }) if config.auth.is_oauth() => {
                match &token_source {
                    Some(source) => {
                        config.password = source.access_token(Context::clock(), true)?
                    }
                    None => config.resolve_token()?,
                }
                Session::connect(&config)?
            }
            connected => connected?,
        };
        let state = session.select(mailbox)?;
        let key = config.account();
        let cursor = store.imap_cursor(&key, mailbox)?.map(|cursor| Cursor {
            uidvalidity: cursor.uidvalidity,
            last_uid: cursor.last_uid,
        });
        let resume = Resume::new(account.after_ingest, cursor, state.uidvalidity);
        if let Some((stored, now)) = resume.renumbered {
            eprintln!(
                "ruadb: {} on {}: UIDVALIDITY changed ({stored} -> {now}); rescanning, messages already stored are recognised and not counted again",
                escape_for_terminal(mailbox),
                escape_for_terminal(&account.host)
            );
        }
        let (with_report, without_report) = config.post_actions();
        let uids = ruadb_fetch::pending_uids(&mut session, account.after_ingest, &resume)
            .map_err(|error| interrupted(error.into(), self.dry_run))?;
        let place = Place {
            key: &key,
            mailbox,
            uidvalidity: state.uidvalidity,
            resume_after: resume.resume_after,
        };
        for chunk in uids.chunks(config.batch_size.max(1)) {
            let sizes = session
                .sizes(chunk)
                .map_err(|error| interrupted(error.into(), self.dry_run))?;
            let limit = context.config.limits.max_message_bytes;
            for group in ruadb_fetch::plan_groups(chunk, &sizes, limit) {
                let step = self.batch(&mut session, store, &group, &place);
                let (stored, no_report) = step.map_err(|error| interrupted(error, self.dry_run))?;
                if self.dry_run {
                    continue;
                }
                session
                    .apply(&with_report, &stored)
                    .and_then(|()| session.apply(&without_report, &no_report))
                    .map_err(|error| {
                        anyhow!(
                            "{error}; the messages are stored, their post-ingest action ({}) is retried on the next run",
                            config.after_ingest
                        )
                    })?;
            }
        }
        // Logging out is a courtesy; everything that matters is committed.
        let _ = session.logout();
        Ok(())
    }

    /// Fetches one group and stores it in one transaction with the cursor; returns the UIDs
    /// whose message held a report and those that did not.
    fn batch(
        &mut self,
        session: &mut Session,
        store: &mut Store,
        group: &Group,
        place: &Place<'_>,
    ) -> anyhow::Result<(Vec<u32>, Vec<u32>)> {
        // Fetched before the transaction starts, so the database is not held during network I/O.
        let fetched = session.fetch(&group.fetch)?;
        let mut batch = store.begin_batch()?;
        let mut with_report = Vec::new();
        let mut without_report = Vec::new();
        // Stored straight from the reply buffer: each body is in memory once.
        for message in fetched.messages() {
            let source = MessageSource::Imap {
                account: place.key.to_owned(),
                mailbox: place.mailbox.to_owned(),
                uidvalidity: place.uidvalidity,
                uid: message.uid,
            };
            let outcome = batch.ingest_bytes(message.bytes, &source)?;
            self.tally.add(&outcome);
            Self::name_failures(place.mailbox, message.uid, &outcome);
            if outcome.has_report() {
                with_report.push(message.uid);
            } else {
                without_report.push(message.uid);
            }
        }
        // Oversized mail counts as a failed message and is set aside like mail without a
        // report, whether its announced size or the bytes that arrived gave it away.
        let announced = group.oversized.iter().map(|&(uid, size)| {
            (uid, format!("{size} bytes is over the message size limit (limits.max_message_mib); not fetched"))
        });
        let received = fetched.oversized.iter().map(|&(uid, size)| {
            (uid, format!("the server sent {size} bytes, over the message size limit (limits.max_message_mib) or more than it announced; not stored"))
        });
        for (uid, reason) in announced.chain(received) {
            self.tally.messages += 1;
            self.tally.errors += 1;
            eprintln!(
                "ruadb: {} uid {uid}: {reason}",
                escape_for_terminal(place.mailbox)
            );
            without_report.push(uid);
        }
        // UIDs missing from the answer were expunged meanwhile: nothing to store for them.
        batch.set_imap_cursor(
            place.key,
            place.mailbox,
            ImapCursor {
                uidvalidity: place.uidvalidity,
                last_uid: group.last_uid.max(place.resume_after),
            },
        )?;
        if self.dry_run {
            // Dropping the batch rolls it back.
            drop(batch);
        } else {
            batch.commit()?;
        }
        Ok((with_report, without_report))
    }

    fn name_failures(mailbox: &str, uid: u32, outcome: &MessageOutcome) {
        let mailbox = escape_for_terminal(mailbox);
        ingest::name_problems(&format!("ruadb: {mailbox} uid {uid}"), outcome);
    }
}

/// Where a batch comes from and where the cursor stood.
struct Place<'a> {
    key: &'a str,
    mailbox: &'a str,
    uidvalidity: u32,
    resume_after: u32,
}

/// The message for a run cut short by the connection: what is committed stays, and the next
/// run resumes after it.
fn interrupted(error: anyhow::Error, dry_run: bool) -> anyhow::Error {
    let connection_lost = error
        .downcast_ref::<FetchError>()
        .is_some_and(FetchError::is_connection_failure);
    if connection_lost && !dry_run {
        anyhow!("{error}; the batches stored before stay stored and the next run resumes there")
    } else {
        error
    }
}

/// A dry run on an existing database stores into it and rolls back (so duplicates are
/// recognised); without a database it uses a throwaway in-memory one rather than create a file.
fn open_store(db_path: &Path, context: &Context, args: &Args) -> anyhow::Result<Store> {
    let options = ingest::store_options(context, args.wait, args.parsing.parse_threads);
    let store = if args.dry_run && !db_path.exists() {
        Store::open_in_memory(options)
    } else {
        Store::open(db_path, options)
    };
    store.with_context(|| format!("cannot open database {}", db_path.display()))
}

/// The lock file, or who holds it.
pub(crate) enum Lock {
    /// Ours until dropped.
    Held(File),
    /// Another run holds it; what it wrote when it took the lock, if readable.
    Busy {
        path: PathBuf,
        holder: Option<Holder>,
    },
}

/// The run holding the lock: its pid, which it writes into the lock file once it holds it,
/// and when it took the lock, which is when it wrote that (the file's modification time, set by
/// the kernel: right even for a run that waited for the lock first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Holder {
    pid: u32,
    /// Unix seconds.
    started: i64,
}

impl Holder {
    fn note(pid: u32) -> String {
        format!("pid {pid}\n")
    }

    fn pid_from_note(text: &str) -> Option<u32> {
        let mut words = text.split_whitespace();
        match (words.next(), words.next()) {
            (Some("pid"), Some(pid)) => pid.parse().ok(),
            _ => None,
        }
    }

    /// The holder of the lock `file`, if its note is readable.
    fn read(file: &File) -> Option<Holder> {
        let mut text = String::new();
        file.take(128).read_to_string(&mut text).ok()?;
        let modified = file.metadata().ok()?.modified().ok()?;
        let started = modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        Some(Holder {
            pid: Holder::pid_from_note(&text)?,
            started: i64::try_from(started).ok()?,
        })
    }

    /// Whether it has held the lock for longer than `allowed` seconds.
    fn stuck(self, now: i64, allowed: u64) -> Option<u64> {
        let held = u64::try_from(now.saturating_sub(self.started)).unwrap_or(0);
        (held > allowed).then_some(held)
    }
}

/// How long a run may hold the lock: each account's run is bounded by its run deadline; a
/// minute is allowed for the rest.
pub(crate) fn allowed_lock_secs(accounts: &[ruadb_fetch::Config]) -> u64 {
    accounts
        .iter()
        .map(|account| account.run_deadline.as_secs())
        .fold(60, u64::saturating_add)
}

/// A second run while another holds the lock: nothing to do, unless the other has held it for
/// longer than its deadlines allow, which means it is stuck and fetching has stopped; that
/// must not go unnoticed (exit 2).
fn busy(path: &Path, holder: Option<Holder>, allowed: u64, now: i64) -> anyhow::Result<Outcome> {
    if let Some((holder, held)) =
        holder.and_then(|holder| Some((holder, holder.stuck(now, allowed)?)))
    {
        bail!(
            "an earlier `ruadb fetch` (pid {}) has held {} for {held} s, longer than its deadline allows ({allowed} s: run_deadline_secs of every account, plus 60 s); it may be stuck, and nothing is fetched until it ends",
            holder.pid,
            path.display()
        );
    }
    eprintln!(
        "ruadb: another `ruadb fetch` is running ({}); nothing to do (use --wait to wait for it)",
        path.display()
    );
    Ok(Outcome::Success)
}

/// An exclusive lock on `<database>.fetch.lock`, held until the returned file is dropped
/// (also when the process dies: the kernel releases it). The holder writes its pid into it, so
/// that a later run can tell a stuck run from a busy one. With `wait`, a run waits for a busy
/// holder but not for one that has held the lock longer than `allowed` seconds (it may never
/// let go, and cron must not pile up waiting runs behind it).
pub(crate) fn acquire_lock(
    db_path: &Path,
    wait: bool,
    now: i64,
    allowed: u64,
) -> anyhow::Result<Lock> {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".fetch.lock");
    let path = PathBuf::from(name);
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = Holder::read(&file);
            let stuck = holder.and_then(|holder| holder.stuck(now, allowed));
            if !wait || stuck.is_some() {
                return Ok(Lock::Busy { path, holder });
            }
            file.lock()
                .with_context(|| format!("cannot lock {}", path.display()))?;
        }
        Err(TryLockError::Error(error)) => {
            return Err(error).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    // Only a hint for later runs: a lock whose note cannot be written still locks.
    let _ = file
        .set_len(0)
        .and_then(|()| file.write_all(Holder::note(std::process::id()).as_bytes()));
    Ok(Lock::Held(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_note_reads_back() {
        assert_eq!(Holder::pid_from_note(&Holder::note(4242)), Some(4242));
        assert_eq!(Holder::pid_from_note(""), None);
        assert_eq!(Holder::pid_from_note("pid x"), None);
        let holder = Holder {
            pid: 1,
            started: 1000,
        };
        assert_eq!(holder.stuck(1100, 100), None);
        assert_eq!(holder.stuck(1101, 100), Some(101));
    }
}
