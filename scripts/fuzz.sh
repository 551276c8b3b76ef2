#!/usr/bin/env bash
# Fuzzes the report parser for a while: SECONDS per target (default 60).
#
# With a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`): libFuzzer on
# each target in fuzz/ (whole, container, mime, xml, failure), seeded from fixtures/ and the kept
# regressions. Crashes land in fuzz/artifacts/<target>/; keep each in fuzz/regressions/ once
# fixed (the test suite replays that folder).
# Without them: the deterministic mutation runner on the stable toolchain, for SECONDS in total.
#
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}

if cargo +nightly --version >/dev/null 2>&1 && cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: libFuzzer via cargo-fuzz on $(cargo +nightly --version), ${seconds}s per target"
    bash fuzz/seed-corpus.sh
    for target in whole container mime xml failure; do
        echo "fuzz.sh: target $target"
        cargo +nightly fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
            -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=1048576 -print_final_stats=1
    done
    echo "fuzz.sh: done, no crash (libFuzzer, ${seconds}s per target)"
else
    echo "fuzz.sh: no nightly toolchain or cargo-fuzz; stable mutation runner for ${seconds}s"
    RUADB_MUTATE_SECS=$seconds cargo test --release -p ruadb-report --test containers \
        mutations::for_a_while -- --ignored --nocapture
fi
