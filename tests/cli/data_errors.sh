# Bad inputs to the data commands: each must fail with exit status != 0 and exactly one line on
# stderr that names the offending file.
# Usage: bash data_errors.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"


# A small GSM8K-like corpus and a tokenizer trained on it.
for i in $(seq 1 40); do
  echo "{\"question\": \"Tom has $i apples and buys $((i * 3)) more. How many apples now?\", \"answer\": \"$i + $((i * 3)) = <<$i+$((i * 3))=$((i * 4))>>$((i * 4))\\n#### $((i * 4))\"}"
done >"$WORK/gsm.jsonl"
if ! "$RHO_TOK" tokenizer train --input "$WORK/gsm.jsonl" --out "$WORK/tok.model" --vocab-size 384 \
    --template 'Question: {question}\nAnswer: {answer}' >/dev/null 2>"$WORK/err"; then
  echo "FAIL: training the test tokenizer:"
  cat "$WORK/err"
  exit 1
fi

expect_error "tokenizer train: missing input" "$WORK/nope.jsonl" -- \
  tokenizer train --input "$WORK/nope.jsonl" --out "$WORK/t2.model" --vocab-size 384
expect_error "tokenizer train: unknown field" "$WORK/gsm.jsonl" -- \
  tokenizer train --input "$WORK/gsm.jsonl" --out "$WORK/t2.model" --vocab-size 384 --fields question,solution
expect_error "tokenize: missing input" "$WORK/missing.txt" -- \
  tokenize --tokenizer "$WORK/tok.model" --input "$WORK/gsm.jsonl" "$WORK/missing.txt" --out-dir "$WORK/shards1"
expect_error "tokenize: missing tokenizer" "$WORK/none.model" -- \
  tokenize --tokenizer "$WORK/none.model" --input "$WORK/gsm.jsonl" --out-dir "$WORK/shards2"
printf 'not a model' >"$WORK/garbage.model"
expect_error "tokenize: garbage tokenizer" "$WORK/garbage.model" -- \
  tokenize --tokenizer "$WORK/garbage.model" --input "$WORK/gsm.jsonl" --out-dir "$WORK/shards3"
expect_error "tokenize: unknown template field" "$WORK/gsm.jsonl" -- \
  tokenize --tokenizer "$WORK/tok.model" --input "$WORK/gsm.jsonl" --out-dir "$WORK/shards4" \
  --template 'Q: {question}\nA: {solution}'
printf '{"question": "ok", "answer": "ok"}\n{"question": "broken\n' >"$WORK/broken.jsonl"
expect_error "tokenize: invalid JSON line" "$WORK/broken.jsonl" -- \
  tokenize --tokenizer "$WORK/tok.model" --input "$WORK/broken.jsonl" --out-dir "$WORK/shards5" \
  --fields question,answer
expect_error "tokenizer encode: missing tokenizer" "$WORK/none.model" -- \
  tokenizer encode --tokenizer "$WORK/none.model" --text hello
if [ -n "$(find "$WORK/shards4" "$WORK/shards5" -type f 2>/dev/null)" ]; then
  failed=$((failed + 1))
  echo "FAIL: a failed tokenize left files behind"
fi

# A shard with the wrong magic, opened by training.
"$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$WORK/gsm.jsonl" --out-dir "$WORK/shards" \
  --fields question,answer >/dev/null 2>&1
expect_error "tokenize: shards already there" "$WORK/shards/shard_000000.bin" -- \
  tokenize --tokenizer "$WORK/tok.model" --input "$WORK/gsm.jsonl" --out-dir "$WORK/shards" --fields question,answer
printf 'GPT2TOKS' | dd of="$WORK/shards/shard_000000.bin" conv=notrunc status=none
expect_error "train: shard with wrong magic" "$WORK/shards/shard_000000.bin" -- \
  train --data "$WORK/shards" --out "$WORK/run" --preset debug --steps 1 --seq-len 16 --batch 2

# A vocabulary size outside the range: CLI11 reports it with the valid range.
if "$RHO" tokenizer train --input "$WORK/gsm.jsonl" --out "$WORK/t3.model" --vocab-size 5 >/dev/null 2>"$WORK/err" ||
    ! grep -q "260" "$WORK/err"; then
  failed=$((failed + 1))
  echo "FAIL: --vocab-size 5 was not refused with the valid range:"
  cat "$WORK/err"
else
  passed=$((passed + 1))
fi

finish
