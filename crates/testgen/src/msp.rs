//! The mailbox of a mail service provider: reports for many policy domains, every day.
//!
//! Each policy domain gets reports from a few reporters every day of the period; the records
//! of the whole period add up exactly to the number asked for, shared out by each domain's
//! volume (log-uniform: a few large domains, many small ones), each reporter's weight and the
//! day of the week. Sources are realistic in cardinality: a domain's own servers, service
//! addresses (ESPs, forwarders) shared by all domains, and a pool of a few thousand spoofing
//! addresses of each domain's own.
//!
//! Everything about one report is derived from the seed and the report's place in the plan
//! (day, domain, slot), never from what was written before, so any range of days can be
//! written on its own and the union of the parts is byte for byte the whole. A large mailbox
//! can so be written and ingested a week at a time, with only one week on disk.

use crate::Error;
use crate::reporters::{self, Reporter};
use crate::rng::Rng;
use crate::sources::{IpSpace, PickSource, Scenario, random_address};
use crate::xml::{DomainPolicy, RecordBudget, RecordWritten, ReportPlan, write_report_observed};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use std::fs::File;
use std::io::BufWriter;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MspSpec {
    /// Everything is derived from this seed.
    pub seed: u64,
    /// Number of policy domains (`brand00001.example` …).
    pub domains: u32,
    /// Days of the period, starting at [`MspSpec::start`].
    pub days: u32,
    /// `<record>` elements over the whole period (at least one per report).
    pub records: u64,
    /// Spoofing addresses each domain draws from.
    pub spoofers_per_domain: u32,
    /// Reports a domain gets a day: the smallest domains the first, the largest one less than
    /// the end.
    pub reporters_per_domain: Range<u32>,
    /// Which addresses sources use.
    pub ip_space: IpSpace,
    /// Unix time of the first day (UTC midnight).
    pub start: i64,
}

impl MspSpec {
    /// `records` records for `domains` domains over four ISO weeks starting Monday 2025-01-06
    /// (2025-W02 to W05), 3,000 spoofing addresses per domain, documentation addresses.
    pub fn new(domains: u32, records: u64, seed: u64) -> MspSpec {
        MspSpec {
            seed,
            domains,
            days: 28,
            records,
            spoofers_per_domain: 3_000,
            reporters_per_domain: 2..13,
            ip_space: IpSpace::Documentation,
            start: 1_736_121_600,
        }
    }
}

/// What a range of days of the mailbox contains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MspStats {
    /// Files written (one `.xml.gz` report each).
    pub reports: u64,
    /// `<record>` elements.
    pub records: u64,
    /// Sum of `<count>`.
    pub messages: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Bytes of XML before compression.
    pub xml_bytes: u64,
}

/// One record as written, with the report it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MspRecord<'a> {
    /// The policy domain's index (its name is [`domain_name`]).
    pub domain: u32,
    /// The reporter's `<org_name>`.
    pub org: &'a str,
    /// Which of the domain's reports of the day it is (0, 1, …): with `begin`, it tells the
    /// reports of a domain apart.
    pub slot: u32,
    /// The report's `<begin>`.
    pub begin: i64,
    /// The report's `<end>`.
    pub end: i64,
    /// The record.
    pub record: RecordWritten,
}

/// The name of policy domain `index`: `brand00042.example`.
pub fn domain_name(index: u32) -> String {
    format!("brand{index:05}.example")
}

/// Weight of a day of the week (Monday first): less mail at the weekend.
const DAY_WEIGHT: [u64; 7] = [10, 10, 10, 10, 9, 6, 5];
/// Addresses shared by every domain: ESPs' sending servers and forwarders.
const SHARED_ESP: usize = 4_000;
const SHARED_FORWARDERS: usize = 6_000;
/// Each domain's own sending servers.
const OWN_SERVERS: usize = 6;

/// One report of the plan: who sends it about which domain on which day, and its weight in
/// the share-out of records.
#[derive(Debug, Clone, Copy)]
struct PlannedReport {
    day: u32,
    domain: u32,
    slot: u32,
    reporter: usize,
    weight: u64,
}

/// The generator's fixed parts: domains, reporters, shared addresses.
struct Mailbox {
    spec: MspSpec,
    reporters: Vec<Reporter>,
    reporter_weights: Vec<u32>,
    policies: Vec<DomainPolicy>,
    /// Per domain: relative volume and number of reporters a day.
    volumes: Vec<(u64, u64)>,
    esp: Vec<IpAddr>,
    forwarders: Vec<IpAddr>,
}

impl Mailbox {
    fn new(spec: &MspSpec) -> Mailbox {
        let mut rng = Rng::new(spec.seed);
        let reporters = reporters::reporters(&mut rng, 60);
        let reporter_weights = reporters.iter().map(|reporter| reporter.weight).collect();
        let policies = (0..spec.domains)
            .map(|index| {
                let policy = ["reject", "quarantine", "none"][index as usize % 3];
                DomainPolicy::new(&domain_name(index), policy)
            })
            .collect();
        let first = u64::from(spec.reporters_per_domain.start.max(1));
        let span = u64::from(spec.reporters_per_domain.end)
            .saturating_sub(first)
            .max(1);
        let volumes = (0..spec.domains)
            .map(|_| {
                let volume = rng.log_uniform(1, 1_000);
                // Larger domains hear from more reporters.
                let reporters = first + (volume * span / 1_001).min(span - 1);
                (volume, reporters)
            })
            .collect();
        let mut draw = |count: usize, v6_share: f64| -> Vec<IpAddr> {
            (0..count)
                .map(|_| random_address(spec.ip_space, &mut rng, v6_share))
                .collect()
        };
        let esp = draw(SHARED_ESP, 0.2);
        let forwarders = draw(SHARED_FORWARDERS, 0.15);
        Mailbox {
            spec: spec.clone(),
            reporters,
            reporter_weights,
            policies,
            volumes,
            esp,
            forwarders,
        }
    }

    /// A generator for `(day, domain, slot)` alone, whatever else is written.
    fn rng(&self, day: u32, domain: u32, slot: u32) -> Rng {
        let place = (u64::from(day) << 48) ^ (u64::from(domain) << 16) ^ u64::from(slot);
        Rng::new(Rng::new(self.spec.seed ^ place.rotate_left(7)).next_u64())
    }

    /// Every report of the period, in order (day, domain, slot).
    fn plan(&self) -> impl Iterator<Item = PlannedReport> + '_ {
        (0..self.spec.days).flat_map(move |day| {
            let day_weight = DAY_WEIGHT[day as usize % 7];
            (0..self.spec.domains).flat_map(move |domain| {
                let (volume, reporters) = self.volumes[domain as usize];
                let mut rng = self.rng(day, domain, u32::MAX);
                (0..reporters as u32).map(move |slot| {
                    let reporter = rng.weighted(&self.reporter_weights);
                    PlannedReport {
                        day,
                        domain,
                        slot,
                        reporter,
                        weight: volume * u64::from(self.reporter_weights[reporter]) * day_weight,
                    }
                })
            })
        })
    }
}

/// The addresses one domain's records come from.
struct DomainSources<'a> {
    mailbox: &'a Mailbox,
    own: Vec<IpAddr>,
    spoof_key: u64,
}

impl<'a> DomainSources<'a> {
    fn new(mailbox: &'a Mailbox, domain: u32) -> DomainSources<'a> {
        let spoof_key = Rng::new(mailbox.spec.seed ^ (u64::from(domain) << 20)).next_u64();
        let mut rng = Rng::new(spoof_key ^ 0x5EED);
        let own = (0..OWN_SERVERS)
            .map(|_| random_address(mailbox.spec.ip_space, &mut rng, 0.25))
            .collect();
        DomainSources {
            mailbox,
            own,
            spoof_key,
        }
    }
}

impl PickSource for DomainSources<'_> {
    fn pick(&self, scenario: Scenario, rng: &mut Rng) -> IpAddr {
        match scenario {
            Scenario::Aligned => *rng.pick(&self.own),
            Scenario::EspAligned | Scenario::EspMisaligned => *rng.pick(&self.mailbox.esp),
            Scenario::Forwarded => *rng.pick(&self.mailbox.forwarders),
            Scenario::Spoofed => {
                // The same slot is the same address in every report of this domain.
                let slot = rng.below(u64::from(self.mailbox.spec.spoofers_per_domain.max(1)));
                let mut address = Rng::new(self.spoof_key ^ slot.wrapping_mul(0x9E37_79B9));
                random_address(self.mailbox.spec.ip_space, &mut address, 0.1)
            }
        }
    }
}

/// Writes the reports of the days in `days` (indexes into the period) into `dir` as
/// `.xml.gz` files, handing `observe` every record written. Returns what was written.
pub fn generate_msp(
    dir: &Path,
    spec: &MspSpec,
    days: Range<u32>,
    observe: &mut dyn FnMut(&MspRecord<'_>),
) -> Result<MspStats, Error> {
    if spec.domains == 0 || spec.days == 0 {
        return Err(Error::Spec("at least one domain and one day are needed"));
    }
    std::fs::create_dir_all(dir)?;
    let mailbox = Mailbox::new(spec);
    let (reports, total_weight) = mailbox.plan().fold((0u64, 0u128), |(count, sum), report| {
        (count + 1, sum + u128::from(report.weight))
    });
    if spec.records < reports {
        return Err(Error::Spec(
            "fewer records than reports: every report needs at least one",
        ));
    }
    // Each report gets one record, and the rest is shared out by weight: cumulative rounding
    // makes the total exact whatever the weights.
    let extra = u128::from(spec.records - reports);
    let share = |cumulative: u128| -> u64 {
        u64::try_from(extra * cumulative / total_weight.max(1)).unwrap_or(u64::MAX)
    };
    let mut stats = MspStats::default();
    let mut cumulative = 0u128;
    let mut domain_sources: Option<(u32, DomainSources<'_>)> = None;
    for planned in mailbox.plan() {
        let before = share(cumulative);
        cumulative += u128::from(planned.weight);
        let records = 1 + share(cumulative) - before;
        if !days.contains(&planned.day) {
            continue;
        }
        let sources = match &domain_sources {
            Some((domain, sources)) if *domain == planned.domain => sources,
            _ => {
                let sources = DomainSources::new(&mailbox, planned.domain);
                &domain_sources.insert((planned.domain, sources)).1
            }
        };
        let written = write_one(dir, &mailbox, &planned, records, sources, observe)?;
        stats.reports += 1;
        stats.records += written.0.records;
        stats.messages += written.0.messages;
        stats.xml_bytes += written.0.bytes;
        stats.bytes += written.1;
    }
    Ok(stats)
}

/// Writes one report; returns what it holds and its size on disk.
fn write_one(
    dir: &Path,
    mailbox: &Mailbox,
    planned: &PlannedReport,
    records: u64,
    sources: &DomainSources<'_>,
    observe: &mut dyn FnMut(&MspRecord<'_>),
) -> Result<(crate::Written, u64), Error> {
    let mut rng = mailbox.rng(planned.day, planned.domain, planned.slot);
    let reporter = &mailbox.reporters[planned.reporter];
    let policy = &mailbox.policies[planned.domain as usize];
    let begin = mailbox.spec.start + i64::from(planned.day) * 86_400;
    let sequence =
        (u64::from(planned.day) << 32) | (u64::from(planned.domain) << 8) | u64::from(planned.slot);
    let plan = ReportPlan {
        reporter,
        report_id: reporter.report_id(begin, sequence, &mut rng),
        policy,
        begin,
        end: begin + reporter.period,
        records: RecordBudget::Count(records),
    };
    let path = dir.join(format!(
        "{}!{}!{}!{}!{}.xml.gz",
        reporter.file_domain, policy.domain, plan.begin, plan.end, planned.slot
    ));
    let file = BufWriter::new(File::create_new(&path)?);
    // Fast compression: the ingest decompresses the same either way, and a large mailbox
    // is written in a fraction of the time. The XML writer writes element by element: a
    // buffer in front of the compressor keeps that from costing a deflate call each.
    let encoder = GzEncoder::new(file, Compression::fast());
    let mut xml = BufWriter::with_capacity(64 * 1024, encoder);
    let written = write_report_observed(&mut xml, &plan, sources, &mut rng, &mut |record| {
        observe(&MspRecord {
            domain: planned.domain,
            org: &reporter.org_name,
            slot: planned.slot,
            begin: plan.begin,
            end: plan.end,
            record: *record,
        });
    })?;
    let encoder = xml.into_inner().map_err(|e| e.into_error())?;
    encoder.finish()?.into_inner().map_err(|e| e.into_error())?;
    Ok((written, std::fs::metadata(&path)?.len()))
}
