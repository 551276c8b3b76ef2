//! Stdin and mbox messages are held in memory, so `limits.max_message_mib` caps each: one over
//! it is refused with one line naming it, within the memory budget, and the batch goes on.

use std::io::Write;
use std::process::ChildStdin;

use crate::proof::run_measured_with_stdin;
use crate::util::TestEnv;

const PEAK_RSS_LIMIT_KIB: u64 = 64 * 1024;
const MIB: usize = 1024 * 1024;

fn report(id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback><report_metadata><org_name>example.net</org_name><email>dmarc@example.net</email>
<report_id>{id}</report_id><date_range><begin>1700006400</begin><end>1700092799</end></date_range>
</report_metadata><policy_published><domain>example.com</domain><p>none</p></policy_published>
<record><row><source_ip>192.0.2.10</source_ip><count>3</count><policy_evaluated>
<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>
<identifiers><header_from>example.com</header_from></identifiers><auth_results><dkim>
<domain>example.com</domain><result>pass</result></dkim></auth_results></record></feedback>
"#
    )
}

/// Writes `lines` lines of 76 characters (like base64 in a mail), stopping at the first error:
/// ruadb may refuse the input and exit before reading it all.
fn write_lines(out: &mut impl Write, lines: usize) -> std::io::Result<()> {
    let line = [b"A".repeat(76), b"\n".to_vec()].concat();
    let block = line.repeat(1024);
    for _ in 0..lines / 1024 {
        out.write_all(&block)?;
    }
    Ok(())
}

/// An mbox: a report, a message of about 120 MiB, another report.
fn write_mbox(out: &mut impl Write) -> std::io::Result<()> {
    write!(
        out,
        "From a@example.net Mon Nov 16 00:00:00 2026\n{}\n",
        report("before")
    )?;
    writeln!(
        out,
        "From b@example.net Mon Nov 16 00:00:00 2026\nSubject: huge\n"
    )?;
    write_lines(out, 120 * MIB / 77)?;
    write!(
        out,
        "\nFrom c@example.net Mon Nov 16 00:00:00 2026\n{}",
        report("after")
    )
}

fn check_memory(label: &str, rss: Option<u64>) {
    if let Some(rss) = rss {
        assert!(rss <= PEAK_RSS_LIMIT_KIB, "{label}: peak RSS {rss} KiB");
        eprintln!("{label}: peak RSS {} MiB", rss / 1024);
    }
}

/// `ruadb --config C ARGS` with `domains` set (no warning about it) and `limits` added.
fn ruadb(env: &TestEnv, limits: &str, args: &[&str]) -> std::process::Command {
    let config = env.write(
        "config.toml",
        format!("domains = [\"example.com\"]\n[identify]\ndns = false\n[limits]\n{limits}"),
    );
    let mut command = env.command(&["--config", config.to_str().unwrap()]);
    command.args(args);
    command
}

fn stored_ids(env: &TestEnv) -> String {
    env.sql("SELECT report_id FROM reports ORDER BY report_id")
}

#[test]
fn stdin_over_the_message_cap_is_refused_unread_within_the_memory_budget() {
    let env = TestEnv::new();
    let zeros = |mut stdin: ChildStdin| {
        let block = vec![0u8; MIB];
        for _ in 0..512 {
            if stdin.write_all(&block).is_err() {
                return;
            }
        }
    };
    for command in [["ingest", "-"], ["parse", "-"]] {
        let (output, rss) = run_measured_with_stdin(&ruadb(&env, "", &command), zeros);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(
            stderr.starts_with(
                "-: cannot read: message over the size limit of 32 MiB (limits.max_message_mib)\n"
            ),
            "{command:?}: {stderr}"
        );
        check_memory(&format!("{command:?} of 512 MiB of zeros"), rss);
    }
}

#[test]
fn an_mbox_message_over_the_cap_is_refused_and_the_others_stored() {
    let env = TestEnv::new();
    // Streamed from stdin: the mbox is split as it comes, never held whole.
    let (output, rss) = run_measured_with_stdin(&ruadb(&env, "", &["ingest", "-"]), |mut stdin| {
        let _ = write_mbox(&mut stdin);
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "-#2: cannot read: message over the size limit of 32 MiB (limits.max_message_mib)\n\
         ingested 3 messages: 2 new reports, 0 duplicates, 0 conflicts, 2 records, 1 error\n"
    );
    check_memory("ingest of a 120 MiB mbox message on stdin", rss);
    assert_eq!(stored_ids(&env), "report_id\nafter\nbefore\n");

    // The same mbox as a file, with a lower cap.
    let env = TestEnv::new();
    let path = env.path("big.mbox");
    write_mbox(&mut std::io::BufWriter::new(
        std::fs::File::create(&path).unwrap(),
    ))
    .unwrap();
    let mut command = ruadb(&env, "max_message_mib = 8\n", &["parse"]);
    command.arg(&path);
    let (output, rss) = crate::proof::run_measured(&command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "{}#2: cannot read: message over the size limit of 8 MiB (limits.max_message_mib)\n",
            path.display()
        )
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 2);
    check_memory("parse of a 120 MiB mbox message in a file", rss);
}
