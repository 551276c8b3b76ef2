//! Every check against the real authoritative server that `scripts/dns-test-server.sh` runs on
//! 127.0.0.1, serving `fixtures/dns/*.zone` (one `*.check.test` domain per case, described
//! there), and against a server that never answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly on a broken setup"
)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

#[path = "../../dns/tests/support/mod.rs"]
mod support;
use support::test_server;

use ruadb_dns::{DnsConfig, Resolver};
use ruadb_dnscheck::{Finding, LiveDns, Severity, check_domain, dkim, dmarc, mx, spf};

fn resolver(server: SocketAddr, timeout: Duration) -> Resolver {
    Resolver::new(&DnsConfig {
        nameservers: vec![server],
        timeout,
        concurrency: 8,
    })
    .unwrap()
}

/// `code severity` of each finding.
fn summary(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|finding| format!("{} {}", finding.code, finding.severity.as_str()))
        .collect()
}

fn find<'a>(findings: &'a [Finding], code: &str) -> &'a Finding {
    findings
        .iter()
        .find(|finding| finding.code.as_str() == code)
        .unwrap_or_else(|| panic!("no {code} in {findings:#?}"))
}

#[test]
fn dmarc_cases() {
    let Some(server) = test_server("dmarc_cases") else {
        return;
    };
    let resolver = resolver(server, Duration::from_secs(2));
    let dns = LiveDns::new(&resolver, Instant::now() + Duration::from_secs(30));

    let good = dmarc::check(&dns, "good.check.test");
    assert_eq!(
        summary(&good),
        [
            "dmarc.present ok",
            "dmarc.policy ok",
            "dmarc.rua_authorized ok"
        ]
    );
    assert!(
        find(&good, "dmarc.rua_authorized")
            .message
            .contains("reports.test accepts rua reports")
    );

    let inherited = dmarc::check(&dns, "sub.good.check.test");
    assert_eq!(
        summary(&inherited)[..2],
        ["dmarc.inherited ok", "dmarc.policy ok"]
    );

    let unauth = dmarc::check(&dns, "unauth.check.test");
    assert_eq!(
        summary(&unauth),
        [
            "dmarc.unknown_tag warn",
            "dmarc.present ok",
            "dmarc.policy ok",
            "dmarc.legacy_pct warn",
            "dmarc.testing warn",
            "dmarc.rua_unauthorized error",
        ]
    );
    assert!(
        find(&unauth, "dmarc.rua_unauthorized")
            .message
            .contains("unauth.check.test._report._dmarc.noauth.test"),
    );

    let two = dmarc::check(&dns, "twodmarc.check.test");
    assert_eq!(summary(&two), ["dmarc.multiple_records error"]);
    assert_eq!(two[0].record.as_deref().map(|r| r.lines().count()), Some(2));

    assert_eq!(
        summary(&dmarc::check(&dns, "syntax.check.test")),
        ["dmarc.syntax error"]
    );
    assert_eq!(
        summary(&dmarc::check(&dns, "nothing.check.test")),
        ["dmarc.missing error"]
    );
}

/// The DNS tree walk (RFC 9989 §4.10) on a deep name, and past the organisational domain to a
/// public suffix operator's record.
#[test]
fn dmarc_tree_walk() {
    let Some(server) = test_server("dmarc_tree_walk") else {
        return;
    };
    let resolver = resolver(server, Duration::from_secs(2));
    let dns = LiveDns::new(&resolver, Instant::now() + Duration::from_secs(30));

    // 9 labels: the walk jumps to the last 7, so the record of the 8-label parent (p=reject)
    // is never asked; the one 4 labels up (p=quarantine) applies.
    let deep = dmarc::check(&dns, "l1.l2.l3.l4.l5.l6.deep.check.test");
    assert_eq!(
        summary(&deep),
        ["dmarc.inherited ok", "dmarc.policy ok"],
        "{deep:#?}"
    );
    assert!(
        deep[0]
            .message
            .contains("the record of l5.l6.deep.check.test applies"),
        "{}",
        deep[0].message
    );
    assert!(
        deep[1].message.contains("policy quarantine"),
        "{}",
        deep[1].message
    );

    // Past the organisational domain (brand.example) to the top-level domain's psd=y record.
    let psd = dmarc::check(&dns, "mail.brand.example");
    assert_eq!(
        summary(&psd),
        ["dmarc.inherited ok", "dmarc.policy ok", "dmarc.no_rua warn"],
        "{psd:#?}"
    );
    assert!(
        psd[0]
            .message
            .contains("example, a public suffix domain (psd=y)"),
        "{}",
        psd[0].message
    );
}

#[test]
fn spf_cases() {
    let Some(server) = test_server("spf_cases") else {
        return;
    };
    let resolver = resolver(server, Duration::from_secs(2));
    let dns = LiveDns::new(&resolver, Instant::now() + Duration::from_secs(30));
    let check = |domain: &str| spf::check(&dns, domain);

    let good = check("good.check.test");
    assert_eq!(summary(&good), ["spf.present ok"]);
    assert!(
        good[0].message.contains("using 1 of 10 DNS lookups"),
        "{}",
        good[0].message
    );

    let lookups = check("lookups.check.test");
    assert_eq!(summary(&lookups), ["spf.too_many_lookups error"]);
    let message = &lookups[0].message;
    assert!(
        message.contains("needs 11 DNS lookups (limit 10)"),
        "{message}"
    );
    assert!(
        message.contains("1. lookups.check.test: include:l1.lookups.check.test"),
        "{message}"
    );
    assert!(
        message.contains("7. l1.lookups.check.test: include:l2.lookups.check.test"),
        "{message}"
    );
    assert!(
        message.contains("11. l2.lookups.check.test: a:h.check.test"),
        "{message}"
    );

    let voids = check("voids.check.test");
    assert_eq!(summary(&voids), ["spf.void_lookups error"]);
    assert!(
        voids[0].message.contains("has 3 lookups that find nothing"),
        "{}",
        voids[0].message
    );

    assert_eq!(
        summary(&check("loop.check.test")),
        ["spf.include_loop error"]
    );
    assert!(
        find(&check("loop.check.test"), "spf.include_loop")
            .message
            .contains("loop.check.test → loop2.check.test → loop.check.test")
    );

    let split = check("split.check.test");
    assert_eq!(summary(&split), ["spf.present ok"]);
    assert_eq!(
        split[0].record.as_deref(),
        Some("v=spf1 ip4:192.0.2.1 ip4:192.0.2.2 -all")
    );

    let v6 = check("v6.check.test");
    assert_eq!(summary(&v6), ["spf.present ok"]);
    assert!(v6[0].message.contains("using 3 of 10"), "{}", v6[0].message);

    let macros = check("macro.check.test");
    assert_eq!(summary(&macros), ["spf.present ok"]);
    assert!(
        macros[0].message.contains("using 2 of 10"),
        "{}",
        macros[0].message
    );

    assert_eq!(
        summary(&check("plusall.check.test")),
        ["spf.permissive_all error"]
    );
    assert_eq!(
        summary(&check("neutral.check.test")),
        ["spf.present ok", "spf.ptr warn", "spf.permissive_all warn"]
    );
    assert_eq!(
        summary(&check("badinclude.check.test")),
        ["spf.include_missing error"]
    );
    assert_eq!(
        summary(&check("twodmarc.check.test")),
        ["spf.multiple_records error"]
    );
    assert_eq!(summary(&check("syntax.check.test")), ["spf.syntax error"]);
    let old = check("oldspf.check.test");
    assert_eq!(
        summary(&old),
        ["spf.present ok", "spf.deprecated_type warn"]
    );
    assert_eq!(
        old[1].record.as_deref(),
        Some("v=spf1 ip4:192.0.2.0/24 -all")
    );
    assert!(old[1].message.contains("differs"), "{}", old[1].message);
    assert_eq!(
        summary(&check("ptr.check.test")),
        ["spf.present ok", "spf.ptr warn"]
    );
    assert_eq!(summary(&check("nothing.check.test")), ["spf.missing error"]);
}

#[test]
fn dkim_and_mx_cases() {
    let Some(server) = test_server("dkim_and_mx_cases") else {
        return;
    };
    let resolver = resolver(server, Duration::from_secs(2));
    let dns = LiveDns::new(&resolver, Instant::now() + Duration::from_secs(30));
    let key = |selector: &str| summary(&dkim::check(&dns, "good.check.test", selector));
    assert_eq!(key("s2048"), ["dkim.key_present ok"]);
    assert_eq!(key("weak"), ["dkim.weak_key warn"]);
    assert_eq!(key("revoked"), ["dkim.revoked error"]);
    assert_eq!(key("testing"), ["dkim.key_present ok", "dkim.testing warn"]);
    assert_eq!(key("absent"), ["dkim.key_missing error"]);
    assert!(
        dkim::check(&dns, "good.check.test", "s2048")[0]
            .message
            .contains("2048 bits")
    );
    assert!(
        dkim::check(&dns, "good.check.test", "weak")[0]
            .message
            .contains("1024 bits")
    );

    assert_eq!(
        summary(&mx::check(&dns, "good.check.test")),
        ["mx.present ok"]
    );
    assert_eq!(
        summary(&mx::check(&dns, "nullmx.check.test")),
        ["mx.null warn"]
    );
    assert_eq!(
        summary(&mx::check(&dns, "nothing.check.test")),
        ["mx.missing warn"]
    );
}

/// A server that never answers: every finding is "could not check", none says "missing".
#[test]
fn a_silent_server_is_could_not_check_never_missing() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver = resolver(silent.local_addr().unwrap(), Duration::from_millis(300));
    let dns = LiveDns::new(&resolver, Instant::now() + Duration::from_secs(20));
    let selectors = [("good.check.test".to_owned(), "s2048".to_owned())];
    let findings = check_domain(
        &dns,
        "good.check.test",
        &selectors,
        &["esp.check.test".to_owned()],
    );
    assert_eq!(
        summary(&findings),
        [
            "dmarc.unchecked warn",
            "spf.unchecked warn",
            "spf.unchecked warn",
            "dkim.unchecked warn",
            "mx.unchecked warn"
        ]
    );
    assert!(
        findings
            .iter()
            .all(|f| f.message.starts_with("could not check")),
        "{findings:#?}"
    );
    assert!(findings.iter().all(|f| f.severity == Severity::Warn));

    // Past the run's deadline nothing is asked: the same, at once.
    let dns = LiveDns::new(&resolver, Instant::now());
    let started = Instant::now();
    let findings = check_domain(&dns, "good.check.test", &selectors, &[]);
    assert!(started.elapsed() < Duration::from_millis(200));
    assert!(
        findings
            .iter()
            .all(|f| f.code.as_str().ends_with(".unchecked")),
        "{findings:#?}"
    );
}

/// Coverage: addresses in the SPF record, only via an include, and outside it.
#[test]
fn check_host_result_and_matched_mechanism() {
    let Some(server) = test_server("check_host_result_and_matched_mechanism") else {
        return;
    };
    let resolver = resolver(server, Duration::from_secs(2));
    let dns = LiveDns::new(&resolver, Instant::now() + Duration::from_secs(30));
    let result = |domain: &str, ip: &str| {
        let evaluation = spf::evaluate(&dns, domain, ip.parse().unwrap());
        format!(
            "{} {}",
            evaluation.result,
            evaluation.matched.unwrap_or_default()
        )
    };
    assert_eq!(
        result("good.check.test", "192.0.2.5"),
        "pass ip4:192.0.2.0/25"
    );
    assert_eq!(
        result("good.check.test", "198.51.100.7"),
        "pass include:_spf.esp.check.test → ip4:198.51.100.0/24"
    );
    assert_eq!(result("good.check.test", "203.0.113.9"), "fail -all");
    assert_eq!(result("v6.check.test", "2001:db8:26::5"), "pass a//64");
    assert_eq!(
        result("v6.check.test", "2001:db8:27::25"),
        "pass mx (mail6.check.test)"
    );
    assert_eq!(
        result("v6.check.test", "2001:db8:27::99"),
        "pass a:mail6.check.test/24//64"
    );
    assert_eq!(
        result("v6.check.test", "2001:db8:25::1"),
        "pass ip6:2001:db8:25::/48"
    );
    assert_eq!(result("lookups.check.test", "203.0.113.1"), "permerror ");
    // check_host stops at the first match: the 11th lookup is never spent for this one.
    assert_eq!(
        result("lookups.check.test", "192.0.2.80"),
        "pass include:l1.lookups.check.test → a:h.check.test"
    );
    assert_eq!(result("loop.check.test", "192.0.2.80"), "permerror ");
    assert_eq!(result("nothing.check.test", "192.0.2.80"), "none ");
    // Macros in exists, expanded for the address.
    assert_eq!(
        result("macro.check.test", "192.0.2.77"),
        "pass exists:%{ir}.%{v}._spf.%{d}"
    );
    assert_eq!(result("macro.check.test", "192.0.2.78"), "fail -all");
    // ptr: a PTR name under the domain that its A record confirms; not one it does not.
    assert_eq!(
        result("ptr.check.test", "203.0.113.10"),
        "pass ptr (out1.ptr.check.test)"
    );
    assert_eq!(result("ptr.check.test", "203.0.113.11"), "softfail ~all");
    assert_eq!(result("ptr.check.test", "203.0.113.12"), "softfail ~all");
}
