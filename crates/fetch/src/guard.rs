//! The byte and time budget under the `imap` crate.
//!
//! The `imap` crate reads a reply line by line into one growing buffer (`read_until(b'\n')`)
//! and keeps reading while its parser says "incomplete", with no bound on a line, a literal or
//! a reply. Its parser cannot be bounded from above, so the connection it reads from is bounded
//! from below instead, in two layers that share one [`Guard`]:
//!
//! - [`Timed`] wraps the TCP socket (under TLS, so that a trickled TLS record counts too).
//!   Before every read and write it sets the socket timeout to what is left of the command and
//!   run deadlines (never more than the per-read timeout), so a server that sends one byte a
//!   second cannot hold a command, or the run, past its deadline.
//! - [`Guarded`] wraps the clear-text IMAP stream (over TLS, under the crate) and runs a
//!   [`Lexer`] over it: every line is capped, every literal is capped, the bytes of one command's
//!   reply are capped, and so are the literals of one response. A literal over its cap in a
//!   `FETCH` reply is not passed on: the lexer reads and drops its bytes and hands the crate
//!   an empty string in its place, so that the session can treat that message as oversized mail and go on.
//!   Any other excess ends the stream with an error that names the limit.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How many of the latest lines are remembered, to say what a server sent when the crate
/// cannot parse it.
const RECENT_LINES: usize = 4;
/// How much of each line is remembered for that purpose.
const RECENT_LINE_BYTES: usize = 160;
/// The longest literal size accepted as a number: more digits is not a literal the crate
/// could parse (it reads sizes as `u32`), so the text is passed on and the crate rejects it.
const MAX_LITERAL_DIGITS: usize = 10;

/// The caps for the reply to one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLimits {
    /// The longest line outside literals (a `* SEARCH` answer is one line).
    pub max_line: u64,
    /// The bytes of the reply outside literals. The crate parses them into values that can
    /// take thirty times their size (a list of one-letter flags becomes a `String` each), so
    /// this is kept far below the memory bound.
    pub max_text: u64,
    /// The largest literal.
    pub max_literal: u64,
    /// All bytes of the reply, literals included.
    pub max_reply: u64,
    /// The most literals in one response (a `FETCH` of one message has one).
    pub max_literals_per_response: u32,
    /// The most lines in the reply: each is parsed into a value the crate keeps (unsolicited
    /// responses until they are drained), which can take more memory than the line itself.
    pub max_lines: u32,
    /// Whether a literal over `max_literal` (or one that would take the reply past
    /// `max_reply`) is replaced by an empty string and dropped, rather than ending the stream.
    pub drop_oversized_literals: bool,
}

impl ReplyLimits {
    /// The limits for commands whose reply holds no message and no long list: 64 KiB lines and
    /// literals (mailbox names), 1 MiB and 50,000 lines in all.
    pub const CONTROL: ReplyLimits = ReplyLimits {
        max_line: 64 * 1024,
        max_text: 1024 * 1024,
        max_literal: 64 * 1024,
        max_reply: 1024 * 1024,
        max_literals_per_response: 32,
        max_lines: 50_000,
        drop_oversized_literals: false,
    };

    /// The limits for `UID SEARCH`, asked in windows of at most
    /// [`SEARCH_WINDOW`](crate::SEARCH_WINDOW) messages: one `* SEARCH` line of up to
    /// 2 MiB (100,000 UIDs of ten digits take 1.1 MB).
    pub const SEARCH: ReplyLimits = ReplyLimits {
        max_line: 2 * 1024 * 1024,
        max_text: 2 * 1024 * 1024 + 64 * 1024,
        max_reply: 2 * 1024 * 1024 + 64 * 1024,
        ..ReplyLimits::CONTROL
    };
}

/// Which limit a server reply went past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Excess {
    /// A line longer than [`ReplyLimits::max_line`].
    Line(u64),
    /// A literal announced larger than [`ReplyLimits::max_literal`].
    Literal(u64),
    /// A reply larger than [`ReplyLimits::max_reply`].
    Reply(u64),
    /// More bytes outside literals than [`ReplyLimits::max_text`].
    Text(u64),
    /// More literals in one response than [`ReplyLimits::max_literals_per_response`].
    Literals(u32),
    /// More lines in a reply than [`ReplyLimits::max_lines`].
    Lines(u32),
}

impl fmt::Display for Excess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Excess::Line(limit) => write!(f, "a line longer than {limit} bytes"),
            Excess::Literal(limit) => write!(f, "a literal larger than {limit} bytes"),
            Excess::Reply(limit) => write!(f, "a reply larger than {limit} bytes"),
            Excess::Text(limit) => {
                write!(f, "a reply with more than {limit} bytes outside literals")
            }
            Excess::Literals(limit) => write!(f, "more than {limit} literals in one response"),
            Excess::Lines(limit) => write!(f, "a reply of more than {limit} lines"),
        }
    }
}

/// Which deadline ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadlineKind {
    /// `command_deadline_secs`: one command, however the server trickles its reply.
    Command,
    /// `run_deadline_secs`: everything done on one account in one run.
    Run,
}

/// Why the guard stopped a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tripped {
    /// A reply went past a limit.
    Excess(Excess),
    /// A deadline ran out.
    Deadline(DeadlineKind, Duration),
}

impl fmt::Display for Tripped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tripped::Excess(excess) => write!(f, "the server sent {excess}"),
            Tripped::Deadline(DeadlineKind::Command, limit) => {
                write!(f, "the command took longer than {} s", limit.as_secs())
            }
            Tripped::Deadline(DeadlineKind::Run, limit) => {
                write!(f, "the run took longer than {} s", limit.as_secs())
            }
        }
    }
}

impl std::error::Error for Tripped {}

/// The state both layers share: the deadlines and limits of the command in flight, what the
/// lexer has seen, and why the stream stopped, if it did.
#[derive(Clone)]
pub(crate) struct Guard(Arc<Mutex<State>>);

struct State {
    io_timeout: Duration,
    command_limit: Duration,
    command_deadline: Option<Instant>,
    run_limit: Duration,
    /// `None` when the limit is too far away for the clock to represent: no deadline then.
    run_deadline: Option<Instant>,
    lexer: Lexer,
    tripped: Option<Tripped>,
}

impl Guard {
    /// A guard whose run deadline starts now.
    pub(crate) fn new(io_timeout: Duration, command_limit: Duration, run_limit: Duration) -> Guard {
        let now = Instant::now();
        Guard(Arc::new(Mutex::new(State {
            io_timeout,
            command_limit,
            command_deadline: None,
            run_limit,
            run_deadline: now.checked_add(run_limit),
            lexer: Lexer::new(ReplyLimits::CONTROL),
            tripped: None,
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recover the data rather than propagate.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the clock and the byte count of a command.
    pub(crate) fn begin(&self, limits: ReplyLimits) {
        let mut state = self.state();
        let now = Instant::now();
        state.command_deadline = now.checked_add(state.command_limit);
        state.lexer.begin_reply(limits);
    }

    /// Why the stream stopped, if the guard stopped it.
    pub(crate) fn tripped(&self) -> Option<Tripped> {
        self.state().tripped
    }

    /// The sizes of the literals dropped in the current reply, in the order they came.
    pub(crate) fn take_dropped(&self) -> Vec<u64> {
        std::mem::take(&mut self.state().lexer.dropped)
    }

    /// The latest lines received (each cut to a short prefix), oldest first.
    pub(crate) fn recent_lines(&self) -> Vec<Vec<u8>> {
        self.state().lexer.recent.iter().cloned().collect()
    }

    /// The time a socket operation may take now: the per-read timeout, or less when a
    /// deadline is nearer. `Err` once a deadline has passed.
    fn next_timeout(&self) -> io::Result<(Duration, Option<Tripped>)> {
        let mut state = self.state();
        let now = Instant::now();
        let mut timeout = state.io_timeout;
        let mut cause = None;
        let mut nearer = |deadline: Instant, kind: DeadlineKind, limit: Duration| {
            let left = deadline.saturating_duration_since(now);
            if left <= timeout {
                timeout = left;
                cause = Some(Tripped::Deadline(kind, limit));
            }
        };
        if let Some(deadline) = state.command_deadline {
            nearer(deadline, DeadlineKind::Command, state.command_limit);
        }
        if let Some(deadline) = state.run_deadline {
            nearer(deadline, DeadlineKind::Run, state.run_limit);
        }
        // A zero timeout means "block forever" to the socket: a deadline that has passed is
        // reported here instead.
        if let (true, Some(tripped)) = (timeout.is_zero(), cause) {
            state.tripped = Some(tripped);
            return Err(io::Error::new(io::ErrorKind::TimedOut, tripped));
        }
        Ok((timeout.max(Duration::from_millis(1)), cause))
    }

    /// The time a connect may take now (see `next_timeout`).
    pub(crate) fn time_left(&self) -> io::Result<Duration> {
        self.next_timeout().map(|(timeout, _)| timeout)
    }

    /// Turns a socket timeout caused by a deadline into that deadline's error.
    fn socket_result<T>(&self, result: io::Result<T>, cause: Option<Tripped>) -> io::Result<T> {
        match (result, cause) {
            (Err(error), Some(tripped)) if is_timeout(&error) => {
                self.state().tripped = Some(tripped);
                Err(io::Error::new(io::ErrorKind::TimedOut, tripped))
            }
            (result, _) => result,
        }
    }

    fn trip(&self, tripped: Tripped) -> io::Error {
        self.state().tripped = Some(tripped);
        io::Error::new(io::ErrorKind::InvalidData, tripped)
    }
}

/// Whether an I/O error is a socket timeout (`WouldBlock` on Unix, `TimedOut` elsewhere).
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The TCP socket with the deadlines applied to every read and write.
pub(crate) struct Timed {
    tcp: TcpStream,
    guard: Guard,
}

impl Timed {
    pub(crate) fn new(tcp: TcpStream, guard: Guard) -> Timed {
        Timed { tcp, guard }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (timeout, cause) = self.guard.next_timeout()?;
        self.tcp.set_read_timeout(Some(timeout))?;
        let result = self.tcp.read(buf);
        self.guard.socket_result(result, cause)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (timeout, cause) = self.guard.next_timeout()?;
        self.tcp.set_write_timeout(Some(timeout))?;
        let result = self.tcp.write(buf);
        self.guard.socket_result(result, cause)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The clear-text IMAP stream as the `imap` crate sees it: bounded by the [`Lexer`].
pub(crate) struct Guarded<S> {
    inner: S,
    guard: Guard,
    /// Bytes the lexer has passed on that the crate has not read yet.
    ready: Vec<u8>,
    ready_from: usize,
    scratch: Vec<u8>,
}

impl<S: Read + Write> Guarded<S> {
    pub(crate) fn new(inner: S, guard: Guard) -> Guarded<S> {
        Guarded {
            inner,
            guard,
            ready: Vec::new(),
            ready_from: 0,
            scratch: vec![0; 16 * 1024],
        }
    }
}

impl<S: Read> Read for Guarded<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A dropped literal produces no output, so keep reading until there is some.
        while self.ready_from == self.ready.len() {
            self.ready.clear();
            self.ready_from = 0;
            let read = self.inner.read(&mut self.scratch)?;
            let mut state = self.guard.state();
            if read == 0 {
                state.lexer.finish(&mut self.ready);
                drop(state);
                if self.ready.is_empty() {
                    return Ok(0);
                }
                break;
            }
            let fed = state.lexer.feed(&self.scratch[..read], &mut self.ready);
            drop(state);
            if let Err(excess) = fed {
                return Err(self.guard.trip(Tripped::Excess(excess)));
            }
        }
        let available = &self.ready[self.ready_from..];
        let count = available.len().min(buf.len());
        buf[..count].copy_from_slice(&available[..count]);
        self.ready_from += count;
        Ok(count)
    }
}

impl<S: Write> Write for Guarded<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S> imap::extensions::idle::SetReadTimeout for Guarded<S> {
    /// The per-read timeout is the guard's; IDLE (the only caller) is not used.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> imap::error::Result<()> {
        if let Some(timeout) = timeout {
            self.guard.state().io_timeout = timeout;
        }
        Ok(())
    }
}

/// Where the lexer is in the server's byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// In a line, outside literals.
    Text,
    /// After `{` and `digits` digits of a possible literal size, held back.
    Size { digits: usize, value: u64 },
    /// After `{digits}`, held back.
    SizeEnd { value: u64 },
    /// After `{digits}\r`, held back.
    SizeCr { value: u64 },
    /// Passing a literal on.
    Literal { left: u64 },
    /// Reading a dropped literal (its bytes go nowhere).
    Dropping { left: u64 },
}

/// A streaming lexer for server replies (RFC 3501 section 4.3: a literal is `{size}` at the
/// end of a line, then exactly `size` bytes, after which the response line goes on). It copies
/// input to output, enforcing the [`ReplyLimits`] of the current reply; a literal it drops is
/// written as an empty quoted string.
///
/// Public for the fuzz target; not part of the crate's stable API.
#[doc(hidden)]
pub struct Lexer {
    limits: ReplyLimits,
    mode: Mode,
    /// `{digits}\r` held back until it is known whether it starts a literal.
    held: Vec<u8>,
    line: u64,
    text: u64,
    reply: u64,
    literals: u32,
    lines: u32,
    /// The start of the current line, for [`Guard::recent_lines`].
    line_start: Vec<u8>,
    recent: VecDeque<Vec<u8>>,
    dropped: Vec<u64>,
}

impl Lexer {
    /// A lexer at the start of a line.
    pub fn new(limits: ReplyLimits) -> Lexer {
        Lexer {
            limits,
            mode: Mode::Text,
            held: Vec::new(),
            line: 0,
            text: 0,
            reply: 0,
            literals: 0,
            lines: 0,
            line_start: Vec::new(),
            recent: VecDeque::new(),
            dropped: Vec::new(),
        }
    }

    /// Starts counting a new reply under new limits.
    pub fn begin_reply(&mut self, limits: ReplyLimits) {
        self.limits = limits;
        self.reply = 0;
        self.text = 0;
        self.lines = 0;
        self.dropped.clear();
    }

    /// The sizes of the literals dropped in this reply.
    pub fn dropped(&self) -> &[u64] {
        &self.dropped
    }

    /// Lexes `input`, appending what may be passed on to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), Excess> {
        while !input.is_empty() {
            match self.mode {
                Mode::Literal { left } | Mode::Dropping { left } => {
                    let take =
                        usize::try_from(left).map_or(input.len(), |left| left.min(input.len()));
                    let (body, rest) = input.split_at(take);
                    if matches!(self.mode, Mode::Literal { .. }) {
                        out.extend_from_slice(body);
                    }
                    let left = left - take as u64;
                    self.mode = match (self.mode, left) {
                        (_, 0) => Mode::Text,
                        (Mode::Literal { .. }, left) => Mode::Literal { left },
                        (_, left) => Mode::Dropping { left },
                    };
                    input = rest;
                }
                _ => {
                    let byte = input[0];
                    input = &input[1..];
                    if self.line_start.len() < RECENT_LINE_BYTES {
                        self.line_start.push(byte);
                    }
                    self.text_byte(byte, out)?;
                }
            }
        }
        Ok(())
    }

    /// The end of the stream: what was held back is passed on (the crate then sees it is
    /// incomplete).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
        self.mode = Mode::Text;
    }

    fn text_byte(&mut self, byte: u8, out: &mut Vec<u8>) -> Result<(), Excess> {
        match (self.mode, byte) {
            (Mode::Text, b'{') => {
                self.held.push(byte);
                self.mode = Mode::Size {
                    digits: 0,
                    value: 0,
                };
                self.count_line(1)
            }
            (Mode::Size { digits, value }, b'0'..=b'9') if digits < MAX_LITERAL_DIGITS => {
                self.held.push(byte);
                self.mode = Mode::Size {
                    digits: digits + 1,
                    value: value * 10 + u64::from(byte - b'0'),
                };
                self.count_line(1)
            }
            (Mode::Size { digits, value }, b'}') if digits > 0 => {
                self.held.push(byte);
                self.mode = Mode::SizeEnd { value };
                self.count_line(1)
            }
            (Mode::SizeEnd { value }, b'\r') => {
                self.held.push(byte);
                self.mode = Mode::SizeCr { value };
                self.count_line(1)
            }
            (Mode::SizeCr { value }, b'\n') => {
                self.held.clear();
                self.start_literal(value, out)
            }
            (Mode::Text, _) => {
                out.push(byte);
                self.count_line(1)?;
                if byte == b'\n' {
                    self.end_line();
                    self.lines += 1;
                    if self.lines > self.limits.max_lines {
                        return Err(Excess::Lines(self.limits.max_lines));
                    }
                }
                Ok(())
            }
            // Not a literal after all: pass on what was held back and look at this byte again.
            _ => {
                out.append(&mut self.held);
                self.mode = Mode::Text;
                self.text_byte(byte, out)
            }
        }
    }

    fn start_literal(&mut self, size: u64, out: &mut Vec<u8>) -> Result<(), Excess> {
        self.literals += 1;
        if self.literals > self.limits.max_literals_per_response {
            return Err(Excess::Literals(self.limits.max_literals_per_response));
        }
        self.remember_line_start();
        let marker = format!("{{{size}}}\r\n");
        let reply_after = self.reply.saturating_add(size);
        let fits = size <= self.limits.max_literal && reply_after <= self.limits.max_reply;
        if fits {
            out.extend_from_slice(marker.as_bytes());
            self.reply = reply_after;
            self.mode = if size == 0 {
                Mode::Text
            } else {
                Mode::Literal { left: size }
            };
        } else if self.limits.drop_oversized_literals {
            out.extend_from_slice(b"\"\"");
            self.dropped.push(size);
            self.mode = if size == 0 {
                Mode::Text
            } else {
                Mode::Dropping { left: size }
            };
        } else if size > self.limits.max_literal {
            return Err(Excess::Literal(self.limits.max_literal));
        } else {
            return Err(Excess::Reply(self.limits.max_reply));
        }
        // The line goes on after the literal; its length starts again.
        self.line = 0;
        Ok(())
    }

    fn count_line(&mut self, bytes: u64) -> Result<(), Excess> {
        self.line += bytes;
        self.text += bytes;
        self.reply += bytes;
        if self.line > self.limits.max_line {
            return Err(Excess::Line(self.limits.max_line));
        }
        if self.text > self.limits.max_text {
            return Err(Excess::Text(self.limits.max_text));
        }
        if self.reply > self.limits.max_reply {
            return Err(Excess::Reply(self.limits.max_reply));
        }
        Ok(())
    }

    fn end_line(&mut self) {
        self.remember_line_start();
        self.line = 0;
        self.literals = 0;
    }

    fn remember_line_start(&mut self) {
        if self.recent.len() == RECENT_LINES {
            self.recent.pop_front();
        }
        self.recent.push_back(std::mem::take(&mut self.line_start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: ReplyLimits = ReplyLimits {
        max_line: 32,
        max_text: 1000,
        max_literal: 8,
        max_reply: 64,
        max_literals_per_response: 2,
        max_lines: 4,
        drop_oversized_literals: false,
    };

    /// Lexes `input` fed one byte at a time and all at once; both must agree.
    fn lex(limits: ReplyLimits, input: &[u8]) -> Result<Vec<u8>, Excess> {
        let mut whole = Lexer::new(limits);
        let mut out = Vec::new();
        let result = whole.feed(input, &mut out).map(|()| {
            whole.finish(&mut out);
            out
        });
        let mut bytewise = Lexer::new(limits);
        let mut out = Vec::new();
        let mut split = Ok(());
        for byte in input {
            split = bytewise.feed(std::slice::from_ref(byte), &mut out);
            if split.is_err() {
                break;
            }
        }
        let split = split.map(|()| {
            bytewise.finish(&mut out);
            out
        });
        assert_eq!(result, split, "{:?}", String::from_utf8_lossy(input));
        result
    }

    #[test]
    fn replies_within_the_limits_pass_unchanged() {
        let reply = b"* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\na1 OK {x} {}\r\n";
        assert_eq!(lex(SMALL, reply).unwrap(), reply.to_vec());
    }

    #[test]
    fn a_long_line_is_refused_but_a_literal_does_not_count_as_line() {
        assert_eq!(
            lex(SMALL, b"* CAPABILITY IMAP4rev1 XXXXXXXXXXXXXXX"),
            Err(Excess::Line(32))
        );
        // Eight bytes of literal between two short halves of one line.
        assert!(
            lex(
                SMALL,
                b"* 1 FETCH (UID 1 BODY[] {8}\r\n12345678 FLAGS (\\Seen))\r\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn literals_are_capped_in_size_count_and_reply_total() {
        assert_eq!(lex(SMALL, b"* 1 FETCH {9}\r\n"), Err(Excess::Literal(8)));
        assert_eq!(
            lex(SMALL, b"* {1}\r\na{1}\r\nb{1}\r\nc\r\n"),
            Err(Excess::Literals(2))
        );
        let mut many_lines = Vec::new();
        for _ in 0..10 {
            many_lines.extend_from_slice(b"* OK x\r\n");
        }
        assert_eq!(lex(SMALL, &many_lines), Err(Excess::Lines(4)));
        let lines_allowed = ReplyLimits {
            max_lines: 100,
            ..SMALL
        };
        assert_eq!(lex(lines_allowed, &many_lines), Err(Excess::Reply(64)));
        let text_capped = ReplyLimits {
            max_text: 20,
            ..lines_allowed
        };
        assert_eq!(lex(text_capped, &many_lines), Err(Excess::Text(20)));
    }

    #[test]
    fn an_oversized_literal_is_dropped_and_replaced_when_allowed() {
        let limits = ReplyLimits {
            drop_oversized_literals: true,
            ..SMALL
        };
        let mut lexer = Lexer::new(limits);
        let mut out = Vec::new();
        lexer
            .feed(
                b"* 1 FETCH (UID 4 BODY[] {12}\r\n0123456789ab)\r\n",
                &mut out,
            )
            .unwrap();
        assert_eq!(out, b"* 1 FETCH (UID 4 BODY[] \"\")\r\n".to_vec());
        assert_eq!(lexer.dropped(), &[12]);
    }

    #[test]
    fn a_size_that_is_not_a_literal_is_passed_on() {
        for text in [
            &b"* OK {12345678901}\r\n"[..],
            b"* OK {12}x\r\n",
            b"* OK {12}\rx\r\n",
            b"* OK {{1}\r\na\r\n",
            b"* OK {",
        ] {
            assert_eq!(lex(SMALL, text).unwrap(), text.to_vec(), "{text:?}");
        }
    }

    #[test]
    fn the_latest_lines_are_remembered_in_short() {
        let mut lexer = Lexer::new(ReplyLimits::CONTROL);
        let mut out = Vec::new();
        let long = [b'x'; 400];
        lexer.feed(b"* OK one\r\n", &mut out).unwrap();
        lexer.feed(&long, &mut out).unwrap();
        lexer.feed(b"\r\n", &mut out).unwrap();
        let recent: Vec<&Vec<u8>> = lexer.recent.iter().collect();
        assert_eq!(recent[0], &b"* OK one\r\n".to_vec());
        assert_eq!(recent[1].len(), RECENT_LINE_BYTES);
    }

    /// The fuzz target's invariants (fuzz/fuzz_targets/imap_reply.rs) on generated replies
    /// built from the bytes that matter to the lexer: any chunking lexes alike, and nothing is
    /// changed unless a literal was dropped.
    #[test]
    fn generated_replies_lex_alike_in_any_chunks() {
        const ALPHABET: &[u8] = b"{}\r\n0123456789a ";
        let mut rng = ruadb_testgen::Rng::new(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next_u64();
        for round in 0..3000 {
            let length = (next() % 120) as usize;
            let input: Vec<u8> = (0..length)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let limits = ReplyLimits {
                drop_oversized_literals: round % 2 == 0,
                ..SMALL
            };
            let result = lex(limits, &input);
            let mut lexer = Lexer::new(limits);
            let mut out = Vec::new();
            let chunk = 1 + (next() % 7) as usize;
            let mut chunked = Ok(());
            for piece in input.chunks(chunk) {
                chunked = lexer.feed(piece, &mut out);
                if chunked.is_err() {
                    break;
                }
            }
            assert_eq!(chunked.is_ok(), result.is_ok(), "{input:?}");
            if let Ok(whole) = result {
                lexer.finish(&mut out);
                assert_eq!(out, whole, "{input:?}");
                if lexer.dropped().is_empty() {
                    assert_eq!(out, input);
                }
            }
        }
    }
}
