//! `ruadb fetch` against a misbehaving IMAP server (a scripted one on 127.0.0.1): whatever the
//! server sends, the run stays under 64 MiB peak RSS, ends within its deadlines, and says in
//! one line what went wrong, without the password. Plain text with `allow_plaintext`, and
//! implicit TLS when the loopback Dovecot's certificate is there
//! (`scripts/imap-test-server.sh start`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

mod proof;
#[path = "../../fetch/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::hostile::{HostileServer, Script};

const PEAK_RSS_LIMIT_KIB: u64 = 64 * 1024;
const PASSWORD: &str = "Hostile-Secret-9z";

/// The directory with the test CA and the server certificate, if the Dovecot script made one.
fn tls_dir() -> Option<PathBuf> {
    let ca = std::env::var_os("RUADB_TEST_IMAP_CA_FILE")?;
    let dir = Path::new(&ca).parent()?.to_owned();
    dir.join("server.key").is_file().then_some(dir)
}

struct Run {
    code: Option<i32>,
    stderr: String,
    rss_kib: Option<u64>,
    wall: Duration,
}

/// `ruadb fetch` against `server` with `imap_lines` added to its `[imap]` table.
fn fetch(server: &HostileServer, tls: Option<&Path>, imap_lines: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let transport = match tls {
        Some(tls) => format!(
            "tls = \"implicit\"\nca_file = {:?}\n",
            tls.join("ca.pem").display().to_string()
        ),
        None => "tls = \"none\"\nallow_plaintext = true\n".to_owned(),
    };
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "domains = [\"example.com\"]\n[identify]\ndns = false\n[imap]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"dmarc\"\n{transport}{imap_lines}\n",
            server.port
        ),
    )
    .unwrap();
    let mut command = Command::new(proof::RUADB);
    command
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(dir.path().join("ruadb.sqlite"))
        .arg("fetch")
        .env("RUADB_IMAP_PASSWORD", PASSWORD)
        .env_remove("RUADB_CONFIG")
        .env_remove("RUADB_DB");
    let started = Instant::now();
    let (output, rss_kib) = proof::run_measured(&command);
    Run {
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        rss_kib,
        wall: started.elapsed(),
    }
}

/// Exit `code`, the one failure line contains `expected`, no password, no raw control
/// character, bounded memory and time.
fn check(label: &str, run: &Run, code: i32, expected: &str, within: Duration) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |text: String| problems.push(format!("{label}: {text}\n{}", run.stderr));
    if run.code != Some(code) {
        problem(format!("exit {:?}, expected {code}", run.code));
    }
    let failures: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| !line.contains("warning") && !line.starts_with("fetched "))
        .collect();
    if failures.len() != 1 || !failures[0].contains(expected) {
        problem(format!("expected one line containing {expected:?}"));
    }
    if run.stderr.contains(PASSWORD) {
        problem("the password is on stderr".to_owned());
    }
    if run
        .stderr
        .chars()
        .any(|character| character.is_control() && character != '\n')
    {
        problem("a raw control character is on stderr".to_owned());
    }
    if let Some(rss) = run.rss_kib.filter(|&rss| rss > PEAK_RSS_LIMIT_KIB) {
        problem(format!("peak RSS {rss} KiB > {PEAK_RSS_LIMIT_KIB} KiB"));
    }
    if run.wall > within {
        problem(format!("took {:?}, more than {within:?}", run.wall));
    }
    eprintln!(
        "{label}: exit {:?}, peak RSS {:?} KiB, {:.1?}",
        run.code, run.rss_kib, run.wall
    );
    problems
}

/// Every case, over one transport.
fn every_case(tls: Option<&Path>) -> Vec<String> {
    let transport = if tls.is_some() { "tls" } else { "plain" };
    let quick = Duration::from_secs(30);
    let deadlines = "timeout_secs = 2\ncommand_deadline_secs = 3\n";
    let cases: [(&str, Script, &str, i32, &str, Duration); 14] = [
        (
            "endless line",
            Script::EndlessLine,
            "",
            2,
            "sent a line longer than 65536 bytes in reply to CAPABILITY",
            quick,
        ),
        (
            "a CAPABILITY line of short names just under the line cap",
            Script::ManyCapabilities(64 * 1024),
            "",
            1,
            "uid 1: no DMARC aggregate report found",
            quick,
        ),
        (
            "a SEARCH line of a million numbers just under the line cap",
            Script::ManyUids(2 * 1024 * 1024),
            "",
            1,
            "uid 1: no DMARC aggregate report found",
            quick,
        ),
        (
            "a SEARCH line over the line cap",
            Script::ManyUids(8 * 1024 * 1024),
            "",
            2,
            "sent a line longer than 2097152 bytes in reply to UID SEARCH",
            quick,
        ),
        (
            "untagged lines that never end",
            Script::Flood,
            "",
            2,
            "sent a reply of more than 50000 lines in reply to UID SEARCH",
            quick,
        ),
        (
            "oversized literal, size announced as 1000",
            Script::OversizedLiteral(100 * 1024 * 1024),
            "",
            1,
            "uid 1: the server sent 104857600 bytes, over the message size limit",
            quick,
        ),
        (
            "a 31 MiB body announced as 1000 bytes (under the size limit: read)",
            Script::OversizedLiteral(31 * 1024 * 1024),
            "",
            1,
            "uid 1: not a DMARC aggregate report",
            quick,
        ),
        (
            "trickle, command deadline",
            Script::Trickle,
            deadlines,
            2,
            "UID FETCH stopped: the command took longer than command_deadline_secs (3 s)",
            Duration::from_secs(15),
        ),
        (
            "trickle, run deadline",
            Script::Trickle,
            "timeout_secs = 2\nrun_deadline_secs = 3\n",
            2,
            "took longer than run_deadline_secs (3 s)",
            Duration::from_secs(15),
        ),
        (
            "garbage",
            Script::Garbage,
            "",
            2,
            r#"sent an unreadable reply to SELECT: "\u{1b}[31mHELLO\u{7} this is \u{0} not IMAP""#,
            quick,
        ),
        (
            "an untagged NO in the SELECT reply (the IMAP library panics on it)",
            Script::UntaggedNo,
            "",
            2,
            r#"sent an unreadable reply to SELECT: "* NO Mailbox is locked, will abort in 30 seconds""#,
            quick,
        ),
        (
            "echoing LOGIN",
            Script::EchoLogin,
            "",
            2,
            "was refused: [AUTHENTICATIONFAILED] refused: a1 LOGIN \"dmarc\" \"***\"",
            quick,
        ),
        (
            "mid-literal disconnect",
            Script::MidLiteralDisconnect,
            "",
            2,
            "connection to 127.0.0.1 lost during UID FETCH: the server closed the connection",
            quick,
        ),
        (
            "honest",
            Script::Honest,
            "",
            1,
            "uid 1: no DMARC aggregate report found",
            quick,
        ),
    ];
    let mut problems = Vec::new();
    for (label, script, lines, code, expected, within) in cases {
        let server = HostileServer::start(script, tls);
        let run = fetch(&server, tls, lines);
        problems.extend(check(
            &format!("{transport}: {label}"),
            &run,
            code,
            expected,
            within,
        ));
    }
    problems
}

#[test]
fn a_hostile_server_cannot_exhaust_memory_or_time_nor_leak_the_password() {
    let mut problems = every_case(None);
    match tls_dir() {
        Some(dir) => problems.extend(every_case(Some(&dir))),
        None => eprintln!(
            "skipping the TLS half: no server certificate (run `scripts/imap-test-server.sh start` and `eval \"$(scripts/imap-test-server.sh env)\"`)"
        ),
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
