#!/usr/bin/env bash
# The one test command: what CI runs (.ci/run) and what a developer runs before pushing.
# Installs what the tests need (idempotent), then: fmt check, clippy -D warnings, every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
INSTA_UPDATE=no cargo test --workspace --locked
