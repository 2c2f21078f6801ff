#!/usr/bin/env bash
# How fast each fuzz target's coverage flattens: runs every target of build-fuzz for SECONDS from
# the committed seed corpus (as CI does) and prints its coverage (libFuzzer's cov = edges, ft =
# features) when each mark passes. Decides how many seconds CI gives each fuzzer.
# Usage: scripts/fuzz-coverage.sh [SECONDS, default 25] [MARKS, default "5 10 15 20"]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-25}
MARKS=(${2:-5 10 15 20})
[ -d build-fuzz ] || { echo "build-fuzz: missing; run scripts/sanitize.sh first" >&2; exit 1; }
export ASAN_OPTIONS=detect_leaks=0 LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp
printf '%-12s' target; for m in "${MARKS[@]}" "$SECS"; do printf '%14s' "cov/ft@${m}s"; done; echo
for bin in build-fuzz/fuzz/fuzz_*; do
  t=${bin##*/fuzz_}
  work=$(mktemp -d)
  t0=$(date +%s%N)
  # Each line of libFuzzer's log gets the milliseconds since the start.
  build-fuzz/fuzz/fuzz_"$t" -dict=fuzz/json.dict -max_total_time="$SECS" -max_len=8192 -timeout=10 -rss_limit_mb=4096 \
    "$work" "fuzz/corpus/$t" 2>&1 | while IFS= read -r line; do echo "$(( ($(date +%s%N) - t0) / 1000000 )) $line"; done >"$work.log" || true
  printf '%-12s' "$t"
  for m in "${MARKS[@]}" "$SECS"; do
    awk -v ms=$((m * 1000)) '$1 <= ms && match($0, /cov: [0-9]+ ft: [0-9]+/) { c = substr($0, RSTART + 5, RLENGTH - 5) }
                             END { gsub(/ ft: /, "/", c); printf "%14s", c }' "$work.log"
  done
  echo
  rm -rf "$work" "$work.log"
done
