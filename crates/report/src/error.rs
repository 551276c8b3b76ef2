//! Why an input, or one document in it, yielded no report.

use std::fmt;

/// Why an input or one of its documents yielded no aggregate report.
///
/// The input's own name (file path, IMAP UID) is added by the caller; the archive member or
/// attachment name is passed beside the error to [`crate::Sink::report_failed`]. The message
/// says what is wrong in words a postmaster can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input holds no part that looks like an aggregate report.
    #[error("no DMARC aggregate report found ({0})")]
    NoReport(String),
    /// The data is none of the formats reports come in.
    #[error("not a DMARC aggregate report: {0}")]
    UnknownContent(String),
    /// Decompressing would exceed the configured cap (zip or gzip bomb, or a huge report).
    #[error("decompressed data exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// A structural limit was hit (zip members, XML depth, MIME parts or nesting).
    #[error("{what} exceeds the limit of {limit}")]
    Limit {
        /// What was counted.
        what: &'static str,
        /// The cap.
        limit: u64,
    },
    /// A gzip or zlib stream is corrupt or truncated.
    #[error("corrupt {format} data: {reason}")]
    Corrupt {
        /// `gzip`, `zlib` or `zip`.
        format: Container,
        /// The decoder's own words.
        reason: String,
    },
    /// The MIME structure of a message could not be read.
    #[error("malformed message: {0}")]
    Mime(String),
    /// The document is not well-formed XML.
    #[error("XML error at byte {offset}: {reason}")]
    Xml {
        /// Byte offset in the decompressed document.
        offset: u64,
        /// What the XML reader found.
        reason: String,
    },
    /// Well-formed XML whose root is not `<feedback>`.
    #[error("not a DMARC aggregate report: root element is <{0}>, expected <feedback>")]
    NotFeedback(String),
    /// A required element is absent or empty.
    #[error("required element <{0}> is missing or empty")]
    Missing(&'static str),
    /// A required element has a value that cannot be right.
    #[error("invalid <{element}> value {value:?}: {reason}")]
    Invalid {
        /// The element's name.
        element: &'static str,
        /// The value as written (truncated when long).
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A JSON document that is no usable SMTP TLS report (RFC 8460).
    #[error("invalid SMTP TLS report: {0}")]
    TlsReport(String),
    /// A DMARC failure report (RFC 6591) that cannot be used.
    #[error("invalid DMARC failure report: {0}")]
    FailureReport(String),
    /// Reading the input failed (only for readers handed in by the caller).
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// A container format, as detected from magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// RFC 1952 gzip.
    Gzip,
    /// RFC 1950 zlib without a gzip wrapper.
    Zlib,
    /// PKZIP archive.
    Zip,
    /// An RFC 5322 message.
    Message,
    /// XML text.
    Xml,
    /// JSON text (an SMTP TLS report).
    Json,
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Container::Gzip => "gzip",
            Container::Zlib => "zlib",
            Container::Zip => "zip",
            Container::Message => "message",
            Container::Xml => "xml",
            Container::Json => "json",
        })
    }
}
