#!/usr/bin/env bash
# The one test command: what CI runs (.ci/run) and what a developer runs before pushing.
# Installs what the tests need (idempotent), then: fmt check, clippy -D warnings,
# docs with -D warnings, every test, and the HTML summary rendered in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Broken intra-doc links and malformed doc comments fail the run like any other warning.
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --workspace --locked
# The fuzz targets live in their own workspace (libFuzzer needs nightly to run, not to build).
cargo check --manifest-path fuzz/Cargo.toml --locked --bins
# The IMAP tests talk to a real Dovecot on 127.0.0.1, the reverse DNS tests to a real NSD.
# Servers this run starts are stopped at the end; ones already running are left alone.
stop_at_exit=()
trap 'for server in "${stop_at_exit[@]}"; do bash "scripts/$server-test-server.sh" stop >/dev/null; done' EXIT
# start_server NAME LABEL: starts scripts/NAME-test-server.sh and exports its settings; if it
# cannot start, the LABEL tests skip (a failure under CI).
start_server() {
    local name=$1 label=$2
    if ! bash "scripts/$name-test-server.sh" status >/dev/null 2>&1; then
        stop_at_exit+=("$name")
    fi
    if bash "scripts/$name-test-server.sh" start >/dev/null; then
        eval "$(bash "scripts/$name-test-server.sh" env)"
    elif [ "${CI:-}" = true ]; then
        echo "check: the $label test server did not start (reason above)" >&2
        exit 1
    else
        echo "check: the $label test server did not start (reason above); the $label tests will skip" >&2
    fi
}
start_server imap IMAP
start_server dns DNS
INSTA_UPDATE=no cargo test --workspace --locked
# The IMAP suites once more with OAuth 2.0 logins (XOAUTH2, OAUTHBEARER) instead of passwords.
if [ -n "${RUADB_TEST_IMAP_HOST:-}" ]; then
    for mode in xoauth2 oauthbearer; do
        RUADB_TEST_IMAP_AUTH=$mode cargo test --locked -p ruadb-fetch --test imap --test oauth
        RUADB_TEST_IMAP_AUTH=$mode cargo test --locked -p ruadb --test fetch
    done
fi
# The demo's HTML summary in a real browser at 640 and 1280 px: fails on a blank page or
# missing charts; the screenshots stay in target/html-check/.
bash scripts/html-check.sh
