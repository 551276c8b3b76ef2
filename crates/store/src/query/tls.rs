//! The typed read of SMTP TLS reports: one [`TlsPolicyRow`] per policy, with its failure
//! details, for the summary. TLS reports are few (one per reporter and day), so a policy's
//! details are gathered before it is handed over.

use super::read::ReportFilter;
use super::sql::Selection;
use crate::{Store, StoreError};

/// One policy of a stored TLS report, with its report's key and date range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPolicyRow {
    /// `organization-name` of the report.
    pub report_org: String,
    /// `report-id`.
    pub report_id: String,
    /// `policy-domain` (as stored: lowercase, no trailing dot), if the report named one.
    pub policy_domain: Option<String>,
    /// `policy-type` as stored: `sts`, `tlsa`, `no-policy-found` or as written.
    pub policy_type: String,
    /// Start of the report's date range, unix seconds.
    pub begin: i64,
    /// End of the report's date range, unix seconds.
    pub end: i64,
    /// `total-successful-session-count`.
    pub successful_sessions: u64,
    /// `total-failure-session-count`.
    pub failed_sessions: u64,
    /// `failure-details`, in report order.
    pub failures: Vec<TlsFailureRow>,
}

/// One failure detail of a [`TlsPolicyRow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFailureRow {
    /// `result-type`.
    pub result_type: String,
    /// `receiving-mx-hostname`.
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-ip`.
    pub receiving_ip: Option<String>,
    /// `failed-session-count`.
    pub failed_sessions: u64,
}

impl Store {
    /// Hands `visit` every stored TLS policy that `filter` selects (`policy_domain` is the
    /// policy's, the times its report's), in order of report and policy.
    pub fn read_tls_policies(
        &self,
        filter: &ReportFilter,
        visit: &mut dyn FnMut(TlsPolicyRow),
    ) -> Result<(), StoreError> {
        let _snapshot = self.read_transaction()?;
        let selection = Selection::default()
            .and_some("pol.policy_domain = ?", &filter.policy_domain)
            .and_some("rep.begin_utc >= ?", &filter.begin_at_or_after)
            .and_some("rep.begin_utc < ?", &filter.begin_before)
            .and_some("rep.end_utc >= ?", &filter.end_at_or_after);
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT pol.id, rep.org_name, rep.report_id, pol.policy_domain, pol.policy_type,
                    rep.begin_utc, rep.end_utc, pol.successful_sessions, pol.failed_sessions,
                    det.result_type, det.receiving_mx_hostname, det.receiving_ip,
                    det.failed_sessions
             FROM tls_policies pol
             JOIN tls_reports rep ON rep.id = pol.report
             LEFT JOIN tls_failure_details det ON det.policy = pol.id
             {}
             ORDER BY rep.id, pol.id, det.id",
            selection.where_clause()
        ))?;
        let mut rows = statement.query(selection.params())?;
        let mut current: Option<(i64, TlsPolicyRow)> = None;
        let count = |value: i64| value.max(0) as u64;
        while let Some(row) = rows.next()? {
            let policy_id: i64 = row.get(0)?;
            if current.as_ref().is_none_or(|(id, _)| *id != policy_id) {
                if let Some((_, done)) = current.take() {
                    visit(done);
                }
                current = Some((
                    policy_id,
                    TlsPolicyRow {
                        report_org: row.get(1)?,
                        report_id: row.get(2)?,
                        policy_domain: row.get(3)?,
                        policy_type: row.get(4)?,
                        begin: row.get(5)?,
                        end: row.get(6)?,
                        successful_sessions: count(row.get(7)?),
                        failed_sessions: count(row.get(8)?),
                        failures: Vec::new(),
                    },
                ));
            }
            if let (Some((_, policy)), Some(result_type)) =
                (&mut current, row.get::<_, Option<String>>(9)?)
            {
                policy.failures.push(TlsFailureRow {
                    result_type,
                    receiving_mx_hostname: row.get(10)?,
                    receiving_ip: row.get(11)?,
                    failed_sessions: count(row.get(12)?),
                });
            }
        }
        if let Some((_, done)) = current {
            visit(done);
        }
        Ok(())
    }
}
