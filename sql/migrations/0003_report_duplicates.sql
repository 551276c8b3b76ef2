-- ruadb schema, version 3: which input held which duplicate report, so that an input seen
-- again can say what it held (its reports, duplicates and conflicts) as well as what failed.
--
-- Derived like the tables of version 1: `ruadb reparse` rebuilds it (and fills it for inputs
-- stored before this version).

-- A report whose key and content were stored already (from another input): not stored again,
-- only noted. The counterpart of `report_conflicts` for the same content.
CREATE TABLE report_duplicates (
    id          INTEGER PRIMARY KEY,
    kept_report INTEGER NOT NULL REFERENCES reports (id),
    message_id  INTEGER NOT NULL REFERENCES messages (id),
    member      TEXT
);

-- An input seen again is looked up by message in each of these.
CREATE INDEX report_duplicates_by_message ON report_duplicates (message_id);
CREATE INDEX reports_by_message ON reports (message_id);
CREATE INDEX report_conflicts_by_message ON report_conflicts (message_id);
CREATE INDEX rejected_reports_by_message ON rejected_reports (message_id);
