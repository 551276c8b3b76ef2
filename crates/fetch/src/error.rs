use std::io;
use std::time::Duration;

use crate::guard::{DeadlineKind, Excess};

/// Why a fetch step failed. Every message names the host or mailbox involved, never contains
/// the password, and repeats what a server sent only with control characters escaped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The settings cannot work (e.g. `tls = "none"` without `allow_plaintext`, an unreadable
    /// `ca_file`, a mailbox name IMAP cannot carry).
    #[error("invalid IMAP configuration: {0}")]
    Config(String),

    /// The password could not be read from its file, command or environment variable.
    #[error("IMAP password: {detail}")]
    Password {
        /// What went wrong, naming the source.
        detail: String,
    },

    /// No OAuth 2.0 access token could be had (its command failed, or none is configured).
    #[error("OAuth 2.0 access token: {detail}")]
    Token {
        /// What went wrong, naming the source.
        detail: String,
    },

    /// No TCP connection could be made.
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        /// The server, as configured.
        host: String,
        /// The port tried.
        port: u16,
        /// Why the last address failed.
        source: io::Error,
    },

    /// The TLS handshake failed (untrusted certificate, wrong host name) or STARTTLS was
    /// refused.
    #[error("TLS with {host} failed: {detail}")]
    Tls {
        /// The server, as configured.
        host: String,
        /// What failed, in the words of the TLS library (escaped).
        detail: String,
    },

    /// The server refused the login.
    #[error("login as {username:?} on {host} was refused: {detail}")]
    Auth {
        /// The login name.
        username: String,
        /// The server, as configured.
        host: String,
        /// The server's text, password redacted.
        detail: String,
    },

    /// The mailbox to select, or to append to, does not exist.
    #[error("mailbox {mailbox:?} does not exist on {host}")]
    NoMailbox {
        /// The mailbox, as configured (`/`-separated).
        mailbox: String,
        /// The server, as configured.
        host: String,
    },

    /// The server sent nothing for `timeout_secs`.
    #[error("{host} did not answer within {} s during {operation}", timeout.as_secs())]
    Timeout {
        /// The server, as configured.
        host: String,
        /// The IMAP command (or connection step) in progress.
        operation: &'static str,
        /// `timeout_secs`.
        timeout: Duration,
    },

    /// A command (`command_deadline_secs`) or the whole run on this account
    /// (`run_deadline_secs`) took longer than allowed, however the server paced its bytes.
    #[error("{host}: {operation} stopped: {}", deadline_text(*kind, *limit))]
    Deadline {
        /// The server, as configured.
        host: String,
        /// The IMAP command (or connection step) in progress.
        operation: &'static str,
        /// Which deadline.
        kind: DeadlineKind,
        /// Its length.
        limit: Duration,
    },

    /// The connection closed, was reset, or the server said BYE.
    #[error("connection to {host} lost during {operation}: {detail}")]
    ConnectionLost {
        /// The server, as configured.
        host: String,
        /// The IMAP command (or connection step) in progress.
        operation: &'static str,
        /// What failed, in the words of the TLS library or the system (escaped).
        detail: String,
    },

    /// The server answered NO or BAD.
    #[error("{host} rejected {operation}: {detail}")]
    Refused {
        /// The server, as configured.
        host: String,
        /// The IMAP command (or connection step) in progress.
        operation: &'static str,
        /// The server's text, password redacted.
        detail: String,
    },

    /// The server sent something that is not the IMAP reply expected.
    #[error("{host} sent an unreadable reply to {operation}: {received}")]
    Malformed {
        /// The server, as configured.
        host: String,
        /// The IMAP command (or connection step) in progress.
        operation: &'static str,
        /// What was received (the start of it, escaped, password redacted).
        received: String,
    },

    /// A reply went past a size limit (an endless line, a huge literal outside a message body,
    /// too much in all); the connection cannot be used any more.
    #[error("{host} sent {excess} in reply to {operation}; stopped reading")]
    TooLarge {
        /// The server, as configured.
        host: String,
        /// The IMAP command (or connection step) in progress.
        operation: &'static str,
        /// The limit that was passed.
        excess: Excess,
    },
}

fn deadline_text(kind: DeadlineKind, limit: Duration) -> String {
    match kind {
        DeadlineKind::Command => format!(
            "the command took longer than command_deadline_secs ({} s)",
            limit.as_secs()
        ),
        DeadlineKind::Run => format!(
            "the run on this account took longer than run_deadline_secs ({} s)",
            limit.as_secs()
        ),
    }
}

impl FetchError {
    /// True when the connection is gone (lost, timed out, out of time, or stopped because the
    /// server misbehaved): what was committed stays and the next run resumes; nothing about the
    /// configuration is wrong.
    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            FetchError::Connect { .. }
                | FetchError::Timeout { .. }
                | FetchError::Deadline { .. }
                | FetchError::ConnectionLost { .. }
                | FetchError::Malformed { .. }
                | FetchError::TooLarge { .. }
        )
    }
}
