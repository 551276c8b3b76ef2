//! The content hash of a parsed report, which tells a re-sent duplicate from a conflicting
//! report with the same key.
//!
//! It covers everything the report says (header, records in order, extensions) and nothing
//! about how it arrived (container, member name, whitespace, encoding), so the same report
//! zipped by one mailer and gzipped by another is recognised as a duplicate. Each value is
//! length-prefixed so that field boundaries cannot shift.

use ruadb_report::{Record, ReportHeader};
use sha2::{Digest, Sha256};

#[derive(Default)]
pub(crate) struct ContentHasher {
    sha256: Sha256,
}

impl ContentHasher {
    fn bytes(&mut self, bytes: &[u8]) {
        self.sha256.update((bytes.len() as u64).to_le_bytes());
        self.sha256.update(bytes);
    }

    fn str(&mut self, value: &str) {
        self.bytes(value.as_bytes());
    }

    fn opt(&mut self, value: Option<&str>) {
        match value {
            Some(value) => {
                self.sha256.update([1]);
                self.str(value);
            }
            None => self.sha256.update([0]),
        }
    }

    fn int(&mut self, value: i64) {
        self.sha256.update(value.to_le_bytes());
    }

    pub(crate) fn strings(&mut self, values: &[String]) {
        self.int(values.len() as i64);
        for value in values {
            self.str(value);
        }
    }

    pub(crate) fn header(&mut self, header: &ReportHeader) {
        let metadata = &header.metadata;
        let policy = &header.policy;
        self.str(header.format.as_str());
        self.opt(header.version.as_deref());
        self.str(&metadata.org_name);
        self.str(&metadata.email);
        self.opt(metadata.extra_contact_info.as_deref());
        self.str(&metadata.report_id);
        self.int(metadata.begin);
        self.int(metadata.end);
        self.strings(&metadata.errors);
        self.opt(metadata.generator.as_deref());
        self.str(&policy.domain);
        self.opt(policy.dkim_alignment.as_ref().map(|value| value.as_str()));
        self.opt(policy.spf_alignment.as_ref().map(|value| value.as_str()));
        self.opt(policy.policy.as_ref().map(|value| value.as_str()));
        self.opt(policy.subdomain_policy.as_ref().map(|value| value.as_str()));
        self.opt(
            policy
                .nonexistent_subdomain_policy
                .as_ref()
                .map(|value| value.as_str()),
        );
        self.int(policy.percent.map_or(-1, i64::from));
        self.opt(policy.failure_options.as_deref());
        self.opt(policy.testing.as_ref().map(|value| value.as_str()));
        self.opt(policy.discovery_method.as_ref().map(|value| value.as_str()));
    }

    pub(crate) fn record(&mut self, record: &Record) {
        match record.source_ip {
            std::net::IpAddr::V4(ip) => self.bytes(&ip.octets()),
            std::net::IpAddr::V6(ip) => self.bytes(&ip.octets()),
        }
        self.int(i64::try_from(record.count).unwrap_or(i64::MAX));
        self.str(record.disposition.as_str());
        self.opt(record.dkim.as_ref().map(|value| value.as_str()));
        self.opt(record.spf.as_ref().map(|value| value.as_str()));
        self.int(record.reasons.len() as i64);
        for reason in &record.reasons {
            self.str(reason.kind.as_str());
            self.opt(reason.comment.as_deref());
        }
        self.str(&record.header_from);
        self.opt(record.envelope_from.as_deref());
        self.opt(record.envelope_to.as_deref());
        self.int(record.dkim_results.len() as i64);
        for dkim in &record.dkim_results {
            self.str(&dkim.domain);
            self.opt(dkim.selector.as_deref());
            self.str(dkim.result.as_str());
            self.opt(dkim.human_result.as_deref());
        }
        self.int(record.spf_results.len() as i64);
        for spf in &record.spf_results {
            self.str(&spf.domain);
            self.opt(spf.scope.as_ref().map(|value| value.as_str()));
            self.str(spf.result.as_str());
            self.opt(spf.human_result.as_deref());
        }
        self.strings(&record.extensions);
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        self.sha256.finalize().into()
    }
}
