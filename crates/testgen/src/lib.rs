//! Synthetic DMARC aggregate reports for ruadb's benchmarks and tests.
//!
//! Everything is derived from a seed with a built-in generator, so a seed and a size name the
//! same bytes on every machine and every version of the dependencies.
//!
//! # Layout
//! - [`corpus`]: a realistic mailbox — many reporters, skewed report sizes (most 1–5 records, a
//!   tail to thousands), `.xml`, `.xml.gz`, `.zip` and `.eml` files, RFC 7489 and RFC 9990.
//! - [`msp`]: a mail service provider's mailbox — a thousand policy domains or more, reports
//!   every day, millions of records, each domain's own spoofing sources — written a range of
//!   days at a time.
//! - [`hostile`]: bombs, entity tricks, deep nesting, huge and malformed mail.
//! - [`mmdb`]: small IP databases (MMDB) in the free databases' layouts.
//! - [`tlsrpt`]: SMTP TLS reports (RFC 8460) with known totals.
//! - `xml`, `reporters`, `sources`, `wrap`: how one report is written and packed.
//!
//! Addresses come from the documentation ranges unless [`IpSpace::Public`] is asked for.

pub mod corpus;
pub mod hostile;
pub mod mmdb;
pub mod msp;
mod reporters;
mod rng;
mod sources;
pub mod tlsrpt;
pub mod wrap;
mod xml;

pub use corpus::{CorpusSpec, CorpusStats, generate_corpus};
pub use hostile::{
    DEEP_MULTIPART_LEVELS, HUGE_COUNT, HUGE_COUNT_RECORDS, Hostile, HostileFile, big_report,
};
pub use mmdb::{MmdbEntry, MmdbLayout, write_mmdb};
pub use msp::{MspRecord, MspSpec, MspStats, generate_msp};
pub use reporters::{Archive, IdStyle, MailStyle, Reporter, Style};
pub use rng::Rng;
pub use sources::{IpSpace, Scenario};
pub use tlsrpt::{TlsStats, generate_tls_reports};
pub use xml::{DomainPolicy, RecordBudget, RecordWritten, ReportPlan, Written};

/// Why generating failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a file failed.
    #[error("writing failed: {0}")]
    Io(#[from] std::io::Error),
    /// The zip writer refused.
    #[error("writing a zip archive failed: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// The request cannot be met.
    #[error("invalid request: {0}")]
    Spec(&'static str),
}
