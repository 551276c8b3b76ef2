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
fn sql_names_an_empty_statement_and_reads_the_journal_mode() {
    let env = demo_env();
    for empty in ["", "  ", "\n-- nothing", ";", "/* nothing */ ;"] {
        let run = env.run(&["sql", empty]);
        assert_eq!(run.code, 2, "{empty:?}: {}", run.stderr);
        assert_eq!(
            run.stderr, "ruadb: no SQL statement given (the text is empty or only comments)\n",
            "{empty:?}"
        );
    }
    for query in ["PRAGMA journal_mode", "pragma main.journal_mode; -- which?"] {
        let mode = env.run(&["sql", "--format", "csv", query]);
        assert_eq!(mode.code, 0, "{query}: {}", mode.stderr);
        assert_eq!(mode.stdout, "journal_mode\r\nwal\r\n");
    }
    for write in [
        "PRAGMA journal_mode = DELETE",
        "PRAGMA journal_mode(DELETE)",
        "PRAGMA user_version = 1",
    ] {
        let run = env.run(&["sql", write]);
        assert_eq!(run.code, 2, "{write}");
        assert!(run.stderr.contains("read-only"), "{write}: {}", run.stderr);
    }
    assert_eq!(env.sql("PRAGMA journal_mode"), "journal_mode\nwal\n");
}

/// Statements that build values of hundreds of megabytes are stopped by SQLite's length
/// limit within the memory budget: with a message that says so, or (`printf`, which SQLite
/// lets fail quietly) with NULL.
#[test]
fn sql_statements_building_huge_values_stop_within_the_memory_budget() {
    let env = demo_env();
    let limit_message = "goes past the limits for queries (values up to 8 MiB";
    for (query, refused) in [
        ("SELECT length(printf('%.*c', 300000000, 'x')) AS n", false),
        ("SELECT length(hex(zeroblob(150000000))) AS n", true),
        (
            "WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 300000) \
             SELECT length(group_concat(printf('%.1000c', 'x'))) AS n FROM i",
            true,
        ),
    ] {
        let command = env.command(&["sql", "--format", "csv", query]);
        let (output, rss) = crate::proof::run_measured(&command);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if refused {
            assert_eq!(output.status.code(), Some(2), "{query}: {stdout}");
            assert!(stderr.contains(limit_message), "{query}: {stderr}");
        } else {
            assert_eq!(output.status.code(), Some(0), "{query}: {stderr}");
            assert_eq!(stdout, "n\r\n\r\n", "{query}");
        }
        if let Some(rss) = rss {
            assert!(rss <= 64 * 1024, "{query}: peak RSS {rss} KiB");
        }
    }
    // The heap limit is set, and a statement cannot raise it.
    assert_eq!(
        env.sql("PRAGMA hard_heap_limit = 4000000000"),
        "hard_heap_limit\n33554432\n"
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
        "2026-11-23",
        "--format",
        "csv",
    ]);
    assert!(last_day.stdout.contains("2001:db8::25"));
    assert!(
        !last_day.stdout.contains("198.51.100.25"),
        "{}",
        last_day.stdout
    );
    let empty = env.run(&["sources", "--since", "2026-11-22", "--until", "2026-11-22"]);
    assert_eq!(empty.code, 2);
    assert!(
        empty.stderr.contains("the period is empty"),
        "{}",
        empty.stderr
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

/// The messages `ruadb sources` lists with these extra arguments.
fn source_messages(env: &TestEnv, args: &[&str]) -> u64 {
    let output = env.run(&[&["sources", "--format", "json"], args].concat());
    assert_eq!(output.code, 0, "{}", output.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&output.stdout).unwrap();
    rows.iter()
        .map(|row| row["messages"].as_u64().unwrap())
        .sum()
}

#[test]
fn sources_until_is_the_first_day_not_included() {
    // `--until D` and `--since D` split the reports in two: none is in both, none is lost.
    let env = demo_env();
    let all = source_messages(&env, &[]);
    for day in ["2026-11-16", "2026-11-22"] {
        let before = source_messages(&env, &["--until", day]);
        let after = source_messages(&env, &["--since", day]);
        assert!(before > 0 && after > 0, "{day}: {before} and {after}");
        assert_eq!(before + after, all, "{day}");
    }
    let week = source_messages(&env, &["--since", "2026-11-16", "--until", "2026-11-23"]);
    let rest = source_messages(&env, &["--until", "2026-11-16"])
        + source_messages(&env, &["--since", "2026-11-23"]);
    assert_eq!(week + rest, all);
}
