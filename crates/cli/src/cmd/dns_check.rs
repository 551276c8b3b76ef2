//! `ruadb dns-check`: the DMARC, SPF, DKIM and MX records of each domain checked live, the
//! findings and source coverage stored with their time (`dns_findings`, `dns_coverage`) and
//! printed, errors first.
//!
//! Domains: `--domain` (repeatable), else the configured `domains` and every policy domain with
//! reports in the last 4 weeks. The DKIM selectors and return-path domains checked are the ones
//! those reports name. DNS is asked as source identification asks it (`[identify]
//! nameservers`, timeout, budget); a lookup past the budget is "could not check".

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde::Serialize;

use ruadb_dnscheck::{Finding, Severity};
use ruadb_report::{DomainName, escape_for_terminal};
use ruadb_store::classify::Classification;
use ruadb_store::{
    DnsCheckRow, DnsCheckTarget, SourceFilter, Store, StoreOptions, StoredFinding, StoredSource,
};

use crate::Outcome;
use crate::context::Context;

/// How far back reports name the domains, selectors and return paths to check.
const LOOKBACK_SECS: i64 = 28 * 86_400;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check this domain (repeatable). Default: the configured `domains` and every policy
    /// domain with reports in the last 4 weeks.
    #[arg(long, value_name = "DOMAIN", value_parser = DomainName::parse)]
    pub domain: Vec<DomainName>,
    /// Output format: `text`, `markdown`, or `json` (an array with one object per domain).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// One domain's check as printed in JSON.
#[derive(Debug, Serialize)]
struct CheckOutput {
    domain: String,
    checked_utc: String,
    findings: Vec<Finding>,
    /// Each source of the last 4 weeks evaluated against the domain and its return paths.
    sources: Vec<Coverage>,
}

/// One source evaluated with SPF `check_host()` against one domain: the checked domain
/// (`return_path_domain` is the domain itself) or a return path the source used.
#[derive(Debug, Serialize)]
struct Coverage {
    source_ip: String,
    /// Messages of the last 4 weeks.
    messages: u64,
    /// The source's class (aligned, forwarded, misaligned, unauthenticated).
    class: String,
    return_path_domain: String,
    spf_result: &'static str,
    matched: Option<String>,
    /// For a misaligned or unauthenticated source, the change that would fix it.
    fix: Option<String>,
}

/// The most sources evaluated per domain, busiest first: each costs up to 10 lookups per
/// domain it is evaluated against (answers are cached within the run).
const MAX_SOURCES: usize = 200;

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    let path = context.db_path()?;
    let mut store = Store::open(path, StoreOptions::default())
        .with_context(|| format!("cannot open database {}", path.display()))?;
    let targets = targets(args, context, &store)?;
    if targets.is_empty() {
        bail!(
            "no domain to check: pass --domain, set `domains` in the configuration, or ingest reports first"
        );
    }
    let settings = &context.config.identify;
    let resolver = ruadb_dns::Resolver::new(&settings.resolver)
        .context("cannot start the DNS resolver for dns-check")?;
    let deadline = Instant::now() + settings.dns_budget;
    let dns = ruadb_dnscheck::LiveDns::new(&resolver, deadline);
    let mut outputs = Vec::with_capacity(targets.len());
    for target in &targets {
        let mut findings = ruadb_dnscheck::check_domain(
            &dns,
            &target.domain,
            &target.dkim_selectors,
            &target.return_path_domains,
        );
        // Errors first; the checks' own order within a severity.
        findings.sort_by_key(|finding| finding.severity);
        let sources = coverage(&dns, &store, context, &target.domain)?;
        store.save_dns_check(&DnsCheckRow {
            domain: target.domain.clone(),
            checked_utc: context.now,
            findings: findings.iter().map(stored).collect(),
            sources: sources.iter().map(stored_source).collect(),
        })?;
        outputs.push(CheckOutput {
            domain: target.domain.clone(),
            checked_utc: utc(context.now),
            findings,
            sources,
        });
    }
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&outputs)? + "\n",
        Format::Text => render_text(&outputs),
        Format::Markdown => render_markdown(&outputs),
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")?;
    let errors = outputs
        .iter()
        .flat_map(|output| &output.findings)
        .any(|finding| finding.severity == Severity::Error);
    Ok(if errors {
        Outcome::Notice
    } else {
        Outcome::Success
    })
}

/// The domains to check with what their reports of the last 4 weeks name.
fn targets(args: &Args, context: &Context, store: &Store) -> anyhow::Result<Vec<DnsCheckTarget>> {
    let since = context.now - LOOKBACK_SECS;
    let mut domains: BTreeSet<String> = args.domain.iter().map(DomainName::to_string).collect();
    if domains.is_empty() {
        domains.extend(
            context
                .config
                .domains
                .iter()
                .flatten()
                .map(DomainName::to_string),
        );
        let reported = store.dns_check_targets(since)?;
        let mut targets: Vec<DnsCheckTarget> = Vec::new();
        for target in reported {
            domains.remove(&target.domain);
            targets.push(target);
        }
        for domain in domains {
            targets.push(store.dns_check_target(&domain, since)?);
        }
        targets.sort_by(|a, b| a.domain.cmp(&b.domain));
        return Ok(targets);
    }
    Ok(domains
        .into_iter()
        .map(|domain| store.dns_check_target(&domain, since))
        .collect::<Result<_, _>>()?)
}

/// Every source of `domain` in the last 4 weeks (busiest first, at most [`MAX_SOURCES`])
/// evaluated against `domain` and each return-path domain it used, with the fix for the ones
/// that fail DMARC.
fn coverage(
    dns: &dyn ruadb_dnscheck::Dns,
    store: &Store,
    context: &Context,
    domain: &str,
) -> anyhow::Result<Vec<Coverage>> {
    let mut sources = store.sources(&SourceFilter {
        domain: Some(domain.to_owned()),
        since: Some(context.now - LOOKBACK_SECS),
        until: None,
    })?;
    sources.sort_by(|a, b| {
        b.messages
            .cmp(&a.messages)
            .then(a.source_ip.cmp(&b.source_ip))
    });
    let catalogue = crate::cmd::identify::catalogue(context).ok();
    let mut out = Vec::new();
    for source in sources.iter().take(MAX_SOURCES) {
        let Ok(ip) = source.source_ip.parse::<IpAddr>() else {
            continue;
        };
        let mut domains = vec![domain.to_owned()];
        domains.extend(
            source
                .spf_domains
                .iter()
                .map(|spf| spf.to_ascii_lowercase())
                .filter(|spf| spf != domain),
        );
        domains.dedup();
        let evaluations: Vec<(String, ruadb_dnscheck::spf::Evaluation)> = domains
            .into_iter()
            .map(|evaluated| {
                let evaluation = ruadb_dnscheck::spf::evaluate(dns, &evaluated, ip);
                (evaluated, evaluation)
            })
            .collect();
        let failing = matches!(
            source.classification,
            Classification::Misaligned | Classification::Unauthenticated
        );
        let service = source.service.as_deref().and_then(|name| {
            catalogue
                .as_ref()
                .and_then(|catalogue| catalogue.service(name))
        });
        let fix = failing.then(|| fix(dns, ip, domain, &evaluations, service));
        for (evaluated, evaluation) in evaluations {
            out.push(Coverage {
                source_ip: source.source_ip.clone(),
                messages: source.messages,
                class: source.classification.to_string(),
                fix: if evaluated == domain {
                    fix.clone()
                } else {
                    None
                },
                return_path_domain: evaluated,
                spf_result: evaluation.result,
                matched: evaluation.matched,
            });
        }
    }
    Ok(out)
}

/// The change that would make a failing source pass SPF aligned for `domain`. For a source
/// of a known service that `domain`'s SPF does not cover, the service's documented include
/// is evaluated for `ip` too, so the fix says whether adding it would cover the source.
fn fix(
    dns: &dyn ruadb_dnscheck::Dns,
    ip: IpAddr,
    domain: &str,
    evaluations: &[(String, ruadb_dnscheck::spf::Evaluation)],
    service: Option<&ruadb_identify::Service>,
) -> String {
    let covered_by_domain = evaluations
        .iter()
        .any(|(evaluated, evaluation)| evaluated == domain && evaluation.result == "pass");
    let return_path = evaluations
        .iter()
        .find(|(evaluated, _)| evaluated != domain)
        .map(|(evaluated, _)| evaluated.as_str());
    let mut fix = match (covered_by_domain, return_path) {
        (true, Some(return_path)) => format!(
            "covered by {domain}'s SPF, but the return-path is {return_path}: set a custom return-path under {domain}"
        ),
        (true, None) => format!("covered by {domain}'s SPF; sign its mail with DKIM as {domain}"),
        (false, _) => format!("not covered by {domain}'s SPF"),
    };
    if let Some(include) = service
        .filter(|_| !covered_by_domain)
        .and_then(|service| service.spf_include.as_deref())
    {
        fix.push_str(&format!("; the service's documented include is {include}"));
        let target = include.strip_prefix("include:").unwrap_or(include);
        let verdict = ruadb_dnscheck::spf::evaluate(dns, target, ip);
        if verdict.result == "pass" {
            fix.push_str(&format!(", which covers {ip}"));
        } else {
            fix.push_str(&format!(
                ", which does not cover {ip} either (SPF {})",
                verdict.result
            ));
        }
    }
    if let Some(service) = service {
        fix.push_str(&format!(
            "; {}: {}",
            service.name,
            service.setup_for(domain)
        ));
    }
    fix
}

fn stored(finding: &Finding) -> StoredFinding {
    StoredFinding {
        code: finding.code.as_str().to_owned(),
        severity: finding.severity.as_str().to_owned(),
        message: finding.message.clone(),
        record: finding.record.clone(),
    }
}

fn stored_source(source: &Coverage) -> StoredSource {
    StoredSource {
        source_ip: source.source_ip.clone(),
        messages: source.messages,
        class: source.class.clone(),
        return_path_domain: source.return_path_domain.clone(),
        spf_result: source.spf_result.to_owned(),
        matched: source.matched.clone(),
        fix: source.fix.clone(),
    }
}

/// Unix seconds as ISO 8601 UTC, as the summary's JSON writes times.
fn utc(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0).map_or_else(
        || seconds.to_string(),
        |time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

fn render_text(outputs: &[CheckOutput]) -> String {
    let mut out = String::new();
    for output in outputs {
        let _ = writeln!(
            out,
            "{} (checked {})",
            escape_for_terminal(&output.domain),
            output.checked_utc
        );
        for finding in &output.findings {
            let _ = writeln!(
                out,
                "  {:<5}  {}  {}",
                finding.severity.as_str(),
                finding.code,
                escape_for_terminal(&finding.message)
            );
            if finding.severity != Severity::Ok
                && let Some(record) = &finding.record
            {
                for line in record.lines() {
                    let _ = writeln!(out, "         record: {}", escape_for_terminal(line));
                }
            }
        }
        if !output.sources.is_empty() {
            let _ = writeln!(
                out,
                "  sources (SPF check_host against the domain and each return path):"
            );
        }
        for source in &output.sources {
            let _ = writeln!(
                out,
                "    {} {} msgs {}: {} {}{}",
                source.source_ip,
                source.messages,
                source.class,
                escape_for_terminal(&source.return_path_domain),
                source.spf_result,
                source
                    .matched
                    .as_deref()
                    .map(|matched| format!(" ({})", escape_for_terminal(matched)))
                    .unwrap_or_default()
            );
            if let Some(fix) = &source.fix {
                let _ = writeln!(out, "      fix: {}", escape_for_terminal(fix));
            }
        }
        out.push('\n');
    }
    out
}

fn render_markdown(outputs: &[CheckOutput]) -> String {
    use ruadb_summary::escape_markdown as escape;
    let mut out = String::new();
    for output in outputs {
        let _ = writeln!(out, "## {}\n", escape(&output.domain));
        let _ = writeln!(out, "Checked {}.\n", output.checked_utc);
        let _ = writeln!(out, "| severity | code | finding | record |");
        let _ = writeln!(out, "|---|---|---|---|");
        for finding in &output.findings {
            let record = finding.record.as_deref().unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                finding.severity.as_str(),
                escape(finding.code.as_str()),
                escape(&finding.message),
                escape(&record.replace('\n', " / "))
            );
        }
        if !output.sources.is_empty() {
            let _ = writeln!(
                out,
                "\n| source | messages | class | SPF of | result | matched | fix |"
            );
            let _ = writeln!(out, "|---|---:|---|---|---|---|---|");
        }
        for source in &output.sources {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                escape(&source.source_ip),
                source.messages,
                source.class,
                escape(&source.return_path_domain),
                source.spf_result,
                escape(source.matched.as_deref().unwrap_or_default()),
                escape(source.fix.as_deref().unwrap_or_default())
            );
        }
        out.push('\n');
    }
    out
}
