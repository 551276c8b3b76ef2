-- ruadb schema, version 6: SMTP TLS reports (RFC 8460).
--
-- Derived like the tables of version 1: `ruadb reparse` rebuilds them from the raw inputs
-- (and finds the TLS reports of inputs stored before this version, which were failures then).

-- One report: keyed by (organization-name, report-id), the reporter's name in any case.
CREATE TABLE tls_reports (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages (id),
    member       TEXT,                       -- archive member or attachment name
    org_name     TEXT    NOT NULL,           -- organization-name
    report_id    TEXT    NOT NULL,
    contact_info TEXT,
    begin_utc    INTEGER NOT NULL,           -- date-range, unix seconds
    end_utc      INTEGER NOT NULL,
    content_hash BLOB    NOT NULL            -- sha256 of the parsed content, for dedupe
);
CREATE UNIQUE INDEX tls_reports_by_key ON tls_reports (org_name COLLATE NOCASE, report_id);
CREATE INDEX tls_reports_by_message ON tls_reports (message_id);

-- One entry of policies[]. policy_strings and mx_hosts are JSON arrays of text.
CREATE TABLE tls_policies (
    id                  INTEGER PRIMARY KEY,
    report              INTEGER NOT NULL REFERENCES tls_reports (id),
    policy_type         TEXT    NOT NULL,    -- 'sts' | 'tlsa' | 'no-policy-found' | as written
    policy_domain       TEXT,
    policy_strings      TEXT    NOT NULL,
    mx_hosts            TEXT    NOT NULL,
    successful_sessions INTEGER NOT NULL,
    failed_sessions     INTEGER NOT NULL
);
CREATE INDEX tls_policies_by_report ON tls_policies (report);

-- One entry of a policy's failure-details[].
CREATE TABLE tls_failure_details (
    id                     INTEGER PRIMARY KEY,
    policy                 INTEGER NOT NULL REFERENCES tls_policies (id),
    result_type            TEXT    NOT NULL,
    sending_mta_ip         TEXT,
    receiving_mx_hostname  TEXT,
    receiving_mx_helo      TEXT,
    receiving_ip           TEXT,
    failed_sessions        INTEGER NOT NULL,
    additional_information TEXT,
    failure_reason_code    TEXT
);
CREATE INDEX tls_failure_details_by_policy ON tls_failure_details (policy);

CREATE TABLE tls_report_warnings (
    id      INTEGER PRIMARY KEY,
    report  INTEGER NOT NULL REFERENCES tls_reports (id),
    warning TEXT    NOT NULL
);
CREATE INDEX tls_report_warnings_by_report ON tls_report_warnings (report);

-- A report whose key was stored already, from another input: with the same content a
-- duplicate, with other content a conflict (the first is kept and never double-counted).
CREATE TABLE tls_report_repeats (
    id           INTEGER PRIMARY KEY,
    kept_report  INTEGER NOT NULL REFERENCES tls_reports (id),
    message_id   INTEGER NOT NULL REFERENCES messages (id),
    member       TEXT,
    conflict     INTEGER NOT NULL,           -- 0: same content, 1: other content
    content_hash BLOB    NOT NULL
);
CREATE INDEX tls_report_repeats_by_message ON tls_report_repeats (message_id);

-- Per policy: its sessions in the report's date range.
CREATE VIEW tls_policy_outcomes AS
SELECT
    rep.org_name               AS report_org,
    rep.report_id              AS report_id,
    pol.policy_domain          AS policy_domain,
    pol.policy_type            AS policy_type,
    rep.begin_utc              AS begin_utc,
    rep.end_utc                AS end_utc,
    pol.successful_sessions    AS successful_sessions,
    pol.failed_sessions        AS failed_sessions
FROM tls_policies pol
JOIN tls_reports rep ON rep.id = pol.report;

-- Per failure detail: who failed to reach which MX, and why.
CREATE VIEW tls_failures AS
SELECT
    rep.org_name               AS report_org,
    rep.report_id              AS report_id,
    pol.policy_domain          AS policy_domain,
    rep.begin_utc              AS begin_utc,
    det.result_type            AS result_type,
    det.sending_mta_ip         AS sending_mta_ip,
    det.receiving_mx_hostname  AS receiving_mx_hostname,
    det.receiving_ip           AS receiving_ip,
    det.failed_sessions        AS failed_sessions,
    det.additional_information AS additional_information,
    det.failure_reason_code    AS failure_reason_code,
    det.receiving_mx_helo      AS receiving_mx_helo
FROM tls_failure_details det
JOIN tls_policies pol ON pol.id = det.policy
JOIN tls_reports rep ON rep.id = pol.report;
