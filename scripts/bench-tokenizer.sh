#!/usr/bin/env bash
# Encoding speed of `rho tokenizer encode` against sentencepiece's own `spm_encode`, on the same
# sentencepiece model and the same text (one text per line), in MB/s of input: the median of
# ROUNDS interleaved rounds each (rho, spm, rho, spm, ...), so drifting machine load hits both.
# Both outputs are checked to hold the same ids first.
# Usage: scripts/bench-tokenizer.sh [MODEL [TEXT_FILE [ROUNDS]]]
#   MODEL defaults to the Llama-2-style .deps/tokenizers/llama2-spm/tokenizer.model
#   (scripts/fetch-tokenizers.sh), TEXT_FILE to ~24 MB of this repository's docs and sources.
set -euo pipefail
cd "$(dirname "$0")/.."
RHO=${RHO:-build/rho}
MODEL=${1:-.deps/tokenizers/llama2-spm/tokenizer.model}
ROUNDS=${3:-7}
[ -x "$RHO" ] || { echo "bench-tokenizer: $RHO not built (scripts/setup.sh build)" >&2; exit 1; }
command -v spm_encode >/dev/null || { echo "bench-tokenizer: spm_encode missing (Debian package sentencepiece)" >&2; exit 1; }
[ -f "$MODEL" ] || bash scripts/fetch-tokenizers.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TEXT=${2:-}
if [ -z "$TEXT" ]; then
  TEXT=$WORK/text.txt
  SRC=$(find README.md docs src tests -name '*.md' -o -name '*.cpp' -o -name '*.h' | sort)
  while [ "$(stat -c %s "$TEXT" 2>/dev/null || echo 0)" -lt 24000000 ]; do cat $SRC >> "$TEXT"; done
fi
BYTES=$(stat -c %s "$TEXT")

# Same ids: spm_encode writes "1 2 3", rho "[1,2,3]".
head -n 2000 "$TEXT" > "$WORK/head.txt"
spm_encode --model "$MODEL" --output_format=id < "$WORK/head.txt" > "$WORK/spm.ids"
"$RHO" tokenizer encode --tokenizer "$MODEL" --input "$WORK/head.txt" | tr -d '[]' | tr ',' ' ' > "$WORK/rho.ids"
cmp -s "$WORK/spm.ids" "$WORK/rho.ids" || { echo "bench-tokenizer: rho and spm_encode ids differ on $TEXT" >&2; exit 1; }

now() { date +%s.%N; }
rho_t=() spm_t=()
for ((r = 0; r < ROUNDS; r++)); do
  t0=$(now); "$RHO" tokenizer encode --tokenizer "$MODEL" --input "$TEXT" > /dev/null; t1=$(now)
  spm_encode --model "$MODEL" --output_format=id < "$TEXT" > /dev/null; t2=$(now)
  rho_t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')") spm_t+=("$(awk -v a="$t1" -v b="$t2" 'BEGIN {print b - a}')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
rho_s=$(median "${rho_t[@]}") spm_s=$(median "${spm_t[@]}")
mbps() { awk -v n="$BYTES" -v s="$1" 'BEGIN {print n / 1e6 / s}'; }
echo "model $MODEL, text $BYTES bytes, $ROUNDS interleaved rounds (medians)"
printf 'rho tokenizer encode: %8.2f MB/s  (%.3f s)\n' "$(mbps "$rho_s")" "$rho_s"
printf 'spm_encode:           %8.2f MB/s  (%.3f s)\n' "$(mbps "$spm_s")" "$spm_s"
printf 'rho / spm_encode:     %8.2fx\n' "$(awk -v a="$spm_s" -v b="$rho_s" 'BEGIN {print a / b}')"
