//! A stand-in for the providers' OAuth 2.0 authorisation servers, started by the tests on
//! 127.0.0.1: an RFC 6749 token endpoint over HTTPS (the test CA's certificate) for the
//! client credentials grant, issuing access tokens the test Dovecot accepts, with error
//! injection (429/503 with `Retry-After`, OAuth errors, a stalled answer).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use native_tls::{Identity, TlsAcceptor};

use super::server::TestServer;

/// What the next request gets instead of a token.
#[derive(Clone, Debug)]
pub enum Inject {
    /// This HTTP status with a JSON OAuth error body and, if given, `Retry-After` seconds.
    Status(u16, Option<u64>),
    /// HTTP 400 with this OAuth error code (RFC 6749 section 5.2).
    Error(&'static str),
    /// No answer for this long.
    Stall(Duration),
}

/// The registered client and what its tokens say.
pub struct Client {
    pub id: String,
    pub secret: String,
    /// The mailbox the app-only token is for (`sub`).
    pub user: String,
    /// Scopes this client may have.
    pub scopes: Vec<String>,
    /// The scope written into the tokens (what Dovecot checks).
    pub token_scope: String,
    pub expires_in: i64,
}

#[derive(Default)]
struct State {
    injected: VecDeque<Inject>,
    requests: u32,
    tokens_issued: u32,
}

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
        let state = Arc::new(Mutex::new(State::default()));
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
                    let _ = serve(stream, &acceptor, &state, &client, &key);
                });
            }
        });
        AuthServer { port, state }
    }

    /// `https://localhost:PORT/token`.
    pub fn token_url(&self) -> String {
        format!("https://localhost:{}/token", self.port)
    }

    /// Queues answers for the next requests, in order.
    pub fn inject(&self, answers: &[Inject]) {
        self.state
            .lock()
            .unwrap()
            .injected
            .extend(answers.iter().cloned());
    }

    /// Requests received so far.
    pub fn requests(&self) -> u32 {
        self.state.lock().unwrap().requests
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u32 {
        self.state.lock().unwrap().tokens_issued
    }
}

fn serve(
    stream: TcpStream,
    acceptor: &TlsAcceptor,
    state: &Mutex<State>,
    client: &Client,
    key: &str,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut tls = acceptor
        .accept(stream)
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    let (headers, body) = read_request(&mut tls)?;
    let injected = {
        let mut state = state.lock().unwrap();
        state.requests += 1;
        state.injected.pop_front()
    };
    let (status, extra, json) = match injected {
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
        None => token_answer(&headers, &body, state, client, key),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        _ => "Error",
    };
    write!(
        tls,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )?;
    tls.flush()
}

/// RFC 6749 section 4.4: client authentication (HTTP Basic, section 2.3.1), the grant, the
/// scope; then a token (section 5.1) or an error (section 5.2).
fn token_answer(
    headers: &HashMap<String, String>,
    body: &str,
    state: &Mutex<State>,
    client: &Client,
    key: &str,
) -> (u16, String, String) {
    let error =
        |status: u16, code: &str| (status, String::new(), format!(r#"{{"error":"{code}"}}"#));
    let form = parse_form(body);
    let credentials = headers
        .get("authorization")
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| String::from_utf8(base64_decode(encoded.trim())).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((url_decode(id), url_decode(secret)))
        });
    if credentials != Some((client.id.clone(), client.secret.clone())) {
        return error(401, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return error(400, "unsupported_grant_type");
    }
    let asked = form.get("scope").cloned().unwrap_or_default();
    if asked
        .split_whitespace()
        .any(|scope| !client.scopes.iter().any(|s| s == scope))
    {
        return error(400, "invalid_scope");
    }
    state.lock().unwrap().tokens_issued += 1;
    let token = super::oauth::mint(key, &client.user, client.expires_in, &client.token_scope);
    (
        200,
        String::new(),
        format!(
            r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{}}}"#,
            client.expires_in
        ),
    )
}

fn read_request(stream: &mut impl Read) -> std::io::Result<(HashMap<String, String>, String)> {
    let mut reader = BufReader::new(stream);
    let mut headers = HashMap::new();
    let mut line = String::new();
    reader.read_line(&mut line)?;
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
    Ok((headers, String::from_utf8_lossy(&body).into_owned()))
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (url_decode(name), url_decode(value)))
        .collect()
}

fn url_decode(text: &str) -> String {
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
