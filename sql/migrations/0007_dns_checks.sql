-- ruadb schema: the results of `ruadb dns-check`, kept with their time so the summary can show
-- the latest findings per domain and what changed since the previous check.
--
-- Not derived from reports: `ruadb reparse` leaves these tables alone.

-- One check of one domain's DNS.
CREATE TABLE dns_checks (
    id          INTEGER PRIMARY KEY,
    domain      TEXT    NOT NULL,
    checked_utc INTEGER NOT NULL              -- unix seconds
);
CREATE INDEX dns_checks_by_domain ON dns_checks (domain, checked_utc);

-- The findings of a check, in the order the check made them.
CREATE TABLE dns_check_findings (
    dns_check INTEGER NOT NULL REFERENCES dns_checks (id),
    seq       INTEGER NOT NULL,
    code      TEXT    NOT NULL,               -- stable, documented in README ("DNS check codes")
    severity  TEXT    NOT NULL,               -- 'ok' | 'warn' | 'error'
    message   TEXT    NOT NULL,
    record    TEXT,                           -- the DNS record text the finding is about
    PRIMARY KEY (dns_check, seq)
) WITHOUT ROWID;

-- One row per finding of every check (the latest check of a domain has the largest
-- checked_utc; dns_check tells checks of the same second apart).
CREATE VIEW dns_findings AS
SELECT
    c.domain      AS domain,
    c.checked_utc AS checked_utc,
    f.code        AS code,
    f.severity    AS severity,
    f.message     AS message,
    f.record      AS record,
    c.id          AS dns_check
FROM dns_checks AS c
JOIN dns_check_findings AS f ON f.dns_check = c.id;
