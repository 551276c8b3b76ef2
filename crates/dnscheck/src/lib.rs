//! Checks of what a mail domain publishes in DNS, as findings with stable codes: its DMARC
//! record (with the tree walk to a parent's when it has none, and the authorisation records of
//! external report destinations), its SPF record (syntax, the DNS-lookup count with the chain
//! that spends it, void lookups, include loops, `all`), the DKIM keys of its selectors and its
//! MX records.
//!
//! The checks ask DNS through the [`Dns`] trait and never decide "missing" from a lookup that
//! did not answer: a timeout or a server failure becomes a `*.unchecked` finding ("could not
//! check"), never `*.missing`.
//!
//! # Invariants
//! - Every check is bounded: SPF walks at most [`spf::MAX_RECORDS`] records, DMARC at most 8
//!   names, whatever the records say.
//! - Record text from DNS is data: it is kept in [`Finding::record`] and in messages as is;
//!   callers escape it before printing to a terminal.
//!
//! # Example
//! ```
//! use ruadb_dnscheck::{Answer, Dns, Severity};
//! struct One;
//! impl Dns for One {
//!     fn txt(&self, name: &str) -> Answer<Vec<String>> {
//!         match name {
//!             "example.test" => Answer::Records(vec!["v=spf1 ip4:192.0.2.0/24 -all".into()]),
//!             _ => Answer::NoRecords,
//!         }
//!     }
//!     fn spf_type(&self, _: &str) -> Answer<Vec<String>> { Answer::NoRecords }
//!     fn mx(&self, _: &str) -> Answer<Vec<String>> { Answer::NoRecords }
//!     fn addresses(&self, _: &str) -> Answer<Vec<std::net::IpAddr>> { Answer::NoRecords }
//!     fn ptr(&self, _: std::net::IpAddr) -> Answer<Vec<String>> { Answer::NoRecords }
//! }
//! let findings = ruadb_dnscheck::spf::check(&One, "example.test");
//! assert!(findings.iter().all(|finding| finding.severity == Severity::Ok));
//! ```

pub mod dkim;
pub mod dmarc;
mod finding;
mod live;
pub mod mx;
pub mod spf;
mod tags;

use std::net::IpAddr;

pub use finding::{Code, Finding, Severity};
pub use live::LiveDns;
pub use ruadb_dns::Answer;

/// The DNS questions the checks ask. Names are absolute, without the final dot.
pub trait Dns {
    /// The TXT records at `name`, each record's character strings concatenated (RFC 7208
    /// §3.3: a record split into several strings is one record).
    fn txt(&self, name: &str) -> Answer<Vec<String>>;
    /// The records of the deprecated SPF type (99) at `name`, strings concatenated as for TXT.
    fn spf_type(&self, name: &str) -> Answer<Vec<String>>;
    /// The exchange host names of `name`'s MX records, in preference order, without the final
    /// dot (a null MX, RFC 7505, is the name `""`).
    fn mx(&self, name: &str) -> Answer<Vec<String>>;
    /// The A and AAAA addresses of `name` (records if either type has some).
    fn addresses(&self, name: &str) -> Answer<Vec<IpAddr>>;
    /// The names of `ip`'s PTR records, without the final dot (not confirmed).
    fn ptr(&self, ip: IpAddr) -> Answer<Vec<String>>;
}

/// The organisational domain of `domain` (the registrable domain under the Public Suffix
/// List), or `domain` itself when the list knows none.
pub fn organisational_domain(domain: &str) -> &str {
    psl::domain_str(domain).unwrap_or(domain)
}

/// Every check of one domain: DMARC, SPF of the domain and of each of `return_paths` (the
/// MAIL FROM domains seen in its reports), DKIM for each of `selectors` (`(d=, s=)` pairs seen
/// signing its mail) and MX.
pub fn check_domain(
    dns: &dyn Dns,
    domain: &str,
    selectors: &[(String, String)],
    return_paths: &[String],
) -> Vec<Finding> {
    let mut findings = dmarc::check(dns, domain);
    findings.extend(spf::check(dns, domain));
    for return_path in return_paths {
        findings.extend(spf::check(dns, return_path));
    }
    for (signing_domain, selector) in selectors {
        findings.extend(dkim::check(dns, signing_domain, selector));
    }
    findings.extend(mx::check(dns, domain));
    findings
}

#[cfg(test)]
pub(crate) mod testdns;
