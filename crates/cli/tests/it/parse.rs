use std::collections::BTreeSet;
use std::io::Read;
use std::process::Stdio;

use crate::util::TestEnv;

fn keys(value: &serde_json::Value) -> BTreeSet<String> {
    value.as_object().expect("object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

#[test]
fn json_lines_snapshot() {
    let env = TestEnv::new();
    let run = env.run(&[
        "parse",
        "--format",
        "json",
        "fixtures/reports/rfc7489-full.xml",
        "fixtures/reports/err-truncated.xml",
        "fixtures/reports/rfc9990-namespaced-full.xml",
    ]);
    assert_eq!(run.code, 1, "one input fails: {}", run.stderr);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn json_objects_have_exactly_the_contract_keys() {
    let env = TestEnv::new();
    let run = env.run(&[
        "parse",
        "--format",
        "json",
        "fixtures/reports",
        "fixtures/demo",
    ]);
    assert_eq!(run.code, 1, "fixtures/reports holds failing inputs");
    let report_keys = set(&[
        "source",
        "member",
        "kind",
        "format",
        "org_name",
        "email",
        "report_id",
        "begin",
        "end",
        "policy",
        "records",
        "warnings",
    ]);
    let policy_keys = set(&[
        "domain",
        "adkim",
        "aspf",
        "p",
        "sp",
        "np",
        "pct",
        "fo",
        "testing",
        "discovery_method",
    ]);
    // Optional keys the model adds when present: raw RFC 9990 extensions, human_result lang.
    let record_keys = set(&[
        "source_ip",
        "count",
        "disposition",
        "dkim",
        "spf",
        "reasons",
        "header_from",
        "envelope_from",
        "envelope_to",
        "dkim_results",
        "spf_results",
    ]);
    let (mut reports, mut errors) = (0, 0);
    for line in run.stdout.lines() {
        let object: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        if object.get("error").is_some() {
            errors += 1;
            assert_eq!(keys(&object), set(&["source", "member", "error"]));
            assert!(object["source"].as_str().unwrap().starts_with("fixtures/"));
            continue;
        }
        reports += 1;
        assert_eq!(keys(&object), report_keys, "{line}");
        assert_eq!(keys(&object["policy"]), policy_keys, "{line}");
        assert_eq!(object["kind"], "aggregate", "{line}");
        assert!(object["begin"].is_i64() && object["end"].is_i64());
        for record in object["records"].as_array().unwrap() {
            let extra: Vec<_> = keys(record).difference(&record_keys).cloned().collect();
            assert!(
                extra.iter().all(|key| key == "extensions"),
                "unexpected record keys {extra:?}"
            );
            assert!(record_keys.is_subset(&keys(record)));
        }
    }
    let error_fixtures = std::fs::read_dir(crate::util::repo_root().join("fixtures/reports"))
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("err-")
        })
        .count();
    assert_eq!(errors, error_fixtures);
    assert!(reports >= 30 + 25, "{reports} reports");
}

#[test]
fn text_snapshot_on_the_demo_data() {
    let env = TestEnv::new();
    let run = env.run(&["parse", "fixtures/demo"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn text_names_failures_on_stderr() {
    let env = TestEnv::new();
    let run = env.run(&[
        "parse",
        "fixtures/reports/rfc7489-minimal.xml",
        "fixtures/reports/err-missing-report-id.xml",
        "no-such-file.xml",
    ]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(run.stderr.contains(
        "fixtures/reports/err-missing-report-id.xml: required element <report_id> is missing"
    ));
    assert!(run.stderr.contains("no-such-file.xml: cannot read:"));
}

#[test]
fn exit_codes() {
    let env = TestEnv::new();
    assert_eq!(
        env.run(&["parse", "fixtures/reports/rfc7489-minimal.xml"])
            .code,
        0
    );
    assert_eq!(
        env.run(&["parse", "fixtures/reports/err-empty.xml"]).code,
        1
    );
    assert_eq!(env.run(&["parse"]).code, 2, "no path is a usage error");
    assert_eq!(env.run(&["parse", "--format", "yaml", "x"]).code, 2);
}

#[test]
fn stdin_and_mbox_on_stdin() {
    let env = TestEnv::new();
    let xml = std::fs::read(crate::util::repo_root().join("fixtures/reports/rfc7489-minimal.xml"))
        .unwrap();
    let run = env.run_with_stdin(&["parse", "--format", "json", "-"], &xml);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let object: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(object["source"], "-");

    let mut mbox = b"From dmarc@example.net Mon Nov 16 03:00:00 2026\n".to_vec();
    mbox.extend_from_slice(&xml);
    mbox.extend_from_slice(b"\nFrom dmarc@example.net Tue Nov 17 03:00:00 2026\n");
    mbox.extend_from_slice(&xml);
    let run = env.run_with_stdin(&["parse", "--format", "json", "-"], &mbox);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sources: Vec<String> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["source"].to_string())
        .collect();
    assert_eq!(sources, vec!["\"-#1\"", "\"-#2\""]);
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let env = TestEnv::new();
    let mut child = env
        .command(&[
            "parse",
            "--format",
            "json",
            "fixtures/reports",
            "fixtures/demo",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    // Exit 1 is still right if every line was written before the pipe closed (the
    // directory holds failing inputs); what must not happen is a panic or exit 2.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{:?}",
        output.status
    );
}

/// A report above the size at which files are streamed from disk (8 MiB), and the same
/// report cut short: the first is printed whole (as from memory), the second not at all.
#[test]
fn large_files_are_streamed_with_the_same_output() {
    let env = TestEnv::new();
    let xml = String::from_utf8(
        std::fs::read(crate::util::repo_root().join("fixtures/reports/rfc7489-minimal.xml"))
            .unwrap(),
    )
    .unwrap();
    let start = xml.find("<record>").unwrap();
    let end = xml.rfind("</record>").unwrap() + "</record>".len();
    let mut big = xml[..start].to_owned();
    while big.len() < 9 * 1024 * 1024 {
        big.push_str(&xml[start..end]);
    }
    big.push_str(&xml[end..]);
    let path = env.write("big.xml", &big);
    let truncated = env.write("truncated.xml", &big.as_bytes()[..big.len() - 100]);

    let streamed = env.run(&["parse", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(streamed.code, 0, "{}", streamed.stderr);
    let from_stdin = env.run_with_stdin(&["parse", "--format", "json", "-"], big.as_bytes());
    let named = format!(r#""source":{}"#, serde_json::to_string(&path).unwrap());
    assert_eq!(
        streamed.stdout,
        from_stdin.stdout.replacen(r#""source":"-""#, &named, 1)
    );

    let cut = env.run(&["parse", "--format", "json", truncated.to_str().unwrap()]);
    assert_eq!(cut.code, 1);
    assert_eq!(cut.stdout.lines().count(), 1, "only the error object");
    assert!(
        cut.stdout.contains(r#""error":"XML error"#),
        "{}",
        cut.stdout
    );

    let stored = env.run(&["ingest", "--json", path.to_str().unwrap()]);
    assert_eq!(stored.code, 0, "{}", stored.stderr);
    let records = big.matches("<record>").count();
    assert!(
        stored.stdout.contains(&format!(r#""records":{records}"#)),
        "{}",
        stored.stdout
    );
}

/// `kind: "failure"` objects: the contract keys, privacy by default, and what
/// `[failure_reports]` lets through.
#[test]
fn failure_reports_are_failure_objects_private_unless_configured() {
    let env = TestEnv::new();
    let run = env.run(&["parse", "--format", "json", "fixtures/failure"]);
    assert_eq!(run.code, 1, "two err- fixtures: {}", run.stderr);
    let contract = set(&[
        "source",
        "member",
        "kind",
        "reporter",
        "arrival",
        "source_ip",
        "reported_domain",
        "auth_failure",
        "from_domain",
        "dkim_domain",
        "dkim_selector",
        "delivery_result",
        "warnings",
    ]);
    let kept = set(&["original_mail_from", "original_rcpt_to", "from", "subject"]);
    let (mut reports, mut errors) = (0, 0);
    for line in run.stdout.lines() {
        let object: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        if object.get("error").is_some() {
            errors += 1;
            continue;
        }
        reports += 1;
        assert_eq!(object["kind"], "failure", "{line}");
        assert!(contract.is_subset(&keys(&object)), "{line}");
        assert!(
            keys(&object).is_disjoint(&kept),
            "private by default: {line}"
        );
        assert!(!line.contains("billing.alice") && !line.contains("invoice 4711"));
    }
    assert_eq!((reports, errors), (6, 2), "{}", run.stdout);

    let config = env.write(
        "keep.toml",
        "[failure_reports]\nkeep_addresses = true\nkeep_subjects = true\n",
    );
    let run = env.run(&[
        "--config",
        config.to_str().unwrap(),
        "parse",
        "--format",
        "json",
        "fixtures/failure/arf-dmarc-all-fields.eml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let object: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert!(kept.is_subset(&keys(&object)), "{}", run.stdout);
    assert_eq!(object["original_mail_from"], "billing.alice@example.com");
    assert_eq!(object["subject"], "Your invoice 4711");
    assert_eq!(object["from_domain"], "example.com");
    assert_eq!(object["arrival"], 1700027998);

    let run = env.run(&["parse", "fixtures/failure/text-notice.eml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "fixtures/failure/text-notice.eml: mx.receiver.example failure report for example.com: \
         dmarc failure from 192.0.2.200, arrived 2023-11-19 18:59:58Z (text)\n"
    );
}
