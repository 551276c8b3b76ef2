//! A stand-in for the providers' OAuth 2.0 authorisation servers, started by the tests on
//! 127.0.0.1 over HTTPS (the test CA's certificate). It speaks RFC 6749 and RFC 8628 and issues
//! access tokens the test Dovecot accepts:
//!
//! - `POST /token`: the client credentials, refresh token (with rotation), device code and
//!   authorisation code (with PKCE S256, RFC 7636) grants; errors as in RFC 6749 section 5.2;
//! - `POST /devicecode`: the device authorisation endpoint (RFC 8628 section 3.1), whose
//!   codes the test approves or denies as the user would ([`AuthServer::approve`]);
//! - `GET /authorize`: the authorisation endpoint, which at once redirects to the client's
//!   loopback `redirect_uri` with a code (the user consenting), or with `access_denied`;
//! - revocation of every refresh token ([`AuthServer::revoke_refresh_tokens`]), and error
//!   injection (429/503 with `Retry-After`, OAuth errors, a stalled or a delayed answer).
//!
//! Refresh tokens rotate: every refresh answers a new one. With [`Rotation::Strict`] the old
//! one is dead at once (reusing it is `invalid_grant`, RFC 9700 section 4.14.2); with
//! [`Rotation::Grace`] it stays valid until the new one is first used, as providers that keep
//! old refresh tokens for a while do (RFC 6749 section 6 leaves the choice to the server).

#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use native_tls::{Identity, TlsAcceptor};
use sha2::{Digest, Sha256};

use super::server::TestServer;

/// What the next token request gets instead of its normal answer.
#[derive(Clone, Debug)]
pub enum Inject {
    /// This HTTP status with a JSON OAuth error body and, if given, `Retry-After` seconds.
    Status(u16, Option<u64>),
    /// HTTP 400 with this OAuth error code (RFC 6749 section 5.2).
    Error(&'static str),
    /// No answer for this long.
    Stall(Duration),
    /// The normal answer (tokens issued, refresh token rotated), sent only after this long.
    Delay(Duration),
}

/// What happens to a refresh token once it has been exchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// Dead at once.
    Strict,
    /// Dead once its successor has been used.
    Grace,
    /// Not rotated: a refresh answers no new refresh token (as Google's endpoint does).
    Never,
}

/// The registered client and what its tokens say.
pub struct Client {
    pub id: String,
    /// Empty for a public client (no authentication, `client_id` in the body).
    pub secret: String,
    /// The mailbox the tokens are for (`sub`).
    pub user: String,
    /// Scopes this client may have.
    pub scopes: Vec<String>,
    /// The scope written into the tokens (what Dovecot checks).
    pub token_scope: String,
    pub expires_in: i64,
}

struct RefreshToken {
    /// The token it replaced.
    parent: Option<String>,
    used: bool,
    revoked: bool,
}

struct DeviceGrant {
    user_code: String,
    /// `Some(true)` approved, `Some(false)` denied, `None` pending.
    decision: Option<bool>,
    expires: Instant,
    last_poll: Option<Instant>,
}

struct CodeGrant {
    challenge: String,
    redirect_uri: String,
    used: bool,
}

struct State {
    injected: VecDeque<Inject>,
    requests: u32,
    tokens_issued: u32,
    rotation: Rotation,
    refresh: HashMap<String, RefreshToken>,
    /// The refresh token issued last.
    latest_refresh: Option<String>,
    /// Refresh requests refused as a reuse of a rotated token.
    reuses: u32,
    devices: HashMap<String, DeviceGrant>,
    codes: HashMap<String, CodeGrant>,
    /// The next `/authorize` visit is denied by the user.
    deny_next: bool,
    /// When set, access tokens are valid for this long whatever `expires_in` says (a token
    /// that dies before its announced time, as a revoked or clock-skewed one does).
    real_ttl: Option<i64>,
    /// The scope written into tokens, when not the client's.
    token_scope: Option<String>,
}

/// How every refresh token the server issues begins (tests look for it in outputs).
pub const REFRESH_PREFIX: &str = "Rtk.";

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const INTERVAL_SECS: u64 = 1;

pub struct AuthServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl AuthServer {
    /// Starts the server for `client`; it runs until the test process ends.
    pub fn start(imap: &TestServer, client: Client) -> AuthServer {
        let tls = imap.dir.join("tls");
        let identity = Identity::from_pkcs8(
            &std::fs::read(tls.join("server.pem")).unwrap(),
            &std::fs::read(tls.join("server.key")).unwrap(),
        )
        .unwrap();
        let acceptor = Arc::new(TlsAcceptor::new(identity).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            injected: VecDeque::new(),
            requests: 0,
            tokens_issued: 0,
            rotation: Rotation::Strict,
            refresh: HashMap::new(),
            latest_refresh: None,
            reuses: 0,
            devices: HashMap::new(),
            codes: HashMap::new(),
            deny_next: false,
            real_ttl: None,
            token_scope: None,
        }));
        let shared = Arc::clone(&state);
        let client = Arc::new(client);
        let key = imap.oauth_key.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let acceptor = Arc::clone(&acceptor);
                let state = Arc::clone(&shared);
                let client = Arc::clone(&client);
                let key = key.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &acceptor, &state, &client, &key, port);
                });
            }
        });
        AuthServer { port, state }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}/{path}", self.port)
    }

    /// `https://localhost:PORT/token`.
    pub fn token_url(&self) -> String {
        self.url("token")
    }

    /// The device authorisation endpoint.
    pub fn device_url(&self) -> String {
        self.url("devicecode")
    }

    /// The authorisation endpoint.
    pub fn authorization_url(&self) -> String {
        self.url("authorize")
    }

    /// Queues answers for the next token requests, in order.
    pub fn inject(&self, answers: &[Inject]) {
        self.state
            .lock()
            .unwrap()
            .injected
            .extend(answers.iter().cloned());
    }

    pub fn set_rotation(&self, rotation: Rotation) {
        self.state.lock().unwrap().rotation = rotation;
    }

    /// Access tokens really valid for `ttl` seconds from now on, whatever `expires_in` says.
    pub fn set_real_ttl(&self, ttl: Option<i64>) {
        self.state.lock().unwrap().real_ttl = ttl;
    }

    /// Tokens from now on carry `scope` instead of the one the mail server wants.
    pub fn set_token_scope(&self, scope: &str) {
        self.state.lock().unwrap().token_scope = Some(scope.to_owned());
    }

    /// The user approves (or denies) the device code `user_code`, as on the verification page.
    pub fn approve(&self, user_code: &str, approve: bool) {
        let mut state = self.state.lock().unwrap();
        let grant = state
            .devices
            .values_mut()
            .find(|grant| grant.user_code == user_code)
            .unwrap_or_else(|| panic!("no device code with user code {user_code:?}"));
        grant.decision = Some(approve);
    }

    /// The user refuses consent at the next `/authorize` visit.
    pub fn deny_next_authorization(&self) {
        self.state.lock().unwrap().deny_next = true;
    }

    /// Revokes every refresh token issued so far (the user removed the app's access).
    pub fn revoke_refresh_tokens(&self) {
        for token in self.state.lock().unwrap().refresh.values_mut() {
            token.revoked = true;
        }
    }

    /// Issues a refresh token directly (as if a login had happened earlier).
    pub fn issue_refresh_token(&self) -> String {
        let mut state = self.state.lock().unwrap();
        new_refresh_token(&mut state, None)
    }

    /// The refresh token issued last.
    pub fn latest_refresh_token(&self) -> Option<String> {
        self.state.lock().unwrap().latest_refresh.clone()
    }

    /// Whether `token` would be accepted by a refresh now.
    pub fn refresh_token_valid(&self, token: &str) -> bool {
        let state = self.state.lock().unwrap();
        refresh_problem(&state, token).is_none()
    }

    /// Requests to the token endpoint received so far.
    pub fn requests(&self) -> u32 {
        self.state.lock().unwrap().requests
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u32 {
        self.state.lock().unwrap().tokens_issued
    }

    /// Refresh requests refused because the token had been rotated already.
    pub fn reuses(&self) -> u32 {
        self.state.lock().unwrap().reuses
    }
}

fn random_hex() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    format!("{:016x}", hasher.finish())
}

fn new_refresh_token(state: &mut State, parent: Option<String>) -> String {
    let token = format!("{REFRESH_PREFIX}{}{}", random_hex(), random_hex());
    state.refresh.insert(
        token.clone(),
        RefreshToken {
            parent,
            used: false,
            revoked: false,
        },
    );
    state.latest_refresh = Some(token.clone());
    token
}

/// Why `token` cannot be exchanged, if it cannot.
fn refresh_problem(state: &State, token: &str) -> Option<&'static str> {
    let Some(entry) = state.refresh.get(token) else {
        return Some("unknown refresh token");
    };
    if entry.revoked {
        return Some("refresh token revoked");
    }
    if entry.used && state.rotation == Rotation::Strict {
        return Some("refresh token already used (rotated)");
    }
    None
}

struct Request {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: String,
}

type Answer = (u16, String, String);

fn serve(
    stream: TcpStream,
    acceptor: &TlsAcceptor,
    state: &Mutex<State>,
    client: &Client,
    key: &str,
    port: u16,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut tls = acceptor
        .accept(stream)
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    let request = read_request(&mut tls)?;
    let path = request.target.split('?').next().unwrap_or("").to_owned();
    let (status, extra, body) = match (request.method.as_str(), path.as_str()) {
        ("POST", "/token") => {
            let injected = {
                let mut state = state.lock().unwrap();
                state.requests += 1;
                state.injected.pop_front()
            };
            match injected {
                Some(Inject::Stall(pause)) => {
                    std::thread::sleep(pause);
                    return Ok(());
                }
                Some(Inject::Status(status, retry_after)) => (
                    status,
                    retry_after
                        .map(|secs| format!("Retry-After: {secs}\r\n"))
                        .unwrap_or_default(),
                    r#"{"error":"temporarily_unavailable"}"#.to_owned(),
                ),
                Some(Inject::Error(code)) => (
                    400,
                    String::new(),
                    format!(r#"{{"error":"{code}","error_description":"injected by the test"}}"#),
                ),
                Some(Inject::Delay(pause)) => {
                    let answer = token_answer(&request, state, client, key);
                    std::thread::sleep(pause);
                    answer
                }
                None => token_answer(&request, state, client, key),
            }
        }
        ("POST", "/devicecode") => device_answer(&request, state, client, port),
        ("GET", "/authorize") => authorize_answer(&request, state, client),
        _ => (
            404,
            String::new(),
            r#"{"error":"invalid_request"}"#.to_owned(),
        ),
    };
    // RFC 6749 section 5.2: a client that tried HTTP Basic and failed gets a challenge.
    let extra = if status == 401 {
        format!("{extra}WWW-Authenticate: Basic realm=\"token\"\r\n")
    } else {
        extra
    };
    let reason = match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Error",
    };
    write!(
        tls,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json;charset=UTF-8\r\n\
         Cache-Control: no-store\r\nPragma: no-cache\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    tls.flush()
}

fn error(status: u16, code: &str) -> Answer {
    (status, String::new(), format!(r#"{{"error":"{code}"}}"#))
}

fn error_described(status: u16, code: &str, description: &str) -> Answer {
    (
        status,
        String::new(),
        format!(r#"{{"error":"{code}","error_description":"{description}"}}"#),
    )
}

/// RFC 6749 section 2.3: a confidential client authenticates with HTTP Basic (section
/// 2.3.1); a public one only names itself with `client_id` in the body (section 2.2).
fn authenticated(request: &Request, form: &HashMap<String, String>, client: &Client) -> bool {
    let basic = request
        .headers
        .get("authorization")
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| String::from_utf8(base64_decode(encoded.trim())).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((url_decode(id), url_decode(secret)))
        });
    if client.secret.is_empty() {
        basic.is_none() && form.get("client_id") == Some(&client.id)
    } else {
        basic == Some((client.id.clone(), client.secret.clone()))
    }
}

fn scope_allowed(asked: Option<&String>, client: &Client) -> bool {
    asked.is_none_or(|asked| {
        asked
            .split_whitespace()
            .all(|scope| client.scopes.iter().any(|s| s == scope))
    })
}

/// RFC 6749 sections 4.1.3, 4.4, 6 and RFC 8628 section 3.4: the grant, then a token
/// (section 5.1) or an error (section 5.2).
fn token_answer(request: &Request, state: &Mutex<State>, client: &Client, key: &str) -> Answer {
    let form = parse_form(&request.body);
    if !authenticated(request, &form, client) {
        return error(401, "invalid_client");
    }
    if !scope_allowed(form.get("scope"), client) {
        return error(400, "invalid_scope");
    }
    let mut state = state.lock().unwrap();
    let refresh = match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") if !client.secret.is_empty() => None,
        Some("refresh_token") => {
            let Some(token) = form.get("refresh_token") else {
                return error(400, "invalid_request");
            };
            if let Some(problem) = refresh_problem(&state, token) {
                if problem.contains("already used") {
                    state.reuses += 1;
                }
                return error_described(400, "invalid_grant", problem);
            }
            if state.rotation == Rotation::Never {
                None
            } else {
                let entry = state.refresh.get_mut(token).unwrap();
                entry.used = true;
                // Its predecessor dies once this one is used (Grace); under Strict it is dead.
                if let Some(parent) = entry.parent.clone()
                    && let Some(parent) = state.refresh.get_mut(&parent)
                {
                    parent.revoked = true;
                }
                Some(new_refresh_token(&mut state, Some(token.clone())))
            }
        }
        Some(DEVICE_GRANT) => {
            let Some(grant) = form
                .get("device_code")
                .and_then(|code| state.devices.get_mut(code))
            else {
                return error(400, "invalid_grant");
            };
            let now = Instant::now();
            if now > grant.expires {
                return error(400, "expired_token");
            }
            // RFC 8628 section 3.5: polling faster than the interval is slow_down.
            let too_fast = grant
                .last_poll
                .is_some_and(|last| now - last < Duration::from_millis(INTERVAL_SECS * 1000 - 200));
            grant.last_poll = Some(now);
            match grant.decision {
                _ if too_fast => return error(400, "slow_down"),
                None => return error(400, "authorization_pending"),
                Some(false) => return error(400, "access_denied"),
                Some(true) => {}
            }
            let code = form.get("device_code").unwrap().clone();
            state.devices.remove(&code);
            Some(new_refresh_token(&mut state, None))
        }
        Some("authorization_code") => {
            let Some(grant) = form.get("code").and_then(|code| state.codes.get_mut(code)) else {
                return error(400, "invalid_grant");
            };
            if grant.used {
                return error_described(400, "invalid_grant", "code already used");
            }
            grant.used = true;
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return error_described(400, "invalid_grant", "redirect_uri differs");
            }
            // RFC 7636 section 4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = super::oauth::base64url(&Sha256::digest(verifier.as_bytes()));
            if verifier.len() < 43 || computed != grant.challenge {
                return error_described(400, "invalid_grant", "PKCE verification failed");
            }
            Some(new_refresh_token(&mut state, None))
        }
        _ => return error(400, "unsupported_grant_type"),
    };
    state.tokens_issued += 1;
    let ttl = state.real_ttl.unwrap_or(client.expires_in);
    let scope = state
        .token_scope
        .clone()
        .unwrap_or_else(|| client.token_scope.clone());
    let token = super::oauth::mint(key, &client.user, ttl, &scope);
    let refresh = refresh
        .map(|token| format!(r#","refresh_token":"{token}""#))
        .unwrap_or_default();
    (
        200,
        String::new(),
        format!(
            r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{}{refresh}}}"#,
            client.expires_in
        ),
    )
}

/// RFC 8628 sections 3.1 and 3.2.
fn device_answer(request: &Request, state: &Mutex<State>, client: &Client, port: u16) -> Answer {
    let form = parse_form(&request.body);
    if !authenticated(request, &form, client) {
        return error(401, "invalid_client");
    }
    if !scope_allowed(form.get("scope"), client) {
        return error(400, "invalid_scope");
    }
    let device_code = format!("dc-{}", random_hex());
    let digits = random_hex().to_ascii_uppercase();
    let user_code = format!("{}-{}", &digits[..4], &digits[4..8]);
    state.lock().unwrap().devices.insert(
        device_code.clone(),
        DeviceGrant {
            user_code: user_code.clone(),
            decision: None,
            expires: Instant::now() + Duration::from_secs(600),
            last_poll: None,
        },
    );
    let verification = format!("https://localhost:{port}/device");
    (
        200,
        String::new(),
        format!(
            r#"{{"device_code":"{device_code}","user_code":"{user_code}","verification_uri":"{verification}","verification_uri_complete":"{verification}?user_code={user_code}","expires_in":600,"interval":{INTERVAL_SECS}}}"#
        ),
    )
}

/// RFC 6749 section 4.1.1 and 4.1.2, RFC 7636 section 4.3: the user consents at once (or
/// refuses, when the test said so); the browser is sent to the loopback `redirect_uri`.
fn authorize_answer(request: &Request, state: &Mutex<State>, client: &Client) -> Answer {
    let query = request
        .target
        .split_once('?')
        .map_or("", |(_, query)| query);
    let form = parse_form(query);
    let redirect = form.get("redirect_uri").cloned().unwrap_or_default();
    // RFC 8252 section 7.3: a native app's loopback redirect on 127.0.0.1, any port.
    if form.get("client_id") != Some(&client.id) || !redirect.starts_with("http://127.0.0.1:") {
        return error(400, "invalid_request");
    }
    let state_param = form.get("state").cloned().unwrap_or_default();
    let go = |query: String| {
        (
            302,
            format!(
                "Location: {redirect}?{query}&state={}\r\n",
                url_encode(&state_param)
            ),
            String::new(),
        )
    };
    if form.get("response_type").map(String::as_str) != Some("code") {
        return go("error=unsupported_response_type".to_owned());
    }
    if form.get("code_challenge_method").map(String::as_str) != Some("S256")
        || form.get("code_challenge").is_none_or(|c| c.len() != 43)
    {
        return go("error=invalid_request&error_description=PKCE+S256+required".to_owned());
    }
    if !scope_allowed(form.get("scope"), client) {
        return go("error=invalid_scope".to_owned());
    }
    let mut state = state.lock().unwrap();
    if std::mem::take(&mut state.deny_next) {
        return go("error=access_denied".to_owned());
    }
    let code = format!("ac-{}", random_hex());
    state.codes.insert(
        code.clone(),
        CodeGrant {
            challenge: form.get("code_challenge").cloned().unwrap_or_default(),
            redirect_uri: redirect.clone(),
            used: false,
        },
    );
    go(format!("code={code}"))
}

fn read_request(stream: &mut impl Read) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let mut headers = HashMap::new();
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_owned();
    let target = words.next().unwrap_or("").to_owned();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(64 * 1024)];
    reader.read_exact(&mut body)?;
    Ok(Request {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (url_decode(name), url_decode(value)))
        .collect()
}

pub fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[index + 1..index + 3], 16).unwrap_or(b'?'));
                index += 2;
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
