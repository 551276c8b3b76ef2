#!/usr/bin/env bash
# A throwaway authoritative DNS server (NSD) on 127.0.0.1 for the reverse DNS tests: its own
# config, zones and state under one directory. Nothing under /etc, /var or /run is used.
#
#   scripts/dns-test-server.sh start    install NSD (and dig) if missing (root), start, wait for an answer
#   scripts/dns-test-server.sh env      print `export RUADB_TEST_DNS=127.0.0.1:PORT` for the tests
#   scripts/dns-test-server.sh status   exit 0 when the server answers
#   scripts/dns-test-server.sh stop     stop the server
#
# Settings (environment): RUADB_TEST_DNS_DIR (state dir, default ${TMPDIR:-/tmp}/ruadb-dns-test-$UID),
# RUADB_TEST_DNS_PORT (UDP and TCP, default 10053), RUADB_TEST_DNS_EXTRA_ZONES (a directory:
# each <zone>.zone in it is served too, e.g. the generated zones of scripts/bench-identify.sh;
# `start` restarts a running server whose fixture or extra zone files changed).
#
# What the zones hold (documentation addresses only; see write_zones):
#   192.0.2.10   PTR mail.example.com, whose A (fixtures/dns/example.com.zone) is 192.0.2.10:
#                forward-confirmed; the demo domain's own server, named by its own host
#   192.0.2.17   PTR a17-1.smtp-out.amazonses.com, whose A is 192.0.2.17: forward-confirmed
#                (amazonses.com also has the SPF of the return path eu-west-1.amazonses.com
#                and the DKIM key of the selector the demo's Amazon SES mail is signed with)
#   203.0.113.30 PTR mail30.zendesk.com (fixtures/dns/113.0.203.in-addr.arpa.zone), whose A
#                is 203.0.113.30: forward-confirmed; the demo's Zendesk source
#   192.0.2.11   PTR a11-1.smtp-out.amazonses.com, whose A is 198.51.100.99: not confirmed
#   192.0.2.12   no PTR: NXDOMAIN
#   192.0.2.13   PTR through a CNAME (RFC 2317 style) to mx.cname.example.test, whose A is a
#                CNAME chain ending at 192.0.2.13: confirmed
#   192.0.2.14   PTR with control characters (ESC, BEL) in a label, confirmed by its A
#   192.0.2.15   PTR of 255 octets on the wire (the longest name there is)
#   192.0.2.16   PTR with non-LDH labels (underscore, space, a dot inside a label)
#   198.51.100.0/24  a zone NSD cannot load: SERVFAIL
#   2001:db8::25 PTR mail6.example.test, whose AAAA is 2001:db8::25: confirmed (ip6.arpa)
# A port that never answers is a socket the tests bind themselves.
#
# Besides these, every fixtures/dns/<zone>.zone is served as <zone> (the dns-check cases of
# check.test and the demo's example.com; each file says what it holds).
set -euo pipefail

STATE_DIR=${RUADB_TEST_DNS_DIR:-${TMPDIR:-/tmp}/ruadb-dns-test-$(id -u)}
PORT=${RUADB_TEST_DNS_PORT:-10053}
HOST=127.0.0.1
CONF=$STATE_DIR/nsd.conf
PID_FILE=$STATE_DIR/nsd.pid
FIXTURE_ZONES=$(cd "$(dirname "$0")/.." && pwd)/fixtures/dns
EXTRA_ZONES=${RUADB_TEST_DNS_EXTRA_ZONES:-}

die() {
    echo "dns-test-server: $*" >&2
    exit 1
}

install_packages() {
    local need=()
    [ -x /usr/sbin/nsd ] || need+=(nsd)
    command -v dig >/dev/null 2>&1 || need+=(bind9-dnsutils)
    [ ${#need[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        die "missing ${need[*]}; as root run: apt-get install ${need[*]}"
    fi
    echo "dns-test-server: installing ${need[*]}" >&2
    apt-get update -qq
    # The package's own service is not wanted: this server runs from its own config.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    [ -x /usr/sbin/nsd ] || die "apt-get finished but /usr/sbin/nsd is missing"
}

# A DKIM record with a 2048-bit RSA key (fixtures/dns/example.com.zone's mail2026, as its TXT
# strings), for amazonses.com.
DEMO_SES_KEY=$(sed -n 's/^mail2026._domainkey TXT //p' "$FIXTURE_ZONES/example.com.zone")

write_zones() {
    local zones=$STATE_DIR/zones
    mkdir -p "$zones"
    local soa='@ 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
@ 3600 IN NS ns.example.test.'
    # 63 + 63 + 63 + 61 octets of labels, their 4 length octets and the root: 255 on the wire.
    local long
    long="$(printf 'a%.0s' {1..63}).$(printf 'b%.0s' {1..63}).$(printf 'c%.0s' {1..63}).$(printf 'd%.0s' {1..61})."
    cat >"$zones/2.0.192.in-addr.arpa.zone" <<EOF
\$ORIGIN 2.0.192.in-addr.arpa.
$soa
10 PTR mail.example.com.
11 PTR a11-1.smtp-out.amazonses.com.
13 CNAME 13.0-25.2.0.192.in-addr.arpa.
13.0-25 PTR mx.cname.example.test.
14 PTR evil\\027[2J\\007.example.test.
15 PTR $long
16 PTR under_score.sp\\032ace.do\\.t.example.test.
17 PTR a17-1.smtp-out.amazonses.com.
EOF
    cat >"$zones/amazonses.com.zone" <<EOF
\$ORIGIN amazonses.com.
$soa
a17-1.smtp-out A 192.0.2.17
a11-1.smtp-out A 198.51.100.99
eu-west-1 TXT "v=spf1 ip4:192.0.2.0/24 -all"
ug7nbtf4gccmlpwj322ax3p6ow6yfsug._domainkey TXT $DEMO_SES_KEY
EOF
    cat >"$zones/zendesk.com.zone" <<EOF
\$ORIGIN zendesk.com.
$soa
mail30 A 203.0.113.30
EOF
    cat >"$zones/example.test.zone" <<EOF
\$ORIGIN example.test.
$soa
ns A 127.0.0.1
mx.cname CNAME hop1.cname
hop1.cname CNAME hop2.cname
hop2.cname A 192.0.2.13
evil\\027[2J\\007 A 192.0.2.14
mail6 AAAA 2001:db8::25
EOF
    cat >"$zones/8.b.d.0.1.0.0.2.ip6.arpa.zone" <<EOF
\$ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.
$soa
5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 PTR mail6.example.test.
EOF
    local fixture
    for fixture in "$FIXTURE_ZONES"/*.zone $(extra_zone_files); do
        [ -e "$fixture" ] && cp "$fixture" "$zones/"
    done
    # Not a zone file: NSD refuses to load it and answers SERVFAIL for the zone.
    echo 'this is not a zone' >"$zones/100.51.198.in-addr.arpa.zone"
}

extra_zone_files() { # the RUADB_TEST_DNS_EXTRA_ZONES files, one per line (none when unset)
    [ -n "$EXTRA_ZONES" ] || return 0
    [ -d "$EXTRA_ZONES" ] || die "RUADB_TEST_DNS_EXTRA_ZONES: $EXTRA_ZONES is not a directory"
    find "$EXTRA_ZONES" -maxdepth 1 -name '*.zone' | sort
}

# What the running server was started with: this script (its built-in zones), the fixture and
# extra zone files with their contents' digests, so that a start with other or edited zones (a
# new fixture, another checkout) restarts it instead of serving the old ones.
zones_stamp() {
    local file
    for file in "${BASH_SOURCE[0]}" "$FIXTURE_ZONES"/*.zone $(extra_zone_files); do
        [ -e "$file" ] && echo "$file $(sha256sum <"$file" | cut -c1-64)"
    done
    return 0
}

write_config() {
    local zone_list="" fixture_zones=()
    local fixture
    for fixture in "$FIXTURE_ZONES"/*.zone $(extra_zone_files); do
        [ -e "$fixture" ] && fixture_zones+=("$(basename "$fixture" .zone)")
    done
    for zone in 2.0.192.in-addr.arpa amazonses.com zendesk.com example.test 8.b.d.0.1.0.0.2.ip6.arpa 100.51.198.in-addr.arpa "${fixture_zones[@]}"; do
        zone_list+="zone:
    name: \"$zone\"
    zonefile: \"$STATE_DIR/zones/$zone.zone\"
"
    done
    cat >"$CONF" <<EOF
server:
    ip-address: $HOST@$PORT
    do-ip6: no
    username: ""
    chroot: ""
    database: ""
    zonelistfile: "$STATE_DIR/zone.list"
    xfrdfile: "$STATE_DIR/xfrd.state"
    xfrdir: "$STATE_DIR"
    pidfile: "$PID_FILE"
    logfile: "$STATE_DIR/nsd.log"
    server-count: 1
    verbosity: 1
    hide-version: yes
remote-control:
    control-enable: no
$zone_list
EOF
}

server_pid() {
    local pid
    pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    [ "$(awk '{print $3}' "/proc/$pid/stat")" != Z ] || return 1
    echo "$pid"
}

# A real answer: the confirmed PTR over UDP and its A over TCP.
answers() {
    dig +short +time=1 +tries=1 -p "$PORT" @"$HOST" -x 192.0.2.17 2>/dev/null |
        grep -q '^a17-1\.smtp-out\.amazonses\.com\.$' || return 1
    dig +short +tcp +time=1 +tries=1 -p "$PORT" @"$HOST" a17-1.smtp-out.amazonses.com A 2>/dev/null |
        grep -q '^192\.0\.2\.17$'
}

start() {
    install_packages
    mkdir -p "$STATE_DIR"
    if server_pid >/dev/null && answers &&
        [ "$(zones_stamp)" = "$(cat "$STATE_DIR/zones-stamp" 2>/dev/null)" ]; then
        echo "dns-test-server: already running on $HOST:$PORT"
        return 0
    fi
    server_pid >/dev/null && stop
    write_zones
    write_config
    zones_stamp >"$STATE_DIR/zones-stamp"
    /usr/sbin/nsd-checkconf "$CONF" || die "nsd-checkconf refused $CONF"
    : >"$STATE_DIR/nsd.log"
    /usr/sbin/nsd -c "$CONF" || die "nsd did not start; see $STATE_DIR/nsd.log"
    for _ in $(seq 50); do
        answers && {
            echo "dns-test-server: running on $HOST:$PORT"
            return 0
        }
        sleep 0.1
    done
    tail -5 "$STATE_DIR/nsd.log" >&2 || true
    die "nsd started but does not answer on $HOST:$PORT (port taken? set RUADB_TEST_DNS_PORT)"
}

stop() {
    local pid
    if pid=$(server_pid); then
        kill "$pid"
        for _ in $(seq 50); do
            server_pid >/dev/null || break
            sleep 0.1
        done
    fi
    echo "dns-test-server: stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) echo "export RUADB_TEST_DNS=$HOST:$PORT" ;;
status)
    if server_pid >/dev/null && answers; then
        echo "dns-test-server: running on $HOST:$PORT"
    else
        echo "dns-test-server: not running" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
