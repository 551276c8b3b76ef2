#!/usr/bin/env bash
# A throwaway Dovecot on 127.0.0.1 for the IMAP tests: its own config, CA, server certificate,
# users and Maildir storage under one state directory. Nothing under /etc, /var or /run is used.
#
#   scripts/imap-test-server.sh start    install Dovecot if missing (root), start, wait for a real login
#   scripts/imap-test-server.sh env      print `export RUADB_TEST_IMAP_...=...` lines for the tests
#   scripts/imap-test-server.sh status   exit 0 when a real login works
#   scripts/imap-test-server.sh stop     stop the server (and the sessions it still serves)
#   scripts/imap-test-server.sh seed USER FILE...   store mail files in USER's INBOX (doveadm save)
#   scripts/imap-test-server.sh token USER [TTL_SECS] [SCOPE]   print an OAuth 2.0 access token
#
# OAuth mode: besides passwords (PLAIN, LOGIN) the server takes XOAUTH2 and OAUTHBEARER
# (RFC 7628) through Dovecot's oauth2 passdb, which validates bearer tokens locally: a JWT
# signed with HS256 under the key in $STATE_DIR/oauth/key, with `sub` as the user name, an
# `exp` in the future and the scope `https://imap.example.test/` among its `scope`. `token`
# mints one (default TTL 600 s); the tests' authorisation server signs with the same key
# (RUADB_TEST_IMAP_OAUTH_KEY in `env`). RUADB_TEST_IMAP_AUTH=xoauth2|oauthbearer in the
# environment of the tests makes the whole IMAP suite log in with tokens instead of passwords.
#
# Settings (environment): RUADB_TEST_IMAP_DIR (state dir, default ${TMPDIR:-/tmp}/ruadb-imap-test-$UID),
# RUADB_TEST_IMAP_PORT_TLS (default 10993), RUADB_TEST_IMAP_PORT_STARTTLS (default 10143).
#
# Users: `dmarc@example.test` is in the passwd file; any other user name also logs in with the
# same password and gets its own empty mailbox, so tests running in parallel do not share state.
# A wrong password still fails.
set -euo pipefail

STATE_DIR=${RUADB_TEST_IMAP_DIR:-${TMPDIR:-/tmp}/ruadb-imap-test-$(id -u)}
PORT_TLS=${RUADB_TEST_IMAP_PORT_TLS:-10993}
PORT_STARTTLS=${RUADB_TEST_IMAP_PORT_STARTTLS:-10143}
HOST=127.0.0.1
USER_NAME=dmarc@example.test
CONF=$STATE_DIR/dovecot.conf
LOG=$STATE_DIR/dovecot.log
PID_FILE=$STATE_DIR/run/master.pid
# Dovecot titles every process of this server "dovecot-$INSTANCE/<service>".
INSTANCE=ruadb-imap-test-$PORT_STARTTLS
CA=$STATE_DIR/tls/ca.pem
OAUTH_KEY=$STATE_DIR/oauth/key
OAUTH_SCOPE=https://imap.example.test/

die() {
    echo "imap-test-server: $*" >&2
    exit 1
}

dovecot_bin() {
    if command -v dovecot >/dev/null 2>&1; then
        command -v dovecot
    elif [ -x /usr/sbin/dovecot ]; then
        echo /usr/sbin/dovecot
    fi
}

install_dovecot() {
    [ -n "$(dovecot_bin)" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        die "Dovecot is not installed; as root run: apt-get install dovecot-imapd dovecot-core"
    fi
    echo "imap-test-server: installing dovecot-imapd dovecot-core" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        dovecot-imapd dovecot-core >/dev/null
    [ -n "$(dovecot_bin)" ] || die "apt-get finished but no dovecot binary was found"
}

password() {
    cat "$STATE_DIR/password"
}

base64url() {
    base64 -w0 | tr '+/' '-_' | tr -d '='
}

# An HS256 JWT for USER, valid for TTL seconds (negative: already expired), with SCOPE.
mint_token() {
    local user=$1 ttl=${2:-600} scope=${3:-$OAUTH_SCOPE}
    [ -s "$OAUTH_KEY" ] || die "not set up yet; run: $0 start"
    local now header payload signature
    now=$(date +%s)
    header=$(printf '{"alg":"HS256","typ":"JWT"}' | base64url)
    payload=$(printf '{"sub":"%s","iat":%d,"nbf":%d,"exp":%d,"scope":"%s"}' \
        "$user" "$((now - 60))" "$((now - 60))" "$((now + ttl))" "$scope" | base64url)
    signature=$(printf '%s.%s' "$header" "$payload" |
        openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(cat "$OAUTH_KEY")" -binary | base64url)
    printf '%s.%s.%s\n' "$header" "$payload" "$signature"
}

# The HS256 key as Dovecot's local validation looks it up: `<azp>/<alg>/<kid>` in a dict, here
# files under oauth/keys/, the key itself base64-encoded.
write_oauth_key() {
    mkdir -p "$STATE_DIR/oauth/keys/default/HS256"
    if [ ! -s "$OAUTH_KEY" ] || [ ! -s "$OAUTH_KEY.bin" ]; then
        openssl rand 32 >"$OAUTH_KEY.bin"
        od -An -tx1 -v "$OAUTH_KEY.bin" | tr -d ' \n' >"$OAUTH_KEY"
        chmod 600 "$OAUTH_KEY" "$OAUTH_KEY.bin"
    fi
    base64 -w0 "$OAUTH_KEY.bin" >"$STATE_DIR/oauth/keys/default/HS256/default"
    chmod -R a+rX "$STATE_DIR/oauth/keys"
    cat >"$STATE_DIR/oauth/dovecot-oauth2.conf.ext" <<EOF
introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$STATE_DIR/oauth/keys/
username_attribute = sub
scope = $OAUTH_SCOPE
EOF
    chmod 644 "$STATE_DIR/oauth/dovecot-oauth2.conf.ext"
}

# Dovecot's login and mail processes run as unprivileged users; every directory above the state
# dir must let them through, or LOGIN succeeds and mailbox access fails later.
check_traversable() {
    [ "$(id -u)" -eq 0 ] || return 0
    local dir=$STATE_DIR
    while [ "$dir" != "/" ]; do
        dir=$(dirname "$dir")
        local mode
        mode=$(stat -c %A "$dir")
        [ "${mode:9:1}" = x ] || [ "${mode:9:1}" = t ] ||
            die "$dir is not traversable by other users ($mode); set RUADB_TEST_IMAP_DIR elsewhere, e.g. under /tmp"
    done
}

make_certificates() {
    local tls=$STATE_DIR/tls
    [ -s "$tls/server.pem" ] && [ -s "$CA" ] && return 0
    mkdir -p "$tls"
    # A CA plus a separate leaf (CA:FALSE): strict verifiers reject a CA certificate used as
    # the server certificate.
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 3650 \
        -subj "/CN=ruadb test CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        2>/dev/null
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 3650 -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
    chmod 600 "$tls/ca.key" "$tls/server.key"
}

write_config() {
    if [ ! -s "$STATE_DIR/password" ]; then
        # Alphanumeric only: it goes into the config file and into quoted IMAP LOGIN commands.
        openssl rand -hex 12 >"$STATE_DIR/password"
        chmod 600 "$STATE_DIR/password"
    fi
    local pass
    pass=$(password)
    write_oauth_key
    printf '%s:{PLAIN}%s::::::\n' "$USER_NAME" "$pass" >"$STATE_DIR/passwd"
    chmod 644 "$STATE_DIR/passwd"

    local internal_user login_user mail_uid mail_gid chroot_line
    if [ "$(id -u)" -eq 0 ]; then
        # Dovecot refuses to run imap-login as root and to store mail as uid 0.
        internal_user=dovecot login_user=dovenull mail_uid=65534 mail_gid=65534 chroot_line=""
    else
        internal_user=$(id -un) login_user=$(id -un) mail_uid=$(id -u) mail_gid=$(id -g)
        chroot_line="  chroot ="
    fi
    mkdir -p "$STATE_DIR/run" "$STATE_DIR/state" "$STATE_DIR/mail"
    [ "$(id -u)" -eq 0 ] && chown "$mail_uid:$mail_gid" "$STATE_DIR/mail"

    # Dovecot's parser needs a newline after every `{`.
    cat >"$CONF" <<EOF
protocols = imap
listen = $HOST
base_dir = $STATE_DIR/run
state_dir = $STATE_DIR/state
instance_name = $INSTANCE
log_path = $LOG
info_log_path = $LOG
default_internal_user = $internal_user
default_internal_group = $internal_user
default_login_user = $login_user
service anvil {
$chroot_line
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
$chroot_line
  inet_listener imap {
    address = $HOST
    port = $PORT_STARTTLS
  }
  inet_listener imaps {
    address = $HOST
    port = $PORT_TLS
    ssl = yes
  }
}
ssl = yes
ssl_cert = <$STATE_DIR/tls/server.pem
ssl_key = <$STATE_DIR/tls/server.key
ssl_dh = </usr/share/dovecot/dh.pem
auth_mechanisms = plain login xoauth2 oauthbearer
auth_verbose = yes
auth_failure_delay = 0
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $STATE_DIR/oauth/dovecot-oauth2.conf.ext
}
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u $STATE_DIR/passwd
}
passdb {
  driver = static
  mechanisms = plain login
  args = password=$pass
}
userdb {
  driver = static
  args = uid=$mail_uid gid=$mail_gid home=$STATE_DIR/mail/%u allow_all_users=yes
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = .
}
first_valid_uid = 1
mail_max_userip_connections = 200
mail_fsync = never
EOF
}

master_pid() {
    local pid
    # Dovecot removes the file as it exits, possibly between a test and a read.
    pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    # A stopped master stays a zombie until its parent reaps it.
    [ "$(awk '{print $3}' "/proc/$pid/stat")" != Z ] || return 1
    echo "$pid"
}

port_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# A real IMAP conversation over verified TLS: greeting, LOGIN, SELECT INBOX, LOGOUT. A TCP
# connect alone proves nothing: the master accepts connections even when every login process dies.
login_works() {
    local reply
    reply=$(printf 'a1 LOGIN "%s" "%s"\r\na2 SELECT INBOX\r\na3 LOGOUT\r\n' "$USER_NAME" "$(password)" |
        timeout 5 openssl s_client -connect "$HOST:$PORT_TLS" -CAfile "$CA" -verify_return_error \
            -verify_hostname localhost -quiet -ign_eof 2>/dev/null) || return 1
    grep -q '^a2 OK' <<<"$reply" || return 1
    reply=$(printf 'a1 LOGIN "%s" "%s"\r\na2 LOGOUT\r\n' "$USER_NAME" "$(password)" |
        timeout 5 openssl s_client -connect "$HOST:$PORT_STARTTLS" -starttls imap -CAfile "$CA" \
            -verify_return_error -verify_ip 127.0.0.1 -quiet -ign_eof 2>/dev/null) || return 1
    grep -q '^a1 OK' <<<"$reply" || return 1
    # OAuth mode: XOAUTH2 with a fresh token (SASL-IR, RFC 4959).
    local sasl
    sasl=$(printf 'user=%s\001auth=Bearer %s\001\001' "$USER_NAME" "$(mint_token "$USER_NAME")" | base64 -w0)
    reply=$(printf 'a1 AUTHENTICATE XOAUTH2 %s\r\na2 LOGOUT\r\n' "$sasl" |
        timeout 5 openssl s_client -connect "$HOST:$PORT_TLS" -CAfile "$CA" -verify_return_error \
            -verify_hostname localhost -quiet -ign_eof 2>/dev/null) || return 1
    grep -q '^a1 OK' <<<"$reply"
}

start() {
    install_dovecot
    mkdir -p "$STATE_DIR"
    chmod 755 "$STATE_DIR"
    check_traversable
    if master_pid >/dev/null && [ -s "$STATE_DIR/password" ] && login_works; then
        echo "imap-test-server: already running on $HOST:$PORT_TLS (TLS) and $HOST:$PORT_STARTTLS (STARTTLS)"
        return 0
    fi
    master_pid >/dev/null && stop
    for port in "$PORT_TLS" "$PORT_STARTTLS"; do
        port_open "$port" && die "port $HOST:$port is taken by another process; set RUADB_TEST_IMAP_PORT_TLS / RUADB_TEST_IMAP_PORT_STARTTLS"
    done
    make_certificates
    write_config
    # No process of this server runs now, so a dotlock left in the mailboxes (by a session a
    # stop killed mid-command) is stale; Dovecot would wait up to two minutes before overriding
    # one whose process number has been reused, answering nothing meanwhile.
    find "$STATE_DIR/mail" -name '*.lock' -type f -delete 2>/dev/null || true
    : >"$LOG"
    # Its own stdio goes to the log: a daemon holding our stderr open would keep a pipe
    # reader (CI, `| tail`) waiting until the server stops.
    "$(dovecot_bin)" -c "$CONF" </dev/null >>"$LOG" 2>&1 || die "dovecot did not start: $(tail -5 "$LOG")"
    local i
    for i in $(seq 1 100); do
        if grep -qE '(Error|Fatal):' "$LOG"; then
            local log_tail
            log_tail=$(tail -5 "$LOG")
            stop
            die "dovecot reported an error: $log_tail"
        fi
        if login_works; then
            echo "imap-test-server: running on $HOST:$PORT_TLS (TLS) and $HOST:$PORT_STARTTLS (STARTTLS), state in $STATE_DIR"
            return 0
        fi
        sleep 0.1
    done
    local log_tail
    log_tail=$(tail -5 "$LOG")
    stop
    die "no successful login within 10 s; log: $log_tail"
}

stop() {
    local pid
    if ! pid=$(master_pid); then
        echo "imap-test-server: not running"
        return 0
    fi
    # Sessions outlive the master (imap-login proxies TLS), so its children are ended too, at
    # once: a stop is as abrupt for clients as a crash, which is what tests use it for.
    local children
    children=$(ps -o pid= --ppid "$pid" || true)
    kill -TERM "$pid" 2>/dev/null || true
    for child in $children; do
        kill -KILL "$child" 2>/dev/null || true
    done
    local i
    for i in $(seq 1 50); do
        master_pid >/dev/null || break
        sleep 0.1
    done
    master_pid >/dev/null && kill -KILL "$pid" 2>/dev/null
    # A process forked after the list above was taken, or one that outlived the master, would
    # keep a mailbox locked into the next start: every process titled as this server's goes.
    for i in $(seq 1 50); do
        pkill -KILL -f "^dovecot-$INSTANCE/" 2>/dev/null || break
        sleep 0.1
    done
    # The listening sockets go away with the last process; wait so a quick restart can bind.
    for i in $(seq 1 50); do
        port_open "$PORT_TLS" || port_open "$PORT_STARTTLS" || break
        sleep 0.1
    done
    echo "imap-test-server: stopped"
}

print_env() {
    [ -s "$STATE_DIR/password" ] || die "not set up yet; run: $0 start"
    cat <<EOF
export RUADB_TEST_IMAP_HOST=$HOST
export RUADB_TEST_IMAP_PORT_TLS=$PORT_TLS
export RUADB_TEST_IMAP_PORT_STARTTLS=$PORT_STARTTLS
export RUADB_TEST_IMAP_USER=$USER_NAME
export RUADB_TEST_IMAP_PASSWORD=$(password)
export RUADB_TEST_IMAP_CA_FILE=$CA
export RUADB_TEST_IMAP_DIR=$STATE_DIR
export RUADB_TEST_IMAP_OAUTH_KEY=$(cat "$OAUTH_KEY")
EOF
}

seed() {
    local user=${1:-}
    [ -n "$user" ] && [ $# -ge 2 ] || die "usage: $0 seed USER FILE..."
    shift
    master_pid >/dev/null || die "not running; run: $0 start"
    local file
    for file in "$@"; do
        doveadm -c "$CONF" save -u "$user" -m INBOX <"$file" || die "cannot store $file for $user"
    done
    echo "imap-test-server: stored $# messages in INBOX of $user"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) print_env ;;
seed)
    shift
    seed "$@"
    ;;
token)
    shift
    [ $# -ge 1 ] || die "usage: $0 token USER [TTL_SECS] [SCOPE]"
    mint_token "$@"
    ;;
status)
    if master_pid >/dev/null && [ -s "$STATE_DIR/password" ] && login_works; then
        echo "imap-test-server: running on $HOST:$PORT_TLS (TLS) and $HOST:$PORT_STARTTLS (STARTTLS)"
    else
        echo "imap-test-server: not running" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: $0 start|stop|env|status|seed USER FILE...|token USER [TTL_SECS] [SCOPE]" >&2
    exit 2
    ;;
esac
