# Models meet data only under model/model_use.h's rules, at the command line: a model trained with
# another tokenizer of the same vocabulary size is refused by score, train --init-from, train
# --ref-model, eval, generate and analyze; windows beyond a reference's positions are refused; a
# copy carries its tokenizer and its record. Each refusal is one line naming the model.
# Usage: bash compat.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
# Tokenizer training needs the sentencepiece library, which ASan builds cannot load.

for i in $(seq 1 150); do echo "{\"text\": \"line $i: the cat sat on mat $((i * 7)) and counted $((i * 3)) birds.\"}"; done >"$WORK/a.jsonl"
for i in $(seq 1 150); do echo "{\"text\": \"zeile $i: der hund lief um baum $((i * 5)) und sah $((i * 11)) vogel.\"}"; done >"$WORK/b.jsonl"
for t in a b; do
  train_tokenizer "$WORK/$t.jsonl" "$WORK/$t.model" 300
  "$RHO" tokenize --tokenizer "$WORK/$t.model" --input "$WORK/$t.jsonl" --out-dir "$WORK/shards-$t" >/dev/null 2>&1 || { echo "FAIL: tokenize $t"; exit 1; }
done
COMMON=(--seq-len 16 --batch 2 --steps 2 --preset debug)
"$RHO" train --data "$WORK/shards-a" --out "$WORK/A" "${COMMON[@]}" 2>/dev/null || { echo "FAIL: train A"; exit 1; }
A=$WORK/A/final
check "a trained model records its tokenizer" grep -q '"fingerprint"' "$A/rho.json"

# The same vocabulary size, another tokenizer.
expect_error "score refuses it" "$A: reference model was trained with tokenizer" -- \
  score --model "$A" --data "$WORK/shards-b" --out "$WORK/scores" --seq-len 16
expect_error "train --init-from refuses it" "$A: --init-from model was trained with tokenizer" -- \
  train --data "$WORK/shards-b" --init-from "$A" --out "$WORK/x1" "${COMMON[@]}"
expect_error "train --ref-model refuses it" "$A: reference model was trained with tokenizer" -- \
  train --data "$WORK/shards-b" --objective slm --ref-model "$A" --out "$WORK/x2" "${COMMON[@]}"
expect_error "eval loss refuses it" "$A: model was trained with tokenizer" -- \
  eval loss --model "$A" --tokenizer "$WORK/b.model" --data "$WORK/b.jsonl"
expect_error "generate refuses it" "$A: model was trained with tokenizer" -- \
  generate --model "$A" --tokenizer "$WORK/b.model" --prompt "zeile"
expect_error "analyze select refuses it" "$A: model was trained with tokenizer" -- \
  analyze select --model "$A" --ref "$A" --tokenizer "$WORK/b.model" --text "zeile 1" --out "$WORK/s.html"
check "no refused run left a directory" test ! -e "$WORK/x1" -a ! -e "$WORK/x2"
# The right tokenizer passes; the reference's positions bound T (debug: 256).
check "score with the right tokenizer" "$RHO" score --model "$A" --data "$WORK/shards-a" --out "$WORK/scores-a" --seq-len 16 2>/dev/null
expect_error "score refuses T beyond the reference's positions" "exceeds its max_position_embeddings 256" -- \
  score --model "$A" --data "$WORK/shards-a" --out "$WORK/scores-long" --seq-len 300

# Copies carry the tokenizer and its record; the wrong tokenizer for a copy is refused.
expect_error "export refuses another tokenizer" "$WORK/b.model: is tokenizer" -- export "$A" --out "$WORK/hfb" --tokenizer "$WORK/b.model"
"$RHO" export "$A" --out "$WORK/hfa" --tokenizer "$WORK/a.model" 2>/dev/null
check "export carries tokenizer.model and rho.json" test -f "$WORK/hfa/tokenizer.model" -a -f "$WORK/hfa/rho.json"
rm "$WORK/hfa/rho.json"  # what HF tooling keeps: the tokenizer file alone still identifies it
"$RHO" import "$WORK/hfa" --out "$WORK/back" 2>/dev/null
check "import of a directory carrying its tokenizer records it" grep -q '"fingerprint"' "$WORK/back/rho.json"
check "the reimported model is usable with its tokenizer" "$RHO" eval loss --model "$WORK/back" --tokenizer "$WORK/a.model" --data "$WORK/a.jsonl" --seq-len 16 >/dev/null 2>&1
expect_error "and refused with the other" "$WORK/back: model was trained with tokenizer" -- \
  eval loss --model "$WORK/back" --tokenizer "$WORK/b.model" --data "$WORK/b.jsonl"
finish
