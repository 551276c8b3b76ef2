//! The token endpoint: the provider presets, the client secret, the HTTPS client and the
//! bounded retries around one token request.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse as _, TokenUrl};
use ruadb_fetch::{OAuth2Grant, OAuth2Provider, OAuth2Settings, Secret};

/// The largest token endpoint response read; a real one is a few KiB.
const MAX_RESPONSE_BYTES: u64 = 256 * 1024;

/// The longest pause between two attempts, whatever `Retry-After` says (the overall
/// `timeout_secs` bound holds in any case).
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// Why no access token could be had. No variant holds a token or a client secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The `[imap.oauth2]` settings cannot work.
    #[error("invalid [imap.oauth2] settings: {0}")]
    Config(String),

    /// The client secret could not be read from its file or command.
    #[error("[imap.oauth2] client secret: {0}")]
    ClientSecret(String),

    /// The token endpoint refused the request with an OAuth 2.0 error (RFC 6749 section 5.2).
    #[error("the token endpoint {url} refused the request: {code}{}", describe(description.as_deref()))]
    Refused {
        /// The token endpoint.
        url: String,
        /// The error code (`invalid_client`, `invalid_scope`, …).
        code: String,
        /// The endpoint's `error_description`, escaped and cut short.
        description: Option<String>,
    },

    /// The token endpoint could not be reached, or kept failing (429, 5xx, a broken answer),
    /// until `timeout_secs` ran out.
    #[error("the token endpoint {url} gave no token within {} s (timeout_secs): {detail}", timeout.as_secs())]
    Unavailable {
        /// The token endpoint.
        url: String,
        /// `timeout_secs`.
        timeout: Duration,
        /// The last failure.
        detail: String,
    },

    /// No refresh token is stored for the account: nobody has authorised ruadb yet.
    #[error(
        "no refresh token for {account} yet: authorise ruadb once with `ruadb auth login --account {account}`"
    )]
    NotAuthorised {
        /// The account (`user@host:port`).
        account: String,
    },

    /// The provider refused the stored refresh token (`invalid_grant`: revoked, expired, or
    /// the password changed): only a person can fix that.
    #[error(
        "the refresh token for {account} was refused ({detail}); re-authorise with `ruadb auth login --account {account}`"
    )]
    Reauthorise {
        /// The account (`user@host:port`).
        account: String,
        /// The endpoint's error code and description.
        detail: String,
    },

    /// `ruadb auth login` could not finish: the user denied access, the code expired, no one
    /// came back in time, or the provider issued no refresh token.
    #[error("authorisation did not complete: {0}")]
    Login(String),

    /// The token file could not be read or written, or was refused.
    #[error("token file {}: {detail}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

fn describe(description: Option<&str>) -> String {
    description.map_or_else(String::new, |text| format!(" ({text})"))
}

/// Tokens as the endpoint issued them.
pub(crate) struct Issued {
    pub(crate) access_token: Secret,
    pub(crate) expires_in: Option<Duration>,
    /// A new refresh token (a first one, or a rotated one).
    pub(crate) refresh_token: Option<Secret>,
}

impl Issued {
    pub(crate) fn from_response(token: &oauth2::basic::BasicTokenResponse) -> Issued {
        Issued {
            access_token: Secret::new(token.access_token().secret().clone()),
            expires_in: token.expires_in(),
            refresh_token: token
                .refresh_token()
                .map(|refresh| Secret::new(refresh.secret().clone())),
        }
    }
}

/// The endpoints of one provider, presets resolved.
struct Urls {
    token: String,
    scope: String,
    /// The authorisation endpoint, for the authorisation code grant with PKCE.
    authorization: Option<String>,
    /// The device authorisation endpoint (RFC 8628).
    device: Option<String>,
}

/// One account's token endpoint: where, who, what scope, how.
pub struct Endpoint {
    url: String,
    client_id: String,
    client_secret: Option<Secret>,
    scope: String,
    grant: OAuth2Grant,
    provider: OAuth2Provider,
    authorization_url: Option<String>,
    device_url: Option<String>,
    ca_file: Option<PathBuf>,
    timeout: Duration,
}

/// The token endpoint client of the `oauth2` crate.
type TokenClient = BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

/// A failed request as the `oauth2` crate reports it.
type TokenFailure = RequestTokenError<HttpError, oauth2::basic::BasicErrorResponse>;

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Resolves the presets and reads the client secret.
    pub fn new(
        settings: &OAuth2Settings,
        ca_file: Option<&Path>,
        timeout: Duration,
    ) -> Result<Endpoint, OAuthError> {
        let urls = preset(settings)?;
        for (key, url) in [
            ("token_url", Some(&urls.token)),
            ("authorization_url", urls.authorization.as_ref()),
            ("device_authorization_url", urls.device.as_ref()),
        ] {
            if let Some(url) = url
                && !url.starts_with("https://")
                && !is_loopback_http(url)
            {
                return Err(OAuthError::Config(format!(
                    "{key} {url:?} must be https:// (http:// only on 127.0.0.1)"
                )));
            }
        }
        let client_secret = match (
            &settings.client_secret_file,
            &settings.client_secret_command,
        ) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::Config(
                    "set client_secret_file or client_secret_command, not both".to_owned(),
                ));
            }
            (Some(path), None) => Some(
                Secret::from_file(path)
                    .map_err(|error| OAuthError::ClientSecret(error.to_string()))?,
            ),
            (None, Some(command)) => Some(
                ruadb_fetch::run_secret_command("client_secret_command", command, timeout)
                    .map_err(OAuthError::ClientSecret)?,
            ),
            (None, None) => None,
        };
        if settings.grant == OAuth2Grant::ClientCredentials && client_secret.is_none() {
            return Err(OAuthError::Config(
                "grant = \"client_credentials\" needs client_secret_file or client_secret_command"
                    .to_owned(),
            ));
        }
        Ok(Endpoint {
            url: urls.token,
            client_id: settings.client_id.clone(),
            client_secret,
            scope: urls.scope,
            grant: settings.grant,
            provider: settings.provider,
            authorization_url: urls.authorization,
            device_url: urls.device,
            ca_file: ca_file.map(Path::to_path_buf),
            timeout,
        })
    }

    /// The grant's name as configured.
    pub fn grant_name(&self) -> &'static str {
        match self.grant {
            OAuth2Grant::RefreshToken => "refresh_token",
            OAuth2Grant::ClientCredentials => "client_credentials",
        }
    }

    /// The configured grant.
    pub(crate) fn grant(&self) -> OAuth2Grant {
        self.grant
    }

    pub(crate) fn provider(&self) -> OAuth2Provider {
        self.provider
    }

    pub(crate) fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.scope
            .split_whitespace()
            .map(|scope| Scope::new(scope.to_owned()))
    }

    pub(crate) fn authorization_url(&self) -> Option<&str> {
        self.authorization_url.as_deref()
    }

    pub(crate) fn device_url(&self) -> Option<&str> {
        self.device_url.as_deref()
    }

    pub(crate) fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn token_url(&self) -> &str {
        &self.url
    }

    /// The `oauth2` crate's client for the token endpoint, with the client secret if any
    /// (sent with HTTP Basic authentication, RFC 6749 section 2.3.1).
    pub(crate) fn client(&self) -> Result<TokenClient, OAuthError> {
        let mut client = BasicClient::new(ClientId::new(self.client_id.clone())).set_token_uri(
            TokenUrl::new(self.url.clone())
                .map_err(|error| OAuthError::Config(format!("token_url: {error}")))?,
        );
        if let Some(secret) = &self.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        Ok(client)
    }

    /// A new access token with the configured grant: `refresh_token` is the stored refresh
    /// token for the refresh token grant (unused by the client credentials grant).
    pub(crate) fn request_token(
        &self,
        refresh_token: Option<&Secret>,
    ) -> Result<Issued, OAuthError> {
        let client = self.client()?;
        match (self.grant, refresh_token) {
            (OAuth2Grant::RefreshToken, Some(refresh)) => {
                let refresh = oauth2::RefreshToken::new(refresh.expose().to_owned());
                self.with_retries(|http| {
                    client
                        .exchange_refresh_token(&refresh)
                        .add_scopes(self.scopes())
                        .request(&|request| http.call(request))
                })
            }
            (OAuth2Grant::RefreshToken, None) => Err(OAuthError::Config(
                "grant = \"refresh_token\" without a refresh token".to_owned(),
            )),
            (OAuth2Grant::ClientCredentials, _) => self.with_retries(|http| {
                client
                    .exchange_client_credentials()
                    .add_scopes(self.scopes())
                    .request(&|request| http.call(request))
            }),
        }
    }

    /// One token request (`attempt`), retried on 429, 5xx and network failures (after
    /// `Retry-After`, or 1, 2, 4… s) until `timeout_secs` has passed since the first attempt.
    pub(crate) fn with_retries(
        &self,
        attempt: impl Fn(&Http) -> Result<oauth2::basic::BasicTokenResponse, TokenFailure>,
    ) -> Result<Issued, OAuthError> {
        let started = Instant::now();
        let unavailable = |detail: String| OAuthError::Unavailable {
            url: self.url.clone(),
            timeout: self.timeout,
            detail,
        };
        let mut pause = Duration::from_secs(1);
        loop {
            let left = self.timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(unavailable("out of time".to_owned()));
            }
            let http = Http::new(self.ca_file.as_deref(), left)?;
            let failure = match attempt(&http) {
                Ok(token) => return Ok(Issued::from_response(&token)),
                Err(error) => error,
            };
            let status = http.status.get();
            let retry_after = http.retry_after.get();
            let transient = matches!(status, Some(429 | 500..=599)) || status.is_none();
            let detail = match failure {
                RequestTokenError::ServerResponse(response) if !transient => {
                    return Err(OAuthError::Refused {
                        url: self.url.clone(),
                        code: error_code(response.error()),
                        description: response
                            .error_description()
                            .map(|text| escape(text, self.client_secret.as_ref())),
                    });
                }
                RequestTokenError::ServerResponse(response) => {
                    format!(
                        "HTTP {} {}",
                        status.unwrap_or(0),
                        error_code(response.error())
                    )
                }
                RequestTokenError::Request(error) => error.to_string(),
                RequestTokenError::Parse(_, _) | RequestTokenError::Other(_) => match status {
                    Some(status) => format!("HTTP {status} without an OAuth 2.0 answer"),
                    None => "no OAuth 2.0 answer".to_owned(),
                },
            };
            if !transient {
                return Err(unavailable(detail));
            }
            let wait = retry_after.unwrap_or(pause).min(MAX_PAUSE);
            let left = self.timeout.saturating_sub(started.elapsed());
            if wait >= left {
                return Err(unavailable(detail));
            }
            std::thread::sleep(wait);
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

fn error_code(code: &BasicErrorResponseType) -> String {
    escape(code.as_ref(), None)
}

impl Endpoint {
    /// Server text as it may appear in a message (see [`escape`]).
    pub(crate) fn escape(&self, text: &str) -> String {
        escape(text, self.client_secret.as_ref())
    }
}

/// Microsoft's delegated scope for IMAP, with `offline_access` for a refresh token.
const MICROSOFT_DELEGATED_SCOPE: &str =
    "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access";

/// Provider presets: the endpoints and the scope; a key that is set wins over its preset.
fn preset(settings: &OAuth2Settings) -> Result<Urls, OAuthError> {
    let required = |value: &Option<String>, key: &str| {
        value
            .clone()
            .ok_or_else(|| OAuthError::Config(format!("provider = \"custom\" needs {key}")))
    };
    let delegated = settings.grant == OAuth2Grant::RefreshToken;
    let or = |value: &Option<String>, preset: String| value.clone().unwrap_or(preset);
    Ok(match settings.provider {
        OAuth2Provider::Microsoft => {
            let tenant = match (&settings.tenant, delegated) {
                (Some(tenant), _) => tenant.clone(),
                // Any work or school account; the user's sign-in picks the directory.
                (None, true) => "organizations".to_owned(),
                (None, false) => {
                    return Err(OAuthError::Config(
                        "provider = \"microsoft\" with grant = \"client_credentials\" needs tenant (the directory ID or domain)"
                            .to_owned(),
                    ));
                }
            };
            let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
            Urls {
                token: or(&settings.token_url, format!("{base}/token")),
                scope: or(
                    &settings.scope,
                    if delegated {
                        MICROSOFT_DELEGATED_SCOPE.to_owned()
                    } else {
                        "https://outlook.office365.com/.default".to_owned()
                    },
                ),
                authorization: Some(or(&settings.authorization_url, format!("{base}/authorize"))),
                device: Some(or(
                    &settings.device_authorization_url,
                    format!("{base}/devicecode"),
                )),
            }
        }
        OAuth2Provider::Google => {
            if !delegated {
                return Err(OAuthError::Config(
                    "Google has no client credentials grant for Gmail; use grant = \"refresh_token\" and `ruadb auth login`"
                        .to_owned(),
                ));
            }
            Urls {
                token: or(
                    &settings.token_url,
                    "https://oauth2.googleapis.com/token".to_owned(),
                ),
                scope: or(&settings.scope, "https://mail.google.com/".to_owned()),
                authorization: Some(or(
                    &settings.authorization_url,
                    "https://accounts.google.com/o/oauth2/v2/auth".to_owned(),
                )),
                // Google's device flow does not grant the Gmail scope.
                device: settings.device_authorization_url.clone(),
            }
        }
        OAuth2Provider::Custom => Urls {
            token: required(&settings.token_url, "token_url")?,
            scope: required(&settings.scope, "scope")?,
            authorization: settings.authorization_url.clone(),
            device: settings.device_authorization_url.clone(),
        },
    })
}

fn is_loopback_http(url: &str) -> bool {
    url.strip_prefix("http://")
        .is_some_and(|rest| rest.starts_with("127.0.0.1:") || rest.starts_with("127.0.0.1/"))
}

/// The blocking HTTPS client for one attempt, noting the status and `Retry-After` of the
/// answer (the `oauth2` crate keeps neither).
pub(crate) struct Http {
    client: reqwest::blocking::Client,
    status: Cell<Option<u16>>,
    retry_after: Cell<Option<Duration>>,
}

impl Http {
    pub(crate) fn new(ca_file: Option<&Path>, timeout: Duration) -> Result<Http, OAuthError> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // RFC 6749 section 3.2: a token endpoint answers directly.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(false);
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|error| {
                OAuthError::Config(format!("cannot read ca_file {}: {error}", path.display()))
            })?;
            let certificate = reqwest::Certificate::from_pem(&pem).map_err(|error| {
                OAuthError::Config(format!("ca_file {}: {error}", path.display()))
            })?;
            builder = builder.add_root_certificate(certificate);
        }
        let client = builder
            .build()
            .map_err(|error| OAuthError::Config(format!("HTTPS client: {error}")))?;
        Ok(Http {
            client,
            status: Cell::new(None),
            retry_after: Cell::new(None),
        })
    }

    pub(crate) fn call(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, HttpError> {
        use std::io::Read as _;
        let (parts, body) = request.into_parts();
        let mut response = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .map_err(|error| HttpError(describe_transport(&error)))?;
        let status = response.status();
        self.status.set(Some(status.as_u16()));
        self.retry_after.set(
            response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        );
        let mut bytes = Vec::new();
        (&mut response)
            .take(MAX_RESPONSE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| HttpError(format!("reading the answer: {error}")))?;
        if bytes.len() as u64 > MAX_RESPONSE_BYTES {
            return Err(HttpError(format!(
                "answer larger than {} KiB",
                MAX_RESPONSE_BYTES / 1024
            )));
        }
        let mut answer = oauth2::HttpResponse::new(bytes);
        *answer.status_mut() = status;
        *answer.headers_mut() = response.headers().clone();
        Ok(answer)
    }
}

/// A transport failure. reqwest's text names the URL (the token endpoint, no secret in it),
/// never the request body that holds the client secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpError(String);

fn describe_transport(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Server text as it may appear in a message: the client secret redacted, control and bidi
/// characters escaped, cut short (as the IMAP side shows a server's words).
fn escape(text: &str, secret: Option<&Secret>) -> String {
    ruadb_fetch::server_text(text, secret.unwrap_or(&Secret::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(provider: OAuth2Provider, grant: OAuth2Grant) -> OAuth2Settings {
        OAuth2Settings {
            provider,
            tenant: None,
            client_id: "client".to_owned(),
            client_secret_file: None,
            client_secret_command: None,
            token_url: None,
            scope: None,
            grant,
            authorization_url: None,
            device_authorization_url: None,
        }
    }

    #[test]
    fn provider_presets_match_the_documented_endpoints() {
        let urls = preset(&settings(
            OAuth2Provider::Microsoft,
            OAuth2Grant::RefreshToken,
        ))
        .unwrap();
        let base = "https://login.microsoftonline.com/organizations/oauth2/v2.0";
        assert_eq!(urls.token, format!("{base}/token"));
        assert_eq!(urls.device, Some(format!("{base}/devicecode")));
        assert_eq!(urls.authorization, Some(format!("{base}/authorize")));
        assert_eq!(
            urls.scope,
            "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access"
        );

        let mut app_only = settings(OAuth2Provider::Microsoft, OAuth2Grant::ClientCredentials);
        assert!(preset(&app_only).is_err(), "app-only needs the tenant");
        app_only.tenant = Some("example.onmicrosoft.com".to_owned());
        let urls = preset(&app_only).unwrap();
        assert_eq!(
            urls.token,
            "https://login.microsoftonline.com/example.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(urls.scope, "https://outlook.office365.com/.default");

        let urls = preset(&settings(OAuth2Provider::Google, OAuth2Grant::RefreshToken)).unwrap();
        assert_eq!(urls.token, "https://oauth2.googleapis.com/token");
        assert_eq!(urls.scope, "https://mail.google.com/");
        assert_eq!(
            urls.authorization.as_deref(),
            Some("https://accounts.google.com/o/oauth2/v2/auth")
        );
        assert_eq!(urls.device, None);
        assert!(
            preset(&settings(
                OAuth2Provider::Google,
                OAuth2Grant::ClientCredentials
            ))
            .is_err()
        );

        let error = preset(&settings(OAuth2Provider::Custom, OAuth2Grant::RefreshToken))
            .err()
            .unwrap();
        assert!(error.to_string().contains("needs token_url"), "{error}");
    }

    #[test]
    fn plain_http_endpoints_are_refused_off_loopback_and_the_secret_never_shows() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "s3cr3t-value\n").unwrap();
        let mut custom = settings(OAuth2Provider::Custom, OAuth2Grant::ClientCredentials);
        custom.token_url = Some("https://auth.example.test/token".to_owned());
        custom.scope = Some("mail".to_owned());
        custom.client_secret_file = Some(secret_file);
        custom.device_authorization_url = Some("http://auth.example.test/device".to_owned());
        let error = Endpoint::new(&custom, None, Duration::from_secs(5))
            .err()
            .unwrap();
        assert!(
            error.to_string().contains(
                "device_authorization_url \"http://auth.example.test/device\" must be https://"
            ),
            "{error}"
        );
        custom.device_authorization_url = Some("http://127.0.0.1:8080/device".to_owned());
        let endpoint = Endpoint::new(&custom, None, Duration::from_secs(5)).unwrap();
        assert!(!format!("{endpoint:?}").contains("s3cr3t"));
        assert_eq!(endpoint.escape("echo s3cr3t-value back"), "echo *** back");
    }
}
