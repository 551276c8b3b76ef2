-- ruadb schema, version 4: who each sending source is.
--
-- Derived from the records (the DKIM and SPF results they carry) and the service catalogue by
-- `ruadb identify` (which ingest and fetch run after each commit); `ruadb identify --refresh`
-- recomputes it, for instance after the catalogue changed. Reverse DNS and IP database
-- columns are filled by their own steps and stay NULL until then.

-- One row per source IP ever identified. NULL means unknown.
CREATE TABLE source_identities (
    source_ip       TEXT PRIMARY KEY,             -- canonical text form, as in records
    service         TEXT,                         -- catalogue name
    service_kind    TEXT,                         -- mailbox | esp | crm | helpdesk | gateway | forwarder | hosting
    evidence        TEXT CHECK (evidence IN ('dkim', 'spf', 'ptr')),
    evidence_domain TEXT,                         -- the domain that matched the catalogue
    setup           TEXT,                         -- the catalogue's alignment hint, {domain} unreplaced
    ptr             TEXT,                         -- reverse DNS name, as received
    ptr_confirmed   INTEGER,                      -- 0/1: the name's A/AAAA contain the IP
    ptr_base_domain TEXT,                         -- organisational domain of ptr
    asn             INTEGER,
    as_org          TEXT,
    country         TEXT,                         -- ISO 3166-1 alpha-2
    resolved_utc    INTEGER,                      -- when reverse DNS was last asked
    ip_database     TEXT                          -- which IP database (and build date) gave asn/country
) WITHOUT ROWID;

-- The last record whose evidence `source_identities` holds, so each run reads only new records.
CREATE TABLE identify_progress (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_record INTEGER NOT NULL
);

-- Who each source is; join with source_daily on source_ip.
CREATE VIEW source_identity AS
SELECT source_ip, service, service_kind, evidence, ptr, ptr_confirmed, ptr_base_domain,
       asn, as_org, country, resolved_utc, ip_database
FROM source_identities;
