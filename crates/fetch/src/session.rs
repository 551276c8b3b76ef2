//! A logged-in IMAP session: connection set-up (TLS by hand, timeouts), mailbox access and the
//! post-ingest actions.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use native_tls::{Certificate, HandshakeError, TlsConnector, TlsStream};

use crate::config::{Config, TlsMode};
use crate::error::FetchError;

/// The longest line accepted before STARTTLS; a real greeting is far shorter.
const MAX_PRE_TLS_LINE: usize = 16 * 1024;

/// What `SELECT` says about a mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxState {
    /// Changes when the server renumbers the mailbox; the cursor is then void.
    pub uidvalidity: u32,
    pub uidnext: Option<u32>,
    pub exists: u32,
}

/// One message as stored on the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedMessage {
    pub uid: u32,
    pub bytes: Vec<u8>,
}

/// What to do with messages whose outcome is committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostAction {
    Keep,
    Seen,
    /// Move to this mailbox (`/`-separated name), creating it if missing.
    Move(String),
    Delete,
}

/// A logged-in session on one server.
pub struct Session {
    imap: imap::Session<imap::Connection>,
    host: String,
    timeout: Duration,
    supports_move: bool,
    supports_uidplus: bool,
    /// The hierarchy separator from `LIST "" ""`, looked up on first use.
    delimiter: Option<Option<String>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.host)
            .field("supports_move", &self.supports_move)
            .field("supports_uidplus", &self.supports_uidplus)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects, secures the connection as configured, logs in and reads the capabilities
    /// (MOVE and UIDPLUS are only advertised after login).
    pub fn connect(config: &Config) -> Result<Session, FetchError> {
        let host = config.host.clone();
        let tcp = connect_tcp(config)?;
        let mut client = match config.tls {
            TlsMode::Implicit => {
                let tls = handshake(config, tcp)?;
                let mut client = imap::Client::new(Box::new(tls) as imap::Connection);
                read_greeting(&mut client, config)?;
                client
            }
            TlsMode::Starttls => {
                let mut tcp = tcp;
                starttls(&mut tcp, config)?;
                let tls = handshake(config, tcp)?;
                let mut client = imap::Client::new(Box::new(tls) as imap::Connection);
                // The greeting came before STARTTLS; the server sends no second one.
                client.greeting_read = true;
                client
            }
            TlsMode::None => {
                if !config.allow_plaintext {
                    return Err(FetchError::Config(
                        "tls = \"none\" sends the password in clear text; set allow_plaintext = true to allow it".to_owned(),
                    ));
                }
                let mut client = imap::Client::new(Box::new(tcp) as imap::Connection);
                read_greeting(&mut client, config)?;
                client
            }
        };
        // Only the password is sensitive; make sure the crate's debug echo is off.
        client.debug = false;
        let mut imap = client
            .login(&config.username, config.password.expose())
            .map_err(|(error, _client)| match error {
                imap::Error::No(no) => FetchError::Auth {
                    username: config.username.clone(),
                    host: host.clone(),
                    detail: no.information,
                },
                imap::Error::Bad(bad) => FetchError::Auth {
                    username: config.username.clone(),
                    host: host.clone(),
                    detail: bad.information,
                },
                imap::Error::Validate(_) => FetchError::Config(
                    "the username or password contains characters IMAP LOGIN cannot carry"
                        .to_owned(),
                ),
                other => classify(other, &host, "LOGIN", config.timeout),
            })?;
        let capabilities = imap
            .capabilities()
            .map_err(|error| classify(error, &host, "CAPABILITY", config.timeout))?;
        let supports_move = capabilities.has_str("MOVE");
        let supports_uidplus = capabilities.has_str("UIDPLUS");
        drop(capabilities);
        Ok(Session {
            imap,
            host,
            timeout: config.timeout,
            supports_move,
            supports_uidplus,
            delimiter: None,
        })
    }

    /// Whether the server advertised MOVE (RFC 6851) after login.
    pub fn supports_move(&self) -> bool {
        self.supports_move
    }

    /// Moves with COPY + `\Deleted` + EXPUNGE from now on, as on a server without MOVE
    /// (tests use it to cover that path on a server that has MOVE).
    pub fn disable_move(&mut self) {
        self.supports_move = false;
    }

    /// Selects a mailbox (read-write: the post-actions need it).
    pub fn select(&mut self, mailbox: &str) -> Result<MailboxState, FetchError> {
        let name = self.server_name(mailbox)?;
        let selected = self.imap.select(&name).map_err(|error| match error {
            imap::Error::No(_) => FetchError::NoMailbox {
                mailbox: mailbox.to_owned(),
                host: self.host.clone(),
            },
            other => classify(other, &self.host, "SELECT", self.timeout),
        })?;
        let uidvalidity = selected.uid_validity.ok_or_else(|| FetchError::Protocol {
            host: self.host.clone(),
            operation: "SELECT",
            detail: format!("no UIDVALIDITY for mailbox {mailbox:?}"),
        })?;
        Ok(MailboxState {
            uidvalidity,
            uidnext: selected.uid_next,
            exists: selected.exists,
        })
    }

    /// UIDs above `last_uid` in the selected mailbox, ascending.
    pub fn uids_after(&mut self, last_uid: u32) -> Result<Vec<u32>, FetchError> {
        let Some(first) = last_uid.checked_add(1) else {
            return Ok(Vec::new());
        };
        // `first:*` always matches the highest UID, even when it is below `first`
        // (RFC 3501 6.4.8), hence the filter.
        let found = self
            .imap
            .uid_search(format!("UID {first}:*"))
            .map_err(|error| classify(error, &self.host, "UID SEARCH", self.timeout))?;
        let mut uids: Vec<u32> = found.into_iter().filter(|&uid| uid > last_uid).collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// UIDs up to and including `last_uid` that are not `\Seen`, ascending.
    pub fn unseen_up_to(&mut self, last_uid: u32) -> Result<Vec<u32>, FetchError> {
        if last_uid == 0 {
            return Ok(Vec::new());
        }
        let found = self
            .imap
            .uid_search(format!("UNSEEN UID 1:{last_uid}"))
            .map_err(|error| classify(error, &self.host, "UID SEARCH", self.timeout))?;
        let mut uids: Vec<u32> = found.into_iter().filter(|&uid| uid <= last_uid).collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The full raw bytes of these messages, ascending by UID, read with `BODY.PEEK[]` so that
    /// `\Seen` is not set. A UID that no longer exists is simply absent from the result.
    pub fn fetch(&mut self, uids: &[u32]) -> Result<Vec<FetchedMessage>, FetchError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let mut wanted = uids.to_vec();
        wanted.sort_unstable();
        let fetches = self
            .imap
            .uid_fetch(uid_set(uids), "(UID BODY.PEEK[])")
            .map_err(|error| classify(error, &self.host, "UID FETCH", self.timeout))?;
        let mut messages: Vec<FetchedMessage> = fetches
            .iter()
            // Unsolicited FETCH responses (flag changes by other clients) carry no body.
            .filter_map(|fetch| {
                let uid = fetch.uid?;
                let body = fetch.body()?;
                wanted.binary_search(&uid).is_ok().then(|| FetchedMessage {
                    uid,
                    bytes: body.to_vec(),
                })
            })
            .collect();
        drop(fetches);
        self.imap.take_all_unsolicited().for_each(drop);
        messages.sort_unstable_by_key(|message| message.uid);
        messages.dedup_by_key(|message| message.uid);
        Ok(messages)
    }

    /// The size in bytes (RFC822.SIZE) of these messages, ascending by UID, so that a caller
    /// can bound what it holds in memory before fetching bodies.
    pub fn sizes(&mut self, uids: &[u32]) -> Result<Vec<(u32, u32)>, FetchError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let fetches = self
            .imap
            .uid_fetch(uid_set(uids), "(UID RFC822.SIZE)")
            .map_err(|error| classify(error, &self.host, "UID FETCH", self.timeout))?;
        let mut sizes: Vec<(u32, u32)> = fetches
            .iter()
            .filter_map(|fetch| Some((fetch.uid?, fetch.size?)))
            .collect();
        drop(fetches);
        self.imap.take_all_unsolicited().for_each(drop);
        sizes.sort_unstable();
        sizes.dedup_by_key(|(uid, _)| *uid);
        Ok(sizes)
    }

    /// The flags of these messages, e.g. `\Seen`, by UID.
    pub fn flags(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<String>)>, FetchError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let fetches = self
            .imap
            .uid_fetch(uid_set(uids), "(UID FLAGS)")
            .map_err(|error| classify(error, &self.host, "UID FETCH", self.timeout))?;
        let mut flags: Vec<(u32, Vec<String>)> = fetches
            .iter()
            .filter_map(|fetch| {
                let uid = fetch.uid?;
                let names = fetch.flags().iter().map(ToString::to_string).collect();
                Some((uid, names))
            })
            .collect();
        flags.sort_unstable_by_key(|(uid, _)| *uid);
        Ok(flags)
    }

    /// Applies a post-ingest action to messages of the selected mailbox. Messages another
    /// client already removed are not an error.
    pub fn apply(&mut self, action: &PostAction, uids: &[u32]) -> Result<(), FetchError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        match action {
            PostAction::Keep => {}
            PostAction::Seen => self.store_flag(&set, "\\Seen")?,
            PostAction::Move(target) => {
                let target = self.ensure_mailbox(target)?;
                if self.supports_move {
                    match self.imap.uid_mv(&set, &target) {
                        Ok(()) => {}
                        // Another run moved some of them first: they are where they belong.
                        Err(imap::Error::No(no)) if no.information.contains("EXPUNGEISSUED") => {}
                        Err(error) => {
                            return Err(classify(error, &self.host, "UID MOVE", self.timeout));
                        }
                    }
                } else {
                    self.imap
                        .uid_copy(&set, quote(&target))
                        .map_err(|error| classify(error, &self.host, "UID COPY", self.timeout))?;
                    self.store_flag(&set, "\\Deleted")?;
                    self.expunge(&set)?;
                }
            }
            PostAction::Delete => {
                self.store_flag(&set, "\\Deleted")?;
                self.expunge(&set)?;
            }
        }
        self.imap.take_all_unsolicited().for_each(drop);
        Ok(())
    }

    /// Appends a message to a mailbox (`/`-separated name).
    pub fn append(&mut self, mailbox: &str, bytes: &[u8]) -> Result<(), FetchError> {
        let name = self.server_name(mailbox)?;
        match self.imap.append(&name, bytes).finish() {
            Ok(_) => Ok(()),
            // A refusal (before or after the message data) does not say why; the usual reason
            // is a missing mailbox, which is worth naming.
            Err(refused @ (imap::Error::Append | imap::Error::No(_))) => {
                if self.mailbox_exists(&name)? {
                    Err(FetchError::Protocol {
                        host: self.host.clone(),
                        operation: "APPEND",
                        detail: refused.to_string(),
                    })
                } else {
                    Err(FetchError::NoMailbox {
                        mailbox: mailbox.to_owned(),
                        host: self.host.clone(),
                    })
                }
            }
            Err(other) => Err(classify(other, &self.host, "APPEND", self.timeout)),
        }
    }

    fn mailbox_exists(&mut self, server_name: &str) -> Result<bool, FetchError> {
        let existing = self
            .imap
            .list(Some(""), Some(&quote(server_name)))
            .map_err(|error| classify(error, &self.host, "LIST", self.timeout))?;
        Ok(existing.iter().any(|entry| entry.name() == server_name))
    }

    /// Creates a mailbox unless it exists; returns its name as the server spells it.
    pub fn ensure_mailbox(&mut self, mailbox: &str) -> Result<String, FetchError> {
        let name = self.server_name(mailbox)?;
        if self.mailbox_exists(&name)? {
            return Ok(name);
        }
        match self.imap.create(&name) {
            Ok(()) => Ok(name),
            // Created by a concurrent run between our LIST and CREATE.
            Err(imap::Error::No(no)) if no.information.contains("ALREADYEXISTS") => Ok(name),
            Err(error) => Err(classify(error, &self.host, "CREATE", self.timeout)),
        }
    }

    /// Deletes a mailbox and everything in it.
    pub fn delete_mailbox(&mut self, mailbox: &str) -> Result<(), FetchError> {
        let name = self.server_name(mailbox)?;
        self.imap.delete(&name).map_err(|error| match error {
            imap::Error::No(_) => FetchError::NoMailbox {
                mailbox: mailbox.to_owned(),
                host: self.host.clone(),
            },
            other => classify(other, &self.host, "DELETE", self.timeout),
        })
    }

    /// Ends the session politely. A failure here changes nothing for the caller.
    pub fn logout(mut self) -> Result<(), FetchError> {
        self.imap
            .logout()
            .map_err(|error| classify(error, &self.host, "LOGOUT", self.timeout))
    }

    fn store_flag(&mut self, set: &str, flag: &str) -> Result<(), FetchError> {
        self.imap
            .uid_store(set, format!("+FLAGS.SILENT ({flag})"))
            .map(drop)
            .map_err(|error| classify(error, &self.host, "UID STORE", self.timeout))
    }

    /// Expunges exactly these messages when UIDPLUS allows it; otherwise every `\Deleted`
    /// message of the mailbox, the only thing plain IMAP4rev1 offers.
    fn expunge(&mut self, set: &str) -> Result<(), FetchError> {
        let result = if self.supports_uidplus {
            self.imap.uid_expunge(set)
        } else {
            self.imap.expunge()
        };
        result
            .map(drop)
            .map_err(|error| classify(error, &self.host, "EXPUNGE", self.timeout))
    }

    /// Translates a `/`-separated name into the server's hierarchy separator.
    fn server_name(&mut self, mailbox: &str) -> Result<String, FetchError> {
        if mailbox.is_empty() {
            return Err(FetchError::Config("empty mailbox name".to_owned()));
        }
        if !mailbox.contains('/') {
            return Ok(mailbox.to_owned());
        }
        let delimiter = match &self.delimiter {
            Some(known) => known.clone(),
            None => {
                let names = self
                    .imap
                    .list(Some(""), Some("\"\""))
                    .map_err(|error| classify(error, &self.host, "LIST", self.timeout))?;
                let found = names
                    .iter()
                    .find_map(|name| name.delimiter().map(str::to_owned));
                self.delimiter = Some(found.clone());
                found
            }
        };
        Ok(match delimiter {
            Some(delimiter) => mailbox.replace('/', &delimiter),
            None => mailbox.to_owned(),
        })
    }
}

fn connect_tcp(config: &Config) -> Result<TcpStream, FetchError> {
    let connect_error = |source: io::Error| FetchError::Connect {
        host: config.host.clone(),
        port: config.port,
        source,
    };
    let addresses = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(connect_error)?;
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, config.timeout) {
            Ok(stream) => {
                let configure = |stream: &TcpStream| -> io::Result<()> {
                    stream.set_read_timeout(Some(config.timeout))?;
                    stream.set_write_timeout(Some(config.timeout))?;
                    stream.set_nodelay(true)
                };
                configure(&stream).map_err(connect_error)?;
                return Ok(stream);
            }
            Err(error) => last_error = error,
        }
    }
    if is_timeout(&last_error) {
        return Err(FetchError::Timeout {
            host: config.host.clone(),
            operation: "connect",
            timeout: config.timeout,
        });
    }
    Err(connect_error(last_error))
}

fn handshake(config: &Config, tcp: TcpStream) -> Result<TlsStream<TcpStream>, FetchError> {
    let tls_error = |detail: String| FetchError::Tls {
        host: config.host.clone(),
        detail,
    };
    let mut builder = TlsConnector::builder();
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).map_err(|error| {
            FetchError::Config(format!("cannot read ca_file {}: {error}", path.display()))
        })?;
        let certificate = Certificate::from_pem(&pem).map_err(|error| {
            FetchError::Config(format!(
                "ca_file {} is not a PEM certificate: {error}",
                path.display()
            ))
        })?;
        builder.add_root_certificate(certificate);
    }
    let connector = builder
        .build()
        .map_err(|error| tls_error(error.to_string()))?;
    connector
        .connect(&config.host, tcp)
        .map_err(|error| match error {
            HandshakeError::Failure(error) if is_hang_up(&error) => FetchError::ConnectionLost {
                host: config.host.clone(),
                operation: "TLS handshake",
                detail: error.to_string(),
            },
            HandshakeError::Failure(error) => tls_error(error.to_string()),
            // A blocking socket only "would block" when its read timeout fired.
            HandshakeError::WouldBlock(_) => FetchError::Timeout {
                host: config.host.clone(),
                operation: "TLS handshake",
                timeout: config.timeout,
            },
        })
}

/// Whether a failed handshake means the server went away (closed or reset the connection)
/// rather than a TLS problem such as an untrusted certificate.
fn is_hang_up(error: &native_tls::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if current.is::<io::Error>() {
            return true;
        }
        cause = current.source();
    }
    // OpenSSL 3 reports a closed connection as an SSL error, not as an I/O error.
    error
        .to_string()
        .to_ascii_lowercase()
        .contains("unexpected eof")
}

fn read_greeting(
    client: &mut imap::Client<imap::Connection>,
    config: &Config,
) -> Result<(), FetchError> {
    let greeting = client
        .read_greeting()
        .map_err(|error| classify(error, &config.host, "greeting", config.timeout))?;
    check_greeting(&greeting, config)
}

fn check_greeting(greeting: &[u8], config: &Config) -> Result<(), FetchError> {
    if greeting.starts_with(b"* OK") || greeting.starts_with(b"* PREAUTH") {
        return Ok(());
    }
    Err(FetchError::Protocol {
        host: config.host.clone(),
        operation: "greeting",
        detail: String::from_utf8_lossy(greeting).trim_end().to_owned(),
    })
}

/// Upgrades a fresh connection with STARTTLS (RFC 3501 6.2.1). Done by hand because the `imap`
/// crate only offers STARTTLS with a connector it builds itself, which cannot take a private CA.
fn starttls(tcp: &mut TcpStream, config: &Config) -> Result<(), FetchError> {
    let greeting = read_line(tcp, config, "greeting")?;
    check_greeting(&greeting, config)?;
    tcp.write_all(b"s1 STARTTLS\r\n")
        .map_err(|error| io_error(&error, &config.host, "STARTTLS", config.timeout))?;
    loop {
        let line = read_line(tcp, config, "STARTTLS")?;
        if line.starts_with(b"s1 OK") {
            return Ok(());
        }
        if line.starts_with(b"s1 ") {
            return Err(FetchError::Tls {
                host: config.host.clone(),
                detail: format!(
                    "the server refused STARTTLS: {}",
                    String::from_utf8_lossy(&line).trim_end()
                ),
            });
        }
    }
}

/// Reads one CRLF-terminated line byte by byte, so that nothing after it (the TLS handshake)
/// is consumed.
fn read_line(
    tcp: &mut TcpStream,
    config: &Config,
    operation: &'static str,
) -> Result<Vec<u8>, FetchError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match tcp.read(&mut byte) {
            Ok(0) => {
                return Err(FetchError::ConnectionLost {
                    host: config.host.clone(),
                    operation,
                    detail: "the server closed the connection".to_owned(),
                });
            }
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    return Ok(line);
                }
                if line.len() > MAX_PRE_TLS_LINE {
                    return Err(FetchError::Protocol {
                        host: config.host.clone(),
                        operation,
                        detail: "line too long".to_owned(),
                    });
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(io_error(&error, &config.host, operation, config.timeout)),
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    // A socket read timeout surfaces as WouldBlock on Unix, TimedOut elsewhere.
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn io_error(
    error: &io::Error,
    host: &str,
    operation: &'static str,
    timeout: Duration,
) -> FetchError {
    if is_timeout(error) {
        FetchError::Timeout {
            host: host.to_owned(),
            operation,
            timeout,
        }
    } else {
        FetchError::ConnectionLost {
            host: host.to_owned(),
            operation,
            detail: error.to_string(),
        }
    }
}

fn classify(
    error: imap::Error,
    host: &str,
    operation: &'static str,
    timeout: Duration,
) -> FetchError {
    let lost = |detail: String| FetchError::ConnectionLost {
        host: host.to_owned(),
        operation,
        detail,
    };
    match error {
        imap::Error::Io(error) => io_error(&error, host, operation, timeout),
        imap::Error::ConnectionLost => lost("the server closed the connection".to_owned()),
        imap::Error::Bye(bye) => lost(format!("the server said BYE: {}", bye.information)),
        imap::Error::Tls(error) => lost(error.to_string()),
        imap::Error::TlsHandshake(error) => FetchError::Tls {
            host: host.to_owned(),
            detail: error.to_string(),
        },
        imap::Error::No(no) => FetchError::Protocol {
            host: host.to_owned(),
            operation,
            detail: no.information,
        },
        imap::Error::Bad(bad) => FetchError::Protocol {
            host: host.to_owned(),
            operation,
            detail: bad.information,
        },
        other => FetchError::Protocol {
            host: host.to_owned(),
            operation,
            detail: other.to_string(),
        },
    }
}

/// An IMAP quoted string.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `1:3,7,9:10` for UIDs 1 2 3 7 9 10 (input in any order).
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut set = String::new();
    let mut index = 0;
    while index < sorted.len() {
        let start = sorted[index];
        let mut end = start;
        while index + 1 < sorted.len() && sorted[index + 1] == end + 1 {
            index += 1;
            end = sorted[index];
        }
        if !set.is_empty() {
            set.push(',');
        }
        if start == end {
            set.push_str(&start.to_string());
        } else {
            set.push_str(&format!("{start}:{end}"));
        }
        index += 1;
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_collapse_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[10, 9, 9, 1]), "1,9:10");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn quoting_escapes_backslash_and_quote() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
