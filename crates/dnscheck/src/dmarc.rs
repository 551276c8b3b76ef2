//! The DMARC record of a domain (RFC 7489, RFC 9989).
//!
//! Rules:
//! - The record is the TXT record at `_dmarc.<domain>` starting with `v=DMARC1`. None there:
//!   the DNS tree walk of RFC 9989 §4.10 asks each parent in turn, up to the top-level domain
//!   (where a public suffix operator may publish a `psd=y` record): a name of 8 labels or more
//!   is cut to its last 7, then one label goes at each step, so a walk asks at most 8 names.
//!   The first single record found applies.
//! - Several records at one name: receivers discard them all (`dmarc.multiple_records`) and
//!   the walk goes on to the parent.
//! - Tags: unknown ones warn; `p=` is required; `pct=` is legacy; `t=y` is testing.
//! - Every `rua=`/`ruf=` `mailto:` address whose organisational domain differs from that of
//!   the domain publishing the record needs `<that domain>._report._dmarc.<destination host>`
//!   with a `v=DMARC1` record (RFC 7489 §7.1), or receivers send it nothing.

use crate::{Answer, Code, Dns, Finding, Severity, organisational_domain, tags};

/// The tags RFC 7489 and RFC 9989 define (`pct`, `rf`, `ri` only in the former).
const KNOWN_TAGS: &[&str] = &[
    "v", "p", "sp", "np", "adkim", "aspf", "fo", "rf", "ri", "rua", "ruf", "pct", "t", "psd",
];

/// The most names the tree walk asks (RFC 9989 §4.10).
pub const MAX_WALK: usize = 8;
/// A name of at least [`MAX_WALK`] labels goes straight to this many (RFC 9989 §4.10).
const JUMP_TO_LABELS: usize = 7;

/// The DMARC findings of `domain`.
pub fn check(dns: &dyn Dns, domain: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (step, name) in walk(domain).into_iter().enumerate() {
        let records = match dns.txt(&format!("_dmarc.{name}")) {
            Answer::Records(records) => records,
            Answer::NoRecords => Vec::new(),
            unknown => {
                let reason = unknown.unknown_reason().unwrap_or_default();
                findings.push(Finding::new(
                    Code::DmarcUnchecked,
                    Severity::Warn,
                    format!("could not check the DMARC record of {name}: {reason}"),
                ));
                return findings;
            }
        };
        let records: Vec<String> = records.into_iter().filter(|r| is_dmarc(r)).collect();
        match records.as_slice() {
            [] => continue,
            [record] => {
                if step > 0 {
                    let whose = if is_psd_record(record) {
                        format!("the record of {name}, a public suffix domain (psd=y),")
                    } else {
                        format!("the record of {name}")
                    };
                    findings.push(
                        Finding::new(
                            Code::DmarcInherited,
                            Severity::Ok,
                            format!(
                                "{domain} has no DMARC record of its own; {whose} applies (its sp= policy)"
                            ),
                        )
                        .with_record(record.clone()),
                    );
                }
                check_record(dns, domain, &name, record, step > 0, &mut findings);
                return findings;
            }
            several => {
                // Receivers discard them all and go on with the walk.
                findings.push(
                    Finding::new(
                        Code::DmarcMultipleRecords,
                        Severity::Error,
                        format!(
                            "_dmarc.{name} has {} DMARC records; receivers apply none: keep one",
                            several.len()
                        ),
                    )
                    .with_record(several.join("\n")),
                );
            }
        }
    }
    if findings.is_empty() {
        findings.push(Finding::new(
            Code::DmarcMissing,
            Severity::Error,
            format!(
                "no DMARC record at _dmarc.{domain} (nor at a parent domain): publish one, e.g. \"v=DMARC1; p=none; rua=mailto:…\""
            ),
        ));
    }
    findings
}

/// Whether a TXT record is a DMARC record (its first tag is `v=DMARC1`).
fn is_dmarc(record: &str) -> bool {
    let first = record.split(';').next().unwrap_or_default();
    first
        .split_once('=')
        .is_some_and(|(name, value)| name.trim() == "v" && value.trim() == "DMARC1")
}

/// Whether a DMARC record is a public suffix operator's (`psd=y`).
fn is_psd_record(record: &str) -> bool {
    tags::parse(record)
        .is_ok_and(|tags| tags.iter().any(|(tag, value)| tag == "psd" && value == "y"))
}

/// The names the DNS tree walk asks for `domain` (RFC 9989 §4.10), the domain first: a name
/// of [`MAX_WALK`] labels or more is cut to its last [`JUMP_TO_LABELS`], then one label goes
/// at each step, down to the top-level domain.
fn walk(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain
        .split('.')
        .filter(|label| !label.is_empty())
        .collect();
    let mut names = vec![domain.to_owned()];
    let mut count = labels.len();
    while count > 1 && names.len() < MAX_WALK {
        count = if count >= MAX_WALK {
            JUMP_TO_LABELS
        } else {
            count - 1
        };
        names.push(labels[labels.len() - count..].join("."));
    }
    names
}

fn check_record(
    dns: &dyn Dns,
    domain: &str,
    found_at: &str,
    record: &str,
    inherited: bool,
    findings: &mut Vec<Finding>,
) {
    let tags = match tags::parse(record) {
        Ok(tags) => tags,
        Err(problem) => {
            findings.push(
                Finding::new(
                    Code::DmarcSyntax,
                    Severity::Error,
                    format!("the DMARC record of {found_at} is not valid: {problem}"),
                )
                .with_record(record),
            );
            return;
        }
    };
    let get = |tag: &str| {
        tags.iter()
            .find(|(name, _)| name == tag)
            .map(|(_, value)| value.as_str())
    };
    for (name, _) in &tags {
        if !KNOWN_TAGS.contains(&name.as_str()) {
            findings.push(
                Finding::new(
                    Code::DmarcUnknownTag,
                    Severity::Warn,
                    format!("the DMARC record of {found_at} has the unknown tag `{name}=` (ignored by receivers; a typo?)"),
                )
                .with_record(record),
            );
        }
    }
    let policy = |tag: &str| -> Result<Option<&str>, String> {
        match get(tag) {
            None => Ok(None),
            Some(value @ ("none" | "quarantine" | "reject")) => Ok(Some(value)),
            Some(value) => Err(format!("`{tag}={value}` is not none, quarantine or reject")),
        }
    };
    let (p, sp, np) = match (policy("p"), policy("sp"), policy("np")) {
        (Ok(p), Ok(sp), Ok(np)) => (p, sp, np),
        (Err(problem), _, _) | (_, Err(problem), _) | (_, _, Err(problem)) => {
            findings.push(syntax(found_at, &problem, record));
            return;
        }
    };
    let Some(p) = p else {
        findings.push(syntax(found_at, "the required `p=` tag is missing", record));
        return;
    };
    let sp = sp.unwrap_or(p);
    let np = np.unwrap_or(sp);
    let applied = if inherited { sp } else { p };
    let (severity, advice) = match applied {
        "none" => (
            Severity::Warn,
            "monitoring only: when the reports show your sources aligned, move to quarantine",
        ),
        "quarantine" => (Severity::Ok, "failing mail goes to spam"),
        _ => (Severity::Ok, "failing mail is rejected"),
    };
    let weaker = rank(sp) < rank(p) || rank(np) < rank(sp);
    let mut message = format!("{domain}: policy {applied} ({advice}); p={p} sp={sp} np={np}");
    if weaker {
        message.push_str("; subdomains get a weaker policy than the domain");
    }
    let severity = if weaker && severity == Severity::Ok {
        Severity::Warn
    } else {
        severity
    };
    if !inherited {
        findings.push(
            Finding::new(
                Code::DmarcPresent,
                Severity::Ok,
                format!("DMARC record published at _dmarc.{domain}"),
            )
            .with_record(record),
        );
    }
    findings.push(Finding::new(Code::DmarcPolicy, severity, message).with_record(record));
    if let Some(pct) = get("pct") {
        let partial = pct.trim() != "100";
        findings.push(
            Finding::new(
                Code::DmarcLegacyPct,
                Severity::Warn,
                if partial {
                    format!("`pct={pct}` applies the policy to part of the failing mail only, and RFC 9989 removed it: receivers may apply the policy to all of it or to none; use t=y for a trial instead")
                } else {
                    "`pct=100` is redundant and was removed by RFC 9989: drop it".to_owned()
                },
            )
            .with_record(record),
        );
    }
    match get("t") {
        None | Some("n") => {}
        Some("y") => findings.push(
            Finding::new(
                Code::DmarcTesting,
                Severity::Warn,
                format!("`t=y`: testing mode, receivers apply the {applied} policy one step less strictly; drop t=y when done"),
            )
            .with_record(record),
        ),
        Some(other) => findings.push(syntax(found_at, &format!("`t={other}` is not y or n"), record)),
    }
    if get("rua").is_none_or(|rua| rua.trim().is_empty()) {
        findings.push(
            Finding::new(
                Code::DmarcNoRua,
                Severity::Warn,
                format!(
                    "the DMARC record of {found_at} has no rua=: nobody receives aggregate reports"
                ),
            )
            .with_record(record),
        );
    }
    for tag in ["rua", "ruf"] {
        let Some(uris) = get(tag) else { continue };
        for uri in uris.split(',').map(str::trim).filter(|uri| !uri.is_empty()) {
            check_uri(dns, found_at, tag, uri, record, findings);
        }
    }
}

fn syntax(found_at: &str, problem: &str, record: &str) -> Finding {
    Finding::new(
        Code::DmarcSyntax,
        Severity::Error,
        format!("the DMARC record of {found_at} is not valid: {problem}"),
    )
    .with_record(record)
}

fn rank(policy: &str) -> u8 {
    match policy {
        "reject" => 2,
        "quarantine" => 1,
        _ => 0,
    }
}

/// One `rua=`/`ruf=` URI of the record published at `domain` (for an inherited record, the
/// parent's: reports are about the domain whose record names the address): a `mailto:`
/// address, and the destination's authorisation when it is at another organisational domain.
fn check_uri(
    dns: &dyn Dns,
    domain: &str,
    tag: &str,
    uri: &str,
    record: &str,
    findings: &mut Vec<Finding>,
) {
    // A size limit (`!10m`) may follow the address.
    let address = uri.split('!').next().unwrap_or(uri);
    let host = address
        .strip_prefix("mailto:")
        .or_else(|| address.strip_prefix("MAILTO:"))
        .and_then(|mailbox| mailbox.rsplit_once('@'))
        .map(|(local, host)| (local, host.trim_end_matches('.').to_ascii_lowercase()))
        .filter(|(local, host)| !local.is_empty() && host.contains('.'));
    let Some((_, host)) = host else {
        findings.push(
            Finding::new(
                Code::DmarcUriInvalid,
                Severity::Error,
                format!("`{tag}={uri}` in the DMARC record of {domain} is not a mailto: address; receivers send reports only by mail"),
            )
            .with_record(record),
        );
        return;
    };
    if organisational_domain(&host) == organisational_domain(domain) {
        return;
    }
    let name = format!("{domain}._report._dmarc.{host}");
    let (code, severity, message) = match dns.txt(&name) {
        Answer::Records(records) if records.iter().any(|r| is_dmarc(r)) => (
            Code::DmarcRuaAuthorized,
            Severity::Ok,
            format!("{host} accepts {tag} reports for {domain} ({name} is published)"),
        ),
        Answer::Records(_) | Answer::NoRecords => (
            Code::DmarcRuaUnauthorized,
            Severity::Error,
            format!(
                "{tag} reports for {domain} go to {host}, which does not authorise them: receivers send nothing until {host} publishes TXT \"v=DMARC1\" at {name}"
            ),
        ),
        unknown => (
            Code::DmarcUnchecked,
            Severity::Warn,
            format!(
                "could not check whether {host} accepts {tag} reports for {domain}: {}",
                unknown.unknown_reason().unwrap_or_default()
            ),
        ),
    };
    findings.push(Finding::new(code, severity, message).with_record(record));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdns::{TestDns, codes};

    #[test]
    fn tree_walk_names() {
        assert_eq!(
            walk("a.b.example.com"),
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
        assert_eq!(walk("example.com"), ["example.com", "com"]);
        assert_eq!(walk("com"), ["com"]);
        // 12 labels: the name, then straight to its last 7, then one less each step.
        let long = "1.2.3.4.5.6.7.8.9.10.example.com";
        let names = walk(long);
        assert_eq!(names.len(), MAX_WALK);
        assert_eq!(names[1], "6.7.8.9.10.example.com");
        assert_eq!(names[2], "7.8.9.10.example.com");
        assert_eq!(names.last().map(String::as_str), Some("com"));
        // 8 labels: the jump to 7 is one step.
        let eight = walk("a.b.c.d.e.f.example.com");
        assert_eq!(eight.len(), MAX_WALK);
        assert_eq!(eight[1], "b.c.d.e.f.example.com");
    }

    /// A [`Dns`] that counts the TXT questions asked.
    struct Counting<'a>(&'a TestDns, std::cell::Cell<usize>);

    impl Dns for Counting<'_> {
        fn txt(&self, name: &str) -> Answer<Vec<String>> {
            self.1.set(self.1.get() + 1);
            self.0.txt(name)
        }
        fn spf_type(&self, name: &str) -> Answer<Vec<String>> {
            self.0.spf_type(name)
        }
        fn mx(&self, name: &str) -> Answer<Vec<String>> {
            self.0.mx(name)
        }
        fn addresses(&self, name: &str) -> Answer<Vec<std::net::IpAddr>> {
            self.0.addresses(name)
        }
        fn ptr(&self, ip: std::net::IpAddr) -> Answer<Vec<String>> {
            self.0.ptr(ip)
        }
    }

    #[test]
    fn the_walk_goes_past_the_organisational_domain_in_at_most_8_queries() {
        let psd = TestDns::default().txt("_dmarc.com", &["v=DMARC1; p=reject; psd=y"]);
        let dns = Counting(&psd, std::cell::Cell::new(0));
        let findings = check(&dns, "1.2.3.4.5.6.7.8.9.10.example.com");
        assert_eq!(
            codes(&findings),
            ["dmarc.inherited", "dmarc.policy", "dmarc.no_rua"]
        );
        assert!(findings[0].message.contains("public suffix domain (psd=y)"));
        assert_eq!(dns.1.get(), MAX_WALK);
        // Several records at a name are discarded and the walk goes on.
        let dns = TestDns::default()
            .txt(
                "_dmarc.sub.example.com",
                &["v=DMARC1; p=none", "v=DMARC1; p=reject"],
            )
            .txt(
                "_dmarc.example.com",
                &["v=DMARC1; p=reject; rua=mailto:d@example.com"],
            );
        assert_eq!(
            codes(&check(&dns, "sub.example.com")),
            ["dmarc.multiple_records", "dmarc.inherited", "dmarc.policy"]
        );
    }

    #[test]
    fn missing_only_when_every_name_answered_none() {
        let dns = TestDns::default();
        assert_eq!(codes(&check(&dns, "mail.example.com")), ["dmarc.missing"]);
        let dns = TestDns::default().txt_answer("_dmarc.example.com", Answer::TimedOut);
        assert_eq!(codes(&check(&dns, "mail.example.com")), ["dmarc.unchecked"]);
    }

    #[test]
    fn inherited_uses_sp() {
        let dns = TestDns::default().txt(
            "_dmarc.example.com",
            &["v=DMARC1; p=reject; sp=none; rua=mailto:d@example.com"],
        );
        let findings = check(&dns, "mail.example.com");
        assert_eq!(codes(&findings), ["dmarc.inherited", "dmarc.policy"]);
        assert!(
            findings[1].message.contains("policy none"),
            "{}",
            findings[1].message
        );
    }

    #[test]
    fn tags_and_uris() {
        let dns = TestDns::default()
            .txt("_dmarc.example.com", &["v=DMARC1; p=quarantine; pct=50; t=y; foo=bar; rua=mailto:a@example.com,mailto:r@reports.test!10m,https://x.test/; ruf=mailto:f@ok.test"])
            .txt("example.com._report._dmarc.ok.test", &["v=DMARC1"]);
        let findings = check(&dns, "example.com");
        assert_eq!(
            codes(&findings),
            [
                "dmarc.unknown_tag",
                "dmarc.present",
                "dmarc.policy",
                "dmarc.legacy_pct",
                "dmarc.testing",
                "dmarc.rua_unauthorized",
                "dmarc.uri_invalid",
                "dmarc.rua_authorized"
            ]
        );
    }

    #[test]
    fn several_records_and_syntax() {
        let dns = TestDns::default().txt(
            "_dmarc.example.com",
            &["v=DMARC1; p=none", "v=DMARC1; p=reject", "unrelated"],
        );
        assert_eq!(
            codes(&check(&dns, "example.com")),
            ["dmarc.multiple_records"]
        );
        let dns = TestDns::default().txt("_dmarc.example.com", &["v=DMARC1; p=block"]);
        assert_eq!(codes(&check(&dns, "example.com")), ["dmarc.syntax"]);
        let dns = TestDns::default().txt(
            "_dmarc.example.com",
            &["v=DMARC1; rua=mailto:a@example.com"],
        );
        assert_eq!(codes(&check(&dns, "example.com")), ["dmarc.syntax"]);
    }
}
