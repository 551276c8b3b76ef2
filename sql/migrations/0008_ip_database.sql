-- ruadb schema: which IP databases each source was looked up in.
--
-- `asn`, `as_org`, `country` and `ip_database` (0004) are filled from the local MMDB files of
-- `[identify] ip_database`. `ip_lookup` is the list of every configured file's type and build
-- date ("GeoLite2-ASN 2026-11-28, GeoLite2-Country 2026-11-28") at the time of the lookup:
-- when a file is replaced by a new build or the list changes, the sources whose `ip_lookup`
-- differs are looked up again. NULL: never looked up.
ALTER TABLE source_identities ADD COLUMN ip_lookup TEXT;
