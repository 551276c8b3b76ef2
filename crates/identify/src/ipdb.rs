//! Network owner and country of an address from local IP databases in the MaxMind DB format
//! (MMDB), read with the `maxminddb` crate.
//!
//! # Layouts read
//! One file may hold any of the three answers; each is read from the first field present, in
//! this order:
//! - ASN: `autonomous_system_number` (MaxMind GeoLite2/GeoIP2 ASN, DB-IP ASN Lite),
//!   `traits.autonomous_system_number` (GeoIP2 Enterprise, DB-IP ISP), `asn` as `"AS15169"`
//!   (IPinfo Lite).
//! - AS organisation: `autonomous_system_organization`, `traits.autonomous_system_organization`,
//!   `as_name` (IPinfo Lite).
//! - Country: `country.iso_code` (GeoLite2/GeoIP2 Country and City, DB-IP Country and City
//!   Lite), `country_code` (IPinfo Lite), `country` as a code (IPinfo's older country-ASN
//!   file), then `registered_country.iso_code` (MaxMind, when the located country is absent).
//!
//! # Rules
//! - Several files combine: for each field, the first file (in the configured order) that
//!   answers it wins. [`NetworkOwner::ip_database`] names the files that answered.
//! - A country is two ASCII letters (kept upper-case); any other value is no answer. An ASN
//!   is 1 to 4294967295. An AS organisation is data, kept as written up to
//!   [`MAX_AS_ORG_CHARS`] characters (control characters included: callers escape it).
//! - An IPv6 address asked of an IPv4-only file is not in that file. A record that cannot be
//!   decoded is an error naming the file: a damaged file is not silently "no answer".

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::IdentifyError;

/// The longest AS organisation kept, in characters; the rest is cut off.
pub const MAX_AS_ORG_CHARS: usize = 256;

/// The longest `database_type` shown in a label, in characters.
const MAX_TYPE_CHARS: usize = 64;

/// One IP database file, read whole into memory.
pub struct IpDatabase {
    origin: String,
    label: String,
    reader: maxminddb::Reader<Vec<u8>>,
}

impl fmt::Debug for IpDatabase {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("IpDatabase")
            .field("origin", &self.origin)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl IpDatabase {
    /// The database in `bytes` (a whole MMDB file), read from `origin` (a path, for errors).
    /// Checks the file's metadata and layout; records are decoded as they are asked for.
    pub fn from_bytes(bytes: Vec<u8>, origin: &str) -> Result<IpDatabase, IdentifyError> {
        let reader =
            maxminddb::Reader::from_source(bytes).map_err(|error| IdentifyError::IpDatabase {
                origin: origin.to_owned(),
                message: format!("not a readable MaxMind DB (MMDB) file: {error}"),
            })?;
        let label = label(reader.metadata());
        Ok(IpDatabase {
            origin: origin.to_owned(),
            label,
            reader,
        })
    }

    /// Where the file was read from, as given to [`IpDatabase::from_bytes`].
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The file's `database_type` and build date, e.g. `GeoLite2-ASN 2026-11-28` (outside
    /// text: escape before printing).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What this file says about `ip`, the `index`th of its [`IpDatabases`]: `None` when the
    /// address is not in it. A record met before is taken from `cache`.
    fn lookup<'c>(
        &self,
        ip: IpAddr,
        index: usize,
        cache: &'c mut OwnerCache,
    ) -> Result<Option<(usize, &'c Answer)>, IdentifyError> {
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return Ok(None);
        }
        let failed = |error: maxminddb::MaxMindDbError| IdentifyError::IpDatabase {
            origin: self.origin.clone(),
            message: format!("cannot read the record of {ip}: {error}"),
        };
        let found = self.reader.lookup(ip).map_err(failed)?;
        let Some(offset) = found.offset() else {
            return Ok(None);
        };
        let answer = match cache.answers.entry((index, offset)) {
            Entry::Occupied(answer) => answer.into_mut(),
            Entry::Vacant(place) => {
                let Some(record) = found.decode::<Loose>().map_err(failed)? else {
                    return Ok(None);
                };
                place.insert(Answer::from_record(&record))
            }
        };
        Ok(Some((offset, answer)))
    }
}

/// The records of [`IpDatabases`] decoded so far, by file and place in the file, and the
/// owners made of them, for [`IpDatabases::lookup_cached`]: many addresses share a network's
/// record, which is then decoded once. A few thousand of each at most.
#[derive(Debug, Default)]
pub struct OwnerCache {
    answers: HashMap<(usize, usize), Answer>,
    /// Owners by the place of each file's record (in file order, up to the last file asked).
    owners: HashMap<Vec<Option<usize>>, Arc<NetworkOwner>>,
}

impl OwnerCache {
    /// Records, and owners, held before the cache starts over.
    const ENTRIES: usize = 4096;
}

/// `database_type` (cut to [`MAX_TYPE_CHARS`]) and the build date, as a day in UTC.
fn label(metadata: &maxminddb::Metadata) -> String {
    let kind: String = match metadata.database_type.trim() {
        "" => "unnamed".to_owned(),
        kind => kind.chars().take(MAX_TYPE_CHARS).collect(),
    };
    let built = i64::try_from(metadata.build_epoch)
        .ok()
        .and_then(|epoch| chrono::DateTime::from_timestamp(epoch, 0));
    match built {
        Some(built) => format!("{kind} {}", built.format("%Y-%m-%d")),
        None => format!("{kind} (no build date)"),
    }
}

/// IP database files consulted in order, each field answered by the first that knows it.
#[derive(Debug, Default)]
pub struct IpDatabases {
    databases: Vec<IpDatabase>,
    signature: String,
}

/// What the IP databases say about one address. Every field is `None` when no file knew it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NetworkOwner {
    /// The autonomous system number.
    pub asn: Option<u32>,
    /// The autonomous system's organisation (outside text: escape before printing).
    pub as_org: Option<String>,
    /// ISO 3166-1 alpha-2 country code, upper-case.
    pub country: Option<String>,
    /// The labels ([`IpDatabase::label`]) of the files that gave an answer, in order, joined
    /// by `", "`; `None` when none did.
    pub ip_database: Option<String>,
}

impl IpDatabases {
    /// The files, in the order they are asked.
    pub fn new(databases: Vec<IpDatabase>) -> IpDatabases {
        let signature = databases
            .iter()
            .map(IpDatabase::label)
            .collect::<Vec<_>>()
            .join(", ");
        IpDatabases {
            databases,
            signature,
        }
    }

    /// Whether no file is configured.
    pub fn is_empty(&self) -> bool {
        self.databases.is_empty()
    }

    /// The files.
    pub fn databases(&self) -> &[IpDatabase] {
        &self.databases
    }

    /// Every file's label, in order, joined by `", "`: what an address was looked up in. When
    /// a file is replaced by a new build, or the list changes, the signature changes, so a
    /// caller that keeps it knows which answers to ask again.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The owner and country of `ip`, each field from the first file that answers it.
    pub fn lookup(&self, ip: IpAddr) -> Result<NetworkOwner, IdentifyError> {
        let owner = self.lookup_cached(ip, &mut OwnerCache::default())?;
        Ok(Arc::unwrap_or_clone(owner))
    }

    /// [`IpDatabases::lookup`] with the records and owners of the addresses asked before in
    /// `cache`: addresses of the same networks share one owner, made once.
    pub fn lookup_cached(
        &self,
        ip: IpAddr,
        cache: &mut OwnerCache,
    ) -> Result<Arc<NetworkOwner>, IdentifyError> {
        // Started over before, never during, a lookup: the records it finds are read again
        // below.
        if cache.answers.len() + self.databases.len() > OwnerCache::ENTRIES {
            cache.answers.clear();
        }
        // Which record each file has for `ip`, and whether the fields are answered: the
        // files after the one that answers the last field are not asked.
        let mut places = Vec::with_capacity(self.databases.len());
        let mut answered = [false; 3];
        for (index, database) in self.databases.iter().enumerate() {
            if answered == [true; 3] {
                break;
            }
            let found = database.lookup(ip, index, cache)?;
            places.push(found.map(|(offset, _)| offset));
            if let Some((_, answer)) = found {
                answered[0] |= answer.asn.is_some();
                answered[1] |= answer.as_org.is_some();
                answered[2] |= answer.country.is_some();
            }
        }
        if let Some(owner) = cache.owners.get(&places) {
            return Ok(Arc::clone(owner));
        }
        let mut owner = NetworkOwner::default();
        let mut labels: Vec<&str> = Vec::new();
        for (index, (database, offset)) in self.databases.iter().zip(&places).enumerate() {
            let Some(answer) = offset.and_then(|offset| cache.answers.get(&(index, offset))) else {
                continue;
            };
            let used = [
                fill(&mut owner.asn, answer.asn),
                fill(&mut owner.as_org, answer.as_org.clone()),
                fill(&mut owner.country, answer.country.clone()),
            ];
            if used.contains(&true) && !labels.contains(&database.label()) {
                labels.push(database.label());
            }
        }
        if !labels.is_empty() {
            owner.ip_database = Some(labels.join(", "));
        }
        let owner = Arc::new(owner);
        if cache.owners.len() >= OwnerCache::ENTRIES {
            cache.owners.clear();
        }
        cache.owners.insert(places, Arc::clone(&owner));
        Ok(owner)
    }
}

/// Puts `value` in `slot` unless an earlier file filled it; whether it did.
fn fill<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    if slot.is_some() || value.is_none() {
        return false;
    }
    *slot = value;
    true
}

/// What one file's record says, each field checked ([`IpDatabases`]'s rules).
#[derive(Debug)]
struct Answer {
    asn: Option<u32>,
    as_org: Option<String>,
    country: Option<String>,
}

impl Answer {
    fn from_record(record: &Loose) -> Answer {
        let traits = record.get("traits");
        let asn = [
            record.get("autonomous_system_number"),
            traits.and_then(|traits| traits.get("autonomous_system_number")),
            record.get("asn"),
        ]
        .into_iter()
        .flatten()
        .find_map(Loose::as_asn);
        let as_org = [
            record.get("autonomous_system_organization"),
            traits.and_then(|traits| traits.get("autonomous_system_organization")),
            record.get("as_name"),
        ]
        .into_iter()
        .flatten()
        .find_map(Loose::as_text)
        .map(|text| text.chars().take(MAX_AS_ORG_CHARS).collect());
        let country = record.get("country");
        let country = [
            country.and_then(|country| country.get("iso_code")),
            record.get("country_code"),
            country,
            record
                .get("registered_country")
                .and_then(|country| country.get("iso_code")),
        ]
        .into_iter()
        .flatten()
        .find_map(Loose::as_country);
        Answer {
            asn,
            as_org,
            country,
        }
    }
}

/// The keys of a record that [`Answer::from_record`] reads, at any depth; every other entry
/// is skipped while decoding, so a City record's names in many languages cost nothing.
const KEYS: [&str; 9] = [
    "autonomous_system_number",
    "autonomous_system_organization",
    "asn",
    "as_name",
    "traits",
    "country",
    "country_code",
    "iso_code",
    "registered_country",
];

/// The longest text kept from a record, in bytes: enough for any field read, so a hostile
/// file's megabyte string is not copied.
const MAX_TEXT_BYTES: usize = 4 * MAX_AS_ORG_CHARS;

/// A record's value, kept only as far as the fields read need it: the same key holds a map
/// in one layout and text in another (`country`), so the record is decoded loosely and each
/// field checked afterwards.
#[derive(Debug)]
enum Loose {
    Number(u64),
    Text(String),
    Map(HashMap<&'static str, Loose>),
    Other,
}

impl Loose {
    fn get(&self, key: &str) -> Option<&Loose> {
        match self {
            Loose::Map(map) => map.get(key),
            _ => None,
        }
    }

    fn as_text(&self) -> Option<&str> {
        match self {
            Loose::Text(text) if !text.trim().is_empty() => Some(text),
            _ => None,
        }
    }

    /// A number, or text such as `AS15169` or `15169`; 0 is no answer.
    fn as_asn(&self) -> Option<u32> {
        let number = match self {
            Loose::Number(number) => u32::try_from(*number).ok()?,
            Loose::Text(text) => {
                let text = text.trim();
                let digits = text
                    .strip_prefix("AS")
                    .or_else(|| text.strip_prefix("as"))
                    .unwrap_or(text);
                if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
                    return None;
                }
                digits.parse().ok()?
            }
            _ => return None,
        };
        (number != 0).then_some(number)
    }

    fn as_country(&self) -> Option<String> {
        let text = self.as_text()?;
        (text.len() == 2 && text.bytes().all(|byte| byte.is_ascii_alphabetic()))
            .then(|| text.to_ascii_uppercase())
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Loose, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an MMDB value")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Loose, E> {
        Ok(Loose::Number(value))
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Loose, E> {
        Ok(u64::try_from(value).map_or(Loose::Other, Loose::Number))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Loose, E> {
        Ok(u64::try_from(value).map_or(Loose::Other, Loose::Number))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Loose, E> {
        Ok(Loose::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Loose, E> {
        Ok(Loose::Other)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Loose, E> {
        Ok(Loose::Other)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Loose, E> {
        let mut end = value.len().min(MAX_TEXT_BYTES);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        Ok(Loose::Text(value[..end].to_owned()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        let mut kept = HashMap::new();
        while let Some(key) = map.next_key::<KeyOfInterest>()? {
            match key.0 {
                Some(key) => {
                    let value = map.next_value::<Loose>()?;
                    kept.insert(key, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Loose::Map(kept))
    }
}

/// A map key: one of [`KEYS`], or `None` for a key that is skipped.
struct KeyOfInterest(Option<&'static str>);

impl<'de> Deserialize<'de> for KeyOfInterest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyOfInterest, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyOfInterest;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a map key")
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<KeyOfInterest, E> {
                Ok(KeyOfInterest(
                    KEYS.iter().copied().find(|known| *known == key),
                ))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}
