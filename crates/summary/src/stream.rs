//! The summary of many domains, computed and written one domain at a time.
//!
//! A mail service provider's week has a thousand domains and hundreds of thousands of sources;
//! the whole [`Summary`] of it (every source of every domain, with its results and reporters)
//! does not fit the memory a cron job should take, and its JSON is hundreds of megabytes. So
//! [`DomainByDomain`] first lists the domains (from the reports alone, no records), then
//! summarises each domain on its own ([`summarise`](crate::summarise) of that domain) and writes it before the
//! next is read: memory holds one domain. The output is byte for byte what rendering the whole
//! summary gives, because the whole summary is, domain by domain, the same fold.

use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::sync::mpsc;

use ruadb_report::DomainName;
use ruadb_store::{ReportFilter, Store, StoreError};

use super::compute::Windows;
use super::identity::IdentityCache;
use super::markdown::Markdown;
use super::period::{DAY, report_midpoint};
use super::render::{PartWriter, render_domain, render_start};
use super::text::Text;
use super::tls::TlsBuilder;
use super::{
    Alert, AlertThresholds, DomainSummary, Period, Summary, alerts,
    load::{Loaded, NameCache, load, summarise_with},
};

/// Why writing a summary failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Reading the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the output failed.
    #[error("cannot write the summary: {0}")]
    Io(#[from] std::io::Error),
}

/// A summary of a period, computed one domain at a time: what every domain shares (the
/// periods, the alerts when asked for) and the names of the domains, in the order shown.
pub struct DomainByDomain<'s> {
    store: &'s Store,
    head: Summary,
    domains: Vec<DomainName>,
    /// The identities of shared sources, looked up once for all domains.
    identities: RefCell<IdentityCache>,
}

impl<'s> DomainByDomain<'s> {
    /// The summary of `period` for `domain` alone (listed even without reports), or for every
    /// domain with reports in the period or the baseline weeks, or with TLS reports in the
    /// period, and every domain of `also` (listed with "no reports received" when nothing
    /// came: a configured domain that went quiet is how a broken pipeline gets noticed).
    pub fn new(
        store: &'s Store,
        period: Period,
        domain: Option<&DomainName>,
        also: &[DomainName],
    ) -> Result<DomainByDomain<'s>, StoreError> {
        let domains = match domain {
            Some(domain) => vec![domain.clone()],
            None => {
                let mut names = listed_domains(store, period)?;
                names.extend(also.iter().map(DomainName::to_string));
                names.iter().map(|name| DomainName::new(name)).collect()
            }
        };
        let windows = Windows::new(period);
        Ok(DomainByDomain {
            store,
            head: Summary {
                alerts: None,
                period: windows.current,
                previous_period: windows.previous,
                baseline: windows.baseline,
                domains: Vec::new(),
            },
            domains,
            identities: RefCell::default(),
        })
    }

    /// The summary without its domains: the periods, and the alerts once
    /// [`DomainByDomain::add_alerts`] computed them.
    pub fn head(&self) -> &Summary {
        &self.head
    }

    /// The domains, in the order they are shown.
    pub fn domains(&self) -> &[DomainName] {
        &self.domains
    }

    /// The summary of one domain of the period.
    pub fn domain(&self, name: &DomainName) -> Result<Option<DomainSummary>, StoreError> {
        let mut identities = self.identities.borrow_mut();
        // Its own names: a snapshot of this domain's read alone, not of the run.
        let mut names = NameCache::default();
        Ok(summarise_with(
            self.store,
            self.head.period,
            Some(name),
            &mut identities,
            &mut names,
        )?
        .domains
        .pop())
    }

    /// Each domain's summary, in order.
    pub fn each(&self) -> impl Iterator<Item = Result<DomainSummary, StoreError>> + '_ {
        self.domains
            .iter()
            .filter_map(|name| self.domain(name).transpose())
    }

    /// Computes the alerts ([`alerts()`]) of every domain, most urgent first, and keeps them
    /// for the output. This reads every domain once more than writing does: the alerts come
    /// first in every format, before any domain is written.
    pub fn add_alerts(&mut self, thresholds: &AlertThresholds) -> Result<&[Alert], StoreError> {
        let mut found = Vec::new();
        if self.domains.is_empty() {
            found = alerts(&self.head, thresholds);
        }
        let head = &self.head;
        let alerts_of = |domain: DomainSummary| {
            let one = Summary {
                domains: vec![domain],
                ..head.clone()
            };
            alerts(&one, thresholds)
        };
        self.pipelined(alerts_of, AHEAD_DOMAINS, |alerts| {
            found.extend(alerts);
            Ok::<_, StoreError>(())
        })?;
        // Stable, as in `alerts()`: within a severity, domains and checks keep their order.
        found.sort_by_key(|alert| std::cmp::Reverse(alert.severity));
        Ok(self.head.alerts.insert(found))
    }

    /// The whole summary in memory, for the renderings that need it at once (HTML, mail).
    pub fn collect(self) -> Result<Summary, StoreError> {
        let mut domains = Vec::with_capacity(self.domains.len());
        // Every part is kept here anyway: those waiting take no memory of their own.
        self.pipelined(
            |domain| domain,
            AHEAD_DOMAINS,
            |domain| {
                domains.push(domain);
                Ok::<_, StoreError>(())
            },
        )?;
        Ok(Summary {
            domains,
            ..self.head
        })
    }

    /// Writes the plain-text summary ([`render_text`](crate::render_text)), one domain at a
    /// time.
    pub fn write_text(&self, out: &mut impl Write) -> Result<(), WriteError> {
        self.write_parts::<Text>(out)
    }

    /// Writes the Markdown summary ([`render_markdown`](crate::render_markdown)), one domain
    /// at a time.
    pub fn write_markdown(&self, out: &mut impl Write) -> Result<(), WriteError> {
        self.write_parts::<Markdown>(out)
    }

    /// Writes the start, then each domain, each rendered by a `W` of its own.
    fn write_parts<W: PartWriter>(&self, out: &mut impl Write) -> Result<(), WriteError> {
        let mut start = W::default();
        render_start(&self.head, !self.domains.is_empty(), &mut start);
        out.write_all(start.into_part().as_bytes())?;
        let head = &self.head;
        let render = |domain: DomainSummary| {
            let mut part = W::default();
            render_domain(head, &domain, &mut part);
            part.into_part()
        };
        self.pipelined(render, AHEAD_DOMAINS, |part| {
            Ok(out.write_all(part.as_bytes())?)
        })
    }

    /// Writes the summary as pretty-printed JSON with a final newline, byte for byte what
    /// serde gives for the whole [`Summary`], one domain at a time.
    pub fn write_json(&self, out: &mut impl Write) -> Result<(), WriteError> {
        // The head (without domains) ends in `"domains": []` and the object's end; the
        // domains go between the brackets, each as serde's pretty printer writes an element
        // at that depth.
        let head = serde_json::to_string_pretty(&self.head).map_err(std::io::Error::from)?;
        let start = head
            .strip_suffix("[]\n}")
            .ok_or_else(|| std::io::Error::other("the summary's JSON does not end in domains"))?;
        out.write_all(start.as_bytes())?;
        if self.domains.is_empty() {
            out.write_all(b"[]")?;
        } else {
            out.write_all(b"[")?;
            let mut first = true;
            // Serialised here as the domains come: a large domain's JSON runs to megabytes, and
            // so does its summary. This thread, which also serialises, is the slower one: few
            // domains ahead gain nothing and would take memory.
            self.pipelined(
                |domain| domain,
                WHOLE_SUMMARIES_AHEAD,
                |domain| {
                    out.write_all(if first { b"\n" } else { b",\n" })?;
                    first = false;
                    const INDENT: &[u8] = b"    ";
                    out.write_all(INDENT)?;
                    // serde writes a token at a time: buffered, the indenting sees blocks.
                    let mut indented = std::io::BufWriter::with_capacity(
                        1 << 16,
                        Indented {
                            out: &mut *out,
                            indent: INDENT,
                        },
                    );
                    serde_json::to_writer_pretty(&mut indented, &domain)
                        .map_err(std::io::Error::from)?;
                    // Without flushing `out` itself.
                    indented.into_inner().map_err(|error| error.into_error())?;
                    Ok::<_, WriteError>(())
                },
            )?;
            out.write_all(b"\n  ]")?;
        }
        out.write_all(b"\n}\n")?;
        Ok(())
    }

    /// Hands `sink` each domain's summary made into a `T` by `work`, in order. This thread
    /// reads the store (a connection serves one thread at a time) and hands the parts to
    /// `sink`, while another folds what was read into each domain's summary and runs `work`.
    ///
    /// This thread reads ahead of the other: domain sizes are skewed (an MSP's largest
    /// domains have ten times the sources of the average), and reading a large domain while
    /// the other waits, then making it while this one waits, would leave a core idle for
    /// both. Memory bounds how far ahead: the domains read and not yet written hold at most
    /// [`AHEAD_ENTRIES`] sources (one larger domain goes alone) and are at most
    /// `domains_ahead`.
    fn pipelined<T: Send, E: From<StoreError>>(
        &self,
        work: impl Fn(DomainSummary) -> T + Sync,
        domains_ahead: usize,
        mut sink: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        // One state of the database for every domain, whatever an ingest commits meanwhile.
        let _snapshot = self.store.snapshot()?;
        let mut identities = self.identities.borrow_mut();
        if self.domains.len() >= READ_ALL_IDENTITIES {
            identities.read_all(self.store)?;
        }
        // The names of the rollups, looked up once for every domain (under the snapshot).
        let mut names = NameCache::default();
        std::thread::scope(|scope| {
            // Unbounded, but never holding more than the domains ahead (below).
            let (to_worker, loaded) = mpsc::channel::<Loaded>();
            // This thread takes the parts after each domain it reads, or when it waits.
            let (to_sink, made) = mpsc::sync_channel::<Option<T>>(domains_ahead);
            let work = &work;
            let worker = scope.spawn(move || {
                for loaded in loaded {
                    let part = loaded.finish().domains.pop().map(work);
                    if to_sink.send(part).is_err() {
                        return;
                    }
                }
            });
            // The entries of each domain read and not yet written, oldest first.
            let mut ahead: VecDeque<usize> = VecDeque::new();
            let mut ahead_entries = 0;
            'domains: for name in &self.domains {
                let next = load(
                    self.store,
                    self.head.period,
                    Some(name),
                    &mut identities,
                    &mut names,
                )?;
                let entries = next.entries();
                while !ahead.is_empty()
                    && (ahead.len() >= domains_ahead || ahead_entries + entries > AHEAD_ENTRIES)
                {
                    match made.recv() {
                        Ok(part) => {
                            ahead_entries -= ahead.pop_front().unwrap_or_default();
                            part.map(&mut sink).transpose()?;
                        }
                        // The worker stopped (panicked): see below.
                        Err(_) => break 'domains,
                    }
                }
                if to_worker.send(next).is_err() {
                    break;
                }
                ahead.push_back(entries);
                ahead_entries += entries;
                // Written while the worker makes the next.
                for part in made.try_iter() {
                    ahead_entries -= ahead.pop_front().unwrap_or_default();
                    part.map(&mut sink).transpose()?;
                }
            }
            drop(to_worker);
            for part in made {
                part.map(&mut sink).transpose()?;
            }
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
            Ok(())
        })
    }
}

/// How many sources [`DomainByDomain::pipelined`] may hold in the domains read and not yet
/// written, a source being a few hundred bytes with its name lists (the rows of the weeks
/// around the period kept for the worker count a quarter each): about 8 MiB. The largest
/// domain of the scale benchmark's week counts about 19,000 (9,000 sources, 40,000 rows kept);
/// with less, such a domain would go alone, the reading thread waiting for the worker to make
/// every domain before it (with 16,384 the week of all domains took about a quarter longer).
const AHEAD_ENTRIES: usize = 32_768;

/// How many domains [`DomainByDomain::pipelined`] may have read and not yet written when
/// each is made into a part of a few kilobytes (its text, its alerts) or kept whole anyway
/// (HTML, mail): enough that the worker makes the small domains after a large one while this
/// thread reads it.
const AHEAD_DOMAINS: usize = 64;

/// How many domains [`DomainByDomain::pipelined`] may have read and not yet written when each
/// part is the domain's whole summary, megabytes for a large domain, written as JSON.
const WHOLE_SUMMARIES_AHEAD: usize = 2;

/// From this many domains on, [`DomainByDomain::pipelined`] reads all the identities the store
/// knows at once (when they are few enough, [`IdentityCache::read_all`]) instead of looking up
/// each domain's sources: one domain's summary reads only its own.
const READ_ALL_IDENTITIES: usize = 16;

/// Writes to `out` with `indent` after each newline: serde's pretty JSON of a value, one level
/// deeper (newlines only end lines in it; in strings they are escaped).
struct Indented<'w, W: Write> {
    out: &'w mut W,
    indent: &'static [u8],
}

impl<W: Write> Write for Indented<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            self.out.write_all(&rest[..=end])?;
            self.out.write_all(self.indent)?;
            rest = &rest[end + 1..];
        }
        self.out.write_all(rest)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The domains a summary of `period` lists on its own: those with a report whose midpoint is
/// in the period or the baseline weeks, and those with TLS reports in the period. Only
/// reports are read, no records.
fn listed_domains(store: &Store, period: Period) -> Result<BTreeSet<String>, StoreError> {
    let windows = Windows::new(period);
    let filter = reports_around(windows.read());
    let mut names = BTreeSet::new();
    store.read_report_spans(&filter, &mut |domain, begin, end| {
        let midpoint = report_midpoint(begin, end);
        let listed = windows.current.contains(midpoint) || windows.baseline.contains(midpoint);
        if listed && !names.contains(domain) {
            names.insert(domain.to_owned());
        }
    })?;

    let tls_filter = reports_around(windows.current.union(&windows.previous));
    let mut tls = TlsBuilder::default();
    store.read_tls_policies(&tls_filter, &mut |policy| {
        tls.add(&policy, &windows.current, &windows.previous);
    })?;
    names.extend(tls.domains().map(str::to_owned));
    Ok(names)
}

/// Every report of any domain whose midpoint can lie in `window`, as the summary selects them
/// (a report covers at most [`LONGEST_REPORT`] before it).
fn reports_around(window: Period) -> ReportFilter {
    ReportFilter {
        policy_domain: None,
        begin_at_or_after: Some(window.start.saturating_sub(LONGEST_REPORT)),
        begin_before: Some(window.end),
        end_at_or_after: Some(window.start),
    }
}

/// How far before a window a report may begin and still have its midpoint inside it (as the
/// full summary reads them).
const LONGEST_REPORT: i64 = 400 * DAY;
