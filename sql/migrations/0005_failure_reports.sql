-- ruadb schema, version 5: DMARC failure reports (RFC 6591).
--
-- Derived like the tables of version 1: `ruadb reparse` rebuilds them. Private by design: the
-- raw input kept for a mail that held a failure report is not the mail but ruadb's rendering
-- of what was stored (the original body is never kept), and the columns marked "kept" are
-- filled only when `[failure_reports]` allowed it at ingest.

-- One failure report: a single message that failed authentication, as a receiver saw it.
CREATE TABLE failure_reports (
    id                     INTEGER PRIMARY KEY,
    message_id             INTEGER NOT NULL REFERENCES messages (id),
    member                 TEXT,             -- archive member or attachment name
    format                 TEXT    NOT NULL, -- 'arf' | 'text' (Exim's notice)
    reporter               TEXT,             -- domain of the report mail's From
    user_agent             TEXT,
    arrival_utc            INTEGER,          -- Arrival-Date, unix seconds
    source_ip              TEXT,             -- canonical text form
    reported_domain        TEXT    NOT NULL,
    auth_failure           TEXT,             -- 'dmarc', 'spf', 'bodyhash', 'signature', ...
    authentication_results TEXT,             -- local parts removed unless kept
    mail_from_domain       TEXT,             -- domain of Original-Mail-From
    rcpt_to_domains        TEXT    NOT NULL, -- JSON array: domains of Original-Rcpt-To
    from_domain            TEXT,             -- domain of the original From
    dkim_domain            TEXT,
    dkim_selector          TEXT,
    identity_alignment     TEXT,
    delivery_result        TEXT,
    original_message_id    TEXT,             -- the original Message-ID
    original_date_utc      INTEGER,          -- the original Date, unix seconds
    original_mail_from     TEXT,             -- kept: keep_addresses
    original_rcpt_to       TEXT,             -- kept: keep_addresses (JSON array)
    original_from          TEXT,             -- kept: keep_addresses
    subject                TEXT,             -- kept: keep_subjects
    warnings               TEXT    NOT NULL, -- JSON array of text
    content_hash           BLOB    NOT NULL  -- sha256 of the report without private parts
);
CREATE UNIQUE INDEX failure_reports_by_hash ON failure_reports (content_hash);
CREATE INDEX failure_reports_by_message ON failure_reports (message_id);
CREATE INDEX failure_reports_by_domain_arrival ON failure_reports (reported_domain, arrival_utc);
CREATE INDEX failure_reports_by_arrival ON failure_reports (arrival_utc);

-- A failure report stored already (same content) from another input: only noted, so that an
-- input seen again can say what it held.
CREATE TABLE failure_report_duplicates (
    id          INTEGER PRIMARY KEY,
    kept_report INTEGER NOT NULL REFERENCES failure_reports (id),
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    member      TEXT
);
CREATE INDEX failure_report_duplicates_by_message ON failure_report_duplicates (message_id);

-- One row per failure report: when, who reported, for which domain, from where, what failed.
CREATE VIEW failure_samples AS
SELECT
    arrival_utc,
    reporter,
    reported_domain,
    source_ip,
    auth_failure,
    from_domain,
    dkim_domain,
    dkim_selector,
    delivery_result,
    identity_alignment,
    mail_from_domain,
    format,
    id AS failure_rowid
FROM failure_reports;
