# The model families at the command line (fixtures: tests/fixtures/families, made by
# make_family_fixtures.py): each HF directory imports with its tokenizer files carried along,
# keeps its settings and tensor names (q/k/v biases, no lm_head when tied), exports and imports
# again bit for bit, and `rho model logits` gives the float64 reference's logits within 1e-4.
# Refusals are one line naming the file.
# Usage: bash model_families.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
CHECK="python3 $(dirname "$0")/lib/family_check.py"
COMPARE="python3 $(dirname "$0")/lib/compare_weights.py"

for i in $(seq 1 100); do echo "{\"text\": \"family $i: llama, qwen and mistral share $((i * 3)) layers.\"}"; done >"$WORK/t.jsonl"
train_tokenizer "$WORK/t.jsonl" "$WORK/tok.model" 300

for f in llama3_tied llama_linear_bias qwen2_tied qwen2_swa mistral_swa; do
  FIX=$SRC/tests/fixtures/families/$f
  HF=$WORK/hf-$f  # the checkpoint as a user brings it: weights, config and tokenizer files
  mkdir -p "$HF"
  cp "$FIX/config.json" "$FIX/model.safetensors" "$WORK/tok.model" "$HF/"
  mv "$HF/tok.model" "$HF/tokenizer.model"
  echo '{"bos_token": "<s>", "eos_token": "</s>", "model_max_length": 4096}' >"$HF/tokenizer_config.json"
  echo '{"bos_token": "<s>", "eos_token": "</s>"}' >"$HF/special_tokens_map.json"

  "$RHO" import "$HF" --out "$WORK/imp-$f" 2>/dev/null
  check "$f: import writes the model" test -f "$WORK/imp-$f/model.safetensors"
  for t in tokenizer.model tokenizer_config.json special_tokens_map.json; do
    check "$f: import carries $t" cmp -s "$HF/$t" "$WORK/imp-$f/$t"
  done
  check "$f: import records the tokenizer" grep -q '"fingerprint"' "$WORK/imp-$f/rho.json"
  check "$f: import keeps every setting of config.json" $CHECK config "$HF/config.json" "$WORK/imp-$f/config.json"
  check "$f: import keeps the tensor names" $CHECK names "$HF" "$WORK/imp-$f"

  "$RHO" export "$WORK/imp-$f" --out "$WORK/exp-$f" 2>/dev/null && "$RHO" import "$WORK/exp-$f" --out "$WORK/again-$f" 2>/dev/null
  check "$f: export then import is bit-identical" $COMPARE "$WORK/imp-$f" "$WORK/again-$f" 0 >/dev/null
  check "$f: export carries the tokenizer files" cmp -s "$HF/tokenizer_config.json" "$WORK/exp-$f/tokenizer_config.json"

  $CHECK ids "$FIX/expected.safetensors" "$WORK/ids-$f.json"
  "$RHO" model logits --model "$HF" --input-ids "$WORK/ids-$f.json" --out "$WORK/logits-$f.safetensors" 2>/dev/null
  check "$f: model logits match the float64 reference" \
    $CHECK logits "$FIX/expected.safetensors" "$WORK/logits-$f.safetensors" 1e-4
done

"$RHO" model logits --model "$WORK/hf-mistral_swa" --input-ids "$WORK/ids-mistral_swa.json" >"$WORK/summary" 2>&1
check "model logits without --out prints a summary" grep -q "^logits 2 x 12 x 53 (fp32)" "$WORK/summary"

M=$WORK/hf-qwen2_tied
echo '[[1, 2, 3], [4, 5]]' >"$WORK/ragged.json"
expect_error "ragged id rows" "$WORK/ragged.json: row 1 has 2 ids, row 0 has 3" -- model logits --model "$M" --input-ids "$WORK/ragged.json"
echo '[[1, 2, 53]]' >"$WORK/big.json"
expect_error "id beyond the vocabulary" "$WORK/big.json: entry [0][2] = 53 is not a token id of this model (0..52)" -- \
  model logits --model "$M" --input-ids "$WORK/big.json"
echo '[[1, 2' >"$WORK/cut.json"
expect_error "ids not JSON" "$WORK/cut.json: invalid JSON" -- model logits --model "$M" --input-ids "$WORK/cut.json"
expect_error "missing ids file" "$WORK/none.json" -- model logits --model "$M" --input-ids "$WORK/none.json"

mkdir -p "$WORK/gemma"
sed 's/"model_type": "qwen2"/"model_type": "gemma2"/' "$M/config.json" >"$WORK/gemma/config.json"
cp "$M/model.safetensors" "$WORK/gemma/"
expect_error "another family is refused by name" \
  "$WORK/gemma/config.json: model_type \"gemma2\" is not supported (rho runs llama, mistral, qwen2)" -- \
  import "$WORK/gemma" --out "$WORK/g" --allow-unrecorded-tokenizer
mkdir -p "$WORK/yarn"
python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c['rope_scaling']={'rope_type':'yarn','factor':4.0}; json.dump(c,open(sys.argv[2],'w'))" \
  "$M/config.json" "$WORK/yarn/config.json"
cp "$M/model.safetensors" "$WORK/yarn/"
expect_error "yarn rope scaling is refused by name" "$WORK/yarn/config.json: rope_scaling type \"yarn\" is not supported" -- \
  model info "$WORK/yarn"
finish
