#!/usr/bin/env bash
# Renders the demo's HTML summary in a real headless Chromium (Debian package `chromium`,
# installed by scripts/setup.sh) at 640 and 1280 px and fails on a blank page or missing
# charts. The document, the DOM Chromium built from it and the screenshots are left in
# target/html-check/ for a person to look at.
#
#   bash scripts/html-check.sh            # uses target/debug/ruadb, building it if needed
#   RUADB=path/to/ruadb bash scripts/html-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "html-check: $*" >&2
    exit 1
}

command -v chromium >/dev/null 2>&1 || fail "chromium is not installed (run scripts/setup.sh as root)"
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed (run scripts/setup.sh as root)"
# The checks of the DOM and of the screenshots: scripts/html-check.py (standard library only).

ruadb="${RUADB:-}"
if [ -z "$ruadb" ]; then
    cargo build --locked -q -p ruadb
    ruadb="${CARGO_TARGET_DIR:-target}/debug/ruadb"
fi

out="${CARGO_TARGET_DIR:-target}/html-check"
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The demo's data and week, with the alerts listed at the top (exit 0, 1 or 2 all render).
printf 'domains = ["example.com"]\n' >"$work/config.toml"
export RUADB_CONFIG="$work/config.toml" RUADB_DB="$work/demo.sqlite"
"$ruadb" ingest fixtures/demo >/dev/null
status=0
"$ruadb" summary --week 2026-W47 --alerts --format html >"$out/summary.html" || status=$?
[ "$status" -le 2 ] || fail "ruadb summary --format html failed with status $status"
html="$(cd "$out" && pwd)/summary.html"

# Chromium refuses to run as root with its sandbox; CI runs as root. Its own profile in a
# temporary directory; no network is needed (the document loads nothing) and none is used.
flags=(--headless --disable-gpu --hide-scrollbars --no-first-run --mute-audio
    --user-data-dir="$work/profile" --disable-extensions --disable-background-networking
    --disable-dev-shm-usage)
[ "$(id -u)" -ne 0 ] || flags+=(--no-sandbox)

chrome() {
    timeout 120 chromium "${flags[@]}" "$@" 2>>"$out/chromium.log" ||
        fail "chromium failed (exit $?); see $out/chromium.log"
}

# The DOM as Chromium parsed it: three charts for the one domain, each an image with a title.
chrome --dump-dom "file://$html" >"$out/dom.html"
python3 scripts/html-check.py dom "$out/dom.html" ||
    fail "the DOM Chromium built lacks the charts (see $out/dom.html)"

for width in 640 1280; do
    png="$out/summary-$width.png"
    chrome --window-size="$width,2400" --screenshot="$png" "file://$html" >/dev/null
    [ -s "$png" ] || fail "no screenshot at $width px"
    # Not blank: many colours, enough ink, and the class colours of the charts on screen.
    python3 scripts/html-check.py png "$png" ||
        fail "the screenshot $png looks blank or lacks the charts"
done
echo "html-check: the HTML summary renders in Chromium; screenshots in $out/"
