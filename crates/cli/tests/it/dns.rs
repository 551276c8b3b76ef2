//! Reverse DNS end to end against the real server of `scripts/dns-test-server.sh` (its zones
//! are listed there): `ingest` and `identify` look sources up after they commit, confirmed
//! PTRs name services and show in `sources`, the summary and the view, answers are cached, a
//! silent server costs at most the budget, and a run killed mid-way leaves nothing half done.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::dns_server::test_server;
use crate::util::TestEnv;

/// The sources the test zones know, one record each, with no DKIM or SPF a catalogue knows.
const SOURCES: [&str; 10] = [
    "192.0.2.10",
    "192.0.2.11",
    "192.0.2.12",
    "192.0.2.13",
    "192.0.2.14",
    "192.0.2.15",
    "192.0.2.16",
    "192.0.2.17",
    "198.51.100.5",
    "2001:db8::25",
];

fn report() -> String {
    let records: String = SOURCES
        .iter()
        .map(|ip| {
            format!(
                "<record><row><source_ip>{ip}</source_ip><count>2</count><policy_evaluated>\
                 <disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>\
                 </row><identifiers><header_from>example.com</header_from></identifiers>\
                 <auth_results><spf><domain>example.com</domain><result>softfail</result></spf>\
                 </auth_results></record>"
            )
        })
        .collect();
    format!(
        "<feedback><report_metadata><org_name>receiver.example</org_name>\
         <email>dmarc@receiver.example</email><report_id>dns-1</report_id>\
         <date_range><begin>1794873600</begin><end>1794959999</end></date_range></report_metadata>\
         <policy_published><domain>example.com</domain><p>none</p></policy_published>{records}</feedback>"
    )
}

/// A configuration asking `nameserver` (reverse DNS on), plus `extra` `[identify]` lines.
fn config(env: &TestEnv, nameserver: SocketAddr, extra: &str) -> String {
    let path = env.write(
        "dns.toml",
        format!(
            "domains = [\"example.com\"]\n[identify]\nnameservers = [\"{nameserver}\"]\n{extra}"
        ),
    );
    path.to_str().unwrap().to_owned()
}

#[test]
fn ingest_looks_up_confirmed_reverse_dns_and_names_services_by_it() {
    let Some(server) = test_server("ingest_looks_up_confirmed_reverse_dns") else {
        return;
    };
    let env = TestEnv::new();
    let config = config(&env, server, "");
    let path = env.write("report.xml", report());
    let run = env.run(&["--config", &config, "ingest", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = env.sql(
        "SELECT source_ip, service, evidence, ptr, ptr_confirmed, ptr_base_domain, \
         resolved_utc IS NOT NULL FROM source_identity WHERE source_ip <> '192.0.2.15' \
         ORDER BY source_ip",
    );
    assert_eq!(
        rows,
        "source_ip,service,evidence,ptr,ptr_confirmed,ptr_base_domain,resolved_utc IS NOT NULL\n\
         192.0.2.10,,,mail.example.com,1,example.com,1\n\
         192.0.2.11,,,a11-1.smtp-out.amazonses.com,0,amazonses.com,1\n\
         192.0.2.12,,,,,,1\n\
         192.0.2.13,,,mx.cname.example.test,1,example.test,1\n\
         192.0.2.14,,,evil\u{1b}[2j\u{7}.example.test,1,example.test,1\n\
         192.0.2.16,,,under_score.sp ace.do.t.example.test,0,example.test,1\n\
         192.0.2.17,Amazon SES,ptr,a17-1.smtp-out.amazonses.com,1,amazonses.com,1\n\
         198.51.100.5,,,,,,1\n\
         2001:db8::25,,,mail6.example.test,1,example.test,1\n",
        "the hostile name is stored as data (CSV carries it as it is)"
    );
    let table = env.run(&[
        "sql",
        "SELECT ptr FROM source_identity WHERE source_ip = '192.0.2.14'",
    ]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(!table.stdout.contains('\u{1b}'), "{:?}", table.stdout);
    assert!(table.stdout.contains("evil"), "{}", table.stdout);
    // The longest name there is, stored whole.
    assert_eq!(
        env.sql(
            "SELECT length(ptr), ptr_confirmed FROM source_identity WHERE source_ip = '192.0.2.15'"
        ),
        "length(ptr),ptr_confirmed\n253,0\n"
    );

    // Shown: the service or the confirmed name, never a raw control character.
    let sources = env.run(&["sources"]);
    assert_eq!(sources.code, 0, "{}", sources.stderr);
    assert!(!sources.stdout.contains('\u{1b}'), "{}", sources.stdout);
    assert!(sources.stdout.contains("Amazon SES"), "{}", sources.stdout);
    let json = env.run(&["sources", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let row = |ip: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|row| row["source_ip"] == ip)
            .unwrap()
            .clone()
    };
    assert_eq!(row("192.0.2.13")["ptr"], "mx.cname.example.test");
    // JSON carries the data itself, escaped by JSON.
    assert_eq!(row("192.0.2.14")["ptr"], "evil\u{1b}[2j\u{7}.example.test");
    let summary = env.run(&["summary", "--week", "2026-W47"]);
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    assert!(!summary.stdout.contains('\u{1b}'), "{}", summary.stdout);
    assert!(
        summary.stdout.contains("mx.cname.example.test"),
        "a confirmed PTR names the source: {}",
        summary.stdout
    );
    assert!(
        !summary.stdout.contains("a11-1.smtp-out"),
        "an unconfirmed PTR names nothing: {}",
        summary.stdout
    );
    let json = env.run(&["summary", "--week", "2026-W47", "--format", "json"]);
    assert!(
        json.stdout.contains("\"evidence\":\"ptr\"")
            || json.stdout.contains("\"evidence\": \"ptr\""),
        "{}",
        json.stdout
    );

    // Cached: a second run asks nothing.
    let again = env.run(&["--config", &config, "identify", "--json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let tally: serde_json::Value = serde_json::from_str(again.stdout.trim()).unwrap();
    assert_eq!(tally["dns"]["looked_up"], 0, "{tally}");
    assert_eq!(tally["named"], 1, "{tally}");
    // --refresh asks everything again.
    let refreshed = env.run(&["--config", &config, "identify", "--refresh", "--json"]);
    let tally: serde_json::Value = serde_json::from_str(refreshed.stdout.trim()).unwrap();
    assert_eq!(tally["dns"]["looked_up"], SOURCES.len(), "{tally}");
    assert_eq!(tally["dns"]["confirmed"], 5, "{tally}");
    assert_eq!(tally["dns"]["unconfirmed"], 3, "{tally}");
    assert_eq!(tally["dns"]["no_ptr"], 1, "{tally}");
    assert_eq!(tally["dns"]["failed"], 1, "{tally}");
}

#[test]
fn dns_false_and_no_identify_ask_nothing() {
    let Some(server) = test_server("dns_false_and_no_identify_ask_nothing") else {
        return;
    };
    let env = TestEnv::new();
    let path = env.write("report.xml", report());
    let path = path.to_str().unwrap();
    let off = config(&env, server, "dns = false\n");
    assert_eq!(env.run(&["--config", &off, "ingest", path]).code, 0);
    let identify = env.run(&["--config", &off, "identify", "--json"]);
    assert_eq!(identify.code, 0, "{}", identify.stderr);
    assert!(!identify.stdout.contains("dns"), "{}", identify.stdout);
    let resolved = "SELECT COUNT(*) FROM source_identity WHERE resolved_utc IS NOT NULL";
    assert_eq!(env.sql(resolved), "COUNT(*)\n0\n");

    let env = TestEnv::new();
    let on = config(&env, server, "");
    let run = env.run(&["--config", &on, "ingest", "--no-identify", path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.sql(resolved), "COUNT(*)\n0\n");
}

#[test]
fn a_silent_server_holds_a_run_no_longer_than_its_budget() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let env = TestEnv::new();
    let config = config(
        &env,
        silent.local_addr().unwrap(),
        "dns_timeout_secs = 1\ndns_budget_secs = 2\ndns_concurrency = 2\n",
    );
    let path = env.write("report.xml", report());
    let started = Instant::now();
    let run = env.run(&["--config", &config, "ingest", path.to_str().unwrap()]);
    let elapsed = started.elapsed();
    assert_eq!(
        run.code, 0,
        "a DNS failure never fails ingest: {}",
        run.stderr
    );
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    let identify = env.run(&["--config", &config, "identify", "--json"]);
    let tally: serde_json::Value = serde_json::from_str(identify.stdout.trim()).unwrap();
    // 10 sources, 2 at a time, 1 s each: the 2 s budget answers at most 4 (timed out).
    assert_eq!(tally["dns"]["looked_up"], 0, "{tally}");
    let timed_out = tally["dns"]["timed_out"].as_u64().unwrap();
    let pending = tally["dns"]["pending"].as_u64().unwrap();
    assert_eq!(timed_out + pending, SOURCES.len() as u64, "{tally}");
    assert!(pending > 0, "{tally}");
    assert!(
        identify.stderr.contains("left for the next run"),
        "{}",
        identify.stderr
    );
    assert_eq!(
        env.sql("SELECT COUNT(*) FROM source_identity WHERE resolved_utc IS NOT NULL"),
        "COUNT(*)\n0\n",
        "timeouts are asked again next run"
    );
}

#[test]
fn a_run_killed_mid_resolution_leaves_nothing_half_written() {
    let Some(server) = test_server("a_run_killed_mid_resolution") else {
        return;
    };
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let env = TestEnv::new();
    let path = env.write("report.xml", report());
    let path = path.to_str().unwrap();
    let stuck = config(
        &env,
        silent.local_addr().unwrap(),
        "dns_timeout_secs = 30\ndns_budget_secs = 60\n",
    );
    assert_eq!(
        env.run(&["--config", &stuck, "ingest", "--no-identify", path])
            .code,
        0
    );
    let mut child = env
        .command(&["--config", &stuck, "identify"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(env.sql("PRAGMA integrity_check"), "integrity_check\nok\n");
    assert_eq!(
        env.sql(
            "SELECT COUNT(*) FROM source_identity WHERE resolved_utc IS NOT NULL OR ptr IS NOT NULL"
        ),
        "COUNT(*)\n0\n"
    );
    // The next run does it all.
    let working = config(&env, server, "");
    let run = env.run(&["--config", &working, "identify", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        env.sql("SELECT COUNT(*) FROM source_identity WHERE resolved_utc IS NOT NULL"),
        format!("COUNT(*)\n{}\n", SOURCES.len())
    );
}

#[test]
fn bad_dns_settings_are_one_line_errors_naming_the_key() {
    let env = TestEnv::new();
    for (extra, expected) in [
        (
            "nameservers = [\"ns1.example\\u001b[2J\"]\n",
            "identify.nameservers: \"ns1.example\\x1b[2J\" is not an IP address",
        ),
        (
            "dns_timeout_secs = 0\n",
            "identify.dns_timeout_secs is 0; it must be between 1 and 3600",
        ),
        (
            "dns_concurrency = 0\n",
            "identify.dns_concurrency is 0; it must be between 1 and 1024",
        ),
        (
            "dns_negative_cache_days = 400\n",
            "identify.dns_negative_cache_days is 400; it must be between 1 and 366",
        ),
    ] {
        let path = env.write("bad.toml", format!("[identify]\n{extra}"));
        let run = env.run(&["--config", path.to_str().unwrap(), "identify"]);
        assert_eq!(run.code, 2, "{extra}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{extra}: {}", run.stderr);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    }
    // A bare address means port 53; IPv6 in brackets with a port.
    let path = env.write(
        "good.toml",
        "[identify]\ndns = false\nnameservers = [\"192.0.2.53\", \"[2001:db8::53]:5353\"]\n",
    );
    let run = env.run(&["--config", path.to_str().unwrap(), "identify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}
