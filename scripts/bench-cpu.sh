#!/usr/bin/env bash
# The README's CPU figures: rho bench on the debug, demo-s and demo presets with SLM timing.
# Run on a quiet machine: OpenBLAS threads slow down sharply when another process shares the cores.
# Usage: scripts/bench-cpu.sh [OUT_FILE]   (default docs/bench/cpu.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/bench/cpu.txt}
{
  echo "# $(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  for p in debug demo-s demo; do
    steps=10; [ "$p" = debug ] && steps=20
    echo "\$ rho bench --preset $p --objective slm --steps $steps"
    build/rho bench --preset "$p" --objective slm --steps "$steps"
    echo
  done
} 2>&1 | tee "$OUT"
