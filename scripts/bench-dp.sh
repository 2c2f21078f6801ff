#!/usr/bin/env bash
# 1 process vs N processes (c10d Gloo over loopback) on this machine, the same global batch:
# tokens/s of each and the share of the N-process step spent in collectives (all-reduce of the
# gradients, the global top-k gather). Prints a table; raw logs stay in the work folder.
# Usage: scripts/bench-dp.sh [N=2]   (env: PRESET=demo-s SEQ=256 BATCH=8 STEPS=30 OBJECTIVE=slm)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2}
RHO=${RHO:-build/rho}
PRESET=${PRESET:-demo-s}; SEQ=${SEQ:-256}; BATCH=${BATCH:-8}; STEPS=${STEPS:-30}; OBJECTIVE=${OBJECTIVE:-slm}
WORK=${WORK:-$(mktemp -d /tmp/rho-bench-dp-XXXXXX)}
source scripts/lib/bench_shards.sh
if [ ! -d "$WORK/base" ]; then
  bench_shards "$WORK" "$RHO"
  "$RHO" train --data "$WORK/shards" --out "$WORK/base" --preset "$PRESET" --steps 1 --seq-len "$SEQ" --batch 1 >/dev/null 2>&1
  "$RHO" score --model "$WORK/base/final" --data "$WORK/shards" --out "$WORK/scores" --seq-len "$SEQ" >/dev/null 2>&1
fi
ARGS=(--data "$WORK/shards" --init-from "$WORK/base/final" --seq-len "$SEQ" --batch "$BATCH" --steps "$STEPS"
      --val-every 0 --log-every 10)
[ "$OBJECTIVE" = slm ] && ARGS+=(--objective slm --ratio 0.6 --ref-scores "$WORK/scores")
# Rounds alternate 1 and N processes, so a machine whose load drifts affects both alike; the
# table gives medians over the rounds.
ROUNDS=${ROUNDS:-3}
for r in $(seq 1 "$ROUNDS"); do
  rm -rf "$WORK/one-$r" "$WORK/many-$r"
  "$RHO" train "${ARGS[@]}" --grad-accum "$N" --out "$WORK/one-$r" 2>"$WORK/one-$r.log"
  "$RHO" launch -n "$N" -- train "${ARGS[@]}" --grad-accum 1 --out "$WORK/many-$r" 2>"$WORK/many-$r.log"
done
python3 - "$WORK" "$N" "$ROUNDS" <<'PY'
import json, statistics, sys
work, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
one = [json.load(open(f"{work}/one-{r}/summary.json")) for r in range(1, rounds + 1)]
many = [json.load(open(f"{work}/many-{r}/summary.json")) for r in range(1, rounds + 1)]
t1 = statistics.median(s["tokens_seen"] / s["seconds"] for s in one)
tn = statistics.median(s["tokens_seen"] / s["seconds"] for s in many)
comm = statistics.median(s["comm_seconds"] / s["seconds"] for s in many)
print(f"rounds: {rounds}; 1 process: " + ", ".join(f"{s['tokens_seen'] / s['seconds']:,.0f}" for s in one)
      + f" tok/s; {n} processes: " + ", ".join(f"{s['tokens_seen'] / s['seconds']:,.0f}" for s in many) + " tok/s")
print("| processes | tokens/s (median) | speed-up | time in collectives (median) |")
print("|---|---|---|---|")
print(f"| 1 | {t1:,.0f} | 1.00x | - |")
print(f"| {n} | {tn:,.0f} | {tn / t1:.2f}x | {100 * comm:.1f}% of rank 0's run |")
PY
echo "(work folder: $WORK)"
