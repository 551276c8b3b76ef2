#!/usr/bin/env bash
# The main job end to end over IMAP, on this machine: a local Dovecot (scripts/imap-test-server.sh)
# receives the bundled sample report mail (fixtures/demo/maildir), `ruadb fetch` stores it and
# archives the mail, a second fetch finds nothing new, and `ruadb summary` reports the week.
#
# Needs root the first time (it installs Dovecot from Debian when missing). The server keeps
# running afterwards; `scripts/imap-test-server.sh stop` ends it. The database is a temporary
# file; set DEMO_DB=path to keep it.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p ruadb
ruadb="${CARGO_TARGET_DIR:-target}/release/ruadb"

bash scripts/imap-test-server.sh start
eval "$(bash scripts/imap-test-server.sh env)"
# Any user name logs in on the test server and starts with an empty mailbox.
user="demo-$(date +%s)-$$@example.test"
bash scripts/imap-test-server.sh seed "$user" fixtures/demo/maildir/new/* fixtures/demo/maildir/cur/*

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%s\n' "$RUADB_TEST_IMAP_PASSWORD" >"$work/imap-password"
cat >"$work/config.toml" <<CONFIG
db = "${DEMO_DB:-$work/demo.sqlite}"
domains = ["example.com"]

[imap]
host = "$RUADB_TEST_IMAP_HOST"
port = $RUADB_TEST_IMAP_PORT_TLS
username = "$user"
password_file = "$work/imap-password"
ca_file = "$RUADB_TEST_IMAP_CA_FILE"
after_ingest = "move"
archive_mailbox = "Archive/dmarc"
CONFIG
export RUADB_CONFIG="$work/config.toml"

echo
echo "==> ruadb fetch        (stores the reports, moves the mail to Archive/dmarc)"
"$ruadb" fetch
echo
echo "==> ruadb fetch        (again: nothing new)"
"$ruadb" fetch
echo
echo "==> ruadb summary --week 2026-W47"
"$ruadb" summary --week 2026-W47
