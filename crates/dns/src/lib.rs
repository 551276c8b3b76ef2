//! DNS lookups for ruadb over a maintained stub resolver (hickory-resolver), with the bounds a
//! cron job needs: a per-query timeout, a cap on queries in flight, and a deadline for the
//! whole run after which unfinished lookups are dropped (the caller tries them next time).
//!
//! [`Resolver::reverse_confirmed`] is forward-confirmed reverse DNS: the PTR names of an
//! address, then the A or AAAA records of each name; a name is *confirmed* only if they
//! contain the address. Whoever controls an address's reverse zone can make its PTR say
//! anything; only the forward zone's owner can confirm it.
//!
//! # Invariants
//! - Names from the network are data: they come back as text decoded label by label (any
//!   byte a label holds, lossily as UTF-8), never printed here; callers escape them.
//! - No lookup outlives the deadline, and no more than [`DnsConfig::concurrency`] addresses
//!   are resolved at once.
//!
//! # Example
//! ```no_run
//! use std::time::{Duration, Instant};
//! let resolver = ruadb_dns::Resolver::new(&ruadb_dns::DnsConfig {
//!     nameservers: vec!["127.0.0.1:10053".parse()?],
//!     ..ruadb_dns::DnsConfig::default()
//! })?;
//! let deadline = Instant::now() + Duration::from_secs(10);
//! for (ip, answer) in resolver.reverse_confirmed(&["192.0.2.10".parse()?], deadline) {
//!     println!("{ip}: {answer:?}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as ResponseError, NetError};
use hickory_resolver::proto::rr::{Name, RData, RecordType};

/// The most PTR names of one address whose forward records are looked up: a real address has
/// one; a hostile reverse zone could list hundreds.
pub const MAX_PTR_NAMES: usize = 4;

/// How to reach DNS and how much of it one run may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Servers to ask (UDP, then TCP for truncated answers), in order. Empty: the system
    /// resolver's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// How long one query may wait for an answer (no retries: the next run tries again).
    pub timeout: Duration,
    /// How many addresses are resolved at once.
    pub concurrency: usize,
}

impl Default for DnsConfig {
    fn default() -> DnsConfig {
        DnsConfig {
            nameservers: Vec::new(),
            timeout: Duration::from_secs(2),
            concurrency: 32,
        }
    }
}

/// What went wrong setting a resolver up (lookups themselves never fail: see [`Reverse`]).
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The system resolver configuration could not be read.
    #[error("cannot read the system resolver configuration: {0}")]
    SystemConfig(String),
    /// The resolver or its runtime could not start.
    #[error("cannot start the DNS resolver: {0}")]
    Start(String),
}

/// The reverse DNS of one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reverse {
    /// A PTR name: the first one whose A/AAAA records contain the address (`confirmed`), or
    /// else the first one.
    Name {
        /// The name without the final dot, decoded label by label (outside text).
        name: String,
        /// Whether the name's A (IPv4) or AAAA (IPv6) records contain the address.
        confirmed: bool,
    },
    /// The address has no PTR record (NXDOMAIN or no data): a definite answer.
    NoName,
    /// The server answered with an error (SERVFAIL, REFUSED…), named here: an answer, but
    /// not about the address.
    Failed(String),
    /// No answer within the per-query timeout: nothing is known.
    TimedOut,
}

/// A DNS stub resolver with its own single-threaded runtime; the calls block.
pub struct Resolver {
    runtime: tokio::runtime::Runtime,
    resolver: TokioResolver,
    concurrency: usize,
}

impl Resolver {
    /// A resolver asking `config.nameservers` (or the system's), each query bounded by
    /// `config.timeout`. The system's search domains are never applied: every name asked is
    /// absolute.
    pub fn new(config: &DnsConfig) -> Result<Resolver, DnsError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|error| DnsError::Start(error.to_string()))?;
        let provider = TokioRuntimeProvider::default();
        let mut builder = if config.nameservers.is_empty() {
            TokioResolver::builder(provider)
                .map_err(|error| DnsError::SystemConfig(error.to_string()))?
        } else {
            let servers = config
                .nameservers
                .iter()
                .map(|address| {
                    let connection = |mut connection: ConnectionConfig| {
                        connection.port = address.port();
                        connection
                    };
                    NameServerConfig::new(
                        address.ip(),
                        true,
                        vec![
                            connection(ConnectionConfig::udp()),
                            connection(ConnectionConfig::tcp()),
                        ],
                    )
                })
                .collect();
            TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = config.timeout;
        // One attempt per query: a lost answer is retried by the next run, not by this one,
        // so the per-query timeout is the most a query can take.
        options.attempts = 0;
        options.ndots = 0;
        // The answers are kept in the database; the resolver's own cache only needs to
        // share forward lookups between addresses of one run.
        options.cache_size = 1024;
        let resolver = {
            let _entered = runtime.enter();
            builder
                .build()
                .map_err(|error| DnsError::Start(error.to_string()))?
        };
        Ok(Resolver {
            runtime,
            resolver,
            concurrency: config.concurrency.max(1),
        })
    }

    /// The forward-confirmed reverse DNS of each address, as answers arrive (not in input
    /// order). Lookups not finished by `deadline` are dropped: their addresses are missing
    /// from the result, and the caller may try them again later.
    pub fn reverse_confirmed(&self, ips: &[IpAddr], deadline: Instant) -> Vec<(IpAddr, Reverse)> {
        let deadline = tokio::time::Instant::from_std(deadline);
        self.runtime.block_on(async {
            let lookups = futures_util::stream::iter(ips.iter().copied())
                .map(|ip| async move {
                    tokio::time::timeout_at(deadline, self.reverse_one(ip))
                        .await
                        .ok()
                        .map(|answer| (ip, answer))
                })
                .buffer_unordered(self.concurrency);
            // Every lookup is bounded by the deadline, so the stream ends by then too.
            lookups
                .filter_map(|answer| async move { answer })
                .collect()
                .await
        })
    }

    async fn reverse_one(&self, ip: IpAddr) -> Reverse {
        let lookup = match self.resolver.reverse_lookup(ip).await {
            Ok(lookup) => lookup,
            Err(error) => return failure(&error),
        };
        let names: Vec<Name> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::PTR(ptr) => Some(ptr.0.clone()),
                _ => None,
            })
            .take(MAX_PTR_NAMES)
            .collect();
        let Some(first) = names.first() else {
            return Reverse::NoName;
        };
        for name in &names {
            if self.forward_contains(name, ip).await {
                return Reverse::Name {
                    name: name_text(name),
                    confirmed: true,
                };
            }
        }
        Reverse::Name {
            name: name_text(first),
            confirmed: false,
        }
    }

    /// Whether `name`'s A (for IPv4) or AAAA (for IPv6) records contain `ip`. Any failure
    /// (no such name, SERVFAIL, timeout) means not confirmed.
    async fn forward_contains(&self, name: &Name, ip: IpAddr) -> bool {
        let mut name = name.clone();
        name.set_fqdn(true);
        let lookup = match ip {
            IpAddr::V4(_) => self.resolver.ipv4_lookup(name).await,
            IpAddr::V6(_) => self.resolver.ipv6_lookup(name).await,
        };
        lookup.is_ok_and(|lookup| {
            lookup.answers().iter().any(|record| match &record.data {
                RData::A(a) => IpAddr::V4(a.0) == ip,
                RData::AAAA(aaaa) => IpAddr::V6(aaaa.0) == ip,
                _ => false,
            })
        })
    }
}

/// A failed lookup as a [`Reverse`]: no records is an answer, a timeout is not.
fn failure(error: &NetError) -> Reverse {
    if error.is_no_records_found() {
        return Reverse::NoName;
    }
    match error {
        NetError::Timeout => Reverse::TimedOut,
        NetError::Dns(ResponseError::ResponseCode(code)) => Reverse::Failed(code.to_string()),
        other => Reverse::Failed(other.to_string()),
    }
}

/// A name as text without the final dot, each label's bytes decoded (lossily) as UTF-8 and
/// joined with dots: the bytes a label holds (control characters included) stay data.
fn name_text(name: &Name) -> String {
    name.iter()
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(".")
}

/// The answer to one question (TXT, SPF, MX, A/AAAA, PTR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// The records of the asked type.
    Records(T),
    /// A definite "none": NXDOMAIN, or the name exists without records of this type.
    NoRecords,
    /// The server answered with an error (SERVFAIL, REFUSED…), or the name cannot be asked;
    /// named here: nothing is known about the records.
    Failed(String),
    /// No answer in time (the per-query timeout or the run's deadline): nothing is known.
    TimedOut,
}

impl<T> Answer<T> {
    /// Why nothing is known, for an answer that is neither records nor a definite "none".
    pub fn unknown_reason(&self) -> Option<String> {
        match self {
            Answer::Records(_) | Answer::NoRecords => None,
            Answer::Failed(reason) => Some(format!("the DNS server answered {reason}")),
            Answer::TimedOut => Some("the DNS query timed out".to_owned()),
        }
    }
}

/// The type code of the SPF resource record (RFC 4408 §3.1.1), which hickory does not name.
const SPF_TYPE: u16 = 99;

/// The character strings of TXT-format RDATA (each a length octet and that many octets),
/// concatenated and decoded lossily as UTF-8; a length running past the end keeps what is
/// there.
fn character_strings(rdata: &[u8]) -> String {
    let mut text = Vec::with_capacity(rdata.len());
    let mut rest = rdata;
    while let Some((&length, tail)) = rest.split_first() {
        let length = usize::from(length).min(tail.len());
        text.extend_from_slice(&tail[..length]);
        rest = &tail[length..];
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The most records of one forward answer that are kept: a hostile zone could list
/// thousands.
pub const MAX_RECORDS: usize = 64;

impl Resolver {
    /// The TXT records at `name` (absolute, without the final dot), each record's character
    /// strings concatenated (RFC 7208 §3.3) and decoded lossily as UTF-8. Nothing is asked
    /// after `deadline`.
    pub fn txt(&self, name: &str, deadline: Instant) -> Answer<Vec<String>> {
        self.forward(name, deadline, |resolver, name| async move {
            resolver.txt_lookup(name).await.map(|lookup| {
                lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|part| String::from_utf8_lossy(part))
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .take(MAX_RECORDS)
                    .collect()
            })
        })
    }

    /// The exchanges of `name`'s MX records in preference order, without the final dot (a
    /// null MX, RFC 7505, is `""`).
    pub fn mx(&self, name: &str, deadline: Instant) -> Answer<Vec<String>> {
        self.forward(name, deadline, |resolver, name| async move {
            resolver.mx_lookup(name).await.map(|lookup| {
                let mut exchanges: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::MX(mx) => Some((mx.preference, name_text(&mx.exchange))),
                        _ => None,
                    })
                    .take(MAX_RECORDS)
                    .collect();
                exchanges.sort();
                exchanges
                    .into_iter()
                    .map(|(_, exchange)| exchange)
                    .collect()
            })
        })
    }

    /// The records of the SPF resource record type (99) at `name`, each record's character
    /// strings concatenated as [`Resolver::txt`] does. RFC 4408 defined the type; RFC 7208
    /// §3.1 removed it, so receivers read only TXT: a record of this type is worth reporting.
    pub fn spf_type(&self, name: &str, deadline: Instant) -> Answer<Vec<String>> {
        self.forward(name, deadline, |resolver, name| async move {
            resolver
                .lookup(name, RecordType::Unknown(SPF_TYPE))
                .await
                .map(|lookup| {
                    lookup
                        .answers()
                        .iter()
                        .filter_map(|record| match &record.data {
                            RData::Unknown { rdata, .. } => {
                                Some(character_strings(&rdata.anything))
                            }
                            _ => None,
                        })
                        .take(MAX_RECORDS)
                        .collect()
                })
        })
    }

    /// The names of `ip`'s PTR records, without the final dot, decoded label by label; not
    /// confirmed (see [`Resolver::reverse_confirmed`] for that).
    pub fn ptr(&self, ip: IpAddr, deadline: Instant) -> Answer<Vec<String>> {
        let name = Name::from(ip).to_string();
        self.forward(&name, deadline, |resolver, name| async move {
            resolver.lookup(name, RecordType::PTR).await.map(|lookup| {
                lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::PTR(ptr) => Some(name_text(&ptr.0)),
                        _ => None,
                    })
                    .take(MAX_RECORDS)
                    .collect()
            })
        })
    }

    /// The A and AAAA addresses of `name`.
    pub fn addresses(&self, name: &str, deadline: Instant) -> Answer<Vec<IpAddr>> {
        self.forward(name, deadline, |resolver, name| async move {
            resolver
                .lookup_ip(name)
                .await
                .map(|lookup| lookup.iter().take(MAX_RECORDS).collect())
        })
    }

    /// One forward question for `name`, bounded by `deadline`, as an [`Answer`]; an empty
    /// answer is "no records".
    fn forward<'a, T, F>(
        &'a self,
        name: &str,
        deadline: Instant,
        ask: impl FnOnce(&'a TokioResolver, Name) -> F,
    ) -> Answer<Vec<T>>
    where
        F: Future<Output = Result<Vec<T>, NetError>>,
    {
        let mut name = match Name::from_str_relaxed(name) {
            Ok(name) => name,
            Err(error) => return Answer::Failed(format!("nothing: not a DNS name ({error})")),
        };
        name.set_fqdn(true);
        if Instant::now() >= deadline {
            return Answer::TimedOut;
        }
        let deadline = tokio::time::Instant::from_std(deadline);
        let question = ask(&self.resolver, name);
        // The timer is made inside the runtime, which it needs.
        let answer = self
            .runtime
            .block_on(async move { tokio::time::timeout_at(deadline, question).await });
        match answer {
            Err(_elapsed) => Answer::TimedOut,
            Ok(Ok(records)) if records.is_empty() => Answer::NoRecords,
            Ok(Ok(records)) => Answer::Records(records),
            Ok(Err(error)) if error.is_no_records_found() => Answer::NoRecords,
            Ok(Err(NetError::Timeout)) => Answer::TimedOut,
            Ok(Err(NetError::Dns(ResponseError::ResponseCode(code)))) => {
                Answer::Failed(code.to_string())
            }
            Ok(Err(other)) => Answer::Failed(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::character_strings;

    #[test]
    fn character_strings_are_joined() {
        assert_eq!(character_strings(b"\x06v=spf1\x05 -all"), "v=spf1 -all");
        assert_eq!(character_strings(b""), "");
        assert_eq!(character_strings(b"\x09short"), "short");
    }
}
