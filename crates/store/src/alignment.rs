//! DMARC identifier alignment, recomputed from a record's authentication results
//! (RFC 7489 section 3.1, unchanged in RFC 9989).
//!
//! The reporter's `<policy_evaluated>` verdicts are not trusted: receivers differ in how they
//! apply `adkim`/`aspf` and the Public Suffix List, and some report `pass` for unaligned
//! results. ruadb computes alignment itself and stores the reporter's verdict beside it.

use ruadb_report::{AlignmentMode, DkimResult, DomainName, Record, SpfResult, SpfScope};
use std::borrow::Cow;

/// The alignment of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Alignment {
    /// Some DKIM signature passed for a domain aligned with the header From domain.
    pub dkim: bool,
    /// SPF passed (scope `mfrom` or unstated) for a domain aligned with the header From domain.
    pub spf: bool,
}

impl Alignment {
    /// DMARC passes when either identifier is aligned.
    pub fn dmarc_pass(self) -> bool {
        self.dkim || self.spf
    }
}

/// Recomputes alignment for `record` under the published `adkim` and `aspf` (absent means
/// relaxed).
pub fn evaluate(
    record: &Record,
    dkim_mode: Option<&AlignmentMode>,
    spf_mode: Option<&AlignmentMode>,
) -> Alignment {
    let mut header_from = HeaderFrom::new(&record.header_from);
    if header_from.domain.is_empty() {
        return Alignment::default();
    }
    let dkim_strict = matches!(dkim_mode, Some(AlignmentMode::Strict));
    let spf_strict = matches!(spf_mode, Some(AlignmentMode::Strict));
    let dkim = record.dkim_results.iter().any(|result| {
        result.result == DkimResult::Pass && header_from.aligns_with(&result.domain, dkim_strict)
    });
    let spf = record.spf_results.iter().any(|result| {
        result.result == SpfResult::Pass
            && !matches!(result.scope, Some(SpfScope::Helo))
            && header_from.aligns_with(&result.domain, spf_strict)
    });
    Alignment { dkim, spf }
}

/// Whether `a` and `b` are aligned: equal under strict mode, or sharing an organizational
/// domain under relaxed mode. Both are normalised first ([`DomainName`]: case and trailing
/// dots do not matter); empty never aligns.
pub fn domains_aligned(a: &str, b: &str, strict: bool) -> bool {
    HeaderFrom::new(a).aligns_with(b, strict)
}

/// The organizational domain of `domain` (its registrable domain by the Public Suffix List),
/// or the domain itself when it has none (a bare public suffix, a single label, odd input).
/// The input is expected normalised (lowercase, no trailing dot).
pub fn organizational_domain(domain: &str) -> &str {
    psl::domain_str(domain).unwrap_or(domain)
}

/// The header From domain, with its organizational domain computed once and only if needed.
struct HeaderFrom<'a> {
    domain: Cow<'a, str>,
    organizational: Option<String>,
}

impl<'a> HeaderFrom<'a> {
    fn new(domain: &'a str) -> Self {
        HeaderFrom {
            domain: DomainName::normalize(domain),
            organizational: None,
        }
    }

    fn aligns_with(&mut self, other: &str, strict: bool) -> bool {
        let other = DomainName::normalize(other);
        if other.is_empty() || self.domain.is_empty() {
            return false;
        }
        if other == self.domain {
            return true;
        }
        if strict {
            return false;
        }
        // Relaxed: the two can only share an organizational domain if one ends with the other's
        // last label; this cheap test skips the Public Suffix List lookup for most mismatches.
        let last_label = |domain: &str| domain.rsplit('.').next().unwrap_or("").to_owned();
        if last_label(&other) != last_label(&self.domain) {
            return false;
        }
        let own = self
            .organizational
            .get_or_insert_with(|| organizational_domain(&self.domain).to_owned());
        organizational_domain(&other) == own
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruadb_report::{Disposition, DkimAuthResult, SpfAuthResult};

    fn record(
        header_from: &str,
        dkim: &[(&str, &str)],
        spf: &[(&str, Option<&str>, &str)],
    ) -> Record {
        Record {
            source_ip: "192.0.2.1".parse().unwrap(),
            count: 1,
            disposition: Disposition::None,
            dkim: None,
            spf: None,
            reasons: Vec::new(),
            header_from: header_from.into(),
            envelope_from: None,
            envelope_to: None,
            dkim_results: dkim
                .iter()
                .map(|(domain, result)| DkimAuthResult {
                    domain: (*domain).into(),
                    selector: Some("sel".to_owned()),
                    result: DkimResult::from_xml(result),
                    human_result: None,
                    human_result_lang: None,
                })
                .collect(),
            spf_results: spf
                .iter()
                .map(|(domain, scope, result)| SpfAuthResult {
                    domain: (*domain).into(),
                    scope: scope.map(SpfScope::from_xml),
                    result: SpfResult::from_xml(result),
                    human_result: None,
                    human_result_lang: None,
                })
                .collect(),
            extensions: Vec::new(),
        }
    }

    #[test]
    fn domain_alignment_table() {
        // (header_from, other, strict, aligned)
        let cases = [
            ("example.com", "example.com", true, true),
            ("example.com", "EXAMPLE.com.", true, true),
            ("Example.COM", "example.com", false, true),
            ("example.com", "mail.example.com", true, false),
            ("example.com", "mail.example.com", false, true),
            ("news.example.com", "mail.example.com", false, true),
            ("example.com", "example.net", false, false),
            ("example.com", "badexample.com", false, false),
            // Multi-label public suffixes: co.uk is a suffix, not an organization.
            ("a.example.co.uk", "b.example.co.uk", false, true),
            ("example.co.uk", "other.co.uk", false, false),
            ("co.uk", "example.co.uk", false, false),
            ("foo.github.io", "bar.github.io", false, false),
            // Unknown TLD: the default rule makes the last label the suffix.
            ("a-domain.localhost", "mail.a-domain.localhost", false, true),
            ("", "example.com", false, false),
            ("example.com", "", false, false),
            ("", "", true, false),
            (".", ".", false, false),
            // IDN and odd input: compared as given, never a panic.
            ("bücher.example", "mail.bücher.example", false, true),
            ("xn--bcher-kva.example", "bücher.example", false, false),
            ("ÉXAMPLE.com", "éxample.com", true, true),
            ("..", "example.com", false, false),
            ("exa mple.com", "exa mple.com", true, true),
            ("com", "com", false, true),
        ];
        for (header_from, other, strict, aligned) in cases {
            assert_eq!(
                domains_aligned(header_from, other, strict),
                aligned,
                "{header_from:?} vs {other:?} strict={strict}"
            );
        }
    }

    #[test]
    fn record_alignment_table() {
        let strict = Some(&AlignmentMode::Strict);
        let relaxed = Some(&AlignmentMode::Relaxed);
        // (record, adkim, aspf, dkim aligned, spf aligned)
        type Case<'m> = (
            Record,
            Option<&'m AlignmentMode>,
            Option<&'m AlignmentMode>,
            bool,
            bool,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                record(
                    "example.com",
                    &[("example.com", "pass")],
                    &[("example.com", None, "pass")],
                ),
                None,
                None,
                true,
                true,
            ),
            (
                record("example.com", &[("mail.example.com", "pass")], &[]),
                None,
                None,
                true,
                false,
            ),
            (
                record("example.com", &[("mail.example.com", "pass")], &[]),
                strict,
                None,
                false,
                false,
            ),
            (
                record("example.com", &[("mail.example.com", "pass")], &[]),
                relaxed,
                None,
                true,
                false,
            ),
            // A failing aligned signature does not count; a passing unaligned one neither.
            (
                record(
                    "example.com",
                    &[("example.com", "fail"), ("esp.example.net", "pass")],
                    &[],
                ),
                None,
                None,
                false,
                false,
            ),
            // Multiple signatures: any passing aligned one suffices.
            (
                record(
                    "example.com",
                    &[("esp.example.net", "pass"), ("example.com", "pass")],
                    &[],
                ),
                None,
                None,
                true,
                false,
            ),
            // SPF: helo scope ignored, mfrom and absent scope count.
            (
                record("example.com", &[], &[("example.com", Some("helo"), "pass")]),
                None,
                None,
                false,
                false,
            ),
            (
                record(
                    "example.com",
                    &[],
                    &[("example.com", Some("mfrom"), "pass")],
                ),
                None,
                None,
                false,
                true,
            ),
            (
                record("example.com", &[], &[("bounce.example.com", None, "pass")]),
                None,
                strict,
                false,
                false,
            ),
            (
                record("example.com", &[], &[("bounce.example.com", None, "pass")]),
                None,
                None,
                false,
                true,
            ),
            (
                record("example.com", &[], &[("example.com", None, "softfail")]),
                None,
                None,
                false,
                false,
            ),
            // Empty header_from aligns with nothing.
            (
                record(
                    "",
                    &[("example.com", "pass")],
                    &[("example.com", None, "pass")],
                ),
                None,
                None,
                false,
                false,
            ),
            // Case and trailing dot.
            (
                record("EXAMPLE.COM.", &[("example.com", "pass")], &[]),
                strict,
                None,
                true,
                false,
            ),
            (
                record(
                    "shop.example.co.uk",
                    &[("example.co.uk", "pass")],
                    &[("other.co.uk", None, "pass")],
                ),
                None,
                None,
                true,
                false,
            ),
        ];
        for (index, (record, adkim, aspf, dkim, spf)) in cases.iter().enumerate() {
            let alignment = evaluate(record, *adkim, *aspf);
            assert_eq!(
                alignment,
                Alignment {
                    dkim: *dkim,
                    spf: *spf
                },
                "case {index}"
            );
            assert_eq!(alignment.dmarc_pass(), *dkim || *spf, "case {index}");
        }
    }
}
