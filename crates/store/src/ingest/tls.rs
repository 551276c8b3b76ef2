//! Storing SMTP TLS reports (RFC 8460): new, duplicate, conflict or rejected. The key is
//! (`organization-name` in any case, `report-id`), with the same rules as aggregate reports:
//! the same key with the same content is a duplicate, with other content a conflict, kept once
//! and never double-counted. The `domains` list applies to each policy's `policy-domain`.

use super::rows::insert_rejected;
use super::sink::accepts;
use crate::StoreError;
use crate::StoreOptions;
use ruadb_report::{TlsPolicy, TlsReport};
use rusqlite::{Connection, OptionalExtension, named_params};

/// What became of one TLS report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TlsStored {
    /// Stored for the first time.
    New,
    /// Its key was stored before with the same content.
    Duplicate,
    /// Its key was stored before with other content.
    Conflict,
    /// No policy domain is accepted: not stored; the domains it named.
    Rejected(Vec<String>),
}

/// One TLS report into the database.
pub(super) fn store_tls_report(
    connection: &Connection,
    options: &StoreOptions,
    message_id: i64,
    member: Option<&str>,
    report: &TlsReport,
    content_hash: [u8; 32],
) -> Result<TlsStored, StoreError> {
    let (policies, refused): (Vec<&TlsPolicy>, Vec<&TlsPolicy>) =
        report.policies.iter().partition(|policy| {
            options.domains.is_none()
                || policy
                    .policy_domain
                    .as_ref()
                    .is_some_and(|domain| accepts(options, domain))
        });
    let refused_domains: Vec<String> = refused.iter().map(|policy| domain_text(policy)).collect();
    if policies.is_empty() && !refused.is_empty() {
        for policy_domain in &refused_domains {
            insert_rejected(
                connection,
                message_id,
                member,
                &report.organization_name,
                &report.report_id,
                policy_domain,
            )?;
        }
        return Ok(TlsStored::Rejected(refused_domains));
    }
    let kept: Option<(i64, Vec<u8>)> = connection
        .prepare_cached(
            "SELECT id, content_hash FROM tls_reports
             WHERE report_id = :report_id AND org_name = :org_name COLLATE NOCASE",
        )?
        .query_row(
            named_params! {
                ":report_id": report.report_id,
                ":org_name": report.organization_name,
            },
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    if let Some((kept_report, kept_hash)) = kept {
        let conflict = kept_hash.as_slice() != content_hash.as_slice();
        connection
            .prepare_cached(
                "INSERT INTO tls_report_repeats (kept_report, message_id, member, conflict,
                    content_hash)
                 VALUES (:kept_report, :message_id, :member, :conflict, :content_hash)",
            )?
            .execute(named_params! {
                ":kept_report": kept_report,
                ":message_id": message_id,
                ":member": member,
                ":conflict": conflict,
                ":content_hash": content_hash,
            })?;
        return Ok(if conflict {
            TlsStored::Conflict
        } else {
            TlsStored::Duplicate
        });
    }
    connection
        .prepare_cached(
            "INSERT INTO tls_reports (message_id, member, org_name, report_id, contact_info,
                begin_utc, end_utc, content_hash)
             VALUES (:message_id, :member, :org_name, :report_id, :contact_info,
                :begin_utc, :end_utc, :content_hash)",
        )?
        .execute(named_params! {
            ":message_id": message_id,
            ":member": member,
            ":org_name": report.organization_name,
            ":report_id": report.report_id,
            ":contact_info": report.contact_info,
            ":begin_utc": report.begin,
            ":end_utc": report.end,
            ":content_hash": content_hash,
        })?;
    let report_row = connection.last_insert_rowid();
    for policy in policies {
        insert_policy(connection, report_row, policy)?;
    }
    let mut insert_warning = connection.prepare_cached(
        "INSERT INTO tls_report_warnings (report, warning) VALUES (:report, :warning)",
    )?;
    let not_kept = refused_domains
        .iter()
        .map(|domain| format!("the policy for {domain} is not stored: not in `domains`"));
    for warning in report.warnings.iter().map(|w| w.0.clone()).chain(not_kept) {
        insert_warning.execute(named_params! {":report": report_row, ":warning": warning})?;
    }
    Ok(TlsStored::New)
}

fn domain_text(policy: &TlsPolicy) -> String {
    policy.policy_domain.as_ref().map_or_else(
        || "(no policy-domain)".to_owned(),
        |domain| domain.to_string(),
    )
}

/// Session counts are capped by the parser at 2^40, so they fit SQLite's integers.
fn sessions(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn insert_policy(
    connection: &Connection,
    report_row: i64,
    policy: &TlsPolicy,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO tls_policies (report, policy_type, policy_domain, policy_strings,
                mx_hosts, successful_sessions, failed_sessions)
             VALUES (:report, :policy_type, :policy_domain, :policy_strings, :mx_hosts,
                :successful_sessions, :failed_sessions)",
        )?
        .execute(named_params! {
            ":report": report_row,
            ":policy_type": policy.policy_type.as_str(),
            ":policy_domain": policy.policy_domain.as_ref().map(|domain| domain.as_str()),
            ":policy_strings": json_list(&policy.policy_strings),
            ":mx_hosts": json_list(&policy.mx_hosts),
            ":successful_sessions": sessions(policy.successful_sessions),
            ":failed_sessions": sessions(policy.failed_sessions),
        })?;
    let policy_row = connection.last_insert_rowid();
    let mut insert_detail = connection.prepare_cached(
        "INSERT INTO tls_failure_details (policy, result_type, sending_mta_ip,
            receiving_mx_hostname, receiving_mx_helo, receiving_ip, failed_sessions,
            additional_information, failure_reason_code)
         VALUES (:policy, :result_type, :sending_mta_ip, :receiving_mx_hostname,
            :receiving_mx_helo, :receiving_ip, :failed_sessions, :additional_information,
            :failure_reason_code)",
    )?;
    for detail in &policy.failure_details {
        insert_detail.execute(named_params! {
            ":policy": policy_row,
            ":result_type": detail.result_type,
            ":sending_mta_ip": detail.sending_mta_ip.map(|ip| ip.to_string()),
            ":receiving_mx_hostname": detail.receiving_mx_hostname,
            ":receiving_mx_helo": detail.receiving_mx_helo,
            ":receiving_ip": detail.receiving_ip.map(|ip| ip.to_string()),
            ":failed_sessions": sessions(detail.failed_sessions),
            ":additional_information": detail.additional_information,
            ":failure_reason_code": detail.failure_reason_code,
        })?;
    }
    Ok(())
}

fn json_list(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned())
}
