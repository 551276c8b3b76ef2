//! `ruadb summary`: the weekly summary, meant to be mailed by cron.
//!
//! The period defaults to the last complete ISO week (UTC) at the context's `now`; everything
//! else is `ruadb_summary::summarise`, a pure function of the database and the period.

use std::io::{self, Write};

use anyhow::{Context as _, bail};
use chrono::NaiveDate;

use ruadb_report::DomainName;
use ruadb_store::Store;
use ruadb_summary::{
    DomainByDomain, Envelope, Period, Severity, WriteError, email, render_email, render_html,
};

use crate::Outcome;
use crate::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// ISO week to summarise, e.g. 2026-W47. Default: the last complete week (UTC).
    #[arg(long, value_name = "YYYY-Www", conflicts_with_all = ["since", "until"])]
    pub week: Option<String>,
    /// First day of a custom period (YYYY-MM-DD, UTC, included). Needs --until.
    #[arg(long, value_name = "DATE", requires = "until")]
    pub since: Option<NaiveDate>,
    /// First day after a custom period (YYYY-MM-DD, UTC, not included). Needs --since.
    #[arg(long, value_name = "DATE", requires = "since")]
    pub until: Option<NaiveDate>,
    /// Only this policy domain (listed even when no report arrived for it).
    #[arg(long, value_name = "DOMAIN", value_parser = DomainName::parse)]
    pub domain: Option<DomainName>,
    /// Output format: `text` (80 columns, for mail), `markdown`, `json`, `html` (one
    /// self-contained document with charts), or `email` (a complete mail with the text and the
    /// HTML, for `sendmail -t`; needs --from and --to).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// With --format email: the sender's address (`From:`), e.g. dmarc@example.com.
    #[arg(long, value_name = "ADDR")]
    pub from: Option<String>,
    /// With --format email: the recipients (`To:`), comma-separated or repeated.
    #[arg(long, value_name = "ADDR[,ADDR]", value_delimiter = ',')]
    pub to: Vec<String>,
    /// List alerts at the top (and in JSON's `alerts`) and set the exit status: 0 nothing to
    /// look at, 1 something to look at, 2 action needed (thresholds: `[alerts]`).
    #[arg(long)]
    pub alerts: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
    Html,
    Email,
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    let period = period(args, context.now)?;
    let addresses = addresses(args)?;
    let path = context.existing_db_path()?;
    let store =
        Store::open_read_only(path).with_context(|| format!("cannot open {}", path.display()))?;
    let configured = context.config.domains.as_deref().unwrap_or_default();
    let mut summary = DomainByDomain::new(&store, period, args.domain.as_ref(), configured)
        .context("cannot compute the summary")?;
    let outcome = if args.alerts {
        let alerts = summary
            .add_alerts(&context.config.alerts)
            .context("cannot compute the summary")?;
        match ruadb_summary::alerts::worst(alerts) {
            None => Outcome::Success,
            Some(Severity::Notice) => Outcome::Notice,
            Some(Severity::Action) => Outcome::ActionNeeded,
        }
    } else {
        Outcome::Success
    };
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    // Text, Markdown and JSON are written a domain at a time (memory for one domain, however
    // many there are); the HTML document and the mail are laid out whole.
    let written = match args.format {
        Format::Text => summary.write_text(&mut stdout),
        Format::Markdown => summary.write_markdown(&mut stdout),
        Format::Json => summary.write_json(&mut stdout),
        Format::Html | Format::Email => {
            let summary = summary.collect().context("cannot compute the summary")?;
            let output = if args.format == Format::Html {
                render_html(&summary)
            } else {
                let (from, to) = addresses.context("--format email needs --from and --to")?;
                let envelope = Envelope {
                    message_id: email::message_id(&summary, from, context.now, std::process::id()),
                    from: from.to_owned(),
                    to: to.to_vec(),
                    date: context.now,
                };
                // A pipe to `sendmail -t` takes a message in the local convention, lines
                // ending in LF; the MTA writes CRLF on the wire (CRLF on the pipe doubles line
                // ends in some).
                render_email(&summary, &envelope)?.replace("\r\n", "\n")
            };
            stdout
                .write_all(output.as_bytes())
                .map_err(WriteError::from)
        }
    };
    match written.and_then(|()| stdout.flush().map_err(WriteError::from)) {
        Ok(()) => Ok(outcome),
        Err(WriteError::Store(error)) => Err(error).context("cannot compute the summary"),
        Err(error @ WriteError::Io(_)) => Err(error).context("cannot write to stdout"),
    }
}

/// `--from` and `--to`, checked: both for `--format email` (`None` when neither is given),
/// neither with another format.
fn addresses(args: &Args) -> anyhow::Result<Option<(&str, &[String])>> {
    let email = args.format == Format::Email;
    match (&args.from, args.to.as_slice()) {
        (None, []) if email => bail!("--format email needs --from ADDR and --to ADDR[,ADDR]"),
        (None, []) => Ok(None),
        _ if !email => bail!("--from and --to go with --format email"),
        (None, _) => bail!("--format email needs --from ADDR (the sender)"),
        (Some(_), []) => bail!("--format email needs --to ADDR[,ADDR] (the recipients)"),
        (Some(from), to) => {
            email::check_address(from).context("--from")?;
            for address in to {
                email::check_address(address).context("--to")?;
            }
            Ok(Some((from.as_str(), to)))
        }
    }
}

/// The period the arguments name: `--week`, `--since`/`--until`, or the last complete week.
fn period(args: &Args, now: i64) -> anyhow::Result<Period> {
    if let Some(week) = &args.week {
        return Ok(week.parse()?);
    }
    match (args.since, args.until) {
        (Some(since), Some(until)) => Ok(Period::from_dates(since, until)?),
        // clap's `requires` makes one without the other unreachable; say so anyway.
        (Some(_), None) | (None, Some(_)) => anyhow::bail!("--since and --until go together"),
        (None, None) => Ok(Period::last_complete_week(now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(week: Option<&str>, since: Option<&str>, until: Option<&str>) -> Args {
        Args {
            week: week.map(str::to_owned),
            since: since.map(|day| day.parse().unwrap()),
            until: until.map(|day| day.parse().unwrap()),
            domain: None,
            format: Format::Text,
            from: None,
            to: Vec::new(),
            alerts: false,
        }
    }

    #[test]
    fn the_default_is_the_last_complete_week() {
        // Monday 2026-11-23 07:00 UTC: the week that just ended is 2026-W47.
        let now = 1_795_417_200;
        let period = period(&args(None, None, None), now).unwrap();
        assert_eq!(period.iso_week_label().as_deref(), Some("2026-W47"));
    }

    #[test]
    fn week_and_dates_are_honoured() {
        let week = period(&args(Some("2020-W53"), None, None), 0).unwrap();
        assert_eq!(week, Period::iso_week(2020, 53).unwrap());
        let days = period(&args(None, Some("2026-11-01"), Some("2026-12-01")), 0).unwrap();
        assert_eq!(days.len(), 30 * 86_400);
        let error = period(&args(Some("2026-W60"), None, None), 0).unwrap_err();
        assert!(error.to_string().contains("not an ISO week"), "{error}");
        assert!(period(&args(None, Some("2026-11-02"), Some("2026-11-01")), 0).is_err());
    }

    #[test]
    fn configured_domains_without_reports_are_listed() {
        let mut store = Store::open_in_memory(ruadb_store::StoreOptions::default()).unwrap();
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/summary/2026-11-18-mail.example.org-example.org.xml"
        );
        let mut batch = store.begin_batch().unwrap();
        let source = ruadb_store::MessageSource::File {
            path: fixture.to_owned(),
        };
        let outcome = batch
            .ingest_bytes(&std::fs::read(fixture).unwrap(), &source)
            .unwrap();
        batch.commit().unwrap();
        assert_eq!(outcome.reports_new, 1);

        let week = Period::iso_week(2026, 47).unwrap();
        let configured = [
            DomainName::new("example.net"),
            DomainName::new("example.org"),
        ];
        let summary = DomainByDomain::new(&store, week, None, &configured)
            .unwrap()
            .collect()
            .unwrap();
        let listed: Vec<(&str, u64)> = summary
            .domains
            .iter()
            .map(|domain| (domain.domain.as_str(), domain.totals.reports))
            .collect();
        assert_eq!(listed, [("example.net", 0), ("example.org", 1)]);
        assert!(
            ruadb_summary::render_text(&summary).contains("No reports received for example.net")
        );

        let only = DomainByDomain::new(&store, week, Some(&configured[0]), &configured)
            .unwrap()
            .collect()
            .unwrap();
        assert_eq!(only.domains.len(), 1);
    }

    #[test]
    fn clap_refuses_week_with_dates() {
        use clap::Parser;
        let parsed = crate::cli::Cli::try_parse_from([
            "ruadb",
            "summary",
            "--week",
            "2026-W47",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-08",
        ]);
        assert!(parsed.is_err());
        let parsed = crate::cli::Cli::try_parse_from(["ruadb", "summary", "--since", "2026-11-01"]);
        assert!(parsed.is_err(), "--since needs --until");
        let parsed = crate::cli::Cli::try_parse_from([
            "ruadb", "summary", "--week", "2026-W47", "--format", "markdown",
        ]);
        assert!(parsed.is_ok());
    }
}
