//! What a fetch run needs to know: server, credentials, mailbox and the post-ingest action.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::FetchError;
use crate::session::PostAction;

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS, port 993).
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

/// What happens to a message once its reports are committed to the database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

/// A password. `Debug` and `Display` print `***`, so it cannot leak through logs or error chains.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The password itself, for the LOGIN command only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads the first line of a file (a trailing newline is not part of the password).
    pub fn from_file(path: &Path) -> Result<Secret, FetchError> {
        let text = std::fs::read_to_string(path).map_err(|error| FetchError::Password {
            detail: format!("cannot read password_file {}: {error}", path.display()),
        })?;
        let password = text.lines().next().unwrap_or("");
        if password.is_empty() {
            return Err(FetchError::Password {
                detail: format!("password_file {} is empty", path.display()),
            });
        }
        Ok(Secret::new(password))
    }

    /// Runs `sh -c command` and takes the first line of its standard output. Standard error is
    /// passed through so the command can explain its own failures.
    pub fn from_command(command: &str) -> Result<Secret, FetchError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| FetchError::Password {
                detail: format!("cannot run password_command: {error}"),
            })?;
        let mut output = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            stdout
                .read_to_string(&mut output)
                .map_err(|error| FetchError::Password {
                    detail: format!("cannot read the output of password_command: {error}"),
                })?;
        }
        let status = child.wait().map_err(|error| FetchError::Password {
            detail: format!("password_command did not finish: {error}"),
        })?;
        if !status.success() {
            return Err(FetchError::Password {
                detail: format!("password_command failed ({status})"),
            });
        }
        let password = output.lines().next().unwrap_or("");
        if password.is_empty() {
            return Err(FetchError::Password {
                detail: "password_command printed nothing".to_owned(),
            });
        }
        Ok(Secret::new(password))
    }
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

/// One IMAP account and mailbox.
///
/// Mailbox names use `/` between hierarchy levels (`Archive/dmarc`); the session translates it
/// to the separator the server announces in `LIST`.
#[derive(Clone, Debug)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Must be true for [`TlsMode::None`]; a guard against sending the password in clear text
    /// by accident.
    pub allow_plaintext: bool,
    pub username: String,
    pub password: Secret,
    /// An extra trusted root (PEM) for a private CA, on top of the system roots.
    pub ca_file: Option<PathBuf>,
    pub mailbox: String,
    pub after_ingest: AfterIngest,
    pub archive_mailbox: String,
    pub invalid_mailbox: String,
    /// Messages fetched (and committed) per round trip.
    pub batch_size: usize,
    /// Connect, read and write timeout: a hung server must not hang a cron job forever.
    pub timeout: Duration,
}

impl Config {
    /// A configuration with the documented defaults: implicit TLS on 993, `INBOX`, keep,
    /// `Archive`, `Invalid`, batches of 200, 60 s timeout.
    pub fn new(host: impl Into<String>, username: impl Into<String>, password: Secret) -> Config {
        Config {
            host: host.into(),
            port: TlsMode::Implicit.default_port(),
            tls: TlsMode::Implicit,
            allow_plaintext: false,
            username: username.into(),
            password,
            ca_file: None,
            mailbox: "INBOX".to_owned(),
            after_ingest: AfterIngest::Keep,
            archive_mailbox: "Archive".to_owned(),
            invalid_mailbox: "Invalid".to_owned(),
            batch_size: 200,
            timeout: Duration::from_secs(60),
        }
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
        format!("{}@{}:{}", self.username, self.host, self.port)
    }
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
            Secret::from_command("printf 'from-command\\nignored\\n'")
                .unwrap()
                .expose(),
            "from-command"
        );
        let failed = Secret::from_command("exit 3").unwrap_err();
        assert!(failed.to_string().contains("password_command failed"));
        assert!(Secret::from_command("true").is_err());
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
