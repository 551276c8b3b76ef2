//! Who is a sending source? Names the service behind a source IP from evidence, strongest
//! first:
//!
//! 1. a DKIM signature that *passed* for a domain of a catalogue service ([`Evidence::Dkim`]);
//! 2. an SPF `pass` for a catalogue service's return-path domain ([`Evidence::Spf`]);
//! 3. a forward-confirmed reverse DNS name whose organisational domain is a catalogue
//!    service's ([`Evidence::Ptr`]). A PTR that was not forward-confirmed never names a
//!    service: whoever controls an address's reverse zone can make it say anything.
//!
//! Beside the service, [`IpDatabases`] gives the network owner (ASN, AS organisation) and
//! country of an address from local MMDB files (MaxMind GeoLite2, DB-IP Lite, IPinfo Lite
//! layouts), handed in as bytes.
//!
//! The [`Catalogue`] is a TOML file embedded in the crate (`services.toml`), which a user
//! file can extend or override ([`Catalogue::merge`]). Domains match as suffixes on label
//! boundaries: `amazonses.com` names `eu-west-1.amazonses.com` but not `notamazonses.com`.
//!
//! # Invariants
//! - No I/O, no clock: the caller hands in the evidence, the catalogue text and the IP
//!   databases' bytes.
//! - Catalogue text is data: names and hints are never printed by this crate; callers escape
//!   them like any other outside text.
//!
//! # Example
//! ```
//! use ruadb_identify::{Catalogue, Evidence, SourceEvidence};
//! let catalogue = Catalogue::builtin()?;
//! let evidence = SourceEvidence {
//!     dkim_pass: vec!["eu-west-1.amazonses.com".into()],
//!     ..SourceEvidence::default()
//! };
//! let named = catalogue.identify(&evidence).unwrap();
//! assert_eq!((named.service.name.as_str(), named.evidence), ("Amazon SES", Evidence::Dkim));
//! # Ok::<(), ruadb_identify::IdentifyError>(())
//! ```

mod catalogue;
mod ipdb;

pub use catalogue::{BUILTIN_CATALOGUE, Catalogue, Service, ServiceKind};
pub use ipdb::{IpDatabase, IpDatabases, MAX_AS_ORG_CHARS, NetworkOwner, OwnerCache};

/// What went wrong reading a catalogue or an IP database.
#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    /// The catalogue text is not valid: TOML syntax, an unknown key, a bad kind or domain.
    #[error("{origin}: line {line}: {message}")]
    Catalogue {
        /// Where the text came from (a path, or "built-in catalogue").
        origin: String,
        /// The 1-based line of the error (1 when the parser gave no position).
        line: usize,
        /// What is wrong, on one line.
        message: String,
    },
    /// An IP database file that cannot be used: not an MMDB file, damaged, or a record that
    /// cannot be decoded.
    #[error("ip_database {origin}: {message}")]
    IpDatabase {
        /// The file's path, as configured.
        origin: String,
        /// What is wrong, on one line.
        message: String,
    },
}

/// Which evidence named a service, strongest first (the order of the variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Evidence {
    /// A DKIM signature that passed for one of the service's `dkim` domains.
    Dkim,
    /// An SPF pass for one of the service's `spf` (return-path) domains.
    Spf,
    /// A forward-confirmed PTR whose organisational domain is one of the service's `ptr`
    /// domains.
    Ptr,
}

impl Evidence {
    /// The spelling in the database and in JSON: `dkim`, `spf` or `ptr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::Dkim => "dkim",
            Evidence::Spf => "spf",
            Evidence::Ptr => "ptr",
        }
    }

    /// The evidence spelled `text` ([`Evidence::as_str`]), if any.
    pub fn parse(text: &str) -> Option<Evidence> {
        match text {
            "dkim" => Some(Evidence::Dkim),
            "spf" => Some(Evidence::Spf),
            "ptr" => Some(Evidence::Ptr),
            _ => None,
        }
    }
}

/// What is known about one source IP, as the reports and reverse DNS tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceEvidence {
    /// Domains of DKIM signatures that passed (`d=`), any case.
    pub dkim_pass: Vec<String>,
    /// Domains that passed SPF for the envelope sender (MAIL FROM), any case.
    pub spf_pass: Vec<String>,
    /// The organisational domain of the source's PTR name, only if the PTR was
    /// forward-confirmed (the name's A/AAAA records contain the IP).
    pub confirmed_ptr_base: Option<String>,
}

/// A service named for a source, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identification<'a> {
    /// The service.
    pub service: &'a Service,
    /// The evidence that named it.
    pub evidence: Evidence,
}

impl Catalogue {
    /// The service `evidence` names, by the strongest evidence that names one; among
    /// domains of equal strength, the first in the evidence's order that matches.
    pub fn identify(&self, evidence: &SourceEvidence) -> Option<Identification<'_>> {
        let first = |domains: &[String], kind: Evidence| {
            domains.iter().find_map(|domain| {
                self.service_for(kind, domain)
                    .map(|service| Identification {
                        service,
                        evidence: kind,
                    })
            })
        };
        first(&evidence.dkim_pass, Evidence::Dkim)
            .or_else(|| first(&evidence.spf_pass, Evidence::Spf))
            .or_else(|| {
                let base = evidence.confirmed_ptr_base.as_slice();
                first(base, Evidence::Ptr)
            })
    }
}
