//! Reading the reports, records and authentication results a summary or a classification
//! needs. All SQL of the summary is here; everything else works on the loaded [`Dataset`].

use super::compute::{RecordRow, ReportRow, SummaryBuilder, Windows};
use super::{DkimSeen, Period, PublishedPolicy, SpfSeen, Summary};
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
        let earliest = window.start.saturating_sub(LONGEST_REPORT);
        // The midpoint rule itself is applied in Rust (`Period::contains_report`); this
        // condition only has to keep every report whose midpoint can lie in the window.
        let selection = Selection {
            condition: "(?1 IS NULL OR rep.policy_domain = ?1) AND rep.begin_utc >= ?2 \
                        AND rep.begin_utc < ?3 AND rep.end_utc >= ?4",
            params: vec![&domain, &earliest, &window.end, &window.start],
        };
        let mut builder = SummaryBuilder::new(period, domain.as_deref());
        let handles = self.each_report(&selection, |report| builder.add_report(report))?;
        self.each_record(&selection, &handles, |handle, record| {
            builder.add_record(handle, &record);
        })?;
        Ok(builder.finish())
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
        // Reports name few domains: key the tallies by a domain number, not a copied name.
        let mut domains: Vec<String> = Vec::new();
        let mut domain_numbers: HashMap<String, usize> = HashMap::new();
        let handles = self.each_report(&selection, |report| {
            *domain_numbers
                .entry(report.domain)
                .or_insert_with_key(|name| {
                    domains.push(name.clone());
                    domains.len() - 1
                })
        })?;
        let mut tallies: HashMap<(usize, String), ClassTally> = HashMap::new();
        self.each_record(&selection, &handles, |domain, record| {
            tallies
                .entry((domain, record.source_ip))
                .or_default()
                .add(classify_record(&record.facts), record.messages);
        })?;
        Ok(tallies
            .into_iter()
            .filter_map(|((domain, ip), tally)| {
                Some(((domains[domain].clone(), ip), tally.winner()?))
            })
            .collect())
    }

    /// Hands each selected report to `on_report`; returns the handle it gave back, by
    /// report row id.
    fn each_report(
        &self,
        selection: &Selection<'_>,
        mut on_report: impl FnMut(ReportRow) -> usize,
    ) -> Result<HashMap<i64, usize>, StoreError> {
        let mut handles = HashMap::new();
        let mut statement = self.connection.prepare(&format!(
            "SELECT rep.id, rep.org_name, rep.policy_domain, rep.begin_utc, rep.end_utc,
                    rep.p, rep.sp, rep.np, rep.pct, rep.testing, rep.adkim, rep.aspf
             FROM reports AS rep WHERE {} ORDER BY rep.id",
            selection.condition
        ))?;
        let mut rows = statement.query(selection.params.as_slice())?;
        while let Some(row) = rows.next()? {
            let report = ReportRow {
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
            };
            handles.insert(row.get(0)?, on_report(report));
        }
        Ok(handles)
    }

    /// Streams each selected record, with its DKIM and SPF results and the facts its class
    /// depends on, to `on_record` with its report's handle. Nothing is collected: a summary
    /// over millions of records needs memory for its sources only.
    fn each_record(
        &self,
        selection: &Selection<'_>,
        handles: &HashMap<i64, usize>,
        mut on_record: impl FnMut(usize, RecordRow),
    ) -> Result<(), StoreError> {
        // Results are packed into one text per record: fields separated by U+001F, results
        // by U+001E (control characters no reporter puts in a domain or selector, and the
        // parser lowercases and trims them anyway). HELO results do not count for DMARC and
        // name the forwarder's host, not a sender, so they are left out.
        let mut statement = self.connection.prepare(&format!(
            "SELECT rec.report, rec.source_ip, rec.message_count, rec.disposition,
                    rec.header_from, rec.dmarc_pass, rec.spf_aligned, rec.dkim_aligned,
                    (SELECT group_concat(d.domain || char(31) || COALESCE(d.selector, '')
                                         || char(31) || d.result, char(30))
                     FROM dkim_results AS d WHERE d.record = rec.id),
                    (SELECT group_concat(s.domain || char(31) || s.result, char(30))
                     FROM spf_results AS s
                     WHERE s.record = rec.id AND (s.scope IS NULL OR s.scope <> 'helo')),
                    EXISTS (SELECT 1 FROM reasons AS r
                            WHERE r.record = rec.id AND r.type IN {FORWARDING_REASONS})
             FROM records AS rec JOIN reports AS rep ON rep.id = rec.report
             WHERE {}",
            selection.condition
        ))?;
        let mut rows = statement.query(selection.params.as_slice())?;
        while let Some(row) = rows.next()? {
            let Some(&handle) = handles.get(&row.get::<_, i64>(0)?) else {
                continue;
            };
            let header_from: String = row.get(4)?;
            let dmarc_pass: bool = row.get(5)?;
            let mut facts = RecordFacts {
                dmarc_pass,
                forwarding_reason: row.get(10)?,
                ..RecordFacts::default()
            };
            let packed: Option<String> = row.get(8)?;
            let dkim: Vec<DkimSeen> = packed
                .iter()
                .flat_map(|packed| packed.split('\u{1e}'))
                .map(|fields| {
                    let mut fields = fields.split('\u{1f}');
                    let domain = fields.next().unwrap_or_default().to_owned();
                    let selector = fields.next().filter(|s| !s.is_empty()).map(str::to_owned);
                    let result = fields.next().unwrap_or_default().to_owned();
                    DkimSeen {
                        domain,
                        selector,
                        result,
                    }
                })
                .collect();
            for result in &dkim {
                if result.result == "pass" {
                    facts.dkim_passed = true;
                } else if result.result != "none"
                    && domains_aligned(&result.domain, &header_from, false)
                {
                    // `none` means no signature was there to break; any other failure of a
                    // signature by the From domain (relaxed) is our own mail damaged in
                    // transit.
                    facts.aligned_signature_failed = true;
                }
            }
            let packed: Option<String> = row.get(9)?;
            let spf: Vec<SpfSeen> = packed
                .iter()
                .flat_map(|packed| packed.split('\u{1e}'))
                .map(|fields| {
                    let (domain, result) = fields.split_once('\u{1f}').unwrap_or((fields, ""));
                    SpfSeen {
                        domain: domain.to_owned(),
                        result: result.to_owned(),
                    }
                })
                .collect();
            facts.spf_passed = spf.iter().any(|result| result.result == "pass");
            on_record(
                handle,
                RecordRow {
                    source_ip: row.get(1)?,
                    messages: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                    disposition: row.get(3)?,
                    dmarc_pass,
                    spf_aligned: row.get(6)?,
                    dkim_aligned: row.get(7)?,
                    facts,
                    dkim,
                    spf,
                },
            );
        }
        Ok(())
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
        assert_eq!(summary.domains[0].totals.reports, 0);
        assert!(
            store
                .source_classes(&SourceFilter::default())
                .unwrap()
                .is_empty()
        );
    }
}
