//! The configuration file (TOML) and the settings resolved from it.
//!
//! Every key has a default, so an absent file is a valid configuration. Unknown keys are
//! errors that name the key: a typo such as `domian` must not silently accept every domain.
//! README section "Configuration" documents each key; keep the two in step.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
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
    fn resolve(&self) -> anyhow::Result<ruadb_report::Limits> {
        const MIB: u64 = 1024 * 1024;
        let mut limits = ruadb_report::Limits::default();
        let mib = |key: &str, value: u64| {
            value
                .checked_mul(MIB)
                .filter(|bytes| *bytes > 0)
                .with_context(|| format!("limits.{key} must be between 1 and {}", u64::MAX / MIB))
        };
        if let Some(value) = self.max_decompressed_mib {
            limits.max_decompressed_bytes = mib("max_decompressed_mib", value)?;
        }
        if let Some(value) = self.max_message_mib {
            limits.max_message_bytes = mib("max_message_mib", value)?;
        }
        let counts = [
            (
                self.max_zip_members,
                &mut limits.max_zip_members,
                "max_zip_members",
            ),
            (
                self.max_container_nesting,
                &mut limits.max_container_nesting,
                "max_container_nesting",
            ),
            (
                self.max_xml_depth,
                &mut limits.max_xml_depth,
                "max_xml_depth",
            ),
            (
                self.max_mime_parts,
                &mut limits.max_mime_parts,
                "max_mime_parts",
            ),
            (
                self.max_mime_depth,
                &mut limits.max_mime_depth,
                "max_mime_depth",
            ),
        ];
        for (value, slot, key) in counts {
            if let Some(value) = value {
                if value == 0 {
                    bail!("limits.{key} must be at least 1");
                }
                *slot = value;
            }
        }
        Ok(limits)
    }
}

/// `[imap]` (one account) or `[[imap]]` (several). Both read into a list.
#[derive(Debug, Default)]
struct ImapAccounts(Vec<ImapAccount>);

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
                let account = ImapAccount::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ImapAccounts(vec![account]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ImapAccounts, A::Error> {
                let accounts =
                    Vec::<ImapAccount>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(ImapAccounts(accounts))
            }
        }
        deserializer.deserialize_any(AccountsVisitor)
    }
}

/// One IMAP account and mailbox to poll (`[imap]` / `[[imap]]`).
///
/// Holds no password: only where to get it (`password_file`, `password_command`, or the
/// `RUADB_IMAP_PASSWORD` environment variable), so `Debug` output never shows a secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapAccount {
    /// Server host name (required).
    pub host: String,
    /// Server port. Default: 993 for `tls = "implicit"`, 143 otherwise.
    pub port: Option<u16>,
    /// How the connection is secured.
    #[serde(default)]
    pub tls: TlsMode,
    /// Login name (required).
    pub username: String,
    /// File whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// Shell command whose first output line is the password.
    pub password_command: Option<String>,
    /// Extra trust root (PEM) for a server with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Mailbox the reports arrive in.
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// What happens to a message once its reports are stored.
    #[serde(default)]
    pub after_ingest: AfterIngest,
    /// Where `after_ingest = "move"` puts stored messages.
    #[serde(default = "default_archive_mailbox")]
    pub archive_mailbox: String,
    /// Where `after_ingest = "move"` puts messages without a valid report.
    #[serde(default = "default_invalid_mailbox")]
    pub invalid_mailbox: String,
    /// Messages fetched and stored per transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// Connect and read timeout, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Allow `tls = "none"` (password sent in clear; for a loopback test server only).
    #[serde(default)]
    pub allow_plaintext: bool,
}

impl ImapAccount {
    /// The settings `ruadb-fetch` connects with. The password comes from `password_file`,
    /// else `password_command`, else `env_password` (`RUADB_IMAP_PASSWORD`).
    pub fn fetch_config(
        &self,
        env_password: Option<&ruadb_fetch::Secret>,
    ) -> anyhow::Result<ruadb_fetch::Config> {
        let password = if let Some(path) = &self.password_file {
            ruadb_fetch::Secret::from_file(path)?
        } else if let Some(command) = &self.password_command {
            ruadb_fetch::Secret::from_command(command)?
        } else if let Some(password) = env_password {
            password.clone()
        } else {
            bail!(
                "imap account {}@{}: no password: set password_file or password_command, or RUADB_IMAP_PASSWORD",
                self.username,
                self.host
            );
        };
        let tls = match self.tls {
            TlsMode::Implicit => ruadb_fetch::TlsMode::Implicit,
            TlsMode::Starttls => ruadb_fetch::TlsMode::Starttls,
            TlsMode::None => ruadb_fetch::TlsMode::None,
        };
        let after_ingest = match self.after_ingest {
            AfterIngest::Keep => ruadb_fetch::AfterIngest::Keep,
            AfterIngest::Seen => ruadb_fetch::AfterIngest::Seen,
            AfterIngest::Move => ruadb_fetch::AfterIngest::Move,
            AfterIngest::Delete => ruadb_fetch::AfterIngest::Delete,
        };
        let mut config = ruadb_fetch::Config::new(&self.host, &self.username, password);
        config.port = self.port.unwrap_or(tls.default_port());
        config.tls = tls;
        config.allow_plaintext = self.allow_plaintext;
        config.ca_file.clone_from(&self.ca_file);
        config.mailbox.clone_from(&self.mailbox);
        config.after_ingest = after_ingest;
        config.archive_mailbox.clone_from(&self.archive_mailbox);
        config.invalid_mailbox.clone_from(&self.invalid_mailbox);
        config.batch_size = usize::try_from(self.batch_size).unwrap_or(usize::MAX);
        config.timeout = std::time::Duration::from_secs(self.timeout_secs);
        Ok(config)
    }

    fn validate(&self, index: usize) -> anyhow::Result<()> {
        let name = format!("imap[{index}] ({}@{})", self.username, self.host);
        if self.host.trim().is_empty() {
            bail!("imap[{index}]: host is empty");
        }
        if self.tls == TlsMode::None && !self.allow_plaintext {
            bail!(
                "{name}: tls = \"none\" sends the password in clear; set allow_plaintext = true to allow it"
            );
        }
        if self.password_file.is_some() && self.password_command.is_some() {
            bail!("{name}: set password_file or password_command, not both");
        }
        if self.batch_size == 0 {
            bail!("{name}: batch_size must be at least 1");
        }
        if self.timeout_secs == 0 {
            bail!("{name}: timeout_secs must be at least 1");
        }
        if self.after_ingest == AfterIngest::Move && self.archive_mailbox.trim().is_empty() {
            bail!("{name}: after_ingest = \"move\" needs a non-empty archive_mailbox");
        }
        // Moving mail into the mailbox it came from would hand it back to the next run under a
        // new UID, for ever.
        let mut targets = Vec::new();
        if self.after_ingest == AfterIngest::Move {
            targets.push(("archive_mailbox", &self.archive_mailbox));
        }
        if matches!(self.after_ingest, AfterIngest::Move | AfterIngest::Delete) {
            targets.push(("invalid_mailbox", &self.invalid_mailbox));
        }
        for (key, target) in targets {
            if same_mailbox(target, &self.mailbox) {
                bail!(
                    "{name}: {key} must differ from mailbox ({target:?}) when after_ingest moves mail"
                );
            }
        }
        Ok(())
    }
}

/// Whether two mailbox names name the same mailbox: `INBOX` is case-insensitive (RFC 3501
/// section 5.1), every other name is compared as written.
fn same_mailbox(a: &str, b: &str) -> bool {
    a == b || (a.eq_ignore_ascii_case("INBOX") && b.eq_ignore_ascii_case("INBOX"))
}

fn default_mailbox() -> String {
    "INBOX".to_owned()
}
fn default_archive_mailbox() -> String {
    "Archive".to_owned()
}
fn default_invalid_mailbox() -> String {
    "Invalid".to_owned()
}
fn default_batch_size() -> u32 {
    200
}
fn default_timeout_secs() -> u64 {
    60
}

/// `tls`: how the IMAP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS, port 993).
    #[default]
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 143).
    Starttls,
    /// No TLS at all; only with `allow_plaintext = true`.
    None,
}

/// `after_ingest`: what happens to a fetched message once its reports are committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterIngest {
    /// Leave it as it is (read with `BODY.PEEK[]`, so not even marked seen).
    #[default]
    Keep,
    /// Mark it `\Seen`.
    Seen,
    /// Move it to `archive_mailbox` (no valid report: `invalid_mailbox`).
    Move,
    /// Delete it.
    Delete,
}

/// The settings the commands use, resolved from the file (paths made absolute).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `db`, resolved against the file's directory.
    pub db: Option<PathBuf>,
    /// `domains`, lowercased, without a trailing dot. `None` accepts every policy domain.
    pub domains: Option<Vec<String>>,
    /// Parser limits after the `[limits]` overrides.
    pub limits: ruadb_report::Limits,
    /// `[imap]` / `[[imap]]`, in file order.
    pub imap: Vec<ImapAccount>,
}

impl Config {
    /// Reads and validates a configuration file. `home` expands a leading `~/` in paths.
    pub fn load(path: &Path, home: Option<&Path>) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration file {}", path.display()))?;
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
                    .map(|domain| normalize_domain(domain))
                    .collect::<anyhow::Result<Vec<_>>>()?,
            ),
        };

        let mut imap = file.imap.0;
        for (index, account) in imap.iter_mut().enumerate() {
            account.validate(index)?;
            account.password_file = account.password_file.as_deref().map(resolve);
            account.ca_file = account.ca_file.as_deref().map(resolve);
        }

        Ok(Config {
            db: file.db.as_deref().map(resolve),
            domains,
            limits: file.limits.resolve()?,
            imap,
        })
    }
}

fn normalize_domain(domain: &str) -> anyhow::Result<String> {
    let normalized = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if normalized.is_empty() || normalized.contains(char::is_whitespace) {
        bail!("domains: {domain:?} is not a domain name");
    }
    Ok(normalized)
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
        let config = parse("[imap]\nhost = \"imap.example.com\"\nusername = \"dmarc\"\n").unwrap();
        let account = &config.imap[0];
        let password = ruadb_fetch::Secret::new("pw");
        let fetch = account.fetch_config(Some(&password)).unwrap();
        assert_eq!(fetch.port, 993);
        assert_eq!(fetch.password.expose(), "pw");
        assert_eq!(fetch.batch_size, 200);
        assert_eq!(fetch.timeout, std::time::Duration::from_secs(60));
        assert_eq!(account.port, None);
        assert_eq!(account.tls, TlsMode::Implicit);
        assert_eq!(account.mailbox, "INBOX");
        assert_eq!(account.after_ingest, AfterIngest::Keep);
        assert_eq!(account.archive_mailbox, "Archive");
        assert_eq!(account.invalid_mailbox, "Invalid");
        assert_eq!(account.batch_size, 200);
        assert_eq!(account.timeout_secs, 60);
        assert!(!account.allow_plaintext);
    }

    #[test]
    fn imap_array_reads_every_account() {
        let config = parse(
            "[[imap]]\nhost = \"a\"\nusername = \"u\"\ntls = \"starttls\"\n[[imap]]\nhost = \"b\"\nusername = \"v\"\nmailbox = \"DMARC\"\nafter_ingest = \"move\"\n",
        )
        .unwrap();
        assert_eq!(config.imap.len(), 2);
        let password = ruadb_fetch::Secret::new("pw");
        assert_eq!(
            config.imap[0].fetch_config(Some(&password)).unwrap().port,
            143
        );
        let missing = config.imap[1].fetch_config(None).unwrap_err();
        assert!(
            format!("{missing:#}").contains("RUADB_IMAP_PASSWORD"),
            "{missing:#}"
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
            Some(vec!["example.com".to_owned(), "example.org".to_owned()])
        );
        assert_eq!(config.limits.max_decompressed_bytes, 8 * 1024 * 1024);
        assert_eq!(config.limits.max_zip_members, 3);
    }
}
