//! Tabular output: aligned text tables, RFC 4180 CSV and JSON (an array of objects).

use std::io::{self, Write};

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
pub fn write_rows(
    out: &mut impl Write,
    format: TableFormat,
    columns: &[String],
    rows: &[Vec<Value>],
) -> io::Result<()> {
    match format {
        TableFormat::Table => write_table(out, columns, rows),
        TableFormat::Csv => write_csv(out, columns, rows),
        TableFormat::Json => write_json(out, columns, rows),
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
    // Line breaks and tabs inside a value would break the grid, so they are shown escaped.
    let cell = |value: &Value| {
        text(value)
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
            .replace('\t', "\\t")
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(cell).collect())
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|name| name.chars().count()).collect();
    for row in &cells {
        for (width, value) in widths.iter_mut().zip(row) {
            *width = (*width).max(value.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..columns.len())
        .map(|index| {
            rows.iter()
                .filter_map(|row| row.get(index))
                .all(|value| is_number(value) || *value == Value::Null)
                && rows.iter().any(|row| row.get(index).is_some_and(is_number))
        })
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
    line(out, columns)?;
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    line(out, &rule)?;
    for row in &cells {
        line(out, row)?;
    }
    Ok(())
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn write_csv(out: &mut impl Write, columns: &[String], rows: &[Vec<Value>]) -> io::Result<()> {
    let header: Vec<String> = columns.iter().map(|name| csv_field(name)).collect();
    write!(out, "{}\r\n", header.join(","))?;
    for row in rows {
        let fields: Vec<String> = row.iter().map(|value| csv_field(&text(value))).collect();
        write!(out, "{}\r\n", fields.join(","))?;
    }
    Ok(())
}

fn write_json(out: &mut impl Write, columns: &[String], rows: &[Vec<Value>]) -> io::Result<()> {
    out.write_all(b"[")?;
    for (index, row) in rows.iter().enumerate() {
        out.write_all(if index == 0 { b"\n{" } else { b",\n{" })?;
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
        out.write_all(b"}")?;
    }
    out.write_all(if rows.is_empty() { b"]\n" } else { b"\n]\n" })
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
}
