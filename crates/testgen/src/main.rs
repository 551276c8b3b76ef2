//! `ruadb-testgen`: writes synthetic DMARC report corpora and hostile inputs.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use ruadb_testgen::{CorpusSpec, DomainPolicy, Hostile, IpSpace, big_report, generate_corpus};
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
