#!/usr/bin/env bash
# ZeRO sharding on this machine (c10d Gloo over loopback): per-rank bytes of weights, gradients
# (at their peak) and AdamW state, and step time, for 1, 2 and 4 processes under each --shard,
# the same global batch throughout (4 micro-batches: 1 x 4, 2 x 2, 4 x 1); beside each figure
# `rho plan --device cpu`'s prediction. Rounds alternate the configurations; step times are
# medians over rounds of each run's median step (steps after the first two).
# Usage: scripts/bench-shard.sh   (env: PRESET=demo SEQ=128 BATCH=2 STEPS=12 BUCKET_MB=1 ROUNDS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
RHO=${RHO:-build/rho}
PRESET=${PRESET:-demo}; SEQ=${SEQ:-128}; BATCH=${BATCH:-2}; STEPS=${STEPS:-12}; BUCKET_MB=${BUCKET_MB:-1}
ROUNDS=${ROUNDS:-2}
WORK=${WORK:-$(mktemp -d /tmp/rho-bench-shard-XXXXXX)}
source scripts/lib/bench_shards.sh
bench_shards "$WORK" "$RHO"
ARGS=(--data "$WORK/shards" --preset "$PRESET" --seq-len "$SEQ" --batch "$BATCH" --steps "$STEPS" --val-every 0
      --log-every 1 --bucket-mb "$BUCKET_MB")
CONFIGS="1:none 2:none 2:optimizer 2:gradients 4:none 4:optimizer 4:gradients"
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONFIGS; do
    n=${c%%:*}; shard=${c#*:}; out="$WORK/run-$n-$shard-$r"; rm -rf "$out"
    if [ "$n" = 1 ]; then
      "$RHO" train "${ARGS[@]}" --grad-accum 4 --out "$out" 2>"$out.log"
    else
      extra=(); [ "$shard" != none ] && extra=(--shard "$shard")
      "$RHO" launch -n "$n" -- train "${ARGS[@]}" --grad-accum $((4 / n)) "${extra[@]}" --out "$out" 2>"$out.log"
    fi
  done
done
for n in 1 2 4; do
  "$RHO" plan --preset "$PRESET" --vocab 4096 --gpus "$n" --seq-len "$SEQ" --batch "$BATCH" --grad-accum $((4 / n)) --device cpu \
    --bucket-mb "$BUCKET_MB" --json >"$WORK/plan-$n.json"
done
python3 - "$WORK" "$ROUNDS" "$CONFIGS" <<'PY'
import json, statistics, sys
work, rounds, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
mib = lambda b: b / 2**20
print("| processes | --shard | weights MiB (plan) | gradients peak MiB (plan) | AdamW MiB (plan) | step ms (median) | vs none |")
print("|---|---|---|---|---|---|---|")
base = {}
for c in configs:
    n, shard = c.split(":")
    runs = [f"{work}/run-{n}-{shard}-{r}" for r in range(1, rounds + 1)]
    mem = json.load(open(runs[0] + "/summary.json"))["memory_per_rank"]
    plan = {p["shard"]: p for p in json.load(open(f"{work}/plan-{n}.json"))}[shard]
    steps = []
    for run in runs:
        m = [json.loads(l) for l in open(run + "/metrics.jsonl")]
        tps = [x["tokens_per_s"] for x in m if x["step"] > 2 and "tokens_per_s" in x]
        tokens = m[-1]["tokens_seen"] / m[-1]["step"]
        steps.append(1e3 * tokens / statistics.median(tps))
    ms = statistics.median(steps)
    if shard == "none": base[n] = ms
    cell = lambda k, pk: f"{mib(mem[k]):.1f} ({mib(plan[pk]):.1f}, {100 * (plan[pk] / mem[k] - 1):+.0f}%)"
    print(f"| {n} | {shard} | {cell('weights_bytes', 'weights')} | {cell('gradients_peak_bytes', 'gradients')} | "
          f"{cell('optimizer_bytes', 'optimizer')} | {ms:.0f} | {ms / base[n]:.2f}x |")
PY
echo "(work folder: $WORK)"
