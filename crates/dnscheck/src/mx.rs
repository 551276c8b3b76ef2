//! The MX records of a domain: a DMARC domain that receives no mail gets no failure notices
//! and no replies, so their absence is worth knowing (a warning, not an error).

use crate::{Answer, Code, Dns, Finding, Severity};

/// The MX findings of `domain`.
pub fn check(dns: &dyn Dns, domain: &str) -> Vec<Finding> {
    let finding = match dns.mx(domain) {
        Answer::Records(hosts) if hosts.iter().all(|host| host.is_empty()) => Finding::new(
            Code::MxNull,
            Severity::Warn,
            format!(
                "{domain} publishes a null MX: it receives no mail, so no bounces or failure notices either"
            ),
        ),
        Answer::Records(hosts) => Finding::new(
            Code::MxPresent,
            Severity::Ok,
            format!("{domain} receives mail at {}", hosts.join(", ")),
        ),
        Answer::NoRecords => Finding::new(
            Code::MxMissing,
            Severity::Warn,
            format!(
                "{domain} has no MX record: it receives no mail, so no bounces or failure notices either"
            ),
        ),
        unknown => Finding::new(
            Code::MxUnchecked,
            Severity::Warn,
            format!(
                "could not check the MX records of {domain}: {}",
                unknown.unknown_reason().unwrap_or_default()
            ),
        ),
    };
    vec![finding]
}
