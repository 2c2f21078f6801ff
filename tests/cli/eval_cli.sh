# rho generate / eval / analyze through the binary: each command runs end to end on a tiny
# trained model, and bad inputs fail with exit status != 0 and exactly one line on stderr naming
# the offending file.
# Usage: bash eval_cli.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"


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
  "$RHO_TOK" tokenizer train --input "$WORK/gsm.jsonl" --out "$WORK/tok.model" --vocab-size 384 \
    --template 'Question: {question}\nAnswer: {answer}' &&
  "$RHO_TOK" tokenizer train --input "$WORK/gsm.jsonl" --out "$WORK/other.model" --vocab-size 300 \
    --template 'Question: {question}\nAnswer: {answer}' &&
  "$RHO_TOK" tokenizer train --input "$WORK/gsm.jsonl" --out "$WORK/same-size.model" --vocab-size 384 \
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
expect_ok "eval fewshot (custom exemplars)" -- eval fewshot --model "$MODEL" --tokenizer "$WORK/tok.model" --train "$WORK/gsm.jsonl" \
  --test "$WORK/test.jsonl" --shots 2 --limit 3 --max-new-tokens 12 --out "$WORK/fewshot"
expect_file "fewshot records" "$WORK/fewshot/custom/records.jsonl"
expect_file "fewshot summary" "$WORK/fewshot/custom/summary.json"
expect_file "fewshot table" "$WORK/fewshot/results.md"
check "fewshot: 3 records" test "$(wc -l <"$WORK/fewshot/custom/records.jsonl")" -eq 3

# The paper's protocol on files in the harness's own layouts (tests/fixtures/harness): every
# record read, graded, kept; one table with a column per task and the average.
H="$SRC/tests/fixtures/harness"
expect_ok "eval fewshot --task svamp asdiv mawps" -- eval fewshot --model "$MODEL" --tokenizer "$WORK/tok.model" \
  --task svamp --test "$H/svamp/test.jsonl" --task asdiv --test "$H/asdiv/test.jsonl" --task mawps --test "$H/mawps/test.jsonl" \
  --max-new-tokens 6 --out "$WORK/harness3"
check "harness table: a column per task and the average" grep -q "| model | svamp | asdiv | mawps | avg |" "$WORK/harness3/results.md"
for t in svamp:3 asdiv:3 mawps:2; do
  check "harness ${t%%:*}: every record kept with prompt, generation, extracted and gold" python3 -c "
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
ok = len(r) == int(sys.argv[2]) and all(x['gold'] != '' and 'extracted' in x and 'generation' in x and x['prompt'].startswith('Question: There are 15 trees') for x in r)
sys.exit(0 if ok else 1)" "$WORK/harness3/${t%%:*}/records.jsonl" "${t##*:}"
done
check "svamp gold answers as the harness parses them" python3 -c "
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if [x['gold'] for x in r] == ['51', '1', '17'] else 1)" "$WORK/harness3/svamp/records.jsonl"
expect_ok "eval fewshot: all nine tasks from a harness data folder" -- eval fewshot --model "$MODEL" --tokenizer "$WORK/tok.model" \
  --harness-data "$H" \
  --max-new-tokens 4 --bos no --out "$WORK/harness9"
check "nine columns" grep -q "| model | gsm8k | math | svamp | asdiv | mawps | tabmwp | mathqa | mmlu_stem | sat_math | avg |" "$WORK/harness9/results.md"
# The debug model has 256 positions and every 8-shot prompt is longer: vLLM refuses such prompts
# in the harness, so each gets no output and is graded wrong, and the table says so.
check "prompts longer than the positions: no output, graded wrong, counted" python3 -c "
import json, sys
j = json.load(open(sys.argv[1]))
ok = all(t['too_long_prompts'] == t['problems'] > 0 and t['correct'] == 0 and t['truncated_prompts'] == 0 for t in j['tasks'])
r = [json.loads(l) for l in open(sys.argv[2])]
ok = ok and all(x['finish'] == 'too_long' and x['generation'] == '' and not x['correct'] for x in r)
sys.exit(0 if ok and j['average_percent'] == 0 else 1)" "$WORK/harness9/results.json" "$WORK/harness9/gsm8k/records.jsonl"
check "the table names the refused prompts" grep -q "prompts too long (wrong)" "$WORK/harness9/results.md"

# Multiple choice, lm-evaluation-harness style.
cat >"$WORK/arc.jsonl" <<'ARC'
{"id": "1", "question": "Tom has 3 apples and buys 9 more. How many apples now?", "choices": {"text": ["12", "3", "27"], "label": ["A", "B", "C"]}, "answerKey": "A"}
{"id": "2", "question": "Tom has 5 apples and buys 15 more. How many apples now?", "choices": {"text": ["5", "20", "75"], "label": ["A", "B", "C"]}, "answerKey": "B"}
ARC
expect_ok "eval choice: two models, one table" -- eval choice --model "$CK1" --model "$MODEL" --label first --label final \
  --tokenizer "$WORK/tok.model" --data "$WORK/arc.jsonl" --shots 1 --shots-from "$WORK/arc.jsonl" --out "$WORK/choice"
check "choice table has both rows" test "$(grep -c '^| first \|^| final ' "$WORK/choice/results.md")" -eq 2
check "choice records: a log-likelihood per choice" python3 -c "
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if len(r) == 2 and all(len(x['ll']) == 3 and all(v < 0 for v in x['ll']) for x in r) else 1)" "$WORK/choice/records-1.jsonl"
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
expect_error "eval fewshot: unknown task" "unknown task \"gsm9k\"" -- \
  eval fewshot --model "$MODEL" --tokenizer "$WORK/tok.model" --task gsm9k --test "$H/gsm8k/test.jsonl" --out "$WORK/fs5"
expect_error "eval fewshot: --test count" "one --test per --task" -- \
  eval fewshot --model "$MODEL" --tokenizer "$WORK/tok.model" --task gsm8k --task svamp --test "$H/gsm8k/test.jsonl" --out "$WORK/fs6"
expect_error "eval fewshot: a record without the task's fields (file and line)" "$H/asdiv/test.jsonl: line 1: svamp record has no field \"Answer\"" -- \
  eval fewshot --model "$MODEL" --tokenizer "$WORK/tok.model" --task svamp --test "$H/asdiv/test.jsonl" --out "$WORK/fs7"
expect_error "eval fewshot: no task file in the data folder" "no tabmwp/test.jsonl" -- \
  eval fewshot --model "$MODEL" --tokenizer "$WORK/tok.model" --task tabmwp --harness-data "$WORK" --out "$WORK/fs8"
expect_error "eval choice: fields of no known format" "$WORK/gsm.jsonl: line 1: fields fit none" -- \
  eval choice --model "$MODEL" --tokenizer "$WORK/tok.model" --data "$WORK/gsm.jsonl" --out "$WORK/c2"
expect_error "eval choice: a record missing a field" "$WORK/arc.jsonl: line 1: piqa record has no field \"goal\"" -- \
  eval choice --model "$MODEL" --tokenizer "$WORK/tok.model" --data "$WORK/arc.jsonl" --format piqa --out "$WORK/c3"
expect_error "eval choice: --shots without examples" "--shots needs --shots-from" -- \
  eval choice --model "$MODEL" --tokenizer "$WORK/tok.model" --data "$WORK/arc.jsonl" --shots 2 --out "$WORK/c4"
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
