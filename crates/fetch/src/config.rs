//! What a fetch run needs to know: server, credentials, mailbox and the post-ingest action.
//!
//! [`Config`] is the `[imap]` table of ruadb's configuration file as written: it deserialises
//! with serde (unknown keys refused, every default here), [`Config::validate`] checks it, and
//! [`Config::resolve_password`] fills in the password from its source.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};

use crate::error::FetchError;
use crate::session::PostAction;

/// How the connection is protected (`tls`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS, port 993).
    #[default]
    Implicit,
    /// Plain connection upgraded with `STARTTLS` before login (port 143).
    Starttls,
    /// No encryption at all. Refused unless [`Config::allow_plaintext`] is set.
    None,
}

impl TlsMode {
    /// The conventional port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Implicit => 993,
            TlsMode::Starttls | TlsMode::None => 143,
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::Implicit => "implicit",
            TlsMode::Starttls => "starttls",
            TlsMode::None => "none",
        })
    }
}

/// How ruadb proves who it is to the server (`auth`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// `LOGIN` with a password.
    #[default]
    Password,
    /// `AUTHENTICATE XOAUTH2` with an OAuth 2.0 access token: what Microsoft 365 and Gmail speak.
    Xoauth2,
    /// `AUTHENTICATE OAUTHBEARER` (RFC 7628) with an OAuth 2.0 access token.
    Oauthbearer,
}

impl AuthMethod {
    /// True for the two OAuth 2.0 mechanisms.
    pub fn is_oauth(self) -> bool {
        matches!(self, AuthMethod::Xoauth2 | AuthMethod::Oauthbearer)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMethod::Password => "password",
            AuthMethod::Xoauth2 => "xoauth2",
            AuthMethod::Oauthbearer => "oauthbearer",
        })
    }
}

/// Whose token endpoint issues the access tokens (`[imap.oauth2] provider`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OAuth2Provider {
    /// Microsoft identity platform (Exchange Online); `tenant` names the directory.
    Microsoft,
    /// Google (Gmail).
    Google,
    /// Any other RFC 6749 server: `token_url` and `scope` are required.
    Custom,
}

/// How ruadb obtains access tokens itself (`[imap.oauth2] grant`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuth2Grant {
    /// The refresh token grant (RFC 6749 section 6): a user authorised ruadb once with
    /// `ruadb auth login`; the refresh token it got is exchanged for access tokens, and
    /// replaced whenever the provider rotates it.
    #[default]
    RefreshToken,
    /// The client credentials grant (RFC 6749 section 4.4): the application's own identity,
    /// as Microsoft's app-only access to one mailbox uses.
    ClientCredentials,
}

/// The built-in OAuth 2.0 client: the `[imap.oauth2]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Settings {
    /// Whose token endpoint (`provider`).
    pub provider: OAuth2Provider,
    /// The Microsoft Entra directory (tenant) ID or domain (`tenant`).
    pub tenant: Option<String>,
    /// The application's client ID (`client_id`).
    pub client_id: String,
    /// A file whose first line is the client secret (`client_secret_file`).
    pub client_secret_file: Option<PathBuf>,
    /// A shell command whose first output line is the client secret (`client_secret_command`).
    pub client_secret_command: Option<String>,
    /// The token endpoint (`token_url`); preset for `microsoft` and `google`.
    pub token_url: Option<String>,
    /// The scope asked for (`scope`, space-separated); preset for `microsoft` and `google`.
    pub scope: Option<String>,
    /// How tokens are obtained (`grant`, default `refresh_token`).
    #[serde(default)]
    pub grant: OAuth2Grant,
    /// The authorisation endpoint for `ruadb auth login` with a browser (authorisation code
    /// with PKCE, `authorization_url`); preset for `google`.
    pub authorization_url: Option<String>,
    /// The device authorisation endpoint (RFC 8628) for `ruadb auth login` on a machine
    /// without a browser (`device_authorization_url`); preset for `microsoft`.
    pub device_authorization_url: Option<String>,
}

/// What happens to a message once its reports are committed to the database (`after_ingest`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterIngest {
    /// Leave it as it is (not even marked seen: reads use `BODY.PEEK[]`).
    #[default]
    Keep,
    /// Set `\Seen`.
    Seen,
    /// Move to the archive mailbox; messages without a valid report go to the invalid mailbox.
    Move,
    /// Delete and expunge.
    Delete,
}

impl fmt::Display for AfterIngest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AfterIngest::Keep => "keep",
            AfterIngest::Seen => "seen",
            AfterIngest::Move => "move",
            AfterIngest::Delete => "delete",
        })
    }
}

/// The most read from a `password_file` or a `password_command`: a password is one short line.
const MAX_PASSWORD_SOURCE: u64 = 64 * 1024;

/// A password. `Debug` and `Display` print `***`, so it cannot leak through logs or error chains.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

/// `RUADB_IMAP_PASSWORD` as the environment holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EnvPassword {
    /// Not set (or empty).
    #[default]
    Unset,
    /// Set to this.
    Set(Secret),
    /// Set, but not valid UTF-8, which IMAP LOGIN cannot carry.
    NotUnicode,
}

impl Secret {
    /// Wraps a password.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The password itself, for the LOGIN command only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads the first line of a file (a trailing newline is not part of the password), at
    /// most 64 KiB of it.
    pub fn from_file(path: &Path) -> Result<Secret, FetchError> {
        let failed = |detail: String| FetchError::Password {
            detail: format!("password_file {}: {detail}", path.display()),
        };
        let file = std::fs::File::open(path).map_err(|error| FetchError::Password {
            detail: format!("cannot read password_file {}: {error}", path.display()),
        })?;
        let line = first_line(file).map_err(|problem| failed(problem.describe("the file")))?;
        let password =
            String::from_utf8(line).map_err(|_| failed("is not UTF-8 text".to_owned()))?;
        if password.is_empty() {
            return Err(failed("is empty".to_owned()));
        }
        Ok(Secret::new(password))
    }

    /// A warning when `path` can be read by every user of the machine (as ssh warns about a
    /// private key), `None` when it cannot or its mode is unknown.
    pub fn file_warning(path: &Path) -> Option<String> {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & 0o004 != 0).then(|| {
            format!(
                "password_file {} is readable by every user (mode {:o}); `chmod o-r` it",
                path.display(),
                mode & 0o777
            )
        })
    }

    /// Runs `sh -c command` and takes the first line of its standard output (at most 64 KiB is
    /// read). Standard error is passed through so the command can explain its own failures. A
    /// command that has not finished within `timeout` is killed.
    pub fn from_command(command: &str, timeout: Duration) -> Result<Secret, FetchError> {
        run_secret_command("password_command", command, timeout)
            .map_err(|detail| FetchError::Password { detail })
    }
}

/// Runs `sh -c command` (configured as `key`) and takes the first line of its standard output
/// (at most 64 KiB is read; stopped after `timeout`); the error is one line naming `key`. The
/// command's standard error is passed through.
pub fn run_secret_command(key: &str, command: &str, timeout: Duration) -> Result<Secret, String> {
    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| format!("cannot run {key}: {error}"))?;
    let Some(stdout) = child.stdout.take() else {
        return Err(format!("{key} has no output pipe"));
    };
    // Reading blocks for as long as the command keeps its output open, so it is done on a
    // thread the timeout does not have to wait for.
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(first_line(stdout));
    });
    let too_slow = |child: &mut std::process::Child| {
        let _ = child.kill();
        let _ = child.wait();
        format!(
            "{key} did not finish within {} s (timeout_secs); stopped it",
            timeout.as_secs()
        )
    };
    let Ok(line) = receiver.recv_timeout(timeout) else {
        return Err(too_slow(&mut child));
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => return Err(too_slow(&mut child)),
            Err(error) => return Err(format!("{key} did not finish: {error}")),
        }
    };
    let line = line.map_err(|problem| format!("{key}: {}", problem.describe("its output")))?;
    if !status.success() {
        return Err(format!("{key} failed ({status})"));
    }
    let secret =
        String::from_utf8(line).map_err(|_| format!("{key} printed a line that is not UTF-8"))?;
    if secret.is_empty() {
        return Err(format!("{key} printed nothing"));
    }
    Ok(Secret::new(secret))
}

/// Why no first line could be read.
enum LineProblem {
    Io(std::io::Error),
    TooLong,
}

impl LineProblem {
    fn describe(&self, source: &str) -> String {
        match self {
            LineProblem::Io(error) => format!("cannot read {source}: {error}"),
            LineProblem::TooLong => format!(
                "{source} has no line end in its first {} KiB; a password or token is one short line",
                MAX_PASSWORD_SOURCE / 1024
            ),
        }
    }
}

/// The first line of `input` without its line ending, reading at most
/// [`MAX_PASSWORD_SOURCE`] bytes (the rest is never read).
fn first_line(input: impl Read) -> Result<Vec<u8>, LineProblem> {
    let mut bytes = Vec::new();
    input
        .take(MAX_PASSWORD_SOURCE + 1)
        .read_to_end(&mut bytes)
        .map_err(LineProblem::Io)?;
    match bytes.iter().position(|&byte| byte == b'\n') {
        Some(end) => bytes.truncate(end),
        None if bytes.len() as u64 > MAX_PASSWORD_SOURCE => return Err(LineProblem::TooLong),
        None => {}
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One IMAP account and mailbox: the `[imap]` table of the configuration file.
///
/// Mailbox names use `/` between hierarchy levels (`Archive/dmarc`); the session translates it
/// to the separator the server announces in `LIST`. The README's `[imap]` table documents
/// every key; keep the two in step.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Server host name (`host`, required).
    pub host: String,
    /// Server port (`port`); `None` means [`TlsMode::default_port`]. See [`Config::port`].
    pub port: Option<u16>,
    /// How the connection is secured (`tls`).
    #[serde(default)]
    pub tls: TlsMode,
    /// Must be true for [`TlsMode::None`] (`allow_plaintext`); a guard against sending the
    /// password in clear text by accident.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Login name (`username`, required).
    pub username: String,
    /// How to log in (`auth`): a password, or an OAuth 2.0 access token.
    #[serde(default)]
    pub auth: AuthMethod,
    /// What is sent at login once [`Config::resolve_password`] has read it: the password, or
    /// the access token for the OAuth methods; never in the file.
    #[serde(skip)]
    pub password: Secret,
    /// A shell command whose first output line is a fresh OAuth 2.0 access token
    /// (`oauth2_token_command`), as mutt, isync and aerc use.
    pub oauth2_token_command: Option<String>,
    /// The built-in OAuth 2.0 client (`[imap.oauth2]`), the other source of access tokens.
    pub oauth2: Option<OAuth2Settings>,
    /// A file whose first line is the password (`password_file`).
    pub password_file: Option<PathBuf>,
    /// A shell command whose first output line is the password (`password_command`).
    pub password_command: Option<String>,
    /// An extra trusted root (PEM) for a private CA, on top of the system roots (`ca_file`).
    pub ca_file: Option<PathBuf>,
    /// The mailbox the reports arrive in (`mailbox`).
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// What happens to a message once its reports are stored (`after_ingest`).
    #[serde(default)]
    pub after_ingest: AfterIngest,
    /// Where [`AfterIngest::Move`] puts stored messages (`archive_mailbox`).
    #[serde(default = "default_archive_mailbox")]
    pub archive_mailbox: String,
    /// Where `move` and `delete` put messages without a valid report (`invalid_mailbox`).
    #[serde(default = "default_invalid_mailbox")]
    pub invalid_mailbox: String,
    /// Messages whose UIDs and sizes are asked for per round (`batch_size`).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Connect, read and write timeout (`timeout_secs`): a silent server must not hang a cron
    /// job; also the time a `password_command` may take.
    #[serde(
        rename = "timeout_secs",
        default = "default_timeout",
        deserialize_with = "seconds"
    )]
    pub timeout: Duration,
    /// The most one command may take in all (`command_deadline_secs`), however the server
    /// paces its reply.
    #[serde(
        rename = "command_deadline_secs",
        default = "default_command_deadline",
        deserialize_with = "seconds"
    )]
    pub command_deadline: Duration,
    /// The most a run may spend on this account, from connect to logout
    /// (`run_deadline_secs`).
    #[serde(
        rename = "run_deadline_secs",
        default = "default_run_deadline",
        deserialize_with = "seconds"
    )]
    pub run_deadline: Duration,
    /// The largest message body accepted as received, whatever size the server announced.
    /// Not an `[imap]` key: ruadb sets it from `[limits] max_message_mib`.
    #[serde(skip, default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
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
fn default_batch_size() -> usize {
    200
}
fn default_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_command_deadline() -> Duration {
    Duration::from_secs(300)
}
fn default_run_deadline() -> Duration {
    Duration::from_secs(1800)
}
fn default_max_message_bytes() -> u64 {
    32 * 1024 * 1024
}

/// The hard upper bound of `batch_size`.
const MAX_BATCH_SIZE: usize = 5000;

/// The hard upper bound of `timeout_secs` and the deadlines.
const MAX_SECONDS: Duration = Duration::from_secs(7 * 24 * 3600);

/// A whole number of seconds.
fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_secs)
}

impl Config {
    /// A configuration with the documented defaults: implicit TLS on 993, `INBOX`, keep,
    /// `Archive`, `Invalid`, batches of 200, 60 s timeout, 300 s per command, 1800 s per run,
    /// messages up to 32 MiB.
    pub fn new(host: impl Into<String>, username: impl Into<String>, password: Secret) -> Config {
        Config {
            host: host.into(),
            port: None,
            tls: TlsMode::default(),
            allow_plaintext: false,
            username: username.into(),
            auth: AuthMethod::default(),
            password,
            oauth2_token_command: None,
            oauth2: None,
            password_file: None,
            password_command: None,
            ca_file: None,
            mailbox: default_mailbox(),
            after_ingest: AfterIngest::default(),
            archive_mailbox: default_archive_mailbox(),
            invalid_mailbox: default_invalid_mailbox(),
            batch_size: default_batch_size(),
            timeout: default_timeout(),
            command_deadline: default_command_deadline(),
            run_deadline: default_run_deadline(),
            max_message_bytes: default_max_message_bytes(),
        }
    }

    /// The port to connect to: `port`, else the conventional one for `tls`.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.tls.default_port())
    }

    /// Checks what serde cannot: settings that contradict each other or cannot work.
    pub fn validate(&self) -> Result<(), FetchError> {
        let invalid = |problem: String| Err(FetchError::Config(problem));
        if self.host.trim().is_empty() {
            return invalid("host is empty".to_owned());
        }
        if self.tls == TlsMode::None && !self.allow_plaintext {
            return invalid(
                "tls = \"none\" sends the password in clear; set allow_plaintext = true to allow it"
                    .to_owned(),
            );
        }
        if self.password_file.is_some() && self.password_command.is_some() {
            return invalid("set password_file or password_command, not both".to_owned());
        }
        if self.auth.is_oauth() {
            if self.password_file.is_some() || self.password_command.is_some() {
                return invalid(format!(
                    "auth = \"{}\" logs in with an access token; password_file and password_command are for auth = \"password\"",
                    self.auth
                ));
            }
            if self.oauth2_token_command.is_some() && self.oauth2.is_some() {
                return invalid(
                    "set oauth2_token_command or an [imap.oauth2] table, not both".to_owned(),
                );
            }
        } else if self.oauth2_token_command.is_some() || self.oauth2.is_some() {
            return invalid(
                "oauth2_token_command and [imap.oauth2] need auth = \"xoauth2\" or \"oauthbearer\""
                    .to_owned(),
            );
        }
        // A batch's `RFC822.SIZE` answer must fit the 1 MiB a control reply may take.
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return invalid(format!("batch_size must be between 1 and {MAX_BATCH_SIZE}"));
        }
        for (key, value) in [
            ("timeout_secs", self.timeout),
            ("command_deadline_secs", self.command_deadline),
            ("run_deadline_secs", self.run_deadline),
        ] {
            if value.is_zero() || value > MAX_SECONDS {
                return invalid(format!(
                    "{key} must be between 1 and {} (a week)",
                    MAX_SECONDS.as_secs()
                ));
            }
        }
        if self.after_ingest == AfterIngest::Move && self.archive_mailbox.trim().is_empty() {
            return invalid("after_ingest = \"move\" needs a non-empty archive_mailbox".to_owned());
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
                return invalid(format!(
                    "{key} must differ from mailbox ({target:?}) when after_ingest moves mail"
                ));
            }
        }
        Ok(())
    }

    /// Reads the password: from `password_file`, else `password_command` (stopped after
    /// `timeout_secs`), else the environment's `RUADB_IMAP_PASSWORD`. Returns warnings worth
    /// printing (a `password_file` every user can read).
    ///
    /// With an OAuth method, runs `oauth2_token_command` instead (see
    /// [`Config::resolve_token`]); the environment's password is not used. With an
    /// `[imap.oauth2]` table the caller obtains the token and sets [`Config::password`].
    pub fn resolve_password(&mut self, env: &EnvPassword) -> Result<Vec<String>, FetchError> {
        if self.auth.is_oauth() && self.oauth2.is_some() {
            return Ok(Vec::new());
        }
        if self.auth.is_oauth() {
            self.resolve_token()?;
            return Ok(Vec::new());
        }
        let mut warnings = Vec::new();
        self.password = if let Some(path) = &self.password_file {
            warnings.extend(Secret::file_warning(path));
            Secret::from_file(path)?
        } else if let Some(command) = &self.password_command {
            Secret::from_command(command, self.timeout)?
        } else {
            match env {
                EnvPassword::Set(password) => password.clone(),
                EnvPassword::NotUnicode => {
                    return Err(FetchError::Password {
                        detail:
                            "RUADB_IMAP_PASSWORD is not valid UTF-8, which IMAP LOGIN cannot carry"
                                .to_owned(),
                    });
                }
                EnvPassword::Unset => return Err(no_password()),
            }
        };
        Ok(warnings)
    }

    /// Runs `oauth2_token_command` (stopped after `timeout_secs`) for a fresh access token.
    /// Called again after the server refused a token, so that an expired one is replaced.
    pub fn resolve_token(&mut self) -> Result<(), FetchError> {
        let Some(command) = &self.oauth2_token_command else {
            return Err(no_token(self.auth));
        };
        self.password = run_secret_command("oauth2_token_command", command, self.timeout)
            .map_err(|detail| FetchError::Token { detail })?;
        Ok(())
    }

    /// The actions for messages whose reports were stored and for those that held none.
    ///
    /// Mail without a report is never deleted: with `move` and `delete` it is set aside in
    /// `invalid_mailbox` (its bytes and the reason are in the database), so the source
    /// mailbox only ever holds mail not yet processed.
    pub fn post_actions(&self) -> (PostAction, PostAction) {
        let set_aside = PostAction::Move(self.invalid_mailbox.clone());
        match self.after_ingest {
            AfterIngest::Keep => (PostAction::Keep, PostAction::Keep),
            AfterIngest::Seen => (PostAction::Seen, PostAction::Seen),
            AfterIngest::Move => (PostAction::Move(self.archive_mailbox.clone()), set_aside),
            AfterIngest::Delete => (PostAction::Delete, set_aside),
        }
    }

    /// `user@host:port`: the account half of the cursor key (the mailbox is the other half).
    pub fn account(&self) -> String {
        format!("{}@{}:{}", self.username, self.host, self.port())
    }
}

/// The error for an account whose password has no source.
pub(crate) fn no_password() -> FetchError {
    FetchError::Password {
        detail: "none: set password_file or password_command, or RUADB_IMAP_PASSWORD".to_owned(),
    }
}

/// The error for an OAuth account without an access token.
pub(crate) fn no_token(auth: AuthMethod) -> FetchError {
    FetchError::Token {
        detail: format!(
            "none: auth = \"{auth}\" needs oauth2_token_command or an [imap.oauth2] table"
        ),
    }
}

/// Whether two mailbox names name the same mailbox: `INBOX` is case-insensitive (RFC 3501
/// section 5.1), every other name is compared as written.
fn same_mailbox(a: &str, b: &str) -> bool {
    a == b || (a.eq_ignore_ascii_case("INBOX") && b.eq_ignore_ascii_case("INBOX"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug_and_display() {
        let config = Config::new("imap.example.com", "dmarc", Secret::new("hunter2-password"));
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("Secret(***)"), "{debug}");
        assert_eq!(config.password.to_string(), "***");
        assert_eq!(config.password.expose(), "hunter2-password");
    }

    #[test]
    fn password_file_takes_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "s3cret");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            Secret::from_file(&path),
            Err(FetchError::Password { .. })
        ));
        let missing = Secret::from_file(&dir.path().join("missing")).unwrap_err();
        assert!(missing.to_string().contains("cannot read password_file"));
    }

    #[test]
    fn password_command_output_and_failure() {
        assert_eq!(
            Secret::from_command(
                "printf 'from-command\\nignored\\n'",
                Duration::from_secs(10)
            )
            .unwrap()
            .expose(),
            "from-command"
        );
        let failed = Secret::from_command("exit 3", Duration::from_secs(10)).unwrap_err();
        assert!(failed.to_string().contains("password_command failed"));
        assert!(Secret::from_command("true", Duration::from_secs(10)).is_err());
    }

    #[test]
    fn password_sources_are_bounded_in_size_and_time() {
        let hanging = Instant::now();
        let error = Secret::from_command("sleep 30", Duration::from_secs(1)).unwrap_err();
        assert!(
            error.to_string().contains("did not finish within 1 s"),
            "{error}"
        );
        assert!(hanging.elapsed() < Duration::from_secs(10));
        // Never stops printing, and never prints a line end.
        let error = Secret::from_command("cat /dev/zero", Duration::from_secs(10)).unwrap_err();
        assert!(error.to_string().contains("no line end"), "{error}");
        let error = Secret::from_file(Path::new("/dev/zero")).unwrap_err();
        assert!(error.to_string().contains("no line end"), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, b"caf\xe9\n").unwrap();
        let error = Secret::from_file(&path).unwrap_err();
        assert!(error.to_string().contains("not UTF-8"), "{error}");
        let error = Secret::from_command(
            &format!("cat '{}'", path.display()),
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(error.to_string().contains("not UTF-8"), "{error}");
    }

    #[test]
    fn a_password_file_every_user_can_read_draws_a_warning() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut config = Config::new("h", "u", Secret::default());
        config.password_file = Some(path.clone());
        let warnings = config.resolve_password(&EnvPassword::Unset).unwrap();
        assert_eq!(config.password.expose(), "s3cret");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("readable by every user (mode 644)"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(
            config
                .resolve_password(&EnvPassword::Unset)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_imap_table_deserialises_with_defaults_and_refuses_unknown_keys() {
        let config: Config =
            toml::from_str("host = \"h\"\nusername = \"u\"\ncommand_deadline_secs = 9\n").unwrap();
        assert_eq!(config.port(), 993);
        assert_eq!(config.command_deadline, Duration::from_secs(9));
        assert_eq!(config.run_deadline, Duration::from_secs(1800));
        assert_eq!(config.password, Secret::default());
        config.validate().unwrap();
        let error = toml::from_str::<Config>("host = \"h\"\nusername = \"u\"\npassword = \"x\"\n")
            .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `password`"),
            "{error}"
        );
    }

    #[test]
    fn oauth_methods_take_a_token_command_and_no_password_source() {
        let parse = |text: &str| {
            toml::from_str::<Config>(&format!("host = \"h\"\nusername = \"u\"\n{text}")).unwrap()
        };
        let mut config = parse("auth = \"xoauth2\"\noauth2_token_command = \"echo tok3n\"\n");
        config.validate().unwrap();
        assert!(
            config
                .resolve_password(&EnvPassword::Set(Secret::new("env-password")))
                .unwrap()
                .is_empty()
        );
        assert_eq!(config.password.expose(), "tok3n");
        assert_eq!(parse("").auth, AuthMethod::Password);
        assert_eq!(
            parse("auth = \"oauthbearer\"").auth.to_string(),
            "oauthbearer"
        );

        let error = parse("auth = \"xoauth2\"\npassword_command = \"x\"\n")
            .validate()
            .unwrap_err();
        assert!(
            error.to_string().contains("logs in with an access token"),
            "{error}"
        );
        let error = parse("oauth2_token_command = \"x\"\n")
            .validate()
            .unwrap_err();
        assert!(
            error.to_string().contains("need auth = \"xoauth2\""),
            "{error}"
        );
        let error = parse("auth = \"xoauth2\"\n")
            .resolve_password(&EnvPassword::Unset)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "OAuth 2.0 access token: none: auth = \"xoauth2\" needs oauth2_token_command or an [imap.oauth2] table"
        );
        let error = parse("auth = \"xoauth2\"\noauth2_token_command = \"exit 4\"\n")
            .resolve_password(&EnvPassword::Unset)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "OAuth 2.0 access token: oauth2_token_command failed (exit status: 4)"
        );
        assert!(
            toml::from_str::<Config>("host = \"h\"\nusername = \"u\"\nauth = \"plain\"\n").is_err()
        );
    }

    #[test]
    fn the_oauth2_table_needs_an_oauth_method_and_excludes_the_token_command() {
        let table =
            "[oauth2]\nprovider = \"custom\"\nclient_id = \"c\"\ngrant = \"client_credentials\"\n";
        let parse = |keys: &str| {
            toml::from_str::<Config>(&format!("host = \"h\"\nusername = \"u\"\n{keys}{table}"))
                .unwrap()
        };
        let mut config = parse("auth = \"oauthbearer\"\n");
        config.validate().unwrap();
        let settings = config.oauth2.clone().unwrap();
        assert_eq!(settings.provider, OAuth2Provider::Custom);
        assert_eq!(settings.grant, OAuth2Grant::ClientCredentials);
        // The token is the caller's to obtain: nothing is read here.
        assert!(
            config
                .resolve_password(&EnvPassword::Unset)
                .unwrap()
                .is_empty()
        );
        assert!(config.password.expose().is_empty());
        let error = parse("").validate().unwrap_err();
        assert!(
            error.to_string().contains("[imap.oauth2] need auth"),
            "{error}"
        );
        let error = parse("auth = \"xoauth2\"\noauth2_token_command = \"x\"\n")
            .validate()
            .unwrap_err();
        assert!(error.to_string().contains("not both"), "{error}");
        let unknown = toml::from_str::<Config>(
            "host = \"h\"\nusername = \"u\"\n[oauth2]\nprovider = \"custom\"\nclient_id = \"c\"\ngrant = \"refresh\"\n",
        );
        assert!(unknown.is_err());
        let delegated = toml::from_str::<Config>(
            "host = \"h\"\nusername = \"u\"\nauth = \"xoauth2\"\n[oauth2]\nprovider = \"google\"\nclient_id = \"c\"\n",
        )
        .unwrap();
        assert_eq!(delegated.oauth2.unwrap().grant, OAuth2Grant::RefreshToken);
    }

    #[test]
    fn mail_without_a_report_is_never_deleted() {
        let mut config = Config::new("h", "u", Secret::new("p"));
        config.archive_mailbox = "Archive/dmarc".to_owned();
        config.invalid_mailbox = "Invalid".to_owned();
        let set_aside = PostAction::Move("Invalid".to_owned());
        for (action, expected) in [
            (AfterIngest::Keep, (PostAction::Keep, PostAction::Keep)),
            (AfterIngest::Seen, (PostAction::Seen, PostAction::Seen)),
            (
                AfterIngest::Move,
                (
                    PostAction::Move("Archive/dmarc".to_owned()),
                    set_aside.clone(),
                ),
            ),
            (AfterIngest::Delete, (PostAction::Delete, set_aside)),
        ] {
            config.after_ingest = action;
            assert_eq!(config.post_actions(), expected, "{action}");
        }
    }

    #[test]
    fn modes_print_as_configured() {
        let printed: Vec<String> = [TlsMode::Implicit, TlsMode::Starttls, TlsMode::None]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(printed, ["implicit", "starttls", "none"]);
        assert_eq!(AfterIngest::Delete.to_string(), "delete");
        assert_eq!(TlsMode::Starttls.default_port(), 143);
        assert_eq!(TlsMode::Implicit.default_port(), 993);
    }
}
