//! `ruadb-testgen`: writes synthetic DMARC report corpora and hostile inputs.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use ruadb_testgen::{
    CorpusSpec, DomainPolicy, Hostile, IpSpace, MmdbEntry, MmdbLayout, MspSpec, big_report,
    generate_corpus, generate_msp, write_mmdb,
};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Deterministic synthetic DMARC aggregate reports for benchmarks and tests.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A realistic mailbox: one report per file, mixed .xml/.xml.gz/.zip/.eml. Prints the
    /// totals an ingest must reach as JSON.
    Corpus {
        /// Number of reports.
        #[arg(long, default_value_t = 1000)]
        reports: u64,
        /// Seed: the same seed and size write the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output directory (created; must not hold files of the same names).
        #[arg(long)]
        out: PathBuf,
        /// Policy domains (comma-separated); policies cycle reject, quarantine, none.
        #[arg(long, value_delimiter = ',')]
        domains: Vec<String>,
        /// Use public-looking source addresses instead of documentation ranges (benchmarks
        /// only: never commit the output).
        #[arg(long)]
        public_ips: bool,
        /// Spread reports over this many days, starting Monday 2025-01-06.
        #[arg(long, default_value_t = 28)]
        days: u32,
    },
    /// A mail service provider's mailbox: many policy domains, reports every day, each domain
    /// with its own spoofing sources besides shared service addresses; `.xml.gz` files.
    /// `--first-day`/`--day-count` write part of the period (the parts add up to the whole,
    /// byte for byte). Prints what was written as JSON.
    Msp {
        /// Policy domains (`brand00000.example`, `brand00001.example`, …).
        #[arg(long, default_value_t = 1_000)]
        domains: u32,
        /// Records over the whole period (exactly).
        #[arg(long, default_value_t = 10_000_000)]
        records: u64,
        /// Days of the period, starting Monday 2025-01-06.
        #[arg(long, default_value_t = 28)]
        days: u32,
        /// Spoofing addresses per domain.
        #[arg(long, default_value_t = 3_000)]
        spoofers: u32,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First day to write (0 = the first day of the period).
        #[arg(long, default_value_t = 0)]
        first_day: u32,
        /// How many days to write from --first-day (default: to the end of the period).
        #[arg(long)]
        day_count: Option<u32>,
        /// Use public-looking source addresses (benchmarks only: never commit the output).
        #[arg(long)]
        public_ips: bool,
        /// Output directory (created; must not hold files of the same names).
        #[arg(long)]
        out: PathBuf,
    },
    /// Every hostile input (about 170 MB on disk).
    Hostile {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// One valid report of at least the given size, plain XML.
    BigReport {
        /// Size in MiB.
        #[arg(long, default_value_t = 100)]
        mib: u64,
        /// Output file; standard output if absent.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A small IP database (MMDB) in the layout of a free database, for the demo and the
    /// benchmarks.
    Mmdb {
        /// The record layout.
        #[arg(long, value_enum)]
        layout: LayoutArg,
        /// The metadata's database_type, e.g. GeoLite2-ASN.
        #[arg(long)]
        database_type: String,
        /// The build date as unix seconds.
        #[arg(long)]
        build_epoch: u64,
        /// One network: "CIDR;ASN;AS organisation;country", empty fields left out
        /// (e.g. "192.0.2.0/24;64500;Example Net;" or "192.0.2.0/24;;;DE"). Repeatable.
        #[arg(long = "network", required = true)]
        networks: Vec<String>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LayoutArg {
    /// GeoLite2-ASN, DB-IP ASN Lite.
    Asn,
    /// GeoLite2-Country, DB-IP Country Lite.
    Country,
    /// GeoLite2-City.
    City,
    /// IPinfo Lite.
    IpinfoLite,
}

/// "CIDR;ASN;AS organisation;country" into an entry.
fn parse_network(text: &str) -> Result<MmdbEntry> {
    let fields: Vec<&str> = text.split(';').collect();
    let [network, asn, org, country] = fields[..] else {
        bail!("--network {text:?}: expected \"CIDR;ASN;AS organisation;country\"");
    };
    let some = |field: &str| (!field.is_empty()).then(|| field.to_owned());
    let asn = match asn {
        "" => None,
        asn => Some(
            asn.parse()
                .with_context(|| format!("--network {text:?}: bad ASN"))?,
        ),
    };
    Ok(MmdbEntry {
        network: network.to_owned(),
        asn,
        as_org: some(org),
        country: some(country),
    })
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Corpus {
            reports,
            seed,
            out,
            domains,
            public_ips,
            days,
        } => {
            let mut spec = CorpusSpec::new(reports, seed);
            if !domains.is_empty() {
                let policies = ["reject", "quarantine", "none"];
                spec.domains = domains
                    .iter()
                    .zip(policies.iter().cycle())
                    .map(|(domain, policy)| DomainPolicy::new(domain, policy))
                    .collect();
            }
            if public_ips {
                spec.ip_space = IpSpace::Public;
            }
            if days == 0 {
                bail!("--days must be at least 1");
            }
            spec.days = days;
            let stats = generate_corpus(&out, &spec)
                .with_context(|| format!("generating a corpus in {}", out.display()))?;
            println!("{}", serde_json::to_string_pretty(&stats)?);
        }
        Command::Msp {
            domains,
            records,
            days,
            spoofers,
            seed,
            first_day,
            day_count,
            public_ips,
            out,
        } => {
            let mut spec = MspSpec::new(domains, records, seed);
            spec.days = days;
            spec.spoofers_per_domain = spoofers;
            if public_ips {
                spec.ip_space = IpSpace::Public;
            }
            let last = day_count.map_or(days, |count| first_day.saturating_add(count));
            let stats = generate_msp(&out, &spec, first_day..last, &mut |_| {})
                .with_context(|| format!("generating a mailbox in {}", out.display()))?;
            println!("{}", serde_json::to_string_pretty(&stats)?);
        }
        Command::Hostile { out } => {
            std::fs::create_dir_all(&out)?;
            for kind in Hostile::ALL {
                let file = kind
                    .write(&out)
                    .with_context(|| format!("writing {}", kind.file_name()))?;
                let size = std::fs::metadata(&file.path)?.len();
                println!("{}\t{size}", file.path.display());
            }
        }
        Command::Mmdb {
            layout,
            database_type,
            build_epoch,
            networks,
            out,
        } => {
            let layout = match layout {
                LayoutArg::Asn => MmdbLayout::Asn,
                LayoutArg::Country => MmdbLayout::Country,
                LayoutArg::City => MmdbLayout::City,
                LayoutArg::IpinfoLite => MmdbLayout::IpinfoLite,
            };
            let entries = networks
                .iter()
                .map(|text| parse_network(text))
                .collect::<Result<Vec<_>>>()?;
            let bytes = write_mmdb(layout, &database_type, build_epoch, &entries)?;
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
        }
        Command::BigReport { mib, out, seed } => {
            let written = match out {
                Some(path) => {
                    let mut file = BufWriter::new(
                        File::create(&path)
                            .with_context(|| format!("creating {}", path.display()))?,
                    );
                    let written = big_report(&mut file, mib, seed)?;
                    file.flush()?;
                    written
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = BufWriter::new(stdout.lock());
                    let written = big_report(&mut lock, mib, seed)?;
                    lock.flush()?;
                    written
                }
            };
            eprintln!(
                "{} records, {} messages, {} bytes",
                written.records, written.messages, written.bytes
            );
        }
    }
    Ok(())
}
