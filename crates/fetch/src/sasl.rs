//! The OAuth 2.0 SASL mechanisms: XOAUTH2 (Google's and Microsoft's) and OAUTHBEARER
//! (RFC 7628), run through the `imap` crate's `AUTHENTICATE`.
//!
//! Both send the access token in the first client response. On failure the server sends one
//! challenge holding a JSON error (`{"status":"401","schemes":"bearer","scope":"…"}`), the
//! client answers it with a dummy response, and the server ends with `NO`; the JSON is kept and
//! turned into one readable line.

use std::cell::RefCell;

use serde::Deserialize;

use crate::config::Secret;

/// The largest error challenge kept; a real one is well under 1 KiB.
const MAX_CHALLENGE: usize = 4096;

/// Which OAuth 2.0 SASL mechanism, with the user and token it sends.
pub(crate) struct OAuthLogin<'a> {
    mechanism: Mechanism,
    user: &'a str,
    token: &'a Secret,
    host: &'a str,
    port: u16,
    /// The server's error challenge, if it sent one.
    challenge: RefCell<Option<Vec<u8>>>,
}

#[derive(Clone, Copy)]
pub(crate) enum Mechanism {
    XOAuth2,
    OAuthBearer,
}

impl Mechanism {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl<'a> OAuthLogin<'a> {
    pub(crate) fn new(
        mechanism: Mechanism,
        user: &'a str,
        token: &'a Secret,
        host: &'a str,
        port: u16,
    ) -> OAuthLogin<'a> {
        OAuthLogin {
            mechanism,
            user,
            token,
            host,
            port,
            challenge: RefCell::new(None),
        }
    }

    /// The first client response: user name and bearer token in the mechanism's format.
    fn initial_response(&self) -> Vec<u8> {
        let token = self.token.expose();
        match self.mechanism {
            Mechanism::XOAuth2 => format!("user={}\x01auth=Bearer {token}\x01\x01", self.user),
            // RFC 7628 section 3.1: a GS2 header naming the authorisation identity (`,` and `=`
            // escaped as in RFC 5801), then key=value pairs separated by ^A.
            Mechanism::OAuthBearer => format!(
                "n,a={},\x01host={}\x01port={}\x01auth=Bearer {token}\x01\x01",
                self.user.replace('=', "=3D").replace(',', "=2C"),
                self.host,
                self.port
            ),
        }
        .into_bytes()
    }

    /// The server's error, decoded, when it sent an error challenge.
    pub(crate) fn server_error(&self) -> Option<String> {
        self.challenge.borrow().as_deref().map(describe_challenge)
    }
}

impl imap::Authenticator for OAuthLogin<'_> {
    type Response = Vec<u8>;

    fn process(&self, challenge: &[u8]) -> Vec<u8> {
        // Neither mechanism has a server challenge before the client's first response: an empty
        // one is the server asking for it.
        if challenge.is_empty() && self.challenge.borrow().is_none() {
            return self.initial_response();
        }
        let kept = challenge[..challenge.len().min(MAX_CHALLENGE)].to_vec();
        *self.challenge.borrow_mut() = Some(kept);
        match self.mechanism {
            // Google's and Microsoft's documentation: answer the error with an empty response.
            Mechanism::XOAuth2 => Vec::new(),
            // RFC 7628 section 3.2.3: the dummy response is a single ^A.
            Mechanism::OAuthBearer => vec![0x01],
        }
    }
}

/// The JSON error of RFC 7628 section 3.2.2, which XOAUTH2 servers send too.
#[derive(Deserialize)]
struct ErrorChallenge {
    status: Option<String>,
    scope: Option<String>,
    schemes: Option<String>,
}

/// One line for a server's error challenge: `token refused (status 401, scope "mail")`,
/// or the raw bytes, escaped, when it is not that JSON.
pub(crate) fn describe_challenge(challenge: &[u8]) -> String {
    let Ok(error) = serde_json::from_slice::<ErrorChallenge>(challenge) else {
        return format!(
            "the server's error challenge: {}",
            escape(&String::from_utf8_lossy(challenge))
        );
    };
    let mut parts = Vec::new();
    if let Some(status) = &error.status {
        let meaning = match status.as_str() {
            "400" | "invalid_request" => " (malformed request)",
            "401" | "invalid_token" => " (token invalid, expired or revoked)",
            "403" | "insufficient_scope" => " (the token lacks the scope needed)",
            _ => "",
        };
        parts.push(format!("status {}{meaning}", escape(status)));
    }
    if let Some(scope) = &error.scope {
        parts.push(format!("scope wanted {:?}", escape(scope)));
    }
    if let Some(schemes) = &error.schemes {
        parts.push(format!("schemes {}", escape(schemes)));
    }
    if parts.is_empty() {
        "the server refused the token without saying why".to_owned()
    } else {
        format!("token refused: {}", parts.join(", "))
    }
}

/// Control and bidi characters escaped, cut short: it came from the server.
fn escape(text: &str) -> String {
    crate::session::server_text(text, &Secret::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap::Authenticator as _;

    #[test]
    fn xoauth2_sends_user_and_token_then_answers_the_error_with_nothing() {
        let token = Secret::new("ya29.token");
        let login = OAuthLogin::new(Mechanism::XOAuth2, "dmarc@example.com", &token, "h", 993);
        assert_eq!(
            login.process(b""),
            b"user=dmarc@example.com\x01auth=Bearer ya29.token\x01\x01"
        );
        assert_eq!(login.server_error(), None);
        let error = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        assert_eq!(login.process(error), b"");
        assert_eq!(
            login.server_error().unwrap(),
            "token refused: status 401 (token invalid, expired or revoked), scope wanted \"https://mail.google.com/\", schemes bearer"
        );
    }

    #[test]
    fn oauthbearer_follows_rfc_7628() {
        let token = Secret::new("t0k");
        let login = OAuthLogin::new(Mechanism::OAuthBearer, "a,b=c", &token, "imap.test", 993);
        assert_eq!(
            login.process(b""),
            b"n,a=a=2Cb=3Dc,\x01host=imap.test\x01port=993\x01auth=Bearer t0k\x01\x01"
        );
        assert_eq!(login.process(br#"{"status":"invalid_token"}"#), b"\x01");
        assert!(login.server_error().unwrap().contains("expired or revoked"));
    }

    #[test]
    fn a_challenge_that_is_not_json_is_escaped() {
        assert_eq!(
            describe_challenge(b"nope\x1b[31m"),
            "the server's error challenge: nope\\u{1b}[31m"
        );
        assert_eq!(
            describe_challenge(b"{}"),
            "the server refused the token without saying why"
        );
    }
}
