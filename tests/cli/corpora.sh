# Corpora as they ship, end to end through the CLI: plain, gzip and zstd inputs, a directory and
# a glob give the same shards on 1 and 2 encoding threads; a damaged .gz is one line naming the
# file and the offset; score files in f16/bf16 are half the size; 2 scoring ranks (rho launch,
# or independent jobs given RANK/WORLD_SIZE) leave the bytes one process leaves; a short last
# shard is scored and trained on.
# Usage: bash corpora.sh RHO_BINARY SOURCE_DIR
set -u
source "$(dirname "$0")/lib/setup.sh" "$@"

# ~2.5 MB of text-like JSONL: three of tokenize's 1 MB batches, so encoders finish out of order.
python3 - "$WORK/c.jsonl" <<'PY'
import json, random, sys
r = random.Random(5)
words = "the of a prime number is sum integral proof lemma theorem let be then we have for all x y n".split()
with open(sys.argv[1], "w") as f:
    for i in range(12000):
        text = " ".join(r.choice(words) + (str(r.randint(0, 99)) if r.random() < 0.1 else "") for _ in range(r.randint(5, 60)))
        f.write(json.dumps({"text": text.replace(" then ", "\nthen "), "id": i}) + "\n")
PY
gzip -k -6 "$WORK/c.jsonl" && zstd -q -3 "$WORK/c.jsonl" -o "$WORK/c.jsonl.zst"
mkdir -p "$WORK/dir/part" && head -n 6000 "$WORK/c.jsonl" | gzip >"$WORK/dir/a.jsonl.gz" &&
  tail -n +6001 "$WORK/c.jsonl" | zstd -q >"$WORK/dir/part/b.jsonl.zst"

head -n 1500 "$WORK/c.jsonl" | zstd -q >"$WORK/train.jsonl.zst"
train_tokenizer "$WORK/train.jsonl.zst" "$WORK/tok.model" 400

tok() {  # tok OUT THREADS INPUT...
  local out=$1 threads=$2
  shift 2
  "$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$@" --out-dir "$WORK/$out" --threads "$threads" \
    --shard-tokens 200000 >/dev/null 2>"$WORK/$out.log"
}
tok plain1 1 "$WORK/c.jsonl" || { echo "FAIL: tokenize"; cat "$WORK/plain1.log"; exit 1; }
n_shards=$(ls "$WORK/plain1"/*.bin | wc -l)
check "several shards" [ "$n_shards" -ge 2 ]
check "progress line in MB/s" grep -q "MB/s" "$WORK/plain1.log"
same_shards() {  # same_shards DIR: every shard equals plain1's
  [ "$(ls "$WORK/$1"/*.bin | wc -l)" -eq "$n_shards" ] || return 1
  for f in "$WORK/plain1"/*.bin; do cmp -s "$f" "$WORK/$1/$(basename "$f")" || return 1; done
}
tok plain2 2 "$WORK/c.jsonl" && check "2 threads: identical shards" same_shards plain2
tok gz2 2 "$WORK/c.jsonl.gz" && check "gzip input: identical shards" same_shards gz2
tok zst1 1 "$WORK/c.jsonl.zst" && check "zstd input: identical shards" same_shards zst1
tok dir2 2 "$WORK/dir" && check "directory of .gz and .zst: identical shards" same_shards dir2
tok glob2 2 "$WORK/dir/*.gz" "$WORK/dir/part/*.zst" && check "globs: identical shards" same_shards glob2

# Damaged compressed input: one line, the file and the byte offsets; no shards left.
cp "$WORK/c.jsonl.gz" "$WORK/bad.jsonl.gz"
printf 'XXXXXXXXXXXXXXXXXXXXXXXX' | dd of="$WORK/bad.jsonl.gz" bs=1 seek=200000 conv=notrunc status=none
expect_error "tokenize: corrupt gzip" "$WORK/bad.jsonl.gz: corrupt gzip data at compressed byte" -- \
  tokenize --tokenizer "$WORK/tok.model" --input "$WORK/bad.jsonl.gz" --out-dir "$WORK/bad"
check "the error gives the uncompressed offset too" grep -q "(uncompressed byte [0-9]*)" "$WORK/err"
check "no shard left by the failed run" [ -z "$(ls -A "$WORK/bad" 2>/dev/null)" ]
head -c 300000 "$WORK/c.jsonl.zst" >"$WORK/cut.jsonl.zst"
expect_error "tokenize: truncated zstd" "$WORK/cut.jsonl.zst: truncated zstd data: the file ends at compressed byte 300000" -- \
  tokenize --tokenizer "$WORK/tok.model" --input "$WORK/cut.jsonl.zst" --out-dir "$WORK/cut"

# Scoring on a small corpus of 3 shards plus a short last one (a few tokens < T+1 = 17): the
# short shard is scored, its positions all "not scored".
head -n 400 "$WORK/c.jsonl" >"$WORK/small.jsonl"
"$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$WORK/small.jsonl" --out-dir "$WORK/shards" \
  --shard-tokens 5000 >/dev/null 2>&1
echo '{"text": "the end"}' >"$WORK/tail.jsonl"
"$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$WORK/tail.jsonl" --out-dir "$WORK/shards" --name zz >/dev/null 2>&1
"$RHO" train --data "$WORK/shards" --out "$WORK/ref" --preset debug --steps 2 --seq-len 16 --batch 2 >/dev/null 2>&1 ||
  { echo "FAIL: train the reference"; exit 1; }
SCORE=(score --model "$WORK/ref/final" --data "$WORK/shards" --seq-len 16 --batch 8 --threads 1)
"$RHO" "${SCORE[@]}" --out "$WORK/s1" 2>"$WORK/s1.log" || { echo "FAIL: score"; cat "$WORK/s1.log"; exit 1; }
check "the short shard is named as having no window" grep -q "zz_000000.bin has .* tokens, fewer than seq_len + 1" "$WORK/s1.log"
python3 - "$WORK/s1/zz_000000.scores" <<'PY' || failed=$((failed + 1))
import math, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack_from("<Q", raw, 16)[0]
vals = struct.unpack_from("<%df" % n, raw, 64)
if not (0 < n < 17 and all(math.isnan(v) for v in vals)):
    sys.exit("FAIL: the short shard's score file is not %d NaNs" % n)
PY
check "SLM training over the shards with the short one" "$RHO" train --data "$WORK/shards" --out "$WORK/slm" --preset debug \
  --steps 3 --seq-len 16 --batch 2 --objective slm --ref-scores "$WORK/s1"

# Two ranks: under rho launch, and as independent jobs (no rendezvous), rank 1 first.
same_scores() {  # same_scores DIR: the same files as s1, byte for byte, and nothing else
  [ "$(ls "$WORK/$1" | wc -l)" -eq "$(ls "$WORK/s1" | wc -l)" ] || return 1
  for f in "$WORK/s1"/*.scores; do cmp -s "$f" "$WORK/$1/$(basename "$f")" || return 1; done
}
"$RHO" launch -n 2 -- "${SCORE[@]}" --out "$WORK/s2" 2>"$WORK/s2.log"
check "rho launch -n 2 -- score: byte-identical files" same_scores s2
RANK=1 WORLD_SIZE=2 "$RHO" "${SCORE[@]}" --out "$WORK/s3" 2>/dev/null &&
  RANK=0 WORLD_SIZE=2 "$RHO" "${SCORE[@]}" --out "$WORK/s3" 2>/dev/null
check "RANK/WORLD_SIZE jobs one after the other: byte-identical files" same_scores s3

# Half-size dtypes.
for d in f16 bf16; do
  "$RHO" "${SCORE[@]}" --score-dtype "$d" --out "$WORK/$d" 2>/dev/null
  f=$(basename "$(ls "$WORK/s1"/*.scores | head -1)")
  check "$d score file is 64 + 2n bytes" [ "$(stat -c %s "$WORK/$d/$f")" -eq $(( ($(stat -c %s "$WORK/s1/$f") - 64) / 2 + 64 )) ]
done
expect_error "score: unknown dtype" "--score-dtype" -- "${SCORE[@]}" --score-dtype fp8 --out "$WORK/x"
finish
