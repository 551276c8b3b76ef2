//! `ruadb fetch` end to end against the loopback Dovecot (`scripts/imap-test-server.sh`): the
//! real binary, a real database, mail seeded with IMAP APPEND, the mailbox checked afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

#[path = "../../fetch/tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ruadb_fetch::Session;
use ruadb_store::{Store, Totals};
use serde_json::Value;
use support::authserver::{AuthServer, Client, Inject, REFRESH_PREFIX, Rotation};
use support::mail::{Packing, non_report_message, report_message};
use support::server::{TestServer, fresh_user};

const RUADB: &str = env!("CARGO_BIN_EXE_ruadb");

struct Fixture {
    server: TestServer,
    user: String,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(test: &str) -> Option<Fixture> {
        let server = TestServer::from_env(test)?;
        Some(Fixture {
            server,
            user: fresh_user(test),
            dir: tempfile::tempdir().unwrap(),
        })
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("ruadb.sqlite")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// Writes the configuration: the test server on `port` (implicit TLS, the test CA),
    /// `domains = ["example.com"]`, the login lines of the suite's mode
    /// (`RUADB_TEST_IMAP_AUTH`), plus `imap_lines` (e.g. `after_ingest = "move"`).
    fn configure_port(&self, port: u16, imap_lines: &str) {
        self.configure_login(port, &self.server.auth_lines(&self.user), imap_lines);
    }

    /// As [`Fixture::configure`], logging in with `auth_lines` whatever the suite's mode
    /// (empty: the password from `RUADB_IMAP_PASSWORD`).
    fn configure_login(&self, port: u16, auth_lines: &str, imap_lines: &str) {
        let text = format!(
            "db = {db:?}\ndomains = [\"example.com\"]\n[identify]\ndns = false\n\n[imap]\nhost = {host:?}\nport = {port}\n\
             username = {user:?}\nca_file = {ca:?}\ntimeout_secs = 10\n{auth_lines}{imap_lines}\n",
            db = self.db().display().to_string(),
            host = self.server.host,
            user = self.user,
            ca = self.server.ca_file.display().to_string(),
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    fn configure(&self, imap_lines: &str) {
        self.configure_port(self.server.port_tls, imap_lines);
    }

    /// As [`Fixture::configure`], logging in with a password whatever the suite's mode.
    fn configure_password(&self, imap_lines: &str) {
        self.configure_login(self.server.port_tls, "", imap_lines);
    }

    fn session(&self) -> Session {
        Session::connect(&self.server.config(&self.user)).unwrap()
    }

    /// Appends `count` report mails to INBOX (see [`seed_reports`]).
    fn seed_inbox(&self, prefix: &str, count: u32) {
        let mut session = self.session();
        seed_reports(&mut session, "INBOX", prefix, count);
        session.logout().unwrap();
    }

    /// Every seeded report stored exactly once and every mail moved to Archive.
    fn assert_all_stored_once_and_archived(&self, seeded: u32, message_count: u64) {
        let totals = self.totals();
        let expected = u64::from(seeded);
        assert_eq!(
            (totals.messages, totals.reports, totals.records),
            (expected, expected, expected),
            "{totals:?}"
        );
        assert_eq!(totals.message_count, message_count);
        assert_eq!(self.counts(&["INBOX", "Archive"]), vec![0, seeded]);
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(RUADB);
        command
            .arg("--config")
            .arg(self.config_path())
            .arg("fetch")
            .args(args)
            .env("RUADB_IMAP_PASSWORD", &self.server.password)
            .env_remove("RUADB_DB")
            .env_remove("RUADB_CONFIG");
        command
    }

    /// `ruadb fetch` with no `RUADB_IMAP_PASSWORD`: the configuration's sources only.
    fn fetch_without_password_variable(&self) -> Output {
        self.command(&[])
            .env_remove("RUADB_IMAP_PASSWORD")
            .output()
            .unwrap()
    }

    fn fetch(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `ruadb fetch --json`; returns (exit code, tally, stderr).
    fn fetch_json(&self) -> (i32, Value, String) {
        let output = self.fetch(&["--json"]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let tally = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|error| panic!("no JSON tally ({error}): {stdout}\nstderr: {stderr}"));
        (output.status.code().unwrap_or(-1), tally, stderr)
    }

    fn totals(&self) -> Totals {
        Store::open_read_only(&self.db()).unwrap().totals().unwrap()
    }

    /// Message counts of mailboxes, as the server sees them.
    fn counts(&self, mailboxes: &[&str]) -> Vec<u32> {
        let mut session = self.session();
        let counts = mailboxes
            .iter()
            .map(|mailbox| match session.select(mailbox) {
                Ok(state) => state.exists,
                Err(ruadb_fetch::FetchError::NoMailbox { .. }) => 0,
                Err(error) => panic!("{mailbox}: {error}"),
            })
            .collect();
        session.logout().unwrap();
        counts
    }
}

/// Five report mails (gzip, zip, XML, odd MIME, bare gzip; 3+1+2+5+4 = 15 messages reported)
/// and one mail without a report.
fn seed_mixed(session: &mut Session, mailbox: &str) {
    let reports = [
        (Packing::Gzip, "google.com", "r1", "192.0.2.1", 3),
        (Packing::Zip, "outlook.com", "r2", "198.51.100.7", 1),
        (Packing::Xml, "yahoo.com", "r3", "203.0.113.9", 2),
        (Packing::OddMime, "mail.ru", "r4", "192.0.2.44", 5),
        (Packing::BareGzip, "example.net", "r5", "198.51.100.200", 4),
    ];
    for (packing, org, id, ip, count) in reports {
        session
            .append(
                mailbox,
                &report_message(packing, org, id, "example.com", ip, count),
            )
            .unwrap();
    }
    session
        .append(mailbox, &non_report_message("question"))
        .unwrap();
}

fn seed_reports(session: &mut Session, mailbox: &str, prefix: &str, count: u32) {
    for index in 0..count {
        let packing = [Packing::Gzip, Packing::Zip, Packing::Xml][index as usize % 3];
        let ip = format!("203.0.113.{}", index % 250 + 1);
        let message = report_message(
            packing,
            "example.net",
            &format!("{prefix}-{index}"),
            "example.com",
            &ip,
            index % 5 + 1,
        );
        session.append(mailbox, &message).unwrap();
    }
}

/// Sum of `index % 5 + 1` over `0..count`: the message count `seed_reports` reports.
fn seeded_message_count(count: u32) -> u64 {
    (0..count).map(|index| u64::from(index % 5 + 1)).sum()
}

fn number(tally: &Value, key: &str) -> u64 {
    tally[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {tally}"))
}

fn assert_mixed_totals(fixture: &Fixture) {
    let totals = fixture.totals();
    assert_eq!(totals.messages, 6);
    assert_eq!(totals.reports, 5);
    assert_eq!(totals.records, 5);
    assert_eq!(totals.message_count, 15);
}

#[test]
fn keep_stores_everything_once_and_leaves_the_mailbox_alone() {
    let Some(fixture) = Fixture::new("cli-keep") else {
        return;
    };
    fixture.configure("batch_size = 2");
    let mut session = fixture.session();
    seed_mixed(&mut session, "INBOX");

    let (code, tally, stderr) = fixture.fetch_json();
    // The mail without a report is named and makes the run "partly failed", as in `ingest`.
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(number(&tally, "messages"), 6, "{tally}");
    assert_eq!(number(&tally, "reports_new"), 5);
    assert_eq!(number(&tally, "records"), 5);
    assert_eq!(number(&tally, "errors"), 1);
    assert!(stderr.contains("INBOX uid 6:"), "{stderr}");
    assert!(
        stderr.contains("fetched 6 messages: 5 new reports"),
        "{stderr}"
    );
    assert_mixed_totals(&fixture);

    session.select("INBOX").unwrap();
    let uids = session.uids_after(0).unwrap();
    assert_eq!(uids.len(), 6);
    let flags = session.flags(&uids).unwrap();
    assert!(
        flags
            .iter()
            .all(|(_, flags)| !flags.iter().any(|flag| flag == "\\Seen")),
        "{flags:?}"
    );

    // The cursor makes the second run a no-op.
    let (code, tally, stderr) = fixture.fetch_json();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(number(&tally, "messages"), 0, "{tally}");
    assert_mixed_totals(&fixture);

    // New mail after that: only it is fetched.
    seed_reports(&mut session, "INBOX", "later", 3);
    let (code, tally, _) = fixture.fetch_json();
    assert_eq!((code, number(&tally, "messages")), (0, 3));
    assert_eq!(fixture.totals().reports, 8);
}

fn all_seen(session: &mut Session) -> bool {
    session.select("INBOX").unwrap();
    let uids = session.uids_after(0).unwrap();
    let flags = session.flags(&uids).unwrap();
    flags
        .iter()
        .all(|(_, flags)| flags.iter().any(|flag| flag == "\\Seen"))
}

#[test]
fn seen_marks_stored_messages_including_ones_stored_before() {
    let Some(fixture) = Fixture::new("cli-seen") else {
        return;
    };
    let mut session = fixture.session();
    seed_mixed(&mut session, "INBOX");
    // Stored in keep mode first: the cursor is past them and none is seen.
    fixture.configure("");
    let (_, tally, _) = fixture.fetch_json();
    assert_eq!(number(&tally, "reports_new"), 5);
    assert!(!all_seen(&mut session));

    // In seen mode, unseen mail below the cursor is stored mail whose flag is missing (as
    // after a run killed between commit and STORE): it is flagged, not counted again.
    fixture.configure("after_ingest = \"seen\"");
    let (_, tally, _) = fixture.fetch_json();
    assert_eq!(number(&tally, "messages"), 6, "{tally}");
    assert_eq!(number(&tally, "reports_new"), 0, "{tally}");
    assert!(all_seen(&mut session));
    assert_mixed_totals(&fixture);

    seed_reports(&mut session, "INBOX", "seen", 2);
    let (code, tally, _) = fixture.fetch_json();
    assert_eq!(
        (
            code,
            number(&tally, "messages"),
            number(&tally, "reports_new")
        ),
        (0, 2, 2)
    );
    assert!(all_seen(&mut session));
    let (code, tally, _) = fixture.fetch_json();
    assert_eq!((code, number(&tally, "messages")), (0, 0));
    assert_eq!(fixture.totals().reports, 7);
}

#[test]
fn move_archives_reports_and_sets_aside_the_rest() {
    let Some(fixture) = Fixture::new("cli-move") else {
        return;
    };
    fixture
        .configure("after_ingest = \"move\"\narchive_mailbox = \"Archive/dmarc\"\nbatch_size = 4");
    let mut session = fixture.session();
    seed_mixed(&mut session, "INBOX");
    session.logout().unwrap();

    let (code, tally, stderr) = fixture.fetch_json();
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(number(&tally, "reports_new"), 5);
    assert_mixed_totals(&fixture);
    assert_eq!(
        fixture.counts(&["INBOX", "Archive/dmarc", "Invalid"]),
        vec![0, 5, 1]
    );

    let (code, tally, _) = fixture.fetch_json();
    assert_eq!((code, number(&tally, "messages")), (0, 0));
    assert_mixed_totals(&fixture);
}

/// A fixture mail with CRLF line ends, so that the server keeps its bytes as they are.
fn crlf_fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/failure")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    text.replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

/// A mailbox mixing an aggregate report, an ARF failure report, Exim's text-only notice and
/// a mail that is none: both failure reports are stored (private) and archived like reports.
#[test]
fn failure_reports_are_stored_and_archived_beside_aggregate_reports() {
    let Some(fixture) = Fixture::new("cli-failure") else {
        return;
    };
    fixture.configure("after_ingest = \"move\"");
    let mut session = fixture.session();
    session
        .append(
            "INBOX",
            &report_message(
                Packing::Gzip,
                "google.com",
                "f1",
                "example.com",
                "192.0.2.1",
                3,
            ),
        )
        .unwrap();
    for name in ["arf-dmarc-all-fields.eml", "text-notice.eml"] {
        session.append("INBOX", &crlf_fixture(name)).unwrap();
    }
    session
        .append("INBOX", &non_report_message("question"))
        .unwrap();
    session.logout().unwrap();

    let (code, tally, stderr) = fixture.fetch_json();
    assert_eq!(code, 1, "the non-report mail: {stderr}");
    assert_eq!(number(&tally, "reports_new"), 1);
    assert_eq!(number(&tally, "failure_reports_new"), 2);
    assert_eq!(
        fixture.counts(&["INBOX", "Archive", "Invalid"]),
        vec![0, 3, 1]
    );
    let store = Store::open_read_only(&fixture.db()).unwrap();
    let mut rows = Vec::new();
    store
        .query(
            "SELECT reported_domain, source_ip, format, subject FROM failure_reports
             ORDER BY arrival_utc",
            &mut |row| {
                rows.push(format!("{row:?}"));
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        rows,
        [
            r#"[Text("example.com"), Text("192.0.2.77"), Text("arf"), Null]"#,
            r#"[Text("example.com"), Text("192.0.2.200"), Text("text"), Null]"#,
        ]
    );

    let (code, tally, _) = fixture.fetch_json();
    assert_eq!((code, number(&tally, "messages")), (0, 0));
}

/// A mailbox mixing the three kinds of report mail: DMARC aggregate reports, SMTP TLS reports
/// (the fixture mail and a generated one) and a DMARC failure report.
#[test]
fn a_mailbox_of_aggregate_tls_and_failure_reports() {
    let Some(fixture) = Fixture::new("cli-tlsrpt") else {
        return;
    };
    fixture.configure("after_ingest = \"move\"\narchive_mailbox = \"Archive\"\nbatch_size = 3");
    let mut session = fixture.session();
    seed_mixed(&mut session, "INBOX");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixture_mail =
        std::fs::read(root.join("fixtures/tlsrpt/microsoft-2026-11-18.eml")).unwrap();
    session.append("INBOX", &fixture_mail).unwrap();
    let (report, _) = ruadb_testgen::tlsrpt::tls_report(3, &mut ruadb_testgen::Rng::new(5));
    let json = serde_json::to_vec(&report).unwrap();
    let mut generated = Vec::new();
    ruadb_testgen::tlsrpt::write_tls_message(
        &mut generated,
        "generated",
        &ruadb_testgen::wrap::gzip(&json).unwrap(),
    )
    .unwrap();
    session.append("INBOX", &generated).unwrap();
    let failure_report =
        std::fs::read(root.join("fixtures/messages/failure-report-arf.eml")).unwrap();
    session.append("INBOX", &failure_report).unwrap();
    session.logout().unwrap();

    let (code, tally, stderr) = fixture.fetch_json();
    // The mail without a report is named: a partial failure.
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(number(&tally, "messages"), 9, "{tally}");
    assert_eq!(number(&tally, "reports_new"), 5, "{tally}");
    assert_eq!(number(&tally, "tls_reports_new"), 2, "{tally}");
    assert_eq!(number(&tally, "failure_reports_new"), 1, "{tally}");
    assert_eq!(number(&tally, "errors"), 1, "{tally}");
    // `domains` is example.com: each TLS report keeps its example.com policy only.
    assert_mixed_totals_with_tls(&fixture, 2);
    // TLS and failure report mail is stored, so it is archived like aggregate report mail.
    assert_eq!(
        fixture.counts(&["INBOX", "Archive", "Invalid"]),
        vec![0, 8, 1]
    );

    let (code, tally, _) = fixture.fetch_json();
    assert_eq!((code, number(&tally, "messages")), (0, 0));
    assert_mixed_totals_with_tls(&fixture, 2);
}

fn assert_mixed_totals_with_tls(fixture: &Fixture, policies: u64) {
    let totals = fixture.totals();
    assert_eq!(
        (totals.reports, totals.records, totals.message_count),
        (5, 5, 15)
    );
    let output = Command::new(RUADB)
        .arg("--config")
        .arg(fixture.config_path())
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT count(*) FROM tls_policy_outcomes",
        ])
        .env_remove("RUADB_DB")
        .env_remove("RUADB_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().nth(1),
        Some(policies.to_string().as_str()),
        "{stdout}"
    );
}

/// A report mail with two XML attachments: a report for `example.com` and one for a domain
/// not in `domains` (CRLF throughout, so the server keeps the bytes as they are).
fn accepted_and_rejected_report_message() -> Vec<u8> {
    let mut message = String::from(
        "From: dmarc@example.net\r\nTo: dmarc@example.com\r\nSubject: Report domain: example.com\r\n\
         Message-ID: <two-reports@example.net>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
    );
    for (id, domain) in [("kept", "example.com"), ("refused", "example.org")] {
        message.push_str(&format!(
            "--b\r\nContent-Type: text/xml\r\n\
             Content-Disposition: attachment; filename=\"{id}.xml\"\r\n\r\n{}\r\n",
            support::mail::report_xml("example.net", id, domain, "192.0.2.7", 2)
        ));
    }
    message.push_str("--b--\r\n");
    message.into_bytes()
}

/// Mail whose report an earlier run stored (here `ruadb ingest` of the same bytes) is
/// archived like new report mail, never set aside as holding no report, even when it also
/// held a rejected report.
#[test]
fn mail_stored_by_an_earlier_run_is_archived_not_set_aside() {
    let Some(fixture) = Fixture::new("cli-stored-before") else {
        return;
    };
    fixture.configure("after_ingest = \"move\"");
    let message = accepted_and_rejected_report_message();
    let file = fixture.dir.path().join("two-reports.eml");
    std::fs::write(&file, &message).unwrap();
    let ingested = Command::new(RUADB)
        .arg("--config")
        .arg(fixture.config_path())
        .arg("ingest")
        .arg(&file)
        .env_remove("RUADB_DB")
        .env_remove("RUADB_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ingested.stderr);
    assert!(stderr.contains("1 new report"), "{stderr}");
    let mut session = fixture.session();
    session.append("INBOX", &message).unwrap();
    session.logout().unwrap();

    let (_, tally, stderr) = fixture.fetch_json();
    assert_eq!(
        (number(&tally, "messages"), number(&tally, "reports_new")),
        (1, 0),
        "{stderr}"
    );
    assert_eq!(
        fixture.counts(&["INBOX", "Archive", "Invalid"]),
        vec![0, 1, 0],
        "{stderr}"
    );
    assert_eq!(fixture.totals().reports, 1);
}

#[test]
fn delete_removes_stored_messages_only() {
    let Some(fixture) = Fixture::new("cli-delete") else {
        return;
    };
    fixture.configure("after_ingest = \"delete\"\ninvalid_mailbox = \"NoReport\"");
    let mut session = fixture.session();
    seed_mixed(&mut session, "INBOX");
    session.logout().unwrap();

    let (code, tally, _) = fixture.fetch_json();
    assert_eq!((code, number(&tally, "reports_new")), (1, 5));
    assert_mixed_totals(&fixture);
    // Mail without a report is never deleted: it is set aside.
    assert_eq!(fixture.counts(&["INBOX", "NoReport"]), vec![0, 1]);
    let (code, tally, _) = fixture.fetch_json();
    assert_eq!((code, number(&tally, "messages")), (0, 0));
}

#[test]
fn uidvalidity_change_rescans_without_double_counting() {
    let Some(fixture) = Fixture::new("cli-uidvalidity") else {
        return;
    };
    fixture.configure("mailbox = \"Reports\"");
    let mut session = fixture.session();
    session.ensure_mailbox("Reports").unwrap();
    seed_reports(&mut session, "Reports", "uv", 4);
    let (code, tally, _) = fixture.fetch_json();
    assert_eq!((code, number(&tally, "reports_new")), (0, 4));

    // The mailbox is recreated (as after a server migration): same mail, new UIDVALIDITY,
    // UIDs from 1 again, plus one new report.
    session.select("INBOX").unwrap();
    session.delete_mailbox("Reports").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    session.ensure_mailbox("Reports").unwrap();
    seed_reports(&mut session, "Reports", "uv", 5);

    let (code, tally, stderr) = fixture.fetch_json();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("UIDVALIDITY changed"), "{stderr}");
    assert_eq!(number(&tally, "messages"), 5, "{tally}");
    assert_eq!(number(&tally, "reports_new"), 1, "{tally}");
    let totals = fixture.totals();
    assert_eq!(totals.reports, 5);
    assert_eq!(totals.message_count, seeded_message_count(5));

    let (_, tally, _) = fixture.fetch_json();
    assert_eq!(number(&tally, "messages"), 0);
}

/// A TCP relay to the test server that cuts its first connection after `cut_after` bytes from
/// the server, as a server that dies mid-fetch would; later connections pass untouched.
fn start_cutting_relay(target_port: u16, cut_after: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let first = connections.fetch_add(1, Ordering::SeqCst) == 0;
            let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                break;
            };
            let limit = if first { cut_after } else { usize::MAX };
            let (client_reader, server_writer) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(client_reader, server_writer, usize::MAX));
            std::thread::spawn(move || pump(server, client, limit));
        }
    });
    port
}

fn pump(mut from: TcpStream, mut to: TcpStream, limit: usize) {
    let mut buffer = [0u8; 4096];
    let mut sent = 0usize;
    while let Ok(read) = from.read(&mut buffer) {
        if read == 0 {
            break;
        }
        let allowed = read.min(limit - sent);
        if to.write_all(&buffer[..allowed]).is_err() {
            break;
        }
        sent += allowed;
        if sent >= limit {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

#[test]
fn connection_lost_mid_fetch_keeps_what_was_committed_and_the_rerun_completes() {
    let Some(fixture) = Fixture::new("cli-lost") else {
        return;
    };
    fixture.seed_inbox("lost", 30);
    // About 1.7 KB per message: the cut lands after a few batches of 4.
    let relay = start_cutting_relay(fixture.server.port_tls, 20_000);
    fixture.configure_port(relay, "after_ingest = \"move\"\nbatch_size = 4");

    let output = fixture.fetch(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("lost"), "{stderr}");
    assert!(stderr.contains("the next run resumes"), "{stderr}");
    let partial = fixture.totals();
    assert!(
        partial.reports > 0 && partial.reports < 30,
        "some batches committed before the cut: {partial:?}"
    );
    let [inbox, archive] = fixture.counts(&["INBOX", "Archive"])[..] else {
        unreachable!()
    };
    assert_eq!(inbox + archive, 30);
    assert!(u64::from(archive) <= partial.reports);

    let (code, tally, stderr) = fixture.fetch_json();
    assert_eq!(code, 0, "{stderr}");
    assert!(number(&tally, "messages") >= 30 - u64::from(archive));
    fixture.assert_all_stored_once_and_archived(30, seeded_message_count(30));
}

#[test]
fn overlapping_runs_store_everything_exactly_once() {
    let Some(fixture) = Fixture::new("cli-overlap") else {
        return;
    };
    fixture.configure("after_ingest = \"move\"\nbatch_size = 5");
    fixture.seed_inbox("overlap", 40);

    let runs: Vec<_> = (0..3)
        .map(|_| {
            fixture
                .command(&[])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let output = run.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
    }
    fixture.assert_all_stored_once_and_archived(40, seeded_message_count(40));
}

#[test]
fn a_held_lock_makes_the_second_run_exit_cleanly_or_wait() {
    let Some(fixture) = Fixture::new("cli-lock") else {
        return;
    };
    fixture.configure("");
    fixture.seed_inbox("lock", 2);

    let mut lock_path = fixture.db().into_os_string();
    lock_path.push(".fetch.lock");
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();

    let output = fixture.fetch(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("another `ruadb fetch` is running"),
        "{stderr}"
    );
    assert!(!fixture.db().exists() || fixture.totals().reports == 0);

    let waiting = fixture
        .command(&["--wait"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(lock);
    let output = waiting.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(fixture.totals().reports, 2);
}

#[test]
fn dry_run_stores_nothing_and_changes_nothing() {
    let Some(fixture) = Fixture::new("cli-dry") else {
        return;
    };
    fixture.configure("after_ingest = \"move\"");
    let mut session = fixture.session();
    seed_mixed(&mut session, "INBOX");
    session.logout().unwrap();

    let output = fixture.fetch(&["--dry-run", "--json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let tally: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(number(&tally, "reports_new"), 5);
    assert!(stderr.contains("dry run"), "{stderr}");
    assert!(!fixture.db().exists(), "a dry run creates no database");
    assert_eq!(
        fixture.counts(&["INBOX", "Archive", "Invalid"]),
        vec![6, 0, 0]
    );

    // On an existing database it rolls back: the real run still finds everything new.
    let (_, tally, _) = fixture.fetch_json();
    assert_eq!(number(&tally, "reports_new"), 5);
    assert_mixed_totals(&fixture);
}

#[test]
fn password_from_file_or_command() {
    let Some(fixture) = Fixture::new("cli-password") else {
        return;
    };
    let password_file = fixture.dir.path().join("password");
    std::fs::write(&password_file, format!("{}\n", fixture.server.password)).unwrap();
    fixture.configure_password(&format!(
        "password_file = {:?}",
        password_file.display().to_string()
    ));
    let output = fixture.fetch_without_password_variable();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    fixture.configure_password(&format!(
        "password_command = \"cat '{}'\"",
        password_file.display()
    ));
    let output = fixture.fetch_without_password_variable();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    fixture.configure_password("");
    let output = fixture.fetch_without_password_variable();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("RUADB_IMAP_PASSWORD"), "{stderr}");
}

/// One line on stderr, exit 2, and nothing that resembles the password.
fn assert_one_line_failure(output: &Output, expected: &str, password: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.contains("warning"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("ruadb: "), "{stderr}");
    assert!(lines[0].contains(expected), "{stderr}");
    assert!(!stderr.contains(password), "{stderr}");
}

/// `auth = "xoauth2"` with `oauth2_token_command = command` (the server's mechanisms are
/// the same for both OAuth methods; the suite's OAuth modes cover OAUTHBEARER).
fn oauth_lines(command: &str) -> String {
    format!("auth = \"xoauth2\"\noauth2_token_command = {command:?}\n")
}

#[test]
fn a_token_that_expired_on_the_way_is_replaced_once_and_the_run_completes() {
    let Some(fixture) = Fixture::new("cli-oauth-retry") else {
        return;
    };
    fixture.seed_inbox("retry", 3);
    let calls = fixture.dir.path().join("calls");
    // The first token has expired by the time it is used; later ones are fresh.
    let command = format!(
        "echo >> '{calls}'; if [ $(wc -l < '{calls}') -eq 1 ]; then {expired}; else {fresh}; fi",
        calls = calls.display(),
        expired = fixture.server.token_command(&fixture.user, -30),
        fresh = fixture.server.token_command(&fixture.user, 600),
    );
    fixture.configure_login(fixture.server.port_tls, &oauth_lines(&command), "");
    let (code, tally, stderr) = fixture.fetch_json();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(number(&tally, "reports_new"), 3, "{stderr}");
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 2);
}

#[test]
fn a_refused_token_or_a_failing_token_command_exits_2_with_the_mailbox_untouched() {
    let Some(fixture) = Fixture::new("cli-oauth-refused") else {
        return;
    };
    fixture.seed_inbox("refused", 2);
    fixture.configure_login(
        fixture.server.port_tls,
        &oauth_lines(&fixture.server.token_command(&fixture.user, -30)),
        "after_ingest = \"delete\"",
    );
    let output = fixture.fetch_without_password_variable();
    // Every token the command prints is a JWT, and none may be repeated.
    assert_one_line_failure(&output, "token refused: status 401", "eyJ");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("(token invalid, expired or revoked)"),
        "{stderr}"
    );

    // What a helper whose refresh token was revoked does: explain on stderr, exit non-zero.
    fixture.configure_login(
        fixture.server.port_tls,
        &oauth_lines("echo 'error: invalid_grant' >&2; exit 3"),
        "after_ingest = \"delete\"",
    );
    let output = fixture.fetch_without_password_variable();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: invalid_grant"), "{stderr}");
    assert!(
        stderr.contains(
            "ruadb: OAuth 2.0 access token: oauth2_token_command failed (exit status: 3)"
        ),
        "{stderr}"
    );
    assert!(!fixture.db().exists() || fixture.totals().messages == 0);
    assert_eq!(fixture.counts(&["INBOX"]), vec![2]);
}

/// The built-in client against the stand-in authorisation server: app-only access
/// (`grant = "client_credentials"`), the client secret in a file.
struct BuiltIn {
    auth: AuthServer,
    secret: String,
}

impl BuiltIn {
    fn start(fixture: &Fixture, expires_in: i64) -> BuiltIn {
        let secret = "cl13nt-s3cret-value".to_owned();
        let auth = AuthServer::start(
            &fixture.server,
            Client {
                id: "ruadb-test".to_owned(),
                secret: secret.clone(),
                user: fixture.user.clone(),
                scopes: vec!["https://imap.example.test/.default".to_owned()],
                token_scope: support::oauth::SCOPE.to_owned(),
                expires_in,
            },
        );
        let secret_file = fixture.dir.path().join("client-secret");
        std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
        let built_in = BuiltIn { auth, secret };
        built_in.configure(fixture, "https://imap.example.test/.default");
        built_in
    }

    fn configure(&self, fixture: &Fixture, scope: &str) {
        let table = format!(
            "[imap.oauth2]\nprovider = \"custom\"\nclient_id = \"ruadb-test\"\n\
             client_secret_file = {:?}\ntoken_url = {:?}\nscope = {scope:?}\n\
             grant = \"client_credentials\"\n",
            fixture
                .dir
                .path()
                .join("client-secret")
                .display()
                .to_string(),
            self.auth.token_url(),
        );
        fixture.configure_login(fixture.server.port_tls, "auth = \"oauthbearer\"\n", &table);
    }

    fn token_file(fixture: &Fixture) -> PathBuf {
        PathBuf::from(format!("{}.oauth2.json", fixture.db().display()))
    }

    /// A run that must succeed; the secrets stay out of its output and of the token file.
    fn fetch_ok(&self, fixture: &Fixture) -> Value {
        let (code, tally, stderr) = fixture.fetch_json();
        assert_eq!(code, 0, "{stderr}");
        assert!(
            !stderr.contains(&self.secret) && !stderr.contains("eyJ"),
            "{stderr}"
        );
        let file = std::fs::read_to_string(Self::token_file(fixture)).unwrap();
        assert!(!file.contains(&self.secret), "{file}");
        tally
    }
}

#[test]
fn client_credentials_token_is_obtained_kept_0600_and_reused_until_near_expiry() {
    let Some(fixture) = Fixture::new("cli-oauth-cc") else {
        return;
    };
    fixture.seed_inbox("cc", 2);
    let built_in = BuiltIn::start(&fixture, 3600);
    let tally = built_in.fetch_ok(&fixture);
    assert_eq!(number(&tally, "reports_new"), 2);
    assert_eq!(built_in.auth.tokens_issued(), 1);
    let mode = std::fs::metadata(BuiltIn::token_file(&fixture))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The cached token is reused.
    built_in.fetch_ok(&fixture);
    assert_eq!(built_in.auth.tokens_issued(), 1);

    // A cached token the server no longer accepts (revoked): one fresh token, one retry.
    let path = BuiltIn::token_file(&fixture);
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("eyJ").unwrap();
    let end = start + text[start..].find('"').unwrap();
    std::fs::write(&path, format!("{}revoked{}", &text[..start], &text[end..])).unwrap();
    fixture.seed_inbox("cc-later", 1);
    let tally = built_in.fetch_ok(&fixture);
    assert_eq!(number(&tally, "reports_new"), 1);
    assert_eq!(built_in.auth.tokens_issued(), 2);

    // A token file others may read is refused, and nothing is touched.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = fixture.fetch(&[]);
    assert_one_line_failure(
        &output,
        "group or other users may access it (mode 644)",
        "eyJ",
    );
}

#[test]
fn a_token_that_expires_within_a_minute_is_replaced_on_every_run() {
    let Some(fixture) = Fixture::new("cli-oauth-short") else {
        return;
    };
    let built_in = BuiltIn::start(&fixture, 45);
    built_in.fetch_ok(&fixture);
    built_in.fetch_ok(&fixture);
    assert_eq!(built_in.auth.tokens_issued(), 2);
}

#[test]
fn a_token_endpoint_under_load_is_retried_within_timeout_secs_then_given_up() {
    let Some(fixture) = Fixture::new("cli-oauth-busy") else {
        return;
    };
    fixture.seed_inbox("busy", 1);
    let built_in = BuiltIn::start(&fixture, 3600);
    built_in
        .auth
        .inject(&[Inject::Status(429, Some(1)), Inject::Status(503, None)]);
    let tally = built_in.fetch_ok(&fixture);
    assert_eq!(number(&tally, "reports_new"), 1);
    assert_eq!(built_in.auth.requests(), 3);

    // Down for longer than timeout_secs (10 s here): exit 2 within it, mail untouched.
    std::fs::remove_file(BuiltIn::token_file(&fixture)).unwrap();
    fixture.seed_inbox("busy-later", 1);
    built_in
        .auth
        .inject(&vec![Inject::Status(503, Some(2)); 20]);
    let started = std::time::Instant::now();
    let output = fixture.fetch(&[]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_one_line_failure(
        &output,
        "gave no token within 10 s (timeout_secs): HTTP 503",
        "eyJ",
    );

    // A stalled endpoint is cut off too.
    built_in
        .auth
        .inject(&[Inject::Stall(Duration::from_secs(30))]);
    let started = std::time::Instant::now();
    let output = fixture.fetch(&[]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_one_line_failure(&output, "gave no token within 10 s", "eyJ");
    assert_eq!(fixture.totals().messages, 1);
}

#[test]
fn a_refused_client_or_scope_is_one_line_and_exit_2() {
    let Some(fixture) = Fixture::new("cli-oauth-client") else {
        return;
    };
    fixture.seed_inbox("client", 1);
    let built_in = BuiltIn::start(&fixture, 3600);
    built_in.auth.inject(&[Inject::Error("invalid_client")]);
    let output = fixture.fetch(&[]);
    assert_one_line_failure(
        &output,
        "refused the request: invalid_client (injected by the test)",
        &built_in.secret,
    );
    built_in.configure(&fixture, "https://calendar.example.test/.default");
    let output = fixture.fetch(&[]);
    assert_one_line_failure(
        &output,
        "refused the request: invalid_scope",
        &built_in.secret,
    );
    assert!(!fixture.db().exists() || fixture.totals().messages == 0);
    assert_eq!(fixture.counts(&["INBOX"]), vec![1]);
}

/// Delegated access (`grant = "refresh_token"`) against the stand-in: a public client
/// (no secret), as Microsoft's and Google's desktop registrations are.
struct Delegated {
    auth: AuthServer,
}

/// The scope the delegated client asks for: the mail scope and a refresh token.
const DELEGATED_SCOPE: &str = "https://imap.example.test/ offline_access";

impl Delegated {
    fn start(fixture: &Fixture, expires_in: i64) -> Delegated {
        Self::start_granting(fixture, expires_in, DELEGATED_SCOPE)
    }

    /// As [`Delegated::start`], the client allowed `scopes` (space-separated).
    fn start_granting(fixture: &Fixture, expires_in: i64, scopes: &str) -> Delegated {
        let auth = AuthServer::start(
            &fixture.server,
            Client {
                id: "ruadb-public".to_owned(),
                secret: String::new(),
                user: fixture.user.clone(),
                scopes: scopes.split(' ').map(str::to_owned).collect(),
                token_scope: support::oauth::SCOPE.to_owned(),
                expires_in,
            },
        );
        let delegated = Delegated { auth };
        delegated.configure(fixture, "");
        delegated
    }

    /// `[imap.oauth2]` for the stand-in, plus `lines` (e.g. a login endpoint).
    fn configure(&self, fixture: &Fixture, lines: &str) {
        let table = format!(
            "[imap.oauth2]\nprovider = \"custom\"\nclient_id = \"ruadb-public\"\n\
             token_url = {:?}\nscope = {DELEGATED_SCOPE:?}\ngrant = \"refresh_token\"\n{lines}",
            self.auth.token_url(),
        );
        fixture.configure_login(fixture.server.port_tls, &Self::auth_line(fixture), &table);
    }

    /// The suite's OAuth mechanism (`RUADB_TEST_IMAP_AUTH`), XOAUTH2 in password mode.
    fn auth_line(fixture: &Fixture) -> String {
        let method = match fixture.server.auth {
            support::server::Auth::OAuth(method) => method,
            support::server::Auth::Password => ruadb_fetch::AuthMethod::Xoauth2,
        };
        format!("auth = \"{method}\"\n")
    }

    fn account(fixture: &Fixture) -> String {
        format!(
            "{}@{}:{}",
            fixture.user, fixture.server.host, fixture.server.port_tls
        )
    }

    /// What `auth login` would have left: a refresh token the server issued, in the token
    /// file (0600).
    fn authorised(&self, fixture: &Fixture) -> String {
        let token = self.auth.issue_refresh_token();
        let path = BuiltIn::token_file(fixture);
        let mut file = ruadb_oauth::TokenFile::read(&path).unwrap();
        file.set_account(
            &Self::account(fixture),
            ruadb_oauth::AccountTokens {
                refresh_token: Some(ruadb_fetch::Secret::new(token.clone())),
                ..Default::default()
            },
        );
        file.write(&path).unwrap();
        token
    }

    fn stored(fixture: &Fixture) -> ruadb_oauth::AccountTokens {
        ruadb_oauth::TokenFile::read(&BuiltIn::token_file(fixture))
            .unwrap()
            .account(&Self::account(fixture))
            .unwrap_or_default()
    }

    fn stored_refresh_token(fixture: &Fixture) -> String {
        Self::stored(fixture)
            .refresh_token
            .map(|token| token.expose().to_owned())
            .unwrap_or_default()
    }

    /// A run that must succeed; no token appears in its output.
    fn fetch_ok(fixture: &Fixture) -> Value {
        let (code, tally, stderr) = fixture.fetch_json();
        assert_eq!(code, 0, "{stderr}");
        assert!(
            !stderr.contains(REFRESH_PREFIX) && !stderr.contains("eyJ"),
            "{stderr}"
        );
        tally
    }
}

#[test]
fn a_refresh_token_is_rotated_saved_0600_and_the_access_token_reused() {
    let Some(fixture) = Fixture::new("cli-oauth-rt") else {
        return;
    };
    fixture.seed_inbox("rt", 2);
    let delegated = Delegated::start(&fixture, 3600);
    let first = delegated.authorised(&fixture);
    let tally = Delegated::fetch_ok(&fixture);
    assert_eq!(number(&tally, "reports_new"), 2);
    assert_eq!(delegated.auth.tokens_issued(), 1);
    // Rotated: the file holds the new refresh token; the old one is dead (strict rotation).
    let rotated = Delegated::stored_refresh_token(&fixture);
    assert_ne!(rotated, first);
    assert_eq!(Some(rotated), delegated.auth.latest_refresh_token());
    assert!(!delegated.auth.refresh_token_valid(&first));
    let mode = std::fs::metadata(BuiltIn::token_file(&fixture))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The access token is reused: no request at all.
    Delegated::fetch_ok(&fixture);
    assert_eq!(delegated.auth.requests(), 1);

    // The rotated refresh token is saved before its access token is used: a run whose
    // tokens the mail server refuses (wrong scope) still leaves the newest refresh token.
    delegated
        .auth
        .set_token_scope("https://calendar.example.test/");
    let mut stored = Delegated::stored(&fixture);
    stored.access_token = None;
    let mut file = ruadb_oauth::TokenFile::read(&BuiltIn::token_file(&fixture)).unwrap();
    file.set_account(&Delegated::account(&fixture), stored);
    file.write(&BuiltIn::token_file(&fixture)).unwrap();
    let output = fixture.fetch(&[]);
    assert_one_line_failure(&output, "token refused", "eyJ");
    // One token, refused; one refresh and one retry, refused again; no third.
    assert_eq!(delegated.auth.tokens_issued(), 3);
    let newest = Delegated::stored_refresh_token(&fixture);
    assert_eq!(Some(newest.clone()), delegated.auth.latest_refresh_token());
    assert!(delegated.auth.refresh_token_valid(&newest));
}

#[test]
fn a_refresh_token_that_is_not_rotated_is_kept() {
    let Some(fixture) = Fixture::new("cli-oauth-rt-kept") else {
        return;
    };
    let delegated = Delegated::start(&fixture, 30);
    delegated.auth.set_rotation(Rotation::Never);
    let token = delegated.authorised(&fixture);
    Delegated::fetch_ok(&fixture);
    Delegated::fetch_ok(&fixture);
    assert_eq!(delegated.auth.tokens_issued(), 2);
    assert_eq!(Delegated::stored_refresh_token(&fixture), token);
    assert!(Delegated::stored(&fixture).access_token.is_some());
}

#[test]
fn an_access_token_dead_before_its_time_or_expired_between_runs_is_refreshed() {
    let Some(fixture) = Fixture::new("cli-oauth-rt-expiry") else {
        return;
    };
    fixture.seed_inbox("rt-expiry", 1);
    let delegated = Delegated::start(&fixture, 3600);
    delegated.authorised(&fixture);
    // The tokens say an hour but die after 2 s: the cached one is refused at AUTHENTICATE
    // by the next run; one refresh, one retry, and the run completes.
    delegated.auth.set_real_ttl(Some(2));
    Delegated::fetch_ok(&fixture);
    std::thread::sleep(Duration::from_secs(3));
    fixture.seed_inbox("rt-expiry-2", 1);
    let tally = Delegated::fetch_ok(&fixture);
    assert_eq!(number(&tally, "reports_new"), 1);
    assert_eq!(delegated.auth.tokens_issued(), 2);
    assert_eq!(delegated.auth.requests(), 2);

    // A token whose announced expiry has passed between two runs is replaced before any
    // login is tried (expires_in 2 s, under the 60 s margin: every run refreshes).
    let short = Delegated::start(&fixture, 2);
    short.authorised(&fixture);
    Delegated::fetch_ok(&fixture);
    std::thread::sleep(Duration::from_secs(3));
    Delegated::fetch_ok(&fixture);
    assert_eq!(short.auth.tokens_issued(), 2);
    assert_eq!(short.auth.requests(), 2);
}

#[test]
fn a_revoked_or_missing_refresh_token_asks_for_re_authorisation_and_touches_nothing() {
    let Some(fixture) = Fixture::new("cli-oauth-rt-revoked") else {
        return;
    };
    fixture.seed_inbox("rt-revoked", 2);
    let delegated = Delegated::start(&fixture, 3600);
    let account = Delegated::account(&fixture);
    // Never authorised.
    let output = fixture.fetch(&[]);
    assert_one_line_failure(
        &output,
        &format!("authorise ruadb once with `ruadb auth login --account {account}`"),
        REFRESH_PREFIX,
    );
    // Authorised, then revoked by the user: the cached access token is refused too.
    delegated.authorised(&fixture);
    fixture.configure_login(
        fixture.server.port_tls,
        "auth = \"xoauth2\"\n",
        &format!(
            "after_ingest = \"delete\"\n[imap.oauth2]\nprovider = \"custom\"\nclient_id = \"ruadb-public\"\n\
             token_url = {:?}\nscope = {DELEGATED_SCOPE:?}\n",
            delegated.auth.token_url()
        ),
    );
    delegated.auth.revoke_refresh_tokens();
    let output = fixture.fetch(&[]);
    assert_one_line_failure(
        &output,
        &format!("re-authorise with `ruadb auth login --account {account}`"),
        REFRESH_PREFIX,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("(invalid_grant: refresh token revoked)"),
        "{stderr}"
    );
    assert!(!fixture.db().exists() || fixture.totals().messages == 0);
    if fixture.db().exists() {
        let store = Store::open_read_only(&fixture.db()).unwrap();
        assert!(store.imap_cursor(&account, "INBOX").unwrap().is_none());
    }
    assert_eq!(fixture.counts(&["INBOX"]), vec![2]);
}

#[test]
fn a_busy_token_endpoint_is_retried_for_a_refresh_too() {
    let Some(fixture) = Fixture::new("cli-oauth-rt-busy") else {
        return;
    };
    let delegated = Delegated::start(&fixture, 3600);
    delegated.authorised(&fixture);
    delegated
        .auth
        .inject(&[Inject::Status(429, Some(1)), Inject::Status(502, Some(1))]);
    Delegated::fetch_ok(&fixture);
    assert_eq!(delegated.auth.requests(), 3);
    assert_eq!(delegated.auth.tokens_issued(), 1);
}

#[test]
fn overlapping_runs_and_dry_runs_do_not_lose_the_rotated_refresh_token() {
    let Some(fixture) = Fixture::new("cli-oauth-rt-overlap") else {
        return;
    };
    fixture.seed_inbox("rt-overlap", 3);
    // Every run refreshes (expires_in under the 60 s margin); each answer is slow, so that
    // runs not serialised by the lock would all present the same refresh token.
    let delegated = Delegated::start(&fixture, 30);
    delegated.authorised(&fixture);
    delegated
        .auth
        .inject(&vec![Inject::Delay(Duration::from_millis(400)); 4]);
    let runs: Vec<_> = [
        &["--wait"][..],
        &["--wait", "--dry-run"],
        &["--dry-run", "--wait"],
        &["--wait", "--dry-run"],
    ]
    .iter()
    .map(|args| {
        fixture
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    })
    .collect();
    for run in runs {
        let output = run.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
    }
    assert_eq!(delegated.auth.reuses(), 0);
    assert_eq!(delegated.auth.tokens_issued(), 4);
    let stored = Delegated::stored_refresh_token(&fixture);
    assert_eq!(Some(stored.clone()), delegated.auth.latest_refresh_token());
    assert!(delegated.auth.refresh_token_valid(&stored));
    assert_eq!(fixture.totals().reports, 3);

    // A dry run refreshes under the lock: while another run holds it, it leaves the token
    // file alone.
    let mut lock_path = fixture.db().into_os_string();
    lock_path.push(".fetch.lock");
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    let output = fixture.fetch(&["--dry-run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("another `ruadb fetch` is running"),
        "{stderr}"
    );
    assert_eq!(delegated.auth.requests(), 4);
    drop(lock);
}

#[test]
fn a_kill_9_during_a_refresh_never_loses_the_rotation() {
    let Some(fixture) = Fixture::new("cli-oauth-rt-kill") else {
        return;
    };
    // The server keeps a rotated-away refresh token valid until its successor is used; the
    // client must never leave the file without a usable one, nor a half-written file.
    let delegated = Delegated::start(&fixture, 30);
    delegated.auth.set_rotation(Rotation::Grace);
    delegated.authorised(&fixture);
    let path = BuiltIn::token_file(&fixture);
    for step in 0..8u64 {
        delegated
            .auth
            .inject(&[Inject::Delay(Duration::from_millis(150))]);
        let before = delegated.auth.requests();
        let mut run = fixture
            .command(&[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // From waiting for the answer, through saving it, to logging in with it.
        while delegated.auth.requests() == before && run.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(step * 40));
        let _ = run.kill();
        run.wait().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "step {step}");
        let stored = Delegated::stored_refresh_token(&fixture);
        assert!(
            delegated.auth.refresh_token_valid(&stored),
            "step {step}: the stored refresh token is dead"
        );
    }
    Delegated::fetch_ok(&fixture);
    let stored = Delegated::stored_refresh_token(&fixture);
    assert_eq!(Some(stored), delegated.auth.latest_refresh_token());
    // No temporary sibling holding tokens is left next to the file.
    let siblings: Vec<_> = std::fs::read_dir(fixture.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".oauth2.json."))
        .collect();
    assert!(siblings.is_empty(), "{siblings:?}");
}

#[test]
fn a_refresh_for_a_scope_the_client_may_not_have_is_one_line() {
    let Some(fixture) = Fixture::new("cli-oauth-rt-scope") else {
        return;
    };
    let delegated = Delegated::start(&fixture, 3600);
    delegated.authorised(&fixture);
    let table = format!(
        "[imap.oauth2]\nprovider = \"custom\"\nclient_id = \"ruadb-public\"\n\
         token_url = {:?}\nscope = \"https://calendar.example.test/ offline_access\"\n",
        delegated.auth.token_url()
    );
    fixture.configure_login(fixture.server.port_tls, "auth = \"xoauth2\"\n", &table);
    let output = fixture.fetch(&[]);
    assert_one_line_failure(
        &output,
        "refused the request: invalid_scope",
        REFRESH_PREFIX,
    );
}

/// `ruadb auth …` with the fixture's configuration.
fn auth_command(fixture: &Fixture, args: &[&str]) -> Command {
    let mut command = Command::new(RUADB);
    command
        .arg("--config")
        .arg(fixture.config_path())
        .arg("auth")
        .args(args)
        .env_remove("RUADB_DB")
        .env_remove("RUADB_CONFIG");
    command
}

/// Runs `auth login` and hands each line it prints to `act` until it returns true, then
/// waits for it; returns (exit code, stdout, stderr).
fn login_with(fixture: &Fixture, act: impl FnMut(&str) -> bool) -> (i32, String, String) {
    login_waiting(fixture, "30", act)
}

/// As [`login_with`], waiting at most `wait_secs` for the authorisation.
fn login_waiting(
    fixture: &Fixture,
    wait_secs: &str,
    mut act: impl FnMut(&str) -> bool,
) -> (i32, String, String) {
    use std::io::BufRead as _;
    let mut child = auth_command(fixture, &["login", "--wait-secs", wait_secs])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let mut line = String::new();
    let mut done = false;
    while stdout.read_line(&mut line).unwrap() > 0 {
        printed.push_str(&line);
        if !done {
            done = act(&line);
        }
        line.clear();
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        printed,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `auth login` with the device flow: the user reads the code it prints and approves (or
/// denies) it at the stand-in.
fn device_login(fixture: &Fixture, auth: &AuthServer, approve: bool) -> (i32, String, String) {
    login_with(fixture, |line| {
        let Some(rest) = line.split("enter the code ").nth(1) else {
            return false;
        };
        auth.approve(&rest[..9], approve);
        true
    })
}

#[test]
fn auth_login_with_a_device_code_then_fetch_and_status() {
    let Some(fixture) = Fixture::new("cli-oauth-device") else {
        return;
    };
    fixture.seed_inbox("device", 2);
    let delegated = Delegated::start(&fixture, 3600);
    delegated.configure(
        &fixture,
        &format!(
            "device_authorization_url = {:?}\n",
            delegated.auth.device_url()
        ),
    );
    let output = auth_command(&fixture, &["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("refresh token: none; run `ruadb auth login`"),
        "{text}"
    );

    // The user is shown a code, and approves it on the verification page.
    let (code, stdout, stderr) = device_login(&fixture, &delegated.auth, true);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("https://localhost:{}/device", delegated.auth.port)),
        "{stdout}"
    );
    assert!(stdout.contains("Authorised (device_code)"), "{stdout}");
    assert!(
        !stdout.contains(REFRESH_PREFIX) && !stdout.contains("eyJ"),
        "{stdout}"
    );
    let stored = Delegated::stored_refresh_token(&fixture);
    assert_eq!(Some(stored), delegated.auth.latest_refresh_token());

    // The access token that came with it is used by fetch.
    let tally = Delegated::fetch_ok(&fixture);
    assert_eq!(number(&tally, "reports_new"), 2);
    assert_eq!(delegated.auth.tokens_issued(), 1);

    let output = auth_command(&fixture, &["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains(", tokens from [imap.oauth2] (provider custom, grant refresh_token)"),
        "{text}"
    );
    assert!(text.contains("refresh token: stored"), "{text}");
    assert!(text.contains("access token:  expires "), "{text}");
    assert!(text.contains("(device_code)"), "{text}");
    let output = auth_command(&fixture, &["status", "--json"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let account = &json["accounts"][0];
    assert_eq!(account["account"], Delegated::account(&fixture));
    assert_eq!(account["refresh_token"], true);
    assert_eq!(account["access_token_expired"], false);
    assert_eq!(account["obtained_by"], "device_code");
    let all = String::from_utf8_lossy(&output.stdout);
    assert!(
        !all.contains(REFRESH_PREFIX) && !all.contains("eyJ"),
        "{all}"
    );

    // Denied on the verification page: one line, nothing stored over the good token.
    let (code, _, stderr) = device_login(&fixture, &delegated.auth, false);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("access_denied: the request was declined"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(Delegated::stored(&fixture).refresh_token.is_some());
}

#[test]
fn the_microsoft_preset_asks_for_imap_and_offline_access_with_a_device_code() {
    let Some(fixture) = Fixture::new("cli-oauth-microsoft") else {
        return;
    };
    fixture.seed_inbox("microsoft", 1);
    // The stand-in grants exactly Microsoft's delegated IMAP scope and offline access; the
    // configuration is the README's, with the endpoints pointed at the stand-in.
    let delegated = Delegated::start_granting(
        &fixture,
        3600,
        "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access",
    );
    let table = format!(
        "[imap.oauth2]\nprovider = \"microsoft\"\nclient_id = \"ruadb-public\"\n\
         token_url = {:?}\ndevice_authorization_url = {:?}\n",
        delegated.auth.token_url(),
        delegated.auth.device_url(),
    );
    fixture.configure_login(
        fixture.server.port_tls,
        &Delegated::auth_line(&fixture),
        &table,
    );
    let (code, stdout, stderr) = device_login(&fixture, &delegated.auth, true);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let tally = Delegated::fetch_ok(&fixture);
    assert_eq!(number(&tally, "reports_new"), 1);
    // Refreshing asks for the same scopes.
    let mut stored = Delegated::stored(&fixture);
    stored.expires_at = Some(0);
    let mut file = ruadb_oauth::TokenFile::read(&BuiltIn::token_file(&fixture)).unwrap();
    file.set_account(&Delegated::account(&fixture), stored);
    file.write(&BuiltIn::token_file(&fixture)).unwrap();
    Delegated::fetch_ok(&fixture);
    assert_eq!(delegated.auth.tokens_issued(), 2);
}

#[test]
fn the_google_preset_asks_for_offline_access_to_gmail_in_a_browser() {
    let Some(fixture) = Fixture::new("cli-oauth-google") else {
        return;
    };
    fixture.seed_inbox("google", 1);
    // A desktop client with its (non-confidential) secret, granted Gmail's scope only.
    let secret = "g00gle-desktop-secret".to_owned();
    let auth = AuthServer::start(
        &fixture.server,
        Client {
            id: "ruadb-desktop".to_owned(),
            secret: secret.clone(),
            user: fixture.user.clone(),
            scopes: vec!["https://mail.google.com/".to_owned()],
            token_scope: support::oauth::SCOPE.to_owned(),
            expires_in: 3600,
        },
    );
    let secret_file = fixture.dir.path().join("google-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let table = format!(
        "[imap.oauth2]\nprovider = \"google\"\nclient_id = \"ruadb-desktop\"\n\
         client_secret_file = {:?}\ntoken_url = {:?}\nauthorization_url = {:?}\n",
        secret_file.display().to_string(),
        auth.token_url(),
        auth.authorization_url(),
    );
    fixture.configure_login(
        fixture.server.port_tls,
        &Delegated::auth_line(&fixture),
        &table,
    );
    let ca = fixture.server.ca_file.clone();
    let (code, stdout, stderr) = login_with(&fixture, |line| {
        let url = line.trim();
        if !url.starts_with("https://localhost:") {
            return false;
        }
        for parameter in [
            "scope=https%3A%2F%2Fmail.google.com%2F",
            "access_type=offline",
            "prompt=consent",
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A",
        ] {
            assert!(url.contains(parameter), "{parameter}: {url}");
        }
        visit_loopback(&follow_authorization(url, &ca));
        true
    });
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret));
    let tally = Delegated::fetch_ok(&fixture);
    assert_eq!(number(&tally, "reports_new"), 1);
    let file = std::fs::read_to_string(BuiltIn::token_file(&fixture)).unwrap();
    assert!(
        !file.contains(&secret),
        "the client secret is not kept with the tokens"
    );
}

#[test]
fn auth_refuses_a_token_file_others_may_read_before_asking_anyone_to_sign_in() {
    let Some(fixture) = Fixture::new("cli-oauth-login-mode") else {
        return;
    };
    let delegated = Delegated::start(&fixture, 3600);
    delegated.configure(
        &fixture,
        &format!(
            "device_authorization_url = {:?}\n",
            delegated.auth.device_url()
        ),
    );
    delegated.authorised(&fixture);
    let path = BuiltIn::token_file(&fixture);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    for args in [&["login"][..], &["status"], &["status", "--json"]] {
        let output = auth_command(&fixture, args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        // Nothing printed: `login` asked nobody to sign in.
        assert!(output.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("group or other users may access it (mode 640)"),
            "{stderr}"
        );
        assert!(!stderr.contains(REFRESH_PREFIX), "{stderr}");
    }
}

/// `GET url` over TLS trusting `ca`; returns the `Location` header of the answer.
fn follow_authorization(url: &str, ca: &std::path::Path) -> String {
    let rest = url.strip_prefix("https://localhost:").unwrap();
    let (port, path) = rest.split_once('/').unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(
            native_tls::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let mut tls = connector.connect("localhost", tcp).unwrap();
    write!(
        tls,
        "GET /{path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 302"), "{answer}");
    answer
        .lines()
        .find_map(|line| line.strip_prefix("Location: "))
        .unwrap()
        .to_owned()
}

/// `GET url` on the loopback listener; returns the whole answer.
fn visit_loopback(url: &str) -> String {
    let rest = url.strip_prefix("http://127.0.0.1:").unwrap();
    let (port, path) = rest.split_once('/').unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    write!(tcp, "GET /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn auth_login_in_a_browser_with_pkce_then_fetch() {
    let Some(fixture) = Fixture::new("cli-oauth-pkce") else {
        return;
    };
    fixture.seed_inbox("pkce", 1);
    let delegated = Delegated::start(&fixture, 3600);
    delegated.configure(
        &fixture,
        &format!(
            "authorization_url = {:?}\n",
            delegated.auth.authorization_url()
        ),
    );
    let ca = fixture.server.ca_file.clone();
    // The test is the browser: a stray request first, then the provider's redirect.
    let (code, stdout, stderr) = login_with(&fixture, |line| {
        let url = line.trim();
        if !url.starts_with("https://localhost:") {
            return false;
        }
        assert!(url.contains("code_challenge_method=S256"), "{url}");
        let location = follow_authorization(url, &ca);
        let port = location
            .split(':')
            .nth(2)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        let stray = visit_loopback(&format!("http://127.0.0.1:{port}/favicon.ico"));
        assert!(stray.starts_with("HTTP/1.1 400"), "{stray}");
        let page = visit_loopback(&location);
        assert!(page.contains("ruadb is authorised"), "{page}");
        true
    });
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("Authorised (authorization_code)"),
        "{stdout}"
    );
    let stored = Delegated::stored_refresh_token(&fixture);
    assert_eq!(Some(stored), delegated.auth.latest_refresh_token());
    let tally = Delegated::fetch_ok(&fixture);
    assert_eq!(number(&tally, "reports_new"), 1);

    // Consent refused in the browser.
    delegated.auth.deny_next_authorization();
    let (code, _, stderr) = login_with(&fixture, |line| {
        let url = line.trim();
        if !url.starts_with("https://localhost:") {
            return false;
        }
        visit_loopback(&follow_authorization(url, &ca));
        true
    });
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the provider answered access_denied"),
        "{stderr}"
    );
}

#[test]
fn auth_login_waits_a_bounded_time_and_leaves_the_cron_runs_alone_meanwhile() {
    let Some(fixture) = Fixture::new("cli-oauth-login-wait") else {
        return;
    };
    let delegated = Delegated::start(&fixture, 3600);
    delegated.configure(
        &fixture,
        &format!(
            "device_authorization_url = {:?}\n",
            delegated.auth.device_url()
        ),
    );
    // Nobody approves the code. Meanwhile a fetch runs (the lock is not held during the
    // wait; the account is not authorised yet, so it says so).
    let started = std::time::Instant::now();
    let (code, _, stderr) = login_waiting(&fixture, "3", |line| {
        if !line.contains("enter the code") {
            return false;
        }
        let output = fixture.fetch(&[]);
        assert_one_line_failure(&output, "authorise ruadb once", REFRESH_PREFIX);
        true
    });
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("authorisation did not complete: the code was not approved within 3 s"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // The browser never comes back.
    delegated.configure(
        &fixture,
        &format!(
            "authorization_url = {:?}\n",
            delegated.auth.authorization_url()
        ),
    );
    let (code, stdout, stderr) = login_waiting(&fixture, "2", |_| false);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("authorisation did not complete: the browser did not come back within 2 s"),
        "{stderr}"
    );
    assert!(!BuiltIn::token_file(&fixture).exists());
}

#[test]
fn wrong_password_unknown_mailbox_and_untrusted_certificate_exit_2() {
    let Some(fixture) = Fixture::new("cli-failures") else {
        return;
    };
    fixture.configure_password("");
    let output = fixture
        .command(&[])
        .env("RUADB_IMAP_PASSWORD", "NotThePassword42")
        .output()
        .unwrap();
    assert_one_line_failure(&output, "refused", "NotThePassword42");

    fixture.configure("mailbox = \"NoSuchBox\"");
    let output = fixture.fetch(&[]);
    assert_one_line_failure(
        &output,
        "mailbox \"NoSuchBox\" does not exist",
        &fixture.server.password,
    );

    // Without the test CA the server's certificate is not trusted.
    let config = std::fs::read_to_string(fixture.config_path()).unwrap();
    let untrusted: String = config
        .lines()
        .filter(|line| !line.starts_with("ca_file"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(fixture.config_path(), untrusted).unwrap();
    let output = fixture.fetch(&[]);
    assert_one_line_failure(
        &output,
        "certificate verify failed",
        &fixture.server.password,
    );
}

/// Kills `ruadb fetch` with SIGKILL at 20+ moments spread over the run, then lets one run
/// finish: the database must hold every report exactly once, pass `integrity_check`, and the
/// mailbox must be fully archived.
#[test]
fn kill_9_loop_then_completion_gives_exact_totals() {
    let Some(fixture) = Fixture::new("cli-kill") else {
        return;
    };
    fixture.configure("after_ingest = \"move\"\nbatch_size = 10");
    let mut session = fixture.session();
    seed_reports(&mut session, "INBOX", "kill", 300);
    let (mut seeded, mut seeded_count) = (300u32, seeded_message_count(300));

    let mut kills = 0;
    let mut delay_ms: u64 = 20;
    for round in 0..100u64 {
        let mut child = fixture
            .command(&[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Deterministic spread of moments: 20..260 ms into the run.
        delay_ms = 20 + (delay_ms * 37 + round * 11) % 240;
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        } else {
            // That run finished: give the next ones work again (new report ids).
            seed_reports(&mut session, "INBOX", &format!("kill-{round}"), 50);
            seeded += 50;
            seeded_count += seeded_message_count(50);
        }
        child.wait().unwrap();
        if kills >= 25 {
            break;
        }
    }
    session.logout().unwrap();
    assert!(
        kills >= 20,
        "only {kills} runs were still going when killed"
    );

    let (code, _, stderr) = fixture.fetch_json();
    assert_eq!(code, 0, "{stderr}");
    fixture.assert_all_stored_once_and_archived(seeded, seeded_count);
    eprintln!("{kills} kills, {seeded} messages, totals exact");
    let store = Store::open_read_only(&fixture.db()).unwrap();
    let mut verdict = Vec::new();
    store
        .query("PRAGMA integrity_check", &mut |row| {
            verdict.push(format!("{row:?}"));
            Ok(())
        })
        .unwrap();
    assert_eq!(verdict.len(), 1, "{verdict:?}");
    assert!(verdict[0].contains("ok"), "{verdict:?}");
}

/// `ruadb fetch` throughput, fetch + parse + store, for 1,000 report mails (gzip, zip and XML
/// attachments) from the loopback Dovecot. Ignored by default; measure with
/// `cargo test --release -p ruadb --test fetch -- --ignored --nocapture`.
#[test]
#[ignore = "seeds 1,000 messages; run explicitly (in release) to measure"]
fn fetch_throughput_1000_report_mails() {
    let Some(fixture) = Fixture::new("cli-throughput") else {
        return;
    };
    const MESSAGES: u32 = 1_000;
    let mut session = fixture.session();
    seed_reports(&mut session, "INBOX", "throughput", MESSAGES);
    session.logout().unwrap();
    for (mode, lines) in [("keep", ""), ("move", "after_ingest = \"move\"")] {
        let _ = std::fs::remove_file(fixture.db());
        fixture.configure(lines);
        let started = std::time::Instant::now();
        let (code, tally, stderr) = fixture.fetch_json();
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(number(&tally, "reports_new"), u64::from(MESSAGES));
        eprintln!(
            "ruadb fetch, after_ingest = {mode}: {MESSAGES} report mails in {elapsed:.2} s = {:.0} messages/s",
            f64::from(MESSAGES) / elapsed
        );
    }
    assert_eq!(fixture.counts(&["INBOX", "Archive"]), vec![0, MESSAGES]);
}

/// Another writer holds the database: the run fails with a clear message (exit 2) and nothing
/// in the mailbox is marked processed, so the next run does the work.
#[test]
fn locked_database_fails_cleanly_and_leaves_the_mailbox_untouched() {
    let Some(fixture) = Fixture::new("cli-locked-db") else {
        return;
    };
    fixture.configure("after_ingest = \"move\"");
    fixture.seed_inbox("locked", 3);
    let mut writer = Store::open(&fixture.db(), ruadb_store::StoreOptions::default()).unwrap();
    let batch = writer.begin_batch().unwrap();

    let output = fixture.fetch(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("writing to the database"), "{stderr}");
    assert_eq!(fixture.counts(&["INBOX", "Archive"]), vec![3, 0]);

    drop(batch);
    drop(writer);
    let (code, tally, stderr) = fixture.fetch_json();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(number(&tally, "reports_new"), 3);
    fixture.assert_all_stored_once_and_archived(3, seeded_message_count(3));
}

/// Mail over `limits.max_message_mib` is not fetched at all (memory stays bounded): it is
/// named, counted as an error and set aside; the rest of the batch is stored.
#[test]
fn oversized_mail_is_set_aside_without_being_fetched() {
    let Some(fixture) = Fixture::new("cli-oversized") else {
        return;
    };
    fixture.configure("after_ingest = \"move\"");
    let mut config = std::fs::read_to_string(fixture.config_path()).unwrap();
    config.push_str("\n[limits]\nmax_message_mib = 1\n");
    std::fs::write(fixture.config_path(), config).unwrap();
    let mut session = fixture.session();
    seed_reports(&mut session, "INBOX", "small", 1);
    let mut big = non_report_message("big");
    big.extend(
        b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n".repeat(24_000),
    );
    session.append("INBOX", &big).unwrap();
    seed_reports(&mut session, "INBOX", "small-after", 1);
    session.logout().unwrap();

    let (code, tally, stderr) = fixture.fetch_json();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("uid 2: "), "{stderr}");
    assert!(stderr.contains("over the message size limit"), "{stderr}");
    assert_eq!(
        (number(&tally, "messages"), number(&tally, "errors")),
        (3, 1)
    );
    assert_eq!(fixture.totals().reports, 2);
    assert_eq!(
        fixture.counts(&["INBOX", "Archive", "Invalid"]),
        vec![0, 2, 1]
    );
    let (code, tally, _) = fixture.fetch_json();
    assert_eq!((code, number(&tally, "messages")), (0, 0));
}

/// `[[imap]]`: every account is polled; one that fails is named and the others still run.
#[test]
fn several_accounts_are_polled_and_one_failure_does_not_stop_the_others() {
    let Some(fixture) = Fixture::new("cli-accounts") else {
        return;
    };
    let second_user = fresh_user("cli-accounts-second");
    let account = |user: &str, mailbox: &str| {
        format!(
            "[[imap]]\nhost = {host:?}\nport = {port}\nusername = {user:?}\nca_file = {ca:?}\nmailbox = {mailbox:?}\n",
            host = fixture.server.host,
            port = fixture.server.port_tls,
            ca = fixture.server.ca_file.display().to_string(),
        )
    };
    let config = format!(
        "db = {:?}\ndomains = [\"example.com\"]\n[identify]\ndns = false\n{}{}{}",
        fixture.db().display().to_string(),
        account(&fixture.user, "INBOX"),
        account(&second_user, "Missing"),
        account(&second_user, "INBOX"),
    );
    std::fs::write(fixture.config_path(), config).unwrap();
    fixture.seed_inbox("first", 2);
    let mut second = Session::connect(&fixture.server.config(&second_user)).unwrap();
    seed_reports(&mut second, "INBOX", "second", 3);
    second.logout().unwrap();

    let output = fixture.fetch(&["--json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mailbox \"Missing\" does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 3 IMAP accounts failed"), "{stderr}");
    let tally: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(number(&tally, "reports_new"), 5, "{tally}");
    assert_eq!(fixture.totals().reports, 5);
}

/// A second Dovecot of our own (same script, other ports and state directory), so that it can
/// really be stopped in the middle of a fetch without disturbing the other tests.
struct OwnServer {
    script: PathBuf,
    dir: tempfile::TempDir,
    port_tls: u16,
    port_starttls: u16,
}

impl OwnServer {
    fn command(&self, action: &str) -> Output {
        Command::new("bash")
            .arg(&self.script)
            .arg(action)
            .env("RUADB_TEST_IMAP_DIR", self.dir.path())
            .env("RUADB_TEST_IMAP_PORT_TLS", self.port_tls.to_string())
            .env(
                "RUADB_TEST_IMAP_PORT_STARTTLS",
                self.port_starttls.to_string(),
            )
            .output()
            .unwrap()
    }

    fn start(&self) {
        let output = self.command("start");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn stop(&self) {
        assert!(self.command("stop").status.success());
    }

    /// The end of the server's log, for a failure message: what Dovecot said it was doing.
    fn log_tail(&self) -> String {
        let log = std::fs::read(self.dir.path().join("dovecot.log")).unwrap_or_default();
        let text = String::from_utf8_lossy(&log);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.command("stop");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn server_stopped_mid_fetch_then_rerun_gives_exact_totals() {
    let Some(shared) = Fixture::new("cli-server-stop") else {
        return;
    };
    // Under /tmp: Dovecot's unprivileged processes must be able to reach the directory.
    let own = OwnServer {
        script: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/imap-test-server.sh"),
        dir: tempfile::Builder::new()
            .prefix("ruadb-imap-stop-")
            .tempdir_in("/tmp")
            .unwrap(),
        port_tls: free_port(),
        port_starttls: free_port(),
    };
    std::fs::set_permissions(
        own.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    own.start();
    let env = String::from_utf8(own.command("env").stdout).unwrap();
    let value = |name: &str| {
        env.lines()
            .find_map(|line| line.strip_prefix(&format!("export RUADB_TEST_IMAP_{name}=")))
            .unwrap()
            .to_owned()
    };
    let fixture = Fixture {
        server: TestServer {
            host: shared.server.host.clone(),
            port_tls: own.port_tls,
            port_starttls: own.port_starttls,
            user: value("USER"),
            password: value("PASSWORD"),
            ca_file: PathBuf::from(value("CA_FILE")),
            oauth_key: value("OAUTH_KEY"),
            dir: PathBuf::from(value("DIR")),
            auth: shared.server.auth,
        },
        user: shared.user,
        dir: tempfile::tempdir().unwrap(),
    };
    const MESSAGES: u32 = 600;
    const BATCH_SIZE: u32 = 10;
    fixture.configure(&format!(
        "after_ingest = \"move\"\nbatch_size = {BATCH_SIZE}"
    ));
    fixture.seed_inbox("stop", MESSAGES);

    let mut run = fixture.command(&[]).stderr(Stdio::piped()).spawn().unwrap();
    // Stop the server once the first batches are committed, i.e. in the middle of the fetch.
    for _ in 0..1000 {
        let stored = fixture.db().exists()
            && Store::open_read_only(&fixture.db())
                .and_then(|store| store.totals())
                .is_ok_and(|totals| totals.reports > 0);
        if stored || run.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    own.stop();
    let output = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let partial = fixture.totals();
    if output.status.code() == Some(0) {
        eprintln!("the run finished before the server stopped; only the rerun half is checked");
    } else {
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("connection to 127.0.0.1 lost"), "{stderr}");
        assert!(
            partial.reports > 0 && partial.reports < u64::from(MESSAGES),
            "{partial:?}"
        );
    }

    own.start();
    // After a stop that cut a session off mid-MOVE, the restarted Dovecot has been seen not to
    // answer a SELECT or UID MOVE within the 10 s timeout for a while. ruadb then fails with
    // "did not answer within 10 s" (exit 2), keeping what it stored, and a later cron run
    // completes the work. So such runs are allowed, at most 15 of them (each ends within its
    // 10 s timeout), and no other failure.
    let mut slow_runs = 0;
    loop {
        let output = fixture.fetch(&["--json"]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        match output.status.code() {
            Some(0) => break,
            Some(2) if slow_runs < 15 && stderr.contains("did not answer within") => {
                slow_runs += 1;
                eprintln!("rerun {slow_runs}: {stderr}");
            }
            code => panic!(
                "the rerun exited with {code:?}: {stderr}\nserver log:\n{}",
                own.log_tail()
            ),
        }
    }
    if slow_runs > 0 {
        eprintln!(
            "server log after {slow_runs} slow reruns:\n{}",
            own.log_tail()
        );
    }
    // The database is exact whatever the moment of the stop. The mailboxes are exact except
    // for one case the server owns: Dovecot's MOVE copies, then expunges, and a server stopped
    // between the two leaves that one batch in both INBOX and Archive; the rerun stores
    // nothing new from it and moves the originals again, so Archive may hold one batch twice.
    let totals = fixture.totals();
    let expected = u64::from(MESSAGES);
    assert_eq!(
        (totals.messages, totals.reports, totals.records),
        (expected, expected, expected),
        "{totals:?}"
    );
    assert_eq!(totals.message_count, seeded_message_count(MESSAGES));
    let counts = fixture.counts(&["INBOX", "Archive"]);
    assert_eq!(counts[0], 0, "{counts:?}");
    assert!(
        (MESSAGES..=MESSAGES + BATCH_SIZE).contains(&counts[1]),
        "{counts:?}"
    );
}

#[test]
fn a_lock_held_longer_than_the_deadlines_is_reported() {
    // No server needed: the run stops at the lock.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[imap]\nhost = \"127.0.0.1\"\nusername = \"u\"\nrun_deadline_secs = 100\n",
    )
    .unwrap();
    let db = dir.path().join("ruadb.sqlite");
    let mut lock_path = db.clone().into_os_string();
    lock_path.push(".fetch.lock");
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    #[expect(
        clippy::disallowed_methods,
        reason = "the binary under test compares the lock's age with the real clock"
    )]
    let now = std::time::SystemTime::now();
    // The holder's note, written when it took the lock `age` ago.
    let run = |age: u64, args: &[&str]| {
        std::fs::write(&lock_path, "pid 4242\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&lock_path)
            .unwrap()
            .set_modified(now - Duration::from_secs(age))
            .unwrap();
        Command::new(RUADB)
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(&db)
            .arg("fetch")
            .args(args)
            .env("RUADB_IMAP_PASSWORD", "x")
            .env_remove("RUADB_CONFIG")
            .output()
            .unwrap()
    };
    // Held for 10 s of the 160 allowed (100 s run deadline + 60 s): busy, not stuck.
    let output = run(10, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("another `ruadb fetch` is running"),
        "{stderr}"
    );
    // Held for 1000 s: stuck, said in one line, exit 2; `--wait` does not wait behind it.
    for args in [&[][..], &["--wait"][..]] {
        let output = run(1000, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("an earlier `ruadb fetch` (pid 4242) has held"),
            "{stderr}"
        );
        assert!(
            stderr.contains("longer than its deadline allows (160 s"),
            "{stderr}"
        );
    }
    drop(lock);
}

#[test]
fn a_password_variable_that_is_not_utf8_is_named() {
    use std::os::unix::ffi::OsStrExt as _;
    // No server needed: the password is read before connecting.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[imap]\nhost = \"127.0.0.1\"\nusername = \"u\"\n").unwrap();
    let output = Command::new(RUADB)
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(dir.path().join("ruadb.sqlite"))
        .arg("fetch")
        .env(
            "RUADB_IMAP_PASSWORD",
            std::ffi::OsStr::from_bytes(b"caf\xe9-secret"),
        )
        .env_remove("RUADB_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("RUADB_IMAP_PASSWORD is not valid UTF-8"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
}
