#!/usr/bin/env bash
# Rebuilds the published reports from their committed records and the first screen of each as a
# reader at 1280×800 sees it (reports/NAME/first-screen.png, headless Chromium), so that a report
# and its screenshot are always regenerated together:
#
#   cargo build --release && scripts/publish-reports.sh [NAME...]    # default: every published report
#
# NAME is a published report (accuracy, quickstart, families, engines, deploy): its records are results/NAME, and
# for accuracy also results/power (suites/power.yaml, the accuracy study's power run).
set -euo pipefail
cd "$(dirname "$0")/.."
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(accuracy quickstart families engines deploy)
bin=target/release/ftbench
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
browser=""
for b in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$b" >/dev/null; then browser=$(command -v "$b"); break; fi
done
[ -n "$browser" ] || { echo "no Chromium on PATH: apt-get install chromium" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
for n in "${names[@]}"; do
    [ -d "results/$n" ] || { echo "results/$n: no such folder of records" >&2; exit 1; }
    sources=("results/$n")
    if [ "$n" = accuracy ] && [ -d results/power ]; then sources+=(results/power); fi
    "$bin" report "${sources[@]}" --out "reports/$n"
    "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
        --window-size=1280,800 --screenshot="reports/$n/first-screen.png" \
        "file://$PWD/reports/$n/index.html" 2>/dev/null
    [ -s "reports/$n/first-screen.png" ] || { echo "reports/$n/first-screen.png: Chromium wrote nothing" >&2; exit 1; }
    echo "reports/$n/index.html + first-screen.png"
done
