//! Ingest: a [`Batch`] is one write transaction; each input is stored whole or not at all
//! by a [`ruadb_report::Sink`] that writes reports as they stream in. A report that fails
//! half-way has its rows deleted; a database error half-way through an input makes the batch
//! refuse to commit. Inputs parsed on the calling thread (large or streamed ones, which can
//! fail to read half-way) are stored inside a savepoint.

use crate::alignment;
use crate::digest::{DigestedSink, Digesting};
use crate::raw::{ChunkEncoder, ChunkInserter, Compressor, RawEncoding, RawReader, SeekableRaw};
use crate::worker::{PARALLEL_MAX_BYTES, ParseWorker};
use crate::{Store, StoreError, StoreOptions};
use ruadb_report::{DomainName, Record, ReportHeader, ReportTrailer};
use rusqlite::{
    CachedStatement, Connection, OptionalExtension, Transaction, TransactionBehavior, params,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read, Seek};
use std::ops::ControlFlow;

/// Where an input came from, stored with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageSource {
    /// A file (or a message inside an mbox or Maildir at that path).
    File {
        /// The path as given.
        path: String,
    },
    /// Standard input.
    Stdin,
    /// A message fetched from an IMAP mailbox.
    Imap {
        /// The account (user@host) it was fetched with.
        account: String,
        /// The mailbox name.
        mailbox: String,
        /// The mailbox's UIDVALIDITY at fetch time.
        uidvalidity: u32,
        /// The message's UID.
        uid: u32,
    },
}

/// Where `ruadb fetch` stopped in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapCursor {
    /// The mailbox's UIDVALIDITY when `last_uid` was stored; a change invalidates the cursor.
    pub uidvalidity: u32,
    /// The highest UID whose message is stored.
    pub last_uid: u32,
}

/// What storing one input did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageOutcome {
    /// The same bytes (sha256) were stored before: nothing was written. `errors` and
    /// `rejected_domains` then repeat what was recorded the first time, so a bad input is
    /// named on every run.
    pub already_stored: bool,
    /// Reports stored for the first time.
    pub reports_new: u64,
    /// Reports whose (org_name, report_id, policy_domain) was stored before with the same content.
    pub duplicates: u64,
    /// Reports whose key was stored before with other content: the first is kept, this one
    /// is noted in `report_conflicts` and not counted.
    pub conflicts: u64,
    /// Records stored.
    pub records: u64,
    /// The policy domain of each report refused because it is not in `domains`.
    pub rejected_domains: Vec<String>,
    /// Documents that yielded no report (one entry with `member: None` when the input as a
    /// whole held none).
    pub errors: Vec<InputFailure>,
}

impl MessageOutcome {
    /// Whether the input held at least one report (new, duplicate or conflict).
    pub fn has_report(&self) -> bool {
        self.reports_new + self.duplicates + self.conflicts > 0
    }
}

/// One document that yielded no report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputFailure {
    /// The archive member or attachment name, if any.
    pub member: Option<String>,
    /// Why, in words a postmaster can act on.
    pub message: String,
}

/// Counts over many inputs: the tally line of `ruadb ingest` / `ruadb fetch`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestTally {
    /// Inputs seen (including ones already stored).
    pub messages: u64,
    /// Reports stored for the first time.
    pub reports_new: u64,
    /// Reports already stored with the same content.
    pub duplicates: u64,
    /// Reports already stored with other content (kept once).
    pub conflicts: u64,
    /// Records stored.
    pub records: u64,
    /// Documents that yielded no report, plus rejected reports.
    pub errors: u64,
    /// Reports refused because their policy domain is not configured (also in `errors`).
    pub rejected: u64,
}

impl IngestTally {
    /// Adds one input's outcome.
    pub fn add(&mut self, outcome: &MessageOutcome) {
        self.messages += 1;
        self.reports_new += outcome.reports_new;
        self.duplicates += outcome.duplicates;
        self.conflicts += outcome.conflicts;
        self.records += outcome.records;
        let rejected = outcome.rejected_domains.len() as u64;
        self.rejected += rejected;
        self.errors += outcome.errors.len() as u64 + rejected;
    }
}

/// One write transaction (`BEGIN IMMEDIATE`). Dropped without [`Batch::commit`], it rolls back.
pub struct Batch<'s> {
    transaction: Transaction<'s>,
    options: &'s StoreOptions,
    compressor: Compressor,
    /// The parser thread, started with the first input.
    worker: Option<ParseWorker>,
    /// The system refused a thread: parse inline.
    worker_unavailable: bool,
    /// Inputs queued with [`Batch::queue_bytes`] and not yet stored, oldest first.
    queued: VecDeque<Queued>,
    /// A database error stopped a queued input half-way: its rows are not rolled back
    /// individually, so the batch refuses to commit (dropping it rolls everything back).
    broken: bool,
}

/// An input waiting in the batch's queue.
enum Queued {
    /// Its bytes are stored already.
    Known {
        source: MessageSource,
        message_id: i64,
    },
    /// Handed to the parser thread.
    Parsing {
        source: MessageSource,
        sha256: [u8; 32],
        size: u64,
        encoding: RawEncoding,
    },
}

impl Store {
    /// Starts a write transaction. Fails with [`StoreError::Busy`] if another writer holds
    /// the lock past the busy timeout.
    pub fn begin_batch(&mut self) -> Result<Batch<'_>, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Batch {
            transaction,
            options: &self.options,
            compressor: Compressor::default(),
            worker: None,
            worker_unavailable: false,
            queued: VecDeque::new(),
            broken: false,
        })
    }

    /// Re-parses every stored input with the current parser and domain list, rebuilding all
    /// reports, records, errors and rejections in one transaction. Messages and IMAP cursors
    /// are kept. Inputs up to 8 MiB are decompressed into memory, larger ones streamed.
    ///
    /// Foreign keys are not enforced while writing (see `Store::set_up`); a rebuild of the
    /// whole database is rare enough to check every reference before it commits (about 8% of
    /// its time), and a dangling one rolls it back.
    pub fn reparse(&mut self) -> Result<IngestTally, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        transaction.execute_batch(
            "DELETE FROM dkim_results; DELETE FROM spf_results; DELETE FROM reasons;
             DELETE FROM report_warnings; DELETE FROM records; DELETE FROM report_conflicts;
             DELETE FROM reports; DELETE FROM ingest_errors; DELETE FROM rejected_reports;",
        )?;
        let messages = transaction
            .prepare("SELECT id, raw_encoding, size FROM messages ORDER BY id")?
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    RawEncoding::from_db(&row.get::<_, String>(1)?),
                    row.get::<_, i64>(2)?.max(0) as u64,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut tally = IngestTally::default();
        let mut bytes = Vec::new();
        for (message_id, encoding, size) in messages {
            let outcome = if size > REPARSE_IN_MEMORY_MAX_BYTES {
                // Large: streamed from the stored chunks, as `ingest_reader` read it.
                let raw = SeekableRaw::new(&transaction, message_id, encoding, size);
                parse_into(&transaction, &self.options, message_id, |sink, limits| {
                    ruadb_report::read_reports_from(raw, limits, &mut Digesting::new(sink));
                    Ok(())
                })?
            } else {
                bytes.clear();
                RawReader::new(&transaction, message_id, encoding)
                    .read_to_end(&mut bytes)
                    .map_err(|error| unreadable_raw(message_id, &error))?;
                parse_into(&transaction, &self.options, message_id, |sink, limits| {
                    ruadb_report::read_reports(&bytes, limits, &mut Digesting::new(sink));
                    Ok(())
                })?
            };
            tally.add(&outcome);
        }
        let dangling: i64 =
            transaction.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
                row.get(0)
            })?;
        if dangling > 0 {
            return Err(StoreError::DanglingReferences(dangling));
        }
        transaction.commit()?;
        Ok(tally)
    }
}

impl Batch<'_> {
    /// Stores one input (a message, archive or XML file): everything or nothing (after a
    /// database error half-way, [`Batch::commit`] fails and nothing is stored). Bad input is not an `Err`: it is reported in the outcome and recorded in
    /// `ingest_errors` (with the raw bytes, so `reparse` can retry it after a parser fix).
    /// `Err` means the database failed; the caller should stop.
    ///
    /// Inputs queued with [`Batch::queue_bytes`] are stored first (their outcomes are not
    /// returned: call [`Batch::finish_queued`] before this to get them).
    pub fn ingest_bytes(
        &mut self,
        bytes: &[u8],
        source: &MessageSource,
    ) -> Result<MessageOutcome, StoreError> {
        self.finish_queued()?;
        if bytes.len() <= PARALLEL_MAX_BYTES && self.ensure_worker() {
            let mut done = self.queue_bytes(bytes.to_vec(), source.clone())?;
            done.extend(self.finish_queued()?);
            if let Some((_, outcome)) = done.pop() {
                return Ok(outcome);
            }
        }
        self.ingest_inline(bytes, source)
    }

    /// Queues one input: it is parsed on the parser thread while earlier inputs are written,
    /// which keeps both cores busy. Returns the outcomes of the inputs that finished meanwhile,
    /// in the order they were queued; [`Batch::finish_queued`] returns the rest. Each input is
    /// stored exactly as by [`Batch::ingest_bytes`]. At most 16 inputs (and 8 MiB)
    /// wait at a time.
    pub fn queue_bytes(
        &mut self,
        bytes: Vec<u8>,
        source: MessageSource,
    ) -> Result<Vec<(MessageSource, MessageOutcome)>, StoreError> {
        let mut done = Vec::new();
        if bytes.len() > PARALLEL_MAX_BYTES || !self.ensure_worker() {
            done.extend(self.finish_queued()?);
            let outcome = self.ingest_inline(&bytes, &source)?;
            done.push((source, outcome));
            return Ok(done);
        }
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        if let Some(message_id) = find_message(&self.transaction, &sha256)? {
            self.queued.push_back(Queued::Known { source, message_id });
            if self.queued.len() == 1 {
                done.push(self.store_next()?);
            }
            return Ok(done);
        }
        while self
            .worker
            .as_ref()
            .is_some_and(|worker| !worker.has_room(bytes.len()))
        {
            done.push(self.store_next()?);
        }
        let encoding = RawEncoding::for_input(&bytes);
        let size = bytes.len() as u64;
        let started = match self.worker.as_mut() {
            Some(worker) => worker.start(bytes, encoding),
            None => Err(bytes),
        };
        match started {
            Ok(()) => self.queued.push_back(Queued::Parsing {
                source,
                sha256,
                size,
                encoding,
            }),
            Err(bytes) => {
                // The parser thread is gone: finish what it has, then parse inline.
                self.worker_unavailable = true;
                done.extend(self.finish_queued()?);
                self.worker = None;
                let outcome = self.ingest_inline(&bytes, &source)?;
                done.push((source, outcome));
            }
        }
        Ok(done)
    }

    /// Stores every queued input; returns their outcomes in the order they were queued.
    pub fn finish_queued(&mut self) -> Result<Vec<(MessageSource, MessageOutcome)>, StoreError> {
        let mut done = Vec::with_capacity(self.queued.len());
        while !self.queued.is_empty() {
            done.push(self.store_next()?);
        }
        Ok(done)
    }

    /// Starts the parser thread if needed; false if it cannot run.
    fn ensure_worker(&mut self) -> bool {
        if self.worker.is_none() && !self.worker_unavailable {
            self.worker = ParseWorker::spawn(self.options.limits.clone());
            self.worker_unavailable = self.worker.is_none();
        }
        self.worker.is_some()
    }

    /// Stores the oldest queued input.
    fn store_next(&mut self) -> Result<(MessageSource, MessageOutcome), StoreError> {
        let connection: &Connection = &self.transaction;
        let Some(entry) = self.queued.pop_front() else {
            return Err(StoreError::Io(io::Error::other("no queued input")));
        };
        let (source, sha256, size, encoding) = match entry {
            Queued::Known { source, message_id } => {
                return Ok((source, already_stored(connection, message_id)?));
            }
            Queued::Parsing {
                source,
                sha256,
                size,
                encoding,
            } => (source, sha256, size, encoding),
        };
        let Some(worker) = self.worker.as_mut() else {
            return Err(StoreError::Io(io::Error::other(
                "the parser thread is gone",
            )));
        };
        // The same bytes may have been queued twice; the first is stored by now.
        if let Some(message_id) = find_message(connection, &sha256)? {
            worker.skip();
            return Ok((source, already_stored(connection, message_id)?));
        }
        // No savepoint: bad input never fails here (it is recorded and its rows deleted by
        // the sink), only the database does, and then the whole batch is given up. A
        // savepoint per input made SQLite copy every page the input touched, about a seventh
        // of the batch thread's time.
        let options = self.options;
        let message_id = insert_message(connection, options, &sha256, size, encoding, &source);
        let stored = message_id.and_then(|message_id| {
            let mut chunks = ChunkInserter::new(connection, message_id);
            parse_into(connection, options, message_id, |sink, _| {
                worker.replay(&mut Digesting::new(sink), &mut |chunk| chunks.insert(chunk))
            })
        });
        if stored.is_err() {
            // Fatal for this batch: nothing queued after it is stored either.
            self.broken = true;
            worker.skip_all();
            self.queued.clear();
        }
        Ok((source, stored?))
    }

    /// Stores one input parsing it on this thread (large inputs, or no parser thread).
    fn ingest_inline(
        &mut self,
        bytes: &[u8],
        source: &MessageSource,
    ) -> Result<MessageOutcome, StoreError> {
        let sha256 = Sha256::digest(bytes);
        if let Some(message_id) = find_message(&self.transaction, &sha256)? {
            return already_stored(&self.transaction, message_id);
        }
        let connection: &Connection = &self.transaction;
        let options = self.options;
        let compressor = &mut self.compressor;
        with_savepoint(connection, || {
            let encoding = RawEncoding::for_input(bytes);
            let message_id = insert_message(
                connection,
                options,
                &sha256,
                bytes.len() as u64,
                encoding,
                source,
            )?;
            let mut chunks = ChunkInserter::new(connection, message_id);
            let mut insert = |chunk: &[u8]| chunks.insert(chunk);
            let mut encoder = ChunkEncoder::new(encoding, compressor);
            encoder.write_all(bytes, &mut insert)?;
            encoder.finish(&mut insert)?;
            parse_into(connection, options, message_id, |sink, limits| {
                ruadb_report::read_reports(bytes, limits, &mut Digesting::new(sink));
                Ok(())
            })
        })
    }

    /// Like [`Batch::ingest_bytes`], reading from a seekable reader (from its start) so that a
    /// large input is never held in memory whole. A read error is reported in the outcome and
    /// nothing is stored.
    pub fn ingest_reader<R: Read + Seek>(
        &mut self,
        mut reader: R,
        source: &MessageSource,
    ) -> Result<MessageOutcome, StoreError> {
        self.finish_queued()?;
        let (sha256, size, encoding) = match hash_reader(&mut reader) {
            Ok(hashed) => hashed,
            Err(error) => return Ok(read_failure(&error)),
        };
        if let Some(message_id) = find_message(&self.transaction, &sha256)? {
            return already_stored(&self.transaction, message_id);
        }
        let connection: &Connection = &self.transaction;
        let options = self.options;
        let compressor = &mut self.compressor;
        let mut read_error = None;
        let outcome = with_savepoint(connection, || {
            let message_id = insert_message(connection, options, &sha256, size, encoding, source)?;
            let mut chunks = ChunkInserter::new(connection, message_id);
            let mut encoder = ChunkEncoder::new(encoding, compressor);
            match copy_into(&mut reader, &mut encoder, &mut |chunk| chunks.insert(chunk)) {
                Ok(()) => {}
                Err(CopyError::Store(error)) => return Err(error),
                Err(CopyError::Read(error)) => {
                    read_error = Some(error);
                    return Err(StoreError::Io(io::Error::other("input unreadable")));
                }
            }
            encoder.finish(&mut |chunk| chunks.insert(chunk))?;
            if let Err(error) = reader.rewind() {
                read_error = Some(error);
                return Err(StoreError::Io(io::Error::other("input not seekable")));
            }
            parse_into(connection, options, message_id, |sink, limits| {
                ruadb_report::read_reports_from(&mut reader, limits, &mut Digesting::new(sink));
                Ok(())
            })
        });
        match read_error {
            Some(error) => Ok(read_failure(&error)),
            None => outcome,
        }
    }

    /// Advances the IMAP cursor for (account, mailbox) in this transaction, so it is only
    /// stored together with the messages it covers.
    pub fn set_imap_cursor(
        &mut self,
        account: &str,
        mailbox: &str,
        cursor: ImapCursor,
    ) -> Result<(), StoreError> {
        // The cursor must not move past messages that are not stored yet.
        self.finish_queued()?;
        self.transaction
            .prepare_cached(
                "INSERT INTO imap_cursors (account, mailbox, uidvalidity, last_uid)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account, mailbox)
                 DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
            )?
            .execute(params![
                account,
                mailbox,
                cursor.uidvalidity,
                cursor.last_uid
            ])?;
        Ok(())
    }

    /// Commits everything stored in this batch (queued inputs are stored first; call
    /// [`Batch::finish_queued`] before to get their outcomes).
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.finish_queued()?;
        if self.broken {
            return Err(StoreError::Io(io::Error::other(
                "an input failed to store half-way; nothing in this batch was committed",
            )));
        }
        self.transaction.commit()?;
        Ok(())
    }
}

/// Inputs up to this size are decompressed into memory for `reparse`; larger ones are streamed.
const REPARSE_IN_MEMORY_MAX_BYTES: u64 = 8 << 20;

fn unreadable_raw(message_id: i64, error: &io::Error) -> StoreError {
    StoreError::Migration(format!(
        "stored input of message {message_id} cannot be read back: {error}"
    ))
}

fn read_failure(error: &io::Error) -> MessageOutcome {
    MessageOutcome {
        errors: vec![InputFailure {
            member: None,
            message: format!("read error: {error}"),
        }],
        ..MessageOutcome::default()
    }
}

/// The sha256, size and raw encoding (chosen from the first bytes) of a reader's content.
fn hash_reader<R: Read + Seek>(reader: &mut R) -> io::Result<([u8; 32], u64, RawEncoding)> {
    reader.rewind()?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut size = 0u64;
    let mut start = [0u8; 4];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        // The first bytes decide the encoding; a short first read is topped up from the next.
        if size < start.len() as u64 {
            let have = size as usize;
            let take = (start.len() - have).min(n);
            start[have..have + take].copy_from_slice(&buffer[..take]);
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    reader.rewind()?;
    let start = &start[..(size as usize).min(start.len())];
    Ok((
        hasher.finalize().into(),
        size,
        RawEncoding::for_input(start),
    ))
}

/// Why copying an input into the raw store stopped.
enum CopyError {
    /// Reading the input failed: a bad input, not a database failure.
    Read(io::Error),
    /// Storing failed.
    Store(StoreError),
}

impl From<io::Error> for CopyError {
    fn from(error: io::Error) -> Self {
        CopyError::Store(StoreError::Io(error))
    }
}

/// Copies the reader into the raw store through `encoder`.
fn copy_into<R: Read>(
    reader: &mut R,
    encoder: &mut ChunkEncoder<'_>,
    insert: &mut dyn FnMut(&[u8]) -> Result<(), StoreError>,
) -> Result<(), CopyError> {
    let mut buffer = vec![0; 64 * 1024];
    let mut insert = |chunk: &[u8]| insert(chunk).map_err(CopyError::Store);
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(CopyError::Read(error)),
        };
        encoder.write_all(&buffer[..n], &mut insert)?;
    }
}

/// Runs one statement through the statement cache (savepoint statements run per message and
/// per report; preparing them each time showed in profiles).
fn run(connection: &Connection, sql: &str) -> Result<(), StoreError> {
    connection.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs `body` inside `SAVEPOINT message`: released on success, rolled back on error.
fn with_savepoint<T>(
    connection: &Connection,
    body: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    run(connection, "SAVEPOINT message")?;
    match body() {
        Ok(value) => {
            run(connection, "RELEASE message")?;
            Ok(value)
        }
        Err(error) => {
            // The original error matters more than a failure to roll back (which leaves the
            // whole transaction to be rolled back by the caller anyway).
            let _ = run(connection, "ROLLBACK TO message")
                .and_then(|()| run(connection, "RELEASE message"));
            Err(error)
        }
    }
}

fn find_message(
    connection: &Connection,
    sha256: &impl AsRef<[u8]>,
) -> Result<Option<i64>, StoreError> {
    Ok(connection
        .prepare_cached("SELECT id FROM messages WHERE sha256 = ?1")?
        .query_row([sha256.as_ref()], |row| row.get(0))
        .optional()?)
}

/// The outcome of an input stored before: its recorded failures and rejections, nothing new.
fn already_stored(connection: &Connection, message_id: i64) -> Result<MessageOutcome, StoreError> {
    let errors = connection
        .prepare_cached(
            "SELECT member, error FROM ingest_errors WHERE message_id = ?1 ORDER BY id",
        )?
        .query_map([message_id], |row| {
            Ok(InputFailure {
                member: row.get(0)?,
                message: row.get(1)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let rejected_domains = connection
        .prepare_cached(
            "SELECT policy_domain FROM rejected_reports WHERE message_id = ?1 ORDER BY id",
        )?
        .query_map([message_id], |row| row.get(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MessageOutcome {
        already_stored: true,
        rejected_domains,
        errors,
        ..MessageOutcome::default()
    })
}

fn insert_message(
    connection: &Connection,
    options: &StoreOptions,
    sha256: &impl AsRef<[u8]>,
    size: u64,
    encoding: RawEncoding,
    source: &MessageSource,
) -> Result<i64, StoreError> {
    let (kind, path, account, mailbox, uidvalidity, uid) = match source {
        MessageSource::File { path } => ("file", Some(path.as_str()), None, None, None, None),
        MessageSource::Stdin => ("stdin", None, None, None, None, None),
        MessageSource::Imap {
            account,
            mailbox,
            uidvalidity,
            uid,
        } => (
            "imap",
            None,
            Some(account.as_str()),
            Some(mailbox.as_str()),
            Some(*uidvalidity),
            Some(*uid),
        ),
    };
    connection
        .prepare_cached(
            "INSERT INTO messages (sha256, size, source_kind, path, imap_account, imap_mailbox,
                                   imap_uidvalidity, imap_uid, ingested_at, raw_encoding)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            sha256.as_ref(),
            i64::try_from(size).unwrap_or(i64::MAX),
            kind,
            path,
            account,
            mailbox,
            uidvalidity,
            uid,
            options.now,
            encoding.as_str()
        ])?;
    Ok(connection.last_insert_rowid())
}

/// Runs the parser (`read`) into a [`StoreSink`] for one stored message.
fn parse_into(
    connection: &Connection,
    options: &StoreOptions,
    message_id: i64,
    read: impl FnOnce(&mut StoreSink<'_>, &ruadb_report::Limits) -> Result<(), StoreError>,
) -> Result<MessageOutcome, StoreError> {
    let mut sink = StoreSink::new(connection, options, message_id)?;
    read(&mut sink, &options.limits)?;
    sink.finish()
}

/// Rows per multi-row `INSERT`, largest first: a flush of n rows runs as few statements as
/// these sizes allow (26 rows: 16 + 4 + 4 + 1 + 1). Running a statement costs more than adding
/// a row to one (binding, cursors, reset), and records are the bulk of the work.
const ROWS_PER_INSERT: [usize; 3] = [16, 4, 1];

/// Records buffered before they are written (a report's records are also written at its end).
const RECORDS_PER_FLUSH: usize = 64;

/// One table's multi-row `INSERT`: `INSERT INTO table (columns) VALUES (?,…),(?,…)…`.
struct MultiRowInsert {
    /// The SQL for each size in [`ROWS_PER_INSERT`].
    sql: [String; ROWS_PER_INSERT.len()],
}

impl MultiRowInsert {
    fn new(table: &str, columns: &[&str]) -> MultiRowInsert {
        let row = format!("({})", vec!["?"; columns.len()].join(", "));
        MultiRowInsert {
            sql: ROWS_PER_INSERT.map(|rows| {
                // OR FAIL: a failing row keeps the rows before it instead of undoing the
                // statement, so SQLite needs no statement journal; a failure breaks the whole
                // batch anyway.
                format!(
                    "INSERT OR FAIL INTO {table} ({}) VALUES {}",
                    columns.join(", "),
                    vec![row.as_str(); rows].join(", ")
                )
            }),
        }
    }

    /// Inserts `rows`, binding each row's values with `bind` (from the given parameter index,
    /// which it advances).
    fn insert<T>(
        &self,
        connection: &Connection,
        rows: &[T],
        bind: &mut dyn FnMut(&mut CachedStatement<'_>, &mut usize, &T) -> rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        let mut rest = rows;
        for (size, sql) in ROWS_PER_INSERT.iter().zip(&self.sql) {
            while rest.len() >= *size {
                let (chunk, tail) = rest.split_at(*size);
                let mut statement = connection.prepare_cached(sql)?;
                let mut index = 1;
                for row in chunk {
                    bind(&mut statement, &mut index, row)?;
                }
                statement.raw_execute()?;
                rest = tail;
            }
        }
        Ok(())
    }
}

/// The multi-row inserts of records and their results, built once.
struct RecordInserts {
    record: MultiRowInsert,
    dkim: MultiRowInsert,
    spf: MultiRowInsert,
    reason: MultiRowInsert,
}

static RECORD_INSERTS: std::sync::LazyLock<RecordInserts> =
    std::sync::LazyLock::new(|| RecordInserts {
        record: MultiRowInsert::new(
            "records",
            &[
                "id",
                "report",
                "source_ip",
                "message_count",
                "disposition",
                "dkim_evaluated",
                "spf_evaluated",
                "header_from",
                "envelope_from",
                "envelope_to",
                "dkim_aligned",
                "spf_aligned",
                "dmarc_pass",
                "reporter_disagrees",
                "extensions",
            ],
        ),
        dkim: MultiRowInsert::new(
            "dkim_results",
            &[
                "record",
                "seq",
                "domain",
                "selector",
                "result",
                "human_result",
            ],
        ),
        spf: MultiRowInsert::new(
            "spf_results",
            &["record", "seq", "domain", "scope", "result", "human_result"],
        ),
        reason: MultiRowInsert::new("reasons", &["record", "seq", "type", "comment"]),
    });

/// A record waiting to be written, with the id it will have.
struct PendingRecord {
    id: i64,
    report_row: i64,
    record: Record,
    alignment: alignment::Alignment,
}

/// What happens to the report being read.
enum Target {
    /// New: its rows are being written (and are deleted again if it fails).
    Store { report_row: i64 },
    /// Its key is stored already: only hashed, to tell a duplicate from a conflict.
    Compare {
        kept_report: i64,
        kept_hash: Vec<u8>,
    },
    /// Its policy domain is not accepted.
    Reject {
        org_name: String,
        report_id: String,
        policy_domain: String,
    },
}

struct CurrentReport {
    target: Target,
    member: Option<String>,
    records: u64,
    messages: u64,
}

/// Writes one message's reports as the parser streams them.
struct StoreSink<'c> {
    connection: &'c Connection,
    options: &'c StoreOptions,
    message_id: i64,
    /// Records of the current report not written yet, oldest first.
    pending: Vec<PendingRecord>,
    /// The id of the next record: ids are assigned here so that a record's results can be
    /// written in the same multi-row statements as other records' results.
    next_record_id: i64,
    /// Reused for the canonical text of each source IP.
    ip_text: String,
    current: Option<CurrentReport>,
    outcome: MessageOutcome,
    documents: u64,
    fatal: Option<StoreError>,
}

impl<'c> StoreSink<'c> {
    fn new(
        connection: &'c Connection,
        options: &'c StoreOptions,
        message_id: i64,
    ) -> Result<Self, StoreError> {
        Ok(StoreSink {
            connection,
            options,
            message_id,
            pending: Vec::with_capacity(RECORDS_PER_FLUSH),
            next_record_id: connection
                .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM records")?
                .query_row([], |row| row.get(0))?,
            ip_text: String::with_capacity(64),
            current: None,
            outcome: MessageOutcome::default(),
            documents: 0,
            fatal: None,
        })
    }

    fn finish(mut self) -> Result<MessageOutcome, StoreError> {
        if let Some(error) = self.fatal.take() {
            return Err(error);
        }
        if self.current.is_some() {
            // The parser promises end_report or report_failed after begin_report; if it broke
            // that promise, treat the unfinished report as failed rather than keep half of it.
            self.fail_current()?;
            self.record_failure(None, "the report ended unexpectedly".to_owned())?;
        }
        if self.documents == 0 {
            self.record_failure(None, "no DMARC aggregate report found".to_owned())?;
        }
        Ok(self.outcome)
    }

    fn accepts(&self, policy_domain: &DomainName) -> bool {
        let Some(domains) = &self.options.domains else {
            return true;
        };
        domains
            .iter()
            .any(|accepted| policy_domain.is_within(accepted))
    }

    fn begin(&mut self, member: Option<&str>, header: &ReportHeader) -> Result<(), StoreError> {
        if self.current.is_some() {
            self.fail_current()?;
        }
        self.documents += 1;
        let metadata = &header.metadata;
        let policy = &header.policy;
        let target =
            if !self.accepts(&policy.domain) {
                Target::Reject {
                    org_name: metadata.org_name.clone(),
                    report_id: metadata.report_id.clone(),
                    policy_domain: policy.domain.to_string(),
                }
            } else if let Some((kept_report, kept_hash)) = self
                .connection
                .prepare_cached(
                    // The reporter's name in another case is the same reporter (migration
                    // 0002 indexes the key this way).
                    "SELECT id, content_hash FROM reports
                 WHERE report_id = ?2 AND policy_domain = ?3 AND org_name = ?1 COLLATE NOCASE",
                )?
                .query_row(
                    params![
                        metadata.org_name,
                        metadata.report_id,
                        policy.domain.as_str()
                    ],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?
            {
                Target::Compare {
                    kept_report,
                    kept_hash,
                }
            } else {
                let errors = (!metadata.errors.is_empty())
                    .then(|| serde_json::to_string(&metadata.errors).unwrap_or_default());
                self.connection
                .prepare_cached(
                    "INSERT INTO reports (message_id, member, org_name, email, extra_contact_info,
                        report_id, policy_domain, begin_utc, end_utc, format, version, generator,
                        errors, adkim, aspf, p, sp, np, pct, fo, testing, discovery_method,
                        content_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                             ?16, ?17, ?18, ?19, ?20, ?21, ?22, x'')",
                )?
                .execute(params![
                    self.message_id,
                    member,
                    metadata.org_name,
                    metadata.email,
                    metadata.extra_contact_info,
                    metadata.report_id,
                    policy.domain.as_str(),
                    metadata.begin,
                    metadata.end,
                    header.format.as_str(),
                    header.version,
                    metadata.generator,
                    errors,
                    policy.dkim_alignment.as_ref().map(|mode| mode.as_str()),
                    policy.spf_alignment.as_ref().map(|mode| mode.as_str()),
                    policy.policy.as_ref().map(|value| value.as_str()),
                    policy.subdomain_policy.as_ref().map(|value| value.as_str()),
                    policy.nonexistent_subdomain_policy.as_ref().map(|value| value.as_str()),
                    policy.percent,
                    policy.failure_options,
                    policy.testing.as_ref().map(|value| value.as_str()),
                    policy.discovery_method.as_ref().map(|value| value.as_str()),
                ])?;
                Target::Store {
                    report_row: self.connection.last_insert_rowid(),
                }
            };
        self.current = Some(CurrentReport {
            target,
            member: member.map(str::to_owned),
            records: 0,
            messages: 0,
        });
        Ok(())
    }

    fn end(&mut self, trailer: &ReportTrailer, content_hash: [u8; 32]) -> Result<(), StoreError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        let record_count = i64::try_from(current.records).unwrap_or(i64::MAX);
        let message_total = i64::try_from(current.messages).unwrap_or(i64::MAX);
        match current.target {
            Target::Store { report_row } => {
                self.write_pending()?;
                let extensions = (!trailer.extensions.is_empty())
                    .then(|| serde_json::to_string(&trailer.extensions).unwrap_or_default());
                self.connection
                    .prepare_cached(
                        "UPDATE reports SET content_hash = ?2, record_count = ?3,
                         message_total = ?4, extensions = ?5 WHERE id = ?1",
                    )?
                    .execute(params![
                        report_row,
                        content_hash,
                        record_count,
                        message_total,
                        extensions
                    ])?;
                let mut insert_warning = self.connection.prepare_cached(
                    "INSERT INTO report_warnings (report, warning) VALUES (?1, ?2)",
                )?;
                for warning in &trailer.warnings {
                    insert_warning.execute(params![report_row, warning.0])?;
                }
                self.outcome.reports_new += 1;
                self.outcome.records += current.records;
            }
            Target::Compare {
                kept_report,
                kept_hash,
            } => {
                if kept_hash.as_slice() == content_hash.as_slice() {
                    self.outcome.duplicates += 1;
                } else {
                    self.connection
                        .prepare_cached(
                            "INSERT INTO report_conflicts (kept_report, message_id, member,
                                content_hash, record_count, message_total)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![
                            kept_report,
                            self.message_id,
                            current.member,
                            content_hash,
                            record_count,
                            message_total
                        ])?;
                    self.outcome.conflicts += 1;
                }
            }
            Target::Reject {
                org_name,
                report_id,
                policy_domain,
            } => {
                self.connection
                    .prepare_cached(
                        "INSERT INTO rejected_reports (message_id, member, org_name, report_id,
                            policy_domain) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        self.message_id,
                        current.member,
                        org_name,
                        report_id,
                        policy_domain
                    ])?;
                self.outcome.rejected_domains.push(policy_domain);
            }
        }
        Ok(())
    }

    /// Drops the report being read and every row written for it.
    ///
    /// Deleted explicitly rather than with a savepoint per report: a savepoint makes SQLite
    /// copy every page the report touches, for every report, while failures are rare.
    fn fail_current(&mut self) -> Result<(), StoreError> {
        self.pending.clear();
        if let Some(CurrentReport {
            target: Target::Store { report_row },
            ..
        }) = self.current.take()
        {
            for sql in [
                "DELETE FROM dkim_results WHERE record IN (SELECT id FROM records WHERE report = ?1)",
                "DELETE FROM spf_results WHERE record IN (SELECT id FROM records WHERE report = ?1)",
                "DELETE FROM reasons WHERE record IN (SELECT id FROM records WHERE report = ?1)",
                "DELETE FROM records WHERE report = ?1",
                "DELETE FROM reports WHERE id = ?1",
            ] {
                self.connection.prepare_cached(sql)?.execute([report_row])?;
            }
        }
        Ok(())
    }

    fn record_failure(&mut self, member: Option<&str>, message: String) -> Result<(), StoreError> {
        self.connection
            .prepare_cached(
                "INSERT INTO ingest_errors (message_id, member, error) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![self.message_id, member, message])?;
        self.outcome.errors.push(InputFailure {
            member: member.map(str::to_owned),
            message,
        });
        Ok(())
    }

    /// Turns a database error into a stop: kept for `finish`, which returns it.
    fn check(&mut self, result: Result<(), StoreError>) -> ControlFlow<()> {
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                self.fatal = Some(error);
                ControlFlow::Break(())
            }
        }
    }
}

impl DigestedSink for StoreSink<'_> {
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()> {
        let result = self.begin(member, header);
        self.check(result)
    }

    fn record(&mut self, record: Record, alignment: alignment::Alignment) -> ControlFlow<()> {
        let Some(current) = &mut self.current else {
            return ControlFlow::Continue(());
        };
        current.records += 1;
        current.messages = current.messages.saturating_add(record.count);
        let Target::Store { report_row } = current.target else {
            return ControlFlow::Continue(());
        };
        self.pending.push(PendingRecord {
            id: self.next_record_id,
            report_row,
            record,
            alignment,
        });
        self.next_record_id += 1;
        if self.pending.len() < RECORDS_PER_FLUSH {
            return ControlFlow::Continue(());
        }
        let result = self.write_pending();
        self.check(result)
    }

    fn end_report(&mut self, trailer: ReportTrailer, content_hash: [u8; 32]) -> ControlFlow<()> {
        let result = self.end(&trailer, content_hash);
        self.check(result)
    }

    fn report_failed(
        &mut self,
        member: Option<&str>,
        error: ruadb_report::Error,
    ) -> ControlFlow<()> {
        self.documents += 1;
        let result = self
            .fail_current()
            .and_then(|()| self.record_failure(member, error.to_string()));
        self.check(result)
    }
}

impl StoreSink<'_> {
    /// Writes the buffered records and their DKIM, SPF and reason rows.
    fn write_pending(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let inserts = &*RECORD_INSERTS;
        let ip_text = &mut self.ip_text;
        inserts.record.insert(
            self.connection,
            &self.pending,
            &mut |statement, index, pending| bind_record(statement, index, pending, ip_text),
        )?;
        let dkim = numbered(&self.pending, |record| &record.dkim_results);
        inserts.dkim.insert(
            self.connection,
            &dkim,
            &mut |statement, index, (record, seq, dkim)| {
                bind_values(
                    statement,
                    index,
                    params![
                        record,
                        seq,
                        dkim.domain.as_str(),
                        dkim.selector,
                        dkim.result.as_str(),
                        dkim.human_result
                    ],
                )
            },
        )?;
        let spf = numbered(&self.pending, |record| &record.spf_results);
        inserts.spf.insert(
            self.connection,
            &spf,
            &mut |statement, index, (record, seq, spf)| {
                bind_values(
                    statement,
                    index,
                    params![
                        record,
                        seq,
                        spf.domain.as_str(),
                        spf.scope.as_ref().map(|scope| scope.as_str()),
                        spf.result.as_str(),
                        spf.human_result
                    ],
                )
            },
        )?;
        let reasons = numbered(&self.pending, |record| &record.reasons);
        inserts.reason.insert(
            self.connection,
            &reasons,
            &mut |statement, index, (record, seq, reason)| {
                bind_values(
                    statement,
                    index,
                    params![record, seq, reason.kind.as_str(), reason.comment],
                )
            },
        )?;
        self.pending.clear();
        Ok(())
    }
}

/// Each pending record's `items` (its DKIM results, …) as (record id, position, item).
fn numbered<'p, T>(
    pending: &'p [PendingRecord],
    items: impl Fn(&'p Record) -> &'p [T],
) -> Vec<(i64, i64, &'p T)> {
    pending
        .iter()
        .flat_map(|pending| {
            (0i64..)
                .zip(items(&pending.record))
                .map(move |(seq, item)| (pending.id, seq, item))
        })
        .collect()
}

/// Binds `values` from parameter `index` on, advancing it.
fn bind_values(
    statement: &mut CachedStatement<'_>,
    index: &mut usize,
    values: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    for value in values {
        statement.raw_bind_parameter(*index, value)?;
        *index += 1;
    }
    Ok(())
}

fn bind_record(
    statement: &mut CachedStatement<'_>,
    index: &mut usize,
    pending: &PendingRecord,
    ip_text: &mut String,
) -> rusqlite::Result<()> {
    let PendingRecord {
        id,
        report_row,
        record,
        alignment,
    } = pending;
    ip_text.clear();
    // Writing to a String cannot fail.
    let _ = write!(ip_text, "{}", record.source_ip);
    let source_ip: &str = ip_text;
    let dkim_evaluated = record.dkim.as_ref().map(|verdict| verdict.as_str());
    let spf_evaluated = record.spf.as_ref().map(|verdict| verdict.as_str());
    let disagrees = dkim_evaluated.is_some_and(|verdict| (verdict == "pass") != alignment.dkim)
        || spf_evaluated.is_some_and(|verdict| (verdict == "pass") != alignment.spf);
    let extensions = (!record.extensions.is_empty())
        .then(|| serde_json::to_string(&record.extensions).unwrap_or_default());
    bind_values(
        statement,
        index,
        params![
            id,
            report_row,
            source_ip,
            i64::try_from(record.count).unwrap_or(i64::MAX),
            record.disposition.as_str(),
            dkim_evaluated,
            spf_evaluated,
            record.header_from.as_str(),
            record.envelope_from.as_deref(),
            record.envelope_to.as_deref(),
            alignment.dkim,
            alignment.spf,
            alignment.dmarc_pass(),
            disagrees,
            extensions,
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn fixture_files(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                fixture_files(&path, found);
            } else {
                found.push(path);
            }
        }
    }

    /// Foreign keys are not enforced on the writing connection, so the ingest code must keep
    /// every reference valid itself: through good inputs, failing reports, duplicates and a
    /// reparse.
    #[test]
    fn every_reference_stays_valid_without_enforcement() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let mut files = Vec::new();
        fixture_files(&fixtures, &mut files);
        files.sort();
        assert!(
            files.len() > 20,
            "fixtures missing under {}",
            fixtures.display()
        );
        let mut store = Store::open_in_memory(StoreOptions {
            domains: Some(vec!["example.com".into()]),
            ..StoreOptions::default()
        })
        .unwrap();
        for round in 0..2 {
            let mut batch = store.begin_batch().unwrap();
            for file in &files {
                let bytes = std::fs::read(file).unwrap();
                let source = MessageSource::File {
                    path: format!("{round}/{}", file.display()),
                };
                batch.queue_bytes(bytes, source).unwrap();
            }
            batch.commit().unwrap();
        }
        let violations = |store: &Store| -> i64 {
            store
                .connection
                .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |row| {
                    row.get(0)
                })
                .unwrap()
        };
        let records: i64 = store
            .connection
            .query_row("SELECT COUNT(*) FROM records", [], |row| row.get(0))
            .unwrap();
        assert!(records > 0);
        assert_eq!(violations(&store), 0);
        store.reparse().unwrap();
        assert_eq!(violations(&store), 0);
    }

    fn report(report_id: &str, header_from: &str) -> Vec<u8> {
        format!(
            "<feedback><report_metadata><org_name>example.net</org_name>
             <email>dmarc@example.net</email><report_id>{report_id}</report_id>
             <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
             </report_metadata><policy_published><domain>example.com</domain><p>none</p>
             </policy_published><record><row><source_ip>192.0.2.1</source_ip><count>3</count>
             <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>
             </policy_evaluated></row><identifiers><header_from>{header_from}</header_from>
             </identifiers><auth_results><dkim><domain>example.com</domain><result>pass</result>
             </dkim></auth_results></record></feedback>"
        )
        .into_bytes()
    }

    /// Reparse checks the references before committing: a dangling row rolls everything
    /// back.
    #[test]
    fn a_reparse_that_would_leave_a_dangling_reference_changes_nothing() {
        let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
        let mut batch = store.begin_batch().unwrap();
        batch
            .ingest_bytes(&report("1", "example.com"), &MessageSource::Stdin)
            .unwrap();
        batch.commit().unwrap();
        let totals = store.totals().unwrap();
        store
            .connection
            .execute_batch(
                "CREATE TRIGGER dangle AFTER INSERT ON records
                 BEGIN INSERT INTO report_warnings (report, warning) VALUES (-1, 'x'); END;",
            )
            .unwrap();
        assert!(matches!(
            store.reparse(),
            Err(StoreError::DanglingReferences(1))
        ));
        assert_eq!(store.totals().unwrap(), totals);
    }

    /// Queued inputs have no savepoint: a database error half-way through one must keep the
    /// whole batch from committing, so that no input is stored in part.
    #[test]
    fn a_database_error_half_way_through_an_input_commits_nothing() {
        let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
        store
            .connection
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON records
                 WHEN NEW.header_from = 'refused.example'
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        let mut batch = store.begin_batch().unwrap();
        let source = MessageSource::Stdin;
        batch
            .queue_bytes(report("1", "example.com"), source.clone())
            .unwrap();
        batch
            .queue_bytes(report("2", "refused.example"), source.clone())
            .unwrap();
        assert!(batch.finish_queued().is_err());
        assert!(batch.commit().is_err());
        let stored: i64 = store
            .connection
            .query_row("SELECT COUNT(*) FROM messages", [], |row| row.get(0))
            .unwrap();
        assert_eq!(stored, 0);

        // The same inputs without the failure are stored.
        store
            .connection
            .execute_batch("DROP TRIGGER refuse")
            .unwrap();
        let mut batch = store.begin_batch().unwrap();
        batch
            .queue_bytes(report("1", "example.com"), source.clone())
            .unwrap();
        batch
            .queue_bytes(report("2", "refused.example"), source)
            .unwrap();
        assert_eq!(batch.finish_queued().unwrap().len(), 2);
        batch.commit().unwrap();
        assert_eq!(store.totals().unwrap().message_count, 6);
    }
}
