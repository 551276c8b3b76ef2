-- Rollups kept at ingest, in the transaction of the records they summarise: per policy
-- domain, UTC day of the report's midpoint and source IP (source_days), and per policy domain,
-- day and reporter (reporter_days). They count exactly the records record_outcomes shows.
-- The migration runner fills them from the stored records after this file runs.

-- Names the rollups refer to by number: policy domains, reporters, DKIM domains, selectors and
-- results, SPF domains and results.
CREATE TABLE rollup_names (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
);

-- One row per (policy domain, day, source IP). Messages per class (aligned = DMARC pass; the
-- class of each record as crates/store/src/classify.rs decides it); quarantined and rejected
-- messages (the rest had disposition none); the earliest begin and latest end of the reports
-- (as seconds from the day's start);
-- `names` holds the reporters, DKIM (d=, s=, result) and SPF (domain, result) results, HELO
-- domains, and the DKIM and SPF domains that passed in misaligned records, as rollup_names ids.
CREATE TABLE source_days (
    domain          INTEGER NOT NULL,           -- rollup_names.id of the policy domain
    day             INTEGER NOT NULL,           -- days since 1970-01-01 (UTC)
    source_ip       TEXT    NOT NULL,
    records         INTEGER NOT NULL,
    aligned         INTEGER NOT NULL,
    forwarded       INTEGER NOT NULL,
    misaligned      INTEGER NOT NULL,
    unauthenticated INTEGER NOT NULL,
    classes_seen    INTEGER NOT NULL,           -- bit 1 << class for each class with a record
    spf_aligned     INTEGER NOT NULL,
    dkim_aligned    INTEGER NOT NULL,
    quarantined     INTEGER NOT NULL,
    rejected        INTEGER NOT NULL,
    begin_offset    INTEGER NOT NULL,           -- earliest report begin - day start (seconds)
    end_offset      INTEGER NOT NULL,           -- latest report end - day start (seconds)
    names           BLOB    NOT NULL,
    PRIMARY KEY (domain, day, source_ip)
) WITHOUT ROWID;

-- One row per (policy domain, day, reporting organisation as written).
CREATE TABLE reporter_days (
    domain     INTEGER NOT NULL,                -- rollup_names.id of the policy domain
    day        INTEGER NOT NULL,
    org        INTEGER NOT NULL,                -- rollup_names.id of org_name
    reports    INTEGER NOT NULL,
    messages   INTEGER NOT NULL,
    dmarc_pass INTEGER NOT NULL,
    PRIMARY KEY (domain, day, org)
) WITHOUT ROWID;
