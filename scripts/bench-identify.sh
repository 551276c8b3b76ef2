#!/usr/bin/env bash
# Source identification figures, appended to bench/results.md (run by scripts/bench.sh after
# its own sections, or alone):
#   - `ruadb identify` on IDENTIFY_IPS (default 10,000) new source addresses: the catalogue,
#     the IP database (a generated MMDB) and forward-confirmed reverse DNS against a local NSD
#     (scripts/dns-test-server.sh with generated zones: 9 in 10 addresses have a PTR whose A
#     record confirms it, 1 in 10 has none). Wall time, peak RSS; then the cached re-run, with
#     nothing to look up. Targets: <= 10 s, <= 0.2 s, <= 64 MiB.
#   - `ruadb ingest` of the IDENTIFY_INGEST_REPORTS-report corpus (default 10,000, the corpus of
#     scripts/bench.sh) with identification off (`--no-identify`) and on without network:
#     the catalogue alone (the default, which configures no IP database), and the catalogue
#     with the IP database (`dns = false` both). Target: "on" within 5% of "off". Reverse DNS
#     after an ingest waits on the network, within `dns_budget_secs`: its own cost is the
#     `ruadb identify` figure above. The three modes run in rounds, IDENTIFY_INGEST_RUNS rounds
#     (default 7): a difference of a few percent needs more runs than the spread of one, and
#     besides the medians of each mode the table gives the median of each round's run against
#     that round's "off" run, which a slow drift of a shared machine does not move.
#
# Each `ruadb identify` figure is the median of RUNS runs (default 3) by wall time; each ingest
# figure is the median wall time and, separately, the median CPU time of its runs. Every figure
# comes with the 1-minute load average of the machine when it was taken: on a shared machine
# the numbers are only as good as the quiet they were taken in.
#
# Everything generated (reports, zones, the MMDB, the DNS server's state) is cached under
# target/bench-corpus/identify-*, keyed by the number of addresses; the DNS server runs on
# BENCH_DNS_PORT (default 10153) with its own state directory and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

IDENTIFY_IPS=${IDENTIFY_IPS:-10000}
IDENTIFY_INGEST_REPORTS=${IDENTIFY_INGEST_REPORTS:-10000}
RUNS=${RUNS:-3}
IDENTIFY_INGEST_RUNS=${IDENTIFY_INGEST_RUNS:-7}
SEED=${SEED:-1}
RESULTS=${RESULTS:-bench/results.md}
BENCH_DNS_PORT=${BENCH_DNS_PORT:-10153}
CACHE=target/bench-corpus
RUADB=target/release/ruadb
TESTGEN=target/release/ruadb-testgen
# Addresses come from the benchmarking range 198.18.0.0/15 (RFC 2544), 250 per /24.
MAX_IPS=64000

[ "$IDENTIFY_IPS" -ge 1 ] && [ "$IDENTIFY_IPS" -le "$MAX_IPS" ] ||
    { echo "bench-identify: IDENTIFY_IPS must be 1 to $MAX_IPS" >&2; exit 2; }
if [ ! -x /usr/bin/time ]; then
    echo "bench-identify: GNU time is missing (apt-get install time)" >&2
    exit 2
fi
[ -n "${BENCH_PARENT:-}" ] || cargo build --release -q -p ruadb -p ruadb-testgen

WORK="$CACHE/identify-$IDENTIFY_IPS"
DNS_STATE="$PWD/$CACHE/identify-dns"
mkdir -p "$WORK" "$(dirname "$RESULTS")"

# --- Generated inputs (once per size) ---------------------------------------------------------

# Address n (0-based) of the benchmark: 198.18.<n / 250>.<n % 250 + 1>.
write_inputs() {
    local done="$WORK/inputs.done"
    [ -f "$done" ] && return 0
    echo "bench-identify: generating $IDENTIFY_IPS addresses, their zones and reports in $WORK" >&2
    rm -rf "$WORK/reports" "$WORK/zones"
    mkdir -p "$WORK/reports" "$WORK/zones"
    local soa='@ 3600 IN SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 60
@ 3600 IN NS ns.bench.test.'
    awk -v n="$IDENTIFY_IPS" -v soa="$soa" -v zones="$WORK/zones" 'BEGIN {
        reverse = zones "/18.198.in-addr.arpa.zone"
        forward = zones "/bench.test.zone"
        print "$ORIGIN 18.198.in-addr.arpa.\n" soa > reverse
        print "$ORIGIN bench.test.\n" soa "\nns A 127.0.0.1" > forward
        for (i = 0; i < n; i++) {
            third = int(i / 250); fourth = i % 250 + 1
            if (i % 10 == 9) continue   # no PTR: NXDOMAIN
            printf "%d.%d PTR mta-%d.bench.test.\n", fourth, third, i > reverse
            printf "mta-%d A 198.18.%d.%d\n", i, third, fourth > forward
        }
    }'
    # Reports of at most 1,000 records, one record per address.
    awk -v n="$IDENTIFY_IPS" -v dir="$WORK/reports" 'BEGIN {
        per = 1000
        for (start = 0; start < n; start += per) {
            file = sprintf("%s/report-%05d.xml", dir, start / per)
            printf "<feedback><report_metadata><org_name>bench.example</org_name><email>dmarc@bench.example</email><report_id>identify-bench-%d</report_id><date_range><begin>1736121600</begin><end>1736207999</end></date_range></report_metadata><policy_published><domain>example.com</domain><p>none</p></policy_published>", start > file
            for (i = start; i < start + per && i < n; i++) {
                printf "<record><row><source_ip>198.18.%d.%d</source_ip><count>1</count><policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers><auth_results><spf><domain>example.com</domain><result>fail</result></spf></auth_results></record>", int(i / 250), i % 250 + 1 > file
            }
            print "</feedback>" > file
            close(file)
        }
    }'
    "$TESTGEN" mmdb --layout asn --database-type Bench-ASN --build-epoch 1764547200 \
        --network "198.18.0.0/15;64496;Benchmark Networks;" --out "$WORK/asn.mmdb"
    "$TESTGEN" mmdb --layout country --database-type Bench-Country --build-epoch 1764547200 \
        --network "198.18.0.0/15;;;NL" --network "0.0.0.0/1;;;US" --network "128.0.0.0/1;;;DE" \
        --out "$WORK/country.mmdb"
    touch "$done"
}

# --- Measuring ------------------------------------------------------------------------------------

load1() { cut -d' ' -f1 /proc/loadavg; }

# timed NAME CMD...: runs CMD under GNU time, appends "WALL CPU RSS_MIB LOAD1" to $WORK/NAME.runs
# (LOAD1: the 1-minute load average just before the run); its stdout goes to $WORK/NAME.out.
timed() {
    local name=$1
    shift
    local load start end
    load=$(load1)
    start=$(date +%s.%N)
    /usr/bin/time -f '%U %S %M' -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
        echo "bench-identify: command failed: $*" >&2
        tail -n 5 "$WORK/$name.err" >&2
        return 1
    }
    end=$(date +%s.%N)
    awk -v start="$start" -v end="$end" -v load="$load" \
        '{ printf "%.3f %.2f %.1f %s\n", end - start, $1 + $2, $3 / 1024, load }' \
        "$WORK/$name.time" >>"$WORK/$name.runs"
}

# median NAME: "WALL CPU RSS_MIB LOAD1" of the median run by wall time, with the largest RSS.
median() {
    sort -n "$WORK/$1.runs" | awk '
        { line[NR] = $0; if ($3 > rss) rss = $3 }
        END { split(line[int((NR + 1) / 2)], m, " "); printf "%s %s %s %s\n", m[1], m[2], rss, m[4] }'
}

# medians NAME: "WALL CPU RSS_MIB LOAD1": the median wall time (with the load of its run) and,
# separately, the median CPU time, with the largest RSS.
medians() {
    local cpu
    cpu=$(awk '{ print $2 }' "$WORK/$1.runs" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    median "$1" | awk -v cpu="$cpu" '{ printf "%s %s %s %s\n", $1, cpu, $3, $4 }'
}

# cpus NAME: every run's CPU time, "1.23 / 1.31 / …".
cpus() {
    awk '{ printf "%s%s", (NR > 1 ? " / " : ""), $2 }' "$WORK/$1.runs"
}

# walls NAME: every run's wall time and load, "1.23 s (load 0.41) / …".
walls() {
    awk '{ printf "%s%s s (load %s)", (NR > 1 ? " / " : ""), $1, $4 }' "$WORK/$1.runs"
}

tally() { # FILE KEY: the first integer after "KEY": in a one-line JSON tally
    grep -o "\"$2\":[0-9]*" "$1" | head -n1 | cut -d: -f2
}

# --- The DNS server ----------------------------------------------------------------------------

dns_server() { # start|stop
    RUADB_TEST_DNS_DIR="$DNS_STATE" RUADB_TEST_DNS_PORT="$BENCH_DNS_PORT" \
        RUADB_TEST_DNS_EXTRA_ZONES="$PWD/$WORK/zones" bash scripts/dns-test-server.sh "$1" >&2
}

write_inputs
dns_server start
trap 'dns_server stop' EXIT
nameserver="127.0.0.1:$BENCH_DNS_PORT"
# The last address with a PTR must answer before anything is measured.
last=$((IDENTIFY_IPS - 1 - (IDENTIFY_IPS % 10 == 0 ? 1 : 0)))
probe="198.18.$((last / 250)).$((last % 250 + 1))"
dig +short +time=2 +tries=1 -p "$BENCH_DNS_PORT" @127.0.0.1 -x "$probe" | grep -q "^mta-$last\.bench\.test\.$" ||
    { echo "bench-identify: the DNS server does not answer the PTR of $probe" >&2; exit 1; }

config() { # FILE DNS(true|false): identification settings of the benchmark
    printf 'domains = ["example.com", "example.org", "example.net"]\n[identify]\ndns = %s\nnameservers = ["%s"]\ndns_budget_secs = 120\nip_database = ["%s", "%s"]\n' \
        "$2" "$nameserver" "$PWD/$WORK/asn.mmdb" "$PWD/$WORK/country.mmdb" >"$1"
}
config "$WORK/dns.toml" true
config "$WORK/offline.toml" false
# The default settings without network: the catalogue alone (no IP database is configured by
# default), reverse DNS off.
printf 'domains = ["example.com", "example.org", "example.net"]\n[identify]\ndns = false\n' >"$WORK/catalogue.toml"

# --- identify on new addresses, then cached -----------------------------------------------------

rm -f "$WORK"/identify-new.runs "$WORK"/identify-cached.runs
for _ in $(seq "$RUNS"); do
    db="$WORK/identify.sqlite"
    rm -f "$db" "$db-wal" "$db-shm"
    "$RUADB" --config "$WORK/dns.toml" --db "$db" ingest --no-identify "$WORK/reports" 2>/dev/null
    timed identify-new "$RUADB" --config "$WORK/dns.toml" --db "$db" identify --json
    looked_up=$(grep -o '"dns":{"looked_up":[0-9]*' "$WORK/identify-new.out" | grep -o '[0-9]*$')
    confirmed=$(tally "$WORK/identify-new.out" confirmed)
    ip_found=$(tally "$WORK/identify-new.out" found)
    if [ "$looked_up" != "$IDENTIFY_IPS" ]; then
        echo "bench-identify: WARNING: reverse DNS looked up $looked_up of $IDENTIFY_IPS addresses: $(cat "$WORK/identify-new.out")" >&2
    fi
    timed identify-cached "$RUADB" --config "$WORK/dns.toml" --db "$db" identify --json
done
read -r new_wall new_cpu new_rss new_load < <(median identify-new)
read -r cached_wall cached_cpu cached_rss cached_load < <(median identify-cached)

# --- ingest with identification off and on ------------------------------------------------------

corpus="$CACHE/seed$SEED-reports$IDENTIFY_INGEST_REPORTS"
if [ ! -f "$corpus.json" ]; then
    rm -rf "$corpus"
    echo "bench-identify: generating $IDENTIFY_INGEST_REPORTS reports (seed $SEED) in $corpus" >&2
    "$TESTGEN" corpus --reports "$IDENTIFY_INGEST_REPORTS" --seed "$SEED" --public-ips --out "$corpus" >"$corpus.json.part"
    mv "$corpus.json.part" "$corpus.json"
fi
find "$corpus" -type f -exec cat {} + >/dev/null
rm -f "$WORK"/ingest-off.runs "$WORK"/ingest-offline.runs "$WORK"/ingest-catalogue.runs
for _ in $(seq "$IDENTIFY_INGEST_RUNS"); do
    for mode in off catalogue offline; do
        db="$WORK/ingest-$mode.sqlite"
        rm -f "$db" "$db-wal" "$db-shm"
        case $mode in
        off) timed ingest-off "$RUADB" --config "$WORK/offline.toml" --db "$db" ingest --no-identify "$corpus" ;;
        catalogue) timed ingest-catalogue "$RUADB" --config "$WORK/catalogue.toml" --db "$db" ingest "$corpus" ;;
        offline) timed ingest-offline "$RUADB" --config "$WORK/offline.toml" --db "$db" ingest "$corpus" ;;
        esac
    done
done
sources=$("$RUADB" --db "$WORK/ingest-offline.sqlite" sql "SELECT COUNT(*) FROM source_identity" | tail -n1 | tr -dc '0-9')
read -r off_wall off_cpu off_rss off_load < <(medians ingest-off)
read -r offline_wall offline_cpu offline_rss offline_load < <(medians ingest-offline)
read -r catalogue_wall catalogue_cpu catalogue_rss catalogue_load < <(medians ingest-catalogue)
ratio() { echo "$1 $2" | awk '{ printf "%+.1f%%", ($1 / $2 - 1) * 100 }'; }
# paired NAME COLUMN: the median over the rounds of NAME's run against the "off" run of the
# same round (column 1 wall, 2 CPU), "+1.2%". The runs of a round follow each other within
# seconds, so a drift of the machine over the minutes of the comparison cancels out.
paired() {
    paste -d' ' "$WORK/$1.runs" "$WORK/ingest-off.runs" |
        awk -v c="$2" '{ print ($(c) / $(c + 4) - 1) * 100 }' | sort -g |
        awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%+.1f%%", m }'
}

{
    if [ -z "${BENCH_PARENT:-}" ]; then
        echo
        echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
        echo
        echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM."
    fi
    echo
    echo "### Source identification (scripts/bench-identify.sh)"
    echo
    echo "| identification | addresses | wall s | CPU s | peak RSS MiB | load (1 min) | target |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    echo "| \`ruadb identify\`, new addresses: catalogue, IP database, reverse DNS ($confirmed confirmed PTRs) | $IDENTIFY_IPS | $new_wall | $new_cpu | $new_rss | $new_load | ≤ 10 s, ≤ 64 MiB |"
    echo "| \`ruadb identify\` again, all cached | $IDENTIFY_IPS | $cached_wall | $cached_cpu | $cached_rss | $cached_load | ≤ 0.2 s |"
    echo
    echo "IP database answers on the first run: $ip_found of $IDENTIFY_IPS. Median of $RUNS runs by wall time; every run:"
    echo
    echo "- identify, new: $(walls identify-new)"
    echo "- identify, cached: $(walls identify-cached)"
    echo
    echo "| \`ruadb ingest\` of $IDENTIFY_INGEST_REPORTS reports ($sources sources) | wall s | CPU s | peak RSS MiB | load (1 min) | wall vs off | CPU vs off | paired wall vs off | paired CPU vs off | runs |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    echo "| identification off (\`--no-identify\`) | $off_wall | $off_cpu | $off_rss | $off_load | | | | | $IDENTIFY_INGEST_RUNS |"
    echo "| on, catalogue only (the default without an IP database; \`dns = false\`) | $catalogue_wall | $catalogue_cpu | $catalogue_rss | $catalogue_load | $(ratio "$catalogue_wall" "$off_wall") | $(ratio "$catalogue_cpu" "$off_cpu") | $(paired ingest-catalogue 1) | $(paired ingest-catalogue 2) | $IDENTIFY_INGEST_RUNS |"
    echo "| on, catalogue and IP database (\`dns = false\`) | $offline_wall | $offline_cpu | $offline_rss | $offline_load | $(ratio "$offline_wall" "$off_wall") | $(ratio "$offline_cpu" "$off_cpu") | $(paired ingest-offline 1) | $(paired ingest-offline 2) | $IDENTIFY_INGEST_RUNS |"
    echo
    echo "Median wall time and, separately, median CPU time of $IDENTIFY_INGEST_RUNS rounds; each round runs off, catalogue only, and catalogue with IP database, one after the other. \"Paired\": the median over the rounds of each run against the \"off\" run of its own round. Every run: off $(walls ingest-off); catalogue only $(walls ingest-catalogue); with IP database $(walls ingest-offline)."
    echo
    echo "CPU s of every run: off $(cpus ingest-off); catalogue only $(cpus ingest-catalogue); with IP database $(cpus ingest-offline)."
} | tee -a "$RESULTS"
