# rho import / rho export over the sharded bf16 HF fixture (tests/fixtures/hf_sharded): import
# gives an fp32 rho directory; export as bf16 shards and import again gives the same weights bit
# for bit; the HF directory is usable directly; bad requests fail with one line naming the path.
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
finish
