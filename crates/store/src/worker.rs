//! Parsing on a second thread, so that reading XML and writing SQLite overlap.
//!
//! Ingest is about one half parsing and one half SQLite. The batch hands each input (up to
//! [`PARALLEL_MAX_BYTES`]) to a long-lived parser thread and, while it parses, stores the raw
//! bytes and then replays the parser's events into the storing sink on the caller's thread.
//! Events travel in small batches over a bounded channel, so memory stays bounded. The
//! database is only ever touched by the caller's thread.

use ruadb_report::{Error, Limits, Record, ReportHeader, ReportTrailer, Sink};
use std::io;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Inputs up to this size are parsed on the worker (they are copied to it); larger ones are
/// parsed inline, so a huge input is never held twice.
pub(crate) const PARALLEL_MAX_BYTES: usize = 4 << 20;

/// Events per message on the channel: amortises the hand-over without holding much.
const EVENTS_PER_BATCH: usize = 64;

/// Event batches in flight: with [`EVENTS_PER_BATCH`], at most a few hundred records.
const BATCHES_IN_FLIGHT: usize = 4;

/// One [`Sink`] call, as data.
enum Event {
    Begin(Option<String>, ReportHeader),
    Record(Record),
    End(ReportTrailer),
    Failed(Option<String>, Error),
}

enum Reply {
    Events(Vec<Event>),
    /// The input is fully read.
    Done,
}

/// The parser thread and its channels.
pub(crate) struct ParseWorker {
    jobs: Option<SyncSender<Vec<u8>>>,
    replies: Receiver<Reply>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// An input was started and its events not yet fully received.
    pending: bool,
}

impl ParseWorker {
    /// Starts the thread; `None` if the system refuses (the caller then parses inline).
    pub(crate) fn spawn(limits: Limits) -> Option<ParseWorker> {
        let (jobs, job_queue) = sync_channel::<Vec<u8>>(1);
        let (reply_sender, replies) = sync_channel::<Reply>(BATCHES_IN_FLIGHT);
        let cancel = Arc::new(AtomicBool::new(false));
        let worker_cancel = Arc::clone(&cancel);
        let thread = std::thread::Builder::new()
            .name("ruadb-parse".to_owned())
            .spawn(move || {
                while let Ok(input) = job_queue.recv() {
                    let mut sink = ChannelSink {
                        events: Vec::with_capacity(EVENTS_PER_BATCH),
                        replies: &reply_sender,
                        cancel: &worker_cancel,
                    };
                    ruadb_report::read_reports(&input, &limits, &mut sink);
                    drop(input);
                    let _ = sink.flush();
                    if reply_sender.send(Reply::Done).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(ParseWorker {
            jobs: Some(jobs),
            replies,
            cancel,
            thread: Some(thread),
            pending: false,
        })
    }

    /// Hands `input` to the parser thread. Returns false if the thread is gone.
    pub(crate) fn start(&mut self, input: Vec<u8>) -> bool {
        // A previous input whose events were not replayed (its message failed to store)
        // must not leak into this one.
        self.discard_pending();
        self.cancel.store(false, Ordering::Relaxed);
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(input).is_ok());
        self.pending = sent;
        sent
    }

    /// Forwards the started input's events to `sink`, in order. If `sink` asks to stop, the
    /// parser is told to stop and the rest is discarded.
    pub(crate) fn replay(&mut self, sink: &mut dyn Sink) {
        let mut stopped = false;
        while self.pending {
            let events = match self.replies.recv() {
                Ok(Reply::Events(events)) => events,
                Ok(Reply::Done) => {
                    self.pending = false;
                    break;
                }
                Err(_) => {
                    // The thread ended (it never should): report the input as failed, and
                    // the caller's next start() fails so that it parses inline from then on.
                    self.pending = false;
                    self.jobs = None;
                    if !stopped {
                        let _ = sink.report_failed(
                            None,
                            Error::Io(io::Error::other("the parser thread stopped")),
                        );
                    }
                    break;
                }
            };
            if stopped {
                continue;
            }
            for event in events {
                let flow = match event {
                    Event::Begin(member, header) => sink.begin_report(member.as_deref(), &header),
                    Event::Record(record) => sink.record(record),
                    Event::End(trailer) => sink.end_report(trailer),
                    Event::Failed(member, error) => sink.report_failed(member.as_deref(), error),
                };
                if flow.is_break() {
                    stopped = true;
                    self.cancel.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
    }

    fn discard_pending(&mut self) {
        while self.pending {
            match self.replies.recv() {
                Ok(Reply::Events(_)) => self.cancel.store(true, Ordering::Relaxed),
                Ok(Reply::Done) | Err(_) => self.pending = false,
            }
        }
    }
}

impl Drop for ParseWorker {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.discard_pending();
        // Closing the job channel ends the thread's loop.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The parser thread's sink: batches events onto the channel.
struct ChannelSink<'a> {
    events: Vec<Event>,
    replies: &'a SyncSender<Reply>,
    cancel: &'a AtomicBool,
}

impl ChannelSink<'_> {
    fn push(&mut self, event: Event) -> ControlFlow<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        self.events.push(event);
        if self.events.len() >= EVENTS_PER_BATCH {
            return self.flush();
        }
        ControlFlow::Continue(())
    }

    fn flush(&mut self) -> ControlFlow<()> {
        if self.events.is_empty() {
            return ControlFlow::Continue(());
        }
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
        self.push(Event::Record(record))
    }

    fn end_report(&mut self, trailer: ReportTrailer) -> ControlFlow<()> {
        self.push(Event::End(trailer))
    }

    fn report_failed(&mut self, member: Option<&str>, error: Error) -> ControlFlow<()> {
        self.push(Event::Failed(member.map(str::to_owned), error))
    }
}
