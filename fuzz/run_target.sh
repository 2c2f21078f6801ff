#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time: the committed regressions first (each must pass),
# then fuzzing from the committed seed corpus. New inputs go to a scratch directory, crashes to
# ./fuzz-artifacts/<target>/ (copy them to fuzz/regressions/<target>/ once fixed).
# Usage: run_target.sh FUZZER_BINARY FUZZ_DIR TARGET SECONDS
set -euo pipefail
BIN=$1 DIR=$2 T=$3 SECS=$4
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ART=$PWD/fuzz-artifacts/$T
mkdir -p "$ART" "$WORK/new" "$WORK/tmp"
export TMPDIR=$WORK/tmp
# libtorch (uninstrumented, in the safetensors target) keeps allocations in globals: the
# suppressions are scoped to its libraries (fuzz/lsan.supp).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export LSAN_OPTIONS=suppressions=$DIR/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
shopt -s nullglob
regressions=("$DIR/regressions/$T"/*)
if ((${#regressions[@]})); then
  "$BIN" -runs=1 "${regressions[@]}" >"$WORK/replay.log" 2>&1 || { cat "$WORK/replay.log"; echo "FAIL: a regression input crashes $T"; exit 1; }
  echo "$T: ${#regressions[@]} regression inputs pass"
fi
rc=0
"$BIN" -dict="$DIR/json.dict" -max_total_time="$SECS" -max_len=8192 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
  -artifact_prefix="$ART/" "$WORK/new" "$DIR/corpus/$T" >"$WORK/fuzz.log" 2>&1 || rc=$?
tail -n 40 "$WORK/fuzz.log"
[ "$rc" -eq 0 ] || { echo "FAIL: $T crashed (exit $rc); input in $ART"; exit 1; }
echo "$T: no crash, leak or sanitizer report in ${SECS}s"
