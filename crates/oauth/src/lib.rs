//! OAuth 2.0 access tokens for IMAP logins, obtained by ruadb itself (`[imap.oauth2]`).
//!
//! [`TokenSource`] asks the token endpoint (RFC 6749) for an access token with the
//! configured grant, through the `oauth2` crate over a blocking HTTPS client that verifies
//! certificates like the IMAP side does (system roots plus the account's `ca_file`). The
//! token and its expiry are kept in a token file next to the database ([`TokenFile`]),
//! written atomically with mode 0600, and reused until 60 s before it expires.
//!
//! A token endpoint that is down, slow, or answers 429 or 5xx is retried (honouring
//! `Retry-After`) until `timeout_secs` has passed in all, never longer. Nothing here prints;
//! no error message and no `Debug` output holds a token or a client secret.
//!
//! The caller passes the clock in (`now`, Unix seconds) and holds the fetch lock, so that
//! two runs never refresh at once.

#![warn(missing_docs)]

mod endpoint;
mod file;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ruadb_fetch::{OAuth2Settings, Secret};

pub use endpoint::{Endpoint, OAuthError};
pub use file::{AccountTokens, TokenFile};

/// How long before its expiry an access token is replaced rather than reused.
pub const EXPIRY_MARGIN_SECS: i64 = 60;

/// Where one account's access tokens come from: its `[imap.oauth2]` settings, the token file
/// and the account's name in it.
#[derive(Debug)]
pub struct TokenSource {
    endpoint: Endpoint,
    file: PathBuf,
    account: String,
}

impl TokenSource {
    /// A source for `account` (the IMAP account's `user@host:port`) keeping its tokens in
    /// `file`. Reads the client secret (from its file or command, the latter stopped after
    /// `timeout`) and resolves the provider's endpoint and scope. `ca_file` is trusted for
    /// the token endpoint on top of the system roots.
    pub fn new(
        settings: &OAuth2Settings,
        ca_file: Option<&Path>,
        timeout: Duration,
        file: PathBuf,
        account: String,
    ) -> Result<TokenSource, OAuthError> {
        Ok(TokenSource {
            endpoint: Endpoint::new(settings, ca_file, timeout)?,
            file,
            account,
        })
    }

    /// An access token valid for at least [`EXPIRY_MARGIN_SECS`] more: the cached one, or
    /// (when `fresh`, or none is cached, or it expires soon) a new one from the token
    /// endpoint, saved to the token file before it is returned.
    pub fn access_token(&self, now: i64, fresh: bool) -> Result<Secret, OAuthError> {
        let mut tokens = TokenFile::read(&self.file)?;
        let cached = tokens.account(&self.account);
        if !fresh
            && let Some(account) = &cached
            && let (Some(token), Some(expires_at)) = (&account.access_token, account.expires_at)
            && expires_at - EXPIRY_MARGIN_SECS > now
        {
            return Ok(token.clone());
        }
        let issued = self.endpoint.request_token()?;
        let account = AccountTokens {
            access_token: Some(issued.access_token.clone()),
            expires_at: issued.expires_in.map(|lifetime| {
                now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
            }),
            last_refresh: Some(now),
            method: Some(self.endpoint.grant_name().to_owned()),
        };
        tokens.set_account(&self.account, account);
        tokens.write(&self.file)?;
        Ok(issued.access_token)
    }
}

/// The token file for the database at `db`: `<db>.oauth2.json`.
pub fn token_file_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".oauth2.json");
    PathBuf::from(name)
}
