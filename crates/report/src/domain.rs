//! [`DomainName`]: the one normalisation of a domain name, wherever one is read.

use serde::Serialize;
use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

/// A domain name in the one form ruadb compares, stores and prints.
///
/// Normalisation, applied by every constructor:
/// - surrounding whitespace is trimmed;
/// - letters are lowercased (ASCII, and Unicode letters in a name written in Unicode);
/// - trailing dots are removed: `example.com.` (the absolute form) is `example.com`.
///
/// Internationalised names are kept as the report (or the configuration) writes them: an
/// A-label (`xn--bcher-kva.example`) and its U-label (`bücher.example`) are not converted into
/// each other, so they are two different names. Reporters write the A-label almost always;
/// converting would need the IDNA mapping tables for a case that does not occur in practice.
///
/// The name may be empty (a record whose `<header_from>` is missing). Nothing else is
/// validated here: a report value is kept as written apart from the rules above; a value the
/// user typed goes through [`DomainName::parse`], which refuses what cannot be a name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

/// Why [`DomainName::parse`] refused a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a domain name: {reason}")]
pub struct InvalidDomainName {
    /// The value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl DomainName {
    /// Normalises `raw` (see the type's documentation). Never fails.
    pub fn new(raw: &str) -> DomainName {
        DomainName(DomainName::normalize(raw).into_owned())
    }

    /// The normalised text of `raw`, borrowed when `raw` is already normal: for comparing
    /// names read from elsewhere (a database) without allocating.
    pub fn normalize(raw: &str) -> Cow<'_, str> {
        let trimmed = raw.trim().trim_end_matches('.');
        if !trimmed.chars().any(char::is_uppercase) {
            Cow::Borrowed(trimmed)
        } else if trimmed.is_ascii() {
            Cow::Owned(trimmed.to_ascii_lowercase())
        } else {
            Cow::Owned(trimmed.to_lowercase())
        }
    }

    /// Normalises a name a person wrote (configuration, a command-line filter), refusing one
    /// that is empty or holds whitespace or control characters.
    pub fn parse(raw: &str) -> Result<DomainName, InvalidDomainName> {
        let name = DomainName::new(raw);
        let invalid = |reason| InvalidDomainName {
            value: raw.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("it is empty"));
        }
        if name.0.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it holds whitespace or control characters"));
        }
        Ok(name)
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalised name, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether this name is `parent` or one of its subdomains (`mail.example.com` is within
    /// `example.com`; `badexample.com` is not).
    pub fn is_within(&self, parent: &DomainName) -> bool {
        self.0
            .strip_suffix(parent.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
    }

    /// Whether `raw`, normalised, is this name (without allocating for the usual case).
    pub fn matches(&self, raw: &str) -> bool {
        DomainName::normalize(raw) == self.as_str()
    }
}

impl Deref for DomainName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for DomainName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for DomainName {
    fn from(raw: &str) -> Self {
        DomainName::new(raw)
    }
}

impl From<String> for DomainName {
    fn from(raw: String) -> Self {
        DomainName::new(&raw)
    }
}

impl From<DomainName> for String {
    fn from(name: DomainName) -> Self {
        name.0
    }
}

impl PartialEq<str> for DomainName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for DomainName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for DomainName {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_whitespace_and_trailing_dots_are_normalised() {
        for raw in [
            "example.com",
            "Example.COM",
            " example.com\n",
            "example.com.",
            "EXAMPLE.COM..",
        ] {
            assert_eq!(DomainName::new(raw), "example.com", "{raw:?}");
            assert!(DomainName::new("example.com").matches(raw), "{raw:?}");
        }
        assert!(!DomainName::new("example.com").matches("example.org"));
    }

    #[test]
    fn internationalised_names_are_kept_as_written() {
        assert_eq!(DomainName::new("BÜCHER.example."), "bücher.example");
        assert_eq!(
            DomainName::new("XN--BCHER-KVA.example"),
            "xn--bcher-kva.example"
        );
        assert_ne!(
            DomainName::new("bücher.example"),
            DomainName::new("xn--bcher-kva.example")
        );
        assert!(DomainName::new("bücher.example").matches("BÜCHER.example."));
    }

    #[test]
    fn parse_refuses_what_cannot_be_a_name() {
        assert_eq!(DomainName::parse(" Example.org. ").unwrap(), "example.org");
        for bad in ["", " ", ".", "exa mple.org", "example.org\u{1b}[31m"] {
            assert!(DomainName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            DomainName::parse("a b").unwrap_err().to_string(),
            "\"a b\" is not a domain name: it holds whitespace or control characters"
        );
    }

    #[test]
    fn serialises_as_a_plain_string() {
        let json = serde_json::to_string(&DomainName::new("Example.com.")).unwrap();
        assert_eq!(json, "\"example.com\"");
    }
}
