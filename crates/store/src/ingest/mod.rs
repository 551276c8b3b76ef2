//! Ingest: a [`Batch`] is one write transaction; each input is stored whole or not at all
//! by a [`ruadb_report::Sink`] that writes reports as they stream in. A report that fails
//! half-way has its rows deleted; a database error half-way through an input makes the batch
//! refuse to commit. Inputs parsed on the calling thread (large or streamed ones, which can
//! fail to read half-way) are stored inside a savepoint.
//!
//! - `batch`: [`Batch`], its queue of inputs on the parser threads, and commit.
//! - `sink`: the storing sink, which decides per report: store, duplicate, conflict, reject.
//! - `rows`: the row inserts (messages, reports, records and their results).
//! - `failure`: DMARC failure reports (privacy, dedupe by content, the raw input replaced by
//!   ruadb's rendering).
//! - `reparse`: rebuilding every report from the stored raw inputs.
//! - `identify`: source identification on a thread of its own, fed with the records stored.

mod batch;
mod failure;
mod identify;
mod reparse;
mod rows;
mod sink;
#[cfg(test)]
mod tests;
mod tls;

pub use batch::{Batch, Input};
pub use identify::Identifier;

use serde::Serialize;

/// Where an input came from, stored with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageSource {
    /// A file (or a message inside an mbox or Maildir at that path).
    File {
        /// The path as given.
        path: String,
    },
    /// Standard input.
    Stdin,
    /// A message fetched from an IMAP mailbox.
    Imap {
        /// The account (user@host) it was fetched with.
        account: String,
        /// The mailbox name.
        mailbox: String,
        /// The mailbox's UIDVALIDITY at fetch time.
        uidvalidity: u32,
        /// The message's UID.
        uid: u32,
    },
}

/// Where `ruadb fetch` stopped in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapCursor {
    /// The mailbox's UIDVALIDITY when `last_uid` was stored; a change invalidates the cursor.
    pub uidvalidity: u32,
    /// The highest UID whose message is stored.
    pub last_uid: u32,
}

/// What storing one input did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageOutcome {
    /// The same bytes (sha256) were stored before: nothing was written. The counts below are
    /// then zero, `stored_before` says what the input held, and `errors` and
    /// `rejected_domains` repeat what was recorded the first time, so a bad input is named on
    /// every run.
    pub already_stored: bool,
    /// For an input stored before (`already_stored`): its reports as they were stored.
    pub stored_before: Option<StoredReports>,
    /// Reports stored for the first time.
    pub reports_new: u64,
    /// Reports whose (org_name, report_id, policy_domain) was stored before with the same content.
    pub duplicates: u64,
    /// Reports whose key was stored before with other content: the first is kept, this one
    /// is noted in `report_conflicts` and not counted.
    pub conflicts: u64,
    /// Records stored.
    pub records: u64,
    /// SMTP TLS reports stored for the first time.
    pub tls_reports_new: u64,
    /// SMTP TLS reports whose (organization-name, report-id) was stored before with the same
    /// content.
    pub tls_duplicates: u64,
    /// SMTP TLS reports whose key was stored before with other content (kept once).
    pub tls_conflicts: u64,
    /// DMARC failure reports stored for the first time.
    pub failure_reports_new: u64,
    /// DMARC failure reports whose content was stored before (from another input).
    pub failure_duplicates: u64,
    /// The policy domain of each report refused because it is not in `domains`.
    pub rejected_domains: Vec<String>,
    /// Documents that yielded no report (one entry with `member: None` when the input as a
    /// whole held none).
    pub errors: Vec<InputFailure>,
}

impl MessageOutcome {
    /// Whether the input held at least one report (new, duplicate or conflict), also when
    /// it was stored before. Rejected reports do not count.
    pub fn has_report(&self) -> bool {
        match &self.stored_before {
            Some(stored) => stored.has_report(),
            None => {
                self.reports_new
                    + self.duplicates
                    + self.conflicts
                    + self.tls_reports_new
                    + self.tls_duplicates
                    + self.tls_conflicts
                    + self.failure_reports_new
                    + self.failure_duplicates
                    > 0
            }
        }
    }
}

/// The reports of an input stored before, as they were stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredReports {
    /// Reports stored from this input (the first with their key).
    pub reports: u64,
    /// Records of those reports.
    pub records: u64,
    /// Reports whose key and content were stored already from another input.
    pub duplicates: u64,
    /// Reports whose key was stored already with other content (not counted).
    pub conflicts: u64,
    /// SMTP TLS reports of this input: stored from it, or duplicates or conflicts of ones
    /// stored before.
    pub tls_reports: u64,
    /// DMARC failure reports of this input: stored from it, or duplicates of ones stored
    /// before.
    pub failure_reports: u64,
}

impl StoredReports {
    /// Whether the input held at least one report.
    pub fn has_report(&self) -> bool {
        self.reports + self.duplicates + self.conflicts + self.tls_reports + self.failure_reports
            > 0
    }
}

/// One document that yielded no report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputFailure {
    /// The archive member or attachment name, if any.
    pub member: Option<String>,
    /// Why, in words a postmaster can act on.
    pub message: String,
}

/// Counts over many inputs: the tally line of `ruadb ingest` / `ruadb fetch`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestTally {
    /// Inputs seen (including ones already stored).
    pub messages: u64,
    /// Reports stored for the first time.
    pub reports_new: u64,
    /// Reports already stored with the same content.
    pub duplicates: u64,
    /// Reports already stored with other content (kept once).
    pub conflicts: u64,
    /// Records stored.
    pub records: u64,
    /// SMTP TLS reports stored for the first time.
    pub tls_reports_new: u64,
    /// SMTP TLS reports already stored (same key), with the same or other content.
    pub tls_repeats: u64,
    /// DMARC failure reports stored for the first time.
    pub failure_reports_new: u64,
    /// DMARC failure reports stored before with the same content.
    pub failure_duplicates: u64,
    /// Documents that yielded no report, plus rejected reports.
    pub errors: u64,
    /// Reports refused because their policy domain is not configured (also in `errors`).
    pub rejected: u64,
}

impl IngestTally {
    /// Adds another tally (e.g. a committed batch's) to this one.
    pub fn merge(&mut self, other: &IngestTally) {
        self.messages += other.messages;
        self.reports_new += other.reports_new;
        self.duplicates += other.duplicates;
        self.conflicts += other.conflicts;
        self.records += other.records;
        self.tls_reports_new += other.tls_reports_new;
        self.tls_repeats += other.tls_repeats;
        self.failure_reports_new += other.failure_reports_new;
        self.failure_duplicates += other.failure_duplicates;
        self.errors += other.errors;
        self.rejected += other.rejected;
    }

    /// Adds one input's outcome.
    pub fn add(&mut self, outcome: &MessageOutcome) {
        self.messages += 1;
        self.reports_new += outcome.reports_new;
        self.duplicates += outcome.duplicates;
        self.conflicts += outcome.conflicts;
        self.records += outcome.records;
        self.tls_reports_new += outcome.tls_reports_new;
        self.tls_repeats += outcome.tls_duplicates + outcome.tls_conflicts;
        self.failure_reports_new += outcome.failure_reports_new;
        self.failure_duplicates += outcome.failure_duplicates;
        let rejected = outcome.rejected_domains.len() as u64;
        self.rejected += rejected;
        self.errors += outcome.errors.len() as u64 + rejected;
    }
}
