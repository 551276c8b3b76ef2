-- ruadb schema: the coverage part of `ruadb dns-check` — each source of a domain's last 4
-- weeks evaluated with SPF check_host() against the domain and against each return-path
-- domain it used — kept with the check it belongs to, so the summary can show the sources
-- the domain's SPF does not cover.
--
-- Not derived from reports: `ruadb reparse` leaves this table alone.

-- The sources a check evaluated, busiest first, each once per domain it was evaluated
-- against (the checked domain itself first).
CREATE TABLE dns_check_sources (
    dns_check          INTEGER NOT NULL REFERENCES dns_checks (id),
    seq                INTEGER NOT NULL,
    source_ip          TEXT    NOT NULL,
    messages           INTEGER NOT NULL,      -- the source's messages in the 4 weeks
    class              TEXT    NOT NULL,      -- 'aligned' | 'forwarded' | 'misaligned' | 'unauthenticated'
    return_path_domain TEXT    NOT NULL,      -- the domain evaluated: the checked one or a return path
    spf_result         TEXT    NOT NULL,      -- 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'permerror' | 'temperror'
    matched            TEXT,                  -- the mechanism that decided, with its include chain
    fix                TEXT,                  -- for a misaligned or unauthenticated source, what would fix it
    PRIMARY KEY (dns_check, seq)
) WITHOUT ROWID;

-- One row per source and domain evaluated by every check (the latest check of a domain has
-- the largest checked_utc; dns_check tells checks of the same second apart). A source is
-- covered by the domain's SPF when its row with return_path_domain = domain has
-- spf_result 'pass'.
CREATE VIEW dns_coverage AS
SELECT
    c.domain             AS domain,
    c.checked_utc        AS checked_utc,
    s.source_ip          AS source_ip,
    s.messages           AS messages,
    s.class              AS class,
    s.return_path_domain AS return_path_domain,
    s.spf_result         AS spf_result,
    s.matched            AS matched,
    s.fix                AS fix,
    c.id                 AS dns_check
FROM dns_checks AS c
JOIN dns_check_sources AS s ON s.dns_check = c.id;
