#!/usr/bin/env bash
# Corpus-scale costs of rho (issue #16), on generated text-like JSONL of each size given (MB):
#   - tokenizing MB/s with 1 and 2 encoding threads, beside sentencepiece's spm_encode on the
#     same text with the same tokenizer;
#   - peak RSS of `tokenize`, `score` and `train` (SLM, offline scores) at each size: what must not
#     grow with the corpus;
#   - training start-up: seconds from launch to the start of the first step (the first metrics
#     line, less the step's own duration).
# Not a test: minutes to hours. Run it on a quiet machine; the summary goes to stdout and
# docs/bench/corpus-<date>.txt.
#
# What each measurement is:
#   score: rank 0 of N independent ranks (RANK/WORLD_SIZE, no rendezvous), N chosen so that rank 0
#     scores about SLICE tokens at every size: the process opens the whole corpus and visits every
#     shard, but scoring all of 2 GB on CPU would take hours. Scores per second come from it too.
#   train: the score files it reads are synthesized (the right headers, random f16 losses), for
#     the same reason; training reads them through the same mapped reader.
#
# Usage: scripts/bench-corpus.sh [SIZE_MB...]      (default: 200 2000)
# Environment: RHO (build/rho), WORK (a temp dir; corpora are kept there and reused),
#   VOCAB (32000, Llama's), SEED (1), T (256), SLICE (2000000 tokens), STEPS (20), OUT (the report).
set -euo pipefail
cd "$(dirname "$0")/.."
RHO=${RHO:-$PWD/build/rho}
SIZES=("$@")
[ $# -eq 0 ] && SIZES=(200 2000)
WORK=${WORK:-$(mktemp -d /tmp/rho-bench-corpus-XXXXXX)}
PY=${PY:-/usr/bin/python3}  # Debian's, with python3-numpy (scripts/setup.sh)
VOCAB=${VOCAB:-32000} SEED=${SEED:-1} T=${T:-256} SLICE=${SLICE:-2000000} STEPS=${STEPS:-20}
OUT=${OUT:-docs/bench/corpus-$(date +%Y-%m-%d).txt}
mkdir -p "$WORK" "$(dirname "$OUT")"
command -v spm_encode >/dev/null || { echo "bench-corpus: spm_encode missing (Debian package sentencepiece)"; exit 1; }

peak_mib() { awk '{printf "%.0f", $1 / 1024}' "$1"; }  # /usr/bin/time -f %M (KiB) -> MiB
timed() {  # timed OUT_PREFIX CMD...: runs CMD, keeps its peak RSS (KiB) and seconds in OUT_PREFIX.time
  local prefix=$1
  shift
  /usr/bin/time -f "%M %e" -o "$prefix.time" "$@"
}

REPORT=$WORK/report.txt
{
  echo "rho bench-corpus $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); rho: $RHO"
  echo "settings: vocab $VOCAB, seed $SEED, T $T, score slice $SLICE tokens, train $STEPS steps (debug preset, batch 8, SLM k=60%)"
  echo "command: scripts/bench-corpus.sh ${SIZES[*]}"
} >"$REPORT"

# One tokenizer for every size, trained on the first 20 MB of a corpus of the same generator.
if [ ! -f "$WORK/tok.model" ]; then
  "$PY" scripts/corpus/make_jsonl.py --mb 20 --seed $((SEED + 1000)) --out "$WORK/tok-train.jsonl"
  "$RHO" tokenizer train --input "$WORK/tok-train.jsonl" --out "$WORK/tok.model" --vocab-size "$VOCAB" \
    --max-sentences 300000 >/dev/null
fi

ROWS=()
for mb in "${SIZES[@]}"; do
  d=$WORK/$mb
  mkdir -p "$d"
  [ -f "$d/c.jsonl" ] || "$PY" scripts/corpus/make_jsonl.py --mb "$mb" --seed "$SEED" --out "$d/c.jsonl"
  bytes=$(stat -c %s "$d/c.jsonl")
  # The same text for spm_encode: each document on one line (spm_encode encodes line by line),
  # a blank line between documents so that rho reads the same documents (--split-blank-lines).
  [ -f "$d/c.txt" ] || "$PY" -c '
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        out.write(" ".join(json.loads(line)["text"].split()) + "\n\n")' "$d/c.jsonl" "$d/c.txt"
  txt_bytes=$(stat -c %s "$d/c.txt")

  # Tokenizing: JSONL with 1 and 2 threads, the plain text with 1, and spm_encode.
  for th in 1 2; do
    rm -rf "$d/shards$th"
    timed "$d/tok$th" "$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$d/c.jsonl" --out-dir "$d/shards$th" \
      --threads "$th" >/dev/null 2>"$d/tok$th.log"
  done
  for f in "$d/shards1"/*.bin; do cmp -s "$f" "$d/shards2/$(basename "$f")" || { echo "bench-corpus: 1 and 2 threads differ: $f"; exit 1; }; done
  rm -rf "$d/shards2" "$d/shards-txt"
  timed "$d/toktxt" "$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$d/c.txt" --split-blank-lines \
    --out-dir "$d/shards-txt" --threads 1 >/dev/null 2>"$d/toktxt.log"
  rm -rf "$d/shards-txt"
  timed "$d/spm" spm_encode --model "$WORK/tok.model" --output_format id --input "$d/c.txt" --output /dev/null
  rate() { awk -v b="$1" '{printf "%.2f", b / 1e6 / $2}' "$2"; }  # MB/s from bytes and a .time file's seconds
  tokens=$(sed -n 's/.* documents, \([0-9]*\) tokens in .*/\1/p' "$d/tok1.log")
  shards=$(ls "$d/shards1"/*.bin | wc -l)

  # A reference model (debug body, the tokenizer's vocabulary; one step is enough for timing and memory).
  if [ ! -d "$d/ref/final" ]; then
    "$RHO" train --data "$d/shards1" --out "$d/ref" --preset debug --seq-len "$T" --batch 2 --steps 1 --val-every 0 \
      >/dev/null 2>&1
  fi
  world=$(( (tokens + SLICE - 1) / SLICE ))
  rm -rf "$d/scores"
  timed "$d/score" env RANK=0 WORLD_SIZE="$world" "$RHO" score --model "$d/ref/final" --data "$d/shards1" --out "$d/scores" \
    --seq-len "$T" --batch 8 --score-dtype f16 >/dev/null 2>"$d/score.log"
  scored=$(sed -n 's/.*, \([0-9.]*[kMG]*\) tokens in .*/\1/p' "$d/score.log" | tail -1)
  score_rate=$(sed -n 's/.*(\([0-9.]*[kMG]*\) tok\/s).*/\1/p' "$d/score.log" | tail -1)

  # Score files for training, synthesized: headers that match the shards, random f16 losses.
  rm -rf "$d/synth" && mkdir -p "$d/synth"
  "$PY" - "$d/shards1" "$d/synth" "$T" <<'PY'
import glob, os, struct, sys
import numpy as np
shards, out, T = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
for path in sorted(glob.glob(os.path.join(shards, "*.bin"))):
    head = open(path, "rb").read(64)
    n, fp = struct.unpack_from("<Q", head, 16)[0], struct.unpack_from("<Q", head, 40)[0]
    with open(os.path.join(out, os.path.basename(path)[:-4] + ".scores"), "wb") as f:
        f.write(b"RHOSCOR1" + struct.pack("<IIQQQI", 2, 2, n, fp, 0x5EED, T) + b"\0" * 20)
        for i in range(0, n, 1 << 24):
            f.write(rng.uniform(0, 8, min(1 << 24, n - i)).astype("<f2").tobytes())
PY
  rm -rf "$d/train"
  start=$(date +%s.%N)
  /usr/bin/time -f "%M %e" -o "$d/train.time" "$RHO" train --data "$d/shards1" --out "$d/train" --preset debug \
    --seq-len "$T" --batch 8 --steps "$STEPS" --objective slm --ratio 0.6 --ref-scores "$d/synth" --log-every 1 \
    --val-every 0 >/dev/null 2>"$d/train.log" &
  pid=$!
  first=""
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$first" ] && [ -s "$d/train/metrics.jsonl" ]; then first=$(date +%s.%N); fi
    sleep 0.01
  done
  wait "$pid" || { echo "bench-corpus: train failed"; tail -3 "$d/train.log"; exit 1; }
  # Launch to the first step's metrics line, less that step's own time (tokens / its tokens/s).
  step1=$("$PY" -c 'import json,sys; m=json.loads(open(sys.argv[1]).readline()); print(m["tokens_seen"] / m["tokens_per_s"])' \
    "$d/train/metrics.jsonl")
  startup=$(awk -v a="$start" -v b="${first:-$start}" -v s="$step1" 'BEGIN{printf "%.2f", b - a - s}')

  ROWS+=("$(printf '%6s MB | %11s tok | %3s shards | rho 1 thr %6s MB/s | 2 thr %6s MB/s | rho txt 1 thr %6s MB/s | spm_encode %6s MB/s | RSS tokenize %4s/%4s MiB | score %5s MiB (%s tok, %s tok/s) | train %5s MiB | start-up %5s s' \
    "$mb" "$tokens" "$shards" "$(rate "$bytes" "$d/tok1.time")" "$(rate "$bytes" "$d/tok2.time")" \
    "$(rate "$txt_bytes" "$d/toktxt.time")" "$(rate "$txt_bytes" "$d/spm.time")" \
    "$(peak_mib "$d/tok1.time")" "$(peak_mib "$d/tok2.time")" "$(peak_mib "$d/score.time")" "$scored" "$score_rate" \
    "$(peak_mib "$d/train.time")" "$startup")")
  echo "${ROWS[-1]}" >&2
done

{
  echo
  echo "MB/s are of input text: the JSONL file for rho's JSONL runs, the one-document-per-line text for"
  echo "rho txt and spm_encode (the same documents, same tokenizer). RSS tokenize: 1 / 2 threads."
  for row in "${ROWS[@]}"; do echo "$row"; done
  if [ "${#SIZES[@]}" -ge 2 ]; then
    echo
    echo "peak RSS growth from ${SIZES[0]} MB to ${SIZES[-1]} MB:"
    for what in tok1 tok2 score train; do
      a=$(cut -d' ' -f1 "$WORK/${SIZES[0]}/$what.time") b=$(cut -d' ' -f1 "$WORK/${SIZES[-1]}/$what.time")
      awk -v w="$what" -v a="$a" -v b="$b" 'BEGIN{printf "  %-6s %5.0f -> %5.0f MiB: %+.1f%%\n", w, a / 1024, b / 1024, 100 * (b - a) / a}'
    done
  fi
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$REPORT"
cp "$REPORT" "$OUT"
cat "$REPORT"
