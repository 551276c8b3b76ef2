//! The content hash of a parsed report, which tells a re-sent duplicate from a conflicting
//! report with the same key.
//!
//! It covers everything the report says (header, records, extensions) and nothing about how
//! it arrived (container, member name, whitespace, encoding), so the same report zipped by one
//! mailer and gzipped by another is recognised as a duplicate. Each value is length-prefixed so
//! that field boundaries cannot shift.
//!
//! What does not change the meaning does not change the hash either: the case of `org_name`
//! (the report key compares it case-insensitively too), domain names (hashed in their
//! normalised form, [`ruadb_report::DomainName`]) and the order of the records. The records
//! are a multiset: each is hashed on its own and the digests are added up (lane-wise, modulo
//! 2^64), which needs no memory per record and no sorting.

use ruadb_report::{Record, ReportHeader, TlsReport};
use sha2::{Digest, Sha256};

/// The content hash of an SMTP TLS report: its JSON form without the warnings (they describe
/// the reading, not the report) and with the reporter's name in lower case (the key compares
/// it case-insensitively). The parsed form, so whitespace, key order and container do not count.
pub(crate) fn tls_content_hash(report: &TlsReport) -> [u8; 32] {
    let canonical = TlsReport {
        organization_name: report.organization_name.to_lowercase(),
        warnings: Vec::new(),
        ..report.clone()
    };
    // Serialising plain data to a Vec cannot fail; an empty hash input would only make two
    // such reports compare equal.
    let json = serde_json::to_vec(&canonical).unwrap_or_default();
    Sha256::digest(json).into()
}

#[derive(Default)]
pub(crate) struct ContentHasher {
    sha256: Sha256,
    /// The sum of the records' digests, as four 64-bit lanes.
    records: [u64; 4],
    record_count: u64,
}

/// Length-prefixed values fed to a hasher.
struct Fields<'a>(&'a mut Sha256);

impl Fields<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn str(&mut self, value: &str) {
        self.bytes(value.as_bytes());
    }

    fn opt(&mut self, value: Option<&str>) {
        match value {
            Some(value) => {
                self.0.update([1]);
                self.str(value);
            }
            None => self.0.update([0]),
        }
    }

    fn int(&mut self, value: i64) {
        self.0.update(value.to_le_bytes());
    }

    fn strings(&mut self, values: &[String]) {
        self.int(values.len() as i64);
        for value in values {
            self.str(value);
        }
    }
}

impl ContentHasher {
    pub(crate) fn strings(&mut self, values: &[String]) {
        Fields(&mut self.sha256).strings(values);
    }

    pub(crate) fn header(&mut self, header: &ReportHeader) {
        let metadata = &header.metadata;
        let policy = &header.policy;
        let mut f = Fields(&mut self.sha256);
        f.str(header.format.as_str());
        f.opt(header.version.as_deref());
        f.str(&metadata.org_name.to_ascii_lowercase());
        f.str(&metadata.email);
        f.opt(metadata.extra_contact_info.as_deref());
        f.str(&metadata.report_id);
        f.int(metadata.begin);
        f.int(metadata.end);
        f.strings(&metadata.errors);
        f.opt(metadata.generator.as_deref());
        f.str(&policy.domain);
        f.opt(policy.dkim_alignment.as_ref().map(|value| value.as_str()));
        f.opt(policy.spf_alignment.as_ref().map(|value| value.as_str()));
        f.opt(policy.policy.as_ref().map(|value| value.as_str()));
        f.opt(policy.subdomain_policy.as_ref().map(|value| value.as_str()));
        f.opt(
            policy
                .nonexistent_subdomain_policy
                .as_ref()
                .map(|value| value.as_str()),
        );
        f.int(policy.percent.map_or(-1, i64::from));
        f.opt(policy.failure_options.as_deref());
        f.opt(policy.testing.as_ref().map(|value| value.as_str()));
        f.opt(policy.discovery_method.as_ref().map(|value| value.as_str()));
    }

    pub(crate) fn record(&mut self, record: &Record) {
        let mut sha256 = Sha256::new();
        let mut f = Fields(&mut sha256);
        match record.source_ip {
            std::net::IpAddr::V4(ip) => f.bytes(&ip.octets()),
            std::net::IpAddr::V6(ip) => f.bytes(&ip.octets()),
        }
        f.int(i64::try_from(record.count).unwrap_or(i64::MAX));
        f.str(record.disposition.as_str());
        f.opt(record.dkim.as_ref().map(|value| value.as_str()));
        f.opt(record.spf.as_ref().map(|value| value.as_str()));
        f.int(record.reasons.len() as i64);
        for reason in &record.reasons {
            f.str(reason.kind.as_str());
            f.opt(reason.comment.as_deref());
        }
        f.str(&record.header_from);
        f.opt(record.envelope_from.as_deref());
        f.opt(record.envelope_to.as_deref());
        f.int(record.dkim_results.len() as i64);
        for dkim in &record.dkim_results {
            f.str(&dkim.domain);
            f.opt(dkim.selector.as_deref());
            f.str(dkim.result.as_str());
            f.opt(dkim.human_result.as_deref());
        }
        f.int(record.spf_results.len() as i64);
        for spf in &record.spf_results {
            f.str(&spf.domain);
            f.opt(spf.scope.as_ref().map(|value| value.as_str()));
            f.str(spf.result.as_str());
            f.opt(spf.human_result.as_deref());
        }
        f.strings(&record.extensions);
        let digest: [u8; 32] = sha256.finalize().into();
        for (lane, bytes) in self.records.iter_mut().zip(digest.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            *lane = lane.wrapping_add(u64::from_le_bytes(word));
        }
        self.record_count += 1;
    }

    pub(crate) fn finish(mut self) -> [u8; 32] {
        self.sha256.update(self.record_count.to_le_bytes());
        for lane in self.records {
            self.sha256.update(lane.to_le_bytes());
        }
        self.sha256.finalize().into()
    }
}
