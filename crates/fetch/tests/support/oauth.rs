//! OAuth 2.0 access tokens the test Dovecot accepts: HS256 JWTs signed with the key that
//! `scripts/imap-test-server.sh` generated (`RUADB_TEST_IMAP_OAUTH_KEY`), `sub` the user.

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// The scope the test Dovecot requires.
pub const SCOPE: &str = "https://imap.example.test/";

/// A token for `user` valid for `ttl_secs` (negative: already expired) with `scope`.
// Dovecot checks `exp` against the real clock, so the token is dated by it too.
#[allow(clippy::disallowed_methods)]
pub fn mint(key_hex: &str, user: &str, ttl_secs: i64, scope: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "sub": user,
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + ttl_secs,
        "scope": scope,
    });
    let payload = base64url(claims.to_string().as_bytes());
    let signed = format!("{header}.{payload}");
    let signature = hmac_sha256(&hex(key_hex), signed.as_bytes());
    format!("{signed}.{}", base64url(&signature))
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|index| u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).unwrap())
        .collect()
}

/// RFC 2104.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|key| key ^ byte).collect::<Vec<u8>>();
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// RFC 4648 section 5, no padding.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn hmac_matches_rfc_4231_case_2() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(base64url(b"\xfb\xff"), "-_8");
}
