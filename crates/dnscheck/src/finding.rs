//! The finding model: a stable code, a severity, a sentence for people and the record text.

use serde::Serialize;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something is broken: mail fails, or a record is ignored by receivers.
    Error,
    /// Something works but is weak, deprecated, or could not be checked.
    Warn,
    /// Checked and right.
    Ok,
}

impl Severity {
    /// The name used in JSON, the database and the text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
            Severity::Ok => "ok",
        }
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// A finding's stable code (`area.name`): documented in README.md, kept across
        /// releases, safe to match on in scripts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as written in JSON, the database and the text output.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    /// A DMARC record is published at `_dmarc.<domain>`.
    DmarcPresent = "dmarc.present",
    /// No DMARC record at the domain nor at a parent up to its organisational domain.
    DmarcMissing = "dmarc.missing",
    /// No record at `_dmarc.<domain>`; a parent domain's record applies.
    DmarcInherited = "dmarc.inherited",
    /// Several DMARC records: receivers apply none of them.
    DmarcMultipleRecords = "dmarc.multiple_records",
    /// The record is not a valid tag list, or a tag value is invalid.
    DmarcSyntax = "dmarc.syntax",
    /// A tag DMARC does not define (ignored by receivers; often a typo).
    DmarcUnknownTag = "dmarc.unknown_tag",
    /// The `p=`, `sp=` and `np=` policies.
    DmarcPolicy = "dmarc.policy",
    /// `pct=`: removed by RFC 9989; receivers may ignore it.
    DmarcLegacyPct = "dmarc.legacy_pct",
    /// `t=y`: testing mode, the policy is applied one step less strictly.
    DmarcTesting = "dmarc.testing",
    /// No `rua=`: nobody is sent aggregate reports.
    DmarcNoRua = "dmarc.no_rua",
    /// A `rua=`/`ruf=` URI that is not a usable `mailto:` address.
    DmarcUriInvalid = "dmarc.uri_invalid",
    /// An external report destination publishes its authorisation (RFC 7489 §7.1).
    DmarcRuaAuthorized = "dmarc.rua_authorized",
    /// An external report destination does not authorise the domain: receivers send nothing.
    DmarcRuaUnauthorized = "dmarc.rua_unauthorized",
    /// A DMARC lookup did not answer: could not check.
    DmarcUnchecked = "dmarc.unchecked",
    /// One valid SPF record, within the lookup limits.
    SpfPresent = "spf.present",
    /// No SPF record.
    SpfMissing = "spf.missing",
    /// Several SPF records: permerror for every message.
    SpfMultipleRecords = "spf.multiple_records",
    /// A term SPF cannot parse: permerror for every message.
    SpfSyntax = "spf.syntax",
    /// More than 10 DNS-querying terms along the record and its includes: permerror.
    SpfTooManyLookups = "spf.too_many_lookups",
    /// More than 2 lookups that return nothing: permerror at strict receivers.
    SpfVoidLookups = "spf.void_lookups",
    /// `+all` (anyone passes) or `?all` (neutral for anyone).
    SpfPermissiveAll = "spf.permissive_all",
    /// Neither `all` nor `redirect=`: unlisted senders get neutral.
    SpfNoAll = "spf.no_all",
    /// The `ptr` mechanism: slow, unreliable, and discouraged by RFC 7208.
    SpfPtr = "spf.ptr",
    /// A record of the SPF DNS type (99), which RFC 7208 removed: receivers read only TXT.
    SpfDeprecatedType = "spf.deprecated_type",
    /// An include or redirect that leads back to a record already being evaluated.
    SpfIncludeLoop = "spf.include_loop",
    /// An include or redirect target without an SPF record: permerror.
    SpfIncludeMissing = "spf.include_missing",
    /// An SPF lookup did not answer: could not check.
    SpfUnchecked = "spf.unchecked",
    /// A DKIM key is published for the selector.
    DkimKeyPresent = "dkim.key_present",
    /// No DKIM key record for a selector that signed mail.
    DkimKeyMissing = "dkim.key_missing",
    /// The key record has an empty `p=`: the key is revoked.
    DkimRevoked = "dkim.revoked",
    /// An RSA key under 2048 bits (under 1024: error, 1024: warning).
    DkimWeakKey = "dkim.weak_key",
    /// `t=y`: receivers may treat the signatures as unsigned.
    DkimTesting = "dkim.testing",
    /// The key record or its key cannot be read.
    DkimSyntax = "dkim.syntax",
    /// A DKIM key lookup did not answer: could not check.
    DkimUnchecked = "dkim.unchecked",
    /// The domain has MX records.
    MxPresent = "mx.present",
    /// No MX record: the domain receives no mail, so no failure notices either.
    MxMissing = "mx.missing",
    /// A null MX (RFC 7505): the domain declares it receives no mail.
    MxNull = "mx.null",
    /// The MX lookup did not answer: could not check.
    MxUnchecked = "mx.unchecked",
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One result of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was found (stable).
    pub code: Code,
    /// How much it matters.
    pub severity: Severity,
    /// One sentence for people, naming the domain and the fix where there is one.
    pub message: String,
    /// The record text the finding is about, as published (concatenated strings).
    pub record: Option<String>,
}

impl Finding {
    /// A finding without a record.
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            code,
            severity,
            message: message.into(),
            record: None,
        }
    }

    /// The same finding about `record`.
    #[must_use]
    pub fn with_record(mut self, record: impl Into<String>) -> Finding {
        self.record = Some(record.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn the_readme_documents_every_code() {
        let readme = include_str!("../../../README.md");
        for code in Code::ALL {
            assert!(
                readme.contains(&format!("| `{code}` |")),
                "README.md's table of DNS check codes lacks {code}"
            );
        }
    }
}
