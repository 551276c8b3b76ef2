//! Parsing on a second thread, so that reading XML and writing SQLite overlap.
//!
//! Ingest is about one half parsing and one half SQLite. The batch hands each input (up to
//! [`PARALLEL_MAX_BYTES`]) to a long-lived parser thread, which parses it and then compresses
//! it, while the caller's thread replays the events into the storing sink (through `digest`:
//! content hashes and alignment are computed there, which balances the two threads) and
//! inserts the compressed chunks. Events travel in small
//! batches over a bounded channel, and the bytes they hold are budgeted
//! ([`MAX_IN_FLIGHT_BYTES`]), so memory stays bounded whatever the events are (records of a
//! few hundred bytes, or whole SMTP TLS reports). The database is only ever touched by the
//! caller's thread.

use crate::StoreError;
use crate::raw::{ChunkEncoder, Compressor, RawEncoding};
use ruadb_report::{
    Error, FailureReport, Limits, Record, ReportHeader, ReportTrailer, Sink, TlsReport,
};
use std::collections::VecDeque;
use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
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

/// Bytes of events (record text, TLS reports) handed over and not yet taken by the batch
/// thread; one batch of any size is always allowed. The channel's depth bounds small events;
/// this bounds large ones (a TLS report holds up to a few megabytes), which a zip of many
/// could otherwise stack up [`BATCHES_IN_FLIGHT`] deep. Records never reach it
/// ([`BATCHES_IN_FLIGHT`] × ([`BATCH_TEXT_BYTES`] + one record) is well below).
const MAX_IN_FLIGHT_BYTES: usize = 4 << 20;

/// The bytes in flight between the threads, and a signal when the batch thread takes some.
#[derive(Default)]
struct InFlight {
    bytes: Mutex<usize>,
    taken: Condvar,
    /// The most ever in flight.
    #[cfg(test)]
    peak: AtomicU64,
}

impl InFlight {
    /// Waits until `bytes` more fit within [`MAX_IN_FLIGHT_BYTES`] (at once if nothing is in
    /// flight), then counts them. The batch thread always takes what was handed over, so the
    /// wait ends.
    fn reserve(&self, bytes: usize) {
        let Ok(mut in_flight) = self.bytes.lock() else {
            return;
        };
        while *in_flight > 0 && in_flight.saturating_add(bytes) > MAX_IN_FLIGHT_BYTES {
            in_flight = match self.taken.wait(in_flight) {
                Ok(in_flight) => in_flight,
                Err(_) => return,
            };
        }
        *in_flight += bytes;
        #[cfg(test)]
        self.peak.fetch_max(*in_flight as u64, Ordering::Relaxed);
    }

    /// The batch thread took `bytes`.
    fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        if let Ok(mut in_flight) = self.bytes.lock() {
            *in_flight = in_flight.saturating_sub(bytes);
        }
        self.taken.notify_one();
    }
}

/// One [`Sink`] call, as data.
enum Event {
    Begin(Option<String>, ReportHeader),
    Record(Record),
    End(ReportTrailer),
    /// A failure report: small (its header blocks are capped), so it travels whole.
    FailureReport(Option<String>, Box<FailureReport>),
    Failed(Option<String>, Error),
    Tls(Option<String>, Box<TlsReport>),
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
    in_flight: Arc<InFlight>,
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
        let in_flight = Arc::new(InFlight::default());
        let worker_in_flight = Arc::clone(&in_flight);
        let thread = std::thread::Builder::new()
            .name("ruadb-parse".to_owned())
            .spawn(move || {
                let mut compressor = Compressor::default();
                while let Ok(job) = job_queue.recv() {
                    let cancelled = || worker_cancel.load(Ordering::Relaxed) >= job.number;
                    let mut sink = ChannelSink {
                        events: Vec::with_capacity(EVENTS_PER_BATCH),
                        bytes: 0,
                        replies: &reply_sender,
                        in_flight: &worker_in_flight,
                        cancelled: &cancelled,
                    };
                    ruadb_report::read_reports(&job.input, &limits, &mut sink);
                    let events = std::mem::take(&mut sink.events);
                    let bytes = sink.bytes;
                    worker_in_flight.reserve(bytes);
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
        Some(ParseWorker {
            jobs: Some(jobs),
            replies,
            in_flight,
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
                Ok(Reply::Events(events, bytes)) => {
                    self.in_flight.release(bytes);
                    if !stopped && forward(events, sink).is_break() {
                        stopped = true;
                        self.cancel_oldest();
                    }
                }
                Ok(Reply::Done {
                    events,
                    bytes,
                    chunks,
                }) => {
                    self.in_flight.release(bytes);
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
                Ok(Reply::Events(_, bytes)) => self.in_flight.release(bytes),
                Ok(Reply::Done { bytes, .. }) => {
                    self.in_flight.release(bytes);
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
            Event::Tls(member, report) => sink.tls_report(member.as_deref(), *report)?,
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

impl Sink for ChannelSink<'_> {
    fn begin_report(&mut self, member: Option<&str>, header: &ReportHeader) -> ControlFlow<()> {
        self.push(Event::Begin(member.map(str::to_owned), header.clone()))
    }

    fn record(&mut self, record: Record) -> ControlFlow<()> {
        self.bytes += record.text_bytes();
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

    fn tls_report(&mut self, member: Option<&str>, report: TlsReport) -> ControlFlow<()> {
        self.bytes += report.heap_bytes();
        self.push(Event::Tls(member.map(str::to_owned), Box::new(report)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruadb_report::Warning;

    /// Counts TLS reports (and fails on anything else).
    #[derive(Default)]
    struct TlsCount(usize, Vec<String>);

    impl Sink for TlsCount {
        fn begin_report(&mut self, _: Option<&str>, _: &ReportHeader) -> ControlFlow<()> {
            self.1.push("begin_report".to_owned());
            ControlFlow::Continue(())
        }
        fn record(&mut self, _: Record) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
        fn end_report(&mut self, _: ReportTrailer) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
        fn report_failed(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()> {
            self.1.push(format!("{member:?}: {error}"));
            ControlFlow::Continue(())
        }
        fn tls_report(&mut self, _: Option<&str>, report: TlsReport) -> ControlFlow<()> {
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
    /// the byte budget (the channel alone would hold [`BATCHES_IN_FLIGHT`] of them), and all
    /// arrive.
    #[test]
    fn large_events_in_flight_stay_within_the_byte_budget() {
        const REPORTS: usize = 24;
        let mut worker = ParseWorker::spawn(Limits::default()).unwrap();
        worker
            .start(message_of_large_tls_reports(REPORTS), RawEncoding::Identity)
            .unwrap();
        // The batch thread storing something else: the parser runs ahead as far as it may.
        std::thread::sleep(std::time::Duration::from_secs(3));
        let mut sink = TlsCount::default();
        worker.replay(&mut sink, &mut |_| Ok(())).unwrap();
        assert_eq!(sink.0, REPORTS, "{:?}", sink.1);
        let peak = worker.in_flight.peak.load(Ordering::Relaxed) as usize;
        let one_report = 1_000 * 200;
        assert!(
            peak > one_report && peak <= MAX_IN_FLIGHT_BYTES + 3 * one_report,
            "peak in flight {peak} bytes"
        );
    }
}
