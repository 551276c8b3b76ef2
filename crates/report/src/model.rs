//! The typed DMARC aggregate report.
//!
//! Names follow the RFC vocabulary (`ReportMetadata`, `PolicyPublished`, `Record`) but fields
//! get readable names; the XML element each one comes from is in its doc comment. The serde
//! names are the JSON contract of `ruadb parse` and must not change.

pub use crate::domain::{DomainName, InvalidDomainName};
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// Which specification the XML follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RFC 7489 (and the pre-RFC drafts): no namespace, or `http://dmarc.org/dmarc-xml/0.1`.
    Rfc7489,
    /// RFC 9990 (DMARCbis): namespace `urn:ietf:params:xml:ns:dmarc-2.0`, or an RFC 9990-only
    /// element (`generator`, `np`, `testing`, `discovery_method`) in an unqualified document.
    Rfc9990,
}

impl Format {
    /// The value used in JSON output and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rfc7489 => "rfc7489",
            Format::Rfc9990 => "rfc9990",
        }
    }
}

/// Something tolerated while reading: the data was kept, but a person may want to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Warning(pub String);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<T: Into<String>> From<T> for Warning {
    fn from(message: T) -> Self {
        Warning(message.into())
    }
}

/// Everything a report says before its first `<record>`: metadata and published policy.
///
/// The streaming parser hands this to the [`crate::Sink`] before any record, so a store can
/// insert the report row first and its records as they arrive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportHeader {
    /// Which specification the document follows.
    pub format: Format,
    /// `<version>`, as written (RFC 7489 reports mostly omit it).
    pub version: Option<String>,
    /// `<report_metadata>`.
    pub metadata: ReportMetadata,
    /// `<policy_published>`.
    pub policy: PolicyPublished,
}

/// `<report_metadata>`: who reported, which report, which period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportMetadata {
    /// `<org_name>`: the reporting organisation. May be empty: some reporters send `<org_name/>`.
    pub org_name: String,
    /// `<email>`: the reporter's contact address (may be empty).
    pub email: String,
    /// `<extra_contact_info>`.
    pub extra_contact_info: Option<String>,
    /// `<report_id>`: unique per reporter and policy domain (not across reporters).
    pub report_id: String,
    /// `<date_range><begin>`: unix seconds, UTC.
    pub begin: i64,
    /// `<date_range><end>`: unix seconds, UTC.
    pub end: i64,
    /// `<error>` elements (RFC 7489 allows several; RFC 9990 at most one).
    pub errors: Vec<String>,
    /// `<generator>` (RFC 9990): the software that wrote the report.
    pub generator: Option<String>,
}

/// `<policy_published>`: the DMARC record the reporter saw in DNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyPublished {
    /// `<domain>`: the policy domain, normalised ([`DomainName`]).
    pub domain: DomainName,
    /// `<adkim>`: DKIM alignment mode (absent means relaxed).
    #[serde(rename = "adkim")]
    pub dkim_alignment: Option<AlignmentMode>,
    /// `<aspf>`: SPF alignment mode (absent means relaxed).
    #[serde(rename = "aspf")]
    pub spf_alignment: Option<AlignmentMode>,
    /// `<p>`: policy for the domain itself.
    #[serde(rename = "p")]
    pub policy: Option<Policy>,
    /// `<sp>`: policy for subdomains. Absent or empty means "same as p".
    #[serde(rename = "sp")]
    pub subdomain_policy: Option<Policy>,
    /// `<np>` (RFC 9990): policy for non-existent subdomains.
    #[serde(rename = "np")]
    pub nonexistent_subdomain_policy: Option<Policy>,
    /// `<pct>` (RFC 7489 only; removed by RFC 9990): percentage of mail the policy applies to.
    #[serde(rename = "pct")]
    pub percent: Option<u8>,
    /// `<fo>`: failure-reporting options, as written.
    #[serde(rename = "fo")]
    pub failure_options: Option<String>,
    /// `<testing>` (RFC 9990): the `t=` tag.
    pub testing: Option<Testing>,
    /// `<discovery_method>` (RFC 9990): how the policy record was found.
    pub discovery_method: Option<DiscoveryMethod>,
}

/// One `<record>`: one source IP with one set of identifiers and authentication results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// `<row><source_ip>`, parsed (canonical form when printed; an IPv4-mapped IPv6
    /// address such as `::ffff:192.0.2.1` is read as the IPv4 address).
    pub source_ip: IpAddr,
    /// `<row><count>`: messages this row stands for.
    pub count: u64,
    /// `<row><policy_evaluated><disposition>`.
    pub disposition: Disposition,
    /// `<row><policy_evaluated><dkim>`: the reporter's verdict on DKIM alignment.
    pub dkim: Option<Verdict>,
    /// `<row><policy_evaluated><spf>`: the reporter's verdict on SPF alignment.
    pub spf: Option<Verdict>,
    /// `<row><policy_evaluated><reason>`: why the reporter overrode the policy.
    pub reasons: Vec<PolicyOverrideReason>,
    /// `<identifiers><header_from>`, normalised (may be empty).
    pub header_from: DomainName,
    /// `<identifiers><envelope_from>`, normalised.
    pub envelope_from: Option<DomainName>,
    /// `<identifiers><envelope_to>`, normalised.
    pub envelope_to: Option<DomainName>,
    /// `<auth_results><dkim>`, in document order.
    pub dkim_results: Vec<DkimAuthResult>,
    /// `<auth_results><spf>`, in document order.
    pub spf_results: Vec<SpfAuthResult>,
    /// Record-level extension elements (RFC 9990), kept as raw XML.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
}

impl Record {
    /// The bytes of text the record holds (identifiers, results, reasons, extensions): roughly
    /// what it costs in memory beyond its fixed size. The parser keeps it within
    /// [`crate::MAX_RECORD_BYTES`].
    pub fn text_bytes(&self) -> usize {
        let optional = |text: &Option<String>| text.as_ref().map_or(0, String::len);
        let dkim: usize = self
            .dkim_results
            .iter()
            .map(|d| {
                d.domain.len()
                    + optional(&d.selector)
                    + optional(&d.human_result)
                    + optional(&d.human_result_lang)
            })
            .sum();
        let spf: usize = self
            .spf_results
            .iter()
            .map(|s| s.domain.len() + optional(&s.human_result) + optional(&s.human_result_lang))
            .sum();
        let reasons: usize = self.reasons.iter().map(|r| optional(&r.comment)).sum();
        let extensions: usize = self.extensions.iter().map(String::len).sum();
        self.header_from.len()
            + self.envelope_from.as_ref().map_or(0, |d| d.len())
            + self.envelope_to.as_ref().map_or(0, |d| d.len())
            + dkim
            + spf
            + reasons
            + extensions
    }
}

/// `<reason>` inside `<policy_evaluated>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyOverrideReason {
    /// `<type>`.
    #[serde(rename = "type")]
    pub kind: PolicyOverride,
    /// `<comment>`.
    pub comment: Option<String>,
}

/// One `<auth_results><dkim>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkimAuthResult {
    /// `<domain>`: the signing domain (`d=`), normalised.
    pub domain: DomainName,
    /// `<selector>` (`s=`).
    pub selector: Option<String>,
    /// `<result>`.
    pub result: DkimResult,
    /// `<human_result>`.
    pub human_result: Option<String>,
    /// The `lang` attribute of `<human_result>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub human_result_lang: Option<String>,
}

/// One `<auth_results><spf>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpfAuthResult {
    /// `<domain>`: the checked domain, normalised.
    pub domain: DomainName,
    /// `<scope>`: `mfrom` or `helo` (absent in most reports; means mfrom).
    pub scope: Option<SpfScope>,
    /// `<result>`.
    pub result: SpfResult,
    /// `<human_result>`.
    pub human_result: Option<String>,
    /// The `lang` attribute of `<human_result>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub human_result_lang: Option<String>,
}

/// What the parser produced besides the header and the records, known at the end of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportTrailer {
    /// Report-level `<extension>` elements (RFC 9990), kept as raw XML.
    pub extensions: Vec<String>,
    /// Everything tolerated while reading this report.
    pub warnings: Vec<Warning>,
}

/// A whole report in memory: what [`crate::parse_reports`] collects for callers that do not
/// need streaming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AggregateReport {
    /// The name of the archive member or attachment the report came from, if it had one.
    pub member: Option<String>,
    /// Metadata and published policy.
    pub header: ReportHeader,
    /// Every record that could be read.
    pub records: Vec<Record>,
    /// Extensions and warnings.
    pub trailer: ReportTrailer,
}

/// Defines a string-valued enum read leniently from XML: trimmed, case-insensitive, with
/// aliases, and with unknown values preserved in `Unknown` rather than rejected.
macro_rules! xml_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)* ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[doc = concat!("Written `", $text, "` in the XML.")]
                $variant,
            )+
            /// A value not in the specification, kept as written (trimmed, lowercased).
            Unknown(String),
        }

        impl $name {
            /// Reads an XML value: surrounding whitespace and case are ignored.
            pub fn from_xml(raw: &str) -> Self {
                // Compared in place: this runs for every record, and only unknown values
                // need an allocation.
                let value = raw.trim();
                $(
                    if value.eq_ignore_ascii_case($text) $(|| value.eq_ignore_ascii_case($alias))* {
                        return $name::$variant;
                    }
                )+
                $name::Unknown(value.to_ascii_lowercase())
            }

            /// The canonical (specification) spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::Unknown(value) => value,
                }
            }

            /// Whether the value is one the specification does not list.
            pub fn is_unknown(&self) -> bool {
                matches!(self, $name::Unknown(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

xml_enum! {
    /// `adkim` / `aspf`.
    AlignmentMode { Relaxed = "r", Strict = "s" }
}

xml_enum! {
    /// `p`, `sp`, `np`.
    Policy { None = "none", Quarantine = "quarantine", Reject = "reject" }
}

xml_enum! {
    /// `<policy_evaluated><disposition>`. `pass` is RFC 9990's "no action, passed DMARC".
    Disposition { None = "none", Quarantine = "quarantine", Reject = "reject", Pass = "pass" }
}

xml_enum! {
    /// `<policy_evaluated><dkim>` / `<spf>`: the reporter's aligned verdict.
    Verdict { Pass = "pass", Fail = "fail" }
}

xml_enum! {
    /// `<reason><type>`. `forwarded` and `sampled_out` are RFC 7489 only,
    /// `policy_test_mode` is RFC 9990 only.
    PolicyOverride {
        Forwarded = "forwarded",
        SampledOut = "sampled_out",
        TrustedForwarder = "trusted_forwarder",
        MailingList = "mailing_list",
        LocalPolicy = "local_policy",
        PolicyTestMode = "policy_test_mode",
        Other = "other",
    }
}

xml_enum! {
    /// `<auth_results><dkim><result>`.
    DkimResult {
        None = "none",
        Pass = "pass",
        Fail = "fail",
        Policy = "policy",
        Neutral = "neutral",
        TempError = "temperror",
        PermError = "permerror",
    }
}

xml_enum! {
    /// `<auth_results><spf><result>`. The parser maps `hardfail` (not in any specification,
    /// sent by some reporters) to `Fail` with a warning.
    SpfResult {
        None = "none",
        Pass = "pass",
        Fail = "fail",
        SoftFail = "softfail",
        Policy = "policy",
        Neutral = "neutral",
        TempError = "temperror",
        PermError = "permerror",
    }
}

xml_enum! {
    /// `<auth_results><spf><scope>`.
    SpfScope { Mfrom = "mfrom", Helo = "helo" }
}

xml_enum! {
    /// `<policy_published><testing>` (RFC 9990).
    Testing { No = "n", Yes = "y" }
}

xml_enum! {
    /// `<policy_published><discovery_method>` (RFC 9990).
    DiscoveryMethod { Psl = "psl", TreeWalk = "treewalk" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_are_trimmed_and_case_insensitive() {
        assert_eq!(DkimResult::from_xml(" PASS\n"), DkimResult::Pass);
        assert_eq!(Disposition::from_xml("Quarantine"), Disposition::Quarantine);
        assert_eq!(SpfResult::from_xml("SoftFail"), SpfResult::SoftFail);
    }

    #[test]
    fn unknown_enum_values_are_preserved() {
        let value = SpfResult::from_xml(" Unknown ");
        assert_eq!(value, SpfResult::Unknown("unknown".into()));
        assert_eq!(value.as_str(), "unknown");
        assert!(value.is_unknown());
    }
}

/// A DMARC failure report (RFC 6591): one message that failed authentication, as a receiver
/// described it, either in an ARF report (RFC 5965, `Feedback-Type: auth-failure`) or in the
/// text-only notice some MTAs send instead (Exim's).
///
/// The body of the reported message is never read into it. The fields that can identify a
/// person (`original_mail_from`, `original_rcpt_to`, `from`, `subject`, and the local parts
/// inside `authentication_results`) are filled by the parser and removed by
/// [`FailureReport::apply_privacy`], which every caller that stores or shows a report applies
/// first; the domains of those addresses are kept in their own fields.
///
/// The serde names are the JSON contract of `ruadb parse` (`kind: "failure"` objects); the
/// kept-only fields appear only when they hold something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureReport {
    /// Who sent the report: the domain of the report mail's `From` (else its
    /// `Reporting-MTA`).
    pub reporter: Option<DomainName>,
    /// `Arrival-Date` (or `Received-Date`), unix seconds: when the reported message arrived.
    pub arrival: Option<i64>,
    /// `Source-IP`: where the reported message came from.
    pub source_ip: Option<IpAddr>,
    /// `Reported-Domain` (else the domain of the original `From`): whose failure this is.
    pub reported_domain: DomainName,
    /// `Auth-Failure` (RFC 6591 §3.2.2: `dmarc`, `spf`, `bodyhash`, `signature`, `revoked`,
    /// `adsp`, …), lowercase.
    pub auth_failure: Option<String>,
    /// The domain of the original message's `From` header.
    pub from_domain: Option<DomainName>,
    /// `DKIM-Domain`.
    pub dkim_domain: Option<DomainName>,
    /// `DKIM-Selector`.
    pub dkim_selector: Option<String>,
    /// `Delivery-Result` (RFC 6591 §3.2.3: `delivered`, `spam`, `policy`, `reject`, `other`),
    /// lowercase.
    pub delivery_result: Option<String>,
    /// Which layout the report came in.
    pub format: FailureFormat,
    /// `User-Agent`: the software that wrote the report.
    pub user_agent: Option<String>,
    /// `Identity-Alignment` (`none`, or `spf`, `dkim` or both, comma-separated), lowercase.
    pub identity_alignment: Option<String>,
    /// `Authentication-Results` as the reporter wrote it (unfolded; local parts removed
    /// unless addresses are kept).
    pub authentication_results: Option<String>,
    /// The domain of `Original-Mail-From` (the SMTP envelope sender).
    pub mail_from_domain: Option<DomainName>,
    /// The domains of `Original-Rcpt-To` (the SMTP recipients), in order, without repeats.
    pub rcpt_to_domains: Vec<DomainName>,
    /// The original message's `Message-ID`.
    pub message_id: Option<String>,
    /// The original message's `Date`, unix seconds.
    pub date: Option<i64>,
    /// What was tolerated while reading.
    pub warnings: Vec<Warning>,
    /// `Original-Mail-From`, whole (kept only with `keep_addresses`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_mail_from: Option<String>,
    /// `Original-Rcpt-To`, whole (kept only with `keep_addresses`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub original_rcpt_to: Vec<String>,
    /// The address in the original `From` header (kept only with `keep_addresses`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The original `Subject`, decoded (kept only with `keep_subjects`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// The layout a failure report came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureFormat {
    /// An ARF report (RFC 5965 / RFC 6591): a `message/feedback-report` part.
    Arf,
    /// A text-only notice (Exim's "A message claiming to be from you has failed the published
    /// DMARC policy"), fields as `Name: value` lines and the original header pasted below.
    Text,
}

impl FailureFormat {
    /// The value used in JSON output and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureFormat::Arf => "arf",
            FailureFormat::Text => "text",
        }
    }
}

/// What of a failure report may be kept beyond domains: the `[failure_reports]` settings.
/// The default keeps neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailurePrivacy {
    /// Keep whole addresses (`Original-Mail-From`, `Original-Rcpt-To`, `From`, and the local
    /// parts in `Authentication-Results`).
    pub keep_addresses: bool,
    /// Keep the original `Subject`.
    pub keep_subjects: bool,
}

impl FailureReport {
    /// Removes what `privacy` does not keep: the one rule for what of a failure report may
    /// be stored or shown. Domains stay (`mail_from_domain`, `rcpt_to_domains`,
    /// `from_domain`).
    pub fn apply_privacy(&mut self, privacy: FailurePrivacy) {
        if !privacy.keep_addresses {
            self.original_mail_from = None;
            self.original_rcpt_to.clear();
            self.from = None;
            if let Some(results) = &mut self.authentication_results {
                *results = crate::failure::without_local_parts(results);
            }
        }
        if !privacy.keep_subjects {
            self.subject = None;
        }
    }
}

/// An SMTP TLS report (RFC 8460 §4), as one value: TLS reports are small, and their policies
/// and failure details are capped by the parser.
///
/// The serde names are the JSON contract of `ruadb parse` (`kind: "tlsrpt"` objects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsReport {
    /// `organization-name`: who sent the report.
    pub organization_name: String,
    /// `contact-info` (some reporters send `null`).
    pub contact_info: Option<String>,
    /// `report-id`.
    pub report_id: String,
    /// `date-range.start-datetime`, unix seconds.
    pub begin: i64,
    /// `date-range.end-datetime`, unix seconds.
    pub end: i64,
    /// `policies[]`.
    pub policies: Vec<TlsPolicy>,
    /// What was tolerated while reading.
    pub warnings: Vec<Warning>,
}

impl TlsReport {
    /// Roughly the bytes the report holds on the heap (its text and its lists' entries): what
    /// handing it to another thread keeps in memory. The parser bounds it through its caps
    /// ([`crate::MAX_TLS_REPORT_BYTES`] of text, [`crate::MAX_TLS_POLICIES`],
    /// [`crate::MAX_TLS_FAILURE_DETAILS`]).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let optional = |text: &Option<String>| text.as_ref().map_or(0, String::len);
        let texts = |texts: &[String]| {
            texts.iter().map(String::len).sum::<usize>() + std::mem::size_of_val(texts)
        };
        let policies: usize = self
            .policies
            .iter()
            .map(|policy| {
                let details: usize = policy
                    .failure_details
                    .iter()
                    .map(|detail| {
                        size_of::<TlsFailureDetail>()
                            + detail.result_type.len()
                            + optional(&detail.receiving_mx_hostname)
                            + optional(&detail.receiving_mx_helo)
                            + optional(&detail.additional_information)
                            + optional(&detail.failure_reason_code)
                    })
                    .sum();
                size_of::<TlsPolicy>()
                    + policy
                        .policy_domain
                        .as_ref()
                        .map_or(0, |domain| domain.len())
                    + texts(&policy.policy_strings)
                    + texts(&policy.mx_hosts)
                    + details
            })
            .sum();
        let warnings: usize = self
            .warnings
            .iter()
            .map(|warning| size_of::<Warning>() + warning.0.len())
            .sum();
        self.organization_name.len()
            + optional(&self.contact_info)
            + self.report_id.len()
            + policies
            + warnings
    }
}

/// One entry of a TLS report's `policies[]`: the policy applied and its sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsPolicy {
    /// `policy.policy-type`.
    pub policy_type: TlsPolicyType,
    /// `policy.policy-domain` (absent in some reports, then `None`).
    pub policy_domain: Option<DomainName>,
    /// `policy.policy-string[]`: the MTA-STS policy or TLSA records as the sender saw them.
    pub policy_strings: Vec<String>,
    /// `policy.mx-host[]`.
    pub mx_hosts: Vec<String>,
    /// `summary.total-successful-session-count`.
    pub successful_sessions: u64,
    /// `summary.total-failure-session-count`.
    pub failed_sessions: u64,
    /// `failure-details[]`.
    pub failure_details: Vec<TlsFailureDetail>,
}

/// One entry of `failure-details[]`: sessions that failed the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFailureDetail {
    /// `result-type`, e.g. `certificate-expired`, `starttls-not-supported`,
    /// `sts-policy-fetch-error` (RFC 8460 §4.3; kept as written).
    pub result_type: String,
    /// `sending-mta-ip`.
    pub sending_mta_ip: Option<IpAddr>,
    /// `receiving-mx-hostname`.
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-mx-helo`.
    pub receiving_mx_helo: Option<String>,
    /// `receiving-ip`.
    pub receiving_ip: Option<IpAddr>,
    /// `failed-session-count`.
    pub failed_sessions: u64,
    /// `additional-information` (a URI, by the RFC; free text in practice).
    pub additional_information: Option<String>,
    /// `failure-reason-code`.
    pub failure_reason_code: Option<String>,
}

/// `policy-type` (RFC 8460 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TlsPolicyType {
    /// `sts`: an MTA-STS policy (RFC 8461).
    Sts,
    /// `tlsa`: DANE TLSA records (RFC 7672).
    Tlsa,
    /// `no-policy-found`.
    NoPolicyFound,
    /// Anything else, as written (empty when absent).
    Other(String),
}

impl TlsPolicyType {
    /// The type from its JSON text (case-insensitive).
    pub fn from_json(raw: &str) -> TlsPolicyType {
        match raw.trim().to_ascii_lowercase().as_str() {
            "sts" => TlsPolicyType::Sts,
            "tlsa" => TlsPolicyType::Tlsa,
            "no-policy-found" => TlsPolicyType::NoPolicyFound,
            _ => TlsPolicyType::Other(raw.to_owned()),
        }
    }

    /// The JSON text, as stored and shown.
    pub fn as_str(&self) -> &str {
        match self {
            TlsPolicyType::Sts => "sts",
            TlsPolicyType::Tlsa => "tlsa",
            TlsPolicyType::NoPolicyFound => "no-policy-found",
            TlsPolicyType::Other(other) => other,
        }
    }
}

impl Serialize for TlsPolicyType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
