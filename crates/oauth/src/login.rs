//! The first authorisation (`ruadb auth login`): the device authorisation grant (RFC 8628)
//! where the provider has a device endpoint, else the authorisation code grant with PKCE
//! (RFC 7636, S256) and a loopback redirect on 127.0.0.1 (RFC 8252 section 7.3).

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use oauth2::basic::BasicTokenResponse;
use oauth2::{
    AuthUrl, AuthorizationCode, CsrfToken, DeviceAuthorizationUrl, DeviceCodeErrorResponseType,
    ErrorResponseType, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    StandardDeviceAuthorizationResponse, StandardErrorResponse,
};
use ruadb_fetch::OAuth2Provider;

use crate::endpoint::{Endpoint, Http, HttpError, Issued, OAuthError};

/// The longest request line and headers read from the browser's redirect.
const MAX_REDIRECT_REQUEST: u64 = 16 * 1024;

/// What the person authorising ruadb has to do. Every text in it came from the provider or
/// names its endpoint; a caller printing it to a terminal escapes it.
#[derive(Debug)]
pub enum Prompt<'a> {
    /// Open `verification_uri` on any device and enter `user_code` (RFC 8628 section 3.3).
    Device {
        /// Where to go.
        verification_uri: &'a str,
        /// The code to enter there.
        user_code: &'a str,
        /// The same page with the code filled in, if the provider offers one.
        verification_uri_complete: Option<&'a str>,
        /// How long the code stays valid.
        expires_in: Duration,
    },
    /// Open `url` in a browser on this machine; the provider sends the browser back to
    /// ruadb's loopback listener.
    Browser {
        /// The authorisation request.
        url: &'a str,
    },
}

/// Which flow `ruadb auth login` ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginFlow {
    /// The device authorisation grant (RFC 8628).
    Device,
    /// The authorisation code grant with PKCE and a loopback redirect.
    Browser,
}

impl LoginFlow {
    /// The grant's name, as the token file records how the tokens were obtained.
    pub fn grant_name(self) -> &'static str {
        match self {
            LoginFlow::Device => "device_code",
            LoginFlow::Browser => "authorization_code",
        }
    }
}

impl Endpoint {
    /// The flow for this provider: the device grant when there is a device endpoint, else the
    /// browser.
    pub(crate) fn login_flow(&self) -> Result<LoginFlow, OAuthError> {
        match (self.device_url(), self.authorization_url()) {
            (Some(_), _) => Ok(LoginFlow::Device),
            (None, Some(_)) => Ok(LoginFlow::Browser),
            (None, None) => Err(OAuthError::Config(
                "`ruadb auth login` needs device_authorization_url or authorization_url with provider = \"custom\"".to_owned(),
            )),
        }
    }

    /// RFC 8628: asks for a device code, shows it, polls the token endpoint at the interval
    /// the provider asked for until the user approved, refused, or `wait` (at most the code's
    /// lifetime) ran out.
    pub(crate) fn device_login(
        &self,
        wait: Duration,
        prompt: &mut dyn FnMut(Prompt<'_>),
    ) -> Result<Issued, OAuthError> {
        let url = self.device_url().unwrap_or_default().to_owned();
        let device_url = DeviceAuthorizationUrl::new(url)
            .map_err(|error| OAuthError::Config(format!("device_authorization_url: {error}")))?;
        let client = self.client()?.set_device_authorization_url(device_url);
        let http = Http::new(self.ca_file(), self.timeout())?;
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scopes(self.scopes())
            .request(&|request| http.call(request))
            .map_err(|error| self.login_failure(error))?;
        prompt(Prompt::Device {
            verification_uri: details.verification_uri().as_str(),
            user_code: details.user_code().secret(),
            verification_uri_complete: details
                .verification_uri_complete()
                .map(|complete| complete.secret().as_str()),
            expires_in: details.expires_in(),
        });
        let token: BasicTokenResponse = client
            .exchange_device_access_token(&details)
            .request(
                &|request| http.call(request),
                std::thread::sleep,
                Some(wait.min(details.expires_in())),
            )
            .map_err(|error| match error {
                // The crate says `expired_token` when its own time limit ran out too.
                RequestTokenError::ServerResponse(response)
                    if *response.error() == DeviceCodeErrorResponseType::ExpiredToken
                        && wait < details.expires_in() =>
                {
                    OAuthError::Login(format!(
                        "the code was not approved within {} s",
                        wait.as_secs()
                    ))
                }
                other => self.login_failure(other),
            })?;
        Ok(Issued::from_response(&token))
    }

    /// RFC 7636 and RFC 8252: listens on 127.0.0.1, shows the authorisation URL (PKCE S256,
    /// a random `state`), waits up to `wait` for the browser to come back with the code, and
    /// exchanges it.
    pub(crate) fn browser_login(
        &self,
        wait: Duration,
        prompt: &mut dyn FnMut(Prompt<'_>),
    ) -> Result<Issued, OAuthError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|error| OAuthError::Login(format!("cannot listen on 127.0.0.1: {error}")))?;
        let port = listener
            .local_addr()
            .map_err(|error| OAuthError::Login(format!("cannot listen on 127.0.0.1: {error}")))?
            .port();
        let auth_url = AuthUrl::new(self.authorization_url().unwrap_or_default().to_owned())
            .map_err(|error| OAuthError::Config(format!("authorization_url: {error}")))?;
        let redirect = RedirectUrl::new(format!("http://127.0.0.1:{port}/"))
            .map_err(|error| OAuthError::Login(format!("redirect URL: {error}")))?;
        let client = self
            .client()?
            .set_auth_uri(auth_url)
            .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes())
            .set_pkce_challenge(challenge);
        if self.provider() == OAuth2Provider::Google {
            // Google issues a refresh token only when asked for offline access, and again
            // only with a fresh consent.
            request = request
                .add_extra_param("access_type", "offline")
                .add_extra_param("prompt", "consent");
        }
        let (url, state) = request.url();
        prompt(Prompt::Browser { url: url.as_str() });
        let code = self.wait_for_redirect(&listener, state.secret(), wait)?;
        self.with_retries(|http| {
            client
                .exchange_code(AuthorizationCode::new(code.clone()))
                .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().clone()))
                .request(&|request| http.call(request))
        })
    }

    /// Accepts connections on the loopback listener until one carries this `state` with a
    /// code or an error, or `wait` has passed. Other requests (a favicon, a stale tab) get a
    /// 400 and are otherwise ignored.
    fn wait_for_redirect(
        &self,
        listener: &TcpListener,
        state: &str,
        wait: Duration,
    ) -> Result<String, OAuthError> {
        let failed =
            |error: std::io::Error| OAuthError::Login(format!("loopback listener: {error}"));
        listener.set_nonblocking(true).map_err(failed)?;
        let started = Instant::now();
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    if let Some(answer) = self.redirect_answer(stream, state) {
                        return answer;
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    if started.elapsed() >= wait {
                        return Err(OAuthError::Login(format!(
                            "the browser did not come back within {} s",
                            wait.as_secs()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(error) => return Err(failed(error)),
            }
        }
    }

    /// The code (or the provider's refusal) from one request to the loopback listener; `None`
    /// when the request is not the redirect for `state`.
    fn redirect_answer(
        &self,
        mut stream: TcpStream,
        state: &str,
    ) -> Option<Result<String, OAuthError>> {
        stream.set_nonblocking(false).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        // The request line is what matters, but the headers are read too: closing a socket
        // with unread data resets the connection, and the browser would show an error.
        while !head.ends_with(b"\r\n\r\n") && (head.len() as u64) < MAX_REDIRECT_REQUEST {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        let line = String::from_utf8_lossy(&head);
        let line = line.lines().next().unwrap_or_default();
        let target = line.split(' ').nth(1).unwrap_or("/");
        let parameters: HashMap<String, String> =
            oauth2::url::Url::parse(&format!("http://127.0.0.1{target}"))
                .map(|url| url.query_pairs().into_owned().collect())
                .unwrap_or_default();
        if parameters.get("state").map(String::as_str) != Some(state) {
            respond(
                &mut stream,
                400,
                "This is not the answer ruadb is waiting for.",
            );
            return None;
        }
        if let Some(error) = parameters.get("error") {
            respond(
                &mut stream,
                200,
                "ruadb was not authorised; see the terminal.",
            );
            let description = parameters
                .get("error_description")
                .map(|text| format!(" ({})", self.escape(text)))
                .unwrap_or_default();
            return Some(Err(OAuthError::Login(format!(
                "the provider answered {}{description}",
                self.escape(error)
            ))));
        }
        let code = parameters.get("code")?;
        respond(
            &mut stream,
            200,
            "ruadb is authorised. You may close this window.",
        );
        Some(Ok(code.clone()))
    }

    /// One line for a failed device or code request, the provider's words escaped.
    fn login_failure<T: ErrorResponseType + std::fmt::Display + AsRef<str> + 'static>(
        &self,
        error: RequestTokenError<HttpError, StandardErrorResponse<T>>,
    ) -> OAuthError {
        match error {
            RequestTokenError::ServerResponse(response) => {
                let code = self.escape(response.error().as_ref());
                let meaning = match code.as_str() {
                    "access_denied" => ": the request was declined",
                    "expired_token" => ": the code expired before it was approved",
                    _ => "",
                };
                let description = response
                    .error_description()
                    .map(|text| format!(" ({})", self.escape(text)))
                    .unwrap_or_default();
                OAuthError::Login(format!("{code}{meaning}{description}"))
            }
            RequestTokenError::Request(error) => OAuthError::Unavailable {
                url: self.token_url().to_owned(),
                timeout: self.timeout(),
                detail: error.to_string(),
            },
            RequestTokenError::Parse(_, _) | RequestTokenError::Other(_) => {
                OAuthError::Login("the provider's answer is not an OAuth 2.0 one".to_owned())
            }
        }
    }
}

fn respond(stream: &mut TcpStream, status: u16, text: &str) {
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.flush();
}
