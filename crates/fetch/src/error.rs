use std::io;
use std::time::Duration;

/// Why a fetch step failed. Every message names the host or mailbox involved and never contains
/// the password.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid IMAP configuration: {0}")]
    Config(String),

    #[error("IMAP password: {detail}")]
    Password { detail: String },

    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: io::Error,
    },

    #[error("TLS with {host} failed: {detail}")]
    Tls { host: String, detail: String },

    #[error("login as {username:?} on {host} was refused: {detail}")]
    Auth {
        username: String,
        host: String,
        detail: String,
    },

    #[error("mailbox {mailbox:?} does not exist on {host}")]
    NoMailbox { mailbox: String, host: String },

    #[error("{host} did not answer within {} s during {operation}", timeout.as_secs())]
    Timeout {
        host: String,
        operation: &'static str,
        timeout: Duration,
    },

    #[error("connection to {host} lost during {operation}: {detail}")]
    ConnectionLost {
        host: String,
        operation: &'static str,
        detail: String,
    },

    #[error("{host} rejected {operation}: {detail}")]
    Protocol {
        host: String,
        operation: &'static str,
        detail: String,
    },
}

impl FetchError {
    /// True when the connection is gone (lost or timed out): what was committed stays and the
    /// next run resumes; nothing about the configuration is wrong.
    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            FetchError::Connect { .. }
                | FetchError::Timeout { .. }
                | FetchError::ConnectionLost { .. }
        )
    }
}
