//! The reporting organisations of a synthetic mailbox, modelled on what real reporters send.

use crate::rng::Rng;

/// How a reporter writes its XML. Every flag mirrors a habit of a real reporter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Style {
    /// `<version>` content, if the reporter writes one.
    pub version: Option<&'static str>,
    /// Default namespace `urn:ietf:params:xml:ns:dmarc-2.0` and the RFC 9990 elements.
    pub rfc9990: bool,
    /// The `encoding` of the XML declaration; `None` writes no declaration.
    pub declared_encoding: Option<&'static str>,
    /// A UTF-8 byte-order mark first (old Hotmail).
    pub bom: bool,
    /// The whole document on one line (Hotmail, Mail.Ru).
    pub one_line: bool,
    /// CRLF line endings (Outlook.com).
    pub crlf: bool,
    /// A space after each value (Yahoo: `<end>1361404799 </end>`).
    pub padded_values: bool,
    /// `Pass`/`None` instead of `pass`/`none`.
    pub capitalised_words: bool,
    /// `<np>` in an RFC 7489 report (newer Google).
    pub np: bool,
    /// `<envelope_from>` in identifiers.
    pub envelope_from: bool,
    /// `<envelope_to>` in identifiers (Outlook.com, Fastmail).
    pub envelope_to: bool,
    /// `<selector>` in DKIM results.
    pub selector: bool,
    /// `<scope>` in SPF results.
    pub scope: bool,
    /// `<spf>` before `<dkim>` in auth_results (Hotmail).
    pub spf_first: bool,
}

/// The archive a reporter puts its XML in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    /// `.zip` with one member.
    Zip,
    /// `.xml.gz`.
    Gzip,
}

/// How a reporter's message is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStyle {
    /// `multipart/mixed`: a text part, then the attachment (Google, Yahoo).
    TextThenAttachment,
    /// CRLF, RFC 2047 subject, the attachment inside nested multiparts (Outlook.com).
    Nested,
    /// The whole body is the base64 attachment (Mimecast, some Google mail).
    SinglePart,
    /// `application/octet-stream` with unquoted `name=` parameters containing `!` (Amazon SES).
    OctetStreamUnquoted,
}

/// How a reporter numbers its reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdStyle {
    /// A large decimal number (Google, Mail.Ru).
    Decimal,
    /// 32 hex digits (Outlook.com).
    Hex,
    /// `<begin>.<sequence>` (Yahoo).
    EpochDotSequence,
    /// `<sequence>@<file domain>` (small ISPs, Hotmail).
    AtDomain,
}

/// One reporting organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    /// `<org_name>`, spelled as the reporter does.
    pub org_name: String,
    /// `<email>`.
    pub email: String,
    /// `<extra_contact_info>`.
    pub extra_contact_info: Option<String>,
    /// The first field of the file name (`google.com!example.com!…`).
    pub file_domain: String,
    /// Relative share of the reports in a mailbox.
    pub weight: u32,
    /// Its archive format.
    pub archive: Archive,
    /// Its mail layout.
    pub mail: MailStyle,
    /// Its report-ID format.
    pub ids: IdStyle,
    /// `end - begin`: 86399 for most, 86400 for some.
    pub period: i64,
    /// Its XML habits.
    pub style: Style,
}

impl Reporter {
    /// A report ID in this reporter's format; `sequence` makes it unique within the corpus.
    pub fn report_id(&self, begin: i64, sequence: u64, rng: &mut Rng) -> String {
        match self.ids {
            IdStyle::Decimal => {
                format!("{}{sequence:07}", rng.between(1_000_000_000, 9_999_999_999))
            }
            IdStyle::Hex => format!("{:016x}{:016x}", rng.next_u64(), sequence),
            IdStyle::EpochDotSequence => format!("{begin}.{sequence:06}"),
            IdStyle::AtDomain => format!("{sequence}.{begin}@{}", self.file_domain),
        }
    }
}

fn base_style() -> Style {
    Style {
        declared_encoding: Some("UTF-8"),
        selector: true,
        ..Style::default()
    }
}

/// Outlook.com and Enterprise Outlook: CRLF, both envelope identifiers, SPF scope.
fn outlook_style() -> Style {
    Style {
        version: Some("1.0"),
        crlf: true,
        envelope_from: true,
        envelope_to: true,
        scope: true,
        ..base_style()
    }
}

/// GMX and WEB.DE: RFC 9990 namespace and elements.
fn gmx_style() -> Style {
    Style {
        version: Some("1.0"),
        rfc9990: true,
        envelope_from: true,
        scope: true,
        ..base_style()
    }
}

struct Known {
    org_name: &'static str,
    email: &'static str,
    extra: Option<&'static str>,
    file_domain: &'static str,
    weight: u32,
    archive: Archive,
    mail: MailStyle,
    ids: IdStyle,
    period: i64,
    style: fn() -> Style,
}

const KNOWN: &[Known] = &[
    Known {
        org_name: "google.com",
        email: "noreply-dmarc-support@google.com",
        extra: Some("https://support.google.com/a/answer/2466580"),
        file_domain: "google.com",
        weight: 300,
        archive: Archive::Zip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::Decimal,
        period: 86399,
        style: || Style {
            version: Some("1.0"),
            np: true,
            ..base_style()
        },
    },
    Known {
        org_name: "Outlook.com",
        email: "dmarcreport@microsoft.com",
        extra: None,
        file_domain: "protection.outlook.com",
        weight: 120,
        archive: Archive::Gzip,
        mail: MailStyle::Nested,
        ids: IdStyle::Hex,
        period: 86400,
        style: outlook_style,
    },
    Known {
        org_name: "Enterprise Outlook",
        email: "dmarcreport@microsoft.com",
        extra: None,
        file_domain: "enterprise.protection.outlook.com",
        weight: 80,
        archive: Archive::Gzip,
        mail: MailStyle::Nested,
        ids: IdStyle::Hex,
        period: 86400,
        style: outlook_style,
    },
    Known {
        org_name: "Yahoo",
        email: "dmarchelp@yahooinc.com",
        extra: None,
        file_domain: "yahoo.com",
        weight: 100,
        archive: Archive::Gzip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::EpochDotSequence,
        period: 86399,
        style: || Style {
            padded_values: true,
            selector: false,
            ..base_style()
        },
    },
    Known {
        org_name: "Microsoft Corp.",
        email: "dmarc_agg@auth.returnpath.net",
        extra: Some("http://mail.live.com/dmarc"),
        file_domain: "hotmail.com",
        weight: 10,
        archive: Archive::Zip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::AtDomain,
        period: 86399,
        style: || Style {
            bom: true,
            one_line: true,
            spf_first: true,
            selector: false,
            ..base_style()
        },
    },
    Known {
        org_name: "Mail.Ru",
        email: "dmarc_support@corp.mail.ru",
        extra: Some("http://help.mail.ru/mail-help"),
        file_domain: "mail.ru",
        weight: 30,
        archive: Archive::Gzip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::Decimal,
        period: 86399,
        style: || Style {
            one_line: true,
            selector: false,
            ..base_style()
        },
    },
    Known {
        org_name: "Comcast.net",
        email: "dmarc_agg@comcast.net",
        extra: None,
        file_domain: "comcast.net",
        weight: 30,
        archive: Archive::Gzip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::Decimal,
        period: 86399,
        style: base_style,
    },
    Known {
        org_name: "AOL",
        email: "postmaster@aol.com",
        extra: Some("http://postmaster.aol.com/"),
        file_domain: "aol.com",
        weight: 15,
        archive: Archive::Zip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::Decimal,
        period: 86399,
        style: || Style {
            declared_encoding: Some("windows-1252"),
            capitalised_words: true,
            selector: false,
            ..base_style()
        },
    },
    Known {
        org_name: "GMX",
        email: "noreply-dmarc@gmx.net",
        extra: Some("https://postmaster.gmx.net/"),
        file_domain: "gmx.net",
        weight: 30,
        archive: Archive::Gzip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::Hex,
        period: 86399,
        style: gmx_style,
    },
    Known {
        org_name: "WEB.DE",
        email: "noreply-dmarc@web.de",
        extra: Some("https://postmaster.web.de/"),
        file_domain: "web.de",
        weight: 20,
        archive: Archive::Gzip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::Hex,
        period: 86399,
        style: gmx_style,
    },
    Known {
        org_name: "AMAZON-SES",
        email: "postmaster@amazonses.com",
        extra: None,
        file_domain: "amazonses.com",
        weight: 20,
        archive: Archive::Gzip,
        mail: MailStyle::OctetStreamUnquoted,
        ids: IdStyle::Hex,
        period: 86399,
        style: || Style {
            version: Some("0.1"),
            envelope_from: true,
            selector: false,
            ..base_style()
        },
    },
    Known {
        org_name: "Mimecast",
        email: "dmarc-report@mimecast.org",
        extra: None,
        file_domain: "mimecast.org",
        weight: 20,
        archive: Archive::Gzip,
        mail: MailStyle::SinglePart,
        ids: IdStyle::Hex,
        period: 86399,
        style: base_style,
    },
    Known {
        org_name: "FastMail Pty Ltd",
        email: "dmarc-reports@fastmail.com",
        extra: Some("https://www.fastmail.com/"),
        file_domain: "fastmail.com",
        weight: 20,
        archive: Archive::Gzip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::Decimal,
        period: 86399,
        style: || Style {
            version: Some("1.0"),
            envelope_from: true,
            envelope_to: true,
            ..base_style()
        },
    },
    Known {
        org_name: "seznam.cz a.s.",
        email: "abuse@seznam.cz",
        extra: None,
        file_domain: "seznam.cz",
        weight: 10,
        archive: Archive::Zip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::AtDomain,
        period: 86399,
        style: || Style {
            version: Some("1.0"),
            ..base_style()
        },
    },
    Known {
        org_name: "esa1.hc3345-21.iphmx.com",
        email: "dmarc-noreply@esa1.hc3345-21.iphmx.com",
        extra: Some(""),
        file_domain: "esa1.hc3345-21.iphmx.com",
        weight: 15,
        archive: Archive::Zip,
        mail: MailStyle::TextThenAttachment,
        ids: IdStyle::AtDomain,
        period: 86399,
        style: || Style {
            version: Some("1.0"),
            envelope_from: true,
            ..base_style()
        },
    },
];

/// Syllables for the names of small ISPs and companies that send a few reports each.
const NAME_PARTS: &[&str] = &[
    "kabel", "net", "nord", "tele", "fibre", "alpen", "rhein", "mail", "web", "link", "star",
    "city", "bay", "metro", "coast", "valley", "data", "wave", "hub", "zen",
];
const TLDS: &[&str] = &[
    "de", "fr", "it", "nl", "net", "com.br", "co.uk", "pl", "cz", "jp",
];

/// Every reporter of a corpus: the well-known ones and `small_isps` generated small ones.
pub fn reporters(rng: &mut Rng, small_isps: usize) -> Vec<Reporter> {
    let mut all: Vec<Reporter> = KNOWN
        .iter()
        .map(|known| Reporter {
            org_name: known.org_name.to_owned(),
            email: known.email.to_owned(),
            extra_contact_info: known.extra.map(str::to_owned),
            file_domain: known.file_domain.to_owned(),
            weight: known.weight,
            archive: known.archive,
            mail: known.mail,
            ids: known.ids,
            period: known.period,
            style: (known.style)(),
        })
        .collect();
    for index in 0..small_isps {
        let domain = format!(
            "{}{}{index}.{}",
            rng.pick(NAME_PARTS),
            rng.pick(NAME_PARTS),
            rng.pick(TLDS)
        );
        let style = Style {
            version: if rng.chance(0.5) { Some("1.0") } else { None },
            crlf: rng.chance(0.2),
            envelope_from: rng.chance(0.4),
            scope: rng.chance(0.5),
            selector: rng.chance(0.7),
            ..base_style()
        };
        all.push(Reporter {
            org_name: domain.clone(),
            email: format!("dmarc-reports@{domain}"),
            extra_contact_info: None,
            file_domain: domain,
            weight: 3,
            archive: if rng.chance(0.5) {
                Archive::Zip
            } else {
                Archive::Gzip
            },
            mail: MailStyle::TextThenAttachment,
            ids: IdStyle::AtDomain,
            period: 86399,
            style,
        });
    }
    all
}
