#!/usr/bin/env bash
# rho tokenizer encode/decode in file mode: ids equal to sentencepiece's (committed expected
# ids), JSONL and text input, --add-special, decode, and one-line errors with exit 1.
# Usage: tokenizer_cli.sh RHO_BINARY SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/lib/setup.sh" "$@"
FIX=$SRC/tests/fixtures/tokenizers
fail() { echo "FAIL: $*"; exit 1; }

# The expected-id files hold {"ids": [...], "special": [...]} per line; rho prints the array.
field() { python3 -c 'import json,sys; [print(json.dumps(json.loads(l)[sys.argv[1]], separators=(",", ":"))) for l in open(sys.argv[2])]' "$1" "$2"; }

for model in unigram_nfkc rho_bpe; do
  "$RHO" tokenizer encode --tokenizer "$FIX/$model.model" --input "$FIX/corpus.jsonl" > "$WORK/ids"
  field ids "$FIX/expected/$model.jsonl" | cmp -s - "$WORK/ids" || fail "$model: JSONL ids differ from sentencepiece's"
  "$RHO" tokenizer encode --tokenizer "$FIX/$model.model" --input "$FIX/corpus.jsonl" --add-special > "$WORK/ids"
  field special "$FIX/expected/$model.jsonl" | cmp -s - "$WORK/ids" || fail "$model: --add-special ids differ"
  "$RHO" tokenizer encode --tokenizer "$FIX/$model.model" --input "$FIX/corpus_bytes.txt" > "$WORK/ids"
  field ids "$FIX/expected/${model}_bytes.jsonl" | cmp -s - "$WORK/ids" || fail "$model: text-file ids differ (invalid UTF-8 included)"
done

# --field picks the JSONL field; the empty text is [].
printf '{"body": "Hello world"}\n{"body": ""}\n' > "$WORK/in.jsonl"
"$RHO" tokenizer encode --tokenizer "$FIX/rho_bpe.model" --input "$WORK/in.jsonl" --field body > "$WORK/ids"
[ "$(wc -l < "$WORK/ids")" -eq 2 ] && [ "$(sed -n 2p "$WORK/ids")" = "[]" ] || fail "--field: $(cat "$WORK/ids")"

# decode inverts encode for the lossless rho-trained model.
printf 'Question: 48 - 2 = 46\n  two  spaces\tand a tab\n' > "$WORK/in.txt"
"$RHO" tokenizer encode --tokenizer "$FIX/rho_bpe.model" --input "$WORK/in.txt" > "$WORK/ids"
"$RHO" tokenizer decode --tokenizer "$FIX/rho_bpe.model" --input "$WORK/ids" > "$WORK/texts"
python3 -c 'import json,sys; print("\n".join(json.loads(l) for l in open(sys.argv[1])))' "$WORK/texts" | cmp -s - "$WORK/in.txt" \
  || fail "decode(encode(text)) differs: $(cat "$WORK/texts")"

# Errors: one line naming the file, exit 1.
expect_error() {  # expect_error WHAT EXPECTED_SUBSTRING -- ARGS...
  local what=$1 want=$2; shift 3
  set +e; "$RHO" "$@" > /dev/null 2> "$WORK/err"; local rc=$?; set -e
  [ "$rc" -eq 1 ] || fail "$what: exit $rc, want 1 ($(cat "$WORK/err"))"
  [ "$(wc -l < "$WORK/err")" -eq 1 ] || fail "$what: not one line: $(cat "$WORK/err")"
  grep -qF -- "$want" "$WORK/err" || fail "$what: '$(cat "$WORK/err")' lacks '$want'"
}
printf 'garbage \xff\xfe not a model' > "$WORK/garbage.model"
expect_error "garbage .model" "$WORK/garbage.model: not a sentencepiece model" -- tokenizer encode --tokenizer "$WORK/garbage.model" --input "$WORK/in.txt"
head -c 3000 "$FIX/rho_bpe.model" > "$WORK/truncated.model"
expect_error "truncated .model" "$WORK/truncated.model: " -- tokenizer encode --tokenizer "$WORK/truncated.model" --input "$WORK/in.txt"
head -c 300 "$FIX/tiny/tokenizer.json" > "$WORK/tokenizer.json"
expect_error "truncated tokenizer.json" "$WORK/tokenizer.json: not a valid tokenizer.json" -- tokenizer encode --tokenizer "$WORK/tokenizer.json" --input "$WORK/in.txt"
printf '{"text": "ok"}\n{"text": 5}\n' > "$WORK/bad.jsonl"
expect_error "JSONL record without the field" "$WORK/bad.jsonl:2: record has no string field \"text\"" -- tokenizer encode --tokenizer "$FIX/rho_bpe.model" --input "$WORK/bad.jsonl"
printf '[1,2]\n[999999]\n' > "$WORK/bad.ids"
expect_error "id outside the vocabulary" "$WORK/bad.ids:2: token id 999999 is outside the vocabulary" -- tokenizer decode --tokenizer "$FIX/rho_bpe.model" --input "$WORK/bad.ids"
expect_error "neither --input nor --text" "needs --input FILE or --text TEXT" -- tokenizer encode --tokenizer "$FIX/rho_bpe.model"
echo "tokenizer CLI: ok"
