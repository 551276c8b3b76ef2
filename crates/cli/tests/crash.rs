//! Crash and fault tests against the real binary and real database files:
//! `kill -9` during `ruadb ingest` at random moments, then a read-only, a locked and a full
//! database. The number of kills is `RUADB_CRASH_KILLS` (default 50; `scripts/crash-test.sh`
//! runs more).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly on a broken setup"
)]

mod proof;
#[path = "../../store/tests/common/rollups.rs"]
mod rollups;

use proof::{describe, integrity_check, outcome_totals, ruadb, totals, write_config};
use ruadb_store::{Store, StoreOptions};
use ruadb_testgen::{CorpusSpec, CorpusStats, DomainPolicy, Rng, generate_corpus};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A corpus of `reports` generated reports (some for a domain that is not configured, so
/// rejections are counted too) plus three inputs that are not reports.
struct Setup {
    dir: tempfile::TempDir,
    corpus: PathBuf,
    config: PathBuf,
    stats: CorpusStats,
}

impl Setup {
    fn new(reports: u64) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("corpus");
        let mut spec = CorpusSpec::new(reports, 2024);
        spec.domains
            .push(DomainPolicy::new("other.example", "none"));
        let stats = generate_corpus(&corpus, &spec).unwrap();
        std::fs::write(corpus.join("notes.xml.gz"), "plain text, not gzip\n").unwrap();
        std::fs::write(corpus.join("truncated.xml"), "<feedback><report_metadata>").unwrap();
        std::fs::write(
            corpus.join("empty.zip"),
            b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        )
        .unwrap();
        let config = write_config(dir.path());
        Setup {
            dir,
            corpus,
            config,
            stats,
        }
    }

    fn db(&self, name: &str) -> PathBuf {
        self.dir.path().join(name).join("ruadb.sqlite")
    }

    fn ingest(&self, db: &Path) -> Command {
        let mut command = ruadb(&self.config, db);
        command.arg("ingest").arg(&self.corpus);
        command
    }
}

fn kills_wanted() -> usize {
    std::env::var("RUADB_CRASH_KILLS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(50)
}

#[test]
fn killed_ingest_loses_nothing_and_counts_nothing_twice() {
    let setup = Setup::new(600);

    // The reference: one clean run.
    let clean_db = setup.db("clean");
    let started = Instant::now();
    let output = setup.ingest(&clean_db).output().unwrap();
    let clean_time = started.elapsed();
    // Exit 1: the three non-reports are named as failures; everything else is stored.
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let clean = totals(&clean_db);
    assert_eq!(
        clean.reports + clean.rejected,
        setup.stats.reports,
        "{clean:?}"
    );
    assert!(clean.rejected > 0 && clean.ingest_errors >= 3, "{clean:?}");
    assert_eq!(integrity_check(&clean_db), "ok");

    // Kill at random moments over the whole length of a run, so kills land while opening,
    // while parsing, inside a batch and during a commit; each run resumes the previous one.
    // The delay is log-uniform: early moments (opening, migrations, the first inputs) get as
    // many kills as late ones. Once a run finishes before its kill, the window shrinks to that
    // run's length, so kills keep landing when little work is left.
    let db = setup.db("killed");
    let mut window = (clean_time.as_millis() as u64 * 12 / 10).max(200);
    let mut rng = Rng::new(
        std::env::var("RUADB_CRASH_SEED")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(1),
    );
    let wanted = kills_wanted();
    let (mut kills, mut finished_runs) = (0, 0);
    let mut stored_after_kill = std::collections::BTreeSet::new();
    while kills < wanted && kills + finished_runs < wanted * 4 {
        let started = Instant::now();
        let mut child = setup
            .ingest(&db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.log_uniform(5, window)));
        if let Some(status) = child.try_wait().unwrap() {
            assert!(matches!(status.code(), Some(0 | 1)), "{status:?}");
            finished_runs += 1;
            window = (started.elapsed().as_millis() as u64 * 9 / 10).max(6);
        } else {
            // SIGKILL: no destructor, no rollback, no flush.
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
        }
        if db.exists() {
            let partial = totals(&db);
            assert!(
                partial.reports <= clean.reports
                    && partial.records <= clean.records
                    && partial.message_count <= clean.message_count
                    && partial.rejected <= clean.rejected,
                "after {kills} kills: {partial:?} exceeds a clean run's {clean:?}"
            );
            stored_after_kill.insert(partial.messages);
            // The rollups are written in the transactions of their records: whatever the
            // kill interrupted, they say exactly what the records say.
            rollups::assert_rollups_match(&Store::open_read_only(&db).unwrap());
        }
    }
    eprintln!(
        "{kills} kills, {finished_runs} runs finished before their kill (clean run {clean_time:?}); \
         inputs stored between kills: {stored_after_kill:?}"
    );
    assert!(kills >= wanted, "only {kills} of {wanted} kills landed");

    let output = setup.ingest(&db).output().unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        describe(&output)
    );
    assert_eq!(
        totals(&db),
        clean,
        "totals after kills differ from a clean run"
    );
    assert_eq!(outcome_totals(&db), outcome_totals(&clean_db));
    assert_eq!(integrity_check(&db), "ok");
    let killed = Store::open_read_only(&db).unwrap();
    let clean_store = Store::open_read_only(&clean_db).unwrap();
    rollups::assert_rollups_match(&killed);
    let all = ruadb_store::DayFilter::default();
    let (killed, clean) = (
        rollups::rollups(&killed, &all),
        rollups::rollups(&clean_store, &all),
    );
    assert!(killed.sources == clean.sources && killed.reporters == clean.reporters);
}

#[test]
fn a_read_only_database_is_a_clear_error_and_exit_2() {
    let setup = Setup::new(20);
    let db = setup.db("read-only");
    let first = setup.ingest(&db).output().unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", describe(&first));
    let before = totals(&db);
    std::fs::write(setup.corpus.join("late.xml"), late_report()).unwrap();

    // Permissions do not stop root; an immutable file does.
    let is_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if is_root {
        let status = Command::new("chattr").arg("+i").arg(&db).status();
        if !matches!(status, Ok(status) if status.success()) {
            eprintln!("skipped: running as root and `chattr +i` is unavailable here");
            return;
        }
    } else {
        set_mode(&db, 0o444);
        set_mode(db.parent().unwrap(), 0o555);
    }
    let output = setup.ingest(&db).output().unwrap();
    if is_root {
        Command::new("chattr").arg("-i").arg(&db).status().unwrap();
    } else {
        set_mode(db.parent().unwrap(), 0o755);
        set_mode(&db, 0o644);
    }
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.to_lowercase().contains("read"),
        "no clear reason: {stderr}"
    );
    eprintln!("read-only database: {stderr}");
    assert_eq!(totals(&db), before);
    assert_eq!(integrity_check(&db), "ok");
}

#[test]
fn a_database_path_that_cannot_exist_is_exit_2() {
    let setup = Setup::new(3);
    let file = setup.dir.path().join("plain-file");
    std::fs::write(&file, "not a directory").unwrap();
    let output = setup.ingest(&file.join("ruadb.sqlite")).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}

#[test]
fn a_locked_database_is_exit_2_and_wait_waits_for_the_lock() {
    let setup = Setup::new(30);
    let db = setup.db("locked");
    // Another writer holds the write lock (BEGIN IMMEDIATE) and does not let go.
    let mut holder = Store::open(&db, StoreOptions::default()).unwrap();
    let batch = holder.begin_batch().unwrap();

    let started = Instant::now();
    let output = setup.ingest(&db).output().unwrap();
    let waited = started.elapsed();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("lock") || stderr.contains("busy") || stderr.contains("another"),
        "no clear reason: {stderr}"
    );
    assert!(waited >= Duration::from_secs(4), "gave up after {waited:?}");
    eprintln!("locked database ({waited:?}): {stderr}");

    // With --wait the second writer proceeds once the first lets go.
    let child = ruadb(&setup.config, &db)
        .arg("ingest")
        .arg("--wait")
        .arg(&setup.corpus)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(batch); // rolls back and releases the lock
    drop(holder);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stored = totals(&db);
    assert_eq!(
        stored.reports + stored.rejected,
        setup.stats.reports,
        "{stored:?}"
    );
}

#[test]
fn a_full_disk_is_a_clear_error_exit_2_and_loses_nothing_stored_before() {
    let setup = Setup::new(300);
    let db = setup.db("full");
    let small = setup.dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    std::fs::write(small.join("late.xml"), late_report()).unwrap();
    let first = ruadb(&setup.config, &db)
        .arg("ingest")
        .arg(&small)
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let before = totals(&db);

    // RLIMIT_FSIZE stands in for a full disk: writes past the limit fail (EFBIG) the way they
    // fail with ENOSPC. SIGXFSZ is ignored (inherited through exec), as a daemon would see it.
    let limit_kib = std::fs::metadata(&db).unwrap().len() / 1024 + 128;
    let output = Command::new("bash")
        .arg("-c")
        .arg(r#"trap "" XFSZ; ulimit -f "$1"; shift; exec "$@""#)
        .arg("bash")
        .arg(limit_kib.to_string())
        .arg(proof::RUADB)
        .arg("--config")
        .arg(&setup.config)
        .arg("--db")
        .arg(&db)
        .arg("ingest")
        .arg(&setup.corpus)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!("full disk: {stderr}");
    assert_eq!(
        totals(&db),
        before,
        "a failed batch must leave nothing behind"
    );
    assert_eq!(integrity_check(&db), "ok");

    // Space again: the same command stores everything.
    let output = setup.ingest(&db).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let after = totals(&db);
    assert_eq!(
        after.reports + after.rejected,
        setup.stats.reports + 1,
        "{after:?}"
    );
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// One more valid report, so a run after the fault has something new to write.
fn late_report() -> String {
    "<feedback><report_metadata><org_name>example.net</org_name><email>d@example.net</email>\
     <report_id>late-1</report_id><date_range><begin>1736121600</begin><end>1736207999</end>\
     </date_range></report_metadata><policy_published><domain>example.com</domain><p>none</p>\
     </policy_published><record><row><source_ip>192.0.2.7</source_ip><count>2</count>\
     <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>\
     </policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers>\
     <auth_results><spf><domain>example.com</domain><result>pass</result></spf></auth_results>\
     </record></feedback>\n"
        .to_owned()
}
