//! Writes one aggregate report as XML, streaming, in a reporter's house style.

use crate::reporters::{Reporter, Style};
use crate::rng::Rng;
use crate::sources::{PickSource, Scenario};
use std::io::{self, Write};
use std::net::IpAddr;

/// The DMARC record of a policy domain, as reporters echo it in `<policy_published>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainPolicy {
    /// The policy domain.
    pub domain: String,
    /// `p=`: `none`, `quarantine` or `reject`.
    pub policy: &'static str,
    /// `pct=`.
    pub percent: u8,
}

impl DomainPolicy {
    /// The default set of policy domains: one per policy, so every disposition occurs.
    pub fn defaults() -> Vec<DomainPolicy> {
        vec![
            DomainPolicy::new("example.com", "reject"),
            DomainPolicy::new("example.org", "quarantine"),
            DomainPolicy::new("example.net", "none"),
        ]
    }

    /// A domain with the given policy and `pct=100`.
    pub fn new(domain: &str, policy: &'static str) -> DomainPolicy {
        DomainPolicy {
            domain: domain.to_owned(),
            policy,
            percent: 100,
        }
    }
}

/// Everything needed to write one report; the records are drawn while writing.
#[derive(Debug, Clone)]
pub struct ReportPlan<'a> {
    /// Who sends it.
    pub reporter: &'a Reporter,
    /// `<report_id>`.
    pub report_id: String,
    /// The published policy.
    pub policy: &'a DomainPolicy,
    /// `<date_range><begin>`.
    pub begin: i64,
    /// `<date_range><end>`.
    pub end: i64,
    /// How many `<record>`s to write.
    pub records: RecordBudget,
}

/// When to stop writing records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordBudget {
    /// Exactly this many records.
    Count(u64),
    /// Records until the document has at least this many bytes.
    Bytes(u64),
}

/// What a written report contains: the numbers a parser must find again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// `<record>` elements.
    pub records: u64,
    /// Sum of `<count>`.
    pub messages: u64,
    /// Bytes of XML.
    pub bytes: u64,
}

/// One record as written: what a reader of the report must find again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordWritten {
    /// `<source_ip>`.
    pub source_ip: IpAddr,
    /// `<count>`.
    pub messages: u64,
    /// The record passes DMARC: its DKIM or SPF result is aligned (the generator writes
    /// `policy_evaluated` and `auth_results` that agree, so a reader that recomputes
    /// alignment from the results arrives at the same verdict).
    pub dmarc_pass: bool,
}

/// Counts bytes on their way to the inner writer.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Element writer honouring the style: indentation, line endings, padded or upper-case values.
struct Doc<'s, W> {
    out: Counting<W>,
    style: &'s Style,
}

impl<W: Write> Doc<'_, W> {
    fn indent(&mut self, depth: usize) -> io::Result<()> {
        if !self.style.one_line {
            for _ in 0..depth {
                self.out.write_all(b"  ")?;
            }
        }
        Ok(())
    }

    fn end_line(&mut self) -> io::Result<()> {
        if self.style.one_line {
            Ok(())
        } else if self.style.crlf {
            self.out.write_all(b"\r\n")
        } else {
            self.out.write_all(b"\n")
        }
    }

    fn open(&mut self, depth: usize, name: &str) -> io::Result<()> {
        self.indent(depth)?;
        write!(self.out, "<{name}>")?;
        self.end_line()
    }

    fn close(&mut self, depth: usize, name: &str) -> io::Result<()> {
        self.indent(depth)?;
        write!(self.out, "</{name}>")?;
        self.end_line()
    }

    /// A text element. Values are escaped; `padded` adds the stray whitespace some reporters
    /// (Yahoo) put around values.
    fn leaf(&mut self, depth: usize, name: &str, value: &str) -> io::Result<()> {
        self.indent(depth)?;
        write!(self.out, "<{name}>")?;
        escape_into(&mut self.out, value)?;
        if self.style.padded_values {
            self.out.write_all(b" ")?;
        }
        write!(self.out, "</{name}>")?;
        self.end_line()
    }

    /// An enumerated value (`pass`, `none`…), upper-cased initial for reporters that do that.
    fn word(&mut self, depth: usize, name: &str, value: &str) -> io::Result<()> {
        if self.style.capitalised_words {
            let mut capitalised = value.to_owned();
            if let Some(first) = capitalised.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            self.leaf(depth, name, &capitalised)
        } else {
            self.leaf(depth, name, value)
        }
    }
}

fn escape_into(out: &mut impl Write, value: &str) -> io::Result<()> {
    let mut rest = value;
    while let Some(position) = rest.find(['<', '>', '&', '"']) {
        out.write_all(&rest.as_bytes()[..position])?;
        out.write_all(match rest.as_bytes()[position] {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            _ => b"&quot;",
        })?;
        rest = &rest[position + 1..];
    }
    out.write_all(rest.as_bytes())
}

/// Writes the report described by `plan` to `out`; records are drawn from `rng` and `sources`.
pub(crate) fn write_report<W: Write>(
    out: W,
    plan: &ReportPlan<'_>,
    sources: &impl PickSource,
    rng: &mut Rng,
) -> io::Result<Written> {
    write_report_observed(out, plan, sources, rng, &mut |_| {})
}

/// [`write_report`], handing `observe` each record as it is written.
pub(crate) fn write_report_observed<W: Write>(
    out: W,
    plan: &ReportPlan<'_>,
    sources: &impl PickSource,
    rng: &mut Rng,
    observe: &mut dyn FnMut(&RecordWritten),
) -> io::Result<Written> {
    let style = &plan.reporter.style;
    let mut doc = Doc {
        out: Counting {
            inner: out,
            bytes: 0,
        },
        style,
    };
    if style.bom {
        doc.out.write_all("\u{feff}".as_bytes())?;
    }
    if let Some(encoding) = style.declared_encoding {
        write!(doc.out, r#"<?xml version="1.0" encoding="{encoding}"?>"#)?;
        doc.end_line()?;
    }
    if style.rfc9990 {
        doc.out
            .write_all(br#"<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">"#)?;
    } else {
        doc.out.write_all(b"<feedback>")?;
    }
    doc.end_line()?;
    if let Some(version) = style.version {
        doc.leaf(1, "version", version)?;
    }
    write_metadata(&mut doc, plan)?;
    write_policy(&mut doc, plan)?;

    let mut written = Written::default();
    loop {
        let more = match plan.records {
            RecordBudget::Count(count) => written.records < count,
            RecordBudget::Bytes(bytes) => doc.out.bytes < bytes,
        };
        if !more {
            break;
        }
        let record = write_record(&mut doc, plan, sources, rng)?;
        observe(&record);
        written.messages += record.messages;
        written.records += 1;
    }
    doc.out.write_all(b"</feedback>")?;
    doc.end_line()?;
    doc.out.flush()?;
    written.bytes = doc.out.bytes;
    Ok(written)
}

fn write_metadata<W: Write>(doc: &mut Doc<'_, W>, plan: &ReportPlan<'_>) -> io::Result<()> {
    let reporter = plan.reporter;
    doc.open(1, "report_metadata")?;
    doc.leaf(2, "org_name", &reporter.org_name)?;
    doc.leaf(2, "email", &reporter.email)?;
    if let Some(info) = &reporter.extra_contact_info {
        doc.leaf(2, "extra_contact_info", info)?;
    }
    doc.leaf(2, "report_id", &plan.report_id)?;
    doc.open(2, "date_range")?;
    doc.leaf(3, "begin", &plan.begin.to_string())?;
    doc.leaf(3, "end", &plan.end.to_string())?;
    doc.close(2, "date_range")?;
    if doc.style.rfc9990 {
        doc.leaf(
            2,
            "generator",
            &format!("{} DMARC reporter 2.1", reporter.org_name),
        )?;
    }
    doc.close(1, "report_metadata")
}

fn write_policy<W: Write>(doc: &mut Doc<'_, W>, plan: &ReportPlan<'_>) -> io::Result<()> {
    let policy = plan.policy;
    doc.open(1, "policy_published")?;
    doc.leaf(2, "domain", &policy.domain)?;
    if doc.style.rfc9990 {
        doc.leaf(2, "discovery_method", "psl")?;
    }
    doc.leaf(2, "adkim", "r")?;
    doc.leaf(2, "aspf", "r")?;
    doc.word(2, "p", policy.policy)?;
    doc.word(2, "sp", policy.policy)?;
    if doc.style.rfc9990 || doc.style.np {
        doc.word(2, "np", policy.policy)?;
    }
    if doc.style.rfc9990 {
        doc.leaf(2, "testing", "n")?;
    } else {
        doc.leaf(2, "pct", &policy.percent.to_string())?;
    }
    doc.close(1, "policy_published")
}

/// Writes one `<record>`.
fn write_record<W: Write>(
    doc: &mut Doc<'_, W>,
    plan: &ReportPlan<'_>,
    sources: &impl PickSource,
    rng: &mut Rng,
) -> io::Result<RecordWritten> {
    let domain = plan.policy.domain.as_str();
    let scenario = Scenario::draw(rng);
    let source = sources.pick(scenario, rng);
    let count = scenario.message_count(rng);
    let header_from = if rng.chance(0.1) {
        format!(
            "{}.{domain}",
            *rng.pick(&["news", "mail", "billing", "info"])
        )
    } else {
        domain.to_owned()
    };
    let esp = rng.pick(ESPS);
    let forwarder = rng.pick(FORWARDERS);
    let spoofed_envelope = format!("bulk{}.example", rng.below(1000));
    let outcome = scenario.outcome(rng);
    let style = doc.style;

    let disposition = if outcome.dkim_aligned || outcome.spf_aligned {
        if style.rfc9990 && rng.chance(0.5) {
            "pass"
        } else {
            "none"
        }
    } else if scenario == Scenario::Forwarded {
        "none"
    } else {
        plan.policy.policy
    };

    doc.open(1, "record")?;
    doc.open(2, "row")?;
    doc.leaf(3, "source_ip", &source.to_string())?;
    doc.leaf(3, "count", &count.to_string())?;
    doc.open(3, "policy_evaluated")?;
    doc.word(4, "disposition", disposition)?;
    doc.word(4, "dkim", verdict(outcome.dkim_aligned))?;
    doc.word(4, "spf", verdict(outcome.spf_aligned))?;
    if scenario == Scenario::Forwarded && !outcome.dkim_aligned {
        doc.open(4, "reason")?;
        let reason = *rng.pick(&["forwarded", "mailing_list", "local_policy"]);
        doc.leaf(5, "type", reason)?;
        doc.close(4, "reason")?;
    }
    doc.close(3, "policy_evaluated")?;
    doc.close(2, "row")?;

    let envelope_from = match scenario {
        Scenario::Aligned | Scenario::Forwarded => header_from.clone(),
        Scenario::EspAligned | Scenario::EspMisaligned => esp.bounce_domain.to_owned(),
        Scenario::Spoofed => spoofed_envelope,
    };
    doc.open(2, "identifiers")?;
    if style.envelope_to {
        doc.leaf(3, "envelope_to", domain)?;
    }
    if style.envelope_from {
        doc.leaf(3, "envelope_from", &envelope_from)?;
    }
    doc.leaf(3, "header_from", &header_from)?;
    doc.close(2, "identifiers")?;

    doc.open(2, "auth_results")?;
    let spf_domain = match scenario {
        Scenario::Forwarded => (*forwarder).to_owned(),
        _ => envelope_from,
    };
    let spf_result = match scenario {
        Scenario::Aligned | Scenario::EspAligned | Scenario::EspMisaligned => "pass",
        Scenario::Forwarded => *rng.pick(&["fail", "softfail", "neutral", "pass"]),
        Scenario::Spoofed => *rng.pick(&["fail", "softfail", "none", "permerror"]),
    };
    if style.spf_first {
        write_spf(doc, &spf_domain, spf_result)?;
    }
    match scenario {
        Scenario::Aligned => write_dkim(doc, domain, "selector1", "pass")?,
        Scenario::EspAligned => {
            write_dkim(doc, domain, "s1", "pass")?;
            write_dkim(doc, esp.dkim_domain, "esp1", "pass")?;
        }
        Scenario::EspMisaligned => write_dkim(doc, esp.dkim_domain, "esp1", "pass")?,
        Scenario::Forwarded => {
            let result = if outcome.dkim_aligned { "pass" } else { "fail" };
            write_dkim(doc, domain, "selector1", result)?;
        }
        Scenario::Spoofed => {
            if rng.chance(0.3) {
                write_dkim(doc, domain, "default", "fail")?;
            }
        }
    }
    if !style.spf_first {
        write_spf(doc, &spf_domain, spf_result)?;
    }
    doc.close(2, "auth_results")?;
    doc.close(1, "record")?;
    Ok(RecordWritten {
        source_ip: source,
        messages: count,
        dmarc_pass: outcome.dkim_aligned || outcome.spf_aligned,
    })
}

fn verdict(aligned: bool) -> &'static str {
    if aligned { "pass" } else { "fail" }
}

fn write_dkim<W: Write>(
    doc: &mut Doc<'_, W>,
    domain: &str,
    selector: &str,
    result: &str,
) -> io::Result<()> {
    doc.open(3, "dkim")?;
    doc.leaf(4, "domain", domain)?;
    if doc.style.selector {
        doc.leaf(4, "selector", selector)?;
    }
    doc.word(4, "result", result)?;
    doc.close(3, "dkim")
}

fn write_spf<W: Write>(doc: &mut Doc<'_, W>, domain: &str, result: &str) -> io::Result<()> {
    doc.open(3, "spf")?;
    doc.leaf(4, "domain", domain)?;
    if doc.style.scope {
        doc.leaf(4, "scope", "mfrom")?;
    }
    doc.word(4, "result", result)?;
    doc.close(3, "spf")
}

/// An email service provider as it shows up in auth results.
struct Esp {
    dkim_domain: &'static str,
    bounce_domain: &'static str,
}

const ESPS: &[Esp] = &[
    Esp {
        dkim_domain: "sendgrid.net",
        bounce_domain: "em1234.sendgrid.net",
    },
    Esp {
        dkim_domain: "amazonses.com",
        bounce_domain: "eu-west-1.amazonses.com",
    },
    Esp {
        dkim_domain: "mcsv.net",
        bounce_domain: "mail47.atl11.mcsv.net",
    },
    Esp {
        dkim_domain: "mailgun.org",
        bounce_domain: "mg.mailgun.org",
    },
    Esp {
        dkim_domain: "salesforce.com",
        bounce_domain: "bnc3.mail.salesforce.com",
    },
];

/// Domains whose SPF a forwarded message is checked against.
const FORWARDERS: &[&str] = &[
    "lists.example.edu",
    "alumni.example.edu",
    "fwd.example.ac.uk",
    "relay.example.jp",
];
