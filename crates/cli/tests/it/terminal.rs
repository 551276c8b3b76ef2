//! Text from outside (org names, report ids, zip member and attachment names, file names) with
//! terminal controls and bidi overrides reaches a terminal spelt out, never raw; JSON and CSV
//! keep it exactly.

use crate::util::{Run, TestEnv};

/// Clears the screen, then reverses the rest of the line.
const ORG: &str = "Evil\u{1b}[2J Org\u{202e}gpj.exe";
const ORG_SHOWN: &str = r"Evil\x1b[2J Org\u{202e}gpj.exe";
/// Rings the bell, then returns to the start of the line to overwrite it.
const REPORT_ID: &str = "id\u{7}\rok";
const REPORT_ID_SHOWN: &str = r"id\x07\rok";
/// A zip member that sets the window title.
const BAD_MEMBER: &str = "bad\u{1b}]0;pwned\u{7}.xml";
const BAD_MEMBER_SHOWN: &str = r"bad\x1b]0;pwned\x07.xml";
const GOOD_MEMBER: &str = "good\u{1b}[31m.xml";
const GOOD_MEMBER_SHOWN: &str = r"good\x1b[31m.xml";

fn report(org: &str, id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback><report_metadata><org_name>{org}</org_name><email>dmarc@reporter.example</email>
<report_id>{id}</report_id><date_range><begin>1700006400</begin><end>1700092799</end></date_range>
</report_metadata><policy_published><domain>example.com</domain><p>none</p></policy_published>
<record><row><source_ip>192.0.2.10</source_ip><count>3</count><policy_evaluated>
<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>
<identifiers><header_from>example.com</header_from></identifiers><auth_results><dkim>
<domain>example.com</domain><result>pass</result></dkim></auth_results></record></feedback>"#
    )
}

/// A zip holding the report (under a member name with a colour change) and a broken
/// document (under a member name that sets the window title).
fn archive() -> Vec<u8> {
    ruadb_testgen::wrap::zip_members(&[
        (GOOD_MEMBER, report(ORG, REPORT_ID).as_bytes()),
        (BAD_MEMBER, b"<feedback><report_metadata>".as_slice()),
    ])
    .unwrap()
}

/// A report mail whose only attachment, broken, is named (RFC 2231) with ESC, BEL and U+202E.
const MAIL: &str = "From: dmarc@reporter.example\r\n\
To: rua@example.com\r\n\
Subject: Report\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain\r\n\
\r\n\
A report.\r\n\
--b\r\n\
Content-Type: application/xml\r\n\
Content-Disposition: attachment; filename*=utf-8''mail%1B%5B2Jname%07%E2%80%AE.xml\r\n\
\r\n\
<feedback><report_metadata>\r\n\
--b--\r\n";
const ATTACHMENT_SHOWN: &str = r"mail\x1b[2Jname\x07\u{202e}.xml";

/// Fails when `text` holds anything but line feeds that a terminal would act on or that
/// would reorder what is shown.
fn assert_inert(label: &str, text: &str) {
    let active = text.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    assert_eq!(active, None, "{label} printed a control raw: {text:?}");
}

fn inputs(env: &TestEnv) -> (String, String, String) {
    let zip = env.write("in/reports.zip", archive());
    let mail = env.write("in/report.eml", MAIL);
    // A file whose own name turns the terminal red, holding no report.
    let named = env.write("in/name\u{1b}[31m.txt", "not a report");
    let path = |p: std::path::PathBuf| p.to_str().unwrap().to_owned();
    (path(zip), path(mail), path(named))
}

fn assert_run(label: &str, run: &Run) {
    assert_inert(&format!("{label} stdout"), &run.stdout);
    assert_inert(&format!("{label} stderr"), &run.stderr);
}

/// Runs `ruadb COMMAND` on the zip, the mail and the file with controls in its name: it fails
/// on the broken documents (exit 1) and names each with the controls spelt out, printing none
/// raw. Returns the run and the zip's path.
fn run_on_inputs(env: &TestEnv, command: &str) -> (Run, String) {
    let (zip, mail, named) = inputs(env);
    let run = env.run(&[command, &zip, &mail, &named]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_run(command, &run);
    for shown in [
        format!("{zip}: {BAD_MEMBER_SHOWN}: "),
        format!("{mail}: {ATTACHMENT_SHOWN}: "),
        r"name\x1b[31m.txt: ".to_owned(),
    ] {
        assert!(run.stderr.contains(&shown), "{shown} in {}", run.stderr);
    }
    (run, zip)
}

#[test]
fn parse_text_and_its_error_lines_escape_controls_and_json_keeps_them() {
    let env = TestEnv::new();
    let (text, zip) = run_on_inputs(&env, "parse");
    assert!(
        text.stdout.starts_with(&format!(
            "{zip} [{GOOD_MEMBER_SHOWN}]: {ORG_SHOWN} report {REPORT_ID_SHOWN} for example.com,"
        )),
        "{}",
        text.stdout
    );

    let json = env.run(&["parse", "--format", "json", &zip]);
    let objects: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(objects[0]["org_name"], ORG);
    assert_eq!(objects[0]["report_id"], REPORT_ID);
    assert_eq!(objects[0]["member"], GOOD_MEMBER);
    assert_eq!(objects[1]["member"], BAD_MEMBER);
}

#[test]
fn ingest_errors_and_query_tables_escape_controls_and_csv_keeps_them() {
    let env = TestEnv::new();
    run_on_inputs(&env, "ingest");

    let sources = env.run(&["sources"]);
    assert_eq!(sources.code, 0, "{}", sources.stderr);
    assert_run("sources", &sources);
    assert!(sources.stdout.contains(ORG_SHOWN), "{}", sources.stdout);
    let sources_csv = env.run(&["sources", "--format", "csv"]);
    assert!(sources_csv.stdout.contains(ORG), "{}", sources_csv.stdout);

    let query = "SELECT org_name, report_id, member AS \"col\u{1b}[2J\" FROM reports";
    let table = env.run(&["sql", query]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert_run("sql", &table);
    let mut lines = table.stdout.lines();
    assert!(
        lines.next().unwrap().ends_with(r"col\x1b[2J"),
        "{}",
        table.stdout
    );
    let row = lines.nth(1).unwrap();
    assert!(
        row.starts_with(ORG_SHOWN)
            && row.contains(REPORT_ID_SHOWN)
            && row.contains(GOOD_MEMBER_SHOWN),
        "{}",
        table.stdout
    );
    let csv = env.run(&["sql", "--format", "csv", query]);
    assert!(
        csv.stdout
            .contains(&format!("{ORG},\"{REPORT_ID}\",{GOOD_MEMBER}\r\n")),
        "{:?}",
        csv.stdout
    );
    let json = env.run(&["sql", "--format", "json", query]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rows[0]["org_name"], ORG);

    // The summary names the reporter in text and markdown (rendered, `\\x1b` reads `\x1b`);
    // its JSON keeps the exact text (serde_json writes ESC as `\u001b`, U+202E as itself).
    let period = ["summary", "--since", "2023-11-13", "--until", "2023-11-20"];
    for (format, shown) in [
        ("text", ORG_SHOWN),
        ("html", ORG_SHOWN),
        ("markdown", r"Evil\\x1b\[2J Org\\u{202e}gpj.exe"),
        ("json", "Evil\\u001b[2J Org\u{202e}gpj.exe"),
    ] {
        let run = env.run(&[&period[..], &["--format", format]].concat());
        assert_eq!(run.code, 0, "{}", run.stderr);
        if format != "json" {
            assert_run(&format!("summary --format {format}"), &run);
        }
        assert!(run.stdout.contains(shown), "{}", run.stdout);
    }
}

#[test]
fn fatal_error_lines_escape_controls() {
    let env = TestEnv::new();
    let db = env.path("db\u{1b}[2J\u{202e}.sqlite");
    let run = env.run(&["--db", db.to_str().unwrap(), "sql", "SELECT 1"]);
    assert_eq!(run.code, 2);
    assert_run("sql", &run);
    assert!(
        run.stderr.contains(r"db\x1b[2J\u{202e}.sqlite"),
        "{}",
        run.stderr
    );
}
