//! `ruadb summary --alerts`: one scenario per alert code under `fixtures/alerts/`, plus a quiet
//! week; the exit status, the JSON `alerts` array and the lines at the top of the text.

use crate::util::{Run, TestEnv};

/// The alert codes a scenario raises, in order, each with its severity.
type Expected = &'static [(&'static str, &'static str)];

/// (scenario directory, exit status, the alerts).
const SCENARIOS: &[(&str, i32, Expected)] = &[
    ("quiet", 0, &[]),
    (
        "new_unauthenticated_source",
        2,
        &[("new_unauthenticated_source", "action")],
    ),
    (
        "new_misaligned_source",
        2,
        &[("new_misaligned_source", "action")],
    ),
    ("pass_rate_drop", 1, &[("pass_rate_drop", "notice")]),
    (
        "pass_rate_drop_own_mail",
        2,
        &[("pass_rate_drop", "action")],
    ),
    ("reporter_silent", 1, &[("reporter_silent", "notice")]),
    (
        "no_reports",
        2,
        &[("no_reports", "action"), ("reporter_silent", "notice")],
    ),
    ("policy_changed", 1, &[("policy_changed", "notice")]),
];

fn scenario(name: &str) -> TestEnv {
    let env = TestEnv::new();
    let run = env.run(&["ingest", &format!("fixtures/alerts/{name}")]);
    assert_eq!(run.code, 0, "{name}: {}", run.stderr);
    env
}

fn summary(env: &TestEnv, extra: &[&str]) -> Run {
    let mut args = vec!["summary", "--week", "2026-W47"];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn codes(json: &str) -> Vec<(String, String)> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    value["alerts"]
        .as_array()
        .expect("alerts is an array")
        .iter()
        .map(|alert| {
            assert!(alert["message"].as_str().is_some_and(|m| !m.is_empty()));
            assert!(alert["domain"].is_string(), "{alert}");
            (
                alert["code"].as_str().unwrap().to_owned(),
                alert["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_scenario_raises_its_alert_and_exit_status() {
    for (name, code, expected) in SCENARIOS {
        let env = scenario(name);
        let json = summary(&env, &["--alerts", "--format", "json"]);
        assert_eq!(json.code, *code, "{name}: {}", json.stderr);
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(code, severity)| ((*code).to_owned(), (*severity).to_owned()))
            .collect();
        assert_eq!(codes(&json.stdout), expected, "{name}");

        // Every format lists them at the top, and sets the same status.
        for format in ["text", "markdown", "html"] {
            let run = summary(&env, &["--alerts", "--format", format]);
            assert_eq!(run.code, *code, "{name} {format}: {}", run.stderr);
            let alerts_at = run.stdout.find("Alerts").expect("an alerts line");
            let domain_at = run.stdout.find("example.com").expect("the domain");
            assert!(alerts_at < domain_at, "{name} {format}:\n{}", run.stdout);
            for (code, _) in &expected {
                let word = match code.as_str() {
                    "new_unauthenticated_source" => "new unauthenticated source",
                    "new_misaligned_source" => "new misaligned source",
                    "pass_rate_drop" => "DMARC pass rate down",
                    "reporter_silent" => "sent no report",
                    "no_reports" => "no reports received",
                    _ => "published policy changed",
                };
                assert!(
                    run.stdout.contains(word),
                    "{name} {format}:\n{}",
                    run.stdout
                );
            }
            if expected.is_empty() {
                assert!(run.stdout.contains("none"), "{}", run.stdout);
            }
        }

        // Without --alerts: the status and the JSON stay as they were.
        let plain = summary(&env, &["--format", "json"]);
        assert_eq!(plain.code, 0, "{name}: {}", plain.stderr);
        assert!(!plain.stdout.contains("\"alerts\""), "{name}");
    }
}

#[test]
fn thresholds_come_from_the_config() {
    let env = scenario("new_unauthenticated_source");
    // 12 messages: below a threshold of 13, nothing to report.
    let config = env.write("ruadb.toml", "[alerts]\nnew_source_messages = 13\n");
    let run = summary(
        &env,
        &[
            "--config",
            config.to_str().unwrap(),
            "--alerts",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(codes(&run.stdout).is_empty());

    let env = scenario("pass_rate_drop");
    let config = env.write("ruadb.toml", "[alerts]\npass_drop_points = 10\n");
    let run = summary(&env, &["--config", config.to_str().unwrap(), "--alerts"]);
    assert_eq!(run.code, 0, "a 9-point drop is below 10: {}", run.stdout);
}

#[test]
fn a_configured_domain_without_reports_is_action_needed() {
    let env = scenario("quiet");
    let config = env.write(
        "ruadb.toml",
        "domains = [\"example.com\", \"example.net\"]\n",
    );
    let run = summary(
        &env,
        &[
            "--config",
            config.to_str().unwrap(),
            "--alerts",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        codes(&run.stdout),
        [("no_reports".to_owned(), "action".to_owned())]
    );
    assert!(
        run.stdout.contains("\"domain\": \"example.net\""),
        "{}",
        run.stdout
    );
}

#[test]
fn an_empty_database_is_action_needed() {
    let env = TestEnv::new();
    let run = env.run(&["ingest", "fixtures/alerts/quiet"]);
    assert_eq!(run.code, 0);
    // A week with no report for any domain, long after the baseline.
    let run = env.run(&[
        "summary", "--week", "2027-W10", "--alerts", "--format", "json",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["alerts"][0]["code"], "no_reports");
    assert!(value["alerts"][0]["domain"].is_null());
}

#[test]
fn a_failure_of_the_command_is_never_a_quiet_zero() {
    let env = TestEnv::new();
    let not_a_database = env.write("broken.sqlite", "this is not a database\n");
    for args in [
        vec![
            "--db",
            not_a_database.to_str().unwrap(),
            "summary",
            "--alerts",
        ],
        vec!["--db", "/nonexistent/ruadb.sqlite", "summary", "--alerts"],
    ] {
        let run = env.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert!(run.stderr.starts_with("ruadb: "), "{}", run.stderr);
    }
}
