//! Building the `WHERE` clause of a read from a [`ReportFilter`].

use super::read::ReportFilter;
use rusqlite::ToSql;

/// Which reports to read, as a condition on `rep` (the `reports` table) and its parameters.
/// Only the conditions that apply are written, so that SQLite sees a plain
/// `policy_domain = ?` or `begin_utc >= ?` and uses the index on it.
#[derive(Default)]
pub(crate) struct Selection<'a> {
    clauses: Vec<String>,
    params: Vec<&'a dyn ToSql>,
}

impl<'a> Selection<'a> {
    /// The reports `filter` selects.
    pub(crate) fn of(filter: &'a ReportFilter) -> Selection<'a> {
        Selection::default()
            .and_some("rep.policy_domain = ?", &filter.policy_domain)
            .and_some("rep.begin_utc >= ?", &filter.begin_at_or_after)
            .and_some("rep.begin_utc < ?", &filter.begin_before)
            .and_some("rep.end_utc >= ?", &filter.end_at_or_after)
    }

    /// Adds `clause` when `value` is given; its one `?` is bound to the value.
    pub(crate) fn and_some<T: ToSql>(
        mut self,
        clause: &str,
        value: &'a Option<T>,
    ) -> Selection<'a> {
        if let Some(value) = value {
            self.params.push(value);
            self.clauses
                .push(clause.replace('?', &format!("?{}", self.params.len())));
        }
        self
    }

    /// The `WHERE` clause, empty when everything is selected.
    pub(crate) fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The parameters of [`Selection::where_clause`].
    pub(crate) fn params(&self) -> &[&'a dyn ToSql] {
        &self.params
    }
}
