-- ruadb schema, version 1.
--
-- Migrations are append-only: never edit a released file, add the next one instead. They are
-- embedded in the binary and applied in order inside one transaction; PRAGMA user_version
-- holds the number of the last one applied.
--
-- Ground state is `messages` + `raw_inputs` (the original bytes). Every other table is derived
-- from them by the parser and can be rebuilt with `ruadb reparse`.
-- Times are unix seconds, UTC.

-- One input as received: a mail message, an archive or an XML file.
CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    sha256           BLOB    NOT NULL UNIQUE,      -- of the original bytes; the idempotency key
    size             INTEGER NOT NULL,             -- original size in bytes
    source_kind      TEXT    NOT NULL CHECK (source_kind IN ('file', 'stdin', 'imap')),
    path             TEXT,                         -- source_kind = 'file'
    imap_account     TEXT,                         -- source_kind = 'imap'
    imap_mailbox     TEXT,
    imap_uidvalidity INTEGER,
    imap_uid         INTEGER,
    ingested_at      INTEGER,                      -- passed in by the caller; NULL if not given
    raw_encoding     TEXT    NOT NULL DEFAULT 'zlib' CHECK (raw_encoding IN ('zlib', 'identity'))
);

-- The original bytes of each message, split into chunks so that a large input is stored
-- (and read back) with bounded memory. Concatenating `data` in `seq` order gives the bytes in
-- the message's `raw_encoding`: 'zlib' (compressed by ruadb) or 'identity' (stored as
-- received, for inputs that are gzip or zip already).
CREATE TABLE raw_inputs (
    message_id INTEGER NOT NULL REFERENCES messages (id),
    seq        INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    PRIMARY KEY (message_id, seq)
);

-- One aggregate report, stored once per (org_name, report_id, policy_domain).
CREATE TABLE reports (
    id                 INTEGER PRIMARY KEY,
    message_id         INTEGER NOT NULL REFERENCES messages (id),
    member             TEXT,                       -- archive member or attachment name
    org_name           TEXT    NOT NULL,
    email              TEXT    NOT NULL,
    extra_contact_info TEXT,
    report_id          TEXT    NOT NULL,
    policy_domain      TEXT    NOT NULL,
    begin_utc          INTEGER NOT NULL,
    end_utc            INTEGER NOT NULL,
    format             TEXT    NOT NULL,           -- 'rfc7489' | 'rfc9990'
    version            TEXT,
    generator          TEXT,
    errors             TEXT,                       -- JSON array of <error> texts, NULL if none
    adkim              TEXT,                       -- policy_published as the reporter saw it
    aspf               TEXT,
    p                  TEXT,
    sp                 TEXT,
    np                 TEXT,
    pct                INTEGER,
    fo                 TEXT,
    testing            TEXT,
    discovery_method   TEXT,
    extensions         TEXT,                       -- JSON array of raw XML, NULL if none
    content_hash       BLOB    NOT NULL,           -- sha256 of the parsed content, for dedupe
    record_count       INTEGER NOT NULL DEFAULT 0,
    message_total      INTEGER NOT NULL DEFAULT 0, -- sum of the records' counts
    UNIQUE (org_name, report_id, policy_domain)
);
CREATE INDEX reports_by_begin ON reports (begin_utc);
CREATE INDEX reports_by_domain_begin ON reports (policy_domain, begin_utc);

-- A report whose key was already stored with other content: the first one is kept, this one
-- is only noted here and never counted.
CREATE TABLE report_conflicts (
    id           INTEGER PRIMARY KEY,
    kept_report  INTEGER NOT NULL REFERENCES reports (id),
    message_id   INTEGER NOT NULL REFERENCES messages (id),
    member       TEXT,
    content_hash BLOB    NOT NULL,
    record_count INTEGER NOT NULL,
    message_total INTEGER NOT NULL
);

-- One <record>. Verdicts named *_evaluated are the reporter's own <policy_evaluated>; the
-- *_aligned and dmarc_pass columns are recomputed by ruadb (RFC 7489 section 3.1).
CREATE TABLE records (
    id                 INTEGER PRIMARY KEY,
    report             INTEGER NOT NULL REFERENCES reports (id),
    source_ip          TEXT    NOT NULL,           -- canonical text form
    message_count      INTEGER NOT NULL,
    disposition        TEXT    NOT NULL,
    dkim_evaluated     TEXT,
    spf_evaluated      TEXT,
    header_from        TEXT    NOT NULL,
    envelope_from      TEXT,
    envelope_to        TEXT,
    dkim_aligned       INTEGER NOT NULL,           -- 0/1
    spf_aligned        INTEGER NOT NULL,           -- 0/1
    dmarc_pass         INTEGER NOT NULL,           -- 0/1
    reporter_disagrees INTEGER NOT NULL,           -- 1 if a reporter verdict differs from ours
    extensions         TEXT                        -- JSON array of raw XML, NULL if none
);
-- Ids only grow, so these indexes are appended to, which keeps ingest cheap.
CREATE INDEX records_by_report ON records (report);

-- The result tables are clustered by (record, seq): inserts append, and a record's results
-- are found without a separate index. `seq` is the position in the document.
CREATE TABLE dkim_results (
    record       INTEGER NOT NULL REFERENCES records (id),
    seq          INTEGER NOT NULL,
    domain       TEXT    NOT NULL,
    selector     TEXT,
    result       TEXT    NOT NULL,
    human_result TEXT,
    PRIMARY KEY (record, seq)
) WITHOUT ROWID;

CREATE TABLE spf_results (
    record       INTEGER NOT NULL REFERENCES records (id),
    seq          INTEGER NOT NULL,
    domain       TEXT    NOT NULL,
    scope        TEXT,                             -- 'mfrom' | 'helo' | NULL (means mfrom)
    result       TEXT    NOT NULL,
    human_result TEXT,
    PRIMARY KEY (record, seq)
) WITHOUT ROWID;

-- <policy_evaluated><reason>.
CREATE TABLE reasons (
    record  INTEGER NOT NULL REFERENCES records (id),
    seq     INTEGER NOT NULL,
    type    TEXT    NOT NULL,
    comment TEXT,
    PRIMARY KEY (record, seq)
) WITHOUT ROWID;

-- What the parser tolerated while reading a report.
CREATE TABLE report_warnings (
    report  INTEGER NOT NULL REFERENCES reports (id),
    warning TEXT    NOT NULL
);
CREATE INDEX report_warnings_by_report ON report_warnings (report);

-- A document (or a whole message) that yielded no report.
CREATE TABLE ingest_errors (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    member     TEXT,
    error      TEXT    NOT NULL
);
CREATE INDEX ingest_errors_by_message ON ingest_errors (message_id);

-- A report for a policy domain not in the configured `domains`: not stored, only noted.
CREATE TABLE rejected_reports (
    id            INTEGER PRIMARY KEY,
    message_id    INTEGER NOT NULL REFERENCES messages (id),
    member        TEXT,
    org_name      TEXT    NOT NULL,
    report_id     TEXT    NOT NULL,
    policy_domain TEXT    NOT NULL
);

-- Where `ruadb fetch` stopped in each mailbox.
CREATE TABLE imap_cursors (
    account     TEXT    NOT NULL,
    mailbox     TEXT    NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    PRIMARY KEY (account, mailbox)
);

-- Views: the stable SQL interface (documented in README, section "SQL"). Columns may be added,
-- never renamed or removed.

-- One row per stored record, with its report's metadata and the recomputed alignment.
CREATE VIEW record_outcomes AS
SELECT
    rep.org_name            AS report_org,
    rep.report_id           AS report_id,
    rep.policy_domain       AS policy_domain,
    rep.begin_utc           AS begin_utc,
    rep.end_utc             AS end_utc,
    rec.source_ip           AS source_ip,
    rec.message_count       AS message_count,
    rec.disposition         AS disposition,
    rec.dkim_evaluated      AS dkim_evaluated,
    rec.spf_evaluated       AS spf_evaluated,
    rec.header_from         AS header_from,
    rec.envelope_from       AS envelope_from,
    rec.dkim_aligned        AS dkim_aligned,
    rec.spf_aligned         AS spf_aligned,
    rec.dmarc_pass          AS dmarc_pass,
    rec.envelope_to         AS envelope_to,
    rec.reporter_disagrees  AS reporter_disagrees,
    rep.email               AS report_email,
    rep.p                   AS policy_p,
    rec.id                  AS record_rowid,
    rep.id                  AS report_rowid
FROM records AS rec
JOIN reports AS rep ON rep.id = rec.report;

-- Messages per policy domain, UTC day (of the report's begin) and source IP.
CREATE VIEW source_daily AS
SELECT
    policy_domain,
    date(begin_utc, 'unixepoch')                      AS day,
    source_ip,
    SUM(message_count)                                AS messages,
    SUM(CASE WHEN dmarc_pass   THEN message_count ELSE 0 END) AS dmarc_pass,
    SUM(CASE WHEN dkim_aligned THEN message_count ELSE 0 END) AS dkim_aligned,
    SUM(CASE WHEN spf_aligned  THEN message_count ELSE 0 END) AS spf_aligned,
    COUNT(*)                                          AS records
FROM record_outcomes
GROUP BY policy_domain, day, source_ip;

-- Reports and messages per policy domain, UTC day and reporting organisation.
CREATE VIEW reporter_daily AS
SELECT
    rep.policy_domain                                 AS policy_domain,
    date(rep.begin_utc, 'unixepoch')                  AS day,
    rep.org_name                                      AS report_org,
    COUNT(*)                                          AS reports,
    SUM(rep.message_total)                            AS messages,
    SUM((SELECT COALESCE(SUM(rec.message_count), 0) FROM records AS rec
         WHERE rec.report = rep.id AND rec.dmarc_pass)) AS dmarc_pass
FROM reports AS rep
GROUP BY rep.policy_domain, day, rep.org_name;

-- One row per DKIM signature result, with its record's context.
CREATE VIEW dkim_outcomes AS
SELECT
    ro.report_org, ro.report_id, ro.policy_domain, ro.begin_utc, ro.end_utc, ro.source_ip,
    ro.message_count, ro.header_from, ro.dkim_aligned,
    d.domain AS dkim_domain, d.selector AS dkim_selector, d.result AS dkim_result,
    d.human_result AS dkim_human_result, ro.record_rowid
FROM record_outcomes AS ro
JOIN dkim_results AS d ON d.record = ro.record_rowid;

-- One row per SPF result, with its record's context.
CREATE VIEW spf_outcomes AS
SELECT
    ro.report_org, ro.report_id, ro.policy_domain, ro.begin_utc, ro.end_utc, ro.source_ip,
    ro.message_count, ro.header_from, ro.envelope_from, ro.spf_aligned,
    s.domain AS spf_domain, s.scope AS spf_scope, s.result AS spf_result,
    s.human_result AS spf_human_result, ro.record_rowid
FROM record_outcomes AS ro
JOIN spf_results AS s ON s.record = ro.record_rowid;

-- Reports refused because their policy domain is not configured, per domain.
CREATE VIEW rejected_domains AS
SELECT policy_domain, COUNT(*) AS reports, COUNT(DISTINCT org_name) AS reporters
FROM rejected_reports
GROUP BY policy_domain;
