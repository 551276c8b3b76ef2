//! The token file: per account, the refresh token, the cached access token, its expiry and
//! when it was last obtained. Owner-only (0600), replaced atomically (write a sibling, fsync, rename, fsync the
//! directory), so a crash leaves the old file or the new one, never a mix.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use ruadb_fetch::Secret;
use serde::{Deserialize, Serialize};

use crate::endpoint::OAuthError;

/// The largest token file read; a few accounts take a few KiB.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// What the token file holds for one account. `Debug` shows `Secret(***)` for the token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountTokens {
    /// The last access token issued.
    pub access_token: Option<Secret>,
    /// When it expires (Unix seconds), if the endpoint said.
    pub expires_at: Option<i64>,
    /// When it was obtained (Unix seconds).
    pub last_refresh: Option<i64>,
    /// How it was obtained (`client_credentials`, `refresh_token`, `device_code`,
    /// `authorization_code`).
    pub method: Option<String>,
    /// The refresh token (grant = `refresh_token`), replaced when the provider rotates it.
    pub refresh_token: Option<Secret>,
}

/// All accounts' tokens, by account (`user@host:port`).
#[derive(Debug, Default)]
pub struct TokenFile {
    accounts: BTreeMap<String, AccountTokens>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    accounts: BTreeMap<String, AccountOnDisk>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountOnDisk {
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_refresh: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

impl TokenFile {
    /// Reads the file; a missing file is an empty one. Refused when group or others may read
    /// or write it, when it is larger than 1 MiB, or when it is not a token file.
    pub fn read(path: &Path) -> Result<TokenFile, OAuthError> {
        let failed = |detail: String| OAuthError::TokenFile {
            path: path.to_path_buf(),
            detail,
        };
        let mut file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TokenFile::default());
            }
            Err(error) => return Err(failed(format!("cannot read it: {error}"))),
        };
        let mode = file
            .metadata()
            .map_err(|error| failed(format!("cannot read it: {error}")))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(failed(format!(
                "group or other users may access it (mode {:o}); it holds access tokens: `chmod 600` it",
                mode & 0o777
            )));
        }
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| failed(format!("cannot read it: {error}")))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(failed(format!(
                "larger than {} KiB; not a token file",
                MAX_FILE_BYTES / 1024
            )));
        }
        // serde_json's message may quote the value it choked on, which may be a token: only
        // the position is repeated.
        let disk: OnDisk = serde_json::from_slice(&bytes).map_err(|error| {
            failed(format!(
                "not a token file (JSON error at line {}, column {})",
                error.line(),
                error.column()
            ))
        })?;
        let accounts = disk
            .accounts
            .into_iter()
            .map(|(name, account)| {
                let tokens = AccountTokens {
                    access_token: account.access_token.map(Secret::new),
                    expires_at: account.expires_at,
                    last_refresh: account.last_refresh,
                    method: account.method,
                    refresh_token: account.refresh_token.map(Secret::new),
                };
                (name, tokens)
            })
            .collect();
        Ok(TokenFile { accounts })
    }

    /// What the file holds for `account`.
    pub fn account(&self, account: &str) -> Option<AccountTokens> {
        self.accounts.get(account).cloned()
    }

    /// Every account, by name.
    pub fn accounts(&self) -> impl Iterator<Item = (&str, &AccountTokens)> {
        self.accounts
            .iter()
            .map(|(name, tokens)| (name.as_str(), tokens))
    }

    /// Replaces what the file holds for `account` (in memory; see [`TokenFile::write`]).
    pub fn set_account(&mut self, account: &str, tokens: AccountTokens) {
        self.accounts.insert(account.to_owned(), tokens);
    }

    /// Replaces the file atomically: a sibling created with mode 0600, written and synced,
    /// renamed over the file, and the directory synced.
    pub fn write(&self, path: &Path) -> Result<(), OAuthError> {
        let failed = |detail: String| OAuthError::TokenFile {
            path: path.to_path_buf(),
            detail,
        };
        let disk = OnDisk {
            accounts: self
                .accounts
                .iter()
                .map(|(name, tokens)| {
                    let account = AccountOnDisk {
                        access_token: tokens
                            .access_token
                            .as_ref()
                            .map(|token| token.expose().to_owned()),
                        expires_at: tokens.expires_at,
                        last_refresh: tokens.last_refresh,
                        method: tokens.method.clone(),
                        refresh_token: tokens
                            .refresh_token
                            .as_ref()
                            .map(|token| token.expose().to_owned()),
                    };
                    (name.clone(), account)
                })
                .collect(),
        };
        let mut text = serde_json::to_vec_pretty(&disk)
            .map_err(|error| failed(format!("cannot encode it: {error}")))?;
        text.push(b'\n');
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(format!(".tmp-{}", std::process::id()));
        let temporary = std::path::PathBuf::from(temporary);
        // Leftovers of runs killed mid-write hold tokens too; the caller holds the fetch lock,
        // so no other writer is using them.
        remove_leftovers(path);
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)?;
            if let Some(directory) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                std::fs::File::open(directory)?.sync_all()?;
            }
            Ok::<(), std::io::Error>(())
        })();
        written.map_err(|error| {
            let _ = std::fs::remove_file(&temporary);
            failed(format!("cannot write it: {error}"))
        })
    }
}

/// Removes `<file>.tmp-*` siblings of `path`.
fn remove_leftovers(path: &Path) {
    let (Some(directory), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let directory = if directory.as_os_str().is_empty() {
        Path::new(".")
    } else {
        directory
    };
    let mut prefix = name.to_owned();
    prefix.push(".tmp-");
    let prefix = prefix.as_encoded_bytes().to_vec();
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().as_encoded_bytes().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_mode_0600_and_group_readable_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite.oauth2.json");
        assert!(TokenFile::read(&path).unwrap().account("a").is_none());
        let mut file = TokenFile::default();
        let tokens = AccountTokens {
            access_token: Some(Secret::new("at-123")),
            expires_at: Some(2000),
            last_refresh: Some(1000),
            method: Some("refresh_token".to_owned()),
            refresh_token: Some(Secret::new("rt-456")),
        };
        file.set_account("u@h:993", tokens.clone());
        assert!(!format!("{file:?}").contains("at-123"));
        assert!(!format!("{file:?}").contains("rt-456"));
        file.write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            TokenFile::read(&path).unwrap().account("u@h:993"),
            Some(tokens)
        );
        // Only the file itself is left: no temporary sibling, not even a killed run's.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let leftover = dir.path().join("db.sqlite.oauth2.json.tmp-1");
        std::fs::write(&leftover, "{}").unwrap();
        file.write(&path).unwrap();
        assert!(!leftover.exists());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = TokenFile::read(&path).unwrap_err().to_string();
        assert!(
            error.contains("group or other users may access it (mode 640)"),
            "{error}"
        );
        assert!(error.contains("chmod 600"), "{error}");
    }

    #[test]
    fn a_damaged_file_is_named_without_repeating_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        std::fs::write(
            &path,
            r#"{"accounts": {"a": {"access_token": 5, "x": "sekrit"}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let error = TokenFile::read(&path).unwrap_err().to_string();
        assert!(
            error.contains("not a token file (JSON error at line 1"),
            "{error}"
        );
        assert!(!error.contains("sekrit"), "{error}");
    }
}
