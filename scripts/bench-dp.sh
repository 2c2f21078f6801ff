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
# Data: text the machine has (licences and docs), so the benchmark needs nothing downloaded.
if [ ! -d "$WORK/shards" ]; then
  { find /usr/share/common-licenses /usr/share/doc -name '*.txt' -o -name 'copyright' 2>/dev/null || true; } | head -400 |
    python3 -c 'import json,sys; [print(json.dumps({"text": open(p.strip(), errors="replace").read()[:20000]})) for p in sys.stdin]' >"$WORK/c.jsonl"
  "$RHO" tokenizer train --input "$WORK/c.jsonl" --out "$WORK/tok.model" --vocab-size 4096 >/dev/null 2>&1
  "$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$WORK/c.jsonl" --out-dir "$WORK/shards" >/dev/null 2>&1
  "$RHO" train --data "$WORK/shards" --out "$WORK/base" --preset "$PRESET" --steps 1 --seq-len "$SEQ" --batch 1 >/dev/null 2>&1
  "$RHO" score --model "$WORK/base/final" --data "$WORK/shards" --out "$WORK/scores" --seq-len "$SEQ" >/dev/null 2>&1
fi
ARGS=(--data "$WORK/shards" --init-from "$WORK/base/final" --seq-len "$SEQ" --batch "$BATCH" --steps "$STEPS"
      --val-every 0 --log-every 10)
[ "$OBJECTIVE" = slm ] && ARGS+=(--objective slm --ratio 0.6 --ref-scores "$WORK/scores")
rm -rf "$WORK/one" "$WORK/many"
"$RHO" train "${ARGS[@]}" --grad-accum "$N" --out "$WORK/one" 2>"$WORK/one.log"
"$RHO" launch -n "$N" -- train "${ARGS[@]}" --grad-accum 1 --out "$WORK/many" 2>"$WORK/many.log"
python3 - "$WORK" "$N" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
one = json.load(open(f"{work}/one/summary.json"))
many = json.load(open(f"{work}/many/summary.json"))
t1, tn = one["tokens_seen"] / one["seconds"], many["tokens_seen"] / many["seconds"]
print(f"| processes | tokens/s | speed-up | time in collectives |")
print(f"|---|---|---|---|")
print(f"| 1 | {t1:,.0f} | 1.00x | - |")
print(f"| {n} | {tn:,.0f} | {tn / t1:.2f}x | {100 * many['comm_seconds'] / many['seconds']:.1f}% of rank 0's run |")
PY
echo "(work folder: $WORK)"
