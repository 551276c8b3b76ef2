//! Synthetic SMTP TLS reports (RFC 8460) with known totals: plain `.json`, `.json.gz`, and
//! `.eml` messages carrying an `application/tlsrpt+gzip` attachment, as Google and Microsoft
//! send them.

use crate::Error;
use crate::rng::Rng;
use crate::wrap::{civil_from_days, gzip, write_base64};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// The policy domains the generated reports are about.
pub const TLS_DOMAINS: [&str; 2] = ["example.com", "example.org"];

/// `result-type`s the generated failures use (RFC 8460 §4.3).
const RESULT_TYPES: [&str; 5] = [
    "certificate-expired",
    "certificate-host-mismatch",
    "starttls-not-supported",
    "sts-policy-fetch-error",
    "validation-failure",
];

/// What a set of generated TLS reports holds, summed, to compare with what was stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// Reports written (one file each).
    pub reports: u64,
    /// Policies over all reports.
    pub policies: u64,
    /// `total-successful-session-count` over all policies.
    pub successful_sessions: u64,
    /// `total-failure-session-count` over all policies.
    pub failed_sessions: u64,
    /// `failure-details` entries over all policies.
    pub failure_details: u64,
    /// `failed-session-count` over all failure details.
    pub detail_sessions: u64,
}

/// One report as JSON, with its part of the totals. Reports are one day long, day `index`
/// after 2025-01-06, from one of two reporters.
pub fn tls_report(index: u64, rng: &mut Rng) -> (Value, TlsStats) {
    let (org, contact) = if index.is_multiple_of(2) {
        ("Google Inc.", "smtp-tls-reporting@google.com")
    } else {
        ("Microsoft Corporation", "tlsrpt-noreply@microsoft.com")
    };
    let begin = 1_736_121_600 + 86_400 * index as i64;
    let mut stats = TlsStats {
        reports: 1,
        ..TlsStats::default()
    };
    let mut policies = Vec::new();
    for domain in TLS_DOMAINS {
        let mut details = Vec::new();
        let mut failed = 0;
        for _ in 0..rng.below(4) {
            let sessions = rng.between(1, 50);
            failed += sessions;
            details.push(json!({
                "result-type": rng.pick(&RESULT_TYPES),
                "sending-mta-ip": format!("192.0.2.{}", rng.between(1, 254)),
                "receiving-mx-hostname": format!("mx{}.{domain}", rng.between(1, 3)),
                "receiving-ip": format!("198.51.100.{}", rng.between(1, 254)),
                "failed-session-count": sessions,
            }));
        }
        let successful = rng.between(0, 5_000);
        stats.policies += 1;
        stats.successful_sessions += successful;
        stats.failed_sessions += failed;
        stats.failure_details += details.len() as u64;
        stats.detail_sessions += failed;
        policies.push(json!({
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: enforce", format!("mx: *.{domain}"), "max_age: 604800"],
                "policy-domain": domain,
                "mx-host": [format!("*.{domain}")],
            },
            "summary": {
                "total-successful-session-count": successful,
                "total-failure-session-count": failed,
            },
            "failure-details": details,
        }));
    }
    let report = json!({
        "organization-name": org,
        "date-range": {
            "start-datetime": rfc3339(begin),
            "end-datetime": rfc3339(begin + 86_399),
        },
        "contact-info": contact,
        "report-id": format!("tlsrpt-{index:05}"),
        "policies": policies,
    });
    (report, stats)
}

/// Writes `count` reports into `dir` (created if missing), cycling through plain JSON, gzip
/// and mail; returns their totals.
pub fn generate_tls_reports(dir: &Path, count: u64, seed: u64) -> Result<TlsStats, Error> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(seed);
    let mut total = TlsStats::default();
    for index in 0..count {
        let (report, stats) = tls_report(index, &mut rng);
        total.add(&stats);
        let json = serde_json::to_vec_pretty(&report).map_err(std::io::Error::other)?;
        let base = format!("tlsrpt-{index:05}");
        match index % 3 {
            0 => std::fs::write(dir.join(format!("{base}.json")), &json)?,
            1 => std::fs::write(dir.join(format!("{base}.json.gz")), gzip(&json)?)?,
            _ => {
                let mut mail = Vec::new();
                write_tls_message(&mut mail, &base, &gzip(&json)?)?;
                std::fs::write(dir.join(format!("{base}.eml")), mail)?;
            }
        }
    }
    Ok(total)
}

impl TlsStats {
    /// Adds another set's totals.
    pub fn add(&mut self, other: &TlsStats) {
        self.reports += other.reports;
        self.policies += other.policies;
        self.successful_sessions += other.successful_sessions;
        self.failed_sessions += other.failed_sessions;
        self.failure_details += other.failure_details;
        self.detail_sessions += other.detail_sessions;
    }
}

/// A TLS report mail: a text part and the gzipped report as `application/tlsrpt+gzip`.
pub fn write_tls_message(out: &mut impl Write, id: &str, gzipped: &[u8]) -> std::io::Result<()> {
    let boundary = "tlsrpt-boundary-0001";
    write!(
        out,
        "From: noreply-smtp-tls-reporting@google.com\n\
         To: tlsrpt@example.com\n\
         Subject: Report Domain: example.com Submitter: google.com Report-ID: <{id}@google.com>\n\
         Date: Tue, 7 Jan 2025 01:00:00 +0000\n\
         Message-ID: <{id}@google.com>\n\
         TLS-Report-Domain: example.com\n\
         TLS-Report-Submitter: google.com\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"{boundary}\"\n\n\
         --{boundary}\n\
         Content-Type: text/plain; charset=\"us-ascii\"\n\n\
         This is an aggregate TLS report from google.com\n\n\
         --{boundary}\n\
         Content-Type: application/tlsrpt+gzip\n\
         Content-Disposition: attachment; filename=\"google.com!example.com!{id}.json.gz\"\n\
         Content-Transfer-Encoding: base64\n\n"
    )?;
    write_base64(out, gzipped, "\n")?;
    write!(out, "\n--{boundary}--\n")
}

/// `YYYY-MM-DDTHH:MM:SSZ` for unix seconds.
fn rfc3339(unix: i64) -> String {
    let seconds = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3_600,
        seconds % 3_600 / 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_736_121_600), "2025-01-06T00:00:00Z");
        assert_eq!(super::rfc3339(951_825_599), "2000-02-29T11:59:59Z");
    }
}
