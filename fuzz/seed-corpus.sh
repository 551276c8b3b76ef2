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

seed whole fixtures/reports fixtures/archives fixtures/messages fuzz/regressions
seed container fixtures/reports fixtures/archives fixtures/messages fuzz/regressions
seed mime fixtures/messages fuzz/regressions
seed xml fixtures/reports fuzz/regressions
echo "seeded: $(for t in whole container mime xml; do printf '%s=%s ' "$t" "$(ls "fuzz/corpus/$t" | wc -l)"; done)"
