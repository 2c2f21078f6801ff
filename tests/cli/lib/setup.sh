# Sourced first by every CLI test: `source "$(dirname "$0")/lib/setup.sh" "$@"`, where the test
# is called as `bash TEST.sh RHO_BINARY SOURCE_DIR` (tests/CMakeLists.txt). Sets RHO, SRC and WORK
# (a temporary directory removed on exit), brings in expect_error / check / finish, and gives:
#   skip REASON...                 exit 77, which ctest reports as skipped (never as passed)
#   train_tokenizer IN OUT VOCAB [ARGS...]   `rho tokenizer train`, failing the test loudly
#   make_shards LINES SHARD_TOKENS a small corpus ($WORK/c.jsonl), its tokenizer ($WORK/tok.model)
#                                  and shards ($WORK/shards)
#
# Tokenizers are trained by RHO_TOK, the normal build's rho: sentencepiece's trainer carries its
# own protobuf 3.14, which binds to libtorch's 3.21 and aborts unless loaded with RTLD_DEEPBIND,
# and AddressSanitizer refuses RTLD_DEEPBIND (a third-party limit; src/tokenizer/spm_library.cpp).
# scripts/sanitize.sh passes the normal build as RHO_TOK; everything else a test runs is $RHO.
set -u
RHO=$1
SRC=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
RHO_TOK=${RHO_TOK:-$RHO}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/expect.sh"

skip() { echo "SKIP: $*"; exit 77; }

train_tokenizer() {
  local in=$1 out=$2 vocab=$3
  shift 3
  "$RHO_TOK" tokenizer train --input "$in" --out "$out" --vocab-size "$vocab" "$@" >/dev/null 2>"$WORK/tokenizer.err" ||
    { echo "FAIL: tokenizer train --input $in"; cat "$WORK/tokenizer.err"; exit 1; }
}

make_shards() {  # make_shards LINES SHARD_TOKENS
  for i in $(seq 1 "$1"); do
    echo "{\"text\": \"line $i: the cat sat on mat number $((i * 7)) and counted $((i * 3)) birds near $((i % 13)) trees.\"}"
  done >"$WORK/c.jsonl"
  train_tokenizer "$WORK/c.jsonl" "$WORK/tok.model" 300
  "$RHO" tokenize --tokenizer "$WORK/tok.model" --input "$WORK/c.jsonl" --out-dir "$WORK/shards" \
    --shard-tokens "$2" >/dev/null 2>"$WORK/tokenize.err" || { echo "FAIL: tokenize"; cat "$WORK/tokenize.err"; exit 1; }
}
