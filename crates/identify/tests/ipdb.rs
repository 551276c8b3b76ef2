//! Network owner and country from IP databases written by the tests in the layouts of the
//! free databases (GeoLite2 ASN, Country, City; IPinfo Lite).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests (helpers included) fail loudly"
)]

use ruadb_identify::{
    IdentifyError, IpDatabase, IpDatabases, MAX_AS_ORG_CHARS, NetworkOwner, OwnerCache,
};
use ruadb_testgen::{MmdbEntry, MmdbLayout, write_mmdb};
use std::net::IpAddr;

/// 2026-11-28 12:00 UTC.
const BUILT: u64 = 1_795_867_200;

fn database(layout: MmdbLayout, kind: &str, entries: &[MmdbEntry]) -> IpDatabase {
    let bytes = write_mmdb(layout, kind, BUILT, entries).unwrap();
    IpDatabase::from_bytes(bytes, &format!("/var/lib/{kind}.mmdb")).unwrap()
}

/// The bytes of an ASN file with one network, 192.0.2.0/24.
fn one_network_file() -> Vec<u8> {
    let entry = MmdbEntry::new("192.0.2.0/24", Some(64500), Some("Example Mail Net"), None);
    write_mmdb(MmdbLayout::Asn, "GeoLite2-ASN", BUILT, &[entry]).unwrap()
}

fn asn_file() -> IpDatabase {
    database(
        MmdbLayout::Asn,
        "GeoLite2-ASN",
        &[
            MmdbEntry::new("192.0.2.0/24", Some(64500), Some("Example Mail Net"), None),
            MmdbEntry::new("2001:db8::/32", Some(64501), Some("Example Six"), None),
            // A network whose organisation is unknown.
            MmdbEntry::new("198.51.100.0/24", Some(64502), None, None),
        ],
    )
}

fn country_file() -> IpDatabase {
    database(
        MmdbLayout::Country,
        "GeoLite2-Country",
        &[
            MmdbEntry::new("192.0.2.0/25", None, None, Some("DE")),
            MmdbEntry::new("2001:db8:1::/48", None, None, Some("FR")),
        ],
    )
}

fn owner(
    asn: Option<u32>,
    as_org: Option<&str>,
    country: Option<&str>,
    db: Option<&str>,
) -> NetworkOwner {
    NetworkOwner {
        asn,
        as_org: as_org.map(str::to_owned),
        country: country.map(str::to_owned),
        ip_database: db.map(str::to_owned),
    }
}

#[test]
fn an_asn_file_and_a_country_file_combine_for_ipv4_and_ipv6() {
    let databases = IpDatabases::new(vec![asn_file(), country_file()]);
    assert_eq!(
        databases.signature(),
        "GeoLite2-ASN 2026-11-28, GeoLite2-Country 2026-11-28"
    );
    let both = Some("GeoLite2-ASN 2026-11-28, GeoLite2-Country 2026-11-28");
    assert_eq!(
        databases.lookup("192.0.2.7".parse().unwrap()).unwrap(),
        owner(Some(64500), Some("Example Mail Net"), Some("DE"), both)
    );
    assert_eq!(
        databases.lookup("2001:db8:1::25".parse().unwrap()).unwrap(),
        owner(Some(64501), Some("Example Six"), Some("FR"), both)
    );
    // Only the ASN file knows 192.0.2.200 and 2001:db8:2::1: ip_database names it alone.
    let asn_only = Some("GeoLite2-ASN 2026-11-28");
    assert_eq!(
        databases.lookup("192.0.2.200".parse().unwrap()).unwrap(),
        owner(Some(64500), Some("Example Mail Net"), None, asn_only)
    );
    assert_eq!(
        databases.lookup("2001:db8:2::1".parse().unwrap()).unwrap(),
        owner(Some(64501), Some("Example Six"), None, asn_only)
    );
    // A missing field stays unknown.
    assert_eq!(
        databases.lookup("198.51.100.9".parse().unwrap()).unwrap(),
        owner(Some(64502), None, None, asn_only)
    );
    // In no file: nothing, and no database named.
    assert_eq!(
        databases.lookup("203.0.113.1".parse().unwrap()).unwrap(),
        NetworkOwner::default()
    );
}

#[test]
fn the_first_file_that_answers_a_field_wins() {
    let ipinfo = database(
        MmdbLayout::IpinfoLite,
        "ipinfo lite.mmdb",
        &[MmdbEntry::new(
            "192.0.2.0/24",
            Some(15169),
            Some("IPinfo's idea"),
            Some("us"),
        )],
    );
    let databases = IpDatabases::new(vec![country_file(), ipinfo, asn_file()]);
    // Country from the first file; ASN and organisation from IPinfo, before the ASN file.
    assert_eq!(
        databases.lookup("192.0.2.1".parse().unwrap()).unwrap(),
        owner(
            Some(15169),
            Some("IPinfo's idea"),
            Some("DE"),
            Some("GeoLite2-Country 2026-11-28, ipinfo lite.mmdb 2026-11-28")
        )
    );
    // Outside the country file's /25, IPinfo's lower-case "us" is the country, upper-cased.
    assert_eq!(
        databases
            .lookup("192.0.2.129".parse().unwrap())
            .unwrap()
            .country
            .as_deref(),
        Some("US")
    );
}

#[test]
fn one_cache_across_many_addresses_gives_what_each_lookup_does() {
    let ipinfo = || {
        database(
            MmdbLayout::IpinfoLite,
            "ipinfo lite.mmdb",
            &[MmdbEntry::new(
                "192.0.2.0/26",
                Some(15169),
                None,
                Some("us"),
            )],
        )
    };
    let orders = [
        vec![asn_file(), country_file()],
        vec![country_file(), ipinfo(), asn_file()],
        vec![ipinfo(), country_file()],
    ];
    // Addresses of the same networks again and again, in and out of every file.
    let addresses: Vec<IpAddr> = (0..6000u32)
        .map(|n| match n % 4 {
            0 => IpAddr::from([192, 0, 2, (n % 256) as u8]),
            1 => IpAddr::from([198, 51, 100, (n % 256) as u8]),
            2 => format!("2001:db8:{:x}::{:x}", n % 3, n).parse().unwrap(),
            _ => IpAddr::from(std::net::Ipv4Addr::from(n.wrapping_mul(2_654_435_761))),
        })
        .collect();
    for files in orders {
        let databases = IpDatabases::new(files);
        let mut cache = OwnerCache::default();
        for ip in &addresses {
            let cached = databases.lookup_cached(*ip, &mut cache).unwrap();
            assert_eq!(*cached, databases.lookup(*ip).unwrap(), "{ip}");
        }
    }
}

#[test]
fn a_city_shaped_file_gives_the_country() {
    let city = database(
        MmdbLayout::City,
        "GeoLite2-City",
        &[MmdbEntry::new("203.0.113.0/24", None, None, Some("NL"))],
    );
    let databases = IpDatabases::new(vec![city]);
    assert_eq!(
        databases.lookup("203.0.113.50".parse().unwrap()).unwrap(),
        owner(None, None, Some("NL"), Some("GeoLite2-City 2026-11-28"))
    );
}

#[test]
fn odd_values_are_data_or_no_answer() {
    let long = "x".repeat(MAX_AS_ORG_CHARS + 40);
    let hostile = database(
        MmdbLayout::IpinfoLite,
        "Hostile\x1b[31m",
        &[
            MmdbEntry::new(
                "192.0.2.0/24",
                Some(64500),
                Some("Evil\x1b[2J\u{202e}Corp\n"),
                Some("Germany"),
            ),
            MmdbEntry::new("198.51.100.0/24", Some(0), Some(&long), Some("d3")),
        ],
    );
    let databases = IpDatabases::new(vec![hostile]);
    // Control characters and bidi overrides are kept as data (callers escape); a country
    // name is not a code.
    let found = databases.lookup("192.0.2.1".parse().unwrap()).unwrap();
    assert_eq!(found.as_org.as_deref(), Some("Evil\x1b[2J\u{202e}Corp\n"));
    assert_eq!(found.country, None);
    assert_eq!(
        found.ip_database.as_deref(),
        Some("Hostile\x1b[31m 2026-11-28")
    );
    // AS0 is no answer; a long organisation is cut to MAX_AS_ORG_CHARS characters.
    let found = databases.lookup("198.51.100.1".parse().unwrap()).unwrap();
    assert_eq!(found.asn, None);
    assert_eq!(found.as_org.unwrap().chars().count(), MAX_AS_ORG_CHARS);
    assert_eq!(found.country, None);
}

#[test]
fn a_file_that_is_not_an_mmdb_is_one_error_naming_it() {
    let error = IpDatabase::from_bytes(b"not a database at all".to_vec(), "/srv/GeoLite2-ASN.mmdb")
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, IdentifyError::IpDatabase { .. }));
    assert!(
        text.starts_with(
            "ip_database /srv/GeoLite2-ASN.mmdb: not a readable MaxMind DB (MMDB) file"
        ),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");

    // Cut short: the metadata at the end is gone.
    let bytes = one_network_file();
    let half = bytes[..bytes.len() / 2].to_vec();
    assert!(IpDatabase::from_bytes(half, "/srv/cut.mmdb").is_err());
    assert!(IpDatabase::from_bytes(Vec::new(), "/srv/empty.mmdb").is_err());
}

#[test]
fn a_damaged_record_is_an_error_naming_the_file_not_an_unknown_owner() {
    let mut bytes = one_network_file();
    // The control byte of the organisation string becomes an extended type that does not
    // exist (0x00, then 'E' = 69: type 76).
    let at = bytes
        .windows(16)
        .position(|window| window == b"Example Mail Net")
        .unwrap();
    bytes[at - 1] = 0;
    let databases = IpDatabases::new(vec![
        IpDatabase::from_bytes(bytes, "/srv/damaged.mmdb").unwrap(),
    ]);
    let error = databases.lookup("192.0.2.1".parse().unwrap()).unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("ip_database /srv/damaged.mmdb: cannot read the record of 192.0.2.1: "),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
    // An address the damaged record does not cover is still answered (nothing).
    assert_eq!(
        databases.lookup("203.0.113.1".parse().unwrap()).unwrap(),
        NetworkOwner::default()
    );
}
