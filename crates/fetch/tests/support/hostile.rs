//! A scripted misbehaving IMAP server on 127.0.0.1: it speaks just enough IMAP for a fetch
//! run to log in, select, search and fetch, then misbehaves as its [`Script`] says. Plain text
//! (for `tls = "none"` with `allow_plaintext`) or implicit TLS with the loopback Dovecot's
//! certificate.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the server misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// Behaves: one small message.
    Honest,
    /// `* CAPABILITY` that never ends.
    EndlessLine,
    /// Answers `UID SEARCH` with short untagged lines that never end.
    Flood,
    /// Answers `STARTTLS` with untagged lines that never end.
    StarttlsFlood,
    /// `* CAPABILITY` with as many distinct short names as fit in a line of this many bytes.
    ManyCapabilities(usize),
    /// `* SEARCH 1 1 1 …` in a line of this many bytes (the UID is still found).
    ManyUids(usize),
    /// Announces `RFC822.SIZE 1000`, then sends a body of this many bytes.
    OversizedLiteral(u64),
    /// Answers `UID FETCH` one byte every 200 ms, for ever.
    Trickle,
    /// Sends its greeting one byte every 200 ms, for ever.
    TrickleGreeting,
    /// Instead of a TLS handshake, the start of a TLS record, then one byte every 200 ms.
    TrickleHandshake,
    /// Answers `SELECT` with bytes that are not IMAP (control characters included).
    Garbage,
    /// Answers `SELECT` with an untagged `NO` among its lines, as Dovecot does while it waits
    /// for a mailbox lock (the `imap` crate's parser panics on it).
    UntaggedNo,
    /// Refuses LOGIN with a `NO` that repeats the command, password included.
    EchoLogin,
    /// Announces a 100,000-byte body, sends half of it and hangs up.
    MidLiteralDisconnect,
}

/// The message the honest parts serve.
pub const SMALL_MESSAGE: &[u8] = b"From: a@example.net\r\nSubject: hello\r\n\r\nnot a report\r\n";

pub struct HostileServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

type Acceptor = Option<Arc<native_tls::TlsAcceptor>>;

impl HostileServer {
    /// Starts the server; with `tls_dir` (holding `server.pem` and `server.key`) it speaks
    /// implicit TLS.
    pub fn start(script: Script, tls_dir: Option<&Path>) -> HostileServer {
        let acceptor: Acceptor = tls_dir.map(|dir| {
            let certificate = std::fs::read(dir.join("server.pem")).unwrap();
            let key = std::fs::read(dir.join("server.key")).unwrap();
            let identity = native_tls::Identity::from_pkcs8(&certificate, &key).unwrap();
            Arc::new(native_tls::TlsAcceptor::new(identity).unwrap())
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let acceptor = acceptor.clone();
                        let stopping = Arc::clone(&stopping);
                        std::thread::spawn(move || {
                            let _ = serve(stream, acceptor, script, &stopping);
                        });
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => return,
                }
            }
        });
        HostileServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn serve(tcp: TcpStream, acceptor: Acceptor, script: Script, stop: &AtomicBool) -> io::Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    if script == Script::TrickleHandshake {
        let mut tcp = tcp;
        // A handshake record of 16 KiB is announced; its bytes come one at a time.
        return trickle(&mut tcp, b"\x16\x03\x03\x40\x00", stop);
    }
    let mut stream: Box<dyn Stream> = match acceptor {
        Some(acceptor) => Box::new(acceptor.accept(tcp).map_err(io::Error::other)?),
        None => Box::new(tcp),
    };
    if script == Script::TrickleGreeting {
        return trickle(&mut stream, b"* OK hostile test server ready", stop);
    }
    stream.write_all(b"* OK hostile test server ready\r\n")?;
    let mut pending = Vec::new();
    loop {
        let Some(line) = read_line(&mut stream, &mut pending)? else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&line).into_owned();
        let mut words = text.split_whitespace();
        let tag = words.next().unwrap_or("*").to_owned();
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        let rest: Vec<&str> = words.collect();
        let ok = |stream: &mut Box<dyn Stream>| -> io::Result<()> {
            stream.write_all(format!("{tag} OK done\r\n").as_bytes())
        };
        match command.as_str() {
            "LOGIN" if script == Script::EchoLogin => {
                let echoed = text.trim_end();
                stream.write_all(
                    format!("{tag} NO [AUTHENTICATIONFAILED] refused: {echoed}\r\n").as_bytes(),
                )?;
            }
            "LOGIN" => ok(&mut stream)?,
            "CAPABILITY" if script == Script::EndlessLine => {
                stream.write_all(b"* CAPABILITY IMAP4rev1 ")?;
                let chunk = [b'X'; 64 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    stream.write_all(&chunk)?;
                }
                return Ok(());
            }
            "CAPABILITY" if matches!(script, Script::ManyCapabilities(_)) => {
                let Script::ManyCapabilities(bytes) = script else {
                    unreachable!()
                };
                let mut line = b"* CAPABILITY IMAP4rev1".to_vec();
                let mut count = 0u32;
                while line.len() + 12 < bytes {
                    line.extend_from_slice(format!(" X{count:x}").as_bytes());
                    count += 1;
                }
                line.extend_from_slice(b"\r\n");
                stream.write_all(&line)?;
                ok(&mut stream)?;
            }
            "CAPABILITY" => {
                stream.write_all(b"* CAPABILITY IMAP4rev1 MOVE UIDPLUS\r\n")?;
                ok(&mut stream)?;
            }
            "SELECT" if script == Script::Garbage => {
                stream.write_all(b"\x1b[31mHELLO\x07 this is \x00 not IMAP\r\n")?;
                std::thread::sleep(Duration::from_millis(200));
                return Ok(());
            }
            "SELECT" if script == Script::UntaggedNo => {
                stream.write_all(
                    format!(
                        "* 1 EXISTS\r\n* NO Mailbox is locked, will abort in 30 seconds\r\n* OK [UIDVALIDITY 7] ok\r\n{tag} OK [READ-WRITE] done\r\n"
                    )
                    .as_bytes(),
                )?;
            }
            "SELECT" => {
                stream.write_all(
                    format!(
                        "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 2] ok\r\n{tag} OK [READ-WRITE] done\r\n"
                    )
                    .as_bytes(),
                )?;
            }
            "UID" => {
                let sub = rest.first().map(|word| word.to_ascii_uppercase());
                let items = rest
                    .get(2..)
                    .map(|items| items.join(" "))
                    .unwrap_or_default();
                match sub.as_deref() {
                    Some("SEARCH") if script == Script::Flood => {
                        let chunk = b"* 1 EXISTS\r\n".repeat(4096);
                        while !stop.load(Ordering::Relaxed) {
                            stream.write_all(&chunk)?;
                        }
                        return Ok(());
                    }
                    Some("SEARCH") if matches!(script, Script::ManyUids(_)) => {
                        let Script::ManyUids(bytes) = script else {
                            unreachable!()
                        };
                        let mut line = b"* SEARCH".to_vec();
                        while line.len() + 4 < bytes {
                            line.extend_from_slice(b" 1");
                        }
                        line.extend_from_slice(b"\r\n");
                        stream.write_all(&line)?;
                        ok(&mut stream)?;
                    }
                    Some("SEARCH") => {
                        stream.write_all(b"* SEARCH 1\r\n")?;
                        ok(&mut stream)?;
                    }
                    Some("FETCH") if items.contains("RFC822.SIZE") => {
                        let size = match script {
                            Script::OversizedLiteral(_) => 1000,
                            Script::MidLiteralDisconnect => 100_000,
                            _ => SMALL_MESSAGE.len(),
                        };
                        stream.write_all(
                            format!("* 1 FETCH (UID 1 RFC822.SIZE {size})\r\n").as_bytes(),
                        )?;
                        ok(&mut stream)?;
                    }
                    Some("FETCH") if items.contains("BODY") => {
                        fetch_body(&mut stream, script, stop)?;
                        if matches!(script, Script::MidLiteralDisconnect | Script::Trickle) {
                            return Ok(());
                        }
                        ok(&mut stream)?;
                    }
                    _ => ok(&mut stream)?,
                }
            }
            "STARTTLS" if script == Script::StarttlsFlood => {
                let chunk = b"* OK still thinking\r\n".repeat(256);
                while !stop.load(Ordering::Relaxed) {
                    stream.write_all(&chunk)?;
                }
                return Ok(());
            }
            "LOGOUT" => {
                stream.write_all(b"* BYE bye\r\n")?;
                ok(&mut stream)?;
                return Ok(());
            }
            _ => ok(&mut stream)?,
        }
        stream.flush()?;
    }
}

fn fetch_body(stream: &mut Box<dyn Stream>, script: Script, stop: &AtomicBool) -> io::Result<()> {
    match script {
        Script::OversizedLiteral(size) => {
            stream.write_all(format!("* 1 FETCH (UID 1 BODY[] {{{size}}}\r\n").as_bytes())?;
            let chunk = [b'a'; 64 * 1024];
            let mut left = size;
            while left > 0 {
                let now = left.min(chunk.len() as u64) as usize;
                stream.write_all(&chunk[..now])?;
                left -= now as u64;
            }
            stream.write_all(b")\r\n")
        }
        Script::MidLiteralDisconnect => {
            stream.write_all(b"* 1 FETCH (UID 1 BODY[] {100000}\r\n")?;
            stream.write_all(&[b'a'; 50_000])?;
            stream.flush()
        }
        Script::Trickle => {
            let reply = format!("* 1 FETCH (UID 1 BODY[] {{{}}}\r\n", SMALL_MESSAGE.len());
            for byte in reply.bytes().chain(SMALL_MESSAGE.iter().copied()).cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                stream.write_all(&[byte])?;
                stream.flush()?;
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(())
        }
        _ => {
            stream.write_all(
                format!("* 1 FETCH (UID 1 BODY[] {{{}}}\r\n", SMALL_MESSAGE.len()).as_bytes(),
            )?;
            stream.write_all(SMALL_MESSAGE)?;
            stream.write_all(b")\r\n")
        }
    }
}

/// Writes `start` at once, then one more byte every 200 ms until stopped or hung up on.
fn trickle(stream: &mut impl Write, start: &[u8], stop: &AtomicBool) -> io::Result<()> {
    stream.write_all(start)?;
    while !stop.load(Ordering::Relaxed) {
        stream.write_all(b"a")?;
        stream.flush()?;
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// One command line from the client (`None` when it hung up).
fn read_line(stream: &mut Box<dyn Stream>, pending: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    loop {
        if let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            return Ok(Some(line));
        }
        let mut buffer = [0u8; 4096];
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(None);
        }
        pending.extend_from_slice(&buffer[..read]);
    }
}
