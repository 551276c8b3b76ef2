//! OAuth 2.0 access tokens for IMAP logins, obtained by ruadb itself (`[imap.oauth2]`).
//!
//! [`TokenSource`] asks the token endpoint (RFC 6749) for an access token with the
//! configured grant (a refresh token, or the client credentials), through the `oauth2` crate
//! over a blocking HTTPS client that verifies certificates like the IMAP side does (system
//! roots plus the account's `ca_file`). The refresh token, the access token and its expiry are
//! kept in a token file next to the database ([`TokenFile`]), written atomically with mode
//! 0600; the access token is reused until 60 s before it expires, and a rotated refresh token
//! is saved before the access token that came with it is handed out.
//!
//! [`TokenSource::authorise`] and [`TokenSource::store`] are the first authorisation: the device grant (RFC 8628) or the
//! authorisation code grant with PKCE and a loopback redirect.
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
mod login;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ruadb_fetch::{OAuth2Settings, Secret};

pub use endpoint::{Endpoint, OAuthError};
pub use file::{AccountTokens, TokenFile};
pub use login::{LoginFlow, Prompt};

use ruadb_fetch::OAuth2Grant;

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
    /// endpoint, saved to the token file (with the rotated refresh token, if the provider
    /// sent one) before it is returned.
    ///
    /// A refresh token the provider refuses (`invalid_grant`) is [`OAuthError::Reauthorise`];
    /// none stored yet is [`OAuthError::NotAuthorised`].
    pub fn access_token(&self, now: i64, fresh: bool) -> Result<Secret, OAuthError> {
        let mut tokens = TokenFile::read(&self.file)?;
        let cached = tokens.account(&self.account).unwrap_or_default();
        if !fresh
            && let (Some(token), Some(expires_at)) = (&cached.access_token, cached.expires_at)
            && expires_at - EXPIRY_MARGIN_SECS > now
        {
            return Ok(token.clone());
        }
        let refresh_token =
            match self.endpoint.grant() {
                OAuth2Grant::RefreshToken => Some(cached.refresh_token.clone().ok_or_else(
                    || OAuthError::NotAuthorised {
                        account: self.account.clone(),
                    },
                )?),
                OAuth2Grant::ClientCredentials => None,
            };
        let issued = self
            .endpoint
            .request_token(refresh_token.as_ref())
            .map_err(|error| match error {
                OAuthError::Refused {
                    code, description, ..
                } if code == "invalid_grant" && refresh_token.is_some() => {
                    OAuthError::Reauthorise {
                        account: self.account.clone(),
                        detail: match description {
                            Some(text) => format!("{code}: {text}"),
                            None => code,
                        },
                    }
                }
                other => other,
            })?;
        let token = issued.access_token.clone();
        self.save(
            &mut tokens,
            issued,
            now,
            self.endpoint.grant_name(),
            cached.refresh_token,
        )?;
        Ok(token)
    }

    /// The first authorisation: runs the device flow or the browser flow (see [`LoginFlow`]),
    /// showing what to do through `prompt` and waiting at most `wait`. Nothing is written:
    /// [`TokenSource::store`] does that, under the fetch lock, which the caller need not hold
    /// while a person takes minutes to sign in.
    pub fn authorise(
        &self,
        wait: Duration,
        prompt: &mut dyn FnMut(Prompt<'_>),
    ) -> Result<Authorisation, OAuthError> {
        if self.endpoint.grant() == OAuth2Grant::ClientCredentials {
            return Err(OAuthError::Config(
                "grant = \"client_credentials\" needs no login: ruadb obtains its tokens with the client secret"
                    .to_owned(),
            ));
        }
        let flow = self.endpoint.login_flow()?;
        // A token file that would be refused is named before anyone signs in.
        TokenFile::read(&self.file)?;
        let issued = match flow {
            LoginFlow::Device => self.endpoint.device_login(wait, prompt)?,
            LoginFlow::Browser => self.endpoint.browser_login(wait, prompt)?,
        };
        if issued.refresh_token.is_none() {
            return Err(OAuthError::Login(
                "the provider issued no refresh token (Microsoft: add the offline_access scope)"
                    .to_owned(),
            ));
        }
        Ok(Authorisation { issued, flow })
    }

    /// Stores what [`TokenSource::authorise`] obtained, replacing the account's tokens; `now`
    /// is when it was obtained. The caller holds the fetch lock.
    pub fn store(&self, authorisation: Authorisation, now: i64) -> Result<LoginFlow, OAuthError> {
        let mut tokens = TokenFile::read(&self.file)?;
        let flow = authorisation.flow;
        self.save(
            &mut tokens,
            authorisation.issued,
            now,
            flow.grant_name(),
            None,
        )?;
        Ok(flow)
    }

    /// Writes `issued` for this account: the new refresh token, else `kept`.
    fn save(
        &self,
        tokens: &mut TokenFile,
        issued: endpoint::Issued,
        now: i64,
        method: &str,
        kept: Option<Secret>,
    ) -> Result<(), OAuthError> {
        let account = AccountTokens {
            access_token: Some(issued.access_token),
            expires_at: issued.expires_in.map(|lifetime| {
                now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
            }),
            last_refresh: Some(now),
            method: Some(method.to_owned()),
            refresh_token: issued.refresh_token.or(kept),
        };
        tokens.set_account(&self.account, account);
        tokens.write(&self.file)
    }

    /// The account's name in the token file.
    pub fn account(&self) -> &str {
        &self.account
    }
}

/// The tokens a person's authorisation produced, not yet stored. `Debug` shows no token.
pub struct Authorisation {
    issued: endpoint::Issued,
    flow: LoginFlow,
}

impl std::fmt::Debug for Authorisation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorisation")
            .field("flow", &self.flow)
            .finish_non_exhaustive()
    }
}

/// The token file for the database at `db`: `<db>.oauth2.json`.
pub fn token_file_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".oauth2.json");
    PathBuf::from(name)
}
