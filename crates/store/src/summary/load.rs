//! Reading the reports, records and authentication results a summary or a classification
//! needs. All SQL of the summary is here; everything else works on the loaded [`Dataset`].

use super::{
    Dataset, DkimSeen, Period, PublishedPolicy, RecordRow, ReportRow, SpfSeen, Summary, Windows,
    compute,
};
use crate::alignment::domains_aligned;
use crate::classify::{ClassTally, Classification, RecordFacts, classify_record};
use crate::{SourceFilter, Store, StoreError};
use rusqlite::ToSql;
use std::collections::HashMap;

/// The reporter override reasons that mean "forwarded" (RFC 7489 section 6.6.3 values).
const FORWARDING_REASONS: &str = "('forwarded', 'trusted_forwarder', 'mailing_list')";

/// How far before a window a report may begin and still have its midpoint inside it. Real
/// reports cover a day; this only bounds the index scan.
const LONGEST_REPORT: i64 = 400 * super::period::DAY;

/// Which reports to load, as a condition on `rep` (the `reports` table) and its parameters.
struct Selection<'a> {
    condition: &'static str,
    params: Vec<&'a dyn ToSql>,
}

impl Store {
    /// The summary of `period`, for every policy domain with reports in it or in the four
    /// weeks before, or for `domain` only. A pure function of the database and the period.
    pub fn summary(&self, period: Period, domain: Option<&str>) -> Result<Summary, StoreError> {
        let domain = domain.map(|domain| domain.trim().trim_end_matches('.').to_ascii_lowercase());
        let window = Windows::new(period).all();
        let earliest = window.start - LONGEST_REPORT;
        // The midpoint rule itself is applied in Rust (`Period::contains_report`); this
        // condition only has to keep every report whose midpoint can lie in the window.
        let selection = Selection {
            condition: "(?1 IS NULL OR rep.policy_domain = ?1) AND rep.begin_utc >= ?2 \
                        AND rep.begin_utc < ?3 AND rep.end_utc >= ?4",
            params: vec![&domain, &earliest, &window.end, &window.start],
        };
        let data = self.load(&selection)?;
        Ok(compute(period, domain.as_deref(), &data))
    }

    /// The class of each (policy domain, source IP) among the records `filter` selects, for
    /// `ruadb sources`.
    pub(crate) fn source_classes(
        &self,
        filter: &SourceFilter,
    ) -> Result<HashMap<(String, String), Classification>, StoreError> {
        let selection = Selection {
            condition: crate::query::SOURCE_FILTER,
            params: vec![&filter.domain, &filter.since, &filter.until],
        };
        let data = self.load(&selection)?;
        let mut tallies: HashMap<(String, String), ClassTally> = HashMap::new();
        for record in &data.records {
            let Some(report) = data.reports.get(record.report) else {
                continue;
            };
            tallies
                .entry((report.domain.clone(), record.source_ip.clone()))
                .or_default()
                .add(classify_record(&record.facts), record.messages);
        }
        Ok(tallies
            .into_iter()
            .filter_map(|(key, tally)| Some((key, tally.winner()?)))
            .collect())
    }

    fn load(&self, selection: &Selection<'_>) -> Result<Dataset, StoreError> {
        let condition = selection.condition;
        let params = selection.params.as_slice();
        let mut data = Dataset::default();

        let mut report_index: HashMap<i64, usize> = HashMap::new();
        let mut statement = self.connection.prepare(&format!(
            "SELECT rep.id, rep.org_name, rep.policy_domain, rep.begin_utc, rep.end_utc,
                    rep.p, rep.sp, rep.np, rep.pct, rep.testing, rep.adkim, rep.aspf
             FROM reports AS rep WHERE {condition} ORDER BY rep.id"
        ))?;
        let mut rows = statement.query(params)?;
        while let Some(row) = rows.next()? {
            report_index.insert(row.get(0)?, data.reports.len());
            data.reports.push(ReportRow {
                org: row.get(1)?,
                domain: row.get(2)?,
                begin: row.get(3)?,
                end: row.get(4)?,
                policy: PublishedPolicy {
                    p: row.get(5)?,
                    sp: row.get(6)?,
                    np: row.get(7)?,
                    pct: row
                        .get::<_, Option<i64>>(8)?
                        .and_then(|pct| u32::try_from(pct).ok()),
                    testing: row.get(9)?,
                    adkim: row.get(10)?,
                    aspf: row.get(11)?,
                },
            });
        }

        let from_records = format!(
            "FROM records AS rec JOIN reports AS rep ON rep.id = rec.report WHERE {condition}"
        );
        let mut record_index: HashMap<i64, usize> = HashMap::new();
        let mut header_from: Vec<String> = Vec::new();
        let mut statement = self.connection.prepare(&format!(
            "SELECT rec.id, rec.report, rec.source_ip, rec.message_count, rec.disposition,
                    rec.header_from, rec.dmarc_pass, rec.spf_aligned, rec.dkim_aligned
             {from_records} ORDER BY rec.id"
        ))?;
        let mut rows = statement.query(params)?;
        while let Some(row) = rows.next()? {
            let Some(&report) = report_index.get(&row.get::<_, i64>(1)?) else {
                continue;
            };
            record_index.insert(row.get(0)?, data.records.len());
            header_from.push(row.get(5)?);
            let dmarc_pass: bool = row.get(6)?;
            data.records.push(RecordRow {
                report,
                source_ip: row.get(2)?,
                messages: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                disposition: row.get(4)?,
                dmarc_pass,
                spf_aligned: row.get(7)?,
                dkim_aligned: row.get(8)?,
                facts: RecordFacts {
                    dmarc_pass,
                    ..RecordFacts::default()
                },
                dkim: Vec::new(),
                spf: Vec::new(),
            });
        }

        let mut statement = self.connection.prepare(&format!(
            "SELECT d.record, d.domain, d.selector, d.result
             FROM dkim_results AS d JOIN records AS rec ON rec.id = d.record
             JOIN reports AS rep ON rep.id = rec.report WHERE {condition}"
        ))?;
        let mut rows = statement.query(params)?;
        while let Some(row) = rows.next()? {
            let Some(&index) = record_index.get(&row.get::<_, i64>(0)?) else {
                continue;
            };
            let dkim = DkimSeen {
                domain: row.get(1)?,
                selector: row.get(2)?,
                result: row.get(3)?,
            };
            let record = &mut data.records[index];
            if dkim.result == "pass" {
                record.facts.dkim_passed = true;
            } else if dkim.result != "none"
                && domains_aligned(&dkim.domain, &header_from[index], false)
            {
                // `none` means no signature was there to break; any other failure of a
                // signature by the From domain (relaxed) is our own mail damaged in transit.
                record.facts.aligned_signature_failed = true;
            }
            record.dkim.push(dkim);
        }

        // HELO results do not count for DMARC and name the forwarder's host, not a sender.
        let mut statement = self.connection.prepare(&format!(
            "SELECT s.record, s.domain, s.result
             FROM spf_results AS s JOIN records AS rec ON rec.id = s.record
             JOIN reports AS rep ON rep.id = rec.report
             WHERE {condition} AND (s.scope IS NULL OR s.scope <> 'helo')"
        ))?;
        let mut rows = statement.query(params)?;
        while let Some(row) = rows.next()? {
            let Some(&index) = record_index.get(&row.get::<_, i64>(0)?) else {
                continue;
            };
            let spf = SpfSeen {
                domain: row.get(1)?,
                result: row.get(2)?,
            };
            let record = &mut data.records[index];
            record.facts.spf_passed |= spf.result == "pass";
            record.spf.push(spf);
        }

        let mut statement = self.connection.prepare(&format!(
            "SELECT DISTINCT r.record
             FROM reasons AS r JOIN records AS rec ON rec.id = r.record
             JOIN reports AS rep ON rep.id = rec.report
             WHERE {condition} AND r.type IN {FORWARDING_REASONS}"
        ))?;
        let mut rows = statement.query(params)?;
        while let Some(row) = rows.next()? {
            if let Some(&index) = record_index.get(&row.get::<_, i64>(0)?) {
                data.records[index].facts.forwarding_reason = true;
            }
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_of_an_empty_database_says_no_reports() {
        let store = Store::open_in_memory(crate::StoreOptions::default()).unwrap();
        let week = Period::iso_week(2026, 47).unwrap();
        let summary = store.summary(week, None).unwrap();
        assert!(summary.domains.is_empty());
        let summary = store.summary(week, Some("Example.COM.")).unwrap();
        assert_eq!(summary.domains.len(), 1);
        assert_eq!(summary.domains[0].domain, "example.com");
        assert_eq!(summary.domains[0].reports, 0);
        assert!(
            store
                .source_classes(&SourceFilter::default())
                .unwrap()
                .is_empty()
        );
    }
}
