//! The DKIM key record of a selector (RFC 6376 §3.6.1, RFC 8463 for Ed25519).
//!
//! Rules: the record is at `<selector>._domainkey.<domain>`; an empty `p=` is a revoked key;
//! `k=` is `rsa` (the default) or `ed25519`; an RSA key under 1024 bits is an error (RFC 8301
//! says verifiers must not accept it), 1024 bits a warning (RFC 8301 asks for 2048); `t=y`
//! (testing) warns.

use base64::Engine as _;

use crate::{Answer, Code, Dns, Finding, Severity, tags};

/// The DKIM findings of the key `selector` of `domain` (the `d=` of signatures).
pub fn check(dns: &dyn Dns, domain: &str, selector: &str) -> Vec<Finding> {
    let name = format!("{selector}._domainkey.{domain}");
    let records = match dns.txt(&name) {
        Answer::Records(records) => records,
        Answer::NoRecords => Vec::new(),
        unknown => {
            return vec![Finding::new(
                Code::DkimUnchecked,
                Severity::Warn,
                format!(
                    "could not check the DKIM key {name}: {}",
                    unknown.unknown_reason().unwrap_or_default()
                ),
            )];
        }
    };
    // A key record need not start with v=DKIM1; any record with p= is one.
    let keys: Vec<&String> = records
        .iter()
        .filter(|record| {
            tags::parse(record).is_ok_and(|tags| tags.iter().any(|(tag, _)| tag == "p"))
        })
        .collect();
    let Some(record) = keys.first() else {
        return vec![Finding::new(
            Code::DkimKeyMissing,
            Severity::Error,
            format!(
                "selector {selector} signed mail as {domain} but {name} publishes no key: those signatures fail; publish the key or stop signing with it"
            ),
        )];
    };
    let mut findings = Vec::new();
    let record = record.as_str();
    let Ok(tags) = tags::parse(record) else {
        return findings;
    };
    let get = |tag: &str| {
        tags.iter()
            .find(|(name, _)| name == tag)
            .map(|(_, value)| value.as_str())
    };
    if get("t").is_some_and(|flags| flags.split(':').any(|flag| flag.trim() == "y")) {
        findings.push(
            Finding::new(
                Code::DkimTesting,
                Severity::Warn,
                format!("{name} has t=y (testing): receivers may treat its signatures as absent; remove t=y"),
            )
            .with_record(record),
        );
    }
    let key: String = get("p")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if key.is_empty() {
        findings.push(
            Finding::new(
                Code::DkimRevoked,
                Severity::Error,
                format!("{name} is revoked (empty p=) yet selector {selector} still signs mail: those signatures fail; sign with a published key"),
            )
            .with_record(record),
        );
        return findings;
    }
    let syntax = |why: String| {
        Finding::new(
            Code::DkimSyntax,
            Severity::Error,
            format!("the key at {name} cannot be read: {why}"),
        )
        .with_record(record)
    };
    let bytes = match base64::engine::general_purpose::STANDARD.decode(&key) {
        Ok(bytes) => bytes,
        Err(error) => {
            findings.push(syntax(format!("p= is not base64 ({error})")));
            return findings;
        }
    };
    let kind = get("k").unwrap_or("rsa").to_ascii_lowercase();
    let (severity, code, message) = match kind.as_str() {
        "ed25519" if bytes.len() == 32 => (
            Severity::Ok,
            Code::DkimKeyPresent,
            format!("{name}: Ed25519 key published"),
        ),
        "ed25519" => {
            findings.push(syntax(format!(
                "an Ed25519 key has 32 bytes, not {}",
                bytes.len()
            )));
            return findings;
        }
        "rsa" => match rsa_modulus_bits(&bytes) {
            Some(bits) if bits < 1024 => (
                Severity::Error,
                Code::DkimWeakKey,
                format!(
                    "{name}: RSA key of {bits} bits: receivers reject it (RFC 8301); publish a 2048-bit key"
                ),
            ),
            Some(bits) if bits < 2048 => (
                Severity::Warn,
                Code::DkimWeakKey,
                format!("{name}: RSA key of {bits} bits: weak; publish a 2048-bit key"),
            ),
            Some(bits) => (
                Severity::Ok,
                Code::DkimKeyPresent,
                format!("{name}: RSA key of {bits} bits published"),
            ),
            None => {
                findings.push(syntax("p= is not an RSA public key".to_owned()));
                return findings;
            }
        },
        other => {
            findings.push(syntax(format!("unknown key type k={other}")));
            return findings;
        }
    };
    findings.insert(0, Finding::new(code, severity, message).with_record(record));
    findings
}

/// The modulus size of an RSA public key, as a SubjectPublicKeyInfo (what `p=` holds) or a
/// bare PKCS#1 RSAPublicKey (which some publish).
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    let (tag, outer, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (first_tag, first, rest) = tlv(outer)?;
    let rsa_public_key = match first_tag {
        // PKCS#1: SEQUENCE { INTEGER modulus, INTEGER exponent }.
        0x02 => return Some(integer_bits(first)),
        // SPKI: SEQUENCE { AlgorithmIdentifier, BIT STRING { RSAPublicKey } }.
        0x30 => {
            let (bit_string_tag, bits, _) = tlv(rest)?;
            if bit_string_tag != 0x03 || bits.first() != Some(&0) {
                return None;
            }
            &bits[1..]
        }
        _ => return None,
    };
    let (tag, sequence, _) = tlv(rsa_public_key)?;
    let (integer_tag, modulus, _) = tlv(sequence)?;
    (tag == 0x30 && integer_tag == 0x02).then(|| integer_bits(modulus))
}

/// One DER tag-length-value: the tag, the value and what follows.
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (length, after) = rest.split_at(octets);
        rest = after;
        length
            .iter()
            .fold(0usize, |sum, byte| (sum << 8) | usize::from(*byte))
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// The bit length of a DER INTEGER's value (leading zero octets ignored).
fn integer_bits(value: &[u8]) -> usize {
    let start = value
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(value.len());
    match value.get(start) {
        Some(first) => (value.len() - start - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdns::TestDns;

    /// A SubjectPublicKeyInfo holding an RSA key whose modulus has `bits` bits.
    pub(crate) fn spki(bits: usize) -> String {
        fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            let len = content.len();
            if len < 0x80 {
                out.push(len as u8);
            } else {
                out.extend([0x82, (len >> 8) as u8, len as u8]);
            }
            out.extend_from_slice(content);
            out
        }
        let mut modulus = vec![0u8];
        modulus.push(0x80);
        modulus.extend(std::iter::repeat_n(0x11, bits / 8 - 1));
        let rsa = wrap(
            0x30,
            &[wrap(0x02, &modulus), wrap(0x02, &[1, 0, 1])].concat(),
        );
        let algorithm = wrap(
            0x30,
            &[
                wrap(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1]),
                vec![5, 0],
            ]
            .concat(),
        );
        let bit_string = wrap(0x03, &[&[0u8][..], &rsa].concat());
        base64::engine::general_purpose::STANDARD
            .encode(wrap(0x30, &[algorithm, bit_string].concat()))
    }

    #[test]
    fn key_sizes_revocation_and_testing() {
        let dns = TestDns::default()
            .txt(
                "s1._domainkey.example.test",
                &[&format!("v=DKIM1; k=rsa; p={}", spki(2048))],
            )
            .txt(
                "s2._domainkey.example.test",
                &[&format!("v=DKIM1; t=y; p={}", spki(1024))],
            )
            .txt(
                "s3._domainkey.example.test",
                &[&format!("v=DKIM1; p={}", spki(512))],
            )
            .txt("s4._domainkey.example.test", &["v=DKIM1; p="])
            .txt("s5._domainkey.example.test", &["v=DKIM1; p=!!!"]);
        let result = |selector: &str| {
            check(&dns, "example.test", selector)
                .iter()
                .map(|f| format!("{} {}", f.code, f.severity.as_str()))
                .collect::<Vec<_>>()
        };
        assert_eq!(result("s1"), ["dkim.key_present ok"]);
        assert_eq!(result("s2"), ["dkim.weak_key warn", "dkim.testing warn"]);
        assert_eq!(result("s3"), ["dkim.weak_key error"]);
        assert_eq!(result("s4"), ["dkim.revoked error"]);
        assert_eq!(result("s5"), ["dkim.syntax error"]);
        assert_eq!(result("none"), ["dkim.key_missing error"]);
        assert!(
            check(&dns, "example.test", "s1")[0]
                .message
                .contains("2048 bits")
        );
    }
}
