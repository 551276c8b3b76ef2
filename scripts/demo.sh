#!/usr/bin/env bash
# The main job on the bundled sample data, from a fresh clone: build ruadb, store the sample
# reports in fixtures/demo (a Maildir of report mail with gzip attachments, zip and gzip files,
# plain XML; example.com over ISO weeks 2026-W46 and 2026-W47), the SMTP TLS reports in
# fixtures/tlsrpt (JSON and a TLS report mail, the same weeks) and the DMARC failure reports in
# fixtures/demo-failure (ARF and Exim's text notice, W47), then show what they say. The HTML
# summary is written to target/demo/summary-2026-W47.html.
#
# The database is a temporary file, removed at exit; set DEMO_DB=path to keep it, e.g.
#   DEMO_DB=./demo.sqlite scripts/demo.sh && target/release/ruadb --db demo.sqlite sql "SELECT * FROM source_daily"
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --locked -p ruadb
ruadb="${CARGO_TARGET_DIR:-target}/release/ruadb"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Offline: reverse DNS off (the named services come from the reports' own DKIM and SPF).
printf 'domains = ["example.com"]\n[identify]\ndns = false\n' >"$work/config.toml"
export RUADB_CONFIG="$work/config.toml"
export RUADB_DB="${DEMO_DB:-$work/demo.sqlite}"
rm -f "$RUADB_DB" "$RUADB_DB-wal" "$RUADB_DB-shm"

# The sample reports have fixed dates, so the period is named rather than "last week".
week=2026-W47

echo "==> ruadb ingest fixtures/demo fixtures/tlsrpt fixtures/demo-failure"
"$ruadb" ingest fixtures/demo fixtures/tlsrpt fixtures/demo-failure

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
    printf 'domains = ["example.com"]\n\n[identify]\nnameservers = ["%s"]\ndns_budget_secs = 10\n' "$dns" >"$work/config.toml"
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
    # A server this demo started is stopped again.
    "$dns_was_running" || bash scripts/dns-test-server.sh stop >/dev/null
else
    echo "dns-check skipped: the local DNS server did not start ($(tail -1 "$work/dns-server.log"))"
fi
