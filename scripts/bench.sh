#!/usr/bin/env bash
# Measures ruadb on synthetic corpora from ruadb-testgen and appends the results to
# bench/results.md:
#   - `ruadb parse --format json` and `ruadb ingest` (fresh database), separately, on a
#     10,000-, a 50,000- and a 200,000-report corpus: wall time, CPU time and how much of the
#     machine's cores it kept busy (user + system / wall / cores), reports/s, records/s, MB/s,
#     peak RSS, and the load average when the run started (the machine may be shared);
#   - `ruadb summary` and `ruadb sources` on a database of at least 5 million records;
#   - source identification (scripts/bench-identify.sh, its own section: IDENTIFY_IPS=0 skips
#     it): `ruadb identify` on 10,000 new addresses against a local DNS server, cached, and
#     ingest with identification on and off;
#   - at MSP scale (section "scale" at the end): a database of SCALE_RECORDS records over four
#     weeks for SCALE_DOMAINS policy domains (`ruadb-testgen msp`), ingested a week at a time;
#     the week's summary of all domains (text and JSON), one domain's summary in every format,
#     `sources` of one domain over the four weeks, a month of `source_daily`, bytes per record;
#   - with PARSEDMARC=1, parsedmarc 11.1 on the same corpus, side by side with `ruadb ingest`
#     (installed once in a virtual environment under target/, run offline with 2 processes).
#
# Corpora and the large database are cached under target/bench-corpus, keyed by seed and size
# (the database is rebuilt when the ruadb binary is newer than it).
#
# Environment: SEED (default 1), SIZES (default "10000 50000 200000"), RUNS (default 3: each parse and
# ingest is run that many times, alternating, and the table shows the median run by wall time,
# with every run's wall time listed below it), BIG_REPORTS (default 200000; 0 skips the large
# database), RESULTS (default bench/results.md), SCALE_RECORDS (default 10000000; 0 skips the
# scale section), SCALE_DOMAINS (default 1000), SCALE_RUNS (default RUNS), PARSEDMARC (default
# 0; 1 adds the side-by-side with parsedmarc), PARSEDMARC_REPORTS (default 10000: the corpus
# both are run on).
set -euo pipefail
cd "$(dirname "$0")/.."

SEED=${SEED:-1}
SIZES=${SIZES:-"10000 50000 200000"}
RUNS=${RUNS:-3}
BIG_REPORTS=${BIG_REPORTS:-200000}
RESULTS=${RESULTS:-bench/results.md}
PARSEDMARC=${PARSEDMARC:-0}
PARSEDMARC_REPORTS=${PARSEDMARC_REPORTS:-10000}
CACHE=target/bench-corpus
RUADB=target/release/ruadb
TESTGEN=target/release/ruadb-testgen
# The week 2025-W03 lies inside the generated period (2025-01-06 to 2025-02-02).
SUMMARY_WEEK=2025-W03

# GNU time gives the peak RSS of a child; Debian ships it as the package `time`.
if [ ! -x /usr/bin/time ]; then
    echo "bench: installing GNU time" >&2
    if [ "$(id -u)" -eq 0 ]; then
        apt-get install -y -qq time >/dev/null
    else
        sudo apt-get install -y -qq time >/dev/null
    fi
fi

cargo build --release -q -p ruadb -p ruadb-testgen
mkdir -p "$CACHE" "$(dirname "$RESULTS")"

json_field() { # FILE KEY: the first integer value of "KEY" in a JSON file
    sed -n "s/.*\"$2\": *\([0-9][0-9]*\).*/\1/p" "$1" | head -n1
}

corpus() { # REPORTS: prints the corpus directory, generating it once
    local dir="$CACHE/seed$SEED-reports$1"
    if [ ! -f "$dir.json" ]; then
        rm -rf "$dir"
        echo "bench: generating $1 reports (seed $SEED) in $dir" >&2
        "$TESTGEN" corpus --reports "$1" --seed "$SEED" --public-ips --out "$dir" >"$dir.json.part"
        mv "$dir.json.part" "$dir.json"
    fi
    echo "$dir"
}

CONFIG="$CACHE/bench-config.toml"
# Reverse DNS off: the corpora use public addresses, and no benchmark reaches the network.
printf 'domains = ["example.com", "example.org", "example.net"]\n[identify]\ndns = false\n' >"$CONFIG"

# measure LOG CMD...: runs CMD under GNU time; sets WALL and CPU (user + system) seconds and
# RSS_MIB. On a shared machine CPU seconds are the steadier number.
measure() {
    local log=$1
    shift
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -v -o "$log.time" "$@" >"$log.out" 2>"$log.err" || {
        echo "bench: command failed (exit $?): $*" >&2
        tail -n 5 "$log.err" >&2
        return 1
    }
    end=$(date +%s.%N)
    WALL=$(echo "$start $end" | awk '{ printf "%.2f", $2 - $1 }')
    RSS_MIB=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$log.time")
    CPU=$(awk -F': ' '/User time|System time/ { total += $2 } END { printf "%.2f", total }' "$log.time")
}

rate() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.0f", $1 / $2; else print "-" }'; }
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }'; }

load_average() { cut -d' ' -f1 /proc/loadavg; }

CORES=$(nproc)
# busy CPU WALL: the share of the machine's cores a run kept busy, in percent.
busy() { echo "$1 $2" | awk -v cores="$CORES" '{ if ($2 > 0) printf "%.0f", 100 * $1 / $2 / cores; else print "-" }'; }

# Runs of one command: "WALL CPU RSS_MIB LOAD" lines. median_run FILE sets WALL, CPU and LOAD
# (the load average when it started) from the run with the median wall time, RSS_MIB to the
# largest RSS of all runs and WALLS to every wall time.
median_run() {
    read -r WALL CPU LOAD < <(sort -n "$1" | awk '{ line[NR] = $1 " " $2 " " $4 } END { print line[int((NR + 1) / 2)] }')
    RSS_MIB=$(awk 'BEGIN { max = 0 } { if ($3 > max) max = $3 } END { print max }' "$1")
    WALLS=$(awk '{ printf "%s%s", (NR > 1 ? " / " : ""), $1 }' "$1")
}

ROWS=()
RUN_LINES=()
declare -A RECORDS_PER_SECOND REPORTS_PER_SECOND
for size in $SIZES; do
    dir=$(corpus "$size")
    reports=$(json_field "$dir.json" reports)
    records=$(json_field "$dir.json" records)
    bytes=$(json_field "$dir.json" bytes)
    mb=$(echo "$bytes" | awk '{ printf "%.1f", $1 / 1e6 }')

    # Warm the page cache so both commands read from memory.
    find "$dir" -type f -exec cat {} + >/dev/null

    : >"$CACHE/parse-$size.runs"
    : >"$CACHE/ingest-$size.runs"
    for _ in $(seq "$RUNS"); do
        load=$(load_average)
        measure "$CACHE/parse-$size" "$RUADB" --config "$CONFIG" parse --format json "$dir"
        echo "$WALL $CPU $RSS_MIB $load" >>"$CACHE/parse-$size.runs"

        db="$CACHE/ingest-$size.sqlite"
        rm -f "$db" "$db-wal" "$db-shm"
        load=$(load_average)
        measure "$CACHE/ingest-$size" "$RUADB" --config "$CONFIG" --db "$db" ingest --json "$dir"
        stored=$(json_field "$CACHE/ingest-$size.out" reports_new)
        stored_records=$(json_field "$CACHE/ingest-$size.out" records)
        if [ "$stored" != "$reports" ] || [ "$stored_records" != "$records" ]; then
            echo "bench: WARNING: ingest stored $stored reports / $stored_records records, corpus has $reports / $records" >&2
        fi
        echo "$WALL $CPU $RSS_MIB $load" >>"$CACHE/ingest-$size.runs"
        rm -f "$db" "$db-wal" "$db-shm"
    done

    median_run "$CACHE/parse-$size.runs"
    ROWS+=("| $size | parse | $reports | $records | $mb | $WALL | $CPU | $(busy "$CPU" "$WALL") | $(rate "$reports" "$WALL") | $(rate "$records" "$WALL") | $(rate "$mb" "$WALL") | $RSS_MIB | $LOAD |")
    RUN_LINES+=("- $size parse: $WALLS s")
    median_run "$CACHE/ingest-$size.runs"
    RECORDS_PER_SECOND[$size]=$(rate "$records" "$WALL")
    REPORTS_PER_SECOND[$size]=$(rate "$reports" "$WALL")
    ROWS+=("| $size | ingest | $reports | $records | $mb | $WALL | $CPU | $(busy "$CPU" "$WALL") | $(rate "$reports" "$WALL") | $(rate "$records" "$WALL") | $(rate "$mb" "$WALL") | $RSS_MIB | $LOAD |")
    RUN_LINES+=("- $size ingest: $WALLS s")
done

QUERY_ROWS=()
if [ "$BIG_REPORTS" -gt 0 ]; then
    dir=$(corpus "$BIG_REPORTS")
    big_db="$CACHE/big-seed$SEED-reports$BIG_REPORTS.sqlite"
    if [ ! -f "$big_db" ] || [ "$RUADB" -nt "$big_db" ]; then
        rm -f "$big_db" "$big_db-wal" "$big_db-shm"
        echo "bench: ingesting $BIG_REPORTS reports into $big_db" >&2
        measure "$CACHE/ingest-big" "$RUADB" --config "$CONFIG" --db "$big_db" ingest --json "$dir"
        records=$(json_field "$dir.json" records)
        QUERY_ROWS+=("| ingest $BIG_REPORTS reports | $records | $WALL | $CPU | $RSS_MIB |")
    fi
    big_records=$("$RUADB" --db "$big_db" sql "SELECT COUNT(*) FROM record_outcomes" | tail -n1 | tr -dc '0-9')
    measure "$CACHE/summary" "$RUADB" --config "$CONFIG" --db "$big_db" summary --week "$SUMMARY_WEEK"
    QUERY_ROWS+=("| \`ruadb summary --week $SUMMARY_WEEK\` | $big_records | $WALL | $CPU | $RSS_MIB |")
    measure "$CACHE/summary-json" "$RUADB" --config "$CONFIG" --db "$big_db" summary --week "$SUMMARY_WEEK" --format json
    QUERY_ROWS+=("| \`ruadb summary --week $SUMMARY_WEEK --format json\` | $big_records | $WALL | $CPU | $RSS_MIB |")
    measure "$CACHE/summary-all" "$RUADB" --config "$CONFIG" --db "$big_db" summary --since 2025-01-06 --until 2025-02-03
    QUERY_ROWS+=("| \`ruadb summary\` over all 4 weeks | $big_records | $WALL | $CPU | $RSS_MIB |")
    measure "$CACHE/sources" "$RUADB" --config "$CONFIG" --db "$big_db" sources --domain example.com
    QUERY_ROWS+=("| \`ruadb sources --domain example.com\` ($(wc -l <"$CACHE/sources.out") lines) | $big_records | $WALL | $CPU | $RSS_MIB |")
    measure "$CACHE/sql" "$RUADB" --db "$big_db" sql "SELECT COUNT(*), SUM(message_count) FROM record_outcomes WHERE dmarc_pass = 0"
    QUERY_ROWS+=("| \`ruadb sql\` full scan of record_outcomes | $big_records | $WALL | $CPU | $RSS_MIB |")
fi

{
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
    echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM. Seed $SEED."
    echo "Cores busy: CPU s (user + system) / wall s / $CORES cores. Load: the 1-minute load average when the run started."
    echo
    echo "| corpus (reports) | command | reports | records | input MB | wall s | CPU s | cores busy % | reports/s | records/s | MB/s | peak RSS MiB | load |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Median of $RUNS runs by wall time; every run's wall time:"
    echo
    printf '%s\n' "${RUN_LINES[@]}"
    sizes=($SIZES)
    if [ "${#sizes[@]}" -ge 2 ]; then
        first=${sizes[0]}
        last=${sizes[${#sizes[@]}-1]}
        echo
        echo "Ingest records/s at $last reports vs $first: $(echo "${RECORDS_PER_SECOND[$last]} ${RECORDS_PER_SECOND[$first]}" | awk '{ printf "%.2f", $1 / $2 }') (1.00 = linear)."
        # Every size against the first (issue 18: linear from 10k to 200k reports).
        for size in "${sizes[@]:1}"; do
            echo "Ingest at $size reports vs $first: reports/s $(ratio "${REPORTS_PER_SECOND[$size]}" "${REPORTS_PER_SECOND[$first]}"), records/s $(ratio "${RECORDS_PER_SECOND[$size]}" "${RECORDS_PER_SECOND[$first]}") (1.00 = linear)."
        done
    fi
    if [ "${#QUERY_ROWS[@]}" -gt 0 ]; then
        echo
        echo "| on the large database | records | wall s | CPU s | peak RSS MiB |"
        echo "|---|---:|---:|---:|---:|"
        printf '%s\n' "${QUERY_ROWS[@]}"
    fi
} | tee -a "$RESULTS"

# --- Source identification: its own script and section (IDENTIFY_IPS=0 skips it). ---
if [ "${IDENTIFY_IPS:-10000}" -gt 0 ]; then
    BENCH_PARENT=1 RESULTS="$RESULTS" RUNS="$RUNS" SEED="$SEED" bash scripts/bench-identify.sh
fi

# ---------------------------------------------------------------------------------------------
# Scale: a mail service provider's database (issue 18's goals). The mailbox is written and
# ingested a week at a time, so only one week of report files is ever on disk; the database is
# cached, keyed by seed, records and domains, and rebuilt when the ruadb binary is newer.
SCALE_RECORDS=${SCALE_RECORDS:-10000000}
SCALE_DOMAINS=${SCALE_DOMAINS:-1000}
SCALE_RUNS=${SCALE_RUNS:-$RUNS}
# The last of the four generated weeks: its summary has a previous week and a baseline.
SCALE_WEEK=2025-W05

# scale_measure LABEL GOAL CMD...: runs CMD SCALE_RUNS times and adds a row with the median
# run by wall time, the largest peak RSS and the load average before the first run.
SCALE_ROWS=()
scale_measure() {
    local label=$1 goal=$2 log
    shift 2
    log="$CACHE/scale-$(echo "$label" | tr -c 'a-zA-Z0-9' '-' | cut -c1-60)"
    local load
    load=$(load_average)
    : >"$log.runs"
    for _ in $(seq "$SCALE_RUNS"); do
        measure "$log" "$@"
        echo "$WALL $CPU $RSS_MIB" >>"$log.runs"
    done
    median_run "$log.runs"
    SCALE_LOG=$log
    SCALE_ROWS+=("| $label | $WALL | $CPU | $RSS_MIB | $load | $goal |")
}

scale_section() {
    local key="seed$SEED-records$SCALE_RECORDS-domains$SCALE_DOMAINS"
    local db="$CACHE/scale-$key.sqlite" config="$CACHE/scale-config.toml"
    # Every domain is accepted (no `domains` list); reverse DNS off, as for the other corpora.
    printf '[identify]\ndns = false\n' >"$config"
    local ingest_row=""
    if [ ! -f "$db" ] || [ "$RUADB" -nt "$db" ]; then
        rm -f "$db" "$db-wal" "$db-shm"
        local part="$CACHE/scale-part" wall=0 cpu=0 rss=0 reports=0 records=0 load
        load=$(load_average)
        for first_day in 0 7 14 21; do
            rm -rf "$part"
            echo "bench: scale: writing days $first_day-$((first_day + 6)) of $key" >&2
            "$TESTGEN" msp --records "$SCALE_RECORDS" --domains "$SCALE_DOMAINS" --seed "$SEED" \
                --public-ips --first-day "$first_day" --day-count 7 --out "$part" >"$part.json"
            measure "$CACHE/scale-ingest" "$RUADB" --config "$config" --db "$db" ingest --json "$part"
            local stored written
            stored=$(json_field "$CACHE/scale-ingest.out" records)
            written=$(json_field "$part.json" records)
            if [ "$stored" != "$written" ]; then
                echo "bench: WARNING: scale ingest stored $stored records, the week has $written" >&2
            fi
            reports=$((reports + $(json_field "$part.json" reports)))
            records=$((records + written))
            wall=$(echo "$wall $WALL" | awk '{ printf "%.2f", $1 + $2 }')
            cpu=$(echo "$cpu $CPU" | awk '{ printf "%.2f", $1 + $2 }')
            rss=$(echo "$rss $RSS_MIB" | awk '{ print ($2 > $1 ? $2 : $1) }')
            rm -rf "$part" "$part.json"
        done
        ingest_row="| ingest, a week at a time ($reports reports, $(rate "$records" "$wall") records/s) | $wall | $cpu | $rss | $load | |"
    fi
    local records domains bytes domain
    records=$("$RUADB" --db "$db" sql "SELECT SUM(record_count) FROM reports" | tail -n1 | tr -dc '0-9')
    domains=$("$RUADB" --db "$db" sql "SELECT COUNT(DISTINCT policy_domain) FROM reports" | tail -n1 | tr -dc '0-9')
    bytes=$(stat -c %s "$db")
    # The domain with most records: the slowest one-domain answer.
    domain=$("$RUADB" --db "$db" sql "SELECT policy_domain FROM reports GROUP BY policy_domain ORDER BY SUM(record_count) DESC LIMIT 1" | tail -n1 | tr -d ' ')
    SCALE_ROWS=()
    [ -n "$ingest_row" ] && SCALE_ROWS+=("$ingest_row")
    local base=("$RUADB" --config "$config" --db "$db")
    scale_measure "\`summary --week $SCALE_WEEK\`, all domains, text" "≤ 2 s, ≤ 64 MiB" \
        "${base[@]}" summary --week "$SCALE_WEEK"
    scale_measure "\`summary --week $SCALE_WEEK --format json\`, all domains" "≤ 64 MiB" \
        "${base[@]}" summary --week "$SCALE_WEEK" --format json
    local json_bytes
    json_bytes=$(stat -c %s "$SCALE_LOG.out")
    for format in text markdown json html; do
        scale_measure "\`summary --week $SCALE_WEEK --domain D --format $format\`" "≤ 0.2 s" \
            "${base[@]}" summary --week "$SCALE_WEEK" --domain "$domain" --format "$format"
    done
    scale_measure "\`sources --domain D\` (4 weeks)" "≤ 0.2 s" "${base[@]}" sources --domain "$domain"
    scale_measure "\`sql\`: SUM(messages) per domain from source_daily (4 weeks)" "≤ 1 s" \
        "$RUADB" --db "$db" sql "SELECT policy_domain, SUM(messages) FROM source_daily GROUP BY 1"
    {
        echo
        echo "### Scale, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
        echo
        echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, shared (load average: 1-minute, before the first run)."
        echo "Database: $records records, $domains policy domains, 4 weeks (\`ruadb-testgen msp --seed $SEED\`),"
        echo "$(echo "$bytes" | awk '{ printf "%.2f GB", $1 / 1e9 }'), $(echo "$bytes $records" | awk '{ printf "%.0f", $1 / $2 }') bytes per record. D = $domain (the domain with most records)."
        echo "The week's JSON summary of all domains: $(echo "$json_bytes" | awk '{ printf "%.1f MB", $1 / 1e6 }'). Median of $SCALE_RUNS runs by wall time."
        echo
        echo "| command | wall s | CPU s | peak RSS MiB | load | goal |"
        echo "|---|---:|---:|---:|---:|---|"
        printf '%s\n' "${SCALE_ROWS[@]}"
    } | tee -a "$RESULTS"
}

if [ "$SCALE_RECORDS" -gt 0 ]; then
    scale_section
fi

# ---------------------------------------------------------------------------------------------
# parsedmarc side by side (PARSEDMARC=1): the same corpus, parsedmarc 11.1 offline with two
# processes (its own parallelism, as on a 2-core machine), then `ruadb ingest` right after it,
# so both see the same machine. parsedmarc lives in a throwaway virtual environment under
# target/, installed from PyPI once.
# tree_peak_rss PID: the largest sum of the RSS of PID and its descendants, sampled every 0.2 s
# until PID exits, in MiB (GNU time only sees the largest single process, and parsedmarc's
# workers are processes).
tree_peak_rss() {
    local root=$1 peak=0 now
    # A finished process stays a zombie until this shell waits for it: stop at that state.
    while grep -qs '^State:[[:space:]]*[^Z]' "/proc/$root/status"; do
        now=$(ps -e -o pid=,ppid=,rss= | awk -v root="$root" '
            { parent[$1] = $2; rss[$1] = $3 }
            END {
                for (pid in rss) {
                    p = pid
                    while (p != "" && p != 0 && p != root) p = parent[p]
                    if (p == root) total += rss[pid]
                }
                print total + 0
            }')
        [ "$now" -gt "$peak" ] && peak=$now
        sleep 0.2
    done
    echo "$peak" | awk '{ printf "%.0f", $1 / 1024 }'
}

parsedmarc_section() {
    local venv=target/parsedmarc-venv version=11.1.0
    if ! "$venv/bin/parsedmarc" --version 2>/dev/null | grep -qx "$version"; then
        echo "bench: installing parsedmarc $version in $venv" >&2
        rm -rf "$venv"
        if ! python3 -m venv "$venv"; then
            echo "bench: PARSEDMARC=1 needs Python 3 with venv (Debian: apt-get install python3-venv)" >&2
            return 1
        fi
        "$venv/bin/pip" install -q "parsedmarc==$version"
    fi
    local dir reports records out="$CACHE/parsedmarc-out" conf="$CACHE/parsedmarc.ini"
    dir=$(corpus "$PARSEDMARC_REPORTS")
    reports=$(json_field "$dir.json" reports)
    records=$(json_field "$dir.json" records)
    find "$dir" -type f -exec cat {} + >/dev/null
    rm -rf "$out"
    printf '[general]\noffline = True\nn_procs = 2\nsave_aggregate = True\nsilent = True\noutput = %s\n' \
        "$(pwd)/$out" >"$conf"
    local load start end
    load=$(load_average)
    start=$(date +%s.%N)
    /usr/bin/time -v -o "$CACHE/parsedmarc.time" "$venv/bin/parsedmarc" -c "$conf" "$dir" \
        >"$CACHE/parsedmarc.log" 2>&1 &
    local tree_rss
    tree_rss=$(tree_peak_rss $!)
    wait $! || {
        echo "bench: parsedmarc failed; see $CACHE/parsedmarc.log" >&2
        return 1
    }
    end=$(date +%s.%N)
    local p_wall p_cpu p_rss p_reports p_records
    p_wall=$(echo "$start $end" | awk '{ printf "%.2f", $2 - $1 }')
    p_cpu=$(awk -F': ' '/User time|System time/ { total += $2 } END { printf "%.2f", total }' "$CACHE/parsedmarc.time")
    p_rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$CACHE/parsedmarc.time")
    # Sampling can miss the peak between two samples: never report less than the largest
    # single process.
    [ "$p_rss" -gt "$tree_rss" ] && tree_rss=$p_rss
    read -r p_reports p_records < <(python3 -c 'import json, sys
reports = json.load(open(sys.argv[1]))
print(len(reports), sum(len(report["records"]) for report in reports))' "$out/aggregate.json")
    rm -rf "$out"

    local db="$CACHE/parsedmarc-ruadb.sqlite" r_load
    rm -f "$db" "$db-wal" "$db-shm"
    r_load=$(load_average)
    measure "$CACHE/parsedmarc-ruadb" "$RUADB" --config "$CONFIG" --db "$db" ingest --json "$dir"
    rm -f "$db" "$db-wal" "$db-shm"
    local p_rate r_rate
    p_rate=$(echo "$p_reports $p_wall" | awk '{ printf "%.1f", $1 / $2 }')
    r_rate=$(rate "$reports" "$WALL")
    {
        echo
        echo "### parsedmarc $version side by side, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
        echo
        echo "The seed-$SEED $reports-report corpus ($records records). parsedmarc: \`parsedmarc -c parsedmarc.ini DIR\` with"
        echo "\`offline = True\`, \`n_procs = 2\`, \`save_aggregate = True\` (it parsed $p_reports reports, $p_records records);"
        echo "ruadb: \`ruadb ingest --json DIR\` into a fresh database, right after. Peak RSS: parsedmarc's whole process tree"
        echo "sampled every 0.2 s, at least its largest single process (in brackets); ruadb is one process."
        echo
        echo "| program | wall s | CPU s | cores busy % | reports/s | records/s | peak RSS MiB | load |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        echo "| parsedmarc $version | $p_wall | $p_cpu | $(busy "$p_cpu" "$p_wall") | $p_rate | $(rate "$p_records" "$p_wall") | $tree_rss ($p_rss) | $load |"
        echo "| ruadb ingest | $WALL | $CPU | $(busy "$CPU" "$WALL") | $r_rate | $(rate "$records" "$WALL") | $RSS_MIB | $r_load |"
        echo
        echo "ruadb handles $(echo "$r_rate $p_rate" | awk '{ printf "%.0f", $1 / $2 }')× the reports per second of parsedmarc,"
        echo "and $(echo "$reports $CPU $p_reports $p_cpu" | awk '{ printf "%.0f", ($1 / $2) / ($3 / $4) }')× the reports per CPU second (the figure a shared machine distorts least)."
    } | tee -a "$RESULTS"
}

if [ "$PARSEDMARC" = 1 ]; then
    parsedmarc_section
fi
