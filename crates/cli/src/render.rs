//! Tabular output: aligned text tables, RFC 4180 CSV and JSON (an array of objects).
//!
//! A table is for a person at a terminal, so its cells and column names show controls and
//! invisible format characters escaped ([`ruadb_report::escape_for_terminal`]). CSV and JSON
//! are for programs and carry every value exactly, as stored: a spreadsheet or script must
//! get the reporter's bytes, not our rendering of them. To look at CSV in a terminal, use a
//! viewer that shows controls (`less`, `cat -v`).

use std::borrow::Cow;
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
    let mut text = String::new();
    push_text(&mut text, value);
    text
}

/// Appends `value` as table or CSV text (see [`text`]).
fn push_text(out: &mut String, value: &Value) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = match value {
        Value::Null => Ok(()),
        Value::Integer(number) => write!(out, "{number}"),
        Value::Real(number) => write_real(out, *number),
        Value::Text(text) => out.write_str(text),
        Value::Blob(bytes) => {
            out.reserve(bytes.len() * 2 + 3);
            out.push_str("x'");
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
            out.write_str("'")
        }
    };
}

/// A real as SQLite prints it: a whole-valued real keeps its ".0" (100.0, not 100).
fn write_real(out: &mut String, number: f64) -> std::fmt::Result {
    use std::fmt::Write as _;
    if number.fract() == 0.0 && number.abs() < 1e15 {
        write!(out, "{number:.1}")
    } else {
        write!(out, "{number}")
    }
}

/// What a cell holds, for the alignment of its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellKind {
    Null,
    Number,
    Text,
}

/// The cells of one row as text, back to back in one buffer: a row is made without a
/// [`Value`] (and a `String`) per cell. Cells are added in column order; in a table, text is
/// escaped for the terminal as it is added.
pub struct Cells {
    text: String,
    /// Where each cell ends in `text`, and what it holds.
    ends: Vec<(usize, CellKind)>,
    /// Whether text is escaped for a terminal (a table) or kept as is (CSV).
    escape: bool,
}

impl Cells {
    fn new(escape: bool) -> Cells {
        Cells {
            text: String::new(),
            ends: Vec::new(),
            escape,
        }
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    /// The cells added, with their kinds.
    fn iter(&self) -> impl Iterator<Item = (&str, CellKind)> {
        let mut start = 0;
        self.ends.iter().map(move |&(end, kind)| {
            let cell = self.text.get(start..end).unwrap_or("");
            start = end;
            (cell, kind)
        })
    }

    fn end(&mut self, kind: CellKind) {
        self.ends.push((self.text.len(), kind));
    }

    /// Ends a text cell begun at `start`, escaping it for a table.
    fn end_text(&mut self, start: usize) {
        if self.escape
            && let Some(cell) = self.text.get(start..)
            // Printable ASCII, most cells, needs no escape: skip the look at every character.
            && !cell.bytes().all(|byte| matches!(byte, b' '..=b'~'))
            && let Cow::Owned(escaped) = escape_for_terminal(cell)
        {
            self.text.truncate(start);
            self.text.push_str(&escaped);
        }
        self.end(CellKind::Text);
    }

    /// A text cell.
    pub fn text(&mut self, text: &str) {
        let start = self.text.len();
        self.text.push_str(text);
        self.end_text(start);
    }

    /// A text cell written by `Display`.
    pub fn display(&mut self, value: impl std::fmt::Display) {
        use std::fmt::Write as _;
        let start = self.text.len();
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{value}");
        self.end_text(start);
    }

    /// A text cell: `items` with `separator` between them.
    pub fn joined<'t>(&mut self, items: impl Iterator<Item = &'t str>, separator: &str) {
        let start = self.text.len();
        for (position, item) in items.enumerate() {
            if position > 0 {
                self.text.push_str(separator);
            }
            self.text.push_str(item);
        }
        self.end_text(start);
    }

    /// A text cell, or an empty one for `None` (NULL).
    pub fn text_or_null(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.text(text),
            None => self.null(),
        }
    }

    /// An integer cell.
    pub fn integer(&mut self, number: i64) {
        use std::fmt::Write as _;
        let _ = write!(self.text, "{number}");
        self.end(CellKind::Number);
    }

    /// A real cell, as SQLite prints it.
    pub fn real(&mut self, number: f64) {
        let _ = write_real(&mut self.text, number);
        self.end(CellKind::Number);
    }

    /// An empty cell (NULL).
    pub fn null(&mut self) {
        self.end(CellKind::Null);
    }

    /// A cell of any [`Value`].
    fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.null(),
            Value::Integer(number) => self.integer(*number),
            Value::Real(number) => self.real(*number),
            Value::Text(text) => self.text(text),
            Value::Blob(_) => {
                let start = self.text.len();
                push_text(&mut self.text, value);
                self.end_text(start);
            }
        }
    }
}

fn write_table(out: &mut impl Write, columns: &[String], rows: &[Vec<Value>]) -> io::Result<()> {
    write_table_twice(out, columns, || rows.iter())
}

/// Writes an aligned table from rows that `rows` can produce twice (see
/// [`write_table_of`]).
pub fn write_table_twice<I>(
    out: &mut impl Write,
    columns: &[String],
    rows: impl Fn() -> I,
) -> io::Result<()>
where
    I: Iterator,
    I::Item: AsRef<[Value]>,
{
    write_table_of(out, columns, rows, |row, cells| {
        for value in row.as_ref() {
            cells.value(value);
        }
    })
}

/// Bytes of cells (text and offsets) an aligned table keeps from its first pass (sizing the
/// columns) for its second (writing them); rows beyond are made again. The 12,600 rows of
/// one large domain's sources take about 4 MiB.
const KEPT_CELL_BYTES: usize = 8 << 20;

/// Writes an aligned table of the items that `items` can produce twice, each made into a row
/// of cells by `fill`: once to size the columns, once to write them. The cells of the first
/// rows (up to [`KEPT_CELL_BYTES`]) are kept from the first pass, each cell made once; rows
/// beyond are made again, so a large table costs time rather than memory.
pub fn write_table_of<I>(
    out: &mut impl Write,
    columns: &[String],
    items: impl Fn() -> I,
    fill: impl Fn(&I::Item, &mut Cells),
) -> io::Result<()>
where
    I: Iterator,
{
    write_table_keeping(out, columns, items, fill, KEPT_CELL_BYTES)
}

/// [`write_table_of`], keeping at most `kept_bytes` of cells between the passes.
fn write_table_keeping<I>(
    out: &mut impl Write,
    columns: &[String],
    items: impl Fn() -> I,
    fill: impl Fn(&I::Item, &mut Cells),
    kept_bytes: usize,
) -> io::Result<()>
where
    I: Iterator,
{
    let mut header = Cells::new(true);
    for name in columns {
        header.text(name);
    }
    let mut widths: Vec<usize> = header
        .iter()
        .map(|(name, _)| name.chars().count())
        .collect();
    // A column is right-aligned when it holds numbers and nothing else but NULL.
    let mut only_numbers = vec![true; columns.len()];
    let mut any_number = vec![false; columns.len()];
    let mut kept = KeptRows {
        limit: kept_bytes,
        ..KeptRows::default()
    };
    let mut keeping = true;
    let mut cells = Cells::new(true);
    for item in items() {
        cells.clear();
        fill(&item, &mut cells);
        for (index, (cell, kind)) in cells.iter().enumerate() {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(chars(cell));
            }
            if let (Some(only), Some(any)) =
                (only_numbers.get_mut(index), any_number.get_mut(index))
            {
                *only &= kind != CellKind::Text;
                *any |= kind == CellKind::Number;
            }
        }
        keeping = keeping && kept.keep(&cells);
    }
    let numeric: Vec<bool> = only_numbers
        .iter()
        .zip(&any_number)
        .map(|(only, any)| *only && *any)
        .collect();
    let mut line = String::new();
    let mut write_line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| {
        line.clear();
        for (index, value) in cells.enumerate() {
            let width = widths.get(index).copied().unwrap_or(0);
            let padding = width.saturating_sub(chars(value));
            if index > 0 {
                line.push_str("  ");
            }
            if numeric.get(index).copied().unwrap_or(false) {
                push_spaces(&mut line, padding);
                line.push_str(value);
            } else {
                line.push_str(value);
                push_spaces(&mut line, padding);
            }
        }
        out.write_all(line.trim_end().as_bytes())?;
        out.write_all(b"\n")
    };
    write_line(out, &mut header.iter().map(|(name, _)| name))?;
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    write_line(out, &mut rule.iter().map(String::as_str))?;
    for row in kept.rows() {
        write_line(out, &mut row.into_iter())?;
    }
    for item in items().skip(kept.row_ends.len()) {
        cells.clear();
        fill(&item, &mut cells);
        write_line(out, &mut cells.iter().map(|(cell, _)| cell))?;
    }
    Ok(())
}

/// The cells of the first rows of a table, from the pass that sizes the columns to the pass
/// that writes them: at most `limit` bytes, text and offsets.
#[derive(Default)]
struct KeptRows {
    limit: usize,
    text: String,
    /// Where each cell ends in `text`.
    cell_ends: Vec<u32>,
    /// Where each row ends in `cell_ends`.
    row_ends: Vec<u32>,
}

impl KeptRows {
    /// Keeps the row `cells` if it fits; false (and nothing kept) if not.
    fn keep(&mut self, cells: &Cells) -> bool {
        let size = |text: usize, cells: usize| text + 4 * cells;
        let after = size(
            self.text.len() + cells.text.len(),
            self.cell_ends.len() + cells.ends.len() + self.row_ends.len() + 1,
        );
        let offset = self.text.len();
        if after > self.limit {
            return false;
        }
        self.text.push_str(&cells.text);
        // Below KEPT_CELL_BYTES, every offset fits.
        let fit = |at: usize| u32::try_from(at).unwrap_or(u32::MAX);
        self.cell_ends
            .extend(cells.ends.iter().map(|&(end, _)| fit(offset + end)));
        self.row_ends.push(fit(self.cell_ends.len()));
        true
    }

    /// The rows kept, in order, each as its cells.
    fn rows(&self) -> impl Iterator<Item = impl Iterator<Item = &str>> {
        let mut first_cell = 0usize;
        let mut start = 0usize;
        self.row_ends.iter().map(move |&row_end| {
            let ends = self
                .cell_ends
                .get(first_cell..row_end as usize)
                .unwrap_or(&[]);
            first_cell = row_end as usize;
            let row_start = start;
            if let Some(&last) = ends.last() {
                start = last as usize;
            }
            let mut cell_start = row_start;
            ends.iter().map(move |&end| {
                let cell = self.text.get(cell_start..end as usize).unwrap_or("");
                cell_start = end as usize;
                cell
            })
        })
    }
}

/// The characters of `text`, which is their bytes when it is ASCII (most cells).
fn chars(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

/// Appends `count` spaces.
fn push_spaces(line: &mut String, count: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = count;
    while left > 0 {
        let now = left.min(SPACES.len());
        line.push_str(&SPACES[..now]);
        left -= now;
    }
}

/// Writes RFC 4180 CSV (see [`TableFormat::Csv`]) of `items`, each made into a row of cells
/// by `fill`.
pub fn write_csv_of<T>(
    out: &mut impl Write,
    columns: &[String],
    items: impl Iterator<Item = T>,
    fill: impl Fn(&T, &mut Cells),
) -> io::Result<()> {
    let header: Vec<String> = columns.iter().map(|name| csv_field(name)).collect();
    write!(out, "{}\r\n", header.join(","))?;
    let mut cells = Cells::new(false);
    let mut line = String::new();
    for item in items {
        cells.clear();
        fill(&item, &mut cells);
        line.clear();
        for (index, (cell, _)) in cells.iter().enumerate() {
            if index > 0 {
                line.push(',');
            }
            push_csv_field(&mut line, cell);
        }
        line.push_str("\r\n");
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Appends `value` as a CSV field, quoted if it must be.
fn push_csv_field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

fn csv_field(value: &str) -> String {
    let mut field = String::new();
    push_csv_field(&mut field, value);
    field
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
    fn a_table_is_the_same_whatever_it_keeps_between_its_passes() {
        let columns = vec!["name".to_owned(), "n".to_owned(), "rate".to_owned()];
        let rows: Vec<Vec<Value>> = (0..50)
            .map(|n| {
                vec![
                    Value::Text(format!("row\t{}", "x".repeat(n % 7))),
                    if n % 5 == 0 {
                        Value::Null
                    } else {
                        Value::Integer(n as i64 * 1001)
                    },
                    Value::Real(n as f64 / 4.0),
                ]
            })
            .collect();
        let table = |kept_bytes| {
            let mut out = Vec::new();
            write_table_keeping(
                &mut out,
                &columns,
                || rows.iter(),
                |row, cells| row.iter().for_each(|value| cells.value(value)),
                kept_bytes,
            )
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        let whole = table(KEPT_CELL_BYTES);
        assert_eq!(whole.lines().count(), 52);
        assert!(whole.contains("row\\txxxxxx   6006    1.5\n"), "{whole}");
        for kept_bytes in [0, 1, 100, 1000] {
            assert_eq!(table(kept_bytes), whole, "keeping {kept_bytes} bytes");
        }
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
