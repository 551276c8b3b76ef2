#!/usr/bin/env bash
# The main job on the bundled sample data, from a fresh clone: build ruadb, store the sample
# reports in fixtures/demo (a Maildir of report mail with gzip attachments, zip and gzip files,
# plain XML; example.com over ISO weeks 2026-W46 and 2026-W47), the SMTP TLS reports in
# fixtures/tlsrpt (JSON and a TLS report mail, the same weeks) and the DMARC failure reports in
# fixtures/demo-failure (ARF and Exim's text notice, W47) and a webmail provider's reports in
# fixtures/demo-services (W46 and W47: mail sent through Google Workspace, SendGrid and
# Mailchimp with DKIM set up, and through Amazon SES without), then show what they say. Who each
# source is comes from the reports' DKIM and SPF results and the built-in service catalogue, and
# its network owner and country from two small IP databases (MMDB) that ruadb-testgen writes
# for the demo's documentation addresses; with the local DNS server, reverse DNS is added at the
# end (the domain's own server by its own host name, Zendesk by its confirmed PTR, and a
# spoofing source's PTR that claims Amazon SES but is not confirmed, so names nothing). The HTML summary is written to target/demo/summary-2026-W47.html.
#
# The database is a temporary file, removed at exit; set DEMO_DB=path to keep it, e.g.
#   DEMO_DB=./demo.sqlite scripts/demo.sh && target/release/ruadb --db demo.sqlite sql "SELECT * FROM source_daily"
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --locked -p ruadb -p ruadb-testgen
ruadb="${CARGO_TARGET_DIR:-target}/release/ruadb"
testgen="${CARGO_TARGET_DIR:-target}/release/ruadb-testgen"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Made-up IP databases in the GeoLite2 ASN and Country layouts (no real database is shipped).
"$testgen" mmdb --layout asn --database-type Demo-ASN --build-epoch 1795046400 \
    --network "192.0.2.0/24;64500;Example Hosting AG;" \
    --network "198.51.100.0/24;64501;Example Mail Cloud Inc.;" \
    --network "203.0.113.0/24;64502;Example Bulk Servers Ltd;" \
    --network "2001:db8::/32;64500;Example Hosting AG;" --out "$work/asn.mmdb"
"$testgen" mmdb --layout country --database-type Demo-Country --build-epoch 1795046400 \
    --network "192.0.2.0/24;;;DE" --network "198.51.100.0/24;;;US" \
    --network "203.0.113.0/24;;;NL" --network "2001:db8::/32;;;DE" --out "$work/country.mmdb"
# Offline: reverse DNS off (the named services come from the reports' own DKIM and SPF).
printf 'domains = ["example.com"]\n[identify]\ndns = false\nip_database = ["asn.mmdb", "country.mmdb"]\n' >"$work/config.toml"
export RUADB_CONFIG="$work/config.toml"
export RUADB_DB="${DEMO_DB:-$work/demo.sqlite}"
rm -f "$RUADB_DB" "$RUADB_DB-wal" "$RUADB_DB-shm"

# The sample reports have fixed dates, so the period is named rather than "last week".
week=2026-W47

echo "==> ruadb ingest fixtures/demo fixtures/tlsrpt fixtures/demo-failure fixtures/demo-services"
"$ruadb" ingest fixtures/demo fixtures/tlsrpt fixtures/demo-failure fixtures/demo-services

echo
echo "==> ruadb sql \"SELECT … FROM source_identity\" (who each source is, and why)"
"$ruadb" sql "SELECT source_ip, service, service_kind, evidence, asn, as_org, country, ip_database
              FROM source_identity ORDER BY source_ip"

echo
echo "==> ruadb sql \"SELECT … FROM tls_failures\""
"$ruadb" sql "SELECT date(begin_utc, 'unixepoch') AS day, report_org, result_type,
                     receiving_mx_hostname, failed_sessions
              FROM tls_failures ORDER BY begin_utc, failed_sessions DESC"

echo
echo "==> ruadb sql \"SELECT ... FROM failure_samples\" (private by default: domains only)"
"$ruadb" sql "SELECT datetime(arrival_utc, 'unixepoch') AS arrival, reporter, source_ip,
                     auth_failure, from_domain, delivery_result
              FROM failure_samples ORDER BY arrival_utc"

echo
echo "==> ruadb sources --since 2026-11-09 --until 2026-11-23"
"$ruadb" sources --since 2026-11-09 --until 2026-11-23

if "$ruadb" summary --help >/dev/null 2>&1; then
    echo
    echo "==> ruadb summary --week $week"
    "$ruadb" summary --week "$week"
fi

# The HTML summary (charts, for a browser or a mail client) is kept for a person to open.
html_out="${CARGO_TARGET_DIR:-target}/demo/summary-$week.html"
mkdir -p "$(dirname "$html_out")"
"$ruadb" summary --week "$week" --format html >"$html_out"
echo
echo "==> ruadb summary --week $week --format html > $html_out (open it in a browser)"

echo
echo "==> ruadb summary --week $week --alerts --format json (its alerts array, and the exit status: 0 quiet, 1 look, 2 act)"
status=0
"$ruadb" summary --week "$week" --alerts --format json >"$work/alerts.json" || status=$?
if [ "$status" -gt 2 ]; then
    echo "ruadb summary --alerts failed with status $status" >&2
    exit 1
fi
sed -n '/"alerts": \[\]/{p;q}; /"alerts"/,/^  \]/p' "$work/alerts.json"
echo "exit status: $status"

# dns-check asks the local test DNS server (fixtures/dns/example.com.zone and its neighbours),
# never the internet. Starting it needs NSD: installed by root, else the step is skipped.
echo
echo "==> ruadb dns-check --domain example.com (against the local DNS server; exit status 1: an error found)"
dns_was_running=false
bash scripts/dns-test-server.sh status >/dev/null 2>&1 && dns_was_running=true
if bash scripts/dns-test-server.sh start >"$work/dns-server.log" 2>&1; then
    dns=$(bash scripts/dns-test-server.sh env | sed 's/^export RUADB_TEST_DNS=//')
    printf 'domains = ["example.com"]\n\n[identify]\nnameservers = ["%s"]\ndns_budget_secs = 10\nip_database = ["asn.mmdb", "country.mmdb"]\n' "$dns" >"$work/config.toml"
    status=0
    "$ruadb" dns-check --domain example.com || status=$?
    if [ "$status" -gt 1 ]; then
        echo "ruadb dns-check failed with status $status" >&2
        exit 1
    fi
    echo "exit status: $status"
    echo
    echo "==> ruadb summary --week $week: its DNS section (the check just made, with the sources SPF did not cover)"
    "$ruadb" summary --week "$week" | sed -n '/^DNS$/,/^$/p'
    echo
    echo "==> ruadb identify (reverse DNS against the local DNS server), then who each source is"
    "$ruadb" identify
    "$ruadb" sql "SELECT source_ip, service, evidence, ptr, ptr_confirmed, ptr_base_domain
                  FROM source_identity WHERE ptr IS NOT NULL ORDER BY source_ip"
    # A server this demo started is stopped again.
    "$dns_was_running" || bash scripts/dns-test-server.sh stop >/dev/null
else
    echo "dns-check skipped: the local DNS server did not start ($(tail -1 "$work/dns-server.log"))"
fi
