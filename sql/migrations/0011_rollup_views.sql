-- source_daily and reporter_daily read the rollups (0010) instead of every record: same names,
-- same columns. The day is now the UTC day of each report's midpoint (it was the day the report
-- began); they differ only for reports that do not begin and end on the same UTC day.

DROP VIEW source_daily;
CREATE VIEW source_daily AS
SELECT
    n.name                                                     AS policy_domain,
    date(s.day * 86400, 'unixepoch')                           AS day,
    s.source_ip                                                AS source_ip,
    -- A sum past 2^63 - 1 is a REAL in SQLite; the CAST saturates it.
    CAST(s.aligned + s.forwarded + s.misaligned + s.unauthenticated AS INTEGER) AS messages,
    s.aligned                                                  AS dmarc_pass,
    s.dkim_aligned                                             AS dkim_aligned,
    s.spf_aligned                                              AS spf_aligned,
    s.records                                                  AS records
FROM source_days AS s
JOIN rollup_names AS n ON n.id = s.domain;

DROP VIEW reporter_daily;
CREATE VIEW reporter_daily AS
SELECT
    n.name                                                     AS policy_domain,
    date(r.day * 86400, 'unixepoch')                           AS day,
    o.name                                                     AS report_org,
    r.reports                                                  AS reports,
    r.messages                                                 AS messages,
    r.dmarc_pass                                               AS dmarc_pass
FROM reporter_days AS r
JOIN rollup_names AS n ON n.id = r.domain
JOIN rollup_names AS o ON o.id = r.org;
