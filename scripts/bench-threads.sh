#!/usr/bin/env bash
# Which libtorch (OpenMP) / OpenBLAS thread counts train fastest here: `rho bench` CLM steps for
# each combination, rounds alternating the combinations so drift hits them alike.
# Usage: scripts/bench-threads.sh [PRESET] [ROUNDS] [STEPS]   (default demo-s 3 4)
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${1:-demo-s} ROUNDS=${2:-3} STEPS=${3:-4}
RHO=${RHO:-build/rho}
cores=$(nproc)
combos=("1 $cores" "1 1" "$cores 1" "$cores $cores")
echo "# $(date -u +%F) $cores cores; preset $PRESET; rows: torch threads, OpenBLAS threads, tokens/s per round"
declare -A seen
for r in $(seq "$ROUNDS"); do
  for c in "${combos[@]}"; do
    set -- $c
    tps=$("$RHO" bench --preset "$PRESET" --steps "$STEPS" --warmup 1 --threads "$1" --blas-threads "$2" |
          awk '/^tokens\/s/ {print $2}')
    seen[$c]="${seen[$c]:-} $tps"
  done
done
for c in "${combos[@]}"; do
  set -- $c
  med=$(printf '%s\n' ${seen[$c]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "torch $1 OpenBLAS $2: ${seen[$c]}   median $med tok/s"
done
