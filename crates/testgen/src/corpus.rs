//! A whole synthetic mailbox: many reporters, skewed report sizes, mixed containers.

use crate::Error;
use crate::reporters::{self, Reporter};
use crate::rng::Rng;
use crate::sources::{IpSpace, SourcePool};
use crate::wrap::{self, Envelope};
use crate::xml::{DomainPolicy, RecordBudget, ReportPlan, Written, write_report};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use zip::ZipWriter;

/// What to generate.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    /// Number of reports (one per file).
    pub reports: u64,
    /// Everything is derived from this seed: the same spec writes the same bytes.
    pub seed: u64,
    /// The policy domains reports are about.
    pub domains: Vec<DomainPolicy>,
    /// Which addresses sources use.
    pub ip_space: IpSpace,
    /// Unix time of the first day (UTC midnight).
    pub start: i64,
    /// Reports are spread over this many days.
    pub days: u32,
}

impl CorpusSpec {
    /// `reports` reports from `seed` over four ISO weeks starting Monday 2025-01-06
    /// (2025-W02 to W05), about the default domains, documentation addresses only.
    pub fn new(reports: u64, seed: u64) -> CorpusSpec {
        CorpusSpec {
            reports,
            seed,
            domains: DomainPolicy::defaults(),
            ip_space: IpSpace::Documentation,
            start: 1_736_121_600,
            days: 28,
        }
    }
}

/// How many files of each kind were written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ContainerCounts {
    /// Plain `.xml`.
    pub xml: u64,
    /// `.xml.gz`.
    pub xml_gz: u64,
    /// `.zip`.
    pub zip: u64,
    /// `.eml` (each holding a gzip or zip attachment).
    pub eml: u64,
}

/// What a corpus contains: the totals an ingest of it must arrive at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CorpusStats {
    /// Files written (one report each).
    pub files: u64,
    /// Reports (all distinct).
    pub reports: u64,
    /// `<record>` elements over all reports.
    pub records: u64,
    /// Sum of `<count>` over all records.
    pub messages: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Bytes of XML before compression and encoding.
    pub xml_bytes: u64,
    /// Largest report, in records.
    pub max_records: u64,
    /// Reports in the RFC 9990 namespace.
    pub rfc9990_reports: u64,
    /// Files per container kind.
    pub containers: ContainerCounts,
}

impl CorpusStats {
    fn add(&mut self, written: Written, rfc9990: bool) {
        self.reports += 1;
        self.records += written.records;
        self.messages += written.messages;
        self.xml_bytes += written.bytes;
        self.max_records = self.max_records.max(written.records);
        self.rfc9990_reports += u64::from(rfc9990);
    }
}

/// Records per report: 82% have 1–5, 15% 6–100, 3% 100–2,000 (log-uniform), for a mean near
/// 25 — the skew of a real mailbox, where a few large reporters send most records.
pub fn record_count(rng: &mut Rng) -> u64 {
    match rng.weighted(&[82, 15, 3]) {
        0 => rng.between(1, 5),
        1 => rng.log_uniform(6, 100),
        _ => rng.log_uniform(100, 2_000),
    }
}

/// Writes the corpus described by `spec` into `dir` (created if missing; files already there
/// with the same names are an error).
pub fn generate_corpus(dir: &Path, spec: &CorpusSpec) -> Result<CorpusStats, Error> {
    if spec.domains.is_empty() || spec.days == 0 {
        return Err(Error::Spec("at least one domain and one day are needed"));
    }
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(spec.seed);
    let all_reporters = reporters::reporters(&mut rng, 60);
    let weights: Vec<u32> = all_reporters.iter().map(|r| r.weight).collect();
    let sources = SourcePool::new(spec.ip_space, &mut rng);
    let mut used_names = HashSet::new();
    let mut stats = CorpusStats::default();

    for sequence in 0..spec.reports {
        let reporter = &all_reporters[rng.weighted(&weights)];
        let policy = rng.pick(&spec.domains);
        let begin = spec.start + rng.below(u64::from(spec.days)) as i64 * 86_400;
        let plan = ReportPlan {
            reporter,
            report_id: reporter.report_id(begin, sequence, &mut rng),
            policy,
            begin,
            end: begin + reporter.period,
            records: RecordBudget::Count(record_count(&mut rng)),
        };
        let base_name = unique_base_name(&mut used_names, reporter, &plan);
        let choice = rng.unit();
        let (written, path) = if choice < 0.40 {
            stats.containers.eml += 1;
            write_eml(dir, sequence, &plan, &base_name, &sources, &mut rng)?
        } else if choice < 0.55 {
            stats.containers.xml += 1;
            let path = dir.join(format!("{base_name}.xml"));
            let mut out = BufWriter::new(File::create_new(&path)?);
            let written = write_report(&mut out, &plan, &sources, &mut rng)?;
            out.into_inner().map_err(|e| e.into_error())?;
            (written, path)
        } else {
            write_archive_file(dir, &plan, &base_name, &sources, &mut rng, &mut stats)?
        };
        stats.add(written, reporter.style.rfc9990);
        stats.files += 1;
        stats.bytes += std::fs::metadata(path)?.len();
    }
    Ok(stats)
}

/// `org!domain!begin!end`, the name reporters give their attachments; a suffix keeps two
/// reports of the same reporter, domain and day apart (as a mail client saving both would).
fn unique_base_name(
    used: &mut HashSet<String>,
    reporter: &Reporter,
    plan: &ReportPlan<'_>,
) -> String {
    let name = format!(
        "{}!{}!{}!{}",
        reporter.file_domain, plan.policy.domain, plan.begin, plan.end
    );
    let mut candidate = name.clone();
    let mut copy = 1;
    while !used.insert(candidate.clone()) {
        candidate = format!("{name}-{copy}");
        copy += 1;
    }
    candidate
}

fn write_eml(
    dir: &Path,
    sequence: u64,
    plan: &ReportPlan<'_>,
    base_name: &str,
    sources: &SourcePool,
    rng: &mut Rng,
) -> Result<(Written, std::path::PathBuf), Error> {
    let mut xml = Vec::new();
    let written = write_report(&mut xml, plan, sources, rng)?;
    let (attachment, attachment_name) = wrap::archive(plan.reporter, base_name, &xml)?;
    let path = dir.join(format!("msg-{sequence:07}.eml"));
    let mut out = BufWriter::new(File::create_new(&path)?);
    let envelope = Envelope {
        reporter: plan.reporter,
        policy_domain: &plan.policy.domain,
        report_id: &plan.report_id,
        sent: plan.end + 1 + rng.below(6 * 3600) as i64,
    };
    wrap::write_message(&mut out, &envelope, &attachment, &attachment_name, rng)?;
    out.into_inner().map_err(|e| e.into_error())?;
    Ok((written, path))
}

fn write_archive_file(
    dir: &Path,
    plan: &ReportPlan<'_>,
    base_name: &str,
    sources: &SourcePool,
    rng: &mut Rng,
    stats: &mut CorpusStats,
) -> Result<(Written, std::path::PathBuf), Error> {
    match plan.reporter.archive {
        reporters::Archive::Gzip => {
            stats.containers.xml_gz += 1;
            let path = dir.join(format!("{base_name}.xml.gz"));
            let file = BufWriter::new(File::create_new(&path)?);
            let mut encoder = GzEncoder::new(file, Compression::default());
            let written = write_report(&mut encoder, plan, sources, rng)?;
            encoder.finish()?.into_inner().map_err(|e| e.into_error())?;
            Ok((written, path))
        }
        reporters::Archive::Zip => {
            stats.containers.zip += 1;
            let path = dir.join(format!("{base_name}.zip"));
            let mut writer = ZipWriter::new(BufWriter::new(File::create_new(&path)?));
            writer.start_file(format!("{base_name}.xml"), wrap::deflated())?;
            let written = write_report(&mut writer, plan, sources, rng)?;
            wrap::finish_zip(writer)?
                .into_inner()
                .map_err(|e| e.into_error())?;
            Ok((written, path))
        }
    }
}
