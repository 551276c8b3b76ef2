//! Tabular output: aligned text tables, RFC 4180 CSV and JSON (an array of objects).
//!
//! A table is for a person at a terminal, so its cells and column names show controls and
//! invisible format characters escaped ([`ruadb_report::escape_for_terminal`]). CSV and JSON
//! are for programs and carry every value exactly, as stored: a spreadsheet or script must
//! get the reporter's bytes, not our rendering of them. To look at CSV in a terminal, use a
//! viewer that shows controls (`less`, `cat -v`).

use std::io::{self, Write};

use ruadb_report::escape_for_terminal;
use ruadb_store::Value;

/// How a table of rows is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    /// Columns aligned with spaces under a header; numbers right-aligned.
    Table,
    /// RFC 4180: comma-separated, CRLF line ends, a header row, quotes where needed.
    Csv,
    /// One JSON array of objects, keys in column order.
    Json,
}

/// Writes `rows` (each as long as `columns`) in `format`.
#[cfg(test)]
pub fn write_rows<W: Write>(
    out: W,
    format: TableFormat,
    columns: &[String],
    rows: &[Vec<Value>],
) -> io::Result<()> {
    if format == TableFormat::Table {
        // The rows are all here already: no copy into the writer's buffer.
        let mut out = out;
        return write_table(&mut out, columns, rows);
    }
    let mut writer = RowWriter::start(out, format, columns)?;
    for row in rows {
        writer.write_row(row)?;
    }
    writer.finish().map(drop)
}

/// Writes rows one at a time as they arrive. CSV and JSON go out at once, so a result of any
/// size streams in constant memory; an aligned table needs every row to size its columns, so
/// that format alone keeps them until [`RowWriter::finish`].
pub struct RowWriter<W: Write> {
    out: W,
    format: TableFormat,
    columns: Vec<String>,
    rows_written: u64,
    /// Rows kept for [`TableFormat::Table`].
    table: Vec<Vec<Value>>,
}

impl<W: Write> RowWriter<W> {
    /// Writes what comes before the first row (the CSV header, the JSON `[`).
    pub fn start(mut out: W, format: TableFormat, columns: &[String]) -> io::Result<Self> {
        match format {
            TableFormat::Table => {}
            TableFormat::Csv => {
                let header: Vec<String> = columns.iter().map(|name| csv_field(name)).collect();
                write!(out, "{}\r\n", header.join(","))?;
            }
            TableFormat::Json => out.write_all(b"[")?,
        }
        Ok(RowWriter {
            out,
            format,
            columns: columns.to_vec(),
            rows_written: 0,
            table: Vec::new(),
        })
    }

    /// Writes one row (as long as the columns), or keeps it for a table.
    pub fn write_row(&mut self, row: &[Value]) -> io::Result<()> {
        let first = self.rows_written == 0;
        self.rows_written += 1;
        match self.format {
            TableFormat::Table => {
                self.table.push(row.to_vec());
                Ok(())
            }
            TableFormat::Csv => write_csv_row(&mut self.out, row),
            TableFormat::Json => write_json_row(&mut self.out, &self.columns, row, first),
        }
    }

    /// Writes what comes after the last row (the whole table, the JSON `]`) and hands back
    /// the output.
    pub fn finish(mut self) -> io::Result<W> {
        match self.format {
            TableFormat::Table => write_table(&mut self.out, &self.columns, &self.table)?,
            TableFormat::Csv => {}
            TableFormat::Json => self.out.write_all(if self.rows_written == 0 {
                b"]\n"
            } else {
                b"\n]\n"
            })?,
        }
        Ok(self.out)
    }
}

/// A value as table or CSV text: NULL is empty, a blob is `x'hex'` as in SQL.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Integer(number) => number.to_string(),
        // As SQLite prints them: a whole-valued real keeps its ".0" (100.0, not 100).
        Value::Real(number) if number.fract() == 0.0 && number.abs() < 1e15 => {
            format!("{number:.1}")
        }
        Value::Real(number) => number.to_string(),
        Value::Text(text) => text.clone(),
        Value::Blob(bytes) => {
            let mut hex = String::with_capacity(bytes.len() * 2 + 3);
            hex.push_str("x'");
            for byte in bytes {
                hex.push_str(&format!("{byte:02x}"));
            }
            hex.push('\'');
            hex
        }
    }
}

fn is_number(value: &Value) -> bool {
    matches!(value, Value::Integer(_) | Value::Real(_))
}

fn write_table(out: &mut impl Write, columns: &[String], rows: &[Vec<Value>]) -> io::Result<()> {
    write_table_twice(out, columns, || rows.iter())
}

/// Writes an aligned table from rows that `rows` can produce twice: once to size the
/// columns, once to write them. Nothing is kept between the passes but the column widths,
/// so a large table costs time rather than memory.
pub fn write_table_twice<I>(
    out: &mut impl Write,
    columns: &[String],
    rows: impl Fn() -> I,
) -> io::Result<()>
where
    I: Iterator,
    I::Item: AsRef<[Value]>,
{
    let columns: Vec<String> = columns
        .iter()
        .map(|name| escape_for_terminal(name).into_owned())
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|name| name.chars().count()).collect();
    // A column is right-aligned when it holds numbers and nothing else but NULL.
    let mut only_numbers = vec![true; columns.len()];
    let mut any_number = vec![false; columns.len()];
    for row in rows() {
        for (index, value) in row.as_ref().iter().enumerate() {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(cell(value).chars().count());
            }
            if let (Some(only), Some(any)) =
                (only_numbers.get_mut(index), any_number.get_mut(index))
            {
                *only &= is_number(value) || *value == Value::Null;
                *any |= is_number(value);
            }
        }
    }
    let numeric: Vec<bool> = only_numbers
        .iter()
        .zip(&any_number)
        .map(|(only, any)| *only && *any)
        .collect();
    let line = |out: &mut dyn Write, values: &[String]| -> io::Result<()> {
        let mut text = String::new();
        for (index, value) in values.iter().enumerate() {
            let width = widths.get(index).copied().unwrap_or(0);
            if index > 0 {
                text.push_str("  ");
            }
            if numeric.get(index).copied().unwrap_or(false) {
                text.push_str(&format!("{value:>width$}"));
            } else {
                text.push_str(&format!("{value:<width$}"));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &columns)?;
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    line(out, &rule)?;
    for row in rows() {
        let cells: Vec<String> = row.as_ref().iter().map(cell).collect();
        line(out, &cells)?;
    }
    Ok(())
}

/// A value as a table cell, escaped: line breaks and tabs would break the grid, and other
/// controls could act on the terminal.
fn cell(value: &Value) -> String {
    match value {
        Value::Text(text) => escape_for_terminal(text).into_owned(),
        other => text(other),
    }
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn write_csv_row(out: &mut impl Write, row: &[Value]) -> io::Result<()> {
    let fields: Vec<String> = row.iter().map(|value| csv_field(&text(value))).collect();
    write!(out, "{}\r\n", fields.join(","))
}

fn write_json_row(
    out: &mut impl Write,
    columns: &[String],
    row: &[Value],
    first: bool,
) -> io::Result<()> {
    out.write_all(if first { b"\n{" } else { b",\n{" })?;
    for (position, (name, value)) in columns.iter().zip(row).enumerate() {
        if position > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, name)?;
        out.write_all(b":")?;
        match value {
            // A blob has no JSON form; hex text keeps it readable and lossless.
            Value::Blob(_) => serde_json::to_writer(&mut *out, &text(value))?,
            // NaN and infinities are not JSON numbers.
            Value::Real(number) if !number.is_finite() => out.write_all(b"null")?,
            other => serde_json::to_writer(&mut *out, other)?,
        }
    }
    out.write_all(b"}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(format: TableFormat) -> String {
        let columns = vec!["ip".to_owned(), "messages".to_owned(), "note".to_owned()];
        let rows = vec![
            vec![
                Value::Text("192.0.2.1".into()),
                Value::Integer(5),
                Value::Text("a, \"quoted\"".into()),
            ],
            vec![
                Value::Text("2001:db8::1".into()),
                Value::Integer(120),
                Value::Null,
            ],
        ];
        let mut out = Vec::new();
        write_rows(&mut out, format, &columns, &rows).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_aligns_and_right_aligns_numbers() {
        assert_eq!(
            render(TableFormat::Table),
            "ip           messages  note\n\
             -----------  --------  -----------\n\
             192.0.2.1           5  a, \"quoted\"\n\
             2001:db8::1       120\n"
        );
    }

    #[test]
    fn csv_quotes_per_rfc_4180() {
        assert_eq!(
            render(TableFormat::Csv),
            "ip,messages,note\r\n192.0.2.1,5,\"a, \"\"quoted\"\"\"\r\n2001:db8::1,120,\r\n"
        );
    }

    #[test]
    fn json_is_an_array_of_objects_in_column_order() {
        let json = render(TableFormat::Json);
        assert_eq!(
            json,
            "[\n{\"ip\":\"192.0.2.1\",\"messages\":5,\"note\":\"a, \\\"quoted\\\"\"},\n{\"ip\":\"2001:db8::1\",\"messages\":120,\"note\":null}\n]\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed[1]["messages"], 120);
    }

    #[test]
    fn streaming_writes_csv_and_json_rows_before_the_end() {
        let columns = vec!["n".to_owned()];
        let mut csv = RowWriter::start(Vec::new(), TableFormat::Csv, &columns).unwrap();
        csv.write_row(&[Value::Integer(1)]).unwrap();
        assert_eq!(csv.out, b"n\r\n1\r\n");
        let mut json = RowWriter::start(Vec::new(), TableFormat::Json, &columns).unwrap();
        json.write_row(&[Value::Integer(1)]).unwrap();
        assert_eq!(json.out, b"[\n{\"n\":1}");
        assert_eq!(json.finish().unwrap(), b"[\n{\"n\":1}\n]\n");
        let empty = RowWriter::start(Vec::new(), TableFormat::Json, &columns).unwrap();
        assert_eq!(empty.finish().unwrap(), b"[]\n");
        let mut table = RowWriter::start(Vec::new(), TableFormat::Table, &columns).unwrap();
        table.write_row(&[Value::Integer(1)]).unwrap();
        assert!(table.out.is_empty(), "a table waits for every row");
        assert_eq!(table.finish().unwrap(), b"n\n-\n1\n");
    }
}
