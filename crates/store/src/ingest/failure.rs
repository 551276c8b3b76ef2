//! Storing DMARC failure reports: privacy first, then new, duplicate or rejected; and the
//! raw input of a mail that held one replaced by ruadb's rendering of what was stored.
//!
//! Rules:
//! - `StoreOptions::failure_privacy` is applied before anything is written
//!   ([`FailureReport::apply_privacy`]).
//! - Dedupe by content: the sha256 of the report's rendering with every private part removed
//!   (so the same report is recognised whatever `[failure_reports]` said when each copy came
//!   in, and the hash says nothing private). The same content again is a duplicate, noted in
//!   `failure_report_duplicates`.
//! - `domains` applies to `Reported-Domain`: a report for another domain is rejected (in
//!   `rejected_reports`, as aggregate reports are).
//! - The input's raw bytes would keep the original message and every address: once its
//!   reports are stored, they are replaced by [`FailureReport::render`] of what was stored
//!   (several reports: one multipart mail with each as an attached message), which `reparse`
//!   reads back into the same rows. The old chunks are deleted with `secure_delete` on, so
//!   their pages are overwritten, not only freed.

use super::rows::insert_rejected;
use crate::raw::{ChunkEncoder, ChunkInserter, Compressor, RawEncoding};
use crate::{StoreError, StoreOptions};
use ruadb_report::{FailurePrivacy, FailureReport};
use rusqlite::{Connection, OptionalExtension, named_params, params};
use sha2::{Digest, Sha256};

/// What storing one failure report did.
pub(super) enum FailureStored {
    /// Stored for the first time.
    New,
    /// The same content was stored before.
    Duplicate,
    /// `domains` does not list its reported domain.
    Rejected(String),
}

/// Stores `report` (read from message `message_id`, member `member`); `kept` receives the
/// rendering of what was stored, for the raw input.
pub(super) fn store_failure_report(
    connection: &Connection,
    options: &StoreOptions,
    message_id: i64,
    member: Option<&str>,
    mut report: FailureReport,
    kept: &mut Vec<Vec<u8>>,
) -> Result<FailureStored, StoreError> {
    report.apply_privacy(options.failure_privacy);
    kept.push(report.render());
    if !super::sink::accepts(options, &report.reported_domain) {
        insert_rejected(
            connection,
            message_id,
            member,
            report.reporter.as_deref().unwrap_or_default(),
            "failure report",
            report.reported_domain.as_str(),
        )?;
        return Ok(FailureStored::Rejected(
            report.reported_domain.into_string(),
        ));
    }
    let hash = content_hash(&report);
    let kept_report: Option<i64> = connection
        .prepare_cached("SELECT id FROM failure_reports WHERE content_hash = ?1")?
        .query_row([hash.as_slice()], |row| row.get(0))
        .optional()?;
    if let Some(kept_report) = kept_report {
        connection
            .prepare_cached(
                "INSERT INTO failure_report_duplicates (kept_report, message_id, member)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![kept_report, message_id, member])?;
        return Ok(FailureStored::Duplicate);
    }
    connection
        .prepare_cached(
            "INSERT INTO failure_reports (
                message_id, member, format, reporter, user_agent, arrival_utc, source_ip,
                reported_domain, auth_failure, authentication_results, mail_from_domain,
                rcpt_to_domains, from_domain, dkim_domain, dkim_selector, identity_alignment,
                delivery_result, original_message_id, original_date_utc, original_mail_from,
                original_rcpt_to, original_from, subject, warnings, content_hash)
             VALUES (
                :message_id, :member, :format, :reporter, :user_agent, :arrival_utc, :source_ip,
                :reported_domain, :auth_failure, :authentication_results, :mail_from_domain,
                :rcpt_to_domains, :from_domain, :dkim_domain, :dkim_selector,
                :identity_alignment, :delivery_result, :original_message_id, :original_date_utc,
                :original_mail_from, :original_rcpt_to, :original_from, :subject, :warnings,
                :content_hash)",
        )?
        .execute(named_params! {
            ":message_id": message_id,
            ":member": member,
            ":format": report.format.as_str(),
            ":reporter": report.reporter.as_deref(),
            ":user_agent": report.user_agent,
            ":arrival_utc": report.arrival,
            ":source_ip": report.source_ip.map(|ip| ip.to_string()),
            ":reported_domain": report.reported_domain.as_str(),
            ":auth_failure": report.auth_failure,
            ":authentication_results": report.authentication_results,
            ":mail_from_domain": report.mail_from_domain.as_deref(),
            ":rcpt_to_domains": json(&report.rcpt_to_domains),
            ":from_domain": report.from_domain.as_deref(),
            ":dkim_domain": report.dkim_domain.as_deref(),
            ":dkim_selector": report.dkim_selector,
            ":identity_alignment": report.identity_alignment,
            ":delivery_result": report.delivery_result,
            ":original_message_id": report.message_id,
            ":original_date_utc": report.date,
            ":original_mail_from": report.original_mail_from,
            ":original_rcpt_to": (!report.original_rcpt_to.is_empty())
                .then(|| json(&report.original_rcpt_to)),
            ":original_from": report.from,
            ":subject": report.subject,
            ":warnings": json(&report.warnings),
            ":content_hash": hash.as_slice(),
        })?;
    Ok(FailureStored::New)
}

/// JSON text of a list column.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // A list of strings always serialises.
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

/// The sha256 of `report`'s rendering with every private part removed and without its
/// warnings (which say how it was read, not what it says).
fn content_hash(report: &FailureReport) -> [u8; 32] {
    let mut canonical = report.clone();
    canonical.apply_privacy(FailurePrivacy::default());
    canonical.warnings.clear();
    Sha256::digest(canonical.render()).into()
}

/// Replaces the raw input of message `message_id` by `kept` (the renderings of its failure
/// reports), so that neither the original message nor anything privacy removed stays in the
/// database.
pub(super) fn replace_raw_input(
    connection: &Connection,
    message_id: i64,
    kept: &[Vec<u8>],
) -> Result<(), StoreError> {
    let replacement = match kept {
        [one] => one.clone(),
        several => bundle(several),
    };
    // Overwrite the freed pages too: deleting alone would leave the bytes in the file.
    connection.execute_batch("PRAGMA secure_delete = ON")?;
    let deleted = connection
        .prepare_cached("DELETE FROM raw_inputs WHERE message_id = ?1")?
        .execute([message_id]);
    connection.execute_batch("PRAGMA secure_delete = OFF")?;
    deleted?;
    connection
        .prepare_cached("UPDATE messages SET raw_encoding = 'zlib', size = ?2 WHERE id = ?1")?
        .execute(params![message_id, replacement.len() as i64])?;
    let mut compressor = Compressor::default();
    let mut chunks = ChunkInserter::new(connection, message_id);
    let mut insert = |chunk: &[u8]| chunks.insert(chunk);
    let mut encoder = ChunkEncoder::new(RawEncoding::Zlib, &mut compressor);
    encoder.write_all(&replacement, &mut insert)?;
    encoder.finish(&mut insert)
}

/// Several renderings as one mail, each an attached message (read back one by one, as a
/// forwarded failure report is).
fn bundle(renderings: &[Vec<u8>]) -> Vec<u8> {
    const BOUNDARY: &str = "ruadb-failure-reports";
    let mut out =
        format!("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\r\n")
            .into_bytes();
    for rendering in renderings {
        out.extend_from_slice(
            format!("\r\n--{BOUNDARY}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(rendering);
    }
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    out
}
