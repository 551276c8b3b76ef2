//! `[identify] ip_database`: ASN, AS organisation and country from MMDB files the tests write
//! (GeoLite2 ASN and Country layouts), in the view, `sources`, the summary and `identify`.

use ruadb_testgen::{MmdbEntry, MmdbLayout, write_mmdb};

use crate::identify::report;
use crate::util::TestEnv;

/// 2026-11-28 12:00 UTC.
const BUILT: u64 = 1_795_867_200;

/// The organisation of 2001:db8::/32: a terminal escape, a bell and a bidi override.
const HOSTILE_ORG: &str = "Evil\u{1b}]0;pwn\u{7} Six\u{202e}";

fn write_asn(env: &TestEnv, built: u64, org: &str) {
    let bytes = write_mmdb(
        MmdbLayout::Asn,
        "GeoLite2-ASN",
        built,
        &[
            MmdbEntry::new("192.0.2.0/24", Some(64500), Some(org), None),
            MmdbEntry::new("2001:db8::/32", Some(64501), Some(HOSTILE_ORG), None),
        ],
    )
    .unwrap();
    env.write("config/ruadb/asn.mmdb", bytes);
}

fn write_country(env: &TestEnv) {
    let bytes = write_mmdb(
        MmdbLayout::Country,
        "GeoLite2-Country",
        BUILT,
        &[MmdbEntry::new("192.0.2.0/25", None, None, Some("DE"))],
    )
    .unwrap();
    env.write("config/ruadb/country.mmdb", bytes);
}

/// Reverse DNS off, both files by paths relative to the configuration file.
fn configured() -> TestEnv {
    let env = TestEnv::new();
    env.write(
        "config/ruadb/config.toml",
        "[identify]\ndns = false\nip_database = [\"asn.mmdb\", \"country.mmdb\"]\n",
    );
    write_asn(&env, BUILT, "Example Mail Net");
    write_country(&env);
    env
}

fn ingest(env: &TestEnv, extra_record: &str) -> crate::util::Run {
    let name = format!("report-{}.xml", extra_record.len());
    let path = env.write(&name, report(extra_record));
    env.run(&["ingest", path.to_str().unwrap()])
}

const BOTH: &str = "GeoLite2-ASN 2026-11-28, GeoLite2-Country 2026-11-28";

#[test]
fn ingest_stores_owner_and_country_with_the_databases_that_answered() {
    let env = configured();
    let run = ingest(&env, "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        env.sql("SELECT source_ip, service, asn, as_org, country, ip_database FROM source_identity ORDER BY source_ip"),
        format!(
            "source_ip,service,asn,as_org,country,ip_database\n\
             192.0.2.10,Amazon SES,64500,Example Mail Net,DE,\"{BOTH}\"\n\
             192.0.2.20,Postmark,64500,Example Mail Net,DE,\"{BOTH}\"\n\
             192.0.2.30,,64500,Example Mail Net,DE,\"{BOTH}\"\n\
             2001:db8::5,,64501,{HOSTILE_ORG},,GeoLite2-ASN 2026-11-28\n"
        )
    );

    // sources: the same columns, JSON keys the same, the organisation exact in JSON.
    let sources = env.run(&["sources", "--format", "json"]);
    assert_eq!(sources.code, 0, "{}", sources.stderr);
    let rows: serde_json::Value = serde_json::from_str(&sources.stdout).unwrap();
    let six = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["source_ip"] == "2001:db8::5")
        .unwrap();
    assert_eq!(six["asn"], 64501);
    assert_eq!(six["as_org"], HOSTILE_ORG);
    assert!(six["country"].is_null());
    let table = env.run(&["sources"]);
    assert!(
        table.stdout.contains("Example Mail Net"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("DE"), "{}", table.stdout);
    assert!(
        !table.stdout.contains('\u{1b}') && !table.stdout.contains('\u{202e}'),
        "{:?}",
        table.stdout
    );

    // The summary: an unknown source is named by its AS organisation, "By service" groups
    // the unknown ones by it, and JSON carries asn, as_org and country.
    let text = env.run(&["summary", "--week", "2026-W47"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout
            .contains("      Example Mail Net (AS64500, DE); DKIM d=sendgrid.net"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("  unknown (Example Mail N…    1 src"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("Evil\\x1b]0;pwn\\x07 Six\\u{202e} (AS64501); SPF"),
        "{}",
        text.stdout
    );
    assert!(
        !text.stdout.contains('\u{1b}') && !text.stdout.contains('\u{202e}'),
        "{:?}",
        text.stdout
    );
    for line in text.stdout.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
    let json = env.run(&["summary", "--week", "2026-W47", "--format", "json"]);
    let summary: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let sources = summary["domains"][0]["sources"].as_array().unwrap();
    let unknown = sources
        .iter()
        .find(|source| source["source_ip"] == "192.0.2.30")
        .unwrap();
    assert_eq!(
        unknown["identity"],
        serde_json::json!({"service": null, "service_kind": null, "evidence": null,
            "ptr": null, "ptr_confirmed": null, "asn": 64500, "as_org": "Example Mail Net",
            "country": "DE"})
    );
}

#[test]
fn identify_looks_up_again_only_when_a_file_changes_or_on_refresh() {
    let env = configured();
    assert_eq!(ingest(&env, "").code, 0);
    let again = env.run(&["identify", "--json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.stdout.trim(),
        format!(
            r#"{{"sources":4,"new":0,"named":2,"ip_database":{{"looked_up":0,"found":0,"databases":"{BOTH}"}}}}"#
        )
    );
    let refreshed = env.run(&["identify", "--refresh", "--json"]);
    let tally: serde_json::Value = serde_json::from_str(&refreshed.stdout).unwrap();
    assert_eq!(tally["ip_database"]["looked_up"], 4, "{}", refreshed.stdout);

    // A new build of the ASN file: every source is looked up again and its answer replaced.
    write_asn(&env, BUILT + 7 * 86_400, "Example Mail Net, renamed");
    let rebuilt = env.run(&["identify", "--json"]);
    let tally: serde_json::Value = serde_json::from_str(&rebuilt.stdout).unwrap();
    assert_eq!(tally["ip_database"]["looked_up"], 4, "{}", rebuilt.stdout);
    assert_eq!(
        env.sql("SELECT as_org, ip_database FROM source_identity WHERE source_ip = '192.0.2.10'"),
        "as_org,ip_database\n\"Example Mail Net, renamed\",\"GeoLite2-ASN 2026-12-05, GeoLite2-Country 2026-11-28\"\n"
    );

    // Without the files configured, what was found stays, and nothing is looked up.
    env.write("config/ruadb/config.toml", "[identify]\ndns = false\n");
    let unconfigured = env.run(&["identify", "--json"]);
    assert_eq!(
        unconfigured.stdout.trim(),
        r#"{"sources":4,"new":0,"named":2}"#
    );
    assert_eq!(
        env.sql("SELECT COUNT(asn) FROM source_identity"),
        "COUNT(asn)\n4\n"
    );
}

#[test]
fn a_bad_file_is_one_line_naming_it_and_never_fails_the_ingest() {
    let env = configured();
    env.write("config/ruadb/country.mmdb", "this is not an MMDB file");
    let run = ingest(&env, "");
    assert_eq!(
        run.code, 0,
        "a bad IP database never fails ingest: {}",
        run.stderr
    );
    let country = env.path("config/ruadb/country.mmdb");
    let warning = run
        .stderr
        .lines()
        .find(|line| line.contains("ip_database"))
        .unwrap();
    assert!(
        warning.starts_with(&format!(
            "ruadb: warning: ip_database {}: not a readable MaxMind DB (MMDB) file",
            country.display()
        )),
        "{}",
        run.stderr
    );
    // The reports are stored and the catalogue named their services all the same.
    assert_eq!(
        env.sql("SELECT COUNT(service), COUNT(asn) FROM source_identity"),
        "COUNT(service),COUNT(asn)\n2,0\n"
    );
    // `ruadb identify` stops before doing anything, with the same one line.
    let identify = env.run(&["identify"]);
    assert_eq!(identify.code, 2, "{}", identify.stderr);
    assert_eq!(
        identify.stderr.trim().lines().count(),
        1,
        "{}",
        identify.stderr
    );
    assert!(
        identify
            .stderr
            .contains("not a readable MaxMind DB (MMDB) file"),
        "{}",
        identify.stderr
    );

    // A missing file, likewise.
    std::fs::remove_file(&country).unwrap();
    let identify = env.run(&["identify"]);
    assert_eq!(identify.code, 2, "{}", identify.stderr);
    assert!(
        identify.stderr.contains(&format!(
            "ip_database {}: cannot read it: ",
            country.display()
        )),
        "{}",
        identify.stderr
    );
    assert_eq!(
        identify.stderr.trim().lines().count(),
        1,
        "{}",
        identify.stderr
    );

    // Fixed: the next run looks every source up.
    write_country(&env);
    let fixed = env.run(&["identify", "--json"]);
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    let tally: serde_json::Value = serde_json::from_str(&fixed.stdout).unwrap();
    assert_eq!(tally["ip_database"]["looked_up"], 4, "{}", fixed.stdout);
}
