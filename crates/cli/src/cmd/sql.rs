//! `ruadb sql`: one read-only SQL statement against the database (views documented in the
//! README section "SQL").

use std::cell::RefCell;
use std::io::{self, Write};

use anyhow::Context as _;

use ruadb_store::{QueryRow, Store, StoreError};

use crate::Outcome;
use crate::context::Context;
use crate::render::{RowWriter, TableFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The statement, e.g. "SELECT * FROM source_daily LIMIT 10". Only reading is allowed.
    #[arg(value_name = "SQL")]
    pub sql: String,
    /// Output format: an aligned `table`, RFC 4180 `csv`, or `json` (an array of objects).
    /// `csv` and `json` stream each row as it is read, in constant memory; `table` keeps every
    /// row until the end to align the columns, so use csv or json for large results.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    let path = context.existing_db_path()?;
    let store = Store::open_for_queries(path)
        .with_context(|| format!("cannot open database {}", path.display()))?;
    // Both callbacks write to the same output: the header once the columns are known, then
    // each row as SQLite produces it. A failed write stops the query; its I/O error is kept
    // here to be reported as such.
    let state = RefCell::new(Streaming {
        out: Some(io::BufWriter::new(io::stdout().lock())),
        writer: None,
        write_error: None,
    });
    let queried = store.query_streaming(
        &args.sql,
        &mut |columns| state.borrow_mut().start(args.format, columns),
        &mut |row| state.borrow_mut().row(row),
    );
    let state = state.into_inner();
    if let Some(error) = state.write_error {
        return Err(error).context("cannot write to stdout");
    }
    queried?;
    if let Some(writer) = state.writer {
        writer
            .finish()
            .and_then(|mut out| out.flush())
            .context("cannot write to stdout")?;
    }
    Ok(Outcome::Success)
}

/// The output of a streaming query.
struct Streaming<W: Write> {
    /// The output until the columns are known.
    out: Option<W>,
    writer: Option<RowWriter<W>>,
    write_error: Option<io::Error>,
}

impl<W: Write> Streaming<W> {
    fn start(&mut self, format: TableFormat, columns: &[String]) -> Result<(), StoreError> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        match RowWriter::start(out, format, columns) {
            Ok(writer) => {
                self.writer = Some(writer);
                Ok(())
            }
            Err(error) => Err(self.stop(error)),
        }
    }

    fn row(&mut self, row: &QueryRow) -> Result<(), StoreError> {
        match self.writer.as_mut().map(|writer| writer.write_row(row)) {
            Some(Err(error)) => Err(self.stop(error)),
            _ => Ok(()),
        }
    }

    /// Keeps `error` for the caller and returns what stops the query.
    fn stop(&mut self, error: io::Error) -> StoreError {
        let stopped = StoreError::Io(io::Error::new(error.kind(), error.to_string()));
        self.write_error = Some(error);
        stopped
    }
}
