//! `ruadb fetch`: poll the `rua=` mailbox(es) from `[imap]` and store what arrived.
//!
//! Safe to run from cron every few minutes for years:
//! - one run at a time (a lock file next to the database; a second run exits cleanly or, with
//!   `--wait`, waits);
//! - messages are read with `BODY.PEEK[]` in batches of `batch_size`, fetched and committed in
//!   groups of at most 4 MiB (mail over `limits.max_message_mib` is never fetched), and the
//!   cursor (UIDVALIDITY + last UID) advances in the same transaction as the data;
//! - the post-ingest action (seen / move / delete) runs only after that transaction commits,
//!   so a crash or a lost connection never loses a report; at worst a message is fetched again
//!   and recognised as already stored (sha256), never counted twice.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};

use ruadb_fetch::{FetchError, Session};
use ruadb_store::{ImapCursor, IngestTally, MessageOutcome, MessageSource, Store};

use crate::Outcome;
use crate::cmd::ingest;
use crate::config::{AfterIngest, ImapAccount, TlsMode};
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
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    let accounts = &context.config.imap;
    if accounts.is_empty() {
        bail!(
            "no [imap] section in the configuration; `ruadb fetch` needs host, username and a password source"
        );
    }
    let db_path = context.db_path()?;
    // A dry run changes nothing, so it neither needs nor takes the lock.
    let lock = if args.dry_run {
        None
    } else {
        acquire_lock(db_path, args.wait)?
    };
    if lock.is_none() && !args.dry_run {
        eprintln!(
            "ruadb: another `ruadb fetch` is running on {}; nothing to do (use --wait to wait for it)",
            db_path.display()
        );
        return Ok(Outcome::Success);
    }
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
                eprintln!("ruadb: {}@{}: {error:#}", account.username, account.host);
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
    let verb = if args.dry_run {
        "fetched (dry run, nothing stored)"
    } else {
        "fetched"
    };
    ingest::print_tally(verb, &run.tally, args.json)?;
    result?;
    Ok(Outcome::from_failures(run.tally.errors > 0))
}

struct Run {
    tally: IngestTally,
    dry_run: bool,
}

impl Run {
    fn account(
        &mut self,
        account: &ImapAccount,
        store: &mut Store,
        context: &Context,
    ) -> anyhow::Result<()> {
        let config = account.fetch_config(context.imap_password.as_ref())?;
        let mailbox = account.mailbox.as_str();
        if account.tls == TlsMode::None {
            eprintln!(
                "ruadb: warning: {}@{} uses tls = \"none\": the password and the reports cross the network unencrypted",
                account.username, account.host
            );
        }
        let mut session = Session::connect(&config)?;
        let state = session.select(mailbox)?;
        let key = config.account();
        let cursor = store.imap_cursor(&key, mailbox)?;
        let resume_after = match cursor {
            Some(cursor) if cursor.uidvalidity == state.uidvalidity => cursor.last_uid,
            Some(cursor) => {
                eprintln!(
                    "ruadb: {mailbox} on {}: UIDVALIDITY changed ({} -> {}); rescanning, messages already stored are recognised and not counted again",
                    account.host, cursor.uidvalidity, state.uidvalidity
                );
                0
            }
            None => 0,
        };
        // With move and delete the mailbox is a queue: whatever is still in it is unfinished
        // (e.g. a post-action cut short by a lost connection), so it is scanned from the start;
        // with seen, unseen mail below the cursor is unfinished too. Messages stored before are
        // recognised by their hash and only get their post-action.
        let scan_after = match account.after_ingest {
            AfterIngest::Move | AfterIngest::Delete => 0,
            AfterIngest::Keep | AfterIngest::Seen => resume_after,
        };
        let (with_report, without_report) = config.post_actions();
        let mut uids = session.uids_after(scan_after)?;
        if account.after_ingest == AfterIngest::Seen {
            // Stored but not yet flagged (a run stopped between commit and STORE).
            let mut unfinished = session.unseen_up_to(resume_after)?;
            unfinished.append(&mut uids);
            uids = unfinished;
        }
        let batch_size = usize::try_from(account.batch_size).unwrap_or(usize::MAX);
        let place = Place {
            key: &key,
            mailbox,
            uidvalidity: state.uidvalidity,
            resume_after,
        };
        for chunk in uids.chunks(batch_size.max(1)) {
            let sizes = session
                .sizes(chunk)
                .map_err(|error| interrupted(error.into(), self.dry_run))?;
            for group in plan_groups(chunk, &sizes, context.config.limits.max_message_bytes) {
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
        let messages = session.fetch(&group.fetch)?;
        let mut batch = store.begin_batch()?;
        let mut with_report = Vec::new();
        let mut without_report = Vec::new();
        for message in &messages {
            let source = MessageSource::Imap {
                account: place.key.to_owned(),
                mailbox: place.mailbox.to_owned(),
                uidvalidity: place.uidvalidity,
                uid: message.uid,
            };
            let outcome = batch.ingest_bytes(&message.bytes, &source)?;
            self.tally.add(&outcome);
            Self::name_failures(place.mailbox, message.uid, &outcome);
            if holds_report(&outcome) {
                with_report.push(message.uid);
            } else {
                without_report.push(message.uid);
            }
        }
        for &(uid, size) in &group.oversized {
            self.tally.messages += 1;
            self.tally.errors += 1;
            eprintln!(
                "ruadb: {} uid {uid}: {size} bytes is over the message size limit (limits.max_message_mib); not fetched",
                place.mailbox
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
        for failure in &outcome.errors {
            match &failure.member {
                Some(member) => {
                    eprintln!("ruadb: {mailbox} uid {uid}: {member}: {}", failure.message)
                }
                None => eprintln!("ruadb: {mailbox} uid {uid}: {}", failure.message),
            }
        }
        for domain in &outcome.rejected_domains {
            eprintln!("ruadb: {mailbox} uid {uid}: report for {domain} rejected: not in `domains`");
        }
    }
}

/// Where a batch comes from and where the cursor stood.
struct Place<'a> {
    key: &'a str,
    mailbox: &'a str,
    uidvalidity: u32,
    resume_after: u32,
}

/// Message bytes fetched into memory before they are stored: bounds memory whatever the
/// batch size (report mail is mostly a few KiB, so a group still holds hundreds). A group is
/// held about twice while it is read (the IMAP response and the messages cut from it).
const GROUP_BYTES: u64 = 4 * 1024 * 1024;

/// Consecutive UIDs of a batch that are fetched and committed together.
#[derive(Debug, Default, PartialEq, Eq)]
struct Group {
    /// UIDs to fetch.
    fetch: Vec<u32>,
    /// UIDs (with their size) over the message size limit: not fetched, counted as errors.
    oversized: Vec<(u32, u64)>,
    /// The highest UID the group covers: where the cursor stands once it is committed.
    last_uid: u32,
}

/// Splits ascending `uids` into groups of at most [`GROUP_BYTES`] (a larger message alone),
/// setting aside messages over `max_message_bytes`. A UID without a size was expunged
/// meanwhile; it is asked for anyway and simply not returned.
fn plan_groups(uids: &[u32], sizes: &[(u32, u32)], max_message_bytes: u64) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut current = Group::default();
    let mut current_bytes = 0u64;
    for &uid in uids {
        let size = sizes
            .binary_search_by_key(&uid, |(uid, _)| *uid)
            .ok()
            .map_or(0, |index| u64::from(sizes[index].1));
        if size > max_message_bytes {
            current.oversized.push((uid, size));
        } else {
            if !current.fetch.is_empty() && current_bytes + size > GROUP_BYTES {
                groups.push(std::mem::take(&mut current));
                current_bytes = 0;
            }
            current.fetch.push(uid);
            current_bytes += size;
        }
        current.last_uid = uid;
    }
    if current.last_uid != 0 {
        groups.push(current);
    }
    groups
}

/// Whether a message's reports are in the database. A message stored on an earlier run says
/// nothing about its reports in its outcome except its failures: one without a whole-message
/// failure and without rejected reports held a report.
fn holds_report(outcome: &MessageOutcome) -> bool {
    if outcome.already_stored {
        outcome
            .errors
            .iter()
            .all(|failure| failure.member.is_some())
            && outcome.rejected_domains.is_empty()
    } else {
        outcome.has_report()
    }
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
    let options = ingest::store_options(context, args.wait);
    let store = if args.dry_run && !db_path.exists() {
        Store::open_in_memory(options)
    } else {
        Store::open(db_path, options)
    };
    store.with_context(|| format!("cannot open database {}", db_path.display()))
}

/// An exclusive lock on `<database>.fetch.lock`, held until the returned file is dropped
/// (also when the process dies: the kernel releases it). `None` when another run holds it and
/// `wait` is false.
fn acquire_lock(db_path: &Path, wait: bool) -> anyhow::Result<Option<File>> {
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
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    if wait {
        file.lock()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        return Ok(Some(file));
    }
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u32 = 1024 * 1024;

    #[test]
    fn groups_are_bounded_in_bytes_and_set_aside_oversized_mail() {
        let uids = [1, 2, 3, 4, 5, 7];
        // 6 was expunged; 4 is over a 32 MiB limit; 1..3 fill a group.
        let sizes = [
            (1, 2 * MIB),
            (2, 2 * MIB),
            (3, 2 * MIB),
            (4, 40 * MIB),
            (5, 1),
            (7, 2),
        ];
        let groups = plan_groups(&uids, &sizes, 32 * u64::from(MIB));
        assert_eq!(
            groups,
            vec![
                Group {
                    fetch: vec![1, 2],
                    oversized: vec![],
                    last_uid: 2
                },
                Group {
                    fetch: vec![3, 5, 7],
                    oversized: vec![(4, 40 * u64::from(MIB))],
                    last_uid: 7
                },
            ]
        );
    }

    #[test]
    fn a_message_larger_than_a_group_is_fetched_alone() {
        let sizes = [(10, 5 * MIB), (11, 5 * MIB), (12, 100)];
        let groups = plan_groups(&[10, 11, 12], &sizes, 64 * u64::from(MIB));
        let fetched: Vec<Vec<u32>> = groups.iter().map(|group| group.fetch.clone()).collect();
        assert_eq!(fetched, vec![vec![10], vec![11], vec![12]]);
        assert_eq!(groups.last().map(|group| group.last_uid), Some(12));
        assert!(plan_groups(&[], &sizes, 1).is_empty());
    }

    #[test]
    fn a_batch_of_only_oversized_mail_still_moves_the_cursor() {
        let groups = plan_groups(&[8, 9], &[(8, 50), (9, 60)], 10);
        assert_eq!(
            groups,
            vec![Group {
                fetch: vec![],
                oversized: vec![(8, 50), (9, 60)],
                last_uid: 9
            }]
        );
    }
}
