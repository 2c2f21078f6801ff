# A reference with another tokenizer: shards of one tokenizer scored by a tiny reference trained
# on another's shards of the same corpus (`rho score --cross-tokenizer`), the score files
# recording the reference's tokenizer, SLM training on them with --ref-tokenizer, and the
# refusals around it.
# Usage: bash cross_tokenizer.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"
make_shards 200 3000  # $WORK/tok.model (300 pieces) and $WORK/shards
train_tokenizer "$WORK/c.jsonl" "$WORK/tok2.model" 360
"$RHO" tokenize --tokenizer "$WORK/tok2.model" --input "$WORK/c.jsonl" --out-dir "$WORK/shards2" --shard-tokens 3000 \
  >/dev/null 2>"$WORK/err" || { echo "FAIL: tokenize with the second tokenizer"; cat "$WORK/err"; exit 1; }
TRAIN=(train --preset debug --steps 3 --seq-len 16 --batch 2 --threads 1)
"$RHO" "${TRAIN[@]}" --data "$WORK/shards2" --out "$WORK/ref" >/dev/null 2>"$WORK/err" ||
  { echo "FAIL: training the reference"; cat "$WORK/err"; exit 1; }
REF=$WORK/ref/final
SCORE=(score --model "$REF" --data "$WORK/shards" --seq-len 16 --batch 4 --threads 1)

check "score --cross-tokenizer" "$RHO" "${SCORE[@]}" --out "$WORK/scores" --cross-tokenizer --data-tokenizer "$WORK/tok.model"
# Every score file records the reference's tokenizer (header bytes 44..51) and scores its windows.
check "score files record the reference's tokenizer" python3 - "$WORK/scores" "$REF/tokenizer.model" <<'PY'
import math, os, struct, sys
d, tok = sys.argv[1], open(sys.argv[2], "rb").read()
fp = 0xcbf29ce484222325  # fnv1a64, Tokenizer::fingerprint()
for b in tok:
    fp = ((fp ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
files = [f for f in os.listdir(d) if f.endswith(".scores")]
assert files, "no score files"
for f in files:
    raw = open(os.path.join(d, f), "rb").read()
    assert struct.unpack("<Q", raw[44:52])[0] == fp, f + ": header does not record the reference's tokenizer"
    assert raw[52:64] == bytes(12), f + ": reserved bytes are not zero"
    n = struct.unpack("<Q", raw[16:24])[0]
    vals = struct.unpack("<%df" % n, raw[64:64 + 4 * n])
    assert sum(1 for v in vals if not math.isnan(v) and v >= 0) > n // 2, f + ": too few scored positions"
PY
check "train --objective slm on them with --ref-tokenizer" "$RHO" "${TRAIN[@]}" --data "$WORK/shards" --out "$WORK/slm" \
  --objective slm --ref-scores "$WORK/scores" --ref-tokenizer "$REF"

expect_error "score without --cross-tokenizer" "reference model was trained with tokenizer" -- \
  "${SCORE[@]}" --out "$WORK/s1"
expect_error "--data-tokenizer that is not the shards'" "$WORK/tok2.model: is not the shards' tokenizer" -- \
  "${SCORE[@]}" --out "$WORK/s2" --cross-tokenizer --data-tokenizer "$WORK/tok2.model"
expect_error "--cross-tokenizer without --data-tokenizer" "--cross-tokenizer needs --data-tokenizer" -- \
  "${SCORE[@]}" --out "$WORK/s3" --cross-tokenizer
expect_error "--data-tokenizer without --cross-tokenizer" "--data-tokenizer applies with --cross-tokenizer only" -- \
  "${SCORE[@]}" --out "$WORK/s4" --data-tokenizer "$WORK/tok.model"
expect_error "train on them without --ref-tokenizer" "was scored by a reference with another tokenizer" -- \
  "${TRAIN[@]}" --data "$WORK/shards" --out "$WORK/slm2" --objective slm --ref-scores "$WORK/scores"
expect_error "--ref-tokenizer without --ref-scores" "--ref-tokenizer needs --ref-scores" -- \
  "${TRAIN[@]}" --data "$WORK/shards" --out "$WORK/slm4" --objective slm --ref-model "$REF" --ref-tokenizer "$REF"
# A reference directory without its tokenizer's files cannot encode the text.
cp -r "$REF" "$WORK/ref-notok" && rm -f "$WORK/ref-notok/tokenizer.model" "$WORK/ref-notok/tokenizer_config.json"
expect_error "a reference without its tokenizer" "ref-notok: carries no tokenizer (tokenizer.json or tokenizer.model)" -- \
  score --model "$WORK/ref-notok" --data "$WORK/shards" --seq-len 16 --batch 4 --threads 1 --out "$WORK/s5" \
  --cross-tokenizer --data-tokenizer "$WORK/tok.model"
finish
