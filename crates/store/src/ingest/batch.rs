//! [`Batch`]: one write transaction. [`Batch::ingest`] stores inputs in order while the
//! next ones are parsed on parser threads; the queue this needs never outlives the call.

use super::failure::replace_raw_input;
use super::identify::{Handover, Identifier, last_record};
use super::rows::insert_message;
use super::sink::StoreSink;
use super::{ImapCursor, InputFailure, MessageOutcome, MessageSource, StoredReports};
use crate::checkpoint::Checkpointer;
use crate::digest::Digesting;
use crate::raw::{
    ChunkEncoder, ChunkInserter, Compressor, CopyError, RawEncoding, copy_into, hash_reader,
};
use crate::rollup::RollupWriter;
use crate::worker::{PARALLEL_MAX_BYTES, ParsePool, parse_threads};
use crate::{Checkpoints, Store, StoreError, StoreOptions};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

/// One write transaction (`BEGIN IMMEDIATE`). Dropped without [`Batch::commit`], it rolls back.
pub struct Batch<'s> {
    transaction: Transaction<'s>,
    options: &'s StoreOptions,
    compressor: Compressor,
    /// The parser threads, started with the first input that uses them.
    worker: Option<ParsePool>,
    /// The system refused a thread, or they stopped: parse inline.
    worker_unavailable: bool,
    /// A database error stopped an input half-way: its rows are not rolled back
    /// individually, so the batch refuses to commit (dropping it rolls everything back).
    broken: bool,
    /// The rollups of this transaction: names looked up, cells not written yet. Flushed
    /// before an input's savepoint is taken and at its end, and dropped whenever the
    /// savepoint is rolled back, which takes the names it added away.
    rollups: RollupWriter,
    /// Identification alongside this batch ([`Batch::identify_alongside`]).
    identify: Option<Handover>,
    /// Told when the batch commits, to copy the WAL back off this thread.
    checkpointer: Option<&'s Checkpointer>,
}

/// One input for [`Batch::ingest`].
#[derive(Debug)]
pub enum Input {
    /// The whole input in memory (a message, archive or XML file). Inputs up to 4 MiB are
    /// parsed on a parser thread while the ones before them are written.
    Bytes(Vec<u8>),
    /// A large file, streamed from its start so that it is never held in memory whole (as
    /// [`Batch::ingest_reader`] does).
    File(File),
    /// An input that could not be read: its outcome names the error and nothing is stored.
    Unreadable(io::Error),
}

impl Store {
    /// Starts a write transaction. Fails with [`StoreError::Busy`] if another writer holds
    /// the lock past the busy timeout.
    pub fn begin_batch(&mut self) -> Result<Batch<'_>, StoreError> {
        self.prepare_checkpoints()?;
        let checkpointer = match &self.checkpoints {
            Checkpoints::Thread(checkpointer) => Some(checkpointer),
            Checkpoints::Writer { .. } => None,
        };
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Batch {
            checkpointer,
            transaction,
            options: &self.options,
            compressor: Compressor::default(),
            worker: None,
            worker_unavailable: false,
            broken: false,
            rollups: RollupWriter::default(),
            identify: None,
        })
    }

    /// Starts the checkpoint thread with the first batch of a store on a file (the writer
    /// then stops checkpointing), and gets the WAL ready for a batch: copied back whole if it
    /// is to start over.
    fn prepare_checkpoints(&mut self) -> Result<(), StoreError> {
        if let Checkpoints::Writer {
            start: Some(limits),
        } = self.checkpoints
        {
            let started = self
                .connection
                .path()
                .and_then(|path| Checkpointer::start(Path::new(path), limits));
            self.checkpoints = match started {
                Some(checkpointer) => {
                    self.connection
                        .pragma_update(None, "wal_autocheckpoint", 0)?;
                    Checkpoints::Thread(checkpointer)
                }
                None => Checkpoints::Writer { start: None },
            };
        }
        if let Checkpoints::Thread(checkpointer) = &self.checkpoints {
            checkpointer.before_batch(&self.connection)?;
        }
        Ok(())
    }
}

impl Batch<'_> {
    /// Stores `inputs` and hands back each one's outcome, in input order, as it is stored.
    /// Each item carries the caller's `tag` for its input (a name, a UID, …).
    ///
    /// Inputs are taken from `inputs` as they are needed: while one is written, up to 16 of
    /// the next ones (at most 8 MiB) are parsed on parser threads (one per core unless
    /// [`StoreOptions::parse_threads`] says otherwise), which keeps every core busy. Whatever
    /// the number of threads, outcomes come back and inputs are written in input order, so
    /// the database is the same. Each input is stored as by [`Batch::ingest_bytes`] alone,
    /// whole or not at all, and bad input is reported in its outcome, never as an `Err`.
    ///
    /// An `Err` means the database failed while storing that input; it is the last item, and
    /// the batch then refuses to commit (drop it to roll back). Inputs whose outcome was not
    /// handed back are not stored: stopping early (dropping the iterator) is safe.
    pub fn ingest<T, I>(
        &mut self,
        inputs: I,
    ) -> impl Iterator<Item = (T, Result<MessageOutcome, StoreError>)>
    where
        I: IntoIterator<Item = (T, MessageSource, Input)>,
    {
        InOrder {
            batch: self,
            inputs: inputs.into_iter().fuse(),
            waiting: VecDeque::new(),
            held: None,
            done: false,
        }
    }

    /// Stores one input (a message, archive or XML file): everything or nothing (after a
    /// database error half-way, [`Batch::commit`] fails and nothing is stored). Bad input is
    /// not an `Err`: it is reported in the outcome and recorded in `ingest_errors` (with the
    /// raw bytes, so `reparse` can retry it after a parser fix). `Err` means the database
    /// failed; the caller should stop.
    ///
    /// Storing many inputs with [`Batch::ingest`] is faster: it parses the next ones while
    /// this one is written.
    pub fn ingest_bytes(
        &mut self,
        bytes: &[u8],
        source: &MessageSource,
    ) -> Result<MessageOutcome, StoreError> {
        if bytes.len() <= PARALLEL_MAX_BYTES && self.parallel() {
            // On the parser thread even alone: it is stored without a savepoint, which is
            // cheaper than one.
            let input = ((), source.clone(), Input::Bytes(bytes.to_vec()));
            if let Some(((), outcome)) = self.ingest([input]).next() {
                return outcome;
            }
        }
        self.ingest_inline(bytes, source)
    }

    /// Like [`Batch::ingest_bytes`], reading from a seekable reader (from its start) so that a
    /// large input is never held in memory whole. A read error is reported in the outcome and
    /// nothing is stored.
    pub fn ingest_reader<R: Read + Seek>(
        &mut self,
        mut reader: R,
        source: &MessageSource,
    ) -> Result<MessageOutcome, StoreError> {
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
        let rollups = &mut self.rollups;
        let identify = self.identify.as_mut();
        // What is held belongs to the inputs before: written outside the savepoint.
        rollups.flush(connection)?;
        let stored = with_savepoint(connection, || {
            let message_id = insert_message(connection, options, &sha256, size, encoding, source)?;
            let mut chunks = ChunkInserter::new(connection, message_id);
            let mut encoder = ChunkEncoder::new(encoding, compressor);
            copy_into(&mut reader, &mut encoder, &mut |chunk| chunks.insert(chunk))?;
            encoder.finish(&mut |chunk| chunks.insert(chunk))?;
            reader.rewind().map_err(CopyError::Read)?;
            Ok(parse_in_savepoint(
                connection,
                options,
                message_id,
                (rollups, identify),
                |sink, limits| {
                    ruadb_report::read_reports_from(&mut reader, limits, &mut Digesting::new(sink));
                    Ok(())
                },
            )?)
        });
        if stored.is_err() {
            self.rolled_back();
        }
        match stored {
            Ok(outcome) => Ok(outcome),
            Err(CopyError::Read(error)) => Ok(read_failure(&error)),
            Err(CopyError::Store(error)) => Err(error),
        }
    }

    /// Hands every record this batch stores to `identifier` once written, so that it
    /// identifies their sources while the batch goes on; after [`Batch::commit`],
    /// [`Store::record_identified`](crate::Store::record_identified) writes what it found.
    pub fn identify_alongside(&mut self, identifier: &Identifier) -> Result<(), StoreError> {
        let before = last_record(&self.transaction)?;
        self.identify = identifier.begin(before);
        Ok(())
    }

    /// Advances the IMAP cursor for (account, mailbox) in this transaction, so it is only
    /// stored together with the messages it covers.
    pub fn set_imap_cursor(
        &mut self,
        account: &str,
        mailbox: &str,
        cursor: ImapCursor,
    ) -> Result<(), StoreError> {
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

    /// Commits everything stored in this batch. Refused after a database error half-way
    /// through an input ([`StoreError::BatchBroken`]): nothing of the batch is stored then.
    pub fn commit(mut self) -> Result<(), StoreError> {
        if self.broken {
            return Err(StoreError::BatchBroken);
        }
        self.rollups.flush(&self.transaction)?;
        let last = match &self.identify {
            Some(_) => last_record(&self.transaction)?,
            None => 0,
        };
        self.transaction.commit()?;
        if let Some(checkpointer) = self.checkpointer {
            checkpointer.committed();
        }
        if let Some(identify) = &mut self.identify {
            identify.committed(last);
        }
        Ok(())
    }

    /// Whether inputs can be parsed on parser threads (started here if needed).
    fn parallel(&mut self) -> bool {
        if self.worker.is_none() && !self.worker_unavailable {
            self.worker = ParsePool::spawn(
                &self.options.limits,
                parse_threads(self.options.parse_threads),
            );
            self.worker_unavailable = self.worker.is_none();
        }
        !self.worker_unavailable
    }

    /// Stores the oldest input handed to the parser threads.
    fn store_parsed(&mut self, parsed: Parsing) -> Result<MessageOutcome, StoreError> {
        let Parsing {
            source,
            sha256,
            size,
            encoding,
        } = parsed;
        let connection: &Connection = &self.transaction;
        let Some(worker) = self.worker.as_mut() else {
            // Never: inputs are only handed over to a running worker, which is kept until
            // the batch ends.
            return Err(StoreError::ParserThreadLost);
        };
        // The same bytes may have been handed over twice; the first is stored by now.
        if let Some(message_id) = find_message(connection, &sha256)? {
            worker.skip();
            return already_stored(connection, message_id);
        }
        // No savepoint: bad input never fails here (it is recorded and its rows deleted by
        // the sink), only the database does, and then the whole batch is given up. A
        // savepoint per input made SQLite copy every page the input touched, about a seventh
        // of the batch thread's time.
        let options = self.options;
        let message_id = insert_message(connection, options, &sha256, size, encoding, &source)?;
        let mut chunks = ChunkInserter::new(connection, message_id);
        parse_into(
            connection,
            options,
            message_id,
            &mut self.rollups,
            self.identify.as_mut(),
            |sink, _| worker.replay(sink, &mut |chunk| chunks.insert(chunk)),
        )
    }

    /// Stores one input parsing it on this thread (large inputs, or no parser threads).
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
        let rollups = &mut self.rollups;
        let identify = self.identify.as_mut();
        // What is held belongs to the inputs before: written outside the savepoint.
        rollups.flush(connection)?;
        let stored = with_savepoint(connection, || {
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
            parse_in_savepoint(
                connection,
                options,
                message_id,
                (rollups, identify),
                |sink, limits| {
                    ruadb_report::read_reports(bytes, limits, &mut Digesting::new(sink));
                    Ok(())
                },
            )
        });
        if stored.is_err() {
            self.rolled_back();
        }
        stored
    }

    /// After an input's savepoint was rolled back: the names and rollup cells it added are
    /// gone, and identification is told that records handed over were taken back.
    fn rolled_back(&mut self) {
        self.rollups = RollupWriter::default();
        if let Some(identify) = &mut self.identify {
            identify.undone();
        }
    }

    /// Gives up the batch after a database error: nothing more is stored and it cannot be
    /// committed.
    fn give_up(&mut self) {
        self.broken = true;
        if let Some(worker) = &mut self.worker {
            worker.skip_all();
        }
    }
}

/// An input handed to the parser threads, waiting to be stored.
struct Parsing {
    source: MessageSource,
    sha256: [u8; 32],
    size: u64,
    encoding: RawEncoding,
}

/// An input of [`Batch::ingest`] whose outcome is not handed back yet.
enum Waiting {
    /// Known without storing anything (stored before, or unreadable).
    Ready(MessageOutcome),
    /// On a parser thread.
    Parsing(Parsing),
}

/// An input taken from the caller that waits for its turn: for room on the parser threads, or
/// (parsed inline) for every input before it to be stored.
struct Held<T> {
    tag: T,
    source: MessageSource,
    input: Input,
    /// The sha256 of `Input::Bytes`, once computed (it is looked up before waiting for room).
    sha256: Option<[u8; 32]>,
}

/// The iterator of [`Batch::ingest`].
///
/// Every input it stores has its outcome handed back before the next input is stored, so an
/// outcome not handed back means not stored.
struct InOrder<'b, 's, T, I> {
    batch: &'b mut Batch<'s>,
    inputs: std::iter::Fuse<I>,
    /// Inputs taken and not yet handed back, oldest first.
    waiting: VecDeque<(T, Waiting)>,
    held: Option<Held<T>>,
    /// An `Err` was handed back.
    done: bool,
}

impl<T, I> Iterator for InOrder<'_, '_, T, I>
where
    I: Iterator<Item = (T, MessageSource, Input)>,
{
    type Item = (T, Result<MessageOutcome, StoreError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (tag, result) = self.step()?;
        if let Err(error) = result {
            self.done = true;
            self.waiting.clear();
            self.held = None;
            self.batch.give_up();
            return Some((tag, Err(error)));
        }
        Some((tag, result))
    }
}

impl<T, I> InOrder<'_, '_, T, I>
where
    I: Iterator<Item = (T, MessageSource, Input)>,
{
    /// Takes inputs until the oldest one's outcome is known; `None` when all are handed back.
    fn step(&mut self) -> Option<(T, Result<MessageOutcome, StoreError>)> {
        loop {
            if let Some((_, Waiting::Ready(_))) = self.waiting.front()
                && let Some((tag, Waiting::Ready(outcome))) = self.waiting.pop_front()
            {
                return Some((tag, Ok(outcome)));
            }
            // The front is on a parser thread, or nothing waits.
            if self.held.is_none() {
                self.held = self.inputs.next().map(|(tag, source, input)| Held {
                    tag,
                    source,
                    input,
                    sha256: None,
                });
            }
            let Some(mut held) = self.held.take() else {
                // Every input is taken: store what is on the parser threads.
                return self.store_oldest();
            };
            match held.input {
                Input::Unreadable(error) => {
                    let outcome = unreadable(&error);
                    self.waiting.push_back((held.tag, Waiting::Ready(outcome)));
                }
                Input::Bytes(bytes)
                    if bytes.len() <= PARALLEL_MAX_BYTES && self.batch.parallel() =>
                {
                    let sha256 = match held.sha256 {
                        Some(sha256) => sha256,
                        None => {
                            let sha256: [u8; 32] = Sha256::digest(&bytes).into();
                            let connection: &Connection = &self.batch.transaction;
                            match find_message(connection, &sha256).and_then(|found| {
                                found.map(|id| already_stored(connection, id)).transpose()
                            }) {
                                Ok(None) => {}
                                Ok(Some(outcome)) => {
                                    self.waiting.push_back((held.tag, Waiting::Ready(outcome)));
                                    continue;
                                }
                                Err(error) => return Some((held.tag, Err(error))),
                            }
                            sha256
                        }
                    };
                    if let Some(worker) = &self.batch.worker
                        && !worker.has_room(bytes.len())
                    {
                        held.input = Input::Bytes(bytes);
                        held.sha256 = Some(sha256);
                        self.held = Some(held);
                        return self.store_oldest();
                    }
                    let encoding = RawEncoding::for_input(&bytes);
                    let size = bytes.len() as u64;
                    let started = match self.batch.worker.as_mut() {
                        Some(worker) => worker.start(bytes, encoding),
                        None => Err(bytes),
                    };
                    match started {
                        Ok(()) => {
                            let parsing = Parsing {
                                source: held.source,
                                sha256,
                                size,
                                encoding,
                            };
                            self.waiting
                                .push_back((held.tag, Waiting::Parsing(parsing)));
                        }
                        Err(bytes) => {
                            // The parser threads are gone: what they had is reported failed, this
                            // input and the rest are parsed inline.
                            self.batch.worker_unavailable = true;
                            held.input = Input::Bytes(bytes);
                            self.held = Some(held);
                        }
                    }
                }
                input => {
                    // Parsed inline, in its turn: after every input before it is stored.
                    if !self.waiting.is_empty() {
                        held.input = input;
                        self.held = Some(held);
                        return self.store_oldest();
                    }
                    let stored = match input {
                        Input::Bytes(bytes) => self.batch.ingest_inline(&bytes, &held.source),
                        Input::File(file) => {
                            self.batch.ingest_reader(BufReader::new(file), &held.source)
                        }
                        Input::Unreadable(error) => Ok(unreadable(&error)),
                    };
                    return Some((held.tag, stored));
                }
            }
        }
    }

    /// Stores the oldest waiting input (on a parser thread: [`InOrder::step`] hands back
    /// ready ones first).
    fn store_oldest(&mut self) -> Option<(T, Result<MessageOutcome, StoreError>)> {
        let (tag, waiting) = self.waiting.pop_front()?;
        let result = match waiting {
            Waiting::Ready(outcome) => Ok(outcome),
            Waiting::Parsing(parsing) => self.batch.store_parsed(parsing),
        };
        Some((tag, result))
    }
}

impl<T, I> Drop for InOrder<'_, '_, T, I> {
    fn drop(&mut self) {
        // Inputs still on the parser threads are not stored: drop their results there, so
        // that the next inputs of the batch are not mistaken for them.
        if self
            .waiting
            .iter()
            .any(|(_, waiting)| matches!(waiting, Waiting::Parsing(_)))
            && let Some(worker) = &mut self.batch.worker
        {
            worker.skip_all();
        }
    }
}

/// The outcome of an input that could not be opened.
fn unreadable(error: &io::Error) -> MessageOutcome {
    not_read(format!("cannot read: {error}"))
}

/// The outcome of an input that failed while it was read: nothing of it is stored.
fn read_failure(error: &io::Error) -> MessageOutcome {
    not_read(format!("read error: {error}"))
}

fn not_read(message: String) -> MessageOutcome {
    MessageOutcome {
        errors: vec![InputFailure {
            member: None,
            message,
        }],
        ..MessageOutcome::default()
    }
}

/// Runs one statement through the statement cache (savepoint statements run per message and
/// per report; preparing them each time showed in profiles).
fn run(connection: &Connection, sql: &str) -> Result<(), StoreError> {
    connection.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs `body` inside `SAVEPOINT message`: released on success, rolled back on error.
fn with_savepoint<T, E: From<StoreError>>(
    connection: &Connection,
    body: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
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

/// The outcome of an input stored before: nothing new, and what it held as stored (its
/// reports, duplicates, conflicts, failures and rejections).
fn already_stored(connection: &Connection, message_id: i64) -> Result<MessageOutcome, StoreError> {
    let stored_before = connection
        .prepare_cached(
            "SELECT (SELECT COUNT(*) FROM reports WHERE message_id = ?1),
                    (SELECT COALESCE(SUM(record_count), 0) FROM reports WHERE message_id = ?1),
                    (SELECT COUNT(*) FROM report_duplicates WHERE message_id = ?1),
                    (SELECT COUNT(*) FROM report_conflicts WHERE message_id = ?1),
                    (SELECT COUNT(*) FROM tls_reports WHERE message_id = ?1)
                    + (SELECT COUNT(*) FROM tls_report_repeats WHERE message_id = ?1),
                    (SELECT COUNT(*) FROM failure_reports WHERE message_id = ?1)
                    + (SELECT COUNT(*) FROM failure_report_duplicates WHERE message_id = ?1)",
        )?
        .query_row([message_id], |row| {
            let count = |index| row.get::<_, i64>(index).map(|n| n.max(0) as u64);
            Ok(StoredReports {
                reports: count(0)?,
                records: count(1)?,
                duplicates: count(2)?,
                conflicts: count(3)?,
                tls_reports: count(4)?,
                failure_reports: count(5)?,
            })
        })?;
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
        stored_before: Some(stored_before),
        rejected_domains,
        errors,
        ..MessageOutcome::default()
    })
}

/// [`parse_into`] for an input stored inside its savepoint: the rollup cells it added are
/// written before the savepoint is released, so that a rollback to it takes them back.
fn parse_in_savepoint(
    connection: &Connection,
    options: &StoreOptions,
    message_id: i64,
    (rollups, identify): (&mut RollupWriter, Option<&mut Handover>),
    read: impl FnOnce(&mut StoreSink<'_>, &ruadb_report::Limits) -> Result<(), StoreError>,
) -> Result<MessageOutcome, StoreError> {
    let outcome = parse_into(connection, options, message_id, rollups, identify, read)?;
    rollups.flush(connection)?;
    Ok(outcome)
}

/// Runs the parser (`read`) into a [`StoreSink`] for one stored message. `rollups` is the
/// transaction's; it is emptied if the message fails (its rows, new names included, are then
/// rolled back or the transaction given up).
pub(super) fn parse_into(
    connection: &Connection,
    options: &StoreOptions,
    message_id: i64,
    rollups: &mut RollupWriter,
    identify: Option<&mut Handover>,
    read: impl FnOnce(&mut StoreSink<'_>, &ruadb_report::Limits) -> Result<(), StoreError>,
) -> Result<MessageOutcome, StoreError> {
    let parsed = (|| {
        let mut sink = StoreSink::new(connection, options, message_id, rollups, identify)?;
        read(&mut sink, &options.limits)?;
        sink.finish()
    })();
    let (outcome, failure_renderings) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            *rollups = RollupWriter::default();
            return Err(error);
        }
    };
    if !failure_renderings.is_empty() {
        // The input's own bytes hold the original message and every address.
        replace_raw_input(connection, message_id, &failure_renderings)?;
    }
    Ok(outcome)
}
