#!/usr/bin/env bash
# One gtest suite as one ctest test (tests/CMakeLists.txt): runs BINARY --gtest_filter=FILTER and
# exits with its status, or 77 (ctest's skip) when nothing in the suite ran because every test
# skipped itself (a CUDA suite on a CPU machine).
# Usage: run_suite.sh BINARY FILTER
set -u
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$1" --gtest_filter="$2" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ] && grep -q '^\[  PASSED  \] 0 tests' "$out" && grep -q '^\[  SKIPPED \]' "$out"; then
  exit 77
fi
exit "$rc"
