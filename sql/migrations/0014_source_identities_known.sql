-- The sources something is known about (a service, a reverse DNS name, a network, a country),
-- indexed apart: identification keeps a row for every address it asked about, most of them
-- with nothing known, and a summary of many domains reads the known ones at once. The
-- condition is the one the reads use (IDENTITY_KNOWN in crates/store/src/identity.rs), so that
-- SQLite reads this index instead of the whole table.
CREATE INDEX IF NOT EXISTS source_identities_known ON source_identities (source_ip)
    WHERE service IS NOT NULL OR ptr IS NOT NULL OR asn IS NOT NULL
       OR as_org IS NOT NULL OR country IS NOT NULL;
