//! Parsing on parser threads, so that reading XML and writing SQLite overlap and the parse
//! uses every core.
//!
//! Ingest is parsing on one side and SQLite on the other, and only one thread can write.
//! The batch hands each input (up to [`PARALLEL_MAX_BYTES`]) to one of a pool of long-lived
//! parser threads ([`ParsePool`], one per core by default), which parses it, computes what the
//! store derives before any SQL (`digest`: each report's content hash, each record's
//! alignment) and then compresses it, while the caller's thread replays the events into the
//! storing sink and inserts the compressed chunks. Each thread parses its inputs in the order
//! it was given them, and the caller takes them back in the order it started them, so
//! outcomes stay in input order whatever the number of threads. Events travel in small
//! batches over a bounded channel per thread, and the bytes they hold are budgeted
//! ([`MAX_IN_FLIGHT_BYTES`], shared out between the threads), so memory stays bounded whatever
//! the events are (records of a few hundred bytes, or whole SMTP TLS reports) and whatever the
//! number of threads. The database is only ever touched by the caller's thread.

use crate::StoreError;
use crate::alignment::Alignment;
use crate::digest::{DigestedSink, Digesting};
use crate::raw::{ChunkEncoder, Compressor, RawEncoding};
use crate::sql_value::IpText;
use ruadb_report::{Error, FailureReport, Limits, Record, ReportHeader, ReportTrailer, TlsReport};
use std::collections::VecDeque;
use std::io;
use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Inputs up to this size are parsed on a parser thread (they are copied to it); larger ones
/// are parsed inline, so a huge input is never held twice.
pub(crate) const PARALLEL_MAX_BYTES: usize = 4 << 20;

/// Parser threads at most, whatever the cores or the setting. Each holds its own parse
/// buffers (a few megabytes at worst, for hostile input), and the one writer cannot keep
/// more busy.
pub const MAX_PARSE_THREADS: usize = 8;

/// Events per message on the channel: amortises the hand-over without holding much.
const EVENTS_PER_BATCH: usize = 128;

/// Bytes of record text per message on the channel, so that large records (up to
/// [`ruadb_report::MAX_RECORD_BYTES`] each) make smaller batches: the replies in flight then
/// hold at most about [`BATCHES_IN_FLIGHT`] × (this + one record).
const BATCH_TEXT_BYTES: usize = 16 * 1024;

/// Replies in flight, shared out between the threads: with [`EVENTS_PER_BATCH`], at most
/// about 4,000 records (a few megabytes), plus the raw chunks of the inputs outstanding. Deep
/// enough that the parsers keep working through the batch thread's pauses (a commit, a slow
/// insert, the scheduler).
const BATCHES_IN_FLIGHT: usize = 32;

/// Replies in flight per thread at least, however many threads share [`BATCHES_IN_FLIGHT`].
const MIN_BATCHES_PER_THREAD: usize = 4;

/// Bytes of events (record text, TLS reports) handed over and not yet taken by the batch
/// thread, shared out equally between the threads; one batch of any size is always allowed.
/// The channels' depth bounds small events; this bounds large ones (a TLS report holds up to
/// a few megabytes), which a zip of many could otherwise stack up a channel deep. Records
/// never reach it ([`BATCHES_IN_FLIGHT`] × ([`BATCH_TEXT_BYTES`] + one record) is well below).
///
/// Each thread has its own share: the batch thread takes inputs back in order, so a thread
/// ahead of it must not use up a budget the thread with the oldest input is waiting for.
const MAX_IN_FLIGHT_BYTES: usize = 4 << 20;

/// How many parser threads a batch uses: `setting` if given, else one per core, at most
/// [`MAX_PARSE_THREADS`].
pub(crate) fn parse_threads(setting: Option<NonZeroUsize>) -> usize {
    let wanted = setting
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    wanted.min(MAX_PARSE_THREADS)
}

/// The bytes in flight from one thread, and a signal when the batch thread takes some.
struct InFlight {
    /// This thread's share of [`MAX_IN_FLIGHT_BYTES`].
    limit: usize,
    held: Mutex<Held>,
    taken: Condvar,
    /// The most ever in flight.
    #[cfg(test)]
    peak: AtomicU64,
}

/// What [`InFlight`] guards.
#[derive(Default)]
struct Held {
    bytes: usize,
    /// The parser thread waits for bytes to be taken: only then does the batch thread signal
    /// (a signal is a system call even when nobody waits, and it takes bytes every batch of
    /// events).
    waiting: bool,
}

impl InFlight {
    fn new(limit: usize) -> InFlight {
        InFlight {
            limit,
            held: Mutex::new(Held::default()),
            taken: Condvar::new(),
            #[cfg(test)]
            peak: AtomicU64::new(0),
        }
    }

    /// Waits until `bytes` more fit within the limit (at once if nothing is in flight), then
    /// counts them. The batch thread always takes what was handed over, so the wait ends.
    fn reserve(&self, bytes: usize) {
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        while held.bytes > 0 && held.bytes.saturating_add(bytes) > self.limit {
            held.waiting = true;
            held = match self.taken.wait(held) {
                Ok(held) => held,
                Err(_) => return,
            };
        }
        held.waiting = false;
        held.bytes += bytes;
        #[cfg(test)]
        self.peak.fetch_max(held.bytes as u64, Ordering::Relaxed);
    }

    /// The batch thread took `bytes`.
    fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let waiting = match self.held.lock() {
            Ok(mut held) => {
                held.bytes = held.bytes.saturating_sub(bytes);
                held.waiting
            }
            Err(_) => true,
        };
        if waiting {
            self.taken.notify_one();
        }
    }
}

/// One [`DigestedSink`] call, as data.
enum Event {
    Begin(Option<String>, ReportHeader),
    Record(Record, Alignment, IpText),
    End(ReportTrailer, [u8; 32]),
    /// A failure report: small (its header blocks are capped), so it travels whole.
    FailureReport(Option<String>, Box<FailureReport>),
    Failed(Option<String>, Error),
    Tls(Option<String>, Box<TlsReport>, [u8; 32]),
}

enum Reply {
    /// Events of an input still being read, and the bytes counted for them in [`InFlight`].
    Events(Vec<Event>, usize),
    /// The input is fully read: its last events, then its raw chunks (encoded as asked; none
    /// if it was cancelled). One message, so that a small input costs one hand-over.
    Done {
        events: Vec<Event>,
        /// Counted for `events` in [`InFlight`].
        bytes: usize,
        chunks: Vec<Vec<u8>>,
    },
}

/// One input for a parser thread.
struct Job {
    /// Jobs are numbered from 1 in the order they are started.
    number: u64,
    input: Vec<u8>,
    /// How to encode the input into `Reply::Raw` chunks after parsing it.
    encoding: RawEncoding,
}

/// Inputs the batch may have handed over and not yet received back, over all threads.
/// Several, so that the parsers keep working through small inputs while the batch thread
/// stores a large one; each job channel can hold them all, so handing over never blocks.
const MAX_OUTSTANDING: usize = 16;

/// Input bytes the batch may have handed over and not yet received back, over all threads
/// (one input of any size up to [`PARALLEL_MAX_BYTES`] is always allowed): bounds memory.
const MAX_OUTSTANDING_BYTES: usize = 8 << 20;

/// One parser thread and its channels.
struct ParserThread {
    /// `None` once the thread is gone (it never should be): no more jobs go to it.
    jobs: Option<SyncSender<Job>>,
    replies: Receiver<Reply>,
    in_flight: Arc<InFlight>,
    handle: Option<JoinHandle<()>>,
    /// Input bytes handed to this thread and not yet received back.
    outstanding_bytes: usize,
    /// Inputs handed to this thread and not yet received back.
    outstanding: usize,
}

/// The outstanding input is fully received, or the thread it was on is gone.
enum Received {
    Done,
    ThreadGone,
}

/// The parser threads of a batch, and the inputs handed to them, in order.
pub(crate) struct ParsePool {
    threads: Vec<ParserThread>,
    /// Jobs with a number up to this one are to be abandoned as soon as possible.
    cancel_through: Arc<AtomicU64>,
    /// Numbers of jobs started and fully received (they are received in the order started).
    started: u64,
    received: u64,
    /// The outstanding inputs, oldest first: the thread each is on, and its size.
    outstanding: VecDeque<(usize, usize)>,
    /// The sum of the outstanding inputs' sizes.
    outstanding_bytes: usize,
}

impl ParsePool {
    /// Starts `threads` parser threads (at least one); `None` if the system refuses even one
    /// (the caller then parses inline).
    pub(crate) fn spawn(limits: &Limits, threads: usize) -> Option<ParsePool> {
        let threads = threads.clamp(1, MAX_PARSE_THREADS);
        let cancel_through = Arc::new(AtomicU64::new(0));
        let depth = (BATCHES_IN_FLIGHT / threads).max(MIN_BATCHES_PER_THREAD);
        let in_flight_limit = MAX_IN_FLIGHT_BYTES / threads;
        let started: Vec<ParserThread> = (0..threads)
            .map_while(|index| {
                spawn_thread(
                    index,
                    limits.clone(),
                    Arc::clone(&cancel_through),
                    depth,
                    in_flight_limit,
                )
            })
            .collect();
        if started.is_empty() {
            return None;
        }
        Some(ParsePool {
            threads: started,
            cancel_through,
            started: 0,
            received: 0,
            outstanding: VecDeque::with_capacity(MAX_OUTSTANDING),
            outstanding_bytes: 0,
        })
    }

    /// Inputs handed over and not yet received back.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether an input of `size` bytes may be handed over now.
    pub(crate) fn has_room(&self, size: usize) -> bool {
        self.outstanding() == 0
            || self.outstanding() < MAX_OUTSTANDING
                && self.outstanding_bytes + size <= MAX_OUTSTANDING_BYTES
    }

    /// Hands `input` to the least busy parser thread, to be parsed and then encoded into
    /// chunks. The caller checks [`ParsePool::has_room`] before calling this.
    /// Gives the input back if every thread is gone.
    pub(crate) fn start(&mut self, input: Vec<u8>, encoding: RawEncoding) -> Result<(), Vec<u8>> {
        let number = self.started + 1;
        let size = input.len();
        let mut job = Job {
            number,
            input,
            encoding,
        };
        loop {
            // Least busy by bytes still to parse; each input also counts for a little, so
            // that many small ones are spread too.
            let Some(index) = (0..self.threads.len())
                .filter(|&index| self.threads[index].jobs.is_some())
                .min_by_key(|&index| {
                    let thread = &self.threads[index];
                    (thread.outstanding_bytes + thread.outstanding * 4096, index)
                })
            else {
                return Err(job.input);
            };
            let thread = &mut self.threads[index];
            let Some(jobs) = &thread.jobs else {
                return Err(job.input);
            };
            match jobs.send(job) {
                Ok(()) => {
                    thread.outstanding += 1;
                    thread.outstanding_bytes += size;
                    self.started = number;
                    self.outstanding.push_back((index, size));
                    self.outstanding_bytes += size;
                    return Ok(());
                }
                Err(returned) => {
                    thread.jobs = None;
                    job = returned.0;
                }
            }
        }
    }

    /// Forwards the oldest outstanding input's events to `sink`, in order, then its chunks to
    /// `raw`. If `sink` asks to stop, the parser is told to stop and the rest is discarded; an
    /// error from `raw` stops likewise and is returned.
    pub(crate) fn replay(
        &mut self,
        sink: &mut dyn DigestedSink,
        raw: &mut dyn FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stopped = false;
        let mut chunks = Vec::new();
        let received = self.receive_oldest(
            &mut |events| {
                if !stopped && forward(events, sink).is_break() {
                    stopped = true;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            },
            &mut chunks,
        );
        match received {
            Some(Received::Done) if !stopped => {
                for chunk in chunks {
                    raw(&chunk)?;
                }
            }
            Some(Received::ThreadGone) if !stopped => {
                // The thread ended (it never should): report the input as failed; its later
                // inputs fail likewise, and no more go to it.
                let _ = sink.report_failed(
                    None,
                    Error::Io(io::Error::other("the parser thread stopped")),
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// Receives the oldest outstanding input: each batch of its events goes to `events`
    /// (which may ask to abandon the rest), its chunks into `chunks`. `None` if nothing is
    /// outstanding.
    fn receive_oldest(
        &mut self,
        events: &mut dyn FnMut(Vec<Event>) -> ControlFlow<()>,
        chunks: &mut Vec<Vec<u8>>,
    ) -> Option<Received> {
        let &(index, size) = self.outstanding.front()?;
        let received = loop {
            let thread = &mut self.threads[index];
            match thread.replies.recv() {
                Ok(Reply::Events(batch, bytes)) => {
                    thread.in_flight.release(bytes);
                    if events(batch).is_break() {
                        self.cancel_oldest();
                    }
                }
                Ok(Reply::Done {
                    events: batch,
                    bytes,
                    chunks: raw,
                }) => {
                    thread.in_flight.release(bytes);
                    if events(batch).is_continue() {
                        *chunks = raw;
                    }
                    break Received::Done;
                }
                Err(_) => {
                    thread.jobs = None;
                    break Received::ThreadGone;
                }
            }
        };
        self.outstanding.pop_front();
        self.outstanding_bytes -= size;
        let thread = &mut self.threads[index];
        thread.outstanding -= 1;
        thread.outstanding_bytes -= size;
        self.received += 1;
        Some(received)
    }

    fn cancel_oldest(&self) {
        self.cancel_through
            .fetch_max(self.received + 1, Ordering::Relaxed);
    }

    /// Abandons the oldest outstanding input (its message is known already).
    pub(crate) fn skip(&mut self) {
        self.cancel_oldest();
        self.receive_oldest(&mut |_| ControlFlow::Continue(()), &mut Vec::new());
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

impl Drop for ParsePool {
    fn drop(&mut self) {
        self.skip_all();
        // Closing the job channels ends the threads' loops.
        for thread in &mut self.threads {
            thread.jobs = None;
        }
        for thread in &mut self.threads {
            if let Some(handle) = thread.handle.take() {
                let _ = handle.join();
            }
        }
    }
}

/// Starts parser thread number `index`; `None` if the system refuses.
fn spawn_thread(
    index: usize,
    limits: Limits,
    cancel_through: Arc<AtomicU64>,
    depth: usize,
    in_flight_limit: usize,
) -> Option<ParserThread> {
    // Each channel can hold every outstanding input, so handing one over never blocks.
    let (jobs, job_queue) = sync_channel::<Job>(MAX_OUTSTANDING);
    let (reply_sender, replies) = sync_channel::<Reply>(depth);
    let in_flight = Arc::new(InFlight::new(in_flight_limit));
    let thread_in_flight = Arc::clone(&in_flight);
    let handle = std::thread::Builder::new()
        .name(format!("ruadb-parse-{index}"))
        .spawn(move || {
            let mut compressor = Compressor::default();
            while let Ok(job) = job_queue.recv() {
                let cancelled = || cancel_through.load(Ordering::Relaxed) >= job.number;
                let mut sink = ChannelSink {
                    events: Vec::with_capacity(EVENTS_PER_BATCH),
                    bytes: 0,
                    replies: &reply_sender,
                    in_flight: &thread_in_flight,
                    cancelled: &cancelled,
                };
                ruadb_report::read_reports(&job.input, &limits, &mut Digesting::new(&mut sink));
                let events = std::mem::take(&mut sink.events);
                let bytes = sink.bytes;
                thread_in_flight.reserve(bytes);
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
                let done = Reply::Done {
                    events,
                    bytes,
                    chunks,
                };
                if reply_sender.send(done).is_err() {
                    break;
                }
            }
        })
        .ok()?;
    Some(ParserThread {
        jobs: Some(jobs),
        replies,
        in_flight,
        handle: Some(handle),
        outstanding_bytes: 0,
        outstanding: 0,
    })
}

/// Hands `events` to `sink` in order, until it asks to stop.
fn forward(events: Vec<Event>, sink: &mut dyn DigestedSink) -> ControlFlow<()> {
    for event in events {
        match event {
            Event::Begin(member, header) => sink.begin_report(member.as_deref(), &header)?,
            Event::Record(record, alignment, source_ip) => {
                sink.record(record, alignment, source_ip)?;
            }
            Event::End(trailer, content_hash) => sink.end_report(trailer, content_hash)?,
            Event::FailureReport(member, report) => {
                sink.failure_report(member.as_deref(), *report)?;
            }
            Event::Failed(member, error) => sink.report_failed(member.as_deref(), error)?,
            Event::Tls(member, report, content_hash) => {
                sink.tls_report(member.as_deref(), *report, content_hash)?;
            }
        }
    }
    ControlFlow::Continue(())
}

/// The parser thread's sink: batches events onto the channel.
struct ChannelSink<'a> {
    events: Vec<Event>,
    /// What `events` hold: record text ([`Record::text_bytes`]) and TLS reports
    /// ([`TlsReport::heap_bytes`]).
    bytes: usize,
    replies: &'a SyncSender<Reply>,
    in_flight: &'a InFlight,
    cancelled: &'a dyn Fn() -> bool,
}

impl ChannelSink<'_> {
    fn push(&mut self, event: Event) -> ControlFlow<()> {
        if (self.cancelled)() {
            return ControlFlow::Break(());
        }
        self.events.push(event);
        if self.events.len() >= EVENTS_PER_BATCH || self.bytes >= BATCH_TEXT_BYTES {
            return self.flush();
        }
        ControlFlow::Continue(())
    }

    fn flush(&mut self) -> ControlFlow<()> {
        if self.events.is_empty() {
            return ControlFlow::Continue(());
        }
        let bytes = std::mem::take(&mut self.bytes);
        let events = std::mem::replace(&mut self.events, Vec::with_capacity(EVENTS_PER_BATCH));
        self.in_flight.reserve(bytes);
        match self.replies.send(Reply::Events(events, bytes)) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }
}

impl DigestedSink for ChannelSink<'_> {
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()> {
        self.push(Event::Begin(member.map(str::to_owned), header.clone()))
    }

    fn record(
        &mut self,
        record: Record,
        alignment: Alignment,
        source_ip: IpText,
    ) -> ControlFlow<()> {
        self.bytes += record.text_bytes();
        self.push(Event::Record(record, alignment, source_ip))
    }

    fn end_report(&mut self, trailer: ReportTrailer, content_hash: [u8; 32]) -> ControlFlow<()> {
        self.push(Event::End(trailer, content_hash))
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

    fn tls_report(
        &mut self,
        member: Option<&str>,
        report: TlsReport,
        content_hash: [u8; 32],
    ) -> ControlFlow<()> {
        self.bytes += report.heap_bytes();
        self.push(Event::Tls(
            member.map(str::to_owned),
            Box::new(report),
            content_hash,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruadb_report::Warning;

    /// Counts TLS reports (and fails on anything else).
    #[derive(Default)]
    struct TlsCount(usize, Vec<String>);

    impl DigestedSink for TlsCount {
        fn begin_report(&mut self, _: Option<&str>, _: &ReportHeader) -> ControlFlow<()> {
            self.1.push("begin_report".to_owned());
            ControlFlow::Continue(())
        }
        fn record(&mut self, _: Record, _: Alignment, _: IpText) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
        fn end_report(&mut self, _: ReportTrailer, _: [u8; 32]) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
        fn failure_report(&mut self, _: Option<&str>, _: FailureReport) -> ControlFlow<()> {
            self.1.push("failure_report".to_owned());
            ControlFlow::Continue(())
        }
        fn report_failed(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()> {
            self.1.push(format!("{member:?}: {error}"));
            ControlFlow::Continue(())
        }
        fn tls_report(
            &mut self,
            _: Option<&str>,
            report: TlsReport,
            _: [u8; 32],
        ) -> ControlFlow<()> {
            assert!(
                report
                    .warnings
                    .iter()
                    .all(|Warning(w)| !w.contains("not kept"))
            );
            self.0 += 1;
            ControlFlow::Continue(())
        }
    }

    /// A message with `reports` TLS report attachments of 1,000 failure details each (about
    /// 400 KB each once parsed).
    fn message_of_large_tls_reports(reports: usize) -> Vec<u8> {
        let information = "x".repeat(200);
        let detail = format!(
            r#"{{"result-type":"certificate-expired","receiving-mx-hostname":"mx.example.com",
              "failed-session-count":1,"additional-information":"{information}"}}"#
        );
        let details = vec![detail; 1_000].join(",");
        let mut message = String::from(
            "From: tls@example.net\r\nSubject: reports\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
        );
        for n in 0..reports {
            message.push_str(&format!(
                "--b\r\nContent-Type: application/tlsrpt+json\r\n\
                 Content-Disposition: attachment; filename=\"r{n}.json\"\r\n\r\n\
                 {{\"organization-name\":\"Example\",\"report-id\":\"r{n}\",\
                 \"date-range\":{{\"start-datetime\":\"2026-11-16T00:00:00Z\",\
                 \"end-datetime\":\"2026-11-16T23:59:59Z\"}},\"contact-info\":\"a@example.net\",\
                 \"policies\":[{{\"policy\":{{\"policy-type\":\"sts\",\"policy-domain\":\"example.com\"}},\
                 \"summary\":{{\"total-successful-session-count\":1,\"total-failure-session-count\":1000}},\
                 \"failure-details\":[{details}]}}]}}\r\n"
            ));
        }
        message.push_str("--b--\r\n");
        message.into_bytes()
    }

    /// Large TLS reports handed over while the batch thread is busy elsewhere stay within
    /// the byte budget (the channels alone would hold a channel's depth of them), and all
    /// arrive: with one thread, and with several, whose budgets add up to the same whole.
    #[test]
    fn large_events_in_flight_stay_within_the_byte_budget() {
        const REPORTS: usize = 24;
        let one_report = 1_000 * 200;
        for threads in [1, 2, 3] {
            let mut pool = ParsePool::spawn(&Limits::default(), threads).unwrap();
            assert_eq!(pool.threads.len(), threads);
            for _ in 0..threads {
                pool.start(message_of_large_tls_reports(REPORTS), RawEncoding::Identity)
                    .unwrap();
            }
            // Each input went to its own thread (the least busy one).
            assert!(pool.threads.iter().all(|thread| thread.outstanding == 1));
            // The batch thread storing something else: the parsers run ahead as far as they
            // may.
            std::thread::sleep(std::time::Duration::from_secs(3));
            for _ in 0..threads {
                let mut sink = TlsCount::default();
                pool.replay(&mut sink, &mut |_| Ok(())).unwrap();
                assert_eq!(sink.0, REPORTS, "{:?}", sink.1);
            }
            let peaks: Vec<usize> = pool
                .threads
                .iter()
                .map(|thread| thread.in_flight.peak.load(Ordering::Relaxed) as usize)
                .collect();
            let total: usize = peaks.iter().sum();
            assert!(
                peaks.iter().all(|&peak| peak > one_report)
                    && total <= MAX_IN_FLIGHT_BYTES + threads * 3 * one_report,
                "{threads} threads: peaks in flight {peaks:?} bytes"
            );
        }
    }

    /// The pool never starts more than [`MAX_PARSE_THREADS`], nor fewer than one.
    #[test]
    fn thread_counts_are_bounded() {
        assert_eq!(parse_threads(NonZeroUsize::new(3)), 3);
        assert_eq!(parse_threads(NonZeroUsize::new(1_000)), MAX_PARSE_THREADS);
        assert!((1..=MAX_PARSE_THREADS).contains(&parse_threads(None)));
        let pool = ParsePool::spawn(&Limits::default(), 1_000).unwrap();
        assert_eq!(pool.threads.len(), MAX_PARSE_THREADS);
        let pool = ParsePool::spawn(&Limits::default(), 0).unwrap();
        assert_eq!(pool.threads.len(), 1);
    }
}
