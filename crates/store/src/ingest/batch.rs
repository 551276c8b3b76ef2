//! [`Batch`]: one write transaction, the inputs queued on the parser thread, and commit.

use super::rows::insert_message;
use super::sink::StoreSink;
use super::{ImapCursor, InputFailure, MessageOutcome, MessageSource};
use crate::digest::Digesting;
use crate::raw::{
    ChunkEncoder, ChunkInserter, Compressor, CopyError, RawEncoding, copy_into, hash_reader,
};
use crate::worker::{PARALLEL_MAX_BYTES, ParseWorker};
use crate::{Store, StoreError, StoreOptions};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::io::{self, Read, Seek};

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

fn read_failure(error: &io::Error) -> MessageOutcome {
    MessageOutcome {
        errors: vec![InputFailure {
            member: None,
            message: format!("read error: {error}"),
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

/// Runs the parser (`read`) into a [`StoreSink`] for one stored message.
pub(super) fn parse_into(
    connection: &Connection,
    options: &StoreOptions,
    message_id: i64,
    read: impl FnOnce(&mut StoreSink<'_>, &ruadb_report::Limits) -> Result<(), StoreError>,
) -> Result<MessageOutcome, StoreError> {
    let mut sink = StoreSink::new(connection, options, message_id)?;
    read(&mut sink, &options.limits)?;
    sink.finish()
}
