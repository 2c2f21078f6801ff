# rho generate / eval / analyze through the binary: each command runs end to end on a tiny
# trained model, and bad inputs fail with exit status != 0 and exactly one line on stderr naming
# the offending file.
# Usage: bash eval_cli.sh RHO_BINARY SOURCE_DIR
set -u
RHO=$1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

source "$(dirname "$0")/lib/expect.sh"

# expect_ok NAME -- rho ARGS...
expect_ok() {
  local name=$1
  shift 2
  if "$RHO" "$@" >"$WORK/out" 2>"$WORK/err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name (exit $?):"
    sed 's/^/  | /' "$WORK/err"
  fi
}

# expect_file NAME PATH: the file exists and is not empty.
expect_file() {
  if [ -s "$2" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1: $2 missing or empty"; fi
}

# A small GSM8K-like corpus, a tokenizer, shards, and two checkpoints of a 2-step debug run.
for i in $(seq 1 60); do
  echo "{\"question\": \"Tom has $i apples and buys $((i * 3)) more. How many apples now?\", \"answer\": \"$i + $((i * 3)) = <<$i+$((i * 3))=$((i * 4))>>$((i * 4))\\n#### $((i * 4))\"}"
done >"$WORK/gsm.jsonl"
head -n 8 "$WORK/gsm.jsonl" >"$WORK/test.jsonl"
setup() {
  "$RHO" tokenizer train --input "$WORK/gsm.jsonl" --out "$WORK/tok.model" --vocab-size 384 \
    --template 'Question: {question}\nAnswer: {answer}' &&
  "$RHO" tokenizer train --input "$WORK/gsm.jsonl" --out "$WORK/other.model" --vocab-size 300 \
    --template 'Question: {question}\nAnswer: {answer}' &&
  "$RHO" tokenizer train --input "$WORK/gsm.jsonl" --out "$WORK/same-size.model" --vocab-size 384 \
    --template 'Answer: {answer}\nQuestion: {question}' --seed 7 &&
  "$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$WORK/gsm.jsonl" --out-dir "$WORK/shards" \
    --template 'Question: {question}\nAnswer: {answer}' &&
  "$RHO" train --data "$WORK/shards" --val-data "$WORK/shards" --out "$WORK/run" --preset debug --steps 2 \
    --seq-len 32 --batch 2 --warmup 1 --val-every 1 --val-batches 1 --ckpt-every 1 --keep-last 0
}
if ! setup >"$WORK/setup.log" 2>&1; then
  echo "FAIL: setting up the test model:"
  cat "$WORK/setup.log"
  exit 1
fi
CK1="$WORK/run/checkpoints/step_0000001"
CK2="$WORK/run/checkpoints/step_0000002"
MODEL="$WORK/run/final"
[ -d "$MODEL" ] || MODEL=$CK2

# ---- every command once, the happy path
expect_ok "generate" -- generate --model "$MODEL" --tokenizer "$WORK/tok.model" --prompt 'Question: Tom has 3 apples' \
  --max-new-tokens 8 --stop '\n\nQuestion:'
expect_ok "generate: sampled, two prompts" -- generate --model "$MODEL" --tokenizer "$WORK/tok.model" \
  --prompt 'Question:' --prompt 'Answer:' --max-new-tokens 8 --temperature 0.8 --top-p 0.9 --seed 3
expect_ok "eval loss: shards, jsonl, answer-only text" -- eval loss --model "$MODEL" --tokenizer "$WORK/tok.model" \
  --data "$WORK/shards" --data "$WORK/test.jsonl" --template 'Question: {question}\nAnswer: {answer}' \
  --seq-len 32 --json "$WORK/loss.json"
expect_file "eval loss --json" "$WORK/loss.json"
if [ "$(grep -c '"kind"' "$WORK/loss.json")" -ne 2 ]; then failed=$((failed + 1)); echo "FAIL: loss.json lacks a set"; fi
expect_ok "eval loss --answer-only" -- eval loss --model "$MODEL" --tokenizer "$WORK/tok.model" \
  --data "$WORK/test.jsonl" --answer-only
expect_ok "eval fewshot" -- eval fewshot --model "$MODEL" --tokenizer "$WORK/tok.model" --train "$WORK/gsm.jsonl" \
  --test "$WORK/test.jsonl" --shots 2 --limit 3 --max-new-tokens 12 --out "$WORK/fewshot"
expect_file "fewshot records" "$WORK/fewshot/records.jsonl"
expect_file "fewshot summary" "$WORK/fewshot/summary.json"
expect_file "fewshot table" "$WORK/fewshot/results.md"
if [ "$(wc -l <"$WORK/fewshot/records.jsonl")" -ne 3 ]; then failed=$((failed + 1)); echo "FAIL: fewshot: not 3 records"; fi
expect_ok "analyze dynamics" -- analyze dynamics --tokenizer "$WORK/tok.model" --data "$WORK/shards" --max-tokens 200 \
  --seq-len 32 --out "$WORK/dyn" "$CK1" "$CK2"
expect_file "dynamics csv" "$WORK/dyn/tokens.csv"
expect_file "dynamics shares" "$WORK/dyn/shares.md"
expect_ok "analyze select" -- analyze select --model "$CK2" --ref "$CK1" --tokenizer "$WORK/tok.model" \
  --text 'Question: Tom has 3 apples.\nAnswer: 3 + 9 = 12' --out "$WORK/view.html"
expect_file "select page" "$WORK/view.html"
if command -v gnuplot >/dev/null; then
  expect_ok "analyze plot" -- analyze plot --out "$WORK/loss.png" --x step "a=$WORK/run/metrics.jsonl" "b=$WORK/run"
  expect_file "plot png" "$WORK/loss.png"
else
  expect_error "analyze plot: no gnuplot" "gnuplot" -- analyze plot --out "$WORK/loss.png" "a=$WORK/run"
fi

# ---- bad inputs: one line naming the culprit
: >"$WORK/empty.jsonl"
expect_error "eval loss: unknown field" "$WORK/test.jsonl" -- \
  eval loss --model "$MODEL" --tokenizer "$WORK/tok.model" --data "$WORK/test.jsonl" --fields question,solution
expect_error "eval loss: empty file" "$WORK/empty.jsonl" -- \
  eval loss --model "$MODEL" --tokenizer "$WORK/tok.model" --data "$WORK/empty.jsonl"
expect_error "eval loss: missing set" "$WORK/nope.txt" -- \
  eval loss --model "$MODEL" --tokenizer "$WORK/tok.model" --data "$WORK/nope.txt"
expect_error "eval loss: shards of another tokenizer" "$WORK/shards" -- \
  eval loss --model "$MODEL" --tokenizer "$WORK/same-size.model" --data "$WORK/shards"
expect_error "eval loss: model and tokenizer differ (names the model)" "$MODEL: model was trained with tokenizer" -- \
  eval loss --model "$MODEL" --tokenizer "$WORK/other.model" --data "$WORK/test.jsonl"
expect_error "eval loss: model and tokenizer differ (names the tokenizer)" "$WORK/other.model" -- \
  eval loss --model "$MODEL" --tokenizer "$WORK/other.model" --data "$WORK/test.jsonl"
expect_error "eval fewshot: unknown question field" "$WORK/gsm.jsonl" -- \
  eval fewshot --model "$MODEL" --tokenizer "$WORK/tok.model" --train "$WORK/gsm.jsonl" --test "$WORK/test.jsonl" \
  --question-field problem --out "$WORK/fs2"
expect_error "eval fewshot: empty test file" "$WORK/empty.jsonl" -- \
  eval fewshot --model "$MODEL" --tokenizer "$WORK/tok.model" --train "$WORK/gsm.jsonl" --test "$WORK/empty.jsonl" \
  --out "$WORK/fs3"
expect_error "eval fewshot: tokenizer mismatch" "$WORK/other.model" -- \
  eval fewshot --model "$MODEL" --tokenizer "$WORK/other.model" --train "$WORK/gsm.jsonl" --test "$WORK/test.jsonl" \
  --out "$WORK/fs4"
expect_error "generate: missing model" "$WORK/none" -- \
  generate --model "$WORK/none" --tokenizer "$WORK/tok.model" --prompt hi
expect_error "generate: tokenizer mismatch" "$WORK/other.model" -- \
  generate --model "$MODEL" --tokenizer "$WORK/other.model" --prompt hi
expect_error "generate: missing prompt file" "$WORK/prompt.txt" -- \
  generate --model "$MODEL" --tokenizer "$WORK/tok.model" --prompt-file "$WORK/prompt.txt"
expect_error "analyze dynamics: tokenizer mismatch" "$CK1: checkpoint was trained with tokenizer" -- \
  analyze dynamics --tokenizer "$WORK/other.model" --data "$WORK/test.jsonl" --out "$WORK/dyn2" "$CK1" "$CK2"
expect_error "analyze dynamics: missing checkpoint" "$WORK/run/checkpoints/step_0000009" -- \
  analyze dynamics --tokenizer "$WORK/tok.model" --data "$WORK/test.jsonl" --out "$WORK/dyn3" "$CK1" \
  "$WORK/run/checkpoints/step_0000009"
expect_error "analyze select: tokenizer mismatch" "$WORK/other.model" -- \
  analyze select --model "$CK2" --ref "$CK1" --tokenizer "$WORK/other.model" --text hi --out "$WORK/v2.html"
expect_error "analyze select: empty text file" "$WORK/empty.jsonl" -- \
  analyze select --model "$CK2" --ref "$CK1" --tokenizer "$WORK/tok.model" --text-file "$WORK/empty.jsonl" \
  --out "$WORK/v3.html"
expect_error "analyze plot: metric absent" "$WORK/run/metrics.jsonl" -- \
  analyze plot --out "$WORK/p.png" --metric no_such_metric "a=$WORK/run"
expect_error "analyze plot: missing metrics" "$WORK/none/metrics.jsonl" -- \
  analyze plot --out "$WORK/p.png" "a=$WORK/none/metrics.jsonl"

finish
