//! The configuration file (TOML) and the settings resolved from it.
//!
//! Every key has a default, so an absent file is a valid configuration. Unknown keys are
//! errors that name the key: a typo such as `domian` must not silently accept every domain.
//! README section "Configuration" documents each key; keep the two in step.

use std::fmt;
use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use ruadb_report::{DomainName, FailurePrivacy, Limits, escape_for_terminal};
use ruadb_store::DnsCachePolicy;
use ruadb_summary::AlertThresholds;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    db: Option<PathBuf>,
    domains: Option<Vec<String>>,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    imap: ImapAccounts,
    #[serde(default)]
    alerts: AlertsFile,
    #[serde(default)]
    failure_reports: FailureReportsFile,
    #[serde(default)]
    identify: IdentifyFile,
}

/// `[failure_reports]`: what of a DMARC failure report may be kept beyond domains (both off
/// by default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureReportsFile {
    #[serde(default)]
    keep_addresses: bool,
    #[serde(default)]
    keep_subjects: bool,
}

/// `[alerts]`: the thresholds of `ruadb summary --alerts`. Absent keys keep the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsFile {
    new_source_messages: Option<u64>,
    pass_drop_points: Option<f64>,
}

impl AlertsFile {
    /// The defaults with the file's overrides, each checked to mean something.
    fn resolve(&self) -> anyhow::Result<AlertThresholds> {
        let mut thresholds = AlertThresholds::default();
        if let Some(messages) = self.new_source_messages {
            if messages == 0 {
                bail!("alerts.new_source_messages is 0; it must be at least 1");
            }
            thresholds.new_source_messages = messages;
        }
        if let Some(points) = self.pass_drop_points {
            // NaN fails both comparisons, so it is refused too.
            if !(points > 0.0 && points <= 100.0) {
                bail!("alerts.pass_drop_points is {points}; it must be above 0 and at most 100");
            }
            thresholds.pass_drop_points = points;
        }
        Ok(thresholds)
    }
}

/// `[identify]`: naming sending sources.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentifyFile {
    services_file: Option<PathBuf>,
    dns: Option<bool>,
    nameservers: Option<Vec<String>>,
    dns_timeout_secs: Option<u64>,
    dns_budget_secs: Option<u64>,
    dns_concurrency: Option<usize>,
    dns_cache_days: Option<u64>,
    dns_negative_cache_days: Option<u64>,
    #[serde(default)]
    ip_database: IpDatabasePaths,
}

/// `ip_database = "path"` or `ip_database = ["path", …]`.
#[derive(Debug, Default)]
struct IpDatabasePaths(Vec<PathBuf>);

impl<'de> Deserialize<'de> for IpDatabasePaths {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PathsVisitor;
        impl<'de> Visitor<'de> for PathsVisitor {
            type Value = IpDatabasePaths;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path or a list of paths to MMDB files")
            }
            fn visit_str<E: de::Error>(self, path: &str) -> Result<IpDatabasePaths, E> {
                Ok(IpDatabasePaths(vec![PathBuf::from(path)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<IpDatabasePaths, A::Error> {
                let paths =
                    Vec::<PathBuf>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(IpDatabasePaths(paths))
            }
        }
        deserializer.deserialize_any(PathsVisitor)
    }
}

/// The `[identify]` settings, resolved.
#[derive(Debug, Clone)]
pub struct IdentifyConfig {
    /// `services_file`: a service catalogue read after the built-in one (same names
    /// replace, new names add), resolved against the file's directory.
    pub services_file: Option<PathBuf>,
    /// `dns`: look up reverse DNS (default true).
    pub dns: bool,
    /// `nameservers`, `dns_timeout_secs`, `dns_concurrency`: how to reach DNS.
    pub resolver: ruadb_dns::DnsConfig,
    /// `dns_budget_secs`: the most one run spends on reverse DNS (default 20 s).
    pub dns_budget: Duration,
    /// `dns_cache_days`, `dns_negative_cache_days`: when answers are asked again.
    pub cache: DnsCachePolicy,
    /// `ip_database`: MMDB files giving each source's ASN, AS organisation and country, in
    /// the order they are asked, resolved against the file's directory. Read only when
    /// sources are identified, so a missing file never stops another command.
    pub ip_databases: Vec<PathBuf>,
}

impl Default for IdentifyConfig {
    fn default() -> IdentifyConfig {
        IdentifyConfig {
            services_file: None,
            dns: true,
            resolver: ruadb_dns::DnsConfig::default(),
            dns_budget: Duration::from_secs(20),
            cache: DnsCachePolicy::default(),
            ip_databases: Vec::new(),
        }
    }
}

/// The longest `dns_timeout_secs` and `dns_budget_secs` (an hour), the most days an answer
/// is kept (a year) and the most lookups at once.
const MAX_DNS_SECS: u64 = 3600;
const MAX_CACHE_DAYS: u64 = 366;
const MAX_DNS_CONCURRENCY: usize = 1024;

impl IdentifyFile {
    /// The defaults with the file's overrides, each checked to mean something.
    fn resolve(&self, resolve_path: impl Fn(&Path) -> PathBuf) -> anyhow::Result<IdentifyConfig> {
        let mut config = IdentifyConfig {
            services_file: self.services_file.as_deref().map(&resolve_path),
            dns: self.dns.unwrap_or(true),
            ip_databases: self
                .ip_database
                .0
                .iter()
                .map(|path| resolve_path(path))
                .collect(),
            ..IdentifyConfig::default()
        };
        if let Some(nameservers) = &self.nameservers {
            config.resolver.nameservers = nameservers
                .iter()
                .map(|text| parse_nameserver(text))
                .collect::<anyhow::Result<_>>()?;
        }
        let secs = |key: &str, value: u64| {
            if (1..=MAX_DNS_SECS).contains(&value) {
                Ok(Duration::from_secs(value))
            } else {
                Err(anyhow::anyhow!(
                    "identify.{key} is {value}; it must be between 1 and {MAX_DNS_SECS}"
                ))
            }
        };
        if let Some(value) = self.dns_timeout_secs {
            config.resolver.timeout = secs("dns_timeout_secs", value)?;
        }
        if let Some(value) = self.dns_budget_secs {
            config.dns_budget = secs("dns_budget_secs", value)?;
        }
        if let Some(value) = self.dns_concurrency {
            if !(1..=MAX_DNS_CONCURRENCY).contains(&value) {
                bail!(
                    "identify.dns_concurrency is {value}; it must be between 1 and {MAX_DNS_CONCURRENCY}"
                );
            }
            config.resolver.concurrency = value;
        }
        let days = |key: &str, value: u64| {
            if (1..=MAX_CACHE_DAYS).contains(&value) {
                // At most 366 days of seconds: far inside i64.
                Ok(i64::try_from(value * 86_400).unwrap_or(i64::MAX))
            } else {
                Err(anyhow::anyhow!(
                    "identify.{key} is {value}; it must be between 1 and {MAX_CACHE_DAYS}"
                ))
            }
        };
        if let Some(value) = self.dns_cache_days {
            config.cache.positive_secs = days("dns_cache_days", value)?;
        }
        if let Some(value) = self.dns_negative_cache_days {
            config.cache.negative_secs = days("dns_negative_cache_days", value)?;
        }
        Ok(config)
    }
}

/// `"127.0.0.1:5353"`, `"[::1]:53"` or a bare address (port 53).
fn parse_nameserver(text: &str) -> anyhow::Result<SocketAddr> {
    text.parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| {
            anyhow::anyhow!(
                "identify.nameservers: \"{}\" is not an IP address with an optional port (\"127.0.0.1:5353\", \"[::1]:53\")",
                escape_for_terminal(text)
            )
        })
}

/// `[limits]`: parser caps. Absent keys keep the library defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    max_decompressed_mib: Option<u64>,
    max_message_mib: Option<u64>,
    max_zip_members: Option<usize>,
    max_container_nesting: Option<usize>,
    max_xml_depth: Option<usize>,
    max_mime_parts: Option<usize>,
    max_mime_depth: Option<usize>,
}

impl LimitsFile {
    /// The library defaults with the file's overrides. Each value must lie between 1 and the
    /// library's hard bound ([`Limits::HARD_MAX`]), which README "Limits" lists.
    fn resolve(&self) -> anyhow::Result<Limits> {
        const MIB: u64 = 1024 * 1024;
        let max = Limits::HARD_MAX;
        let mut limits = Limits::default();
        let in_range = |key: &str, value: u64, max: u64| -> anyhow::Result<u64> {
            if !(1..=max).contains(&value) {
                bail!("limits.{key} is {value}; it must be between 1 and {max}");
            }
            Ok(value)
        };
        let sizes = [
            (
                self.max_decompressed_mib,
                &mut limits.max_decompressed_bytes,
                "max_decompressed_mib",
                max.max_decompressed_bytes,
            ),
            (
                self.max_message_mib,
                &mut limits.max_message_bytes,
                "max_message_mib",
                max.max_message_bytes,
            ),
        ];
        for (value, slot, key, max) in sizes {
            if let Some(value) = value {
                *slot = in_range(key, value, max / MIB)? * MIB;
            }
        }
        let counts = [
            (
                self.max_zip_members,
                &mut limits.max_zip_members,
                "max_zip_members",
                max.max_zip_members,
            ),
            (
                self.max_container_nesting,
                &mut limits.max_container_nesting,
                "max_container_nesting",
                max.max_container_nesting,
            ),
            (
                self.max_xml_depth,
                &mut limits.max_xml_depth,
                "max_xml_depth",
                max.max_xml_depth,
            ),
            (
                self.max_mime_parts,
                &mut limits.max_mime_parts,
                "max_mime_parts",
                max.max_mime_parts,
            ),
            (
                self.max_mime_depth,
                &mut limits.max_mime_depth,
                "max_mime_depth",
                max.max_mime_depth,
            ),
        ];
        for (value, slot, key, max) in counts {
            if let Some(value) = value {
                // Within `max`, itself a `usize`: the conversion back cannot fail.
                let value = in_range(key, value as u64, max as u64)?;
                *slot = usize::try_from(value).unwrap_or(max);
            }
        }
        limits.check()?;
        Ok(limits)
    }
}

/// `[imap]` (one account) or `[[imap]]` (several). Both read into a list of
/// [`ruadb_fetch::Config`], which owns the keys, their defaults and their validation.
#[derive(Debug, Default)]
struct ImapAccounts(Vec<ruadb_fetch::Config>);

impl<'de> Deserialize<'de> for ImapAccounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A hand-written visitor rather than `#[serde(untagged)]`: untagged would replace
        // "unknown field `hots`" with "data did not match any variant".
        struct AccountsVisitor;
        impl<'de> Visitor<'de> for AccountsVisitor {
            type Value = ImapAccounts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an [imap] table or an [[imap]] array of tables")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ImapAccounts, A::Error> {
                let account =
                    ruadb_fetch::Config::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ImapAccounts(vec![account]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ImapAccounts, A::Error> {
                let accounts = Vec::<ruadb_fetch::Config>::deserialize(
                    de::value::SeqAccessDeserializer::new(seq),
                )?;
                Ok(ImapAccounts(accounts))
            }
        }
        deserializer.deserialize_any(AccountsVisitor)
    }
}

/// The largest configuration file read: a real one is a few KiB, and `--config /dev/zero`
/// must not be read until memory runs out.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The settings the commands use, resolved from the file (paths made absolute).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `db`, resolved against the file's directory.
    pub db: Option<PathBuf>,
    /// `domains`, normalised. `None` accepts every policy domain.
    pub domains: Option<Vec<DomainName>>,
    /// Parser limits after the `[limits]` overrides.
    pub limits: ruadb_report::Limits,
    /// `[imap]` / `[[imap]]`, in file order, validated; passwords not read yet.
    pub imap: Vec<ruadb_fetch::Config>,
    /// `[alerts]`: the thresholds of `ruadb summary --alerts`.
    pub alerts: AlertThresholds,
    /// `[failure_reports]`: what of a failure report is stored and shown beyond domains.
    pub failure_privacy: FailurePrivacy,
    /// `[identify]`.
    pub identify: IdentifyConfig,
}

impl Config {
    /// Reads and validates a configuration file. `home` expands a leading `~/` in paths.
    pub fn load(path: &Path, home: Option<&Path>) -> anyhow::Result<Config> {
        let cannot_read = || format!("cannot read configuration file {}", path.display());
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
            .with_context(cannot_read)?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            bail!(
                "configuration file {} is larger than {} KiB; a configuration is a few lines",
                path.display(),
                MAX_CONFIG_BYTES / 1024
            );
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            anyhow::anyhow!("configuration file {} is not UTF-8 text", path.display())
        })?;
        Config::from_toml(&text, path, home)
            .with_context(|| format!("invalid configuration file {}", path.display()))
    }

    /// Parses configuration text; relative paths are resolved against `path`'s directory.
    pub fn from_toml(text: &str, path: &Path, home: Option<&Path>) -> anyhow::Result<Config> {
        let file: ConfigFile = toml::from_str(text)?;
        let base = path.parent().unwrap_or(Path::new(""));
        let resolve = |value: &Path| resolve_path(value, base, home);

        let domains = match file.domains {
            None => None,
            Some(list) if list.is_empty() => {
                bail!(
                    "domains is empty, which would reject every report; remove the key to accept all domains"
                )
            }
            Some(list) => Some(
                list.iter()
                    .map(|domain| DomainName::parse(domain).context("domains"))
                    .collect::<anyhow::Result<Vec<_>>>()?,
            ),
        };

        let mut imap = file.imap.0;
        for (index, account) in imap.iter_mut().enumerate() {
            account.validate().map_err(|error| match error {
                ruadb_fetch::FetchError::Config(problem) if account.host.trim().is_empty() => {
                    anyhow::anyhow!("imap[{index}]: {problem}")
                }
                ruadb_fetch::FetchError::Config(problem) => anyhow::anyhow!(
                    "imap[{index}] ({}@{}): {problem}",
                    account.username,
                    account.host
                ),
                other => anyhow::Error::new(other),
            })?;
            account.password_file = account.password_file.as_deref().map(resolve);
            account.ca_file = account.ca_file.as_deref().map(resolve);
            if let Some(oauth2) = &mut account.oauth2 {
                oauth2.client_secret_file = oauth2.client_secret_file.as_deref().map(resolve);
            }
        }

        Ok(Config {
            db: file.db.as_deref().map(resolve),
            domains,
            limits: file.limits.resolve()?,
            imap,
            alerts: file.alerts.resolve()?,
            failure_privacy: FailurePrivacy {
                keep_addresses: file.failure_reports.keep_addresses,
                keep_subjects: file.failure_reports.keep_subjects,
            },
            identify: file.identify.resolve(resolve)?,
        })
    }
}

/// `~/x` → `$HOME/x`; a relative path is taken relative to the configuration file, so the
/// file means the same thing whatever directory cron runs it from.
fn resolve_path(value: &Path, base: &Path, home: Option<&Path>) -> PathBuf {
    if let (Ok(rest), Some(home)) = (value.strip_prefix("~"), home) {
        return home.join(rest);
    }
    if value.is_absolute() {
        value.to_owned()
    } else {
        base.join(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Config> {
        Config::from_toml(
            text,
            Path::new("/etc/ruadb/config.toml"),
            Some(Path::new("/home/u")),
        )
    }

    #[test]
    fn an_empty_file_is_all_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.db, None);
        assert_eq!(config.domains, None);
        assert_eq!(config.limits, ruadb_report::Limits::default());
        assert!(config.imap.is_empty());
        assert_eq!(config.alerts, AlertThresholds::default());
        assert_eq!(config.alerts.new_source_messages, 10);
        assert_eq!(config.alerts.pass_drop_points, 5.0);
        assert_eq!(config.failure_privacy, FailurePrivacy::default());
    }

    #[test]
    fn ip_database_is_a_path_or_a_list_resolved_against_the_file() {
        assert!(parse("").unwrap().identify.ip_databases.is_empty());
        let one = parse("[identify]\nip_database = \"GeoLite2-ASN.mmdb\"\n").unwrap();
        assert_eq!(
            one.identify.ip_databases,
            [PathBuf::from("/etc/ruadb/GeoLite2-ASN.mmdb")]
        );
        let list = parse("[identify]\nip_database = [\"/srv/asn.mmdb\", \"~/geo/country.mmdb\"]\n")
            .unwrap();
        assert_eq!(
            list.identify.ip_databases,
            [
                PathBuf::from("/srv/asn.mmdb"),
                PathBuf::from("/home/u/geo/country.mmdb")
            ]
        );
        let error = format!("{:#}", parse("[identify]\nip_database = 5\n").unwrap_err());
        assert!(
            error.contains("a path or a list of paths to MMDB files"),
            "{error}"
        );
    }

    #[test]
    fn failure_report_privacy_is_read_and_unknown_keys_refused() {
        let config = parse("[failure_reports]\nkeep_addresses = true\n").unwrap();
        assert_eq!(
            config.failure_privacy,
            FailurePrivacy {
                keep_addresses: true,
                keep_subjects: false
            }
        );
        let config = parse("[failure_reports]\nkeep_subjects = true\n").unwrap();
        assert!(config.failure_privacy.keep_subjects && !config.failure_privacy.keep_addresses);
        let error = format!(
            "{:#}",
            parse("[failure_reports]\nkeep_address = true\n").unwrap_err()
        );
        assert!(error.contains("keep_address"), "{error}");
    }

    #[test]
    fn alert_thresholds_are_read_and_checked() {
        let config = parse("[alerts]\nnew_source_messages = 50\npass_drop_points = 2.5\n").unwrap();
        assert_eq!(config.alerts.new_source_messages, 50);
        assert_eq!(config.alerts.pass_drop_points, 2.5);
        for (text, expected) in [
            (
                "[alerts]\nnew_source_messages = 0\n",
                "alerts.new_source_messages is 0",
            ),
            (
                "[alerts]\npass_drop_points = 0\n",
                "alerts.pass_drop_points is 0",
            ),
            (
                "[alerts]\npass_drop_points = 101\n",
                "alerts.pass_drop_points is 101",
            ),
            (
                "[alerts]\npass_drop_points = nan\n",
                "alerts.pass_drop_points is NaN",
            ),
            ("[alerts]\nnew_source_message = 3\n", "new_source_message"),
            (
                "[alerts]\nnew_source_messages = -1\n",
                "new_source_messages",
            ),
        ] {
            let error = format!("{:#}", parse(text).unwrap_err());
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn paths_resolve_against_the_file_and_home() {
        let config = parse(
            "db = \"data/r.sqlite\"\n[imap]\nhost = \"h\"\nusername = \"u\"\npassword_file = \"~/pw\"\nca_file = \"/abs/ca.pem\"\n",
        )
        .unwrap();
        assert_eq!(config.db, Some(PathBuf::from("/etc/ruadb/data/r.sqlite")));
        assert_eq!(
            config.imap[0].password_file,
            Some(PathBuf::from("/home/u/pw"))
        );
        assert_eq!(config.imap[0].ca_file, Some(PathBuf::from("/abs/ca.pem")));
    }

    #[test]
    fn imap_table_gets_the_documented_defaults() {
        use ruadb_fetch::{AfterIngest, EnvPassword, Secret, TlsMode};
        let config = parse("[imap]\nhost = \"imap.example.com\"\nusername = \"dmarc\"\n").unwrap();
        let account = &config.imap[0];
        let mut fetch = account.clone();
        let warnings = fetch
            .resolve_password(&EnvPassword::Set(Secret::new("pw")))
            .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(fetch.password.expose(), "pw");
        assert_eq!(account.port, None);
        assert_eq!(account.port(), 993);
        assert_eq!(account.tls, TlsMode::Implicit);
        assert_eq!(account.mailbox, "INBOX");
        assert_eq!(account.after_ingest, AfterIngest::Keep);
        assert_eq!(account.archive_mailbox, "Archive");
        assert_eq!(account.invalid_mailbox, "Invalid");
        assert_eq!(account.batch_size, 200);
        assert_eq!(account.timeout, std::time::Duration::from_secs(60));
        assert_eq!(
            account.command_deadline,
            std::time::Duration::from_secs(300)
        );
        assert_eq!(account.run_deadline, std::time::Duration::from_secs(1800));
        assert!(!account.allow_plaintext);
    }

    #[test]
    fn imap_array_reads_every_account() {
        use ruadb_fetch::{AfterIngest, EnvPassword};
        let config = parse(
            "[[imap]]\nhost = \"a\"\nusername = \"u\"\ntls = \"starttls\"\n[[imap]]\nhost = \"b\"\nusername = \"v\"\nmailbox = \"DMARC\"\nafter_ingest = \"move\"\n",
        )
        .unwrap();
        assert_eq!(config.imap.len(), 2);
        assert_eq!(config.imap[0].port(), 143);
        let missing = config.imap[1]
            .clone()
            .resolve_password(&EnvPassword::Unset)
            .unwrap_err();
        assert!(
            missing.to_string().contains("RUADB_IMAP_PASSWORD"),
            "{missing}"
        );
        let not_unicode = config.imap[1]
            .clone()
            .resolve_password(&EnvPassword::NotUnicode)
            .unwrap_err();
        assert!(
            not_unicode.to_string().contains("not valid UTF-8"),
            "{not_unicode}"
        );
        assert_eq!(config.imap[1].mailbox, "DMARC");
        assert_eq!(config.imap[1].after_ingest, AfterIngest::Move);
    }

    #[test]
    fn unknown_keys_are_named() {
        let top = parse("domian = [\"example.com\"]\n").unwrap_err();
        assert!(format!("{top:#}").contains("domian"), "{top:#}");
        let imap = parse("[imap]\nhots = \"h\"\nusername = \"u\"\n").unwrap_err();
        assert!(format!("{imap:#}").contains("hots"), "{imap:#}");
        let array =
            parse("[[imap]]\nhost = \"h\"\nusername = \"u\"\nmailbx = \"X\"\n").unwrap_err();
        assert!(format!("{array:#}").contains("mailbx"), "{array:#}");
        let limits = parse("[limits]\nmax_decompresed_mib = 1\n").unwrap_err();
        assert!(
            format!("{limits:#}").contains("max_decompresed_mib"),
            "{limits:#}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for (text, expected) in [
            (
                "[imap]\nhost = \"h\"\nusername = \"u\"\ntls = \"ssl\"\n",
                "ssl",
            ),
            (
                "[imap]\nhost = \"h\"\nusername = \"u\"\ntls = \"none\"\n",
                "allow_plaintext",
            ),
            ("[imap]\nhost = \"h\"\n", "username"),
            (
                "[imap]\nhost = \"h\"\nusername = \"u\"\nafter_ingest = \"archive\"\n",
                "archive",
            ),
            (
                "[imap]\nhost = \"h\"\nusername = \"u\"\nafter_ingest = \"move\"\nmailbox = \"DMARC\"\narchive_mailbox = \"DMARC\"\n",
                "archive_mailbox must differ from mailbox",
            ),
            (
                "[imap]\nhost = \"h\"\nusername = \"u\"\nafter_ingest = \"delete\"\ninvalid_mailbox = \"inbox\"\n",
                "invalid_mailbox must differ from mailbox",
            ),
            ("domains = []\n", "domains is empty"),
            ("[limits]\nmax_xml_depth = 0\n", "max_xml_depth"),
            (
                "[imap]\nhost = \"h\"\nusername = \"u\"\nrun_deadline_secs = 0\n",
                "imap[0] (u@h): run_deadline_secs must be between 1 and 604800",
            ),
            (
                "[imap]\nhost = \"h\"\nusername = \"u\"\ntimeout_secs = 18446744073709551615\n",
                "imap[0] (u@h): timeout_secs must be between 1 and 604800",
            ),
            (
                "[imap]\nhost = \"h\"\nusername = \"u\"\nbatch_size = 5001\n",
                "batch_size must be between 1 and 5000",
            ),
            (
                "[imap]\nhost = \" \"\nusername = \"u\"\n",
                "imap[0]: host is empty",
            ),
            (
                "[limits]\nmax_mime_depth = 100000000\n",
                "limits.max_mime_depth is 100000000; it must be between 1 and 100",
            ),
            (
                "[limits]\nmax_message_mib = 4096\n",
                "limits.max_message_mib is 4096; it must be between 1 and 1024",
            ),
            ("domains = [\"exa mple.org\"]\n", "is not a domain name"),
            ("db = 3\n", "db"),
        ] {
            let error = format!("{:#}", parse(text).unwrap_err());
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn domains_and_limits_are_normalized() {
        let config =
            parse("domains = [\"Example.COM.\", \" example.org\"]\n[limits]\nmax_decompressed_mib = 8\nmax_zip_members = 3\n")
                .unwrap();
        assert_eq!(
            config.domains,
            Some(vec!["example.com".into(), "example.org".into()])
        );
        assert_eq!(config.limits.max_decompressed_bytes, 8 * 1024 * 1024);
        assert_eq!(config.limits.max_zip_members, 3);
    }
}
