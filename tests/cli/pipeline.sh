# The demo pipeline end to end in seconds: tiny corpus, tiny model, a few steps per stage. A test
# that the stages connect (tokenizer -> shards -> base -> reference -> scores -> CLM and SLM ->
# held-out choice accuracy at every checkpoint -> plots, dynamics, HTML -> report), not a claim
# about results.
# Usage: bash pipeline.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"

# Noise: a few real text files standing in for the e-mails and for set.mm.
mkdir -p "$WORK/emails/data/a"
i=0
for f in /usr/share/common-licenses/*; do
  [ -f "$f" ] || continue
  i=$((i + 1)); head -c 3000 "$f" >"$WORK/emails/data/a/$i.txt"
done
cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 >"$WORK/set.mm" 2>/dev/null || head -c 40000 /dev/urandom | base64 >"$WORK/set.mm"
need=$((i / 2))

RHO=$RHO SKIP_SETUP=1 GSM8K_DIR=$WORK/no-gsm8k EMAILS_DIR=$WORK/emails METAMATH=$WORK/set.mm \
  PRESET=debug SEQ=32 BATCH=4 BASE_STEPS=6 REF_STEPS=6 STEPS=8 VAL_EVERY=4 VOCAB=512 \
  SHOP_LIMIT=20 SWEEP_RATIOS="0.6 1.0" CLM_LONG_STEPS=12 \
  CORPUS_ARGS="--ref-problems 120 --hidden-problems 40 --shop-ref 200 --shop-hidden 60 --shop-test 30 --corpus-emails $need --base-emails $need --corpus-metamath-chars 15000 --base-metamath-chars 15000" \
  bash "$SRC/scripts/demo.sh" "$WORK/run" >"$WORK/log" 2>&1
rc=$?
source "$SRC/tests/cli/lib/expect.sh"
check "demo.sh exits 0" test "$rc" -eq 0
# Plots only where gnuplot is installed (the GPU machine has none; the demo says so and goes on).
PLOTS="report/val_loss.png report/shop_accuracy.png"; command -v gnuplot >/dev/null || PLOTS=
for f in report/summary.md $PLOTS report/selected_tokens.html report/dynamics-slm/shares.md \
         report/shop/results.json report/metrics/slm-s1.jsonl scores clm-s1/summary.json slm-s1/summary.json; do
  check "produces $f" test -e "$WORK/run/$f"
done
check "report compares CLM and SLM" grep -q "| 1 | 8 |" "$WORK/run/report/summary.md"
# Base, reference (3 checkpoints), CLM and SLM (4 each): 12 rows of 20 items each.
check "accuracy at every checkpoint" python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['rows']; sys.exit(0 if len(r) == 12 and all(x['items'] == 20 for x in r) else r)" "$WORK/run/report/shop/results.json"
check "report has the held-out accuracy with intervals" grep -q "| 1 | 8 | .*% (.*-.*) | .*% (.*-.*) |" "$WORK/run/report/summary.md"
check "accuracy curves start at the base model" python3 -c "import json,sys; p=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if p[0]['tokens_trained'] == 0 and len(p) == 5 else p)" "$WORK/run/report/shop-curves/slm.jsonl"
check "report has the ratio sweep with the long CLM run" grep -q "| 100% | .* | .* | .* | .* | .* |" "$WORK/run/report/summary.md"
check "sweep run at k = 100% trains every token" python3 -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if s['tokens_trained'] == s['tokens_seen'] else 1)" "$WORK/run/slm-k100-s1/summary.json"
# k = 60% of each step's 4 x 32 tokens, rounded up: 77 a step, 8 steps.
check "SLM trained on exactly k = 60% of each step's tokens" python3 -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if (s['tokens_seen'], s['tokens_trained']) == (8 * 128, 8 * 77) else s)" "$WORK/run/slm-s1/summary.json"
# A rerun reuses every finished stage.
RHO=$RHO SKIP_SETUP=1 GSM8K_DIR=$WORK/no-gsm8k EMAILS_DIR=$WORK/emails METAMATH=$WORK/set.mm \
  PRESET=debug SEQ=32 BATCH=4 BASE_STEPS=6 REF_STEPS=6 STEPS=8 VAL_EVERY=4 VOCAB=512 SHOP_LIMIT=20 \
  bash "$SRC/scripts/demo.sh" "$WORK/run" >"$WORK/log2" 2>&1
check "rerun succeeds" test $? -eq 0
check "rerun skips finished training" test "$(grep -c 'skip: ' "$WORK/log2")" -eq 4
# The score-function ablation on the same cached stages (every score function, one seed here).
RHO=$RHO SKIP_SETUP=1 GSM8K_DIR=$WORK/no-gsm8k EMAILS_DIR=$WORK/emails METAMATH=$WORK/set.mm \
  PRESET=debug SEQ=32 BATCH=4 BASE_STEPS=6 REF_STEPS=6 STEPS=8 VAL_EVERY=4 VOCAB=512 SHOP_LIMIT=20 SEEDS=1 \
  ABLATION="excess:0.4,0.6 ref-loss:0.6 current-loss:0.6 random:0.6" \
  bash "$SRC/scripts/ablation.sh" "$WORK/run" >"$WORK/log3" 2>&1
check "ablation.sh succeeds" test $? -eq 0
check "ablation reuses the demo's runs" test "$(grep -c 'skip: ' "$WORK/log3")" -eq 4
for v in slm-k40-s1 slm-ref-loss-k60-s1 slm-current-loss-k60-s1 slm-random-k60-s1; do
  check "ablation trains $v" test -f "$WORK/run/$v/summary.json"
done
check "ablation table in the report" grep -q "| random | 60% | " "$WORK/run/report/summary.md"
check "ablation states its result" grep -q "What the table says: the lowest held-out loss is" "$WORK/run/report/summary.md"
check "ablation plot" test -s "$WORK/run/report/ablation_loss.png"
check "ablation accuracy: CLM and five variants" python3 -c "import json,sys; sys.exit(0 if len(json.load(open(sys.argv[1]))['rows']) == 6 else 1)" "$WORK/run/report/ablation-acc/results.json"
if [ "$failed" -ne 0 ]; then echo "--- demo log ---"; tail -40 "$WORK/log"; echo "--- ablation log ---"; tail -20 "$WORK/log3"; fi
finish
