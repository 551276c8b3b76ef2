//! `ruadb dns-check`'s side of the database: what to check for each domain (from its reports)
//! and the checks' findings and source coverage, kept with their time (`dns_checks`,
//! `dns_check_findings`, `dns_check_sources`, the `dns_findings` and `dns_coverage` views).

use rusqlite::{OptionalExtension, params};

use crate::{Store, StoreError};

/// The most DKIM selectors and return-path domains read per domain: enough for any real
/// sender set, and a bound on the DNS queries one domain's reports can cause.
const MAX_PER_DOMAIN: usize = 64;

/// One finding as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    /// The stable code (`spf.too_many_lookups`…).
    pub code: String,
    /// `ok`, `warn` or `error`.
    pub severity: String,
    /// The sentence for people.
    pub message: String,
    /// The record text the finding is about.
    pub record: Option<String>,
}

/// One source of a check's coverage: its SPF `check_host()` result against one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSource {
    /// The source's address, as reported.
    pub source_ip: String,
    /// Its messages in the weeks the check looked at.
    pub messages: u64,
    /// Its class (`aligned`, `forwarded`, `misaligned`, `unauthenticated`).
    pub class: String,
    /// The domain evaluated: the checked domain itself or a return path the source used.
    pub return_path_domain: String,
    /// `pass`, `fail`, `softfail`, `neutral`, `none`, `permerror` or `temperror`.
    pub spf_result: String,
    /// The mechanism that decided, with its include chain.
    pub matched: Option<String>,
    /// For a misaligned or unauthenticated source, the change that would fix it.
    pub fix: Option<String>,
}

/// One check of one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheckRow {
    /// The domain checked.
    pub domain: String,
    /// When, in unix seconds.
    pub checked_utc: i64,
    /// What was found, in the order the check made it.
    pub findings: Vec<StoredFinding>,
    /// The sources evaluated, busiest first, each once per domain it was evaluated against.
    pub sources: Vec<StoredSource>,
}

/// What the reports say should be checked for one policy domain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsCheckTarget {
    /// The policy domain.
    pub domain: String,
    /// `(d=, s=)` of the DKIM signatures reported for its mail, sorted.
    pub dkim_selectors: Vec<(String, String)>,
    /// The SPF (MAIL FROM) domains reported for its mail other than the domain, sorted.
    pub return_path_domains: Vec<String>,
}

impl Store {
    /// The policy domains with reports beginning at or after `since_utc`, sorted, with the
    /// DKIM selectors and return-path domains of those reports (at most
    /// 64 of each: enough for any real sender set, and a bound on the queries one domain
    /// causes).
    pub fn dns_check_targets(&self, since_utc: i64) -> Result<Vec<DnsCheckTarget>, StoreError> {
        let mut domains = self.connection.prepare(
            "SELECT DISTINCT policy_domain FROM reports WHERE begin_utc >= ?1 ORDER BY 1",
        )?;
        let domains: Vec<String> = domains
            .query_map([since_utc], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        domains
            .into_iter()
            .map(|domain| self.dns_check_target(&domain, since_utc))
            .collect()
    }

    /// What to check for `domain` from its reports beginning at or after `since_utc` (empty
    /// lists for a domain without reports).
    pub fn dns_check_target(
        &self,
        domain: &str,
        since_utc: i64,
    ) -> Result<DnsCheckTarget, StoreError> {
        let limit = MAX_PER_DOMAIN as i64;
        let mut selectors = self.connection.prepare_cached(
            "SELECT DISTINCT lower(d.domain), lower(d.selector)
             FROM reports AS rep
             JOIN records AS rec ON rec.report = rep.id
             JOIN dkim_results AS d ON d.record = rec.id
             WHERE rep.policy_domain = ?1 AND rep.begin_utc >= ?2
               AND d.selector IS NOT NULL AND d.selector <> '' AND d.domain <> ''
             ORDER BY 1, 2 LIMIT ?3",
        )?;
        let dkim_selectors = selectors
            .query_map(params![domain, since_utc, limit], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut return_paths = self.connection.prepare_cached(
            "SELECT DISTINCT lower(s.domain)
             FROM reports AS rep
             JOIN records AS rec ON rec.report = rep.id
             JOIN spf_results AS s ON s.record = rec.id
             WHERE rep.policy_domain = ?1 AND rep.begin_utc >= ?2
               AND (s.scope IS NULL OR s.scope = 'mfrom')
               AND s.domain <> '' AND lower(s.domain) <> lower(?1)
             ORDER BY 1 LIMIT ?3",
        )?;
        let return_path_domains = return_paths
            .query_map(params![domain, since_utc, limit], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(DnsCheckTarget {
            domain: domain.to_owned(),
            dkim_selectors,
            return_path_domains,
        })
    }

    /// Stores one check with its findings and sources.
    pub fn save_dns_check(&mut self, check: &DnsCheckRow) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "INSERT INTO dns_checks (domain, checked_utc) VALUES (?1, ?2)",
            params![check.domain, check.checked_utc],
        )?;
        let id = transaction.last_insert_rowid();
        {
            let mut insert = transaction.prepare(
                "INSERT INTO dns_check_findings (dns_check, seq, code, severity, message, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (seq, finding) in check.findings.iter().enumerate() {
                insert.execute(params![
                    id,
                    seq as i64,
                    finding.code,
                    finding.severity,
                    finding.message,
                    finding.record
                ])?;
            }
            let mut insert = transaction.prepare(
                "INSERT INTO dns_check_sources (dns_check, seq, source_ip, messages, class,
                     return_path_domain, spf_result, matched, fix)
                 VALUES (:dns_check, :seq, :source_ip, :messages, :class,
                     :return_path_domain, :spf_result, :matched, :fix)",
            )?;
            for (seq, source) in check.sources.iter().enumerate() {
                insert.execute(rusqlite::named_params! {
                    ":dns_check": id,
                    ":seq": seq as i64,
                    ":source_ip": source.source_ip,
                    ":messages": i64::try_from(source.messages).unwrap_or(i64::MAX),
                    ":class": source.class,
                    ":return_path_domain": source.return_path_domain,
                    ":spf_result": source.spf_result,
                    ":matched": source.matched,
                    ":fix": source.fix,
                })?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// The latest check of each domain (sorted by domain), each with the check before it.
    pub fn latest_dns_checks(&self) -> Result<Vec<(DnsCheckRow, Option<DnsCheckRow>)>, StoreError> {
        let mut domains = self
            .connection
            .prepare("SELECT DISTINCT domain FROM dns_checks ORDER BY domain")?;
        let domains: Vec<String> = domains
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut checks = Vec::with_capacity(domains.len());
        for domain in domains {
            checks.extend(self.latest_dns_checks_of(&domain)?);
        }
        Ok(checks)
    }

    /// The latest check of `domain` (as stored), with the check before it; `None` when the
    /// domain was never checked. What [`Store::latest_dns_checks`] gives for that domain, at
    /// the cost of one domain's checks.
    pub fn latest_dns_checks_of(
        &self,
        domain: &str,
    ) -> Result<Option<(DnsCheckRow, Option<DnsCheckRow>)>, StoreError> {
        let mut ids = self.connection.prepare_cached(
            "SELECT id, checked_utc FROM dns_checks WHERE domain = ?1
             ORDER BY checked_utc DESC, id DESC LIMIT 2",
        )?;
        let ids: Vec<(i64, i64)> = ids
            .query_map([domain], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut rows = ids.into_iter().map(|(id, checked_utc)| {
            Ok::<_, StoreError>(DnsCheckRow {
                domain: domain.to_owned(),
                checked_utc,
                findings: self.dns_check_findings(id)?,
                sources: self.dns_check_sources(id)?,
            })
        });
        match rows.next().transpose()? {
            Some(latest) => Ok(Some((latest, rows.next().transpose()?))),
            None => Ok(None),
        }
    }

    /// The latest check of `domain`, if any.
    pub fn latest_dns_check(&self, domain: &str) -> Result<Option<DnsCheckRow>, StoreError> {
        let latest = self
            .connection
            .query_row(
                "SELECT id, checked_utc FROM dns_checks WHERE domain = ?1
                 ORDER BY checked_utc DESC, id DESC LIMIT 1",
                [domain],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )
            .optional()?;
        latest
            .map(|(id, checked_utc)| {
                Ok(DnsCheckRow {
                    domain: domain.to_owned(),
                    checked_utc,
                    findings: self.dns_check_findings(id)?,
                    sources: self.dns_check_sources(id)?,
                })
            })
            .transpose()
    }

    fn dns_check_findings(&self, id: i64) -> Result<Vec<StoredFinding>, StoreError> {
        let mut findings = self.connection.prepare_cached(
            "SELECT code, severity, message, record FROM dns_check_findings
             WHERE dns_check = ?1 ORDER BY seq",
        )?;
        let findings = findings
            .query_map([id], |row| {
                Ok(StoredFinding {
                    code: row.get(0)?,
                    severity: row.get(1)?,
                    message: row.get(2)?,
                    record: row.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(findings)
    }

    fn dns_check_sources(&self, id: i64) -> Result<Vec<StoredSource>, StoreError> {
        let mut sources = self.connection.prepare_cached(
            "SELECT source_ip, messages, class, return_path_domain, spf_result, matched, fix
             FROM dns_check_sources WHERE dns_check = ?1 ORDER BY seq",
        )?;
        let sources = sources
            .query_map([id], |row| {
                Ok(StoredSource {
                    source_ip: row.get("source_ip")?,
                    messages: u64::try_from(row.get::<_, i64>("messages")?).unwrap_or(0),
                    class: row.get("class")?,
                    return_path_domain: row.get("return_path_domain")?,
                    spf_result: row.get("spf_result")?,
                    matched: row.get("matched")?,
                    fix: row.get("fix")?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    fn finding(code: &str, record: Option<&str>) -> StoredFinding {
        StoredFinding {
            code: code.to_owned(),
            severity: "ok".to_owned(),
            message: format!("{code} message"),
            record: record.map(str::to_owned),
        }
    }

    #[test]
    fn checks_round_trip_latest_first_with_the_previous() {
        let mut store = Store::open_in_memory(StoreOptions::default()).unwrap();
        assert!(store.latest_dns_checks().unwrap().is_empty());
        let check = |checked_utc, code| DnsCheckRow {
            domain: "example.com".to_owned(),
            checked_utc,
            findings: vec![
                finding(code, Some("v=spf1 -all")),
                finding("mx.present", None),
            ],
            sources: vec![
                StoredSource {
                    source_ip: "192.0.2.200".to_owned(),
                    messages: checked_utc as u64,
                    class: "misaligned".to_owned(),
                    return_path_domain: "example.com".to_owned(),
                    spf_result: "fail".to_owned(),
                    matched: Some("-all".to_owned()),
                    fix: Some("not covered by example.com's SPF".to_owned()),
                },
                StoredSource {
                    source_ip: "192.0.2.200".to_owned(),
                    messages: checked_utc as u64,
                    class: "misaligned".to_owned(),
                    return_path_domain: "bounce.esp.test".to_owned(),
                    spf_result: "pass".to_owned(),
                    matched: None,
                    fix: None,
                },
            ],
        };
        store.save_dns_check(&check(100, "spf.present")).unwrap();
        store.save_dns_check(&check(200, "spf.missing")).unwrap();
        store.save_dns_check(&check(150, "spf.syntax")).unwrap();
        let checks = store.latest_dns_checks().unwrap();
        assert_eq!(
            checks,
            [(check(200, "spf.missing"), Some(check(150, "spf.syntax")))]
        );
        assert_eq!(
            store.latest_dns_check("example.com").unwrap(),
            Some(check(200, "spf.missing"))
        );
        assert_eq!(store.latest_dns_check("other.test").unwrap(), None);
        let mut rows = 0;
        let columns = store
            .query(
                "SELECT domain, checked_utc, code, severity, message, record FROM dns_findings",
                &mut |_| {
                    rows += 1;
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(
            columns,
            [
                "domain",
                "checked_utc",
                "code",
                "severity",
                "message",
                "record"
            ]
        );
        assert_eq!(rows, 6);
        let mut uncovered = Vec::new();
        store
            .query(
                "SELECT domain, checked_utc, source_ip, messages, class, return_path_domain,
                        spf_result, matched, fix
                 FROM dns_coverage WHERE return_path_domain = domain AND spf_result <> 'pass'
                 ORDER BY checked_utc",
                &mut |row| {
                    let cells: Vec<String> = row
                        .iter()
                        .map(|value| match value {
                            crate::Value::Text(text) => text.clone(),
                            crate::Value::Integer(number) => number.to_string(),
                            other => format!("{other:?}"),
                        })
                        .collect();
                    uncovered.push(cells.join(","));
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(uncovered.len(), 3, "{uncovered:?}");
        assert!(
            uncovered[0]
                .starts_with("example.com,100,192.0.2.200,100,misaligned,example.com,fail,-all,"),
            "{uncovered:?}"
        );
    }
}
