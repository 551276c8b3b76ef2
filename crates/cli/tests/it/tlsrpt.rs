use crate::util::TestEnv;

fn tally(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).expect("one JSON object")
}

const VIEW_SUMS: &str = "SELECT (SELECT count(DISTINCT report_org || '/' || report_id) FROM tls_policy_outcomes) AS reports, \
     (SELECT count(*) FROM tls_policy_outcomes) AS policies, \
     (SELECT sum(successful_sessions) FROM tls_policy_outcomes) AS successful, \
     (SELECT sum(failed_sessions) FROM tls_policy_outcomes) AS failed, \
     (SELECT count(*) FROM tls_failures) AS details, \
     (SELECT coalesce(sum(failed_sessions), 0) FROM tls_failures) AS detail_sessions";

#[test]
fn generated_tls_reports_sum_exactly_in_the_views_and_a_second_ingest_adds_nothing() {
    let env = TestEnv::new();
    let dir = env.path("tls");
    let stats = ruadb_testgen::generate_tls_reports(&dir, 60, 7).unwrap();
    let dir = dir.to_str().unwrap();

    let first = env.run(&["ingest", "--json", dir]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let json = tally(&first.stdout);
    assert_eq!(json["messages"], 60);
    assert_eq!(json["tls_reports_new"], 60);
    assert_eq!(
        (json["reports_new"].as_u64(), json["errors"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        first
            .stderr
            .contains("0 records, 60 new TLS reports, 0 seen before, 0 errors"),
        "{}",
        first.stderr
    );
    let expected = format!(
        "reports,policies,successful,failed,details,detail_sessions\n{},{},{},{},{},{}\n",
        stats.reports,
        stats.policies,
        stats.successful_sessions,
        stats.failed_sessions,
        stats.failure_details,
        stats.detail_sessions
    );
    assert_eq!(env.sql(VIEW_SUMS), expected);

    // The same bytes again: nothing new.
    let second = env.run(&["ingest", "--json", dir]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(tally(&second.stdout)["tls_reports_new"], 0);
    assert_eq!(env.sql(VIEW_SUMS), expected);

    // The same reports in other containers: duplicates, counted once.
    let again = env.path("again");
    ruadb_testgen::generate_tls_reports(&again, 60, 7).unwrap();
    for entry in std::fs::read_dir(&again).unwrap() {
        let path = entry.unwrap().path();
        let renamed = path.with_extension("copy");
        let mut bytes = std::fs::read(&path).unwrap();
        if path.extension().is_some_and(|ext| ext == "json") {
            bytes.extend_from_slice(b"\n\n");
        }
        std::fs::write(&renamed, bytes).unwrap();
        std::fs::remove_file(path).unwrap();
    }
    let third = env.run(&["ingest", "--json", again.to_str().unwrap()]);
    let json = tally(&third.stdout);
    // Only the plain JSON files differ in bytes; the others are the same inputs again.
    assert_eq!(
        (
            json["tls_reports_new"].as_u64(),
            json["tls_repeats"].as_u64()
        ),
        (Some(0), Some(20))
    );
    assert_eq!(env.sql(VIEW_SUMS), expected);

    // reparse rebuilds them exactly.
    let reparse = env.run(&["reparse", "--json"]);
    assert_eq!(reparse.code, 0, "{}", reparse.stderr);
    let json = tally(&reparse.stdout);
    assert_eq!(
        (
            json["tls_reports_new"].as_u64(),
            json["tls_repeats"].as_u64()
        ),
        (Some(60), Some(20))
    );
    assert_eq!(env.sql(VIEW_SUMS), expected);
}

#[test]
fn a_conflicting_tls_report_is_kept_once() {
    let env = TestEnv::new();
    let original = std::fs::read_to_string(
        crate::util::repo_root().join("fixtures/tlsrpt/google-2026-11-17.json"),
    )
    .unwrap();
    let changed = original.replace(
        "\"total-successful-session-count\": 5000",
        "\"total-successful-session-count\": 5001",
    );
    assert_ne!(original, changed);
    let a = env.write("a.json", &original);
    let b = env.write("b.json", &changed);
    let run = env.run(&["ingest", "--json", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = tally(&run.stdout);
    assert_eq!(
        (
            json["tls_reports_new"].as_u64(),
            json["tls_repeats"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        env.sql("SELECT successful_sessions FROM tls_policy_outcomes"),
        "successful_sessions\n5000\n"
    );
    assert_eq!(
        env.sql("SELECT conflict FROM tls_report_repeats"),
        "conflict\n1\n"
    );
}

#[test]
fn the_domains_list_applies_to_each_policy_domain() {
    let env = TestEnv::new();
    let config = env.write("config.toml", "domains = [\"example.com\"]\n");
    let config = config.to_str().unwrap();
    let run = env.run(&["--config", config, "ingest", "--json", "fixtures/tlsrpt"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tally(&run.stdout)["tls_reports_new"], 3);
    // The Microsoft report's example.org policy is not stored, and says so.
    assert_eq!(
        env.sql("SELECT DISTINCT policy_domain FROM tls_policy_outcomes"),
        "policy_domain\nexample.com\n"
    );
    assert_eq!(
        env.sql("SELECT warning FROM tls_report_warnings"),
        "warning\nthe policy for example.org is not stored: not in `domains`\n"
    );

    let env = TestEnv::new();
    let config = env.write("config.toml", "domains = [\"example.net\"]\n");
    let run = env.run(&[
        "--config",
        config.to_str().unwrap(),
        "ingest",
        "--json",
        "fixtures/tlsrpt",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = tally(&run.stdout);
    assert_eq!(
        (json["tls_reports_new"].as_u64(), json["rejected"].as_u64()),
        (Some(0), Some(4))
    );
    assert_eq!(env.sql("SELECT count(*) AS n FROM tls_reports"), "n\n0\n");
}

#[test]
fn parse_prints_tls_reports_with_their_kind() {
    let env = TestEnv::new();
    let run = env.run(&[
        "parse",
        "--format",
        "json",
        "fixtures/tlsrpt/microsoft-2026-11-18.eml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let object: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(object.as_object().unwrap().len(), 10);
    assert_in_order(
        &run.stdout,
        &[
            "source",
            "member",
            "kind",
            "organization_name",
            "contact_info",
            "report_id",
            "begin",
            "end",
            "policies",
            "warnings",
        ],
    );
    assert_eq!(object["kind"], "tlsrpt");
    assert_eq!(
        object["member"],
        "microsoft.com!example.com!1794960000!1795046399!133456789.json.gz"
    );
    assert_eq!(object["begin"], 1_794_960_000);
    let policy = &object["policies"][0];
    assert_eq!(policy.as_object().unwrap().len(), 7);
    assert_in_order(
        &run.stdout,
        &[
            "policy_type",
            "policy_domain",
            "policy_strings",
            "mx_hosts",
            "successful_sessions",
            "failed_sessions",
            "failure_details",
        ],
    );
    assert_eq!(
        policy["failure_details"][0]["result_type"],
        "sts-policy-fetch-error"
    );
    assert_eq!(object["policies"][1]["policy_type"], "no-policy-found");

    let text = env.run(&["parse", "fixtures/tlsrpt/google-2026-11-17.json"]);
    assert_eq!(
        text.stdout,
        "fixtures/tlsrpt/google-2026-11-17.json: Google Inc. TLS report \
         2026-11-17T00:00:00Z_example.com for example.com, 2026-11-17 00:00:00Z to \
         2026-11-17 23:59:59Z, 5000 successful and 120 failed sessions (tlsrpt)\n"
    );
}

/// Each key of `keys` appears in `line`, in this order (the JSON contract's key order).
fn assert_in_order(line: &str, keys: &[&str]) {
    let positions: Vec<usize> = keys
        .iter()
        .map(|key| {
            line.find(&format!("\"{key}\":"))
                .unwrap_or_else(|| panic!("{key} missing: {line}"))
        })
        .collect();
    assert!(positions.is_sorted(), "{keys:?} out of order: {line}");
}
