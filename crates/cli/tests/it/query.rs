use crate::util::TestEnv;

fn demo_env() -> TestEnv {
    let env = TestEnv::new();
    let run = env.run(&["ingest", "fixtures/demo"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    env
}

const DAILY: &str = "SELECT day, source_ip, messages, dmarc_pass FROM source_daily WHERE policy_domain = 'example.com' AND day = '2026-11-16' ORDER BY messages DESC";

#[test]
fn sql_formats() {
    let env = demo_env();
    let table = env.run(&["sql", DAILY]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    insta::assert_snapshot!("sql_table", table.stdout);
    insta::assert_snapshot!(
        "sql_csv",
        env.run(&["sql", "--format", "csv", DAILY]).stdout
    );
    let json = env.run(&["sql", "--format", "json", DAILY]).stdout;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["source_ip"], "192.0.2.10");
    assert!(rows[0]["messages"].is_i64());
}

#[test]
fn record_outcomes_has_the_documented_columns() {
    let env = demo_env();
    let header = env.sql("SELECT * FROM record_outcomes LIMIT 1");
    let columns: Vec<&str> = header.lines().next().unwrap().split(',').collect();
    for documented in [
        "report_org",
        "report_id",
        "policy_domain",
        "begin_utc",
        "end_utc",
        "source_ip",
        "message_count",
        "disposition",
        "dkim_evaluated",
        "spf_evaluated",
        "header_from",
        "envelope_from",
        "dkim_aligned",
        "spf_aligned",
        "dmarc_pass",
    ] {
        assert!(
            columns.contains(&documented),
            "record_outcomes lacks {documented}"
        );
    }
}

#[test]
fn sql_refuses_writes_and_a_missing_database() {
    let env = demo_env();
    let write = env.run(&["sql", "DELETE FROM reports"]);
    assert_eq!(write.code, 2);
    assert!(write.stderr.contains("read-only"), "{}", write.stderr);
    let bad = env.run(&["sql", "SELEC 1"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("syntax error"), "{}", bad.stderr);

    let empty = TestEnv::new();
    let missing = empty.run(&["sql", "SELECT 1"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );
    assert!(
        !empty.db().exists(),
        "a read-only command must not create the database"
    );
}

#[test]
fn sources_table_and_filters() {
    let env = demo_env();
    let all = env.run(&["sources"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    insta::assert_snapshot!("sources_table", all.stdout);

    // 2001:db8::25 first sends in the second week; the forwarder's last report is on the 21st.
    let first_week = env.run(&[
        "sources",
        "--since",
        "2026-11-09",
        "--until",
        "2026-11-15",
        "--format",
        "csv",
    ]);
    assert!(
        !first_week.stdout.contains("2001:db8::25"),
        "{}",
        first_week.stdout
    );
    let last_day = env.run(&[
        "sources",
        "--since",
        "2026-11-22",
        "--until",
        "2026-11-22",
        "--format",
        "csv",
    ]);
    assert!(last_day.stdout.contains("2001:db8::25"));
    assert!(
        !last_day.stdout.contains("198.51.100.25"),
        "{}",
        last_day.stdout
    );
    let other = env.run(&["sources", "--domain", "example.org"]);
    assert_eq!(
        other.stdout.lines().count(),
        2,
        "header and rule only: {}",
        other.stdout
    );

    let json = env.run(&["sources", "--format", "json", "--domain", "EXAMPLE.com"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).unwrap();
    let classes: Vec<(&str, &str)> = rows
        .iter()
        .map(|row| {
            (
                row["source_ip"].as_str().unwrap(),
                row["classification"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        classes,
        vec![
            ("192.0.2.10", "aligned"),
            ("203.0.113.7", "misaligned"),
            ("2001:db8::25", "aligned"),
            ("198.51.100.25", "forwarded"),
            ("203.0.113.66", "unauthenticated"),
        ]
    );
    assert_eq!(rows[0]["dmarc_pass_pct"], 100.0);

    let bad = env.run(&["sources", "--since", "16/11/2026"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("YYYY-MM-DD"), "{}", bad.stderr);
}
