#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with the repository's own fixtures and kept regressions, so the
# fuzzers start from real structure. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

seed() {
    local target=$1
    shift
    mkdir -p "fuzz/corpus/$target"
    for dir in "$@"; do
        [ -d "$dir" ] || continue
        find "$dir" -maxdepth 1 -type f ! -name '.gitattributes' -exec cp {} "fuzz/corpus/$target/" \;
    done
}

seed whole fixtures/reports fixtures/archives fixtures/messages fixtures/tlsrpt fixtures/failure fuzz/regressions
seed container fixtures/reports fixtures/archives fixtures/messages fuzz/regressions
seed mime fixtures/messages fuzz/regressions
seed xml fixtures/reports fuzz/regressions
seed tlsrpt fixtures/tlsrpt fuzz/regressions
seed failure fixtures/failure fixtures/messages fuzz/regressions
# IMAP replies (the first byte picks the lexer's mode and chunk size).
mkdir -p fuzz/corpus/imap_reply
printf '\x03* OK ready\r\n* CAPABILITY IMAP4rev1 MOVE\r\na1 OK done\r\n' >fuzz/corpus/imap_reply/greeting
printf '\x01* 1 FETCH (UID 7 BODY[] {5}\r\nhello)\r\n* 2 FETCH (UID 8 BODY[] {40}\r\n0123456789012345678901234567890123456789)\r\na2 OK\r\n' >fuzz/corpus/imap_reply/fetch
printf '\x08* SEARCH 1 2 3\r\n* OK {12}x {}\r\n{{3}\r\nabc\r\n' >fuzz/corpus/imap_reply/odd-sizes
echo "seeded: $(for t in whole container mime xml tlsrpt failure imap_reply; do printf '%s=%s ' "$t" "$(ls "fuzz/corpus/$t" | wc -l)"; done)"
