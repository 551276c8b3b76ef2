//! A logged-in IMAP session: connection set-up (TLS by hand, timeouts), mailbox access and the
//! post-ingest actions.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use native_tls::{Certificate, HandshakeError, TlsConnector, TlsStream};

use crate::config::{AuthMethod, Config, Secret, TlsMode};
use crate::contain::catch_panic;
use crate::error::FetchError;
use crate::guard::{Excess, Guard, Guarded, ReplyLimits, Timed, Tripped, is_timeout};
use crate::sasl::{Mechanism, OAuthLogin};

/// Message bytes fetched in one `UID FETCH` when the messages are small: callers group UIDs by
/// their announced sizes up to this (a larger message alone), and a reply may hold this much,
/// or one message of the size limit, whichever is more.
pub const GROUP_BYTES: u64 = 4 * 1024 * 1024;

/// The longest line accepted before STARTTLS; a real greeting is far shorter.
const MAX_PRE_TLS_LINE: usize = 16 * 1024;
/// The most lines accepted in answer to STARTTLS before its tagged reply.
const MAX_PRE_TLS_LINES: u32 = 64;

/// What `SELECT` says about a mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxState {
    /// Changes when the server renumbers the mailbox; the cursor is then void.
    pub uidvalidity: u32,
    /// The UID the next message will get, if the server said.
    pub uidnext: Option<u32>,
    /// How many messages the mailbox holds.
    pub exists: u32,
}

/// One message as stored on the server, borrowed from the reply that carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchedMessage<'a> {
    /// Its UID in the selected mailbox.
    pub uid: u32,
    /// The whole message as the server stores it (`BODY[]`).
    pub bytes: &'a [u8],
}

/// What one `UID FETCH` brought back. The messages stay in the reply buffer they arrived in
/// (not copied out), so memory holds each body once.
#[derive(Default)]
pub struct Fetched {
    reply: Option<imap::types::Fetches>,
    /// Indexes into `reply` of the wanted messages, ascending by UID, one per UID.
    order: Vec<usize>,
    /// Messages whose body was larger than [`Config::max_message_bytes`] (or than the rest of
    /// the reply's budget) as received, whatever size the server announced: their bytes were
    /// read and dropped. `(uid, bytes received)`, ascending by UID.
    pub oversized: Vec<(u32, u64)>,
}

impl Fetched {
    /// The messages, ascending by UID.
    pub fn messages(&self) -> Vec<FetchedMessage<'_>> {
        let Some(reply) = &self.reply else {
            return Vec::new();
        };
        self.order
            .iter()
            .filter_map(|&index| {
                let fetch = reply.get(index)?;
                Some(FetchedMessage {
                    uid: fetch.uid?,
                    bytes: fetch.body()?,
                })
            })
            .collect()
    }
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("messages", &self.order.len())
            .field("oversized", &self.oversized)
            .finish()
    }
}

/// What to do with messages whose outcome is committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostAction {
    /// Leave it.
    Keep,
    /// Set `\Seen`.
    Seen,
    /// Move to this mailbox (`/`-separated name), creating it if missing.
    Move(String),
    /// Set `\Deleted` and expunge.
    Delete,
}

/// Logs in as `auth` says: `LOGIN` with the password, or `AUTHENTICATE` with the access token.
fn login(
    client: imap::Client<imap::Connection>,
    config: &Config,
    peer: &Peer,
) -> Result<imap::Session<imap::Connection>, FetchError> {
    let refused = |detail: String| FetchError::Auth {
        username: config.username.clone(),
        host: peer.host.clone(),
        detail,
    };
    let mechanism = match config.auth {
        AuthMethod::Password => {
            return peer
                .call(|| {
                    client
                        .login(&config.username, config.password.expose())
                        .map_err(|(error, _client)| error)
                })
                .map_err(|error| match error {
                    imap::Error::No(no) => refused(peer.text(&no.information)),
                    imap::Error::Bad(bad) => refused(peer.text(&bad.information)),
                    imap::Error::Validate(_) => FetchError::Config(
                        "the username or password contains characters IMAP LOGIN cannot carry"
                            .to_owned(),
                    ),
                    other => peer.classify(other, "LOGIN"),
                });
        }
        AuthMethod::Xoauth2 => Mechanism::XOAuth2,
        AuthMethod::Oauthbearer => Mechanism::OAuthBearer,
    };
    let authenticator = OAuthLogin::new(
        mechanism,
        &config.username,
        &config.password,
        &config.host,
        config.port(),
    );
    peer.call(|| {
        client
            .authenticate(mechanism.name(), &authenticator)
            .map_err(|(error, _client)| error)
    })
    .map_err(|error| {
        let said = match &error {
            imap::Error::No(no) => Some(peer.text(&no.information)),
            imap::Error::Bad(bad) => Some(peer.text(&bad.information)),
            _ => None,
        };
        match (said, authenticator.server_error()) {
            // The decoded challenge says why; the final NO only says that it failed.
            (Some(said), Some(why)) => refused(format!("{}; {said}", peer.text(&why))),
            (Some(said), None) => refused(said),
            (None, _) => peer.classify(error, "AUTHENTICATE"),
        }
    })
}

/// A logged-in session on one server.
pub struct Session {
    imap: imap::Session<imap::Connection>,
    peer: Peer,
    max_message_bytes: u64,
    supports_move: bool,
    supports_uidplus: bool,
    /// The hierarchy separator from `LIST "" ""`, looked up on first use.
    delimiter: Option<Option<String>>,
    /// Messages in the selected mailbox, as `SELECT` said: how many windows a search takes.
    exists: u32,
    /// Messages per `UID SEARCH` window.
    search_window: u32,
}

/// Messages per `UID SEARCH` window: the answer then stays a line of about 1 MB, whatever the
/// size of the mailbox.
pub const SEARCH_WINDOW: u32 = 100_000;

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.peer.host)
            .field("supports_move", &self.supports_move)
            .field("supports_uidplus", &self.supports_uidplus)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects, secures the connection as configured, logs in and reads the capabilities
    /// (MOVE and UIDPLUS are only advertised after login).
    pub fn connect(config: &Config) -> Result<Session, FetchError> {
        let guard = Guard::new(config.timeout, config.command_deadline, config.run_deadline);
        let peer = Peer {
            host: config.host.clone(),
            guard: guard.clone(),
            secret: config.password.clone(),
            timeout: config.timeout,
        };
        if config.tls == TlsMode::None && !config.allow_plaintext {
            return Err(FetchError::Config(
                "tls = \"none\" sends the password in clear text; set allow_plaintext = true to allow it".to_owned(),
            ));
        }
        // A configuration read from a file has no password until `resolve_password` ran.
        if config.password.expose().is_empty() {
            return Err(if config.auth.is_oauth() {
                crate::config::no_token(config.auth)
            } else {
                crate::config::no_password()
            });
        }
        guard.begin(ReplyLimits::CONTROL);
        let tcp = Timed::new(connect_tcp(config, &peer)?, guard.clone());
        let mut client = match config.tls {
            TlsMode::Implicit => {
                let tls = handshake(config, tcp, &peer)?;
                let mut client = imap::Client::new(
                    Box::new(Guarded::new(tls, guard.clone())) as imap::Connection
                );
                read_greeting(&mut client, &peer)?;
                client
            }
            TlsMode::Starttls => {
                let mut tcp = tcp;
                starttls(&mut tcp, &peer)?;
                let tls = handshake(config, tcp, &peer)?;
                let mut client = imap::Client::new(
                    Box::new(Guarded::new(tls, guard.clone())) as imap::Connection
                );
                // The greeting came before STARTTLS; the server sends no second one.
                client.greeting_read = true;
                client
            }
            TlsMode::None => {
                let mut client = imap::Client::new(
                    Box::new(Guarded::new(tcp, guard.clone())) as imap::Connection
                );
                read_greeting(&mut client, &peer)?;
                client
            }
        };
        // Only the password or token is sensitive; make sure the crate's debug echo is off.
        client.debug = false;
        guard.begin(ReplyLimits::CONTROL);
        let mut imap = login(client, config, &peer)?;
        guard.begin(ReplyLimits::CONTROL);
        let capabilities = peer
            .call(|| imap.capabilities())
            .map_err(|error| peer.classify(error, "CAPABILITY"))?;
        let supports_move = capabilities.has_str("MOVE");
        let supports_uidplus = capabilities.has_str("UIDPLUS");
        drop(capabilities);
        Ok(Session {
            imap,
            peer,
            max_message_bytes: config.max_message_bytes,
            supports_move,
            supports_uidplus,
            delimiter: None,
            exists: 0,
            search_window: SEARCH_WINDOW,
        })
    }

    /// Searches in windows of this many messages instead of [`SEARCH_WINDOW`] (tests use it
    /// to cover windows on a small mailbox).
    #[doc(hidden)]
    pub fn set_search_window(&mut self, messages: u32) {
        self.search_window = messages.max(1);
    }

    /// `UID SEARCH criteria`, ascending and without repeats. In a mailbox of more than one
    /// window, asked once per window of message sequence numbers (`1:100000 criteria`, …, the
    /// last one open-ended so mail that arrived since `SELECT` is seen), so that no answer is
    /// longer than [`ReplyLimits::SEARCH`] allows.
    fn search(&mut self, criteria: &str) -> Result<Vec<u32>, FetchError> {
        let mut found = Vec::new();
        let mut start = 1u32;
        loop {
            let last = self.exists.saturating_sub(start) < self.search_window;
            let query = match (start, last) {
                (1, true) => criteria.to_owned(),
                (_, true) => format!("{start}:* {criteria}"),
                (_, false) => format!("{start}:{} {criteria}", start + self.search_window - 1),
            };
            self.begin(ReplyLimits::SEARCH);
            let uids = self
                .peer
                .call(|| self.imap.uid_search(query))
                .map_err(|error| self.peer.classify(error, "UID SEARCH"))?;
            found.extend(uids);
            if last {
                break;
            }
            start += self.search_window;
        }
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    /// Starts a command: drops what the crate kept of the unsolicited responses so far (this
    /// session never reads them, and a server could otherwise pile them up over a run), then
    /// starts the command's deadline and byte count.
    fn begin(&mut self, limits: ReplyLimits) {
        self.imap.take_all_unsolicited().for_each(drop);
        self.peer.begin(limits);
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
        self.begin(ReplyLimits::CONTROL);
        let selected = self
            .peer
            .call(|| self.imap.select(&name))
            .map_err(|error| match error {
                imap::Error::No(_) => FetchError::NoMailbox {
                    mailbox: mailbox.to_owned(),
                    host: self.peer.host.clone(),
                },
                other => self.peer.classify(other, "SELECT"),
            })?;
        let uidvalidity = selected.uid_validity.ok_or_else(|| FetchError::Malformed {
            host: self.peer.host.clone(),
            operation: "SELECT",
            received: format!("no UIDVALIDITY for mailbox {mailbox:?}"),
        })?;
        self.exists = selected.exists;
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
        let mut uids = self.search(&format!("UID {first}:*"))?;
        uids.retain(|&uid| uid > last_uid);
        Ok(uids)
    }

    /// UIDs up to and including `last_uid` that are not `\Seen`, ascending.
    pub fn unseen_up_to(&mut self, last_uid: u32) -> Result<Vec<u32>, FetchError> {
        if last_uid == 0 {
            return Ok(Vec::new());
        }
        let mut uids = self.search(&format!("UNSEEN UID 1:{last_uid}"))?;
        uids.retain(|&uid| uid <= last_uid);
        Ok(uids)
    }

    /// The full raw bytes of these messages, ascending by UID, read with `BODY.PEEK[]` so that
    /// `\Seen` is not set. A UID that no longer exists is simply absent from the result.
    ///
    /// Whatever sizes the server announced, a body larger than [`Config::max_message_bytes`]
    /// as received is dropped while it is read and reported in [`Fetched::oversized`], and the
    /// whole reply is capped at the larger of [`GROUP_BYTES`] and that limit (plus room for the
    /// lines around the bodies); a body that would go past that cap is dropped the same way.
    pub fn fetch(&mut self, uids: &[u32]) -> Result<Fetched, FetchError> {
        if uids.is_empty() {
            return Ok(Fetched::default());
        }
        let mut wanted = uids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let count = u64::try_from(wanted.len()).unwrap_or(u64::MAX);
        // The text around the bodies is a line or two per message.
        let text = count.saturating_mul(128).saturating_add(64 * 1024);
        let limits = ReplyLimits {
            max_text: text,
            max_literal: self.max_message_bytes,
            max_reply: GROUP_BYTES.max(self.max_message_bytes).saturating_add(text),
            max_lines: u32::try_from(count.saturating_mul(4))
                .unwrap_or(u32::MAX)
                .saturating_add(10_000),
            drop_oversized_literals: true,
            ..ReplyLimits::CONTROL
        };
        self.begin(limits);
        let fetches = self
            .peer
            .call(|| self.imap.uid_fetch(uid_set(uids), "(UID BODY.PEEK[])"))
            .map_err(|error| self.peer.classify(error, "UID FETCH"))?;
        // Dropped bodies reach the crate as empty strings, in the order they came.
        let mut dropped = self.peer.guard.take_dropped().into_iter();
        let mut fetched = Fetched::default();
        let mut order: Vec<(u32, usize)> = Vec::new();
        for (index, fetch) in fetches.iter().enumerate() {
            // Unsolicited FETCH responses (flag changes by other clients) carry no body.
            let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                continue;
            };
            // A dropped body reaches the crate as an empty string; no stored message is empty.
            let oversized = if body.is_empty() {
                dropped.next()
            } else {
                None
            };
            if wanted.binary_search(&uid).is_err() {
                continue;
            }
            match oversized {
                Some(size) => fetched.oversized.push((uid, size)),
                None => order.push((uid, index)),
            }
        }
        order.sort_unstable();
        order.dedup_by_key(|(uid, _)| *uid);
        fetched.order = order.into_iter().map(|(_, index)| index).collect();
        fetched.reply = Some(fetches);
        fetched.oversized.sort_unstable();
        fetched.oversized.dedup_by_key(|(uid, _)| *uid);
        Ok(fetched)
    }

    /// The size in bytes (RFC822.SIZE) of these messages, ascending by UID, so that a caller
    /// can bound what it holds in memory before fetching bodies.
    pub fn sizes(&mut self, uids: &[u32]) -> Result<Vec<(u32, u32)>, FetchError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        self.begin(ReplyLimits::CONTROL);
        let fetches = self
            .peer
            .call(|| self.imap.uid_fetch(uid_set(uids), "(UID RFC822.SIZE)"))
            .map_err(|error| self.peer.classify(error, "UID FETCH"))?;
        let mut sizes: Vec<(u32, u32)> = fetches
            .iter()
            .filter_map(|fetch| Some((fetch.uid?, fetch.size?)))
            .collect();
        drop(fetches);
        sizes.sort_unstable();
        sizes.dedup_by_key(|(uid, _)| *uid);
        Ok(sizes)
    }

    /// The flags of these messages, e.g. `\Seen`, by UID.
    pub fn flags(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<String>)>, FetchError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        self.begin(ReplyLimits::CONTROL);
        let fetches = self
            .peer
            .call(|| self.imap.uid_fetch(uid_set(uids), "(UID FLAGS)"))
            .map_err(|error| self.peer.classify(error, "UID FETCH"))?;
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
                    self.begin(ReplyLimits::CONTROL);
                    match self.peer.call(|| self.imap.uid_mv(&set, &target)) {
                        Ok(()) => {}
                        // Another run moved some of them first: they are where they belong.
                        Err(imap::Error::No(no)) if no.information.contains("EXPUNGEISSUED") => {}
                        Err(error) => {
                            return Err(self.peer.classify(error, "UID MOVE"));
                        }
                    }
                } else {
                    self.begin(ReplyLimits::CONTROL);
                    self.peer
                        .call(|| self.imap.uid_copy(&set, quote(&target)))
                        .map_err(|error| self.peer.classify(error, "UID COPY"))?;
                    self.store_flag(&set, "\\Deleted")?;
                    self.expunge(&set)?;
                }
            }
            PostAction::Delete => {
                self.store_flag(&set, "\\Deleted")?;
                self.expunge(&set)?;
            }
        }
        Ok(())
    }

    /// Appends a message to a mailbox (`/`-separated name).
    pub fn append(&mut self, mailbox: &str, bytes: &[u8]) -> Result<(), FetchError> {
        let name = self.server_name(mailbox)?;
        self.begin(ReplyLimits::CONTROL);
        match self.peer.call(|| self.imap.append(&name, bytes).finish()) {
            Ok(_) => Ok(()),
            // A refusal (before or after the message data) does not say why; the usual reason
            // is a missing mailbox, which is worth naming.
            Err(refused @ (imap::Error::Append | imap::Error::No(_))) => {
                if self.mailbox_exists(&name)? {
                    Err(FetchError::Refused {
                        host: self.peer.host.clone(),
                        operation: "APPEND",
                        detail: self.peer.text(&refused.to_string()),
                    })
                } else {
                    Err(FetchError::NoMailbox {
                        mailbox: mailbox.to_owned(),
                        host: self.peer.host.clone(),
                    })
                }
            }
            Err(other) => Err(self.peer.classify(other, "APPEND")),
        }
    }

    fn mailbox_exists(&mut self, server_name: &str) -> Result<bool, FetchError> {
        self.begin(ReplyLimits::CONTROL);
        let existing = self
            .peer
            .call(|| self.imap.list(Some(""), Some(&quote(server_name))))
            .map_err(|error| self.peer.classify(error, "LIST"))?;
        Ok(existing.iter().any(|entry| entry.name() == server_name))
    }

    /// Creates a mailbox unless it exists; returns its name as the server spells it.
    pub fn ensure_mailbox(&mut self, mailbox: &str) -> Result<String, FetchError> {
        let name = self.server_name(mailbox)?;
        if self.mailbox_exists(&name)? {
            return Ok(name);
        }
        self.begin(ReplyLimits::CONTROL);
        match self.peer.call(|| self.imap.create(&name)) {
            Ok(()) => Ok(name),
            // Created by a concurrent run between our LIST and CREATE.
            Err(imap::Error::No(no)) if no.information.contains("ALREADYEXISTS") => Ok(name),
            Err(error) => Err(self.peer.classify(error, "CREATE")),
        }
    }

    /// Deletes a mailbox and everything in it.
    pub fn delete_mailbox(&mut self, mailbox: &str) -> Result<(), FetchError> {
        let name = self.server_name(mailbox)?;
        self.begin(ReplyLimits::CONTROL);
        self.peer
            .call(|| self.imap.delete(&name))
            .map_err(|error| match error {
                imap::Error::No(_) => FetchError::NoMailbox {
                    mailbox: mailbox.to_owned(),
                    host: self.peer.host.clone(),
                },
                other => self.peer.classify(other, "DELETE"),
            })
    }

    /// Ends the session politely. A failure here changes nothing for the caller.
    pub fn logout(mut self) -> Result<(), FetchError> {
        self.begin(ReplyLimits::CONTROL);
        self.peer
            .call(|| self.imap.logout())
            .map_err(|error| self.peer.classify(error, "LOGOUT"))
    }

    fn store_flag(&mut self, set: &str, flag: &str) -> Result<(), FetchError> {
        self.begin(ReplyLimits::CONTROL);
        self.peer
            .call(|| self.imap.uid_store(set, format!("+FLAGS.SILENT ({flag})")))
            .map(drop)
            .map_err(|error| self.peer.classify(error, "UID STORE"))
    }

    /// Expunges exactly these messages when UIDPLUS allows it; otherwise every `\Deleted`
    /// message of the mailbox, the only thing plain IMAP4rev1 offers.
    fn expunge(&mut self, set: &str) -> Result<(), FetchError> {
        self.begin(ReplyLimits::CONTROL);
        let result = if self.supports_uidplus {
            self.peer.call(|| self.imap.uid_expunge(set))
        } else {
            self.peer.call(|| self.imap.expunge())
        };
        result
            .map(drop)
            .map_err(|error| self.peer.classify(error, "EXPUNGE"))
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
                self.begin(ReplyLimits::CONTROL);
                let names = self
                    .peer
                    .call(|| self.imap.list(Some(""), Some("\"\"")))
                    .map_err(|error| self.peer.classify(error, "LIST"))?;
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

/// Who is on the other end, and what is needed to describe its failures: the guard (why a
/// stream was stopped, the latest lines) and the password (never repeated in a message).
struct Peer {
    host: String,
    guard: Guard,
    secret: Secret,
    timeout: Duration,
}

/// The most of a server's text repeated in a message.
const MAX_SERVER_TEXT: usize = 200;

impl Peer {
    /// Runs one command of the `imap` crate. Its parser panics on some replies a server may
    /// send (imap 3.0.0-alpha.15 reaches `unreachable!` on an untagged `NO` in answer to
    /// SELECT, as Dovecot sends while it waits for a mailbox lock); such a panic becomes the
    /// parse error of the line that caused it, which [`Peer::classify`] reports in one line.
    /// The session is not used for another command after that error but LOGOUT.
    fn call<R>(&self, command: impl FnOnce() -> imap::error::Result<R>) -> imap::error::Result<R> {
        catch_panic(command).unwrap_or_else(|| Err(self.unhandled()))
    }

    /// The error for a reply the crate panicked on: the latest untagged status line other than
    /// `OK` if there is one (the kind of line the crate does not expect), else the latest line.
    fn unhandled(&self) -> imap::Error {
        let lines = self.guard.recent_lines();
        let unexpected_status = lines.iter().rev().find(|line| {
            let mut words = line.split(|&byte| byte == b' ');
            words.next() == Some(b"*".as_slice())
                && words.next().is_some_and(|status| {
                    [b"NO".as_slice(), b"BAD", b"BYE", b"PREAUTH"]
                        .iter()
                        .any(|name| status.eq_ignore_ascii_case(name))
                })
        });
        let line = unexpected_status
            .or_else(|| lines.iter().rev().find(|line| !line.is_empty()))
            .map(|line| trim_line_end(line).to_vec())
            .unwrap_or_default();
        imap::Error::Parse(imap::error::ParseError::Invalid(line))
    }

    /// Starts the deadline and the byte count of a command.
    fn begin(&self, limits: ReplyLimits) {
        self.guard.begin(limits);
    }

    /// A server's text as it may appear in a message: the password (as sent and as an IMAP
    /// quoted string) replaced by `***`, control and bidi characters escaped, cut short.
    fn text(&self, raw: &str) -> String {
        server_text(raw, &self.secret)
    }

    fn bytes(&self, raw: &[u8]) -> String {
        self.text(&String::from_utf8_lossy(raw))
    }

    fn io_error(&self, error: &io::Error, operation: &'static str) -> FetchError {
        if let Some(tripped) = self.guard.tripped() {
            return self.tripped(tripped, operation);
        }
        if is_timeout(error) {
            FetchError::Timeout {
                host: self.host.clone(),
                operation,
                timeout: self.timeout,
            }
        } else {
            FetchError::ConnectionLost {
                host: self.host.clone(),
                operation,
                detail: self.text(&error.to_string()),
            }
        }
    }

    fn tripped(&self, tripped: Tripped, operation: &'static str) -> FetchError {
        match tripped {
            Tripped::Excess(excess) => FetchError::TooLarge {
                host: self.host.clone(),
                operation,
                excess,
            },
            Tripped::Deadline(kind, limit) => FetchError::Deadline {
                host: self.host.clone(),
                operation,
                kind,
                limit,
            },
        }
    }

    /// What the latest line the server sent was, for a reply the crate could not parse.
    fn last_line(&self) -> String {
        let lines = self.guard.recent_lines();
        match lines.iter().rev().find(|line| !line.is_empty()) {
            Some(line) => format!("\"{}\"", self.bytes(trim_line_end(line))),
            None => "nothing".to_owned(),
        }
    }

    /// Whether one of the latest lines is a `BYE`, tagged or not.
    fn said_bye(&self) -> bool {
        self.guard.recent_lines().iter().any(|line| {
            let mut words = line.split(|&byte| byte == b' ');
            words.next().is_some_and(|tag| !tag.is_empty())
                && words
                    .next()
                    .is_some_and(|status| status.eq_ignore_ascii_case(b"BYE"))
        })
    }

    fn classify(&self, error: imap::Error, operation: &'static str) -> FetchError {
        if let Some(tripped) = self.guard.tripped() {
            return self.tripped(tripped, operation);
        }
        let host = self.host.clone();
        let malformed = |received: String| FetchError::Malformed {
            host: self.host.clone(),
            operation,
            received,
        };
        match error {
            imap::Error::Io(error) => self.io_error(&error, operation),
            imap::Error::ConnectionLost => FetchError::ConnectionLost {
                host,
                operation,
                detail: "the server closed the connection".to_owned(),
            },
            // The crate reports a reply it cannot parse as a BYE without text: only a BYE
            // that was really received is called one.
            imap::Error::Bye(bye) if self.said_bye() => FetchError::ConnectionLost {
                host,
                operation,
                detail: format!("the server said BYE: {}", self.text(&bye.information)),
            },
            imap::Error::Bye(_) => malformed(self.last_line()),
            imap::Error::Parse(imap::error::ParseError::Invalid(data)) => {
                malformed(format!("\"{}\"", self.bytes(trim_line_end(&data))))
            }
            imap::Error::Parse(_) | imap::Error::MissingStatusResponse => {
                malformed(self.last_line())
            }
            imap::Error::Unexpected(response) => malformed(self.text(&format!("{response:?}"))),
            imap::Error::TagMismatch(_) => {
                malformed(format!("a reply to another command: {}", self.last_line()))
            }
            imap::Error::Tls(error) => FetchError::ConnectionLost {
                host,
                operation,
                detail: self.text(&error.to_string()),
            },
            imap::Error::TlsHandshake(error) => FetchError::Tls {
                host,
                detail: self.text(&error.to_string()),
            },
            imap::Error::No(no) => FetchError::Refused {
                host,
                operation,
                detail: self.text(&no.information),
            },
            imap::Error::Bad(bad) => FetchError::Refused {
                host,
                operation,
                detail: self.text(&bad.information),
            },
            imap::Error::Append => FetchError::Refused {
                host,
                operation,
                detail: "the server refused the message".to_owned(),
            },
            imap::Error::Validate(error) => {
                FetchError::Config(format!("{operation}: {}", self.text(&error.to_string())))
            }
            // STARTTLS and TLS set-up are done here, not by the crate, so what is left (and
            // anything a newer crate adds) is a reply it did not expect.
            other => malformed(self.text(&other.to_string())),
        }
    }
}

/// The text without its line ending.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|byte| !matches!(byte, b'\r' | b'\n'))
        .map_or(0, |last| last + 1);
    &line[..end]
}

/// A server's text as it may appear in a message: `secret` (as sent and as an IMAP quoted
/// string) replaced by `***`, control and bidi characters escaped, cut short.
pub fn server_text(raw: &str, secret: &Secret) -> String {
    let mut text = raw.to_owned();
    let password = secret.expose();
    if !password.is_empty() {
        for form in [password.to_owned(), quote(password)] {
            text = text.replace(&form, "***");
        }
    }
    let mut shown = String::new();
    for (count, character) in text.chars().enumerate() {
        if count == MAX_SERVER_TEXT {
            shown.push('…');
            break;
        }
        if character.is_control() || is_bidi_control(character) {
            shown.extend(character.escape_default());
        } else {
            shown.push(character);
        }
    }
    shown
}

/// Characters that reorder text on a terminal (RFC 9839 / Unicode bidi controls).
fn is_bidi_control(character: char) -> bool {
    matches!(character, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn connect_tcp(config: &Config, peer: &Peer) -> Result<TcpStream, FetchError> {
    let connect_error = |source: io::Error| FetchError::Connect {
        host: config.host.clone(),
        port: config.port(),
        source,
    };
    let addresses = resolve(config, peer)?;
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for address in addresses {
        let timeout = peer
            .guard
            .time_left()
            .map_err(|error| peer.io_error(&error, "connect"))?;
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(connect_error)?;
                return Ok(stream);
            }
            Err(error) => last_error = error,
        }
    }
    if is_timeout(&last_error) {
        return Err(peer.io_error(&last_error, "connect"));
    }
    Err(connect_error(last_error))
}

/// The server's addresses. The system resolver has its own timeouts, but they add up over
/// several name servers and retries, so the lookup runs on a thread that is given what is left
/// of the connect timeout and the deadlines.
fn resolve(config: &Config, peer: &Peer) -> Result<Vec<SocketAddr>, FetchError> {
    let timeout = peer
        .guard
        .time_left()
        .map_err(|error| peer.io_error(&error, "connect"))?;
    let (sender, receiver) = std::sync::mpsc::channel();
    let target = (config.host.clone(), config.port());
    std::thread::spawn(move || {
        let found = target
            .to_socket_addrs()
            .map(|addresses| addresses.collect::<Vec<_>>());
        let _ = sender.send(found);
    });
    match receiver.recv_timeout(timeout) {
        Ok(found) => found.map_err(|source| FetchError::Connect {
            host: config.host.clone(),
            port: config.port(),
            source,
        }),
        Err(_) => Err(FetchError::Timeout {
            host: config.host.clone(),
            operation: "host name lookup",
            timeout,
        }),
    }
}

/// The largest `ca_file` read: a PEM certificate is a few KiB, a whole bundle a few hundred.
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

fn read_ca_file(path: &std::path::Path) -> Result<Vec<u8>, FetchError> {
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_CA_FILE + 1).read_to_end(&mut pem))
        .map_err(|error| {
            FetchError::Config(format!("cannot read ca_file {}: {error}", path.display()))
        })?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(FetchError::Config(format!(
            "ca_file {} is larger than {} MiB; it should hold a PEM certificate",
            path.display(),
            MAX_CA_FILE / (1024 * 1024)
        )));
    }
    Ok(pem)
}

fn handshake<S: io::Read + io::Write>(
    config: &Config,
    stream: S,
    peer: &Peer,
) -> Result<TlsStream<S>, FetchError> {
    let tls_error = |detail: String| FetchError::Tls {
        host: config.host.clone(),
        detail: peer.text(&detail),
    };
    let mut builder = TlsConnector::builder();
    if let Some(path) = &config.ca_file {
        let pem = read_ca_file(path)?;
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
        .connect(&config.host, stream)
        .map_err(|error| match error {
            _ if peer.guard.tripped().is_some() => {
                let timeout = io::Error::from(io::ErrorKind::TimedOut);
                peer.io_error(&timeout, "TLS handshake")
            }
            HandshakeError::Failure(error) if is_hang_up(&error) => FetchError::ConnectionLost {
                host: config.host.clone(),
                operation: "TLS handshake",
                detail: peer.text(&error.to_string()),
            },
            HandshakeError::Failure(error) => tls_error(error.to_string()),
            // A blocking socket only "would block" when its read timeout fired.
            HandshakeError::WouldBlock(_) => {
                peer.io_error(&io::Error::from(io::ErrorKind::WouldBlock), "TLS handshake")
            }
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
    peer: &Peer,
) -> Result<(), FetchError> {
    let greeting = peer
        .call(|| client.read_greeting())
        .map_err(|error| peer.classify(error, "greeting"))?;
    check_greeting(&greeting, peer)
}

fn check_greeting(greeting: &[u8], peer: &Peer) -> Result<(), FetchError> {
    if greeting.starts_with(b"* OK") || greeting.starts_with(b"* PREAUTH") {
        return Ok(());
    }
    Err(FetchError::Malformed {
        host: peer.host.clone(),
        operation: "greeting",
        received: format!("\"{}\"", peer.bytes(trim_line_end(greeting))),
    })
}

/// Upgrades a fresh connection with STARTTLS (RFC 3501 6.2.1). Done by hand because the `imap`
/// crate only offers STARTTLS with a connector it builds itself, which cannot take a private CA.
fn starttls(tcp: &mut Timed, peer: &Peer) -> Result<(), FetchError> {
    let greeting = read_line(tcp, peer, "greeting")?;
    check_greeting(&greeting, peer)?;
    tcp.write_all(b"s1 STARTTLS\r\n")
        .map_err(|error| peer.io_error(&error, "STARTTLS"))?;
    // A server may say a few untagged things first; not an endless stream of them.
    for _ in 0..MAX_PRE_TLS_LINES {
        let line = read_line(tcp, peer, "STARTTLS")?;
        if line.starts_with(b"s1 OK") {
            return Ok(());
        }
        if line.starts_with(b"s1 ") {
            return Err(FetchError::Tls {
                host: peer.host.clone(),
                detail: format!(
                    "the server refused STARTTLS: {}",
                    peer.bytes(trim_line_end(&line))
                ),
            });
        }
    }
    Err(FetchError::TooLarge {
        host: peer.host.clone(),
        operation: "STARTTLS",
        excess: Excess::Lines(MAX_PRE_TLS_LINES),
    })
}

/// Reads one CRLF-terminated line byte by byte, so that nothing after it (the TLS handshake)
/// is consumed.
fn read_line(tcp: &mut Timed, peer: &Peer, operation: &'static str) -> Result<Vec<u8>, FetchError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match tcp.read(&mut byte) {
            Ok(0) => {
                return Err(FetchError::ConnectionLost {
                    host: peer.host.clone(),
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
                    return Err(FetchError::TooLarge {
                        host: peer.host.clone(),
                        operation,
                        excess: Excess::Line(MAX_PRE_TLS_LINE as u64),
                    });
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(peer.io_error(&error, operation)),
        }
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
    fn server_texts_lose_the_password_and_control_characters() {
        let secret = Secret::new(r#"pa"ss"#);
        let shown = server_text("NO LOGIN u \"pa\\\"ss\" pa\"ss \u{1b}[2J\u{202e}", &secret);
        assert_eq!(shown, r#"NO LOGIN u *** *** \u{1b}[2J\u{202e}"#);
        let long = "x".repeat(500);
        assert_eq!(
            server_text(&long, &secret).chars().count(),
            MAX_SERVER_TEXT + 1
        );
    }

    #[test]
    fn quoting_escapes_backslash_and_quote() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
