//! `ruadb sql`: one read-only SQL statement against the database (views documented in the
//! README section "SQL").

use std::io::{self, Write};

use anyhow::Context as _;

use ruadb_store::Store;

use crate::Outcome;
use crate::context::Context;
use crate::render::{self, TableFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The statement, e.g. "SELECT * FROM source_daily LIMIT 10". Only reading is allowed.
    #[arg(value_name = "SQL")]
    pub sql: String,
    /// Output format: an aligned `table`, RFC 4180 `csv`, or `json` (an array of objects).
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    let path = context.existing_db_path()?;
    let store = Store::open_read_only(path)
        .with_context(|| format!("cannot open database {}", path.display()))?;
    let mut rows = Vec::new();
    let columns = store.query(&args.sql, &mut |row| {
        rows.push(row.to_vec());
        Ok(())
    })?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    render::write_rows(&mut out, args.format, &columns, &rows)
        .and_then(|()| out.flush())
        .context("cannot write to stdout")?;
    Ok(Outcome::Success)
}
