//! The IMAP session against the real loopback Dovecot (`scripts/imap-test-server.sh`), plus
//! failure cases that need no server (a socket that never answers, a refused port).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use ruadb_fetch::{DeadlineKind, Excess, FetchError, PostAction, Secret, Session, TlsMode};
use support::hostile::{HostileServer, Script};
use support::mail::{Packing, non_report_message, report_message};
use support::server::{TestServer, fresh_user};

/// Five messages of different shapes; returns them in append order.
fn seed(session: &mut Session) -> Vec<Vec<u8>> {
    let messages = vec![
        report_message(
            Packing::Gzip,
            "google.com",
            "r-gz",
            "example.com",
            "192.0.2.1",
            3,
        ),
        report_message(
            Packing::Zip,
            "outlook.com",
            "r-zip",
            "example.com",
            "198.51.100.7",
            1,
        ),
        report_message(
            Packing::Xml,
            "yahoo.com",
            "r-xml",
            "example.com",
            "203.0.113.9",
            2,
        ),
        report_message(
            Packing::OddMime,
            "mail.ru",
            "r-odd",
            "example.com",
            "192.0.2.44",
            5,
        ),
        non_report_message("hello"),
    ];
    for message in &messages {
        session.append("INBOX", message).expect("append");
    }
    messages
}

fn connect(server: &TestServer, user: &str) -> Session {
    Session::connect(&server.config(user)).expect("connect to the test server")
}

fn is_seen(flags: &[String]) -> bool {
    flags.iter().any(|flag| flag == "\\Seen")
}

#[test]
fn select_lists_uids_after_the_cursor() {
    let Some(server) = TestServer::from_env("select_lists_uids_after_the_cursor") else {
        return;
    };
    let user = fresh_user("uids");
    let mut session = connect(&server, &user);
    let empty = session.select("INBOX").unwrap();
    assert_eq!(empty.exists, 0);
    assert_eq!(session.uids_after(0).unwrap(), Vec::<u32>::new());

    seed(&mut session);
    let state = session.select("INBOX").unwrap();
    assert_eq!(state.exists, 5);
    assert_ne!(state.uidvalidity, 0);
    let all = session.uids_after(0).unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(state.uidnext, Some(all[4] + 1));

    assert_eq!(session.uids_after(all[1]).unwrap(), all[2..].to_vec());
    // `n:*` matches the highest UID even when n is above it; none of that may leak through.
    assert_eq!(session.uids_after(all[4]).unwrap(), Vec::<u32>::new());
    assert_eq!(session.uids_after(all[4] + 100).unwrap(), Vec::<u32>::new());
    assert_eq!(session.uids_after(u32::MAX).unwrap(), Vec::<u32>::new());
    session.logout().unwrap();
}

#[test]
fn fetch_returns_the_exact_bytes_without_setting_seen() {
    let Some(server) = TestServer::from_env("fetch_returns_the_exact_bytes_without_setting_seen")
    else {
        return;
    };
    let user = fresh_user("peek");
    let mut session = connect(&server, &user);
    let appended = seed(&mut session);
    session.select("INBOX").unwrap();
    let uids = session.uids_after(0).unwrap();

    let reply = session.fetch(&uids).unwrap();
    let fetched = reply.messages();
    assert_eq!(
        fetched
            .iter()
            .map(|message| message.uid)
            .collect::<Vec<_>>(),
        uids
    );
    for (message, original) in fetched.iter().zip(&appended) {
        assert_eq!(message.bytes, *original, "uid {}", message.uid);
    }
    // A subset, out of order, with a UID that does not exist.
    let subset_reply = session.fetch(&[uids[3], uids[1], uids[4] + 50]).unwrap();
    let subset = subset_reply.messages();
    assert_eq!(
        subset.iter().map(|message| message.uid).collect::<Vec<_>>(),
        vec![uids[1], uids[3]]
    );

    let sizes = session.sizes(&uids).unwrap();
    let expected: Vec<(u32, u32)> = uids
        .iter()
        .zip(&appended)
        .map(|(uid, message)| (*uid, message.len() as u32))
        .collect();
    assert_eq!(sizes, expected);

    let flags = session.flags(&uids).unwrap();
    assert_eq!(flags.len(), 5);
    assert!(flags.iter().all(|(_, flags)| !is_seen(flags)), "{flags:?}");

    // A new session sees them unseen too (nothing was cached client-side).
    session.logout().unwrap();
    let mut again = connect(&server, &user);
    again.select("INBOX").unwrap();
    assert!(
        again
            .flags(&uids)
            .unwrap()
            .iter()
            .all(|(_, flags)| !is_seen(flags))
    );
}

#[test]
fn keep_and_seen_actions() {
    let Some(server) = TestServer::from_env("keep_and_seen_actions") else {
        return;
    };
    let user = fresh_user("seen");
    let mut session = connect(&server, &user);
    seed(&mut session);
    session.select("INBOX").unwrap();
    let uids = session.uids_after(0).unwrap();

    session.apply(&PostAction::Keep, &uids).unwrap();
    assert!(
        session
            .flags(&uids)
            .unwrap()
            .iter()
            .all(|(_, flags)| !is_seen(flags))
    );

    session.apply(&PostAction::Seen, &uids[..3]).unwrap();
    let flags = session.flags(&uids).unwrap();
    let seen: Vec<bool> = flags.iter().map(|(_, flags)| is_seen(flags)).collect();
    assert_eq!(seen, vec![true, true, true, false, false]);
    assert_eq!(
        session.unseen_up_to(uids[4]).unwrap(),
        vec![uids[3], uids[4]]
    );
    assert_eq!(session.unseen_up_to(uids[3]).unwrap(), vec![uids[3]]);
    assert_eq!(session.unseen_up_to(uids[2]).unwrap(), Vec::<u32>::new());
    assert_eq!(session.unseen_up_to(0).unwrap(), Vec::<u32>::new());
    assert_eq!(session.select("INBOX").unwrap().exists, 5);
}

#[test]
fn move_creates_the_nested_archive_and_empties_the_source() {
    let Some(server) =
        TestServer::from_env("move_creates_the_nested_archive_and_empties_the_source")
    else {
        return;
    };
    let user = fresh_user("move");
    let mut session = connect(&server, &user);
    assert!(
        session.supports_move(),
        "Dovecot advertises MOVE after login"
    );
    let appended = seed(&mut session);
    session.select("INBOX").unwrap();
    let uids = session.uids_after(0).unwrap();

    let archive = PostAction::Move("Archive/dmarc".to_owned());
    session.apply(&archive, &uids[..4]).unwrap();
    session
        .apply(&PostAction::Move("Invalid".to_owned()), &uids[4..])
        .unwrap();
    // Moving UIDs that are already gone (a second, overlapping run) is not an error.
    session.apply(&archive, &uids[..4]).unwrap();

    assert_eq!(session.select("INBOX").unwrap().exists, 0);
    // The server's separator is `.`; the `/` in the configuration was translated.
    let moved = session.select("Archive/dmarc").unwrap();
    assert_eq!(moved.exists, 4);
    let archived = session.uids_after(0).unwrap();
    let reply = session.fetch(&archived).unwrap();
    assert_eq!(
        reply
            .messages()
            .iter()
            .map(|message| message.bytes)
            .collect::<Vec<_>>(),
        appended[..4].iter().map(Vec::as_slice).collect::<Vec<_>>()
    );
    assert_eq!(
        session.ensure_mailbox("Archive/dmarc").unwrap(),
        "Archive.dmarc"
    );
    assert_eq!(session.select("Invalid").unwrap().exists, 1);
}

#[test]
fn move_without_the_move_extension_copies_and_expunges() {
    let Some(server) = TestServer::from_env("move_without_the_move_extension_copies_and_expunges")
    else {
        return;
    };
    let user = fresh_user("copy");
    let mut session = connect(&server, &user);
    session.disable_move();
    seed(&mut session);
    session.select("INBOX").unwrap();
    let uids = session.uids_after(0).unwrap();
    session
        .apply(&PostAction::Move("Archive".to_owned()), &uids[1..3])
        .unwrap();

    let left = session.select("INBOX").unwrap();
    assert_eq!(left.exists, 3);
    assert_eq!(
        session.uids_after(0).unwrap(),
        vec![uids[0], uids[3], uids[4]]
    );
    assert_eq!(session.select("Archive").unwrap().exists, 2);
}

#[test]
fn delete_expunges_only_the_given_messages() {
    let Some(server) = TestServer::from_env("delete_expunges_only_the_given_messages") else {
        return;
    };
    let user = fresh_user("delete");
    let mut session = connect(&server, &user);
    seed(&mut session);
    session.select("INBOX").unwrap();
    let uids = session.uids_after(0).unwrap();
    session
        .apply(&PostAction::Delete, &[uids[0], uids[2]])
        .unwrap();

    assert_eq!(session.select("INBOX").unwrap().exists, 3);
    assert_eq!(
        session.uids_after(0).unwrap(),
        vec![uids[1], uids[3], uids[4]]
    );
    let flags = session.flags(&[uids[1], uids[3], uids[4]]).unwrap();
    assert!(
        flags
            .iter()
            .all(|(_, flags)| !flags.iter().any(|flag| flag == "\\Deleted"))
    );
}

#[test]
fn uidvalidity_changes_when_the_mailbox_is_recreated() {
    let Some(server) = TestServer::from_env("uidvalidity_changes_when_the_mailbox_is_recreated")
    else {
        return;
    };
    let user = fresh_user("uidvalidity");
    let mut session = connect(&server, &user);
    session.ensure_mailbox("Reports").unwrap();
    session
        .append("Reports", &non_report_message("one"))
        .unwrap();
    let before = session.select("Reports").unwrap();
    session.select("INBOX").unwrap();
    session.delete_mailbox("Reports").unwrap();
    // Dovecot derives UIDVALIDITY from the clock in seconds; make sure it can move.
    std::thread::sleep(Duration::from_millis(1100));
    session.ensure_mailbox("Reports").unwrap();
    session
        .append("Reports", &non_report_message("two"))
        .unwrap();
    let after = session.select("Reports").unwrap();
    assert_ne!(before.uidvalidity, after.uidvalidity);
}

#[test]
fn unknown_mailbox_is_reported_by_name() {
    let Some(server) = TestServer::from_env("unknown_mailbox_is_reported_by_name") else {
        return;
    };
    let mut session = connect(&server, &fresh_user("nobox"));
    let refused = session
        .append("NoSuchBox", &non_report_message("x"))
        .unwrap_err();
    assert!(
        matches!(refused, FetchError::NoMailbox { .. }),
        "{refused:?}"
    );
    let error = session.select("NoSuchBox").unwrap_err();
    assert!(
        matches!(error, FetchError::NoMailbox { ref mailbox, .. } if mailbox == "NoSuchBox"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "mailbox \"NoSuchBox\" does not exist on 127.0.0.1"
    );
}

#[test]
fn wrong_password_is_an_auth_error_that_does_not_echo_it() {
    let Some(server) =
        TestServer::from_env("wrong_password_is_an_auth_error_that_does_not_echo_it")
    else {
        return;
    };
    let mut config = server.config(&server.user);
    config.password = Secret::new("Wr0ngPassw0rdXYZ");
    let error = Session::connect(&config).unwrap_err();
    assert!(matches!(error, FetchError::Auth { .. }), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("AUTHENTICATIONFAILED"), "{shown}");
    assert!(!shown.contains("Wr0ngPassw0rdXYZ"), "{shown}");
    assert!(!error.is_connection_failure());
}

#[test]
fn untrusted_certificate_is_a_tls_error() {
    let Some(server) = TestServer::from_env("untrusted_certificate_is_a_tls_error") else {
        return;
    };
    let mut config = server.config(&server.user);
    config.ca_file = None;
    let error = Session::connect(&config).unwrap_err();
    assert!(matches!(error, FetchError::Tls { .. }), "{error:?}");
    assert!(
        error.to_string().contains("certificate verify failed"),
        "{error}"
    );

    config.tls = TlsMode::Starttls;
    config.port = Some(server.port_starttls);
    let error = Session::connect(&config).unwrap_err();
    assert!(matches!(error, FetchError::Tls { .. }), "{error:?}");
}

#[test]
fn host_name_must_match_the_certificate() {
    let Some(server) = TestServer::from_env("host_name_must_match_the_certificate") else {
        return;
    };
    // The certificate names localhost and 127.0.0.1. The IPv4-mapped IPv6 form reaches the
    // same server, but it is not the address in the certificate, so it must be refused.
    let mut config = server.config(&server.user);
    config.host = "localhost".to_owned();
    Session::connect(&config)
        .expect("localhost is in the certificate")
        .logout()
        .unwrap();
    config.host = "::ffff:127.0.0.1".to_owned();
    match Session::connect(&config) {
        Err(FetchError::Tls { detail, .. }) => assert!(detail.contains("mismatch"), "{detail}"),
        Err(FetchError::Connect { source, .. }) => {
            eprintln!("skipping the mismatch half: no IPv4-mapped IPv6 here ({source})");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn starttls_and_explicit_plaintext() {
    let Some(server) = TestServer::from_env("starttls_and_explicit_plaintext") else {
        return;
    };
    let user = fresh_user("starttls");
    let mut config = server.config(&user);
    config.tls = TlsMode::Starttls;
    config.port = Some(server.port_starttls);
    let mut session = Session::connect(&config).unwrap();
    session
        .append("INBOX", &non_report_message("over-starttls"))
        .unwrap();
    assert_eq!(session.select("INBOX").unwrap().exists, 1);
    let uids = session.uids_after(0).unwrap();
    assert_eq!(session.fetch(&uids).unwrap().messages().len(), 1);
    session.logout().unwrap();

    config.tls = TlsMode::None;
    let refused = Session::connect(&config).unwrap_err();
    assert!(matches!(refused, FetchError::Config(_)), "{refused:?}");
    config.allow_plaintext = true;
    let mut plain = Session::connect(&config).unwrap();
    assert_eq!(plain.select("INBOX").unwrap().exists, 1);
}

#[test]
fn a_server_that_never_answers_times_out() {
    // Accepts the TCP connection, then says nothing: a hung server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(3) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    for tls in [TlsMode::Implicit, TlsMode::Starttls, TlsMode::None] {
        let mut config = ruadb_fetch::Config::new("127.0.0.1", "dmarc", Secret::new("x"));
        config.port = Some(port);
        config.tls = tls;
        config.allow_plaintext = true;
        config.timeout = Duration::from_millis(500);
        let started = Instant::now();
        let error = Session::connect(&config).unwrap_err();
        let waited = started.elapsed();
        assert!(
            matches!(error, FetchError::Timeout { .. }),
            "{tls}: {error:?}"
        );
        assert!(error.is_connection_failure());
        assert!(
            waited >= Duration::from_millis(450) && waited < Duration::from_secs(3),
            "{tls}: {waited:?}"
        );
    }
    holder.join().unwrap();
}

#[test]
fn a_closed_port_is_a_connect_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut config = ruadb_fetch::Config::new("127.0.0.1", "dmarc", Secret::new("x"));
    config.port = Some(port);
    let error = Session::connect(&config).unwrap_err();
    assert!(matches!(error, FetchError::Connect { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot connect to 127.0.0.1:{port}")),
        "{error}"
    );
}

#[test]
fn an_endless_ca_file_is_refused_after_a_bounded_read() {
    // The connection is made (the backlog accepts it); the CA is read before the handshake.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = ruadb_fetch::Config::new("127.0.0.1", "dmarc", Secret::new("x"));
    config.port = Some(listener.local_addr().unwrap().port());
    config.ca_file = Some("/dev/zero".into());
    let error = Session::connect(&config).unwrap_err();
    assert!(matches!(error, FetchError::Config(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("ca_file /dev/zero is larger than 4 MiB"),
        "{error}"
    );
}

/// A session on the scripted misbehaving server, in plain text.
fn hostile_session(script: Script) -> (HostileServer, Result<Session, FetchError>) {
    let server = HostileServer::start(script, None);
    let mut config = ruadb_fetch::Config::new("127.0.0.1", "dmarc", Secret::new("Pw-3x!"));
    config.port = Some(server.port);
    config.tls = TlsMode::None;
    config.allow_plaintext = true;
    config.timeout = Duration::from_secs(2);
    config.command_deadline = Duration::from_secs(2);
    let session = Session::connect(&config);
    (server, session)
}

#[test]
fn a_hostile_server_gets_typed_errors() {
    let (_server, endless) = hostile_session(Script::EndlessLine);
    assert!(
        matches!(
            endless,
            Err(FetchError::TooLarge {
                operation: "CAPABILITY",
                excess: Excess::Line(_),
                ..
            })
        ),
        "{endless:?}"
    );

    let (_server, echo) = hostile_session(Script::EchoLogin);
    let echo = echo.unwrap_err();
    assert!(matches!(echo, FetchError::Auth { .. }), "{echo:?}");
    assert!(!format!("{echo} {echo:?}").contains("Pw-3x!"), "{echo:?}");

    let (_server, session) = hostile_session(Script::Garbage);
    let garbage = session.unwrap().select("INBOX").unwrap_err();
    assert!(
        matches!(
            garbage,
            FetchError::Malformed {
                operation: "SELECT",
                ..
            }
        ),
        "{garbage:?}"
    );
    assert!(
        garbage.to_string().contains(r"\u{1b}[31mHELLO"),
        "{garbage}"
    );

    // The imap crate's parser panics on this reply; the session reports it like any other.
    let (_server, session) = hostile_session(Script::UntaggedNo);
    let mut session = session.unwrap();
    let untagged_no = session.select("INBOX").unwrap_err();
    assert!(
        matches!(
            untagged_no,
            FetchError::Malformed {
                operation: "SELECT",
                ..
            }
        ),
        "{untagged_no:?}"
    );
    assert!(
        untagged_no
            .to_string()
            .ends_with(r#"reply to SELECT: "* NO Mailbox is locked, will abort in 30 seconds""#),
        "{untagged_no}"
    );
    // What the crate left of the session still ends without a panic.
    let _ = session.logout();

    let server = HostileServer::start(Script::StarttlsFlood, None);
    let mut config = ruadb_fetch::Config::new("127.0.0.1", "dmarc", Secret::new("Pw-3x!"));
    config.port = Some(server.port);
    config.tls = TlsMode::Starttls;
    let flood = Session::connect(&config).unwrap_err();
    assert!(
        matches!(
            flood,
            FetchError::TooLarge {
                operation: "STARTTLS",
                excess: Excess::Lines(64),
                ..
            }
        ),
        "{flood:?}"
    );
    drop(server);

    let (_server, session) = hostile_session(Script::Trickle);
    let mut session = session.unwrap();
    let started = Instant::now();
    let trickled = session.fetch(&[1]).unwrap_err();
    assert!(
        matches!(
            trickled,
            FetchError::Deadline {
                kind: DeadlineKind::Command,
                ..
            }
        ),
        "{trickled:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_body_over_the_limit_as_received_is_reported_not_returned() {
    let (_server, session) = hostile_session(Script::OversizedLiteral(40 * 1024 * 1024));
    let mut session = session.unwrap();
    session.select("INBOX").unwrap();
    let fetched = session.fetch(&[1]).unwrap();
    assert!(fetched.messages().is_empty());
    assert_eq!(fetched.oversized, vec![(1, 40 * 1024 * 1024)]);
    // The stream is still in step: the next command works.
    assert_eq!(session.uids_after(0).unwrap(), vec![1]);
}

#[test]
fn searching_in_windows_finds_the_same_uids() {
    let Some(server) = TestServer::from_env("searching_in_windows_finds_the_same_uids") else {
        return;
    };
    let user = fresh_user("windows");
    let mut session = connect(&server, &user);
    seed(&mut session);
    session.select("INBOX").unwrap();
    let all = session.uids_after(0).unwrap();
    let unseen = session.unseen_up_to(all[3]).unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(unseen, all[..4].to_vec());
    for window in [1, 2, 3, 5] {
        session.set_search_window(window);
        assert_eq!(session.uids_after(0).unwrap(), all, "window {window}");
        assert_eq!(
            session.uids_after(all[1]).unwrap(),
            all[2..].to_vec(),
            "window {window}"
        );
        assert_eq!(
            session.unseen_up_to(all[3]).unwrap(),
            unseen,
            "window {window}"
        );
    }
    session.logout().unwrap();
}

#[test]
fn a_trickled_greeting_or_handshake_ends_at_the_command_deadline() {
    for (script, tls) in [
        (Script::TrickleGreeting, TlsMode::None),
        (Script::TrickleHandshake, TlsMode::Implicit),
    ] {
        let server = HostileServer::start(script, None);
        let mut config = ruadb_fetch::Config::new("127.0.0.1", "dmarc", Secret::new("x"));
        config.port = Some(server.port);
        config.tls = tls;
        config.allow_plaintext = true;
        config.timeout = Duration::from_secs(2);
        config.command_deadline = Duration::from_secs(2);
        let started = Instant::now();
        let error = Session::connect(&config).unwrap_err();
        assert!(
            matches!(
                error,
                FetchError::Deadline {
                    kind: DeadlineKind::Command,
                    ..
                }
            ),
            "{script:?}: {error:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{script:?}: {:?}",
            started.elapsed()
        );
    }
}
