-- Coarser rollups kept at ingest beside source_days (0010), in the same transaction: per policy
-- domain, ISO week and source IP (source_weeks: the week's source_days rows merged), and per
-- policy domain and day over all its sources (domain_days). A week's summary reads one row per
-- source for each week of its comparison windows instead of one per source and day, and the
-- domain's totals per day without reading any source. The migration runner fills them from
-- source_days after this file runs.

-- One row per (policy domain, week, source IP): the columns of source_days, summed (sets merged)
-- over the week's seven days; begin_offset and end_offset count from the week's start.
CREATE TABLE source_weeks (
    domain          INTEGER NOT NULL,           -- rollup_names.id of the policy domain
    week            INTEGER NOT NULL,           -- days since 1970-01-01 of the week's Monday (UTC)
    source_ip       TEXT    NOT NULL,
    records         INTEGER NOT NULL,
    aligned         INTEGER NOT NULL,
    forwarded       INTEGER NOT NULL,
    misaligned      INTEGER NOT NULL,
    unauthenticated INTEGER NOT NULL,
    classes_seen    INTEGER NOT NULL,
    spf_aligned     INTEGER NOT NULL,
    dkim_aligned    INTEGER NOT NULL,
    quarantined     INTEGER NOT NULL,
    rejected        INTEGER NOT NULL,
    begin_offset    INTEGER NOT NULL,           -- earliest report begin - week start (seconds)
    end_offset      INTEGER NOT NULL,           -- latest report end - week start (seconds)
    names           BLOB    NOT NULL,
    PRIMARY KEY (domain, week, source_ip)
) WITHOUT ROWID;

-- One row per (policy domain, day): the counts of all its source_days rows of the day.
CREATE TABLE domain_days (
    domain          INTEGER NOT NULL,           -- rollup_names.id of the policy domain
    day             INTEGER NOT NULL,           -- days since 1970-01-01 (UTC)
    records         INTEGER NOT NULL,
    aligned         INTEGER NOT NULL,
    forwarded       INTEGER NOT NULL,
    misaligned      INTEGER NOT NULL,
    unauthenticated INTEGER NOT NULL,
    spf_aligned     INTEGER NOT NULL,
    dkim_aligned    INTEGER NOT NULL,
    quarantined     INTEGER NOT NULL,
    rejected        INTEGER NOT NULL,
    PRIMARY KEY (domain, day)
) WITHOUT ROWID;
