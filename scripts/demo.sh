#!/usr/bin/env bash
# The main job. Until the full Rho-1 experiment lands, a causal-LM run on real text: a tokenizer
# trained on GSM8K train, a `demo-s` Llama trained on it, validation loss on GSM8K test falling.
# Usage: scripts/demo.sh [GSM8K_DIR] [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
GSM8K=${1:-${GSM8K_DIR:-../shared/data/gsm8k}}
RUN=${2:-runs/demo}
STEPS=${STEPS:-300}
bash scripts/setup.sh build
RHO=build/rho
for f in train.jsonl test.jsonl; do
  [ -f "$GSM8K/$f" ] || { echo "demo: $GSM8K/$f not found; get GSM8K from github.com/openai/grade-school-math (grade_school_math/data) and pass its folder" >&2; exit 1; }
done
mkdir -p "$RUN"
TEMPLATE='Question: {question}\nAnswer: {answer}'
[ -f "$RUN/tok.model" ] || $RHO tokenizer train --input "$GSM8K/train.jsonl" --template "$TEMPLATE" --vocab-size 4096 --out "$RUN/tok.model"
[ -d "$RUN/shards/train" ] || $RHO tokenize --tokenizer "$RUN/tok.model" --input "$GSM8K/train.jsonl" --template "$TEMPLATE" --out-dir "$RUN/shards/train" --name gsm8k_train
[ -d "$RUN/shards/test" ] || $RHO tokenize --tokenizer "$RUN/tok.model" --input "$GSM8K/test.jsonl" --template "$TEMPLATE" --out-dir "$RUN/shards/test" --name gsm8k_test
RESUME=(); [ -f "$RUN/clm/checkpoints/latest" ] && RESUME=(--resume)
$RHO train --data "$RUN/shards/train" --val-data "$RUN/shards/test" --out "$RUN/clm" --preset demo-s \
  --seq-len 256 --batch 8 --steps "$STEPS" --warmup 30 --lr 2e-3 --min-lr 2e-4 --val-every 50 \
  --val-batches 16 --log-every 10 --ckpt-every 100 "${RESUME[@]}"
echo "== validation loss (GSM8K test) by step =="
grep -o '"step":[0-9]*\|"val_loss":[0-9.]*' "$RUN/clm/metrics.jsonl" | paste - - 2>/dev/null | grep val_loss || true
cat "$RUN/clm/summary.json"
