//! `ruadb sources`: per sending source (policy domain, IP) over a period: volume, DMARC pass
//! and alignment rates, what it signs and passes SPF with, who reported it, and its class.

use std::io::{self, Write};

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use serde::Serialize;

use ruadb_report::DomainName;
use ruadb_store::{SourceFilter, SourceIdentity, SourceTable, SourceView, Store};
#[cfg(test)]
use ruadb_store::{SourceRow, Value};

use crate::Outcome;
use crate::context::Context;
use crate::render::{self, Cells, TableFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this policy domain.
    #[arg(long, value_name = "DOMAIN", value_parser = DomainName::parse)]
    pub domain: Option<DomainName>,
    /// Only reports beginning on or after this day (YYYY-MM-DD, UTC, included).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub since: Option<NaiveDate>,
    /// Only reports beginning before this day (YYYY-MM-DD, UTC, not included), as for
    /// `summary`: `--since 2026-11-16 --until 2026-11-23` is one week.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub until: Option<NaiveDate>,
    /// Output format: an aligned `table`, RFC 4180 `csv`, or `json` (an array of objects).
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|error| format!("expected a date as YYYY-MM-DD: {error}"))
}

/// Midnight UTC starting `day`, in unix seconds.
fn day_start(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |time| time.and_utc().timestamp())
}

pub fn run(args: &Args, context: &Context) -> anyhow::Result<Outcome> {
    if let (Some(since), Some(until)) = (args.since, args.until)
        && until <= since
    {
        bail!(
            "the period is empty: --until {until} is not after --since {since} (--until is the first day not included)"
        );
    }
    let filter = SourceFilter {
        domain: args.domain.as_ref().map(DomainName::to_string),
        since: args.since.map(day_start),
        until: args.until.map(day_start),
    };
    let path = context.existing_db_path()?;
    let store = Store::open_read_only(path)
        .with_context(|| format!("cannot open database {}", path.display()))?;
    let sources = store.sources_compact(&filter)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = write(&mut out, args.format, &sources);
    written
        .and_then(|()| out.flush())
        .context("cannot write to stdout")?;
    Ok(Outcome::Success)
}

/// Writes `sources` in `format`. Rows are made from the compact table as they are written,
/// never all at once: a table reads them twice (to align, then to write), CSV and JSON once.
fn write(out: &mut impl Write, format: TableFormat, sources: &SourceTable) -> io::Result<()> {
    let columns = columns();
    let days = Days::default();
    match format {
        TableFormat::Json => write_json(out, sources),
        TableFormat::Table => render::write_table_of(
            out,
            &columns,
            || sources.views(),
            |source, cells| fill_cells(source, &days, cells),
        ),
        TableFormat::Csv => {
            render::write_csv_of(out, &columns, sources.views(), |source, cells| {
                fill_cells(source, &days, cells)
            })
        }
    }
}

/// Share of `messages`, in percent with one decimal.
fn percent(part: u64, messages: u64) -> f64 {
    if messages == 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / messages as f64).round() / 10.0
}

/// Unix seconds as the UTC day, `YYYY-MM-DD`, with the format parsed once.
struct Days(Vec<chrono::format::Item<'static>>);

impl Default for Days {
    fn default() -> Self {
        Days(chrono::format::StrftimeItems::new("%Y-%m-%d").collect())
    }
}

impl Days {
    /// The day of `seconds` (the number itself if it is out of range).
    fn write(&self, seconds: i64, cells: &mut Cells) {
        match chrono::DateTime::from_timestamp(seconds, 0) {
            Some(time) => cells.display(time.format_with_items(self.0.iter())),
            None => cells.display(seconds),
        }
    }
}

fn columns() -> Vec<String> {
    [
        "domain",
        "source_ip",
        "messages",
        "pass %",
        "spf aligned %",
        "dkim aligned %",
        "dkim domains:selectors",
        "spf domains",
        "reporters",
        "first seen",
        "last seen",
        "class",
        "service",
        "ptr",
        "asn",
        "as_org",
        "country",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The cells of a source in a table or CSV, in the order of [`columns`].
fn fill_cells(source: &SourceView<'_>, days: &Days, cells: &mut Cells) {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let messages = source.messages();
    cells.text(source.policy_domain());
    cells.display(source.source_ip());
    cells.integer(count(messages));
    cells.real(percent(source.dmarc_pass(), messages));
    cells.real(percent(source.spf_aligned(), messages));
    cells.real(percent(source.dkim_aligned(), messages));
    cells.joined(source.dkim_domains(), " ");
    cells.joined(source.spf_domains(), " ");
    cells.joined(source.reporters(), ", ");
    days.write(source.first_seen(), cells);
    days.write(source.last_seen(), cells);
    cells.text(source.classification().as_str());
    let identity = source.identity();
    cells.text_or_null(identity.and_then(|identity| identity.service.as_deref()));
    cells.text_or_null(identity.and_then(|identity| identity.ptr.as_deref()));
    match identity.and_then(|identity| identity.asn) {
        Some(asn) => cells.integer(asn),
        None => cells.null(),
    }
    cells.text_or_null(identity.and_then(|identity| identity.as_org.as_deref()));
    cells.text_or_null(identity.and_then(|identity| identity.country.as_deref()));
}

/// A source as the values of a table or CSV row: what [`fill_cells`] writes, made the slow
/// way, to check it against.
#[cfg(test)]
fn table_row(source: &SourceRow) -> Vec<Value> {
    let count = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    vec![
        Value::Text(source.policy_domain.clone()),
        Value::Text(source.source_ip.clone()),
        count(source.messages),
        Value::Real(percent(source.dmarc_pass, source.messages)),
        Value::Real(percent(source.spf_aligned, source.messages)),
        Value::Real(percent(source.dkim_aligned, source.messages)),
        Value::Text(source.dkim_domains.join(" ")),
        Value::Text(source.spf_domains.join(" ")),
        Value::Text(source.reporters.join(", ")),
        Value::Text(day(source.first_seen)),
        Value::Text(day(source.last_seen)),
        Value::Text(source.classification.as_str().to_owned()),
        text_or_null(source.service.as_deref()),
        text_or_null(source.ptr.as_deref()),
        source.asn.map_or(Value::Null, Value::Integer),
        text_or_null(source.as_org.as_deref()),
        text_or_null(source.country.as_deref()),
    ]
}

#[cfg(test)]
fn day(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0).map_or_else(
        || seconds.to_string(),
        |time| time.format("%Y-%m-%d").to_string(),
    )
}

#[cfg(test)]
fn text_or_null(text: Option<&str>) -> Value {
    text.map_or(Value::Null, |text| Value::Text(text.to_owned()))
}

/// A source in JSON, written from the table's view with no row copied out: the keys and
/// values of [`SourceRow`](ruadb_store::SourceRow) (counts, lists, unix seconds, class) in
/// its order, then the rates.
struct SourceJson<'a>(SourceView<'a>);

impl Serialize for SourceJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let source = &self.0;
        let messages = source.messages();
        let identity = source.identity();
        let text = |field: fn(&SourceIdentity) -> &Option<String>| {
            identity.and_then(|identity| field(identity).as_deref())
        };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("policy_domain", source.policy_domain())?;
        map.serialize_entry("source_ip", &format_args!("{}", source.source_ip()))?;
        map.serialize_entry("messages", &messages)?;
        map.serialize_entry("dmarc_pass", &source.dmarc_pass())?;
        map.serialize_entry("spf_aligned", &source.spf_aligned())?;
        map.serialize_entry("dkim_aligned", &source.dkim_aligned())?;
        map.serialize_entry("dkim_domains", &Listed(|| source.dkim_domains()))?;
        map.serialize_entry("spf_domains", &Listed(|| source.spf_domains()))?;
        map.serialize_entry("reporters", &Listed(|| source.reporters()))?;
        map.serialize_entry("first_seen", &source.first_seen())?;
        map.serialize_entry("last_seen", &source.last_seen())?;
        map.serialize_entry("classification", &source.classification())?;
        map.serialize_entry("service", &text(|identity| &identity.service))?;
        map.serialize_entry("ptr", &text(|identity| &identity.ptr))?;
        map.serialize_entry("asn", &identity.and_then(|identity| identity.asn))?;
        map.serialize_entry("as_org", &text(|identity| &identity.as_org))?;
        map.serialize_entry("country", &text(|identity| &identity.country))?;
        map.serialize_entry("dmarc_pass_pct", &percent(source.dmarc_pass(), messages))?;
        map.serialize_entry("spf_aligned_pct", &percent(source.spf_aligned(), messages))?;
        map.serialize_entry(
            "dkim_aligned_pct",
            &percent(source.dkim_aligned(), messages),
        )?;
        map.end()
    }
}

/// A list of names, serialized as an array from the iterator `.0` makes.
struct Listed<F>(F);

impl<'a, F, I> Serialize for Listed<F>
where
    F: Fn() -> I,
    I: Iterator<Item = &'a str>,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

/// A pretty-printed JSON array, one object per source, written as the rows come.
fn write_json(out: &mut impl Write, sources: &SourceTable) -> io::Result<()> {
    use serde::Serializer as _;
    let mut serializer = serde_json::Serializer::pretty(&mut *out);
    serializer.collect_seq(sources.views().map(SourceJson))?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rounds_to_one_decimal() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(5, 5), 100.0);
    }

    /// The fixtures, and one of them again from a reporter whose name has a control
    /// sequence, a comma, quotes and an invisible character (escaped in a table, kept and
    /// quoted in CSV).
    fn store_of_fixtures() -> Store {
        let mut store = Store::open_in_memory(ruadb_store::StoreOptions::default()).unwrap();
        let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/summary");
        let mut paths: Vec<_> = std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "xml"))
            .collect();
        paths.sort();
        assert!(paths.len() >= 5, "{paths:?}");
        let hostile = std::fs::read_to_string(&paths[0])
            .unwrap()
            .replacen("<org_name>", "<org_name>evil\u{1b}[2J, \"org\"\u{200b} ", 1)
            .replacen("<report_id>", "<report_id>hostile-", 1);
        let mut batch = store.begin_batch().unwrap();
        for path in &paths {
            let source = ruadb_store::MessageSource::File {
                path: path.display().to_string(),
            };
            batch
                .ingest_bytes(&std::fs::read(path).unwrap(), &source)
                .unwrap();
        }
        batch
            .ingest_bytes(hostile.as_bytes(), &ruadb_store::MessageSource::Stdin)
            .unwrap();
        batch.commit().unwrap();
        store
    }

    #[test]
    fn cells_and_json_are_the_values_of_the_rows() {
        let store = store_of_fixtures();
        let table = store.sources_compact(&SourceFilter::default()).unwrap();
        assert!(table.len() > 5, "{}", table.len());
        let columns = columns();
        let mut expected = Vec::new();
        render::write_table_twice(&mut expected, &columns, || {
            table.rows().map(|source| table_row(&source))
        })
        .unwrap();
        let mut written = Vec::new();
        write(&mut written, TableFormat::Table, &table).unwrap();
        let text = String::from_utf8(written).unwrap();
        assert_eq!(text, String::from_utf8(expected).unwrap());
        assert!(text.contains(r#"evil\x1b[2J, "org"\u{200b}"#), "{text}");

        let mut expected =
            render::RowWriter::start(Vec::new(), TableFormat::Csv, &columns).unwrap();
        for source in table.rows() {
            expected.write_row(&table_row(&source)).unwrap();
        }
        let mut written = Vec::new();
        write(&mut written, TableFormat::Csv, &table).unwrap();
        let csv = String::from_utf8(written).unwrap();
        assert_eq!(csv, String::from_utf8(expected.finish().unwrap()).unwrap());
        assert!(
            csv.contains("\"evil\u{1b}[2J, \"\"org\"\"\u{200b}"),
            "{csv}"
        );

        /// The JSON of a source as serde derives it from the row.
        #[derive(Serialize)]
        struct RowJson {
            #[serde(flatten)]
            row: SourceRow,
            dmarc_pass_pct: f64,
            spf_aligned_pct: f64,
            dkim_aligned_pct: f64,
        }
        let rows: Vec<RowJson> = table
            .rows()
            .map(|row| RowJson {
                dmarc_pass_pct: percent(row.dmarc_pass, row.messages),
                spf_aligned_pct: percent(row.spf_aligned, row.messages),
                dkim_aligned_pct: percent(row.dkim_aligned, row.messages),
                row,
            })
            .collect();
        let mut written = Vec::new();
        write(&mut written, TableFormat::Json, &table).unwrap();
        let json = String::from_utf8(written).unwrap();
        assert_eq!(json, serde_json::to_string_pretty(&rows).unwrap() + "\n");
        assert!(
            json.contains("\"evil\\u001b[2J, \\\"org\\\"\u{200b} "),
            "{json}"
        );
    }

    #[test]
    fn days_are_utc_midnights() {
        let day = parse_day("2026-11-16").unwrap();
        assert_eq!(day_start(day), 1_794_787_200);
        assert!(parse_day("16/11/2026").is_err());
    }
}
