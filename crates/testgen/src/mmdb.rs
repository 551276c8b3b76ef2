//! Small IP databases in the MaxMind DB format (MMDB), shaped like the free databases users
//! download (MaxMind GeoLite2 ASN, Country and City, DB-IP Lite, IPinfo Lite), written with the
//! `mmdb-writer` crate. For tests and the demo: no real database is ever shipped.

use std::collections::BTreeMap;

use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{IpVersion, Value, Writer};

/// The record layout of a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmdbLayout {
    /// GeoLite2-ASN and DB-IP ASN Lite: `autonomous_system_number`,
    /// `autonomous_system_organization`.
    Asn,
    /// GeoLite2-Country and DB-IP Country Lite: `continent`, `country` {`iso_code`, `names`},
    /// `registered_country`.
    Country,
    /// GeoLite2-City: the Country layout plus `city`, `location`, `postal`, `subdivisions`.
    City,
    /// IPinfo Lite: flat text fields `asn` ("AS15169"), `as_name`, `as_domain`,
    /// `country_code`, `country` (a name), `continent_code`, `continent`.
    IpinfoLite,
}

/// One network and what the database says about it (absent fields are not written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MmdbEntry {
    /// The network, e.g. `192.0.2.0/24` or `2001:db8::/32`.
    pub network: String,
    /// The autonomous system number.
    pub asn: Option<u32>,
    /// The autonomous system's organisation.
    pub as_org: Option<String>,
    /// The ISO 3166-1 alpha-2 code of the country.
    pub country: Option<String>,
}

impl MmdbEntry {
    /// An entry for `network` with the given fields.
    pub fn new(
        network: &str,
        asn: Option<u32>,
        as_org: Option<&str>,
        country: Option<&str>,
    ) -> MmdbEntry {
        MmdbEntry {
            network: network.to_owned(),
            asn,
            as_org: as_org.map(str::to_owned),
            country: country.map(str::to_owned),
        }
    }
}

/// A database of `layout` named `database_type`, built at `build_epoch` (unix seconds),
/// holding `entries` (IPv6 tree, so IPv4 and IPv6 networks both fit), as file bytes.
pub fn write_mmdb(
    layout: MmdbLayout,
    database_type: &str,
    build_epoch: u64,
    entries: &[MmdbEntry],
) -> Result<Vec<u8>, crate::Error> {
    let built = std::time::UNIX_EPOCH + std::time::Duration::from_secs(build_epoch);
    let mut writer = Writer::builder(database_type)
        .ip_version(IpVersion::V6)
        .build_epoch(built)
        .description(&[("en", "ruadb test database")])
        .build();
    for entry in entries {
        let network: IpNet = entry
            .network
            .parse()
            .map_err(|_| crate::Error::Spec("an MMDB entry's network is not a CIDR"))?;
        writer
            .insert_value(network, record(layout, entry))
            .map_err(|_| crate::Error::Spec("the MMDB writer refused an entry"))?;
    }
    writer
        .to_bytes()
        .map_err(|_| crate::Error::Spec("the MMDB writer could not write the database"))
}

/// The record of `entry` in `layout`.
fn record(layout: MmdbLayout, entry: &MmdbEntry) -> Value {
    let mut fields: BTreeMap<String, Value> = BTreeMap::new();
    let mut put = |key: &str, value: Value| {
        fields.insert(key.to_owned(), value);
    };
    let names = |name: &str| Value::map([("en", Value::from(name)), ("de", Value::from(name))]);
    let country = |code: &str| {
        Value::map([
            ("geoname_id", Value::U32(6_252_001)),
            ("iso_code", Value::from(code)),
            ("names", names(&format!("Country {code}"))),
        ])
    };
    match layout {
        MmdbLayout::Asn => {
            if let Some(asn) = entry.asn {
                put("autonomous_system_number", Value::U32(asn));
            }
            if let Some(org) = &entry.as_org {
                put("autonomous_system_organization", Value::from(org.as_str()));
            }
        }
        MmdbLayout::Country | MmdbLayout::City => {
            put(
                "continent",
                Value::map([("code", Value::from("EU")), ("names", names("Europe"))]),
            );
            if let Some(code) = &entry.country {
                put("country", country(code));
                put("registered_country", country(code));
            }
            if layout == MmdbLayout::City {
                put(
                    "city",
                    Value::map([
                        ("geoname_id", Value::U32(2_950_159)),
                        ("names", names("Town")),
                    ]),
                );
                put(
                    "location",
                    Value::map([
                        ("accuracy_radius", Value::U16(100)),
                        ("latitude", Value::Double(52.5)),
                        ("longitude", Value::Double(13.4)),
                        ("time_zone", Value::from("Europe/Berlin")),
                    ]),
                );
                put("postal", Value::map([("code", Value::from("10115"))]));
                put(
                    "subdivisions",
                    Value::array([Value::map([
                        ("iso_code", Value::from("BE")),
                        ("names", names("Region")),
                    ])]),
                );
            }
        }
        MmdbLayout::IpinfoLite => {
            if let Some(asn) = entry.asn {
                put("asn", Value::from(format!("AS{asn}").as_str()));
            }
            if let Some(org) = &entry.as_org {
                put("as_name", Value::from(org.as_str()));
                put("as_domain", Value::from("example.net"));
            }
            if let Some(code) = &entry.country {
                put("country_code", Value::from(code.as_str()));
                put("country", Value::from(format!("Country {code}").as_str()));
            }
            put("continent_code", Value::from("EU"));
            put("continent", Value::from("Europe"));
        }
    }
    Value::Map(fields)
}
