#!/usr/bin/env bash
# Crash and fault tests with more kills than the default test run: `kill -9` during
# `ruadb ingest` at random moments (default 300 kills), then the read-only, locked and
# full-database cases. Each kill run resumes the previous one; at the end the database must
# equal one clean run exactly and pass `PRAGMA integrity_check`.
#
#   scripts/crash-test.sh [KILLS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export RUADB_CRASH_KILLS=${1:-300}
export RUADB_CRASH_SEED=${2:-$(date +%s)}
echo "crash-test: $RUADB_CRASH_KILLS kills, seed $RUADB_CRASH_SEED (rerun with: $0 $RUADB_CRASH_KILLS $RUADB_CRASH_SEED)"
cargo test -p ruadb --test crash -- --nocapture --test-threads 1
