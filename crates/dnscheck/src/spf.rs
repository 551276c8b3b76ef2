//! The SPF record of a domain (RFC 7208), read term by term and walked through its includes
//! and redirect the way `check_host()` would, counting what a receiver would count.
//!
//! Rules:
//! - The record is the one TXT record starting with `v=spf1` (case-insensitive, then a space
//!   or the end); several are a permerror (`spf.multiple_records`).
//! - `include`, `a`, `mx`, `ptr`, `exists` and `redirect` each cost one DNS lookup, across the
//!   whole tree; more than 10 is a permerror (§4.6.4). The finding lists every term that
//!   spends one, with the record it is in, so the chain that overspends is visible.
//! - A lookup of an `a`, `mx` or `exists` target (without macros) or of an `include` target
//!   that answers nothing is a void lookup; more than 2 is a permerror at receivers that
//!   enforce the limit.
//! - An include or redirect back into a record on the current path is a loop.
//! - Targets with macros depend on the message; they are counted but not followed.
//! - `+all` is an error (everyone passes), `?all` a warning; `ptr` is discouraged.
//! - A record of the SPF DNS type (99) beside or instead of the TXT record is a warning
//!   (`spf.deprecated_type`): RFC 7208 §3.1 removed the type and receivers read only TXT. A
//!   question for that type that gets no answer is not reported (servers that do not know the
//!   type say nothing about the TXT record).
//! - `check_host()` ([`evaluate`]) matches `ptr` as RFC 7208 §5.5 says: the address's PTR
//!   names (the first 10), each validated by its A/AAAA records, compared with the target.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{Answer, Code, Dns, Finding, Severity};

/// The DNS-querying terms a check may spend (RFC 7208 §4.6.4).
pub const LOOKUP_LIMIT: usize = 10;
/// The void lookups a check may see (RFC 7208 §4.6.4).
pub const VOID_LIMIT: usize = 2;
/// The most records one walk reads, however many includes the records name.
pub const MAX_RECORDS: usize = 40;
/// The most PTR names of an address the `ptr` mechanism considers (RFC 7208 §4.6.4).
pub const MAX_PTR_NAMES: usize = 10;

/// A qualifier: what a matching mechanism makes the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// `+` (the default): pass.
    Pass,
    /// `-`: fail.
    Fail,
    /// `~`: softfail.
    SoftFail,
    /// `?`: neutral.
    Neutral,
}

/// An SPF mechanism (RFC 7208 §5); domain specs are kept as written (macros unexpanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// `all`.
    All,
    /// `include:<domain-spec>`.
    Include(String),
    /// `a[:<domain-spec>][/<v4 prefix>][//<v6 prefix>]`.
    A(Option<String>, u8, u8),
    /// `mx[:<domain-spec>][/<v4 prefix>][//<v6 prefix>]`.
    Mx(Option<String>, u8, u8),
    /// `ptr[:<domain-spec>]`.
    Ptr(Option<String>),
    /// `ip4:<network>[/<prefix>]`.
    Ip4(Ipv4Addr, u8),
    /// `ip6:<network>[/<prefix>]`.
    Ip6(Ipv6Addr, u8),
    /// `exists:<domain-spec>`.
    Exists(String),
}

/// One term of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A qualifier and a mechanism, with the term as written.
    Directive(Qualifier, Mechanism, String),
    /// `redirect=<domain-spec>`.
    Redirect(String),
    /// `exp=` or a modifier SPF does not define (both ignored by evaluation).
    OtherModifier(String),
}

/// Whether a TXT record is an SPF record.
pub fn is_spf(record: &str) -> bool {
    let bytes = record.as_bytes();
    bytes.len() >= 6
        && bytes[..6].eq_ignore_ascii_case(b"v=spf1")
        && (bytes.len() == 6 || bytes[6] == b' ')
}

/// The terms of an SPF record, or the first term that is not valid.
pub fn parse(record: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    let mut redirect_seen = false;
    for text in record.split(' ').skip(1).filter(|term| !term.is_empty()) {
        let term = parse_term(text)?;
        if matches!(term, Term::Redirect(_)) {
            if redirect_seen {
                return Err("`redirect=` appears twice".to_owned());
            }
            redirect_seen = true;
        }
        terms.push(term);
    }
    Ok(terms)
}

fn parse_term(text: &str) -> Result<Term, String> {
    let invalid = |why: &str| format!("`{text}`: {why}");
    if let Some((name, value)) = text.split_once('=')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        check_domain_spec(value).map_err(|why| invalid(&why))?;
        return Ok(if name.eq_ignore_ascii_case("redirect") {
            Term::Redirect(value.to_owned())
        } else {
            Term::OtherModifier(text.to_owned())
        });
    }
    let (qualifier, rest) = match text.as_bytes().first() {
        Some(b'+') => (Qualifier::Pass, &text[1..]),
        Some(b'-') => (Qualifier::Fail, &text[1..]),
        Some(b'~') => (Qualifier::SoftFail, &text[1..]),
        Some(b'?') => (Qualifier::Neutral, &text[1..]),
        _ => (Qualifier::Pass, text),
    };
    let (name, argument) = match rest.find([':', '/']) {
        Some(at) => (&rest[..at], Some(&rest[at..])),
        None => (rest, None),
    };
    let domain_spec = |argument: Option<&str>| -> Result<Option<String>, String> {
        match argument.and_then(|a| a.strip_prefix(':')) {
            Some(spec) => {
                check_domain_spec(spec).map_err(|why| invalid(&why))?;
                Ok(Some(spec.to_owned()))
            }
            None if argument.is_some() => Err(invalid("expected `:` before the domain")),
            None => Ok(None),
        }
    };
    let required = |argument: Option<&str>| -> Result<String, String> {
        domain_spec(argument)?.ok_or_else(|| invalid("a domain is required"))
    };
    let mechanism = match name.to_ascii_lowercase().as_str() {
        "all" if argument.is_none() => Mechanism::All,
        "include" => Mechanism::Include(required(argument)?),
        "exists" => Mechanism::Exists(required(argument)?),
        "ptr" => Mechanism::Ptr(domain_spec(argument)?),
        kind @ ("a" | "mx") => {
            let (spec, v4, v6) = split_dual_cidr(argument.unwrap_or_default())
                .ok_or_else(|| invalid("bad prefix length"))?;
            let spec = domain_spec((!spec.is_empty()).then_some(spec))?;
            if kind == "a" {
                Mechanism::A(spec, v4, v6)
            } else {
                Mechanism::Mx(spec, v4, v6)
            }
        }
        "ip4" => {
            let (address, prefix) =
                network(argument, 32).ok_or_else(|| invalid("not an IPv4 network"))?;
            Mechanism::Ip4(
                address
                    .parse()
                    .map_err(|_| invalid("not an IPv4 address"))?,
                prefix,
            )
        }
        "ip6" => {
            let (address, prefix) =
                network(argument, 128).ok_or_else(|| invalid("not an IPv6 network"))?;
            Mechanism::Ip6(
                address
                    .parse()
                    .map_err(|_| invalid("not an IPv6 address"))?,
                prefix,
            )
        }
        _ => return Err(invalid("unknown mechanism")),
    };
    Ok(Term::Directive(qualifier, mechanism, text.to_owned()))
}

/// `:<address>[/<prefix>]` of ip4/ip6 as the address text and the prefix (default `max`).
fn network(argument: Option<&str>, max: u8) -> Option<(&str, u8)> {
    let value = argument?.strip_prefix(':')?;
    match value.split_once('/') {
        Some((address, prefix)) => Some((address, cidr(prefix, max)?)),
        None => Some((value, max)),
    }
}

fn cidr(text: &str, max: u8) -> Option<u8> {
    // RFC 7208 §5.6: no leading zeros.
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse::<u8>().ok().filter(|prefix| *prefix <= max)
}

/// `[:domain][/v4][//v6]` into the domain part and both prefixes.
fn split_dual_cidr(argument: &str) -> Option<(&str, u8, u8)> {
    let (rest, v6) = match argument.rsplit_once("//") {
        Some((rest, v6)) => (rest, cidr(v6, 128)?),
        None => (argument, 128),
    };
    // A `/` inside a macro's delimiters cannot be a prefix: prefixes follow the last `}`.
    let tail_start = rest.rfind('}').map_or(0, |at| at + 1);
    match rest[tail_start..].rfind('/') {
        Some(at) => Some((
            &rest[..tail_start + at],
            cidr(&rest[tail_start + at + 1..], 32)?,
            v6,
        )),
        None => Some((rest, 32, v6)),
    }
}

/// Whether a domain spec's macros are well formed (RFC 7208 §7.1); `exp=` letters excluded.
fn check_domain_spec(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty domain".to_owned());
    }
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii_graphic() {
            return Err("a domain may only hold visible ASCII".to_owned());
        }
        if c != '%' {
            continue;
        }
        match chars.next() {
            Some('%' | '_' | '-') => {}
            Some('{') => {
                let letter = chars.next().unwrap_or('}');
                if !"slodiphvSLODIPHV".contains(letter) {
                    return Err(format!("`%{{{letter}` is not a macro letter"));
                }
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                if chars.peek().is_some_and(|c| *c == 'r' || *c == 'R') {
                    chars.next();
                }
                while chars.peek().is_some_and(|c| ".-+,/_=".contains(*c)) {
                    chars.next();
                }
                if chars.next() != Some('}') {
                    return Err("unterminated macro".to_owned());
                }
            }
            _ => return Err("`%` must start a macro".to_owned()),
        }
    }
    Ok(())
}

/// Whether a domain spec holds macros (its target depends on the message).
pub fn has_macro(spec: &str) -> bool {
    spec.contains('%')
}

/// The SPF findings of `domain`.
pub fn check(dns: &dyn Dns, domain: &str) -> Vec<Finding> {
    let mut walk = Walk {
        dns,
        lookups: Vec::new(),
        voids: Vec::new(),
        findings: Vec::new(),
        path: Vec::new(),
        records: 0,
    };
    let Some(record) = walk.record(domain, None) else {
        let mut findings = walk.findings;
        let missing = findings.iter().any(|f| f.code == Code::SpfMissing);
        if missing || findings.iter().any(|f| f.code == Code::SpfMultipleRecords) {
            findings.extend(deprecated_type(dns, domain, None, missing));
        }
        return findings;
    };
    walk.visit(domain, &record, true);
    let deprecated = deprecated_type(dns, domain, Some(&record), false);
    let top_record = record;
    let mut findings = walk.findings;
    if walk.lookups.len() > LOOKUP_LIMIT {
        findings.push(
            Finding::new(
                Code::SpfTooManyLookups,
                Severity::Error,
                format!(
                    "the SPF record of {domain} needs {} DNS lookups (limit {LOOKUP_LIMIT}): every receiver returns permerror; flatten or drop includes. Lookups: {}",
                    walk.lookups.len(),
                    numbered(&walk.lookups)
                ),
            )
            .with_record(top_record.clone()),
        );
    }
    if walk.voids.len() > VOID_LIMIT {
        findings.push(
            Finding::new(
                Code::SpfVoidLookups,
                Severity::Error,
                format!(
                    "the SPF record of {domain} has {} lookups that find nothing (limit {VOID_LIMIT}): receivers may return permerror; remove them: {}",
                    walk.voids.len(),
                    numbered(&walk.voids)
                ),
            )
            .with_record(top_record.clone()),
        );
    }
    if !findings.iter().any(|f| f.severity == Severity::Error) {
        findings.insert(
            0,
            Finding::new(
                Code::SpfPresent,
                Severity::Ok,
                format!(
                    "{domain} publishes one SPF record using {} of {LOOKUP_LIMIT} DNS lookups",
                    walk.lookups.len()
                ),
            )
            .with_record(top_record),
        );
    }
    findings.extend(deprecated);
    findings
}

/// `spf.deprecated_type` when `domain` publishes an SPF record of the SPF DNS type (99);
/// `txt` is its TXT record, `txt_missing` says it has none.
fn deprecated_type(
    dns: &dyn Dns,
    domain: &str,
    txt: Option<&str>,
    txt_missing: bool,
) -> Option<Finding> {
    let Answer::Records(records) = dns.spf_type(domain) else {
        return None;
    };
    let records: Vec<String> = records.into_iter().filter(|r| is_spf(r)).collect();
    if records.is_empty() {
        return None;
    }
    let advice = match txt {
        _ if txt_missing => "receivers ignore it and read only TXT: publish it as a TXT record",
        Some(txt) if records.iter().all(|record| record == txt) => {
            "receivers read only the TXT record, which says the same: delete the SPF-type record"
        }
        Some(_) => {
            "receivers read only the TXT record, and this one differs from it: move what it has that the TXT record lacks to TXT, then delete it"
        }
        None => "receivers read only TXT records: delete it",
    };
    Some(
        Finding::new(
            Code::SpfDeprecatedType,
            Severity::Warn,
            format!(
                "{domain} publishes a record of the DNS type SPF (99), which RFC 7208 §3.1 removed; {advice}"
            ),
        )
        .with_record(records.join("\n")),
    )
}

fn numbered(items: &[String]) -> String {
    items
        .iter()
        .enumerate()
        .map(|(n, item)| format!("{}. {item}", n + 1))
        .collect::<Vec<_>>()
        .join("; ")
}

struct Walk<'a> {
    dns: &'a dyn Dns,
    /// Each term that spends a lookup, as `<record's domain>: <term>`.
    lookups: Vec<String>,
    /// Each lookup that found nothing, the same way.
    voids: Vec<String>,
    findings: Vec<Finding>,
    /// The domains whose records are being evaluated, outermost first.
    path: Vec<String>,
    records: usize,
}

impl Walk<'_> {
    /// The one SPF record of `domain`, or a finding saying why there is none. `via` is the
    /// term that led here (None: the checked domain itself).
    fn record(&mut self, domain: &str, via: Option<&str>) -> Option<String> {
        self.records += 1;
        let answer = self.dns.txt(domain);
        let records: Vec<String> = match answer {
            Answer::Records(records) => records.into_iter().filter(|r| is_spf(r)).collect(),
            Answer::NoRecords => Vec::new(),
            unknown => {
                self.findings.push(Finding::new(
                    Code::SpfUnchecked,
                    Severity::Warn,
                    format!(
                        "could not check the SPF record of {domain}: {}",
                        unknown.unknown_reason().unwrap_or_default()
                    ),
                ));
                return None;
            }
        };
        match records.as_slice() {
            [record] => Some(record.clone()),
            [] => {
                let finding = match via {
                    None => Finding::new(
                        Code::SpfMissing,
                        Severity::Error,
                        format!(
                            "{domain} publishes no SPF record: receivers cannot tell its senders, publish \"v=spf1 … -all\""
                        ),
                    ),
                    Some(via) => Finding::new(
                        Code::SpfIncludeMissing,
                        Severity::Error,
                        format!(
                            "`{via}` names {domain}, which publishes no SPF record: permerror for every message"
                        ),
                    ),
                };
                if let Some(via) = via {
                    let from = self.path.last().map_or(domain, String::as_str);
                    self.voids.push(format!("{from}: {via}"));
                }
                self.findings.push(finding);
                None
            }
            several => {
                self.findings.push(
                    Finding::new(
                        Code::SpfMultipleRecords,
                        Severity::Error,
                        format!("{domain} publishes {} SPF records: permerror for every message; merge them into one", several.len()),
                    )
                    .with_record(several.join("\n")),
                );
                None
            }
        }
    }

    /// Walks `record` of `domain`. `decides_all`: whether its `all` is the one that applies
    /// to the checked domain (the domain's own record, or where its redirect leads).
    fn visit(&mut self, domain: &str, record: &str, decides_all: bool) {
        let terms = match parse(record) {
            Ok(terms) => terms,
            Err(problem) => {
                self.findings.push(
                    Finding::new(
                        Code::SpfSyntax,
                        Severity::Error,
                        format!("the SPF record of {domain} is not valid: {problem}: permerror for every message"),
                    )
                    .with_record(record),
                );
                return;
            }
        };
        self.path.push(domain.to_owned());
        let mut has_all = false;
        let mut redirect = None;
        for term in &terms {
            match term {
                Term::Directive(qualifier, mechanism, text) => {
                    self.directive(domain, record, *qualifier, mechanism, text, decides_all);
                    has_all |= *mechanism == Mechanism::All;
                }
                Term::Redirect(target) => redirect = Some(target.clone()),
                Term::OtherModifier(_) => {}
            }
        }
        match redirect {
            // RFC 7208 §6.1: redirect is ignored when the record has `all`.
            Some(target) if !has_all => {
                let via = format!("redirect={target}");
                self.lookups.push(format!("{domain}: {via}"));
                self.follow(&target, &via, decides_all);
            }
            _ if decides_all && !has_all => self.findings.push(
                Finding::new(
                    Code::SpfNoAll,
                    Severity::Warn,
                    format!("the SPF record of {domain} ends without `all`: unlisted senders get neutral; end it with -all or ~all"),
                )
                .with_record(record),
            ),
            _ => {}
        }
        self.path.pop();
    }

    fn directive(
        &mut self,
        domain: &str,
        record: &str,
        qualifier: Qualifier,
        mechanism: &Mechanism,
        text: &str,
        decides_all: bool,
    ) {
        let spend = |walk: &mut Walk<'_>| walk.lookups.push(format!("{domain}: {text}"));
        match mechanism {
            Mechanism::All if decides_all => {
                let (severity, why) = match qualifier {
                    Qualifier::Pass => (Severity::Error, "anyone passes SPF as"),
                    Qualifier::Neutral => {
                        (Severity::Warn, "SPF says nothing about unlisted senders of")
                    }
                    _ => return,
                };
                self.findings.push(
                    Finding::new(
                        Code::SpfPermissiveAll,
                        severity,
                        format!("`{text}`: {why} {domain}; end the record with -all or ~all"),
                    )
                    .with_record(record),
                );
            }
            Mechanism::All | Mechanism::Ip4(..) | Mechanism::Ip6(..) => {}
            Mechanism::Include(target) => {
                spend(self);
                self.follow(target, text, false);
            }
            Mechanism::A(target, ..) | Mechanism::Mx(target, ..) => {
                spend(self);
                let target = target.as_deref().unwrap_or(domain);
                if has_macro(target) {
                    return;
                }
                let nothing = if matches!(mechanism, Mechanism::A(..)) {
                    self.dns.addresses(target) == Answer::NoRecords
                } else {
                    self.dns.mx(target) == Answer::NoRecords
                };
                if nothing {
                    self.voids.push(format!("{domain}: {text}"));
                }
            }
            Mechanism::Exists(target) => {
                spend(self);
                if !has_macro(target) && self.dns.addresses(target) == Answer::NoRecords {
                    self.voids.push(format!("{domain}: {text}"));
                }
            }
            Mechanism::Ptr(_) => {
                spend(self);
                self.findings.push(
                    Finding::new(
                        Code::SpfPtr,
                        Severity::Warn,
                        format!("`{text}` in the SPF record of {domain}: ptr is slow, unreliable and discouraged (RFC 7208 §5.5); list the addresses with ip4/ip6 or a"),
                    )
                    .with_record(record),
                );
            }
        }
    }

    /// Follows an include or redirect to `target`'s record.
    fn follow(&mut self, target: &str, via: &str, decides_all: bool) {
        if has_macro(target) {
            return;
        }
        let target = target.trim_end_matches('.').to_ascii_lowercase();
        if self
            .path
            .iter()
            .any(|domain| domain.eq_ignore_ascii_case(&target))
        {
            self.findings.push(Finding::new(
                Code::SpfIncludeLoop,
                Severity::Error,
                format!(
                    "`{via}` loops: {} → {target}; permerror for every message",
                    self.path.join(" → ")
                ),
            ));
            return;
        }
        if self.records >= MAX_RECORDS {
            return;
        }
        if let Some(record) = self.record(&target, Some(via)) {
            self.visit(&target, &record, decides_all);
        }
    }
}

/// What `check_host()` (RFC 7208 §4) says about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// `pass`, `fail`, `softfail`, `neutral`, `none`, `permerror` or `temperror`.
    pub result: &'static str,
    /// The mechanism that matched, with the includes that led to it
    /// (`include:_spf.esp.test → ip4:198.51.100.0/24`); `None` when none matched.
    pub matched: Option<String>,
}

impl Evaluation {
    fn new(result: &'static str, matched: Option<String>) -> Evaluation {
        Evaluation { result, matched }
    }
}

/// `check_host(ip, domain, postmaster@domain)`: the SPF result of `ip` sending as `domain`
/// and the mechanism that decided it. Macros expand with `postmaster` as the local part and
/// `domain` as the HELO name (`%{p}` as `unknown`).
pub fn evaluate(dns: &dyn Dns, domain: &str, ip: IpAddr) -> Evaluation {
    let mut state = EvalState {
        dns,
        ip,
        sender_domain: domain.to_ascii_lowercase(),
        lookups: 0,
        voids: 0,
        depth: 0,
    };
    match state.check_host(domain) {
        Ok(Some(evaluation)) => evaluation,
        Ok(None) => Evaluation::new("none", None),
        Err(result) => Evaluation::new(result, None),
    }
}

struct EvalState<'a> {
    dns: &'a dyn Dns,
    ip: IpAddr,
    sender_domain: String,
    lookups: usize,
    voids: usize,
    depth: usize,
}

/// How deep includes and redirects may nest (the lookup limit stops a loop sooner).
const MAX_DEPTH: usize = 12;

impl EvalState<'_> {
    /// The evaluation of `domain`'s record; `Ok(None)` when it has none; `Err` for
    /// `permerror`/`temperror`.
    fn check_host(&mut self, domain: &str) -> Result<Option<Evaluation>, &'static str> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("permerror");
        }
        let records: Vec<String> = match self.dns.txt(domain) {
            Answer::Records(records) => records.into_iter().filter(|r| is_spf(r)).collect(),
            Answer::NoRecords => Vec::new(),
            Answer::Failed(_) | Answer::TimedOut => return Err("temperror"),
        };
        let record = match records.as_slice() {
            [] => return Ok(None),
            [record] => record.clone(),
            _ => return Err("permerror"),
        };
        let terms = parse(&record).map_err(|_| "permerror")?;
        let mut redirect = None;
        for term in &terms {
            match term {
                Term::Directive(qualifier, mechanism, text) => {
                    if let Some(via) = self.matches(domain, mechanism, text)? {
                        let result = match qualifier {
                            Qualifier::Pass => "pass",
                            Qualifier::Fail => "fail",
                            Qualifier::SoftFail => "softfail",
                            Qualifier::Neutral => "neutral",
                        };
                        self.depth -= 1;
                        return Ok(Some(Evaluation::new(result, Some(via))));
                    }
                }
                Term::Redirect(target) => redirect = Some(target.clone()),
                Term::OtherModifier(_) => {}
            }
        }
        let evaluation = match redirect {
            Some(target) => {
                self.spend()?;
                let target = self.expand(&target, domain);
                match self.check_host(&target)? {
                    Some(evaluation) => Evaluation::new(
                        evaluation.result,
                        evaluation
                            .matched
                            .map(|matched| format!("redirect={target} → {matched}")),
                    ),
                    None => return Err("permerror"),
                }
            }
            None => Evaluation::new("neutral", None),
        };
        self.depth -= 1;
        Ok(Some(evaluation))
    }

    fn spend(&mut self) -> Result<(), &'static str> {
        self.lookups += 1;
        if self.lookups > LOOKUP_LIMIT {
            Err("permerror")
        } else {
            Ok(())
        }
    }

    fn void(&mut self) -> Result<(), &'static str> {
        self.voids += 1;
        if self.voids > VOID_LIMIT {
            Err("permerror")
        } else {
            Ok(())
        }
    }

    /// Whether `mechanism` of `domain`'s record matches the address: the matched chain, or
    /// `None`.
    fn matches(
        &mut self,
        domain: &str,
        mechanism: &Mechanism,
        text: &str,
    ) -> Result<Option<String>, &'static str> {
        let matched = |yes: bool| Ok(yes.then(|| text.to_owned()));
        match mechanism {
            Mechanism::All => matched(true),
            Mechanism::Ip4(network, prefix) => {
                matched(in_network(self.ip, IpAddr::V4(*network), *prefix))
            }
            Mechanism::Ip6(network, prefix) => {
                matched(in_network(self.ip, IpAddr::V6(*network), *prefix))
            }
            Mechanism::A(target, v4, v6) => {
                self.spend()?;
                let target = self.expand(target.as_deref().unwrap_or(domain), domain);
                let addresses = self.addresses(&target)?;
                matched(
                    addresses
                        .iter()
                        .any(|address| self.in_prefix(*address, *v4, *v6)),
                )
            }
            Mechanism::Mx(target, v4, v6) => {
                self.spend()?;
                let target = self.expand(target.as_deref().unwrap_or(domain), domain);
                let hosts = match self.dns.mx(&target) {
                    Answer::Records(hosts) => hosts,
                    Answer::NoRecords => {
                        self.void()?;
                        Vec::new()
                    }
                    Answer::Failed(_) | Answer::TimedOut => return Err("temperror"),
                };
                // RFC 7208 §4.6.4: at most 10 exchanges are looked up.
                for host in hosts.iter().filter(|host| !host.is_empty()).take(10) {
                    let addresses = match self.dns.addresses(host) {
                        Answer::Records(addresses) => addresses,
                        Answer::NoRecords => Vec::new(),
                        Answer::Failed(_) | Answer::TimedOut => return Err("temperror"),
                    };
                    if addresses
                        .iter()
                        .any(|address| self.in_prefix(*address, *v4, *v6))
                    {
                        return Ok(Some(format!("{text} ({host})")));
                    }
                }
                Ok(None)
            }
            Mechanism::Ptr(target) => {
                self.spend()?;
                let target = self.expand(target.as_deref().unwrap_or(domain), domain);
                Ok(self
                    .validated_name(&target)
                    .map(|name| format!("{text} ({name})")))
            }
            Mechanism::Exists(target) => {
                self.spend()?;
                let name = self.expand(target, domain);
                matched(!self.addresses(&name)?.is_empty())
            }
            Mechanism::Include(target) => {
                self.spend()?;
                let target = self.expand(target, domain);
                match self.check_host(&target)? {
                    Some(Evaluation {
                        result: "pass",
                        matched,
                    }) => Ok(Some(format!("{text} → {}", matched.unwrap_or_default()))),
                    Some(_) => Ok(None),
                    None => Err("permerror"),
                }
            }
        }
    }

    /// RFC 7208 §5.5: the first of the address's PTR names (the first [`MAX_PTR_NAMES`] of
    /// the answer) that is `target` or under it and whose A/AAAA records hold the address. A
    /// PTR lookup that fails matches nothing; a name whose address lookup fails is skipped.
    fn validated_name(&self, target: &str) -> Option<String> {
        let Answer::Records(names) = self.dns.ptr(self.ip) else {
            return None;
        };
        let suffix = format!(".{target}");
        names
            .into_iter()
            .take(MAX_PTR_NAMES)
            .map(|name| name.trim_end_matches('.').to_ascii_lowercase())
            .filter(|name| *name == target || name.ends_with(&suffix))
            .find(|name| match self.dns.addresses(name) {
                Answer::Records(addresses) => addresses.contains(&self.ip),
                _ => false,
            })
    }

    fn addresses(&mut self, name: &str) -> Result<Vec<IpAddr>, &'static str> {
        match self.dns.addresses(name) {
            Answer::Records(addresses) => Ok(addresses),
            Answer::NoRecords => {
                self.void()?;
                Ok(Vec::new())
            }
            Answer::Failed(_) | Answer::TimedOut => Err("temperror"),
        }
    }

    fn in_prefix(&self, address: IpAddr, v4: u8, v6: u8) -> bool {
        let prefix = if address.is_ipv4() { v4 } else { v6 };
        in_network(self.ip, address, prefix)
    }

    /// A domain spec with its macros expanded (RFC 7208 §7.3).
    fn expand(&self, spec: &str, domain: &str) -> String {
        if !has_macro(spec) {
            return spec.trim_end_matches('.').to_ascii_lowercase();
        }
        let mut out = String::new();
        let mut chars = spec.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('_') => out.push(' '),
                Some('-') => out.push_str("%20"),
                Some('{') => {
                    let letter = chars.next().unwrap_or('}').to_ascii_lowercase();
                    let mut digits = String::new();
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        digits.push(d);
                    }
                    let reverse = chars.next_if(|c| *c == 'r' || *c == 'R').is_some();
                    let mut delimiters = String::new();
                    while let Some(d) = chars.next_if(|c| ".-+,/_=".contains(*c)) {
                        delimiters.push(d);
                    }
                    chars.next();
                    let value = self.macro_value(letter, domain);
                    let delimiters = if delimiters.is_empty() {
                        ".".to_owned()
                    } else {
                        delimiters
                    };
                    let mut parts: Vec<&str> = value.split(|c| delimiters.contains(c)).collect();
                    if reverse {
                        parts.reverse();
                    }
                    if let Ok(keep) = digits.parse::<usize>()
                        && keep > 0
                        && keep < parts.len()
                    {
                        parts.drain(..parts.len() - keep);
                    }
                    out.push_str(&parts.join("."));
                }
                _ => {}
            }
        }
        out.trim_end_matches('.').to_ascii_lowercase()
    }

    fn macro_value(&self, letter: char, domain: &str) -> String {
        match letter {
            's' => format!("postmaster@{}", self.sender_domain),
            'l' => "postmaster".to_owned(),
            'o' | 'h' => self.sender_domain.clone(),
            'd' => domain.to_owned(),
            'i' => match self.ip {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => ip
                    .octets()
                    .iter()
                    .flat_map(|byte| [byte >> 4, byte & 0xf])
                    .map(|nibble| format!("{nibble:x}"))
                    .collect::<Vec<_>>()
                    .join("."),
            },
            'v' => if self.ip.is_ipv4() { "in-addr" } else { "ip6" }.to_owned(),
            _ => "unknown".to_owned(),
        }
    }
}

/// Whether `ip` is in `network/prefix` (false across address families).
fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdns::{TestDns, codes};

    #[test]
    fn parses_every_mechanism() {
        let terms = parse("v=spf1 +a mx/24//64 a:%{d}/30 ptr ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{ir}.%{v}._spf.%{d} include:x.test redirect=y.test exp=e.test ~all").unwrap();
        assert_eq!(terms.len(), 11);
        assert_eq!(
            terms[1],
            Term::Directive(
                Qualifier::Pass,
                Mechanism::Mx(None, 24, 64),
                "mx/24//64".into()
            )
        );
        assert_eq!(
            terms[2],
            Term::Directive(
                Qualifier::Pass,
                Mechanism::A(Some("%{d}".into()), 30, 128),
                "a:%{d}/30".into()
            )
        );
        for bad in [
            "v=spf1 ip4:300.1.1.1",
            "v=spf1 foo",
            "v=spf1 a/33",
            "v=spf1 include",
            "v=spf1 exists:%{x}",
            "v=spf1 redirect=a.test redirect=b.test",
            "v=spf1 ip4:192.0.2.0/024",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(is_spf("v=spf1") && is_spf("V=SPF1 -all") && !is_spf("v=spf10"));
    }

    #[test]
    fn counts_lookups_across_includes() {
        let mut dns = TestDns::default().txt(
            "example.test",
            &["v=spf1 include:a.test include:b.test -all"],
        );
        dns = dns.txt(
            "a.test",
            &["v=spf1 a:h.test a:h.test a:h.test a:h.test a:h.test -all"],
        );
        dns = dns
            .txt(
                "b.test",
                &["v=spf1 a:h.test a:h.test a:h.test a:h.test -all"],
            )
            .address("h.test", "192.0.2.1");
        let findings = check(&dns, "example.test");
        assert_eq!(codes(&findings), ["spf.too_many_lookups"]);
        assert!(
            findings[0].message.contains("needs 11 DNS lookups"),
            "{}",
            findings[0].message
        );
        assert!(
            findings[0].message.contains("11. b.test: a:h.test"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn loops_voids_and_all() {
        let dns = TestDns::default()
            .txt("l.test", &["v=spf1 include:m.test ?all"])
            .txt("m.test", &["v=spf1 include:l.test -all"]);
        assert_eq!(
            codes(&check(&dns, "l.test")),
            ["spf.include_loop", "spf.permissive_all"]
        );
        let dns = TestDns::default().txt(
            "v.test",
            &["v=spf1 a:n1.test mx:n2.test exists:n3.test +all"],
        );
        assert_eq!(
            codes(&check(&dns, "v.test")),
            ["spf.permissive_all", "spf.void_lookups"]
        );
        let dns = TestDns::default()
            .txt("r.test", &["v=spf1 redirect=s.test"])
            .txt("s.test", &["v=spf1 ip4:192.0.2.1"]);
        assert_eq!(codes(&check(&dns, "r.test")), ["spf.present", "spf.no_all"]);
    }

    #[test]
    fn check_host_names_the_matching_mechanism() {
        let dns = TestDns::default()
            .txt(
                "d.test",
                &["v=spf1 ip4:192.0.2.0/25 a:%{d} include:esp.test exists:%{ir}.x.%{d} ~all"],
            )
            .txt(
                "esp.test",
                &["v=spf1 ip6:2001:db8::/32 ip4:198.51.100.0/24 -all"],
            )
            .address("d.test", "203.0.113.5")
            .address("130.2.0.192.x.d.test", "127.0.0.2");
        let result = |ip: &str| {
            let evaluation = evaluate(&dns, "d.test", ip.parse().unwrap());
            (evaluation.result, evaluation.matched.unwrap_or_default())
        };
        assert_eq!(result("192.0.2.7"), ("pass", "ip4:192.0.2.0/25".to_owned()));
        assert_eq!(result("203.0.113.5"), ("pass", "a:%{d}".to_owned()));
        assert_eq!(
            result("198.51.100.9"),
            ("pass", "include:esp.test → ip4:198.51.100.0/24".to_owned())
        );
        assert_eq!(
            result("2001:db8::1"),
            ("pass", "include:esp.test → ip6:2001:db8::/32".to_owned())
        );
        assert_eq!(
            result("192.0.2.130"),
            ("pass", "exists:%{ir}.x.%{d}".to_owned())
        );
        assert_eq!(result("192.0.2.200"), ("softfail", "~all".to_owned()));
        assert_eq!(
            evaluate(&dns, "none.test", "192.0.2.1".parse().unwrap()).result,
            "none"
        );
        let down = TestDns::default().txt_answer("x.test", Answer::TimedOut);
        assert_eq!(
            evaluate(&down, "x.test", "192.0.2.1".parse().unwrap()).result,
            "temperror"
        );
    }

    #[test]
    fn ptr_matches_validated_names_under_the_target() {
        let mut names: Vec<String> = (0..10).map(|n| format!("x{n}.other.test")).collect();
        names.push("late.d.test".to_owned());
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let dns = TestDns::default()
            .txt("d.test", &["v=spf1 ptr ptr:esp.test -all"])
            .ptr("192.0.2.1", &["host.D.test."])
            .address("host.d.test", "192.0.2.1")
            .ptr("192.0.2.2", &["forged.d.test"])
            .address("forged.d.test", "198.51.100.1")
            .ptr("192.0.2.3", &["mta.other.test", "out.esp.test"])
            .address("out.esp.test", "192.0.2.3")
            .ptr("192.0.2.4", &names)
            .address("late.d.test", "192.0.2.4");
        let result = |ip: &str| {
            let evaluation = evaluate(&dns, "d.test", ip.parse().unwrap());
            format!(
                "{} {}",
                evaluation.result,
                evaluation.matched.unwrap_or_default()
            )
        };
        assert_eq!(result("192.0.2.1"), "pass ptr (host.d.test)");
        // Not validated: its name's A record is another address.
        assert_eq!(result("192.0.2.2"), "fail -all");
        assert_eq!(result("192.0.2.3"), "pass ptr:esp.test (out.esp.test)");
        // Only the first 10 names are considered.
        assert_eq!(result("192.0.2.4"), "fail -all");
        // No PTR at all.
        assert_eq!(result("192.0.2.5"), "fail -all");
        // And the record still draws the warning.
        assert!(codes(&check(&dns, "d.test")).contains(&"spf.ptr"));
    }

    #[test]
    fn the_deprecated_spf_type_is_reported() {
        let same = TestDns::default()
            .txt("d.test", &["v=spf1 -all"])
            .spf_type("d.test", &["v=spf1 -all"]);
        let findings = check(&same, "d.test");
        assert_eq!(codes(&findings), ["spf.present", "spf.deprecated_type"]);
        assert!(findings[1].message.contains("which says the same"));
        let only = TestDns::default().spf_type("d.test", &["v=spf1 -all"]);
        let findings = check(&only, "d.test");
        assert_eq!(codes(&findings), ["spf.missing", "spf.deprecated_type"]);
        assert!(findings[1].message.contains("publish it as a TXT record"));
        let differs = TestDns::default()
            .txt("d.test", &["v=spf1 ip4:192.0.2.1 -all"])
            .spf_type("d.test", &["v=spf1 -all", "unrelated"]);
        let findings = check(&differs, "d.test");
        assert!(findings[1].message.contains("differs"));
        assert_eq!(findings[1].record.as_deref(), Some("v=spf1 -all"));
        // Nothing of the type, or no answer about it: nothing said.
        let mut silent = TestDns::default().txt("d.test", &["v=spf1 -all"]);
        silent
            .spf_type
            .insert("d.test".to_owned(), Answer::Failed("NOTIMP".to_owned()));
        assert_eq!(codes(&check(&silent, "d.test")), ["spf.present"]);
    }

    #[test]
    fn missing_is_only_said_on_an_answer() {
        assert_eq!(
            codes(&check(&TestDns::default(), "x.test")),
            ["spf.missing"]
        );
        let dns = TestDns::default().txt_answer("x.test", Answer::Failed("SERVFAIL".into()));
        assert_eq!(codes(&check(&dns, "x.test")), ["spf.unchecked"]);
        let dns = TestDns::default().txt("x.test", &["v=spf1 -all", "v=spf1 ~all"]);
        assert_eq!(codes(&check(&dns, "x.test")), ["spf.multiple_records"]);
    }
}
