use std::time::{Duration, Instant};

use crate::util::{TestEnv, repo_root};

const COUNTS: &str = "SELECT (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM reports) AS reports, (SELECT count(*) FROM record_outcomes) AS records, (SELECT sum(message_count) FROM record_outcomes) AS total";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("fixtures").join(name)).expect("fixture")
}

fn tally(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).expect("one JSON object")
}

#[test]
fn ingesting_twice_changes_no_count() {
    let env = TestEnv::new();
    let first = env.run(&["ingest", "--json", "fixtures/demo"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let json = tally(&first.stdout);
    assert_eq!(json["messages"], 30);
    assert_eq!(json["reports_new"], 30);
    assert_eq!(json["records"], 98);
    assert_eq!(json["errors"], 0);
    for key in [
        "messages",
        "reports_new",
        "duplicates",
        "conflicts",
        "records",
        "errors",
    ] {
        assert!(json.get(key).is_some(), "tally lacks {key}");
    }
    assert!(first.stderr.contains(
        "ingested 30 messages: 30 new reports, 0 duplicates, 0 conflicts, 98 records, 0 errors"
    ));
    let counts = env.sql(COUNTS);

    let second = env.run(&["ingest", "--json", "fixtures/demo"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let json = tally(&second.stdout);
    assert_eq!(
        (json["messages"].as_u64(), json["reports_new"].as_u64()),
        (Some(30), Some(0))
    );
    assert_eq!(env.sql(COUNTS), counts);
    assert_eq!(counts, "messages,reports,records,total\n30,30,98,2250\n");
}

#[test]
fn the_same_report_in_another_container_is_a_duplicate() {
    let env = TestEnv::new();
    let xml = fixture("reports/rfc7489-minimal.xml");
    let plain = env.write("in/a.xml", &xml);
    let mut copy = xml;
    copy.extend_from_slice(b"\n\n");
    let spaced = env.write("in/b.xml", &copy);
    let run = env.run(&["ingest", plain.to_str().unwrap(), spaced.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("2 messages: 1 new report, 1 duplicate"),
        "{}",
        run.stderr
    );
}

#[test]
fn mbox_maildir_and_stdin_inputs() {
    let env = TestEnv::new();
    let first = fixture("reports/rfc7489-minimal.xml");
    let second = fixture("reports/rfc9990-namespaced-full.xml");
    let third = fixture("reports/ipv6.xml");

    // An mbox with two report mails, one with a `From ` line escaped in its body.
    let mail = |xml: &[u8]| {
        let mut message =
            b"From: dmarc@example.net\nSubject: report\nContent-Type: text/xml\n\n".to_vec();
        message.extend_from_slice(xml);
        message
    };
    let mut mbox = b"From dmarc@example.net Mon Nov 16 03:00:00 2026\n".to_vec();
    mbox.extend_from_slice(&mail(&first));
    mbox.extend_from_slice(b"\nFrom dmarc@example.net Tue Nov 17 03:00:00 2026\n");
    mbox.extend_from_slice(&mail(&second));
    let mbox_path = env.write("reports.mbox", &mbox);

    // A Maildir: cur/ and new/ are read, tmp/ (deliveries in progress) and dotfiles are not.
    env.write("Maildir/new/1.host", mail(&third));
    env.write("Maildir/tmp/2.host", mail(&first));
    env.write("Maildir/cur/.hidden", b"not a report");
    std::fs::create_dir_all(env.path("Maildir/cur")).unwrap();

    let run = env.run(&[
        "ingest",
        "--json",
        mbox_path.to_str().unwrap(),
        env.path("Maildir").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tally(&run.stdout)["reports_new"], 3);

    let stdin = env.run_with_stdin(&["ingest", "-"], &fixture("reports/zero-records.xml"));
    assert_eq!(stdin.code, 0, "{}", stdin.stderr);
    let paths = env.sql("SELECT source_kind, path FROM messages ORDER BY id");
    insta::assert_snapshot!(paths.replace(env.dir.path().to_str().unwrap(), "[TMP]"));
}

#[test]
fn bad_inputs_are_named_and_good_ones_stored() {
    let env = TestEnv::new();
    let run = env.run(&[
        "ingest",
        "fixtures/reports/rfc7489-minimal.xml",
        "fixtures/reports/err-truncated.xml",
        "fixtures/reports/err-not-xml.xml",
        "no-such-dir",
        "fixtures/reports/ipv6.xml",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("fixtures/reports/err-truncated.xml: XML error at byte")
    );
    assert!(
        run.stderr
            .contains("fixtures/reports/err-not-xml.xml: not a DMARC aggregate report")
    );
    assert!(run.stderr.contains("no-such-dir: cannot read:"));
    assert!(
        run.stderr
            .contains("5 messages: 2 new reports, 0 duplicates, 0 conflicts")
    );
    assert!(run.stderr.contains(", 3 errors"), "{}", run.stderr);
    assert_eq!(env.sql("SELECT count(*) AS n FROM reports"), "n\n2\n");
}

#[test]
fn policy_domains_outside_the_list_are_rejected_and_counted() {
    let env = TestEnv::new();
    let config = env.write("ruadb.toml", "domains = [\"example.org\"]\n");
    let run = env.run(&[
        "--config",
        config.to_str().unwrap(),
        "ingest",
        "--json",
        "fixtures/reports/rfc7489-minimal.xml",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("report for policy domain example.com rejected"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("`domains` is not set"));
    let json = tally(&run.stdout);
    assert_eq!(
        (json["reports_new"].as_u64(), json["errors"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(json["rejected"], 1);
    assert_eq!(env.sql("SELECT count(*) AS n FROM reports"), "n\n0\n");

    let open = env.run(&["ingest", "fixtures/reports/rfc7489-minimal.xml"]);
    assert!(
        open.stderr.contains("`domains` is not set"),
        "{}",
        open.stderr
    );
}

#[test]
fn a_busy_database_stops_with_a_message() {
    let env = TestEnv::new();
    assert_eq!(env.run(&["ingest", "fixtures/reports/ipv6.xml"]).code, 0);
    let mut store =
        ruadb_store::Store::open(&env.db(), ruadb_store::StoreOptions::default()).unwrap();
    let batch = store.begin_batch().unwrap();
    let started = Instant::now();
    let run = env.run(&["ingest", "fixtures/reports/rfc7489-minimal.xml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--wait"), "{}", run.stderr);
    assert!(started.elapsed() >= Duration::from_secs(4));
    drop(batch);
    assert_eq!(
        env.run(&["ingest", "fixtures/reports/rfc7489-minimal.xml"])
            .code,
        0
    );
}

#[test]
fn reparse_rebuilds_the_same_reports() {
    let env = TestEnv::new();
    assert_eq!(env.run(&["ingest", "fixtures/demo"]).code, 0);
    let counts = env.sql(COUNTS);
    let run = env.run(&["reparse", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tally(&run.stdout)["reports_new"], 30);
    assert!(
        run.stderr.contains("reparsed 30 messages"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sql(COUNTS), counts);
}

#[test]
fn a_terminal_gets_a_progress_bar_and_a_pipe_does_not() {
    let env = TestEnv::new();
    let args = [
        "ingest",
        "fixtures/demo",
        "fixtures/reports/err-not-xml.xml",
    ];
    let Some(run) = env.run_on_terminal(&args) else {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    };
    assert_eq!(run.code, 1, "{}", run.stdout);
    // The bar ends full: every byte of the walked files was accounted for.
    let full = "\r\x1b[K100% [################]";
    assert!(run.stdout.contains(full), "{:?}", run.stdout);
    // The error line is printed on a cleared line, and the bar is cleared before the tally.
    assert!(
        run.stdout
            .contains("\r\x1b[Kfixtures/reports/err-not-xml.xml: not a DMARC aggregate report"),
        "{:?}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("\r\x1b[Kingested 31 messages: 30 new reports"),
        "{:?}",
        run.stdout
    );

    // A terminal that cannot redraw a line gets no bar either.
    let dumb = TestEnv::new()
        .run_on_terminal_with_env(&args, &[("TERM", "dumb")])
        .expect("script ran above");
    assert_eq!(dumb.code, 1);
    assert!(!dumb.stdout.contains('\x1b'), "{:?}", dumb.stdout);
    assert!(dumb.stdout.contains("ingested 31 messages: 30 new reports"));

    let piped = TestEnv::new().run(&args);
    assert_eq!(piped.code, 1);
    assert!(!piped.stderr.contains('\r') && !piped.stderr.contains('\x1b'));
    assert!(
        piped
            .stderr
            .contains("ingested 31 messages: 30 new reports")
    );
}

/// `--db` naming a file that is not ruadb's database: refused in one line, exit 2, the file
/// unchanged.
#[test]
fn a_db_that_is_not_ruadbs_is_refused_in_one_line_and_left_unchanged() {
    let env = TestEnv::new();
    let text = "not a database, ".repeat(64);
    std::fs::write(env.db(), &text).unwrap();
    for args in [
        &["ingest", "fixtures/reports/rfc7489-minimal.xml"][..],
        &["sql", "SELECT 1"],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{}", run.stderr);
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|line| !line.starts_with("ruadb: warning:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", run.stderr);
        assert!(
            errors[0].contains("not a SQLite database"),
            "{}",
            run.stderr
        );
        assert_eq!(std::fs::read_to_string(env.db()).unwrap(), text);
    }
}

/// Failure reports through `ingest`: tallied as `failure_reports_new`, private by default in
/// `failure_samples`, kept fields with `[failure_reports]`, and a second run adds nothing.
#[test]
fn failure_reports_are_ingested_and_tallied() {
    let env = TestEnv::new();
    let run = env.run(&["ingest", "--json", "fixtures/failure"]);
    assert_eq!(run.code, 1, "two err- fixtures: {}", run.stderr);
    let json = tally(&run.stdout);
    assert_eq!(
        (
            json["failure_reports_new"].as_u64(),
            json["failure_duplicates"].as_u64(),
            json["reports_new"].as_u64(),
            json["errors"].as_u64()
        ),
        (Some(5), Some(1), Some(0), Some(2))
    );
    assert!(
        run.stderr.contains(
            "ingested 8 messages: 0 new reports, 0 duplicates, 0 conflicts, 0 records, \
             5 new failure reports, 2 errors"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        env.sql(
            "SELECT reported_domain, source_ip, auth_failure FROM failure_samples \
             ORDER BY arrival_utc LIMIT 1"
        ),
        "reported_domain,source_ip,auth_failure\nexample.com,192.0.2.77,dmarc\n"
    );
    assert_eq!(
        env.sql("SELECT count(*) AS n FROM failure_reports WHERE subject IS NOT NULL"),
        "n\n0\n"
    );
    let again = env.run(&["ingest", "--json", "fixtures/failure"]);
    assert_eq!(tally(&again.stdout)["failure_reports_new"], 0);

    let keep = TestEnv::new();
    let config = keep.write(
        "ruadb.toml",
        "[failure_reports]\nkeep_addresses = true\nkeep_subjects = true\n",
    );
    let run = keep.run(&[
        "--config",
        config.to_str().unwrap(),
        "ingest",
        "fixtures/failure/arf-dmarc-all-fields.eml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        keep.sql("SELECT original_mail_from, subject FROM failure_reports"),
        "original_mail_from,subject\nbilling.alice@example.com,Your invoice 4711\n"
    );
}

/// With several parser threads, inputs good and bad are named in input order and stored the
/// same as with one; `RUADB_PARSE_THREADS` sets the number too, and a number out of range is
/// refused in one line.
#[test]
fn parser_threads_keep_failure_lines_in_input_order() {
    let paths = ["fixtures/reports", "fixtures/archives", "fixtures/messages"];
    let run_with = |threads: &str, via_environment: bool| {
        let env = TestEnv::new();
        let mut args = vec!["ingest", "--json"];
        if !via_environment {
            args.extend(["--parse-threads", threads]);
        }
        args.extend(paths);
        let mut command = env.command(&args);
        if via_environment {
            command.env("RUADB_PARSE_THREADS", threads);
        }
        let output = command.output().expect("run ruadb");
        assert_eq!(output.status.code(), Some(1), "{threads} threads");
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            env.sql(COUNTS),
        )
    };
    let one = run_with("1", false);
    let failures = one
        .1
        .lines()
        .filter(|line| line.starts_with("fixtures/"))
        .count();
    assert!(failures >= 25, "{}", one.1);
    assert_eq!(run_with("3", false), one);
    assert_eq!(run_with("2", true), one);

    let env = TestEnv::new();
    for bad in ["0", "9", "many"] {
        let run = env.run(&["ingest", "--parse-threads", bad, "fixtures/reports"]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("expected a whole number of threads from 1 to 8"),
            "{bad}: {}",
            run.stderr
        );
    }
    assert!(!env.db().exists(), "nothing was written");
}
