//! `ruadb summary --format html` on the fixtures: the document the library renders, on
//! stdout, with every format's exit statuses.

use crate::util::TestEnv;

/// A database with `fixtures/summary/` and the report with hostile names.
fn fixture_env() -> TestEnv {
    let env = TestEnv::new();
    let run = env.run(&["ingest", "fixtures/summary", "fixtures/hostile-names"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    env
}

#[test]
fn html_is_one_self_contained_document_with_the_charts() {
    let env = fixture_env();
    let run = env.run(&["summary", "--week", "2026-W47", "--format", "html"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let html = &run.stdout;
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
        "{html}"
    );
    assert!(html.ends_with("</html>\n"));
    assert_eq!(html.matches("<svg ").count(), 6, "three charts per domain");
    assert!(!html.contains("<script"), "hostile names are escaped");
    assert!(html.contains("&lt;script&gt;alert("), "and still shown");
    assert!(html.contains("Top failing sources"));
}

/// `summary --week 2026-W47 --format email` with `extra` arguments.
fn email(env: &TestEnv, extra: &[&str]) -> crate::util::Run {
    let mut args = vec!["summary", "--week", "2026-W47", "--format", "email"];
    args.extend_from_slice(extra);
    env.run(&args)
}

#[test]
fn email_is_a_complete_message_for_sendmail() {
    let env = fixture_env();
    let run = email(
        &env,
        &[
            "--from",
            "dmarc@example.com",
            "--to",
            "postmaster@example.com,hostmaster@example.org",
            "--to",
            "root@localhost",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mail = &run.stdout;
    let (headers, body) = mail.split_once("\n\n").unwrap();
    assert!(
        headers.starts_with("From: <dmarc@example.com>\n"),
        "{headers}"
    );
    assert!(
        headers.contains(
            "\nTo: <postmaster@example.com>, <hostmaster@example.org>, <root@localhost>\n"
        ),
        "{headers}"
    );
    assert!(headers.contains("\nSubject: "), "{headers}");
    assert!(headers.contains("\nDate: "), "{headers}");
    assert!(
        headers.contains("\nMessage-ID: <ruadb.2026-W47.") && headers.contains("@example.com>"),
        "{headers}"
    );
    assert!(headers.contains("\nMIME-Version: 1.0\n"));
    assert!(
        headers.contains("Content-Type: multipart/alternative; boundary=\"ruadb-alternative-0\""),
        "{headers}"
    );
    assert!(!mail.contains('\r'), "LF line ends on the pipe to sendmail");
    assert!(mail.is_ascii(), "transfer-encoded");
    assert!(body.contains("Content-Type: text/plain; charset=\"utf-8\""));
    assert!(body.contains("Content-Type: text/html; charset=\"utf-8\""));
    assert!(body.ends_with("--ruadb-alternative-0--\n"), "{body}");

    // With --alerts the subject says whether action is needed, and the status is the same.
    let run = email(
        &env,
        &[
            "--alerts",
            "--from",
            "dmarc@example.com",
            "--to",
            "root@localhost",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.contains("action_needed?=") || run.stdout.contains("action needed"));
}

#[test]
fn email_arguments_are_checked_in_one_line() {
    let env = fixture_env();
    for (args, expected) in [
        (
            &["--format", "email"][..],
            "--format email needs --from ADDR and --to ADDR[,ADDR]",
        ),
        (
            &["--format", "email", "--to", "root@localhost"],
            "--format email needs --from ADDR",
        ),
        (
            &["--format", "email", "--from", "dmarc@example.com"],
            "--format email needs --to ADDR[,ADDR]",
        ),
        (
            &["--from", "dmarc@example.com", "--to", "root@localhost"],
            "--from and --to go with --format email",
        ),
        (
            &[
                "--format",
                "email",
                "--from",
                "Dmarc <dmarc@example.com>",
                "--to",
                "root@localhost",
            ],
            "--from: \"Dmarc <dmarc@example.com>\" is not a mail address",
        ),
        (
            &[
                "--format",
                "email",
                "--from",
                "dmarc@example.com",
                "--to",
                "root@localhost,",
            ],
            "--to: \"\" is not a mail address",
        ),
        (
            &[
                "--format",
                "email",
                "--from",
                "a@example.com",
                "--to",
                "x@example.com\nBcc: y@example.net",
            ],
            "--to: \"x@example.com\\nBcc: y@example.net\" is not a mail address",
        ),
    ] {
        let mut all = vec!["summary", "--week", "2026-W47"];
        all.extend_from_slice(args);
        let run = env.run(&all);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.starts_with(&format!("ruadb: {expected}")),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
}
