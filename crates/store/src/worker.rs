//! Parsing on a second thread, so that reading XML and writing SQLite overlap.
//!
//! Ingest is about one half parsing and one half SQLite. The batch hands each input (up to
//! [`PARALLEL_MAX_BYTES`]) to a long-lived parser thread, which parses it and then compresses
//! it, while the caller's thread replays the events into the storing sink (through `digest`:
//! content hashes and alignment are computed there, which balances the two threads) and
//! inserts the compressed chunks. Events travel in small
//! batches over a bounded channel, so memory stays bounded. The database is only ever touched
//! by the caller's thread.

use crate::StoreError;
use crate::raw::{ChunkEncoder, Compressor, RawEncoding};
use ruadb_report::{Error, FailureReport, Limits, Record, ReportHeader, ReportTrailer, Sink};
use std::collections::VecDeque;
use std::io;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Inputs up to this size are parsed on the worker (they are copied to it); larger ones are
/// parsed inline, so a huge input is never held twice.
pub(crate) const PARALLEL_MAX_BYTES: usize = 4 << 20;

/// Events per message on the channel: amortises the hand-over without holding much.
const EVENTS_PER_BATCH: usize = 128;

/// Bytes of record text per message on the channel, so that large records (up to
/// [`ruadb_report::MAX_RECORD_BYTES`] each) make smaller batches: the replies in flight then
/// hold at most about [`BATCHES_IN_FLIGHT`] × (this + one record).
const BATCH_TEXT_BYTES: usize = 16 * 1024;

/// Replies in flight: with [`EVENTS_PER_BATCH`], at most about 4,000 records (a few
/// megabytes), plus the raw chunks of the inputs outstanding. Deep enough that the parser keeps
/// working through the batch thread's pauses (a commit, a slow insert, the scheduler).
const BATCHES_IN_FLIGHT: usize = 32;

/// One [`Sink`] call, as data.
enum Event {
    Begin(Option<String>, ReportHeader),
    Record(Record),
    End(ReportTrailer),
    /// A failure report: small (its header blocks are capped), so it travels whole.
    FailureReport(Option<String>, Box<FailureReport>),
    Failed(Option<String>, Error),
}

enum Reply {
    /// Events of an input still being read.
    Events(Vec<Event>),
    /// The input is fully read: its last events, then its raw chunks (encoded as asked; none
    /// if it was cancelled). One message, so that a small input costs one hand-over.
    Done {
        events: Vec<Event>,
        chunks: Vec<Vec<u8>>,
    },
}

/// One input for the parser thread.
struct Job {
    /// Jobs are numbered from 1 in the order they are started; replies come in that order.
    number: u64,
    input: Vec<u8>,
    /// How to encode the input into `Reply::Raw` chunks after parsing it.
    encoding: RawEncoding,
}

/// Inputs the batch may have handed over and not yet received back. Several, so that the
/// parser keeps working through small inputs while the batch thread stores a large one; the
/// job channel holds all but the one being parsed, so handing over never blocks.
const MAX_OUTSTANDING: usize = 16;

/// Input bytes the batch may have handed over and not yet received back (one input of any
/// size up to [`PARALLEL_MAX_BYTES`] is always allowed): bounds memory.
const MAX_OUTSTANDING_BYTES: usize = 8 << 20;

/// The parser thread and its channels.
pub(crate) struct ParseWorker {
    jobs: Option<SyncSender<Job>>,
    replies: Receiver<Reply>,
    /// Jobs with a number up to this one are to be abandoned as soon as possible.
    cancel_through: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    /// Numbers of jobs started and not yet fully received, oldest first.
    started: u64,
    received: u64,
    /// Sizes of the outstanding inputs, oldest first, and their sum.
    sizes: VecDeque<usize>,
    outstanding_bytes: usize,
}

impl ParseWorker {
    /// Starts the thread; `None` if the system refuses (the caller then parses inline).
    pub(crate) fn spawn(limits: Limits) -> Option<ParseWorker> {
        let (jobs, job_queue) = sync_channel::<Job>(MAX_OUTSTANDING - 1);
        let (reply_sender, replies) = sync_channel::<Reply>(BATCHES_IN_FLIGHT);
        let cancel_through = Arc::new(AtomicU64::new(0));
        let worker_cancel = Arc::clone(&cancel_through);
        let thread = std::thread::Builder::new()
            .name("ruadb-parse".to_owned())
            .spawn(move || {
                let mut compressor = Compressor::default();
                while let Ok(job) = job_queue.recv() {
                    let cancelled = || worker_cancel.load(Ordering::Relaxed) >= job.number;
                    let mut sink = ChannelSink {
                        events: Vec::with_capacity(EVENTS_PER_BATCH),
                        text_bytes: 0,
                        replies: &reply_sender,
                        cancelled: &cancelled,
                    };
                    ruadb_report::read_reports(&job.input, &limits, &mut sink);
                    let events = std::mem::take(&mut sink.events);
                    let mut chunks = Vec::new();
                    if !cancelled() {
                        let mut keep = |chunk: &[u8]| -> io::Result<()> {
                            chunks.push(chunk.to_vec());
                            Ok(())
                        };
                        let mut encoder = ChunkEncoder::new(job.encoding, &mut compressor);
                        let _ = encoder
                            .write_all(&job.input, &mut keep)
                            .and_then(|()| encoder.finish(&mut keep));
                    }
                    drop(job);
                    if reply_sender.send(Reply::Done { events, chunks }).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(ParseWorker {
            jobs: Some(jobs),
            replies,
            cancel_through,
            thread: Some(thread),
            started: 0,
            received: 0,
            sizes: VecDeque::with_capacity(MAX_OUTSTANDING),
            outstanding_bytes: 0,
        })
    }

    /// Inputs handed over and not yet received back.
    pub(crate) fn outstanding(&self) -> usize {
        (self.started - self.received) as usize
    }

    /// Whether an input of `size` bytes may be handed over now.
    pub(crate) fn has_room(&self, size: usize) -> bool {
        self.outstanding() == 0
            || self.outstanding() < MAX_OUTSTANDING
                && self.outstanding_bytes + size <= MAX_OUTSTANDING_BYTES
    }

    /// The oldest outstanding input is fully received.
    fn received_one(&mut self) {
        self.received += 1;
        if let Some(size) = self.sizes.pop_front() {
            self.outstanding_bytes -= size;
        }
    }

    /// The thread is gone: nothing more will be received.
    fn received_all(&mut self) {
        self.received = self.started;
        self.sizes.clear();
        self.outstanding_bytes = 0;
    }

    /// Hands `input` to the parser thread, to be parsed and then encoded into chunks. The
    /// caller checks [`ParseWorker::has_room`] before calling this.
    /// Gives the input back if the thread is gone.
    pub(crate) fn start(&mut self, input: Vec<u8>, encoding: RawEncoding) -> Result<(), Vec<u8>> {
        let number = self.started + 1;
        let size = input.len();
        let job = Job {
            number,
            input,
            encoding,
        };
        let Some(jobs) = &self.jobs else {
            return Err(job.input);
        };
        match jobs.send(job) {
            Ok(()) => {
                self.started = number;
                self.sizes.push_back(size);
                self.outstanding_bytes += size;
                Ok(())
            }
            Err(returned) => {
                self.jobs = None;
                Err(returned.0.input)
            }
        }
    }

    /// Forwards the oldest outstanding input's events to `sink`, in order, then its chunks to
    /// `raw`. If `sink` asks to stop, the parser is told to stop and the rest is discarded; an
    /// error from `raw` stops likewise and is returned.
    pub(crate) fn replay(
        &mut self,
        sink: &mut dyn Sink,
        raw: &mut dyn FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stopped = false;
        while self.outstanding() > 0 {
            match self.replies.recv() {
                Ok(Reply::Events(events)) => {
                    if !stopped && forward(events, sink).is_break() {
                        stopped = true;
                        self.cancel_oldest();
                    }
                }
                Ok(Reply::Done { events, chunks }) => {
                    self.received_one();
                    if stopped || forward(events, sink).is_break() {
                        return Ok(());
                    }
                    for chunk in chunks {
                        raw(&chunk)?;
                    }
                    return Ok(());
                }
                Err(_) => {
                    // The thread ended (it never should): report the input as failed; the
                    // next start() fails, so that the caller parses inline from then on.
                    self.received_all();
                    self.jobs = None;
                    if !stopped {
                        let _ = sink.report_failed(
                            None,
                            Error::Io(io::Error::other("the parser thread stopped")),
                        );
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn cancel_oldest(&self) {
        self.cancel_through
            .fetch_max(self.received + 1, Ordering::Relaxed);
    }

    /// Abandons the oldest outstanding input (its message is known already).
    pub(crate) fn skip(&mut self) {
        self.cancel_oldest();
        while self.outstanding() > 0 {
            match self.replies.recv() {
                Ok(Reply::Events(_)) => {}
                Ok(Reply::Done { .. }) => {
                    self.received_one();
                    return;
                }
                Err(_) => {
                    self.received_all();
                    self.jobs = None;
                }
            }
        }
    }

    /// Abandons every outstanding input (after a database error).
    pub(crate) fn skip_all(&mut self) {
        self.cancel_through
            .fetch_max(self.started, Ordering::Relaxed);
        while self.outstanding() > 0 {
            self.skip();
        }
    }
}

impl Drop for ParseWorker {
    fn drop(&mut self) {
        self.skip_all();
        // Closing the job channel ends the thread's loop.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Hands `events` to `sink` in order, until it asks to stop.
fn forward(events: Vec<Event>, sink: &mut dyn Sink) -> ControlFlow<()> {
    for event in events {
        match event {
            Event::Begin(member, header) => sink.begin_report(member.as_deref(), &header)?,
            Event::Record(record) => sink.record(record)?,
            Event::End(trailer) => sink.end_report(trailer)?,
            Event::FailureReport(member, report) => {
                sink.failure_report(member.as_deref(), *report)?;
            }
            Event::Failed(member, error) => sink.report_failed(member.as_deref(), error)?,
        }
    }
    ControlFlow::Continue(())
}

/// The parser thread's sink: batches events onto the channel.
struct ChannelSink<'a> {
    events: Vec<Event>,
    /// Record text in `events` ([`Record::text_bytes`]).
    text_bytes: usize,
    replies: &'a SyncSender<Reply>,
    cancelled: &'a dyn Fn() -> bool,
}

impl ChannelSink<'_> {
    fn push(&mut self, event: Event) -> ControlFlow<()> {
        if (self.cancelled)() {
            return ControlFlow::Break(());
        }
        self.events.push(event);
        if self.events.len() >= EVENTS_PER_BATCH || self.text_bytes >= BATCH_TEXT_BYTES {
            return self.flush();
        }
        ControlFlow::Continue(())
    }

    fn flush(&mut self) -> ControlFlow<()> {
        if self.events.is_empty() {
            return ControlFlow::Continue(());
        }
        self.text_bytes = 0;
        let events = std::mem::replace(&mut self.events, Vec::with_capacity(EVENTS_PER_BATCH));
        match self.replies.send(Reply::Events(events)) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }
}

impl Sink for ChannelSink<'_> {
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()> {
        self.push(Event::Begin(member.map(str::to_owned), header.clone()))
    }

    fn record(&mut self, record: Record) -> ControlFlow<()> {
        self.text_bytes += record.text_bytes();
        self.push(Event::Record(record))
    }

    fn end_report(&mut self, trailer: ReportTrailer) -> ControlFlow<()> {
        self.push(Event::End(trailer))
    }

    fn failure_report(&mut self, member: Option<&str>, report: FailureReport) -> ControlFlow<()> {
        self.push(Event::FailureReport(
            member.map(str::to_owned),
            Box::new(report),
        ))
    }

    fn report_failed(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()> {
        self.push(Event::Failed(member.map(str::to_owned), error))
    }
}
