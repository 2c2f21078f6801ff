# Bad inputs to train / score / model: nonzero exit and one stderr line naming the file or the
# flag with its valid range.
# Usage: bash train_errors.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"

# Shards and a tokenizer to train on.
for i in $(seq 1 60); do echo "{\"text\": \"line $i: the cat sat on mat number $((i * 7)) and counted $((i * 3)) birds.\"}"; done >"$WORK/c.jsonl"
train_tokenizer "$WORK/c.jsonl" "$WORK/tok.model" 300
"$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$WORK/c.jsonl" --out-dir "$WORK/shards" >/dev/null 2>&1 || { echo "FAIL: tokenize"; exit 1; }
"$RHO" train --data "$WORK/shards" --out "$WORK/run" --preset debug --steps 2 --seq-len 16 --batch 2 >/dev/null 2>&1 || { echo "FAIL: train"; exit 1; }
MODEL=$WORK/run/final

# Configs that make no sense.
mkdir -p "$WORK/bad1" "$WORK/bad2" "$WORK/bad3"
cp "$MODEL/model.safetensors" "$WORK/bad1/"; cp "$MODEL/model.safetensors" "$WORK/bad2/"; cp "$MODEL/model.safetensors" "$WORK/bad3/"
sed 's/"num_attention_heads": 4/"num_attention_heads": 5/' "$MODEL/config.json" >"$WORK/bad1/config.json"
expect_error "config: hidden not divisible by heads" "$WORK/bad1/config.json" -- model info "$WORK/bad1"
printf '{"hidden_size": 64,' >"$WORK/bad2/config.json"
expect_error "config: invalid JSON" "$WORK/bad2/config.json" -- model info "$WORK/bad2"
sed 's/"hidden_size": 64/"hidden_size": -64/' "$MODEL/config.json" >"$WORK/bad3/config.json"
expect_error "config: negative size" "$WORK/bad3/config.json" -- train --data "$WORK/shards" --out "$WORK/r3" --init-from "$WORK/bad3" --steps 1 --seq-len 16
# Weights that do not fit the config.
mkdir -p "$WORK/bad4"; cp "$MODEL/model.safetensors" "$WORK/bad4/"
sed 's/"intermediate_size": 176/"intermediate_size": 180/' "$MODEL/config.json" >"$WORK/bad4/config.json"
expect_error "weights: shape mismatch" "$WORK/bad4/model.safetensors" -- model info "$WORK/bad4"
expect_error "model: missing directory" "$WORK/nowhere" -- model info "$WORK/nowhere"

# Flags out of range name the range.
expect_error "train: ratio above 1" "--ratio" -- train --data "$WORK/shards" --out "$WORK/r4" --objective slm --ratio 1.5
expect_error "train: unknown preset" "debug" -- train --data "$WORK/shards" --out "$WORK/r5" --preset huge
expect_error "train: zero batch" "--batch" -- train --data "$WORK/shards" --out "$WORK/r6" --batch 0
expect_error "train: ratio 0 (range is open at 0)" "(0, 1]" -- train --data "$WORK/shards" --out "$WORK/r4" --objective slm --ratio 0
expect_error "train: nan learning rate" "(0, 1]" -- train --data "$WORK/shards" --out "$WORK/r4" --lr nan
expect_error "train: zero max-bad-steps" "--max-bad-steps" -- train --data "$WORK/shards" --out "$WORK/r4" --max-bad-steps 0
expect_error "score: zero batch" "--batch" -- score --model "$WORK/x" --data "$WORK/shards" --out "$WORK/s" --batch 0
expect_error "generate: top-p above 1" "(0, 1]" -- generate --model "$WORK/x" --tokenizer "$WORK/tok.model" --prompt hi --top-p 1.5
# Combinations refused by name before anything loads (the data path does not exist).
expect_error "train: slm without a reference" "--score excess needs reference losses" -- \
  train --data "$WORK/nowhere" --out "$WORK/r9" --objective slm
expect_error "train: --ref-scores under clm" "--ref-scores applies to --objective slm only" -- \
  train --data "$WORK/nowhere" --out "$WORK/r9" --ref-scores "$WORK/scores"
expect_error "train: a reference random scores ignore" "--ref-scores does nothing with --score random" -- \
  train --data "$WORK/nowhere" --out "$WORK/r9" --objective slm --score random --ref-scores "$WORK/scores"
expect_error "train: --head-chunk with --plain-head" "--head-chunk sets the fused head's chunk" -- \
  train --data "$WORK/nowhere" --out "$WORK/r9" --plain-head --head-chunk 64
# SLM inputs.
expect_error "train: scores missing" "$WORK/noscores" -- train --data "$WORK/shards" --out "$WORK/r7" --preset debug \
  --steps 1 --seq-len 16 --objective slm --ref-scores "$WORK/noscores"
"$RHO" score --model "$MODEL" --data "$WORK/shards" --out "$WORK/scores" --seq-len 16 >/dev/null 2>&1 || { echo "FAIL: score"; exit 1; }
expect_error "train: scores from another seq-len" "$WORK/scores/" -- train --data "$WORK/shards" --out "$WORK/r8" --preset debug \
  --steps 1 --seq-len 8 --objective slm --ref-scores "$WORK/scores"
expect_error "train: an existing run without --resume" "$WORK/run" -- train --data "$WORK/shards" --out "$WORK/run" --preset debug --steps 2 --seq-len 16

# A model whose final norm holds a NaN: every step's loss is NaN, each is skipped and counted, and
# the run stops after --max-bad-steps in a row with one error line (the warnings come before it).
mkdir -p "$WORK/nan"
cp "$MODEL/config.json" "$MODEL/rho.json" "$WORK/nan/"
python3 - "$MODEL/model.safetensors" "$WORK/nan/model.safetensors" <<'PY'
import json, struct, sys
raw = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
begin = json.loads(raw[8:8 + n])["model.norm.weight"]["data_offsets"][0]
raw[8 + n + begin:8 + n + begin + 4] = struct.pack("<f", float("nan"))
open(sys.argv[2], "wb").write(raw)
PY
"$RHO" train --data "$WORK/shards" --out "$WORK/rnan" --init-from "$WORK/nan" --steps 10 --seq-len 16 --batch 2 \
  --max-bad-steps 3 >/dev/null 2>"$WORK/err"
rc=$?
if [ "$rc" -eq 1 ] && [ "$(grep -c "step skipped" "$WORK/err")" -eq 3 ] &&
   tail -1 "$WORK/err" | grep -qF "rho: error: step 3: loss or gradient not finite for 3 steps in a row (--max-bad-steps 3)" &&
   [ "$(grep -c '"skipped":true' "$WORK/rnan/metrics.jsonl")" -eq 2 ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: NaN steps (exit $rc):"; sed 's/^/  | /' "$WORK/err"
fi
expect_error "--master-weights fp32 in an fp32 run" "it needs --precision bf16 (this run is fp32)" -- \
  train --data "$WORK/shards" --out "$WORK/r-master" --steps 1 --seq-len 16 --precision fp32 --master-weights fp32
expect_error "rho bench --master-weights fp32 in an fp32 run" "it needs --precision bf16 (this run is fp32)" -- \
  bench --steps 1 --precision fp32 --master-weights fp32

finish
