-- ruadb schema, version 2: the report key ignores the case of the reporter's name, and the
-- documented daily views can no longer fail with "integer overflow".

-- A report is the same report when only the case of its <org_name> differs: ingest looks the
-- key up as (report_id, policy_domain, org_name COLLATE NOCASE), which this index answers.
CREATE INDEX reports_by_key_nocase ON reports (report_id, policy_domain, org_name COLLATE NOCASE);

-- Sums over message counts. The parser refuses a count above 2^40, but a database written
-- before that rule may hold counts up to 2^63 - 1, and SUM() fails on any total beyond it.
-- TOTAL() adds as a double and never fails; cast back, a total is exact up to 2^53 (8,192
-- records at the largest count accepted) and saturates at 2^63 - 1. Same names, same columns,
-- same values as version 1 below those bounds.
DROP VIEW source_daily;
CREATE VIEW source_daily AS
SELECT
    policy_domain,
    date(begin_utc, 'unixepoch')                      AS day,
    source_ip,
    CAST(TOTAL(message_count) AS INTEGER)             AS messages,
    CAST(TOTAL(CASE WHEN dmarc_pass   THEN message_count ELSE 0 END) AS INTEGER) AS dmarc_pass,
    CAST(TOTAL(CASE WHEN dkim_aligned THEN message_count ELSE 0 END) AS INTEGER) AS dkim_aligned,
    CAST(TOTAL(CASE WHEN spf_aligned  THEN message_count ELSE 0 END) AS INTEGER) AS spf_aligned,
    COUNT(*)                                          AS records
FROM record_outcomes
GROUP BY policy_domain, day, source_ip;

DROP VIEW reporter_daily;
CREATE VIEW reporter_daily AS
SELECT
    rep.policy_domain                                 AS policy_domain,
    date(rep.begin_utc, 'unixepoch')                  AS day,
    rep.org_name                                      AS report_org,
    COUNT(*)                                          AS reports,
    CAST(TOTAL(rep.message_total) AS INTEGER)         AS messages,
    CAST(TOTAL((SELECT TOTAL(rec.message_count) FROM records AS rec
         WHERE rec.report = rep.id AND rec.dmarc_pass)) AS INTEGER) AS dmarc_pass
FROM reports AS rep
GROUP BY rep.policy_domain, day, rep.org_name;
