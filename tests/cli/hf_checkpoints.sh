# rho import / rho export over the sharded bf16 HF fixture (tests/fixtures/hf_sharded): import
# gives an fp32 rho directory; export as bf16 shards and import again gives the same weights bit
# for bit; the HF directory is usable directly; bad requests fail with one line naming the path.
# Then the tokenizer round trip: a model trained from a tokenizer rho trained carries it in every
# directory rho writes, export adds what transformers needs, and the imported export tokenizes
# to the original's ids.
# Usage: bash hf_checkpoints.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
COMPARE="python3 $(dirname "$0")/lib/compare_weights.py"
HF=$SRC/tests/fixtures/hf_sharded

check "model info reads the HF directory directly" "$RHO" model info "$HF" >/dev/null 2>&1
# The fixture carries no tokenizer: importing it takes the deliberate flag, which warns.
expect_error "import of a model with no tokenizer is refused" "$HF: carries no tokenizer file" -- import "$HF" --out "$WORK/notok"
check "the refused import leaves no output" test ! -e "$WORK/notok"
NOTOK=--allow-unrecorded-tokenizer
"$RHO" import "$HF" --out "$WORK/imported" $NOTOK 2>"$WORK/import.err"
check "the override imports it with one warning" grep -q "rho: warning: $HF: no tokenizer recorded or carried" "$WORK/import.err"
check "import writes an fp32 model.safetensors" test -f "$WORK/imported/model.safetensors"
check "import records no tokenizer it does not have" test ! -e "$WORK/imported/rho.json"
"$RHO" export "$WORK/imported" --out "$WORK/hf-bf16" --dtype bf16 --max-shard-size 20KB $NOTOK 2>/dev/null
check "export shards above --max-shard-size" test -f "$WORK/hf-bf16/model.safetensors.index.json"
check "export records the dtype for transformers" grep -q '"torch_dtype": "bfloat16"' "$WORK/hf-bf16/config.json"
"$RHO" import "$WORK/hf-bf16" --out "$WORK/again" $NOTOK 2>/dev/null
check "bf16 export then import is bit-identical" $COMPARE "$WORK/imported" "$WORK/again" 0
"$RHO" export "$WORK/imported" --out "$WORK/hf-fp32" $NOTOK 2>/dev/null && "$RHO" import "$WORK/hf-fp32" --out "$WORK/again32" $NOTOK 2>/dev/null
check "fp32 export then import is bit-identical" $COMPARE "$WORK/imported" "$WORK/again32" 0
check "no temporary directory is left behind" test -z "$(ls -d "$WORK"/*.tmp-* 2>/dev/null)"

expect_error "export over an existing directory is refused" "$WORK/imported" -- export "$WORK/imported" --out "$WORK/imported" $NOTOK
expect_error "unknown dtype" "fp8" -- export "$WORK/imported" --out "$WORK/x" --dtype fp8 $NOTOK
expect_error "bad shard size" "--max-shard-size" -- export "$WORK/imported" --out "$WORK/y" --max-shard-size lots $NOTOK
mkdir -p "$WORK/pt"; cp "$HF/config.json" "$WORK/pt/"; touch "$WORK/pt/pytorch_model.bin"
expect_error "pytorch_model.bin only" "$WORK/pt: holds pytorch_model.bin only" -- import "$WORK/pt" --out "$WORK/z"
check "a failed import leaves no output" test ! -e "$WORK/z"

# The tokenizer round trip, with tests/fixtures/tokenizers/rho_bpe.model (made by `rho tokenizer
# train`: BPE, byte fallback, no dummy prefix).
TOK=$SRC/tests/fixtures/tokenizers/rho_bpe.model
for i in $(seq 1 120); do echo "{\"text\": \"line $i: the cat sat on mat $((i * 7)) and counted $((i * 3)) birds.\"}"; done >"$WORK/c.jsonl"
cat "$SRC/tests/fixtures/tokenizers/corpus.jsonl" >>"$WORK/c.jsonl"  # whitespace, digits, bytes
"$RHO" tokenize --tokenizer "$TOK" --input "$WORK/c.jsonl" --out-dir "$WORK/shards" >/dev/null 2>&1 || { echo "FAIL: tokenize"; exit 1; }
FP=$(basename "$(ls -d "$WORK/shards"/tokenizer-*)")
check "tokenize leaves a copy of the tokenizer beside the shards" cmp -s "$TOK" "$WORK/shards/$FP/tokenizer.model"
"$RHO" train --data "$WORK/shards" --out "$WORK/run" --preset debug --steps 2 --seq-len 16 --batch 2 --ckpt-every 1 \
  >/dev/null 2>"$WORK/train.err" || { echo "FAIL: train"; cat "$WORK/train.err"; exit 1; }
for d in "$WORK/run/final" "$WORK/run/checkpoints"/step_*; do
  check "$(basename "$d") carries the tokenizer file" cmp -s "$TOK" "$d/tokenizer.model"
done
"$RHO" export "$WORK/run/final" --out "$WORK/hf-tok" 2>/dev/null
check "export carries the tokenizer file" cmp -s "$TOK" "$WORK/hf-tok/tokenizer.model"
check "export writes tokenizer_config.json for AutoTokenizer" python3 - "$WORK/hf-tok" <<'PY'
import json, sys
d = sys.argv[1]
c = json.load(open(f"{d}/tokenizer_config.json"))
m = json.load(open(f"{d}/special_tokens_map.json"))
want = {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "add_bos_token": False, "add_eos_token": False, "add_prefix_space": False}
bad = {k: (c.get(k), v) for k, v in want.items() if c.get(k) != v}
bad.update({k: (m.get(k), c[k]) for k in ("bos_token", "eos_token", "unk_token") if m.get(k) != c[k]})
sys.exit(f"tokenizer files: (found, wanted) {bad}" if bad else 0)
PY
"$RHO" import "$WORK/hf-tok" --out "$WORK/models/x" 2>/dev/null
"$RHO" tokenize --tokenizer "$WORK/models/x" --input "$WORK/c.jsonl" --out-dir "$WORK/shards-x" >/dev/null 2>&1
check "the imported export tokenizes to the original's ids" cmp -s "$WORK/shards/shard_000000.bin" "$WORK/shards-x/shard_000000.bin"
"$RHO" tokenizer encode --tokenizer "$TOK" --input "$WORK/c.jsonl" >"$WORK/ids-tok"
"$RHO" tokenizer encode --tokenizer "$WORK/models/x" --input "$WORK/c.jsonl" >"$WORK/ids-x"
check "tokenizer encode with the imported export gives the original's ids" cmp -s "$WORK/ids-tok" "$WORK/ids-x"
check "... ids that are not all empty" grep -q '[0-9]' "$WORK/ids-x"

# Shards from before rho kept a tokenizer copy: the run says so, records the fingerprint only,
# and export warns that it writes no tokenizer, or takes --tokenizer.
rm -r "$WORK/shards-x"/tokenizer-*
"$RHO" train --data "$WORK/shards-x" --out "$WORK/run-old" --preset debug --steps 1 --seq-len 16 --batch 2 \
  >/dev/null 2>"$WORK/old.err" || { echo "FAIL: train on old shards"; cat "$WORK/old.err"; exit 1; }
check "training on shards without a copy says so" grep -q "rho: note: no copy of the shards' tokenizer at $WORK/shards-x/$FP" "$WORK/old.err"
check "... and its model records the tokenizer without carrying it" test -f "$WORK/run-old/final/rho.json" -a ! -e "$WORK/run-old/final/tokenizer.model"
"$RHO" export "$WORK/run-old/final" --out "$WORK/hf-old" 2>"$WORK/export-old.err"
check "export of such a model warns it writes no tokenizer" grep -q "carries no copy of it" "$WORK/export-old.err"
"$RHO" export "$WORK/run-old/final" --out "$WORK/hf-old2" --tokenizer "$TOK" 2>/dev/null
check "export --tokenizer adds it" test -f "$WORK/hf-old2/tokenizer.model" -a -f "$WORK/hf-old2/tokenizer_config.json"
mkdir -p "$WORK/shards-x/$FP" && cp "$SRC/tests/fixtures/tokenizers/unigram_nfkc.model" "$WORK/shards-x/$FP/tokenizer.model"
expect_error "a copy holding another tokenizer is refused" "$WORK/shards-x/$FP/tokenizer.model: is tokenizer" -- \
  train --data "$WORK/shards-x" --out "$WORK/run-bad" --preset debug --steps 1 --seq-len 16 --batch 2
finish
