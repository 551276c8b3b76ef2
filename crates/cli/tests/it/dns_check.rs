//! `ruadb dns-check` end to end against the local DNS server (`scripts/dns-test-server.sh`,
//! zones in `fixtures/dns/`): domains and selectors from the stored reports, findings and
//! coverage stored (`dns_findings`, `dns_coverage`) and summarised, every output format, the
//! exit status.

use std::net::SocketAddr;

use crate::dns_server::test_server;
use crate::util::TestEnv;

/// A report for good.check.test beginning `begin`: mail from 192.0.2.10 (in its SPF) signed
/// with selectors s2048 and weak, sent with the return path lookups.check.test (whose SPF needs
/// 11 lookups); from 198.51.100.7 (covered only through an include) with the return path
/// bounce.reports.test, unsigned; from 203.0.113.9 (outside), failing; from 192.0.2.200
/// (outside), signed by Amazon SES's own domain, so identified as that service; from
/// 192.0.2.201 (outside), signed by the domain of the services file's Example ESP, whose
/// documented include covers it.
fn report(begin: i64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>receiver.example</org_name>
    <email>noreply@receiver.example</email>
    <report_id>dns-check-1</report_id>
    <date_range><begin>{begin}</begin><end>{end}</end></date_range>
  </report_metadata>
  <policy_published><domain>good.check.test</domain><p>reject</p></policy_published>
  <record>
    <row>
      <source_ip>192.0.2.10</source_ip><count>12</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>good.check.test</header_from></identifiers>
    <auth_results>
      <dkim><domain>good.check.test</domain><selector>s2048</selector><result>pass</result></dkim>
      <dkim><domain>good.check.test</domain><selector>weak</selector><result>pass</result></dkim>
      <spf><domain>lookups.check.test</domain><result>permerror</result></spf>
    </auth_results>
  </record>
  <record>
    <row>
      <source_ip>198.51.100.7</source_ip><count>5</count>
      <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>good.check.test</header_from></identifiers>
    <auth_results>
      <spf><domain>bounce.reports.test</domain><result>pass</result></spf>
    </auth_results>
  </record>
  <record>
    <row>
      <source_ip>203.0.113.9</source_ip><count>3</count>
      <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>good.check.test</header_from></identifiers>
    <auth_results>
      <spf><domain>good.check.test</domain><result>fail</result></spf>
    </auth_results>
  </record>
  <record>
    <row>
      <source_ip>192.0.2.200</source_ip><count>2</count>
      <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>good.check.test</header_from></identifiers>
    <auth_results>
      <dkim><domain>amazonses.com</domain><result>pass</result></dkim>
      <spf><domain>good.check.test</domain><result>fail</result></spf>
    </auth_results>
  </record>
  <record>
    <row>
      <source_ip>192.0.2.201</source_ip><count>1</count>
      <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>good.check.test</header_from></identifiers>
    <auth_results>
      <dkim><domain>mail.esp2.reports.test</domain><result>pass</result></dkim>
      <spf><domain>good.check.test</domain><result>fail</result></spf>
    </auth_results>
  </record>
</feedback>
"#,
        end = begin + 86_399
    )
}

#[expect(
    clippy::disallowed_methods,
    reason = "dns-check looks back 4 weeks from the real clock, so the report must be recent"
)]
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn env_with_config(server: SocketAddr) -> TestEnv {
    let env = TestEnv::new();
    let services = env.write(
        "services.toml",
        "[[service]]\nname = \"Example ESP\"\nkind = \"esp\"\ndkim = [\"esp2.reports.test\"]\n\
         spf_include = \"include:_spf.esp2.check.test\"\nsetup = \"verify {domain} in Example ESP\"\n",
    );
    env.write(
        "config/ruadb/config.toml",
        format!(
            "domains = [\"good.check.test\", \"nothing.check.test\"]\n\n[identify]\nnameservers = [\"{server}\"]\ndns_timeout_secs = 2\nservices_file = \"{}\"\n",
            services.display()
        ),
    );
    env
}

#[test]
fn checks_reported_domains_with_their_selectors_and_return_paths() {
    let Some(server) = test_server("dns_check") else {
        return;
    };
    let env = env_with_config(server);
    let begin = now() - 3 * 86_400;
    let xml = env.write("report.xml", report(begin));
    let ingest = env.run(&["ingest", xml.to_str().unwrap()]);
    assert_eq!(ingest.code, 0, "{}", ingest.stderr);

    let run = env.run(&["dns-check", "--format", "json"]);
    assert_eq!(run.code, 1, "errors found: exit status 1\n{}", run.stderr);
    let checks: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let checks = checks.as_array().unwrap();
    let domains: Vec<&str> = checks
        .iter()
        .map(|c| c["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["good.check.test", "nothing.check.test"]);
    let codes = |check: &serde_json::Value| -> Vec<String> {
        check["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f["code"].as_str().unwrap(),
                    f["severity"].as_str().unwrap()
                )
            })
            .collect()
    };
    let good = codes(&checks[0]);
    assert_eq!(
        good,
        [
            "spf.too_many_lookups error",
            "dkim.weak_key warn",
            "dmarc.present ok",
            "dmarc.policy ok",
            "dmarc.rua_authorized ok",
            "spf.present ok",
            "spf.present ok",
            "dkim.key_present ok",
            "mx.present ok",
        ],
        "{:#}",
        checks[0]
    );
    // Coverage: each source against the domain and each return path it used.
    let sources: Vec<String> = checks[0]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {} {}: {} {} | {}",
                s["source_ip"].as_str().unwrap(),
                s["class"].as_str().unwrap(),
                s["return_path_domain"].as_str().unwrap(),
                s["spf_result"].as_str().unwrap(),
                s["matched"].as_str().unwrap_or("-"),
                s["fix"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            "192.0.2.10 aligned good.check.test: pass ip4:192.0.2.0/25 | -",
            "192.0.2.10 aligned lookups.check.test: permerror - | -",
            "198.51.100.7 misaligned good.check.test: pass include:_spf.esp.check.test → ip4:198.51.100.0/24 | covered by good.check.test's SPF, but the return-path is bounce.reports.test: set a custom return-path under good.check.test",
            "198.51.100.7 misaligned bounce.reports.test: pass ip4:198.51.100.0/24 | -",
            "203.0.113.9 unauthenticated good.check.test: fail -all | not covered by good.check.test's SPF",
            "192.0.2.200 misaligned good.check.test: fail -all | not covered by good.check.test's SPF; the service's documented include is include:amazonses.com, which does not cover 192.0.2.200 either (SPF none); Amazon SES: enable Easy DKIM for good.check.test and a custom MAIL FROM domain",
            "192.0.2.201 misaligned good.check.test: fail -all | not covered by good.check.test's SPF; the service's documented include is include:_spf.esp2.check.test, which covers 192.0.2.201; Example ESP: verify good.check.test in Example ESP",
        ]
    );
    assert!(checks[0]["checked_utc"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        codes(&checks[1]),
        [
            "dmarc.missing error",
            "spf.missing error",
            "mx.missing warn"
        ]
    );

    // Stored with their time; a second check is kept beside the first.
    assert_eq!(
        env.sql(
            "SELECT domain, code, severity FROM dns_findings WHERE severity = 'error' ORDER BY 1, 2"
        ),
        "domain,code,severity\ngood.check.test,spf.too_many_lookups,error\nnothing.check.test,dmarc.missing,error\nnothing.check.test,spf.missing,error\n"
    );
    // The summary of the report's day shows the latest check in every format.
    let day = |seconds: i64| {
        chrono::DateTime::from_timestamp(seconds, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };
    let (since, until) = (day(begin), day(begin + 86_400));
    let summary = |format: &str| {
        let run = env.run(&[
            "summary", "--since", &since, "--until", &until, "--format", format,
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
    };
    let json: serde_json::Value = serde_json::from_str(&summary("json")).unwrap();
    let dns = &json["domains"][0]["dns"];
    assert_eq!(
        dns["findings"][0]["code"], "spf.too_many_lookups",
        "{dns:#}"
    );
    assert_eq!(dns["findings"].as_array().unwrap().len(), 9);
    assert_eq!(dns["previous_checked_utc"], serde_json::Value::Null);
    // The sources the domain's SPF does not cover, stored with the check.
    let uncovered: Vec<String> = dns["uncovered_sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {} {} {} {}",
                s["source_ip"].as_str().unwrap(),
                s["messages"],
                s["class"].as_str().unwrap(),
                s["spf_result"].as_str().unwrap(),
                s["matched"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        uncovered,
        [
            "203.0.113.9 3 unauthenticated fail -all",
            "192.0.2.200 2 misaligned fail -all",
            "192.0.2.201 1 misaligned fail -all"
        ],
        "{dns:#}"
    );
    assert_eq!(
        env.sql(
            "SELECT source_ip, return_path_domain, spf_result FROM dns_coverage \
             WHERE domain = 'good.check.test' ORDER BY source_ip, return_path_domain"
        ),
        "source_ip,return_path_domain,spf_result\n\
         192.0.2.10,good.check.test,pass\n192.0.2.10,lookups.check.test,permerror\n\
         192.0.2.200,good.check.test,fail\n192.0.2.201,good.check.test,fail\n\
         198.51.100.7,bounce.reports.test,pass\n198.51.100.7,good.check.test,pass\n\
         203.0.113.9,good.check.test,fail\n"
    );
    let text = summary("text");
    assert!(text.contains("\nDNS\n  Checked "), "{text}");
    assert!(
        text.contains(": 1 error, 1 warning, 7 ok\n  error spf.too_many_lookups "),
        "{text}"
    );
    assert!(
        text.contains(
            "  Not covered by SPF at the check: 3 sources\n    \
             203.0.113.9 (unauthenticated, 3 messages): SPF fail (-all)\n      \
             fix: not covered by good.check.test's SPF\n"
        ),
        "{text}"
    );
    let markdown = summary("markdown");
    assert!(markdown.contains("\n### DNS\n"));
    assert!(
        markdown.contains("| 192.0.2.200 | misaligned | 2 | fail (-all) | not covered by"),
        "{markdown}"
    );
    let html = summary("html");
    assert!(html.contains("spf.too_many_lookups"));
    assert!(
        html.contains("DNS: Not covered by SPF at the check: 3 sources"),
        "{html}"
    );

    let again = env.run(&["dns-check", "--domain", "nothing.check.test"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stdout.starts_with("nothing.check.test (checked "),
        "{}",
        again.stdout
    );
    assert!(
        again
            .stdout
            .contains("  error  dmarc.missing  no DMARC record at _dmarc.nothing.check.test"),
        "{}",
        again.stdout
    );
    assert_eq!(
        env.sql(
            "SELECT COUNT(DISTINCT dns_check) FROM dns_findings WHERE domain = 'nothing.check.test'"
        ),
        "COUNT(DISTINCT dns_check)\n2\n"
    );
}

#[test]
fn text_and_markdown_show_errors_first_with_the_record() {
    let Some(server) = test_server("dns_check_formats") else {
        return;
    };
    let env = env_with_config(server);
    let text = env.run(&["dns-check", "--domain", "twodmarc.check.test"]);
    assert_eq!(text.code, 1, "{}", text.stderr);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines[1].starts_with(
            "  error  dmarc.multiple_records  _dmarc.twodmarc.check.test has 2 DMARC records"
        ),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("record: v=DMARC1; p=none\n"),
        "{}",
        text.stdout
    );

    let markdown = env.run(&[
        "dns-check",
        "--domain",
        "good.check.test",
        "--format",
        "markdown",
    ]);
    assert_eq!(markdown.code, 0, "{}", markdown.stderr);
    assert!(
        markdown.stdout.starts_with("## good.check.test\n"),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown.stdout.contains("| ok | dmarc.policy | "),
        "{}",
        markdown.stdout
    );
}

#[test]
fn no_domain_to_check_is_a_clear_error() {
    let env = TestEnv::new();
    let run = env.run(&["dns-check"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no domain to check"), "{}", run.stderr);
}
