//! Source classification: who is this sender, as far as a domain owner is concerned?
//!
//! Each record gets a class from its own facts ([`classify_record`]); a sending source (policy
//! domain, source IP) over a period gets the class carrying most of its messages
//! ([`classify_source`]). The classes, in order:
//!
//! 1. [`Classification::Aligned`]: DMARC pass (SPF-aligned or DKIM-aligned).
//! 2. [`Classification::Forwarded`]: not aligned, but the reporter says it was forwarded
//!    (`forwarded`, `trusted_forwarder`, `mailing_list`), or a DKIM signature of an aligned
//!    domain is present and did not verify: the domain's own mail, broken in transit.
//! 3. [`Classification::Misaligned`]: not aligned, not forwarded, but SPF or DKIM passed for
//!    another domain: a real service (ESP, CRM, helpdesk) not set up for alignment.
//! 4. [`Classification::Unauthenticated`]: nothing passed: spoofing, or a sender with no SPF
//!    or DKIM at all.
//!
//! This is the one home of the rule: `ruadb sources` (in this crate) and the weekly summary
//! (`ruadb-summary`, through the read API's [`crate::RecordRow::facts`]) both classify with it.

use crate::alignment::domains_aligned;
use crate::query::{DkimRow, SpfRow};
use ruadb_report::{DkimResult, PolicyOverride, SpfResult};
use serde::Serialize;
use std::fmt;

/// The reporter override reasons that mean "forwarded" (RFC 7489 section 6.6.3 values).
pub const FORWARDING_REASONS: [PolicyOverride; 3] = [
    PolicyOverride::Forwarded,
    PolicyOverride::TrustedForwarder,
    PolicyOverride::MailingList,
];

/// Whether a reporter's override reason says the mail was forwarded.
pub fn is_forwarding_reason(reason: &PolicyOverride) -> bool {
    FORWARDING_REASONS.contains(reason)
}

/// The class of a sending source. The order is the order of the rules; on a tie in message
/// count the later class wins, so that doubt leans towards "look at this".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    /// DMARC pass.
    Aligned,
    /// The domain's own mail, altered or relayed by a forwarder or mailing list.
    Forwarded,
    /// Authenticated, but for another domain.
    Misaligned,
    /// No SPF or DKIM pass at all.
    Unauthenticated,
}

impl Classification {
    /// Every class, in rule order.
    pub const ALL: [Classification; 4] = [
        Classification::Aligned,
        Classification::Forwarded,
        Classification::Misaligned,
        Classification::Unauthenticated,
    ];

    /// The name used in JSON, SQL and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Aligned => "aligned",
            Classification::Forwarded => "forwarded",
            Classification::Misaligned => "misaligned",
            Classification::Unauthenticated => "unauthenticated",
        }
    }

    /// Reads the name written by [`Classification::as_str`].
    pub fn from_name(name: &str) -> Option<Classification> {
        Classification::ALL
            .into_iter()
            .find(|class| class.as_str() == name)
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one record says, reduced to the facts the rules look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordFacts {
    /// DMARC pass as recomputed by the store (SPF-aligned or DKIM-aligned).
    pub dmarc_pass: bool,
    /// The reporter gave an override reason `forwarded`, `trusted_forwarder` or `mailing_list`.
    pub forwarding_reason: bool,
    /// Some DKIM result for a domain aligned with header_from is present but not `pass`.
    pub aligned_signature_failed: bool,
    /// Some SPF result (scope mfrom or absent; HELO does not count for DMARC) is `pass`.
    pub spf_passed: bool,
    /// Some DKIM result is `pass`.
    pub dkim_passed: bool,
}

impl RecordFacts {
    /// The facts of a record from its recomputed DMARC pass, whether the reporter gave a
    /// [forwarding reason](is_forwarding_reason), its `header_from`, and its DKIM and SPF
    /// results (SPF of scope mfrom or unstated only: HELO does not count for DMARC).
    pub fn from_results(
        dmarc_pass: bool,
        forwarding_reason: bool,
        header_from: &str,
        dkim: &[DkimRow],
        spf: &[SpfRow],
    ) -> RecordFacts {
        RecordFacts::from_parts(
            dmarc_pass,
            forwarding_reason,
            header_from,
            dkim.iter()
                .map(|result| (result.domain.as_str(), &result.result)),
            spf.iter().map(|result| &result.result),
        )
    }

    /// [`RecordFacts::from_results`] over any form of the results: each DKIM result as
    /// (`d=`, result), and the results of the SPF checks that count for DMARC (scope mfrom or
    /// unstated). Ingest classifies the parsed record with it, the read API the stored one.
    pub fn from_parts<'a>(
        dmarc_pass: bool,
        forwarding_reason: bool,
        header_from: &str,
        dkim: impl IntoIterator<Item = (&'a str, &'a DkimResult)>,
        mut spf: impl Iterator<Item = &'a SpfResult>,
    ) -> RecordFacts {
        let mut facts = RecordFacts {
            dmarc_pass,
            forwarding_reason,
            ..RecordFacts::default()
        };
        for (domain, result) in dkim {
            if *result == DkimResult::Pass {
                facts.dkim_passed = true;
            } else if *result != DkimResult::None && domains_aligned(domain, header_from, false) {
                // `none` means no signature was there to break; any other failure of a
                // signature by the From domain (relaxed) is our own mail damaged in transit.
                facts.aligned_signature_failed = true;
            }
        }
        facts.spf_passed = spf.any(|result| *result == SpfResult::Pass);
        facts
    }
}

/// The class of one record, by the rules in the module documentation.
pub fn classify_record(facts: &RecordFacts) -> Classification {
    if facts.dmarc_pass {
        Classification::Aligned
    } else if facts.forwarding_reason || facts.aligned_signature_failed {
        Classification::Forwarded
    } else if facts.spf_passed || facts.dkim_passed {
        Classification::Misaligned
    } else {
        Classification::Unauthenticated
    }
}

/// Messages per class for one source; [`ClassTally::winner`] is the source's class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassTally {
    messages: [u64; 4],
    seen: [bool; 4],
}

impl ClassTally {
    /// Counts `messages` messages of class `class`.
    pub fn add(&mut self, class: Classification, messages: u64) {
        let index = class as usize;
        self.messages[index] = self.messages[index].saturating_add(messages);
        self.seen[index] = true;
    }

    /// Adds another tally (the same source seen in another report).
    pub fn merge(&mut self, other: &ClassTally) {
        for class in Classification::ALL {
            if other.seen[class as usize] {
                self.add(class, other.messages[class as usize]);
            }
        }
    }

    /// Messages counted for every class (saturating).
    pub fn total(&self) -> u64 {
        self.messages.iter().copied().fold(0, u64::saturating_add)
    }

    /// Messages passing DMARC: those of the aligned class (recomputed, never the reporter's
    /// verdict).
    pub fn dmarc_pass(&self) -> u64 {
        self.messages(Classification::Aligned)
    }

    /// Messages counted for `class`.
    pub fn messages(&self, class: Classification) -> u64 {
        self.messages[class as usize]
    }

    /// Whether some record of `class` was counted (with 0 messages, perhaps).
    pub fn seen(&self, class: Classification) -> bool {
        self.seen[class as usize]
    }

    /// The class with most messages; on a tie, the later class. Only classes that were seen
    /// take part, so records with a count of 0 still give their source a class. `None` when
    /// nothing was added.
    pub fn winner(&self) -> Option<Classification> {
        Classification::ALL
            .into_iter()
            .filter(|class| self.seen[*class as usize])
            .max_by_key(|class| (self.messages[*class as usize], *class))
    }
}

/// **The classification of a sending source** (one policy domain and source IP over a
/// period): each record is classified by [`classify_record`], then the class carrying most
/// messages wins, ties going to the later class. `None` for a source without records.
pub fn classify_source<'a, I>(records: I) -> Option<Classification>
where
    I: IntoIterator<Item = (&'a RecordFacts, u64)>,
{
    let mut tally = ClassTally::default();
    for (facts, messages) in records {
        tally.add(classify_record(facts), messages);
    }
    tally.winner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Classification::*;

    const NOTHING: RecordFacts = RecordFacts {
        dmarc_pass: false,
        forwarding_reason: false,
        aligned_signature_failed: false,
        spf_passed: false,
        dkim_passed: false,
    };

    #[test]
    fn dmarc_pass_is_aligned_whatever_else_is_true() {
        let facts = RecordFacts {
            dmarc_pass: true,
            ..NOTHING
        };
        assert_eq!(classify_record(&facts), Aligned);
        let everything = RecordFacts {
            dmarc_pass: true,
            forwarding_reason: true,
            aligned_signature_failed: true,
            spf_passed: true,
            dkim_passed: true,
        };
        assert_eq!(classify_record(&everything), Aligned);
    }

    #[test]
    fn a_forwarding_reason_is_forwarded() {
        let facts = RecordFacts {
            forwarding_reason: true,
            spf_passed: true,
            ..NOTHING
        };
        assert_eq!(classify_record(&facts), Forwarded);
    }

    #[test]
    fn a_broken_aligned_signature_is_forwarded() {
        // The forwarder's own SPF passes, our signature was mangled by a footer.
        let facts = RecordFacts {
            aligned_signature_failed: true,
            spf_passed: true,
            ..NOTHING
        };
        assert_eq!(classify_record(&facts), Forwarded);
        let bare = RecordFacts {
            aligned_signature_failed: true,
            ..NOTHING
        };
        assert_eq!(classify_record(&bare), Forwarded);
    }

    #[test]
    fn a_pass_for_another_domain_is_misaligned() {
        for facts in [
            RecordFacts {
                spf_passed: true,
                ..NOTHING
            },
            RecordFacts {
                dkim_passed: true,
                ..NOTHING
            },
            RecordFacts {
                spf_passed: true,
                dkim_passed: true,
                ..NOTHING
            },
        ] {
            assert_eq!(classify_record(&facts), Misaligned, "{facts:?}");
        }
    }

    #[test]
    fn nothing_passing_is_unauthenticated() {
        assert_eq!(classify_record(&NOTHING), Unauthenticated);
    }

    #[test]
    fn a_source_takes_the_class_of_most_messages() {
        let aligned = RecordFacts {
            dmarc_pass: true,
            ..NOTHING
        };
        let records = [(&aligned, 90), (&NOTHING, 10), (&NOTHING, 5)];
        assert_eq!(classify_source(records), Some(Aligned));
        let records = [(&aligned, 10), (&NOTHING, 6), (&NOTHING, 5)];
        assert_eq!(classify_source(records), Some(Unauthenticated));
    }

    #[test]
    fn a_tie_goes_to_the_later_class() {
        let aligned = RecordFacts {
            dmarc_pass: true,
            ..NOTHING
        };
        let forwarded = RecordFacts {
            forwarding_reason: true,
            ..NOTHING
        };
        let misaligned = RecordFacts {
            dkim_passed: true,
            ..NOTHING
        };
        assert_eq!(
            classify_source([(&aligned, 5), (&forwarded, 5)]),
            Some(Forwarded)
        );
        assert_eq!(
            classify_source([(&misaligned, 5), (&forwarded, 5)]),
            Some(Misaligned)
        );
        assert_eq!(
            classify_source([(&NOTHING, 7), (&aligned, 7)]),
            Some(Unauthenticated)
        );
        // A tie between two classes does not hand the win to a third, smaller one.
        assert_eq!(
            classify_source([(&aligned, 5), (&forwarded, 5), (&NOTHING, 1)]),
            Some(Forwarded)
        );
    }

    #[test]
    fn zero_count_records_still_classify_and_empty_sources_do_not() {
        let aligned = RecordFacts {
            dmarc_pass: true,
            ..NOTHING
        };
        assert_eq!(classify_source([(&aligned, 0)]), Some(Aligned));
        assert_eq!(
            classify_source([(&aligned, 0), (&NOTHING, 0)]),
            Some(Unauthenticated)
        );
        assert_eq!(classify_source(std::iter::empty()), None);
    }

    #[test]
    fn tallies_merge() {
        let mut first = ClassTally::default();
        first.add(Aligned, 4);
        let mut second = ClassTally::default();
        second.add(Misaligned, 3);
        second.add(Aligned, 1);
        first.merge(&second);
        assert_eq!(first.messages(Aligned), 5);
        assert_eq!(first.winner(), Some(Aligned));
    }

    #[test]
    fn facts_come_from_the_results() {
        let dkim = |domain: &str, result| DkimRow {
            domain: domain.to_owned(),
            selector: None,
            result,
        };
        let spf = |result| SpfRow {
            domain: "bounce.example.net".to_owned(),
            result,
        };
        let facts = RecordFacts::from_results(
            false,
            false,
            "example.com",
            &[
                dkim("mail.example.com", DkimResult::Fail),
                dkim("example.net", DkimResult::Pass),
            ],
            &[spf(SpfResult::SoftFail)],
        );
        assert!(facts.aligned_signature_failed && facts.dkim_passed && !facts.spf_passed);
        let facts = RecordFacts::from_results(
            false,
            true,
            "example.com",
            &[dkim("example.com", DkimResult::None)],
            &[spf(SpfResult::Pass)],
        );
        assert!(!facts.aligned_signature_failed && facts.spf_passed && facts.forwarding_reason);
    }

    #[test]
    fn forwarding_reasons_are_the_rfc_7489_ones() {
        assert!(is_forwarding_reason(&PolicyOverride::MailingList));
        assert!(!is_forwarding_reason(&PolicyOverride::LocalPolicy));
        assert!(!is_forwarding_reason(&PolicyOverride::Unknown(
            "forwarded2".to_owned()
        )));
    }

    #[test]
    fn names_round_trip() {
        for class in Classification::ALL {
            assert_eq!(Classification::from_name(class.as_str()), Some(class));
        }
        assert_eq!(
            serde_json::to_string(&Misaligned).unwrap(),
            r#""misaligned""#
        );
        assert_eq!(Classification::from_name("spoofed"), None);
    }
}
