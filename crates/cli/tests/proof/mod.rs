//! Helpers shared by the crash and hostile-input tests: run the real `ruadb` binary against a
//! real database file and read the result back through the store.

#![allow(dead_code)] // each test binary uses a different subset

use ruadb_store::{Store, Totals, Value};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Output, Stdio};

/// The `ruadb` binary built for this test run.
pub const RUADB: &str = env!("CARGO_BIN_EXE_ruadb");

/// A configuration file accepting the generator's default domains, reverse DNS off (no test
/// reaches the network).
pub fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        "domains = [\"example.com\", \"example.org\", \"example.net\"]\n[identify]\ndns = false\n",
    )
    .unwrap();
    path
}

/// `ruadb --config CONFIG --db DB`, ready for a subcommand.
pub fn ruadb(config: &Path, db: &Path) -> Command {
    let mut command = Command::new(RUADB);
    command
        .arg("--config")
        .arg(config)
        .arg("--db")
        .arg(db)
        .env_remove("RUADB_CONFIG")
        .env_remove("RUADB_DB");
    command
}

/// What a finished `ruadb` run left behind.
pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The store's row counts.
pub fn totals(db: &Path) -> Totals {
    Store::open_read_only(db).unwrap().totals().unwrap()
}

/// One row of integers from a read-only query.
pub fn query_integers(db: &Path, sql: &str) -> Vec<i64> {
    let store = Store::open_read_only(db).unwrap();
    let mut values = Vec::new();
    store
        .query(sql, &mut |row| {
            values = row
                .iter()
                .map(|value| match value {
                    Value::Integer(value) => *value,
                    Value::Null => 0,
                    other => panic!("{sql}: not an integer: {other:?}"),
                })
                .collect();
            Ok(())
        })
        .unwrap();
    values
}

/// The texts of the first column of a read-only query.
pub fn query_texts(db: &Path, sql: &str) -> Vec<String> {
    let store = Store::open_read_only(db).unwrap();
    let mut texts = Vec::new();
    store
        .query(sql, &mut |row| {
            if let Some(Value::Text(text)) = row.first() {
                texts.push(text.clone());
            }
            Ok(())
        })
        .unwrap();
    texts
}

/// `PRAGMA integrity_check`: "ok" for a sound file.
pub fn integrity_check(db: &Path) -> String {
    query_texts(db, "PRAGMA integrity_check").join("\n")
}

/// What the views say: (records, sum of message_count) over `record_outcomes`, and the
/// number of distinct reports behind them.
pub fn outcome_totals(db: &Path) -> (i64, i64, i64) {
    let values = query_integers(
        db,
        "SELECT COUNT(*), COALESCE(SUM(message_count), 0), \
         COUNT(DISTINCT report_org || char(0) || report_id || char(0) || policy_domain) \
         FROM record_outcomes",
    );
    (values[0], values[1], values[2])
}

/// Runs `command` under GNU time and returns its output and peak RSS in KiB, or `None` for
/// the RSS when /usr/bin/time is not installed (scripts/setup.sh installs it).
pub fn run_measured(command: &Command) -> (Output, Option<u64>) {
    run_measured_with_stdin(command, |_| {})
}

/// [`run_measured`] with `feed` writing the child's stdin on a thread of its own (it may stop
/// at the first error: the child can refuse its input and exit before reading it all).
pub fn run_measured_with_stdin(
    command: &Command,
    feed: impl FnOnce(ChildStdin) + Send + 'static,
) -> (Output, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut run = if time.exists() {
        let mut timed = Command::new(time);
        timed
            .arg("-v")
            .arg("-o")
            .arg(report.path())
            .arg(command.get_program());
        timed
    } else {
        eprintln!("note: /usr/bin/time missing, peak RSS not measured");
        Command::new(command.get_program())
    };
    run.args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        run.current_dir(dir);
    }
    copy_env(command, &mut run);
    let mut child = run
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let feeding = std::thread::spawn(move || feed(stdin));
    let output = child.wait_with_output().unwrap();
    feeding.join().unwrap();
    if !time.exists() {
        return (output, None);
    }
    let text = std::fs::read_to_string(report.path()).unwrap();
    let rss = text
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|value| value.trim().parse().ok());
    (output, rss)
}

fn copy_env(from: &Command, to: &mut Command) {
    for (key, value) in from.get_envs() {
        match value {
            Some(value) => to.env(key, value),
            None => to.env_remove(key),
        };
    }
}
