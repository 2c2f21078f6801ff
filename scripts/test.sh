#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test (ctest), then the same
# tests under ASan + UBSan and each libFuzzer target for 25 s (scripts/sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
(cd build && ctest --output-on-failure -j"$(nproc)" --timeout 1200)
bash scripts/sanitize.sh 25
