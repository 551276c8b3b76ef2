//! Typed values across the SQL boundary: the report enums as SQL text, and reading columns by
//! name.
//!
//! The report enums are stored as their specification spelling ([`ReportEnum::as_sql`], the
//! same as `as_str`) and read back with the parser's own lenient reading, so a value written
//! by any version reads as the same variant, and a value the specification does not list
//! round-trips as `Unknown`. Both the enums and rusqlite's traits are foreign to this crate,
//! so they meet in the [`Sql`] wrapper.

use ruadb_report::{
    AlignmentMode, DiscoveryMethod, Disposition, DkimResult, Policy, PolicyOverride, SpfResult,
    SpfScope, Testing, Verdict,
};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Row, RowIndex, Statement};

/// A report enum stored as SQL text.
pub(crate) trait ReportEnum: Sized {
    /// The stored spelling.
    fn as_sql(&self) -> &str;
    /// Reads a stored spelling (any spelling the parser accepts).
    fn from_sql(text: &str) -> Self;
}

macro_rules! report_enums {
    ($($name:ty),+ $(,)?) => {$(
        impl ReportEnum for $name {
            fn as_sql(&self) -> &str {
                self.as_str()
            }

            fn from_sql(text: &str) -> Self {
                <$name>::from_xml(text)
            }
        }
    )+};
}

report_enums!(
    AlignmentMode,
    DiscoveryMethod,
    DkimResult,
    Disposition,
    Policy,
    PolicyOverride,
    SpfResult,
    SpfScope,
    Testing,
    Verdict,
);

/// A report enum as an SQL value: `Sql(&DkimResult::Pass)` binds `'pass'`, and
/// `row.get::<_, Sql<DkimResult>>("result")?.0` reads one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sql<T>(pub T);

impl<T: ReportEnum> ToSql for Sql<&T> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(
            self.0.as_sql().as_bytes(),
        )))
    }
}

impl<T: ReportEnum> FromSql for Sql<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Text(text) => std::str::from_utf8(text)
                .map(|text| Sql(T::from_sql(text)))
                .map_err(|error| FromSqlError::Other(Box::new(error))),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// The positions of the columns named `names` in `statement`'s result, in that order: looked
/// up once per statement, so that a stream of millions of rows reads its columns by name
/// without searching the names on every row.
pub(crate) fn columns<const N: usize>(
    statement: &Statement<'_>,
    names: [&str; N],
) -> rusqlite::Result<[usize; N]> {
    let mut indexes = [0; N];
    for (index, name) in indexes.iter_mut().zip(names) {
        *index = statement.column_index(name)?;
    }
    Ok(indexes)
}

/// Reads the report enum in column `index` (a name, or a position from [`columns`]); NULL
/// reads as `None`.
pub(crate) fn optional_enum<T: ReportEnum>(
    row: &Row<'_>,
    index: impl RowIndex,
) -> rusqlite::Result<Option<T>> {
    Ok(row.get::<_, Option<Sql<T>>>(index)?.map(|Sql(value)| value))
}

/// Reads the report enum in column `index`.
pub(crate) fn report_enum<T: ReportEnum>(
    row: &Row<'_>,
    index: impl RowIndex,
) -> rusqlite::Result<T> {
    Ok(row.get::<_, Sql<T>>(index)?.0)
}

/// Column `index` as text borrowed from SQLite's buffer; NULL reads as `None`. Reading in
/// place is what lets a stream of millions of rows refill one set of strings.
pub(crate) fn borrowed_text<'row>(
    row: &'row Row<'_>,
    index: impl RowIndex + Copy,
) -> rusqlite::Result<Option<&'row str>> {
    let index = index.idx(row.as_ref())?;
    let name = || {
        let name = row.as_ref().column_name(index);
        name.unwrap_or_default().to_owned()
    };
    row.get_ref(index)?
        .as_str_or_null()
        .map_err(|error| match error {
            FromSqlError::InvalidType => {
                rusqlite::Error::InvalidColumnType(index, name(), rusqlite::types::Type::Blob)
            }
            other => rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(other),
            ),
        })
}

/// A count column as `u64`: SQLite integers are signed, and a negative count (only a database
/// edited by hand has one) reads as 0.
pub(crate) fn count(row: &Row<'_>, index: impl RowIndex) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0))
}

/// Writes the canonical text of `ip`, the one `records.source_ip` holds (`Display`'s). IPv4
/// addresses, most sources, are written digit by digit: the formatting machinery cost about a
/// thousand instructions per record.
fn write_ip(text: &mut impl std::fmt::Write, ip: std::net::IpAddr) -> std::fmt::Result {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (position, octet) in v4.octets().into_iter().enumerate() {
                if position > 0 {
                    text.write_char('.')?;
                }
                if octet >= 100 {
                    text.write_char(char::from(b'0' + octet / 100))?;
                }
                if octet >= 10 {
                    text.write_char(char::from(b'0' + octet / 10 % 10))?;
                }
                text.write_char(char::from(b'0' + octet % 10))?;
            }
            Ok(())
        }
        std::net::IpAddr::V6(v6) => write!(text, "{v6}"),
    }
}

/// The canonical text of a source IP, the one `records.source_ip` holds (`Display`'s), held
/// without an allocation, so that it is written once per record, on the parser thread, and
/// travels with the record.
#[derive(Clone, Copy)]
pub(crate) struct IpText {
    len: u8,
    /// An IPv6 address with an IPv4 tail takes 45 bytes at most.
    bytes: [u8; 46],
}

impl IpText {
    pub(crate) fn new(ip: std::net::IpAddr) -> IpText {
        let mut text = IpText {
            len: 0,
            bytes: [0; 46],
        };
        // Never too long (see `bytes`).
        let _ = write_ip(&mut text, ip);
        text
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let at = usize::from(self.len);
        let end = at + text.len();
        let room = self.bytes.get_mut(at..end).ok_or(std::fmt::Error)?;
        room.copy_from_slice(text.as_bytes());
        self.len = u8::try_from(end).map_err(|_| std::fmt::Error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn enums_round_trip_through_sql_text() {
        let connection = Connection::open_in_memory().unwrap();
        let values = [
            DkimResult::Pass,
            DkimResult::TempError,
            DkimResult::Unknown("weird".to_owned()),
        ];
        for value in values {
            let (text, back): (String, Sql<DkimResult>) = connection
                .query_row("SELECT ?1, ?1", [Sql(&value)], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .unwrap();
            assert_eq!(text, value.as_str());
            assert_eq!(back.0, value);
        }
    }

    #[test]
    fn columns_are_read_by_name() {
        let connection = Connection::open_in_memory().unwrap();
        let (policy, missing, disposition, messages, text) = connection
            .query_row(
                "SELECT 'Reject' AS p, NULL AS sp, 'quarantine' AS disposition, -3 AS n, 'x' AS t",
                [],
                |row| {
                    Ok((
                        optional_enum::<Policy>(row, "p")?,
                        optional_enum::<Policy>(row, "sp")?,
                        report_enum::<Disposition>(row, "disposition")?,
                        count(row, "n")?,
                        borrowed_text(row, "t")?.map(str::to_owned),
                    ))
                },
            )
            .unwrap();
        assert_eq!(policy, Some(Policy::Reject));
        assert_eq!(missing, None);
        assert_eq!(disposition, Disposition::Quarantine);
        assert_eq!(messages, 0);
        assert_eq!(text.as_deref(), Some("x"));
        let error = connection
            .query_row("SELECT 1 AS p", [], |row| optional_enum::<Policy>(row, "p"))
            .unwrap_err();
        assert!(error.to_string().contains("Invalid column type"), "{error}");
    }

    #[test]
    fn source_ip_text_is_display_text() {
        let octets = [0u8, 1, 9, 10, 42, 99, 100, 101, 199, 200, 250, 255];
        for a in octets {
            for b in octets {
                for c in [0u8, 7, 10, 100, 255] {
                    for d in octets {
                        let ip = IpAddr::V4(Ipv4Addr::new(a, b, c, d));
                        assert_eq!(IpText::new(ip).as_str(), ip.to_string());
                    }
                }
            }
        }
        for ip in [
            "2001:db8::7",
            "::ffff:192.0.2.1",
            "::",
            "fe80::1:2:3:4",
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::new(ip).as_str(), ip.to_string());
        }
    }
}
